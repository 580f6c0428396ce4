/* The state of the usage check (audit_usage.h) and what its files share:
 *
 *   audit_usage.c            the state, rows fed in and dispatched, options
 *   audit_usage_rows.c       what each row adds: keyd's reports, deliveries
 *                            received and their outcomes, signed checkpoints
 *   audit_usage_reconcile.c  the end: served vs. accounted per domain, the
 *                            checkpoint cross-check, the printed summary
 *   audit_usage_db.c         the rows streamed from vst.audit_log
 *
 * Internal to vstaudit. */
#ifndef VST_AUDIT_USAGE_INTERNAL_H
#define VST_AUDIT_USAGE_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit_usage.h"
#include "core/usage.h"

#define MAXD 64              /* domains tracked */
#define MAXD_PER_DELIVERY 16 /* domains named by one outcome event (keyd: 16 sections) */
#define PENDING_MAX (1u << 18)
#define SHOW 20

enum { CAT_STORED, CAT_REJECTED, CAT_FAILED, CAT_ABORTED, NCAT };
/* "delivery.stored", ... and "stored", ... by category (audit_usage.c). */
extern const char *const au_cat_action[NCAT];
extern const char *const au_cat_name[NCAT];

typedef struct {
    uint8_t sock, op;
    uint32_t uid;
    char domain[VST_DOMAIN_MAXLEN + 1];
    uint64_t total, slack;       /* of the last report naming it */
    uint64_t carried, carried_s; /* of earlier epochs */
} ctr_t;

typedef struct {
    int64_t t;
    uint64_t served[MAXD];
} snap_t;

typedef struct {
    int64_t at, r;
    uint8_t cat, n;
    uint8_t d[MAXD_PER_DELIVERY];
    uint64_t c[MAXD_PER_DELIVERY];
} pend_t;

typedef struct rcv {
    struct rcv *next;
    int64_t r;
    char key[]; /* client \x1f delivery_id */
} rcv_t;

typedef struct {
    uint64_t seq, log_seq;
    uint8_t head[VST_AUDIT_HASH_LEN];
} cpsig_t;

#define RCV_BUCKETS 4096

struct vst_audit_usage {
    uint8_t (*keys)[VST_ED25519_PUB_LEN];
    uint8_t (*kids)[VST_SHA256_LEN];
    size_t nkeys;
    vst_audit_usage_opts o;

    char dom[MAXD][VST_DOMAIN_MAXLEN + 1];
    size_t ndom;

    ctr_t *ctr;
    size_t nctr, capctr;
    uint64_t events, verified, usage_seq;
    uint64_t last_row; /* log seq of the last verified usage event, 0 none */
    int64_t T;         /* its signed time */
    snap_t *snap;
    size_t nsnap, capsnap;

    uint64_t acc[MAXD][NCAT]; /* every outcome event's identifiers */
    uint64_t outcomes[NCAT];
    pend_t *pend;
    size_t npend, cappend;
    int pend_overflow;
    rcv_t *rcv[RCV_BUCKETS];
    int64_t last_delivery_at;
    uint64_t last_delivery_row;
    uint64_t claimed_total; /* identifiers named by all outcome events */
    int64_t first_claim_at; /* the first outcome event naming any; 0: none */

    cpsig_t *cps;
    size_t ncps, capcps;

    /* results */
    int finished;
    uint64_t served[MAXD], slack[MAXD], accounted[MAXD][NCAT], in_flight[MAXD];
    uint64_t inflight_deliveries, abandoned_deliveries;
    uint64_t findings;
    char first[320];
    char shown[SHOW][320];
};

/* One line of a finding; the first SHOW are kept for the summary. */
void au_finding(vst_audit_usage *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Grows *arr (elements of size sz) to hold one more; 0 or -1. */
int au_grow(void **arr, size_t *cap, size_t n, size_t sz);
/* Index of a domain name, added if new; -1 when MAXD are taken. */
int au_dom_index(vst_audit_usage *u, const char *name);
/* Index of the trusted key with this key id, or -1. */
int au_key_index(const vst_audit_usage *u, const uint8_t kid[VST_SHA256_LEN]);

/* audit_usage_rows.c: one row each; 0, or -1 on no memory. */
int au_usage_row(vst_audit_usage *u, uint64_t seq, json_t *details);
int au_cpsig_row(vst_audit_usage *u, uint64_t seq, json_t *details);
int au_received_row(vst_audit_usage *u, int64_t at, const char *client, const char *id);
/* ids: the event's "identifiers" member, NULL if it has none;
 * received_at: its "received_at" member, NULL if none. */
int au_outcome_row(vst_audit_usage *u, uint64_t seq, int64_t at, int cat, const char *client,
                   const char *id, json_t *ids, const char *received_at);
/* served and slack (may be NULL) of every domain (data-socket
 * PSEUDONYMIZE) now. */
void au_current(const vst_audit_usage *u, uint64_t served[MAXD], uint64_t slack[MAXD]);

#endif
