/* vst-admin rekey (admin_rekey.c has the method and why it is safe):
 *
 *   admin_rekey.c      one batch (read, re-key in keyd, write back in one
 *                      store transaction) and the worker thread's loop
 *   admin_rekey_run.c  the run: arguments, counting, workers, bookkeeping
 *                      in the trust DB, the summary
 *
 * Internal to vst-admin. */
#ifndef VST_ADMIN_REKEY_H
#define VST_ADMIN_REKEY_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/admin/admin.h"

#define MAX_JOBS 16

/* State shared by the workers; everything in it is guarded by mu. Batches
 * are handed out under mu: a worker reads its rows (the SELECT, in its own
 * transaction) while holding mu and moves the shared cursor past them, so
 * no two workers ever hold the same rows; the expensive part (keyd, the
 * UPDATE, the commit) runs outside mu, in parallel. */
typedef struct {
    pthread_mutex_t mu;
    const admin_table *tables;
    size_t nt;
    size_t table;   /* table being handed out; nt when all are done */
    int64_t cursor; /* its last id handed out */
    struct {
        size_t table;
        int64_t start; /* cursor before its batch; -1: no batch in flight */
    } inflight[MAX_JOBS];
    int failed;
    uint32_t to;
    size_t batch;
    uint64_t done, total;
    double t0;
    int tty;
    size_t njobs;
    PGconn *trust;
    char run_id[24];
    uint64_t prior; /* rows_done of a resumed run, from the runs before this one */
} rekey_ctx;

typedef struct {
    rekey_ctx *c;
    size_t slot;
    PGconn *db;
    vst_keyd *k;
    int rc;
} rekey_worker;

double rekey_now_s(void);
/* The progress line on a terminal (final: the last one, with a newline). */
void rekey_progress(rekey_ctx *c, const char *table, int final);
/* A worker thread (arg: its rekey_worker): batches until none is left or
 * one fails. */
void *rekey_worker_main(void *arg);
/* Updates the run's row in the trust DB (sql_fmt with $1 run id, $2 rows
 * done, $3 table, $4 cursor); a failure is a warning. */
void rekey_run_note(rekey_ctx *c, const char *sql_fmt, const char *table, int64_t cursor);

#endif
