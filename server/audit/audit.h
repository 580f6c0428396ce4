/* The tamper-evident audit log (DESIGN.md §8, docs/audit.md,
 * docs/database.md "Audit log").
 *
 *   audit_chain.c  the canonical form and row hash, recomputed exactly as
 *                  vst.audit_row_hash does in SQL, and the verifier that
 *                  walks a log row by row (no database, no keyd)
 *   audit_write.c  what the daemons call: append an event, mirror keyd's
 *                  event stream into the log, have keyd sign checkpoints
 *   audit_copy.c   vst-audit verify's reader of the log's binary COPY
 *                  (audit_copy.h)
 *   audit_usage*.c keyd's usage reports reconciled with the delivery
 *                  events (audit_usage.h)
 *
 * Library vstaudit links vstwire (the keyd client), vstcore, vstreceipt and
 * libpq; never vstkeys: vst-httpd links it.
 *
 * No error message ever contains an event's details or any other input
 * value that could carry an identifier. */
#ifndef VST_AUDIT_H
#define VST_AUDIT_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "core/signed.h"
#include "wire/keyd_client.h"
#include "audit/receipt_json.h"

#define VST_AUDIT_HASH_LEN 32

enum {
    VST_AUDIT_OK = 0,
    VST_AUDIT_E_ARG = -1,        /* NULL or malformed argument */
    VST_AUDIT_E_DB = -2,         /* the database refused or failed */
    VST_AUDIT_E_KEYD = -3,       /* vst-keyd refused or the connection failed */
    VST_AUDIT_E_STATE = -4,      /* the connection is inside a transaction */
    VST_AUDIT_E_IDENTIFIER = -5, /* refused: a value shaped like a KVNR or pseudonym */
    VST_AUDIT_E_SIGNATURE = -6,  /* keyd's signature does not verify with its key */
    VST_AUDIT_E_NOMEM = -7,
};

/* ======================================================================
 * Chain (audit_chain.c)
 * ==================================================================== */

/* A byte string that need not be NUL-terminated. */
typedef struct {
    const char *p;
    size_t n;
} vst_audit_text;

/* One row as the verifier fetches it: every text already in canonical form
 * (docs/database.md): `at` as YYYY-MM-DDTHH:MM:SS.ffffffZ, client "" for
 * NULL, details as PostgreSQL's jsonb text output. */
typedef struct {
    uint64_t seq;
    vst_audit_text at, db_user, actor, action, client, details;
    uint8_t prev_hash[VST_AUDIT_HASH_LEN];
    uint8_t hash[VST_AUDIT_HASH_LEN];
} vst_audit_row;

/* SHA-256(prev || canonical(r)) into out; r->prev_hash and r->hash are not
 * read. Returns 0, or VST_AUDIT_E_NOMEM if OpenSSL fails. */
int vst_audit_row_hash(const uint8_t prev[VST_AUDIT_HASH_LEN], const vst_audit_row *r,
                       uint8_t out[VST_AUDIT_HASH_LEN]);

/* Reusable hashing context for long walks (one allocation, not one per
 * row). */
typedef struct vst_audit_hasher vst_audit_hasher;
vst_audit_hasher *vst_audit_hasher_new(void);
int vst_audit_hasher_row(vst_audit_hasher *h, const uint8_t prev[VST_AUDIT_HASH_LEN],
                         const vst_audit_row *r, uint8_t out[VST_AUDIT_HASH_LEN]);
void vst_audit_hasher_free(vst_audit_hasher *h);

/* A stored checkpoint (vst.audit_checkpoints). */
typedef struct {
    uint64_t seq;
    uint8_t head[VST_AUDIT_HASH_LEN];
    uint8_t signature[VST_ED25519_SIG_LEN];
    uint8_t key_id[VST_SHA256_LEN]; /* SHA-256 of the raw public key */
    int has_signed_at;              /* 0: stored without the signed time */
    int64_t signed_at_us;
} vst_audit_cp;

/* SHA-256 of a raw Ed25519 public key: the checkpoints' key_id. */
void vst_audit_key_id(const uint8_t pub[VST_ED25519_PUB_LEN], uint8_t out[VST_SHA256_LEN]);

/* What a walk found. */
typedef struct {
    uint64_t rows;                         /* rows seen */
    uint64_t first_seq, last_seq;          /* 0 when empty */
    uint8_t last_hash[VST_AUDIT_HASH_LEN]; /* stored hash of the last row */
    uint64_t checkpoints;                  /* checkpoints given */
    uint64_t checkpoints_ok;               /* ... that verified and matched */
    uint64_t covered_seq;                  /* seq of the last intact checkpoint, 0 none */
    uint64_t uncovered;                    /* rows after covered_seq */
    uint64_t keyd_events;                  /* rows mirroring keyd's event stream */
    uint64_t problems;                     /* 0: the log is intact */
    uint64_t first_problem_seq;
    char first_problem[320]; /* "row 17: hash mismatch (content changed)" */
} vst_audit_report;

typedef struct vst_audit_verifier vst_audit_verifier;

/* keys: the trusted signing keys (raw Ed25519); checkpoints in any order
 * (copied). NULL on bad arguments or no memory. */
vst_audit_verifier *vst_audit_verifier_new(const uint8_t (*keys)[VST_ED25519_PUB_LEN], size_t nkeys,
                                           const vst_audit_cp *cps, size_t ncps);
/* Called for every problem, in seq order, with the full one-line message. */
typedef void (*vst_audit_problem_fn)(void *ctx, uint64_t seq, const char *msg);
void vst_audit_verifier_on_problem(vst_audit_verifier *v, vst_audit_problem_fn fn, void *ctx);
/* An externally kept (seq, hash) the log must still contain, e.g. the head
 * printed by an earlier verify. Up to 16. 0 or VST_AUDIT_E_ARG. */
int vst_audit_verifier_anchor(vst_audit_verifier *v, uint64_t seq,
                              const uint8_t hash[VST_AUDIT_HASH_LEN]);
/* Feeds the next row (ascending seq). Returns 0 if it fits, 1 if it (or a
 * checkpoint or anchor at or before it) does not, < 0 on an internal
 * error. */
int vst_audit_verifier_row(vst_audit_verifier *v, const vst_audit_row *r);
/* Ends the walk: checks what lies beyond the last row (checkpoints and
 * anchors naming rows that do not exist) and fills *rep. */
void vst_audit_verifier_finish(vst_audit_verifier *v, vst_audit_report *rep);
void vst_audit_verifier_free(vst_audit_verifier *v);

/* ======================================================================
 * Writing (audit_write.c). All of it runs as vst_httpd or vst_admin,
 * through the SECURITY DEFINER functions of sql/trust/0003 and 0005.
 * Functions return 0 (or a count) on success and a negative VST_AUDIT_E_*
 * on failure; vst_audit_last_error() then names the cause in one line
 * (per thread). Messages never quote details or other input values.
 * ==================================================================== */

/* The last failure of this thread, one line, "" if none yet. */
const char *vst_audit_last_error(void);

/* Appends one event with vst.audit_append and stores its seq in *seq (may
 * be NULL). Runs inside the caller's transaction if there is one (that is
 * how an event commits together with the state change it records), else on
 * its own. The transaction must be READ COMMITTED; the appenders' lock is
 * held until it ends, so call this late. client may be NULL; details_json
 * NULL means {}. Refuses (VST_AUDIT_E_IDENTIFIER) an actor, client or any
 * string in details holding a valid KVNR or 32 hex digits (a pseudonym's
 * shape) as a token: the log never holds an identifier or pseudonym. */
int vst_audit_append(PGconn *db, const char *actor, const char *action, const char *client,
                     const char *details_json, uint64_t *seq);

/* The screen of vst_audit_append on its own: 0, VST_AUDIT_E_IDENTIFIER, or
 * VST_AUDIT_E_ARG (details not one JSON object without duplicate keys). */
int vst_audit_screen(const char *actor, const char *client, const char *details_json);

/* The details of a delivery event in the form `vst-audit verify-receipt`
 * matches a receipt against:
 *   {"delivery_id":"...","profile":"...","record_count":N,
 *    "withheld_count":N,"body_sha256":"<64 hex>","key_version":N,
 *    "received_at":"YYYY-MM-DDTHH:MM:SS.ffffffZ"}
 * withheld_count only for a v2 receipt (every new one). The client is the
 * event's client column; audit_seq and stored_at are not included (known
 * only after the append). verify-receipt needs delivery_id, body_sha256
 * and record_count; profile and key_version are compared when present,
 * withheld_count always (absent: 0, an event from before issue 12); other
 * members (identifiers, ...) are ignored.
 * Writes a NUL-terminated object into out; returns its length, or 0 if f is
 * invalid or cap too small (1 KiB is always enough). */
size_t vst_audit_delivery_details(const vst_receipt_fields *f, char *out, size_t cap);

/* vst_audit_append(db, actor, action, f->client, details of f, seq). For
 * "delivery.stored": call it in the receipt's transaction, put *seq into
 * f->audit_seq, then have keyd sign the receipt. */
int vst_audit_append_delivery(PGconn *db, const char *actor, const char *action,
                              const vst_receipt_fields *f, uint64_t *seq);

/* Mirrors keyd's event stream into the log: every keyd event after the last
 * one already there, in order, one row each, with
 *   actor   "keyd:uid=<actor_uid>"
 *   action  keyd's action ("keyd.rotate", ...)
 *   client  NULL
 *   details {"keyd_seq":N,"keyd_time_us":T,"event":<keyd's details>}
 * Idempotent and safe from several processes at once: each batch is one
 * transaction that first takes the appenders' lock and reads where the
 * log's copy ends (vst.audit_keyd_position). Events keyd no longer holds
 * become one "audit.keyd_events_lost" row {"keyd_seq":last lost,
 * "keyd_first_lost":first,"count":n}; a keyd whose stream restarted (new
 * events file) one "audit.keyd_reset" row {"keyd_seq":0,
 * "previous_keyd_seq":N}; both with actor VST_AUDIT_PULL_ACTOR. Needs an
 * idle connection (VST_AUDIT_E_STATE inside a transaction). Returns the
 * number of rows appended (>= 0) or a negative VST_AUDIT_E_*. */
#define VST_AUDIT_PULL_ACTOR "vst-audit-pull"
int vst_audit_pull_keyd_events(PGconn *db, vst_keyd *k);

/* Has keyd sign the current chain head (seq, hash, now) and stores it with
 * vst.audit_checkpoint(seq, head, signature, key_id, signed_at), after
 * checking the signature with keyd's public key. *seq (may be NULL) gets
 * the checkpointed seq, 0 if the log is empty. A head that already has a
 * checkpoint is not signed again. Autocommits unless the caller has a
 * transaction open. Returns 0 or a negative VST_AUDIT_E_*. */
int vst_audit_checkpoint(PGconn *db, vst_keyd *k, uint64_t *seq);

/* Checkpoint policy state, read without access to the log. */
typedef struct {
    uint64_t head_seq;       /* 0: empty log */
    uint64_t checkpoint_seq; /* 0: none yet */
    double seconds_since;    /* since the last checkpoint was stored */
} vst_audit_cp_state;

int vst_audit_checkpoint_state(PGconn *db, vst_audit_cp_state *st);

/* 1 if a checkpoint is due, else 0 (pure): the head is past the last
 * checkpoint and either there has never been one, or at least
 * every_events rows were appended since, or at least every_seconds passed
 * since it was stored. 0 disables that trigger. */
int vst_audit_checkpoint_is_due(uint64_t every_events, uint64_t every_seconds,
                                const vst_audit_cp_state *st);

/* "Checkpoint if >= every_events events since the last or >= every_seconds
 * seconds": state, decision and checkpoint in one. Returns 1 and *seq (may
 * be NULL) if a checkpoint was made, 0 if none was due (*seq = 0), or a
 * negative VST_AUDIT_E_*. Call it periodically (vst-httpd's background
 * thread); call vst_audit_checkpoint at shutdown. */
int vst_audit_checkpoint_due(PGconn *db, vst_keyd *k, uint64_t every_events, uint64_t every_seconds,
                             uint64_t *seq);

#endif
