/* Delivery latency load client (a benchmark program, not a test): see
 * docs/benchmarks.md and tests/bench/bench_delivery.sh.
 *
 *   bench_http --url https://HOST:PORT --ca FILE --cert FILE --key FILE
 *              --body FILE [--threads N] [--requests R] [--prefix P]
 *              [--mode keepalive|new] [--groups LIST]
 *
 * N threads each send R sequential `PUT /v1/deliveries/P-t<thread>-r<i>`
 * requests whose body is FILE (e.g. one sgb5 record), over TLS with a
 * client certificate. The TLS context is vst-send's own (vst_tls_ctx_new in
 * server/cli/send/send_net.c): the same versions, suites, groups and signature
 * algorithms (BSI TR-02102-2), the server verified against --ca.
 *
 *   --mode keepalive (default): one connection per thread, reused for every
 *       request (HTTP/1.1 persistent connection). When the server closes it
 *       (Connection: close, or EOF), the next request opens a new one; the
 *       count of connections opened is printed, so it shows whether the
 *       server really kept them open.
 *   --mode new: a new TCP + TLS connection (full handshake, no session
 *       resumption) for every request, the way a fresh vst-send or curl
 *       process connects; its latency includes the handshake.
 *   --groups LIST: replaces vst-send's key-exchange groups ("P-256:P-384",
 *       P-256's key share sent first), in order (OpenSSL syntax), for
 *       experiments: e.g. "P-384:P-256" makes vst-httpd answer with a
 *       HelloRetryRequest for P-256 (one more round trip); groups outside
 *       the policy (X25519, P-521) are refused by vst-httpd.
 *
 * Latency of one request: from the start of connect (new) or of writing the
 * request (keepalive) to the last byte of the response. The program prints
 * deliveries/s (2xx answers over the wall time from the first request to the
 * last answer), latency p50/p90/p99/max in ms, the count of non-2xx answers
 * (by status) and of transport errors, then one machine-readable line:
 *
 *   RESULT mode=keepalive threads=1 requests=200 ok=200 non2xx=0 errors=0
 *          secs=1.234 rate=162.1 p50=5.91 p90=6.80 p99=9.12 max=11.03 conns=1
 *
 * Exit status 0 when every request was answered 2xx, 1 otherwise. */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli/send/send_net.h"

static const char *opt_url, *opt_ca, *opt_cert, *opt_key, *opt_body, *opt_prefix = "bench";
static const char *opt_groups; /* NULL: vst-send's */
static int opt_threads = 1, opt_requests = 100, opt_keepalive = 1;
static char host[256], port[16];
static char *body;
static size_t body_len;
static SSL_CTX *ctx;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_http: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

/* ---- one connection */

typedef struct {
    int fd;
    SSL *ssl;
    char buf[16384];
    size_t pos, len; /* unread bytes: buf[pos..len) */
} conn;

static void conn_close(conn *c)
{
    if (c->ssl != NULL) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->fd >= 0)
        close(c->fd);
    c->ssl = NULL;
    c->fd = -1;
    c->pos = c->len = 0;
}

static int conn_open(conn *c, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "%.100s: %s", host, gai_strerror(rc));
        return -1;
    }
    c->fd = -1;
    for (struct addrinfo *a = ai; a != NULL && c->fd < 0; a = a->ai_next) {
        c->fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (c->fd >= 0 && connect(c->fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(c->fd);
            c->fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (c->fd < 0) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->pos = c->len = 0;
    c->ssl = SSL_new(ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        snprintf(err, errlen, "SSL_new failed");
        conn_close(c);
        return -1;
    }
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a6) == 1 || inet_pton(AF_INET6, host, &a6) == 1)
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host);
    else {
        SSL_set_tlsext_host_name(c->ssl, host);
        SSL_set1_host(c->ssl, host);
    }
    if (SSL_connect(c->ssl) != 1) {
        unsigned long e = ERR_get_error();
        snprintf(err, errlen, "TLS handshake: %.100s (verify: %.100s)",
                 e ? ERR_reason_error_string(e) : "connection closed",
                 X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
        ERR_clear_error();
        conn_close(c);
        return -1;
    }
    return 0;
}

static int conn_write(conn *c, const char *p, size_t n)
{
    while (n > 0) {
        size_t w = 0;
        if (SSL_write_ex(c->ssl, p, n, &w) != 1) {
            ERR_clear_error();
            return -1;
        }
        p += w;
        n -= w;
    }
    return 0;
}

/* Refills the buffer (after moving the unread rest to its start). Returns
 * bytes added, 0 on EOF, -1 on error. */
static int conn_fill(conn *c)
{
    if (c->pos > 0) {
        memmove(c->buf, c->buf + c->pos, c->len - c->pos);
        c->len -= c->pos;
        c->pos = 0;
    }
    if (c->len == sizeof c->buf)
        return -1; /* a header block larger than the buffer */
    size_t r = 0;
    if (SSL_read_ex(c->ssl, c->buf + c->len, sizeof c->buf - c->len, &r) != 1) {
        int e = SSL_get_error(c->ssl, 0);
        ERR_clear_error();
        return e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? 0 : -1;
    }
    c->len += r;
    return (int)r;
}

/* Reads a line ending in CRLF (or LF) from the buffer; NULL at EOF/error. */
static char *conn_line(conn *c)
{
    for (;;) {
        char *nl = memchr(c->buf + c->pos, '\n', c->len - c->pos);
        if (nl != NULL) {
            char *line = c->buf + c->pos;
            *nl = '\0';
            if (nl > line && nl[-1] == '\r')
                nl[-1] = '\0';
            c->pos = (size_t)(nl - c->buf) + 1;
            return line;
        }
        if (conn_fill(c) <= 0)
            return NULL;
    }
}

/* Skips n body bytes. */
static int conn_skip(conn *c, size_t n)
{
    while (n > 0) {
        if (c->pos == c->len && conn_fill(c) <= 0)
            return -1;
        size_t k = c->len - c->pos < n ? c->len - c->pos : n;
        c->pos += k;
        n -= k;
    }
    return 0;
}

/* Reads one response. Returns the status (> 0), 0 if the connection was
 * closed before any byte of it arrived, -1 on a broken response. *close_after
 * is set when the server will not keep the connection open. first_body gets
 * the start of the body (for a non-2xx diagnostic). */
static int read_response(conn *c, int *close_after, char *first_body, size_t fblen)
{
    char *l = conn_line(c);
    if (l == NULL)
        return 0;
    int minor = 1, status = 0;
    if (sscanf(l, "HTTP/1.%d %d", &minor, &status) != 2 || status < 100)
        return -1;
    *close_after = minor == 0;
    long long clen = -1;
    int chunked = 0;
    while ((l = conn_line(c)) != NULL && *l != '\0') {
        if (strncasecmp(l, "Content-Length:", 15) == 0)
            clen = strtoll(l + 15, NULL, 10);
        else if (strncasecmp(l, "Transfer-Encoding:", 18) == 0 && strcasestr(l, "chunked"))
            chunked = 1;
        else if (strncasecmp(l, "Connection:", 11) == 0)
            *close_after = strcasestr(l, "close") != NULL;
    }
    if (l == NULL)
        return -1;
    if (status == 100) /* an interim answer: the real one follows */
        return read_response(c, close_after, first_body, fblen);
    if (first_body != NULL && fblen > 0) {
        if (c->pos == c->len && clen != 0 && !chunked)
            conn_fill(c);
        size_t k = c->len - c->pos < fblen - 1 ? c->len - c->pos : fblen - 1;
        memcpy(first_body, c->buf + c->pos, k);
        first_body[k] = '\0';
    }
    if (chunked) {
        for (;;) {
            char *sz = conn_line(c);
            if (sz == NULL)
                return -1;
            size_t n = strtoul(sz, NULL, 16);
            if (n == 0) { /* trailers, then an empty line */
                while ((l = conn_line(c)) != NULL && *l != '\0')
                    ;
                return l ? status : -1;
            }
            if (conn_skip(c, n) != 0 || conn_line(c) == NULL)
                return -1;
        }
    }
    if (clen >= 0)
        return conn_skip(c, (size_t)clen) == 0 ? status : -1;
    /* Neither: the body runs to EOF. */
    while (conn_fill(c) > 0)
        c->pos = c->len;
    *close_after = 1;
    return status;
}

/* ---- the threads */

typedef struct {
    int index;
    double *lat; /* seconds, one per request */
    int ok, non2xx, errors, conns, reconnects;
    int statuses[600];
    double t_first, t_last;
    char first_err[256];
} worker;

static pthread_barrier_t start_barrier;

static void note_err(worker *w, const char *fmt, ...)
{
    if (w->first_err[0] != '\0')
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->first_err, sizeof w->first_err, fmt, ap);
    va_end(ap);
}

static void *run(void *arg)
{
    worker *w = arg;
    conn c = {.fd = -1};
    char head[512], err[256], fb[160];
    pthread_barrier_wait(&start_barrier);
    w->t_first = now();
    for (int i = 0; i < opt_requests; i++) {
        int hl = snprintf(head, sizeof head,
                          "PUT /v1/deliveries/%s-t%d-r%d HTTP/1.1\r\nHost: %s:%s\r\n"
                          "Content-Type: application/x-ndjson\r\nContent-Length: %zu\r\n"
                          "%s\r\n",
                          opt_prefix, w->index, i, host, port, body_len,
                          opt_keepalive ? "" : "Connection: close\r\n");
        double t0 = now();
        int status = 0, close_after = 0;
        for (int attempt = 0; attempt < 2 && status == 0; attempt++) {
            int reused = c.ssl != NULL;
            if (!reused) {
                if (conn_open(&c, err, sizeof err) != 0) {
                    note_err(w, "%s", err);
                    break;
                }
                w->conns++;
            }
            if (conn_write(&c, head, (size_t)hl) != 0 || conn_write(&c, body, body_len) != 0)
                status = 0;
            else
                status = read_response(&c, &close_after, fb, sizeof fb);
            if (status <= 0) {
                conn_close(&c);
                /* A kept-alive connection the server had closed meanwhile:
                 * retry once on a new one (timed from the retry). */
                if (status == 0 && reused) {
                    w->reconnects++;
                    t0 = now();
                    continue;
                }
                note_err(w, "request %d: %s", i,
                         status == 0 ? "connection closed without a response"
                                     : "malformed response");
                status = -1;
                break;
            }
        }
        double t1 = now();
        w->lat[i] = t1 - t0;
        w->t_last = t1;
        if (status <= 0) {
            w->errors++;
            w->lat[i] = -1;
            continue;
        }
        w->statuses[status < 600 ? status : 599]++;
        if (status >= 200 && status < 300) {
            w->ok++;
        } else {
            w->non2xx++;
            for (char *p = fb; *p; p++)
                if (*p == '\r' || *p == '\n')
                    *p = ' ';
            note_err(w, "request %d: HTTP %d: %s", i, status, fb);
        }
        if (close_after || !opt_keepalive)
            conn_close(&c);
    }
    conn_close(&c);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

static void usage(void)
{
    fputs("usage: bench_http --url https://HOST:PORT --ca FILE --cert FILE --key FILE\n"
          "                  --body FILE [--threads N] [--requests R] [--prefix P]\n"
          "                  [--mode keepalive|new] [--groups LIST]\n",
          stderr);
    exit(64);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            usage();
        if (v == NULL)
            usage();
        i++;
        if (strcmp(a, "--url") == 0)
            opt_url = v;
        else if (strcmp(a, "--ca") == 0)
            opt_ca = v;
        else if (strcmp(a, "--cert") == 0)
            opt_cert = v;
        else if (strcmp(a, "--key") == 0)
            opt_key = v;
        else if (strcmp(a, "--body") == 0)
            opt_body = v;
        else if (strcmp(a, "--groups") == 0)
            opt_groups = v;
        else if (strcmp(a, "--prefix") == 0)
            opt_prefix = v;
        else if (strcmp(a, "--threads") == 0)
            opt_threads = atoi(v);
        else if (strcmp(a, "--requests") == 0)
            opt_requests = atoi(v);
        else if (strcmp(a, "--mode") == 0) {
            if (strcmp(v, "keepalive") == 0)
                opt_keepalive = 1;
            else if (strcmp(v, "new") == 0)
                opt_keepalive = 0;
            else
                usage();
        } else
            usage();
    }
    if (!opt_url || !opt_cert || !opt_key || !opt_body || opt_threads < 1 || opt_threads > 1024 ||
        opt_requests < 1)
        usage();
    if (strncmp(opt_url, "https://", 8) != 0 ||
        sscanf(opt_url + 8, "%255[^:/]:%15[0-9]", host, port) < 1)
        die("--url must be https://HOST[:PORT]");
    if (port[0] == '\0')
        strcpy(port, "443");

    FILE *f = fopen(opt_body, "rb");
    if (f == NULL)
        die("%s: %s", opt_body, strerror(errno));
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    rewind(f);
    if (sz <= 0 || (body = malloc((size_t)sz)) == NULL ||
        fread(body, 1, (size_t)sz, f) != (size_t)sz)
        die("%s: empty or unreadable", opt_body);
    fclose(f);
    body_len = (size_t)sz;

    signal(SIGPIPE, SIG_IGN);
    char err[512];
    ctx = vst_tls_ctx_new(opt_ca, opt_cert, opt_key, err, sizeof err);
    if (ctx == NULL)
        die("%s", err);
    if (opt_groups != NULL && SSL_CTX_set1_groups_list(ctx, opt_groups) != 1)
        die("--groups %s: not accepted by OpenSSL", opt_groups);
    /* Every new connection pays a full handshake, as a fresh client does. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);

    worker *w = calloc((size_t)opt_threads, sizeof *w);
    pthread_t *th = calloc((size_t)opt_threads, sizeof *th);
    if (w == NULL || th == NULL)
        die("out of memory");
    pthread_barrier_init(&start_barrier, NULL, (unsigned)opt_threads);
    for (int t = 0; t < opt_threads; t++) {
        w[t].index = t;
        if ((w[t].lat = calloc((size_t)opt_requests, sizeof(double))) == NULL)
            die("out of memory");
        if (pthread_create(&th[t], NULL, run, &w[t]) != 0)
            die("pthread_create failed");
    }
    size_t total = (size_t)opt_threads * (size_t)opt_requests, n = 0;
    double *all = malloc(total * sizeof *all), t_first = 1e300, t_last = 0;
    int ok = 0, non2xx = 0, errors = 0, conns = 0, reconnects = 0, statuses[600] = {0};
    const char *first_err = NULL;
    for (int t = 0; t < opt_threads; t++) {
        pthread_join(th[t], NULL);
        for (int i = 0; i < opt_requests; i++)
            if (w[t].lat[i] >= 0)
                all[n++] = w[t].lat[i];
        ok += w[t].ok;
        non2xx += w[t].non2xx;
        errors += w[t].errors;
        conns += w[t].conns;
        reconnects += w[t].reconnects;
        for (int s = 0; s < 600; s++)
            statuses[s] += w[t].statuses[s];
        if (w[t].t_first < t_first)
            t_first = w[t].t_first;
        if (w[t].t_last > t_last)
            t_last = w[t].t_last;
        if (first_err == NULL && w[t].first_err[0] != '\0')
            first_err = w[t].first_err;
    }
    qsort(all, n, sizeof *all, cmp_double);
    double secs = t_last - t_first, rate = secs > 0 ? ok / secs : 0;
    const char *mode = opt_keepalive ? "keepalive" : "new";
    printf("%s: %d threads x %d requests, body %zu bytes: %d ok (2xx), %d non-2xx, %d errors "
           "in %.2f s = %.1f deliveries/s\n",
           opt_keepalive ? "keep-alive" : "new connection per request", opt_threads, opt_requests,
           body_len, ok, non2xx, errors, secs, rate);
    printf("  latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f  (%zu answered); "
           "%d TLS connections opened%s\n",
           pct(all, n, 50) * 1e3, pct(all, n, 90) * 1e3, pct(all, n, 99) * 1e3,
           n ? all[n - 1] * 1e3 : 0, n, conns,
           reconnects ? " (some kept-alive connections were closed by the server)" : "");
    if (non2xx > 0) {
        printf("  statuses:");
        for (int s = 0; s < 600; s++)
            if (statuses[s] > 0)
                printf(" %d x%d", s, statuses[s]);
        printf("\n");
    }
    if (first_err != NULL)
        printf("  first problem: %s\n", first_err);
    printf("RESULT mode=%s threads=%d requests=%d ok=%d non2xx=%d errors=%d secs=%.3f rate=%.1f "
           "p50=%.2f p90=%.2f p99=%.2f max=%.2f conns=%d\n",
           mode, opt_threads, opt_requests, ok, non2xx, errors, secs, rate, pct(all, n, 50) * 1e3,
           pct(all, n, 90) * 1e3, pct(all, n, 99) * 1e3, n ? all[n - 1] * 1e3 : 0, conns);
    for (int t = 0; t < opt_threads; t++)
        free(w[t].lat);
    free(w);
    free(th);
    free(all);
    free(body);
    SSL_CTX_free(ctx);
    return ok == (int)total ? 0 : 1;
}
