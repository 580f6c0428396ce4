/* The route table (data, not code): path, methods, who may call, handler;
 * 405 and its Allow header fall out of the table. Also the request object:
 * created by MHD's URI log callback with the raw, undecoded URI, so that a
 * delivery id is taken only from a path segment that needed no decoding —
 * `abc%00def` would otherwise decode to "abc" and store another id than the
 * sender used. Only PUT carries a body; it keeps its delivery across
 * libmicrohttpd's calls. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpd.h"

#define DELIVERIES "/v1/deliveries/"

typedef struct {
    char *raw_path; /* the request target up to '?', undecoded */
    delivery *d;
    int is_put;
    int seen; /* the headers were checked (first call) */
} request;

/* Who may call a route on the HTTPS listener. The monitoring listener is
 * loopback plain HTTP and serves only AUTH_NONE and AUTH_MONITOR routes. */
enum { AUTH_NONE, AUTH_MONITOR, AUTH_HANDLER };
enum { M_GET = 1, M_HEAD = 2, M_PUT = 4 };

typedef struct {
    const char *path;
    int prefix; /* path is a prefix followed by one segment */
    unsigned methods;
    const char *allow;
    int auth;
    enum MHD_Result (*get)(struct MHD_Connection *);
} route;

static const route routes[] = {
    {"/healthz", 0, M_GET | M_HEAD, "GET, HEAD", AUTH_NONE, health_healthz},
    /* Open like /healthz (load balancers check it), but answered from the
     * cached readiness: it costs no slot, query or keyd call. */
    {"/readyz", 0, M_GET | M_HEAD, "GET, HEAD", AUTH_NONE, health_readyz},
    {"/metrics", 0, M_GET | M_HEAD, "GET, HEAD", AUTH_MONITOR, health_metrics},
    /* Authenticates in its handlers (delivery_put, delivery_get). */
    {DELIVERIES, 1, M_GET | M_HEAD | M_PUT, "GET, HEAD, PUT", AUTH_HANDLER, NULL},
};

void *httpd_request_new(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    request *rq = calloc(1, sizeof *rq);
    if (rq == NULL)
        return NULL;
    size_t n = strcspn(uri, "?");
    rq->raw_path = strndup(uri, n);
    return rq;
}

static unsigned method_bit(const char *m)
{
    /* Methods are case-sensitive (RFC 9110 §9.1): "put" is not PUT. */
    if (strcmp(m, MHD_HTTP_METHOD_GET) == 0)
        return M_GET;
    if (strcmp(m, MHD_HTTP_METHOD_HEAD) == 0)
        return M_HEAD;
    if (strcmp(m, MHD_HTTP_METHOD_PUT) == 0)
        return M_PUT;
    return 0;
}

static const route *find_route(const char *url)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const route *r = &routes[i];
        size_t n = strlen(r->path);
        if (!r->prefix && strcmp(url, r->path) == 0)
            return r;
        if (r->prefix && strncmp(url, r->path, n) == 0 && url[n] != '\0' &&
            strchr(url + n, '/') == NULL)
            return r;
    }
    return NULL;
}

/* The delivery id from the decoded URL, accepted only if the raw segment
 * is the very same bytes: no percent-encoding (the id alphabet needs none),
 * no NUL hidden behind %00, nothing the decoder changed. */
static const char *delivery_id_of(const request *rq, const char *url)
{
    const char *id = url + strlen(DELIVERIES);
    if (rq == NULL || rq->raw_path == NULL || strncmp(rq->raw_path, DELIVERIES, strlen(DELIVERIES)))
        return NULL;
    const char *raw = rq->raw_path + strlen(DELIVERIES);
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

static const char *headers_wrong(struct MHD_Connection *c, const char *version)
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

static enum MHD_Result authorize(struct MHD_Connection *c, int auth, const char *method)
{
    client_info ci;
    vst_err e = auth_client(c, &ci);
    if (e == VST_E_OK && auth == AUTH_MONITOR && !ci.monitor)
        e = VST_E_MONITOR_ONLY;
    if (e == VST_E_OK)
        return MHD_YES;
    auth_audit_failure(e, &ci, method);
    reply_problem(c, e, NULL, e == VST_E_UNAVAILABLE ? 5 : 0);
    return MHD_NO;
}

enum MHD_Result httpd_dispatch(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls)
{
    int monitor_listener = cls != NULL;
    request *rq = *req_cls;
    if (rq != NULL && rq->is_put)
        return delivery_put(c, url + strlen(DELIVERIES), upload, upload_size, (void **)&rq->d);
    if (rq != NULL && !rq->seen) {
        rq->seen = 1;
        peer_cache *pc = monitor_listener ? NULL : peer_of(c);
        if (pc != NULL)
            pc->headers_due_ms = 0; /* they came */
        const char *wrong = headers_wrong(c, version);
        if (wrong != NULL)
            return reply_problem_close(c, VST_E_MALFORMED, wrong, 0);
    }
    const route *r = find_route(url);
    if (r == NULL || (monitor_listener && (r->auth == AUTH_HANDLER)))
        return reply_problem(c, VST_E_NOT_FOUND, NULL, 0);
    unsigned m = method_bit(method);
    if ((r->methods & m) == 0)
        return reply_not_allowed(c, r->allow);
    if (r->auth == AUTH_HANDLER) {
        const char *id = delivery_id_of(rq, url);
        if (id == NULL)
            return reply_problem(c, VST_E_MALFORMED,
                                 "the delivery id must be 1-128 characters "
                                 "of A-Z a-z 0-9 . _ - without encoding",
                                 0);
        if (!g_recovered)
            return reply_problem(c, VST_E_UNAVAILABLE, "crash recovery is still running", 2);
        if (m == M_PUT) {
            if (rq == NULL)
                return MHD_NO;
            rq->is_put = 1;
            return delivery_put(c, id, upload, upload_size, (void **)&rq->d);
        }
        return delivery_get(c, id); /* HEAD too: libmicrohttpd omits the body */
    }
    if (!monitor_listener && r->auth != AUTH_NONE && authorize(c, r->auth, method) != MHD_YES)
        return MHD_YES; /* answered */
    return r->get(c);
}

void httpd_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                     enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    /* A kept-alive connection has header-timeout for its next request. */
    peer_cache *pc = cls == NULL ? peer_of(c) : NULL;
    if (pc != NULL) {
        pc->body_t0_ms = 0;
        pc->close_at_ms = 0;
        pc->headers_due_ms = mono_ms() + (int64_t)g_hcfg.header_timeout * 1000;
    }
    request *rq = *req_cls;
    if (rq == NULL)
        return;
    /* Also when the client went away mid-body: the store transaction is
     * rolled back and the slot returned. */
    delivery_free(rq->d);
    free(rq->raw_path);
    free(rq);
    *req_cls = NULL;
}
