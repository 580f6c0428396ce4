/* Signing messages (codec_sign.h): the SIGN_RECEIPT and SIGN_CHECKPOINT
 * requests, whose payloads are core/signed.h's encodings, SIGN_RECEIPTS (a
 * batch of SIGN_RECEIPT payloads), the SIGN_REPORT request (a kind and a
 * digest), and the signatures that answer them. */
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

/* ---- SIGN_RECEIPTS */

static int receipts_count_check(size_t count)
{
    return count >= 1 && count <= VST_SIGN_RECEIPTS_MAX ? 0 : VST_PROTO_E_RANGE;
}

int vst_receipts_item_decode(const uint8_t **p, const uint8_t *end, vst_receipt_fields *out)
{
    if (p == NULL || *p == NULL || end == NULL || end < *p || out == NULL)
        return VST_PROTO_E_ARG;
    vst_rd r;
    uint16_t n;
    const uint8_t *enc;
    vst_rd_init(&r, *p, (size_t)(end - *p));
    TRY(vst_rd_u16(&r, &n));
    TRY(vst_rd_view(&r, n, &enc));
    TRY(vst_receipt_req_decode(enc, n, out));
    *p = enc + n;
    return 0;
}

/* u16 len, then the receipt; the length is patched in once it is known. */
static int put_item(vst_wr *w, const vst_receipt_fields *in)
{
    size_t at = vst_wr_len(w);
    TRY(vst_wr_u16(w, 0));
    TRY(vst_receipt_req_encode(w, in));
    return vst_wr_patch_be(w, at, vst_wr_len(w) - at - 2, 2);
}

int vst_receipts_item_encode(vst_wr *w, const vst_receipt_fields *in)
{
    if (in == NULL)
        return VST_PROTO_E_ARG;
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_item(w, in));
}

/* Every item is decoded once here, so that a request that decodes is
 * valid throughout and keyd refuses a batch with one bad receipt whole. */
static int items_check(const vst_receipts_req *m)
{
    const uint8_t *at = m->items, *end = m->items + m->items_len;
    vst_receipt_fields scratch;
    for (uint32_t i = 0; i < m->count; i++)
        TRY(vst_receipts_item_decode(&at, end, &scratch));
    return at == end ? 0 : VST_PROTO_E_TRAILING;
}

int vst_receipts_req_decode(const uint8_t *p, size_t len, vst_receipts_req *out)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u16(&r, &out->count));
    TRY(receipts_count_check(out->count));
    /* The count bounds the length before any item is looked at. */
    if (vst_rd_left(&r) < (size_t)out->count * VST_RECEIPTS_ITEM_MIN)
        return VST_PROTO_E_SHORT;
    if (vst_rd_left(&r) > (size_t)out->count * VST_RECEIPTS_ITEM_MAX)
        return VST_PROTO_E_TRAILING;
    out->items_len = vst_rd_left(&r);
    TRY(vst_rd_view(&r, out->items_len, &out->items));
    return items_check(out);
}

static int put_receipts(vst_wr *w, const vst_receipt_fields *f, size_t n)
{
    TRY(vst_wr_u16(w, (uint16_t)n));
    for (size_t i = 0; i < n; i++)
        TRY(put_item(w, &f[i]));
    return 0;
}

int vst_receipts_req_encode(vst_wr *w, const vst_receipt_fields *f, size_t n)
{
    if (f == NULL)
        return VST_PROTO_E_ARG;
    TRY(receipts_count_check(n));
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_receipts(w, f, n));
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

/* ---- the signatures of SIGN_RECEIPTS */

int vst_sigs_ok_decode(const uint8_t *p, size_t len, vst_sigs_ok *out)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u16(&r, &out->count));
    TRY(receipts_count_check(out->count));
    TRY(vst_rd_view(&r, (size_t)out->count * VST_ED25519_SIG_LEN, &out->sigs));
    return vst_rd_end(&r);
}

int vst_sigs_ok_encode(vst_wr *w, const vst_sigs_ok *in)
{
    TRY(receipts_count_check(in->count));
    if (in->sigs == NULL)
        return VST_PROTO_E_ARG;
    size_t mark = vst_wr_len(w);
    int rc = vst_wr_u16(w, in->count);
    if (rc == 0)
        rc = vst_wr_put(w, in->sigs, (size_t)in->count * VST_ED25519_SIG_LEN);
    return wr_rollback(w, mark, rc);
}
