/* The checked buffer: the one way binary data is read and written
 * (keyd frames, the keystore's sealed files, signed structures, re-key
 * arrays, PostgreSQL's binary COPY output) — in the manner of OpenSSH's
 * sshbuf.
 *
 *   vst_rd  a reader over bytes it does not own: every getter fails rather
 *           than read past the end, and leaves the cursor and *out
 *           untouched on failure; vst_rd_end tells trailing bytes.
 *   vst_wr  a growable writer whose memory is wiped when it grows and when
 *           it is freed (it may hold identifiers and keys); a failed put
 *           leaves the contents unchanged.
 *
 * Integers are big-endian. The structs are declared here so that a reader
 * lives on the stack on hot paths (one per keyd frame), but their fields
 * are private: use the functions. Functions returning int return 0 or a
 * negative VST_BUF_E_* value. */
#ifndef VST_BUF_H
#define VST_BUF_H

#include <stddef.h>
#include <stdint.h>

enum {
    VST_BUF_E_SHORT = -1,    /* a read past the end */
    VST_BUF_E_TRAILING = -2, /* bytes left after the last field */
    VST_BUF_E_LENGTH = -8,   /* the writer would grow beyond VST_BUF_MAX */
    VST_BUF_E_NOMEM = -9,
    VST_BUF_E_ARG = -12, /* NULL where bytes are needed */
};
/* The most a writer holds: one keyd frame's payload (wire/proto.h asserts
 * VST_FRAME_MAX is the same). Nothing vst writes is larger. */
#define VST_BUF_MAX (8u * 1024 * 1024)

/* Big-endian n-byte (1..8) integers at p. */
uint64_t vst_be_get(const uint8_t *p, size_t n);
void vst_be_put(uint8_t *p, uint64_t v, size_t n);

typedef struct {
    const uint8_t *p;
    size_t len;
    size_t off;
} vst_rd;

void vst_rd_init(vst_rd *r, const void *p, size_t len);
size_t vst_rd_left(const vst_rd *r);
int vst_rd_u8(vst_rd *r, uint8_t *out);
int vst_rd_u16(vst_rd *r, uint16_t *out);
int vst_rd_u32(vst_rd *r, uint32_t *out);
int vst_rd_u64(vst_rd *r, uint64_t *out);
int vst_rd_i64(vst_rd *r, int64_t *out);
int vst_rd_view(vst_rd *r, size_t n, const uint8_t **out); /* zero copy */
int vst_rd_copy(vst_rd *r, void *out, size_t n);
int vst_rd_end(const vst_rd *r); /* VST_BUF_E_TRAILING if bytes remain */

typedef struct {
    uint8_t *buf;
    size_t len;
    size_t cap;
} vst_wr;
/* clang-format off */
#define VST_WR_INIT {NULL, 0, 0}
/* clang-format on */

void vst_wr_init(vst_wr *w);
void vst_wr_free(vst_wr *w);  /* wipe and release; w is empty again */
void vst_wr_reset(vst_wr *w); /* wipe the contents, keep the memory */
const uint8_t *vst_wr_data(const vst_wr *w);
size_t vst_wr_len(const vst_wr *w);
int vst_wr_u8(vst_wr *w, uint8_t v);
int vst_wr_u16(vst_wr *w, uint16_t v);
int vst_wr_u32(vst_wr *w, uint32_t v);
int vst_wr_u64(vst_wr *w, uint64_t v);
int vst_wr_i64(vst_wr *w, int64_t v);
int vst_wr_put(vst_wr *w, const void *p, size_t n);
/* Appends n bytes for the caller to fill in place (e.g. pseudonyms derived
 * straight into the response); *out is valid until the next put. */
int vst_wr_reserve(vst_wr *w, size_t n, uint8_t **out);
/* Drops (and wipes) everything after the first mark bytes. */
void vst_wr_truncate(vst_wr *w, size_t mark);
/* Overwrites n bytes at off, already written, with v big-endian (a count
 * known only at the end). */
int vst_wr_patch_be(vst_wr *w, size_t off, uint64_t v, size_t n);

#endif
