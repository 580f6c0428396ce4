/* vst-send: an insurer's delivery client (DESIGN.md §6, §9).
 *
 *   vst-send [options] [--resume] DELIVERY_ID FILE
 *
 * PUTs FILE to /v1/deliveries/DELIVERY_ID over mutually authenticated TLS,
 * retries with the same id while the network or the service fails (the
 * server is idempotent by client, id and body hash), verifies the signed
 * receipt against the file it sent and prints it. This file holds the
 * retry loop and what each answer means; the command line is
 * send_options.c, one exchange send_exchange.c, the response parser
 * http_response.c. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <signal.h>
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
#include "cli/send/send_options.h"
#include "cli/send/send_result.h"
#include "cli/send/send_util.h"

#define MAX_ERRORS_SHOWN 1000
/* Largest answer accepted: a 422 listing many thousand errors fits. */
#define BODY_MAX (8u << 20)

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
static run_rc run_with_retries(const vst_send_options *o, const vst_xchg_cfg *cfg,
                               const vst_xchg_req *req, vst_http_resp *resp, vst_xchg_out *out,
                               char *err, size_t errlen)
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
static int show_receipt(const vst_send_options *o, const vst_receipt *r, const char *how)
{
    char *doc =
        vst_receipt_json_build(&r->f, r->signature, r->has_public_key ? r->public_key : NULL);
    if (doc == NULL) {
        vst_send_fail_line("cannot format the receipt");
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
        vst_send_fail_line("delivery stored, but the receipt cannot be written to %s: %s",
                           o->receipt_out, strerror(errno));
        rc = EXIT_ERROR;
    }
    free(doc);
    return rc;
}

static int report_refusal(const vst_send_options *o, const vst_http_resp *resp)
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
        vst_send_fail_line("delivery id %s already used with a different body", o->id);
        return EXIT_REFUSED;
    }
    if (resp->status >= 400 && resp->status < 500) {
        vst_send_fail_line("%s", summary);
        return EXIT_REFUSED;
    }
    char sw[120];
    status_words(resp, sw, sizeof sw);
    vst_send_fail_line("unexpected answer from the server: %s", sw);
    return EXIT_ERROR;
}

static int receipt_failure(const char *msg)
{
    vst_send_fail_line("RECEIPT NOT VERIFIED: %s", msg);
    return EXIT_RECEIPT;
}

static int fatal_or_exhausted(const vst_send_options *o, run_rc rc, const char *err)
{
    if (rc == RUN_EXHAUSTED) {
        vst_send_fail_line("giving up after %u attempt%s: %s", o->retries + 1,
                           o->retries ? "s" : "", err);
        return EXIT_RETRIES;
    }
    vst_send_fail_line("%s", err);
    return EXIT_ERROR;
}

/* --resume: is the delivery already there? -1 to go on with the PUT. */
static int resume_check(const vst_send_options *o, const vst_xchg_cfg *cfg, int fd, uint64_t size,
                        vst_http_resp *resp)
{
    char err[512], target[1024];
    uint8_t sha[VST_SHA256_LEN];
    if (vst_file_sha256(fd, size, sha, err, sizeof err) != 0) {
        vst_send_fail_line("%s: %s", o->file, err);
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
        vst_send_fail_line("%s", err);
        vst_send_fail_line("delivery id %s already used for a different file", o->id);
        return EXIT_REFUSED;
    }
    if (chk != VST_RCPT_OK)
        return receipt_failure(err);
    return show_receipt(o, &r, "already stored (found by --resume)");
}

static int deliver(const vst_send_options *o, const vst_xchg_cfg *cfg, int fd, uint64_t size,
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
        vst_send_fail_line(
            "RECEIPT NOT VERIFIED: the server answered %d before it had the whole file",
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
    vst_send_options o;
    int done;
    int rc = vst_send_parse_options(argc, argv, &o, &done);
    if (rc != EXIT_OK || done)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    vst_secmem_install_json();

    int fd = open(o.file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        vst_send_fail_line("%s: %s", o.file, fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0)
            close(fd);
        return EXIT_ERROR;
    }
    char err[512];
    SSL_CTX *ctx = vst_tls_ctx_new(o.ca, o.cert, o.key, err, sizeof err);
    if (ctx == NULL) {
        close(fd);
        vst_send_fail_line("%s", err);
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
