/* Incremental HTTP/1.1 response parser, see http_response.h.
 *
 * Lines (status, fields, chunk sizes, trailers) are collected in a fixed
 * buffer and checked as a whole once their LF arrives; body bytes are copied
 * into a buffer that grows up to the cap. The grammar follows RFC 9112:
 * obsolete line folding, whitespace before the colon, conflicting
 * Content-Length values and Content-Length together with Transfer-Encoding
 * are errors, since each of them is how response splitting starts. */
#include "cli/send/http_response.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/secmem.h"

enum {
    S_STATUS = 0,
    S_HEADER,
    S_BODY_CL,
    S_BODY_EOF,
    S_CHUNK_SIZE,
    S_CHUNK_DATA,
    S_CHUNK_CRLF,
    S_TRAILER,
    S_DONE,
    S_ERROR,
};

void vst_http_resp_init(vst_http_resp *r, size_t body_max)
{
    memset(r, 0, sizeof *r);
    r->state = S_STATUS;
    r->body_max = body_max ? body_max : VST_HR_BODY_MAX_DEFAULT;
}

void vst_http_resp_free(vst_http_resp *r)
{
    size_t max = r->body_max;
    if (r->body != NULL) {
        vst_wipe(r->body, r->body_cap);
        free(r->body);
    }
    vst_http_resp_init(r, max);
}

vst_hr_result vst_http_resp_result(const vst_http_resp *r)
{
    return r->state == S_DONE ? VST_HR_DONE : r->state == S_ERROR ? VST_HR_ERROR : VST_HR_MORE;
}

int vst_http_resp_started(const vst_http_resp *r)
{
    return r->state != S_STATUS || r->line_len > 0 || r->interim_seen > 0;
}

const char *vst_http_resp_strerror(vst_hr_error e)
{
    switch (e) {
    case VST_HR_E_NONE:
        return "no error";
    case VST_HR_E_STATUS_LINE:
        return "malformed status line";
    case VST_HR_E_HEADER_SYNTAX:
        return "malformed header field";
    case VST_HR_E_LINE_TOO_LONG:
        return "response line too long";
    case VST_HR_E_HEADERS_TOO_LARGE:
        return "response header block too large";
    case VST_HR_E_TOO_MANY_FIELDS:
        return "too many response header fields";
    case VST_HR_E_CONTENT_LENGTH:
        return "invalid or conflicting Content-Length";
    case VST_HR_E_TRANSFER_CODING:
        return "unsupported Transfer-Encoding";
    case VST_HR_E_CHUNK:
        return "malformed chunked body";
    case VST_HR_E_BODY_TOO_LARGE:
        return "response body too large";
    case VST_HR_E_TRUNCATED:
        return "connection closed before the response was complete";
    case VST_HR_E_UNEXPECTED_STATUS:
        return "unexpected informational response";
    case VST_HR_E_NOMEM:
        return "out of memory";
    }
    return "unknown error";
}

static vst_hr_result fail(vst_http_resp *r, vst_hr_error e)
{
    r->state = S_ERROR;
    r->error = e;
    return VST_HR_ERROR;
}

/* RFC 9110 tchar. */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-vchar / SP / HTAB, obs-text included: everything but the CTLs. */
static int is_text(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int parse_status_line(vst_http_resp *r, const char *s, size_t n)
{
    /* "HTTP/1.x SSS[ reason]" */
    if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' || s[7] > '9' || s[8] != ' ')
        return -1;
    for (int i = 9; i < 12; i++)
        if (s[i] < '0' || s[i] > '9')
            return -1;
    if (n > 12 && s[12] != ' ')
        return -1;
    for (size_t i = 13; i < n; i++)
        if (!is_text((unsigned char)s[i]))
            return -1;
    int status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    if (status < 100 || status > 599)
        return -1;
    r->status = status;
    r->minor_version = s[7] - '0';
    return 0;
}

static int set_content_length(vst_http_resp *r, const char *v, size_t n)
{
    if (n == 0 || n > 19)
        return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(v[i] - '0'); /* 19 digits cannot overflow */
    }
    if (r->have_cl && r->content_length != x)
        return -1;
    r->have_cl = 1;
    r->content_length = x;
    return 0;
}

static void keep_value(int *has, char *dst, const char *v, size_t n)
{
    if (*has || n > VST_HR_VALUE_MAX)
        return; /* the first one counts; an oversized one is not kept */
    memcpy(dst, v, n);
    dst[n] = '\0';
    *has = 1;
}

/* One "name: value" line of the header block or of the trailer. */
static vst_hr_result field_line(vst_http_resp *r, const char *s, size_t n, int trailer)
{
    if (++r->nfields > VST_HR_FIELDS_MAX)
        return fail(r, VST_HR_E_TOO_MANY_FIELDS);
    size_t name_len = 0;
    while (name_len < n && is_tchar((unsigned char)s[name_len]))
        name_len++;
    if (name_len == 0 || name_len == n || s[name_len] != ':')
        return fail(r, VST_HR_E_HEADER_SYNTAX); /* also obs-fold and "name :" */
    const char *v = s + name_len + 1;
    size_t vn = n - name_len - 1;
    for (size_t i = 0; i < vn; i++)
        if (!is_text((unsigned char)v[i]))
            return fail(r, VST_HR_E_HEADER_SYNTAX);
    while (vn > 0 && is_ows(v[0]))
        v++, vn--;
    while (vn > 0 && is_ows(v[vn - 1]))
        vn--;
    if (trailer)
        return VST_HR_MORE; /* trailer fields carry nothing we use */

    if (name_len == 14 && strncasecmp(s, "Content-Length", 14) == 0) {
        if (set_content_length(r, v, vn) != 0)
            return fail(r, VST_HR_E_CONTENT_LENGTH);
    } else if (name_len == 17 && strncasecmp(s, "Transfer-Encoding", 17) == 0) {
        if (r->chunked || vn != 7 || strncasecmp(v, "chunked", 7) != 0)
            return fail(r, VST_HR_E_TRANSFER_CODING);
        r->chunked = 1;
    } else if (name_len == 12 && strncasecmp(s, "Content-Type", 12) == 0) {
        keep_value(&r->has_content_type, r->content_type, v, vn);
    } else if (name_len == 11 && strncasecmp(s, "Retry-After", 11) == 0) {
        keep_value(&r->has_retry_after, r->retry_after, v, vn);
    }
    return VST_HR_MORE;
}

static void reset_message(vst_http_resp *r)
{
    r->header_bytes = 0;
    r->nfields = 0;
    r->have_cl = 0;
    r->content_length = 0;
    r->chunked = 0;
    r->has_content_type = 0;
    r->has_retry_after = 0;
    r->content_type[0] = '\0';
    r->retry_after[0] = '\0';
}

static vst_hr_result end_of_headers(vst_http_resp *r)
{
    if (r->status < 200) {
        if (r->status == 101 || ++r->interim_seen > VST_HR_INTERIM_MAX)
            return fail(r, VST_HR_E_UNEXPECTED_STATUS);
        reset_message(r);
        r->state = S_STATUS;
        return VST_HR_MORE;
    }
    if (r->status == 204 || r->status == 304) {
        r->state = S_DONE;
        return VST_HR_DONE;
    }
    if (r->chunked) {
        if (r->have_cl)
            return fail(r, VST_HR_E_CONTENT_LENGTH);
        r->state = S_CHUNK_SIZE;
        return VST_HR_MORE;
    }
    if (r->have_cl) {
        if (r->content_length > r->body_max)
            return fail(r, VST_HR_E_BODY_TOO_LARGE);
        if (r->content_length == 0) {
            r->state = S_DONE;
            return VST_HR_DONE;
        }
        r->remaining = r->content_length;
        r->state = S_BODY_CL;
        return VST_HR_MORE;
    }
    r->state = S_BODY_EOF;
    return VST_HR_MORE;
}

/* chunk-size [ BWS ";" chunk-ext ] */
static vst_hr_result chunk_size_line(vst_http_resp *r, const char *s, size_t n)
{
    uint64_t size = 0;
    size_t i = 0;
    for (; i < n; i++) {
        int d;
        char c = s[i];
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            break;
        if (size > (UINT64_MAX >> 4))
            return fail(r, VST_HR_E_CHUNK);
        size = (size << 4) | (uint64_t)d;
    }
    if (i == 0)
        return fail(r, VST_HR_E_CHUNK);
    while (i < n && is_ows(s[i]))
        i++;
    if (i < n && s[i] != ';')
        return fail(r, VST_HR_E_CHUNK);
    for (; i < n; i++)
        if (!is_text((unsigned char)s[i]))
            return fail(r, VST_HR_E_CHUNK);
    if (size == 0) {
        r->state = S_TRAILER;
        return VST_HR_MORE;
    }
    if (size > r->body_max - r->body_len)
        return fail(r, VST_HR_E_BODY_TOO_LARGE);
    r->remaining = size;
    r->state = S_CHUNK_DATA;
    return VST_HR_MORE;
}

/* A complete line s[0..n) without its CR LF, for the current state. */
static vst_hr_result on_line(vst_http_resp *r, const char *s, size_t n)
{
    switch (r->state) {
    case S_STATUS:
        if (parse_status_line(r, s, n) != 0)
            return fail(r, VST_HR_E_STATUS_LINE);
        r->state = S_HEADER;
        return VST_HR_MORE;
    case S_HEADER:
        return n == 0 ? end_of_headers(r) : field_line(r, s, n, 0);
    case S_CHUNK_SIZE:
        return chunk_size_line(r, s, n);
    case S_CHUNK_CRLF:
        if (n != 0)
            return fail(r, VST_HR_E_CHUNK);
        r->state = S_CHUNK_SIZE;
        return VST_HR_MORE;
    case S_TRAILER:
        if (n == 0) {
            r->state = S_DONE;
            return VST_HR_DONE;
        }
        return field_line(r, s, n, 1);
    default:
        return fail(r, VST_HR_E_HEADER_SYNTAX); /* unreachable */
    }
}

static int counts_as_header(int state)
{
    return state == S_STATUS || state == S_HEADER || state == S_TRAILER;
}

/* Collect bytes up to and including LF; dispatch the line when complete. */
static vst_hr_result take_line(vst_http_resp *r, const uint8_t *p, size_t n, size_t *took)
{
    const uint8_t *lf = memchr(p, '\n', n);
    size_t k = lf ? (size_t)(lf - p) + 1 : n;
    *took = k;
    if (counts_as_header(r->state)) {
        r->header_bytes += k;
        if (r->header_bytes > VST_HR_HEADERS_MAX)
            return fail(r, VST_HR_E_HEADERS_TOO_LARGE);
    }
    size_t content = lf ? k - 1 : k;
    if (content > VST_HR_LINE_MAX - r->line_len)
        return fail(r, VST_HR_E_LINE_TOO_LONG);
    memcpy(r->line + r->line_len, p, content);
    r->line_len += content;
    if (lf == NULL)
        return VST_HR_MORE;
    size_t len = r->line_len;
    if (len > 0 && r->line[len - 1] == '\r')
        len--; /* CR LF, or a bare LF (RFC 9112 §2.2 allows accepting it) */
    r->line_len = 0;
    if (memchr(r->line, '\r', len) != NULL) /* a CR that does not end the line */
        return fail(r, r->state == S_STATUS         ? VST_HR_E_STATUS_LINE
                       : counts_as_header(r->state) ? VST_HR_E_HEADER_SYNTAX
                                                    : VST_HR_E_CHUNK);
    return on_line(r, r->line, len);
}

static vst_hr_result append_body(vst_http_resp *r, const uint8_t *p, size_t n)
{
    if (n > r->body_max - r->body_len)
        return fail(r, VST_HR_E_BODY_TOO_LARGE);
    size_t need = r->body_len + n + 1; /* + NUL */
    if (need > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        if (r->state == S_BODY_CL)
            cap = (size_t)r->content_length + 1; /* exact, already capped */
        while (cap < need)
            cap = cap > r->body_max / 2 ? r->body_max + 1 : cap * 2;
        uint8_t *nb = malloc(cap);
        if (nb == NULL)
            return fail(r, VST_HR_E_NOMEM);
        if (r->body != NULL) {
            memcpy(nb, r->body, r->body_len);
            vst_wipe(r->body, r->body_cap);
            free(r->body);
        }
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, p, n);
    r->body_len += n;
    r->body[r->body_len] = 0;
    return VST_HR_MORE;
}

static size_t min_sz(uint64_t a, size_t b)
{
    return a < b ? (size_t)a : b;
}

vst_hr_result vst_http_resp_feed(vst_http_resp *r, const void *data, size_t n, size_t *used)
{
    const uint8_t *p = data;
    size_t off = 0;
    vst_hr_result res = VST_HR_MORE;
    while (off < n && res == VST_HR_MORE) {
        size_t k = 0;
        switch (r->state) {
        case S_BODY_CL:
        case S_CHUNK_DATA:
            k = min_sz(r->remaining, n - off);
            res = append_body(r, p + off, k);
            r->remaining -= k;
            if (res == VST_HR_MORE && r->remaining == 0) {
                if (r->state == S_CHUNK_DATA) {
                    r->state = S_CHUNK_CRLF;
                } else {
                    r->state = S_DONE;
                    res = VST_HR_DONE;
                }
            }
            break;
        case S_BODY_EOF:
            k = n - off;
            res = append_body(r, p + off, k);
            break;
        case S_DONE:
            res = VST_HR_DONE;
            break;
        case S_ERROR:
            res = VST_HR_ERROR;
            break;
        default:
            res = take_line(r, p + off, n - off, &k);
            break;
        }
        off += k;
    }
    if (r->state == S_DONE)
        res = VST_HR_DONE;
    else if (r->state == S_ERROR)
        res = VST_HR_ERROR;
    if (used != NULL)
        *used = off;
    return res;
}

vst_hr_result vst_http_resp_eof(vst_http_resp *r)
{
    if (r->state == S_BODY_EOF)
        r->state = S_DONE;
    if (r->state == S_DONE)
        return VST_HR_DONE;
    if (r->state == S_ERROR)
        return VST_HR_ERROR;
    return fail(r, VST_HR_E_TRUNCATED);
}
