/* A delivery in progress (PUT /v1/deliveries/{id}): the state that
 * delivery_put.c keeps across libmicrohttpd's calls, and the audit events
 * of a delivery (delivery_events.c). Private to those two files. */
#ifndef VST_HTTPD_DELIVERY_H
#define VST_HTTPD_DELIVERY_H

#include <openssl/evp.h>

#include "httpd/batch.h"
#include "httpd/httpd.h"
#include "httpd/lines.h"
#include "httpd/receipt.h"
#include "httpd/store.h"

enum { PH_STREAM, PH_REPLAY, PH_REFUSED };

struct delivery {
    int phase;
    slot *s;
    client_info client;
    char id[VST_DELIVERY_ID_MAX + 1];
    const vst_profile *p;
    int64_t received_us, t0_ms;
    EVP_MD_CTX *sha;
    uint64_t bytes;
    stored_receipt old;
    peer_cache *peer; /* its connection (the watchdog's view), or NULL */
    vst_err refused;  /* PH_REFUSED: the answer once the body ends */
    uint64_t refused_bytes;
    int64_t refused_ms;
    int profile_asked;        /* ?profile= was given */
    int close;                /* answer and close: the body is not read */
    httpd_lines lines;        /* the body cut into lines (lines.c) */
    uint64_t lineno, records; /* records: the valid ones, stored or withheld */
    uint64_t withheld;        /* valid records not stored: their person objected */
    vst_row *row;
    vst_errors errs;
    batch b;
    store_tx tx; /* its delivery_ref, COPY and prepared transaction (store.c) */
    int invalid, locked;
    int received;                        /* streaming began: it gets an outcome event */
    int received_logged, outcome_logged; /* delivery.received (may be deferred), the outcome */
    vst_err fail;                        /* infrastructure failure: answered with 503 */
    const char *fail_detail;
    unsigned fail_retry;
    uint32_t key_version;
    uint64_t *identifiers; /* per profile domain: pseudonymized by keyd for this delivery */
    uint64_t linked;       /* persons keyd derived control values for (the link domain) */
    uint64_t phase_us[PHASE__COUNT]; /* where its time went (metrics_phases) */
};

/* ---- audit events (delivery_events.c). Each returns 1 when appended. */
/* delivery.received, appended on its own: before a delivery larger than
 * one batch sends its first batch to keyd. A smaller delivery's is
 * appended with its outcome (delivery_received_details: the details for
 * its commit group; malloc'd JSON text, or NULL). */
int delivery_event_received(delivery *d);
char *delivery_received_details(const delivery *d);
/* The outcome of a delivery whose reception was logged and that was
 * neither stored nor rejected: refused mid-body, failed, or abandoned.
 * At most one per delivery. */
void delivery_event_outcome(delivery *d, const char *action, vst_err code);
/* delivery.rejected: its lines had errors (or there were none). */
void delivery_event_rejected(delivery *d, const uint8_t sha[32]);
/* delivery.conflict and delivery.replayed: a delivery id with a receipt. */
void delivery_event_conflict(delivery *d, int other_body);
void delivery_event_replayed(delivery *d);
/* The details of delivery.stored (what verify-receipt matches, plus the
 * identifiers keyd pseudonymized): malloc'd JSON text, or NULL. */
char *delivery_stored_details(const delivery *d, const vst_receipt_fields *f);

#endif
