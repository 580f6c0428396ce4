/* libFuzzer target: vst-audit verify's reader of PostgreSQL's binary COPY
 * stream (server/audit/audit_copy.c) and, behind it, the chain verifier
 * (audit_chain.c: canonical form, hashes, keyd event continuity, details
 * JSON), fed what a hostile or broken server might send.
 *
 * Input: byte 0 seeds the chunking and picks two options: bit 0 "repair"
 * (each row's prev_hash and hash are recomputed so that rows chain, which
 * lets the verifier's deeper checks run), bits 1 and 2 "long" (a COPY header is
 * prepended and the rest repeated to over 64 KiB, so that the reader's
 * buffer compaction runs). The stream is read twice, in one piece and in
 * pieces; the tuples (and their end: trailer, malformed, incomplete) must
 * be the same. Every tuple goes to a verifier with one bogus checkpoint. */
#include "audit/audit_copy.h"
#include "fuzz_util.h"

static const char SIG[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0";

typedef struct {
    uint8_t fp[VST_AUDIT_HASH_LEN]; /* of the row's canonical form */
    uint64_t seq;
    uint8_t prev[VST_AUDIT_HASH_LEN], hash[VST_AUDIT_HASH_LEN];
} tuple_fp;

typedef struct {
    tuple_fp *t;
    size_t n, cap;
    int end; /* 2 trailer, -1 malformed, 0 stream ended mid-way */
} outcome;

static void push(outcome *o, const vst_audit_row *r)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 16;
        o->t = realloc(o->t, o->cap * sizeof *o->t);
        FZ_CHECK(o->t != NULL, "out of memory");
    }
    static const uint8_t zero[VST_AUDIT_HASH_LEN];
    tuple_fp *f = &o->t[o->n++];
    FZ_CHECK(vst_audit_row_hash(zero, r, f->fp) == 0, "row hash");
    f->seq = r->seq;
    memcpy(f->prev, r->prev_hash, sizeof f->prev);
    memcpy(f->hash, r->hash, sizeof f->hash);
}

/* Reads stream[0..len) in pieces of at most max (0: one piece). */
static void read_stream(const char *stream, size_t len, fz_chunks *ch, size_t max,
                        vst_audit_verifier *v, int repair, outcome *o)
{
    audit_copybuf b = {0};
    uint8_t prev[VST_AUDIT_HASH_LEN] = {0};
    o->end = 0;
    for (size_t off = 0; off < len && o->end == 0;) {
        size_t n = max ? fz_chunk_next(ch, max) : len;
        if (n > len - off)
            n = len - off;
        FZ_CHECK(audit_copy_append(&b, stream + off, n) == 0, "out of memory");
        off += n;
        vst_audit_row r;
        int t;
        while (o->end == 0 && (t = audit_copy_tuple(&b, &r)) != 0) {
            if (t != 1) {
                o->end = t;
                break;
            }
            FZ_CHECK(r.at.n <= VST_TIME_TEXT_LEN && strlen(r.at.p) == r.at.n, "row time");
            FZ_CHECK(b.off <= b.len && b.len <= b.cap, "buffer bounds");
            push(o, &r);
            if (v != NULL) {
                if (repair) {
                    memcpy(r.prev_hash, prev, sizeof prev);
                    FZ_CHECK(vst_audit_row_hash(prev, &r, r.hash) == 0, "row hash");
                    memcpy(prev, r.hash, sizeof prev);
                }
                FZ_CHECK(vst_audit_verifier_row(v, &r) >= 0, "verifier error");
            }
        }
    }
    free(b.buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int repair = data[0] & 1, lng = (data[0] & 6) == 6;
    const char *in = (const char *)data + 1;
    size_t inlen = size - 1, len = inlen;
    char *stream;
    if (lng && inlen > 0) {
        size_t reps = 70000 / inlen + 1;
        len = sizeof SIG + reps * inlen;
        stream = malloc(len);
        FZ_CHECK(stream != NULL, "out of memory");
        memcpy(stream, SIG, sizeof SIG);
        for (size_t i = 0; i < reps; i++)
            memcpy(stream + sizeof SIG + i * inlen, in, inlen);
    } else {
        stream = fz_dup(data + 1, inlen);
    }

    uint8_t key[VST_ED25519_PUB_LEN] = {1};
    vst_audit_cp cp = {.seq = 3, .has_signed_at = 1, .signed_at_us = 1717000000000000};
    vst_audit_verifier *v = vst_audit_verifier_new(&key, 1, &cp, 1);
    FZ_CHECK(v != NULL, "verifier");
    outcome whole = {0}, pieces = {0};
    read_stream(stream, len, NULL, 0, v, repair, &whole);
    vst_audit_report rep;
    vst_audit_verifier_finish(v, &rep);
    FZ_CHECK(rep.rows == whole.n, "rows counted");
    FZ_CHECK(strlen(rep.first_problem) < sizeof rep.first_problem, "problem text");
    FZ_CHECK(rep.problems > 0, "a bogus checkpoint went unnoticed");
    vst_audit_verifier_free(v);

    fz_chunks ch;
    fz_chunks_init(&ch, data[0]);
    read_stream(stream, len, &ch, lng ? 20000 : 64, NULL, 0, &pieces);
    FZ_CHECK(whole.end == pieces.end && whole.n == pieces.n, "result depends on the chunking");
    FZ_CHECK(whole.n == 0 || memcmp(whole.t, pieces.t, whole.n * sizeof *whole.t) == 0,
             "tuples depend on the chunking");
    free(whole.t);
    free(pieces.t);
    free(stream);
    return 0;
}
