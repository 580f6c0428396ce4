/* The commit protocol of a delivery across the two databases (DESIGN.md
 * §7), and everything of it that touches a database: the attempt lock,
 * the COPY into the store, PREPARE TRANSACTION, the decision in the trust
 * DB, COMMIT PREPARED, and the recovery of prepared transactions left by
 * an interruption.
 *
 *   attempt   store_lock_attempt_load: a session advisory lock on (client, id)
 *             serialises attempts at the same delivery; the receipt
 *             lookup follows in the same round trip.
 *   COPY      store_copy_begin / _rows / _nudge / _abort: the rows go into
 *             an open store transaction, non-blocking, batch by batch.
 *   prepare   store_prepare: the trust session locks "vst:<ref>" (so that
 *             recovery never decides for a delivery in flight), the COPY
 *             ends and the store transaction is PREPAREd as "vst:<ref>".
 *   decide    store_decide: the delivery.stored audit event and the
 *             receipt row (vst.receipt_insert, sql/trust/0009) in one
 *             trust-DB transaction; its commit is the decision.
 *   commit    store_commit: COMMIT PREPARED (retried once on a new
 *             connection, else left to recovery), then the lock goes.
 *   undo      store_undo: a delivery that was not decided is rolled back,
 *             its prepared transaction too — unless the decision is
 *             unknown (the trust connection died), which recovery settles.
 *   recover   store_recover: a prepared "vst:" transaction nobody holds
 *             the lock of is committed if its receipt exists, rolled back
 *             if not; so a delivery is stored once, with its receipt, or
 *             not at all.
 *
 * Failures answer with the code and a constant detail for the 503; the
 * connections that failed are dropped here (the pool reconnects). */
#ifndef VST_HTTPD_STORE_H
#define VST_HTTPD_STORE_H

#include <stdint.h>

#include "core/signed.h"
#include "httpd/httpd.h"

typedef struct {
    char ref[37];   /* delivery_ref: the store's only reference to the delivery */
    int copying;    /* COPY ... FROM STDIN is open on the store connection */
    int prepared;   /* the store transaction is prepared as "vst:<ref>" */
    int ref_locked; /* the trust session holds the lock on "vst:<ref>" */
} store_tx;

/* A new delivery: a fresh random delivery_ref (UUID v4), nothing open. */
void store_tx_init(store_tx *t);

void store_unlock_attempt(slot *s, int client_id, const char *delivery_id);
/* The attempt lock on (client, id), waited for at most db-lock-timeout,
 * and then the lookup of the id's receipt (SQL_RECEIPT_BY_ID, for
 * receipt_from_result), in one round trip: the lookup runs once the lock
 * is held, with a snapshot taken then. 1 locked (*receipt set: PQclear
 * it), 0 held by another attempt, -1 database error (the trust connection
 * is dropped, and with it any lock); *receipt is NULL unless 1. */
int store_lock_attempt_load(slot *s, int client_id, const char *delivery_id, PGresult **receipt);

/* BEGIN and COPY into the profile's table, the connection non-blocking. */
vst_err store_copy_begin(slot *s, store_tx *t, const vst_profile *p, const char **detail);
/* Hands a batch's COPY text to libpq once the previous one reached the
 * kernel: at most one batch waits in libpq. */
vst_err store_copy_rows(slot *s, const char *text, size_t len, const char **detail);
/* Ends the open COPY (if any) and opens one into p's table in the same
 * transaction (BEGIN first if none is open): a commit group's rows of
 * several profiles. */
vst_err store_copy_next(slot *s, store_tx *t, const vst_profile *p, const char **detail);
/* Lets libpq send what it holds without waiting (between batches). */
void store_copy_nudge(slot *s, const store_tx *t);
/* Ends an open COPY with an error and rolls the store transaction back. */
void store_copy_abort(slot *s, store_tx *t);

/* Locks "vst:<ref>", ends the COPY and prepares the store transaction. */
vst_err store_prepare(slot *s, store_tx *t, const char **detail);
/* The decision: BEGIN; the delivery.stored event with details (JSON text;
 * NULL when it could not be built: not audited) sets f->audit_seq; the
 * receipt row (a v2 receipt: f's withheld count with it); COMMIT.
 * VST_E_OK is decided. */
vst_err store_decide(slot *s, const store_tx *t, vst_receipt_fields *f, int client_id,
                     uint64_t body_bytes, const char *details, const char **detail);
/* A commit group (group_commit.h) overlaps its round trips:
 *   store_group_lock_send   sends the lock on "vst:<ref>" and the BEGIN of
 *                           the decision's transaction (before the COPY);
 *   store_group_lock_wait   takes their answers: 0 held and begun, -1 not
 *                           (a store failure before the decision takes
 *                           them too);
 *   store_group_decide      takes them, sends the decision's statement
 *                           (vst.deliveries_stored, sql/trust/0012, 0013:
 *                           every delivery's events and receipt, naming
 *                           t->ref as their commit_ref); ends the COPY and
 *                           PREPAREs while that statement runs; sends the
 *                           decision's COMMIT only once PREPARE succeeded;
 *   store_group_decided     takes COMMIT's answer (the caller has keyd
 *                           sign the receipts meanwhile).
 * deliveries_json is the array vst.deliveries_stored takes; seqs receives
 * the n delivery.stored seqs. VST_E_OK from store_group_decided is
 * decided. Otherwise (from either) out says
 * whether the outcome is unknown (the trust connection broke inside
 * COMMIT: left to recovery) and whether the store refused the rows (the
 * group may be split); the trust transaction may still be open
 * (store_undo ends it). */
typedef struct {
    int unknown;
    int store_refused;
} store_group_outcome;
int store_group_lock_send(slot *s, const store_tx *t);
int store_group_lock_wait(slot *s, store_tx *t);
vst_err store_group_decide(slot *s, store_tx *t, const char *deliveries_json, uint64_t *seqs,
                           size_t n, store_group_outcome *out, const char **detail);
vst_err store_group_decided(slot *s, store_group_outcome *out, const char **detail);
/* After a decision: COMMIT PREPARED and the lock released. delivery_id
 * only names the delivery in the log when the commit is left to recovery. */
void store_commit(slot *s, store_tx *t, const char *delivery_id);
/* The same without releasing the lock (store_unlock_ref, later). */
void store_commit_prepared(slot *s, store_tx *t, const char *delivery_id);
/* Without a decision: the trust transaction and the prepared store
 * transaction rolled back (the lock stays: store_unlock_ref). */
void store_undo(slot *s, store_tx *t);
void store_unlock_ref(slot *s, store_tx *t);

/* Resolves prepared store transactions left by a crash: commits those whose
 * receipt exists, rolls back the others. min_age_s protects transactions of
 * deliveries still in flight (0 at start-up). Returns resolved count or -1. */
int store_recover(slot *s, int min_age_s);

#endif
