/* The checked buffer: the one way binary data is read and written
 * (keyd frames, the keystore's sealed files, keyd's state files, signed
 * structures, re-key arrays, PostgreSQL's binary COPY output) — in the
 * manner of OpenSSH's sshbuf.
 *
 *   vst_rd  a reader over bytes it does not own: every getter fails rather
 *           than read past the end, and leaves the cursor and *out
 *           untouched on failure; vst_rd_end tells trailing bytes.
 *   vst_wr  a writer whose memory is wiped when it grows and when it is
 *           freed (it may hold identifiers and keys); a failed put leaves
 *           the contents unchanged. Growable on the heap (vst_wr_init), or
 *           over a fixed block of the caller's (vst_wr_init_fixed: a
 *           signed structure on the stack, a plaintext in the secure heap),
 *           where a put that does not fit fails instead of growing.
 *
 * Integers are big-endian; str8 is a u8 length and that many bytes.
 * Functions returning int return 0 or a negative VST_BUF_E_* value (the
 * same numbers as wire/proto.h's VST_PROTO_E_*).
 *
 * Opacity: the structs are declared here, and that is deliberate. A reader
 * lives on the stack on hot paths (one per keyd frame, one per COPY tuple)
 * and a fixed writer wraps stack or secure-heap memory; an opaque,
 * heap-only buffer would cost an allocation and a failure path for each,
 * and would put secrets on the ordinary heap. The fields are private
 * nonetheless: nothing outside buf.c reads or writes them; use the
 * functions (vst_wr_capacity for memory accounting). */
#ifndef VST_BUF_H
#define VST_BUF_H

#include <stddef.h>
#include <stdint.h>

enum {
    VST_BUF_E_SHORT = -1,    /* a read past the end */
    VST_BUF_E_TRAILING = -2, /* bytes left after the last field */
    VST_BUF_E_RANGE = -3,    /* a str8 too long for its length byte or its destination */
    VST_BUF_E_LENGTH = -8,   /* the writer would grow beyond VST_BUF_MAX or its block */
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
/* A str8 into out[0..cap) as a C string: VST_BUF_E_RANGE when it does not
 * fit with its NUL (len >= cap) or holds a NUL byte of its own. */
int vst_rd_str8(vst_rd *r, char *out, size_t cap);
int vst_rd_end(const vst_rd *r); /* VST_BUF_E_TRAILING if bytes remain */

typedef struct {
    uint8_t *buf;
    size_t len;
    size_t cap;
    int fixed; /* buf is the caller's block: never grown or released */
} vst_wr;
/* clang-format off */
#define VST_WR_INIT {NULL, 0, 0, 0}
/* clang-format on */

void vst_wr_init(vst_wr *w);
/* A writer over mem[0..cap), which stays the caller's: puts beyond cap
 * fail with VST_BUF_E_LENGTH. vst_wr_free wipes all of mem and leaves an
 * empty heap writer; a writer whose bytes the caller keeps is just left. */
void vst_wr_init_fixed(vst_wr *w, void *mem, size_t cap);
void vst_wr_free(vst_wr *w);  /* wipe and release; w is empty again */
void vst_wr_reset(vst_wr *w); /* wipe the contents, keep the memory */
const uint8_t *vst_wr_data(const vst_wr *w);
size_t vst_wr_len(const vst_wr *w);
/* Bytes of memory the writer holds (its block, for a fixed writer). */
size_t vst_wr_capacity(const vst_wr *w);
int vst_wr_u8(vst_wr *w, uint8_t v);
int vst_wr_u16(vst_wr *w, uint16_t v);
int vst_wr_u32(vst_wr *w, uint32_t v);
int vst_wr_u64(vst_wr *w, uint64_t v);
int vst_wr_i64(vst_wr *w, int64_t v);
int vst_wr_put(vst_wr *w, const void *p, size_t n);
/* u8 n and the n bytes at s; VST_BUF_E_RANGE (nothing written) if n > 255. */
int vst_wr_str8(vst_wr *w, const void *s, size_t n);
/* Appends n bytes for the caller to fill in place (e.g. pseudonyms derived
 * straight into the response); *out is valid until the next put. */
int vst_wr_reserve(vst_wr *w, size_t n, uint8_t **out);
/* Drops (and wipes) everything after the first mark bytes. */
void vst_wr_truncate(vst_wr *w, size_t mark);
/* Overwrites n bytes at off, already written, with v big-endian (a count
 * known only at the end). */
int vst_wr_patch_be(vst_wr *w, size_t off, uint64_t v, size_t n);

#endif
