/* Worker slots: each holds one trust-DB connection, one store connection
 * and one keyd connection, leased by a request for its whole duration (a
 * delivery keeps its store transaction open across many body chunks).
 * Connections are opened lazily and re-opened after a failure, so vst-httpd
 * survives restarts of PostgreSQL and vst-keyd: requests get 503 while a
 * dependency is down and succeed again once it is back.
 *
 * Nothing here may wait for ever on a dependency: every keyd call has a
 * timeout (keyd-timeout), every session a lock_timeout and an
 * idle_in_transaction_session_timeout, and a client holds at most
 * client-slots slots at once. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd/httpd.h"
#include "httpd/slot_queue.h"
#include "httpd/sql.h"

static slot *slots;
static size_t nslots;
static slot background;
/* Who gets which slot when: slot_queue.c (one waiter woken per release,
 * a bounded wait for each). */
static slot_queue queue;
/* A waiter that has waited this long gets the next released slot handed
 * to it: well above a delivery's usual wait at full load (a few tens of
 * ms), so that hand-offs, which leave a slot idle until the waiter runs,
 * stay rare; low enough to cut the tail of 128 senders on 32 workers. */
#define POOL_STARVE_MS 100

int pool_init(size_t n)
{
    slots = calloc(n, sizeof *slots);
    nslots = n;
    if (slots == NULL || sq_init(&queue, n, g_hcfg.client_slots, POOL_STARVE_MS) != 0) {
        free(slots);
        slots = NULL;
        return -1;
    }
    return 0;
}

void pool_free(void)
{
    for (size_t i = 0; i < nslots; i++) {
        slot_drop_trust(&slots[i]);
        slot_drop_store(&slots[i]);
        slot_drop_keyd(&slots[i]);
    }
    free(slots);
    slots = NULL;
    nslots = 0;
    sq_free(&queue);
    slot_drop_trust(&background);
    slot_drop_store(&background);
    slot_drop_keyd(&background);
}

slot *pool_background(void)
{
    return &background;
}

void pool_stats(size_t *workers, size_t *busy, size_t *waiting, uint64_t *handed)
{
    *workers = nslots;
    sq_stats(&queue, busy, waiting, handed);
}

slot *pool_acquire(int client_id, int timeout_ms, int *busy)
{
    long i = sq_acquire(&queue, client_id, timeout_ms, busy);
    if (i < 0)
        return NULL;
    slot *s = &slots[i];
    if (s->trust_posted > 0) /* the previous request's unlock */
        sql_collect(s);
    return s;
}

void pool_release(slot *s)
{
    if (s == NULL)
        return;
    /* A connection left inside a transaction (an aborted request) is not
     * reusable as is: roll it back or drop it. */
    if (s->trust && s->trust_posted == 0 && PQtransactionStatus(s->trust) != PQTRANS_IDLE)
        slot_drop_trust(s);
    if (s->store && PQtransactionStatus(s->store) != PQTRANS_IDLE)
        slot_drop_store(s);
    sq_release(&queue, (size_t)(s - slots));
}

/* *prepared: the statements prepared on *db (sql.c), none on a new one. */
static int connect_db(PGconn **db, unsigned *prepared, const char *dsn, const char *what)
{
    /* A server restart closes idle connections without libpq noticing
     * until it reads: consume whatever is pending (non-blocking) so that a
     * dead connection shows as such and is replaced before it is used. */
    if (*db != NULL && PQstatus(*db) == CONNECTION_OK) {
        PGTransactionStatusType ts = PQtransactionStatus(*db);
        if (ts == PQTRANS_INTRANS || ts == PQTRANS_ACTIVE || ts == PQTRANS_INERROR)
            return 0; /* in use by this request (a transaction or COPY) */
        /* An idle connection has nothing to read unless the server is
         * going away: it sends a FATAL message, then closes. Read until the
         * socket is quiet so that the close is seen, not just the message. */
        int alive = ts == PQTRANS_IDLE;
        for (int i = 0; alive && i < 4; i++) {
            struct pollfd p = {.fd = PQsocket(*db), .events = POLLIN};
            if (poll(&p, 1, 0) == 0)
                break;
            alive = PQconsumeInput(*db) == 1 && PQstatus(*db) == CONNECTION_OK;
        }
        if (alive)
            return 0;
    }
    if (*db != NULL)
        PQfinish(*db);
    *prepared = 0;
    /* Bounded waits on the server side too: a lock (the audit appenders',
     * a row) is waited for at most db-lock-timeout, and a session left
     * inside a transaction is ended by the server. The options travel with
     * the connection request, so they hold from the first statement. */
    char opts[200];
    /* On the store, vst-httpd only ever ends a transaction with PREPARE
     * TRANSACTION and with COMMIT or ROLLBACK PREPARED, which PostgreSQL
     * flushes whatever synchronous_commit says (measured: three WAL syncs
     * per lone small delivery, docs/benchmarks.md). Off, it would let them
     * not wait — the decision is already durable in the trust DB, and a
     * prepared transaction a crash took back to "prepared" is committed
     * or rolled back by recovery from its receipts — so it stays off for
     * the day PostgreSQL honours it there, and for any other commit. */
    int store = strcmp(what, "store") == 0;
    snprintf(opts, sizeof opts,
             "-c lock_timeout=%llu -c idle_in_transaction_session_timeout=%llu%s",
             (unsigned long long)g_hcfg.db_lock_timeout_ms,
             (unsigned long long)(g_hcfg.connection_timeout * 2000 + 10000),
             store ? " -c synchronous_commit=off" : "");
    const char *keys[] = {"connect_timeout", "dbname", "options", NULL};
    const char *vals[] = {"10", dsn, opts, NULL};
    *db = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(*db) != CONNECTION_OK) {
        char msg[200];
        strncpy(msg, PQerrorMessage(*db), sizeof msg - 1);
        msg[sizeof msg - 1] = '\0';
        msg[strcspn(msg, "\n")] = '\0';
        hlog("error", "cannot connect to the %s: %s", what, msg);
        PQfinish(*db);
        *db = NULL;
        metrics_db_error();
        /* /readyz says so at once, not only after the next probe. */
        health_mark_down(store ? "the store is unreachable" : "the trust DB is unreachable");
        return -1;
    }
    return 0;
}

int slot_trust(slot *s)
{
    if (s->trust_posted > 0)
        sql_collect(s); /* drops the connection if it failed */
    return connect_db(&s->trust, &s->trust_prepared, g_hcfg.trust_dsn, "trust DB");
}

int slot_store(slot *s)
{
    return connect_db(&s->store, &s->store_prepared, g_hcfg.store_dsn, "store");
}

int slot_keyd(slot *s)
{
    if (s->keyd != NULL) {
        /* keyd never speaks first: anything readable on an idle connection
         * is its close (a restart); reconnect instead of failing a batch. */
        struct pollfd p = {.fd = vst_keyd_fd(s->keyd), .events = POLLIN};
        if (poll(&p, 1, 0) == 0)
            return 0;
        slot_drop_keyd(s);
    }
    char err[256];
    s->keyd = vst_keyd_connect_timeout(g_hcfg.keyd_socket, (unsigned)g_hcfg.keyd_timeout_ms, err,
                                       sizeof err);
    if (s->keyd == NULL) {
        hlog("error", "%s", err);
        metrics_keyd_error();
        return -1;
    }
    return 0;
}

void slot_drop_trust(slot *s)
{
    PQfinish(s->trust);
    s->trust = NULL;
    s->trust_prepared = 0;
    s->trust_posted = 0;
}

void slot_drop_store(slot *s)
{
    PQfinish(s->store);
    s->store = NULL;
    s->store_prepared = 0;
}

void slot_drop_keyd(slot *s)
{
    vst_keyd_close(s->keyd);
    s->keyd = NULL;
}
