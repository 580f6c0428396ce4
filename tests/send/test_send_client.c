/* vst-send, the program, against a scripted TLS server in a child process:
 * real TLS 1.3 with client certificates (a throwaway PKI made here), real
 * sockets, the real binary ($VST_SEND). Each test gives the server a list
 * of answers, one per connection, and checks vst-send's exit status, its
 * output and what the server saw: receipts (201, 200, chunked, pinned or
 * not), retries after 503 and dropped connections, retries exhausted,
 * refusals (422 with line errors, 409, an early 413), forged or mismatched
 * receipts, --resume, the wrong CA, the wrong host name, and constant
 * memory for a large file. The end-to-end tests against vst-httpd live with
 * the server's suites. */
#include "cunit_main.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/receipt_json.h"
#include "common/signed.h"

static char dir[64];
static char path_ca[128], path_other_ca[128], path_cert[128], path_key[128];
static char path_small[128], path_big[128], path_huge[128], path_receipt[128];
static EVP_PKEY *sign_key;
static char sign_pub_hex[2 * VST_ED25519_PUB_LEN + 1];
static SSL_CTX *server_ctx;
static const char *url_host = "127.0.0.1";
static uint8_t small_sha[VST_SHA256_LEN];

/* ---- throwaway PKI -------------------------------------------------------- */

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX c;
    X509V3_set_ctx_nodb(&c);
    X509V3_set_ctx(&c, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &c, nid, value);
    if (e != NULL)
        X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

/* issuer NULL: self-signed CA. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       const char *san, const char *eku)
{
    static long serial = 1;
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509 *iss = issuer ? issuer : x;
    add_ext(x, iss, NID_subject_key_identifier, "hash");
    add_ext(x, iss, NID_authority_key_identifier, "keyid");
    if (issuer == NULL) {
        add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(x, iss, NID_key_usage, "critical,digitalSignature");
        add_ext(x, iss, NID_ext_key_usage, eku);
        if (san)
            add_ext(x, iss, NID_subject_alt_name, san);
    }
    X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256());
    return x;
}

static int write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    int ok = x ? PEM_write_X509(f, x) : PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int write_lines(const char *path, size_t lines, int long_lines)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    for (size_t i = 0; i < lines; i++)
        fprintf(f, "{\"n\":%zu,\"pad\":\"%s\"}\n", i,
                long_lines ? "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                           : "");
    return fclose(f);
}

static int suite_init(void)
{
    strcpy(dir, "/tmp/vst-send-e2e-XXXXXX");
    if (mkdtemp(dir) == NULL || getenv("VST_SEND") == NULL) {
        fprintf(stderr, "VST_SEND (the vst-send binary) must be set\n");
        return -1;
    }
    snprintf(path_ca, sizeof path_ca, "%s/ca.pem", dir);
    snprintf(path_other_ca, sizeof path_other_ca, "%s/other-ca.pem", dir);
    snprintf(path_cert, sizeof path_cert, "%s/client.pem", dir);
    snprintf(path_key, sizeof path_key, "%s/client.key", dir);
    snprintf(path_small, sizeof path_small, "%s/small.ndjson", dir);
    snprintf(path_big, sizeof path_big, "%s/big.ndjson", dir);
    snprintf(path_huge, sizeof path_huge, "%s/huge.ndjson", dir);
    snprintf(path_receipt, sizeof path_receipt, "%s/receipt.json", dir);

    EVP_PKEY *cak = EVP_EC_gen("P-256"), *srvk = EVP_EC_gen("P-256"), *clik = EVP_EC_gen("P-256"),
             *otherk = EVP_EC_gen("P-256");
    X509 *ca = make_cert(cak, "vst-send test CA", NULL, NULL, NULL, NULL);
    X509 *other = make_cert(otherk, "some other CA", NULL, NULL, NULL, NULL);
    X509 *srv = make_cert(srvk, "127.0.0.1", ca, cak, "IP:127.0.0.1", "serverAuth");
    X509 *cli = make_cert(clik, "AOK test insurer", ca, cak, NULL, "clientAuth");
    int rc = write_pem(path_ca, ca, NULL) | write_pem(path_other_ca, other, NULL) |
             write_pem(path_cert, cli, NULL) | write_pem(path_key, NULL, clik);

    server_ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(server_ctx, TLS1_3_VERSION);
    rc |= SSL_CTX_use_certificate(server_ctx, srv) == 1 &&
                  SSL_CTX_use_PrivateKey(server_ctx, srvk) == 1
              ? 0
              : -1;
    X509_STORE_add_cert(SSL_CTX_get_cert_store(server_ctx), ca);
    SSL_CTX_set_verify(server_ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);

    EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    uint8_t pub[VST_ED25519_PUB_LEN];
    size_t pl = sizeof pub;
    rc |= kc && EVP_PKEY_keygen_init(kc) == 1 && EVP_PKEY_keygen(kc, &sign_key) == 1 &&
                  EVP_PKEY_get_raw_public_key(sign_key, pub, &pl) == 1
              ? 0
              : -1;
    EVP_PKEY_CTX_free(kc);
    vst_receipt_hex_encode(pub, sizeof pub, sign_pub_hex);

    rc |= write_lines(path_small, 3, 0) | write_lines(path_big, 20000, 1) |
          write_lines(path_huge, 400000, 1);
    /* SHA-256 of the small file, for receipts answered to GET. */
    FILE *f = fopen(path_small, "r");
    char buf[256];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    EVP_Digest(buf, n, small_sha, NULL, EVP_sha256(), NULL);

    X509_free(ca);
    X509_free(other);
    X509_free(srv);
    X509_free(cli);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(srvk);
    EVP_PKEY_free(clik);
    EVP_PKEY_free(otherk);
    signal(SIGPIPE, SIG_IGN);
    return rc == 0 ? 0 : -1;
}

static int suite_clean(void)
{
    const char *files[] = {path_ca,    path_other_ca, path_cert, path_key,
                           path_small, path_big,      path_huge, path_receipt};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(files[i]);
    rmdir(dir);
    SSL_CTX_free(server_ctx);
    EVP_PKEY_free(sign_key);
    return 0;
}

/* ---- the scripted server -------------------------------------------------- */

enum { K_RECEIPT, K_PROBLEM, K_DROP, K_EARLY };
enum { SHA_BODY, SHA_SMALL_FILE, SHA_OTHER };

typedef struct {
    int kind;
    int status;
    int chunked;         /* K_RECEIPT: chunked transfer coding */
    int sha;             /* K_RECEIPT: which hash the receipt states */
    int bad_sig;         /* K_RECEIPT: flip a signature bit */
    const char *profile; /* K_RECEIPT: profile stated (default sgb5) */
    const char *retry_after;
    const char *body; /* K_PROBLEM, K_EARLY */
} answer;

static int ssl_write_all(SSL *s, const char *p, size_t n)
{
    size_t w;
    while (n > 0) {
        if (SSL_write_ex(s, p, n, &w) != 1)
            return -1;
        p += w;
        n -= w;
    }
    return 0;
}

static void respond(SSL *s, int status, const char *type, const char *extra, const char *body,
                    int chunked)
{
    char head[512];
    size_t n = strlen(body);
    if (chunked)
        snprintf(head, sizeof head,
                 "HTTP/1.1 %d X\r\nContent-Type: %s\r\n%sTransfer-Encoding: chunked\r\n"
                 "Connection: close\r\n\r\n",
                 status, type, extra);
    else
        snprintf(head, sizeof head,
                 "HTTP/1.1 %d X\r\nContent-Type: %s\r\n%sContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n",
                 status, type, extra, n);
    ssl_write_all(s, head, strlen(head));
    if (!chunked) {
        ssl_write_all(s, body, n);
        return;
    }
    /* Odd-sized chunks, with an extension on one. */
    for (size_t off = 0, k = 7; off < n; off += k, k += 13) {
        size_t m = k < n - off ? k : n - off;
        char sz[32];
        snprintf(sz, sizeof sz, off == 0 ? "%zx;ext=1\r\n" : "%zx\r\n", m);
        ssl_write_all(s, sz, strlen(sz));
        ssl_write_all(s, body + off, m);
        ssl_write_all(s, "\r\n", 2);
    }
    ssl_write_all(s, "0\r\nX-Trailer: t\r\n\r\n", 19);
}

static char *receipt_for(const char *id, const char *profile, uint64_t records,
                         const uint8_t sha[VST_SHA256_LEN], int bad_sig)
{
    vst_receipt_fields f;
    memset(&f, 0, sizeof f);
    snprintf(f.delivery_id, sizeof f.delivery_id, "%s", id);
    strcpy(f.client, "AOK test insurer");
    snprintf(f.profile, sizeof f.profile, "%s", profile);
    f.record_count = records;
    memcpy(f.body_sha256, sha, VST_SHA256_LEN);
    f.key_version = 1;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    f.received_at_us = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
    f.stored_at_us = f.received_at_us + 1234;
    f.audit_seq = 42;
    uint8_t tbs[VST_RECEIPT_TBS_MAX], sig[VST_ED25519_SIG_LEN], pub[VST_ED25519_PUB_LEN];
    size_t n = vst_receipt_tbs(&f, tbs), sl = sizeof sig, pl = sizeof pub;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestSignInit(md, NULL, NULL, NULL, sign_key);
    EVP_DigestSign(md, sig, &sl, tbs, n);
    EVP_MD_CTX_free(md);
    if (bad_sig)
        sig[10] ^= 0x40;
    EVP_PKEY_get_raw_public_key(sign_key, pub, &pl);
    return vst_receipt_json_build(&f, sig, pub);
}

/* Read the request head; returns bytes of body already read into body0. */
static int read_head(SSL *s, char *head, size_t cap, size_t *head_len, size_t *extra)
{
    size_t got = 0, r;
    head[0] = '\0';
    while (got < cap - 1) {
        if (SSL_read_ex(s, head + got, cap - 1 - got, &r) != 1)
            return -1;
        got += r;
        head[got] = '\0';
        char *end = strstr(head, "\r\n\r\n");
        if (end != NULL) {
            *head_len = (size_t)(end - head) + 4;
            *extra = got - *head_len;
            return 0;
        }
    }
    return -1;
}

/* Case-insensitive strstr (strcasestr is a GNU extension). */
static const char *find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

static uint64_t header_u64(const char *head, const char *name)
{
    const char *p = find_ci(head, name);
    return p ? strtoull(p + strlen(name), NULL, 10) : 0;
}

static int count(const char *hay, const char *needle)
{
    int k = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        k++;
    return k;
}

/* Serve one connection by answer a; log one line to logfd. */
static void serve_one(int fd, const answer *a, int logfd)
{
    SSL *s = SSL_new(server_ctx);
    SSL_set_fd(s, fd);
    if (SSL_accept(s) != 1) {
        dprintf(logfd, "handshake-failed\n");
        SSL_free(s);
        close(fd);
        return;
    }
    char head[8192];
    size_t hl = 0, extra = 0;
    if (read_head(s, head, sizeof head, &hl, &extra) != 0) {
        dprintf(logfd, "no-request\n");
        SSL_free(s);
        close(fd);
        return;
    }
    char method[8] = "", target[300] = "";
    sscanf(head, "%7s %299s", method, target);
    uint64_t len = header_u64(head, "\r\nContent-Length:");
    int expect = find_ci(head, "\r\nExpect: 100-continue") != NULL;

    if (a->kind == K_EARLY) {
        respond(s, a->status, "application/problem+json", "", a->body, 0);
        dprintf(logfd, "%s %s %zu early\n", method, target, extra);
        SSL_shutdown(s);
        usleep(200000);
        SSL_free(s);
        close(fd);
        return;
    }
    if (expect)
        ssl_write_all(s, "HTTP/1.1 100 Continue\r\n\r\n", 25);

    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    uint64_t got = extra, lines = 0;
    EVP_DigestUpdate(md, head + hl, extra);
    for (size_t i = 0; i < extra; i++)
        lines += head[hl + i] == '\n';
    char buf[65536];
    size_t r;
    uint64_t stop = a->kind == K_DROP ? len / 2 : len;
    while (got < stop && SSL_read_ex(s, buf, sizeof buf, &r) == 1) {
        EVP_DigestUpdate(md, buf, r);
        for (size_t i = 0; i < r; i++)
            lines += buf[i] == '\n';
        got += r;
    }
    uint8_t sha[VST_SHA256_LEN];
    EVP_DigestFinal_ex(md, sha, NULL);
    EVP_MD_CTX_free(md);
    dprintf(logfd, "%s %s %llu%s\n", method, target, (unsigned long long)got,
            expect ? " expect" : "");
    if (a->kind == K_DROP) {
        SSL_free(s); /* no close_notify: a cut connection */
        close(fd);
        return;
    }
    char extra_h[128] = "";
    if (a->retry_after)
        snprintf(extra_h, sizeof extra_h, "Retry-After: %s\r\n", a->retry_after);
    if (a->kind == K_PROBLEM) {
        respond(s, a->status, "application/problem+json", extra_h, a->body, 0);
    } else {
        char id[200] = "x";
        const char *slash = strrchr(target, '/');
        if (slash)
            snprintf(id, sizeof id, "%.*s", (int)strcspn(slash + 1, "?"), slash + 1);
        const char *q = strstr(target, "?profile=");
        const char *profile = a->profile ? a->profile : q ? q + 9 : "sgb5";
        uint8_t other[VST_SHA256_LEN] = {1};
        const uint8_t *stated = a->sha == SHA_BODY         ? sha
                                : a->sha == SHA_SMALL_FILE ? small_sha
                                                           : other;
        char *doc = receipt_for(id, profile, lines, stated, a->bad_sig);
        respond(s, a->status, "application/json", extra_h, doc, a->chunked);
        free(doc);
    }
    SSL_shutdown(s);
    SSL_free(s);
    close(fd);
}

typedef struct {
    int rc;
    char out[16384];
    char err[16384];
    char log[4096]; /* the server's view, one line per connection */
    int conns;
    double secs;
    long maxrss_kb;
} result;

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    unlink(path);
}

static void show(const char *what, const result *r)
{
    fprintf(stderr, "\n--- %s: rc=%d conns=%d %.2fs\n[stdout]\n%s[stderr]\n%s[server]\n%s", what,
            r->rc, r->conns, r->secs, r->out, r->err, r->log);
}

/* Run vst-send with args (after the common TLS options) against a server
 * giving answers[0..n) to its first n connections. server = 0: no server
 * (connection refused). */
static void run(const answer *answers, int n, int server, const char *const *args, result *res)
{
    memset(res, 0, sizeof *res);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    CU_ASSERT_FATAL(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
                    getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0);
    if (server)
        CU_ASSERT_FATAL(listen(lfd, 16) == 0);
    char url[64];
    snprintf(url, sizeof url, "https://%s:%u", url_host, ntohs(sa.sin_port));

    int logp[2];
    CU_ASSERT_FATAL(pipe(logp) == 0);
    pid_t srv = -1;
    if (server) {
        srv = fork();
        CU_ASSERT_FATAL(srv >= 0);
        if (srv == 0) {
            close(logp[0]);
            alarm(120);
            for (int i = 0; i < n; i++) {
                int fd = accept(lfd, NULL, NULL);
                if (fd < 0)
                    _exit(1);
                serve_one(fd, &answers[i], logp[1]);
            }
            _exit(0);
        }
    } else {
        close(lfd); /* the port is now (very likely) closed: connection refused */
        lfd = -1;
    }
    close(logp[1]);

    char out_path[160], err_path[160];
    snprintf(out_path, sizeof out_path, "%s/out", dir);
    snprintf(err_path, sizeof err_path, "%s/err", dir);
    const char *argv[40] = {getenv("VST_SEND"), "--url", url,      "--ca",      path_ca, "--cert",
                            path_cert,          "--key", path_key, "--timeout", "10"};
    int k = 11;
    for (int i = 0; args[i] != NULL && k < 39; i++)
        argv[k++] = args[i];
    argv[k] = NULL;
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};

    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    pid_t cli = fork();
    CU_ASSERT_FATAL(cli >= 0);
    if (cli == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(o, 1);
        dup2(e, 2);
        execve(argv[0], (char *const *)argv, envp);
        _exit(127);
    }
    int st = 0;
    struct rusage ru;
    wait4(cli, &st, 0, &ru);
    gettimeofday(&t1, NULL);
    res->secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_usec - t0.tv_usec) / 1e6;
    res->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    res->maxrss_kb = ru.ru_maxrss;
    if (srv > 0) {
        kill(srv, SIGTERM);
        waitpid(srv, NULL, 0);
    }
    if (lfd >= 0)
        close(lfd);
    size_t got = 0;
    ssize_t r;
    while (got < sizeof res->log - 1 &&
           (r = read(logp[0], res->log + got, sizeof res->log - 1 - got)) > 0)
        got += (size_t)r;
    res->log[got] = '\0';
    close(logp[0]);
    for (char *p = res->log; (p = strchr(p, '\n')) != NULL; p++)
        res->conns++;
    slurp(out_path, res->out, sizeof res->out);
    slurp(err_path, res->err, sizeof res->err);
    if (getenv("VST_TEST_VERBOSE") != NULL)
        show(args[0], res);
}

#define EXPECT(r, cond)                                                                            \
    do {                                                                                           \
        CU_ASSERT(cond);                                                                           \
        if (!(cond))                                                                               \
            show(#cond, r);                                                                        \
    } while (0)

/* The last line of stderr. */
static const char *last_line(const result *r)
{
    static char line[1024];
    const char *e = r->err + strlen(r->err);
    if (e > r->err && e[-1] == '\n')
        e--;
    const char *b = e;
    while (b > r->err && b[-1] != '\n')
        b--;
    snprintf(line, sizeof line, "%.*s", (int)(e - b), b);
    return line;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_stored_pinned(void)
{
    answer a[] = {{.kind = K_RECEIPT, .status = 201}};
    const char *args[] = {"--public-key", sign_pub_hex, "--receipt-out",
                          path_receipt,   "--profile",  "sgb5",
                          "2026Q4-AOK.1", path_small,   NULL};
    result r;
    run(a, 1, 1, args, &r);
    EXPECT(&r, r.rc == 0);
    EXPECT(&r, strstr(r.out, "status        stored (201 Created)\n") != NULL);
    EXPECT(&r, strstr(r.out, "record_count  3\n") != NULL);
    EXPECT(&r, strstr(r.out, "(pinned trust-center key)") != NULL);
    EXPECT(&r, strstr(r.err, "warning") == NULL);
    EXPECT(&r, strstr(r.log, "PUT /v1/deliveries/2026Q4-AOK.1?profile=sgb5 ") != NULL);
    EXPECT(&r, r.conns == 1);
    char doc[4096];
    slurp(path_receipt, doc, sizeof doc);
    vst_receipt rc;
    char err[200];
    CU_ASSERT_EQUAL(vst_receipt_json_parse(doc, strlen(doc), &rc, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(rc.f.delivery_id, "2026Q4-AOK.1");
}

static void test_replay_unpinned_json_chunked(void)
{
    answer a[] = {{.kind = K_RECEIPT, .status = 200, .chunked = 1}};
    const char *args[] = {"--json", "d-2", path_small, NULL};
    result r;
    run(a, 1, 1, args, &r);
    EXPECT(&r, r.rc == 0);
    EXPECT(&r, strncmp(r.out, "{\"delivery_id\":\"d-2\",", 21) == 0);
    EXPECT(&r, strstr(r.err, "not pinned") != NULL);
}

static void test_retry_503_then_drop(void)
{
    answer a[] = {
        {.kind = K_PROBLEM,
         .status = 503,
         .retry_after = "1",
         .body = "{\"code\":\"service_unavailable\",\"title\":\"keyd sealed\"}"},
        {.kind = K_DROP},
        {.kind = K_RECEIPT, .status = 201},
    };
    const char *args[] = {"--public-key", sign_pub_hex, "d3", path_big, NULL};
    result r;
    run(a, 3, 1, args, &r);
    EXPECT(&r, r.rc == 0);
    EXPECT(&r, r.conns == 3);
    EXPECT(&r, r.secs >= 1.0); /* Retry-After honoured */
    EXPECT(&r, strstr(r.err, "attempt 1 of 9: the server answered 503 service_unavailable; "
                             "retrying in") != NULL);
    EXPECT(&r, strstr(r.err, "attempt 2 of 9") != NULL);
    EXPECT(&r, strstr(r.out, "record_count  20000\n") != NULL);
    /* Every attempt used the same delivery id and announced the large body. */
    EXPECT(&r, count(r.log, "PUT /v1/deliveries/d3 ") == 3);
    EXPECT(&r, count(r.log, " expect\n") == 3);
}

static void test_retries_exhausted(void)
{
    answer a[] = {
        {.kind = K_PROBLEM, .status = 503, .body = "{\"code\":\"service_unavailable\"}"},
        {.kind = K_PROBLEM, .status = 503, .body = "{\"code\":\"service_unavailable\"}"},
    };
    const char *args[] = {"--retries", "1", "d4", path_small, NULL};
    result r;
    run(a, 2, 1, args, &r);
    EXPECT(&r, r.rc == 4);
    EXPECT(&r, r.conns == 2);
    EXPECT(&r, strcmp(last_line(&r), "vst-send: giving up after 2 attempts: the server "
                                     "answered 503 service_unavailable") == 0);

    const char *args2[] = {"--retries", "2", "d4", path_small, NULL};
    run(NULL, 0, 0, args2, &r);
    EXPECT(&r, r.rc == 4);
    EXPECT(&r, strstr(last_line(&r), "giving up after 3 attempts: cannot connect to") != NULL);
}

static void test_refused_422(void)
{
    answer a[] = {{.kind = K_PROBLEM,
                   .status = 422,
                   .body = "{\"type\":\"urn:vst:problem:invalid_records\",\"title\":\"the "
                           "delivery has invalid records; nothing was stored\",\"status\":422,"
                           "\"code\":\"invalid_records\",\"detail\":\"2 error(s); nothing was "
                           "stored\",\"errors_total\":2,\"errors\":[{\"line\":2,\"field\":"
                           "\"insured.kvnr\",\"code\":\"id_check_digit\"},{\"line\":3,\"field\":"
                           "\"insured.birth_date\",\"code\":\"invalid_date\"}]}"}};
    const char *args[] = {"--quiet", "d5", path_small, NULL};
    result r;
    run(a, 1, 1, args, &r);
    EXPECT(&r, r.rc == 2);
    EXPECT(&r, strstr(r.err, "vst-send:   line 2: insured.kvnr: id_check_digit\n"
                             "vst-send:   line 3: insured.birth_date: invalid_date\n") != NULL);
    EXPECT(&r, strcmp(last_line(&r),
                      "vst-send: delivery refused (422 invalid_records): 2 errors") == 0);
    EXPECT(&r, r.out[0] == '\0');
}

static void test_conflict_409(void)
{
    answer a[] = {{.kind = K_PROBLEM,
                   .status = 409,
                   .body = "{\"code\":\"delivery_conflict\",\"title\":\"this delivery id was "
                           "already used with a different body\"}"}};
    const char *args[] = {"d6", path_small, NULL};
    result r;
    run(a, 1, 1, args, &r);
    EXPECT(&r, r.rc == 2);
    EXPECT(&r, strcmp(last_line(&r),
                      "vst-send: delivery id d6 already used with a different body") == 0);
}

static void test_early_413(void)
{
    answer a[] = {{.kind = K_EARLY,
                   .status = 413,
                   .body = "{\"code\":\"payload_too_large\",\"title\":\"the delivery exceeds "
                           "the maximum size\"}"}};
    const char *args[] = {"d7", path_big, NULL};
    result r;
    run(a, 1, 1, args, &r);
    EXPECT(&r, r.rc == 2);
    EXPECT(&r, strcmp(last_line(&r), "vst-send: delivery refused (413 payload_too_large): the "
                                     "delivery exceeds the maximum size") == 0);
    /* Expect: 100-continue kept the body back: nothing of it was sent. */
    EXPECT(&r, strstr(r.log, " 0 early") != NULL);
    EXPECT(&r, strstr(r.err, "sent 100%") == NULL);
}

static void test_bad_receipts(void)
{
    result r;
    answer bad_sig[] = {{.kind = K_RECEIPT, .status = 201, .bad_sig = 1}};
    const char *pinned[] = {"--public-key", sign_pub_hex, "d8", path_small, NULL};
    run(bad_sig, 1, 1, pinned, &r);
    EXPECT(&r, r.rc == 3);
    EXPECT(&r, strcmp(last_line(&r), "vst-send: RECEIPT NOT VERIFIED: the receipt's signature "
                                     "is NOT valid for the pinned trust-center key") == 0);
    EXPECT(&r, r.out[0] == '\0');

    answer other_sha[] = {{.kind = K_RECEIPT, .status = 201, .sha = SHA_OTHER}};
    run(other_sha, 1, 1, pinned, &r);
    EXPECT(&r, r.rc == 3);
    EXPECT(&r, strstr(last_line(&r), "body_sha256") != NULL);

    answer other_profile[] = {{.kind = K_RECEIPT, .status = 201, .profile = "measles"}};
    const char *with_profile[] = {"--public-key", sign_pub_hex, "--profile", "sgb5",
                                  "d8",           path_small,   NULL};
    run(other_profile, 1, 1, with_profile, &r);
    EXPECT(&r, r.rc == 3);
    EXPECT(&r, strstr(last_line(&r), "profile measles, not sgb5") != NULL);

    /* A key that is not the trust center's. */
    const char *wrong_key[] = {"--public-key",
                               "0000000000000000000000000000000000000000000000000000000000000001",
                               "d8", path_small, NULL};
    answer good[] = {{.kind = K_RECEIPT, .status = 201}};
    run(good, 1, 1, wrong_key, &r);
    EXPECT(&r, r.rc == 3);
}

static void test_resume(void)
{
    result r;
    answer found[] = {{.kind = K_RECEIPT, .status = 200, .sha = SHA_SMALL_FILE}};
    const char *args[] = {"--resume", "--public-key", sign_pub_hex, "d9", path_small, NULL};
    run(found, 1, 1, args, &r);
    EXPECT(&r, r.rc == 0);
    EXPECT(&r, r.conns == 1);
    EXPECT(&r, strncmp(r.log, "GET /v1/deliveries/d9 ", 22) == 0);
    EXPECT(&r, strstr(r.out, "already stored (found by --resume)") != NULL);

    answer different[] = {{.kind = K_RECEIPT, .status = 200, .sha = SHA_OTHER}};
    run(different, 1, 1, args, &r);
    EXPECT(&r, r.rc == 2);
    EXPECT(&r, r.conns == 1);
    EXPECT(&r, strcmp(last_line(&r),
                      "vst-send: delivery id d9 already used for a different file") == 0);

    answer missing[] = {
        {.kind = K_PROBLEM, .status = 404, .body = "{\"code\":\"not_found\"}"},
        {.kind = K_RECEIPT, .status = 201},
    };
    run(missing, 2, 1, args, &r);
    EXPECT(&r, r.rc == 0);
    EXPECT(&r, r.conns == 2);
    EXPECT(&r, strstr(r.log, "PUT /v1/deliveries/d9 ") != NULL);
    EXPECT(&r, strstr(r.out, "stored (201 Created)") != NULL);
}

static void test_tls_refusals(void)
{
    answer a[] = {{.kind = K_RECEIPT, .status = 201}};
    result r;
    const char *wrong_ca[] = {"--ca", path_other_ca, "--retries", "3", "d10", path_small, NULL};
    run(a, 1, 1, wrong_ca, &r);
    EXPECT(&r, r.rc == 1);
    EXPECT(&r, r.conns == 1); /* not retried */
    EXPECT(&r, strstr(last_line(&r), "the server's certificate is not accepted") != NULL);

    /* The server's certificate names IP 127.0.0.1 only: "localhost" (which
     * resolves to it) must not be accepted. */
    url_host = "localhost";
    const char *wrong_host[] = {"d10", path_small, NULL};
    run(a, 1, 1, wrong_host, &r);
    url_host = "127.0.0.1";
    EXPECT(&r, r.rc == 1);
    EXPECT(&r, r.conns == 1);
    EXPECT(&r, strstr(last_line(&r), "the server's certificate is not accepted: hostname "
                                     "mismatch") != NULL);
}

static void test_constant_memory(void)
{
    answer a[] = {{.kind = K_RECEIPT, .status = 201}};
    const char *small[] = {"--quiet", "--public-key", sign_pub_hex, "m1", path_small, NULL};
    const char *huge[] = {"--quiet", "--public-key", sign_pub_hex, "m2", path_huge, NULL};
    result rs, rh;
    run(a, 1, 1, small, &rs);
    run(a, 1, 1, huge, &rh);
    EXPECT(&rs, rs.rc == 0);
    EXPECT(&rh, rh.rc == 0);
    struct stat st;
    stat(path_huge, &st);
    fprintf(stderr, " [%lld-byte file: peak RSS %ld KiB vs %ld KiB for 3 records] ",
            (long long)st.st_size, rh.maxrss_kb, rs.maxrss_kb);
    EXPECT(&rh, rh.maxrss_kb - rs.maxrss_kb < 16 * 1024);
    EXPECT(&rh, strstr(rh.out, "record_count  400000\n") != NULL);
}

static const vst_test tests[] = {
    {"201, pinned key, --receipt-out, --profile", test_stored_pinned},
    {"200 replay, chunked, unpinned warning, --json", test_replay_unpinned_json_chunked},
    {"503 with Retry-After, dropped connection, then 201", test_retry_503_then_drop},
    {"retries exhausted: 503s, connection refused", test_retries_exhausted},
    {"422 with line/field/code errors", test_refused_422},
    {"409 conflict", test_conflict_409},
    {"413 before the body (Expect: 100-continue)", test_early_413},
    {"bad signature, other body, other profile, wrong key", test_bad_receipts},
    {"--resume: found, different file, not found", test_resume},
    {"server certificate from another CA: no retry", test_tls_refusals},
    {"constant memory for a 60 MB file", test_constant_memory},
    {NULL, NULL},
};

int vst_register_tests(void)
{
    CU_pSuite s = CU_add_suite("send/client", suite_init, suite_clean);
    if (s == NULL)
        return CU_get_error();
    for (size_t i = 0; tests[i].name != NULL; i++)
        if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL)
            return CU_get_error();
    return CUE_SUCCESS;
}
