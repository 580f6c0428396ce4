/* keyd's usage, reconciled with the delivery events (DESIGN.md §2, §8;
 * docs/audit.md "keyd's usage and the reconciliation").
 *
 * vst-keyd reports what it served in signed `keyd.usage` events (per
 * socket, uid, operation and domain; server/core/usage.h). vst-httpd
 * names, in every delivery outcome event (delivery.stored, .rejected,
 * .failed, .aborted), how many identifiers of that delivery keyd
 * pseudonymized: "identifiers": {"<domain>": <count>, ...}. A compromised
 * vst-httpd that asks keyd for the pseudonyms of KVNRs it never delivers
 * (a dictionary sweep) makes the two disagree. This check, run by
 * `vst-audit verify` in its snapshot, finds:
 *
 *   - a keyd.usage event that does not parse, is signed by an unknown key
 *     or whose signature fails;
 *   - totals (or report numbers) that go backwards: keyd's state was reset
 *     or an older one restored;
 *   - per domain, identifiers keyd served on the data socket beyond what
 *     the outcome events account for, plus an allowance for deliveries in
 *     flight at keyd's last report and keyd's own crash slack;
 *   - outcome events claiming more identifiers than keyd served;
 *   - a last usage event much older than the last delivery event, or none
 *     at all while deliveries report identifiers;
 *   - a keyd.checkpoint_signed event whose head is not the log's row at
 *     that seq, or whose seq lies beyond the log's end.
 *
 * The core below sees rows only (no database, unit-tested with made-up
 * rows); vst_audit_usage_db streams them from the log. */
#ifndef VST_AUDIT_USAGE_H
#define VST_AUDIT_USAGE_H

#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>

#include "audit/audit.h"

typedef struct {
    /* A delivery received at most this long before keyd's last report and
     * without an outcome yet may account for what keyd served since it was
     * received. Default 3600 s. */
    int64_t in_flight_window_us;
    /* The last usage event may be at most this much older than the last
     * delivery event. Default 3600 s (keyd reports every 300 s). */
    int64_t max_usage_age_us;
} vst_audit_usage_opts;

void vst_audit_usage_defaults(vst_audit_usage_opts *o);

typedef struct vst_audit_usage vst_audit_usage;

/* keys: the trusted signing keys. NULL on bad arguments or no memory. */
vst_audit_usage *vst_audit_usage_new(const uint8_t (*keys)[VST_ED25519_PUB_LEN], size_t nkeys,
                                     const vst_audit_usage_opts *o);
void vst_audit_usage_free(vst_audit_usage *u);

/* Feeds one row in seq order; rows of other actions are ignored. at_us:
 * the row's time (microseconds since the epoch); client may be NULL;
 * details: the row's JSON text (len bytes). 0, or < 0 on no memory. */
int vst_audit_usage_row(vst_audit_usage *u, uint64_t seq, int64_t at_us, const char *action,
                        const char *client, const char *details, size_t len);

/* The same for a delivery event given as its parts (the database path
 * extracts them in SQL): delivery_id may be NULL; identifiers is the
 * "identifiers" member's JSON text (len bytes), NULL if it has none;
 * received_at the "received_at" member (an outcome names when its delivery
 * was received), NULL if it has none. */
int vst_audit_usage_delivery(vst_audit_usage *u, uint64_t seq, int64_t at_us, const char *action,
                             const char *client, const char *delivery_id, const char *identifiers,
                             size_t len, const char *received_at);

/* The stored hash of row seq: 1 and out filled, 0 if there is no such row,
 * -1 on error. */
typedef int (*vst_audit_row_hash_fn)(void *ctx, uint64_t seq, uint8_t out[VST_AUDIT_HASH_LEN]);

/* Ends the walk: the reconciliation and the checkpoint cross-check (with
 * the log's row hashes through fn). 0, or -1 if fn failed. */
int vst_audit_usage_finish(vst_audit_usage *u, vst_audit_row_hash_fn fn, void *ctx);

/* Findings so far; the first one's message (one line). */
uint64_t vst_audit_usage_findings(const vst_audit_usage *u);
const char *vst_audit_usage_first(const vst_audit_usage *u);

/* The summary and every finding (as "  problem: ..." lines), for verify. */
void vst_audit_usage_print(const vst_audit_usage *u, FILE *out);

/* Streams the relevant rows of vst.audit_log (inside the caller's
 * snapshot) and finishes. 0, or -1 with a message in err. */
int vst_audit_usage_db(PGconn *db, vst_audit_usage *u, char *err, size_t errlen);

/* verify's options for this check at argv[*i]: --in-flight-window SECONDS,
 * --usage-max-age SECONDS. 1 consumed, 0 not one of them, -1 bad value
 * (message in err). */
int vst_audit_usage_opt(int argc, char **argv, int *i, vst_audit_usage_opts *o, char *err,
                        size_t errlen);

#endif
