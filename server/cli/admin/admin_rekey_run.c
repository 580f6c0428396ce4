/* vst-admin rekey, the run (admin_rekey.h): arguments, the rows to do,
 * the workers started and joined, the run's row in the trust DB
 * (vst.rekey_runs, so that a later run resumes its count), the summary. */
#include "cli/admin/admin_rekey.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void rekey_run_note(rekey_ctx *c, const char *sql_fmt, const char *table, int64_t cursor)
{
    if (c->trust == NULL || c->run_id[0] == '\0')
        return;
    char done[24], cur[24];
    snprintf(done, sizeof done, "%" PRIu64, c->prior + c->done);
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
    PGresult *r =
        PQexec(c->trust, "SELECT id, rows_done FROM vst.rekey_runs WHERE state = 'running'");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) {
        snprintf(c->run_id, sizeof c->run_id, "%s", PQgetvalue(r, 0, 0));
        c->prior = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
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

/* --batch, --jobs. 0, or the exit status. */
static int parse_rekey_args(int argc, char **argv, rekey_ctx *c)
{
    for (int i = 1; i < argc; i++) {
        const char *v;
        char *end;
        if (strcmp(argv[i], "--batch") == 0 && (v = admin_optarg(argc, argv, &i)))
            c->batch = strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--jobs") == 0 && (v = admin_optarg(argc, argv, &i))) {
            c->njobs = strtoul(v, &end, 10);
            if (*end != '\0' || c->njobs < 1 || c->njobs > MAX_JOBS)
                return admin_fail("rekey: --jobs must be 1..%d", MAX_JOBS);
        } else
            return admin_fail("rekey: unexpected argument %s (see --help)", argv[i]);
    }
    return 0;
}

/* --batch against the widest table: one frame to keyd holds a batch. */
static int check_batch(const rekey_ctx *c)
{
    for (size_t i = 0; i < c->nt; i++)
        if (c->batch == 0 || c->batch * c->tables[i].ncolumns > VST_BATCH_MAX)
            return admin_fail("rekey: --batch must be 1..%zu for %s",
                              VST_BATCH_MAX / (c->tables[i].ncolumns ? c->tables[i].ncolumns : 1),
                              c->tables[i].table);
    return 0;
}

/* Worker 0's keyd and store connections and the version to re-key to;
 * keyd must be unsealed. 0, or the exit status with nothing left open. */
static int connect_first(rekey_ctx *c, rekey_worker *w0)
{
    if ((w0->k = admin_keyd()) == NULL)
        return 1;
    vst_status_ok s;
    uint8_t *sbufp;
    size_t slen;
    int rc = vst_keyd_status(w0->k, &s, &sbufp, &slen);
    if (rc != 0) {
        vst_keyd_close(w0->k);
        return admin_fail("status: %s", vst_keyd_strerror(rc));
    }
    int sealed = s.sealed;
    c->to = s.current_version;
    vst_frame_free(sbufp, slen);
    if (sealed) {
        vst_keyd_close(w0->k);
        return admin_fail("rekey: vst-keyd is sealed");
    }
    if ((w0->db = admin_db(g_opt.store_dsn, "store")) == NULL) {
        vst_keyd_close(w0->k);
        return 1;
    }
    return 0;
}

/* Counts the rows below the current version (c->total; *from_min their
 * oldest version), then connects the other workers. 0 or 1. */
static int count_and_connect(rekey_ctx *c, rekey_worker w[MAX_JOBS], uint32_t *from_min)
{
    int rc = 0;
    admin_version_rows *vr = NULL;
    size_t nvr = 0;
    if (admin_rows_per_version(w[0].db, c->tables, c->nt, &vr, &nvr) != 0)
        rc = 1;
    /* Counting scans the whole store and may outlast keyd's idle-timeout:
     * worker 0 gets a fresh keyd connection for its batches. */
    vst_keyd_close(w[0].k);
    w[0].k = rc == 0 ? admin_keyd() : NULL;
    if (w[0].k == NULL)
        rc = 1;
    *from_min = 0;
    for (size_t i = 0; i < nvr; i++) /* ascending by version */
        if (vr[i].version < c->to && vr[i].rows > 0) {
            c->total += vr[i].rows;
            if (*from_min == 0)
                *from_min = vr[i].version;
        }
    free(vr);
    /* No more workers than batches. */
    if (c->njobs > 1 && c->total / c->batch + 1 < c->njobs)
        c->njobs = (size_t)(c->total / c->batch + 1);
    for (size_t j = 1; rc == 0 && c->total > 0 && j < c->njobs; j++)
        if ((w[j].k = admin_keyd()) == NULL ||
            (w[j].db = admin_db(g_opt.store_dsn, "store")) == NULL)
            rc = 1;
    return rc;
}

/* Runs the workers (when rc is 0 and there is work) and waits for them. */
static int run_workers(rekey_ctx *c, rekey_worker w[MAX_JOBS], uint32_t from_min, int rc)
{
    pthread_mutex_init(&c->mu, NULL);
    for (size_t j = 0; j < MAX_JOBS; j++)
        c->inflight[j].start = -1;
    c->t0 = rekey_now_s();
    if (rc == 0 && c->total > 0)
        run_start(c, from_min);
    pthread_t th[MAX_JOBS];
    size_t started = 0;
    for (size_t j = 0; rc == 0 && c->total > 0 && j < c->njobs; j++) {
        w[j].c = c;
        w[j].slot = j;
        if (pthread_create(&th[j], NULL, rekey_worker_main, &w[j]) != 0)
            rc = admin_fail("rekey: cannot start a worker thread");
        else
            started++;
    }
    if (rc != 0) {
        pthread_mutex_lock(&c->mu);
        c->failed = 1;
        pthread_mutex_unlock(&c->mu);
    }
    for (size_t j = 0; j < started; j++) {
        pthread_join(th[j], NULL);
        if (w[j].rc != 0)
            rc = 1;
    }
    return rc;
}

/* Records and prints the outcome, closes every connection. */
static void finish_run(rekey_ctx *c, rekey_worker w[MAX_JOBS], int rc)
{
    double dt = rekey_now_s() - c->t0;
    if (c->total > 0)
        rekey_progress(c, "done", 1);
    rekey_run_note(c,
                   rc == 0
                       ? "UPDATE vst.rekey_runs SET state = 'done', finished_at = now(), "
                         "rows_done = $2::bigint WHERE id = $1::bigint AND $3 = $3 AND $4 = $4"
                       : "UPDATE vst.rekey_runs SET rows_done = $2::bigint WHERE id = $1::bigint "
                         "AND $3 = $3 AND $4 = $4",
                   "", 0);
    if (rc == 0)
        printf("re-keyed %" PRIu64 " rows to key version %u in %.2f s (%.0f rows/s)\n", c->done,
               c->to, dt, dt > 0 ? (double)c->done / dt : 0.0);
    PQfinish(c->trust);
    for (size_t j = 0; j < MAX_JOBS; j++) {
        PQfinish(w[j].db);
        if (w[j].k != NULL)
            vst_keyd_close(w[j].k);
    }
    pthread_mutex_destroy(&c->mu);
}

int cmd_rekey(int argc, char **argv)
{
    if (admin_is_help(argc, argv)) {
        printf("usage: vst-admin rekey [--batch N] [--jobs J]\n\nRe-keys every row of every "
               "store table to vst-keyd's current key version,\nin batches of N rows (default "
               "20000), each in its own transaction. J workers\n(default 2, at most %d), each "
               "with its own store and keyd connection, re-key\ndisjoint batches in parallel: "
               "the store's UPDATE is the bottleneck and runs\non one core per connection. Safe "
               "to interrupt: run it again to finish; no\nrow is ever re-keyed twice.\n",
               MAX_JOBS);
        return 0;
    }
    admin_table tables[16];
    rekey_ctx c = {.batch = 20000, .tty = isatty(2), .njobs = 2, .tables = tables};
    int rc = parse_rekey_args(argc, argv, &c);
    if (rc != 0)
        return rc;
    if (admin_store_tables(tables, 16, &c.nt) != 0)
        return 1;
    if ((rc = check_batch(&c)) != 0)
        return rc;
    rekey_worker w[MAX_JOBS];
    memset(w, 0, sizeof w);
    if ((rc = connect_first(&c, &w[0])) != 0)
        return rc;
    uint32_t from_min;
    rc = count_and_connect(&c, w, &from_min);
    rc = run_workers(&c, w, from_min, rc);
    finish_run(&c, w, rc);
    /* keyd reports each connection's re-key count when it closes. */
    if (rc == 0 && c.done > 0)
        admin_audit_sync(1);
    return rc;
}
