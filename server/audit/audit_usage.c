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
 * ones: they are what "rejected deliveries explain". */
#include "audit/audit_usage.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/hex.h"
#include "core/civil_time.h"
#include "core/usage.h"

#define MAXD 64              /* domains tracked */
#define MAXD_PER_DELIVERY 16 /* domains named by one outcome event (keyd: 16 sections) */
#define PENDING_MAX (1u << 18)
#define SHOW 20

enum { CAT_STORED, CAT_REJECTED, CAT_FAILED, CAT_ABORTED, NCAT };
static const char *const cat_action[NCAT] = {"delivery.stored", "delivery.rejected",
                                             "delivery.failed", "delivery.aborted"};
static const char *const cat_name[NCAT] = {"stored", "rejected", "failed", "aborted"};

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

static void finding(vst_audit_usage *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void finding(vst_audit_usage *u, const char *fmt, ...)
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
static int grow(void **arr, size_t *cap, size_t n, size_t sz)
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
static int dom_index(vst_audit_usage *u, const char *name)
{
    for (size_t i = 0; i < u->ndom; i++)
        if (strcmp(u->dom[i], name) == 0)
            return (int)i;
    if (u->ndom == MAXD || strlen(name) > VST_DOMAIN_MAXLEN)
        return -1;
    snprintf(u->dom[u->ndom], sizeof u->dom[0], "%s", name);
    return (int)u->ndom++;
}

/* ---- keyd.usage ------------------------------------------------------------------- */

static ctr_t *ctr_find(vst_audit_usage *u, const vst_usage_entry *e)
{
    for (size_t i = 0; i < u->nctr; i++) {
        ctr_t *c = &u->ctr[i];
        if (c->sock == e->sock && c->uid == e->uid && c->op == e->op &&
            strcmp(c->domain, e->domain) == 0)
            return c;
    }
    if (grow((void **)&u->ctr, &u->capctr, u->nctr, sizeof *u->ctr) != 0)
        return NULL;
    ctr_t *c = &u->ctr[u->nctr++];
    *c = (ctr_t){.sock = e->sock, .op = e->op, .uid = e->uid};
    snprintf(c->domain, sizeof c->domain, "%s", e->domain);
    return c;
}

/* served and slack of every domain (data-socket PSEUDONYMIZE) now. */
static void current(const vst_audit_usage *u, uint64_t served[MAXD], uint64_t slack[MAXD])
{
    memset(served, 0, MAXD * sizeof served[0]);
    if (slack != NULL)
        memset(slack, 0, MAXD * sizeof slack[0]);
    for (size_t i = 0; i < u->nctr; i++) {
        const ctr_t *c = &u->ctr[i];
        if (c->sock != VST_USAGE_SOCK_DATA || c->op != VST_USAGE_OP_PSEUDONYMIZE)
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
    if (grow((void **)&u->snap, &u->capsnap, u->nsnap, sizeof *u->snap) != 0)
        return -1;
    snap_t *s = &u->snap[u->nsnap++];
    s->t = u->T;
    current(u, s->served, NULL);
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

static int key_index(const vst_audit_usage *u, const uint8_t kid[VST_SHA256_LEN])
{
    for (size_t i = 0; i < u->nkeys; i++)
        if (memcmp(u->kids[i], kid, VST_SHA256_LEN) == 0)
            return (int)i;
    return -1;
}

static int usage_row(vst_audit_usage *u, uint64_t seq, json_t *details)
{
    u->events++;
    vst_usage r;
    uint8_t kid[VST_SHA256_LEN], sig[VST_ED25519_SIG_LEN];
    if (vst_usage_parse(json_object_get(details, "event"), &r, kid, sig) != 0) {
        finding(u, "row %" PRIu64 ": keyd.usage event does not parse", seq);
        return 0;
    }
    int k = key_index(u, kid);
    if (k < 0) {
        finding(u, "row %" PRIu64 ": keyd.usage signed by an unknown key", seq);
        return 0;
    }
    if (vst_usage_verify(u->keys[k], &r, sig) != 1) {
        finding(u, "row %" PRIu64 ": keyd.usage has a bad signature", seq);
        return 0;
    }
    u->verified++;
    if (r.seq <= u->usage_seq)
        finding(u,
                "row %" PRIu64 ": keyd.usage report %" PRIu64 " after report %" PRIu64
                " (keyd's state was reset or an older one restored)",
                seq, r.seq, u->usage_seq);
    u->usage_seq = r.seq;
    for (size_t i = 0; i < r.n; i++) {
        const vst_usage_entry *e = &r.e[i];
        ctr_t *c = ctr_find(u, e);
        if (c == NULL)
            return -1;
        if (e->op == VST_USAGE_OP_PSEUDONYMIZE && e->sock == VST_USAGE_SOCK_DATA &&
            dom_index(u, e->domain) < 0) {
            finding(u, "row %" PRIu64 ": more than %d pseudonym domains", seq, MAXD);
            continue;
        }
        if (e->total < c->total) {
            finding(u,
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

static int received_row(vst_audit_usage *u, int64_t at, const char *client, const char *id)
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
static int outcome_row(vst_audit_usage *u, uint64_t seq, int64_t at, int cat, const char *client,
                       const char *id, json_t *ids)
{
    int64_t r = at;
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
    if (ids == NULL)
        return 0; /* written before vst-httpd named them: nothing to count */
    u->outcomes[cat]++;
    pend_t pe = {.at = at, .r = r, .cat = (uint8_t)cat};
    const char *name;
    json_t *v;
    if (!json_is_object(ids) || json_object_size(ids) > MAXD_PER_DELIVERY) {
        finding(u, "row %" PRIu64 ": %s names its identifiers in a malformed way", seq,
                cat_action[cat]);
        return 0;
    }
    json_object_foreach(ids, name, v)
    {
        int d = vst_domain_name_ok(name) ? dom_index(u, name) : -1;
        if (d < 0 || !json_is_integer(v) || json_integer_value(v) < 0) {
            finding(u, "row %" PRIu64 ": %s names its identifiers in a malformed way", seq,
                    cat_action[cat]);
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
        if (grow((void **)&u->pend, &u->cappend, u->npend, sizeof *u->pend) != 0)
            return -1;
        u->pend[u->npend++] = pe;
    }
    return 0;
}

/* ---- keyd.checkpoint_signed -------------------------------------------------------- */

static int cpsig_row(vst_audit_usage *u, uint64_t seq, json_t *details)
{
    json_t *e = json_object_get(details, "event");
    json_t *s = json_object_get(e, "seq");
    const char *h = json_string_value(json_object_get(e, "head"));
    cpsig_t c = {.log_seq = seq};
    if (!json_is_integer(s) || json_integer_value(s) < 1 || h == NULL ||
        strlen(h) != 2 * VST_AUDIT_HASH_LEN ||
        vst_unhex_lower(h, strlen(h), c.head, sizeof c.head) != 0) {
        finding(u, "row %" PRIu64 ": keyd.checkpoint_signed does not parse", seq);
        return 0;
    }
    c.seq = (uint64_t)json_integer_value(s);
    if (grow((void **)&u->cps, &u->capcps, u->ncps, sizeof *u->cps) != 0)
        return -1;
    u->cps[u->ncps++] = c;
    return 0;
}

static int category(const char *action)
{
    for (int c = 0; c < NCAT; c++)
        if (strcmp(action, cat_action[c]) == 0)
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
        finding(u, "row %" PRIu64 ": %s details do not parse", seq, action);
    } else if (usage) {
        rc = usage_row(u, seq, d);
    } else if (cps) {
        rc = cpsig_row(u, seq, d);
    } else {
        const char *id = json_string_value(json_object_get(d, "delivery_id"));
        saw_delivery(u, seq, at_us);
        rc = rcvd ? received_row(u, at_us, client, id)
                  : outcome_row(u, seq, at_us, cat, client, id, json_object_get(d, "identifiers"));
    }
    json_decref(d);
    return rc;
}

int vst_audit_usage_delivery(vst_audit_usage *u, uint64_t seq, int64_t at_us, const char *action,
                             const char *client, const char *delivery_id, const char *identifiers,
                             size_t len)
{
    int cat = u && action ? category(action) : -1;
    if (cat < 0 && (action == NULL || strcmp(action, "delivery.received") != 0))
        return u && action ? 0 : -1;
    saw_delivery(u, seq, at_us);
    if (cat < 0)
        return received_row(u, at_us, client, delivery_id);
    json_t *ids = identifiers ? json_loadb(identifiers, len, 0, NULL) : NULL;
    if (identifiers != NULL && ids == NULL)
        ids = json_null(); /* present but not JSON: malformed */
    int rc = outcome_row(u, seq, at_us, cat, client, delivery_id, ids);
    json_decref(ids);
    return rc;
}

/* ---- the end ------------------------------------------------------------------------ */

static int64_t wall_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void fmt_time(int64_t us, char out[VST_TIME_TEXT_LEN + 1])
{
    if (vst_time_format_us(us, out) != 0)
        snprintf(out, VST_TIME_TEXT_LEN + 1, "(time out of range)");
}

static void reconcile(vst_audit_usage *u)
{
    current(u, u->served, u->slack);
    for (size_t d = 0; d < u->ndom; d++)
        for (int c = 0; c < NCAT; c++)
            u->accounted[d][c] = u->acc[d][c];
    /* Outcomes after T: not yet in keyd's report. Their deliveries were in
     * flight at T if received by then. */
    for (size_t i = 0; i < u->npend; i++) {
        const pend_t *p = &u->pend[i];
        if (p->at <= u->T)
            continue;
        for (size_t k = 0; k < p->n; k++) {
            u->accounted[p->d[k]][p->cat] -= p->c[k];
            if (p->r <= u->T)
                u->in_flight[p->d[k]] += p->c[k];
        }
    }
    /* Received, no outcome at all. */
    int64_t r_min = INT64_MAX;
    for (size_t b = 0; b < RCV_BUCKETS; b++)
        for (const rcv_t *r = u->rcv[b]; r != NULL; r = r->next) {
            if (r->r > u->T)
                continue;
            if (r->r >= u->T - u->o.in_flight_window_us) {
                u->inflight_deliveries++;
                r_min = r->r < r_min ? r->r : r_min;
            } else {
                u->abandoned_deliveries++;
            }
        }
    if (r_min != INT64_MAX) {
        /* keyd's totals at its last report before r_min (0 before any). */
        const snap_t *before = NULL;
        for (size_t i = 0; i < u->nsnap && u->snap[i].t <= r_min; i++)
            before = &u->snap[i];
        for (size_t d = 0; d < u->ndom; d++)
            u->in_flight[d] += u->served[d] - (before ? before->served[d] : 0);
    }
    for (size_t d = 0; d < u->ndom; d++) {
        uint64_t acc = 0, rej = 0;
        for (int c = 0; c < NCAT; c++)
            acc += u->accounted[d][c];
        rej = acc - u->accounted[d][CAT_STORED];
        uint64_t lower = u->served[d] - u->slack[d];
        if (lower > acc + u->in_flight[d])
            finding(u,
                    "keyd usage: domain %s: keyd served %" PRIu64
                    " identifiers that no delivery event accounts for (served %" PRIu64
                    ", crash slack %" PRIu64 "; deliveries %" PRIu64 ", of them %" PRIu64
                    " rejected/failed/aborted; in flight up to %" PRIu64 ")",
                    u->dom[d], lower - acc - u->in_flight[d], u->served[d], u->slack[d], acc, rej,
                    u->in_flight[d]);
        if (acc > u->served[d])
            finding(u,
                    "keyd usage: domain %s: delivery events claim %" PRIu64
                    " identifiers more than keyd served (claimed %" PRIu64 ", served %" PRIu64 ")",
                    u->dom[d], acc - u->served[d], acc, u->served[d]);
    }
}

int vst_audit_usage_finish(vst_audit_usage *u, vst_audit_row_hash_fn fn, void *ctx)
{
    if (u == NULL || u->finished)
        return -1;
    u->finished = 1;
    char t1[VST_TIME_TEXT_LEN + 1], t2[VST_TIME_TEXT_LEN + 1];
    if (u->last_row == 0) {
        /* keyd reports every usage-interval seconds: deliveries younger than
         * the allowed age may simply not be reported yet (a fresh system, a
         * verify right after the first delivery). */
        if (u->claimed_total > 0 && wall_us() - u->first_claim_at > u->o.max_usage_age_us)
            finding(u,
                    "keyd usage: no verified keyd.usage event in the log, while delivery events "
                    "name %" PRIu64 " identifiers, the first more than %" PRId64 " s ago",
                    u->claimed_total, u->o.max_usage_age_us / 1000000);
    } else {
        if (u->last_delivery_row > 0 && u->last_delivery_at - u->T > u->o.max_usage_age_us) {
            fmt_time(u->T, t1);
            fmt_time(u->last_delivery_at, t2);
            finding(u,
                    "keyd usage: the last keyd.usage event (row %" PRIu64 ", %s) is older than "
                    "the last delivery event (row %" PRIu64 ", %s) by more than %" PRId64
                    " s: keyd's counts are not reaching the log",
                    u->last_row, t1, u->last_delivery_row, t2, u->o.max_usage_age_us / 1000000);
        }
        if (u->pend_overflow)
            finding(u, "keyd usage: more than %u delivery outcomes after one keyd.usage event",
                    PENDING_MAX);
        reconcile(u);
    }
    for (size_t i = 0; i < u->ncps; i++) {
        uint8_t h[VST_AUDIT_HASH_LEN];
        int got = fn ? fn(ctx, u->cps[i].seq, h) : 0;
        if (got < 0)
            return -1;
        if (got == 0)
            finding(u,
                    "row %" PRIu64 ": keyd signed a checkpoint for seq %" PRIu64
                    ", which is not in the log (rows were removed, or a head was forged)",
                    u->cps[i].log_seq, u->cps[i].seq);
        else if (memcmp(h, u->cps[i].head, sizeof h) != 0)
            finding(u,
                    "row %" PRIu64 ": keyd signed a head for seq %" PRIu64
                    " that is not that row's hash (the log was rewritten, or a head was forged)",
                    u->cps[i].log_seq, u->cps[i].seq);
    }
    return 0;
}

uint64_t vst_audit_usage_findings(const vst_audit_usage *u)
{
    return u ? u->findings : 0;
}

const char *vst_audit_usage_first(const vst_audit_usage *u)
{
    return u && u->findings ? u->first : "";
}

void vst_audit_usage_print(const vst_audit_usage *u, FILE *out)
{
    char t[VST_TIME_TEXT_LEN + 1];
    if (u->last_row == 0) {
        fprintf(out, "keyd usage: no verified usage event (%" PRIu64 " in the log)\n", u->events);
    } else {
        fmt_time(u->T, t);
        fprintf(out,
                "keyd usage: %" PRIu64 " events (%" PRIu64 " verified), last at row %" PRIu64
                " (%s); deliveries naming identifiers: %" PRIu64 " stored, %" PRIu64
                " rejected, %" PRIu64 " failed, %" PRIu64 " aborted; %" PRIu64
                " received without an outcome (%" PRIu64 " of them in flight)\n",
                u->events, u->verified, u->last_row, t, u->outcomes[CAT_STORED],
                u->outcomes[CAT_REJECTED], u->outcomes[CAT_FAILED], u->outcomes[CAT_ABORTED],
                u->inflight_deliveries + u->abandoned_deliveries, u->inflight_deliveries);
        for (size_t d = 0; d < u->ndom; d++) {
            uint64_t acc = 0;
            for (int c = 0; c < NCAT; c++)
                acc += u->accounted[d][c];
            fprintf(out,
                    "  %s: keyd served %" PRIu64 " (crash slack %" PRIu64 "); deliveries %" PRIu64,
                    u->dom[d], u->served[d], u->slack[d], acc);
            for (int c = 0; c < NCAT; c++)
                fprintf(out, "%s%s %" PRIu64, c == 0 ? " (" : ", ", cat_name[c],
                        u->accounted[d][c]);
            fprintf(out, "); in flight up to %" PRIu64 "\n", u->in_flight[d]);
        }
    }
    for (uint64_t i = 0; i < u->findings && i < SHOW; i++)
        fprintf(out, "  problem: %s\n", u->shown[i]);
    if (u->findings > SHOW)
        fprintf(out, "  ... and %" PRIu64 " more usage problems\n", u->findings - SHOW);
}

/* ---- the database ------------------------------------------------------------------ */

/* Only the rows the check needs, so that verify stays fast on a long log:
 * keyd's reports and checkpoint records, the outcome events that name
 * identifiers, and the deliveries received since the in-flight window
 * before keyd's last report ($1, microseconds; older ones cannot be in
 * flight). */
static const char rows_sql[] =
    "DECLARE vst_usage_rows NO SCROLL CURSOR FOR "
    "SELECT seq, (extract(epoch FROM at) * 1000000)::bigint, action, client, "
    "CASE WHEN action LIKE 'keyd.%' THEN details::text END, details->>'delivery_id', "
    "(details->'identifiers')::text "
    "FROM vst.audit_log WHERE action IN ('keyd.usage', 'keyd.checkpoint_signed') "
    "OR (action IN ('delivery.stored', 'delivery.rejected', 'delivery.failed', "
    "'delivery.aborted') AND details ? 'identifiers') "
    "OR (action = 'delivery.received' AND at >= to_timestamp($1::bigint / 1e6)) ORDER BY seq";

static const char last_delivery_sql[] =
    "SELECT seq, (extract(epoch FROM at) * 1000000)::bigint FROM vst.audit_log WHERE action IN "
    "('delivery.received', 'delivery.stored', 'delivery.rejected', 'delivery.failed', "
    "'delivery.aborted') ORDER BY seq DESC LIMIT 1";

static int row_hash_db(void *ctx, uint64_t seq, uint8_t out[VST_AUDIT_HASH_LEN])
{
    PGconn *db = ctx;
    char s[24];
    snprintf(s, sizeof s, "%" PRIu64, seq);
    const char *p[] = {s};
    PGresult *r = PQexecParams(db, "SELECT encode(hash, 'hex') FROM vst.audit_log WHERE seq = $1",
                               1, NULL, p, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        rc = PQntuples(r) == 0 ? 0
             : vst_unhex_lower(PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0), out,
                               VST_AUDIT_HASH_LEN) == 0
                 ? 1
                 : -1;
    PQclear(r);
    return rc;
}

static int db_err(PGconn *db, PGresult *r, const char *what, char *err, size_t errlen)
{
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(err, errlen, "%s: %s", what, m ? m : PQerrorMessage(db));
    err[strcspn(err, "\n")] = '\0';
    return -1;
}

/* The time of keyd's last verified report, INT64_MIN if none. */
static int last_report_time(PGconn *db, const vst_audit_usage *u, int64_t *t, char *err,
                            size_t errlen)
{
    PGresult *r = PQexec(db, "SELECT details::text FROM vst.audit_log WHERE action = "
                             "'keyd.usage' ORDER BY seq");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_err(db, r, "reading keyd's usage events", err, errlen);
        PQclear(r);
        return -1;
    }
    *t = INT64_MIN;
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *d = json_loadb(PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0), 0, NULL);
        vst_usage x;
        uint8_t kid[VST_SHA256_LEN], sig[VST_ED25519_SIG_LEN];
        int k;
        if (vst_usage_parse(json_object_get(d, "event"), &x, kid, sig) == 0 &&
            (k = key_index(u, kid)) >= 0 && vst_usage_verify(u->keys[k], &x, sig) == 1 &&
            x.to_us > *t)
            *t = x.to_us;
        json_decref(d);
    }
    PQclear(r);
    return 0;
}

int vst_audit_usage_db(PGconn *db, vst_audit_usage *u, char *err, size_t errlen)
{
    int64_t t;
    if (last_report_time(db, u, &t, err, errlen) != 0)
        return -1;
    PGresult *r = PQexec(db, last_delivery_sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_err(db, r, "reading the last delivery event", err, errlen);
        PQclear(r);
        return -1;
    }
    if (PQntuples(r) == 1) {
        u->last_delivery_row = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        u->last_delivery_at = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    }
    PQclear(r);
    char cutoff[24];
    /* Without a report there is nothing to reconcile: no received rows
     * (9999-12-31). */
    snprintf(cutoff, sizeof cutoff, "%" PRId64,
             t == INT64_MIN ? (int64_t)253402300799000000LL : t - u->o.in_flight_window_us);
    const char *p[] = {cutoff};
    /* A cursor in verify's snapshot, fetched in blocks: far cheaper than a
     * result per row. */
    r = PQexecParams(db, rows_sql, 1, NULL, p, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK
                 ? 0
                 : db_err(db, r, "reading the usage and delivery events", err, errlen);
    PQclear(r);
    for (int n = 1; rc == 0 && n > 0;) {
        r = PQexec(db, "FETCH 10000 FROM vst_usage_rows");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            rc = db_err(db, r, "reading the usage and delivery events", err, errlen);
            PQclear(r);
            break;
        }
        n = PQntuples(r);
        for (int i = 0; rc == 0 && i < n; i++) {
            uint64_t seq = strtoull(PQgetvalue(r, i, 0), NULL, 10);
            int64_t at = strtoll(PQgetvalue(r, i, 1), NULL, 10);
            const char *action = PQgetvalue(r, i, 2);
            const char *client = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3);
            int bad =
                !PQgetisnull(r, i, 4)
                    ? vst_audit_usage_row(u, seq, at, action, client, PQgetvalue(r, i, 4),
                                          (size_t)PQgetlength(r, i, 4))
                    : vst_audit_usage_delivery(u, seq, at, action, client,
                                               PQgetisnull(r, i, 5) ? NULL : PQgetvalue(r, i, 5),
                                               PQgetisnull(r, i, 6) ? NULL : PQgetvalue(r, i, 6),
                                               (size_t)PQgetlength(r, i, 6));
            if (bad != 0) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
            }
        }
        PQclear(r);
    }
    PQclear(PQexec(db, "CLOSE vst_usage_rows"));
    if (rc == 0 && vst_audit_usage_finish(u, row_hash_db, db) != 0)
        rc = db_err(db, NULL, "reading row hashes", err, errlen);
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
