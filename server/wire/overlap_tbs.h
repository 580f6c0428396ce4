/* The signed form of an overlap answer (DESIGN.md §13): vst-keyd builds it
 * from its own answer and signs it (OVERLAP_SIGN); vst-audit verify-report
 * rebuilds it from the JSON report to check the signature. No value of any
 * record is in it.
 *
 *   TBS = "vst/overlap/1" 0x00 || u64 audit_seq || str8 domain
 *         || str8 collection_a || str8 filter_a || str8 collection_b
 *         || str8 filter_b || u64 a || u64 b || u8 suppressed
 *         || u64 overlap || u16 k || u8 n || n x (str8 key_name, u64 links)
 *         || u8 reason
 * all integers big-endian; overlap and links are 0 when suppressed. */
#ifndef VST_OVERLAP_TBS_H
#define VST_OVERLAP_TBS_H

#include <stddef.h>
#include <stdint.h>

#include "wire/codec_link.h"

#define VST_OVERLAP_TBS_MAX 1024

typedef struct {
    uint64_t audit_seq;
    const char *domain, *collection_a, *filter_a, *collection_b, *filter_b;
    vst_overlap_result r;
} vst_overlap_signed;

/* Writes the TBS into out; returns its length, or 0 if a string is too
 * long or a field out of range. */
size_t vst_overlap_tbs(const vst_overlap_signed *s, uint8_t out[VST_OVERLAP_TBS_MAX]);

#endif
