/* vst-admin rekey: moves every store row to the current key version
 * without any original (DESIGN.md §3): P' = AES_{K_new}(AES^-1_{K_old}(P)),
 * computed inside vst-keyd.
 *
 * Resumable and never double-applied: each batch is read, re-keyed by keyd
 * and written back in ONE store transaction whose UPDATE only touches rows
 * that still carry the version they were read with. A kill at any point
 * loses at most the uncommitted batch, which still has its old version and
 * is simply picked up again by the next run. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "derive.h"

#define MAX_COLS 4

typedef struct {
    PGconn *db;
    vst_keyd *k;
    uint32_t to;
    size_t batch;
    uint64_t done, total;
    double t0;
    int tty;
    PGconn *trust;
    char run_id[24];
} rekey_ctx;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void progress(rekey_ctx *c, const char *table, int final)
{
    double dt = now_s() - c->t0;
    double rate = dt > 0 ? (double)c->done / dt : 0;
    if (c->tty) {
        int width = 30, fill = c->total ? (int)(width * c->done / c->total) : width;
        fprintf(stderr, "\r%-16s [%.*s%*s] %" PRIu64 "/%" PRIu64 " rows %8.0f rows/s%s", table,
                fill, "##############################", width - fill, "", c->done, c->total, rate,
                final ? "\n" : "");
    } else if (final) {
        fprintf(stderr, "%s: %" PRIu64 " rows re-keyed\n", table, c->done);
    }
}

static int pg_ok(PGresult *r, ExecStatusType want, const char *what)
{
    if (PQresultStatus(r) == want)
        return 1;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
    msg[strcspn(msg, "\n")] = '\0';
    admin_fail("%s: %s", what, msg);
    return 0;
}

static int exec_cmd(PGconn *db, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    int ok = pg_ok(r, PGRES_COMMAND_OK, sql);
    PQclear(r);
    return ok ? 0 : -1;
}

/* Appends to a growing text buffer. */
typedef struct {
    char *p;
    size_t len, cap;
} sbuf;

static int sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->cap - b->len < n + 1) {
        size_t cap = (b->cap + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/* One batch: returns rows updated, 0 when the table is done, -1 on error. */
static int64_t one_batch(rekey_ctx *c, const admin_table *t, int64_t *cursor)
{
    char sql[1024], cur[24], lim[24], to[16];
    int n = snprintf(sql, sizeof sql, "SELECT id, key_version");
    for (size_t i = 0; i < t->ncolumns; i++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, ", %s", t->columns[i]);
    snprintf(sql + n, sizeof sql - (size_t)n,
             " FROM %s WHERE key_version < $1::int AND id > $2::bigint ORDER BY id LIMIT $3::int",
             t->table);
    snprintf(to, sizeof to, "%u", c->to);
    snprintf(cur, sizeof cur, "%" PRId64, *cursor);
    snprintf(lim, sizeof lim, "%zu", c->batch);
    const char *p[] = {to, cur, lim};
    if (exec_cmd(c->db, "BEGIN") != 0)
        return -1;
    PGresult *r = PQexecParams(c->db, sql, 3, NULL, p, NULL, NULL, 0);
    if (!pg_ok(r, PGRES_TUPLES_OK, "reading store rows")) {
        PQclear(r);
        return -1;
    }
    int rows = PQntuples(r);
    if (rows == 0) {
        PQclear(r);
        return exec_cmd(c->db, "COMMIT") == 0 ? 0 : -1;
    }
    size_t nc = t->ncolumns;
    uint8_t *buf = malloc((size_t)rows * nc * VST_PSEUDONYM_LEN);
    uint32_t *from = malloc((size_t)rows * sizeof *from);
    if (buf == NULL || from == NULL) {
        free(buf);
        free(from);
        PQclear(r);
        return admin_fail("out of memory"), -1;
    }
    /* Re-key every non-NULL pseudonym, one keyd call per source version. */
    int rc = 0;
    for (int i = 0; i < rows; i++)
        from[i] = (uint32_t)strtoul(PQgetvalue(r, i, 1), NULL, 10);
    for (int start = 0; rc == 0 && start < rows;) {
        uint32_t v = from[start];
        uint32_t cnt = 0;
        int i = start;
        for (; i < rows && from[i] == v; i++)
            for (size_t col = 0; col < nc; col++)
                if (!PQgetisnull(r, i, 2 + (int)col)) {
                    if (vst_unhex(PQgetvalue(r, i, 2 + (int)col), VST_PSEUDONYM_LEN,
                                  buf + (size_t)cnt * VST_PSEUDONYM_LEN) != 0)
                        rc = admin_fail("a pseudonym in %s is not hex", t->table);
                    cnt++;
                }
        if (rc == 0 && cnt > 0 && (rc = vst_keyd_rekey(c->k, v, c->to, buf, cnt)) != 0)
            rc = admin_fail("keyd refused to re-key version %u: %s", v, vst_keyd_strerror(rc));
        /* Write the results back as hex, in row order. */
        uint32_t j = 0;
        for (int row = start; rc == 0 && row < i; row++)
            for (size_t col = 0; col < nc; col++)
                if (!PQgetisnull(r, row, 2 + (int)col)) {
                    vst_hex(buf + (size_t)j * VST_PSEUDONYM_LEN, VST_PSEUDONYM_LEN,
                            PQgetvalue(r, row, 2 + (int)col));
                    j++;
                }
        start = i;
    }
    free(buf);
    /* UPDATE ... FROM unnest(arrays): one statement for the whole batch;
     * the guard on the old key_version makes a second application
     * impossible. */
    sbuf ids = {0}, vers = {0}, cols[MAX_COLS] = {{0}};
    sb_put(&ids, "{", 1);
    sb_put(&vers, "{", 1);
    for (size_t col = 0; col < nc; col++)
        sb_put(&cols[col], "{", 1);
    for (int i = 0; i < rows; i++) {
        const char *sep = i ? "," : "";
        char vb[16];
        sb_put(&ids, sep, strlen(sep));
        sb_put(&ids, PQgetvalue(r, i, 0), strlen(PQgetvalue(r, i, 0)));
        snprintf(vb, sizeof vb, "%s%u", sep, from[i]);
        sb_put(&vers, vb, strlen(vb));
        for (size_t col = 0; col < nc; col++) {
            const char *val =
                PQgetisnull(r, i, 2 + (int)col) ? "NULL" : PQgetvalue(r, i, 2 + (int)col);
            sb_put(&cols[col], sep, strlen(sep));
            sb_put(&cols[col], val, strlen(val));
        }
    }
    *cursor = strtoll(PQgetvalue(r, rows - 1, 0), NULL, 10);
    PQclear(r);
    free(from);
    sb_put(&ids, "}", 1);
    sb_put(&vers, "}", 1);
    for (size_t col = 0; col < nc; col++)
        sb_put(&cols[col], "}", 1);
    n = snprintf(sql, sizeof sql, "UPDATE %s t SET key_version = $1::int", t->table);
    for (size_t col = 0; col < nc; col++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, ", %s = u.p%zu", t->columns[col], col);
    n += snprintf(sql + n, sizeof sql - (size_t)n, " FROM unnest($2::bigint[], $3::int[]");
    for (size_t col = 0; col < nc; col++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, ", $%zu::text[]", col + 4);
    n += snprintf(sql + n, sizeof sql - (size_t)n, ") AS u(id, v");
    for (size_t col = 0; col < nc; col++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, ", p%zu", col);
    snprintf(sql + n, sizeof sql - (size_t)n, ") WHERE t.id = u.id AND t.key_version = u.v");
    const char *up[3 + MAX_COLS] = {to, ids.p, vers.p};
    for (size_t col = 0; col < nc; col++)
        up[3 + col] = cols[col].p;
    int64_t updated = -1;
    if (rc == 0) {
        r = PQexecParams(c->db, sql, 3 + (int)nc, NULL, up, NULL, NULL, 0);
        if (pg_ok(r, PGRES_COMMAND_OK, "writing re-keyed rows"))
            updated = strtoll(PQcmdTuples(r), NULL, 10);
        PQclear(r);
    }
    free(ids.p);
    free(vers.p);
    for (size_t col = 0; col < nc; col++)
        free(cols[col].p);
    if (updated < 0 || exec_cmd(c->db, "COMMIT") != 0) {
        PQclear(PQexec(c->db, "ROLLBACK"));
        return -1;
    }
    return updated > 0 ? updated : 1; /* rows taken by a concurrent run: keep going */
}

static void run_note(rekey_ctx *c, const char *sql_fmt, const char *table, int64_t cursor)
{
    if (c->trust == NULL || c->run_id[0] == '\0')
        return;
    char done[24], cur[24];
    snprintf(done, sizeof done, "%" PRIu64, c->done);
    snprintf(cur, sizeof cur, "%" PRId64, cursor);
    const char *p[] = {c->run_id, done, table, cur};
    PGresult *r = PQexecParams(c->trust, sql_fmt, 4, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fprintf(stderr, "vst-admin: warning: re-key progress not recorded: %s",
                PQresultErrorMessage(r));
    PQclear(r);
}

/* Starts or resumes the bookkeeping row of this run in the trust DB. */
static void run_start(rekey_ctx *c, uint32_t from_min)
{
    if (g_opt.trust_dsn == NULL || (c->trust = admin_db(g_opt.trust_dsn, "trust")) == NULL)
        return;
    PGresult *r = PQexec(c->trust, "SELECT id FROM vst.rekey_runs WHERE state = 'running'");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) {
        snprintf(c->run_id, sizeof c->run_id, "%s", PQgetvalue(r, 0, 0));
        fprintf(stderr, "resuming re-key run %s\n", c->run_id);
        PQclear(r);
        return;
    }
    PQclear(r);
    char f[16], t[16];
    snprintf(f, sizeof f, "%u", from_min);
    snprintf(t, sizeof t, "%u", c->to);
    const char *p[] = {f, t};
    r = PQexecParams(c->trust,
                     "INSERT INTO vst.rekey_runs (from_version, to_version) "
                     "VALUES ($1::int, $2::int) RETURNING id",
                     2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        snprintf(c->run_id, sizeof c->run_id, "%s", PQgetvalue(r, 0, 0));
    else
        fprintf(stderr, "vst-admin: warning: re-key run not recorded: %s", PQresultErrorMessage(r));
    PQclear(r);
}

int cmd_rekey(int argc, char **argv)
{
    if (admin_is_help(argc, argv)) {
        printf("usage: vst-admin rekey [--batch N]\n\nRe-keys every row of every store table "
               "to vst-keyd's current key version,\nin batches of N rows (default 20000), each "
               "in its own transaction. Safe to\ninterrupt: run it again to finish; no row is "
               "ever re-keyed twice.\n");
        return 0;
    }
    rekey_ctx c = {.batch = 20000, .tty = isatty(2)};
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--batch") == 0 && (v = admin_optarg(argc, argv, &i)))
            c.batch = strtoul(v, NULL, 10);
        else
            return admin_fail("rekey: unexpected argument %s (see --help)", argv[i]);
    }
    admin_table tables[16];
    size_t nt;
    if (admin_store_tables(tables, 16, &nt) != 0)
        return 1;
    for (size_t i = 0; i < nt; i++)
        if (c.batch == 0 || c.batch * tables[i].ncolumns > VST_BATCH_MAX)
            return admin_fail("rekey: --batch must be 1..%zu for %s",
                              VST_BATCH_MAX / (tables[i].ncolumns ? tables[i].ncolumns : 1),
                              tables[i].table);
    if ((c.k = admin_keyd()) == NULL)
        return 1;
    vst_status_ok s;
    uint8_t *sbufp;
    size_t slen;
    int rc = vst_keyd_status(c.k, &s, &sbufp, &slen);
    if (rc != 0) {
        vst_keyd_close(c.k);
        return admin_fail("status: %s", vst_keyd_strerror(rc));
    }
    int sealed = s.sealed;
    c.to = s.current_version;
    vst_frame_free(sbufp, slen);
    if (sealed) {
        vst_keyd_close(c.k);
        return admin_fail("rekey: vst-keyd is sealed");
    }
    if ((c.db = admin_db(g_opt.store_dsn, "store")) == NULL) {
        vst_keyd_close(c.k);
        return 1;
    }
    uint64_t counts[1024];
    if (admin_rows_per_version(c.db, tables, nt, counts, 1024) != 0)
        rc = 1;
    uint32_t from_min = 0;
    for (uint32_t v = 1; v < c.to && v < 1024; v++) {
        c.total += counts[v];
        if (counts[v] > 0 && from_min == 0)
            from_min = v;
    }
    c.t0 = now_s();
    if (rc == 0 && c.total > 0)
        run_start(&c, from_min);
    for (size_t i = 0; rc == 0 && i < nt && c.total > 0; i++) {
        int64_t cursor = 0, got;
        while ((got = one_batch(&c, &tables[i], &cursor)) > 0) {
            c.done += (uint64_t)got;
            run_note(&c,
                     "UPDATE vst.rekey_runs SET rows_done = $2::bigint, cursor_table = $3, "
                     "cursor_id = $4::bigint WHERE id = $1::bigint",
                     tables[i].table, cursor);
            progress(&c, tables[i].table, 0);
        }
        if (got < 0)
            rc = 1;
    }
    double dt = now_s() - c.t0;
    if (c.total > 0)
        progress(&c, "done", 1);
    run_note(&c,
             rc == 0 ? "UPDATE vst.rekey_runs SET state = 'done', finished_at = now(), "
                       "rows_done = $2::bigint WHERE id = $1::bigint AND $3 = $3 AND $4 = $4"
                     : "UPDATE vst.rekey_runs SET rows_done = $2::bigint WHERE id = $1::bigint "
                       "AND $3 = $3 AND $4 = $4",
             "", 0);
    if (rc == 0)
        printf("re-keyed %" PRIu64 " rows to key version %u in %.2f s (%.0f rows/s)\n", c.done,
               c.to, dt, dt > 0 ? (double)c.done / dt : 0.0);
    PQfinish(c.trust);
    PQfinish(c.db);
    vst_keyd_close(c.k);
    return rc;
}
