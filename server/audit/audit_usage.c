/* keyd's usage reconciled with the delivery events; see audit_usage.h and
 * docs/audit.md ("keyd's usage and the reconciliation").
 *
 * For each pseudonym domain d, at T = the time of keyd's last verified
 * usage report:
 *
 *   served(d)    keyd's data-socket PSEUDONYMIZE total of d, summed over
 *                peers (uids) and over keyd state epochs (a total that goes
 *                back starts a new epoch; the step is itself a finding)
 *   slack(d)     keyd's crash slack: served(d) may overstate by this much
 *   accounted(d) identifiers of d named by outcome events up to T
 *   in_flight(d) what deliveries in flight at T may have used: the
 *                identifiers of outcome events after T whose delivery was
 *                received by T, plus, if deliveries without any outcome
 *                were received within the in-flight window before T, what
 *                keyd served of d since the earliest of them
 *
 * Findings: served - slack > accounted + in_flight (identifiers nobody
 * delivered: a sweep), and accounted > served (claims keyd never served).
 * Rejected, failed and aborted deliveries are reported apart from stored
 * ones: they are what "rejected deliveries explain".
 *
 * This file holds the state and feeds rows to audit_usage_rows.c; the
 * other parts are listed in audit_usage_internal.h. */
#include "audit/audit_usage_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const au_cat_action[NCAT] = {"delivery.stored", "delivery.rejected", "delivery.failed",
                                         "delivery.aborted"};
const char *const au_cat_name[NCAT] = {"stored", "rejected", "failed", "aborted"};

void au_finding(vst_audit_usage *u, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (u->findings == 0)
        snprintf(u->first, sizeof u->first, "%s", msg);
    if (u->findings < SHOW)
        snprintf(u->shown[u->findings], sizeof u->shown[0], "%s", msg);
    u->findings++;
}

void vst_audit_usage_defaults(vst_audit_usage_opts *o)
{
    o->in_flight_window_us = 3600LL * 1000000;
    o->max_usage_age_us = 3600LL * 1000000;
}

vst_audit_usage *vst_audit_usage_new(const uint8_t (*keys)[VST_ED25519_PUB_LEN], size_t nkeys,
                                     const vst_audit_usage_opts *o)
{
    if ((keys == NULL && nkeys > 0) || o == NULL)
        return NULL;
    vst_audit_usage *u = calloc(1, sizeof *u);
    if (u == NULL)
        return NULL;
    u->keys = calloc(nkeys ? nkeys : 1, sizeof *u->keys);
    u->kids = calloc(nkeys ? nkeys : 1, sizeof *u->kids);
    if (u->keys == NULL || u->kids == NULL) {
        vst_audit_usage_free(u);
        return NULL;
    }
    for (size_t i = 0; i < nkeys; i++) {
        memcpy(u->keys[i], keys[i], VST_ED25519_PUB_LEN);
        vst_audit_key_id(keys[i], u->kids[i]);
    }
    u->nkeys = nkeys;
    u->o = *o;
    return u;
}

void vst_audit_usage_free(vst_audit_usage *u)
{
    if (u == NULL)
        return;
    for (size_t b = 0; b < RCV_BUCKETS; b++)
        for (rcv_t *r = u->rcv[b], *n; r != NULL; r = n) {
            n = r->next;
            free(r);
        }
    free(u->keys);
    free(u->kids);
    free(u->ctr);
    free(u->snap);
    free(u->pend);
    free(u->cps);
    free(u);
}

/* Grows *arr (elements of size sz) to hold one more; 0 or -1. */
int au_grow(void **arr, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, c * sz);
    if (p == NULL)
        return -1;
    *arr = p;
    *cap = c;
    return 0;
}

/* Index of a domain name, added if new; -1 when MAXD are taken. */
int au_dom_index(vst_audit_usage *u, const char *name)
{
    for (size_t i = 0; i < u->ndom; i++)
        if (strcmp(u->dom[i], name) == 0)
            return (int)i;
    if (u->ndom == MAXD || strlen(name) > VST_DOMAIN_MAXLEN)
        return -1;
    snprintf(u->dom[u->ndom], sizeof u->dom[0], "%s", name);
    return (int)u->ndom++;
}

int au_key_index(const vst_audit_usage *u, const uint8_t kid[VST_SHA256_LEN])
{
    for (size_t i = 0; i < u->nkeys; i++)
        if (memcmp(u->kids[i], kid, VST_SHA256_LEN) == 0)
            return (int)i;
    return -1;
}

/* ---- rows ---------------------------------------------------------------------------- */

static int category(const char *action)
{
    for (int c = 0; c < NCAT; c++)
        if (strcmp(action, au_cat_action[c]) == 0)
            return c;
    return -1;
}

static void saw_delivery(vst_audit_usage *u, uint64_t seq, int64_t at)
{
    if (at >= u->last_delivery_at) {
        u->last_delivery_at = at;
        u->last_delivery_row = seq;
    }
}

int vst_audit_usage_row(vst_audit_usage *u, uint64_t seq, int64_t at_us, const char *action,
                        const char *client, const char *details, size_t len)
{
    if (u == NULL || action == NULL)
        return -1;
    int cat = category(action);
    int usage = strcmp(action, "keyd.usage") == 0;
    int cps = strcmp(action, "keyd.checkpoint_signed") == 0;
    int rcvd = strcmp(action, "delivery.received") == 0;
    if (cat < 0 && !usage && !cps && !rcvd)
        return 0;
    json_t *d = json_loadb(details, len, 0, NULL);
    int rc = 0;
    if (!json_is_object(d)) {
        au_finding(u, "row %" PRIu64 ": %s details do not parse", seq, action);
    } else if (usage) {
        rc = au_usage_row(u, seq, d);
    } else if (cps) {
        rc = au_cpsig_row(u, seq, d);
    } else {
        const char *id = json_string_value(json_object_get(d, "delivery_id"));
        saw_delivery(u, seq, at_us);
        rc = rcvd
                 ? au_received_row(u, at_us, client, id)
                 : au_outcome_row(u, seq, at_us, cat, client, id, json_object_get(d, "identifiers"),
                                  json_string_value(json_object_get(d, "received_at")));
    }
    json_decref(d);
    return rc;
}

int vst_audit_usage_delivery(vst_audit_usage *u, uint64_t seq, int64_t at_us, const char *action,
                             const char *client, const char *delivery_id, const char *identifiers,
                             size_t len, const char *received_at)
{
    int cat = u && action ? category(action) : -1;
    if (cat < 0 && (action == NULL || strcmp(action, "delivery.received") != 0))
        return u && action ? 0 : -1;
    saw_delivery(u, seq, at_us);
    if (cat < 0)
        return au_received_row(u, at_us, client, delivery_id);
    json_t *ids = identifiers ? json_loadb(identifiers, len, 0, NULL) : NULL;
    if (identifiers != NULL && ids == NULL)
        ids = json_null(); /* present but not JSON: malformed */
    int rc = au_outcome_row(u, seq, at_us, cat, client, delivery_id, ids, received_at);
    json_decref(ids);
    return rc;
}

int vst_audit_usage_opt(int argc, char **argv, int *i, vst_audit_usage_opts *o, char *err,
                        size_t errlen)
{
    int64_t *dst = strcmp(argv[*i], "--in-flight-window") == 0 ? &o->in_flight_window_us
                   : strcmp(argv[*i], "--usage-max-age") == 0  ? &o->max_usage_age_us
                                                               : NULL;
    if (dst == NULL)
        return 0;
    char *end = NULL;
    long long v = *i + 1 < argc ? strtoll(argv[*i + 1], &end, 10) : -1;
    if (end == NULL || *end != '\0' || v < 0 || v > 100LL * 365 * 86400) {
        snprintf(err, errlen, "%s wants a number of seconds", argv[*i]);
        return -1;
    }
    *dst = v * 1000000;
    (*i)++;
    return 1;
}
