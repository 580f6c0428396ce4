/* libFuzzer target: vst-send's HTTP/1.1 response parser
 * (server/cli/send/http_response.c), fed what a hostile or broken server might
 * send.
 *
 * Input: byte 0 seeds the chunking and picks the body cap (small, to reach
 * the cap, or the default); the rest is the response bytes, then the
 * connection ends. The same bytes are parsed twice: in one piece and in
 * pieces. Properties: the results are identical (status, error, headers
 * kept, body, bytes used), whatever the chunking; a DONE response has a
 * final status 200..599, a body within the cap and NUL-terminated, and used
 * no more bytes than there were; once DONE or ERROR the parser consumes
 * nothing more. */
#include "fuzz_util.h"
#include "cli/send/http_response.h"

/* Feeds data in pieces; returns the final result and the bytes used. */
static vst_hr_result parse(vst_http_resp *r, const char *data, size_t len, fz_chunks *ch,
                           size_t *used_total)
{
    vst_hr_result res = VST_HR_MORE;
    size_t off = 0;
    *used_total = 0;
    while (off < len && res == VST_HR_MORE) {
        size_t n = ch ? fz_chunk_next(ch, 2000) : len;
        if (n > len - off)
            n = len - off;
        char *piece = fz_dup((const uint8_t *)data + off, n);
        size_t used = 0;
        res = vst_http_resp_feed(r, piece, n, &used);
        free(piece);
        FZ_CHECK(used <= n, "used more than fed");
        FZ_CHECK(res != VST_HR_MORE || used == n, "MORE without consuming everything");
        *used_total += used;
        off += n;
    }
    if (res == VST_HR_MORE)
        res = vst_http_resp_eof(r);
    else {
        /* Finished: further bytes are not consumed and change nothing. */
        size_t used = 99;
        FZ_CHECK(vst_http_resp_feed(r, "HTTP/1.1 200 OK\r\n", 17, &used) == res && used == 0,
                 "consumed after the end");
    }
    FZ_CHECK(vst_http_resp_result(r) == res, "result");
    return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cap = (data[0] & 1) ? 64 : 0;
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    vst_http_resp a, b;
    vst_http_resp_init(&a, cap);
    vst_http_resp_init(&b, cap);
    fz_chunks ch;
    fz_chunks_init(&ch, data[0]);
    size_t ua, ub;
    vst_hr_result ra = parse(&a, in, len, NULL, &ua), rb = parse(&b, in, len, &ch, &ub);

    FZ_CHECK(ra == rb && a.error == b.error, "result depends on the chunking");
    if (ra == VST_HR_DONE) {
        FZ_CHECK(ua == ub && ua <= len, "bytes used");
        FZ_CHECK(a.status >= 200 && a.status <= 599, "final status");
        FZ_CHECK(a.status == b.status && a.minor_version == b.minor_version &&
                     a.interim_seen == b.interim_seen,
                 "status line depends on the chunking");
        FZ_CHECK(a.has_content_type == b.has_content_type &&
                     a.has_retry_after == b.has_retry_after &&
                     strcmp(a.content_type, b.content_type) == 0 &&
                     strcmp(a.retry_after, b.retry_after) == 0,
                 "kept headers depend on the chunking");
        FZ_CHECK(a.body_len == b.body_len, "body length depends on the chunking");
        FZ_CHECK(a.body_len <= (cap ? cap : VST_HR_BODY_MAX_DEFAULT), "body over the cap");
        FZ_CHECK(a.body_len == 0 || a.body != NULL, "body pointer");
        if (a.body_len > 0)
            FZ_CHECK(a.body[a.body_len] == 0 && b.body[b.body_len] == 0 &&
                         memcmp(a.body, b.body, a.body_len) == 0,
                     "body");
        FZ_CHECK(strlen(a.content_type) <= VST_HR_VALUE_MAX, "content type");
    } else {
        FZ_CHECK(ra == VST_HR_ERROR && a.error != VST_HR_E_NONE, "an error without a code");
        FZ_CHECK(vst_http_resp_strerror(a.error) != NULL, "error text");
    }
    vst_http_resp_free(&a);
    vst_http_resp_free(&b);
    return 0;
}
