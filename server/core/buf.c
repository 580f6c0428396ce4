/* The checked buffer; see buf.h. */
#include "core/buf.h"

#include <stdlib.h>
#include <string.h>

#include "core/secmem.h"

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ != 0)                                                                              \
            return rc_;                                                                            \
    } while (0)

/* ---- big-endian integers */

uint64_t vst_be_get(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

void vst_be_put(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

/* ---- reader */

void vst_rd_init(vst_rd *r, const void *p, size_t len)
{
    r->p = p;
    r->len = p != NULL ? len : 0;
    r->off = 0;
}

size_t vst_rd_left(const vst_rd *r)
{
    return r->len - r->off;
}

static int rd_int(vst_rd *r, size_t n, uint64_t *v)
{
    if (vst_rd_left(r) < n)
        return VST_BUF_E_SHORT;
    *v = vst_be_get(r->p + r->off, n);
    r->off += n;
    return 0;
}

int vst_rd_u8(vst_rd *r, uint8_t *out)
{
    uint64_t v;
    TRY(rd_int(r, 1, &v));
    *out = (uint8_t)v;
    return 0;
}

int vst_rd_u16(vst_rd *r, uint16_t *out)
{
    uint64_t v;
    TRY(rd_int(r, 2, &v));
    *out = (uint16_t)v;
    return 0;
}

int vst_rd_u32(vst_rd *r, uint32_t *out)
{
    uint64_t v;
    TRY(rd_int(r, 4, &v));
    *out = (uint32_t)v;
    return 0;
}

int vst_rd_u64(vst_rd *r, uint64_t *out)
{
    return rd_int(r, 8, out);
}

int vst_rd_i64(vst_rd *r, int64_t *out)
{
    uint64_t v;
    TRY(rd_int(r, 8, &v));
    *out = (int64_t)v; /* two's complement on every platform we build for */
    return 0;
}

int vst_rd_view(vst_rd *r, size_t n, const uint8_t **out)
{
    if (vst_rd_left(r) < n)
        return VST_BUF_E_SHORT;
    *out = r->p != NULL ? r->p + r->off : NULL; /* no arithmetic on NULL */
    r->off += n;
    return 0;
}

int vst_rd_copy(vst_rd *r, void *out, size_t n)
{
    const uint8_t *v;
    TRY(vst_rd_view(r, n, &v));
    if (n > 0)
        memcpy(out, v, n);
    return 0;
}

int vst_rd_str8(vst_rd *r, char *out, size_t cap)
{
    if (vst_rd_left(r) < 1)
        return VST_BUF_E_SHORT;
    size_t n = r->p[r->off];
    if (vst_rd_left(r) - 1 < n)
        return VST_BUF_E_SHORT;
    const uint8_t *s = r->p + r->off + 1;
    if (n >= cap || (n > 0 && memchr(s, '\0', n) != NULL))
        return VST_BUF_E_RANGE;
    memcpy(out, s, n);
    out[n] = '\0';
    r->off += 1 + n;
    return 0;
}

int vst_rd_end(const vst_rd *r)
{
    return vst_rd_left(r) == 0 ? 0 : VST_BUF_E_TRAILING;
}

/* ---- writer */

static const uint8_t empty_payload[1];

void vst_wr_init(vst_wr *w)
{
    w->buf = NULL;
    w->len = 0;
    w->cap = 0;
    w->fixed = 0;
}

void vst_wr_init_fixed(vst_wr *w, void *mem, size_t cap)
{
    w->buf = mem;
    w->len = 0;
    w->cap = mem != NULL ? cap : 0;
    w->fixed = 1;
}

void vst_wr_free(vst_wr *w)
{
    vst_wipe(w->buf, w->cap);
    if (!w->fixed)
        free(w->buf);
    vst_wr_init(w);
}

void vst_wr_reset(vst_wr *w)
{
    vst_wipe(w->buf, w->len);
    w->len = 0;
}

const uint8_t *vst_wr_data(const vst_wr *w)
{
    return w->buf != NULL ? w->buf : empty_payload;
}

size_t vst_wr_len(const vst_wr *w)
{
    return w->len;
}

size_t vst_wr_capacity(const vst_wr *w)
{
    return w->cap;
}

/* Grows by copying, never realloc: the old block is wiped before release. */
static int wr_room(vst_wr *w, size_t n)
{
    if (n > VST_BUF_MAX - w->len)
        return VST_BUF_E_LENGTH;
    size_t need = w->len + n;
    if (need <= w->cap)
        return 0;
    if (w->fixed)
        return VST_BUF_E_LENGTH;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < need)
        cap *= 2;
    uint8_t *nb = malloc(cap);
    if (nb == NULL)
        return VST_BUF_E_NOMEM;
    if (w->len > 0)
        memcpy(nb, w->buf, w->len);
    vst_wipe(w->buf, w->cap);
    free(w->buf);
    w->buf = nb;
    w->cap = cap;
    return 0;
}

int vst_wr_reserve(vst_wr *w, size_t n, uint8_t **out)
{
    TRY(wr_room(w, n));
    *out = w->buf != NULL ? w->buf + w->len : NULL; /* NULL only for n == 0 */
    w->len += n;
    return 0;
}

int vst_wr_put(vst_wr *w, const void *p, size_t n)
{
    uint8_t *dst;
    if (p == NULL && n > 0)
        return VST_BUF_E_ARG;
    TRY(vst_wr_reserve(w, n, &dst));
    if (n > 0)
        memcpy(dst, p, n);
    return 0;
}

int vst_wr_str8(vst_wr *w, const void *s, size_t n)
{
    uint8_t *dst;
    if (n > UINT8_MAX)
        return VST_BUF_E_RANGE;
    if (s == NULL && n > 0)
        return VST_BUF_E_ARG;
    TRY(vst_wr_reserve(w, 1 + n, &dst));
    dst[0] = (uint8_t)n;
    if (n > 0)
        memcpy(dst + 1, s, n);
    return 0;
}

static int wr_int(vst_wr *w, uint64_t v, size_t n)
{
    uint8_t *dst;
    TRY(vst_wr_reserve(w, n, &dst));
    vst_be_put(dst, v, n);
    return 0;
}

int vst_wr_u8(vst_wr *w, uint8_t v)
{
    return wr_int(w, v, 1);
}

int vst_wr_u16(vst_wr *w, uint16_t v)
{
    return wr_int(w, v, 2);
}

int vst_wr_u32(vst_wr *w, uint32_t v)
{
    return wr_int(w, v, 4);
}

int vst_wr_u64(vst_wr *w, uint64_t v)
{
    return wr_int(w, v, 8);
}

int vst_wr_i64(vst_wr *w, int64_t v)
{
    return wr_int(w, (uint64_t)v, 8);
}

void vst_wr_truncate(vst_wr *w, size_t mark)
{
    if (mark < w->len) {
        vst_wipe(w->buf + mark, w->len - mark);
        w->len = mark;
    }
}

int vst_wr_patch_be(vst_wr *w, size_t off, uint64_t v, size_t n)
{
    if (off > w->len || n > w->len - off || n > 8)
        return VST_BUF_E_SHORT;
    vst_be_put(w->buf + off, v, n);
    return 0;
}
