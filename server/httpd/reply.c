/* Responses: application/problem+json (RFC 9457) with a stable `code`
 * from the error registry, and plain JSON bodies. A 422 lists each bad
 * line, field path and code — the engine never gives us a value to echo.
 * Every string placed in a JSON body goes through json_escape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd/httpd.h"

enum MHD_Result reply_body(struct MHD_Connection *c, unsigned status, const char *type,
                           const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    metrics_http(status);
    return rc;
}

/* Appends s as JSON string content (without quotes) to out[*n..cap);
 * control characters become \u00XX. Returns -1 when it does not fit. */
static int json_escape(char *out, size_t cap, size_t *n, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        char esc[8];
        size_t k = 0;
        if (ch == '"' || ch == '\\') {
            esc[k++] = '\\';
            esc[k++] = (char)ch;
        } else if (ch < 0x20) {
            k = (size_t)snprintf(esc, sizeof esc, "\\u%04x", ch);
        } else {
            esc[k++] = (char)ch;
        }
        if (*n + k >= cap)
            return -1;
        memcpy(out + *n, esc, k);
        *n += k;
    }
    out[*n] = '\0';
    return 0;
}

typedef struct {
    const char *allow; /* 405 */
    int close;         /* close the connection after the answer */
} problem_opts;

static enum MHD_Result problem_with(struct MHD_Connection *c, vst_err code, const char *detail,
                                    unsigned retry_after, const problem_opts *o)
{
    char body[1024];
    unsigned status = (unsigned)vst_err_status(code);
    size_t n = (size_t)snprintf(body, sizeof body, "{\"type\":\"urn:vst:problem:%s\",\"title\":\"",
                                vst_err_code(code));
    if (json_escape(body, sizeof body, &n, vst_err_hint(code)) != 0)
        return MHD_NO;
    n += (size_t)snprintf(body + n, sizeof body - n,
                          "\",\"status\":%u,\"code\":\"%s\",\"detail\":\"", status,
                          vst_err_code(code));
    if (n >= sizeof body ||
        json_escape(body, sizeof body, &n, detail ? detail : vst_err_hint(code)))
        return MHD_NO;
    n += (size_t)snprintf(body + n, sizeof body - n, "\"}");
    if (n >= sizeof body)
        return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/problem+json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (status == 503 && retry_after == 0)
        retry_after = 5; /* every 503 says when to come back */
    if (retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%u", retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (o && o->allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, o->allow);
    if (o && o->close)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    metrics_http(status);
    return rc;
}

enum MHD_Result reply_problem(struct MHD_Connection *c, vst_err code, const char *detail,
                              unsigned retry_after)
{
    return problem_with(c, code, detail, retry_after, NULL);
}

enum MHD_Result reply_not_allowed(struct MHD_Connection *c, const char *allow)
{
    problem_opts o = {.allow = allow};
    char detail[80];
    snprintf(detail, sizeof detail, "allowed methods: %s", allow);
    return problem_with(c, VST_E_METHOD_NOT_ALLOWED, detail, 0, &o);
}

enum MHD_Result reply_problem_close(struct MHD_Connection *c, vst_err code, const char *detail,
                                    unsigned retry_after)
{
    problem_opts o = {.close = 1};
    return problem_with(c, code, detail, retry_after, &o);
}

enum MHD_Result reply_invalid_records(struct MHD_Connection *c, const vst_errors *errs)
{
    /* The size is computed from the entries, never assumed: a custom
     * profile may have long field paths. */
    size_t cap = 512;
    for (size_t i = 0; i < errs->n; i++)
        cap += 96 + 6 * strlen(errs->items[i].path) + strlen(vst_err_code(errs->items[i].code));
    char *body = malloc(cap);
    if (body == NULL)
        return MHD_NO;
    size_t n = (size_t)snprintf(body, cap,
                                "{\"type\":\"urn:vst:problem:invalid_records\",\"title\":\"%s\","
                                "\"status\":422,\"code\":\"invalid_records\",\"detail\":\"%llu "
                                "error(s); nothing was stored\",\"errors_total\":%llu,\"errors\":[",
                                vst_err_hint(VST_E_INVALID_RECORDS),
                                (unsigned long long)errs->total, (unsigned long long)errs->total);
    for (size_t i = 0; i < errs->n && n < cap; i++) {
        n += (size_t)snprintf(body + n, cap - n, "%s{\"line\":%llu,\"field\":\"", i ? "," : "",
                              (unsigned long long)errs->items[i].line);
        if (n >= cap || json_escape(body, cap, &n, errs->items[i].path) != 0)
            break;
        n += (size_t)snprintf(body + n, cap - n, "\",\"code\":\"%s\"}",
                              vst_err_code(errs->items[i].code));
    }
    if (n < cap)
        n += (size_t)snprintf(body + n, cap - n, "]}");
    if (n >= cap) { /* cannot happen with the size above; never send a cut body */
        free(body);
        return reply_problem(c, VST_E_INTERNAL, NULL, 0);
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(n, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/problem+json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result rc = MHD_queue_response(c, 422, r);
    MHD_destroy_response(r);
    metrics_http(422);
    return rc;
}
