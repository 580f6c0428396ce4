/* Responses: application/problem+json (RFC 9457) with a stable `code`
 * from the error registry, and plain JSON bodies. A 422 lists each bad
 * line, field path and code — the engine never gives us a value to echo.
 *
 * Problem bodies are built with jansson (json_pack, then json_dumps
 * compact, keys in the order packed): every string is escaped by the
 * library. The keys are a public interface (docs/openapi.yaml; vst-send
 * and the e2e suites read them): type, title, status, code, detail, and
 * for a 422 errors_total and errors [{line, field, code}]. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "httpd/httpd.h"

typedef struct {
    const char *allow; /* 405 */
    int close;         /* close the connection after the answer */
    unsigned retry_after;
} reply_opts;

/* Queues body[0..len) (copied) with the headers every answer carries, and
 * those of o. */
static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, const char *type,
                             const char *body, size_t len, const reply_opts *o)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (o != NULL && o->retry_after > 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%u", o->retry_after);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
    if (o != NULL && o->allow != NULL)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, o->allow);
    if (o != NULL && o->close)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    metrics_http(status);
    return rc;
}

enum MHD_Result reply_body(struct MHD_Connection *c, unsigned status, const char *type,
                           const char *body, size_t len)
{
    return queue(c, status, type, body, len, NULL);
}

/* doc (stolen) as compact JSON text, keys in the order packed; malloc'd,
 * or NULL (out of memory). */
static char *dump(json_t *doc)
{
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL)
        return NULL;
    char *out = strdup(text); /* plain malloc for the caller, whatever jansson's allocator */
    json_free_t jfree;
    json_get_alloc_funcs(NULL, &jfree);
    jfree(text);
    return out;
}

/* {"type", "title", "status", "code", "detail"}: the members every
 * problem has, in this order. */
static json_t *problem_doc(vst_err code, unsigned status, const char *detail)
{
    char type[96];
    snprintf(type, sizeof type, "urn:vst:problem:%s", vst_err_code(code));
    return json_pack("{s:s, s:s, s:I, s:s, s:s}", "type", type, "title", vst_err_hint(code),
                     "status", (json_int_t)status, "code", vst_err_code(code), "detail",
                     detail ? detail : vst_err_hint(code));
}

char *reply_problem_json(vst_err code, const char *detail)
{
    return dump(problem_doc(code, (unsigned)vst_err_status(code), detail));
}

static enum MHD_Result queue_problem(struct MHD_Connection *c, unsigned status, char *text,
                                     const reply_opts *o)
{
    if (text == NULL)
        return MHD_NO;
    enum MHD_Result rc = queue(c, status, "application/problem+json", text, strlen(text), o);
    free(text);
    return rc;
}

static enum MHD_Result problem_with(struct MHD_Connection *c, vst_err code, const char *detail,
                                    unsigned retry_after, reply_opts *o)
{
    unsigned status = (unsigned)vst_err_status(code);
    if (status == 503 && retry_after == 0)
        retry_after = 5; /* every 503 says when to come back */
    o->retry_after = retry_after;
    return queue_problem(c, status, reply_problem_json(code, detail), o);
}

enum MHD_Result reply_problem(struct MHD_Connection *c, vst_err code, const char *detail,
                              unsigned retry_after)
{
    reply_opts o = {0};
    return problem_with(c, code, detail, retry_after, &o);
}

enum MHD_Result reply_not_allowed(struct MHD_Connection *c, const char *allow)
{
    reply_opts o = {.allow = allow};
    char detail[80];
    snprintf(detail, sizeof detail, "allowed methods: %s", allow);
    return problem_with(c, VST_E_METHOD_NOT_ALLOWED, detail, 0, &o);
}

enum MHD_Result reply_problem_close(struct MHD_Connection *c, vst_err code, const char *detail,
                                    unsigned retry_after)
{
    reply_opts o = {.close = 1};
    return problem_with(c, code, detail, retry_after, &o);
}

/* A field path as a JSON string. Paths are profile field names (UTF-8
 * from the profile file) cut to the engine's buffer, which may end inside
 * a character: that tail is dropped. */
static json_t *field_path(const char *path)
{
    json_t *s = json_stringn(path, vst_utf8_cut(path, strlen(path)));
    return s != NULL ? s : json_string(""); /* never a reason to lose the 422 */
}

/* {"line", "field", "code"} per reported error, in line order. */
static json_t *error_list(const vst_errors *errs)
{
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < errs->n; i++) {
        const vst_field_error *e = &errs->items[i];
        if (json_array_append_new(list, json_pack("{s:I, s:o, s:s}", "line", (json_int_t)e->line,
                                                  "field", field_path(e->path), "code",
                                                  vst_err_code(e->code))) != 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

char *reply_invalid_records_json(const vst_errors *errs)
{
    char detail[64];
    snprintf(detail, sizeof detail, "%llu error(s); nothing was stored",
             (unsigned long long)errs->total);
    json_t *doc = problem_doc(VST_E_INVALID_RECORDS, 422, detail);
    json_t *list = error_list(errs);
    int ok = doc != NULL && list != NULL &&
             json_object_set_new(doc, "errors_total", json_integer((json_int_t)errs->total)) == 0 &&
             json_object_set(doc, "errors", list) == 0;
    json_decref(list); /* doc holds it now, or nobody */
    if (!ok) {
        json_decref(doc);
        return NULL;
    }
    return dump(doc);
}

enum MHD_Result reply_invalid_records(struct MHD_Connection *c, const vst_errors *errs)
{
    char *text = reply_invalid_records_json(errs);
    if (text == NULL)
        return reply_problem(c, VST_E_INTERNAL, NULL, 0);
    reply_opts o = {0};
    return queue_problem(c, 422, text, &o);
}
