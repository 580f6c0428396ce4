/* keystore.info, the public header (docs/keystore.md "keystore.info"): a
 * text file an operator reads with cat, written once at creation and read
 * before any key is at hand. Its exact bytes are part of keystore.sealed's
 * AAD, so it is parsed strictly (every line in its place, numbers without
 * leading zeros, a creation time that formats back to itself) and only
 * authenticated when the keystore opens. */
#include "keystore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/hex.h"
#include "core/kv_file.h"

static void fmt_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        strcpy(out, "1970-01-01T00:00:00Z");
}

size_t vst_ks_info_format(const vst_keystore_info *in, char *buf, size_t cap)
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
                     VST_KS_INFO_MAGIC "\n"
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

vst_ks_status vst_ks_info_parse(const char *buf, size_t len, vst_keystore_info *out,
                                const char *dir, char *err, size_t errlen)
{
    vst_kv_file f;
    const char *line, *v;
    size_t ll, vl;
    vst_keystore_info in;
    memset(&in, 0, sizeof in);
#define BAD(what)                                                                                  \
    VST_KS_FAIL(VST_KS_CORRUPT, "keystore %s: " VST_KS_INFO_FILE " is damaged: %s", dir, what)
    if (buf == NULL || vst_kv_open(&f, buf, len, VST_KV_STRICT) != 0)
        return BAD("contains a NUL byte");
    if (!vst_kv_line(&f, &line, &ll) || ll != strlen(VST_KS_INFO_MAGIC) ||
        memcmp(line, VST_KS_INFO_MAGIC, ll) != 0)
        return BAD("first line is not '" VST_KS_INFO_MAGIC "' (unknown format or not a keystore)");
    in.format = VST_KS_FORMAT;
    if (!vst_kv_line(&f, &line, &ll) || !vst_kv_split(line, ll, "id", &v, &vl) ||
        !hex_field(v, vl, in.id, VST_KS_ID_LEN))
        return BAD("line 2 must be 'id: <32 hex digits>'");
    vst_hex(in.id, VST_KS_ID_LEN, in.id_hex);
    if (!vst_kv_line(&f, &line, &ll) || !vst_kv_split(line, ll, "created", &v, &vl) ||
        !parse_time(v, vl, &in.created))
        return BAD("line 3 must be 'created: YYYY-MM-DDTHH:MM:SSZ'");
    if (!vst_kv_line(&f, &line, &ll) || !vst_kv_split(line, ll, "master", &v, &vl) ||
        !parse_master(v, vl, &in.mode))
        return BAD(
            "line 4 must be 'master: shamir M of N' (2 <= M <= N <= 255) or 'master: dev-file'");
    if (!vst_kv_line(&f, &line, &ll) || !vst_kv_split(line, ll, "signing-public-key", &v, &vl) ||
        !hex_field(v, vl, in.sign_public, VST_ED25519_LEN))
        return BAD("line 5 must be 'signing-public-key: <64 hex digits>'");
    if (!vst_kv_line(&f, &line, &ll) || !vst_kv_split(line, ll, "key-check", &v, &vl) ||
        !hex_field(v, vl, in.key_check, VST_KS_KCV_LEN))
        return BAD("line 6 must be 'key-check: <32 hex digits>'");
    if (!vst_kv_at_end(&f) && in.mode.mode == VST_KS_MODE_SHAMIR &&
        (!vst_kv_line(&f, &line, &ll) || !vst_kv_split(line, ll, "share-checks", &v, &vl) ||
         !parse_share_checks(v, vl, &in)))
        return BAD("line 7 must be 'share-checks: I:<16 hex digits> ...', one per share, "
                   "indices ascending");
    if (!vst_kv_at_end(&f))
        return BAD(in.nshare_checks ? "unexpected data after line 7"
                                    : "unexpected data after line 6");
#undef BAD
    *out = in;
    return VST_KS_OK;
}

vst_ks_status vst_ks_info_load(int dirfd, const char *dir, vst_keystore_info *info, char **raw,
                               size_t *rawlen, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    vst_ks_status st =
        vst_ks_read_at(dirfd, dir, VST_KS_INFO_FILE, VST_KS_INFO_MAX, &buf, &len, err, errlen);
    if (st == VST_KS_NOT_FOUND) {
        int has_sealed = faccessat(dirfd, VST_KS_SEALED_FILE, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
        return has_sealed ? VST_KS_FAIL(VST_KS_CORRUPT,
                                        "keystore %s: " VST_KS_INFO_FILE
                                        " is missing but " VST_KS_SEALED_FILE " exists",
                                        dir)
                          : VST_KS_FAIL(VST_KS_NOT_FOUND,
                                        "no keystore in %s (no " VST_KS_INFO_FILE ")", dir);
    }
    if (st != VST_KS_OK)
        return st;
    st = vst_ks_info_parse(buf, len, info, dir, err, errlen);
    if (st == VST_KS_OK && raw != NULL) {
        *raw = buf;
        *rawlen = len;
    } else {
        OPENSSL_free(buf);
    }
    return st;
}

vst_ks_status vst_keystore_read_info(const char *dir, vst_keystore_info *info, char *err,
                                     size_t errlen)
{
    if (dir == NULL || info == NULL)
        return VST_KS_FAIL(VST_KS_INVALID, "no keystore directory given");
    int dirfd = vst_ks_open_dir(dir);
    if (dirfd < 0) {
        if (errno == ENOENT)
            return VST_KS_FAIL(VST_KS_NOT_FOUND, "no keystore in %s (no such directory)", dir);
        return VST_KS_FAIL(VST_KS_IO, "keystore %s: %s", dir, strerror(errno));
    }
    vst_ks_status st = vst_ks_info_load(dirfd, dir, info, NULL, NULL, err, errlen);
    close(dirfd);
    return st;
}

const vst_ks_share_check *vst_keystore_share_check(const vst_keystore_info *info, uint8_t index)
{
    for (unsigned i = 0; info != NULL && i < info->nshare_checks; i++)
        if (info->share_checks[i].index == index)
            return &info->share_checks[i];
    return NULL;
}
