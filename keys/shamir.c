/* Master key sources: Shamir shares (libgfshare) and the development
 * master-key file (shamir.h, docs/keystore.md). */
#include "shamir.h"

#include <libgfshare.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/buf.h"
#include "core/kv_file.h"

#define SHARE_MAGIC "vst-share-v1"
#define CHECK_LEN VST_KS_SHARE_CHECK_LEN
#define SHARE_FILE_MAX 1024
#define MASTER_FILE_MAX 256

#define FAIL(st, ...) vst_ks_fail(err, errlen, (st), __VA_ARGS__)

/* libgfshare draws its polynomial coefficients (and the bytes it scribbles
 * over freed contexts) from the global gfshare_fill_rand, which by default
 * is NULL or random(). Everything here goes through OpenSSL's CSPRNG; a
 * failing CSPRNG must never yield predictable shares, hence abort(). */
static void ossl_fill_rand(unsigned char *buf, unsigned int n)
{
    if (n > 0 && RAND_bytes(buf, (int)n) != 1) {
        fputs("vst: RAND_bytes failed while splitting the master key; aborting\n", stderr);
        abort();
    }
}

static void use_good_rng(void)
{
    if (gfshare_fill_rand != ossl_fill_rand)
        gfshare_fill_rand = ossl_fill_rand;
}

void vst_share_wipe(vst_share *shares, size_t count)
{
    if (shares != NULL && count > 0)
        OPENSSL_cleanse(shares, count * sizeof *shares);
}

/* Uniform in [0, bound), 1 <= bound <= 256. */
static int random_below(unsigned bound, unsigned *out)
{
    unsigned limit = 256 - 256 % bound;
    uint8_t b;
    do {
        if (RAND_bytes(&b, 1) != 1)
            return 0;
    } while (b >= limit);
    *out = b % bound;
    return 1;
}

vst_ks_status vst_shamir_split(const uint8_t master[VST_KEY_LEN],
                               const uint8_t keystore_id[VST_KS_ID_LEN], unsigned m, unsigned n,
                               vst_share *out, char *err, size_t errlen)
{
    if (master == NULL || keystore_id == NULL || out == NULL)
        return FAIL(VST_KS_INVALID, "Shamir split: missing argument");
    if (m < 2 || m > n || n > VST_SHARE_MAX_COUNT)
        return FAIL(VST_KS_INVALID,
                    "Shamir split needs 2 <= threshold <= shares <= 255 (got %u of %u)", m, n);
    use_good_rng();

    /* n distinct random nonzero x coordinates: partial Fisher-Yates over 1..255 */
    uint8_t xs[255];
    for (unsigned i = 0; i < 255; i++)
        xs[i] = (uint8_t)(i + 1);
    for (unsigned i = 0; i < n; i++) {
        unsigned j;
        if (!random_below(255 - i, &j))
            return FAIL(VST_KS_CRYPTO, "Shamir split: random number generator failed");
        uint8_t t = xs[i];
        xs[i] = xs[i + j];
        xs[i + j] = t;
    }

    gfshare_ctx *g = gfshare_ctx_init_enc(xs, n, (unsigned char)m, VST_KEY_LEN);
    if (g == NULL)
        return FAIL(VST_KS_NOMEM, "Shamir split: libgfshare could not set up");
    uint8_t secret[VST_KEY_LEN];
    memcpy(secret, master, VST_KEY_LEN);
    gfshare_ctx_enc_setsecret(g, secret);
    OPENSSL_cleanse(secret, sizeof secret);
    for (unsigned i = 0; i < n; i++) {
        memcpy(out[i].keystore_id, keystore_id, VST_KS_ID_LEN);
        out[i].index = xs[i];
        out[i].threshold = (uint8_t)m;
        out[i].shares = (uint8_t)n;
        gfshare_ctx_enc_getshare(g, (unsigned char)i, out[i].y);
    }
    gfshare_ctx_free(g); /* overwrites coefficients and secret with random bytes */
    return VST_KS_OK;
}

vst_ks_status vst_shamir_combine_raw(const vst_share *shares, size_t k, uint8_t master[VST_KEY_LEN],
                                     char *err, size_t errlen)
{
    if (shares == NULL || master == NULL || k == 0)
        return FAIL(VST_KS_SHARE_TOO_FEW, "no shares given");
    if (k > VST_SHARE_MAX_COUNT)
        return FAIL(VST_KS_INVALID, "more than 255 shares given");
    uint8_t xs[VST_SHARE_MAX_COUNT];
    for (size_t i = 0; i < k; i++) {
        if (shares[i].index == 0)
            return FAIL(VST_KS_SHARE_CORRUPT, "a share has index 0");
        for (size_t j = 0; j < i; j++)
            if (shares[j].index == shares[i].index)
                return FAIL(VST_KS_SHARE_DUPLICATE,
                            "two shares have index %u (the same share given twice?)",
                            (unsigned)shares[i].index);
        xs[i] = shares[i].index;
    }
    use_good_rng();
    gfshare_ctx *g = gfshare_ctx_init_dec(xs, (unsigned)k, VST_KEY_LEN);
    if (g == NULL)
        return FAIL(VST_KS_NOMEM, "Shamir combine: libgfshare could not set up");
    for (size_t i = 0; i < k; i++)
        gfshare_ctx_dec_giveshare(g, (unsigned char)i, (unsigned char *)shares[i].y);
    gfshare_ctx_dec_extract(g, master);
    gfshare_ctx_free(g); /* overwrites the shares with random bytes */
    return VST_KS_OK;
}

vst_ks_status vst_shamir_combine(const vst_share *shares, size_t k,
                                 const uint8_t expect_id[VST_KS_ID_LEN],
                                 uint8_t master[VST_KEY_LEN], char *err, size_t errlen)
{
    if (shares == NULL || k == 0)
        return FAIL(VST_KS_SHARE_TOO_FEW, "no shares given");
    if (master == NULL)
        return FAIL(VST_KS_INVALID, "Shamir combine: missing argument");
    const vst_share *s0 = &shares[0];
    for (size_t i = 0; i < k; i++) {
        const vst_share *s = &shares[i];
        if (expect_id != NULL && CRYPTO_memcmp(s->keystore_id, expect_id, VST_KS_ID_LEN) != 0)
            return FAIL(VST_KS_SHARE_FOREIGN, "share %zu belongs to another keystore", i + 1);
        if (CRYPTO_memcmp(s->keystore_id, s0->keystore_id, VST_KS_ID_LEN) != 0)
            return FAIL(VST_KS_SHARE_MISMATCH, "the shares come from different keystores");
        if (s->threshold != s0->threshold || s->shares != s0->shares)
            return FAIL(VST_KS_SHARE_MISMATCH,
                        "the shares disagree on the threshold or number of shares "
                        "(%u of %u vs %u of %u)",
                        s0->threshold, s0->shares, s->threshold, s->shares);
    }
    if (s0->threshold < 2 || s0->threshold > s0->shares)
        return FAIL(VST_KS_SHARE_CORRUPT, "the shares state an impossible threshold (%u of %u)",
                    s0->threshold, s0->shares);
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < i; j++)
            if (shares[j].index == shares[i].index)
                return FAIL(VST_KS_SHARE_DUPLICATE,
                            "two shares have index %u (the same share given twice?)",
                            (unsigned)shares[i].index);
    if (k < s0->threshold)
        return FAIL(VST_KS_SHARE_TOO_FEW, "%u of %u shares are needed, %zu given", s0->threshold,
                    s0->shares, k);
    return vst_shamir_combine_raw(shares, k, master, err, errlen);
}

/* ---------------------------------------------------------- share text */

/* SHA-256("vst-share-v1" || keystore id || index || threshold || shares || y),
 * truncated. */
int vst_share_check(const vst_share *s, uint8_t out[VST_KS_SHARE_CHECK_LEN])
{
    uint8_t buf[sizeof SHARE_MAGIC - 1 + VST_KS_ID_LEN + 3 + VST_KEY_LEN];
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    vst_wr w;
    vst_wr_init_fixed(&w, buf, sizeof buf);
    int ok = vst_wr_put(&w, SHARE_MAGIC, sizeof SHARE_MAGIC - 1) == 0 &&
             vst_wr_put(&w, s->keystore_id, VST_KS_ID_LEN) == 0 && vst_wr_u8(&w, s->index) == 0 &&
             vst_wr_u8(&w, s->threshold) == 0 && vst_wr_u8(&w, s->shares) == 0 &&
             vst_wr_put(&w, s->y, VST_KEY_LEN) == 0 &&
             EVP_Digest(vst_wr_data(&w), vst_wr_len(&w), md, &mdlen, EVP_sha256(), NULL) == 1 &&
             mdlen >= CHECK_LEN;
    if (ok)
        memcpy(out, md, CHECK_LEN);
    vst_wr_free(&w); /* wipes buf: it held the share */
    OPENSSL_cleanse(md, sizeof md);
    return ok;
}

vst_ks_status vst_share_format(const vst_share *s, char *buf, size_t buflen)
{
    if (s == NULL || buf == NULL)
        return VST_KS_INVALID;
    uint8_t check[CHECK_LEN];
    char id[VST_KS_ID_HEX + 1], y[2 * VST_KEY_LEN + 1], ck[2 * CHECK_LEN + 1];
    if (!vst_share_check(s, check))
        return VST_KS_CRYPTO;
    vst_hex(s->keystore_id, VST_KS_ID_LEN, id);
    vst_hex(s->y, VST_KEY_LEN, y);
    vst_hex(check, CHECK_LEN, ck);
    int n = snprintf(buf, buflen,
                     SHARE_MAGIC "\n"
                                 "keystore: %s\n"
                                 "index: %u\n"
                                 "threshold: %u\n"
                                 "shares: %u\n"
                                 "share: %s\n"
                                 "check: %s\n",
                     id, (unsigned)s->index, (unsigned)s->threshold, (unsigned)s->shares, y, ck);
    OPENSSL_cleanse(y, sizeof y);
    if (n < 0 || (size_t)n >= buflen) {
        OPENSSL_cleanse(buf, buflen);
        return VST_KS_INVALID;
    }
    return VST_KS_OK;
}

static int parse_small(const char *s, size_t len, unsigned lo, unsigned hi, unsigned *out)
{
    if (len == 0 || len > 3 || s[0] == '0')
        return 0;
    unsigned x = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        x = x * 10 + (unsigned)(s[i] - '0');
    }
    if (x < lo || x > hi)
        return 0;
    *out = x;
    return 1;
}

/* A parsed share against its check value (want) and, if given, the
 * keystore it must belong to. */
static vst_ks_status share_verify(const vst_share *s, const uint8_t want[CHECK_LEN],
                                  const uint8_t *expect_id, char *err, size_t errlen)
{
    uint8_t got[CHECK_LEN];
    if (!vst_share_check(s, got))
        return FAIL(VST_KS_CRYPTO, "SHA-256 failed (OpenSSL)");
    if (CRYPTO_memcmp(want, got, CHECK_LEN) != 0)
        return FAIL(VST_KS_SHARE_CORRUPT,
                    "check value does not match: the share was altered, damaged or mistyped");
    if (expect_id != NULL && CRYPTO_memcmp(s->keystore_id, expect_id, VST_KS_ID_LEN) != 0) {
        char have[VST_KS_ID_HEX + 1], need[VST_KS_ID_HEX + 1];
        vst_hex(s->keystore_id, VST_KS_ID_LEN, have);
        vst_hex(expect_id, VST_KS_ID_LEN, need);
        return FAIL(VST_KS_SHARE_FOREIGN, "the share belongs to keystore %s, not to keystore %s",
                    have, need);
    }
    return VST_KS_OK;
}

vst_ks_status vst_share_parse(const char *text, size_t len, const uint8_t expect_id[VST_KS_ID_LEN],
                              vst_share *out, char *err, size_t errlen)
{
    if (text == NULL || out == NULL)
        return FAIL(VST_KS_INVALID, "no share given");
    vst_share s;
    memset(&s, 0, sizeof s);
    vst_kv_file kv; /* a share may have passed through a person's editor */
    const char *line = NULL, *v = NULL;
    size_t ll = 0, vl = 0;
    unsigned x;
    int line_bad = 0; /* a line is malformed (as opposed to a wrong check value) */
    vst_ks_status st = VST_KS_SHARE_CORRUPT;
#define BAD(...)                                                                                   \
    do {                                                                                           \
        FAIL(VST_KS_SHARE_CORRUPT, __VA_ARGS__);                                                   \
        line_bad = 1;                                                                              \
        goto out;                                                                                  \
    } while (0)
#define NEXT(n, what)                                                                              \
    do {                                                                                           \
        if (!vst_kv_line(&kv, &line, &ll))                                                         \
            BAD("truncated: line %d ('%s') is missing", n, what);                                  \
    } while (0)
    if (vst_kv_open(&kv, text, len, VST_KV_HAND_TYPED) != 0)
        BAD("contains a NUL byte (not a share file)");
    NEXT(1, SHARE_MAGIC);
    if (ll != sizeof SHARE_MAGIC - 1 || memcmp(line, SHARE_MAGIC, ll) != 0)
        BAD("not a vst share (the first line must be '" SHARE_MAGIC "')");
    NEXT(2, "keystore: ...");
    if (!vst_kv_split(line, ll, "keystore", &v, &vl) || vl != VST_KS_ID_HEX ||
        vst_unhex(v, VST_KS_ID_LEN, s.keystore_id) != 0)
        BAD("line 2 must be 'keystore: <32 hex digits>'");
    NEXT(3, "index: ...");
    if (!vst_kv_split(line, ll, "index", &v, &vl) || !parse_small(v, vl, 1, 255, &x))
        BAD("line 3 must be 'index: <1..255>'");
    s.index = (uint8_t)x;
    NEXT(4, "threshold: ...");
    if (!vst_kv_split(line, ll, "threshold", &v, &vl) || !parse_small(v, vl, 2, 255, &x))
        BAD("line 4 must be 'threshold: <2..255>'");
    s.threshold = (uint8_t)x;
    NEXT(5, "shares: ...");
    if (!vst_kv_split(line, ll, "shares", &v, &vl) || !parse_small(v, vl, 2, 255, &x) ||
        x < s.threshold)
        BAD("line 5 must be 'shares: <threshold..255>'");
    s.shares = (uint8_t)x;
    NEXT(6, "share: ...");
    if (!vst_kv_split(line, ll, "share", &v, &vl) || vl != 2 * VST_KEY_LEN ||
        vst_unhex(v, VST_KEY_LEN, s.y) != 0)
        BAD("line 6 must be 'share: <64 hex digits>'");
    NEXT(7, "check: ...");
    uint8_t want[CHECK_LEN];
    if (!vst_kv_split(line, ll, "check", &v, &vl) || vl != 2 * CHECK_LEN ||
        vst_unhex(v, CHECK_LEN, want) != 0)
        BAD("line 7 must be 'check: <16 hex digits>'");
    while (vst_kv_line(&kv, &line, &ll))
        if (ll != 0)
            BAD("unexpected text after line 7");
    if ((st = share_verify(&s, want, expect_id, err, errlen)) != VST_KS_OK)
        goto out;
#undef NEXT
#undef BAD
    *out = s;
out:
    if (line_bad && vst_kv_at_end(&kv) && len > 0 && text[len - 1] != '\n' && err != NULL &&
        errlen > 0) {
        size_t used = strlen(err);
        if (used < errlen)
            snprintf(err + used, errlen - used, " (the text stops mid-line: truncated?)");
    }
    vst_share_wipe(&s, 1);
    return st;
}

vst_ks_status vst_share_file_write(const char *path, const vst_share *s, char *err, size_t errlen)
{
    if (path == NULL || s == NULL)
        return FAIL(VST_KS_INVALID, "share file write: missing argument");
    char text[VST_SHARE_TEXT_MAX];
    vst_ks_status st = vst_share_format(s, text, sizeof text);
    if (st != VST_KS_OK)
        return FAIL(st, "share file %s: cannot format the share", path);
    st = vst_ks_write_new_file(path, text, strlen(text), err, errlen);
    OPENSSL_cleanse(text, sizeof text);
    return st;
}

vst_ks_status vst_share_file_read(const char *path, const uint8_t expect_id[VST_KS_ID_LEN],
                                  vst_share *out, char *err, size_t errlen)
{
    if (path == NULL || out == NULL)
        return FAIL(VST_KS_INVALID, "share file read: missing argument");
    char text[SHARE_FILE_MAX], msg[256];
    size_t len = 0;
    vst_ks_status st = vst_ks_read_small_file(path, text, sizeof text, &len, NULL, msg, sizeof msg);
    if (st == VST_KS_CORRUPT) /* too large */
        st = VST_KS_SHARE_CORRUPT;
    if (st == VST_KS_OK) {
        st = vst_share_parse(text, len, expect_id, out, msg, sizeof msg);
        OPENSSL_cleanse(text, sizeof text);
        if (st != VST_KS_OK)
            return FAIL(st, "share file %s: %s", path, msg);
        return VST_KS_OK;
    }
    return FAIL(st, "share file %s", msg); /* msg already names the file */
}

/* ---------------------------------------------------- dev master file */

vst_ks_status vst_master_file_create(const char *path, uint8_t master[VST_KEY_LEN], char *err,
                                     size_t errlen)
{
    if (path == NULL)
        return FAIL(VST_KS_INVALID, "master-key file: no path given");
    uint8_t key[VST_KEY_LEN];
    char text[2 * VST_KEY_LEN + 2];
    if (vst_master_generate(key) != VST_KS_OK)
        return FAIL(VST_KS_CRYPTO, "master-key file %s: random number generator failed", path);
    vst_hex(key, VST_KEY_LEN, text);
    text[2 * VST_KEY_LEN] = '\n';
    text[2 * VST_KEY_LEN + 1] = '\0';
    vst_ks_status st = vst_ks_write_new_file(path, text, 2 * VST_KEY_LEN + 1, err, errlen);
    if (st == VST_KS_OK && master != NULL)
        memcpy(master, key, VST_KEY_LEN);
    OPENSSL_cleanse(text, sizeof text);
    OPENSSL_cleanse(key, sizeof key);
    return st;
}

vst_ks_status vst_master_file_read(const char *path, uint8_t master[VST_KEY_LEN], char *err,
                                   size_t errlen)
{
    if (path == NULL || master == NULL)
        return FAIL(VST_KS_INVALID, "master-key file: missing argument");
    char text[MASTER_FILE_MAX];
    size_t len = 0;
    unsigned mode = 0;
    vst_ks_status st = vst_ks_read_small_file(path, text, sizeof text, &len, &mode, err, errlen);
    if (st != VST_KS_OK)
        return st;
    if ((mode & 077) != 0) {
        OPENSSL_cleanse(text, sizeof text);
        return FAIL(VST_KS_INSECURE,
                    "master-key file %s is accessible by group or others (mode %04o); "
                    "refusing to use it: chmod 600 it",
                    path, mode & 07777);
    }
    size_t n = len;
    if (n > 0 && text[n - 1] == '\n')
        n--;
    if (n > 0 && text[n - 1] == '\r')
        n--;
    uint8_t key[VST_KEY_LEN];
    if (n != 2 * VST_KEY_LEN || vst_unhex(text, VST_KEY_LEN, key) != 0)
        st = FAIL(VST_KS_CORRUPT, "master-key file %s: must hold exactly 64 hex digits", path);
    else
        memcpy(master, key, VST_KEY_LEN);
    OPENSSL_cleanse(text, sizeof text);
    OPENSSL_cleanse(key, sizeof key);
    return st;
}
