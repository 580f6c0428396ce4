/* Signed structures and Ed25519 verification, see signed.h.
 *
 * The receipt encoding here is the only one: server/wire/proto.c's SIGN_RECEIPT
 * encoder calls vst_receipt_encode and its decoder applies the same field
 * grammars, so what httpd sends, what keyd signs and what a verifier
 * rebuilds cannot drift apart. The bytes are written with a fixed writer
 * (core/buf.h) over the caller's array: a field that did not fit the
 * declared maximum would fail the encoding, not overrun the array. */
#include "core/signed.h"

#include <openssl/evp.h>
#include <string.h>

#include "core/buf.h"
#include "core/utf8.h"

static int is_lower_digit_us(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

int vst_delivery_id_ok(const char *s, size_t n)
{
    if (s == NULL || n == 0 || n > VST_DELIVERY_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(is_lower_digit_us(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* Code points a name must not contain: controls (C0, DEL, C1), and the
 * invisible ones that make two names look alike or reorder what an
 * auditor reads (zero-width, bidirectional controls, BOM). */
static int name_char_ok(uint32_t c)
{
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
        return 0;
    if ((c >= 0x200b && c <= 0x200f) || (c >= 0x202a && c <= 0x202e) ||
        (c >= 0x2066 && c <= 0x2069) || c == 0xfeff || c == 0x00ad)
        return 0;
    return 1;
}

int vst_client_name_ok(const char *s, size_t n)
{
    if (s == NULL || n == 0 || n > VST_CLIENT_NAME_MAX)
        return 0;
    /* No blank at either end: "AOK " and "AOK" would be two clients. */
    if (s[0] == ' ' || s[n - 1] == ' ')
        return 0;
    uint32_t cp;
    for (size_t i = 0, k; i < n; i += k)
        if ((k = vst_utf8_next(s + i, n - i, &cp)) == 0 || !name_char_ok(cp))
            return 0;
    return 1;
}

int vst_profile_name_ok(const char *s, size_t n)
{
    if (s == NULL || n == 0 || n > VST_PROFILE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_lower_digit_us(s[i]))
            return 0;
    return 1;
}

int vst_receipt_fields_ok(const vst_receipt_fields *r)
{
    if (r == NULL || r->key_version == 0)
        return 0;
    /* A v1 receipt cannot state withheld records: its TBS has no room. */
    if (r->version != VST_RECEIPT_V2 && (r->version != VST_RECEIPT_V1 || r->withheld_count != 0))
        return 0;
    /* strnlen over the whole array: an unterminated string is invalid. */
    size_t id = strnlen(r->delivery_id, sizeof r->delivery_id);
    size_t cl = strnlen(r->client, sizeof r->client);
    size_t pr = strnlen(r->profile, sizeof r->profile);
    return vst_delivery_id_ok(r->delivery_id, id) && vst_client_name_ok(r->client, cl) &&
           vst_profile_name_ok(r->profile, pr);
}

static int receipt_put(vst_wr *w, const vst_receipt_fields *r)
{
    return vst_wr_str8(w, r->delivery_id, strlen(r->delivery_id)) ||
           vst_wr_str8(w, r->client, strlen(r->client)) ||
           vst_wr_str8(w, r->profile, strlen(r->profile)) || vst_wr_u64(w, r->record_count) ||
           vst_wr_put(w, r->body_sha256, VST_SHA256_LEN) || vst_wr_u32(w, r->key_version) ||
           vst_wr_i64(w, r->received_at_us) || vst_wr_i64(w, r->stored_at_us) ||
           vst_wr_u64(w, r->audit_seq) ||
           (r->version == VST_RECEIPT_V2 && vst_wr_u64(w, r->withheld_count));
}

size_t vst_receipt_encode(const vst_receipt_fields *r, uint8_t out[VST_RECEIPT_ENC_MAX])
{
    vst_wr w;
    vst_wr_init_fixed(&w, out, VST_RECEIPT_ENC_MAX);
    if (!vst_receipt_fields_ok(r) || receipt_put(&w, r) != 0)
        return 0;
    return vst_wr_len(&w);
}

size_t vst_receipt_tbs(const vst_receipt_fields *r, uint8_t out[VST_RECEIPT_TBS_MAX])
{
    vst_wr w;
    vst_wr_init_fixed(&w, out, VST_RECEIPT_TBS_MAX);
    if (!vst_receipt_fields_ok(r))
        return 0;
    const char *prefix =
        r->version == VST_RECEIPT_V1 ? VST_RECEIPT_PREFIX_V1 : VST_RECEIPT_PREFIX_V2;
    if (vst_wr_put(&w, prefix, sizeof VST_RECEIPT_PREFIX) || receipt_put(&w, r) != 0)
        return 0;
    return vst_wr_len(&w);
}

_Static_assert(sizeof VST_RECEIPT_PREFIX_V1 == sizeof VST_RECEIPT_PREFIX_V2,
               "both receipt prefixes have one length");

_Static_assert(VST_CHECKPOINT_ENC_LEN == 8 + VST_SHA256_LEN + 8, "checkpoint layout");

/* Into a block of at least VST_CHECKPOINT_ENC_LEN free bytes: cannot fail. */
static void checkpoint_put(vst_wr *w, uint64_t seq, const uint8_t head[VST_SHA256_LEN],
                           int64_t time_us)
{
    if (vst_wr_u64(w, seq) == 0 && vst_wr_put(w, head, VST_SHA256_LEN) == 0)
        vst_wr_i64(w, time_us);
}

void vst_checkpoint_encode(uint64_t seq, const uint8_t head[VST_SHA256_LEN], int64_t time_us,
                           uint8_t out[VST_CHECKPOINT_ENC_LEN])
{
    vst_wr w;
    vst_wr_init_fixed(&w, out, VST_CHECKPOINT_ENC_LEN);
    checkpoint_put(&w, seq, head, time_us);
}

void vst_checkpoint_tbs(uint64_t seq, const uint8_t head[VST_SHA256_LEN], int64_t time_us,
                        uint8_t out[VST_CHECKPOINT_TBS_LEN])
{
    vst_wr w;
    vst_wr_init_fixed(&w, out, VST_CHECKPOINT_TBS_LEN);
    if (vst_wr_put(&w, VST_CHECKPOINT_PREFIX, sizeof VST_CHECKPOINT_PREFIX) == 0)
        checkpoint_put(&w, seq, head, time_us);
}

const char *vst_report_context(uint8_t kind)
{
    return kind == VST_REPORT_KIND_CELLS ? VST_REPORT_CONTEXT_CELLS : NULL;
}

size_t vst_report_tbs(uint8_t kind, const uint8_t digest[VST_SHA256_LEN],
                      uint8_t out[VST_REPORT_TBS_MAX])
{
    const char *ctx = vst_report_context(kind);
    vst_wr w;
    vst_wr_init_fixed(&w, out, VST_REPORT_TBS_MAX);
    /* The context with its NUL: the kind decides it, never the peer. */
    if (ctx == NULL || digest == NULL || vst_wr_put(&w, ctx, strlen(ctx) + 1) != 0 ||
        vst_wr_put(&w, digest, VST_SHA256_LEN) != 0)
        return 0;
    return vst_wr_len(&w);
}

int vst_ed25519_verify(const uint8_t pub[VST_ED25519_PUB_LEN], const uint8_t *msg, size_t len,
                       const uint8_t sig[VST_ED25519_SIG_LEN])
{
    if (pub == NULL || sig == NULL || (msg == NULL && len > 0))
        return 0;
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, VST_ED25519_PUB_LEN);
    EVP_MD_CTX *md = pk ? EVP_MD_CTX_new() : NULL;
    int ok = md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) == 1 &&
             EVP_DigestVerify(md, sig, VST_ED25519_SIG_LEN, msg, len) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pk);
    return ok ? 1 : 0;
}

int vst_receipt_verify(const uint8_t pub[VST_ED25519_PUB_LEN], const vst_receipt_fields *r,
                       const uint8_t sig[VST_ED25519_SIG_LEN])
{
    uint8_t tbs[VST_RECEIPT_TBS_MAX];
    size_t n = vst_receipt_tbs(r, tbs);
    return n != 0 && vst_ed25519_verify(pub, tbs, n, sig);
}

int vst_checkpoint_verify(const uint8_t pub[VST_ED25519_PUB_LEN], uint64_t seq,
                          const uint8_t head[VST_SHA256_LEN], int64_t time_us,
                          const uint8_t sig[VST_ED25519_SIG_LEN])
{
    uint8_t tbs[VST_CHECKPOINT_TBS_LEN];
    vst_checkpoint_tbs(seq, head, time_us, tbs);
    return vst_ed25519_verify(pub, tbs, sizeof tbs, sig);
}

int vst_report_verify(uint8_t kind, const uint8_t digest[VST_SHA256_LEN],
                      const uint8_t sig[VST_ED25519_SIG_LEN],
                      const uint8_t pub[VST_ED25519_PUB_LEN])
{
    uint8_t tbs[VST_REPORT_TBS_MAX];
    size_t n = vst_report_tbs(kind, digest, tbs);
    return n != 0 && vst_ed25519_verify(pub, tbs, n, sig);
}
