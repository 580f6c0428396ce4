/* vst-send helpers, see send_util.h. */
#include "cli/send/send_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/civil_time.h"
#include "core/hex.h"
#include "core/msg.h"

static int set_err(char *err, size_t errlen, const char *msg)
{
    vst_msg(err, errlen, "%s", msg);
    return -1;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int parse_port(const char *s, size_t n, char out[6])
{
    if (n == 0 || n > 5)
        return -1;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    snprintf(out, 6, "%u", v);
    return 0;
}

static int host_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > VST_URL_HOST_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' ||
              c == '-'))
            return 0;
    }
    return 1;
}

static int parse_authority(const char *a, size_t n, vst_url *u, char *err, size_t errlen)
{
    const char *port = NULL;
    size_t port_len = 0;
    if (memchr(a, '@', n) != NULL)
        return set_err(err, errlen, "URL must not contain user information");
    if (n > 0 && a[0] == '[') {
        const char *close = memchr(a, ']', n);
        size_t hl = close ? (size_t)(close - a) - 1 : 0;
        if (close == NULL || hl == 0 || hl > 45)
            return set_err(err, errlen, "URL has a malformed IPv6 address");
        memcpy(u->host, a + 1, hl);
        u->host[hl] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, u->host, &a6) != 1)
            return set_err(err, errlen, "URL has a malformed IPv6 address");
        u->host_is_ip = 6;
        size_t rest = n - hl - 2;
        if (rest > 0) {
            if (close[1] != ':')
                return set_err(err, errlen, "URL has a malformed IPv6 address");
            port = close + 2;
            port_len = rest - 1;
        }
    } else {
        const char *colon = memchr(a, ':', n);
        size_t hl = colon ? (size_t)(colon - a) : n;
        if (!host_name_ok(a, hl))
            return set_err(err, errlen, "URL has an invalid host name");
        memcpy(u->host, a, hl);
        u->host[hl] = '\0';
        struct in_addr a4;
        u->host_is_ip = inet_pton(AF_INET, u->host, &a4) == 1 ? 4 : 0;
        if (colon != NULL) {
            port = colon + 1;
            port_len = n - hl - 1;
        }
    }
    if (port == NULL)
        strcpy(u->port, "443");
    else if (parse_port(port, port_len, u->port) != 0)
        return set_err(err, errlen, "URL has an invalid port");
    return 0;
}

int vst_url_parse(const char *s, vst_url *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    if (s == NULL || strncasecmp(s, "https://", 8) != 0)
        return set_err(err, errlen, "URL must start with https://");
    const char *a = s + 8;
    size_t an = strcspn(a, "/?#");
    if (parse_authority(a, an, u, err, errlen) != 0)
        return -1;
    const char *path = a + an;
    size_t pn = strlen(path);
    for (size_t i = 0; i < pn; i++) {
        char c = path[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
              strchr("/._~-", c) != NULL))
            return set_err(err, errlen,
                           "URL path may only contain [A-Za-z0-9/._~-] "
                           "(no query or fragment)");
    }
    while (pn > 0 && path[pn - 1] == '/')
        pn--;
    if (pn > VST_URL_PATH_MAX)
        return set_err(err, errlen, "URL path is too long");
    memcpy(u->prefix, path, pn);
    u->prefix[pn] = '\0';
    int is443 = strcmp(u->port, "443") == 0;
    snprintf(u->host_header, sizeof u->host_header, "%s%s%s%s%s", u->host_is_ip == 6 ? "[" : "",
             u->host, u->host_is_ip == 6 ? "]" : "", is443 ? "" : ":", is443 ? "" : u->port);
    return 0;
}

uint32_t vst_backoff_ms(unsigned attempt, uint32_t rnd)
{
    uint32_t d = VST_BACKOFF_BASE_MS;
    for (unsigned i = 0; i < attempt && d < VST_BACKOFF_CAP_MS; i++)
        d *= 2;
    if (d > VST_BACKOFF_CAP_MS)
        d = VST_BACKOFF_CAP_MS;
    uint32_t half = d / 2;
    return d - half + rnd % (half + 1);
}

static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* n decimal digits at s into *v; 0 or -1. */
static int digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -1;
        *v = *v * 10 + (s[i] - '0');
    }
    return 0;
}

static int valid_ymdhms(int y, int mo, int d, int h, int mi, int s)
{
    return mo >= 1 && mo <= 12 && d >= 1 && d <= (int)vst_days_in_month(y, (unsigned)mo) &&
           h <= 23 && mi <= 59 && s <= 59;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" (exactly 29 characters). */
static int parse_imf_fixdate(const char *v, time_t *t)
{
    int d, y, h, mi, s, mo = -1;
    if (strlen(v) != 29 || v[3] != ',' || v[4] != ' ' || v[7] != ' ' || v[11] != ' ' ||
        v[16] != ' ' || v[19] != ':' || v[22] != ':' || strcmp(v + 25, " GMT") != 0)
        return -1;
    for (int i = 0; i < 12; i++)
        if (strncmp(v + 8, months[i], 3) == 0)
            mo = i + 1;
    if (mo < 0 || digits(v + 5, 2, &d) || digits(v + 12, 4, &y) || digits(v + 17, 2, &h) ||
        digits(v + 20, 2, &mi) || digits(v + 23, 2, &s) || !valid_ymdhms(y, mo, d, h, mi, s))
        return -1;
    *t = (time_t)(vst_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
                  s);
    return 0;
}

int vst_retry_after_parse(const char *v, time_t now, unsigned *secs)
{
    size_t n = strlen(v);
    if (n > 0 && strspn(v, "0123456789") == n) {
        unsigned long x = 0;
        for (size_t i = 0; i < n && x <= VST_RETRY_AFTER_CAP_S; i++)
            x = x * 10 + (unsigned long)(v[i] - '0');
        *secs = x > VST_RETRY_AFTER_CAP_S ? VST_RETRY_AFTER_CAP_S : (unsigned)x;
        return 0;
    }
    time_t t;
    if (parse_imf_fixdate(v, &t) != 0)
        return -1;
    double dt = difftime(t, now);
    *secs = dt <= 0 ? 0 : dt >= VST_RETRY_AFTER_CAP_S ? VST_RETRY_AFTER_CAP_S : (unsigned)dt;
    return 0;
}

static int pem_pubkey(const char *text, size_t n, uint8_t out[VST_ED25519_PUB_LEN])
{
    BIO *b = BIO_new_mem_buf(text, (int)n);
    EVP_PKEY *pk = b ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    size_t len = VST_ED25519_PUB_LEN;
    int ok = pk != NULL && EVP_PKEY_get_id(pk) == EVP_PKEY_ED25519 &&
             EVP_PKEY_get_raw_public_key(pk, out, &len) == 1 && len == VST_ED25519_PUB_LEN;
    EVP_PKEY_free(pk);
    BIO_free(b);
    return ok ? 0 : -1;
}

int vst_pubkey_arg(const char *arg, uint8_t out[VST_ED25519_PUB_LEN], char *err, size_t errlen)
{
    size_t n = strlen(arg);
    if (n == 2 * VST_ED25519_PUB_LEN && vst_unhex(arg, VST_ED25519_PUB_LEN, out) == 0)
        return 0;
    char buf[8192];
    int fd = open(arg, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        char m[256];
        snprintf(m, sizeof m, "public key: neither 64 hex digits nor a readable file (%s)",
                 strerror(errno));
        return set_err(err, errlen, m);
    }
    size_t got = 0;
    ssize_t k;
    while (got < sizeof buf - 1 && (k = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)k;
    close(fd);
    buf[got] = '\0';
    const char *s = buf;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t sn = strlen(s);
    while (sn > 0 && strchr(" \t\r\n", s[sn - 1]) != NULL)
        sn--;
    if (strncmp(s, "-----BEGIN", 10) == 0) {
        if (pem_pubkey(s, sn, out) == 0)
            return 0;
        return set_err(err, errlen, "public key file: not a PEM Ed25519 public key");
    }
    if (sn != 2 * VST_ED25519_PUB_LEN || vst_unhex(s, VST_ED25519_PUB_LEN, out) != 0)
        return set_err(err, errlen, "public key file: expected 64 hex digits");
    return 0;
}
