/* Signing messages: SIGN_RECEIPT and SIGN_CHECKPOINT requests and the
 * signature both are answered with (docs/keyd-protocol.md). The requests
 * carry the byte strings of core/signed.h unchanged. Conventions: codec.h. */
#ifndef VST_WIRE_CODEC_SIGN_H
#define VST_WIRE_CODEC_SIGN_H

#include "core/signed.h"
#include "wire/codec.h"

/* SIGN_RECEIPT request: the receipt fields of signed.h, in the encoding
 * that is also signed (vst_receipt_encode). */
int vst_receipt_req_decode(const uint8_t *p, size_t len, vst_receipt_fields *out);
int vst_receipt_req_encode(vst_wr *w, const vst_receipt_fields *in);

/* SIGN_CHECKPOINT request (vst_checkpoint_encode's layout). */
typedef struct {
    uint64_t seq;
    uint8_t head[VST_SHA256_LEN];
    int64_t time_us;
} vst_checkpoint_req;

int vst_checkpoint_req_decode(const uint8_t *p, size_t len, vst_checkpoint_req *out);
int vst_checkpoint_req_encode(vst_wr *w, const vst_checkpoint_req *in);

/* The response of both: an Ed25519 signature. */
typedef struct {
    uint8_t sig[VST_ED25519_SIG_LEN];
} vst_sig_ok;

int vst_sig_ok_decode(const uint8_t *p, size_t len, vst_sig_ok *out);
int vst_sig_ok_encode(vst_wr *w, const vst_sig_ok *in);

#endif
