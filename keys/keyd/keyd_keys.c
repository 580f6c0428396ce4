/* keyd's key state: sealed until the master key is rebuilt from shares (or
 * read from a development master-key file), then the opened keystore and
 * the contexts derived from it — one HMAC context per allowed domain, one
 * AES context pair per live key version, the Ed25519 signing key. Shares
 * and the master key are wiped as soon as the keystore is open or the
 * attempt failed. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyd.h"

#define MAX_DOMAINS 32

typedef struct {
    char name[VST_DOMAIN_MAXLEN + 1];
    vst_domain_key *dk; /* NULL until first use */
} domain_slot;

typedef struct {
    uint32_t version;
    vst_version_key *vk;
} version_slot;

static struct {
    char *dir;
    vst_keystore_info info;
    vst_keystore *ks; /* NULL while sealed */
    int dev_master;
    vst_share *shares; /* pending shares, in secure memory */
    size_t nshares;
    domain_slot domains[MAX_DOMAINS];
    size_t ndomains;
    version_slot *versions;
    size_t nversions;
    EVP_PKEY *sign;
} K;

static int parse_domains(const char *list, char *err, size_t errlen)
{
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
        if (!vst_domain_name_ok(t)) {
            snprintf(err, errlen, "domains: \"%.64s\" is not a valid domain name", t);
            return -1;
        }
        if (K.ndomains == MAX_DOMAINS) {
            snprintf(err, errlen, "domains: at most %d", MAX_DOMAINS);
            return -1;
        }
        snprintf(K.domains[K.ndomains++].name, sizeof K.domains[0].name, "%s", t);
    }
    if (K.ndomains == 0) {
        snprintf(err, errlen, "domains: the allowlist is empty");
        return -1;
    }
    return 0;
}

int keyd_keys_init(const char *dir, const char *domains, char *err, size_t errlen)
{
    if (parse_domains(domains, err, errlen) != 0)
        return -1;
    if ((K.dir = strdup(dir)) == NULL)
        return -1;
    vst_ks_status st = vst_keystore_read_info(dir, &K.info, err, errlen);
    if (st != VST_KS_OK)
        return -1;
    size_t n = VST_SHARE_MAX_COUNT * sizeof(vst_share);
    K.shares = CRYPTO_secure_malloc_initialized() ? OPENSSL_secure_zalloc(n) : OPENSSL_zalloc(n);
    return K.shares ? 0 : -1;
}

static void drop_contexts(void)
{
    for (size_t i = 0; i < K.ndomains; i++) {
        vst_domain_key_free(K.domains[i].dk);
        K.domains[i].dk = NULL;
    }
    for (size_t i = 0; i < K.nversions; i++)
        vst_version_key_free(K.versions[i].vk);
    free(K.versions);
    K.versions = NULL;
    K.nversions = 0;
    EVP_PKEY_free(K.sign);
    K.sign = NULL;
}

static void wipe_shares(void)
{
    if (K.shares != NULL)
        vst_share_wipe(K.shares, VST_SHARE_MAX_COUNT);
    K.nshares = 0;
}

void keyd_keys_free(void)
{
    drop_contexts();
    wipe_shares();
    if (CRYPTO_secure_allocated(K.shares))
        OPENSSL_secure_clear_free(K.shares, VST_SHARE_MAX_COUNT * sizeof(vst_share));
    else
        OPENSSL_clear_free(K.shares, VST_SHARE_MAX_COUNT * sizeof(vst_share));
    K.shares = NULL;
    vst_keystore_free(K.ks);
    K.ks = NULL;
    free(K.dir);
    K.dir = NULL;
}

/* (Re)builds the AES contexts of every live version. */
static int load_versions(void)
{
    size_t total = vst_keystore_versions(K.ks, NULL, 0);
    vst_key_version *list = calloc(total ? total : 1, sizeof *list);
    if (list == NULL)
        return -1;
    vst_keystore_versions(K.ks, list, total);
    for (size_t i = 0; i < K.nversions; i++)
        vst_version_key_free(K.versions[i].vk);
    free(K.versions);
    K.nversions = 0;
    K.versions = calloc(total ? total : 1, sizeof *K.versions);
    int rc = K.versions ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < total; i++) {
        const uint8_t *key = vst_keystore_version_key(K.ks, list[i].version);
        if (key == NULL)
            continue; /* retired */
        vst_version_key *vk = vst_version_key_new(list[i].version, key);
        if (vk == NULL)
            rc = -1;
        else
            K.versions[K.nversions++] = (version_slot){list[i].version, vk};
    }
    free(list);
    return rc;
}

static int opened(vst_keystore *ks)
{
    K.ks = ks;
    K.sign = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, vst_keystore_sign_private(ks),
                                          VST_ED25519_LEN);
    if (K.sign == NULL || load_versions() != 0) {
        drop_contexts();
        vst_keystore_free(ks);
        K.ks = NULL;
        return -1;
    }
    return 0;
}

int keyd_sealed(void)
{
    return K.ks == NULL;
}

int keyd_dev_master(void)
{
    return K.dev_master;
}

void keyd_share_counts(uint8_t *have, uint8_t *need)
{
    *have = (uint8_t)K.nshares;
    *need = K.info.mode.mode == VST_KS_MODE_SHAMIR ? (uint8_t)K.info.mode.threshold : 0;
}

int keyd_unseal_dev(const char *path, char *err, size_t errlen)
{
    uint8_t master[VST_KEY_LEN];
    vst_keystore *ks = NULL;
    if (vst_master_file_read(path, master, err, errlen) != VST_KS_OK)
        return -1;
    vst_ks_status st = vst_keystore_open(K.dir, master, &ks, err, errlen);
    OPENSSL_cleanse(master, sizeof master);
    if (st != VST_KS_OK || opened(ks) != 0)
        return -1;
    K.dev_master = 1;
    return 0;
}

int keyd_unseal_share(const vst_unseal_req *rq, uint32_t uid, vst_unseal_ok *out)
{
    uint8_t have, need;
    if (!keyd_sealed()) {
        keyd_share_counts(&have, &need);
        *out = (vst_unseal_ok){VST_UNSEAL_DONE, have, need};
        return 0;
    }
    char err[256];
    if (K.info.mode.mode != VST_KS_MODE_SHAMIR ||
        memcmp(rq->keystore_id, K.info.id, VST_KS_ID_LEN) != 0) {
        keyd_event(uid, "keyd.unseal_rejected", "{\"reason\":\"foreign_share\"}");
        keyd_share_counts(&have, &need);
        *out = (vst_unseal_ok){VST_UNSEAL_REJECTED, have, need};
        return 0;
    }
    for (size_t i = 0; i < K.nshares; i++)
        if (K.shares[i].index == rq->index) {
            keyd_event(uid, "keyd.unseal_rejected", "{\"reason\":\"duplicate_share\"}");
            keyd_share_counts(&have, &need);
            *out = (vst_unseal_ok){VST_UNSEAL_REJECTED, have, need};
            return 0;
        }
    vst_share *s = &K.shares[K.nshares++];
    memcpy(s->keystore_id, rq->keystore_id, VST_KS_ID_LEN);
    s->index = rq->index;
    s->threshold = (uint8_t)K.info.mode.threshold;
    s->shares = (uint8_t)K.info.mode.shares;
    memcpy(s->y, rq->share, VST_SHARE_LEN);
    keyd_share_counts(&have, &need);
    keyd_event(uid, "keyd.unseal_share", "{\"have\":%u,\"need\":%u}", have, need);
    if (have < need) {
        *out = (vst_unseal_ok){VST_UNSEAL_NEED_MORE, have, need};
        return 0;
    }
    /* Enough shares: rebuild the master key; a wrong one (a bad share, a
     * lowered threshold) is caught by the keystore's key check / GCM tag. */
    uint8_t master[VST_KEY_LEN];
    vst_keystore *ks = NULL;
    vst_ks_status st = vst_shamir_combine_raw(K.shares, K.nshares, master, err, sizeof err);
    if (st == VST_KS_OK)
        st = vst_keystore_open(K.dir, master, &ks, err, sizeof err);
    OPENSSL_cleanse(master, sizeof master);
    wipe_shares();
    if (st != VST_KS_OK || opened(ks) != 0) {
        keyd_log("error", "unseal failed: the shares do not rebuild the master key (%s)",
                 vst_ks_status_name(st));
        keyd_event(uid, "keyd.unseal_rejected", "{\"reason\":\"%s\"}", vst_ks_status_name(st));
        *out = (vst_unseal_ok){VST_UNSEAL_REJECTED, 0, need};
        return 0;
    }
    keyd_event(uid, "keyd.unseal",
               "{\"mode\":\"shamir\",\"current_version\":%u,\"generation\":%llu}",
               keyd_current_version(), (unsigned long long)vst_keystore_generation(K.ks));
    *out = (vst_unseal_ok){VST_UNSEAL_DONE, need, need};
    return 0;
}

uint32_t keyd_current_version(void)
{
    return K.ks ? vst_keystore_current(K.ks) : 0;
}

size_t keyd_versions(vst_key_version *out, size_t max)
{
    return K.ks ? vst_keystore_versions(K.ks, out, max) : 0;
}

const uint8_t *keyd_sign_public(void)
{
    return K.info.sign_public;
}

const vst_domain_key *keyd_domain(const char *name)
{
    for (size_t i = 0; i < K.ndomains; i++) {
        domain_slot *d = &K.domains[i];
        if (strcmp(d->name, name) != 0)
            continue;
        if (d->dk == NULL)
            d->dk = vst_domain_key_new(vst_keystore_root_key(K.ks), name);
        return d->dk;
    }
    return NULL;
}

vst_version_key *keyd_version(uint32_t v, unsigned *kerr)
{
    for (size_t i = 0; i < K.nversions; i++)
        if (K.versions[i].version == v)
            return K.versions[i].vk;
    vst_key_state st;
    *kerr = vst_keystore_version_state(K.ks, v, &st) == 0 && st == VST_KEY_RETIRED
                ? VST_KERR_RETIRED_VERSION
                : VST_KERR_UNKNOWN_VERSION;
    return NULL;
}

unsigned keyd_rotate(uint32_t *new_version)
{
    char err[256];
    if (vst_keystore_rotate(K.ks, new_version, err, sizeof err) != VST_KS_OK) {
        keyd_log("error", "rotate failed: %s", err);
        return VST_KERR_INTERNAL;
    }
    return load_versions() == 0 ? 0 : VST_KERR_INTERNAL;
}

unsigned keyd_retire(uint32_t version)
{
    char err[256];
    vst_key_state st;
    if (vst_keystore_version_state(K.ks, version, &st) != 0)
        return VST_KERR_UNKNOWN_VERSION;
    if (st == VST_KEY_RETIRED)
        return VST_KERR_RETIRED_VERSION;
    if (version == vst_keystore_current(K.ks))
        return VST_KERR_NOT_CURRENT;
    if (vst_keystore_retire(K.ks, version, err, sizeof err) != VST_KS_OK) {
        keyd_log("error", "retire failed: %s", err);
        return VST_KERR_INTERNAL;
    }
    return load_versions() == 0 ? 0 : VST_KERR_INTERNAL;
}

int keyd_sign(const uint8_t *msg, size_t len, uint8_t sig[64])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t siglen = 64;
    int ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, NULL, NULL, K.sign) == 1 &&
             EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 && siglen == 64;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

int keyd_derive_key(const char *info, uint8_t out[VST_KEY_LEN])
{
    return K.ks ? vst_hkdf_info(vst_keystore_root_key(K.ks), info, out) : -1;
}
