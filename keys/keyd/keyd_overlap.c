/* A connection's count-only overlap query (DESIGN.md §13,
 * docs/keyd-protocol.md "OVERLAP_OPEN" ... "OVERLAP_SIGN"): vst-admin
 * streams the stored control values of two collections in, keyd removes
 * the collection layers, links (keys/link_match.c), suppresses small
 * counts and answers counts alone, which it then signs with the audit seq
 * of the query's event.
 *
 * One query per connection, in this order (anything else: overlap_state):
 *
 *   (none) --OPEN--> feeding --FEED*--> feeding --RUN--> answered --SIGN--> (none)
 *
 * OPEN is also accepted on an answered query (its unsigned answer is
 * dropped). The query is charged to its pair's budget at OPEN: the pair is
 * the two collection names sorted, the budget overlap_budget queries per
 * UTC day, kept in the authenticated state file "overlap" (keyd_state.c)
 * and written before OPEN is answered, so a restart refills nothing.
 *
 * The inner values (96 bytes per record) live in anonymous mappings that
 * are locked (mlock), kept out of core dumps and wiped before they are
 * unmapped: at RUN, when a side would exceed overlap_max_records (the
 * query is dropped: overlap_limit), on any failure and when the connection
 * closes mid-query. Across all connections at most twice
 * overlap_max_records records are held at once.
 *
 * Payload of "overlap": u32 format = 1, i64 day (days since 1970, UTC),
 * u16 n, n x (str8 collection_lo, str8 collection_hi, u32 used). */
#define _GNU_SOURCE /* MADV_DONTDUMP */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/usage.h"
#include "keyd/keyd.h"
#include "link_match.h"

#define STATE_NAME "overlap"
#define STATE_FORMAT 1
#define MAX_PAIRS 256    /* pairs queried in one UTC day */
#define FIRST_CAP 16384u /* records of a side's first mapping */

enum { Q_FEEDING = 1, Q_ANSWERED = 2 };

typedef struct {
    uint8_t *buf; /* cap records, mapped and locked; n of them held */
    size_t n, cap;
    vst_version_key *ck; /* the collection layer of version ck_version */
    uint32_t ck_version;
} side_t;

struct keyd_overlap {
    int state;
    vst_overlap_open_req q;
    side_t side[2];
    vst_overlap_result r;
};

/* ---- locked memory */

static uint64_t held_total; /* records held by every connection */
static int warned_unlocked;

static size_t map_len(size_t records)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t p = page > 0 ? (size_t)page : 4096;
    size_t n = records * VST_CV_RECORD_LEN;
    return (n + p - 1) / p * p;
}

static uint8_t *map_locked(size_t records)
{
    size_t len = map_len(records);
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    (void)madvise(m, len, MADV_DONTDUMP);
    if (mlock(m, len) != 0 && !warned_unlocked) {
        warned_unlocked = 1;
        keyd_log("warning", "overlap values cannot be locked in memory (mlock failed)");
    }
    return m;
}

static void unmap_wiped(uint8_t *m, size_t records)
{
    if (m == NULL)
        return;
    size_t len = map_len(records);
    OPENSSL_cleanse(m, len);
    (void)munlock(m, len);
    (void)munmap(m, len);
}

static void side_free(side_t *s)
{
    unmap_wiped(s->buf, s->cap);
    held_total -= s->n;
    vst_version_key_free(s->ck);
    memset(s, 0, sizeof *s);
}

/* Room for `more` records on s (the old mapping copied and wiped): 0 or -1. */
static int side_reserve(side_t *s, size_t more)
{
    if (s->n + more <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap : FIRST_CAP;
    while (cap < s->n + more)
        cap *= 2;
    if (cap > g_cfg.overlap_max_records && g_cfg.overlap_max_records >= s->n + more)
        cap = g_cfg.overlap_max_records;
    uint8_t *m = map_locked(cap);
    if (m == NULL)
        return -1;
    if (s->n > 0)
        memcpy(m, s->buf, s->n * VST_CV_RECORD_LEN);
    unmap_wiped(s->buf, s->cap);
    s->buf = m;
    s->cap = cap;
    return 0;
}

void keyd_overlap_close(keyd_conn *c)
{
    struct keyd_overlap *o = c->overlap;
    if (o == NULL)
        return;
    side_free(&o->side[0]);
    side_free(&o->side[1]);
    OPENSSL_cleanse(o, sizeof *o);
    free(o);
    c->overlap = NULL;
}

/* ---- the pair budget */

typedef struct {
    char lo[VST_COLLECTION_MAXLEN + 1], hi[VST_COLLECTION_MAXLEN + 1];
    uint32_t used;
} pair_t;

static struct {
    int loaded;
    int64_t day;
    size_t n;
    pair_t p[MAX_PAIRS];
} B;

static int64_t utc_day(void)
{
    int64_t us = keyd_wall_us();
    return us >= 0 ? us / 86400000000LL : -1 - (-us - 1) / 86400000000LL;
}

static int budget_save(void)
{
    vst_wr w = VST_WR_INIT;
    int rc = vst_wr_u32(&w, STATE_FORMAT) || vst_wr_i64(&w, B.day) || vst_wr_u16(&w, (uint16_t)B.n);
    for (size_t i = 0; rc == 0 && i < B.n; i++)
        rc = vst_wr_str8(&w, B.p[i].lo, strlen(B.p[i].lo)) ||
             vst_wr_str8(&w, B.p[i].hi, strlen(B.p[i].hi)) || vst_wr_u32(&w, B.p[i].used);
    if (rc == 0)
        rc = keyd_state_save(STATE_NAME, vst_wr_data(&w), vst_wr_len(&w));
    vst_wr_free(&w);
    return rc ? -1 : 0;
}

static int budget_parse(const uint8_t *p, size_t len)
{
    vst_rd r;
    uint32_t fmt;
    uint16_t n;
    vst_rd_init(&r, p, len);
    if (vst_rd_u32(&r, &fmt) || fmt != STATE_FORMAT || vst_rd_i64(&r, &B.day) ||
        vst_rd_u16(&r, &n) || n > MAX_PAIRS)
        return -1;
    for (uint16_t i = 0; i < n; i++) {
        pair_t *q = &B.p[i];
        if (vst_rd_str8(&r, q->lo, sizeof q->lo) || vst_rd_str8(&r, q->hi, sizeof q->hi) ||
            vst_rd_u32(&r, &q->used) || !vst_domain_name_ok(q->lo) || !vst_domain_name_ok(q->hi))
            return -1;
    }
    B.n = n;
    return vst_rd_end(&r) == 0 ? 0 : -1;
}

const char *keyd_overlap_load(void)
{
    uint8_t *p = NULL;
    size_t len = 0;
    keyd_state_rc st = keyd_state_load(STATE_NAME, &p, &len);
    memset(&B, 0, sizeof B);
    if (st == KEYD_STATE_OK && budget_parse(p, len) != 0)
        st = KEYD_STATE_INVALID;
    free(p);
    if (st != KEYD_STATE_OK) {
        memset(&B, 0, sizeof B);
        if (st == KEYD_STATE_INVALID)
            keyd_state_set_aside(STATE_NAME);
    }
    B.loaded = 1;
    if (st != KEYD_STATE_OK && st != KEYD_STATE_ERROR)
        (void)budget_save(); /* a fresh file, so that a missing one later is news */
    return st == KEYD_STATE_OK        ? "loaded"
           : st == KEYD_STATE_MISSING ? "missing"
           : st == KEYD_STATE_INVALID ? "invalid"
                                      : "error";
}

/* Charges one query to the pair (a, b): 0 with *left, overlap_budget, or
 * internal (not loaded, or the charge could not be written: fail closed). */
static unsigned budget_take(const char *a, const char *b, uint32_t *left)
{
    if (!B.loaded)
        return VST_KERR_INTERNAL;
    const char *lo = strcmp(a, b) <= 0 ? a : b, *hi = lo == a ? b : a;
    int64_t today = utc_day();
    if (B.day != today) {
        B.day = today;
        B.n = 0;
    }
    pair_t *q = NULL;
    for (size_t i = 0; i < B.n && q == NULL; i++)
        if (strcmp(B.p[i].lo, lo) == 0 && strcmp(B.p[i].hi, hi) == 0)
            q = &B.p[i];
    uint64_t limit = g_cfg.overlap_budget;
    if ((q != NULL && q->used >= limit) || limit == 0 || (q == NULL && B.n == MAX_PAIRS))
        return VST_KERR_OVERLAP_BUDGET;
    if (q == NULL) {
        q = &B.p[B.n++];
        snprintf(q->lo, sizeof q->lo, "%s", lo);
        snprintf(q->hi, sizeof q->hi, "%s", hi);
        q->used = 0;
    }
    q->used++;
    if (budget_save() != 0)
        return VST_KERR_INTERNAL; /* counted in memory all the same */
    uint64_t rest = limit - q->used;
    *left = rest > UINT32_MAX ? UINT32_MAX : (uint32_t)rest;
    return 0;
}

/* ---- the handlers */

static unsigned state_error(keyd_conn *c, int want)
{
    int have = c->overlap != NULL ? c->overlap->state : 0;
    return have == want ? 0 : VST_KERR_OVERLAP_STATE;
}

void h_overlap_open(keyd_conn *c)
{
    vst_overlap_open_req rq;
    vst_overlap_open_ok m;
    int rc = vst_overlap_open_req_decode(c->payload, c->h.len, &rq);
    if (rc != 0)
        return keyd_bad_payload(c, rc);
    if (c->overlap != NULL && c->overlap->state == Q_FEEDING)
        return keyd_reply_error(c, VST_KERR_OVERLAP_STATE);
    keyd_overlap_close(c); /* an answered query's unsigned answer */
    if (!keyd_domain_allowed(rq.domain))
        return keyd_reply_error(c, VST_KERR_INVALID_ARGUMENT);
    struct keyd_overlap *o = calloc(1, sizeof *o);
    if (o == NULL)
        return keyd_reply_error(c, VST_KERR_INTERNAL);
    unsigned e = budget_take(rq.collection_a, rq.collection_b, &m.budget_left);
    if (e != 0) {
        free(o);
        keyd_event(c->uid, "keyd.overlap_refused",
                   "{\"collection_a\":\"%s\",\"collection_b\":\"%s\",\"reason\":\"%s\"}",
                   rq.collection_a, rq.collection_b, vst_keyd_err_name(e));
        return keyd_reply_error(c, e);
    }
    o->state = Q_FEEDING;
    o->q = rq;
    c->overlap = o;
    if (keyd_reply_begin(c) != 0 || vst_overlap_open_ok_encode(&c->out, &m) != 0)
        return keyd_reply_error(c, VST_KERR_INTERNAL);
    keyd_reply_finish(c, VST_MSG_RESP(VST_MSG_OVERLAP_OPEN));
}

/* The query is dropped whole (a partial answer would count what nobody
 * asked for), its values wiped. */
static void abort_query(keyd_conn *c, unsigned code, const char *why)
{
    keyd_event(c->uid, "keyd.overlap_aborted",
               "{\"collection_a\":\"%s\",\"collection_b\":\"%s\",\"reason\":\"%s\"}",
               c->overlap->q.collection_a, c->overlap->q.collection_b, why);
    keyd_overlap_close(c);
    keyd_reply_error(c, code);
}

/* The side's collection layer for the values' version (a store
 * mid-rotation feeds two versions): NULL with *kerr. */
static vst_version_key *side_key(const struct keyd_overlap *o, side_t *s, int side, uint32_t v,
                                 unsigned *kerr)
{
    if (s->ck != NULL && s->ck_version == v)
        return s->ck;
    vst_version_key *ck =
        keyd_collection_key_new(v, side == 0 ? o->q.collection_a : o->q.collection_b, kerr);
    if (ck == NULL)
        return NULL;
    vst_version_key_free(s->ck);
    s->ck = ck;
    s->ck_version = v;
    return ck;
}

void h_overlap_feed(keyd_conn *c)
{
    vst_overlap_feed_req rq;
    vst_overlap_feed_ok m;
    int rc = vst_overlap_feed_req_decode(c->payload, c->h.len, &rq);
    if (rc != 0)
        return keyd_bad_payload(c, rc);
    unsigned e = state_error(c, Q_FEEDING);
    if (e != 0)
        return keyd_reply_error(c, e);
    struct keyd_overlap *o = c->overlap;
    side_t *s = &o->side[rq.side];
    if (s->n + rq.count > g_cfg.overlap_max_records ||
        held_total + rq.count > 2 * g_cfg.overlap_max_records)
        return abort_query(c, VST_KERR_OVERLAP_LIMIT, "overlap_limit");
    unsigned kerr = 0;
    vst_version_key *ck = side_key(o, s, rq.side, rq.key_version, &kerr);
    if (ck == NULL)
        return keyd_reply_error(c, kerr); /* the query stays open */
    keyd_charge ch = {.n = 1, .domain = {""}, .count = {rq.count}};
    e = keyd_usage_admit(c, VST_USAGE_OP_OVERLAP, &ch);
    if (e != 0)
        return keyd_reply_error(c, e);
    if (side_reserve(s, rq.count) != 0)
        return abort_query(c, VST_KERR_INTERNAL, "out_of_memory");
    uint8_t *at = s->buf + s->n * VST_CV_RECORD_LEN;
    memcpy(at, rq.values, (size_t)rq.count * VST_CV_RECORD_LEN);
    if (vst_link_strip(ck, at, rq.count) != 0)
        return abort_query(c, VST_KERR_INTERNAL, "internal");
    s->n += rq.count;
    held_total += rq.count;
    keyd_usage_done(c, VST_USAGE_OP_OVERLAP, &ch);
    m.held = s->n;
    if (keyd_reply_begin(c) != 0 || vst_overlap_feed_ok_encode(&c->out, &m) != 0)
        return keyd_reply_error(c, VST_KERR_INTERNAL);
    keyd_reply_finish(c, VST_MSG_RESP(VST_MSG_OVERLAP_FEED));
}

/* The rules of DESIGN.md §13 in the order 3, 1, 2: the first that holds
 * is the reason; a suppressed answer shows no overlap and no link. */
static void suppress(vst_overlap_result *r)
{
    uint64_t k = r->k;
    if (r->a < k || r->b < k)
        r->reason = 3;
    else if (r->overlap > 0 && r->overlap < k)
        r->reason = 1;
    else if (r->a - r->overlap < k || r->b - r->overlap < k)
        r->reason = 2;
    r->suppressed = r->reason != 0;
    if (r->suppressed) {
        r->overlap = 0;
        memset(r->links, 0, sizeof r->links);
    }
}

void h_overlap_run(keyd_conn *c)
{
    int rc = vst_empty_decode(c->payload, c->h.len);
    if (rc != 0)
        return keyd_bad_payload(c, rc);
    unsigned e = state_error(c, Q_FEEDING);
    if (e != 0)
        return keyd_reply_error(c, e);
    struct keyd_overlap *o = c->overlap;
    side_t *a = &o->side[0], *b = &o->side[1];
    vst_link_counts lc;
    static const uint8_t none[VST_CV_RECORD_LEN];
    rc = vst_link_match(a->n ? a->buf : none, a->n, b->n ? b->buf : none, b->n, &lc, NULL, NULL);
    vst_overlap_result *r = &o->r;
    *r = (vst_overlap_result){.a = a->n, .b = b->n, .k = o->q.k, .overlap = lc.overlap};
    memcpy(r->links, lc.links, sizeof r->links);
    OPENSSL_cleanse(&lc, sizeof lc);
    side_free(a); /* every value wiped and unmapped, now */
    side_free(b);
    if (rc != 0) {
        keyd_overlap_close(c);
        return keyd_reply_error(c, VST_KERR_INTERNAL);
    }
    suppress(r);
    o->state = Q_ANSWERED;
    keyd_event(c->uid, "keyd.overlap",
               "{\"domain\":\"%s\",\"collection_a\":\"%s\",\"filter_a\":\"%s\","
               "\"collection_b\":\"%s\",\"filter_b\":\"%s\",\"a\":%llu,\"b\":%llu,\"k\":%u,"
               "\"suppressed\":%s,\"reason\":%u,\"overlap\":%llu,\"links\":[%llu,%llu,%llu,%llu,"
               "%llu,%llu]}",
               o->q.domain, o->q.collection_a, o->q.filter_a, o->q.collection_b, o->q.filter_b,
               (unsigned long long)r->a, (unsigned long long)r->b, (unsigned)r->k,
               r->suppressed ? "true" : "false", (unsigned)r->reason,
               (unsigned long long)r->overlap, (unsigned long long)r->links[0],
               (unsigned long long)r->links[1], (unsigned long long)r->links[2],
               (unsigned long long)r->links[3], (unsigned long long)r->links[4],
               (unsigned long long)r->links[5]);
    if (keyd_reply_begin(c) != 0 || vst_overlap_result_encode(&c->out, r) != 0)
        return keyd_reply_error(c, VST_KERR_INTERNAL);
    keyd_reply_finish(c, VST_MSG_RESP(VST_MSG_OVERLAP_RUN));
}

/* keyd signs only what it built: the TBS from its own answer and the
 * query's names as OPEN recorded them; the peer adds the audit seq. */
void h_overlap_sign(keyd_conn *c)
{
    uint64_t seq;
    uint8_t tbs[VST_OVERLAP_TBS_MAX];
    int rc = vst_overlap_sign_req_decode(c->payload, c->h.len, &seq);
    if (rc != 0)
        return keyd_bad_payload(c, rc);
    unsigned e = state_error(c, Q_ANSWERED);
    if (e != 0)
        return keyd_reply_error(c, e);
    const struct keyd_overlap *o = c->overlap;
    vst_overlap_signed s = {.audit_seq = seq,
                            .domain = o->q.domain,
                            .collection_a = o->q.collection_a,
                            .filter_a = o->q.filter_a,
                            .collection_b = o->q.collection_b,
                            .filter_b = o->q.filter_b,
                            .r = o->r};
    size_t n = vst_overlap_tbs(&s, tbs);
    if (n == 0)
        return keyd_reply_error(c, VST_KERR_INTERNAL);
    keyd_charge ch = {.n = 1, .domain = {""}, .count = {1}};
    e = keyd_usage_admit(c, VST_USAGE_OP_SIGN_REPORT, &ch);
    if (e != 0)
        return keyd_reply_error(c, e);
    if (keyd_reply_signature(c, VST_MSG_OVERLAP_SIGN, tbs, n) != 0)
        return;
    keyd_usage_done(c, VST_USAGE_OP_SIGN_REPORT, &ch);
    keyd_overlap_close(c); /* one signature per answer */
}
