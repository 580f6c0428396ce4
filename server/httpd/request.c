/* What vst-httpd decides from a request's path and headers before it
 * reads any body, in one place and free of worker state, so that the
 * fuzzer (tests/fuzz/fuzz_http.c) and the unit tests (tests/unit/
 * test_request.c) run exactly the code the daemon runs: the delivery id
 * from the raw path, the screen for ids that could carry an identifier or
 * a birth date, the header checks against request smuggling, the
 * Content-Type and the Content-Length. */
#include "httpd/request.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/signed.h"
#include "core/ident.h"

/* The delivery id from the decoded URL, accepted only if the raw segment
 * is the very same bytes: no percent-encoding (the id alphabet needs none),
 * no NUL hidden behind %00, nothing the decoder changed. */
const char *httpd_delivery_id(const char *raw_path, const char *url, const char *prefix)
{
    size_t n = strlen(prefix);
    if (raw_path == NULL || strncmp(raw_path, prefix, n) != 0 || strncmp(url, prefix, n) != 0)
        return NULL;
    const char *id = url + n, *raw = raw_path + n;
    if (strcmp(raw, id) != 0 || !vst_delivery_id_ok(id, strlen(id)))
        return NULL;
    return id;
}

/* ---- header sanity: what libmicrohttpd lets through but a request
 * smuggler relies on (RFC 9112 §3.2, §6.1, §6.3). Refused with 400 and the
 * connection closed, before any handler reads a body. */

typedef struct {
    unsigned host, content_length, transfer_encoding, content_type;
    int te_not_chunked, bad_name;
} header_counts;

/* A field name is a token (RFC 9110 §5.1): "Content-Length " with a blank
 * before the colon is not Content-Length, and a body sent after it would
 * be read as a second request. */
static int is_token(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return 0;
    return 1;
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    header_counts *h = cls;
    h->bad_name |= !is_token(key);
    if (strcasecmp(key, "Host") == 0)
        h->host++;
    else if (strcasecmp(key, "Content-Length") == 0)
        h->content_length++;
    else if (strcasecmp(key, "Content-Type") == 0)
        h->content_type++;
    else if (strcasecmp(key, "Transfer-Encoding") == 0) {
        h->transfer_encoding++;
        /* The only coding vst accepts is a lone "chunked". */
        h->te_not_chunked |= value == NULL || strcasecmp(value, "chunked") != 0;
    }
    return MHD_YES;
}

const char *httpd_headers_wrong(struct MHD_Connection *c, const char *version)
{
    header_counts h = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &h);
    if (h.bad_name)
        return "a header field name that is not a token";
    if (h.host > 1 || (h.host == 0 && strcmp(version, MHD_HTTP_VERSION_1_1) == 0))
        return "an HTTP/1.1 request needs exactly one Host header";
    if (h.content_length > 1)
        return "more than one Content-Length header";
    if (h.transfer_encoding > 1 || h.te_not_chunked)
        return "the only transfer coding accepted is a single \"chunked\"";
    if (h.transfer_encoding > 0 && h.content_length > 0)
        return "Transfer-Encoding and Content-Length together";
    if (h.content_type > 1)
        return "more than one Content-Type header";
    return NULL;
}

int httpd_content_type_ok(struct MHD_Connection *c)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    const char *want = "application/x-ndjson";
    size_t n = strlen(want);
    return ct != NULL && strncasecmp(ct, want, n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Digits s[i..i+n) as a number, or -1 when one is not a digit. */
static int digits_at(const char *s, size_t len, size_t i, size_t n)
{
    int v = 0;
    if (i + n > len)
        return -1;
    for (size_t k = i; k < i + n; k++) {
        if (s[k] < '0' || s[k] > '9')
            return -1;
        v = v * 10 + (s[k] - '0');
    }
    return v;
}

static int is_date(int y, int m, int d)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || y > 2099 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return 0;
    return m != 2 || d < 29 || (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
}

/* Three digit groups of widths w0, w1, w2 from s[i], with nothing or the
 * same one of '-', '.', '_' between them; their values into v[3], or 0. */
static int groups_at(const char *s, size_t len, size_t i, const size_t w[3], int v[3])
{
    for (size_t sep = 0; sep <= 1; sep++) {
        size_t at = i, ok = 1;
        for (size_t g = 0; g < 3 && ok; g++) {
            if (g > 0 && sep) {
                ok = at < len && strchr("-._", s[at]) != NULL && (g == 1 || s[at] == s[i + w[0]]);
                at++;
            }
            ok = ok && (v[g] = digits_at(s, len, at, w[g])) >= 0;
            at += w[g];
        }
        if (ok)
            return 1;
    }
    return 0;
}

/* A calendar date starting at s[i]: YYYY-MM-DD or DD-MM-YYYY, with '-',
 * '.', '_' or nothing between the parts. */
static int date_at(const char *s, size_t len, size_t i)
{
    static const size_t ymd[3] = {4, 2, 2}, dmy[3] = {2, 2, 4};
    int v[3];
    return (groups_at(s, len, i, ymd, v) && is_date(v[0], v[1], v[2])) ||
           (groups_at(s, len, i, dmy, v) && is_date(v[2], v[1], v[0]));
}

/* An id that could carry an identifier or a birth date, also glued to
 * other characters ("AOKA123456780x", "x123456601y"): a KVNR (a letter
 * and nine digits with a valid check digit), nine or more digits in a row
 * (the shape of a LANR, BSNR or IK), 32 hexadecimal digits in a row (a
 * pseudonym), or a calendar date with its day. The id goes into the audit
 * log and the logs, which never hold such a value. Periods (2026Q4,
 * 2026-12) are fine. */
int httpd_id_carries_identifier(const char *id)
{
    size_t n = strlen(id), hexrun = 0, digitrun = 0;
    for (size_t i = 0; i < n; i++) {
        hexrun = isxdigit((unsigned char)id[i]) ? hexrun + 1 : 0;
        digitrun = isdigit((unsigned char)id[i]) ? digitrun + 1 : 0;
        if (hexrun >= 32 || digitrun >= 9 || date_at(id, n, i))
            return 1;
        if (i + 10 <= n && isalpha((unsigned char)id[i])) {
            vst_id v;
            vst_err e = vst_id_parse(VST_ID_KVNR, id + i, 10, &v);
            vst_id_wipe(&v);
            if (e == VST_E_OK)
                return 1;
        }
    }
    return 0;
}

/* Content-Length as sent: digits only (no sign, blank or suffix); -1 when
 * absent, -2 when malformed. MHD has already refused a malformed one for
 * the body it reads; this is the decision about its size. */
int64_t httpd_content_length(struct MHD_Connection *c)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl == NULL)
        return -1;
    uint64_t v = 0;
    if (*cl == '\0')
        return -2;
    for (const char *p = cl; *p; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
            return -2;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    return v > INT64_MAX ? INT64_MAX : (int64_t)v;
}
