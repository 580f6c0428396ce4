/* Load generator of many small deliveries (a benchmark program, not a test):
 * see tests/bench/bench_small.sh and docs/benchmarks.md (issue 14).
 *
 *   small_load --url https://HOST:PORT --ca FILE --cert FILE --key FILE
 *              --body FILE [--clients N] [--duration SECONDS]
 *              [--mode keepalive|new] [--prefix P] [--latencies FILE]
 *              [--get PATH]
 *
 * N threads, one libcurl easy handle each, send `PUT /v1/deliveries/P-c<i>-r<j>`
 * (a unique delivery id per request) with FILE as the body, one after the
 * other, until DURATION seconds have passed since the common start.
 *
 *   --mode keepalive (default): libcurl keeps each thread's connection open
 *       and reuses it (HTTP/1.1 persistent connection); the count of
 *       connections opened is printed, so it shows whether the server kept
 *       them open.
 *   --mode new: a new TCP + TLS connection per request (FRESH_CONNECT,
 *       FORBID_REUSE, no TLS session cache: a full handshake each time).
 *
 * TLS as vst-send offers it: TLS 1.2 or newer, key-exchange groups P-256 then
 * P-384 (vst-httpd refuses X25519; offering it first would cost a
 * HelloRetryRequest), the server verified against --ca, a client certificate.
 *
 * Latency of one request: the wall time of curl_easy_perform (connect and
 * handshake included when one is made) to the last byte of the answer. In
 * keepalive mode each client opens its connection with one GET (an id
 * never delivered, 404) before the clock starts, so that the figures are
 * those of kept-alive connections, not of the first handshakes. A
 * request still running at the deadline is completed and counted. Prints
 * deliveries/s (201 answers over the time from the start to the last
 * answer), p50/p90/p99/max in ms over the 201 answers, the other answers by
 * status, transport errors, and one machine-readable line:
 *
 *   RESULT mode=keepalive clients=8 secs=10.02 ok=1234 non201=0 errors=0
 *          rate=123.2 p50=6.10 p90=8.00 p99=12.40 max=20.10 conns=8
 *          statuses=409:2,503:1
 *
 * (non201 counts the answers other than the one counted: 201, or 200 with
 * --get.)
 *
 * --get PATH (the ceiling of the machine, not a delivery): each request is
 *     a GET of PATH (for example /healthz: no worker, no database, no keyd)
 *     over the same kept-alive or new connections, and 200 is the answer
 *     counted; --body is then not needed. What a request costs here in
 *     TLS, HTTP and the load generator bounds what any delivery can reach
 *     on the same machine.
 *
 * --latencies FILE writes the latency of every counted answer (201, or 200
 * with --get) in ms, one per line. Exit status
 * 0 when the run took place (whatever the answers), 2 on a usage or setup
 * error. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *opt_url, *opt_ca, *opt_cert, *opt_key, *opt_body, *opt_prefix = "small";
static const char *opt_latencies, *opt_get;
static int opt_clients = 1, opt_keepalive = 1;
static long ok_status = 201; /* 200 with --get */
static double opt_duration = 10;
static char *body;
static long body_len;
static double t_start, t_end;
static pthread_barrier_t warm_barrier, start_barrier;

enum { MAX_STATUS = 600 };

typedef struct {
    int index;
    double *lat; /* ms of each 201 answer */
    size_t nlat, caplat;
    unsigned long status[MAX_STATUS];
    unsigned long errors, conns;
    double t_last;
    char first_err[CURL_ERROR_SIZE + 64];
} worker;

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
    fputs("small_load: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n;
}

static void push_latency(worker *w, double ms)
{
    if (w->nlat == w->caplat) {
        size_t cap = w->caplat ? w->caplat * 2 : 4096;
        double *p = realloc(w->lat, cap * sizeof *p);
        if (p == NULL)
            die("out of memory");
        w->lat = p;
        w->caplat = cap;
    }
    w->lat[w->nlat++] = ms;
}

static void *run(void *arg)
{
    worker *w = arg;
    char url[1024], errbuf[CURL_ERROR_SIZE];
    CURL *h = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/x-ndjson");
    hdr = curl_slist_append(hdr, "Expect:"); /* no 100-continue round trip */
    if (h == NULL || hdr == NULL)
        die("curl_easy_init failed");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CAINFO, opt_ca);
    curl_easy_setopt(h, CURLOPT_SSLCERT, opt_cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY, opt_key);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(h, CURLOPT_SSL_EC_CURVES, "P-256:P-384");
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    if (!opt_keepalive) {
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE, 0L);
    }
    if (opt_keepalive) {
        /* The connection is opened before the clock starts: a GET of an
         * id never delivered (404) makes the TCP and TLS handshake, so
         * that no latency of a kept-alive run holds a handshake — with
         * 128 clients, 128 handshakes at once took a second of CPU and
         * made the run's p99 of the first request of each. */
        snprintf(url, sizeof url, "%s/v1/deliveries/%s-c%d-warm", opt_url, opt_prefix, w->index);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        errbuf[0] = '\0';
        if (curl_easy_perform(h) != CURLE_OK)
            die("client %d could not connect: %s", w->index, errbuf);
    }
    if (opt_get != NULL) {
        snprintf(url, sizeof url, "%s%s", opt_url, opt_get);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, body_len);
    }
    pthread_barrier_wait(&warm_barrier);
    pthread_barrier_wait(&start_barrier);
    for (unsigned long r = 0; now() < t_end; r++) {
        if (opt_get == NULL) {
            snprintf(url, sizeof url, "%s/v1/deliveries/%s-c%d-r%lu", opt_url, opt_prefix, w->index,
                     r);
            curl_easy_setopt(h, CURLOPT_URL, url);
        }
        errbuf[0] = '\0';
        double t0 = now();
        CURLcode rc = curl_easy_perform(h);
        double t1 = now();
        long conns = 0, status = 0;
        curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &conns);
        w->conns += (unsigned long)conns;
        w->t_last = t1;
        if (rc != CURLE_OK) {
            if (w->errors++ == 0)
                snprintf(w->first_err, sizeof w->first_err, "%s: %s", curl_easy_strerror(rc),
                         errbuf);
            continue;
        }
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status < 0 || status >= MAX_STATUS)
            status = 0;
        w->status[status]++;
        if (status == ok_status)
            push_latency(w, (t1 - t0) * 1e3);
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
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

static void read_body(void)
{
    FILE *f = fopen(opt_body, "rb");
    if (f == NULL)
        die("cannot open %s", opt_body);
    if (fseek(f, 0, SEEK_END) != 0 || (body_len = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0)
        die("cannot read %s (or it is empty)", opt_body);
    body = malloc((size_t)body_len);
    if (body == NULL || fread(body, 1, (size_t)body_len, f) != (size_t)body_len)
        die("cannot read %s", opt_body);
    fclose(f);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name, dst)                                                                             \
    if (strcmp(a, name) == 0 && v != NULL) {                                                       \
        dst;                                                                                       \
        i++;                                                                                       \
        continue;                                                                                  \
    }
        OPT("--url", opt_url = v)
        OPT("--ca", opt_ca = v)
        OPT("--cert", opt_cert = v)
        OPT("--key", opt_key = v)
        OPT("--body", opt_body = v)
        OPT("--prefix", opt_prefix = v)
        OPT("--latencies", opt_latencies = v)
        OPT("--clients", opt_clients = atoi(v))
        OPT("--duration", opt_duration = atof(v))
        OPT("--mode", opt_keepalive = strcmp(v, "new") != 0)
        OPT("--get", opt_get = v)
#undef OPT
        die("unknown or incomplete argument %s (see the comment at the top of small_load.c)", a);
    }
    if (!opt_url || !opt_ca || !opt_cert || !opt_key || (!opt_body && !opt_get))
        die("--url, --ca, --cert, --key and --body (or --get) are required");
    if (opt_get != NULL && (opt_get[0] != '/' || strlen(opt_get) > 512))
        die("--get takes a path that starts with /");
    if (opt_get != NULL)
        ok_status = 200;
    if (opt_clients < 1 || opt_clients > 4096 || !(opt_duration > 0))
        die("--clients must be 1..4096 and --duration > 0");
    if (opt_body != NULL)
        read_body();
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        die("curl_global_init failed");

    worker *w = calloc((size_t)opt_clients, sizeof *w);
    pthread_t *th = calloc((size_t)opt_clients, sizeof *th);
    if (w == NULL || th == NULL)
        die("out of memory");
    pthread_barrier_init(&warm_barrier, NULL, (unsigned)opt_clients + 1);
    pthread_barrier_init(&start_barrier, NULL, (unsigned)opt_clients + 1);
    for (int i = 0; i < opt_clients; i++) {
        w[i].index = i;
        if (pthread_create(&th[i], NULL, run, &w[i]) != 0)
            die("pthread_create failed");
    }
    pthread_barrier_wait(&warm_barrier); /* every connection open (keepalive) */
    t_start = now();
    t_end = t_start + opt_duration;
    pthread_barrier_wait(&start_barrier);
    for (int i = 0; i < opt_clients; i++)
        pthread_join(th[i], NULL);

    size_t n = 0;
    unsigned long status[MAX_STATUS] = {0}, errors = 0, conns = 0, non201 = 0;
    double t_last = t_start;
    const char *first_err = NULL;
    for (int i = 0; i < opt_clients; i++) {
        n += w[i].nlat;
        errors += w[i].errors;
        conns += w[i].conns;
        if (w[i].t_last > t_last)
            t_last = w[i].t_last;
        if (first_err == NULL && w[i].errors)
            first_err = w[i].first_err;
        for (int s = 0; s < MAX_STATUS; s++)
            status[s] += w[i].status[s];
    }
    double *all = malloc((n ? n : 1) * sizeof *all);
    if (all == NULL)
        die("out of memory");
    for (int i = 0, k = 0; i < opt_clients; i++)
        for (size_t j = 0; j < w[i].nlat; j++)
            all[k++] = w[i].lat[j];
    qsort(all, n, sizeof *all, cmp_double);
    if (opt_latencies != NULL) {
        FILE *f = fopen(opt_latencies, "w");
        if (f == NULL)
            die("cannot write %s", opt_latencies);
        for (size_t i = 0; i < n; i++)
            fprintf(f, "%.3f\n", all[i]);
        fclose(f);
    }
    char statuses[1024] = "";
    size_t sl = 0;
    for (int s = 0; s < MAX_STATUS; s++)
        if (s != ok_status && status[s] > 0) {
            non201 += status[s];
            sl += (size_t)snprintf(statuses + sl, sl < sizeof statuses ? sizeof statuses - sl : 0,
                                   "%s%d:%lu", sl ? "," : "", s, status[s]);
        }
    double secs = t_last - t_start, rate = secs > 0 ? (double)n / secs : 0;
    const char *mode = opt_keepalive ? "keepalive" : "new";
    printf("%d clients, %s: %zu %s answered %ld in %.2f s = %.1f/s; latency ms p50 %.2f, "
           "p90 %.2f, p99 %.2f, max %.2f; other answers %lu%s%s%s; transport errors %lu%s%s; "
           "connections opened %lu\n",
           opt_clients, mode, n, opt_get ? "requests" : "deliveries", ok_status, secs, rate,
           pct(all, n, 50), pct(all, n, 90), pct(all, n, 99), n ? all[n - 1] : 0.0, non201,
           sl ? " (" : "", statuses, sl ? ")" : "", errors, first_err ? ", first: " : "",
           first_err ? first_err : "", conns);
    printf("RESULT mode=%s clients=%d secs=%.2f ok=%zu non201=%lu errors=%lu rate=%.1f p50=%.2f "
           "p90=%.2f p99=%.2f max=%.2f conns=%lu statuses=%s\n",
           mode, opt_clients, secs, n, non201, errors, rate, pct(all, n, 50), pct(all, n, 90),
           pct(all, n, 99), n ? all[n - 1] : 0.0, conns, sl ? statuses : "-");
    for (int i = 0; i < opt_clients; i++)
        free(w[i].lat);
    free(all);
    free(w);
    free(th);
    free(body);
    curl_global_cleanup();
    return 0;
}
