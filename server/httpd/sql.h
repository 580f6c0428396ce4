/* Every SQL statement vst-httpd runs with parameters, named, in one list;
 * each is prepared once per database connection, on its first use there
 * (PQprepare, then PQexecPrepared with the text never sent again).
 *
 * A statement belongs to one database: sql_run() takes the slot's
 * connection for it, so a trust-DB statement cannot run on the store. The
 * slot remembers which statements its current connections have prepared
 * (pool.c forgets that whenever it replaces a connection: a new session
 * has none).
 *
 * Not in the list, because PostgreSQL cannot take them as prepared
 * statements with parameters: transaction control (sql_begin and friends
 * below), COPY (a profile names its table: store.c builds the statement
 * with quoted identifiers), PREPARE TRANSACTION and COMMIT/ROLLBACK
 * PREPARED (a transaction id is no parameter: store.c builds them from a
 * checked "vst:<uuid>"). Audit events go through vst.audit_append in
 * server/audit (vst_audit_append). */
#ifndef VST_HTTPD_SQL_H
#define VST_HTTPD_SQL_H

#include <libpq-fe.h>

#include "httpd/httpd.h"

/* The columns receipt.c reads a receipt from, in this order. */
#define SQL_RECEIPT_COLUMNS                                                                        \
    "SELECT c.name, r.profile, r.record_count, encode(r.body_sha256, 'hex'), r.key_version, "      \
    "(extract(epoch FROM r.received_at) * 1000000)::bigint, "                                      \
    "(extract(epoch FROM r.stored_at) * 1000000)::bigint, r.audit_seq, "                           \
    "encode(r.signature, 'hex'), encode(r.sign_key_id, 'hex'), r.delivery_id, "                    \
    "r.delivery_ref::text, r.withheld_count, r.receipt_version "                                   \
    "FROM vst.receipts r JOIN vst.clients c ON c.id = r.client_id "

/* X(name, database, parameters, text) */
#define SQL_STATEMENTS(X)                                                                          \
    /* auth.c: a client certificate's registration ($1: SHA-256 of its SPKI, binary),              \
     * its request rate with it (sql/trust/0011; NULL: the configured default). */                 \
    X(CLIENT_BY_FINGERPRINT, SQL_TRUST, 1,                                                         \
      "SELECT id, name, state, rate_limit FROM vst.clients WHERE cert_fingerprint = $1")           \
    /* registry.c: the registration cache's watcher (sql/trust/0014). */                           \
    X(LISTEN_CLIENTS, SQL_TRUST, 0, "LISTEN vst_clients")                                          \
    /* store.c: session advisory locks on a text key (an attempt at a delivery,                    \
     * "<client id>/<delivery id>"; a delivery's prepared transaction, "vst:<ref>"). */            \
    X(LOCK, SQL_TRUST, 1, "SELECT pg_advisory_lock(hashtextextended($1, 0))")                      \
    X(TRY_LOCK, SQL_TRUST, 1, "SELECT pg_try_advisory_lock(hashtextextended($1, 0))")              \
    X(UNLOCK, SQL_TRUST, 1, "SELECT pg_advisory_unlock(hashtextextended($1, 0))")                  \
    /* store.c: the decision. The receipt row (v2), through sql/trust/0009. */                     \
    X(RECEIPT_INSERT, SQL_TRUST, 12,                                                               \
      "SELECT vst.receipt_insert($1::int, $2, $3::uuid, $4, $5::bigint, $6::bigint, $7, "          \
      "$8::int, $9::bigint, $10::bigint, $11::bigint, $12::bigint)")                               \
    /* store.c: recovery decides a prepared transaction by its receipt. */                         \
    /* A commit group's receipts name it as commit_ref (sql/trust/0012). */                        \
    X(RECEIPT_EXISTS, SQL_TRUST, 1,                                                                \
      "SELECT 1 FROM vst.receipts WHERE delivery_ref = $1::uuid OR commit_ref = $1::uuid "         \
      "LIMIT 1")                                                                                   \
    /* store.c: a commit group's decision, one statement (sql/trust/0012). */                      \
    X(DELIVERIES_STORED, SQL_TRUST, 2,                                                             \
      "SELECT array_to_string(vst.deliveries_stored($1::uuid, 'vst-httpd', $2::jsonb), ',')")      \
    X(PREPARED_DELIVERIES, SQL_STORE, 1,                                                           \
      "SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'vst:%' AND "                              \
      "database = current_database() AND owner = current_user AND "                                \
      "prepared <= now() - make_interval(secs => $1::int)")                                        \
    /* receipt.c */                                                                                \
    X(RECEIPT_BY_ID, SQL_TRUST, 2,                                                                 \
      SQL_RECEIPT_COLUMNS "WHERE r.client_id = $1::int AND r.delivery_id = $2")                    \
    X(RECEIPT_BY_REF, SQL_TRUST, 1, SQL_RECEIPT_COLUMNS "WHERE r.delivery_ref = $1::uuid")         \
    X(RECEIPTS_UNSIGNED, SQL_TRUST, 0, SQL_RECEIPT_COLUMNS "WHERE r.signature IS NULL LIMIT 100")  \
    X(RECEIPT_ATTACH_SIGNATURE, SQL_TRUST, 3,                                                      \
      "SELECT vst.receipt_attach_signature($1::uuid, $2, $3)")                                     \
    /* group_commit.c: a group's signatures ($1 refs, $2 hex signatures, $3 key id;                \
     * sql/trust/0013). */                                                                         \
    /* Its own transaction, whose commit does not wait for its WAL flush: a                        \
     * signature lost to a crash is made again, identically (receipt.c). */                        \
    X(RECEIPTS_ATTACH_SIGNATURES, SQL_TRUST, 3,                                                    \
      "WITH async AS (SELECT set_config('synchronous_commit', 'off', true)) "                      \
      "SELECT vst.receipts_attach_signatures($1::uuid[], ARRAY(SELECT decode(u.s, 'hex') "         \
      "FROM unnest($2::text[]) WITH ORDINALITY AS u(s, i) ORDER BY u.i), decode($3, 'hex')) "      \
      "FROM async")                                                                                \
    /* health.c: readiness probes. */                                                              \
    X(TRUST_PING, SQL_TRUST, 0, "SELECT 1")                                                        \
    X(STORE_PING, SQL_STORE, 0, "SELECT 1")

enum { SQL_TRUST, SQL_STORE };

typedef enum {
#define SQL_ENUM(name, db, n, text) SQL_##name,
    SQL_STATEMENTS(SQL_ENUM)
#undef SQL_ENUM
        SQL__COUNT
} sql_stmt;

/* Runs statement id on the slot's connection for its database, preparing
 * it first if that connection has not yet. values (lengths and formats
 * may be NULL: text) hold exactly the statement's parameters. The result
 * (PQclear it), or NULL when the slot has no connection to that database;
 * a failed preparation returns its error result. */
PGresult *sql_run(slot *s, sql_stmt id, const char *const *values, const int *lengths,
                  const int *formats);
/* Sends statement id (text parameters) without waiting for its result:
 * 0 sent, -1 not (no connection, or it failed). Nothing else may run on
 * that connection until sql_wait has taken the result. */
int sql_send(slot *s, sql_stmt id, const char *const *values);
/* The result of what was sent on db (PQclear it; NULL when db is NULL or
 * nothing came), blocking until it is there. */
PGresult *sql_wait(PGconn *db);
/* Sends statement id (text parameters) on the trust connection and does
 * not wait for its answer: for what must be done but need not hold up the
 * caller (releasing a lock, attaching signatures). Each is a transaction
 * of its own (libpq's pipeline mode, one Sync each). The answers are taken
 * — and dropped — by sql_collect, which every sql_* call on the slot's
 * trust connection and slot_trust run first. 0 sent, -1 not (the
 * connection is dropped: a lock it held goes with the session). */
int sql_post(slot *s, sql_stmt id, const char *const *values);
/* Takes the answers of what sql_post sent: 0, or -1 when the connection
 * failed (then it is dropped). */
int sql_collect(slot *s);
/* A statement that answers one boolean: 1 true, 0 false, -1 failed (the
 * result is cleared). */
int sql_run_bool(slot *s, sql_stmt id, const char *const *values);
/* Statements a then b (text parameters) on their database's connection in
 * one round trip (libpq's pipeline mode, one Sync): b runs only if a
 * succeeded, and its snapshot is taken after a has finished. 0 with both
 * results (PQclear them; *rb is PGRES_PIPELINE_ABORTED when a failed), or
 * -1 when the round trip failed (the connection is then suspect; results
 * that came back are still set). */
int sql_run_pair(slot *s, sql_stmt a, const char *const *va, sql_stmt b, const char *const *vb,
                 PGresult **ra, PGresult **rb);

/* Transaction control on one connection: 1 done, 0 failed (sql_commit:
 * 1 committed, 0 not, as sql_committed says). */
int sql_begin(PGconn *db);
int sql_commit(PGconn *db);
int sql_rollback(PGconn *db);
/* COMMIT in two halves: sent (0, or -1), then its outcome (1 committed,
 * 0 not: failed, rolled back, or the connection broke). */
int sql_send_commit(PGconn *db);
int sql_committed(PGconn *db);
/* Rolls back a transaction left open (or failed) on db; nothing if idle. */
void sql_end_open(PGconn *db);

#endif
