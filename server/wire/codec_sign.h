/* Signing messages: SIGN_RECEIPT, SIGN_CHECKPOINT and SIGN_REPORT requests
 * and the signature all three are answered with (docs/keyd-protocol.md).
 * The requests carry the byte strings of core/signed.h unchanged, or (a
 * report) its kind and digest. Conventions: codec.h. */
#ifndef VST_WIRE_CODEC_SIGN_H
#define VST_WIRE_CODEC_SIGN_H

#include "core/signed.h"
#include "wire/codec.h"

/* SIGN_RECEIPT request: the fields of a v2 receipt (signed.h), in the
 * encoding that is also signed (vst_receipt_encode). keyd makes v2
 * receipts only: the encoder refuses v1 fields, the decoder sets version
 * to VST_RECEIPT_V2. */
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

/* SIGN_REPORT request: exactly 33 bytes, u8 kind || digest[32]. Any kind
 * byte decodes: which kinds keyd signs is keyd's answer (invalid_argument
 * for one without a context, core/signed.h), not a malformed frame. */
#define VST_REPORT_REQ_LEN (1 + VST_SHA256_LEN)
typedef struct {
    uint8_t kind; /* VST_REPORT_KIND_* */
    uint8_t digest[VST_SHA256_LEN];
} vst_report_req;

int vst_report_req_decode(const uint8_t *p, size_t len, vst_report_req *out);
int vst_report_req_encode(vst_wr *w, const vst_report_req *in);

/* The response of all three: an Ed25519 signature. */
typedef struct {
    uint8_t sig[VST_ED25519_SIG_LEN];
} vst_sig_ok;

int vst_sig_ok_decode(const uint8_t *p, size_t len, vst_sig_ok *out);
int vst_sig_ok_encode(vst_wr *w, const vst_sig_ok *in);

#endif
