/* Pseudonym derivation, see derive.h.
 *
 * HMAC is computed from SHA-256 states precomputed over the key's ipad and
 * opad blocks (RFC 2104) and copied per identifier. OpenSSL 3's EVP_MAC
 * re-initialisation duplicates provider contexts on the heap twice per call;
 * copying a plain SHA256_CTX allocates nothing, leaves no key-derived state
 * in freed heap memory and is about twice as fast. The SHA256_* functions are
 * deprecated in OpenSSL 3 but remain supported; the tests check this code
 * against EVP_MAC and the openssl command line. */
#define OPENSSL_API_COMPAT 10101
#include "derive.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmac_pads.h"

struct vst_domain_key {
    SHA256_CTX inner; /* state after absorbing K_d ^ ipad */
    SHA256_CTX outer; /* state after absorbing K_d ^ opad */
    char name[VST_DOMAIN_MAXLEN + 1];
};

struct vst_version_key {
    uint32_t version;
    EVP_CIPHER_CTX *enc;
    EVP_CIPHER_CTX *dec;
};

int vst_hkdf_info(const uint8_t root[VST_KEY_LEN], const char *info, uint8_t out[VST_KEY_LEN])
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (ctx == NULL || info == NULL) {
        EVP_KDF_CTX_free(ctx);
        return -1;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)root, VST_KEY_LEN),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
        OSSL_PARAM_construct_end(),
    };
    int rc = EVP_KDF_derive(ctx, out, VST_KEY_LEN, params) == 1 ? 0 : -1;
    EVP_KDF_CTX_free(ctx);
    return rc;
}

int vst_hkdf_named(const uint8_t key[VST_KEY_LEN], const char *prefix, const char *name,
                   uint8_t out[VST_KEY_LEN])
{
    if (name == NULL || !vst_domain_name_ok(name))
        return -1;
    char info[64 + VST_DOMAIN_MAXLEN];
    if ((size_t)snprintf(info, sizeof info, "%s%s", prefix, name) >= sizeof info)
        return -1;
    return vst_hkdf_info(key, info, out);
}

int vst_hkdf_domain(const uint8_t root[VST_KEY_LEN], const char *domain, uint8_t out[VST_KEY_LEN])
{
    return vst_hkdf_named(root, "vst/domain/", domain, out);
}

vst_domain_key *vst_domain_key_new(const uint8_t root[VST_KEY_LEN], const char *domain)
{
    uint8_t kd[VST_KEY_LEN];
    if (vst_hkdf_domain(root, domain, kd) != 0)
        return NULL;
    vst_domain_key *dk = calloc(1, sizeof *dk);
    if (dk != NULL) {
        vst_hmac_pads(kd, &dk->inner, &dk->outer);
        strcpy(dk->name, domain);
    }
    OPENSSL_cleanse(kd, sizeof kd);
    return dk;
}

void vst_domain_key_free(vst_domain_key *dk)
{
    if (dk == NULL)
        return;
    OPENSSL_cleanse(dk, sizeof *dk);
    free(dk);
}

const char *vst_domain_key_name(const vst_domain_key *dk)
{
    return dk->name;
}

void vst_inner_value(const vst_domain_key *dk, const char *id, size_t len,
                     uint8_t out[VST_INNER_LEN])
{
    SHA256_CTX c = dk->inner;
    uint8_t h[SHA256_DIGEST_LENGTH];
    SHA256_Update(&c, id, len);
    SHA256_Final(h, &c);
    c = dk->outer;
    SHA256_Update(&c, h, sizeof h);
    SHA256_Final(h, &c);
    memcpy(out, h, VST_INNER_LEN);
    OPENSSL_cleanse(h, sizeof h);
    OPENSSL_cleanse(&c, sizeof c);
}

int vst_substitute(const uint8_t secret[VST_CASE_SECRET_LEN], const uint8_t inner[VST_INNER_LEN],
                   uint8_t out[VST_INNER_LEN])
{
    uint8_t msg[sizeof VST_SUBSTITUTE_LABEL - 1 + VST_INNER_LEN], h[SHA256_DIGEST_LENGTH];
    unsigned hl = 0;
    memcpy(msg, VST_SUBSTITUTE_LABEL, sizeof VST_SUBSTITUTE_LABEL - 1);
    memcpy(msg + sizeof VST_SUBSTITUTE_LABEL - 1, inner, VST_INNER_LEN);
    int ok = HMAC(EVP_sha256(), secret, VST_CASE_SECRET_LEN, msg, sizeof msg, h, &hl) != NULL &&
             hl == sizeof h;
    if (ok)
        memcpy(out, h, VST_INNER_LEN);
    OPENSSL_cleanse(msg, sizeof msg);
    OPENSSL_cleanse(h, sizeof h);
    return ok ? 0 : -1;
}

static EVP_CIPHER_CTX *aes_ctx(const uint8_t key[VST_KEY_LEN], int enc)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        return NULL;
    if (EVP_CipherInit_ex2(ctx, EVP_aes_256_ecb(), key, NULL, enc, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx, 0) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

vst_version_key *vst_version_key_new(uint32_t version, const uint8_t key[VST_KEY_LEN])
{
    vst_version_key *vk = calloc(1, sizeof *vk);
    if (vk == NULL)
        return NULL;
    vk->version = version;
    vk->enc = aes_ctx(key, 1);
    vk->dec = aes_ctx(key, 0);
    if (vk->enc == NULL || vk->dec == NULL) {
        vst_version_key_free(vk);
        return NULL;
    }
    return vk;
}

void vst_version_key_free(vst_version_key *vk)
{
    if (vk == NULL)
        return;
    /* EVP_CIPHER_CTX_free cleanses the expanded key schedule. */
    EVP_CIPHER_CTX_free(vk->enc);
    EVP_CIPHER_CTX_free(vk->dec);
    free(vk);
}

uint32_t vst_version_key_version(const vst_version_key *vk)
{
    return vk->version;
}

/* ECB over whole blocks: each 16-byte block is an independent pseudonym. */
static int aes_blocks(EVP_CIPHER_CTX *ctx, const uint8_t *in, uint8_t *out, size_t n)
{
    const size_t chunk = 1u << 20; /* blocks per call; keeps int lengths safe */
    while (n > 0) {
        size_t m = n < chunk ? n : chunk;
        int outl = 0;
        if (EVP_CipherUpdate(ctx, out, &outl, in, (int)(m * 16)) != 1 || outl != (int)(m * 16))
            return -1;
        in += m * 16;
        out += m * 16;
        n -= m;
    }
    return 0;
}

int vst_pseudonym_encrypt(vst_version_key *vk, const uint8_t *in, uint8_t *out, size_t n)
{
    return aes_blocks(vk->enc, in, out, n);
}

int vst_pseudonym_decrypt(vst_version_key *vk, const uint8_t *in, uint8_t *out, size_t n)
{
    return aes_blocks(vk->dec, in, out, n);
}

int vst_pseudonymize(const vst_domain_key *dk, vst_version_key *vk, const char *const *ids,
                     const size_t *lens, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++)
        vst_inner_value(dk, ids[i], lens[i], out + i * VST_PSEUDONYM_LEN);
    if (vst_pseudonym_encrypt(vk, out, out, n) != 0) {
        OPENSSL_cleanse(out, n * VST_PSEUDONYM_LEN);
        return -1;
    }
    return 0;
}

int vst_rekey(vst_version_key *from, vst_version_key *to, uint8_t *buf, size_t n)
{
    if (vst_pseudonym_decrypt(from, buf, buf, n) != 0 ||
        vst_pseudonym_encrypt(to, buf, buf, n) != 0) {
        OPENSSL_cleanse(buf, n * VST_PSEUDONYM_LEN);
        return -1;
    }
    return 0;
}

int vst_release_map(vst_version_key *from, const uint8_t release_key[VST_KEY_LEN], uint8_t *buf,
                    size_t n)
{
    /* One key schedule per batch (up to 65536 blocks): the release key
     * stays 32 bytes in the caller's (secure) memory between batches. */
    EVP_CIPHER_CTX *rel = aes_ctx(release_key, 1);
    int rc = rel != NULL && vst_pseudonym_decrypt(from, buf, buf, n) == 0 &&
                     aes_blocks(rel, buf, buf, n) == 0
                 ? 0
                 : -1;
    EVP_CIPHER_CTX_free(rel); /* cleanses the expanded key */
    if (rc != 0)
        OPENSSL_cleanse(buf, n * VST_PSEUDONYM_LEN);
    return rc;
}

void vst_hmac_pads(const uint8_t key[VST_KEY_LEN], SHA256_CTX *inner, SHA256_CTX *outer)
{
    uint8_t pad[SHA256_CBLOCK];
    memset(pad, 0x36, sizeof pad);
    for (size_t i = 0; i < VST_KEY_LEN; i++)
        pad[i] ^= key[i];
    SHA256_Init(inner);
    SHA256_Update(inner, pad, sizeof pad);
    memset(pad, 0x5c, sizeof pad);
    for (size_t i = 0; i < VST_KEY_LEN; i++)
        pad[i] ^= key[i];
    SHA256_Init(outer);
    SHA256_Update(outer, pad, sizeof pad);
    OPENSSL_cleanse(pad, sizeof pad);
}
