/* Responses: application/problem+json (RFC 9457) with a stable `code`
 * from the error registry, and plain JSON bodies. A 422 lists each bad
 * line, field path and code — the engine never gives us a value to echo. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"

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

static enum MHD_Result problem_with(struct MHD_Connection *c, vst_err code, const char *detail,
                                    unsigned retry_after, const char *extra)
{
    char body[1024];
    unsigned status = (unsigned)vst_err_status(code);
    int n = snprintf(body, sizeof body,
                     "{\"type\":\"urn:vst:problem:%s\",\"title\":\"%s\",\"status\":%u,"
                     "\"code\":\"%s\",\"detail\":\"%s\"%s}",
                     vst_err_code(code), vst_err_hint(code), status, vst_err_code(code),
                     detail ? detail : vst_err_hint(code), extra ? extra : "");
    if (n < 0 || (size_t)n >= sizeof body)
        return MHD_NO;
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
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
    if (code == VST_E_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW,
                                detail && strstr(detail, "PUT") ? "GET, PUT" : "GET");
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

enum MHD_Result reply_invalid_records(struct MHD_Connection *c, const vst_errors *errs)
{
    /* Each entry is small and bounded (path <= 127 bytes of [a-z0-9_.|<>#[] ]),
     * so the size is known up front. */
    size_t cap = 256 + errs->n * 200, n = 0;
    char *body = malloc(cap);
    if (body == NULL)
        return MHD_NO;
    n += (size_t)snprintf(body, cap,
                          "{\"type\":\"urn:vst:problem:invalid_records\",\"title\":\"%s\","
                          "\"status\":422,\"code\":\"invalid_records\",\"detail\":\"%llu "
                          "error(s); nothing was stored\",\"errors_total\":%llu,\"errors\":[",
                          vst_err_hint(VST_E_INVALID_RECORDS), (unsigned long long)errs->total,
                          (unsigned long long)errs->total);
    for (size_t i = 0; i < errs->n; i++) {
        char path[260];
        size_t k = 0;
        for (const char *p = errs->items[i].path; *p && k < sizeof path - 2; p++) {
            if (*p == '"' || *p == '\\')
                path[k++] = '\\';
            path[k++] = *p;
        }
        path[k] = '\0';
        n += (size_t)snprintf(
            body + n, cap - n, "%s{\"line\":%llu,\"field\":\"%s\",\"code\":\"%s\"}", i ? "," : "",
            (unsigned long long)errs->items[i].line, path, vst_err_code(errs->items[i].code));
    }
    n += (size_t)snprintf(body + n, cap - n, "]}");
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
