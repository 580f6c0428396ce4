/* What each row of the log adds to the usage check (audit_usage_internal.h):
 * keyd's signed usage reports (counters per peer, domain and epoch, and
 * snapshots for the in-flight allowance), deliveries received and their
 * outcomes (the identifiers they name), keyd's signed checkpoints. */
#include "audit/audit_usage_internal.h"

#include "core/civil_time.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/domain.h"
#include "core/hex.h"

/* ---- keyd.usage ------------------------------------------------------------------- */

static ctr_t *ctr_find(vst_audit_usage *u, const vst_usage_entry *e)
{
    for (size_t i = 0; i < u->nctr; i++) {
        ctr_t *c = &u->ctr[i];
        if (c->sock == e->sock && c->uid == e->uid && c->op == e->op &&
            strcmp(c->domain, e->domain) == 0)
            return c;
    }
    if (au_grow((void **)&u->ctr, &u->capctr, u->nctr, sizeof *u->ctr) != 0)
        return NULL;
    ctr_t *c = &u->ctr[u->nctr++];
    *c = (ctr_t){.sock = e->sock, .op = e->op, .uid = e->uid};
    snprintf(c->domain, sizeof c->domain, "%s", e->domain);
    return c;
}

/* A data-socket operation that maps a chosen input of a domain to an
 * output, which every delivery names in its `identifiers`: PSEUDONYMIZE,
 * and CV_DERIVE for the persons of a linkage profile (DESIGN.md §13). */
static int per_delivery(uint8_t sock, uint8_t op)
{
    return sock == VST_USAGE_SOCK_DATA &&
           (op == VST_USAGE_OP_PSEUDONYMIZE || op == VST_USAGE_OP_DERIVE_CV);
}

/* served and slack of every domain (data-socket PSEUDONYMIZE, CV_DERIVE) now. */
void au_current(const vst_audit_usage *u, uint64_t served[MAXD], uint64_t slack[MAXD])
{
    memset(served, 0, MAXD * sizeof served[0]);
    if (slack != NULL)
        memset(slack, 0, MAXD * sizeof slack[0]);
    for (size_t i = 0; i < u->nctr; i++) {
        const ctr_t *c = &u->ctr[i];
        if (!per_delivery(c->sock, c->op))
            continue;
        for (size_t d = 0; d < u->ndom; d++)
            if (strcmp(u->dom[d], c->domain) == 0) {
                served[d] += c->carried + c->total;
                if (slack != NULL)
                    slack[d] += c->carried_s + c->slack;
            }
    }
}

/* Keeps the snapshots needed later: those inside the in-flight window
 * before the newest report, and one before it. */
static int snapshot(vst_audit_usage *u)
{
    if (au_grow((void **)&u->snap, &u->capsnap, u->nsnap, sizeof *u->snap) != 0)
        return -1;
    snap_t *s = &u->snap[u->nsnap++];
    s->t = u->T;
    au_current(u, s->served, NULL);
    size_t drop = 0;
    while (drop + 1 < u->nsnap && u->snap[drop + 1].t <= u->T - u->o.in_flight_window_us)
        drop++;
    if (drop > 0) {
        memmove(u->snap, u->snap + drop, (u->nsnap - drop) * sizeof *u->snap);
        u->nsnap -= drop;
    }
    return 0;
}

/* Outcomes at or before the new report's time are settled: they stay in
 * acc and need no longer be kept apart. */
static void settle(vst_audit_usage *u)
{
    size_t k = 0;
    for (size_t i = 0; i < u->npend; i++)
        if (u->pend[i].at > u->T)
            u->pend[k++] = u->pend[i];
    u->npend = k;
}

int au_usage_row(vst_audit_usage *u, uint64_t seq, json_t *details)
{
    u->events++;
    vst_usage r;
    uint8_t kid[VST_SHA256_LEN], sig[VST_ED25519_SIG_LEN];
    if (vst_usage_parse(json_object_get(details, "event"), &r, kid, sig) != 0) {
        au_finding(u, "row %" PRIu64 ": keyd.usage event does not parse", seq);
        return 0;
    }
    int k = au_key_index(u, kid);
    if (k < 0) {
        au_finding(u, "row %" PRIu64 ": keyd.usage signed by an unknown key", seq);
        return 0;
    }
    if (vst_usage_verify(u->keys[k], &r, sig) != 1) {
        au_finding(u, "row %" PRIu64 ": keyd.usage has a bad signature", seq);
        return 0;
    }
    u->verified++;
    if (r.seq <= u->usage_seq)
        au_finding(u,
                   "row %" PRIu64 ": keyd.usage report %" PRIu64 " after report %" PRIu64
                   " (keyd's state was reset or an older one restored)",
                   seq, r.seq, u->usage_seq);
    u->usage_seq = r.seq;
    for (size_t i = 0; i < r.n; i++) {
        const vst_usage_entry *e = &r.e[i];
        ctr_t *c = ctr_find(u, e);
        if (c == NULL)
            return -1;
        if (per_delivery(e->sock, e->op) && au_dom_index(u, e->domain) < 0) {
            au_finding(u, "row %" PRIu64 ": more than %d pseudonym domains", seq, MAXD);
            continue;
        }
        if (e->total < c->total) {
            au_finding(u,
                       "row %" PRIu64 ": keyd's total of %s %s uid %" PRIu32
                       "%s%s went back from %" PRIu64 " to %" PRIu64
                       " (keyd's state was reset or an older one restored)",
                       seq, vst_usage_sock_name(e->sock), vst_usage_op_name(e->op), e->uid,
                       e->domain[0] ? " " : "", e->domain, c->total, e->total);
            c->carried += c->total;
            c->carried_s += c->slack;
        }
        c->total = e->total;
        c->slack = e->slack;
    }
    if (r.to_us >= u->T) {
        u->T = r.to_us;
        u->last_row = seq;
    }
    settle(u);
    return snapshot(u);
}

/* ---- deliveries -------------------------------------------------------------------- */

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static rcv_t **rcv_slot(vst_audit_usage *u, const char *key)
{
    rcv_t **p = &u->rcv[hash_key(key) % RCV_BUCKETS];
    while (*p != NULL && strcmp((*p)->key, key) != 0)
        p = &(*p)->next;
    return p;
}

static int delivery_key(const char *client, const char *id, char *out, size_t cap)
{
    if (id == NULL)
        return -1;
    int n = snprintf(out, cap, "%s\x1f%s", client ? client : "", id);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

int au_received_row(vst_audit_usage *u, int64_t at, const char *client, const char *id)
{
    char key[640];
    if (delivery_key(client, id, key, sizeof key) != 0)
        return 0;
    rcv_t **p = rcv_slot(u, key);
    if (*p != NULL) {
        (*p)->r = at; /* a new attempt at the same delivery */
        return 0;
    }
    rcv_t *r = malloc(sizeof *r + strlen(key) + 1);
    if (r == NULL)
        return -1;
    r->next = NULL;
    r->r = at;
    strcpy(r->key, key);
    *p = r;
    return 0;
}

/* ids: the event's "identifiers" member, NULL if it has none. */
int au_outcome_row(vst_audit_usage *u, uint64_t seq, int64_t at, int cat, const char *client,
                   const char *id, json_t *ids, const char *received_at)
{
    int64_t r = at, named;
    char key[640];
    if (delivery_key(client, id, key, sizeof key) == 0) {
        rcv_t **p = rcv_slot(u, key);
        if (*p != NULL) {
            rcv_t *x = *p;
            r = x->r;
            *p = x->next;
            free(x);
        }
    }
    /* The delivery was received when its outcome says, even if its
     * delivery.received row came later: vst-httpd appends that row with
     * the outcome for a delivery that fits one batch (a commit group), and
     * keyd may have served it before its last report. */
    if (received_at != NULL && vst_time_parse_us(received_at, strlen(received_at), &named) == 0 &&
        named < r)
        r = named;
    if (ids == NULL)
        return 0; /* written before vst-httpd named them: nothing to count */
    u->outcomes[cat]++;
    pend_t pe = {.at = at, .r = r, .cat = (uint8_t)cat};
    const char *name;
    json_t *v;
    if (!json_is_object(ids) || json_object_size(ids) > MAXD_PER_DELIVERY) {
        au_finding(u, "row %" PRIu64 ": %s names its identifiers in a malformed way", seq,
                   au_cat_action[cat]);
        return 0;
    }
    json_object_foreach(ids, name, v)
    {
        int d = vst_domain_name_ok(name) ? au_dom_index(u, name) : -1;
        if (d < 0 || !json_is_integer(v) || json_integer_value(v) < 0) {
            au_finding(u, "row %" PRIu64 ": %s names its identifiers in a malformed way", seq,
                       au_cat_action[cat]);
            return 0;
        }
        pe.d[pe.n] = (uint8_t)d;
        pe.c[pe.n++] = (uint64_t)json_integer_value(v);
        u->acc[d][cat] += (uint64_t)json_integer_value(v);
        u->claimed_total += (uint64_t)json_integer_value(v);
        if (json_integer_value(v) > 0 && u->first_claim_at == 0)
            u->first_claim_at = at;
    }
    /* Kept apart until a later report settles it (see settle). */
    if (u->last_row == 0 || at > u->T) {
        if (u->npend >= PENDING_MAX) {
            u->pend_overflow = 1;
            return 0;
        }
        if (au_grow((void **)&u->pend, &u->cappend, u->npend, sizeof *u->pend) != 0)
            return -1;
        u->pend[u->npend++] = pe;
    }
    return 0;
}

/* ---- keyd.checkpoint_signed -------------------------------------------------------- */

int au_cpsig_row(vst_audit_usage *u, uint64_t seq, json_t *details)
{
    json_t *e = json_object_get(details, "event");
    json_t *s = json_object_get(e, "seq");
    const char *h = json_string_value(json_object_get(e, "head"));
    cpsig_t c = {.log_seq = seq};
    if (!json_is_integer(s) || json_integer_value(s) < 1 || h == NULL ||
        strlen(h) != 2 * VST_AUDIT_HASH_LEN ||
        vst_unhex_lower(h, strlen(h), c.head, sizeof c.head) != 0) {
        au_finding(u, "row %" PRIu64 ": keyd.checkpoint_signed does not parse", seq);
        return 0;
    }
    c.seq = (uint64_t)json_integer_value(s);
    if (au_grow((void **)&u->cps, &u->capcps, u->ncps, sizeof *u->cps) != 0)
        return -1;
    u->cps[u->ncps++] = c;
    return 0;
}
