/* One HTTP exchange of vst-send with vst-httpd: connect, send the request
 * (streaming a file as the body in fixed-size chunks, hashing and counting
 * records on the way), read the response into the parser. Retrying is the
 * caller's business; this only says whether a retry could help. */
#ifndef VST_SEND_EXCHANGE_H
#define VST_SEND_EXCHANGE_H

#include <openssl/ssl.h>
#include <stdint.h>

#include "core/signed.h"
#include "cli/send/http_response.h"
#include "cli/send/send_progress.h"
#include "cli/send/send_util.h"

#define VST_SEND_CHUNK (64 * 1024)
/* Bodies at least this large announce "Expect: 100-continue", so that a
 * refusal that needs no body (401, 403, 413, 415) costs no upload. */
#define VST_SEND_EXPECT_MIN (1024 * 1024)
#define VST_SEND_CONTINUE_WAIT_MS 1000

typedef struct {
    SSL_CTX *ctx;
    const vst_url *url;
    int connect_ms;
    int timeout_ms;
    int verbose;            /* notes on stderr (TLS parameters) */
    vst_progress *progress; /* NULL: none */
} vst_xchg_cfg;

typedef struct {
    const char *method; /* "PUT" or "GET" */
    const char *target; /* path and query, e.g. "/v1/deliveries/x?profile=sgb5" */
    int fd;             /* body source, read with pread from offset 0; -1: no body */
    uint64_t size;      /* body size (Content-Length) */
} vst_xchg_req;

typedef struct {
    int body_sent;                  /* the whole body went out */
    uint8_t sha256[VST_SHA256_LEN]; /* of the body, valid if body_sent */
    uint64_t records;               /* newline-terminated lines, plus an unterminated last */
} vst_xchg_out;

typedef enum {
    VST_X_ANSWER, /* resp holds a complete response */
    VST_X_RETRY,  /* network trouble or a truncated response: err */
    VST_X_FATAL,  /* will not get better: err */
} vst_x_rc;

vst_x_rc vst_exchange(const vst_xchg_cfg *cfg, const vst_xchg_req *req, vst_http_resp *resp,
                      vst_xchg_out *out, char *err, size_t errlen);

/* SHA-256 of fd[0..size), read in chunks with pread. 0 or -1 with err. */
int vst_file_sha256(int fd, uint64_t size, uint8_t out[VST_SHA256_LEN], char *err, size_t errlen);

#endif
