/* TLS client connection for vst-send, see send_net.h. */
#include "cli/send/send_net.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/msg.h"

/* The TLS policy (BSI TR-02102-2; docs/vst-send.md, "TLS", names the
 * tables): what vst-send offers is exactly what vst-httpd accepts (its TLS
 * policy header in server/httpd/), set explicitly rather than left to
 * OpenSSL's defaults, which add ChaCha20, X25519, P-521, Ed25519 and RSA
 * PKCS#1 v1.5.
 * tests/send/test_send_client.c checks the ClientHello against these sets.
 *   TLS 1.2 suites: ECDHE with AES-GCM or AES-CCM only (AEAD, forward
 *   secrecy); TLS 1.3 suites: AES-GCM and AES-128-CCM; groups: P-256 (first:
 *   its key share is the one sent, so no HelloRetryRequest) and P-384;
 *   signatures (the server's ServerKeyExchange/CertificateVerify and our
 *   own CertificateVerify): ECDSA and RSA-PSS with SHA-256/384 only. The
 *   TR recommended RSA PKCS#1 v1.5 handshake signatures only until the end
 *   of 2025. OpenSSL does not apply this list to the server's certificate
 *   chain: that is verified against --ca. */
#define TLS12_CIPHERS                                                                              \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:"                                 \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:"                                     \
    "ECDHE-ECDSA-AES256-CCM:ECDHE-ECDSA-AES128-CCM"
#define TLS13_CIPHERSUITES "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_AES_128_CCM_SHA256"
#define TLS_GROUPS "P-256:P-384"
#define TLS_SIGALGS                                                                                \
    "ecdsa_secp256r1_sha256:ecdsa_secp384r1_sha384:rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:"       \
    "rsa_pss_pss_sha256:rsa_pss_pss_sha384"

/* Internal results of one SSL_read besides the public vst_net_rc values. */
enum { R_DATA = 100, R_WANT_READ, R_WANT_WRITE };

static const char *ssl_reason(unsigned long ec)
{
    const char *r = ec ? ERR_reason_error_string(ec) : NULL;
    return r ? r : "unknown TLS error";
}

SSL_CTX *vst_tls_ctx_new(const char *ca, const char *cert, const char *key, char *err,
                         size_t errlen)
{
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        vst_msg(err, errlen, "cannot create the TLS context");
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, TLS13_CIPHERSUITES) != 1 ||
        SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1 ||
        SSL_CTX_set1_sigalgs_list(ctx, TLS_SIGALGS) != 1) {
        vst_msg(err, errlen, "TLS settings rejected: %s", ssl_reason(ERR_peek_last_error()));
        goto fail;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    const char *files[] = {ca, cert, key};
    for (size_t i = 0; i < 3; i++)
        if (files[i] != NULL && access(files[i], R_OK) != 0) {
            vst_msg(err, errlen, "cannot read %s: %s", files[i], strerror(errno));
            goto fail;
        }
    if (ca != NULL ? SSL_CTX_load_verify_file(ctx, ca) != 1
                   : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        vst_msg(err, errlen, "cannot load the CA bundle %s: %s", ca ? ca : "(system default)",
                ssl_reason(ERR_peek_last_error()));
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        vst_msg(err, errlen, "cannot load the client certificate %s: %s", cert,
                ssl_reason(ERR_peek_last_error()));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key ? key : cert, SSL_FILETYPE_PEM) != 1) {
        vst_msg(err, errlen, "cannot load the client key %s: %s", key ? key : cert,
                ssl_reason(ERR_peek_last_error()));
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        vst_msg(err, errlen, "the client key %s does not belong to the certificate %s",
                key ? key : cert, cert);
        goto fail;
    }
    ERR_clear_error();
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* poll one fd; revents, 0 on timeout, -1 on error. Survives EINTR. */
static int wait_fd(int fd, short events, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        long long left = end - now_ms();
        int r = poll(&p, 1, left < 0 ? 0 : (int)left);
        if (r > 0)
            return p.revents ? p.revents : events;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* Alerts that mean "this will not work on a second try either": 1 for the
 * server rejecting our certificate, 2 for no common TLS parameters. */
static int permanent_alert(int reason)
{
    switch (reason) {
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return 1;
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_TLSV1_ALERT_INSUFFICIENT_SECURITY:
        return 2;
    default:
        return 0;
    }
}

/* Classify a failed SSL_* call. Returns a vst_net_rc, R_WANT_*, or -1 for
 * the end of the stream (clean or not: the HTTP framing decides whether the
 * response is complete). */
static int classify(vst_conn *c, int ret, int handshake, char *err, size_t errlen)
{
    int saved_errno = errno;
    int e = SSL_get_error(c->ssl, ret);
    unsigned long ec = ERR_peek_error();
    int rc;
    if (e == SSL_ERROR_WANT_READ)
        return R_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE)
        return R_WANT_WRITE;
    if (e == SSL_ERROR_ZERO_RETURN)
        return -1;
    if (e == SSL_ERROR_SYSCALL) {
        vst_msg(err, errlen, "%s%s",
                ec == 0 && saved_errno == 0 ? "connection closed unexpectedly"
                : ec == 0                   ? strerror(saved_errno)
                                            : ssl_reason(ec),
                handshake ? " (during the TLS handshake)" : "");
        rc = VST_NET_RETRY;
    } else if (ERR_GET_LIB(ec) == ERR_LIB_SSL &&
               ERR_GET_REASON(ec) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        if (!handshake) {
            ERR_clear_error();
            return -1;
        }
        vst_msg(err, errlen, "connection closed during the TLS handshake");
        rc = VST_NET_RETRY;
    } else if (handshake && SSL_get_verify_result(c->ssl) != X509_V_OK) {
        vst_msg(err, errlen, "the server's certificate is not accepted: %s%s",
                X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)),
                " (check --ca and the host in --url)");
        rc = VST_NET_FATAL;
    } else if (ERR_GET_LIB(ec) == ERR_LIB_SSL && permanent_alert(ERR_GET_REASON(ec))) {
        vst_msg(err, errlen, "the server refused the TLS connection: %s%s", ssl_reason(ec),
                permanent_alert(ERR_GET_REASON(ec)) == 1
                    ? " (does the server trust the CA of the client certificate?)"
                    : " (no TLS 1.2+ ECDHE/AEAD setting in common with the server)");
        rc = VST_NET_FATAL;
    } else if (handshake) {
        vst_msg(err, errlen, "TLS handshake failed: %s", ssl_reason(ec));
        rc = VST_NET_FATAL;
    } else {
        vst_msg(err, errlen, "TLS error: %s", ssl_reason(ec));
        rc = VST_NET_RETRY;
    }
    ERR_clear_error();
    c->eof = 1; /* the SSL object is unusable now */
    return rc;
}

static int tcp_connect(const vst_url *u, int connect_ms, int *is_fatal, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | (u->host_is_ip ? AI_NUMERICHOST : 0)};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(u->host, u->port, &hints, &res);
    if (gai != 0) {
        *is_fatal = gai == EAI_NONAME;
        vst_msg(err, errlen, "cannot resolve %s: %s", u->host, gai_strerror(gai));
        return -1;
    }
    int fd = -1, last = 0;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (r != 0 && errno == EINPROGRESS) {
            int ev = wait_fd(fd, POLLOUT, connect_ms);
            socklen_t sl = sizeof r;
            if (ev == 0)
                errno = ETIMEDOUT;
            else if (ev > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &r, &sl) == 0)
                errno = r;
            r = ev > 0 && r == 0 ? 0 : -1;
        }
        if (r != 0) {
            last = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        *is_fatal = 0;
        vst_msg(err, errlen, "cannot connect to %s: %s", u->host_header,
                strerror(last ? last : ECONNREFUSED));
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

void vst_conn_close(vst_conn *c)
{
    if (c->ssl != NULL) {
        if (!c->eof) {
            ERR_clear_error();
            SSL_shutdown(c->ssl); /* one non-blocking try: we are leaving anyway */
        }
        SSL_free(c->ssl);
    }
    if (c->fd >= 0)
        close(c->fd);
    ERR_clear_error();
    c->ssl = NULL;
    c->fd = -1;
}

vst_net_rc vst_conn_open(vst_conn *c, SSL_CTX *ctx, const vst_url *u, int connect_ms,
                         int timeout_ms, vst_http_resp *resp, char *info, size_t infolen, char *err,
                         size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->timeout_ms = timeout_ms;
    c->resp = resp;
    int fatal = 0;
    c->fd = tcp_connect(u, connect_ms, &fatal, err, errlen);
    if (c->fd < 0)
        return fatal ? VST_NET_FATAL : VST_NET_RETRY;
    ERR_clear_error();
    c->ssl = SSL_new(ctx);
    int ok = c->ssl != NULL && SSL_set_fd(c->ssl, c->fd) == 1;
    if (ok && u->host_is_ip) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), u->host) == 1;
    } else if (ok) {
        SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = SSL_set_tlsext_host_name(c->ssl, u->host) == 1 && SSL_set1_host(c->ssl, u->host) == 1;
    }
    if (!ok) {
        vst_msg(err, errlen, "cannot set up TLS for %s: %s", u->host, ssl_reason(ERR_peek_error()));
        c->eof = 1;
        vst_conn_close(c);
        return VST_NET_FATAL;
    }
    for (;;) {
        ERR_clear_error();
        int ret = SSL_connect(c->ssl);
        if (ret == 1)
            break;
        int k = classify(c, ret, 1, err, errlen);
        if (k == R_WANT_READ || k == R_WANT_WRITE) {
            int ev = wait_fd(c->fd, k == R_WANT_READ ? POLLIN : POLLOUT, timeout_ms);
            if (ev > 0)
                continue;
            vst_msg(err, errlen, "%s", ev == 0 ? "TLS handshake timed out" : strerror(errno));
            k = VST_NET_RETRY;
        } else if (k == -1) {
            vst_msg(err, errlen, "connection closed during the TLS handshake");
            k = VST_NET_RETRY;
        }
        c->eof = 1;
        vst_conn_close(c);
        return (vst_net_rc)k;
    }
    if (info != NULL && infolen > 0)
        snprintf(info, infolen, "%s %s", SSL_get_version(c->ssl),
                 SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl)));
    return VST_NET_OK;
}

static int resp_final(const vst_conn *c)
{
    return vst_http_resp_result(c->resp) != VST_HR_MORE;
}

/* One SSL_read into the response parser: R_DATA, R_WANT_*, VST_NET_RESPONSE
 * (complete, unparseable, or ended by EOF), VST_NET_RETRY or VST_NET_FATAL. */
static int read_some(vst_conn *c, char *err, size_t errlen)
{
    if (resp_final(c))
        return VST_NET_RESPONSE;
    if (c->eof) {
        vst_http_resp_eof(c->resp);
        return VST_NET_RESPONSE;
    }
    uint8_t buf[16384];
    size_t got = 0;
    ERR_clear_error();
    int ret = SSL_read_ex(c->ssl, buf, sizeof buf, &got);
    if (ret == 1)
        return vst_http_resp_feed(c->resp, buf, got, NULL) == VST_HR_MORE ? R_DATA
                                                                          : VST_NET_RESPONSE;
    int k = classify(c, ret, 0, err, errlen);
    if (k == -1) {
        c->eof = 1;
        vst_http_resp_eof(c->resp);
        return VST_NET_RESPONSE;
    }
    return k;
}

static int readable_now(vst_conn *c)
{
    return SSL_pending(c->ssl) > 0 || wait_fd(c->fd, POLLIN, 0) > 0;
}

/* After the server closed its side while we were writing: whatever it sent
 * before is the real answer (e.g. 413). Give it a moment to arrive. */
static int salvage_response(vst_conn *c)
{
    char ignore[8];
    long long end = now_ms() + 500;
    while (!c->eof && now_ms() < end) {
        int k = read_some(c, ignore, sizeof ignore);
        if (k == VST_NET_RESPONSE)
            return c->resp->status >= 200;
        if (k != R_DATA && k != R_WANT_READ && k != R_WANT_WRITE)
            return 0;
        if (k != R_DATA && wait_fd(c->fd, POLLIN, (int)(end - now_ms())) <= 0)
            return 0;
    }
    return 0;
}

vst_net_rc vst_conn_write(vst_conn *c, const void *p, size_t n, char *err, size_t errlen)
{
    const uint8_t *b = p;
    size_t off = 0;
    while (off < n) {
        if (!c->eof && readable_now(c)) {
            int k = read_some(c, err, errlen);
            if (k == VST_NET_RESPONSE || k == VST_NET_RETRY || k == VST_NET_FATAL)
                return (vst_net_rc)k;
        }
        size_t w = 0;
        ERR_clear_error();
        int ret = SSL_write_ex(c->ssl, b + off, n - off, &w);
        if (ret == 1) {
            off += w;
            continue;
        }
        int k = classify(c, ret, 0, err, errlen);
        if (k == R_WANT_READ || k == R_WANT_WRITE) {
            /* Watch for an early response too, but not for writability
             * when the TLS layer needs to read first (that would spin). */
            int ev = wait_fd(c->fd, k == R_WANT_READ ? POLLIN : POLLIN | POLLOUT, c->timeout_ms);
            if (ev == 0) {
                vst_msg(err, errlen, "no progress sending to the server for %d s",
                        c->timeout_ms / 1000);
                return VST_NET_RETRY;
            }
            if (ev < 0) {
                vst_msg(err, errlen, "%s", strerror(errno));
                return VST_NET_RETRY;
            }
            if (ev & (POLLIN | POLLHUP | POLLERR)) {
                int r = read_some(c, err, errlen);
                if (r == VST_NET_RESPONSE || r == VST_NET_RETRY || r == VST_NET_FATAL)
                    return (vst_net_rc)r;
            }
            continue;
        }
        if (k != -1)
            return (vst_net_rc)k; /* RETRY or FATAL; the SSL object is dead */
        /* close_notify: what the server sent before it is still readable. */
        if (salvage_response(c))
            return VST_NET_RESPONSE;
        vst_msg(err, errlen, "the server closed the connection while we were sending");
        return VST_NET_RETRY;
    }
    return VST_NET_OK;
}

vst_net_rc vst_conn_read(vst_conn *c, int wait_ms, int wait_continue, char *err, size_t errlen)
{
    for (;;) {
        int k = read_some(c, err, errlen);
        if (k == R_DATA && wait_continue && c->resp->interim_seen > 0)
            return VST_NET_OK; /* "100 Continue" */
        if (k == R_DATA)
            continue;
        if (k != R_WANT_READ && k != R_WANT_WRITE)
            return (vst_net_rc)k;
        int ev = wait_fd(c->fd, k == R_WANT_READ ? POLLIN : POLLOUT, wait_ms);
        if (ev > 0)
            continue;
        if (ev == 0 && wait_continue)
            return VST_NET_OK;
        if (ev == 0)
            vst_msg(err, errlen, "no answer from the server for %d s", wait_ms / 1000);
        else
            vst_msg(err, errlen, "%s", strerror(errno));
        return VST_NET_RETRY;
    }
}
