/* Release protection on vst-keyd's side (issue 11, DESIGN.md §11) against a
 * real keyd: report signatures (SIGN_REPORT) and release pseudonyms
 * (RELEASE_OPEN, RELEASE_MAP).
 *
 *  - a report is signed under the context of its kind, never another: the
 *    signature verifies with keyd's public key through vst_report_verify,
 *    kinds without a context are refused;
 *  - the three messages are the operator's: the data socket is refused;
 *  - a release pseudonym is one per person within a release (any key
 *    version), differs from the store pseudonym, and differs between
 *    releases (a second RELEASE_OPEN, another connection): the release key
 *    lives with its connection only;
 *  - what was mapped and signed is counted in keyd's signed usage reports,
 *    each release's mappings in one keyd.release_map event.
 *
 * Every keyd here runs with LeakSanitizer on and must exit 0; every
 * identifier, store and release pseudonym is noted as a secret, and
 * stopping keyd scans its events and log for them (fixture.c). */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hex.h"
#include "core/signed.h"
#include "core/usage.h"
#include "cunit_main.h"
#include "fixture.h"
#include "cli/gen/gen.h"

/* ------------------------------------------------------------ helpers */

static fx_store S;
static fx_keyd K;

/* A fresh dev keystore and keyd (usage reports only at shutdown). */
static int start(void)
{
    memset(&K, 0, sizeof K);
    if (fx_store_dev(&S, NULL) != 0)
        return -1;
    fx_keyd_opts o = {.store = &S, .dev = 1};
    return fx_keyd_start(&K, &o);
}

/* n KVNRs (10 bytes each, concatenated). */
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
    }
    vst_gen_free(g);
    return ids;
}

/* Store pseudonyms of the ids under keyd's current version. */
static uint8_t *store_pseud(const char *ids, size_t n, uint32_t *kv)
{
    uint8_t *p = malloc(16 * n);
    vst_keyd *c = fx_connect(K.data_sock);
    int rc = c && p ? fx_pseud(c, "sgb5/insured", ids, 10, n, p, kv) : -100;
    vst_keyd_close(c);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc != 0) {
        free(p);
        return NULL;
    }
    return p;
}

/* RELEASE_MAP, noting every release pseudonym as a secret. */
static int rmap(vst_keyd *a, uint32_t from, const uint8_t *in, uint32_t n, uint8_t *out)
{
    int rc = vst_keyd_release_map(a, from, in, n, out);
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        char hex[33];
        fx_hex16(out + 16 * i, hex);
        fx_secret(hex, 32);
    }
    return rc;
}

static int has_dup16(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (memcmp(p + 16 * i, p + 16 * j, 16) == 0)
                return 1;
    return 0;
}

/* Whether no block of a equals the one at the same index of b. */
static int all_differ(const uint8_t *a, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(a + 16 * i, b + 16 * i, 16) == 0)
            return 0;
    return 1;
}

static int admin_ok(const char *a1, const char *a2)
{
    fx_result r;
    fx_admin(&r, &K, a1, a2, NULL);
    int st = r.status;
    fx_result_free(&r);
    CU_ASSERT_EQUAL(st, 0);
    return st;
}

/* The total of one (socket, op) of uid 0 in keyd's last signed usage
 * report naming it; every report must verify with the store's key. -1 if
 * none names it. */
static long long usage_total(const char *sock, const char *op)
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
            if (strcmp(vst_usage_sock_name(u.e[e].sock), sock) == 0 && u.e[e].uid == 0 &&
                strcmp(vst_usage_op_name(u.e[e].op), op) == 0 && u.e[e].domain[0] == '\0')
                total = (long long)u.e[e].total;
    }
    json_decref(all);
    return total;
}

/* ------------------------------------------------------------ SIGN_REPORT */

/* keyd signs "vst/cells/1" 0x00 || digest for kind 1: the signature
 * verifies with keyd's public key (the one key init printed), for that
 * digest and kind only; kinds 0 and 2 (overlap, reserved) are refused
 * without closing the connection. */
static void test_sign_report(void)
{
    CU_ASSERT_EQUAL_FATAL(start(), 0);
    vst_keyd *a = fx_connect(K.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    uint8_t pub[32], want[32], digest[32], sig[64], sig2[64];
    CU_ASSERT_EQUAL(vst_keyd_pubkey(a, pub), 0);
    CU_ASSERT_FATAL(vst_unhex(S.pubkey_hex, 32, want) == 0);
    CU_ASSERT_EQUAL(memcmp(pub, want, 32), 0);
    const char *report = "{\"report\":\"vst/cells/1\",\"k\":5}";
    CU_ASSERT_FATAL(EVP_Digest(report, strlen(report), digest, NULL, EVP_sha256(), NULL) == 1);

    CU_ASSERT_EQUAL_FATAL(vst_keyd_sign_report(a, VST_REPORT_KIND_CELLS, digest, sig), 0);
    CU_ASSERT_EQUAL(vst_report_verify(VST_REPORT_KIND_CELLS, digest, sig, pub), 1);
    /* The TBS is the context and the digest, nothing else. */
    uint8_t tbs[VST_REPORT_TBS_MAX];
    size_t n = vst_report_tbs(VST_REPORT_KIND_CELLS, digest, tbs);
    CU_ASSERT_EQUAL(vst_ed25519_verify(pub, tbs, n, sig), 1);
    CU_ASSERT_EQUAL(vst_ed25519_verify(pub, digest, 32, sig), 0);
    uint8_t other[32];
    memcpy(other, digest, 32);
    other[0] ^= 0x80;
    CU_ASSERT_EQUAL(vst_report_verify(VST_REPORT_KIND_CELLS, other, sig, pub), 0);
    CU_ASSERT_EQUAL(vst_checkpoint_verify(pub, 1, digest, 0, sig), 0);
    /* Ed25519 is deterministic: the same digest, the same signature. */
    CU_ASSERT_EQUAL(vst_keyd_sign_report(a, VST_REPORT_KIND_CELLS, digest, sig2), 0);
    CU_ASSERT_EQUAL(memcmp(sig, sig2, 64), 0);

    /* Kinds keyd has no context for: invalid_argument, connection kept. */
    CU_ASSERT_EQUAL(vst_keyd_sign_report(a, 2, digest, sig2), VST_KERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(vst_keyd_sign_report(a, 0, digest, sig2), VST_KERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(vst_keyd_sign_report(a, 255, digest, sig2), VST_KERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(vst_keyd_sign_report(a, VST_REPORT_KIND_CELLS, other, sig2), 0);
    CU_ASSERT_EQUAL(vst_report_verify(VST_REPORT_KIND_CELLS, other, sig2, pub), 1);
    vst_keyd_close(a);
    fx_keyd_stop(&K);
    /* Three signed; the refused ones are not counted. */
    CU_ASSERT_EQUAL(usage_total("admin", "sign_report"), 3);
    CU_ASSERT_EQUAL(fx_event_count(&K, "keyd.frame_rejected"), 0);
}

/* ------------------------------------------------------------ the data socket */

/* SIGN_REPORT, RELEASE_OPEN and RELEASE_MAP are refused on the data socket
 * (`forbidden`, the connection closed, keyd.frame_rejected with the
 * socket), from the header alone as from a client's whole frame. */
static void test_data_socket_refused(void)
{
    CU_ASSERT_EQUAL_FATAL(start(), 0);
    uint8_t digest[32] = {1}, sig[64], id[8], p[16] = {2}, r[16];
    vst_keyd *c = fx_connect(K.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(vst_keyd_sign_report(c, VST_REPORT_KIND_CELLS, digest, sig),
                    VST_KERR_FORBIDDEN);
    /* ... and the connection is closed after the answer. */
    uint8_t pub[32];
    CU_ASSERT(vst_keyd_pubkey(c, pub) < 0);
    vst_keyd_close(c);
    c = fx_connect(K.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(vst_keyd_release_open(c, id), VST_KERR_FORBIDDEN);
    vst_keyd_close(c);
    c = fx_connect(K.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(vst_keyd_release_map(c, 1, p, 1, r), VST_KERR_FORBIDDEN);
    vst_keyd_close(c);
    /* Headers alone, no payload sent: refused before one is buffered. */
    static const struct {
        uint8_t type;
        uint32_t len;
    } hdr[] = {{VST_MSG_SIGN_REPORT, 33}, {VST_MSG_RELEASE_OPEN, 0}, {VST_MSG_RELEASE_MAP, 24}};
    for (size_t i = 0; i < 3; i++) {
        uint8_t f[8];
        fx_frame(f, 1, hdr[i].type, 0, hdr[i].len, NULL, 0);
        int fd = fx_raw_connect(K.data_sock);
        CU_ASSERT_FATAL(fd >= 0);
        fx_raw_send(fd, f, 8);
        CU_ASSERT_EQUAL(fx_raw_rejected(fd, 10), VST_KERR_FORBIDDEN);
        close(fd);
    }
    CU_ASSERT_EQUAL(fx_event_count(&K, "keyd.frame_rejected"), 6);
    json_t *ev = fx_event_last(&K, "keyd.frame_rejected");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "socket") ? fx_ev_str(ev, "socket") : "", "data");
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "code") ? fx_ev_str(ev, "code") : "", "forbidden");
    json_decref(ev);
    fx_keyd_stop(&K);
    CU_ASSERT_EQUAL(usage_total("data", "sign_report"), -1);
    CU_ASSERT_EQUAL(usage_total("data", "release_map"), -1);
    CU_ASSERT_EQUAL(fx_event_count(&K, "keyd.release_map"), 0);
}

/* ------------------------------------------------------------ release pseudonyms */

/* Without RELEASE_OPEN on the connection: no_release (the connection
 * stays usable), also when another connection has a release open. */
static void test_map_needs_open(void)
{
    enum { N = 20 };
    CU_ASSERT_EQUAL_FATAL(start(), 0);
    char *ids = kvnrs(1101, N);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    uint32_t kv;
    uint8_t *p = store_pseud(ids, N, &kv);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    uint8_t r[N * 16], id[8];
    vst_keyd *a = fx_connect(K.admin_sock), *b = fx_connect(K.admin_sock);
    CU_ASSERT_FATAL(a != NULL && b != NULL);
    CU_ASSERT_EQUAL(rmap(a, kv, p, N, r), VST_KERR_NO_RELEASE);
    CU_ASSERT_EQUAL(vst_keyd_release_open(b, id), 0);
    CU_ASSERT_EQUAL(rmap(a, kv, p, N, r), VST_KERR_NO_RELEASE);
    CU_ASSERT_EQUAL(vst_keyd_release_open(a, id), 0);
    CU_ASSERT_EQUAL(rmap(a, kv, p, N, r), 0);
    vst_keyd_close(a);
    vst_keyd_close(b); /* opened, nothing mapped: no event */
    fx_keyd_stop(&K);
    CU_ASSERT_EQUAL(usage_total("admin", "release_map"), N);
    CU_ASSERT_EQUAL(fx_event_count(&K, "keyd.release_map"), 1);
    free(ids);
    free(p);
}

/* Within one release: one release pseudonym per person, the same for the
 * same P asked twice, none equal to its P, all distinct; the release id
 * in the event is the one RELEASE_OPEN answered. */
static void test_map_stable_within_release(void)
{
    enum { N = 500 };
    CU_ASSERT_EQUAL_FATAL(start(), 0);
    char *ids = kvnrs(1102, N);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    uint32_t kv;
    uint8_t *p = store_pseud(ids, N, &kv);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    uint8_t *r1 = malloc(N * 16), *r2 = malloc(N * 16), id[8];
    CU_ASSERT_FATAL(r1 != NULL && r2 != NULL);
    vst_keyd *a = fx_connect(K.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL_FATAL(vst_keyd_release_open(a, id), 0);
    CU_ASSERT_EQUAL_FATAL(rmap(a, kv, p, N, r1), 0);
    CU_ASSERT(all_differ(p, r1, N));
    CU_ASSERT(!has_dup16(r1, N));
    /* The same P again, in another batch and order: the same R. */
    for (size_t i = 0; i < N; i++)
        CU_ASSERT_EQUAL_FATAL(rmap(a, kv, p + 16 * (N - 1 - i), 1, r2 + 16 * (N - 1 - i)), 0);
    CU_ASSERT_EQUAL(memcmp(r1, r2, N * 16), 0);
    /* in == out works (vst-admin maps in place). */
    memcpy(r2, p, N * 16);
    CU_ASSERT_EQUAL(rmap(a, kv, r2, N, r2), 0);
    CU_ASSERT_EQUAL(memcmp(r1, r2, N * 16), 0);
    vst_keyd_close(a);
    double end = fx_now() + 10;
    while (fx_now() < end && fx_event_count(&K, "keyd.release_map") == 0)
        usleep(20000);
    json_t *ev = fx_event_last(&K, "keyd.release_map");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    char hex[17];
    vst_hex(id, 8, hex);
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "release_id") ? fx_ev_str(ev, "release_id") : "", hex);
    CU_ASSERT_EQUAL(fx_ev_int(ev, "count"), 3 * N);
    CU_ASSERT_EQUAL(fx_ev_actor(ev), 0);
    json_decref(ev);
    fx_keyd_stop(&K);
    CU_ASSERT_EQUAL(usage_total("admin", "release_map"), 3 * N);
    free(ids);
    free(p);
    free(r1);
    free(r2);
}

/* Two pseudonyms of one person under two key versions (before and after a
 * rotation) map to one release pseudonym; a retired version is refused
 * like REKEY refuses it, an unknown one too. */
static void test_map_across_versions(void)
{
    enum { N = 300 };
    CU_ASSERT_EQUAL_FATAL(start(), 0);
    char *ids = kvnrs(1103, N);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    uint32_t v1, v2;
    uint8_t *p1 = store_pseud(ids, N, &v1);
    CU_ASSERT_EQUAL_FATAL(admin_ok("key", "rotate"), 0);
    uint8_t *p2 = store_pseud(ids, N, &v2);
    CU_ASSERT_FATAL(p1 != NULL && p2 != NULL && v1 == 1 && v2 == 2);
    CU_ASSERT(all_differ(p1, p2, N));
    uint8_t *r1 = malloc(N * 16), *r2 = malloc(N * 16), id[8];
    CU_ASSERT_FATAL(r1 != NULL && r2 != NULL);
    vst_keyd *a = fx_connect(K.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL_FATAL(vst_keyd_release_open(a, id), 0);
    CU_ASSERT_EQUAL_FATAL(rmap(a, v1, p1, N, r1), 0);
    CU_ASSERT_EQUAL_FATAL(rmap(a, v2, p2, N, r2), 0);
    CU_ASSERT_EQUAL(memcmp(r1, r2, N * 16), 0);
    /* A pseudonym given with the wrong version is another block: not the
     * person's release pseudonym. */
    CU_ASSERT_EQUAL(rmap(a, v2, p1, N, r2), 0);
    CU_ASSERT(all_differ(r1, r2, N));
    CU_ASSERT_EQUAL(rmap(a, 3, p1, 1, r2), VST_KERR_UNKNOWN_VERSION);
    CU_ASSERT_EQUAL(vst_keyd_retire(a, v1), 0);
    CU_ASSERT_EQUAL(rmap(a, v1, p1, N, r2), VST_KERR_RETIRED_VERSION);
    /* The release is still open: version 2 maps as before. */
    CU_ASSERT_EQUAL(rmap(a, v2, p2, N, r2), 0);
    CU_ASSERT_EQUAL(memcmp(r1, r2, N * 16), 0);
    vst_keyd_close(a);
    fx_keyd_stop(&K);
    CU_ASSERT_EQUAL(usage_total("admin", "release_map"), 4 * N);
    free(ids);
    free(p1);
    free(p2);
    free(r1);
    free(r2);
}

/* Another release — a second RELEASE_OPEN on the connection, or another
 * connection — maps the same P to another R: two releases cannot be
 * joined on pseudonyms. Each release is one keyd.release_map event (the
 * first one's when the second opens), with its own id. */
static void test_releases_differ(void)
{
    enum { N = 200 };
    CU_ASSERT_EQUAL_FATAL(start(), 0);
    char *ids = kvnrs(1104, N);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    uint32_t kv;
    uint8_t *p = store_pseud(ids, N, &kv);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    uint8_t *r1 = malloc(N * 16), *r2 = malloc(N * 16), *r3 = malloc(N * 16);
    uint8_t id1[8], id2[8], id3[8];
    CU_ASSERT_FATAL(r1 && r2 && r3);
    vst_keyd *a = fx_connect(K.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL_FATAL(vst_keyd_release_open(a, id1), 0);
    CU_ASSERT_EQUAL_FATAL(rmap(a, kv, p, N, r1), 0);
    CU_ASSERT_EQUAL(fx_event_count(&K, "keyd.release_map"), 0); /* still open */
    CU_ASSERT_EQUAL_FATAL(vst_keyd_release_open(a, id2), 0);
    CU_ASSERT_EQUAL(fx_event_count(&K, "keyd.release_map"), 1); /* the first, closed */
    CU_ASSERT_EQUAL_FATAL(rmap(a, kv, p, N, r2), 0);
    CU_ASSERT(memcmp(id1, id2, 8) != 0);
    CU_ASSERT(all_differ(r1, r2, N));
    vst_keyd_close(a);
    /* A new connection, a new release: the earlier keys are gone. */
    a = fx_connect(K.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL_FATAL(vst_keyd_release_open(a, id3), 0);
    CU_ASSERT_EQUAL_FATAL(rmap(a, kv, p, N, r3), 0);
    CU_ASSERT(all_differ(r1, r3, N) && all_differ(r2, r3, N));
    CU_ASSERT(memcmp(id3, id1, 8) != 0 && memcmp(id3, id2, 8) != 0);
    vst_keyd_close(a);
    fx_keyd_stop(&K);
    /* One event per release, in order, each with its own id and count. */
    json_t *all = fx_events(&K);
    size_t i, seen = 0;
    json_t *ev;
    const uint8_t *want[3] = {id1, id2, id3};
    json_array_foreach(all, i, ev)
    {
        const char *act = json_string_value(json_object_get(ev, "action"));
        if (act == NULL || strcmp(act, "keyd.release_map") != 0)
            continue;
        char hex[17];
        CU_ASSERT_FATAL(seen < 3);
        vst_hex(want[seen], 8, hex);
        const char *got = fx_ev_str(ev, "release_id");
        CU_ASSERT(got != NULL && strcmp(got, hex) == 0);
        CU_ASSERT_EQUAL(fx_ev_int(ev, "count"), N);
        seen++;
    }
    json_decref(all);
    CU_ASSERT_EQUAL(seen, 3);
    CU_ASSERT_EQUAL(usage_total("admin", "release_map"), 3 * N);
    free(ids);
    free(p);
    free(r1);
    free(r2);
    free(r3);
}

/* The largest batch (65536) in one frame, and a release spread over
 * batches gives what one pass gives. */
static void test_map_large_batch(void)
{
    enum { N = VST_BATCH_MAX };
    CU_ASSERT_EQUAL_FATAL(start(), 0);
    char *ids = kvnrs(1105, N);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    uint32_t kv;
    uint8_t *p = store_pseud(ids, N, &kv);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    uint8_t *r1 = malloc((size_t)N * 16), *r2 = malloc((size_t)N * 16), id[8];
    CU_ASSERT_FATAL(r1 != NULL && r2 != NULL);
    vst_keyd *a = fx_connect(K.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL_FATAL(vst_keyd_release_open(a, id), 0);
    double t0 = fx_now();
    CU_ASSERT_EQUAL_FATAL(vst_keyd_release_map(a, kv, p, N, r1), 0);
    fprintf(stderr, "release_map of %d pseudonyms: %.1f ms ", N, (fx_now() - t0) * 1000);
    for (uint32_t off = 0; off < N; off += 4096)
        CU_ASSERT_EQUAL_FATAL(vst_keyd_release_map(a, kv, p + 16 * off, 4096, r2 + 16 * off), 0);
    CU_ASSERT_EQUAL(memcmp(r1, r2, (size_t)N * 16), 0);
    CU_ASSERT(all_differ(p, r1, N));
    /* 65537 is more than a frame carries: the client refuses to send it. */
    CU_ASSERT_EQUAL(vst_keyd_release_map(a, kv, p, N + 1, r2), VST_PROTO_E_RANGE);
    vst_keyd_close(a);
    fx_keyd_stop(&K);
    CU_ASSERT_EQUAL(usage_total("admin", "release_map"), 2LL * N);
    free(ids);
    free(p);
    free(r1);
    free(r2);
}

/* ------------------------------------------------------------ registry */

static const vst_test report_tests[] = {
    {"sign_report: verifies with keyd's key; kinds 0 and 2 refused", test_sign_report},
    {"sign_report, release_open, release_map refused on the data socket", test_data_socket_refused},
    {NULL, NULL},
};
static const vst_test release_tests[] = {
    {"release_map without release_open: no_release", test_map_needs_open},
    {"one release pseudonym per person within a release", test_map_stable_within_release},
    {"two key versions, one release pseudonym; retired refused", test_map_across_versions},
    {"another release (open again, new connection): other pseudonyms", test_releases_differ},
    {"a full batch of 65536", test_map_large_batch},
    {NULL, NULL},
};

static int add_suite(const char *title, const vst_test *tests)
{
    CU_pSuite s = CU_add_suite(title, NULL, fx_suite_cleanup);
    if (s == NULL)
        return CU_get_error();
    for (size_t i = 0; tests[i].name != NULL; i++)
        if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL)
            return CU_get_error();
    return CUE_SUCCESS;
}

int vst_register_tests(void)
{
    int rc = add_suite("keyd report signatures", report_tests);
    if (rc == CUE_SUCCESS)
        rc = add_suite("keyd release pseudonyms", release_tests);
    return rc;
}
