/* The error frame (type 0x7f): a u16 code of vst-keyd's, from the error
 * registry (core/vst_error.def, VST_KEYD_ERR lines). Conventions: codec.h. */
#ifndef VST_WIRE_CODEC_ERROR_H
#define VST_WIRE_CODEC_ERROR_H

#include "wire/codec.h"

typedef struct {
    uint16_t code; /* vst_keyd_err */
} vst_error_msg;

/* Both refuse a code outside the registry (VST_PROTO_E_RANGE). */
int vst_error_decode(const uint8_t *p, size_t len, vst_error_msg *out);
int vst_error_encode(vst_wr *w, const vst_error_msg *in);

#endif
