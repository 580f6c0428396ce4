/* Internal to server/wire: the field helpers more than one codec uses —
 * u8-length strings, key version numbers, fixed-size blobs, the list
 * builder's count, and the rollback of a failed multi-field write. Every
 * message has one check function that states its rules (ranges, grammars,
 * reserved zeros); decoders read raw fields through vst_rd and then apply
 * it, encoders apply it before writing. */
#ifndef VST_WIRE_CODEC_FIELDS_H
#define VST_WIRE_CODEC_FIELDS_H

#include <string.h>

#include "wire/codec.h"

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ != 0)                                                                              \
            return rc_;                                                                            \
    } while (0)

/* Drops whatever a failed multi-field put left behind. */
static inline int wr_rollback(vst_wr *w, size_t mark, int rc)
{
    if (rc != 0)
        vst_wr_truncate(w, mark);
    return rc;
}

static inline int wr_str8(vst_wr *w, const char *s, size_t n)
{
    TRY(vst_wr_u8(w, (uint8_t)n));
    return vst_wr_put(w, s, n);
}

/* Reads u8 len (1..max) + len bytes into a NUL-terminated buffer of max + 1
 * bytes; ok() judges the bytes (no grammar here admits a NUL). */
static inline int rd_str8(vst_rd *r, char *out, size_t max, int (*ok)(const char *, size_t))
{
    uint8_t n;
    TRY(vst_rd_u8(r, &n));
    if (n < 1 || n > max)
        return VST_PROTO_E_RANGE;
    TRY(vst_rd_copy(r, out, n));
    out[n] = '\0';
    return ok(out, n) ? 0 : VST_PROTO_E_CHARSET;
}

/* A payload that is exactly n bytes, copied to out. */
static inline int rd_blob(const uint8_t *p, size_t len, uint8_t *out, size_t n)
{
    if (len != n)
        return len < n ? VST_PROTO_E_SHORT : VST_PROTO_E_TRAILING;
    memcpy(out, p, n);
    return 0;
}

static inline int version_check(uint32_t v)
{
    return v >= 1 ? 0 : VST_PROTO_E_RANGE;
}

/* A list of n indices into count items, each a big-endian u32 (the
 * PSEUDONYMIZE answer's withheld list, RELEASE_MAP's excluded list):
 * n <= count, strictly ascending, each < count. */
static inline int index_list_check(uint32_t count, uint32_t n, const uint8_t *idx)
{
    if (n > count)
        return VST_PROTO_E_RANGE;
    if (n > 0 && idx == NULL)
        return VST_PROTO_E_ARG;
    for (uint32_t j = 0; j < n; j++) {
        uint32_t i = vst_index_at(idx, j);
        if (i >= count || (j > 0 && i <= vst_index_at(idx, j - 1)))
            return VST_PROTO_E_RANGE;
    }
    return 0;
}

/* u32 n, then n indices: n is checked against count before the bytes it
 * describes are viewed (n <= count <= VST_BATCH_MAX: no overflow). */
static inline int rd_index_list(vst_rd *r, uint32_t count, uint32_t *n, const uint8_t **idx)
{
    TRY(vst_rd_u32(r, n));
    if (*n > count)
        return VST_PROTO_E_RANGE;
    *idx = NULL;
    if (*n > 0)
        TRY(vst_rd_view(r, (size_t)*n * 4, idx));
    return index_list_check(count, *n, *idx);
}

static inline int wr_index_list(vst_wr *w, uint32_t n, const uint8_t *idx)
{
    TRY(vst_wr_u32(w, n));
    return n > 0 ? vst_wr_put(w, idx, (size_t)n * 4) : 0;
}

/* The list builder's count, after an add. */
static inline void builder_patch(vst_list_builder *b)
{
    vst_wr_patch_be(b->w, b->count_off, b->n, 2);
}

#endif
