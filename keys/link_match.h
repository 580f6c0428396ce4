/* The count-only linkage of two collections (DESIGN.md §13,
 * docs/linkage.md "How keyd links"): pure, no I/O, no keys. vst-keyd calls
 * it with the inner control values of both sides after removing the
 * collection layers; the benchmark calls it directly.
 *
 * Records are arrays of VST_LINK_NKEYS inner values of 16 bytes (96 bytes
 * per record, the order of vst_link_key_name). Passes run from key 0 (the
 * strictest) to key VST_LINK_NKEYS-1 (the most tolerant). In pass k a
 * record of a and a record of b are linked when
 *   - neither is linked yet, and
 *   - their key-k values are equal, and
 *   - that value occurs exactly once among ALL records of a and exactly
 *     once among ALL records of b (a value shared by two records of one
 *     side is ambiguous and never links, whatever happened before).
 * links[k] counts the links made in pass k; the overlap is their sum.
 * Time O(n) per pass (open addressing over the first 8 bytes of each value,
 * which are uniformly distributed); memory: see vst_link_match_bytes. */
#ifndef VST_LINK_MATCH_H
#define VST_LINK_MATCH_H

#include <stddef.h>
#include <stdint.h>

#include "wire/codec_link.h" /* VST_LINK_NKEYS, VST_CV_RECORD_LEN */

typedef struct {
    uint64_t links[VST_LINK_NKEYS];
    uint64_t overlap;
} vst_link_counts;

/* Working memory vst_link_match allocates for na x nb records (besides the
 * caller's 96 bytes per record), for sizing and the query limit. */
size_t vst_link_match_bytes(size_t na, size_t nb);

/* Links a[0..na) with b[0..nb) (each 96 bytes per record). Optional
 * pair_a / pair_b (may be NULL): for each record, the index of the record
 * of the other side it was linked to, or SIZE_MAX; the benchmark uses them
 * to score precision, keyd passes NULL. 0, or -1 when out of memory (then
 * *out is zeroed). Wipes its working memory before it returns. */
int vst_link_match(const uint8_t *a, size_t na, const uint8_t *b, size_t nb, vst_link_counts *out,
                   size_t *pair_a, size_t *pair_b);

#endif
