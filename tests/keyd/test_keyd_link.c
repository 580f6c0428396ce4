/* Linkage without a number on vst-keyd's side (issue 13, DESIGN.md §13)
 * against a real keyd: control values (CV_DERIVE, CV_REKEY) and the
 * count-only overlap query (OVERLAP_OPEN/FEED/RUN/SIGN).
 *
 *  - CV_DERIVE is served on the data socket only, for allowed domains,
 *    charged to the domain's budget and counted (derive_cv); a person
 *    outside the normalized form (lowercase, an umlaut's bytes, a bad date,
 *    sex F) is a bad frame; CV_REKEY and OVERLAP_* are refused there;
 *  - an overlap of two collections with known shared persons, one pass
 *    per kind of variant, gives the right counts; each suppression reason
 *    (3 small side, 1 small overlap, 2 small remainder) hides the counts;
 *    the signature verifies with the published key over vst_overlap_tbs;
 *  - the messages out of order answer overlap_state; too many records
 *    overlap_limit; the pair's budget runs out (overlap_budget) and stays
 *    out after a restart;
 *  - after a rotation, CV_REKEY gives the values CV_DERIVE gives under the
 *    new version, and they link.
 *
 * Every control value is noted as a secret: stopping keyd scans its events
 * and log for them (fixture.c). Names are synthetic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hex.h"
#include "core/signed.h"
#include "core/usage.h"
#include "cunit_main.h"
#include "fixture.h"

#define DOMAIN "ph/child"
#define COLL_A "measles_case"
#define COLL_B "school_entry"

static fx_store S;
static fx_keyd K;

/* With seccomp the locked mappings of a query must get by with the
 * allowlist; LeakSanitizer cannot run under it (as in test_keyd). */
static int with_seccomp;

static int start_with(const char *const *extra, uint64_t budget_minute)
{
    memset(&K, 0, sizeof K);
    if (fx_store_dev(&S, NULL) != 0)
        return -1;
    fx_keyd_opts o = {.store = &S,
                      .dev = 1,
                      .extra = extra,
                      .budget_minute = budget_minute,
                      .seccomp = with_seccomp,
                      .no_leak_check = with_seccomp};
    return fx_keyd_start(&K, &o);
}

static int start(void)
{
    return start_with(NULL, 0);
}

/* ------------------------------------------------------------ persons */

/* Given and family names whose Kölner codes are all different, and
 * different between the two lists: every (given, family) pair is a person
 * whose six keys collide with no other pair's. */
static const char *const GIVEN[6] = {"LEA", "BEN", "PAUL", "EMMA", "LUKAS", "JONAS"};
static const char *const FAMILY[6] = {"MEIER", "SCHMIDT", "BECKER", "WAGNER", "FISCHER", "WEBER"};

static void tokens(vst_name_tokens *t, const char *s)
{
    memset(t, 0, sizeof *t);
    if (*s == '\0')
        return;
    t->n = 1;
    t->len[0] = (uint8_t)strlen(s);
    memcpy(t->tok[0], s, t->len[0]);
}

/* Person i (0..35) as collection A records it. */
static void person(vst_person *p, int i)
{
    memset(p, 0, sizeof *p);
    tokens(&p->given, GIVEN[i % 6]);
    tokens(&p->family, FAMILY[i / 6]);
    strcpy(p->date, "20150305");
    p->sex = i % 2 ? 'M' : 'W';
}

/* Person i as collection B records it: shared persons with the error of
 * variant i % 6, whose key links them (pass i % 6). */
static void person_b(vst_person *p, int i)
{
    person(p, i);
    char g[48];
    switch (i % 6) {
    case 1: /* a spelling the phonetic code absorbs (a mute H) */
        snprintf(g, sizeof g, "%sH", GIVEN[i % 6]);
        tokens(&p->given, g);
        break;
    case 2: /* given and family swapped, sex recorded otherwise */
        tokens(&p->given, FAMILY[i / 6]);
        tokens(&p->family, GIVEN[i % 6]);
        p->sex = 'D';
        break;
    case 3: /* day and month swapped */
        strcpy(p->date, "20150503");
        break;
    case 4: /* a wrong year */
        strcpy(p->date, "20160305");
        break;
    case 5: /* married: the old family name is the birth name */
        tokens(&p->birth, FAMILY[i / 6]);
        tokens(&p->family, "KRAUSE");
        break;
    }
}

/* CV_DERIVE of persons on the data socket (one frame), each value noted
 * as a secret. */
static int derive(const vst_person *p, uint32_t n, const char *coll, uint8_t *out, uint32_t *kv)
{
    vst_keyd *c = fx_connect(K.data_sock);
    if (c == NULL)
        return -100;
    int rc = vst_keyd_cv_derive(c, DOMAIN, coll, p, n, kv, out, (size_t)n * VST_CV_RECORD_LEN);
    vst_keyd_close(c);
    for (size_t i = 0; rc == 0 && i < (size_t)n * VST_LINK_NKEYS; i++) {
        char hex[33];
        fx_hex16(out + i * 16, hex);
        fx_secret(hex, 32);
    }
    return rc;
}

/* Records of persons lo..hi-1 of collection A (b = 0) or B (b = 1). */
static uint8_t *records(int b, int lo, int hi, uint32_t *kv)
{
    int n = hi - lo;
    vst_person *p = calloc((size_t)n, sizeof *p);
    uint8_t *v = malloc((size_t)n * VST_CV_RECORD_LEN);
    CU_ASSERT_FATAL(p != NULL && v != NULL);
    for (int i = 0; i < n; i++)
        (b ? person_b : person)(&p[i], lo + i);
    int rc = derive(p, (uint32_t)n, b ? COLL_B : COLL_A, v, kv);
    free(p);
    CU_ASSERT_EQUAL(rc, 0);
    return v;
}

/* The total of (socket, op, domain) of uid 0 in keyd's last usage report
 * naming it (every report verified); -1 if none does. */
static long long usage_total(const char *sock, const char *op, const char *domain)
{
    uint8_t pub[32];
    CU_ASSERT_FATAL(vst_unhex(S.pubkey_hex, 32, pub) == 0);
    json_t *all = fx_events(&K);
    size_t i;
    json_t *ev;
    long long total = -1;
    json_array_foreach(all, i, ev)
    {
        const char *a = json_string_value(json_object_get(ev, "action"));
        if (a == NULL || strcmp(a, "keyd.usage") != 0)
            continue;
        vst_usage u;
        uint8_t kid[32], sig[64];
        CU_ASSERT_FATAL(vst_usage_parse(json_object_get(ev, "details"), &u, kid, sig) == 0);
        CU_ASSERT(vst_usage_verify(pub, &u, sig) == 1);
        for (size_t e = 0; e < u.n; e++)
            if (strcmp(vst_usage_sock_name(u.e[e].sock), sock) == 0 &&
                strcmp(vst_usage_op_name(u.e[e].op), op) == 0 && strcmp(u.e[e].domain, domain) == 0)
                total = (long long)u.e[e].total;
    }
    json_decref(all);
    return total;
}

/* ------------------------------------------------------------ CV_DERIVE */

/* On the data socket: six values per person, the same for the same
 * person, none shared between persons or with another collection; not on
 * the admin socket; not for a domain keyd does not serve; counted per
 * domain. */
static void test_cv_derive(void)
{
    CU_ASSERT_EQUAL_FATAL(start(), 0);
    uint32_t kv = 0, kv2 = 0;
    uint8_t *a = records(0, 0, 3, &kv);
    uint8_t *again = records(0, 0, 3, &kv2);
    uint8_t *b = records(1, 0, 1, &kv2); /* person 0 in B: the same person, exact */
    CU_ASSERT(kv == 1 && kv2 == 1);
    CU_ASSERT(memcmp(a, again, 3 * VST_CV_RECORD_LEN) == 0);
    for (int i = 0; i < 3 * VST_LINK_NKEYS; i++)
        for (int j = i + 1; j < 3 * VST_LINK_NKEYS; j++)
            CU_ASSERT(memcmp(a + 16 * i, a + 16 * j, 16) != 0);
    /* The same person in another collection: no value in common. */
    for (int k = 0; k < VST_LINK_NKEYS; k++)
        CU_ASSERT(memcmp(a + 16 * k, b + 16 * k, 16) != 0);
    vst_person p;
    person(&p, 0);
    uint8_t out[VST_CV_RECORD_LEN];
    vst_keyd *c = fx_connect(K.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(vst_keyd_cv_derive(c, DOMAIN, COLL_A, &p, 1, &kv, out, sizeof out),
                    VST_KERR_FORBIDDEN);
    vst_keyd_close(c);
    c = fx_connect(K.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(vst_keyd_cv_derive(c, "ph/unknown", COLL_A, &p, 1, &kv, out, sizeof out),
                    VST_KERR_INVALID_ARGUMENT);
    /* ... the connection stays usable. */
    CU_ASSERT_EQUAL(vst_keyd_cv_derive(c, DOMAIN, COLL_A, &p, 1, &kv, out, sizeof out), 0);
    CU_ASSERT(memcmp(out, a, sizeof out) == 0);
    vst_keyd_close(c);
    free(a);
    free(again);
    free(b);
    fx_keyd_stop(&K);
    CU_ASSERT_EQUAL(usage_total("data", "derive_cv", DOMAIN), 3 + 3 + 1 + 1);
    CU_ASSERT_EQUAL(usage_total("admin", "derive_cv", DOMAIN), -1);
}

/* A valid request with one byte replaced, sent raw: the answer code. */
static int derive_patched(const char *what, uint8_t byte)
{
    vst_person p;
    person(&p, 0);
    vst_wr w = VST_WR_INIT;
    CU_ASSERT_FATAL(vst_cv_req_encode(&w, DOMAIN, COLL_A, &p, 1) == 0);
    uint8_t *req = malloc(vst_wr_len(&w));
    CU_ASSERT_FATAL(req != NULL);
    memcpy(req, vst_wr_data(&w), vst_wr_len(&w));
    size_t fixed = 1 + strlen(DOMAIN) + 1 + strlen(COLL_A) + 4; /* then the person */
    /* person: sex, date (8), given n, len, "LEA", ... */
    size_t at = strcmp(what, "sex") == 0    ? fixed
                : strcmp(what, "date") == 0 ? fixed + 1 + 4          /* the month's tens */
                                            : fixed + 1 + 8 + 2 + 1; /* the E of LEA */
    req[at] = byte;
    uint8_t *resp;
    size_t len;
    vst_keyd *c = fx_connect(K.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    int rc = vst_keyd_call(c, VST_MSG_CV_DERIVE, req, vst_wr_len(&w), &resp, &len);
    if (rc == 0)
        vst_frame_free(resp, len);
    vst_keyd_close(c);
    free(req);
    vst_wr_free(&w);
    return rc;
}

/* keyd hashes normalized tokens only: anything else closes the
 * connection as a bad frame, nothing is derived or counted. */
static void test_cv_derive_not_normalized(void)
{
    CU_ASSERT_EQUAL_FATAL(start(), 0);
    CU_ASSERT_EQUAL(derive_patched("token", 'E'), 0); /* the control */
    CU_ASSERT_EQUAL(derive_patched("token", 'e'), VST_KERR_BAD_FRAME);
    CU_ASSERT_EQUAL(derive_patched("token", 0xC3), VST_KERR_BAD_FRAME); /* UTF-8 of Ä.. */
    CU_ASSERT_EQUAL(derive_patched("token", 0x84), VST_KERR_BAD_FRAME);
    CU_ASSERT_EQUAL(derive_patched("token", '-'), VST_KERR_BAD_FRAME);
    CU_ASSERT_EQUAL(derive_patched("date", '2'), VST_KERR_BAD_FRAME); /* month 23 */
    CU_ASSERT_EQUAL(derive_patched("sex", 'F'), VST_KERR_BAD_FRAME);
    CU_ASSERT_EQUAL(derive_patched("sex", 'W'), 0);
    fx_keyd_stop(&K);
    CU_ASSERT_EQUAL(usage_total("data", "derive_cv", DOMAIN), 2);
    CU_ASSERT_EQUAL(fx_event_count(&K, "keyd.frame_rejected"), 6);
}

/* One person, one unit of the domain's pseudonymization budget. */
static void test_cv_derive_budget(void)
{
    CU_ASSERT_EQUAL_FATAL(start_with(NULL, 5), 0);
    uint32_t kv;
    uint8_t *v = records(0, 0, 3, &kv);
    free(v);
    vst_person p[3];
    for (int i = 0; i < 3; i++)
        person(&p[i], 10 + i);
    uint8_t out[3 * VST_CV_RECORD_LEN];
    CU_ASSERT_EQUAL(derive(p, 3, COLL_A, out, &kv), VST_KERR_BUDGET_EXCEEDED);
    CU_ASSERT_EQUAL(derive(p, 2, COLL_A, out, &kv), 0);
    fx_keyd_stop(&K);
    CU_ASSERT_EQUAL(fx_event_count(&K, "keyd.budget_alarm"), 1);
    json_t *ev = fx_event_last(&K, "keyd.budget_alarm");
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "domain") ? fx_ev_str(ev, "domain") : "", DOMAIN);
    json_decref(ev);
}

/* CV_REKEY and the overlap messages are the operator's. */
static void test_data_socket_refused(void)
{
    CU_ASSERT_EQUAL_FATAL(start(), 0);
    uint8_t v[VST_CV_RECORD_LEN] = {1}, sig[64];
    vst_overlap_open_req rq = {DOMAIN, COLL_A, "", COLL_B, "", 5};
    vst_overlap_result r;
    int rcs[6];
    for (int i = 0; i < 6; i++) {
        vst_keyd *c = fx_connect(K.data_sock);
        CU_ASSERT_PTR_NOT_NULL_FATAL(c);
        rcs[i] = i == 0   ? vst_keyd_cv_rekey(c, COLL_A, 1, 2, v, 1)
                 : i == 1 ? vst_keyd_overlap_open(c, &rq, NULL)
                 : i == 2 ? vst_keyd_overlap_feed(c, 0, 1, v, 1, NULL)
                 : i == 3 ? vst_keyd_overlap_run(c, &r)
                 : i == 4 ? vst_keyd_overlap_sign(c, 1, sig)
                          : 0;
        vst_keyd_close(c);
    }
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(rcs[i], VST_KERR_FORBIDDEN);
    fx_keyd_stop(&K);
    CU_ASSERT_EQUAL(fx_event_count(&K, "keyd.frame_rejected"), 5);
    CU_ASSERT_EQUAL(usage_total("data", "overlap", ""), -1);
}

/* ------------------------------------------------------------ overlap */

/* Feeds A (persons 0..27) and B (0..17 shared, 28..35 B-only) and runs. */
static int overlap_ab(uint16_t k, int a_hi, int shared, vst_overlap_result *r, uint8_t sig[64],
                      uint64_t seq)
{
    uint32_t kv;
    uint8_t *a = records(0, 0, a_hi, &kv);
    uint8_t *b1 = shared > 0 ? records(1, 0, shared, &kv) : NULL;
    uint8_t *b2 = records(1, 28, 36, &kv);
    vst_overlap_open_req rq = {DOMAIN, COLL_A, "year=2025", COLL_B, "", k};
    vst_keyd *c = fx_connect(K.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    int rc = vst_keyd_overlap_open(c, &rq, NULL);
    for (int off = 0; rc == 0 && off < a_hi; off += 7) {
        int n = a_hi - off < 7 ? a_hi - off : 7;
        uint64_t held = 0;
        rc = vst_keyd_overlap_feed(c, 0, kv, a + (size_t)off * VST_CV_RECORD_LEN, (uint32_t)n,
                                   &held);
        CU_ASSERT(rc != 0 || held == (uint64_t)(off + n));
    }
    if (rc == 0 && shared > 0)
        rc = vst_keyd_overlap_feed(c, 1, kv, b1, (uint32_t)shared, NULL);
    if (rc == 0)
        rc = vst_keyd_overlap_feed(c, 1, kv, b2, 8, NULL);
    if (rc == 0)
        rc = vst_keyd_overlap_run(c, r);
    if (rc == 0 && sig != NULL)
        rc = vst_keyd_overlap_sign(c, seq, sig);
    vst_keyd_close(c);
    free(a);
    free(b1);
    free(b2);
    return rc;
}

static int verifies(const vst_overlap_result *r, uint64_t seq, const char *fa, const char *fb,
                    const uint8_t sig[64])
{
    uint8_t pub[32], tbs[VST_OVERLAP_TBS_MAX];
    CU_ASSERT_FATAL(vst_unhex(S.pubkey_hex, 32, pub) == 0);
    vst_overlap_signed s = {seq, DOMAIN, COLL_A, fa, COLL_B, fb, *r};
    size_t n = vst_overlap_tbs(&s, tbs);
    return n > 0 && vst_ed25519_verify(pub, tbs, n, sig) == 1;
}

static void test_overlap_end_to_end(void)
{
    with_seccomp = 1;
    int started = start();
    with_seccomp = 0;
    CU_ASSERT_EQUAL_FATAL(started, 0);
    vst_overlap_result r;
    uint8_t sig[64];
    /* 28 in A, 18 + 8 in B, 18 shared: three per pass. */
    CU_ASSERT_EQUAL_FATAL(overlap_ab(3, 28, 18, &r, sig, 77), 0);
    CU_ASSERT(r.a == 28 && r.b == 26 && r.k == 3);
    CU_ASSERT(r.suppressed == 0 && r.reason == 0 && r.overlap == 18);
    for (int k = 0; k < VST_LINK_NKEYS; k++)
        CU_ASSERT_EQUAL(r.links[k], 3);
    CU_ASSERT(verifies(&r, 77, "year=2025", "", sig));
    CU_ASSERT(!verifies(&r, 78, "year=2025", "", sig)); /* another audit seq */
    CU_ASSERT(!verifies(&r, 77, "year=2026", "", sig)); /* another filter */
    vst_overlap_result forged = r;
    forged.links[0] = 4, forged.links[5] = 2;
    CU_ASSERT(!verifies(&forged, 77, "year=2025", "", sig));
    /* k = 5: still shown (10 and 8 left, 18 >= 5). */
    CU_ASSERT_EQUAL_FATAL(overlap_ab(5, 28, 18, &r, NULL, 0), 0);
    CU_ASSERT(r.suppressed == 0 && r.overlap == 18);

    /* reason 3: a side below k (A has 2 persons). */
    CU_ASSERT_EQUAL_FATAL(overlap_ab(3, 2, 18, &r, sig, 80), 0);
    CU_ASSERT(r.a == 2 && r.b == 26 && r.suppressed == 1 && r.reason == 3 && r.overlap == 0);
    for (int k = 0; k < VST_LINK_NKEYS; k++)
        CU_ASSERT_EQUAL(r.links[k], 0);
    CU_ASSERT(verifies(&r, 80, "year=2025", "", sig)); /* the suppressed answer is signed */
    /* reason 1: 0 < overlap (2) < k; A = 28 with persons 0..1 shared. */
    CU_ASSERT_EQUAL_FATAL(overlap_ab(3, 28, 2, &r, NULL, 0), 0);
    CU_ASSERT(r.a == 28 && r.b == 10 && r.suppressed == 1 && r.reason == 1 && r.overlap == 0);
    /* reason 2: A - overlap < k (A = 20, 18 shared). */
    CU_ASSERT_EQUAL_FATAL(overlap_ab(3, 20, 18, &r, NULL, 0), 0);
    CU_ASSERT(r.a == 20 && r.b == 26 && r.suppressed == 1 && r.reason == 2 && r.overlap == 0);
    /* No overlap at all is an answer: 0. */
    CU_ASSERT_EQUAL_FATAL(overlap_ab(3, 28, 0, &r, NULL, 0), 0);
    CU_ASSERT(r.suppressed == 0 && r.overlap == 0 && r.b == 8);
    fx_keyd_stop(&K);
    /* Each query one event, counts and names only. */
    CU_ASSERT_EQUAL(fx_event_count(&K, "keyd.overlap"), 6);
    json_t *ev = fx_event_last(&K, "keyd.overlap");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    CU_ASSERT_EQUAL(fx_ev_int(ev, "a"), 28);
    CU_ASSERT_EQUAL(fx_ev_int(ev, "b"), 8);
    CU_ASSERT_EQUAL(fx_ev_int(ev, "k"), 3);
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "filter_a") ? fx_ev_str(ev, "filter_a") : "", "year=2025");
    json_decref(ev);
    /* Fed records counted: 28+18+8, 28+18+8, 2+18+8, 28+2+8, 20+18+8, 28+8. */
    CU_ASSERT_EQUAL(usage_total("admin", "overlap", ""), 54 + 54 + 28 + 38 + 46 + 36);
    CU_ASSERT_EQUAL(usage_total("admin", "sign_report", ""), 2);
}

/* Out of order: overlap_state, the connection kept. */
static void test_overlap_state(void)
{
    CU_ASSERT_EQUAL_FATAL(start(), 0);
    uint32_t kv;
    uint8_t *a = records(0, 0, 4, &kv);
    uint8_t sig[64];
    vst_overlap_result r;
    vst_overlap_open_req rq = {DOMAIN, COLL_A, "", COLL_B, "", 3};
    vst_keyd *c = fx_connect(K.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(vst_keyd_overlap_sign(c, 5, sig), VST_KERR_OVERLAP_STATE);
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c, 0, kv, a, 4, NULL), VST_KERR_OVERLAP_STATE);
    CU_ASSERT_EQUAL(vst_keyd_overlap_run(c, &r), VST_KERR_OVERLAP_STATE);
    CU_ASSERT_EQUAL(vst_keyd_overlap_open(c, &rq, NULL), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_open(c, &rq, NULL), VST_KERR_OVERLAP_STATE);
    CU_ASSERT_EQUAL(vst_keyd_overlap_sign(c, 5, sig), VST_KERR_OVERLAP_STATE); /* before RUN */
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c, 0, kv, a, 4, NULL), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c, 1, 9, a, 4, NULL), VST_KERR_UNKNOWN_VERSION);
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c, 1, kv, a, 4, NULL), 0); /* still open */
    CU_ASSERT_EQUAL(vst_keyd_overlap_run(c, &r), 0);
    /* A's values fed as B's lose B's layer into garbage: nothing links. */
    CU_ASSERT(r.a == 4 && r.b == 4 && !r.suppressed && r.overlap == 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c, 0, kv, a, 4, NULL), VST_KERR_OVERLAP_STATE);
    CU_ASSERT_EQUAL(vst_keyd_overlap_run(c, &r), VST_KERR_OVERLAP_STATE);
    CU_ASSERT_EQUAL(vst_keyd_overlap_sign(c, 5, sig), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_sign(c, 6, sig), VST_KERR_OVERLAP_STATE); /* once */
    /* The next query on the same connection. */
    CU_ASSERT_EQUAL(vst_keyd_overlap_open(c, &rq, NULL), 0);
    vst_keyd_close(c); /* mid-query: keyd wipes it */
    /* A domain keyd does not serve. */
    c = fx_connect(K.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    strcpy(rq.domain, "ph/unknown");
    CU_ASSERT_EQUAL(vst_keyd_overlap_open(c, &rq, NULL), VST_KERR_INVALID_ARGUMENT);
    vst_keyd_close(c);
    free(a);
    fx_keyd_stop(&K);
    CU_ASSERT_EQUAL(fx_event_count(&K, "keyd.frame_rejected"), 0);
}

/* overlap-max-records per side: the query is dropped; a connection closed
 * mid-query gives its room back. */
static void test_overlap_limit(void)
{
    const char *const extra[] = {"--overlap-max-records", "5", NULL};
    CU_ASSERT_EQUAL_FATAL(start_with(extra, 0), 0);
    uint32_t kv;
    uint8_t *a = records(0, 0, 6, &kv);
    vst_overlap_result r;
    vst_overlap_open_req rq = {DOMAIN, COLL_A, "", COLL_B, "", 3};
    vst_keyd *c = fx_connect(K.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(vst_keyd_overlap_open(c, &rq, NULL), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c, 0, kv, a, 3, NULL), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c, 1, kv, a, 5, NULL), 0); /* 5 per side */
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c, 0, kv, a, 3, NULL), VST_KERR_OVERLAP_LIMIT);
    CU_ASSERT_EQUAL(vst_keyd_overlap_run(c, &r), VST_KERR_OVERLAP_STATE); /* dropped */
    CU_ASSERT_EQUAL(vst_keyd_overlap_open(c, &rq, NULL), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c, 0, kv, a, 6, NULL), VST_KERR_OVERLAP_LIMIT);
    /* All connections together hold at most twice the limit: a full
     * query elsewhere leaves no room, until its connection closes — which
     * drops its values. */
    CU_ASSERT_EQUAL(vst_keyd_overlap_open(c, &rq, NULL), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c, 0, kv, a, 5, NULL), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c, 1, kv, a, 5, NULL), 0);
    vst_keyd *c2 = fx_connect(K.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c2);
    CU_ASSERT_EQUAL(vst_keyd_overlap_open(c2, &rq, NULL), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c2, 0, kv, a, 1, NULL), VST_KERR_OVERLAP_LIMIT);
    vst_keyd_close(c); /* mid-query */
    CU_ASSERT_EQUAL(vst_keyd_overlap_open(c2, &rq, NULL), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c2, 0, kv, a, 5, NULL), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c2, 1, kv, a, 5, NULL), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_run(c2, &r), 0);
    CU_ASSERT(r.a == 5 && r.b == 5);
    vst_keyd_close(c2);
    free(a);
    fx_keyd_stop(&K);
    CU_ASSERT_EQUAL(fx_event_count(&K, "keyd.overlap_aborted"), 3);
    CU_ASSERT_EQUAL(fx_event_count(&K, "keyd.overlap"), 1);
}

/* overlap-budget per pair and UTC day, charged at OPEN, kept across a
 * restart; the pair is unordered; another pair has its own. */
static void test_overlap_budget(void)
{
    const char *const extra[] = {"--overlap-budget", "2", NULL};
    CU_ASSERT_EQUAL_FATAL(start_with(extra, 0), 0);
    vst_overlap_open_req ab = {DOMAIN, COLL_A, "", COLL_B, "", 3};
    vst_overlap_open_req ba = {DOMAIN, COLL_B, "", COLL_A, "district=06412", 3};
    vst_overlap_open_req ac = {DOMAIN, COLL_A, "", "other", "", 3};
    uint32_t left = 99;
    for (int i = 0; i < 2; i++) {
        vst_keyd *c = fx_connect(K.admin_sock);
        CU_ASSERT_PTR_NOT_NULL_FATAL(c);
        CU_ASSERT_EQUAL(vst_keyd_overlap_open(c, i ? &ba : &ab, &left), 0);
        CU_ASSERT_EQUAL(left, (uint32_t)(1 - i));
        vst_keyd_close(c);
    }
    vst_keyd *c = fx_connect(K.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(vst_keyd_overlap_open(c, &ab, &left), VST_KERR_OVERLAP_BUDGET);
    CU_ASSERT_EQUAL(vst_keyd_overlap_open(c, &ba, &left), VST_KERR_OVERLAP_BUDGET);
    CU_ASSERT_EQUAL(vst_keyd_overlap_open(c, &ac, &left), 0);
    CU_ASSERT_EQUAL(left, 1);
    vst_keyd_close(c);
    fx_keyd_stop(&K);
    /* A restart refills nothing. */
    fx_keyd_opts o = {.store = &S, .dev = 1, .extra = extra};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&K, &o), 0);
    c = fx_connect(K.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(vst_keyd_overlap_open(c, &ab, &left), VST_KERR_OVERLAP_BUDGET);
    CU_ASSERT_EQUAL(vst_keyd_overlap_open(c, &ac, &left), 0);
    CU_ASSERT_EQUAL(left, 0);
    vst_keyd_close(c);
    fx_keyd_stop(&K);
    CU_ASSERT_EQUAL(fx_event_count(&K, "keyd.overlap_refused"), 3);
    /* The state file was there at the restart: no reset recorded then. */
    CU_ASSERT_EQUAL(fx_event_count(&K, "keyd.state_reset"), 1);
    /* overlap-budget 0: no query at all. */
    const char *const none[] = {"--overlap-budget", "0", NULL};
    CU_ASSERT_EQUAL_FATAL(start_with(none, 0), 0);
    c = fx_connect(K.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(vst_keyd_overlap_open(c, &ab, &left), VST_KERR_OVERLAP_BUDGET);
    vst_keyd_close(c);
    fx_keyd_stop(&K);
}

/* ------------------------------------------------------------ rotation */

/* After ROTATE, CV_REKEY moves stored values to the new version: they
 * equal what CV_DERIVE gives under it, and they link with the other
 * collection's new values — as do values still under the old version,
 * fed with their version (a store mid-rotation). */
static void test_rotate_rekey(void)
{
    CU_ASSERT_EQUAL_FATAL(start(), 0);
    enum { N = 12 };
    uint32_t kv1, kv2;
    uint8_t *old = records(0, 0, N, &kv1);
    CU_ASSERT_EQUAL(kv1, 1);
    vst_keyd *c = fx_connect(K.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    uint32_t nv = 0;
    CU_ASSERT_EQUAL_FATAL(vst_keyd_rotate(c, &nv), 0);
    CU_ASSERT_EQUAL(nv, 2);
    uint8_t *moved = malloc(N * VST_CV_RECORD_LEN);
    CU_ASSERT_FATAL(moved != NULL);
    memcpy(moved, old, N * VST_CV_RECORD_LEN);
    CU_ASSERT_EQUAL(vst_keyd_cv_rekey(c, COLL_A, 1, 2, moved, N), 0);
    CU_ASSERT(memcmp(moved, old, N * VST_CV_RECORD_LEN) != 0);
    for (size_t i = 0; i < (size_t)N * VST_LINK_NKEYS; i++) {
        char hex[33];
        fx_hex16(moved + 16 * i, hex);
        fx_secret(hex, 32);
    }
    /* Only forward, to the current version. */
    uint8_t tmp[VST_CV_RECORD_LEN];
    memcpy(tmp, moved, sizeof tmp);
    CU_ASSERT_EQUAL(vst_keyd_cv_rekey(c, COLL_A, 2, 1, tmp, 1), VST_KERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(vst_keyd_cv_rekey(c, COLL_A, 1, 3, tmp, 1), VST_KERR_INVALID_ARGUMENT);
    vst_keyd_close(c);
    uint8_t *fresh = records(0, 0, N, &kv2);
    CU_ASSERT_EQUAL(kv2, 2);
    CU_ASSERT(memcmp(moved, fresh, N * VST_CV_RECORD_LEN) == 0);
    /* They link with B's values derived under version 2 (persons 0..11:
     * two per pass). */
    uint8_t *b = records(1, 0, N, &kv2);
    vst_overlap_open_req rq = {DOMAIN, COLL_A, "", COLL_B, "", 3};
    vst_overlap_result r;
    c = fx_connect(K.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(vst_keyd_overlap_open(c, &rq, NULL), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c, 0, 2, moved, N / 2, NULL), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c, 0, 1, old + N / 2 * VST_CV_RECORD_LEN, N / 2, NULL),
                    0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c, 1, 2, b, N, NULL), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_run(c, &r), 0);
    vst_keyd_close(c);
    /* All 12 shared: b - overlap = 0 < k hides the count; the links are
     * seen with a larger A in the next query. */
    CU_ASSERT(r.a == N && r.b == N && r.suppressed && r.reason == 2);
    uint8_t *extra = records(0, 20, 30, &kv2);
    uint8_t *extra_b = records(1, 30, 36, &kv2);
    c = fx_connect(K.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(vst_keyd_overlap_open(c, &rq, NULL), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c, 0, 2, moved, N, NULL), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c, 0, 2, extra, 10, NULL), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c, 1, 2, b, N, NULL), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_feed(c, 1, 2, extra_b, 6, NULL), 0);
    CU_ASSERT_EQUAL(vst_keyd_overlap_run(c, &r), 0);
    vst_keyd_close(c);
    CU_ASSERT(r.suppressed == 0 && r.overlap == N);
    for (int k = 0; k < VST_LINK_NKEYS; k++)
        CU_ASSERT_EQUAL(r.links[k], 2);
    free(old);
    free(moved);
    free(fresh);
    free(b);
    free(extra);
    free(extra_b);
    fx_keyd_stop(&K);
    CU_ASSERT_EQUAL(usage_total("admin", "cv_rekey", ""), N);
}

int vst_register_tests(void)
{
    static const vst_test cv[] = {
        {"cv_derive: data socket, allowed domains, counted", test_cv_derive},
        {"cv_derive: only normalized persons", test_cv_derive_not_normalized},
        {"cv_derive: the domain's budget", test_cv_derive_budget},
        {"cv_rekey and overlap_*: not on the data socket", test_data_socket_refused},
        {"rotate + cv_rekey: the values of the new version, linked", test_rotate_rekey},
        {NULL, NULL},
    };
    static const vst_test ov[] = {
        {"counts per pass, suppression reasons, signature", test_overlap_end_to_end},
        {"messages out of order: overlap_state", test_overlap_state},
        {"overlap-max-records: overlap_limit", test_overlap_limit},
        {"the pair budget, across a restart", test_overlap_budget},
        {NULL, NULL},
    };
    CU_pSuite s = CU_add_suite("control values", NULL, fx_suite_cleanup);
    if (s == NULL)
        return CU_get_error();
    for (size_t i = 0; cv[i].name != NULL; i++)
        if (CU_add_test(s, cv[i].name, cv[i].fn) == NULL)
            return CU_get_error();
    s = CU_add_suite("overlap queries", NULL, fx_suite_cleanup);
    if (s == NULL)
        return CU_get_error();
    for (size_t i = 0; ov[i].name != NULL; i++)
        if (CU_add_test(s, ov[i].name, ov[i].fn) == NULL)
            return CU_get_error();
    return CUE_SUCCESS;
}
