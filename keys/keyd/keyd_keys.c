/* keyd's key state: sealed until the master key is rebuilt from shares (or
 * read from a development master-key file), then the opened keystore and
 * the contexts derived from it — one HMAC context per allowed domain, one
 * AES context pair per live key version, the Ed25519 signing key. Shares
 * and the master key are wiped as soon as the keystore is open or the
 * attempt failed.
 *
 * A wrong share costs only itself: keystore.info records each share's check
 * value, so a share that does not match is refused on arrival and the good
 * ones already collected are kept. A keystore made before those check
 * values existed falls back to trying every combination of the collected
 * shares (it keeps them until one rebuilds the key or all n were given).
 *
 * A keystore replaced by an older copy (a restored backup: a retired key
 * back, a rotation undone) is refused at unseal: keyd's events record the
 * keystore's generation at every unseal, rotation and retirement, and a
 * keystore whose generation is lower than the highest recorded for its id
 * is not opened. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyd/keyd.h"

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
    uint64_t gen_seen; /* highest generation of this keystore in the events */
} K;

/* Combinations of collected shares tried at most per new share (a legacy
 * keystore without share checks): C(k-1, m-1) stays far below this for any
 * real m of n. */
#define MAX_COMBINATIONS 20000

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
    keyd_cases_free();
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
    if (K.sign == NULL || load_versions() != 0 || keyd_cases_load(ks) != 0) {
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

void keyd_keys_note_generation(const char *keystore_hex, uint64_t generation)
{
    /* The latest record counts (events come in order): after an accepted
     * rollback the keystore goes on from the older generation. */
    if (strcmp(keystore_hex, keyd_keystore_id()) == 0)
        K.gen_seen = generation;
}

/* Events name the keystore by the first 16 hex digits of its id: a 32-hex
 * value looks like a pseudonym, and the audit log withholds those. */
const char *keyd_keystore_id(void)
{
    static char ref[17];
    snprintf(ref, sizeof ref, "%.16s", K.info.id_hex);
    return ref;
}

uint64_t keyd_keystore_generation(void)
{
    return K.ks ? vst_keystore_generation(K.ks) : 0;
}

/* A just-opened keystore older than the one keyd has used before: 1 (and
 * an event; ks is left to the caller), else 0. The operator may accept
 * exactly one older generation (accept-generation: disaster recovery from
 * an older backup), which is audited and becomes the record. */
static int rolled_back(const vst_keystore *ks, uint32_t uid)
{
    uint64_t g = vst_keystore_generation(ks);
    if (g >= K.gen_seen)
        return 0;
    if (g_cfg.accept_generation != 0 && g == g_cfg.accept_generation) {
        keyd_log("warning",
                 "keystore %s (id %s) is generation %llu, older than generation %llu this keyd "
                 "has used: accepted as configured (accept-generation)",
                 K.dir, K.info.id_hex, (unsigned long long)g, (unsigned long long)K.gen_seen);
        keyd_event(uid, "keyd.rollback_accepted",
                   "{\"keystore\":\"%s\",\"generation\":%llu,\"seen\":%llu}", keyd_keystore_id(),
                   (unsigned long long)g, (unsigned long long)K.gen_seen);
        K.gen_seen = g;
        return 0;
    }
    keyd_log("error",
             "keystore %s (id %s) is generation %llu, older than generation %llu this keyd has "
             "used (events file %s): an older copy was put back; refusing to unseal it",
             K.dir, K.info.id_hex, (unsigned long long)g, (unsigned long long)K.gen_seen,
             g_cfg.events_file);
    keyd_event(uid, "keyd.unseal_rejected",
               "{\"reason\":\"rollback\",\"keystore\":\"%s\",\"generation\":%llu,\"seen\":%llu}",
               keyd_keystore_id(), (unsigned long long)g, (unsigned long long)K.gen_seen);
    return 1;
}

int keyd_unseal_dev(const char *path, char *err, size_t errlen)
{
    uint8_t master[VST_KEY_LEN];
    vst_keystore *ks = NULL;
    if (vst_master_file_read(path, master, err, errlen) != VST_KS_OK)
        return -1;
    vst_ks_status st = vst_keystore_open(K.dir, master, &ks, err, errlen);
    OPENSSL_cleanse(master, sizeof master);
    if (st != VST_KS_OK)
        return -1;
    if (rolled_back(ks, (uint32_t)getuid())) {
        snprintf(err, errlen,
                 "keystore %s is generation %llu, older than generation %llu recorded in %s: "
                 "an older copy was put back; refusing it",
                 K.dir, (unsigned long long)vst_keystore_generation(ks),
                 (unsigned long long)K.gen_seen, g_cfg.events_file);
        vst_keystore_free(ks);
        return -1;
    }
    if (opened(ks) != 0)
        return -1;
    K.dev_master = 1;
    return 0;
}

static void answer(vst_unseal_ok *out, uint8_t result)
{
    uint8_t have, need;
    keyd_share_counts(&have, &need);
    *out = (vst_unseal_ok){result, have, need};
}

/* Refuses one share on its own: the shares collected so far stay. */
static void refuse_share(uint32_t uid, const char *reason, uint8_t index, vst_unseal_ok *out)
{
    keyd_event(uid, "keyd.unseal_rejected", "{\"reason\":\"%s\",\"index\":%u}", reason,
               (unsigned)index);
    answer(out, VST_UNSEAL_SHARE_REFUSED);
}

/* Whether the share matches the check value keystore.info records for
 * its index: 1 yes, 0 no; 1 for a keystore that records none. */
static int share_matches(const vst_share *s)
{
    if (K.info.nshare_checks == 0)
        return 1;
    const vst_ks_share_check *want = vst_keystore_share_check(&K.info, s->index);
    uint8_t got[VST_KS_SHARE_CHECK_LEN];
    int ok =
        want != NULL && vst_share_check(s, got) && CRYPTO_memcmp(got, want->check, sizeof got) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return ok;
}

/* Rebuilds the master key from m of the k collected shares, trying the
 * combinations that contain the newest share (the others were tried when
 * their own newest share came) until the key check value fits. pick[] gets
 * the chosen shares' positions. 1 found, 0 none fits, -1 too many to try or
 * an internal failure. */
static int find_master(uint8_t master[VST_KEY_LEN], size_t pick[VST_SHARE_MAX_COUNT])
{
    size_t k = K.nshares, m = K.info.mode.threshold;
    uint64_t combos = 1; /* C(k-1, m-1) */
    for (size_t i = 1; i < m && combos <= MAX_COMBINATIONS; i++)
        combos = combos * (k - m + i) / i;
    if (combos > MAX_COMBINATIONS)
        return -1;
    size_t n = m * sizeof(vst_share);
    vst_share *tmp =
        CRYPTO_secure_malloc_initialized() ? OPENSSL_secure_zalloc(n) : OPENSSL_zalloc(n);
    if (tmp == NULL)
        return -1;
    /* pick[0..m-2] ascending over 0..k-2; pick[m-1] = k-1, the newest. */
    for (size_t i = 0; i + 1 < m; i++)
        pick[i] = i;
    pick[m - 1] = k - 1;
    int found = 0;
    for (;;) {
        for (size_t i = 0; i < m; i++)
            tmp[i] = K.shares[pick[i]];
        char err[128];
        if (vst_shamir_combine_raw(tmp, m, master, err, sizeof err) == VST_KS_OK) {
            int fit = vst_keystore_check_master(&K.info, master);
            if (fit != 0) {
                found = fit;
                break;
            }
        }
        size_t i = m - 1; /* next combination of pick[0..m-2] */
        while (i > 0 && pick[i - 1] == k - 1 - (m - i))
            i--;
        if (i == 0)
            break;
        pick[i - 1]++;
        for (size_t j = i; j + 1 < m; j++)
            pick[j] = pick[j - 1] + 1;
    }
    vst_share_wipe(tmp, m);
    if (CRYPTO_secure_allocated(tmp))
        OPENSSL_secure_clear_free(tmp, n);
    else
        OPENSSL_clear_free(tmp, n);
    if (found != 1)
        OPENSSL_cleanse(master, VST_KEY_LEN);
    return found;
}

/* The shares not in pick[], as "3,17" for the unseal event. */
static void unused_shares(const size_t *pick, char *buf, size_t cap)
{
    size_t len = 0, m = K.info.mode.threshold;
    buf[0] = '\0';
    for (size_t i = 0; i < K.nshares; i++) {
        int used = 0;
        for (size_t j = 0; j < m; j++)
            used |= pick[j] == i;
        if (!used && len + 5 < cap)
            len += (size_t)snprintf(buf + len, cap - len, "%s%u", len ? "," : "",
                                    (unsigned)K.shares[i].index);
    }
}

/* Adds the request's share to those held: 1, or 0 after a refusal. */
static int take_share(const vst_unseal_req *rq, uint32_t uid, vst_unseal_ok *out)
{
    if (K.info.mode.mode != VST_KS_MODE_SHAMIR ||
        memcmp(rq->keystore_id, K.info.id, VST_KS_ID_LEN) != 0) {
        refuse_share(uid, "foreign_share", rq->index, out);
        return 0;
    }
    for (size_t i = 0; i < K.nshares; i++)
        if (K.shares[i].index == rq->index) {
            refuse_share(uid, "duplicate_share", rq->index, out);
            return 0;
        }
    vst_share *s = &K.shares[K.nshares];
    memcpy(s->keystore_id, rq->keystore_id, VST_KS_ID_LEN);
    s->index = rq->index;
    s->threshold = (uint8_t)K.info.mode.threshold;
    s->shares = (uint8_t)K.info.mode.shares;
    memcpy(s->y, rq->share, VST_SHARE_LEN);
    if (!share_matches(s)) {
        vst_share_wipe(s, 1);
        keyd_log("error",
                 "unseal: share %u does not match the keystore's check value for it; "
                 "refused (the other shares are kept)",
                 (unsigned)rq->index);
        refuse_share(uid, "bad_share", rq->index, out);
        return 0;
    }
    K.nshares++;
    return 1;
}

/* Enough shares are held: rebuild the master key, open the keystore. */
static void unseal_with_shares(uint32_t uid, uint8_t have, uint8_t need, vst_unseal_ok *out)
{
    /* Only the key check value says whether the rebuilt key is right
     * (wrong shares recombine silently). */
    uint8_t master[VST_KEY_LEN];
    size_t pick[VST_SHARE_MAX_COUNT];
    int found = find_master(master, pick);
    if (found != 1) {
        /* A legacy keystore cannot tell which share is wrong: keep them
         * all and try again with the next one, until all n were given. */
        int keep = found == 0 && K.info.nshare_checks == 0 && K.nshares < K.info.mode.shares;
        keyd_log("error", "unseal: the %u shares do not rebuild the master key%s", have,
                 keep ? "; keeping them: one more share lets keyd find the wrong one"
                      : "; discarding them");
        keyd_event(uid, "keyd.unseal_rejected", "{\"reason\":\"%s\",\"kept\":%u}",
                   found < 0 ? "too_many_combinations" : "wrong_key", keep ? have : 0);
        if (!keep)
            wipe_shares();
        answer(out, VST_UNSEAL_REJECTED);
        return;
    }
    char unused[VST_SHARE_MAX_COUNT * 4 + 1], err[256];
    unused_shares(pick, unused, sizeof unused);
    vst_keystore *ks = NULL;
    vst_ks_status st = vst_keystore_open(K.dir, master, &ks, err, sizeof err);
    OPENSSL_cleanse(master, sizeof master);
    wipe_shares();
    if (st != VST_KS_OK) {
        keyd_log("error", "unseal failed: %s", err);
        keyd_event(uid, "keyd.unseal_rejected", "{\"reason\":\"%s\"}", vst_ks_status_name(st));
        answer(out, VST_UNSEAL_REJECTED);
        return;
    }
    if (rolled_back(ks, uid)) {
        vst_keystore_free(ks);
        answer(out, VST_UNSEAL_ROLLBACK);
        return;
    }
    if (opened(ks) != 0) {
        keyd_event(uid, "keyd.unseal_rejected", "{\"reason\":\"internal\"}");
        answer(out, VST_UNSEAL_REJECTED);
        return;
    }
    K.gen_seen = vst_keystore_generation(K.ks);
    keyd_event(uid, "keyd.unseal",
               "{\"mode\":\"shamir\",\"current_version\":%u,\"keystore\":\"%s\","
               "\"generation\":%llu,\"unused_shares\":[%s]}",
               keyd_current_version(), keyd_keystore_id(), (unsigned long long)K.gen_seen, unused);
    *out = (vst_unseal_ok){VST_UNSEAL_DONE, need, need};
}

int keyd_unseal_share(const vst_unseal_req *rq, uint32_t uid, vst_unseal_ok *out)
{
    if (!keyd_sealed()) {
        answer(out, VST_UNSEAL_DONE);
        return 0;
    }
    if (!take_share(rq, uid, out))
        return 0;
    uint8_t have, need;
    keyd_share_counts(&have, &need);
    keyd_event(uid, "keyd.unseal_share", "{\"have\":%u,\"need\":%u}", have, need);
    if (have < need)
        answer(out, VST_UNSEAL_NEED_MORE);
    else
        unseal_with_shares(uid, have, need, out);
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

int keyd_domain_allowed(const char *name)
{
    for (size_t i = 0; i < K.ndomains; i++)
        if (strcmp(K.domains[i].name, name) == 0)
            return 1;
    return 0;
}

vst_link_key *keyd_link_key_new(const char *domain)
{
    if (K.ks == NULL || !keyd_domain_allowed(domain))
        return NULL;
    return vst_link_key_new(vst_keystore_root_key(K.ks), domain);
}

vst_version_key *keyd_collection_key_new(uint32_t v, const char *collection, unsigned *kerr)
{
    if (keyd_version(v, kerr) == NULL)
        return NULL; /* unknown or retired */
    const uint8_t *key = vst_keystore_version_key(K.ks, v);
    vst_version_key *ck = key != NULL ? vst_collection_key_new(v, key, collection) : NULL;
    if (ck == NULL)
        *kerr = VST_KERR_INTERNAL;
    return ck;
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
    K.gen_seen = vst_keystore_generation(K.ks);
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
    K.gen_seen = vst_keystore_generation(K.ks);
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

vst_keystore *keyd_keystore(void)
{
    return K.ks;
}

void keyd_keys_written(void)
{
    K.gen_seen = vst_keystore_generation(K.ks);
}
