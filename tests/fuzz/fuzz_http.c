/* libFuzzer target: the HTTP request path of vst-httpd, through
 * libmicrohttpd in-process.
 *
 * An MHD daemon without TLS and without a listening socket runs inside the
 * harness (external polling, one thread). Each input is one connection:
 * a socketpair is handed to MHD_add_connection, the input is written to
 * the other end as the raw request bytes (any number of pipelined
 * requests), the write side is shut, and MHD runs until it has answered
 * and closed. The access handler mirrors routes.c and
 * delivery_put.c without a database or keyd, calling vst-httpd's own
 * request checks (request.c): the header sanity checks, the
 * delivery id from the raw path (the URI log callback keeps it, as in
 * vst-httpd), the id screen, the Content-Type check, the
 * ?profile= lookup among the shipped profiles (sgb5, measles), the body
 * cut into lines by lines.c and every line through the profile
 * engine, answered with reply.c's problem+json and 422 bodies.
 *
 * Properties: the handler sees only what vst-httpd relies on (a URL and
 * method as C strings, an id within the length limit that passed the
 * check, no call with body data after a response was queued in the first
 * call, lines no longer than the profile's maximum + 1); every response is
 * an HTTP/1.x status line with a status vst-httpd or MHD deliberately
 * sends; the connection is closed after the client's end and no
 * connection is left behind. */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/signed.h"
#include "fuzz_util.h"
#include "httpd/httpd.h"
#include "httpd/lines.h"
#include "httpd/request.h"
#include "profile/profile.h"

#define DELIVERIES "/v1/deliveries/"

static struct MHD_Daemon *g_mhd;
static vst_profile *g_prof[2];
static unsigned g_requests; /* requests completed on the current connection */

/* reply.c counts responses through metrics.c. */
void metrics_http(unsigned status)
{
    FZ_CHECK(status >= 200 && status <= 599, "status");
}

typedef struct {
    char raw[4096]; /* the undecoded request target up to '?' */
    int seen;       /* the first call ran */
    int put;
    int answered; /* a response was queued in the first call */
    const vst_profile *p;
    httpd_lines lines;
    vst_row *row;
    vst_errors errs;
    uint64_t lineno;
} request;

static const vst_profile *profile_named(const char *name)
{
    for (int i = 0; i < 2; i++)
        if (strcmp(vst_profile_name(g_prof[i]), name) == 0)
            return g_prof[i];
    return NULL;
}

/* MHD_OPTION_URI_LOG_CALLBACK, as in vst-httpd: the request object with
 * the raw target, before MHD decodes it. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    request *rq = calloc(1, sizeof *rq);
    if (rq != NULL)
        snprintf(rq->raw, sizeof rq->raw, "%.*s", (int)strcspn(uri, "?"), uri);
    return rq;
}

static void on_line(void *ctx, const char *line, size_t len)
{
    request *rq = ctx;
    FZ_CHECK(len <= vst_profile_max_line(rq->p) + 1, "a line over the maximum");
    rq->lineno++;
    vst_profile_apply(rq->p, line, len, rq->lineno, rq->row, &rq->errs);
    vst_row_clear(rq->row);
}

static void on_too_long(void *ctx)
{
    request *rq = ctx;
    rq->lineno++;
    vst_errors_add(&rq->errs, rq->lineno, "", VST_E_LINE_TOO_LONG);
}

/* The first call of a PUT: what delivery_put.c's start() decides from the
 * headers (authentication and the database left out). */
static vst_err put_start(struct MHD_Connection *c, request *rq, const char *url)
{
    const char *id = httpd_delivery_id(rq->raw, url, DELIVERIES);
    if (id == NULL || strspn(id, ".") == strlen(id) || httpd_id_carries_identifier(id))
        return VST_E_MALFORMED;
    /* What the handler relies on: the raw segment is the id, byte for byte. */
    FZ_CHECK(strcmp(rq->raw + strlen(DELIVERIES), id) == 0, "id differs from the raw path");
    FZ_CHECK(strlen(id) <= VST_DELIVERY_ID_MAX, "id length");
    for (const char *q = id; *q; q++)
        FZ_CHECK(*q > 0x20 && *q < 0x7f && *q != '/' && *q != '%', "id alphabet");
    if (!httpd_content_type_ok(c))
        return VST_E_UNSUPPORTED_MEDIA_TYPE;
    const char *prof = NULL;
    size_t prof_len = 0;
    MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, "profile", 7, &prof, &prof_len);
    if (prof != NULL && strlen(prof) != prof_len)
        return VST_E_UNKNOWN_PROFILE;
    if ((rq->p = profile_named(prof ? prof : "sgb5")) == NULL)
        return VST_E_UNKNOWN_PROFILE;
    if (httpd_content_length(c) == -2)
        return VST_E_MALFORMED;
    if (httpd_lines_init(&rq->lines, vst_profile_max_line(rq->p) + 1, on_line, on_too_long, rq) ||
        (rq->row = vst_row_new(rq->p)) == NULL || vst_errors_init(&rq->errs, 16) != 0)
        return VST_E_NOMEM;
    return VST_E_OK;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    (void)cls;
    FZ_CHECK(url != NULL && method != NULL && version != NULL, "request line");
    request *rq = *req_cls;
    FZ_CHECK(rq != NULL, "the URI log callback made the request object");
    if (rq->put) {
        FZ_CHECK(!rq->answered, "body data after a response was queued");
        if (*upload_size > 0) {
            httpd_lines_feed(&rq->lines, upload, *upload_size);
            *upload_size = 0;
            return MHD_YES;
        }
        httpd_lines_finish(&rq->lines);
        if (rq->errs.total > 0)
            return reply_invalid_records(c, &rq->errs);
        if (rq->lineno == 0)
            return reply_problem(c, VST_E_EMPTY_DELIVERY, NULL, 0);
        return reply_body(c, 201, "application/json", "{}", 2);
    }
    if (!rq->seen) {
        rq->seen = 1;
        const char *wrong = httpd_headers_wrong(c, version);
        if (wrong != NULL) {
            rq->answered = 1;
            return reply_problem_close(c, VST_E_MALFORMED, wrong, 0);
        }
    }
    int get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    int head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    int put = strcmp(method, MHD_HTTP_METHOD_PUT) == 0;
    if (strncmp(url, DELIVERIES, strlen(DELIVERIES)) == 0 && url[strlen(DELIVERIES)] != '\0' &&
        strchr(url + strlen(DELIVERIES), '/') == NULL) {
        if (put) {
            rq->put = 1;
            vst_err e = put_start(c, rq, url);
            if (e == VST_E_OK)
                return MHD_YES;
            rq->answered = 1;
            return reply_problem(c, e, NULL, 0);
        }
        if (get || head)
            return reply_problem(c,
                                 httpd_delivery_id(rq->raw, url, DELIVERIES) == NULL
                                     ? VST_E_MALFORMED
                                     : VST_E_NOT_FOUND,
                                 NULL, 0);
        return reply_not_allowed(c, "GET, HEAD, PUT");
    }
    static const char *const gets[] = {"/healthz", "/readyz", "/metrics"};
    for (size_t i = 0; i < 3; i++)
        if (strcmp(url, gets[i]) == 0)
            return get || head ? reply_body(c, 200, "text/plain", "ok\n", 3)
                               : reply_not_allowed(c, "GET, HEAD");
    return reply_problem(c, VST_E_NOT_FOUND, NULL, 0);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    request *rq = *req_cls;
    g_requests++;
    if (rq == NULL)
        return;
    if (rq->put) {
        httpd_lines_free(&rq->lines);
        vst_row_free(rq->row);
        vst_errors_free(&rq->errs);
    }
    free(rq);
    *req_cls = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    static const char *const names[2] = {"sgb5", "measles"};
    for (int i = 0; i < 2; i++) {
        char path[4096], msg[512];
        snprintf(path, sizeof path, "%s/server/profiles/%s.json", fz_root(), names[i]);
        if (vst_profile_load(path, &g_prof[i], msg, sizeof msg) != VST_E_OK) {
            fprintf(stderr, "fuzz_http: %s\n", msg);
            exit(1);
        }
    }
    /* vst-httpd's limits (main.c) without TLS and threads. */
    g_mhd = MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL, on_request, NULL,
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024),
                             MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL, MHD_OPTION_NOTIFY_COMPLETED,
                             on_completed, NULL, MHD_OPTION_END);
    FZ_CHECK(g_mhd != NULL, "MHD_start_daemon");
    return 0;
}

static unsigned connections(void)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(g_mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return i ? i->num_connections : 0;
}

/* Statuses vst-httpd answers with deliberately, and those MHD itself sends
 * for broken requests. */
static int status_ok(int s)
{
    static const int ok[] = {100, 200, 201, 400, 404, 405, 413, 414,
                             415, 417, 422, 431, 500, 501, 503, 505};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (s == ok[i])
            return 1;
    return 0;
}

/* Checks every status line in what the server sent (a response may be
 * split across reads: scan the whole of it at the end). */
static void check_responses(const char *out, size_t n)
{
    if (n == 0)
        return;
    FZ_CHECK(n >= 12 && memcmp(out, "HTTP/1.", 7) == 0, "response does not start a status line");
    for (const char *p = out; p != NULL && p < out + n;) {
        if (p + 12 <= out + n && memcmp(p, "HTTP/1.", 7) == 0 && p[8] == ' ') {
            int s = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
            if (!status_ok(s)) {
                fprintf(stderr, "status %d\n", s);
                FZ_CHECK(0, "unexpected status");
            }
        }
        const char *nl = memchr(p, '\n', (size_t)(out + n - p));
        p = nl ? nl + 1 : NULL;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
    FZ_CHECK(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0, "nonblocking");
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000)};
    peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    g_requests = 0;
    FZ_CHECK(MHD_add_connection(g_mhd, sv[0], (const struct sockaddr *)&peer, sizeof peer) ==
                 MHD_YES,
             "MHD_add_connection");
    static char out[1 << 20];
    size_t off = 0, got = 0;
    int shut = 0, closed = 0;
    for (unsigned iter = 0; iter < 100000 && !closed; iter++) {
        if (off < size) {
            ssize_t w = send(sv[1], data + off, size - off, MSG_NOSIGNAL);
            if (w > 0)
                off += (size_t)w;
            else if (w < 0 && errno != EAGAIN)
                off = size; /* MHD closed its end: the rest is not wanted */
        } else if (!shut) {
            shutdown(sv[1], SHUT_WR);
            shut = 1;
        }
        MHD_run(g_mhd);
        for (;;) {
            char buf[65536];
            ssize_t r = recv(sv[1], buf, sizeof buf, 0);
            if (r > 0) {
                size_t keep = (size_t)r < sizeof out - got ? (size_t)r : sizeof out - got;
                memcpy(out + got, buf, keep);
                got += keep;
                continue;
            }
            closed = r == 0 || (r < 0 && errno != EAGAIN);
            break;
        }
    }
    FZ_CHECK(closed, "the connection stays open after the client's end");
    check_responses(out, got);
    close(sv[1]);
    for (unsigned i = 0; i < 1000 && connections() > 0; i++)
        MHD_run(g_mhd);
    FZ_CHECK(connections() == 0, "a connection is left behind");
    return 0;
}
