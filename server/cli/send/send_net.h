/* vst-send's TLS connection to vst-httpd (OpenSSL 3 libssl): the client
 * context (TLS 1.2+, AEAD/ECDHE only, server verified against a CA and the
 * URL's host name or IP address, client certificate presented), a
 * non-blocking socket with a deadline on every wait, and full-duplex I/O so
 * that a response the server sends before it has read the whole body (401,
 * 413, ...) is seen instead of lost in a reset.
 *
 * Failures are classified: RETRY for what a second attempt may cure
 * (refused or reset connections, timeouts, TLS failures mid-stream), FATAL
 * for what it cannot (the server's certificate does not verify, the server
 * rejects our certificate or protocol version, the host name is unknown). */
#ifndef VST_SEND_NET_H
#define VST_SEND_NET_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "cli/send/http_response.h"
#include "cli/send/send_util.h"

typedef enum {
    VST_NET_OK = 0,
    VST_NET_RESPONSE, /* a complete response (or a parse error) arrived */
    VST_NET_RETRY,    /* transient failure; err says what */
    VST_NET_FATAL,    /* permanent failure; err says what */
} vst_net_rc;

typedef struct {
    int fd;
    SSL *ssl;
    int timeout_ms;      /* longest wait for any single read or write */
    vst_http_resp *resp; /* bytes read are fed to this parser */
    int eof;
} vst_conn;

/* ca: PEM bundle, or NULL for the system's default trust store. cert/key:
 * PEM files (key may be NULL: then cert holds both). NULL + err on failure. */
SSL_CTX *vst_tls_ctx_new(const char *ca, const char *cert, const char *key, char *err,
                         size_t errlen);

/* Resolve, connect (connect_ms), handshake, verify. On VST_NET_OK c is open;
 * on anything else c is closed. info (may be NULL) receives e.g.
 * "TLSv1.3 TLS_AES_256_GCM_SHA384". */
vst_net_rc vst_conn_open(vst_conn *c, SSL_CTX *ctx, const vst_url *u, int connect_ms,
                         int timeout_ms, vst_http_resp *resp, char *info, size_t infolen, char *err,
                         size_t errlen);

/* Write p[0..n), reading whatever the server sends meanwhile into c->resp.
 * VST_NET_OK when all bytes are written, VST_NET_RESPONSE when the response
 * is complete (or unparseable) first, else RETRY/FATAL. */
vst_net_rc vst_conn_write(vst_conn *c, const void *p, size_t n, char *err, size_t errlen);

/* Read into c->resp until it is complete or wait_ms pass without a byte.
 * VST_NET_RESPONSE when complete or unparseable; RETRY/FATAL on failure.
 * With wait_continue, waiting for "100 Continue": VST_NET_OK once an
 * interim response arrived or when wait_ms passed without one. */
vst_net_rc vst_conn_read(vst_conn *c, int wait_ms, int wait_continue, char *err, size_t errlen);

void vst_conn_close(vst_conn *c);

#endif
