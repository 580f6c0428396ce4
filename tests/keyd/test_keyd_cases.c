/* Disclosed pseudonyms and objections on vst-keyd's side (issue 12,
 * DESIGN.md §12) against a real keyd: DISCLOSE, OBJECT, the exception list
 * in PSEUDONYMIZE and RELEASE_MAP.
 *
 *  - a disclosed person's identifier yields P* from then on (the P*
 *    DISCLOSE answered), never P again; two persons get different P*; the
 *    same DISCLOSE twice answers the same case; P* disclosed in turn gets a
 *    substitute of its own;
 *  - withheld identifiers come back flagged, in exactly their positions of
 *    a 16,384-identifier batch of two sections, and with zero bytes;
 *  - both survive a keyd restart, a SIGKILL right after the answer (the
 *    case was on disk before it), a rotation and a re-key (REKEY of the old
 *    pseudonyms equals a fresh PSEUDONYMIZE), and a key retirement;
 *  - OBJECT after DISCLOSE answers P* and withholds; DISCLOSE of a withheld
 *    person is refused;
 *  - both messages are refused on the data socket;
 *  - RELEASE_MAP lists persons with a case (P, P*, any version) as
 *    excluded;
 *  - keyd's events name the case and domain only; its usage reports count
 *    disclose and object; the sealed list holds what was asked, and no
 *    identifier, pseudonym, inner value or I* reaches keyd's log or events
 *    (fixture.c scans both at every stop).
 *
 * Every keyd here runs with LeakSanitizer on and must exit 0. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hex.h"
#include "core/usage.h"
#include "cunit_main.h"
#include "derive.h"
#include "fixture.h"
#include "keystore.h"
#include "shamir.h"
#include "cli/gen/gen.h"

#define DOM "sgb5/insured"

static fx_store S;
static fx_keyd K;
static fx_keyd_opts O;

/* ------------------------------------------------------------ helpers */

static int start(int seccomp)
{
    memset(&K, 0, sizeof K);
    if (fx_store_dev(&S, NULL) != 0)
        return -1;
    /* LeakSanitizer cannot run under seccomp. */
    O = (fx_keyd_opts){.store = &S, .dev = 1, .seccomp = seccomp, .no_leak_check = seccomp};
    return fx_keyd_start(&K, &O);
}

static int restart(void)
{
    fx_keyd_stop(&K);
    return fx_keyd_start(&K, &O);
}

/* n KVNRs (10 bytes each, concatenated), noted as secrets. */
static char *kvnrs(uint64_t seed, size_t n)
{
    vst_gen *g = vst_gen_new(seed);
    char *ids = malloc(n * 10 + 1);
    for (size_t i = 0; g != NULL && ids != NULL && i < n; i++) {
        char one[VST_ID_MAXLEN + 1];
        if (vst_gen_id(g, VST_ID_KVNR, one) != 10) {
            free(ids);
            ids = NULL;
            break;
        }
        memcpy(ids + 10 * i, one, 10);
        fx_secret(one, 10);
    }
    vst_gen_free(g);
    return ids;
}

static void note16(const uint8_t *p)
{
    char hex[33];
    fx_hex16(p, hex);
    fx_secret(hex, 32);
}

/* PSEUDONYMIZE n KVNRs in two sections (the first n/2, the rest) on a new
 * data connection: out gets n * 16 bytes, withheld (may be NULL) a flag
 * per identifier. Pseudonyms are noted as secrets. */
static int pseud(const char *ids, size_t n, uint8_t *out, uint8_t *withheld, uint32_t *kv)
{
    vst_keyd *c = fx_connect(K.data_sock);
    if (c == NULL)
        return -100;
    vst_pseud_req rq;
    memset(&rq, 0, sizeof rq);
    size_t half = n / 2;
    rq.nsections = half > 0 ? 2 : 1;
    for (size_t s = 0; s < rq.nsections; s++) {
        strcpy(rq.sec[s].domain, DOM);
        rq.sec[s].id_len = 10;
        rq.sec[s].count = (uint32_t)(rq.nsections == 1 ? n : s == 0 ? half : n - half);
        rq.sec[s].ids = (const uint8_t *)ids + (s == 0 ? 0 : 10 * half);
    }
    uint8_t *flags = withheld != NULL ? withheld : calloc(n, 1);
    int rc = vst_keyd_pseudonymize_withheld(c, &rq, kv, out, n * 16, flags);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (!flags[i])
            note16(out + 16 * i);
    if (withheld == NULL) {
        for (size_t i = 0; rc == 0 && i < n; i++)
            CU_ASSERT(flags[i] == 0);
        free(flags);
    }
    vst_keyd_close(c);
    return rc;
}

static void note_answer(const vst_case_answer *a)
{
    for (size_t i = 0; i < a->n; i++) {
        note16(a->v[i].p);
        note16(a->v[i].p_star);
    }
}

static int disclose(vst_keyd *a, uint32_t v, const uint8_t *p, vst_case_answer *out)
{
    int rc = vst_keyd_disclose(a, DOM, v, p, out);
    if (rc == 0)
        note_answer(out);
    return rc;
}

static int object(vst_keyd *a, const char *id, vst_case_answer *out)
{
    int rc = vst_keyd_object(a, DOM, (const uint8_t *)id, 10, out);
    if (rc == 0)
        note_answer(out);
    return rc;
}

static int in_set(const uint8_t *p, const uint8_t *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(p, set + 16 * i, 16) == 0)
            return 1;
    return 0;
}

static int lower_hex16(const char *s)
{
    if (strlen(s) != 16)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

/* The total of (socket, op) of uid 0 in keyd's last usage report naming it
 * (every report verified with the store's key); -1 if none. */
static long long usage_total(const char *sock, const char *op)
{
    uint8_t pub[32];
    CU_ASSERT_FATAL(vst_unhex(S.pubkey_hex, 32, pub) == 0);
    json_t *all = fx_events(&K), *ev;
    size_t i;
    long long total = -1;
    json_array_foreach(all, i, ev)
    {
        const char *act = json_string_value(json_object_get(ev, "action"));
        if (act == NULL || strcmp(act, "keyd.usage") != 0)
            continue;
        vst_usage u;
        uint8_t kid[32], sig[64];
        CU_ASSERT_FATAL(vst_usage_parse(json_object_get(ev, "details"), &u, kid, sig) == 0);
        CU_ASSERT(vst_usage_verify(pub, &u, sig) == 1);
        for (size_t e = 0; e < u.n; e++)
            if (strcmp(vst_usage_sock_name(u.e[e].sock), sock) == 0 && u.e[e].uid == 0 &&
                strcmp(vst_usage_op_name(u.e[e].op), op) == 0)
                total = (long long)u.e[e].total;
    }
    json_decref(all);
    return total;
}

/* ------------------------------------------------------------ DISCLOSE */

/* P disclosed: the identifier yields P* (DISCLOSE's answer) from then on,
 * everything else unchanged; again: the same case; a second person:
 * another P*; across a restart, a rotation with re-key, a retirement. */
static void test_disclose_substitutes(void)
{
    enum { N = 200 };
    CU_ASSERT_EQUAL_FATAL(start(0), 0);
    char *ids = kvnrs(1201, N);
    uint8_t *p = malloc(16 * N), *q = malloc(16 * N), *r = malloc(16 * N);
    CU_ASSERT_FATAL(ids && p && q && r);
    uint32_t kv, kv2, v2;
    CU_ASSERT_EQUAL_FATAL(pseud(ids, N, p, NULL, &kv), 0);
    vst_keyd *a = fx_connect(K.admin_sock);
    vst_case_answer d, d2, e;
    CU_ASSERT_EQUAL_FATAL(disclose(a, kv, p + 16 * 7, &d), 0);
    CU_ASSERT(d.existed == 0 && d.n == 1 && d.v[0].version == kv && lower_hex16(d.case_hex));
    CU_ASSERT(memcmp(d.v[0].p, p + 16 * 7, 16) == 0 && !in_set(d.v[0].p_star, p, N));
    CU_ASSERT_EQUAL_FATAL(pseud(ids, N, q, NULL, &kv2), 0);
    for (size_t i = 0; i < N; i++) {
        const uint8_t *want = memcmp(ids + 10 * i, ids + 70, 10) == 0 ? d.v[0].p_star : p + 16 * i;
        CU_ASSERT(memcmp(q + 16 * i, want, 16) == 0);
    }
    CU_ASSERT(!in_set(p + 16 * 7, q, N)); /* P occurs nowhere any more */
    /* Again: the same case (a re-run after a crash finishes the job). */
    CU_ASSERT_EQUAL_FATAL(disclose(a, kv, p + 16 * 7, &d2), 0);
    CU_ASSERT(d2.existed == 1 && memcmp(d2.case_id, d.case_id, 8) == 0 && d2.n == 1);
    CU_ASSERT(memcmp(d2.v[0].p_star, d.v[0].p_star, 16) == 0);
    vst_case_answer_free(&d2);
    /* A second person: another case, another P*. */
    CU_ASSERT_EQUAL_FATAL(disclose(a, kv, p + 16 * 8, &e), 0);
    CU_ASSERT(e.existed == 0 && memcmp(e.case_id, d.case_id, 8) != 0);
    CU_ASSERT(memcmp(e.v[0].p_star, d.v[0].p_star, 16) != 0 && !in_set(e.v[0].p_star, p, N));
    CU_ASSERT_EQUAL_FATAL(pseud(ids, N, q, NULL, &kv2), 0);
    CU_ASSERT(memcmp(q + 16 * 8, e.v[0].p_star, 16) == 0 &&
              memcmp(q + 16 * 7, d.v[0].p_star, 16) == 0);
    vst_keyd_close(a);

    /* A restart: loaded from the sealed keystore. */
    CU_ASSERT_EQUAL_FATAL(restart(), 0);
    CU_ASSERT_EQUAL_FATAL(pseud(ids, N, r, NULL, &kv2), 0);
    CU_ASSERT(kv2 == kv && memcmp(r, q, 16 * N) == 0);

    /* Rotation: the old pseudonyms re-keyed equal fresh ones, P* too. */
    a = fx_connect(K.admin_sock);
    CU_ASSERT_EQUAL_FATAL(vst_keyd_rotate(a, &v2), 0);
    CU_ASSERT_EQUAL_FATAL(pseud(ids, N, r, NULL, &kv2), 0);
    CU_ASSERT_EQUAL(kv2, v2);
    CU_ASSERT_EQUAL_FATAL(vst_keyd_rekey(a, kv, v2, q, N), 0);
    CU_ASSERT(memcmp(q, r, 16 * N) == 0);
    CU_ASSERT_EQUAL_FATAL(disclose(a, kv, p + 16 * 7, &d2), 0);
    CU_ASSERT_FATAL(d2.existed == 1 && d2.n == 2);
    CU_ASSERT(d2.v[0].version == kv && d2.v[1].version == v2);
    CU_ASSERT(memcmp(d2.v[0].p_star, d.v[0].p_star, 16) == 0);
    CU_ASSERT(memcmp(d2.v[1].p_star, r + 16 * 7, 16) == 0 && !in_set(d2.v[1].p, r, N));
    /* Retiring the old version: the case lives on (keyed by I). */
    CU_ASSERT_EQUAL(vst_keyd_retire(a, kv), 0);
    vst_case_answer d3;
    CU_ASSERT_EQUAL(disclose(a, kv, p + 16 * 7, &d3), VST_KERR_RETIRED_VERSION);
    CU_ASSERT_EQUAL_FATAL(disclose(a, v2, d2.v[1].p, &d3), 0);
    CU_ASSERT(d3.existed == 1 && d3.n == 1 && d3.v[0].version == v2);
    CU_ASSERT(memcmp(d3.case_id, d.case_id, 8) == 0);
    CU_ASSERT_EQUAL_FATAL(pseud(ids, N, q, NULL, &kv2), 0);
    CU_ASSERT(memcmp(q, r, 16 * N) == 0);
    vst_case_answer_free(&d3);
    vst_case_answer_free(&d2);
    vst_case_answer_free(&e);
    vst_case_answer_free(&d);
    vst_keyd_close(a);
    fx_keyd_stop(&K);
    CU_ASSERT_EQUAL(usage_total("admin", "disclose"), 5); /* refusals are not counted */
    free(ids), free(p), free(q), free(r);
}

/* P* disclosed in turn: a case of its own, P** from then on. */
static void test_disclose_again(void)
{
    enum { N = 10 };
    CU_ASSERT_EQUAL_FATAL(start(0), 0);
    char *ids = kvnrs(1202, N);
    uint8_t p[16 * N], q[16 * N];
    uint32_t kv;
    CU_ASSERT_EQUAL_FATAL(pseud(ids, N, p, NULL, &kv), 0);
    vst_keyd *a = fx_connect(K.admin_sock);
    vst_case_answer d, dd;
    CU_ASSERT_EQUAL_FATAL(disclose(a, kv, p + 16 * 4, &d), 0);
    CU_ASSERT_EQUAL_FATAL(disclose(a, kv, d.v[0].p_star, &dd), 0);
    CU_ASSERT(dd.existed == 0 && memcmp(dd.case_id, d.case_id, 8) != 0);
    CU_ASSERT(memcmp(dd.v[0].p, d.v[0].p_star, 16) == 0);
    CU_ASSERT(memcmp(dd.v[0].p_star, d.v[0].p_star, 16) != 0 && !in_set(dd.v[0].p_star, p, N));
    CU_ASSERT_EQUAL_FATAL(pseud(ids, N, q, NULL, &kv), 0);
    CU_ASSERT(memcmp(q + 16 * 4, dd.v[0].p_star, 16) == 0);
    CU_ASSERT(memcmp(q, p, 16 * 4) == 0 && memcmp(q + 80, p + 80, 16 * (N - 5)) == 0);
    vst_case_answer_free(&dd);
    CU_ASSERT_EQUAL_FATAL(restart(), 0);
    CU_ASSERT_EQUAL_FATAL(pseud(ids, N, p, NULL, &kv), 0);
    CU_ASSERT(memcmp(q, p, sizeof q) == 0);
    vst_case_answer_free(&d);
    vst_keyd_close(a);
    fx_keyd_stop(&K);
    free(ids);
}

/* ------------------------------------------------------------ OBJECT */

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* 37 objections planted at random positions of a 16,384 batch: exactly
 * those come back flagged (zero bytes), everything else unchanged; after a
 * restart and a rotation too. */
static void test_withhold_batch(void)
{
    enum { N = 16384, W = 37 };
    CU_ASSERT_EQUAL_FATAL(start(0), 0);
    char *ids = kvnrs(1203, N);
    uint8_t *p = malloc(16 * N), *q = malloc(16 * N), *flags = malloc(N), *want = calloc(N, 1);
    CU_ASSERT_FATAL(ids && p && q && flags && want);
    uint32_t kv, kv2, v2;
    CU_ASSERT_EQUAL_FATAL(pseud(ids, N, p, NULL, &kv), 0);
    vst_keyd *a = fx_connect(K.admin_sock);
    uint64_t seed = 12;
    size_t planted = 0, pos[W];
    while (planted < W) {
        size_t i = (size_t)(lcg(&seed) % N);
        if (want[i])
            continue;
        vst_case_answer o;
        CU_ASSERT_EQUAL_FATAL(object(a, ids + 10 * i, &o), 0);
        CU_ASSERT(o.existed == 0 && o.n == 1 && memcmp(o.v[0].p, p + 16 * i, 16) == 0);
        vst_case_answer_free(&o);
        pos[planted++] = i;
        for (size_t j = 0; j < N; j++) /* the same KVNR elsewhere, if any */
            want[j] |= memcmp(ids + 10 * j, ids + 10 * i, 10) == 0;
    }
    /* Twice: the same case. */
    vst_case_answer o1, o2;
    CU_ASSERT_EQUAL(object(a, ids + 10 * pos[0], &o1), 0);
    CU_ASSERT_EQUAL(object(a, ids + 10 * pos[0], &o2), 0);
    CU_ASSERT(o1.existed == 1 && o2.existed == 1 && memcmp(o1.case_id, o2.case_id, 8) == 0);
    vst_case_answer_free(&o1), vst_case_answer_free(&o2);
    for (int round = 0; round < 3; round++) {
        if (round == 1)
            CU_ASSERT_EQUAL_FATAL(restart(), 0);
        if (round == 2) {
            vst_keyd_close(a);
            a = fx_connect(K.admin_sock);
            CU_ASSERT_EQUAL_FATAL(vst_keyd_rotate(a, &v2), 0);
        }
        CU_ASSERT_EQUAL_FATAL(pseud(ids, N, q, flags, &kv2), 0);
        size_t nflag = 0, bad = 0;
        static const uint8_t zero[16];
        for (size_t i = 0; i < N; i++) {
            nflag += flags[i];
            bad += flags[i] != want[i] || (flags[i] && memcmp(q + 16 * i, zero, 16) != 0) ||
                   (round < 2 && !flags[i] && memcmp(q + 16 * i, p + 16 * i, 16) != 0);
        }
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT(nflag >= W);
    }
    /* A caller that cannot withhold gets no answer at all. */
    vst_keyd *c = fx_connect(K.data_sock);
    vst_pseud_req rq = {.nsections = 1};
    rq.sec[0] = (vst_pseud_section){DOM, 10, 1, (const uint8_t *)ids + 10 * pos[3]};
    CU_ASSERT_EQUAL(vst_keyd_pseudonymize(c, &rq, &kv2, q, 16), VST_PROTO_E_ARG);
    vst_keyd_close(c);
    vst_keyd_close(a);
    fx_keyd_stop(&K);
    CU_ASSERT_EQUAL(usage_total("admin", "object"), W + 2);
    free(ids), free(p), free(q), free(flags), free(want);
}

/* A disclosed person objects: OBJECT answers P* (what the rows carry) and
 * a new case; the person is withheld; DISCLOSE of P or P* is refused. */
static void test_object_after_disclose(void)
{
    enum { N = 12 };
    CU_ASSERT_EQUAL_FATAL(start(0), 0);
    char *ids = kvnrs(1204, N);
    uint8_t p[16 * N], q[16 * N], flags[N];
    uint32_t kv;
    CU_ASSERT_EQUAL_FATAL(pseud(ids, N, p, NULL, &kv), 0);
    vst_keyd *a = fx_connect(K.admin_sock);
    vst_case_answer d, o, o2, x;
    CU_ASSERT_EQUAL_FATAL(disclose(a, kv, p + 48, &d), 0);
    CU_ASSERT_EQUAL_FATAL(object(a, ids + 30, &o), 0);
    CU_ASSERT(o.existed == 0 && o.n == 1 && memcmp(o.case_id, d.case_id, 8) != 0);
    CU_ASSERT(memcmp(o.v[0].p, d.v[0].p_star, 16) == 0);
    CU_ASSERT_EQUAL_FATAL(pseud(ids, N, q, flags, &kv), 0);
    for (size_t i = 0; i < N; i++)
        CU_ASSERT(flags[i] == (memcmp(ids + 10 * i, ids + 30, 10) == 0));
    CU_ASSERT_EQUAL(disclose(a, kv, p + 48, &x), VST_KERR_WITHHELD);
    CU_ASSERT_EQUAL(disclose(a, kv, d.v[0].p_star, &x), VST_KERR_WITHHELD);
    CU_ASSERT_EQUAL_FATAL(object(a, ids + 30, &o2), 0);
    CU_ASSERT(o2.existed == 1 && memcmp(o2.case_id, o.case_id, 8) == 0);
    CU_ASSERT(memcmp(o2.v[0].p, d.v[0].p_star, 16) == 0);
    /* A domain keyd does not serve; a bad identifier length. */
    CU_ASSERT_EQUAL(vst_keyd_object(a, "no/such", (const uint8_t *)ids, 10, &x),
                    VST_KERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(vst_keyd_disclose(a, "no/such", kv, p, &x), VST_KERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(vst_keyd_object(a, DOM, (const uint8_t *)ids, 0, &x), VST_PROTO_E_RANGE);
    CU_ASSERT_EQUAL(vst_keyd_disclose(a, DOM, 9, p, &x), VST_KERR_UNKNOWN_VERSION);
    vst_case_answer_free(&d), vst_case_answer_free(&o), vst_case_answer_free(&o2);
    vst_keyd_close(a);
    fx_keyd_stop(&K);
    free(ids);
}

/* ------------------------------------------------------------ sockets, crashes */

/* DISCLOSE and OBJECT on the data socket: forbidden, the connection
 * closed, from the header alone as from a whole frame. */
static void test_data_socket_refused(void)
{
    CU_ASSERT_EQUAL_FATAL(start(0), 0);
    uint8_t p[16] = {7};
    vst_case_answer x;
    vst_keyd *c = fx_connect(K.data_sock);
    CU_ASSERT_EQUAL(vst_keyd_disclose(c, DOM, 1, p, &x), VST_KERR_FORBIDDEN);
    vst_keyd_close(c);
    c = fx_connect(K.data_sock);
    CU_ASSERT_EQUAL(vst_keyd_object(c, DOM, (const uint8_t *)"X123456789", 10, &x),
                    VST_KERR_FORBIDDEN);
    uint8_t pub[32];
    CU_ASSERT(vst_keyd_pubkey(c, pub) < 0); /* closed after the answer */
    vst_keyd_close(c);
    static const struct {
        uint8_t type;
        uint32_t len;
    } hdr[] = {{VST_MSG_DISCLOSE, 33}, {VST_MSG_OBJECT, 25}};
    for (size_t i = 0; i < 2; i++) {
        uint8_t f[8];
        fx_frame(f, 1, hdr[i].type, 0, hdr[i].len, NULL, 0);
        int fd = fx_raw_connect(K.data_sock);
        CU_ASSERT_FATAL(fd >= 0);
        fx_raw_send(fd, f, 8);
        CU_ASSERT_EQUAL(fx_raw_rejected(fd, 10), VST_KERR_FORBIDDEN);
        close(fd);
    }
    CU_ASSERT_EQUAL(fx_event_count(&K, "keyd.frame_rejected"), 4);
    fx_keyd_stop(&K);
    CU_ASSERT_EQUAL(fx_event_count(&K, "keyd.disclosed") + fx_event_count(&K, "keyd.objection"), 0);
    CU_ASSERT_EQUAL(usage_total("data", "disclose"), -1);
    CU_ASSERT_EQUAL(usage_total("data", "object"), -1);
}

/* SIGKILL right after the answers (seccomp on: the keystore write passes
 * its allowlist): both cases were on disk. */
static void test_persisted_before_answer(void)
{
    enum { N = 6 };
    CU_ASSERT_EQUAL_FATAL(start(1), 0);
    char *ids = kvnrs(1205, N);
    uint8_t p[16 * N], q[16 * N], flags[N];
    uint32_t kv;
    CU_ASSERT_EQUAL_FATAL(pseud(ids, N, p, NULL, &kv), 0);
    vst_keyd *a = fx_connect(K.admin_sock);
    vst_case_answer d, o, d2, o2;
    CU_ASSERT_EQUAL_FATAL(disclose(a, kv, p + 16, &d), 0);
    CU_ASSERT_EQUAL_FATAL(object(a, ids + 40, &o), 0);
    vst_keyd_close(a);
    fx_keyd_kill(&K);
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&K, &O), 0);
    a = fx_connect(K.admin_sock);
    CU_ASSERT_EQUAL_FATAL(disclose(a, kv, p + 16, &d2), 0);
    CU_ASSERT_EQUAL_FATAL(object(a, ids + 40, &o2), 0);
    CU_ASSERT(d2.existed == 1 && memcmp(d2.case_id, d.case_id, 8) == 0);
    CU_ASSERT(o2.existed == 1 && memcmp(o2.case_id, o.case_id, 8) == 0);
    CU_ASSERT_EQUAL_FATAL(pseud(ids, N, q, flags, &kv), 0);
    CU_ASSERT(memcmp(q + 16, d.v[0].p_star, 16) == 0 && flags[4] == 1 && flags[1] == 0);
    vst_case_answer_free(&d), vst_case_answer_free(&o);
    vst_case_answer_free(&d2), vst_case_answer_free(&o2);
    vst_keyd_close(a);
    fx_keyd_stop(&K);
    free(ids);
}

/* ------------------------------------------------------------ releases */

/* RELEASE_MAP lists P (the disclosed person's), P* (any version) and the
 * withheld person's P as excluded, nothing else. */
static void test_release_map_excluded(void)
{
    enum { N = 40 };
    CU_ASSERT_EQUAL_FATAL(start(0), 0);
    char *ids = kvnrs(1206, N);
    uint8_t p[16 * (N + 1)], r[16 * (N + 1)], ex[N + 1], flags[N], r2[16 * N];
    uint32_t kv, v2;
    CU_ASSERT_EQUAL_FATAL(pseud(ids, N, p, NULL, &kv), 0);
    vst_keyd *a = fx_connect(K.admin_sock);
    vst_case_answer d, o;
    CU_ASSERT_EQUAL_FATAL(disclose(a, kv, p + 32, &d), 0);
    CU_ASSERT_EQUAL_FATAL(object(a, ids + 50, &o), 0);
    memcpy(p + 16 * N, d.v[0].p_star, 16);
    uint8_t rid[8];
    CU_ASSERT_EQUAL_FATAL(vst_keyd_release_open(a, rid), 0);
    CU_ASSERT_EQUAL_FATAL(vst_keyd_release_map_excluded(a, kv, p, N + 1, r, ex), 0);
    for (size_t i = 0; i <= N; i++) {
        note16(r + 16 * i);
        int person = i == N || memcmp(ids + 10 * i, ids + 20, 10) == 0 ||
                     memcmp(ids + 10 * i, ids + 50, 10) == 0;
        CU_ASSERT(ex[i] == person);
    }
    CU_ASSERT_EQUAL(vst_keyd_release_map(a, kv, p, N + 1, r), VST_PROTO_E_ARG);
    vst_keyd_close(a);
    /* Under the next version: P*_v2 (the rows) and P_v2. */
    a = fx_connect(K.admin_sock);
    CU_ASSERT_EQUAL_FATAL(vst_keyd_rotate(a, &v2), 0);
    CU_ASSERT_EQUAL_FATAL(pseud(ids, N, r2, flags, &v2), 0);
    vst_case_answer d2;
    CU_ASSERT_EQUAL_FATAL(disclose(a, kv, p + 32, &d2), 0);
    memcpy(r2 + 16 * 5, d2.v[1].p, 16); /* the withheld slot: P_v2 of person 2 */
    CU_ASSERT_EQUAL_FATAL(vst_keyd_release_open(a, rid), 0);
    CU_ASSERT_EQUAL_FATAL(vst_keyd_release_map_excluded(a, v2, r2, N, r, ex), 0);
    for (size_t i = 0; i < N; i++) {
        note16(r + 16 * i);
        int person = i == 5 || memcmp(ids + 10 * i, ids + 20, 10) == 0;
        CU_ASSERT(ex[i] == person);
    }
    vst_case_answer_free(&d), vst_case_answer_free(&o), vst_case_answer_free(&d2);
    vst_keyd_close(a);
    fx_keyd_stop(&K);
    free(ids);
}

/* ------------------------------------------------------------ audit, sealing */

/* keyd.disclosed / keyd.objection carry the case id, domain, keystore and
 * generation, nothing else; the sealed list holds I (of the identifiers)
 * with the right actions; neither I nor I* reaches the log or events. */
static void test_events_and_sealed_list(void)
{
    enum { N = 8 };
    CU_ASSERT_EQUAL_FATAL(start(0), 0);
    char *ids = kvnrs(1207, N);
    uint8_t p[16 * N];
    uint32_t kv;
    CU_ASSERT_EQUAL_FATAL(pseud(ids, N, p, NULL, &kv), 0);
    vst_keyd *a = fx_connect(K.admin_sock);
    vst_case_answer d, o;
    CU_ASSERT_EQUAL_FATAL(disclose(a, kv, p, &d), 0);
    CU_ASSERT_EQUAL_FATAL(object(a, ids + 10, &o), 0);
    vst_keyd_close(a);
    fx_keyd_stop(&K);
    static const char *const actions[] = {"keyd.disclosed", "keyd.objection"};
    const vst_case_answer *ans[] = {&d, &o};
    for (int i = 0; i < 2; i++) {
        json_t *ev = fx_event_last(&K, actions[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
        json_t *det = json_object_get(ev, "details");
        CU_ASSERT_EQUAL(json_object_size(det), 4);
        const char *id = fx_ev_str(ev, "case_id"), *dom = fx_ev_str(ev, "domain");
        CU_ASSERT(id != NULL && strcmp(id, ans[i]->case_hex) == 0);
        CU_ASSERT(dom != NULL && strcmp(dom, DOM) == 0);
        CU_ASSERT(fx_ev_str(ev, "keystore") != NULL && fx_ev_int(ev, "generation") == 2 + i);
        json_decref(ev);
    }
    CU_ASSERT_EQUAL(usage_total("admin", "disclose"), 1);
    CU_ASSERT_EQUAL(usage_total("admin", "object"), 1);
    /* The sealed list, opened here with the master key. */
    uint8_t master[VST_KEY_LEN], inner[16], star[16];
    char err[256];
    vst_keystore *ks = NULL;
    CU_ASSERT_FATAL(vst_master_file_read(S.master, master, err, sizeof err) == VST_KS_OK);
    CU_ASSERT_FATAL(vst_keystore_open(S.keystore, master, &ks, err, sizeof err) == VST_KS_OK);
    OPENSSL_cleanse(master, sizeof master);
    const vst_ks_case *c;
    CU_ASSERT_EQUAL_FATAL(vst_keystore_cases(ks, &c), 2);
    CU_ASSERT_EQUAL(vst_keystore_generation(ks), 3);
    vst_domain_key *dk = vst_domain_key_new(vst_keystore_root_key(ks), DOM);
    for (int i = 0; i < 2; i++) {
        vst_inner_value(dk, ids + 10 * i, 10, inner);
        CU_ASSERT(memcmp(c[i].inner, inner, 16) == 0);
        CU_ASSERT_STRING_EQUAL(vst_keystore_case_domain(ks, &c[i]), DOM);
        CU_ASSERT(memcmp(c[i].case_id, ans[i]->case_id, 8) == 0);
        CU_ASSERT(c[i].action == (i == 0 ? VST_CASE_SUBSTITUTE : VST_CASE_WITHHOLD));
        CU_ASSERT(c[i].has_secret == (i == 0));
        note16(inner);
        if (c[i].has_secret && vst_substitute(c[i].secret, c[i].inner, star) == 0)
            note16(star);
    }
    vst_domain_key_free(dk);
    vst_keystore_free(ks);
    CU_ASSERT_EQUAL(fx_secret_scan(K.events), 0);
    CU_ASSERT_EQUAL(fx_secret_scan(K.log), 0);
    vst_case_answer_free(&d), vst_case_answer_free(&o);
    free(ids);
}

/* ------------------------------------------------------------ registry */

static const vst_test tests[] = {
    {"disclose: P* from then on; again the same case; restart, rotate+rekey, retire",
     test_disclose_substitutes},
    {"a disclosed P* disclosed again: P**", test_disclose_again},
    {"37 withheld in a batch of 16384: flagged exactly there; restart, rotate",
     test_withhold_batch},
    {"object after disclose: answers P*, withholds; disclose refused", test_object_after_disclose},
    {"disclose and object refused on the data socket", test_data_socket_refused},
    {"killed right after the answer: the cases were on disk", test_persisted_before_answer},
    {"release_map excludes persons with a case, any version", test_release_map_excluded},
    {"events, usage, the sealed list; no inner value logged", test_events_and_sealed_list},
    {NULL, NULL},
};

int vst_register_tests(void)
{
    CU_pSuite s = CU_add_suite("keyd disclosed pseudonyms and objections", NULL, fx_suite_cleanup);
    if (s == NULL)
        return CU_get_error();
    for (size_t i = 0; tests[i].name != NULL; i++)
        if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL)
            return CU_get_error();
    return CUE_SUCCESS;
}
