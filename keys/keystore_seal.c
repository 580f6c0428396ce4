/* keystore.sealed (keystore_internal.h has the layout, docs/keystore.md
 * "keystore.sealed" the reasons): K_seal and the key check value derived
 * from the master key, the plaintext encoded and parsed with the checked
 * buffer (core/buf), AES-256-GCM with keystore.info in the AAD. The
 * plaintext lives in the secure heap and is wiped on every path; an
 * inconsistent plaintext behind a valid tag is refused as corrupt. */
#include "keystore_internal.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

/* A fixed writer holds at most VST_BUF_MAX bytes. */
_Static_assert(VST_KS_SEALED_MAX <= VST_BUF_MAX, "a full keystore.sealed fits the checked buffer");

vst_ks_status vst_master_generate(uint8_t master[VST_KEY_LEN])
{
    if (master == NULL)
        return VST_KS_INVALID;
    if (RAND_bytes(master, VST_KEY_LEN) != 1)
        return VST_KS_CRYPTO;
    return VST_KS_OK;
}

static int hkdf(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen,
                const char *info, uint8_t *out, size_t outlen)
{
    int ok = 0;
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *kctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    if (kctx != NULL) {
        char digest[] = "SHA256";
        OSSL_PARAM p[5];
        p[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
        p[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
        p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
        p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
        p[4] = OSSL_PARAM_construct_end();
        ok = EVP_KDF_derive(kctx, out, outlen, p) == 1;
    }
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return ok;
}

int vst_ks_derive_master(const uint8_t master[VST_KEY_LEN], const uint8_t id[VST_KS_ID_LEN],
                         uint8_t *seal, uint8_t kcv[VST_KS_KCV_LEN])
{
    if (seal != NULL &&
        !hkdf(master, VST_KEY_LEN, id, VST_KS_ID_LEN, "vst/keystore/seal/v1", seal, VST_KEY_LEN))
        return 0;
    return hkdf(master, VST_KEY_LEN, id, VST_KS_ID_LEN, "vst/keystore/check/v1", kcv,
                VST_KS_KCV_LEN);
}

int vst_ks_ed25519_public(const uint8_t priv[VST_ED25519_LEN], uint8_t pub[VST_ED25519_LEN])
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, VST_ED25519_LEN);
    size_t len = VST_ED25519_LEN;
    int ok =
        pk != NULL && EVP_PKEY_get_raw_public_key(pk, pub, &len) == 1 && len == VST_ED25519_LEN;
    EVP_PKEY_free(pk);
    return ok;
}

/* ---- the plaintext */

static size_t plain_len(const vst_keystore *ks)
{
    size_t n = VST_KS_PT_FIXED_LEN;
    for (size_t i = 0; i < ks->nv; i++)
        n += VST_KS_ENTRY_META_LEN + (ks->v[i].state != VST_KEY_RETIRED ? VST_KEY_LEN : 0);
    return n + vst_ks_cases_len(ks);
}

/* Nonzero when w (a fixed writer of plain_len bytes) is too small. */
static int encode_plain(const vst_keystore *ks, vst_wr *w)
{
    /* VSTKEYS1 while the exception list is empty: byte for byte the
     * format older code reads. */
    const char *magic = ks->ncases > 0 ? VST_KS_PT_MAGIC2 : VST_KS_PT_MAGIC;
    if (vst_wr_put(w, magic, VST_KS_MAGIC_LEN) != 0 ||
        vst_wr_put(w, VST_KS_ROOT_KEY(ks), VST_KEY_LEN) != 0 ||
        vst_wr_put(w, VST_KS_SIGN_KEY(ks), VST_ED25519_LEN) != 0 ||
        vst_wr_u32(w, ks->current) != 0 || vst_wr_u32(w, (uint32_t)ks->nv) != 0)
        return -1;
    for (size_t i = 0; i < ks->nv; i++) {
        const vst_ks_entry *v = &ks->v[i];
        if (vst_wr_u32(w, v->version) != 0 || vst_wr_u8(w, (uint8_t)v->state) != 0 ||
            vst_wr_i64(w, v->created) != 0 || vst_wr_i64(w, v->retired) != 0 ||
            (v->state != VST_KEY_RETIRED && vst_wr_put(w, v->key, VST_KEY_LEN) != 0))
            return -1;
    }
    return ks->ncases > 0 ? vst_ks_cases_encode(ks, w) : 0;
}

static vst_ks_status inconsistent(const vst_keystore *ks, const char *what, char *err,
                                  size_t errlen)
{
    return VST_KS_FAIL(VST_KS_CORRUPT,
                       "keystore %s: " VST_KS_SEALED_FILE " decrypted but is inconsistent: %s",
                       ks->dir, what);
}

/* One version entry from r into ks->v (room reserved); counts a current
 * version into *ncurrent. */
static vst_ks_status parse_entry(vst_keystore *ks, vst_rd *r, uint32_t current, unsigned *ncurrent,
                                 char *err, size_t errlen)
{
    vst_ks_entry v = {0};
    uint8_t state;
    if (vst_rd_left(r) < VST_KS_ENTRY_META_LEN || vst_rd_u32(r, &v.version) != 0 ||
        vst_rd_u8(r, &state) != 0 || vst_rd_i64(r, &v.created) != 0 ||
        vst_rd_i64(r, &v.retired) != 0)
        return inconsistent(ks, "truncated version list", err, errlen);
    if (v.version == 0 || (ks->nv > 0 && v.version <= ks->v[ks->nv - 1].version))
        return inconsistent(ks, "version numbers not ascending", err, errlen);
    if (state < VST_KEY_CURRENT || state > VST_KEY_RETIRED)
        return inconsistent(ks, "unknown key state", err, errlen);
    v.state = (vst_key_state)state;
    if ((v.state == VST_KEY_RETIRED) != (v.retired != 0))
        return inconsistent(ks, "retirement time does not match the state", err, errlen);
    if (v.state == VST_KEY_CURRENT) {
        ++*ncurrent;
        if (v.version != current)
            return inconsistent(ks, "current version does not match", err, errlen);
    }
    if (v.state != VST_KEY_RETIRED) {
        if (vst_rd_left(r) < VST_KEY_LEN)
            return inconsistent(ks, "truncated key", err, errlen);
        v.key = vst_ks_sec_zalloc(VST_KEY_LEN);
        if (v.key == NULL)
            return VST_KS_FAIL(VST_KS_NOMEM, "keystore %s: out of memory", ks->dir);
        (void)vst_rd_copy(r, v.key, VST_KEY_LEN); /* the length was checked */
    }
    ks->v[ks->nv++] = v;
    return VST_KS_OK;
}

/* The inner header: magic (which says whether an exception list
 * follows the versions), K_root, the signing key, current, count. */
static vst_ks_status parse_head(vst_keystore *ks, vst_rd *r, int *v2, uint32_t *current,
                                uint32_t *count, char *err, size_t errlen)
{
    const uint8_t *magic;
    if (vst_rd_view(r, VST_KS_MAGIC_LEN, &magic) != 0)
        return inconsistent(ks, "bad inner header", err, errlen);
    *v2 = memcmp(magic, VST_KS_PT_MAGIC2, VST_KS_MAGIC_LEN) == 0;
    if ((!*v2 && memcmp(magic, VST_KS_PT_MAGIC, VST_KS_MAGIC_LEN) != 0) ||
        vst_rd_copy(r, VST_KS_ROOT_KEY(ks), VST_KEY_LEN) != 0 ||
        vst_rd_copy(r, VST_KS_SIGN_KEY(ks), VST_ED25519_LEN) != 0 || vst_rd_u32(r, current) != 0 ||
        vst_rd_u32(r, count) != 0)
        return inconsistent(ks, "bad inner header", err, errlen);
    if (*count == 0 || *count > VST_KS_MAX_VERSIONS)
        return inconsistent(ks, "bad number of key versions", err, errlen);
    return VST_KS_OK;
}

/* Parses the decrypted plaintext into ks (versions, current, root, signing
 * key, the exception list). */
static vst_ks_status parse_plain(vst_keystore *ks, const uint8_t *pt, size_t len, char *err,
                                 size_t errlen)
{
    vst_rd r;
    uint32_t current, count;
    int v2 = 0;
    vst_rd_init(&r, pt, len);
    vst_ks_status st = parse_head(ks, &r, &v2, &current, &count, err, errlen);
    if (st != VST_KS_OK)
        return st;
    if (!vst_ks_reserve(ks, count))
        return VST_KS_FAIL(VST_KS_NOMEM, "keystore %s: out of memory", ks->dir);
    unsigned ncurrent = 0;
    for (uint32_t i = 0; i < count; i++) {
        st = parse_entry(ks, &r, current, &ncurrent, err, errlen);
        if (st != VST_KS_OK)
            return st;
    }
    if (v2 && (st = vst_ks_cases_parse(ks, &r, err, errlen)) != VST_KS_OK)
        return st;
    if (vst_rd_end(&r) != 0)
        return inconsistent(ks, "trailing data", err, errlen);
    if (ncurrent != 1)
        return inconsistent(ks, "not exactly one current version", err, errlen);
    ks->current = current;
    uint8_t pub[VST_ED25519_LEN];
    if (!vst_ks_ed25519_public(VST_KS_SIGN_KEY(ks), pub))
        return VST_KS_FAIL(VST_KS_CRYPTO, "keystore %s: cannot load the signing key (OpenSSL)",
                           ks->dir);
    if (CRYPTO_memcmp(pub, ks->info.sign_public, VST_ED25519_LEN) != 0)
        return inconsistent(ks, "signing key does not match the public key in " VST_KS_INFO_FILE,
                            err, errlen);
    return VST_KS_OK;
}

/* ---- AES-256-GCM */

/* AES-256-GCM of in[0..len) into out under key and nonce, with the AAD
 * hdr (the file's magic and generation) || info; encrypting computes tag,
 * decrypting checks it. 1 on success; decrypting: 0 when OpenSSL failed,
 * -1 when the tag does not authenticate. */
static int gcm(int enc, const uint8_t *key, const uint8_t *nonce, const uint8_t *hdr,
               const char *info, size_t info_len, const uint8_t *in, size_t len, uint8_t *out,
               uint8_t *tag)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int outl = 0, finl = 0;
    int ok = c != NULL && EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, VST_KS_NONCE_LEN, NULL) == 1 &&
             EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) == 1 &&
             EVP_CipherUpdate(c, NULL, &outl, hdr, VST_KS_SEAL_HDR_LEN) == 1 &&
             EVP_CipherUpdate(c, NULL, &outl, (const uint8_t *)info, (int)info_len) == 1 &&
             EVP_CipherUpdate(c, out, &outl, in, (int)len) == 1 &&
             (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, VST_KS_TAG_LEN, tag) == 1);
    if (ok && EVP_CipherFinal_ex(c, out + outl, &finl) != 1)
        ok = enc ? 0 : -1;
    if (ok == 1 && enc)
        ok = (size_t)outl + (size_t)finl == len &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, VST_KS_TAG_LEN, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    return ok;
}

/* ---- keystore.sealed */

vst_ks_status vst_ks_seal(const vst_keystore *ks, uint64_t generation, const uint8_t *pt,
                          size_t pt_len, uint8_t **file, size_t *file_len, char *err, size_t errlen)
{
    size_t len = VST_KS_SEALED_OVERHEAD + pt_len;
    uint8_t *buf = OPENSSL_malloc(len), *body;
    if (buf == NULL)
        return VST_KS_FAIL(VST_KS_NOMEM, "keystore %s: out of memory", ks->dir);
    vst_wr w;
    vst_wr_init_fixed(&w, buf, len);
    if (vst_wr_put(&w, VST_KS_SEAL_MAGIC, VST_KS_MAGIC_LEN) != 0 ||
        vst_wr_u64(&w, generation) != 0 ||
        vst_wr_reserve(&w, VST_KS_NONCE_LEN + pt_len + VST_KS_TAG_LEN, &body) != 0) {
        OPENSSL_free(buf);
        return VST_KS_FAIL(VST_KS_INVALID, "keystore %s: too much to seal", ks->dir);
    }
    uint8_t *nonce = body, *ct = nonce + VST_KS_NONCE_LEN, *tag = ct + pt_len;
    if (RAND_bytes(nonce, VST_KS_NONCE_LEN) != 1 ||
        gcm(1, VST_KS_SEAL_KEY(ks), nonce, buf, ks->info_raw, ks->info_len, pt, pt_len, ct, tag) !=
            1) {
        OPENSSL_free(buf);
        return VST_KS_FAIL(VST_KS_CRYPTO, "keystore %s: sealing failed (OpenSSL)", ks->dir);
    }
    *file = buf;
    *file_len = len;
    return VST_KS_OK;
}

vst_ks_status vst_ks_seal_and_write(vst_keystore *ks, uint64_t generation, int *renamed, char *err,
                                    size_t errlen)
{
    *renamed = 0;
    size_t pt_len = plain_len(ks), file_len = 0;
    uint8_t *pt = vst_ks_sec_zalloc(pt_len), *file = NULL;
    if (pt == NULL)
        return VST_KS_FAIL(VST_KS_NOMEM, "keystore %s: out of memory", ks->dir);
    vst_wr w;
    vst_wr_init_fixed(&w, pt, pt_len);
    vst_ks_status st = VST_KS_OK;
    if (encode_plain(ks, &w) != 0 || vst_wr_len(&w) != pt_len)
        st = VST_KS_FAIL(VST_KS_INVALID, "keystore %s: too much to seal", ks->dir);
    if (st == VST_KS_OK)
        st = vst_ks_seal(ks, generation, pt, pt_len, &file, &file_len, err, errlen);
    if (st == VST_KS_OK)
        st = vst_ks_write_atomic(ks->dirfd, ks->dir, VST_KS_SEALED_FILE, file, file_len, renamed,
                                 err, errlen);
    OPENSSL_free(file);
    vst_ks_sec_free(pt, pt_len);
    return st;
}

vst_ks_status vst_ks_unseal(vst_keystore *ks, const uint8_t *file, size_t len, char *err,
                            size_t errlen)
{
    vst_rd r;
    const uint8_t *magic, *nonce, *ct, *tag;
    uint64_t generation;
    size_t ct_len = len >= VST_KS_SEALED_OVERHEAD ? len - VST_KS_SEALED_OVERHEAD : 0;
    vst_rd_init(&r, file, len);
    if (len < VST_KS_SEALED_OVERHEAD + VST_KS_PT_FIXED_LEN ||
        vst_rd_view(&r, VST_KS_MAGIC_LEN, &magic) != 0 || vst_rd_u64(&r, &generation) != 0 ||
        vst_rd_view(&r, VST_KS_NONCE_LEN, &nonce) != 0 || vst_rd_view(&r, ct_len, &ct) != 0 ||
        vst_rd_view(&r, VST_KS_TAG_LEN, &tag) != 0 || vst_rd_end(&r) != 0)
        return VST_KS_FAIL(VST_KS_CORRUPT,
                           "keystore %s: " VST_KS_SEALED_FILE " is truncated (%zu bytes)", ks->dir,
                           len);
    if (memcmp(magic, VST_KS_SEAL_MAGIC, VST_KS_MAGIC_LEN) != 0)
        return VST_KS_FAIL(VST_KS_CORRUPT,
                           "keystore %s: " VST_KS_SEALED_FILE " is damaged (not a vst sealed file)",
                           ks->dir);
    uint8_t *pt = vst_ks_sec_zalloc(ct_len);
    if (pt == NULL)
        return VST_KS_FAIL(VST_KS_NOMEM, "keystore %s: out of memory", ks->dir);
    vst_ks_status st = VST_KS_OK;
    int ok = gcm(0, VST_KS_SEAL_KEY(ks), nonce, file, ks->info_raw, ks->info_len, ct, ct_len, pt,
                 (uint8_t *)tag);
    if (ok == 0)
        st = VST_KS_FAIL(VST_KS_CRYPTO, "keystore %s: unsealing failed (OpenSSL)", ks->dir);
    else if (ok < 0)
        /* The key check value matched, so the master key is right: the
         * sealed file or the header was modified or damaged. */
        st = VST_KS_FAIL(VST_KS_CORRUPT,
                         "keystore %s: authentication failed: " VST_KS_SEALED_FILE
                         " or " VST_KS_INFO_FILE
                         " was modified or damaged (restore both from backup)",
                         ks->dir);
    else
        st = parse_plain(ks, pt, ct_len, err, errlen);
    if (st == VST_KS_OK)
        ks->generation = generation;
    vst_ks_sec_free(pt, ct_len);
    return st;
}

int vst_keystore_check_master(const vst_keystore_info *info, const uint8_t master[VST_KEY_LEN])
{
    uint8_t kcv[VST_KS_KCV_LEN];
    if (info == NULL || master == NULL || !vst_ks_derive_master(master, info->id, NULL, kcv))
        return -1;
    int same = CRYPTO_memcmp(kcv, info->key_check, VST_KS_KCV_LEN) == 0;
    OPENSSL_cleanse(kcv, sizeof kcv);
    return same;
}
