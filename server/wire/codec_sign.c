/* Signing messages (codec_sign.h): the SIGN_RECEIPT and SIGN_CHECKPOINT
 * requests, whose payloads are core/signed.h's encodings, the SIGN_REPORT
 * request (a kind and a digest), and the signature that answers all. */
#include "wire/codec_sign.h"

#include "core/secmem.h"
#include "wire/codec_fields.h"

/* ---- SIGN_RECEIPT */

int vst_receipt_req_decode(const uint8_t *p, size_t len, vst_receipt_fields *out)
{
    vst_rd r;
    if (len < VST_RECEIPT_ENC_MIN)
        return VST_PROTO_E_SHORT;
    if (len > VST_RECEIPT_ENC_MAX)
        return VST_PROTO_E_TRAILING;
    vst_rd_init(&r, p, len);
    TRY(rd_str8(&r, out->delivery_id, VST_DELIVERY_ID_MAX, vst_delivery_id_ok));
    TRY(rd_str8(&r, out->client, VST_CLIENT_NAME_MAX, vst_client_name_ok));
    TRY(rd_str8(&r, out->profile, VST_PROFILE_NAME_MAX, vst_profile_name_ok));
    /* The three strings fix the length of the rest exactly. keyd signs v2
     * receipts only (v1 receipts are verified, never made any more), so
     * the payload has one layout and none is a prefix of another. */
    if (vst_rd_left(&r) != VST_RECEIPT_FIXED_LEN_V2)
        return vst_rd_left(&r) < VST_RECEIPT_FIXED_LEN_V2 ? VST_PROTO_E_SHORT
                                                          : VST_PROTO_E_TRAILING;
    out->version = VST_RECEIPT_V2;
    TRY(vst_rd_u64(&r, &out->record_count));
    TRY(vst_rd_copy(&r, out->body_sha256, sizeof out->body_sha256));
    TRY(vst_rd_u32(&r, &out->key_version));
    TRY(vst_rd_i64(&r, &out->received_at_us));
    TRY(vst_rd_i64(&r, &out->stored_at_us));
    TRY(vst_rd_u64(&r, &out->audit_seq));
    TRY(vst_rd_u64(&r, &out->withheld_count));
    /* The encoder's own check, so both sides agree on every rule. */
    if (!vst_receipt_fields_ok(out))
        return VST_PROTO_E_RANGE;
    return vst_rd_end(&r);
}

int vst_receipt_req_encode(vst_wr *w, const vst_receipt_fields *in)
{
    uint8_t buf[VST_RECEIPT_ENC_MAX];
    size_t n = in->version == VST_RECEIPT_V2 ? vst_receipt_encode(in, buf) : 0;
    int rc = n == 0 ? VST_PROTO_E_RANGE : vst_wr_put(w, buf, n);
    vst_wipe(buf, sizeof buf);
    return rc;
}

/* ---- SIGN_CHECKPOINT */

int vst_checkpoint_req_decode(const uint8_t *p, size_t len, vst_checkpoint_req *out)
{
    vst_rd r;
    if (len != VST_CHECKPOINT_ENC_LEN)
        return len < VST_CHECKPOINT_ENC_LEN ? VST_PROTO_E_SHORT : VST_PROTO_E_TRAILING;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u64(&r, &out->seq));
    TRY(vst_rd_copy(&r, out->head, sizeof out->head));
    TRY(vst_rd_i64(&r, &out->time_us));
    return vst_rd_end(&r);
}

int vst_checkpoint_req_encode(vst_wr *w, const vst_checkpoint_req *in)
{
    uint8_t buf[VST_CHECKPOINT_ENC_LEN];
    vst_checkpoint_encode(in->seq, in->head, in->time_us, buf);
    return vst_wr_put(w, buf, sizeof buf);
}

/* ---- SIGN_REPORT */

int vst_report_req_decode(const uint8_t *p, size_t len, vst_report_req *out)
{
    vst_rd r;
    if (len != VST_REPORT_REQ_LEN)
        return len < VST_REPORT_REQ_LEN ? VST_PROTO_E_SHORT : VST_PROTO_E_TRAILING;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u8(&r, &out->kind));
    TRY(vst_rd_copy(&r, out->digest, sizeof out->digest));
    return vst_rd_end(&r);
}

int vst_report_req_encode(vst_wr *w, const vst_report_req *in)
{
    size_t mark = vst_wr_len(w);
    int rc = vst_wr_u8(w, in->kind);
    if (rc == 0)
        rc = vst_wr_put(w, in->digest, sizeof in->digest);
    return wr_rollback(w, mark, rc);
}

/* ---- the signature */

int vst_sig_ok_decode(const uint8_t *p, size_t len, vst_sig_ok *out)
{
    return rd_blob(p, len, out->sig, sizeof out->sig);
}

int vst_sig_ok_encode(vst_wr *w, const vst_sig_ok *in)
{
    return vst_wr_put(w, in->sig, sizeof in->sig);
}
