/* The route table (data, not code): method, path, who may call, handler.
 * Everything else falls out of the table: 404 for a path no route has,
 * 405 with the Allow header of the methods the path's routes have, HEAD
 * wherever GET is (libmicrohttpd omits the body), the monitoring listener
 * serving only the open and monitoring routes.
 *
 * Also the request object: created by MHD's URI log callback with the raw,
 * undecoded URI, so that a delivery id is taken only from a path segment
 * that needed no decoding — `abc%00def` would otherwise decode to "abc"
 * and store another id than the sender used. A PUT keeps its handler's
 * state (the delivery) across libmicrohttpd's calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd/httpd.h"
#include "httpd/request.h"

/* Who may call a route. The monitoring listener is loopback plain HTTP and
 * serves only ACCESS_OPEN and ACCESS_MONITOR routes. */
enum {
    ACCESS_OPEN,    /* anyone (load balancers) */
    ACCESS_MONITOR, /* the certificates of monitor-fingerprints */
    /* A registered insurer: the handler authenticates (it answers every
     * outcome itself). Only after crash recovery: these routes touch the
     * store's prepared transactions and the receipts. */
    ACCESS_INSURER,
};

#define ID_SEGMENT "{id}" /* a path ending in it: one more segment, a delivery id */

typedef struct {
    const char *method; /* a GET route answers HEAD too */
    const char *path;
    int access;
    http_handler *handler;
    void (*done)(void *state); /* frees the handler's state when the request ends */
} route;

static const route routes[] = {
    {"GET", "/healthz", ACCESS_OPEN, health_healthz, NULL},
    /* Open like /healthz (load balancers check it), but answered from the
     * cached readiness: it costs no slot, query or keyd call. */
    {"GET", "/readyz", ACCESS_OPEN, health_readyz, NULL},
    {"GET", "/metrics", ACCESS_MONITOR, health_metrics, NULL},
    {"GET", "/v1/deliveries/" ID_SEGMENT, ACCESS_INSURER, delivery_get, NULL},
    {"PUT", "/v1/deliveries/" ID_SEGMENT, ACCESS_INSURER, delivery_put, delivery_put_done},
};
#define NROUTES (sizeof routes / sizeof routes[0])

typedef struct {
    char *raw_path;    /* the request target up to '?', undecoded */
    const route *body; /* a PUT under way: its route, called for every chunk */
    void *state;       /* that route's handler state */
    int seen;          /* the headers were checked (first call) */
} request;

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

/* The length of the path's fixed part: all of it, or up to ID_SEGMENT. */
static size_t fixed_len(const route *r)
{
    const char *seg = strstr(r->path, ID_SEGMENT);
    return seg ? (size_t)(seg - r->path) : strlen(r->path);
}

static int path_matches(const route *r, const char *url)
{
    size_t n = fixed_len(r);
    if (r->path[n] == '\0')
        return strcmp(url, r->path) == 0;
    return strncmp(url, r->path, n) == 0 && url[n] != '\0' && strchr(url + n, '/') == NULL;
}

static int method_matches(const route *r, const char *method)
{
    /* Methods are case-sensitive (RFC 9110 §9.1): "put" is not PUT. */
    return strcmp(method, r->method) == 0 || (strcmp(r->method, MHD_HTTP_METHOD_GET) == 0 &&
                                              strcmp(method, MHD_HTTP_METHOD_HEAD) == 0);
}

/* The Allow header of url's routes ("GET, HEAD, PUT"), in table order. */
static void allow_of(const char *url, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < NROUTES; i++) {
        if (!path_matches(&routes[i], url))
            continue;
        const char *m = routes[i].method;
        int get = strcmp(m, MHD_HTTP_METHOD_GET) == 0;
        int w = snprintf(out + n, cap - n, "%s%s%s", n ? ", " : "", m, get ? ", HEAD" : "");
        if (w < 0 || (size_t)w >= cap - n)
            return;
        n += (size_t)w;
    }
}

static enum MHD_Result authorize(struct MHD_Connection *c, const char *method)
{
    client_info ci;
    vst_err e = auth_client(c, &ci);
    if (e == VST_E_OK && !ci.monitor)
        e = VST_E_MONITOR_ONLY;
    if (e == VST_E_OK)
        return MHD_YES;
    auth_audit_failure(e, &ci, method);
    reply_problem(c, e, NULL, e == VST_E_UNAVAILABLE ? 5 : 0);
    return MHD_NO;
}

/* The route of an insurer's request: the delivery id checked, crash
 * recovery done, then the handler. */
static enum MHD_Result insurer_route(struct MHD_Connection *c, request *rq, const route *r,
                                     const char *url, const http_call *base)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%.*s", (int)fixed_len(r), r->path);
    const char *id = httpd_delivery_id(rq ? rq->raw_path : NULL, url, prefix);
    if (id == NULL)
        return reply_problem(c, VST_E_MALFORMED,
                             "the delivery id must be 1-128 characters "
                             "of A-Z a-z 0-9 . _ - without encoding",
                             0);
    if (!g_recovered)
        return reply_problem(c, VST_E_UNAVAILABLE, "crash recovery is still running", 2);
    http_call call = *base;
    call.id = id;
    if (r->done != NULL) { /* takes a body: keeps its state in the request */
        if (rq == NULL)
            return MHD_NO;
        rq->body = r;
        call.state = &rq->state;
    }
    return r->handler(c, &call);
}

/* A request without a body to read: not a PUT or POST (whose handlers read
 * theirs), and none announced. */
static int bodiless(struct MHD_Connection *c, const char *method)
{
    if (strcmp(method, MHD_HTTP_METHOD_PUT) == 0 || strcmp(method, MHD_HTTP_METHOD_POST) == 0)
        return 0;
    const char *len =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING) ==
               NULL &&
           (len == NULL || strcmp(len, "0") == 0);
}

enum MHD_Result httpd_dispatch(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls)
{
    int monitor_listener = cls != NULL;
    request *rq = *req_cls;
    http_call call = {.upload = upload, .upload_size = upload_size};
    if (rq != NULL && rq->body != NULL) { /* the next chunk of a body */
        call.id = url + fixed_len(rq->body);
        call.state = &rq->state;
        return rq->body->handler(c, &call);
    }
    if (rq != NULL && !rq->seen) {
        rq->seen = 1;
        peer_cache *pc = monitor_listener ? NULL : peer_of(c);
        if (pc != NULL)
            pc->headers_due_ms = 0; /* they came */
        const char *wrong = httpd_headers_wrong(c, version);
        if (wrong != NULL)
            return reply_problem_close(c, VST_E_MALFORMED, wrong, 0);
        /* A request without a body is answered in the next call, once
         * libmicrohttpd has read the whole request: an answer queued in
         * this first call makes it close the connection afterwards, which
         * cost every GET (a receipt, /healthz, /metrics) a new TLS
         * handshake. One with a body we do not want is answered now, and
         * the connection closed rather than the body read. */
        if (bodiless(c, method))
            return MHD_YES;
    }
    const route *at_path = NULL, *r = NULL;
    for (size_t i = 0; i < NROUTES && r == NULL; i++)
        if (path_matches(&routes[i], url)) {
            at_path = &routes[i];
            if (method_matches(&routes[i], method))
                r = &routes[i];
        }
    if (at_path == NULL || (monitor_listener && at_path->access == ACCESS_INSURER))
        return reply_problem(c, VST_E_NOT_FOUND, NULL, 0);
    if (r == NULL) {
        char allow[64];
        allow_of(url, allow, sizeof allow);
        return reply_not_allowed(c, allow);
    }
    if (r->access == ACCESS_INSURER)
        return insurer_route(c, rq, r, url, &call);
    if (!monitor_listener && r->access == ACCESS_MONITOR && authorize(c, method) != MHD_YES)
        return MHD_YES; /* answered */
    return r->handler(c, &call);
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
    if (rq->body != NULL)
        rq->body->done(rq->state);
    free(rq->raw_path);
    free(rq);
    *req_cls = NULL;
}
