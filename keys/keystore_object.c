/* The in-memory keystore (keystore_internal.h): the object and its
 * version list (ascending, found by binary search), the accessors of
 * keystore.h, rotate and retire — which change memory, reseal
 * (keystore_seal.c) and roll memory back unless the new file is in place —
 * and the status and state names. Every secret it holds lives in the
 * secure heap when there is one and is wiped when freed. */
#include "keystore_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

const char *vst_ks_status_name(vst_ks_status st)
{
    switch (st) {
    case VST_KS_OK:
        return "ok";
    case VST_KS_INVALID:
        return "invalid_argument";
    case VST_KS_IO:
        return "io_error";
    case VST_KS_NOT_FOUND:
        return "not_found";
    case VST_KS_EXISTS:
        return "exists";
    case VST_KS_CORRUPT:
        return "corrupt";
    case VST_KS_WRONG_KEY:
        return "wrong_key";
    case VST_KS_BUSY:
        return "busy";
    case VST_KS_INSECURE:
        return "insecure_permissions";
    case VST_KS_REFUSED:
        return "refused";
    case VST_KS_CRYPTO:
        return "crypto_error";
    case VST_KS_NOMEM:
        return "out_of_memory";
    case VST_KS_SHARE_CORRUPT:
        return "share_corrupt";
    case VST_KS_SHARE_FOREIGN:
        return "share_foreign";
    case VST_KS_SHARE_DUPLICATE:
        return "share_duplicate";
    case VST_KS_SHARE_MISMATCH:
        return "share_mismatch";
    case VST_KS_SHARE_TOO_FEW:
        return "share_too_few";
    }
    return "unknown";
}

const char *vst_key_state_name(vst_key_state s)
{
    switch (s) {
    case VST_KEY_CURRENT:
        return "current";
    case VST_KEY_ACTIVE:
        return "active";
    case VST_KEY_RETIRED:
        return "retired";
    }
    return "unknown";
}

vst_ks_status vst_ks_fail(char *err, size_t errlen, vst_ks_status st, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

void *vst_ks_sec_zalloc(size_t n)
{
    void *p = NULL;
    if (CRYPTO_secure_malloc_initialized())
        p = OPENSSL_secure_zalloc(n);
    if (p == NULL)
        p = OPENSSL_zalloc(n);
    return p;
}

void vst_ks_sec_free(void *p, size_t n)
{
    if (p == NULL)
        return;
    if (CRYPTO_secure_allocated(p))
        OPENSSL_secure_clear_free(p, n);
    else
        OPENSSL_clear_free(p, n);
}

vst_keystore *vst_ks_new(const char *dir)
{
    vst_keystore *ks = OPENSSL_zalloc(sizeof *ks);
    if (ks == NULL)
        return NULL;
    ks->dirfd = -1;
    ks->dir = OPENSSL_strdup(dir);
    ks->secrets = vst_ks_sec_zalloc(VST_KS_SECRETS_LEN);
    if (ks->dir == NULL || ks->secrets == NULL) {
        OPENSSL_free(ks->dir);
        vst_ks_sec_free(ks->secrets, VST_KS_SECRETS_LEN);
        OPENSSL_free(ks);
        return NULL;
    }
    return ks;
}

void vst_keystore_free(vst_keystore *ks)
{
    if (ks == NULL)
        return;
    for (size_t i = 0; i < ks->nv; i++)
        vst_ks_sec_free(ks->v[i].key, VST_KEY_LEN);
    OPENSSL_free(ks->v);
    vst_ks_cases_free(ks);
    vst_ks_sec_free(ks->secrets, VST_KS_SECRETS_LEN);
    OPENSSL_free(ks->info_raw);
    OPENSSL_free(ks->dir);
    if (ks->dirfd >= 0)
        close(ks->dirfd); /* releases the flock */
    OPENSSL_cleanse(ks, sizeof *ks);
    OPENSSL_free(ks);
}

int vst_ks_reserve(vst_keystore *ks, size_t n)
{
    if (n <= ks->capv)
        return 1;
    size_t cap = ks->capv ? ks->capv * 2 : 8;
    while (cap < n)
        cap *= 2;
    vst_ks_entry *v = OPENSSL_realloc(ks->v, cap * sizeof *v);
    if (v == NULL)
        return 0;
    memset(v + ks->capv, 0, (cap - ks->capv) * sizeof *v);
    ks->v = v;
    ks->capv = cap;
    return 1;
}

vst_ks_entry *vst_ks_find(const vst_keystore *ks, uint32_t version)
{
    size_t lo = 0, hi = ks->nv;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ks->v[mid].version == version)
            return &ks->v[mid];
        if (ks->v[mid].version < version)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const vst_keystore_info *vst_keystore_get_info(const vst_keystore *ks)
{
    return ks ? &ks->info : NULL;
}

uint64_t vst_keystore_generation(const vst_keystore *ks)
{
    return ks ? ks->generation : 0;
}

const uint8_t *vst_keystore_root_key(const vst_keystore *ks)
{
    return ks ? VST_KS_ROOT_KEY(ks) : NULL;
}

uint32_t vst_keystore_current(const vst_keystore *ks)
{
    return ks ? ks->current : 0;
}

size_t vst_keystore_versions(const vst_keystore *ks, vst_key_version *out, size_t max)
{
    if (ks == NULL)
        return 0;
    for (size_t i = 0; out != NULL && i < ks->nv && i < max; i++) {
        out[i].version = ks->v[i].version;
        out[i].state = ks->v[i].state;
        out[i].created = ks->v[i].created;
        out[i].retired = ks->v[i].retired;
    }
    return ks->nv;
}

int vst_keystore_version_state(const vst_keystore *ks, uint32_t version, vst_key_state *state)
{
    const vst_ks_entry *v = ks ? vst_ks_find(ks, version) : NULL;
    if (v == NULL)
        return -1;
    if (state != NULL)
        *state = v->state;
    return 0;
}

const uint8_t *vst_keystore_version_key(const vst_keystore *ks, uint32_t version)
{
    const vst_ks_entry *v = ks ? vst_ks_find(ks, version) : NULL;
    return (v != NULL && v->state != VST_KEY_RETIRED) ? v->key : NULL;
}

const uint8_t *vst_keystore_sign_private(const vst_keystore *ks)
{
    return ks ? VST_KS_SIGN_KEY(ks) : NULL;
}

const uint8_t *vst_keystore_sign_public(const vst_keystore *ks)
{
    return ks ? ks->info.sign_public : NULL;
}

/* ---- rotate, retire */

vst_ks_status vst_keystore_rotate(vst_keystore *ks, uint32_t *new_version, char *err, size_t errlen)
{
    if (ks == NULL)
        return VST_KS_FAIL(VST_KS_INVALID, "keystore rotate: no keystore");
    uint32_t last = ks->v[ks->nv - 1].version;
    if (ks->nv >= VST_KS_MAX_VERSIONS || last >= UINT32_MAX)
        return VST_KS_FAIL(VST_KS_REFUSED, "keystore %s: too many key versions", ks->dir);
    if (!vst_ks_reserve(ks, ks->nv + 1))
        return VST_KS_FAIL(VST_KS_NOMEM, "keystore %s: out of memory", ks->dir);
    uint8_t *key = vst_ks_sec_zalloc(VST_KEY_LEN);
    if (key == NULL)
        return VST_KS_FAIL(VST_KS_NOMEM, "keystore %s: out of memory", ks->dir);
    if (RAND_bytes(key, VST_KEY_LEN) != 1) {
        vst_ks_sec_free(key, VST_KEY_LEN);
        return VST_KS_FAIL(VST_KS_CRYPTO, "keystore %s: random number generator failed", ks->dir);
    }
    vst_ks_entry *old = vst_ks_find(ks, ks->current);
    uint32_t old_current = ks->current;
    vst_ks_entry *nv = &ks->v[ks->nv++];
    nv->version = last + 1;
    nv->state = VST_KEY_CURRENT;
    nv->created = (int64_t)time(NULL);
    nv->retired = 0;
    nv->key = key;
    old->state = VST_KEY_ACTIVE;
    ks->current = nv->version;

    int renamed = 0;
    vst_ks_status st = vst_ks_seal_and_write(ks, ks->generation + 1, &renamed, err, errlen);
    if (st != VST_KS_OK && !renamed) {
        ks->nv--;
        vst_ks_sec_free(key, VST_KEY_LEN);
        old->state = VST_KEY_CURRENT;
        ks->current = old_current;
        return st;
    }
    /* in place (even if only the directory fsync failed): memory follows the file */
    ks->generation++;
    if (new_version != NULL)
        *new_version = ks->current;
    return st;
}

vst_ks_status vst_keystore_retire(vst_keystore *ks, uint32_t version, char *err, size_t errlen)
{
    if (ks == NULL)
        return VST_KS_FAIL(VST_KS_INVALID, "keystore retire: no keystore");
    vst_ks_entry *v = vst_ks_find(ks, version);
    if (v == NULL)
        return VST_KS_FAIL(VST_KS_REFUSED, "keystore %s: there is no key version %u", ks->dir,
                           (unsigned)version);
    if (v->state == VST_KEY_CURRENT)
        return VST_KS_FAIL(VST_KS_REFUSED,
                           "keystore %s: version %u is the current version and cannot be retired; "
                           "rotate and re-key first",
                           ks->dir, (unsigned)version);
    if (v->state == VST_KEY_RETIRED)
        return VST_KS_FAIL(VST_KS_REFUSED, "keystore %s: version %u is already retired", ks->dir,
                           (unsigned)version);
    v->state = VST_KEY_RETIRED;
    v->retired = (int64_t)time(NULL);
    if (v->retired <= 0)
        v->retired = 1;
    int renamed = 0;
    vst_ks_status st = vst_ks_seal_and_write(ks, ks->generation + 1, &renamed, err, errlen);
    if (st != VST_KS_OK && !renamed) {
        v->state = VST_KEY_ACTIVE;
        v->retired = 0;
        return st;
    }
    /* in place (even if only the directory fsync failed): the key is gone */
    ks->generation++;
    vst_ks_sec_free(v->key, VST_KEY_LEN);
    v->key = NULL;
    return st;
}
