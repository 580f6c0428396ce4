/* libFuzzer target: vst-httpd's body line splitter (server/httpd/
 * lines.c), checked against a reference model.
 *
 * Input: byte 0 sets the maximum line length (1..256), byte 1 seeds how the
 * rest is cut into chunks (as TLS records and MHD's buffers would cut a
 * body); the rest is the body. The model splits the whole body at once:
 * every '\n'-terminated line, and a last unterminated non-empty one, is
 * either delivered exactly (if at most max bytes) or reported too long,
 * in order. The splitter must produce exactly that sequence, whatever the
 * chunking. Also: no delivered line is longer than max or holds a '\n'; a
 * line is handed over in place when it lies inside one chunk; the carry
 * buffer holds no byte of a finished line (wiped) after every chunk. */
#include "fuzz_util.h"
#include "httpd/lines.h"

typedef struct {
    const char *body;
    size_t len, pos; /* the model's position in body */
    size_t max;
    const char *chunk;
    size_t chunk_len;
    size_t events;
    httpd_lines *l;
} model;

/* The next expected event: 1 and the line, or 0 for "too long"; -1 none. */
static int expect_next(model *m, const char **line, size_t *len)
{
    if (m->pos >= m->len)
        return -1;
    const char *start = m->body + m->pos;
    const char *nl = memchr(start, '\n', m->len - m->pos);
    size_t n = nl ? (size_t)(nl - start) : m->len - m->pos;
    m->pos += nl ? n + 1 : n;
    *line = start;
    *len = n;
    return n <= m->max;
}

static void on_line(void *ctx, const char *line, size_t len)
{
    model *m = ctx;
    const char *want;
    size_t wlen;
    m->events++;
    FZ_CHECK(expect_next(m, &want, &wlen) == 1, "a line where the model has none or too long");
    FZ_CHECK(len == wlen && (len == 0 || memcmp(line, want, len) == 0), "line content");
    FZ_CHECK(len <= m->max && memchr(line, '\n', len) == NULL, "line shape");
    int in_chunk = m->chunk != NULL && line >= m->chunk && line + len <= m->chunk + m->chunk_len;
    int in_carry = line == m->l->carry;
    FZ_CHECK(in_chunk || in_carry, "line neither in place nor in the carry");
}

static void on_too_long(void *ctx)
{
    model *m = ctx;
    const char *want;
    size_t wlen;
    m->events++;
    FZ_CHECK(expect_next(m, &want, &wlen) == 0, "too long where the model has a line");
}

static void check_carry_clean(const httpd_lines *l)
{
    for (size_t i = l->carry_len; i < l->max; i++)
        FZ_CHECK(l->carry[i] == 0, "a finished line left in the carry");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    model m = {.max = (size_t)data[0] + 1};
    fz_chunks ch;
    fz_chunks_init(&ch, data[1]);
    size_t len = size - 2;
    char *body = fz_dup(data + 2, len);
    m.body = body;
    m.len = len;
    httpd_lines l;
    FZ_CHECK(httpd_lines_init(&l, m.max, on_line, on_too_long, &m) == 0, "init");
    m.l = &l;
    for (size_t off = 0; off < len;) {
        size_t n = fz_chunk_next(&ch, 300);
        if (n > len - off)
            n = len - off;
        /* Each chunk in its own allocation, gone after the call, as MHD's
         * buffer is reused: a line kept by reference would show in ASan. */
        char *chunk = fz_dup((const uint8_t *)body + off, n);
        m.chunk = chunk;
        m.chunk_len = n;
        httpd_lines_feed(&l, chunk, n);
        free(chunk);
        m.chunk = NULL;
        m.chunk_len = 0;
        check_carry_clean(&l);
        off += n;
    }
    httpd_lines_finish(&l);
    FZ_CHECK(l.carry_len == 0 || l.skipping, "carry left after the end");
    check_carry_clean(&l);
    const char *w;
    size_t wl;
    FZ_CHECK(expect_next(&m, &w, &wl) == -1, "the model has lines the splitter did not deliver");
    httpd_lines_free(&l);
    free(body);
    return 0;
}
