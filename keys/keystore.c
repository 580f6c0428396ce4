/* The sealed keystore (keystore.h, docs/keystore.md).
 *
 * keystore.sealed = magic[8] "VSTSEAL1" || generation[8] BE || nonce[12] ||
 *                   AES-256-GCM(K_seal, plaintext) || tag[16]
 *   AAD       = magic || generation || the exact bytes of keystore.info
 *   K_seal    = HKDF-SHA256(master, salt = keystore id, info = "vst/keystore/seal/v1")
 *   key check = HKDF-SHA256(master, salt = keystore id, info = "vst/keystore/check/v1")[0..16)
 *
 * plaintext = "VSTKEYS1" || K_root[32] || Ed25519 private[32] ||
 *             current[4] || count[4] || count * entry
 * entry     = version[4] || state[1] || created[8] || retired[8] || K_v[32] (absent if retired)
 * All integers big-endian. */
#include "keystore.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define SEAL_MAGIC "VSTSEAL1"
#define PT_MAGIC "VSTKEYS1"
#define MAGIC_LEN 8
#define SEAL_HDR_LEN (MAGIC_LEN + 8)
#define NONCE_LEN 12
#define TAG_LEN 16
#define PT_FIXED_LEN (MAGIC_LEN + VST_KEY_LEN + VST_ED25519_LEN + 4 + 4)
#define ENTRY_META_LEN (4 + 1 + 8 + 8)
#define SEALED_OVERHEAD (SEAL_HDR_LEN + NONCE_LEN + TAG_LEN)
#define SEALED_MAX                                                                                 \
    (SEALED_OVERHEAD + PT_FIXED_LEN + (size_t)VST_KS_MAX_VERSIONS * (ENTRY_META_LEN + VST_KEY_LEN))
#define INFO_MAX 8192 /* 6 lines, and up to 255 share checks */
#define INFO_MAGIC "vst-keystore-v1"

/* secrets block: K_seal | K_root | Ed25519 private key */
#define SECRETS_LEN (3 * VST_KEY_LEN)

typedef struct {
    uint32_t version;
    vst_key_state state;
    int64_t created;
    int64_t retired;
    uint8_t *key; /* VST_KEY_LEN bytes, secure heap; NULL once retired */
} ks_version;

struct vst_keystore {
    char *dir;
    int dirfd; /* holds the flock */
    vst_keystore_info info;
    char *info_raw; /* exact bytes of keystore.info: part of the AAD */
    size_t info_len;
    uint8_t *secrets; /* SECRETS_LEN bytes, secure heap */
    uint64_t generation;
    uint32_t current;
    ks_version *v; /* ascending by version */
    size_t nv, capv;
};

#define SEAL_KEY(ks) ((ks)->secrets)
#define ROOT_KEY(ks) ((ks)->secrets + VST_KEY_LEN)
#define SIGN_KEY(ks) ((ks)->secrets + 2 * VST_KEY_LEN)

/* ------------------------------------------------------------------ misc */

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

#define FAIL(st, ...) vst_ks_fail(err, errlen, (st), __VA_ARGS__)

/* Secret memory: OpenSSL's secure heap when initialised (and not
 * exhausted), else the ordinary heap; always wiped on free. */
static void *sec_zalloc(size_t n)
{
    void *p = NULL;
    if (CRYPTO_secure_malloc_initialized())
        p = OPENSSL_secure_zalloc(n);
    if (p == NULL)
        p = OPENSSL_zalloc(n);
    return p;
}

static void sec_free(void *p, size_t n)
{
    if (p == NULL)
        return;
    if (CRYPTO_secure_allocated(p))
        OPENSSL_secure_clear_free(p, n);
    else
        OPENSSL_clear_free(p, n);
}

static void put_u32(uint8_t *p, uint32_t x)
{
    for (int i = 3; i >= 0; i--, x >>= 8)
        p[i] = (uint8_t)x;
}

static void put_u64(uint8_t *p, uint64_t x)
{
    for (int i = 7; i >= 0; i--, x >>= 8)
        p[i] = (uint8_t)x;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = x << 8 | p[i];
    return x;
}

vst_ks_status vst_master_generate(uint8_t master[VST_KEY_LEN])
{
    if (master == NULL)
        return VST_KS_INVALID;
    if (RAND_bytes(master, VST_KEY_LEN) != 1)
        return VST_KS_CRYPTO;
    return VST_KS_OK;
}

/* ------------------------------------------------------------- crypto */

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

/* K_seal (into seal, may be NULL) and the key check value (into kcv). */
static int derive_master(const uint8_t master[VST_KEY_LEN], const uint8_t id[VST_KS_ID_LEN],
                         uint8_t *seal, uint8_t kcv[VST_KS_KCV_LEN])
{
    if (seal != NULL &&
        !hkdf(master, VST_KEY_LEN, id, VST_KS_ID_LEN, "vst/keystore/seal/v1", seal, VST_KEY_LEN))
        return 0;
    return hkdf(master, VST_KEY_LEN, id, VST_KS_ID_LEN, "vst/keystore/check/v1", kcv,
                VST_KS_KCV_LEN);
}

static int ed25519_public(const uint8_t priv[VST_ED25519_LEN], uint8_t pub[VST_ED25519_LEN])
{
    EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, VST_ED25519_LEN);
    size_t len = VST_ED25519_LEN;
    int ok =
        pk != NULL && EVP_PKEY_get_raw_public_key(pk, pub, &len) == 1 && len == VST_ED25519_LEN;
    EVP_PKEY_free(pk);
    return ok;
}

/* --------------------------------------------------------------- files */

static vst_ks_status write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return VST_KS_IO;
        }
        p += w;
        len -= (size_t)w;
    }
    return VST_KS_OK;
}

/* Reads a whole regular file opened as fd (at most max bytes) into a fresh
 * OPENSSL_malloc'd buffer with a terminating NUL. */
static vst_ks_status read_fd(int fd, size_t max, char **out, size_t *outlen, const char *what,
                             char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return FAIL(VST_KS_IO, "%s: %s", what, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return FAIL(VST_KS_CORRUPT, "%s: not a regular file", what);
    if (st.st_size < 0 || (uint64_t)st.st_size > max)
        return FAIL(VST_KS_CORRUPT, "%s: file is too large (%lld bytes)", what,
                    (long long)st.st_size);
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = OPENSSL_malloc(cap);
    if (buf == NULL)
        return FAIL(VST_KS_NOMEM, "%s: out of memory", what);
    for (;;) {
        if (len == cap - 1) {
            /* grown since fstat: one more byte means "too large" */
            char extra;
            ssize_t r = read(fd, &extra, 1);
            if (r == 0)
                break;
            if (r < 0 && errno == EINTR)
                continue;
            OPENSSL_free(buf);
            if (r < 0)
                return FAIL(VST_KS_IO, "%s: %s", what, strerror(errno));
            return FAIL(VST_KS_CORRUPT, "%s: file changed while being read", what);
        }
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            OPENSSL_free(buf);
            return FAIL(VST_KS_IO, "%s: %s", what, strerror(e));
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return VST_KS_OK;
}

static vst_ks_status read_at(int dirfd, const char *dir, const char *name, size_t max, char **out,
                             size_t *outlen, char *err, size_t errlen)
{
    char what[PATH_MAX + 64];
    snprintf(what, sizeof what, "keystore %s: %s", dir, name);
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return FAIL(VST_KS_NOT_FOUND, "%s is missing", what);
        return FAIL(VST_KS_IO, "%s: %s", what, strerror(errno));
    }
    vst_ks_status st = read_fd(fd, max, out, outlen, what, err, errlen);
    close(fd);
    return st;
}

/* Atomic replace of dir/name: temp file (0600, O_EXCL, same directory),
 * fsync, rename, fsync(dir). *renamed (when not NULL) tells whether the new
 * content is in place: only the final directory fsync can fail after that. */
static vst_ks_status write_atomic(int dirfd, const char *dir, const char *name, const void *data,
                                  size_t len, int *renamed, char *err, size_t errlen)
{
    if (renamed != NULL)
        *renamed = 0;
    uint8_t rnd[8];
    char rhex[2 * sizeof rnd + 1], tmp[128];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return FAIL(VST_KS_CRYPTO, "keystore %s: random number generator failed", dir);
    vst_hex(rnd, sizeof rnd, rhex);
    snprintf(tmp, sizeof tmp, ".%s.%s.tmp", name, rhex);

    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return FAIL(VST_KS_IO, "keystore %s: cannot create %s: %s", dir, tmp, strerror(errno));
    const char *step = "fchmod";
    if (fchmod(fd, 0600) != 0)
        goto fail;
    step = "write";
    if (write_all(fd, data, len) != VST_KS_OK)
        goto fail;
    step = "fsync";
    if (fsync(fd) != 0)
        goto fail;
    step = "close";
    int rc = close(fd);
    fd = -1;
    if (rc != 0)
        goto fail;
    step = "rename";
    if (renameat(dirfd, tmp, dirfd, name) != 0)
        goto fail;
    if (renamed != NULL)
        *renamed = 1;
    if (fsync(dirfd) != 0)
        return FAIL(VST_KS_IO,
                    "keystore %s: %s was replaced but the directory could not be synced (%s): "
                    "the change may not survive a crash",
                    dir, name, strerror(errno));
    return VST_KS_OK;
fail:;
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlinkat(dirfd, tmp, 0);
    return FAIL(VST_KS_IO, "keystore %s: writing %s failed (%s): %s", dir, name, step, strerror(e));
}

static void fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir)
            return;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

vst_ks_status vst_ks_write_new_file(const char *path, const void *data, size_t len, char *err,
                                    size_t errlen)
{
    if (path == NULL || (data == NULL && len > 0))
        return FAIL(VST_KS_INVALID, "no file name given");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return FAIL(VST_KS_EXISTS, "%s already exists; refusing to overwrite it", path);
        return FAIL(VST_KS_IO, "cannot create %s: %s", path, strerror(errno));
    }
    const char *step = "fchmod";
    if (fchmod(fd, 0600) != 0)
        goto fail;
    step = "write";
    if (write_all(fd, data, len) != VST_KS_OK)
        goto fail;
    step = "fsync";
    if (fsync(fd) != 0)
        goto fail;
    step = "close";
    int rc = close(fd);
    fd = -1;
    if (rc != 0)
        goto fail;
    fsync_parent(path);
    return VST_KS_OK;
fail:;
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlink(path);
    return FAIL(VST_KS_IO, "writing %s failed (%s): %s", path, step, strerror(e));
}

vst_ks_status vst_ks_read_small_file(const char *path, char *buf, size_t cap, size_t *len,
                                     unsigned *mode, char *err, size_t errlen)
{
    if (path == NULL || buf == NULL || cap == 0 || len == NULL)
        return FAIL(VST_KS_INVALID, "no file name given");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT)
            return FAIL(VST_KS_NOT_FOUND, "%s: no such file", path);
        return FAIL(VST_KS_IO, "%s: %s", path, strerror(errno));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return FAIL(VST_KS_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return FAIL(VST_KS_INVALID, "%s: not a regular file", path);
    }
    if (mode != NULL)
        *mode = (unsigned)sb.st_mode;
    size_t n = 0;
    vst_ks_status st = VST_KS_OK;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = FAIL(VST_KS_IO, "%s: %s", path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            st = FAIL(VST_KS_CORRUPT, "%s: file is too large (more than %zu bytes)", path, cap - 1);
            break;
        }
    }
    close(fd);
    if (st != VST_KS_OK) {
        OPENSSL_cleanse(buf, cap);
        return st;
    }
    buf[n] = '\0';
    *len = n;
    return VST_KS_OK;
}

/* ------------------------------------------------------------ header */

static void fmt_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        strcpy(out, "1970-01-01T00:00:00Z");
}

static size_t format_info(const vst_keystore_info *in, char *buf, size_t cap)
{
    char pub[2 * VST_ED25519_LEN + 1], kcv[2 * VST_KS_KCV_LEN + 1], created[32], master[64];
    vst_hex(in->sign_public, VST_ED25519_LEN, pub);
    vst_hex(in->key_check, VST_KS_KCV_LEN, kcv);
    fmt_time(in->created, created);
    if (in->mode.mode == VST_KS_MODE_SHAMIR)
        snprintf(master, sizeof master, "shamir %u of %u", in->mode.threshold, in->mode.shares);
    else
        strcpy(master, "dev-file");
    int n = snprintf(buf, cap,
                     INFO_MAGIC "\n"
                                "id: %s\n"
                                "created: %s\n"
                                "master: %s\n"
                                "signing-public-key: %s\n"
                                "key-check: %s\n",
                     in->id_hex, created, master, pub, kcv);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    size_t len = (size_t)n;
    for (unsigned i = 0; i < in->nshare_checks; i++) {
        char ck[2 * VST_KS_SHARE_CHECK_LEN + 1];
        vst_hex(in->share_checks[i].check, VST_KS_SHARE_CHECK_LEN, ck);
        n = snprintf(buf + len, cap - len, "%s%u:%s", i == 0 ? "share-checks: " : " ",
                     (unsigned)in->share_checks[i].index, ck);
        if (n < 0 || (size_t)n >= cap - len)
            return 0;
        len += (size_t)n;
    }
    if (in->nshare_checks > 0) {
        if (len + 1 >= cap)
            return 0;
        buf[len++] = '\n';
        buf[len] = '\0';
    }
    return len;
}

static int hex_field(const char *v, size_t vlen, uint8_t *out, size_t n);
static int parse_uint(const char *s, size_t len, unsigned max, unsigned *out);

/* "I:HEX I:HEX ..." (indices ascending, one per share) into in. */
static int parse_share_checks(const char *v, size_t vlen, vst_keystore_info *in)
{
    const char *p = v, *end = v + vlen;
    unsigned n = 0, last = 0;
    while (p < end) {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        unsigned idx;
        if (colon == NULL || !parse_uint(p, (size_t)(colon - p), 255, &idx) || idx <= last ||
            n == 255)
            return 0;
        const char *hex = colon + 1;
        if ((size_t)(end - hex) < 2 * VST_KS_SHARE_CHECK_LEN ||
            !hex_field(hex, 2 * VST_KS_SHARE_CHECK_LEN, in->share_checks[n].check,
                       VST_KS_SHARE_CHECK_LEN))
            return 0;
        in->share_checks[n++].index = (uint8_t)idx;
        last = idx;
        p = hex + 2 * VST_KS_SHARE_CHECK_LEN;
        if (p < end && *p++ != ' ')
            return 0;
        if (p == end && p[-1] == ' ')
            return 0;
    }
    in->nshare_checks = n;
    return n == in->mode.shares;
}

/* Next '\n'-terminated line of [*p, end); 0 when there is none. */
static int next_line(const char **p, const char *end, const char **line, size_t *len)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    if (nl == NULL)
        return 0;
    *line = *p;
    *len = (size_t)(nl - *p);
    *p = nl + 1;
    return 1;
}

/* If the line is "<key>: <value>", points *val at the value. */
static int field(const char *line, size_t len, const char *key, const char **val, size_t *vlen)
{
    size_t k = strlen(key);
    if (len < k + 2 || memcmp(line, key, k) != 0 || line[k] != ':' || line[k + 1] != ' ')
        return 0;
    *val = line + k + 2;
    *vlen = len - k - 2;
    return 1;
}

static int hex_field(const char *v, size_t vlen, uint8_t *out, size_t n)
{
    return vlen == 2 * n && vst_unhex(v, n, out) == 0;
}

/* Decimal 1..max without sign or leading zeros. */
static int parse_uint(const char *s, size_t len, unsigned max, unsigned *out)
{
    if (len == 0 || len > 5 || (s[0] == '0'))
        return 0;
    unsigned x = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        x = x * 10 + (unsigned)(s[i] - '0');
    }
    if (x > max)
        return 0;
    *out = x;
    return 1;
}

static int parse_time(const char *s, size_t len, int64_t *out)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";
    if (len != sizeof pat - 1)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
            return 0;
    }
#define D2(i) ((s[i] - '0') * 10 + (s[(i) + 1] - '0'))
    struct tm tm = {0};
    tm.tm_year = D2(0) * 100 + D2(2) - 1900;
    tm.tm_mon = D2(5) - 1;
    tm.tm_mday = D2(8);
    tm.tm_hour = D2(11);
    tm.tm_min = D2(14);
    tm.tm_sec = D2(17);
#undef D2
    time_t t = timegm(&tm);
    char back[32];
    fmt_time((int64_t)t, back);
    if (memcmp(back, s, len) != 0) /* rejects 2024-02-31 and the like */
        return 0;
    *out = (int64_t)t;
    return 1;
}

static int parse_master(const char *v, size_t vlen, vst_ks_mode_info *m)
{
    if (vlen == 8 && memcmp(v, "dev-file", 8) == 0) {
        m->mode = VST_KS_MODE_DEV_FILE;
        m->threshold = m->shares = 0;
        return 1;
    }
    if (vlen < 7 || memcmp(v, "shamir ", 7) != 0)
        return 0;
    const char *s = v + 7, *end = v + vlen;
    const char *of = NULL;
    for (const char *q = s; q + 4 <= end; q++)
        if (memcmp(q, " of ", 4) == 0) {
            of = q;
            break;
        }
    if (of == NULL)
        return 0;
    unsigned t, n;
    if (!parse_uint(s, (size_t)(of - s), 255, &t) ||
        !parse_uint(of + 4, (size_t)(end - of - 4), 255, &n) || t < 2 || t > n)
        return 0;
    m->mode = VST_KS_MODE_SHAMIR;
    m->threshold = t;
    m->shares = n;
    return 1;
}

static vst_ks_status parse_info(const char *buf, size_t len, vst_keystore_info *out,
                                const char *dir, char *err, size_t errlen)
{
    const char *p = buf, *end, *line, *v;
    size_t ll, vl;
    vst_keystore_info in;
    memset(&in, 0, sizeof in);
#define BAD(what)                                                                                  \
    FAIL(VST_KS_CORRUPT, "keystore %s: " VST_KS_INFO_FILE " is damaged: %s", dir, what)
    if (buf == NULL || memchr(buf, '\0', len) != NULL)
        return BAD("contains a NUL byte");
    end = buf + len;
    if (!next_line(&p, end, &line, &ll) || ll != strlen(INFO_MAGIC) ||
        memcmp(line, INFO_MAGIC, ll) != 0)
        return BAD("first line is not '" INFO_MAGIC "' (unknown format or not a keystore)");
    in.format = VST_KS_FORMAT;
    if (!next_line(&p, end, &line, &ll) || !field(line, ll, "id", &v, &vl) ||
        !hex_field(v, vl, in.id, VST_KS_ID_LEN))
        return BAD("line 2 must be 'id: <32 hex digits>'");
    vst_hex(in.id, VST_KS_ID_LEN, in.id_hex);
    if (!next_line(&p, end, &line, &ll) || !field(line, ll, "created", &v, &vl) ||
        !parse_time(v, vl, &in.created))
        return BAD("line 3 must be 'created: YYYY-MM-DDTHH:MM:SSZ'");
    if (!next_line(&p, end, &line, &ll) || !field(line, ll, "master", &v, &vl) ||
        !parse_master(v, vl, &in.mode))
        return BAD(
            "line 4 must be 'master: shamir M of N' (2 <= M <= N <= 255) or 'master: dev-file'");
    if (!next_line(&p, end, &line, &ll) || !field(line, ll, "signing-public-key", &v, &vl) ||
        !hex_field(v, vl, in.sign_public, VST_ED25519_LEN))
        return BAD("line 5 must be 'signing-public-key: <64 hex digits>'");
    if (!next_line(&p, end, &line, &ll) || !field(line, ll, "key-check", &v, &vl) ||
        !hex_field(v, vl, in.key_check, VST_KS_KCV_LEN))
        return BAD("line 6 must be 'key-check: <32 hex digits>'");
    if (p != end && in.mode.mode == VST_KS_MODE_SHAMIR &&
        (!next_line(&p, end, &line, &ll) || !field(line, ll, "share-checks", &v, &vl) ||
         !parse_share_checks(v, vl, &in)))
        return BAD("line 7 must be 'share-checks: I:<16 hex digits> ...', one per share, "
                   "indices ascending");
    if (p != end)
        return BAD(in.nshare_checks ? "unexpected data after line 7"
                                    : "unexpected data after line 6");
#undef BAD
    *out = in;
    return VST_KS_OK;
}

static vst_ks_status load_info(int dirfd, const char *dir, vst_keystore_info *info, char **raw,
                               size_t *rawlen, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    vst_ks_status st = read_at(dirfd, dir, VST_KS_INFO_FILE, INFO_MAX, &buf, &len, err, errlen);
    if (st == VST_KS_NOT_FOUND) {
        int has_sealed = faccessat(dirfd, VST_KS_SEALED_FILE, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
        return has_sealed
                   ? FAIL(VST_KS_CORRUPT,
                          "keystore %s: " VST_KS_INFO_FILE " is missing but " VST_KS_SEALED_FILE
                          " exists",
                          dir)
                   : FAIL(VST_KS_NOT_FOUND, "no keystore in %s (no " VST_KS_INFO_FILE ")", dir);
    }
    if (st != VST_KS_OK)
        return st;
    st = parse_info(buf, len, info, dir, err, errlen);
    if (st == VST_KS_OK && raw != NULL) {
        *raw = buf;
        *rawlen = len;
    } else {
        OPENSSL_free(buf);
    }
    return st;
}

static int open_dir(const char *dir)
{
    return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

vst_ks_status vst_keystore_read_info(const char *dir, vst_keystore_info *info, char *err,
                                     size_t errlen)
{
    if (dir == NULL || info == NULL)
        return FAIL(VST_KS_INVALID, "no keystore directory given");
    int dirfd = open_dir(dir);
    if (dirfd < 0) {
        if (errno == ENOENT)
            return FAIL(VST_KS_NOT_FOUND, "no keystore in %s (no such directory)", dir);
        return FAIL(VST_KS_IO, "keystore %s: %s", dir, strerror(errno));
    }
    vst_ks_status st = load_info(dirfd, dir, info, NULL, NULL, err, errlen);
    close(dirfd);
    return st;
}

/* -------------------------------------------------------------- object */

static vst_keystore *ks_new(const char *dir)
{
    vst_keystore *ks = OPENSSL_zalloc(sizeof *ks);
    if (ks == NULL)
        return NULL;
    ks->dirfd = -1;
    ks->dir = OPENSSL_strdup(dir);
    ks->secrets = sec_zalloc(SECRETS_LEN);
    if (ks->dir == NULL || ks->secrets == NULL) {
        OPENSSL_free(ks->dir);
        sec_free(ks->secrets, SECRETS_LEN);
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
        sec_free(ks->v[i].key, VST_KEY_LEN);
    OPENSSL_free(ks->v);
    sec_free(ks->secrets, SECRETS_LEN);
    OPENSSL_free(ks->info_raw);
    OPENSSL_free(ks->dir);
    if (ks->dirfd >= 0)
        close(ks->dirfd); /* releases the flock */
    OPENSSL_cleanse(ks, sizeof *ks);
    OPENSSL_free(ks);
}

static int ks_reserve(vst_keystore *ks, size_t n)
{
    if (n <= ks->capv)
        return 1;
    size_t cap = ks->capv ? ks->capv * 2 : 8;
    while (cap < n)
        cap *= 2;
    ks_version *v = OPENSSL_realloc(ks->v, cap * sizeof *v);
    if (v == NULL)
        return 0;
    memset(v + ks->capv, 0, (cap - ks->capv) * sizeof *v);
    ks->v = v;
    ks->capv = cap;
    return 1;
}

static ks_version *ks_find(const vst_keystore *ks, uint32_t version)
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

static vst_ks_status lock_dir(int dirfd, const char *dir, char *err, size_t errlen)
{
    while (flock(dirfd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR)
            continue;
        if (errno == EWOULDBLOCK)
            return FAIL(VST_KS_BUSY,
                        "keystore %s is in use by another process (is vst-keyd already running?)",
                        dir);
        return FAIL(VST_KS_IO, "keystore %s: cannot lock: %s", dir, strerror(errno));
    }
    return VST_KS_OK;
}

/* ------------------------------------------------------------- sealing */

/* Seals the in-memory state as the given generation and replaces
 * keystore.sealed. *renamed: see write_atomic. */
static vst_ks_status seal_and_write(vst_keystore *ks, uint64_t generation, int *renamed, char *err,
                                    size_t errlen)
{
    *renamed = 0;
    size_t pt_len = PT_FIXED_LEN;
    for (size_t i = 0; i < ks->nv; i++)
        pt_len += ENTRY_META_LEN + (ks->v[i].state != VST_KEY_RETIRED ? VST_KEY_LEN : 0);
    size_t file_len = SEALED_OVERHEAD + pt_len;
    vst_ks_status st = VST_KS_OK;
    uint8_t *pt = sec_zalloc(pt_len);
    uint8_t *file = OPENSSL_malloc(file_len);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (pt == NULL || file == NULL || c == NULL) {
        st = FAIL(VST_KS_NOMEM, "keystore %s: out of memory", ks->dir);
        goto out;
    }

    uint8_t *p = pt;
    memcpy(p, PT_MAGIC, MAGIC_LEN), p += MAGIC_LEN;
    memcpy(p, ROOT_KEY(ks), VST_KEY_LEN), p += VST_KEY_LEN;
    memcpy(p, SIGN_KEY(ks), VST_ED25519_LEN), p += VST_ED25519_LEN;
    put_u32(p, ks->current), p += 4;
    put_u32(p, (uint32_t)ks->nv), p += 4;
    for (size_t i = 0; i < ks->nv; i++) {
        const ks_version *v = &ks->v[i];
        put_u32(p, v->version), p += 4;
        *p++ = (uint8_t)v->state;
        put_u64(p, (uint64_t)v->created), p += 8;
        put_u64(p, (uint64_t)v->retired), p += 8;
        if (v->state != VST_KEY_RETIRED)
            memcpy(p, v->key, VST_KEY_LEN), p += VST_KEY_LEN;
    }

    memcpy(file, SEAL_MAGIC, MAGIC_LEN);
    put_u64(file + MAGIC_LEN, generation);
    uint8_t *nonce = file + SEAL_HDR_LEN, *ct = nonce + NONCE_LEN, *tag = ct + pt_len;
    int outl = 0, finl = 0;
    if (RAND_bytes(nonce, NONCE_LEN) != 1 ||
        EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(c, NULL, NULL, SEAL_KEY(ks), nonce) != 1 ||
        EVP_EncryptUpdate(c, NULL, &outl, file, SEAL_HDR_LEN) != 1 ||
        EVP_EncryptUpdate(c, NULL, &outl, (const uint8_t *)ks->info_raw, (int)ks->info_len) != 1 ||
        EVP_EncryptUpdate(c, ct, &outl, pt, (int)pt_len) != 1 ||
        EVP_EncryptFinal_ex(c, ct + outl, &finl) != 1 || (size_t)outl + (size_t)finl != pt_len ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1) {
        st = FAIL(VST_KS_CRYPTO, "keystore %s: sealing failed (OpenSSL)", ks->dir);
        goto out;
    }
    st = write_atomic(ks->dirfd, ks->dir, VST_KS_SEALED_FILE, file, file_len, renamed, err, errlen);
out:
    EVP_CIPHER_CTX_free(c);
    OPENSSL_free(file);
    sec_free(pt, pt_len);
    return st;
}

/* Parses the decrypted plaintext into ks (versions, current, root, signing key). */
static vst_ks_status parse_plain(vst_keystore *ks, const uint8_t *pt, size_t len, char *err,
                                 size_t errlen)
{
#define BAD(what)                                                                                  \
    FAIL(VST_KS_CORRUPT, "keystore %s: " VST_KS_SEALED_FILE " decrypted but is inconsistent: %s",  \
         ks->dir, what)
    if (len < PT_FIXED_LEN || memcmp(pt, PT_MAGIC, MAGIC_LEN) != 0)
        return BAD("bad inner header");
    const uint8_t *p = pt + MAGIC_LEN, *end = pt + len;
    memcpy(ROOT_KEY(ks), p, VST_KEY_LEN), p += VST_KEY_LEN;
    memcpy(SIGN_KEY(ks), p, VST_ED25519_LEN), p += VST_ED25519_LEN;
    uint32_t current = get_u32(p);
    p += 4;
    uint32_t count = get_u32(p);
    p += 4;
    if (count == 0 || count > VST_KS_MAX_VERSIONS)
        return BAD("bad number of key versions");
    if (!ks_reserve(ks, count))
        return FAIL(VST_KS_NOMEM, "keystore %s: out of memory", ks->dir);
    unsigned ncurrent = 0;
    for (uint32_t i = 0; i < count; i++) {
        if ((size_t)(end - p) < ENTRY_META_LEN)
            return BAD("truncated version list");
        ks_version v = {0};
        v.version = get_u32(p), p += 4;
        unsigned state = *p++;
        v.created = (int64_t)get_u64(p), p += 8;
        v.retired = (int64_t)get_u64(p), p += 8;
        if (v.version == 0 || (ks->nv > 0 && v.version <= ks->v[ks->nv - 1].version))
            return BAD("version numbers not ascending");
        if (state < VST_KEY_CURRENT || state > VST_KEY_RETIRED)
            return BAD("unknown key state");
        v.state = (vst_key_state)state;
        if ((v.state == VST_KEY_RETIRED) != (v.retired != 0))
            return BAD("retirement time does not match the state");
        if (v.state == VST_KEY_CURRENT) {
            ncurrent++;
            if (v.version != current)
                return BAD("current version does not match");
        }
        if (v.state != VST_KEY_RETIRED) {
            if ((size_t)(end - p) < VST_KEY_LEN)
                return BAD("truncated key");
            v.key = sec_zalloc(VST_KEY_LEN);
            if (v.key == NULL)
                return FAIL(VST_KS_NOMEM, "keystore %s: out of memory", ks->dir);
            memcpy(v.key, p, VST_KEY_LEN), p += VST_KEY_LEN;
        }
        ks->v[ks->nv++] = v;
    }
    if (p != end)
        return BAD("trailing data");
    if (ncurrent != 1)
        return BAD("not exactly one current version");
    ks->current = current;
    uint8_t pub[VST_ED25519_LEN];
    if (!ed25519_public(SIGN_KEY(ks), pub))
        return FAIL(VST_KS_CRYPTO, "keystore %s: cannot load the signing key (OpenSSL)", ks->dir);
    if (CRYPTO_memcmp(pub, ks->info.sign_public, VST_ED25519_LEN) != 0)
        return BAD("signing key does not match the public key in " VST_KS_INFO_FILE);
#undef BAD
    return VST_KS_OK;
}

static vst_ks_status unseal(vst_keystore *ks, const uint8_t *file, size_t len, char *err,
                            size_t errlen)
{
    if (len < SEALED_OVERHEAD + PT_FIXED_LEN)
        return FAIL(VST_KS_CORRUPT, "keystore %s: " VST_KS_SEALED_FILE " is truncated (%zu bytes)",
                    ks->dir, len);
    if (memcmp(file, SEAL_MAGIC, MAGIC_LEN) != 0)
        return FAIL(VST_KS_CORRUPT,
                    "keystore %s: " VST_KS_SEALED_FILE " is damaged (not a vst sealed file)",
                    ks->dir);
    uint64_t generation = get_u64(file + MAGIC_LEN);
    const uint8_t *nonce = file + SEAL_HDR_LEN, *ct = nonce + NONCE_LEN;
    size_t ct_len = len - SEALED_OVERHEAD;
    const uint8_t *tag = ct + ct_len;

    vst_ks_status st = VST_KS_OK;
    uint8_t *pt = sec_zalloc(ct_len);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int outl = 0, finl = 0;
    if (pt == NULL || c == NULL) {
        st = FAIL(VST_KS_NOMEM, "keystore %s: out of memory", ks->dir);
        goto out;
    }
    if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(c, NULL, NULL, SEAL_KEY(ks), nonce) != 1 ||
        EVP_DecryptUpdate(c, NULL, &outl, file, SEAL_HDR_LEN) != 1 ||
        EVP_DecryptUpdate(c, NULL, &outl, (const uint8_t *)ks->info_raw, (int)ks->info_len) != 1 ||
        EVP_DecryptUpdate(c, pt, &outl, ct, (int)ct_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)tag) != 1) {
        st = FAIL(VST_KS_CRYPTO, "keystore %s: unsealing failed (OpenSSL)", ks->dir);
        goto out;
    }
    if (EVP_DecryptFinal_ex(c, pt + outl, &finl) != 1) {
        /* The key check value matched, so the master key is right: the
         * sealed file or the header was modified or damaged. */
        st = FAIL(VST_KS_CORRUPT,
                  "keystore %s: authentication failed: " VST_KS_SEALED_FILE " or " VST_KS_INFO_FILE
                  " was modified or damaged (restore both from backup)",
                  ks->dir);
        goto out;
    }
    st = parse_plain(ks, pt, ct_len, err, errlen);
    if (st == VST_KS_OK)
        ks->generation = generation;
out:
    EVP_CIPHER_CTX_free(c);
    sec_free(pt, ct_len);
    return st;
}

/* -------------------------------------------------------------- create */

static vst_ks_status check_mode(const vst_ks_mode_info *m, char *err, size_t errlen)
{
    if (m == NULL)
        return FAIL(VST_KS_INVALID, "no master-key mode given");
    if (m->mode == VST_KS_MODE_DEV_FILE)
        return VST_KS_OK;
    if (m->mode != VST_KS_MODE_SHAMIR)
        return FAIL(VST_KS_INVALID, "unknown master-key mode %d", (int)m->mode);
    if (m->threshold < 2 || m->threshold > m->shares || m->shares > 255)
        return FAIL(VST_KS_INVALID,
                    "Shamir sharing needs 2 <= threshold <= shares <= 255 (got %u of %u)",
                    m->threshold, m->shares);
    return VST_KS_OK;
}

/* Share checks for create: one per share, distinct nonzero indices. */
static vst_ks_status check_share_checks(const vst_ks_mode_info *m, const vst_ks_share_check *c,
                                        size_t n, char *err, size_t errlen)
{
    if (n == 0)
        return VST_KS_OK;
    if (m->mode != VST_KS_MODE_SHAMIR || n != m->shares || c == NULL)
        return FAIL(VST_KS_INVALID, "share checks: one per share of a Shamir keystore");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            if (c[i].index == 0 || (i != j && c[i].index == c[j].index))
                return FAIL(VST_KS_INVALID, "share checks: indices must be distinct and nonzero");
    return VST_KS_OK;
}

static int by_index(const void *a, const void *b)
{
    return (int)((const vst_ks_share_check *)a)->index -
           (int)((const vst_ks_share_check *)b)->index;
}

vst_ks_status vst_keystore_create(const char *dir, const uint8_t master[VST_KEY_LEN],
                                  const vst_ks_mode_info *mode, vst_keystore **out, char *err,
                                  size_t errlen)
{
    return vst_keystore_create_ex(dir, master, mode, NULL, NULL, 0, out, err, errlen);
}

vst_ks_status vst_keystore_create_ex(const char *dir, const uint8_t master[VST_KEY_LEN],
                                     const vst_ks_mode_info *mode, const uint8_t id[VST_KS_ID_LEN],
                                     const vst_ks_share_check *checks, size_t nchecks,
                                     vst_keystore **out, char *err, size_t errlen)
{
    if (out != NULL)
        *out = NULL;
    if (dir == NULL || *dir == '\0' || master == NULL || out == NULL)
        return FAIL(VST_KS_INVALID, "keystore create: missing argument");
    vst_ks_status st = check_mode(mode, err, errlen);
    if (st == VST_KS_OK)
        st = check_share_checks(mode, checks, nchecks, err, errlen);
    if (st != VST_KS_OK)
        return st;

    int made_dir = 0, wrote_info = 0;
    if (mkdir(dir, 0700) == 0)
        made_dir = 1;
    else if (errno != EEXIST)
        return FAIL(VST_KS_IO, "keystore %s: cannot create the directory: %s", dir,
                    strerror(errno));
    vst_keystore *ks = ks_new(dir);
    if (ks == NULL) {
        st = FAIL(VST_KS_NOMEM, "keystore %s: out of memory", dir);
        goto fail;
    }
    ks->dirfd = open_dir(dir);
    if (ks->dirfd < 0) {
        st = FAIL(VST_KS_IO, "keystore %s: %s", dir, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(ks->dirfd, &sb) != 0) {
        st = FAIL(VST_KS_IO, "keystore %s: %s", dir, strerror(errno));
        goto fail;
    }
    if (made_dir) {
        if (fchmod(ks->dirfd, 0700) != 0) {
            st = FAIL(VST_KS_IO, "keystore %s: chmod 0700: %s", dir, strerror(errno));
            goto fail;
        }
    } else if ((sb.st_mode & 077) != 0) {
        st = FAIL(VST_KS_INSECURE,
                  "keystore %s: the directory is accessible by group or others (mode %04o); "
                  "chmod 700 it first",
                  dir, (unsigned)(sb.st_mode & 07777));
        goto fail;
    }
    st = lock_dir(ks->dirfd, dir, err, errlen);
    if (st != VST_KS_OK)
        goto fail;
    if (faccessat(ks->dirfd, VST_KS_INFO_FILE, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
        faccessat(ks->dirfd, VST_KS_SEALED_FILE, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
        st = FAIL(VST_KS_EXISTS, "keystore %s already exists; refusing to overwrite it", dir);
        goto fail;
    }

    /* key material */
    vst_keystore_info *in = &ks->info;
    in->format = VST_KS_FORMAT;
    in->created = (int64_t)time(NULL);
    in->mode = *mode;
    if (mode->mode == VST_KS_MODE_DEV_FILE)
        in->mode.threshold = in->mode.shares = 0;
    if (!ks_reserve(ks, 1) || (ks->v[0].key = sec_zalloc(VST_KEY_LEN)) == NULL) {
        st = FAIL(VST_KS_NOMEM, "keystore %s: out of memory", dir);
        goto fail;
    }
    ks->nv = 1;
    ks->v[0].retired = 0;
    ks->v[0].version = 1;
    ks->v[0].state = VST_KEY_CURRENT;
    ks->v[0].created = in->created;
    ks->current = 1;
    if (nchecks > 0) {
        memcpy(in->share_checks, checks, nchecks * sizeof *checks);
        qsort(in->share_checks, nchecks, sizeof *checks, by_index);
        in->nshare_checks = (unsigned)nchecks;
    }
    if (id != NULL)
        memcpy(in->id, id, VST_KS_ID_LEN);
    if ((id == NULL && RAND_bytes(in->id, VST_KS_ID_LEN) != 1) ||
        RAND_bytes(ROOT_KEY(ks), VST_KEY_LEN) != 1 || RAND_bytes(ks->v[0].key, VST_KEY_LEN) != 1 ||
        RAND_bytes(SIGN_KEY(ks), VST_ED25519_LEN) != 1 ||
        !ed25519_public(SIGN_KEY(ks), in->sign_public) ||
        !derive_master(master, in->id, SEAL_KEY(ks), in->key_check)) {
        st = FAIL(VST_KS_CRYPTO, "keystore %s: key generation failed (OpenSSL)", dir);
        goto fail;
    }
    vst_hex(in->id, VST_KS_ID_LEN, in->id_hex);

    char info_text[INFO_MAX];
    ks->info_len = format_info(in, info_text, sizeof info_text);
    ks->info_raw = ks->info_len ? OPENSSL_strndup(info_text, ks->info_len) : NULL;
    if (ks->info_raw == NULL) {
        st = FAIL(VST_KS_NOMEM, "keystore %s: out of memory", dir);
        goto fail;
    }
    int renamed = 0;
    st = write_atomic(ks->dirfd, dir, VST_KS_INFO_FILE, ks->info_raw, ks->info_len, &renamed, err,
                      errlen);
    if (st != VST_KS_OK)
        goto fail;
    wrote_info = 1;
    st = seal_and_write(ks, 1, &renamed, err, errlen);
    if (st != VST_KS_OK)
        goto fail;
    ks->generation = 1;
    *out = ks;
    return VST_KS_OK;

fail:
    if (ks != NULL && ks->dirfd >= 0 && wrote_info) {
        unlinkat(ks->dirfd, VST_KS_SEALED_FILE, 0);
        unlinkat(ks->dirfd, VST_KS_INFO_FILE, 0);
        (void)fsync(ks->dirfd);
    }
    vst_keystore_free(ks);
    if (made_dir)
        rmdir(dir);
    return st;
}

/* ---------------------------------------------------------------- open */

vst_ks_status vst_keystore_open(const char *dir, const uint8_t master[VST_KEY_LEN],
                                vst_keystore **out, char *err, size_t errlen)
{
    if (out != NULL)
        *out = NULL;
    if (dir == NULL || master == NULL || out == NULL)
        return FAIL(VST_KS_INVALID, "keystore open: missing argument");
    vst_ks_status st;
    char *file = NULL;
    size_t file_len = 0;
    vst_keystore *ks = ks_new(dir);
    if (ks == NULL)
        return FAIL(VST_KS_NOMEM, "keystore %s: out of memory", dir);
    ks->dirfd = open_dir(dir);
    if (ks->dirfd < 0) {
        st = errno == ENOENT ? FAIL(VST_KS_NOT_FOUND, "no keystore in %s (no such directory)", dir)
                             : FAIL(VST_KS_IO, "keystore %s: %s", dir, strerror(errno));
        goto fail;
    }
    st = lock_dir(ks->dirfd, dir, err, errlen);
    if (st != VST_KS_OK)
        goto fail;
    st = load_info(ks->dirfd, dir, &ks->info, &ks->info_raw, &ks->info_len, err, errlen);
    if (st != VST_KS_OK)
        goto fail;

    uint8_t kcv[VST_KS_KCV_LEN];
    if (!derive_master(master, ks->info.id, SEAL_KEY(ks), kcv)) {
        st = FAIL(VST_KS_CRYPTO, "keystore %s: key derivation failed (OpenSSL)", dir);
        goto fail;
    }
    if (CRYPTO_memcmp(kcv, ks->info.key_check, VST_KS_KCV_LEN) != 0) {
        st = FAIL(VST_KS_WRONG_KEY,
                  "keystore %s: wrong master key: it does not belong to this keystore (too few "
                  "or wrong shares, or another keystore's master-key file); nothing was unsealed",
                  dir);
        goto fail;
    }
    st = read_at(ks->dirfd, dir, VST_KS_SEALED_FILE, SEALED_MAX, &file, &file_len, err, errlen);
    if (st == VST_KS_NOT_FOUND)
        st = FAIL(VST_KS_CORRUPT,
                  "keystore %s: " VST_KS_SEALED_FILE " is missing (interrupted creation? restore "
                  "it from backup)",
                  dir);
    if (st != VST_KS_OK)
        goto fail;
    st = unseal(ks, (const uint8_t *)file, file_len, err, errlen);
    if (st != VST_KS_OK)
        goto fail;
    OPENSSL_free(file);
    *out = ks;
    return VST_KS_OK;
fail:
    OPENSSL_free(file);
    vst_keystore_free(ks);
    return st;
}

/* ----------------------------------------------------------- accessors */

int vst_keystore_check_master(const vst_keystore_info *info, const uint8_t master[VST_KEY_LEN])
{
    uint8_t kcv[VST_KS_KCV_LEN];
    if (info == NULL || master == NULL || !derive_master(master, info->id, NULL, kcv))
        return -1;
    int same = CRYPTO_memcmp(kcv, info->key_check, VST_KS_KCV_LEN) == 0;
    OPENSSL_cleanse(kcv, sizeof kcv);
    return same;
}

const vst_ks_share_check *vst_keystore_share_check(const vst_keystore_info *info, uint8_t index)
{
    for (unsigned i = 0; info != NULL && i < info->nshare_checks; i++)
        if (info->share_checks[i].index == index)
            return &info->share_checks[i];
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
    return ks ? ROOT_KEY(ks) : NULL;
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
    const ks_version *v = ks ? ks_find(ks, version) : NULL;
    if (v == NULL)
        return -1;
    if (state != NULL)
        *state = v->state;
    return 0;
}

const uint8_t *vst_keystore_version_key(const vst_keystore *ks, uint32_t version)
{
    const ks_version *v = ks ? ks_find(ks, version) : NULL;
    return (v != NULL && v->state != VST_KEY_RETIRED) ? v->key : NULL;
}

const uint8_t *vst_keystore_sign_private(const vst_keystore *ks)
{
    return ks ? SIGN_KEY(ks) : NULL;
}

const uint8_t *vst_keystore_sign_public(const vst_keystore *ks)
{
    return ks ? ks->info.sign_public : NULL;
}

/* ------------------------------------------------------ rotate, retire */

vst_ks_status vst_keystore_rotate(vst_keystore *ks, uint32_t *new_version, char *err, size_t errlen)
{
    if (ks == NULL)
        return FAIL(VST_KS_INVALID, "keystore rotate: no keystore");
    uint32_t last = ks->v[ks->nv - 1].version;
    if (ks->nv >= VST_KS_MAX_VERSIONS || last >= UINT32_MAX)
        return FAIL(VST_KS_REFUSED, "keystore %s: too many key versions", ks->dir);
    if (!ks_reserve(ks, ks->nv + 1))
        return FAIL(VST_KS_NOMEM, "keystore %s: out of memory", ks->dir);
    uint8_t *key = sec_zalloc(VST_KEY_LEN);
    if (key == NULL)
        return FAIL(VST_KS_NOMEM, "keystore %s: out of memory", ks->dir);
    if (RAND_bytes(key, VST_KEY_LEN) != 1) {
        sec_free(key, VST_KEY_LEN);
        return FAIL(VST_KS_CRYPTO, "keystore %s: random number generator failed", ks->dir);
    }
    ks_version *old = ks_find(ks, ks->current);
    uint32_t old_current = ks->current;
    ks_version *nv = &ks->v[ks->nv++];
    nv->version = last + 1;
    nv->state = VST_KEY_CURRENT;
    nv->created = (int64_t)time(NULL);
    nv->retired = 0;
    nv->key = key;
    old->state = VST_KEY_ACTIVE;
    ks->current = nv->version;

    int renamed = 0;
    vst_ks_status st = seal_and_write(ks, ks->generation + 1, &renamed, err, errlen);
    if (st != VST_KS_OK && !renamed) {
        ks->nv--;
        sec_free(key, VST_KEY_LEN);
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
        return FAIL(VST_KS_INVALID, "keystore retire: no keystore");
    ks_version *v = ks_find(ks, version);
    if (v == NULL)
        return FAIL(VST_KS_REFUSED, "keystore %s: there is no key version %u", ks->dir,
                    (unsigned)version);
    if (v->state == VST_KEY_CURRENT)
        return FAIL(VST_KS_REFUSED,
                    "keystore %s: version %u is the current version and cannot be retired; "
                    "rotate and re-key first",
                    ks->dir, (unsigned)version);
    if (v->state == VST_KEY_RETIRED)
        return FAIL(VST_KS_REFUSED, "keystore %s: version %u is already retired", ks->dir,
                    (unsigned)version);
    v->state = VST_KEY_RETIRED;
    v->retired = (int64_t)time(NULL);
    if (v->retired <= 0)
        v->retired = 1;
    int renamed = 0;
    vst_ks_status st = seal_and_write(ks, ks->generation + 1, &renamed, err, errlen);
    if (st != VST_KS_OK && !renamed) {
        v->state = VST_KEY_ACTIVE;
        v->retired = 0;
        return st;
    }
    /* in place (even if only the directory fsync failed): the key is gone */
    ks->generation++;
    sec_free(v->key, VST_KEY_LEN);
    v->key = NULL;
    return st;
}
