/* The route table (data, not code): path, methods, who may call, handler;
 * 405 and its Allow header fall out of the table. Also the request object:
 * created by MHD's URI log callback with the raw, undecoded URI, so that a
 * delivery id is taken only from a path segment that needed no decoding —
 * `abc%00def` would otherwise decode to "abc" and store another id than the
 * sender used. Only PUT carries a body; it keeps its delivery across
 * libmicrohttpd's calls. */
#include <stdlib.h>
#include <string.h>

#include "httpd/httpd.h"
#include "httpd/request.h"

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
        const char *wrong = httpd_headers_wrong(c, version);
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
        const char *id = httpd_delivery_id(rq ? rq->raw_path : NULL, url, DELIVERIES);
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
