/* Issue 8, finding 2: the pseudonymization budget as a real control, end to
 * end on a real PostgreSQL (the cluster of tests/run.sh), a real vst-keyd
 * and vst-audit verify run as vst_auditor.
 *
 * A compromised vst-httpd sweeps: it asks keyd, through the data socket,
 * for the pseudonyms of KVNRs it never delivers, paced just under keyd's
 * hard limits (here 1000 a minute and a day). keyd raises its soft alarm,
 * the counts survive a restart of keyd in the middle of the sweep (the
 * limit still holds after it), keyd's signed usage reports reach the audit
 * log through the ordinary EVENTS pull, and `vst-audit verify` fails,
 * naming the identifiers no delivery accounts for.
 *
 * The same flow with honest deliveries — each batch named by its delivery's
 * outcome event, "identifiers": {"sgb5/insured": n}, as vst-httpd writes
 * them, and one delivery still streaming at the end — verifies, and
 * verify's usage summary balances.
 *
 * Each scenario gets a fresh trust DB and its own keyd directory (events
 * file and state files). Everything is dropped at the end. */
#define _GNU_SOURCE
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "core/hex.h"
#include "cunit_main.h"
#include "wire/keyd_client.h"
#include "cli/gen/gen.h"

#define LIMIT 1000 /* keyd's hard limits, per minute and per day */
#define BATCH 95   /* ten batches: 950, just under the limit */
#define NBATCH 10
#define IN_FLIGHT 40 /* honest flow: a delivery still streaming at the end */

static struct {
    int ready;
    char tmp[128];
    char keystore[256], master[256];
    char db[2][64];
    uint8_t pub[32];
    char pub_hex[65];
    char *ids; /* NBATCH * BATCH + BATCH synthetic KVNRs, 10 bytes each */
} F;

static char OUT[1 << 16], ERR[8192];

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v ? v : "";
}

static void dsn(char *out, size_t cap, const char *role, const char *db)
{
    snprintf(out, cap, "host=%s port=%s user=%s dbname=%s", env("PGHOST"), env("PGPORT"), role, db);
}

static PGconn *connect_as(const char *role, const char *db)
{
    char d[512];
    dsn(d, sizeof d, role, db);
    PGconn *c = PQconnectdb(d);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "connect %s@%s: %s", role, db, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PQclear(PQexec(c, "SET client_min_messages = warning"));
    return c;
}

static int exec_sql(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

static long long num(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    long long v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)
                      ? strtoll(PQgetvalue(r, 0, 0), NULL, 10)
                      : -1;
    PQclear(r);
    return v;
}

static void slurp(const char *path, char *out, size_t cap)
{
    out[0] = '\0';
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    ssize_t n = read(fd, out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
}

/* Runs argv with stdout/stderr into OUT/ERR; the exit status. */
static int run(char *const argv[])
{
    char of[300], ef[300];
    snprintf(of, sizeof of, "%s/run.out", F.tmp);
    snprintf(ef, sizeof ef, "%s/run.err", F.tmp);
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(of, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(ef, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    slurp(of, OUT, sizeof OUT);
    slurp(ef, ERR, sizeof ERR);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* vst-audit verify as vst_auditor on db with the trusted key. */
static int verify(const char *db)
{
    char d[512];
    dsn(d, sizeof d, "vst_auditor", db);
    char *argv[] = {(char *)env("VST_AUDIT"), "--dsn",   d,   "verify",
                    "--public-key",           F.pub_hex, NULL};
    return run(argv);
}

/* ---- keyd ------------------------------------------------------------------------ */

typedef struct {
    char dir[256], ev[300], ds[300], as[300];
    pid_t pid;
} keyd_proc;

static int keyd_start(keyd_proc *k)
{
    char log[320], me[16], lim[16];
    snprintf(log, sizeof log, "%s/keyd.log", k->dir);
    snprintf(me, sizeof me, "%u", (unsigned)getuid());
    snprintf(lim, sizeof lim, "%d", LIMIT);
    unlink(k->ds);
    unlink(k->as);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execl(env("VST_KEYD"), env("VST_KEYD"), "--keystore", F.keystore, "--dev-master-key",
              F.master, "--data-socket", k->ds, "--admin-socket", k->as, "--events-file", k->ev,
              "--data-uids", me, "--admin-uids", me, "--user", "", "--seccomp", "no",
              "--budget-minute", lim, "--budget-day", lim, "--usage-interval", "1", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 400; i++) {
        char e[128];
        vst_keyd *c = access(k->ds, F_OK) == 0 ? vst_keyd_connect(k->ds, e, sizeof e) : NULL;
        if (c != NULL) {
            vst_keyd_close(c);
            k->pid = pid;
            return 0;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return -1;
        usleep(25000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static int keyd_stop(keyd_proc *k)
{
    if (k->pid <= 0)
        return -1;
    kill(k->pid, SIGTERM);
    int st = 0;
    waitpid(k->pid, &st, 0);
    k->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static vst_keyd *keyd_conn(const keyd_proc *k)
{
    char e[256];
    vst_keyd *c = vst_keyd_connect(k->ds, e, sizeof e);
    if (c == NULL)
        fprintf(stderr, "%s\n", e);
    return c;
}

/* One batch of `n` identifiers starting at batch slot i: the client result. */
static int pseudonymize(vst_keyd *c, int i, int n)
{
    static uint8_t out[BATCH * 16];
    vst_pseud_req rq = {.nsections = 1};
    strcpy(rq.sec[0].domain, "sgb5/insured");
    rq.sec[0].id_len = 10;
    rq.sec[0].count = (uint32_t)n;
    rq.sec[0].ids = (const uint8_t *)F.ids + (size_t)i * BATCH * 10;
    uint32_t v;
    return vst_keyd_pseudonymize(c, &rq, &v, out, (size_t)n * 16);
}

static uint64_t day_used(const keyd_proc *k)
{
    vst_keyd *c = keyd_conn(k);
    vst_status_ok st = {0};
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = c ? vst_keyd_status(c, &st, &buf, &len) : -1;
    vst_frame_free(buf, len);
    vst_keyd_close(c);
    return rc == 0 ? st.day_used : UINT64_MAX;
}

/* ---- setup ----------------------------------------------------------------------- */

static void test_setup(void)
{
    const char *need[] = {"PGHOST",    "PGPORT",    "PGUSER",        "VST_KEYD",
                          "VST_ADMIN", "VST_AUDIT", "VST_SOURCE_DIR"};
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++)
        if (*env(need[i]) == '\0') {
            fprintf(stderr, "\n%s is not set: run via tests/run.sh\n", need[i]);
            CU_FAIL_FATAL("environment of tests/run.sh missing");
        }
    snprintf(F.tmp, sizeof F.tmp, "/tmp/vst-usage-test.XXXXXX");
    CU_ASSERT_FATAL(mkdtemp(F.tmp) != NULL);
    snprintf(F.keystore, sizeof F.keystore, "%s/keystore", F.tmp);
    snprintf(F.master, sizeof F.master, "%s/master.key", F.tmp);
    PGconn *pg = connect_as(env("PGUSER"), "postgres");
    CU_ASSERT_FATAL(pg != NULL);
    for (int i = 0; i < 2; i++) {
        snprintf(F.db[i], sizeof F.db[i], "vst_usage_%s_%d", i ? "honest" : "sweep", (int)getpid());
        char sql[128], d[512], script[512];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", F.db[i]);
        CU_ASSERT_FATAL(exec_sql(pg, sql) == 0);
        dsn(d, sizeof d, env("PGUSER"), F.db[i]);
        snprintf(script, sizeof script, "%s/sql/migrate.sh", env("VST_SOURCE_DIR"));
        CU_ASSERT_FATAL(run((char *const[]){script, "trust", d, NULL}) == 0);
    }
    PQfinish(pg);
    CU_ASSERT_FATAL(run((char *const[]){(char *)env("VST_ADMIN"), "--keystore", F.keystore, "key",
                                        "init", "--dev-master-key", F.master, NULL}) == 0);
    /* Synthetic KVNRs (vst-gen's generator): never real ones. */
    vst_gen *g = vst_gen_new(8);
    F.ids = malloc((NBATCH + 1) * BATCH * 10);
    CU_ASSERT_FATAL(g != NULL && F.ids != NULL);
    for (int i = 0; i < (NBATCH + 1) * BATCH; i++) {
        char one[VST_ID_MAXLEN + 1];
        CU_ASSERT_FATAL(vst_gen_id(g, VST_ID_KVNR, one) == 10);
        memcpy(F.ids + i * 10, one, 10);
    }
    vst_gen_free(g);
    F.ready = 1;
}

/* ---- the flow ---------------------------------------------------------------------- */

/* Mirrors keyd's events into the log as vst-httpd's background thread
 * does; with a checkpoint. */
static void pull(PGconn *httpd, const keyd_proc *k)
{
    vst_keyd *c = keyd_conn(k);
    CU_ASSERT_FATAL(c != NULL);
    int n = vst_audit_pull_keyd_events(httpd, c);
    if (n < 0)
        fprintf(stderr, "\npull: %s\n", vst_audit_last_error());
    CU_ASSERT(n >= 0);
    if (F.pub_hex[0] == '\0') {
        CU_ASSERT_FATAL(vst_keyd_pubkey(c, F.pub) == 0);
        vst_hex(F.pub, 32, F.pub_hex);
    }
    uint64_t seq;
    CU_ASSERT(vst_audit_checkpoint(httpd, c, &seq) == 0);
    vst_keyd_close(c);
}

/* The delivery events vst-httpd writes for batch i (honest flow only):
 * received, then stored — or, for one batch, rejected: keyd pseudonymized
 * its identifiers before a later line failed. */
static void deliver(PGconn *httpd, int i)
{
    char d[256];
    snprintf(d, sizeof d, "{\"delivery_id\": \"2025-Q3.part_%d\", \"profile\": \"sgb5\"}", i);
    CU_ASSERT(vst_audit_append(httpd, "vst-httpd", "delivery.received", "Test insurer", d, NULL) ==
              0);
    snprintf(d, sizeof d,
             "{\"delivery_id\": \"2025-Q3.part_%d\", \"record_count\": %d, \"identifiers\": "
             "{\"sgb5/insured\": %d}}",
             i, BATCH, BATCH);
    CU_ASSERT(vst_audit_append(httpd, "vst-httpd", i == 3 ? "delivery.rejected" : "delivery.stored",
                               "Test insurer", d, NULL) == 0);
}

/* Ten batches of 95 KVNRs, keyd restarted after the fifth; returns the
 * trust DB connection's findings via verify's exit status. */
static int flow(int honest)
{
    const char *db = F.db[honest];
    keyd_proc k = {0};
    snprintf(k.dir, sizeof k.dir, "%s/%s", F.tmp, honest ? "honest" : "sweep");
    CU_ASSERT_FATAL(mkdir(k.dir, 0700) == 0);
    snprintf(k.ev, sizeof k.ev, "%s/events.jsonl", k.dir);
    snprintf(k.ds, sizeof k.ds, "%s/data.sock", k.dir);
    snprintf(k.as, sizeof k.as, "%s/admin.sock", k.dir);
    PGconn *httpd = connect_as("vst_httpd", db), *su = connect_as(env("PGUSER"), db);
    CU_ASSERT_FATAL(httpd != NULL && su != NULL);
    CU_ASSERT_FATAL(keyd_start(&k) == 0);

    for (int i = 0; i < NBATCH; i++) {
        if (i == NBATCH / 2) {
            /* Mid-sweep restart: the counts survive, the limit holds. */
            uint64_t before = day_used(&k);
            CU_ASSERT(keyd_stop(&k) == 0);
            CU_ASSERT_FATAL(keyd_start(&k) == 0);
            CU_ASSERT_EQUAL(day_used(&k), before);
            CU_ASSERT_EQUAL(before, (uint64_t)(NBATCH / 2) * BATCH);
            pull(httpd, &k);
        }
        vst_keyd *c = keyd_conn(&k);
        CU_ASSERT_FATAL(c != NULL);
        CU_ASSERT_EQUAL(pseudonymize(c, i, BATCH), 0);
        vst_keyd_close(c);
        if (honest)
            deliver(httpd, i);
    }
    vst_keyd *c = keyd_conn(&k);
    CU_ASSERT_FATAL(c != NULL);
    if (honest) {
        /* One more delivery is still streaming when keyd last reports: 40
         * identifiers pseudonymized, no outcome yet. */
        CU_ASSERT(vst_audit_append(httpd, "vst-httpd", "delivery.received", "Test insurer",
                                   "{\"delivery_id\": \"2025-Q3.part_x\", \"profile\": "
                                   "\"sgb5\"}",
                                   NULL) == 0);
        CU_ASSERT_EQUAL(pseudonymize(c, NBATCH, IN_FLIGHT), 0);
    }
    /* 950 (990) served: the next batch would cross the limit of 1000. */
    CU_ASSERT_EQUAL(pseudonymize(c, NBATCH, BATCH), VST_KERR_BUDGET_EXCEEDED);
    vst_keyd_close(c);
    /* keyd's periodic usage report (every second here), then the pull. */
    usleep(1500000);
    pull(httpd, &k);
    CU_ASSERT(keyd_stop(&k) == 0);

    /* The soft alarm (a quarter of the limit) reached the audit log. */
    CU_ASSERT(num(su, "SELECT count(*) FROM vst.audit_log WHERE action = "
                      "'keyd.budget_soft_alarm' AND details->'event'->>'domain' = "
                      "'sgb5/insured'") >= 1);
    CU_ASSERT(num(su, "SELECT count(*) FROM vst.audit_log WHERE action = 'keyd.budget_alarm'") >=
              1);
    /* keyd's last signed report: what was served on the data socket. */
    CU_ASSERT_EQUAL(num(su, "SELECT (e->>'total')::bigint FROM vst.audit_log, "
                            "jsonb_array_elements(details->'event'->'entries') e WHERE action = "
                            "'keyd.usage' AND e->>'op' = 'pseudonymize' ORDER BY seq DESC "
                            "LIMIT 1"),
                    NBATCH * BATCH + (honest ? IN_FLIGHT : 0));
    /* No KVNR reached the log (the screen would have refused it). */
    char probe[160];
    snprintf(probe, sizeof probe,
             "SELECT count(*) FROM vst.audit_log WHERE details::text LIKE "
             "'%%%.10s%%'",
             F.ids);
    CU_ASSERT_EQUAL(num(su, probe), 0);
    PQfinish(httpd);
    PQfinish(su);
    return verify(db);
}

static void test_sweep(void)
{
    CU_ASSERT_FATAL(F.ready);
    int rc = flow(0);
    CU_ASSERT_EQUAL(rc, 1);
    char want[160];
    snprintf(want, sizeof want,
             "domain sgb5/insured: keyd served %d identifiers that no delivery event accounts for",
             NBATCH * BATCH);
    CU_ASSERT(strstr(ERR, want) != NULL);
    CU_ASSERT(strstr(OUT, "FAILED") != NULL);
    if (getenv("VST_TEST_VERBOSE") || rc != 1 || strstr(ERR, want) == NULL)
        fprintf(stderr, "\nverify: %d\n%s%s\n", rc, OUT, ERR);
    /* The chain itself is intact: verify still names its anchor. */
    CU_ASSERT(strstr(OUT, "anchor for the next run") != NULL);
}

static void test_honest(void)
{
    CU_ASSERT_FATAL(F.ready);
    int rc = flow(1);
    CU_ASSERT_EQUAL(rc, 0);
    char want[200];
    snprintf(want, sizeof want,
             "sgb5/insured: keyd served %d (crash slack 0); deliveries %d (stored %d, rejected %d, "
             "failed 0, aborted 0); in flight up to ",
             NBATCH * BATCH + IN_FLIGHT, NBATCH * BATCH, (NBATCH - 1) * BATCH, BATCH);
    CU_ASSERT(strstr(OUT, want) != NULL);
    CU_ASSERT(strstr(OUT, "1 received without an outcome (1 of them in flight)") != NULL);
    CU_ASSERT(strstr(OUT, "OK: the audit log is intact") != NULL);
    if (getenv("VST_TEST_VERBOSE") || rc != 0 || strstr(OUT, want) == NULL)
        fprintf(stderr, "\nverify: %d\n%s%s\n", rc, OUT, ERR);
}

static void test_cleanup(void)
{
    PGconn *pg = connect_as(env("PGUSER"), "postgres");
    for (int i = 0; pg != NULL && i < 2; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", F.db[i]);
        CU_ASSERT(exec_sql(pg, sql) == 0);
    }
    PQfinish(pg);
    free(F.ids);
    F.ids = NULL;
    if (F.tmp[0] != '\0') {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", F.tmp);
        CU_ASSERT(system(cmd) == 0);
    }
}

int vst_register_tests(void)
{
    static const vst_test tests[] = {
        {"setup: two trust DBs, a dev keystore", test_setup},
        {"a paced sweep: soft alarm, counts survive a restart, verify fails", test_sweep},
        {"the same volume delivered honestly: verify passes and balances", test_honest},
        {"cleanup", test_cleanup},
        {NULL, NULL},
    };
    VST_ADD_SUITE("keyd budget and usage against the audit log", tests);
    return CUE_SUCCESS;
}
