/* The commit protocol of a delivery; see store.h. The statements with
 * parameters are sql.h's; the ones built here are COPY (a profile names
 * its table: every part quoted as an identifier) and the prepared
 * transactions' commands (a transaction id is no parameter: "vst:" and a
 * UUID, checked by gid_ok before it is placed in a statement). */
#include "httpd/store.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/hex.h"
#include "httpd/sql.h"

void store_tx_init(store_tx *t)
{
    memset(t, 0, sizeof *t);
    uint8_t u[16];
    RAND_bytes(u, sizeof u);
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char h[33];
    vst_hex(u, 16, h);
    snprintf(t->ref, sizeof t->ref, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

/* ---- advisory locks (session level, on the trust DB) */

static int lock_key(slot *s, sql_stmt op, const char *key)
{
    const char *p[] = {key};
    PGresult *r = sql_run(s, op, p, NULL, NULL);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok ? 0 : -1;
}

static void attempt_key(char *out, size_t cap, int client_id, const char *delivery_id)
{
    snprintf(out, cap, "%d/%s", client_id, delivery_id);
}

/* A second attempt waits for the first at most db-lock-timeout (the
 * session's lock_timeout), then is told so (409, retry) instead of parking
 * a worker on the lock for ever. */
int store_lock_attempt_load(slot *s, int client_id, const char *delivery_id, PGresult **receipt)
{
    char key[160], cid[16];
    attempt_key(key, sizeof key, client_id, delivery_id);
    snprintf(cid, sizeof cid, "%d", client_id);
    const char *pl[] = {key}, *pr[] = {cid, delivery_id};
    PGresult *lock = NULL;
    int rc = sql_run_pair(s, SQL_LOCK, pl, SQL_RECEIPT_BY_ID, pr, &lock, receipt);
    int locked = PQresultStatus(lock) == PGRES_TUPLES_OK;
    if (rc == 0 && !locked) {
        const char *state = PQresultErrorField(lock, PG_DIAG_SQLSTATE);
        rc = state != NULL && strcmp(state, "55P03") == 0 ? 0 : -1; /* lock_not_available */
    } else if (rc == 0) {
        rc = 1;
    }
    PQclear(lock);
    if (rc <= 0) {
        PQclear(*receipt);
        *receipt = NULL;
    }
    if (rc < 0)
        slot_drop_trust(s); /* a lock it may hold goes with the session */
    return rc;
}

void store_unlock_attempt(slot *s, int client_id, const char *delivery_id)
{
    /* Not waited for: the answer has gone out already, and the sender's
     * next request on this connection need not wait for the unlock. */
    char key[160];
    attempt_key(key, sizeof key, client_id, delivery_id);
    const char *p[] = {key};
    sql_post(s, SQL_UNLOCK, p);
}

/* ---- prepared transactions */

static int gid_ok(const char *gid)
{
    /* "vst:" + a canonical UUID: safe to place in a statement. */
    if (strncmp(gid, "vst:", 4) != 0 || strlen(gid) != 40)
        return 0;
    for (const char *p = gid + 4; *p; p++)
        if (!(isxdigit((unsigned char)*p) || *p == '-'))
            return 0;
    return 1;
}

/* Sends "<verb> '<gid>'<tail>" (PREPARE TRANSACTION, COMMIT PREPARED,
 * ROLLBACK PREPARED; a commit group's lock) on db without waiting: 1 sent,
 * 0 not (or a gid that is not ours). gid_done takes its outcome. */
static int gid_send_with(PGconn *db, const char *verb, const char *gid, const char *tail)
{
    char sql[160];
    if (db == NULL || !gid_ok(gid))
        return 0;
    snprintf(sql, sizeof sql, "%s '%s'%s", verb, gid, tail);
    return PQsendQuery(db, sql) == 1;
}

static int gid_send(PGconn *db, const char *verb, const char *gid)
{
    return gid_send_with(db, verb, gid, "");
}

/* 1 when what gid_send sent was done. */
static int gid_done(PGconn *db)
{
    PGresult *r = sql_wait(db);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
}

/* Both, waiting: 1 done, 0 failed. */
static int gid_command(PGconn *db, const char *verb, const char *gid)
{
    return gid_send(db, verb, gid) && gid_done(db);
}

static void gid_of(const store_tx *t, char gid[41])
{
    snprintf(gid, 41, "vst:%s", t->ref);
}

/* ---- COPY */

/* Appends name, quoted as an SQL identifier (each part of a qualified
 * name on its own), to sql[*n..cap): profile files name the table and
 * columns, and nothing from a file goes into SQL unquoted. */
static int put_ident(PGconn *db, char *sql, size_t cap, size_t *n, const char *name)
{
    char part[128];
    for (const char *p = name; *p;) {
        size_t k = strcspn(p, ".");
        if (k == 0 || k >= sizeof part)
            return -1;
        memcpy(part, p, k);
        part[k] = '\0';
        char *q = PQescapeIdentifier(db, part, k);
        if (q == NULL)
            return -1;
        int w = snprintf(sql + *n, cap - *n, "%s%s", p == name ? "" : ".", q);
        PQfreemem(q);
        if (w < 0 || (size_t)w >= cap - *n)
            return -1;
        *n += (size_t)w;
        p += k + (p[k] == '.');
    }
    return 0;
}

static int copy_statement(PGconn *db, const vst_profile *p, char *sql, size_t cap)
{
    size_t n = (size_t)snprintf(sql, cap, "COPY ");
    if (put_ident(db, sql, cap, &n, vst_profile_table(p)) != 0)
        return -1;
    n += (size_t)snprintf(sql + n, cap - n, " (delivery_ref, key_version");
    for (size_t c = 0; c < vst_profile_ncolumns(p) && n < cap; c++) {
        n += (size_t)snprintf(sql + n, cap - n, ", ");
        if (n >= cap || put_ident(db, sql, cap, &n, vst_profile_column(p, c)->name) != 0)
            return -1;
    }
    if (n < cap)
        n += (size_t)snprintf(sql + n, cap - n, ") FROM STDIN");
    return n < cap ? 0 : -1;
}

/* COPY into p's table on the store connection, inside the transaction
 * that is open (begin: BEGIN it first). */
static vst_err copy_open(slot *s, store_tx *t, const vst_profile *p, int begin, const char **detail)
{
    /* BEGIN travels with the COPY: one round trip. */
    char sql[4096];
    size_t b = begin ? (size_t)snprintf(sql, sizeof sql, "BEGIN; ") : 0;
    if (copy_statement(s->store, p, sql + b, sizeof sql - b) != 0) {
        *detail = "the profile's table cannot be named";
        return VST_E_INTERNAL;
    }
    PGresult *r = NULL;
    if (PQresultStatus(r = PQexec(s->store, sql)) == PGRES_COPY_IN) {
        PQclear(r);
        /* Non-blocking while COPYing: rows go to PostgreSQL while the next
         * batch is parsed (see store_copy_rows and store_copy_nudge),
         * instead of the two taking turns. */
        if (PQsetnonblocking(s->store, 1) != 0) {
            *detail = "the store connection failed";
            return VST_E_UNAVAILABLE;
        }
        t->copying = 1;
        return VST_E_OK;
    }
    PQclear(r);
    metrics_db_error();
    slot_drop_store(s);
    *detail = "the store refused the delivery";
    return VST_E_UNAVAILABLE;
}

vst_err store_copy_begin(slot *s, store_tx *t, const vst_profile *p, const char **detail)
{
    if (slot_store(s) != 0) {
        health_mark_down("the store is unreachable");
        *detail = "the store is unreachable";
        return VST_E_UNAVAILABLE;
    }
    return copy_open(s, t, p, 1, detail);
}

/* Waits until libpq has handed everything queued to the kernel: at most
 * one batch is ever waiting in libpq, which bounds memory. */
static int drain(PGconn *db)
{
    int rc;
    while ((rc = PQflush(db)) == 1) {
        struct pollfd p = {.fd = PQsocket(db), .events = POLLOUT | POLLIN};
        if (poll(&p, 1, 30000) <= 0)
            return -1;
        if ((p.revents & POLLIN) && PQconsumeInput(db) == 0)
            return -1; /* the server reported an error or closed */
    }
    return rc;
}

vst_err store_copy_rows(slot *s, const char *text, size_t len, const char **detail)
{
    PGconn *db = s->store;
    int put = 0;
    while (drain(db) == 0 && (put = PQputCopyData(db, text, (int)len)) == 0)
        ; /* 0: libpq's buffer is full; drain and try again */
    if (put != 1 || PQflush(db) < 0) {
        metrics_db_error();
        *detail = "the store connection failed";
        return VST_E_UNAVAILABLE;
    }
    return VST_E_OK;
}

/* Ends the open COPY, blocking again: 1 when the rows were taken. */
static int copy_end(PGconn *st)
{
    PGresult *r = NULL;
    int ok = drain(st) == 0 && PQsetnonblocking(st, 0) == 0 && PQputCopyEnd(st, NULL) == 1 &&
             (r = PQgetResult(st)) != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    while (ok && (r = PQgetResult(st)) != NULL)
        PQclear(r);
    return ok;
}

vst_err store_copy_next(slot *s, store_tx *t, const vst_profile *p, const char **detail)
{
    if (!t->copying)
        return store_copy_begin(s, t, p, detail);
    t->copying = 0;
    if (copy_end(s->store))
        return copy_open(s, t, p, 0, detail);
    metrics_db_error();
    slot_drop_store(s);
    *detail = "the store refused the delivery";
    return VST_E_UNAVAILABLE;
}

void store_copy_nudge(slot *s, const store_tx *t)
{
    if (t->copying)
        PQflush(s->store); /* never blocks */
}

void store_copy_abort(slot *s, store_tx *t)
{
    if (!t->copying)
        return;
    t->copying = 0;
    PGconn *db = s != NULL ? s->store : NULL;
    if (db == NULL)
        return;
    PQsetnonblocking(db, 0);
    if (PQputCopyEnd(db, "delivery aborted") == 1) {
        PGresult *r;
        while ((r = PQgetResult(db)) != NULL)
            PQclear(r);
    }
    if (!sql_rollback(db))
        slot_drop_store(s);
}

/* ---- the commit */

vst_err store_prepare(slot *s, store_tx *t, const char **detail)
{
    char gid[41];
    gid_of(t, gid);
    /* Recovery (of this or another vst-httpd) leaves a prepared
     * transaction alone while this lock is held: its own session decides. */
    if (lock_key(s, SQL_LOCK, gid) != 0) {
        *detail = "the trust DB is unreachable";
        return VST_E_UNAVAILABLE;
    }
    t->ref_locked = 1;
    PGconn *st = s->store;
    int ok = copy_end(st);
    t->copying = 0;
    if (ok && gid_command(st, "PREPARE TRANSACTION", gid)) {
        t->prepared = 1;
        return VST_E_OK;
    }
    metrics_db_error();
    slot_drop_store(s);
    *detail = "the store could not take the delivery";
    return VST_E_UNAVAILABLE;
}

/* No keyd call happens in here: the audit appenders' lock is held from the
 * append to the commit. */
vst_err store_decide(slot *s, const store_tx *t, vst_receipt_fields *f, int client_id,
                     uint64_t body_bytes, const char *details, const char **detail)
{
    PGconn *tr = s->trust;
    if (!sql_begin(tr)) {
        *detail = "the trust DB is unreachable";
        return VST_E_UNAVAILABLE;
    }
    if (details == NULL || vst_audit_append(tr, "vst-httpd", "delivery.stored", f->client, details,
                                            &f->audit_seq) != 0) {
        metrics_db_error();
        *detail = "the delivery could not be audited";
        return VST_E_UNAVAILABLE;
    }
    char cid[16], cnt[24], bytes[24], kv[16], rec[24], sto[24], seq[24], wh[24];
    snprintf(cid, sizeof cid, "%d", client_id);
    snprintf(cnt, sizeof cnt, "%llu", (unsigned long long)f->record_count);
    snprintf(wh, sizeof wh, "%llu", (unsigned long long)f->withheld_count);
    snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)body_bytes);
    snprintf(kv, sizeof kv, "%u", f->key_version);
    snprintf(rec, sizeof rec, "%lld", (long long)f->received_at_us);
    snprintf(sto, sizeof sto, "%lld", (long long)f->stored_at_us);
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)f->audit_seq);
    const char *p[] = {cid,
                       f->delivery_id,
                       t->ref,
                       f->profile,
                       cnt,
                       bytes,
                       (const char *)f->body_sha256,
                       kv,
                       rec,
                       sto,
                       seq,
                       wh};
    int lens[] = {0, 0, 0, 0, 0, 0, 32, 0, 0, 0, 0, 0};
    int fmts[] = {0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0};
    PGresult *r = sql_run(s, SQL_RECEIPT_INSERT, p, lens, fmts);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    /* The decision. If the connection dies inside COMMIT the outcome is
     * unknown here: the prepared store transaction is left for
     * store_recover(), which decides by the receipt. */
    if (ok && sql_commit(tr))
        return VST_E_OK;
    *detail = "the receipt could not be committed";
    return VST_E_UNAVAILABLE;
}

vst_err store_group_decided(slot *s, store_group_outcome *out, const char **detail)
{
    if (sql_committed(s->trust))
        return VST_E_OK;
    metrics_db_error();
    /* A COMMIT that failed on a live connection decided nothing; on a
     * broken one the outcome is unknown: recovery reads the receipts. */
    out->unknown = PQstatus(s->trust) != CONNECTION_OK;
    if (out->unknown)
        slot_drop_trust(s);
    *detail = "the receipts could not be committed";
    return VST_E_UNAVAILABLE;
}

int store_group_lock_send(slot *s, const store_tx *t)
{
    /* The lock (as SQL_LOCK takes it) and the BEGIN of the decision's
     * transaction, in one round trip. */
    char gid[41];
    gid_of(t, gid);
    return gid_send_with(s->trust, "SELECT pg_advisory_lock(hashtextextended(", gid, ", 0)); BEGIN")
               ? 0
               : -1;
}

int store_group_lock_wait(slot *s, store_tx *t)
{
    /* Two results: the lock's, then BEGIN's (sql_wait drops it; the
     * transaction status tells whether it began). */
    PGresult *r = sql_wait(s->trust);
    t->ref_locked = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return t->ref_locked && PQtransactionStatus(s->trust) == PQTRANS_INTRANS ? 0 : -1;
}

/* The seqs of vst.deliveries_stored's answer ("1,2,3"): 1 when all n. */
static int group_seqs(PGresult *r, uint64_t *seqs, size_t n)
{
    size_t got = 0;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        for (const char *v = PQgetvalue(r, 0, 0); *v && got < n; got++) {
            char *end;
            seqs[got] = strtoull(v, &end, 10);
            v = *end == ',' ? end + 1 : end;
        }
    return got == n;
}

vst_err store_group_decide(slot *s, store_tx *t, const char *deliveries_json, uint64_t *seqs,
                           size_t n, store_group_outcome *out, const char **detail)
{
    memset(out, 0, sizeof *out);
    PGconn *tr = s->trust, *st = s->store;
    /* The lock on "vst:<ref>" is held before PREPARE is sent: recovery
     * never decides for this group. */
    const char *p[] = {t->ref, deliveries_json};
    if (store_group_lock_wait(s, t) != 0 || sql_send(s, SQL_DELIVERIES_STORED, p) != 0) {
        metrics_db_error();
        slot_drop_trust(s); /* nothing was committed; the lock goes with the session */
        t->ref_locked = 0;
        *detail = "the trust DB is unreachable";
        return VST_E_UNAVAILABLE;
    }
    /* The decision's statement runs while the COPY ends and PREPARE is
     * flushed; it is committed only once PREPARE has succeeded. */
    char gid[41];
    gid_of(t, gid);
    int prepared = copy_end(st) && gid_send(st, "PREPARE TRANSACTION", gid) && gid_done(st);
    t->copying = 0;
    t->prepared = prepared;
    PGresult *r = sql_wait(tr);
    int decided_ok = group_seqs(r, seqs, n);
    PQclear(r);
    if (prepared && decided_ok && sql_send_commit(tr) == 0)
        return VST_E_OK; /* the decision is on its way: store_group_decided */
    metrics_db_error();
    /* Not decided — unless COMMIT could not be sent whole, when only the
     * receipts can tell (recovery reads them). */
    out->unknown = prepared && decided_ok;
    out->store_refused = !prepared;
    if (!prepared)
        slot_drop_store(s);
    if (out->unknown)
        slot_drop_trust(s);
    *detail =
        !prepared ? "the store could not take the delivery" : "the receipts could not be committed";
    return VST_E_UNAVAILABLE;
}

void store_commit(slot *s, store_tx *t, const char *delivery_id)
{
    store_commit_prepared(s, t, delivery_id);
    store_unlock_ref(s, t);
}

void store_commit_prepared(slot *s, store_tx *t, const char *delivery_id)
{
    char gid[41];
    gid_of(t, gid);
    if (!gid_command(s->store, "COMMIT PREPARED", gid)) {
        /* Retry on a fresh connection (the old one may be gone); if that
         * fails too, recovery commits it once the lock is released. */
        slot_drop_store(s);
        if (slot_store(s) != 0 || !gid_command(s->store, "COMMIT PREPARED", gid))
            hlog("error", "delivery %s decided but its store commit failed: left for recovery",
                 delivery_id);
    }
    t->prepared = 0;
}

void store_undo(slot *s, store_tx *t)
{
    PGconn *tr = s->trust;
    int trust_ok = tr != NULL && PQstatus(tr) == CONNECTION_OK;
    if (trust_ok)
        sql_end_open(tr);
    /* Without the trust connection the decision is unknown (a COMMIT may
     * have gone through): recovery decides by the receipt. */
    if (t->prepared && trust_ok) {
        char gid[41];
        gid_of(t, gid);
        if (!gid_command(s->store, "ROLLBACK PREPARED", gid))
            hlog("warning", "a prepared delivery is left for recovery");
        t->prepared = 0;
    }
}

void store_unlock_ref(slot *s, store_tx *t)
{
    if (t->ref_locked && s->trust != NULL && PQstatus(s->trust) == CONNECTION_OK) {
        /* Not waited for (sql_post): the transaction is committed or rolled
         * back already, and the connection's next use takes the answer. */
        char gid[41];
        gid_of(t, gid);
        const char *p[] = {gid};
        sql_post(s, SQL_UNLOCK, p);
    }
    t->ref_locked = 0;
}

/* ---- recovery */

/* Decides one prepared transaction by its receipt: 1 resolved, 0 not
 * (held by a delivery in flight, or the trust DB did not answer). */
static int resolve(slot *s, const char *gid)
{
    /* A delivery in flight (in this or another vst-httpd) holds this lock
     * in the trust DB from before PREPARE until COMMIT PREPARED; its own
     * session makes the decision, so leave it alone. */
    const char *key[] = {gid};
    if (sql_run_bool(s, SQL_TRY_LOCK, key) != 1)
        return 0;
    const char *ref[] = {gid + 4};
    PGresult *q = sql_run(s, SQL_RECEIPT_EXISTS, ref, NULL, NULL);
    int known = PQresultStatus(q) == PGRES_TUPLES_OK;
    int commit = known && PQntuples(q) == 1;
    PQclear(q);
    int resolved = 0;
    if (known && /* otherwise decide next time, never guess */
        gid_command(s->store, commit ? "COMMIT PREPARED" : "ROLLBACK PREPARED", gid)) {
        resolved = 1;
        hlog("warning", "recovered a delivery left by an interruption: %s",
             commit ? "committed (its receipt exists)" : "rolled back (no receipt)");
    }
    lock_key(s, SQL_UNLOCK, gid);
    return resolved;
}

int store_recover(slot *s, int min_age_s)
{
    if (slot_store(s) != 0 || slot_trust(s) != 0)
        return -1;
    char age[16];
    snprintf(age, sizeof age, "%d", min_age_s);
    const char *p[] = {age};
    PGresult *r = sql_run(s, SQL_PREPARED_DELIVERIES, p, NULL, NULL);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        slot_drop_store(s);
        return -1;
    }
    int resolved = 0;
    for (int i = 0; i < PQntuples(r); i++)
        if (gid_ok(PQgetvalue(r, i, 0)))
            resolved += resolve(s, PQgetvalue(r, i, 0));
    PQclear(r);
    return resolved;
}
