/* vst-admin rekey / key retire against a real vst-keyd and the store of the
 * PostgreSQL cluster that tests/run.sh starts (PGHOST, PGPORT, PGUSER).
 *
 * Rows are inserted as the superuser into the shared vst_store database
 * (every test truncates the store tables first: suites run one at a time),
 * with pseudonyms that keyd made for identifiers the test keeps. After
 * re-keying, every row must equal a fresh PSEUDONYMIZE of its original
 * identifiers under the new version: a row re-keyed twice, or not at all,
 * or with a column mixed up, cannot pass. vst-admin connects as vst_admin,
 * with the grants the migrations give it. */
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cunit_main.h"
#include "derive.h"
#include "fixture.h"
#include "cli/gen/gen.h"

enum { COL_INS, COL_LANR, COL_BSNR, NCOL };
static const char *const DOM[NCOL] = {"sgb5/insured", "sgb5/lanr-stem", "sgb5/bsnr"};
static const size_t IDLEN[NCOL] = {10, 9, 9};

typedef struct {
    char id[NCOL][11]; /* KVNR, LANR, BSNR; "" = none (NULL column) */
    uint32_t v;        /* key version it was inserted with */
    char p[NCOL][33];  /* pseudonyms as inserted */
} row_t;
typedef char pseud_row[NCOL][33];

static char store_dsn[512], trust_dsn[512], trust_test_dsn[600], su_dsn[512], httpd_dsn[512],
    su_trust_dsn[512];
static PGconn *su; /* superuser on vst_store */

/* ------------------------------------------------------------ database */

static int db_exec(const char *sql)
{
    PGresult *r = PQexec(su, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "SQL failed: %s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

static long long db_int(const char *sql)
{
    PGresult *r = PQexec(su, sql);
    long long v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        fprintf(stderr, "SQL failed: %s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return v;
}

static int suite_init(void)
{
    const char *h = getenv("PGHOST"), *p = getenv("PGPORT"), *u = getenv("PGUSER");
    if (h == NULL || p == NULL || u == NULL) {
        fprintf(stderr, "test_rekey: PGHOST, PGPORT and PGUSER must name the cluster of "
                        "tests/run.sh\n");
        return -1;
    }
    snprintf(store_dsn, sizeof store_dsn, "host=%s port=%s user=vst_admin dbname=vst_store", h, p);
    snprintf(trust_dsn, sizeof trust_dsn, "host=%s port=%s user=vst_admin dbname=vst_trust", h, p);
    snprintf(trust_test_dsn, sizeof trust_test_dsn, "%s application_name=vst_test_rekey",
             trust_dsn);
    snprintf(su_dsn, sizeof su_dsn, "host=%s port=%s user=%s dbname=vst_store", h, p, u);
    snprintf(su_trust_dsn, sizeof su_trust_dsn, "host=%s port=%s user=%s dbname=vst_trust", h, p,
             u);
    snprintf(httpd_dsn, sizeof httpd_dsn,
             "host=%s port=%s user=vst_httpd dbname=vst_store application_name=vst_test_httpd", h,
             p);
    su = PQconnectdb(su_dsn);
    if (PQstatus(su) != CONNECTION_OK) {
        fprintf(stderr, "test_rekey: %s", PQerrorMessage(su));
        PQfinish(su);
        su = NULL;
        return -1;
    }
    PQclear(PQexec(su, "SET client_min_messages = warning"));
    fx_set_store_dsn(store_dsn);
    return 0;
}

static int suite_clean(void)
{
    if (su != NULL)
        db_exec("TRUNCATE sgb5.records, measles.records RESTART IDENTITY");
    PQfinish(su);
    su = NULL;
    fx_set_store_dsn(NULL);
    return fx_suite_cleanup();
}

static int truncate_store(void)
{
    return db_exec("TRUNCATE sgb5.records, measles.records RESTART IDENTITY");
}

/* Rows of a delivery: every row a KVNR, ~70 % a LANR, ~50 % a BSNR. */
static row_t *make_rows(uint64_t seed, size_t n)
{
    vst_gen *g = vst_gen_new(seed);
    row_t *rows = calloc(n ? n : 1, sizeof *rows);
    if (g == NULL || rows == NULL) {
        vst_gen_free(g);
        free(rows);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        vst_gen_id(g, VST_ID_KVNR, rows[i].id[COL_INS]);
        uint64_t r = vst_gen_u64(g);
        if (r % 10 < 7)
            vst_gen_id(g, VST_ID_LANR, rows[i].id[COL_LANR]);
        if ((r >> 8) % 2 == 0)
            vst_gen_id(g, VST_ID_BSNR, rows[i].id[COL_BSNR]);
    }
    vst_gen_free(g);
    return rows;
}

/* Fresh pseudonyms of every row's identifiers under keyd's current
 * version; "" for a missing identifier. Returns the client result. */
static int pseud_rows(const fx_keyd *k, const row_t *rows, size_t n, pseud_row *out, uint32_t *kv)
{
    vst_keyd *c = fx_connect(k->data_sock);
    char *ids = malloc(n * 10 + 1);
    uint8_t *res = malloc(n * 16 + 1);
    size_t *idx = malloc((n + 1) * sizeof *idx);
    int rc = c && ids && res && idx ? 0 : -100;
    for (int col = 0; rc == 0 && col < NCOL; col++) {
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++) {
            out[i][col][0] = '\0';
            if (rows[i].id[col][0] != '\0') {
                memcpy(ids + cnt * IDLEN[col], rows[i].id[col], IDLEN[col]);
                idx[cnt++] = i;
            }
        }
        if (cnt > 0)
            rc = fx_pseud(c, DOM[col], ids, IDLEN[col], cnt, res, kv);
        for (size_t j = 0; rc == 0 && j < cnt; j++)
            fx_hex16(res + 16 * j, out[idx[j]][col]);
    }
    vst_keyd_close(c);
    free(ids);
    free(res);
    free(idx);
    return rc;
}

/* Puts the current version's pseudonyms into rows[i].p for the rows that
 * pick() selects, and sets their v. */
static int stamp_rows(const fx_keyd *k, row_t *rows, size_t n, const uint8_t *pick)
{
    pseud_row *p = malloc(n * sizeof *p);
    uint32_t kv = 0;
    int rc = p ? pseud_rows(k, rows, n, p, &kv) : -100;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (pick == NULL || pick[i]) {
            memcpy(rows[i].p, p[i], sizeof rows[i].p);
            rows[i].v = kv;
        }
    free(p);
    return rc;
}

static int copy_text(const char *sql, const char *data, size_t len)
{
    PGresult *r = PQexec(su, sql);
    int ok = PQresultStatus(r) == PGRES_COPY_IN;
    PQclear(r);
    if (!ok) {
        fprintf(stderr, "COPY failed: %s", PQerrorMessage(su));
        return -1;
    }
    ok = PQputCopyData(su, data, (int)len) == 1 && PQputCopyEnd(su, NULL) == 1;
    r = PQgetResult(su);
    ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "COPY failed: %s", PQresultErrorMessage(r));
    PQclear(r);
    while ((r = PQgetResult(su)) != NULL)
        PQclear(r);
    return ok ? 0 : -1;
}

/* Inserts rows (in order: store id = index + 1 after a truncate). */
static int insert_rows(const row_t *rows, size_t n)
{
    char *buf = malloc(n * 256 + 1);
    size_t len = 0;
    if (buf == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const row_t *r = &rows[i];
        len += (size_t)sprintf(
            buf + len,
            "2b7e1516-28ae-4d2a-a6f7-15880917a0c1\t%s\t%u\t1970\tW\t1\t10\t%s\t%s"
            "\t\\N\t%s\t\\N\t{\"period\": \"2024Q1\"}\n",
            r->p[COL_INS], r->v, r->p[COL_LANR][0] ? r->p[COL_LANR] : "\\N",
            r->p[COL_LANR][0] ? "01" : "\\N", r->p[COL_BSNR][0] ? r->p[COL_BSNR] : "\\N");
    }
    int rc = copy_text("COPY sgb5.records (delivery_ref, pseudonym, key_version, birth_year, sex, "
                       "insurance_status, postal_prefix, provider_pseudonym, provider_group, "
                       "provider_region, practice_pseudonym, provider_postal_prefix, service) "
                       "FROM STDIN",
                       buf, len);
    free(buf);
    return rc;
}

/* Compares every stored row with fresh pseudonyms of its identifiers under
 * keyd's current version: *bad_version rows with another key_version,
 * returns the number of rows with any column different. */
static size_t store_mismatches(const fx_keyd *k, const row_t *rows, size_t n, uint32_t want,
                               size_t *bad_version)
{
    pseud_row *fresh = malloc(n * sizeof *fresh);
    uint32_t kv = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(fresh);
    CU_ASSERT_EQUAL_FATAL(pseud_rows(k, rows, n, fresh, &kv), 0);
    CU_ASSERT_EQUAL(kv, want);
    PGresult *r = PQexec(su, "SELECT key_version, pseudonym, provider_pseudonym, "
                             "practice_pseudonym FROM sgb5.records ORDER BY id");
    size_t bad = 0;
    *bad_version = 0;
    if (PQresultStatus(r) != PGRES_TUPLES_OK || (size_t)PQntuples(r) != n) {
        fprintf(stderr, "store: %s, %d rows\n", PQresultErrorMessage(r), PQntuples(r));
        CU_FAIL("the store does not hold the rows inserted");
        bad = n;
    } else {
        for (size_t i = 0; i < n; i++) {
            if (strtoul(PQgetvalue(r, (int)i, 0), NULL, 10) != want)
                (*bad_version)++;
            int differ = 0;
            for (int col = 0; col < NCOL; col++) {
                int null = PQgetisnull(r, (int)i, 1 + col);
                if (null != (fresh[i][col][0] == '\0') ||
                    (!null && strcmp(PQgetvalue(r, (int)i, 1 + col), fresh[i][col]) != 0))
                    differ = 1;
            }
            bad += (size_t)differ;
        }
    }
    PQclear(r);
    free(fresh);
    return bad;
}

/* Asserts the store holds exactly the fresh pseudonyms under `want`. */
static void check_store(const fx_keyd *k, const row_t *rows, size_t n, uint32_t want)
{
    size_t badv, bad = store_mismatches(k, rows, n, want, &badv);
    if (bad || badv)
        fprintf(stderr, "%zu of %zu rows differ, %zu with another version\n", bad, n, badv);
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(badv, 0);
}

static size_t count_pseudonyms(const row_t *rows, size_t n, uint32_t v)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        for (int col = 0; col < NCOL; col++)
            if ((v == 0 || rows[i].v == v) && rows[i].id[col][0] != '\0')
                c++;
    return c;
}

/* Sum of keyd.rekey counts from `from` (0: any). */
static long long rekey_event_total(const fx_keyd *k, long long from)
{
    json_t *all = fx_events(k), *ev;
    size_t i;
    long long sum = 0;
    json_array_foreach(all, i, ev)
    {
        const char *a = json_string_value(json_object_get(ev, "action"));
        if (a != NULL && strcmp(a, "keyd.rekey") == 0 &&
            (from == 0 || fx_ev_int(ev, "from_version") == from))
            sum += fx_ev_int(ev, "count");
    }
    json_decref(all);
    return sum;
}

/* store_rows of version v in `vst-admin --json key status`; -1 if absent. */
static long long status_rows(const fx_keyd *k, uint32_t v, const char **state)
{
    fx_result r;
    fx_admin(&r, k, "--json", "key", "status", NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je), *e;
    long long rows = -1;
    static char st[16];
    st[0] = '\0';
    size_t i;
    json_array_foreach(json_object_get(j, "versions"), i, e)
    {
        if (json_integer_value(json_object_get(e, "version")) == v) {
            json_t *sr = json_object_get(e, "store_rows");
            rows = json_is_integer(sr) ? json_integer_value(sr) : -1;
            const char *sv = json_string_value(json_object_get(e, "state"));
            snprintf(st, sizeof st, "%s", sv ? sv : "");
        }
    }
    if (state != NULL)
        *state = st;
    json_decref(j);
    fx_result_free(&r);
    return rows;
}

static int start_keyd(fx_store *s, fx_keyd *k)
{
    memset(k, 0, sizeof *k);
    if (fx_store_dev(s, NULL) != 0)
        return -1;
    fx_keyd_opts o = {.store = s, .dev = 1};
    return fx_keyd_start(k, &o);
}

static int admin_ok(const fx_keyd *k, const char *a1, const char *a2)
{
    fx_result r;
    fx_admin(&r, k, a1, a2, NULL);
    if (r.status != 0)
        fprintf(stderr, "vst-admin %s %s: %d: %s", a1, a2 ? a2 : "", r.status, r.err);
    int st = r.status;
    fx_result_free(&r);
    return st;
}

/* ------------------------------------------------------------ tests */

/* Insert N rows under v1 (and measles rows), rotate, rekey: every row is
 * v2 and equals a fresh pseudonymization; key status counts follow. */
static void test_rotate_rekey(void)
{
    enum { N = 20000, M = 500 };
    fx_store s;
    fx_keyd k;
    CU_ASSERT_EQUAL_FATAL(truncate_store(), 0);
    CU_ASSERT_EQUAL_FATAL(start_keyd(&s, &k), 0);
    row_t *rows = make_rows(1, N);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rows);
    CU_ASSERT_EQUAL_FATAL(stamp_rows(&k, rows, N, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(insert_rows(rows, N), 0);
    /* A second profile's table: measles, KVNRs in ph/measles. */
    row_t *mrows = make_rows(2, M);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mrows);
    char *mids = malloc(M * 10), *buf = malloc(M * 128);
    uint8_t *mp = malloc(M * 16);
    for (size_t i = 0; i < M; i++)
        memcpy(mids + i * 10, mrows[i].id[COL_INS], 10);
    vst_keyd *c = fx_connect(k.data_sock);
    uint32_t kv;
    CU_ASSERT_EQUAL_FATAL(fx_pseud(c, "ph/measles", mids, 10, M, mp, &kv), 0);
    size_t len = 0;
    for (size_t i = 0; i < M; i++) {
        char hex[33];
        fx_hex16(mp + 16 * i, hex);
        len += (size_t)sprintf(
            buf + len, "2b7e1516-28ae-4d2a-a6f7-15880917a0c2\t%s\t1\t2015\tM\t10\t{}\n", hex);
    }
    CU_ASSERT_EQUAL_FATAL(copy_text("COPY measles.records (delivery_ref, pseudonym, key_version, "
                                    "birth_year, sex, postal_prefix, report) FROM STDIN",
                                    buf, len),
                          0);
    CU_ASSERT_EQUAL(status_rows(&k, 1, NULL), N + M);

    CU_ASSERT_EQUAL(admin_ok(&k, "key", "rotate"), 0);
    size_t badv, bad = store_mismatches(&k, rows, N, 2, &badv);
    CU_ASSERT_EQUAL(bad, N); /* the comparison does see stale rows */
    CU_ASSERT_EQUAL(badv, N);
    CU_ASSERT_EQUAL(status_rows(&k, 1, NULL), N + M);
    CU_ASSERT_EQUAL(status_rows(&k, 2, NULL), 0);

    fx_result r;
    fx_admin(&r, &k, "rekey", NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    char want[64];
    snprintf(want, sizeof want, "re-keyed %d rows to key version 2", N + M);
    if (strstr(r.out, want) == NULL)
        fprintf(stderr, "rekey said: %s%s", r.out, r.err);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, want));
    fx_result_free(&r);
    check_store(&k, rows, N, 2);
    /* measles rows too. */
    CU_ASSERT_EQUAL(fx_pseud(c, "ph/measles", mids, 10, M, mp, &kv), 0);
    PGresult *res = PQexec(su, "SELECT key_version, pseudonym FROM measles.records ORDER BY id");
    size_t mbad = 0;
    CU_ASSERT_EQUAL_FATAL(PQntuples(res), M);
    for (size_t i = 0; i < M; i++) {
        char hex[33];
        fx_hex16(mp + 16 * i, hex);
        if (strcmp(PQgetvalue(res, (int)i, 0), "2") != 0 ||
            strcmp(PQgetvalue(res, (int)i, 1), hex) != 0)
            mbad++;
    }
    PQclear(res);
    CU_ASSERT_EQUAL(mbad, 0);
    vst_keyd_close(c);

    CU_ASSERT_EQUAL(status_rows(&k, 1, NULL), 0);
    CU_ASSERT_EQUAL(status_rows(&k, 2, NULL), N + M);
    /* keyd re-keyed every non-NULL pseudonym exactly once. */
    fx_keyd_stop(&k);
    CU_ASSERT_EQUAL(rekey_event_total(&k, 1), (long long)(count_pseudonyms(rows, N, 0) + M));

    /* Nothing left to do: a second run changes nothing. */
    fx_keyd_opts o = {.store = &s, .dev = 1};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    fx_admin(&r, &k, "rekey", NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "re-keyed 0 rows"));
    fx_result_free(&r);
    check_store(&k, rows, N, 2);
    fx_keyd_stop(&k);
    free(rows);
    free(mrows);
    free(mids);
    free(buf);
    free(mp);
}

/* Rows that are v1 still hold their original v1 pseudonyms, rows that are
 * v2 hold the fresh v2 ones: nothing in between. Returns rows at v2. */
static size_t check_mixed(const fx_keyd *k, const row_t *rows, size_t n)
{
    pseud_row *fresh = malloc(n * sizeof *fresh);
    uint32_t kv;
    CU_ASSERT_PTR_NOT_NULL_FATAL(fresh);
    CU_ASSERT_EQUAL_FATAL(pseud_rows(k, rows, n, fresh, &kv), 0);
    PGresult *r = PQexec(su, "SELECT key_version, pseudonym, provider_pseudonym, "
                             "practice_pseudonym FROM sgb5.records ORDER BY id");
    CU_ASSERT_EQUAL_FATAL(PQntuples(r), (int)n);
    size_t moved = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = (uint32_t)strtoul(PQgetvalue(r, (int)i, 0), NULL, 10);
        moved += v == kv;
        for (int col = 0; col < NCOL; col++) {
            const char *want = v == kv ? fresh[i][col] : rows[i].p[col];
            int null = PQgetisnull(r, (int)i, 1 + col);
            if (v != kv && v != rows[i].v)
                bad++;
            else if (null != (want[0] == '\0') ||
                     (!null && strcmp(PQgetvalue(r, (int)i, 1 + col), want) != 0))
                bad++;
        }
    }
    PQclear(r);
    free(fresh);
    CU_ASSERT_EQUAL(bad, 0);
    return moved;
}

static int admin_backends(void)
{
    return (int)db_int("SELECT count(*) FROM pg_stat_activity WHERE usename = 'vst_admin' "
                       "AND datname IN ('vst_store', 'vst_trust') "
                       "AND application_name <> 'vst_test_rekey'");
}

/* rekey killed with SIGKILL half-way, then run again: consistent, every
 * row re-keyed exactly once; the re-key run in the trust DB resumes. */
static void test_rekey_killed(void)
{
    enum { N = 20000 };
    fx_store s;
    fx_keyd k;
    CU_ASSERT_EQUAL_FATAL(truncate_store(), 0);
    CU_ASSERT_EQUAL_FATAL(start_keyd(&s, &k), 0);
    row_t *rows = make_rows(3, N);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rows);
    CU_ASSERT_EQUAL_FATAL(stamp_rows(&k, rows, N, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(insert_rows(rows, N), 0);
    CU_ASSERT_EQUAL(admin_ok(&k, "key", "rotate"), 0);
    /* A run left 'running' by an earlier failure would be resumed and
     * confuse the figures below. */
    PGconn *tr = PQconnectdb(trust_test_dsn);
    CU_ASSERT_EQUAL_FATAL(PQstatus(tr), CONNECTION_OK);
    PQclear(PQexec(tr, "UPDATE vst.rekey_runs SET state = 'aborted', finished_at = now() "
                       "WHERE state = 'running'"));

    const char *argv[] = {fx_prog("VST_ADMIN"),
                          "--admin-socket",
                          k.admin_sock,
                          "--store-dsn",
                          store_dsn,
                          "--trust-dsn",
                          trust_dsn,
                          "rekey",
                          "--batch",
                          "100",
                          NULL};
    char out[FX_PATH + 16], err[FX_PATH + 16];
    snprintf(out, sizeof out, "%s/rekey1.out", k.dir);
    snprintf(err, sizeof err, "%s/rekey1.err", k.dir);
    pid_t pid = fx_spawn(argv, out, err, NULL);
    CU_ASSERT_FATAL(pid > 0);
    long long seen = 0;
    double end = fx_now() + 60;
    while (fx_now() < end && (seen = db_int("SELECT count(*) FROM sgb5.records "
                                            "WHERE key_version = 2")) < N / 4)
        usleep(1000);
    kill(pid, SIGKILL);
    int st = fx_wait(pid, 10);
    CU_ASSERT_EQUAL(st, 128 + SIGKILL); /* killed, not finished */
    for (int i = 0; i < 1000 && admin_backends() > 0; i++)
        usleep(10000); /* the server notices the dead client and rolls back */
    CU_ASSERT_EQUAL(admin_backends(), 0);
    size_t moved = check_mixed(&k, rows, N);
    fprintf(stderr, "rekey killed after %zu of %d rows\n", moved, N);
    CU_ASSERT(moved >= (size_t)N / 4 && moved < N);

    /* Run again: it finishes, and re-keys exactly the rest. */
    const char *argv2[] = {fx_prog("VST_ADMIN"),
                           "--admin-socket",
                           k.admin_sock,
                           "--store-dsn",
                           store_dsn,
                           "--trust-dsn",
                           trust_dsn,
                           "rekey",
                           "--batch",
                           "1000",
                           NULL};
    fx_result r;
    fx_run(&r, argv2, NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    char want[64];
    snprintf(want, sizeof want, "re-keyed %zu rows to key version 2", N - moved);
    if (strstr(r.out, want) == NULL)
        fprintf(stderr, "expected \"%s\", rekey said: %s%s", want, r.out, r.err);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, want));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "resuming re-key run"));
    fx_result_free(&r);
    check_store(&k, rows, N, 2);

    /* The run row: done, to version 2, with (about) every row counted; the
     * killed run may not have recorded its last batches. */
    PGresult *res = PQexec(tr, "SELECT state, to_version, rows_done FROM vst.rekey_runs "
                               "ORDER BY id DESC LIMIT 1");
    CU_ASSERT_EQUAL_FATAL(PQntuples(res), 1);
    CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, 0), "done");
    CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, 1), "2");
    long long done = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    fprintf(stderr, "re-key run rows_done %lld of %d\n", done, N);
    CU_ASSERT(done >= N - 2 * 100 && done <= N);
    PQclear(res);
    PQfinish(tr);
    fx_keyd_stop(&k);
    /* keyd counts what it re-keyed: everything once, plus the batches the
     * kill cut off before their commit (at most one per worker). */
    long long total = rekey_event_total(&k, 1),
              want_total = (long long)count_pseudonyms(rows, N, 0);
    CU_ASSERT(total >= want_total && total <= want_total + 16 * 100 * NCOL);
    free(rows);
}

/* key retire: refused while rows remain (one line naming the count), then
 * accepted; keyd then refuses REKEY from it; the current version and a
 * retired one are refused too. */
static void test_retire(void)
{
    enum { N = 2000 };
    fx_store s;
    fx_keyd k;
    CU_ASSERT_EQUAL_FATAL(truncate_store(), 0);
    CU_ASSERT_EQUAL_FATAL(start_keyd(&s, &k), 0);
    row_t *rows = make_rows(4, N);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rows);
    CU_ASSERT_EQUAL_FATAL(stamp_rows(&k, rows, N, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(insert_rows(rows, N), 0);
    CU_ASSERT_EQUAL(admin_ok(&k, "key", "rotate"), 0);

    fx_result r;
    fx_admin(&r, &k, "key", "retire", "1", NULL);
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT(fx_one_line(r.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "2000 rows of version 1"));
    fx_result_free(&r);
    const char *state;
    CU_ASSERT_EQUAL(status_rows(&k, 1, &state), N);
    CU_ASSERT_STRING_EQUAL(state, "active");

    CU_ASSERT_EQUAL(admin_ok(&k, "rekey", NULL), 0);
    fx_admin(&r, &k, "key", "retire", "1", NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "retired"));
    fx_result_free(&r);
    CU_ASSERT_EQUAL(status_rows(&k, 1, &state), 0);
    CU_ASSERT_STRING_EQUAL(state, "retired");
    CU_ASSERT_EQUAL(fx_event_count(&k, "keyd.retire"), 1);
    check_store(&k, rows, N, 2);

    /* keyd cannot re-key from a retired version any more. */
    vst_keyd *a = fx_connect(k.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    uint8_t p[16];
    CU_ASSERT_EQUAL_FATAL(vst_unhex(rows[0].p[COL_INS], 16, p), 0);
    CU_ASSERT_EQUAL(vst_keyd_rekey(a, 1, 2, p, 1), VST_KERR_RETIRED_VERSION);
    vst_keyd_close(a);
    /* Nor can vst-admin rekey a (late) v1 row: one clear line. */
    CU_ASSERT_EQUAL(insert_rows(rows, 1), 0);
    fx_admin(&r, &k, "rekey", NULL);
    CU_ASSERT_NOT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "retired"));
    fx_result_free(&r);
    CU_ASSERT_EQUAL(db_exec("DELETE FROM sgb5.records WHERE key_version = 1"), 0);

    /* The current version, a retired one, nonsense. */
    fx_admin(&r, &k, "key", "retire", "2", NULL);
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT(fx_one_line(r.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "current version"));
    fx_result_free(&r);
    fx_admin(&r, &k, "key", "retire", "1", NULL);
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT(fx_one_line(r.err));
    fx_result_free(&r);
    fx_admin(&r, &k, "key", "retire", "x1", NULL);
    CU_ASSERT_EQUAL(r.status, 1);
    CU_ASSERT(fx_one_line(r.err));
    fx_result_free(&r);
    CU_ASSERT_EQUAL(fx_event_count(&k, "keyd.retire"), 1);
    fx_keyd_stop(&k);
    free(rows);
}

/* Rows of v1 and v2 interleaved in the store, rotate to v3: rekey moves
 * both, each from its own version. */
static void test_rekey_many_versions(void)
{
    enum { N = 3000 };
    fx_store s;
    fx_keyd k;
    CU_ASSERT_EQUAL_FATAL(truncate_store(), 0);
    CU_ASSERT_EQUAL_FATAL(start_keyd(&s, &k), 0);
    row_t *rows = make_rows(5, N);
    uint8_t *pick = malloc(N);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rows);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pick);
    /* Runs of 1..40 rows alternate between the versions. */
    uint64_t x = 88172645463325252ULL;
    for (size_t i = 0, v = 0; i < N;) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t run = 1 + x % 40;
        for (size_t j = 0; j < run && i < N; j++)
            pick[i++] = (uint8_t)v;
        v ^= 1;
    }
    for (size_t i = 0; i < N; i++)
        pick[i] ^= 1; /* 1: a v1 row */
    CU_ASSERT_EQUAL_FATAL(stamp_rows(&k, rows, N, pick), 0);
    CU_ASSERT_EQUAL(admin_ok(&k, "key", "rotate"), 0);
    for (size_t i = 0; i < N; i++)
        pick[i] ^= 1; /* 1: a v2 row */
    CU_ASSERT_EQUAL_FATAL(stamp_rows(&k, rows, N, pick), 0);
    CU_ASSERT_EQUAL_FATAL(insert_rows(rows, N), 0);
    size_t n2 = 0;
    for (size_t i = 0; i < N; i++)
        n2 += rows[i].v == 2;
    CU_ASSERT(n2 > N / 4 && n2 < 3 * N / 4);
    CU_ASSERT_EQUAL(status_rows(&k, 1, NULL), (long long)(N - n2));
    CU_ASSERT_EQUAL(status_rows(&k, 2, NULL), (long long)n2);

    CU_ASSERT_EQUAL(admin_ok(&k, "key", "rotate"), 0);
    fx_result r;
    fx_admin(&r, &k, "rekey", "--batch", "700", NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    char want[64];
    snprintf(want, sizeof want, "re-keyed %d rows to key version 3", N);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, want));
    fx_result_free(&r);
    check_store(&k, rows, N, 3);
    CU_ASSERT_EQUAL(status_rows(&k, 1, NULL), 0);
    CU_ASSERT_EQUAL(status_rows(&k, 2, NULL), 0);
    CU_ASSERT_EQUAL(status_rows(&k, 3, NULL), N);
    fx_keyd_stop(&k);
    CU_ASSERT_EQUAL(rekey_event_total(&k, 1), (long long)count_pseudonyms(rows, N, 1));
    CU_ASSERT_EQUAL(rekey_event_total(&k, 2), (long long)count_pseudonyms(rows, N, 2));
    free(rows);
    free(pick);
}

/* ------------------------------------------------------------ retire: rows on their way */

/* `vst-admin key retire V [--wait W]`, with the trust DB when trust != 0. */
static int retire(const fx_keyd *k, uint32_t v, const char *wait, int trust, fx_result *r)
{
    char vs[16];
    snprintf(vs, sizeof vs, "%u", v);
    const char *argv[16];
    size_t n = 0;
    argv[n++] = fx_prog("VST_ADMIN");
    argv[n++] = "--admin-socket";
    argv[n++] = k->admin_sock;
    argv[n++] = "--store-dsn";
    argv[n++] = store_dsn;
    if (trust) {
        argv[n++] = "--trust-dsn";
        argv[n++] = trust_dsn;
    }
    argv[n++] = "key";
    argv[n++] = "retire";
    argv[n++] = vs;
    argv[n++] = "--wait";
    argv[n++] = wait;
    argv[n] = NULL;
    return fx_run(r, argv, NULL);
}

/* A connection as vst-httpd with an open transaction, as a delivery holds
 * it between its BEGIN and its PREPARE. */
static PGconn *httpd_begin(void)
{
    PGconn *c = PQconnectdb(httpd_dsn);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "as vst_httpd: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PGresult *r = PQexec(c, "BEGIN");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

static int exec_on(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "SQL failed: %s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

/* key retire must also wait for rows of the version that are still on
 * their way: a delivery transaction that began before the version stopped
 * being current, and prepared delivery transactions (their rows are
 * invisible to the row count). One begun after the rotation does not hold
 * it up. Without the trust DB every open delivery counts. */
static void test_retire_in_flight(void)
{
    fx_store s;
    fx_keyd k;
    fx_result r;
    CU_ASSERT_EQUAL_FATAL(truncate_store(), 0);
    /* Version numbers restart with every test keystore: forget the last
     * test's key metadata so that the rotation below is the one recorded. */
    PGconn *st = PQconnectdb(su_trust_dsn);
    CU_ASSERT_EQUAL_FATAL(PQstatus(st), CONNECTION_OK);
    CU_ASSERT_EQUAL_FATAL(exec_on(st, "DELETE FROM vst.key_versions"), 0);
    PQfinish(st);
    /* keyd closes idle connections after 1 s: a retire that waits longer
     * must still reach it (it reconnects for RETIRE). */
    memset(&k, 0, sizeof k);
    CU_ASSERT_EQUAL_FATAL(fx_store_dev(&s, NULL), 0);
    fx_keyd_opts o = {.store = &s, .dev = 1, .idle_timeout = 1};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    row_t *rows = make_rows(6, 50);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rows);
    CU_ASSERT_EQUAL_FATAL(stamp_rows(&k, rows, 50, NULL), 0);

    /* A delivery under version 1 is under way when version 2 comes. */
    PGconn *early = httpd_begin();
    CU_ASSERT_PTR_NOT_NULL_FATAL(early);
    CU_ASSERT_EQUAL_FATAL(exec_on(early, "SELECT 1"), 0);
    const char *rot[] = {fx_prog("VST_ADMIN"),
                         "--admin-socket",
                         k.admin_sock,
                         "--trust-dsn",
                         trust_dsn,
                         "key",
                         "rotate",
                         NULL};
    CU_ASSERT_EQUAL(fx_run(&r, rot, NULL), 0);
    fx_result_free(&r);
    double t_rot = fx_now();

    /* The store holds no row of version 1, yet retire is refused. */
    CU_ASSERT_EQUAL(retire(&k, 1, "0.5", 1, &r), 1);
    CU_ASSERT(fx_one_line(r.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "may still arrive: 1 delivery transaction begun"));
    fx_result_free(&r);
    /* Its rows, prepared: invisible to everyone else, and it still blocks. */
    char copy[512];
    snprintf(copy, sizeof copy,
             "INSERT INTO sgb5.records (delivery_ref, pseudonym, key_version, birth_year, sex, "
             "insurance_status, postal_prefix, service) VALUES "
             "('2b7e1516-28ae-4d2a-a6f7-15880917a0c2', '%s', 1, 1970, 'W', 1, '10', '{}')",
             rows[0].p[COL_INS]);
    CU_ASSERT_EQUAL(exec_on(early, copy), 0);
    CU_ASSERT_EQUAL(exec_on(early, "PREPARE TRANSACTION 'vst:retire-test'"), 0);
    CU_ASSERT_EQUAL(db_int("SELECT count(*) FROM sgb5.records WHERE key_version = 1"), 0);
    CU_ASSERT_EQUAL(retire(&k, 1, "0.5", 1, &r), 1);
    CU_ASSERT(fx_one_line(r.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "1 prepared delivery transaction is pending"));
    fx_result_free(&r);
    /* Committed: now the row count refuses it. */
    CU_ASSERT_EQUAL(db_exec("COMMIT PREPARED 'vst:retire-test'"), 0);
    CU_ASSERT_EQUAL(retire(&k, 1, "0.5", 1, &r), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "1 rows of version 1"));
    fx_result_free(&r);
    CU_ASSERT_EQUAL(admin_ok(&k, "rekey", NULL), 0);

    /* retire waits (--wait) for a prepared delivery to be resolved. */
    PGconn *p2 = httpd_begin();
    CU_ASSERT_PTR_NOT_NULL_FATAL(p2);
    CU_ASSERT_EQUAL(exec_on(p2, "PREPARE TRANSACTION 'vst:retire-test-2'"), 0);
    /* A delivery that began after version 1 stopped being current (the
     * margin for clocks is 5 s) does not hold retire up. */
    while (fx_now() - t_rot < 5.5)
        usleep(100000);
    PGconn *late = httpd_begin();
    CU_ASSERT_PTR_NOT_NULL_FATAL(late);
    CU_ASSERT_EQUAL(exec_on(late, "SELECT 1"), 0);
    /* ... unless retire cannot know when that was (no trust DB). */
    CU_ASSERT_EQUAL(db_exec("ROLLBACK PREPARED 'vst:retire-test-2'"), 0);
    CU_ASSERT_EQUAL(retire(&k, 1, "0.5", 0, &r), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "1 delivery transaction begun"));
    fx_result_free(&r);
    CU_ASSERT_EQUAL(exec_on(p2, "BEGIN"), 0);
    CU_ASSERT_EQUAL(exec_on(p2, "PREPARE TRANSACTION 'vst:retire-test-3'"), 0);
    const char *argv[] = {fx_prog("VST_ADMIN"),
                          "--admin-socket",
                          k.admin_sock,
                          "--store-dsn",
                          store_dsn,
                          "--trust-dsn",
                          trust_dsn,
                          "key",
                          "retire",
                          "1",
                          "--wait",
                          "20",
                          NULL};
    char out[FX_PATH + 16], err[FX_PATH + 16];
    snprintf(out, sizeof out, "%s/retire.out", k.dir);
    snprintf(err, sizeof err, "%s/retire.err", k.dir);
    double t0 = fx_now();
    pid_t pid = fx_spawn(argv, out, err, NULL);
    CU_ASSERT_FATAL(pid > 0);
    usleep(2500000); /* longer than keyd's idle-timeout and its 1 s poll */
    CU_ASSERT_EQUAL(fx_event_count(&k, "keyd.retire"), 0); /* still waiting */
    CU_ASSERT_EQUAL(db_exec("ROLLBACK PREPARED 'vst:retire-test-3'"), 0);
    CU_ASSERT_EQUAL(fx_wait(pid, 30), 0);
    double waited = fx_now() - t0;
    fprintf(stderr, "retire waited %.1f s for the prepared delivery ", waited);
    CU_ASSERT(waited >= 2.5 && waited < 15.0);
    CU_ASSERT_EQUAL(fx_event_count(&k, "keyd.retire"), 1);
    PQclear(PQexec(late, "ROLLBACK"));
    PQfinish(late);
    PQfinish(p2);
    PQfinish(early);
    fx_keyd_stop(&k);
    free(rows);
}

/* More versions than the old fixed tables held (512 in keyd's STATUS,
 * 1024 in vst-admin): key status lists them all with their rows, retire
 * counts the rows of a high version, rekey moves them. */
static void test_retire_high_version(void)
{
    enum { V = 1030, N = 100 };
    fx_store s;
    fx_keyd k;
    CU_ASSERT_EQUAL_FATAL(truncate_store(), 0);
    CU_ASSERT_EQUAL_FATAL(start_keyd(&s, &k), 0);
    vst_keyd *a = fx_connect(k.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    uint32_t nv = 1;
    double t0 = fx_now();
    while (nv < V && vst_keyd_rotate(a, &nv) == 0)
        ;
    vst_keyd_close(a);
    fprintf(stderr, "%u rotations in %.1f s ", V - 1, fx_now() - t0);
    CU_ASSERT_EQUAL_FATAL(nv, V);
    row_t *rows = make_rows(7, N);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rows);
    CU_ASSERT_EQUAL_FATAL(stamp_rows(&k, rows, N, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(rows[0].v, V);
    CU_ASSERT_EQUAL_FATAL(insert_rows(rows, N), 0);
    CU_ASSERT_EQUAL(admin_ok(&k, "key", "rotate"), 0);
    const char *state;
    CU_ASSERT_EQUAL(status_rows(&k, V, &state), N);
    CU_ASSERT_STRING_EQUAL(state, "active");
    CU_ASSERT_EQUAL(status_rows(&k, V + 1, &state), 0);
    CU_ASSERT_STRING_EQUAL(state, "current");
    fx_result r;
    CU_ASSERT_EQUAL(retire(&k, V, "0", 0, &r), 1);
    if (strstr(r.err, "100 rows") == NULL)
        fprintf(stderr, "retire said: %s", r.err);
    CU_ASSERT(fx_one_line(r.err));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "100 rows of version 1030"));
    fx_result_free(&r);
    CU_ASSERT_EQUAL(admin_ok(&k, "rekey", NULL), 0);
    check_store(&k, rows, N, V + 1);
    CU_ASSERT_EQUAL(retire(&k, V, "0", 0, &r), 0);
    fx_result_free(&r);
    CU_ASSERT_EQUAL(status_rows(&k, V, &state), 0);
    CU_ASSERT_STRING_EQUAL(state, "retired");
    fx_keyd_stop(&k);
    free(rows);
}

static const vst_test rekey_tests[] = {
    {"rotate + rekey: every row equals a fresh pseudonym", test_rotate_rekey},
    {"rekey killed half-way, re-run: consistent, once", test_rekey_killed},
    {"retire refused while rows remain, then accepted", test_retire},
    {"rows of two old versions re-keyed to the third", test_rekey_many_versions},
    {"retire waits for deliveries in flight and prepared ones", test_retire_in_flight},
    {"more than 1024 versions: status, retire and rekey see them", test_retire_high_version},
    {NULL, NULL},
};

int vst_register_tests(void)
{
    CU_pSuite s = CU_add_suite("vst-admin rekey and retire", suite_init, suite_clean);
    if (s == NULL)
        return CU_get_error();
    for (size_t i = 0; rekey_tests[i].name != NULL; i++)
        if (CU_add_test(s, rekey_tests[i].name, rekey_tests[i].fn) == NULL)
            return CU_get_error();
    return CUE_SUCCESS;
}
