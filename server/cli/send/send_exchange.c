/* One request/response exchange, see send_exchange.h.
 *
 * The file's bytes pass through one static chunk buffer, which is wiped
 * after every pass: a delivery names insured people, and vst-send's memory
 * stays the same size whatever the file's. */
#include "cli/send/send_exchange.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/msg.h"
#include "core/secmem.h"
#include "cli/send/send_net.h"

static uint8_t chunk[VST_SEND_CHUNK];

/* pread exactly n bytes at off, or fail (the file shrank or is unreadable). */
static int read_at(int fd, uint8_t *buf, size_t n, uint64_t off, char *err, size_t errlen)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, buf + got, n - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            vst_msg(err, errlen, "cannot read the file: %s",
                    k == 0 ? "it became shorter while being sent" : strerror(errno));
            return -1;
        }
        got += (size_t)k;
    }
    return 0;
}

static uint64_t count_newlines(const uint8_t *p, size_t n)
{
    uint64_t c = 0;
    const uint8_t *end = p + n;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        c++;
        p++;
    }
    return c;
}

int vst_file_sha256(int fd, uint64_t size, uint8_t out[VST_SHA256_LEN], char *err, size_t errlen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int rc = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 ? 0 : -1;
    for (uint64_t off = 0; rc == 0 && off < size;) {
        size_t n = size - off < sizeof chunk ? (size_t)(size - off) : sizeof chunk;
        rc = read_at(fd, chunk, n, off, err, errlen);
        if (rc == 0 && EVP_DigestUpdate(md, chunk, n) != 1)
            rc = -1;
        off += n;
    }
    if (rc == 0 && EVP_DigestFinal_ex(md, out, NULL) != 1)
        rc = -1;
    vst_wipe(chunk, sizeof chunk);
    EVP_MD_CTX_free(md); /* clears the partial block it held */
    return rc;
}

/* Stream the body. VST_NET_OK when all of it went out, else what stopped
 * it (an early response, a network failure); -1 for a local read error. */
static int send_body(vst_conn *c, const vst_xchg_cfg *cfg, const vst_xchg_req *req,
                     vst_xchg_out *out, char *err, size_t errlen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        vst_msg(err, errlen, "out of memory");
        return -1;
    }
    uint64_t off = 0;
    int rc = VST_NET_OK;
    uint8_t last = '\n';
    while (off < req->size) {
        size_t n = req->size - off < sizeof chunk ? (size_t)(req->size - off) : sizeof chunk;
        if (read_at(req->fd, chunk, n, off, err, errlen) != 0) {
            rc = -1;
            break;
        }
        EVP_DigestUpdate(md, chunk, n);
        out->records += count_newlines(chunk, n);
        last = chunk[n - 1];
        rc = vst_conn_write(c, chunk, n, err, errlen);
        if (rc != VST_NET_OK)
            break;
        off += n;
        if (cfg->progress)
            vst_progress_update(cfg->progress, off, out->records + (last != '\n'));
    }
    vst_wipe(chunk, sizeof chunk);
    if (rc == VST_NET_OK) {
        out->records += last != '\n';
        out->body_sent = EVP_DigestFinal_ex(md, out->sha256, NULL) == 1;
    }
    EVP_MD_CTX_free(md);
    return rc;
}

static int build_head(char *buf, size_t len, const vst_xchg_cfg *cfg, const vst_xchg_req *req)
{
    int n;
    if (req->fd >= 0)
        n = snprintf(buf, len,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: vst-send/1\r\n"
                     "Accept: application/json, application/problem+json\r\n"
                     "Content-Type: application/x-ndjson\r\nContent-Length: %llu\r\n%s"
                     "Connection: close\r\n\r\n",
                     req->method, req->target, cfg->url->host_header, (unsigned long long)req->size,
                     req->size >= VST_SEND_EXPECT_MIN ? "Expect: 100-continue\r\n" : "");
    else
        n = snprintf(buf, len,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: vst-send/1\r\n"
                     "Accept: application/json, application/problem+json\r\n"
                     "Connection: close\r\n\r\n",
                     req->method, req->target, cfg->url->host_header);
    return n > 0 && (size_t)n < len ? n : -1;
}

/* What a finished (or failed) response means for the caller. */
static vst_x_rc judge_response(const vst_http_resp *resp, char *err, size_t errlen)
{
    if (vst_http_resp_result(resp) == VST_HR_DONE)
        return VST_X_ANSWER;
    vst_msg(err, errlen, "bad response from the server: %s", vst_http_resp_strerror(resp->error));
    /* A response cut short is a dropped connection; a malformed one is a
     * broken server (or not vst-httpd at all) and will not improve. */
    return resp->error == VST_HR_E_TRUNCATED ? VST_X_RETRY : VST_X_FATAL;
}

static vst_x_rc net_rc(int rc)
{
    return rc == VST_NET_FATAL ? VST_X_FATAL : VST_X_RETRY;
}

vst_x_rc vst_exchange(const vst_xchg_cfg *cfg, const vst_xchg_req *req, vst_http_resp *resp,
                      vst_xchg_out *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    vst_http_resp_free(resp);
    char head[2048], info[128];
    int hn = build_head(head, sizeof head, cfg, req);
    if (hn < 0) {
        vst_msg(err, errlen, "request line too long");
        return VST_X_FATAL;
    }
    vst_conn c;
    int rc = vst_conn_open(&c, cfg->ctx, cfg->url, cfg->connect_ms, cfg->timeout_ms, resp, info,
                           sizeof info, err, errlen);
    if (rc != VST_NET_OK)
        return net_rc(rc);
    if (cfg->verbose)
        fprintf(stderr, "vst-send: connected to %s (%s)\n", cfg->url->host_header, info);
    vst_x_rc x = VST_X_ANSWER;
    rc = vst_conn_write(&c, head, (size_t)hn, err, errlen);
    if (rc == VST_NET_OK && req->fd >= 0 && req->size >= VST_SEND_EXPECT_MIN)
        rc = vst_conn_read(&c, VST_SEND_CONTINUE_WAIT_MS, 1, err, errlen);
    if (rc == VST_NET_OK && req->fd >= 0) {
        if (cfg->progress)
            vst_progress_start(cfg->progress, req->size);
        rc = send_body(&c, cfg, req, out, err, errlen);
        if (cfg->progress) {
            if (rc == VST_NET_OK)
                vst_progress_finish(cfg->progress);
            else
                vst_progress_break(cfg->progress);
        }
        if (rc == VST_NET_OK && cfg->verbose)
            fprintf(stderr, "vst-send: all sent; waiting for the server's answer\n");
    }
    if (rc == -1)
        x = VST_X_FATAL;
    else if (rc == VST_NET_OK)
        rc = vst_conn_read(&c, cfg->timeout_ms, 0, err, errlen);
    if (rc == VST_NET_RESPONSE)
        x = judge_response(resp, err, errlen);
    else if (rc != -1 && rc != VST_NET_OK)
        x = net_rc(rc);
    vst_conn_close(&c);
    return x;
}
