/* vst-send: an insurer's delivery client (DESIGN.md §6, §9).
 *
 *   vst-send [options] [--resume] DELIVERY_ID FILE
 *
 * PUTs FILE to /v1/deliveries/DELIVERY_ID over mutually authenticated TLS,
 * retries with the same id while the network or the service fails (the
 * server is idempotent by client, id and body hash), verifies the signed
 * receipt against the file it sent and prints it. This file holds the
 * command line, the retry loop and what each answer means; one exchange is
 * send_exchange.c, the response parser http_response.c. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit/receipt_json.h"
#include "core/hex.h"
#include "core/secmem.h"
#include "cli/send/send_exchange.h"
#include "cli/send/send_net.h"
#include "cli/send/send_result.h"
#include "cli/send/send_util.h"

enum {
    EXIT_OK = 0,
    EXIT_ERROR = 1,   /* local or protocol trouble */
    EXIT_REFUSED = 2, /* the server refused the delivery (4xx, 409) */
    EXIT_RECEIPT = 3, /* the receipt does not verify */
    EXIT_RETRIES = 4, /* gave up retrying */
    EXIT_USAGE = 64,  /* EX_USAGE */
};

#define MAX_ERRORS_SHOWN 1000
/* Largest answer accepted: a 422 listing many thousand errors fits. */
#define BODY_MAX (8u << 20)

typedef struct {
    const char *url_arg, *ca, *cert, *key, *profile, *pubkey_arg, *receipt_out;
    const char *id, *file;
    unsigned retries, timeout_s;
    int quiet, json, resume;
    vst_url url;
    uint8_t pinned[VST_ED25519_PUB_LEN];
    int have_pinned;
} options;

static const char usage_text[] =
    "Usage: vst-send [OPTIONS] [--resume] DELIVERY_ID FILE\n"
    "\n"
    "Deliver FILE (NDJSON, one record per line) to the trust center as delivery\n"
    "DELIVERY_ID ([A-Za-z0-9._-]{1,128}) over HTTPS with a client certificate,\n"
    "verify the signed receipt against the file and print it.\n"
    "\n"
    "  --url URL             server, e.g. https://127.0.0.1:8443       (env VST_URL)\n"
    "  --ca FILE             CA bundle that verifies the server         (env VST_CA_CERT;\n"
    "                        default: the system's trust store)\n"
    "  --cert FILE           client certificate, PEM                    (env VST_CLIENT_CERT)\n"
    "  --key FILE            client private key, PEM                    (env VST_CLIENT_KEY;\n"
    "                        default: the --cert file)\n"
    "  --profile NAME        profile to apply (default: the server's)\n"
    "  --public-key HEX|FILE the trust center's Ed25519 receipt key: 64 hex digits, or a\n"
    "                        file with them or a PEM public key        (env VST_SIGNING_KEY;\n"
    "                        without it the receipt's own key is used, with a warning)\n"
    "  --receipt-out FILE    also write the verified receipt (JSON) to FILE\n"
    "  --resume              first ask the server whether DELIVERY_ID is already stored\n"
    "  --retries N           retries on network errors and 429/502/503/504 (default 8)\n"
    "  --timeout SECONDS     longest wait for the network (default 120)\n"
    "  --json                print the receipt as JSON instead of lines\n"
    "  --quiet               no progress and no notes; receipt and errors only\n"
    "  --help                this text\n"
    "\n"
    "Exit status: 0 stored (or already stored, same file), 1 other error, 2 refused\n"
    "by the server (including 409: id already used with a different body), 3 the\n"
    "receipt does not verify, 4 retries exhausted, 64 usage error.\n";

/* ---- output --------------------------------------------------------------- */

__attribute__((format(printf, 1, 2))) static void fail_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("vst-send: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int usage_error(const char *msg)
{
    fprintf(stderr, "vst-send: %s (see vst-send --help)\n", msg);
    return EXIT_USAGE;
}

/* ---- options -------------------------------------------------------------- */

static const char *env_or(const char *v, const char *name)
{
    if (v != NULL)
        return v;
    const char *e = getenv(name);
    return e != NULL && e[0] != '\0' ? e : NULL;
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* 0 to go on, or an exit status (0 after --help). */
static int parse_options(int argc, char **argv, options *o, int *done)
{
    enum {
        O_URL = 256,
        O_CA,
        O_CERT,
        O_KEY,
        O_PROFILE,
        O_PUBKEY,
        O_RECEIPT,
        O_RETRIES,
        O_TIMEOUT,
        O_JSON,
        O_QUIET,
        O_RESUME,
        O_HELP
    };
    static const struct option longopts[] = {
        {"url", required_argument, NULL, O_URL},
        {"ca", required_argument, NULL, O_CA},
        {"cert", required_argument, NULL, O_CERT},
        {"key", required_argument, NULL, O_KEY},
        {"profile", required_argument, NULL, O_PROFILE},
        {"public-key", required_argument, NULL, O_PUBKEY},
        {"receipt-out", required_argument, NULL, O_RECEIPT},
        {"retries", required_argument, NULL, O_RETRIES},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"json", no_argument, NULL, O_JSON},
        {"quiet", no_argument, NULL, O_QUIET},
        {"resume", no_argument, NULL, O_RESUME},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof *o);
    o->retries = 8;
    o->timeout_s = 120;
    *done = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_URL:
            o->url_arg = optarg;
            break;
        case O_CA:
            o->ca = optarg;
            break;
        case O_CERT:
            o->cert = optarg;
            break;
        case O_KEY:
            o->key = optarg;
            break;
        case O_PROFILE:
            o->profile = optarg;
            break;
        case O_PUBKEY:
            o->pubkey_arg = optarg;
            break;
        case O_RECEIPT:
            o->receipt_out = optarg;
            break;
        case O_RETRIES:
            if (parse_uint(optarg, 0, 100, &o->retries) != 0)
                return usage_error("--retries wants a number 0..100");
            break;
        case O_TIMEOUT:
            if (parse_uint(optarg, 1, 86400, &o->timeout_s) != 0)
                return usage_error("--timeout wants seconds 1..86400");
            break;
        case O_JSON:
            o->json = 1;
            break;
        case O_QUIET:
            o->quiet = 1;
            break;
        case O_RESUME:
            o->resume = 1;
            break;
        case O_HELP:
            fputs(usage_text, stdout);
            *done = 1;
            return EXIT_OK;
        default: {
            char m[160];
            snprintf(m, sizeof m, "unknown option or missing argument: %.100s", argv[optind - 1]);
            return usage_error(m);
        }
        }
    }
    if (argc - optind != 2)
        return usage_error("expected DELIVERY_ID and FILE");
    o->id = argv[optind];
    o->file = argv[optind + 1];
    if (!vst_delivery_id_ok(o->id, strlen(o->id)))
        return usage_error("DELIVERY_ID must match [A-Za-z0-9._-]{1,128}");
    if (o->profile != NULL && !vst_profile_name_ok(o->profile, strlen(o->profile)))
        return usage_error("--profile must match [a-z0-9_]{1,32}");
    o->url_arg = env_or(o->url_arg, "VST_URL");
    o->ca = env_or(o->ca, "VST_CA_CERT");
    o->cert = env_or(o->cert, "VST_CLIENT_CERT");
    o->key = env_or(o->key, "VST_CLIENT_KEY");
    o->pubkey_arg = env_or(o->pubkey_arg, "VST_SIGNING_KEY");
    char err[256];
    if (o->url_arg == NULL)
        return usage_error("no server: pass --url or set VST_URL");
    if (vst_url_parse(o->url_arg, &o->url, err, sizeof err) != 0)
        return usage_error(err);
    if (o->cert == NULL)
        return usage_error("no client certificate: pass --cert or set VST_CLIENT_CERT");
    if (o->pubkey_arg != NULL) {
        if (vst_pubkey_arg(o->pubkey_arg, o->pinned, err, sizeof err) != 0)
            return usage_error(err);
        o->have_pinned = 1;
    }
    return EXIT_OK;
}

/* ---- retries -------------------------------------------------------------- */

/* The problem code of an answer ("" if none), sanitized. */
static void problem_code(const vst_http_resp *r, char *c, size_t len)
{
    json_t *doc = r->body ? json_loadb((const char *)r->body, r->body_len, 0, NULL) : NULL;
    json_t *code = json_object_get(doc, "code");
    c[0] = '\0';
    if (json_is_string(code))
        vst_sanitize(json_string_value(code), c, len);
    json_decref(doc);
}

/* Worth the same request again later: the server is busy or a dependency
 * is down, or another attempt at this delivery id is still running (409
 * delivery_in_progress). Not a client's exhausted daily identifier budget:
 * its Retry-After is hours, a person has to decide. */
static int retryable(const vst_http_resp *r)
{
    char c[80];
    problem_code(r, c, sizeof c);
    if (r->status == 409)
        return strcmp(c, "delivery_in_progress") == 0;
    if (r->status == 429 && strcmp(c, "identifier_budget_exhausted") == 0)
        return 0;
    return r->status == 429 || r->status == 502 || r->status == 503 || r->status == 504;
}

/* "503 service_unavailable" from a problem body, or just "503". */
static void status_words(const vst_http_resp *r, char *buf, size_t len)
{
    char c[80];
    problem_code(r, c, sizeof c);
    snprintf(buf, len, "%d%s%s", r->status, c[0] ? " " : "", c);
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static uint32_t random_u32(void)
{
    uint32_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        r = (uint32_t)time(NULL) ^ (uint32_t)getpid();
    return r;
}

typedef enum { RUN_ANSWER, RUN_FATAL, RUN_EXHAUSTED } run_rc;

/* The exchange, repeated on network failures and retryable statuses. */
static run_rc run_with_retries(const options *o, const vst_xchg_cfg *cfg, const vst_xchg_req *req,
                               vst_http_resp *resp, vst_xchg_out *out, char *err, size_t errlen)
{
    for (unsigned attempt = 0;; attempt++) {
        vst_x_rc x = vst_exchange(cfg, req, resp, out, err, errlen);
        if (x == VST_X_FATAL)
            return RUN_FATAL;
        uint32_t wait = vst_backoff_ms(attempt, random_u32());
        if (x == VST_X_ANSWER) {
            if (!retryable(resp))
                return RUN_ANSWER;
            char sw[120];
            status_words(resp, sw, sizeof sw);
            snprintf(err, errlen, "the server answered %s", sw);
            unsigned ra;
            if (resp->has_retry_after &&
                vst_retry_after_parse(resp->retry_after, time(NULL), &ra) == 0 && ra * 1000u > wait)
                wait = ra * 1000u;
        }
        if (attempt >= o->retries)
            return RUN_EXHAUSTED;
        if (!o->quiet)
            fprintf(stderr, "vst-send: attempt %u of %u: %s; retrying in %.1f s\n", attempt + 1,
                    o->retries + 1, err, wait / 1000.0);
        sleep_ms(wait);
    }
}

/* ---- outcomes ------------------------------------------------------------- */

static int write_receipt_file(const char *path, const char *text)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    int ok = write(fd, text, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
        return -1;
    }
    return 0;
}

/* A verified receipt: print it, save it. */
static int show_receipt(const options *o, const vst_receipt *r, const char *how)
{
    char *doc =
        vst_receipt_json_build(&r->f, r->signature, r->has_public_key ? r->public_key : NULL);
    if (doc == NULL) {
        fail_line("cannot format the receipt");
        return EXIT_ERROR;
    }
    if (!o->have_pinned && !o->quiet) {
        char pk[2 * VST_ED25519_PUB_LEN + 1];
        vst_hex(r->public_key, VST_ED25519_PUB_LEN, pk);
        fprintf(stderr,
                "vst-send: warning: the receipt was verified with the key it carries (%s), "
                "which is not pinned; pass --public-key or set VST_SIGNING_KEY to the trust "
                "center's published key\n",
                pk);
    }
    if (o->json)
        printf("%s\n", doc);
    else
        vst_receipt_print(stdout, r, how,
                          o->have_pinned ? "pinned trust-center key"
                                         : "key from the receipt itself, NOT pinned");
    fflush(stdout);
    int rc = EXIT_OK;
    if (o->receipt_out != NULL && write_receipt_file(o->receipt_out, doc) != 0) {
        fail_line("delivery stored, but the receipt cannot be written to %s: %s", o->receipt_out,
                  strerror(errno));
        rc = EXIT_ERROR;
    }
    free(doc);
    return rc;
}

static int report_refusal(const options *o, const vst_http_resp *resp)
{
    char summary[400];
    vst_problem_report(stderr, resp->status, resp->body, resp->body_len, MAX_ERRORS_SHOWN, summary,
                       sizeof summary);
    if (o->json && resp->body != NULL) {
        json_t *doc = json_loadb((const char *)resp->body, resp->body_len, 0, NULL);
        char *s =
            doc ? json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER) : NULL;
        if (s != NULL)
            printf("%s\n", s);
        free(s);
        json_decref(doc);
    }
    if (resp->status == 409) {
        fail_line("delivery id %s already used with a different body", o->id);
        return EXIT_REFUSED;
    }
    if (resp->status >= 400 && resp->status < 500) {
        fail_line("%s", summary);
        return EXIT_REFUSED;
    }
    char sw[120];
    status_words(resp, sw, sizeof sw);
    fail_line("unexpected answer from the server: %s", sw);
    return EXIT_ERROR;
}

static int receipt_failure(const char *msg)
{
    fail_line("RECEIPT NOT VERIFIED: %s", msg);
    return EXIT_RECEIPT;
}

static int fatal_or_exhausted(const options *o, run_rc rc, const char *err)
{
    if (rc == RUN_EXHAUSTED) {
        fail_line("giving up after %u attempt%s: %s", o->retries + 1, o->retries ? "s" : "", err);
        return EXIT_RETRIES;
    }
    fail_line("%s", err);
    return EXIT_ERROR;
}

/* --resume: is the delivery already there? -1 to go on with the PUT. */
static int resume_check(const options *o, const vst_xchg_cfg *cfg, int fd, uint64_t size,
                        vst_http_resp *resp)
{
    char err[512], target[1024];
    uint8_t sha[VST_SHA256_LEN];
    if (vst_file_sha256(fd, size, sha, err, sizeof err) != 0) {
        fail_line("%s: %s", o->file, err);
        return EXIT_ERROR;
    }
    snprintf(target, sizeof target, "%s/v1/deliveries/%s", o->url.prefix, o->id);
    vst_xchg_req req = {.method = "GET", .target = target, .fd = -1};
    vst_xchg_out out;
    vst_xchg_cfg c = *cfg;
    c.progress = NULL;
    run_rc rc = run_with_retries(o, &c, &req, resp, &out, err, sizeof err);
    if (rc != RUN_ANSWER)
        return fatal_or_exhausted(o, rc, err);
    if (resp->status == 404) {
        if (!o->quiet)
            fprintf(stderr, "vst-send: delivery %s is not stored yet; sending it\n", o->id);
        return -1;
    }
    if (resp->status != 200)
        return report_refusal(o, resp);
    vst_receipt r;
    vst_rcpt_expect e = {.delivery_id = o->id,
                         .profile = o->profile,
                         .body_sha256 = sha,
                         .pinned_key = o->have_pinned ? o->pinned : NULL};
    vst_rcpt_check chk =
        vst_receipt_check((const char *)resp->body, resp->body_len, &e, &r, err, sizeof err);
    if (chk == VST_RCPT_SHA_MISMATCH) {
        fail_line("%s", err);
        fail_line("delivery id %s already used for a different file", o->id);
        return EXIT_REFUSED;
    }
    if (chk != VST_RCPT_OK)
        return receipt_failure(err);
    return show_receipt(o, &r, "already stored (found by --resume)");
}

static int deliver(const options *o, const vst_xchg_cfg *cfg, int fd, uint64_t size,
                   vst_http_resp *resp)
{
    char err[512], target[1024];
    snprintf(target, sizeof target, "%s/v1/deliveries/%s%s%s", o->url.prefix, o->id,
             o->profile ? "?profile=" : "", o->profile ? o->profile : "");
    vst_xchg_req req = {.method = "PUT", .target = target, .fd = fd, .size = size};
    vst_xchg_out out;
    run_rc rc = run_with_retries(o, cfg, &req, resp, &out, err, sizeof err);
    if (rc != RUN_ANSWER)
        return fatal_or_exhausted(o, rc, err);
    if (resp->status != 200 && resp->status != 201)
        return report_refusal(o, resp);
    if (!out.body_sent) {
        fail_line("RECEIPT NOT VERIFIED: the server answered %d before it had the whole file",
                  resp->status);
        return EXIT_RECEIPT;
    }
    vst_receipt r;
    vst_rcpt_expect e = {.delivery_id = o->id,
                         .profile = o->profile,
                         .body_sha256 = out.sha256,
                         .pinned_key = o->have_pinned ? o->pinned : NULL};
    vst_rcpt_check chk =
        vst_receipt_check((const char *)resp->body, resp->body_len, &e, &r, err, sizeof err);
    if (chk != VST_RCPT_OK)
        return receipt_failure(err);
    return show_receipt(o, &r,
                        resp->status == 201 ? "stored (201 Created)"
                                            : "already stored, identical replay (200 OK)");
}

int main(int argc, char **argv)
{
    options o;
    int done;
    int rc = parse_options(argc, argv, &o, &done);
    if (rc != EXIT_OK || done)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    vst_secmem_install_json();

    int fd = open(o.file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fail_line("%s: %s", o.file, fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0)
            close(fd);
        return EXIT_ERROR;
    }
    char err[512];
    SSL_CTX *ctx = vst_tls_ctx_new(o.ca, o.cert, o.key, err, sizeof err);
    if (ctx == NULL) {
        close(fd);
        fail_line("%s", err);
        return EXIT_ERROR;
    }
    vst_progress prog;
    vst_progress_init(&prog, stderr, !o.quiet, isatty(STDERR_FILENO));
    vst_xchg_cfg cfg = {
        .ctx = ctx,
        .url = &o.url,
        .connect_ms = (int)(o.timeout_s < 30 ? o.timeout_s : 30) * 1000,
        .timeout_ms = (int)o.timeout_s * 1000,
        .verbose = !o.quiet,
        .progress = &prog,
    };
    vst_http_resp resp;
    vst_http_resp_init(&resp, BODY_MAX);
    rc = o.resume ? resume_check(&o, &cfg, fd, (uint64_t)st.st_size, &resp) : -1;
    if (rc == -1)
        rc = deliver(&o, &cfg, fd, (uint64_t)st.st_size, &resp);
    vst_http_resp_free(&resp);
    SSL_CTX_free(ctx);
    close(fd);
    return rc;
}
