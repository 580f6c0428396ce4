/* Signing messages: SIGN_RECEIPT, SIGN_RECEIPTS, SIGN_CHECKPOINT and
 * SIGN_REPORT requests, the signature three of them are answered with and
 * the signatures that answer SIGN_RECEIPTS (docs/keyd-protocol.md). The
 * requests carry the byte strings of core/signed.h unchanged, or (a
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

/* SIGN_RECEIPTS request: the receipts of a commit group, signed in one
 * round trip. u16 count (1..VST_SIGN_RECEIPTS_MAX), then count items, each
 * u16 len and len bytes of a SIGN_RECEIPT payload. An item is decoded by
 * vst_receipt_req_decode itself, so a batch admits exactly the receipts
 * that SIGN_RECEIPT admits; the length prefix lets that decoder see one
 * receipt's exact bytes. The decoder checks every item (the request is
 * valid throughout, or refused whole) and points into the payload; read
 * the receipts in order with vst_receipts_item_decode. */
#define VST_SIGN_RECEIPTS_MAX 1024u
#define VST_RECEIPTS_ITEM_MIN (2 + VST_RECEIPT_ENC_MIN)
#define VST_RECEIPTS_ITEM_MAX (2 + VST_RECEIPT_ENC_MAX)
typedef struct {
    uint16_t count;       /* 1..VST_SIGN_RECEIPTS_MAX */
    const uint8_t *items; /* the count items as on the wire, items_len bytes */
    size_t items_len;
} vst_receipts_req;

int vst_receipts_req_decode(const uint8_t *p, size_t len, vst_receipts_req *out);
/* Encodes a request from n receipts (n 1..VST_SIGN_RECEIPTS_MAX), each as
 * vst_receipt_req_encode would: v2 fields only. */
int vst_receipts_req_encode(vst_wr *w, const vst_receipt_fields *f, size_t n);
/* One item: decodes the next receipt from *p (advancing it) up to end. */
int vst_receipts_item_decode(const uint8_t **p, const uint8_t *end, vst_receipt_fields *out);
int vst_receipts_item_encode(vst_wr *w, const vst_receipt_fields *in);

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

/* SIGN_RECEIPTS response: u16 count (1..VST_SIGN_RECEIPTS_MAX, the
 * request's), then count signatures of 64 bytes in the order of the
 * request's receipts. The count makes a cut answer a short one, never a
 * shorter answer. */
typedef struct {
    uint16_t count;
    const uint8_t *sigs; /* count * VST_ED25519_SIG_LEN bytes */
} vst_sigs_ok;

int vst_sigs_ok_decode(const uint8_t *p, size_t len, vst_sigs_ok *out);
int vst_sigs_ok_encode(vst_wr *w, const vst_sigs_ok *in);

#endif
