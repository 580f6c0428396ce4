/* The error frame (codec_error.h): a u16 code that the error registry
 * knows (core/vst_error.def). */
#include "wire/codec_error.h"

int vst_error_decode(const uint8_t *p, size_t len, vst_error_msg *out)
{
    if (len != 2)
        return len < 2 ? VST_PROTO_E_SHORT : VST_PROTO_E_TRAILING;
    out->code = (uint16_t)vst_be_get(p, 2);
    return vst_keyd_err_name(out->code) != NULL ? 0 : VST_PROTO_E_RANGE;
}

int vst_error_encode(vst_wr *w, const vst_error_msg *in)
{
    if (vst_keyd_err_name(in->code) == NULL)
        return VST_PROTO_E_RANGE;
    return vst_wr_u16(w, in->code);
}
