/* Release messages: RELEASE_OPEN (a fresh release key on this connection,
 * answered with its id) and RELEASE_MAP (store pseudonyms of one key
 * version to release pseudonyms under that key), docs/keyd-protocol.md,
 * DESIGN.md §11. RELEASE_OPEN's request is empty (vst_empty_decode of
 * codec_keys.h). Conventions: codec.h. */
#ifndef VST_WIRE_CODEC_RELEASE_H
#define VST_WIRE_CODEC_RELEASE_H

#include "wire/codec.h"
#include "wire/codec_pseud.h" /* VST_BATCH_MAX, VST_PSEUDONYM_LEN */

#define VST_RELEASE_ID_LEN 8

/* RELEASE_OPEN response: the release's random id (it names the release in
 * keyd's events; it is not a key and derives nothing). */
typedef struct {
    uint8_t id[VST_RELEASE_ID_LEN];
} vst_release_open_ok;

int vst_release_open_ok_decode(const uint8_t *p, size_t len, vst_release_open_ok *out);
int vst_release_open_ok_encode(vst_wr *w, const vst_release_open_ok *in);

/* RELEASE_MAP request: u32 from_version (>= 1), u32 count (1..65536),
 * count x 16 pseudonym bytes; exactly 8 + 16 * count bytes. */
typedef struct {
    uint32_t from_version;
    uint32_t count;
    const uint8_t *pseudonyms; /* count * 16 bytes */
} vst_release_map_req;
/* RELEASE_MAP response: u32 count (the request's), count x 16 release
 * pseudonyms in the request's order, then u32 nexcluded and nexcluded
 * big-endian u32 indices (strictly ascending, < count): the pseudonyms of
 * persons with a disclosure or objection case (DESIGN.md §12), whose rows
 * never enter a release. Read them with vst_index_at, in order. */
typedef struct {
    uint32_t count;
    const uint8_t *pseudonyms;
    uint32_t nexcluded;
    const uint8_t *excluded; /* nexcluded * 4 bytes; may be NULL if nexcluded is 0 */
} vst_release_map_ok;

int vst_release_map_req_decode(const uint8_t *p, size_t len, vst_release_map_req *out);
int vst_release_map_req_encode(vst_wr *w, const vst_release_map_req *in);
int vst_release_map_ok_decode(const uint8_t *p, size_t len, vst_release_map_ok *out);
int vst_release_map_ok_encode(vst_wr *w, const vst_release_map_ok *in);

#endif
