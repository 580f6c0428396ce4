/* What the keyd protocol's codecs share: their calling convention and the
 * builder for responses that end in a list. One header per message family
 * (codec_keys.h, codec_pseud.h, codec_sign.h, codec_events.h,
 * codec_error.h) declares its structs and functions.
 *
 * decode(p, len, out) fills out from the payload p[0..len); out is
 * unspecified on failure. It checks the exact size (or, for batches, the
 * size its counts describe, before the bytes they describe are looked at)
 * before it trusts a field, reads through the checked reader vst_rd and
 * rejects trailing bytes. Decoders point into the payload for bulk arrays
 * (identifiers, pseudonyms, the share, event strings) rather than copy:
 * the payload must outlive the struct, and must be wiped when freed
 * (vst_frame_free, vst_wr_free).
 *
 * encode(w, in) appends the payload to w, or on failure leaves w as it
 * was. Encoders apply the decoders' checks first, so nothing an encoder
 * writes is refused by its decoder.
 *
 * Functions returning int return 0 or a negative VST_PROTO_E_* value
 * (core/vst_error.h); vst_proto_strerror names it. */
#ifndef VST_WIRE_CODEC_H
#define VST_WIRE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/vst_error.h"

/* The checked buffer's failures are the protocol's results of the same
 * name: a codec passes them on unchanged. */
_Static_assert((int)VST_BUF_E_SHORT == (int)VST_PROTO_E_SHORT &&
                   (int)VST_BUF_E_TRAILING == (int)VST_PROTO_E_TRAILING &&
                   (int)VST_BUF_E_LENGTH == (int)VST_PROTO_E_LENGTH &&
                   (int)VST_BUF_E_NOMEM == (int)VST_PROTO_E_NOMEM &&
                   (int)VST_BUF_E_ARG == (int)VST_PROTO_E_ARG,
               "core/buf.h and the registry agree");

/* The j-th entry of a list of big-endian u32 indices as on the wire (the
 * PSEUDONYMIZE answer's withheld list, RELEASE_MAP's excluded list). */
static inline uint32_t vst_index_at(const uint8_t *list, uint32_t j)
{
    const uint8_t *b = list + (size_t)j * 4;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Builder for responses that end in a list (STATUS, EVENTS): begin writes
 * the fixed part and a zero count; every add appends one entry and patches
 * the count, so the payload is complete after each successful add. An add
 * that would overflow the count or the frame fails without writing (stop
 * there). */
typedef struct {
    vst_wr *w;
    size_t count_off;
    uint32_t n;
} vst_list_builder;

#endif
