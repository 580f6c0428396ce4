/* The audit chain: canonical form, row hash and the verifier; see audit.h
 * and docs/database.md ("The canonical form"). Nothing here talks to a
 * database or to keyd, so it is tested with hand-made rows too. */
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/hex.h"

/* ---- row hash --------------------------------------------------------------- */

struct vst_audit_hasher {
    EVP_MD_CTX *ctx;
    EVP_MD *md;
};

vst_audit_hasher *vst_audit_hasher_new(void)
{
    vst_audit_hasher *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->ctx = EVP_MD_CTX_new();
    h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (h->ctx == NULL || h->md == NULL) {
        vst_audit_hasher_free(h);
        return NULL;
    }
    return h;
}

void vst_audit_hasher_free(vst_audit_hasher *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
    free(h);
}

int vst_audit_hasher_row(vst_audit_hasher *h, const uint8_t prev[VST_AUDIT_HASH_LEN],
                         const vst_audit_row *r, uint8_t out[VST_AUDIT_HASH_LEN])
{
    char seq[24];
    int n = snprintf(seq, sizeof seq, "%" PRIu64, r->seq);
    const vst_audit_text *f[] = {&r->at,     &r->db_user, &r->actor,
                                 &r->action, &r->client,  &r->details};
    unsigned len = 0;
    int ok = EVP_DigestInit_ex2(h->ctx, h->md, NULL) == 1 &&
             EVP_DigestUpdate(h->ctx, prev, VST_AUDIT_HASH_LEN) == 1 &&
             EVP_DigestUpdate(h->ctx, seq, (size_t)n) == 1;
    for (size_t i = 0; ok && i < sizeof f / sizeof f[0]; i++)
        ok = EVP_DigestUpdate(h->ctx, "\n", 1) == 1 &&
             (f[i]->n == 0 || EVP_DigestUpdate(h->ctx, f[i]->p, f[i]->n) == 1);
    ok = ok && EVP_DigestFinal_ex(h->ctx, out, &len) == 1 && len == VST_AUDIT_HASH_LEN;
    return ok ? 0 : VST_AUDIT_E_NOMEM;
}

int vst_audit_row_hash(const uint8_t prev[VST_AUDIT_HASH_LEN], const vst_audit_row *r,
                       uint8_t out[VST_AUDIT_HASH_LEN])
{
    vst_audit_hasher *h = vst_audit_hasher_new();
    if (h == NULL)
        return VST_AUDIT_E_NOMEM;
    int rc = vst_audit_hasher_row(h, prev, r, out);
    vst_audit_hasher_free(h);
    return rc;
}

void vst_audit_key_id(const uint8_t pub[VST_ED25519_PUB_LEN], uint8_t out[VST_SHA256_LEN])
{
    unsigned len = 0;
    EVP_Digest(pub, VST_ED25519_PUB_LEN, out, &len, EVP_sha256(), NULL);
}

/* ---- verifier --------------------------------------------------------------- */

#define MAX_ANCHORS 16

typedef struct {
    uint64_t seq;
    uint8_t hash[VST_AUDIT_HASH_LEN];
} anchor;

struct vst_audit_verifier {
    uint8_t (*keys)[VST_ED25519_PUB_LEN];
    uint8_t (*key_ids)[VST_SHA256_LEN];
    size_t nkeys;
    vst_audit_cp *cps;
    size_t ncps, cpi;
    anchor anchors[MAX_ANCHORS];
    size_t nanchors, ai;
    int sorted;
    vst_audit_hasher *h;
    int have_prev;
    uint64_t prev_seq;
    uint8_t prev_hash[VST_AUDIT_HASH_LEN];
    uint64_t keyd_last; /* keyd seq of the latest keyd row, 0 before any */
    vst_audit_problem_fn fn;
    void *ctx;
    vst_audit_report rep;
};

static int cmp_cp(const void *a, const void *b)
{
    uint64_t x = ((const vst_audit_cp *)a)->seq, y = ((const vst_audit_cp *)b)->seq;
    return x < y ? -1 : x > y;
}

static int cmp_anchor(const void *a, const void *b)
{
    uint64_t x = ((const anchor *)a)->seq, y = ((const anchor *)b)->seq;
    return x < y ? -1 : x > y;
}

vst_audit_verifier *vst_audit_verifier_new(const uint8_t (*keys)[VST_ED25519_PUB_LEN], size_t nkeys,
                                           const vst_audit_cp *cps, size_t ncps)
{
    if ((nkeys && keys == NULL) || (ncps && cps == NULL))
        return NULL;
    vst_audit_verifier *v = calloc(1, sizeof *v);
    if (v == NULL)
        return NULL;
    v->keys = calloc(nkeys ? nkeys : 1, sizeof *v->keys);
    v->key_ids = calloc(nkeys ? nkeys : 1, sizeof *v->key_ids);
    v->cps = calloc(ncps ? ncps : 1, sizeof *v->cps);
    v->h = vst_audit_hasher_new();
    if (v->keys == NULL || v->key_ids == NULL || v->cps == NULL || v->h == NULL) {
        vst_audit_verifier_free(v);
        return NULL;
    }
    for (size_t i = 0; i < nkeys; i++) {
        memcpy(v->keys[i], keys[i], VST_ED25519_PUB_LEN);
        vst_audit_key_id(keys[i], v->key_ids[i]);
    }
    v->nkeys = nkeys;
    if (ncps)
        memcpy(v->cps, cps, ncps * sizeof *cps);
    v->ncps = ncps;
    v->rep.checkpoints = ncps;
    return v;
}

void vst_audit_verifier_free(vst_audit_verifier *v)
{
    if (v == NULL)
        return;
    free(v->keys);
    free(v->key_ids);
    free(v->cps);
    vst_audit_hasher_free(v->h);
    free(v);
}

void vst_audit_verifier_on_problem(vst_audit_verifier *v, vst_audit_problem_fn fn, void *ctx)
{
    v->fn = fn;
    v->ctx = ctx;
}

int vst_audit_verifier_anchor(vst_audit_verifier *v, uint64_t seq,
                              const uint8_t hash[VST_AUDIT_HASH_LEN])
{
    if (v == NULL || hash == NULL || seq == 0 || v->nanchors >= MAX_ANCHORS || v->sorted)
        return VST_AUDIT_E_ARG;
    v->anchors[v->nanchors].seq = seq;
    memcpy(v->anchors[v->nanchors].hash, hash, VST_AUDIT_HASH_LEN);
    v->nanchors++;
    return 0;
}

static void sort_once(vst_audit_verifier *v)
{
    if (v->sorted)
        return;
    qsort(v->cps, v->ncps, sizeof *v->cps, cmp_cp);
    qsort(v->anchors, v->nanchors, sizeof *v->anchors, cmp_anchor);
    v->sorted = 1;
}

__attribute__((format(printf, 3, 4))) static void problem(vst_audit_verifier *v, uint64_t seq,
                                                          const char *fmt, ...)
{
    char msg[sizeof v->rep.first_problem];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (v->rep.problems++ == 0) {
        memcpy(v->rep.first_problem, msg, sizeof msg);
        v->rep.first_problem_seq = seq;
    }
    if (v->fn)
        v->fn(v->ctx, seq, msg);
}

static const uint8_t *find_key(const vst_audit_verifier *v, const uint8_t key_id[VST_SHA256_LEN])
{
    for (size_t i = 0; i < v->nkeys; i++)
        if (memcmp(v->key_ids[i], key_id, VST_SHA256_LEN) == 0)
            return v->keys[i];
    return NULL;
}

static void check_cp(vst_audit_verifier *v, const vst_audit_cp *cp, const uint8_t row_hash[32])
{
    const uint8_t *pub = find_key(v, cp->key_id);
    int head_ok = memcmp(cp->head, row_hash, VST_AUDIT_HASH_LEN) == 0;
    if (pub == NULL) {
        char kid[17];
        vst_hex(cp->key_id, 8, kid);
        problem(v, cp->seq,
                "checkpoint at seq %" PRIu64 ": signed by an unknown key (key_id %s...); give "
                "its public key with --public-key",
                cp->seq, kid);
        return;
    }
    if (!cp->has_signed_at) {
        problem(v, cp->seq,
                "checkpoint at seq %" PRIu64 ": stored without its signed time (4-argument "
                "vst.audit_checkpoint), so its signature cannot be checked",
                cp->seq);
        return;
    }
    int sig_ok =
        vst_checkpoint_verify(pub, cp->seq, cp->head, cp->signed_at_us, cp->signature) == 1;
    uint64_t from = v->rep.covered_seq + 1;
    if (!sig_ok && !head_ok)
        problem(v, cp->seq,
                "checkpoint at seq %" PRIu64 ": head altered (it differs from row %" PRIu64
                "'s hash and its signature does not verify)",
                cp->seq, cp->seq);
    else if (!sig_ok)
        problem(v, cp->seq, "checkpoint at seq %" PRIu64 ": bad signature", cp->seq);
    else if (!head_ok)
        problem(v, cp->seq,
                "checkpoint at seq %" PRIu64 ": signed head differs from row %" PRIu64
                "'s hash: the log was rewritten between seq %" PRIu64 " and %" PRIu64,
                cp->seq, cp->seq, from, cp->seq);
    else {
        v->rep.checkpoints_ok++;
        v->rep.covered_seq = cp->seq;
    }
}

/* Checkpoints and anchors naming rows before `upto` that never came. */
static void missing_before(vst_audit_verifier *v, uint64_t upto)
{
    while (v->cpi < v->ncps && v->cps[v->cpi].seq < upto) {
        const vst_audit_cp *cp = &v->cps[v->cpi++];
        problem(v, cp->seq, "checkpoint at seq %" PRIu64 ": row %" PRIu64 " is missing", cp->seq,
                cp->seq);
    }
    while (v->ai < v->nanchors && v->anchors[v->ai].seq < upto) {
        const anchor *a = &v->anchors[v->ai++];
        problem(v, a->seq, "anchor at seq %" PRIu64 ": row %" PRIu64 " is missing", a->seq, a->seq);
    }
}

static int text_is(const vst_audit_text *t, const char *s)
{
    size_t n = strlen(s);
    return t->n == n && memcmp(t->p, s, n) == 0;
}

static int json_u64(json_t *o, const char *key, uint64_t *out)
{
    json_t *x = json_object_get(o, key);
    if (!json_is_integer(x) || json_integer_value(x) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(x);
    return 0;
}

/* Whether needle occurs in hay[0..n) (memmem is a GNU extension). */
static int contains(const char *hay, size_t n, const char *needle, size_t m)
{
    for (size_t i = 0; m <= n && i <= n - m; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0)
            return 1;
    return 0;
}

/* Rows mirroring keyd's event stream (details.keyd_seq) must continue it
 * without gaps: a missing keyd event means a puller (or someone with
 * vst.audit_append) skipped or forged one. */
static void check_keyd(vst_audit_verifier *v, const vst_audit_row *r)
{
    static const char key[] = "\"keyd_seq\"";
    if (!contains(r->details.p, r->details.n, key, sizeof key - 1))
        return;
    json_t *d = json_loadb(r->details.p, r->details.n, 0, NULL);
    uint64_t ks, first;
    if (!json_is_object(d) || json_object_get(d, "keyd_seq") == NULL) {
        json_decref(d); /* "keyd_seq" only inside a string or a nested object */
        return;
    }
    if (json_u64(d, "keyd_seq", &ks) != 0) {
        problem(v, r->seq, "row %" PRIu64 ": keyd_seq is not a non-negative integer", r->seq);
    } else if (text_is(&r->action, "audit.keyd_reset")) {
        v->keyd_last = ks;
    } else if (text_is(&r->action, "audit.keyd_events_lost")) {
        if (json_u64(d, "keyd_first_lost", &first) != 0 || first != v->keyd_last + 1 || ks < first)
            problem(v, r->seq,
                    "row %" PRIu64
                    ": keyd events-lost marker does not continue keyd event %" PRIu64,
                    r->seq, v->keyd_last);
        v->keyd_last = ks;
    } else {
        v->rep.keyd_events++;
        if (ks == v->keyd_last + 2)
            problem(v, r->seq,
                    "row %" PRIu64 ": keyd event %" PRIu64 " follows keyd event %" PRIu64
                    ": keyd event %" PRIu64 " is missing from the log",
                    r->seq, ks, v->keyd_last, v->keyd_last + 1);
        else if (ks > v->keyd_last + 2)
            problem(v, r->seq,
                    "row %" PRIu64 ": keyd event %" PRIu64 " follows keyd event %" PRIu64
                    ": keyd events %" PRIu64 "..%" PRIu64 " are missing from the log",
                    r->seq, ks, v->keyd_last, v->keyd_last + 1, ks - 1);
        else if (ks <= v->keyd_last)
            problem(v, r->seq,
                    "row %" PRIu64 ": keyd event %" PRIu64 " repeats or goes back (the previous "
                    "keyd event in the log is %" PRIu64 ")",
                    r->seq, ks, v->keyd_last);
        v->keyd_last = ks;
    }
    json_decref(d);
}

int vst_audit_verifier_row(vst_audit_verifier *v, const vst_audit_row *r)
{
    sort_once(v);
    uint64_t before = v->rep.problems;
    uint64_t expected = v->have_prev ? v->prev_seq + 1 : 1;
    int gap = 0;
    if (r->seq < expected) {
        problem(v, r->seq, "row %" PRIu64 ": out of order (after row %" PRIu64 ")", r->seq,
                v->prev_seq);
        gap = 1;
    } else if (r->seq > expected) {
        gap = 1;
        if (!v->have_prev && r->seq == 2)
            problem(v, 1, "row 1 missing (the log starts at row 2)");
        else if (!v->have_prev)
            problem(v, 1, "rows 1..%" PRIu64 " missing (the log starts at row %" PRIu64 ")",
                    r->seq - 1, r->seq);
        else if (r->seq == expected + 1)
            problem(v, expected,
                    "row %" PRIu64 " missing (gap between %" PRIu64 " and %" PRIu64 ")", expected,
                    v->prev_seq, r->seq);
        else
            problem(v, expected,
                    "rows %" PRIu64 "..%" PRIu64 " missing (gap between %" PRIu64 " and %" PRIu64
                    ")",
                    expected, r->seq - 1, v->prev_seq, r->seq);
    }
    missing_before(v, r->seq);

    uint8_t calc[VST_AUDIT_HASH_LEN];
    if (vst_audit_hasher_row(v->h, r->prev_hash, r, calc) != 0)
        return VST_AUDIT_E_NOMEM;
    static const uint8_t zero[VST_AUDIT_HASH_LEN];
    int hash_ok = memcmp(calc, r->hash, VST_AUDIT_HASH_LEN) == 0;
    int link_ok =
        gap || memcmp(r->prev_hash, v->have_prev ? v->prev_hash : zero, VST_AUDIT_HASH_LEN) == 0;
    if (!hash_ok && !link_ok)
        problem(v, r->seq,
                "row %" PRIu64 ": hash mismatch and prev_hash does not link to row %" PRIu64
                " (row replaced, moved or inserted)",
                r->seq, r->seq - 1);
    else if (!hash_ok)
        problem(v, r->seq, "row %" PRIu64 ": hash mismatch (content changed)", r->seq);
    else if (!link_ok && r->seq == 1)
        problem(v, r->seq, "row 1: prev_hash is not the genesis value (32 zero bytes)");
    else if (!link_ok)
        problem(v, r->seq,
                "row %" PRIu64 ": prev_hash does not link to row %" PRIu64
                " (a row before it was replaced or inserted)",
                r->seq, r->seq - 1);

    if (v->cpi < v->ncps && v->cps[v->cpi].seq == r->seq)
        check_cp(v, &v->cps[v->cpi++], r->hash);
    if (v->ai < v->nanchors && v->anchors[v->ai].seq == r->seq) {
        const anchor *a = &v->anchors[v->ai++];
        if (memcmp(a->hash, r->hash, VST_AUDIT_HASH_LEN) != 0)
            problem(v, a->seq,
                    "anchor at seq %" PRIu64 ": row %" PRIu64
                    "'s hash differs from the anchor: the log was rewritten up to there",
                    a->seq, a->seq);
    }
    check_keyd(v, r);

    if (v->rep.rows++ == 0)
        v->rep.first_seq = r->seq;
    v->rep.last_seq = r->seq;
    memcpy(v->rep.last_hash, r->hash, VST_AUDIT_HASH_LEN);
    v->have_prev = 1;
    v->prev_seq = r->seq;
    memcpy(v->prev_hash, r->hash, VST_AUDIT_HASH_LEN);
    return v->rep.problems > before ? 1 : 0;
}

void vst_audit_verifier_finish(vst_audit_verifier *v, vst_audit_report *rep)
{
    sort_once(v);
    char ends[64];
    if (v->rep.rows == 0)
        snprintf(ends, sizeof ends, "the log is empty");
    else
        snprintf(ends, sizeof ends, "the log ends at row %" PRIu64, v->rep.last_seq);
    while (v->cpi < v->ncps) {
        const vst_audit_cp *cp = &v->cps[v->cpi++];
        problem(v, cp->seq,
                "checkpoint at seq %" PRIu64 ": row %" PRIu64
                " does not exist (%s: rows were removed from its end)",
                cp->seq, cp->seq, ends);
    }
    while (v->ai < v->nanchors) {
        const anchor *a = &v->anchors[v->ai++];
        problem(v, a->seq,
                "anchor at seq %" PRIu64 ": row %" PRIu64
                " does not exist (%s: rows were removed from its end)",
                a->seq, a->seq, ends);
    }
    v->rep.uncovered =
        v->rep.last_seq > v->rep.covered_seq ? v->rep.last_seq - v->rep.covered_seq : 0;
    if (rep)
        *rep = v->rep;
}
