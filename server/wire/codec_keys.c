/* Key-state messages (codec_keys.h): STATUS with its list of key versions,
 * UNSEAL, PUBKEY, and the lone key version of ROTATE and RETIRE. */
#include "wire/codec_keys.h"

#include "wire/codec_fields.h"

static int flag_check(uint8_t v)
{
    return v <= 1 ? 0 : VST_PROTO_E_RANGE;
}

/* ---- empty requests, STATUS */

int vst_empty_decode(const uint8_t *p, size_t len)
{
    (void)p;
    return len == 0 ? 0 : VST_PROTO_E_TRAILING;
}

static int status_check(const vst_status_ok *m)
{
    TRY(flag_check(m->sealed));
    return flag_check(m->dev_master);
}

static int version_info_check(const vst_version_info *v)
{
    TRY(version_check(v->version));
    return v->state >= VST_KEY_CURRENT && v->state <= VST_KEY_RETIRED ? 0 : VST_PROTO_E_RANGE;
}

static int rd_version_info(vst_rd *r, vst_version_info *v)
{
    uint64_t reserved;
    TRY(vst_rd_u32(r, &v->version));
    TRY(vst_rd_u8(r, &v->state));
    TRY(vst_rd_u64(r, &reserved));
    if (reserved != 0)
        return VST_PROTO_E_RESERVED;
    return version_info_check(v);
}

int vst_status_ok_decode(const uint8_t *p, size_t len, vst_status_ok *out)
{
    vst_rd r;
    if (len < VST_STATUS_FIXED_LEN)
        return VST_PROTO_E_SHORT;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u8(&r, &out->sealed));
    TRY(vst_rd_u8(&r, &out->dev_master));
    TRY(vst_rd_u8(&r, &out->shares_have));
    TRY(vst_rd_u8(&r, &out->shares_need));
    TRY(vst_rd_u32(&r, &out->current_version));
    TRY(vst_rd_u64(&r, &out->minute_used));
    TRY(vst_rd_u64(&r, &out->minute_limit));
    TRY(vst_rd_u64(&r, &out->day_used));
    TRY(vst_rd_u64(&r, &out->day_limit));
    TRY(vst_rd_copy(&r, out->signing_pubkey, sizeof out->signing_pubkey));
    TRY(vst_rd_u16(&r, &out->nversions));
    TRY(status_check(out));
    size_t want = (size_t)out->nversions * VST_VERSION_ENTRY_LEN;
    if (vst_rd_left(&r) != want)
        return vst_rd_left(&r) < want ? VST_PROTO_E_SHORT : VST_PROTO_E_TRAILING;
    TRY(vst_rd_view(&r, want, &out->versions));
    vst_version_info v;
    for (size_t i = 0; i < out->nversions; i++)
        TRY(vst_status_version(out, i, &v));
    return 0;
}

int vst_status_version(const vst_status_ok *m, size_t i, vst_version_info *out)
{
    if (i >= m->nversions)
        return VST_PROTO_E_RANGE;
    vst_rd r;
    vst_rd_init(&r, m->versions + i * VST_VERSION_ENTRY_LEN, VST_VERSION_ENTRY_LEN);
    return rd_version_info(&r, out);
}

static int put_status_fixed(vst_wr *w, const vst_status_ok *m)
{
    TRY(vst_wr_u8(w, m->sealed));
    TRY(vst_wr_u8(w, m->dev_master));
    TRY(vst_wr_u8(w, m->shares_have));
    TRY(vst_wr_u8(w, m->shares_need));
    TRY(vst_wr_u32(w, m->current_version));
    TRY(vst_wr_u64(w, m->minute_used));
    TRY(vst_wr_u64(w, m->minute_limit));
    TRY(vst_wr_u64(w, m->day_used));
    TRY(vst_wr_u64(w, m->day_limit));
    TRY(vst_wr_put(w, m->signing_pubkey, sizeof m->signing_pubkey));
    return vst_wr_u16(w, 0); /* nversions, patched by every add */
}

int vst_status_ok_begin(vst_list_builder *b, vst_wr *w, const vst_status_ok *m)
{
    TRY(status_check(m));
    size_t mark = vst_wr_len(w);
    TRY(wr_rollback(w, mark, put_status_fixed(w, m)));
    b->w = w;
    b->count_off = vst_wr_len(w) - 2;
    b->n = 0;
    return 0;
}

static int put_version_info(vst_wr *w, const vst_version_info *v)
{
    TRY(vst_wr_u32(w, v->version));
    TRY(vst_wr_u8(w, v->state));
    return vst_wr_u64(w, 0);
}

int vst_status_ok_add(vst_list_builder *b, const vst_version_info *v)
{
    TRY(version_info_check(v));
    if (b->n >= 0xffffu)
        return VST_PROTO_E_RANGE;
    size_t mark = vst_wr_len(b->w);
    TRY(wr_rollback(b->w, mark, put_version_info(b->w, v)));
    b->n++;
    builder_patch(b);
    return 0;
}

/* ---- UNSEAL */

static int unseal_req_check(const vst_unseal_req *m)
{
    return m->index >= 1 ? 0 : VST_PROTO_E_RANGE;
}

int vst_unseal_req_decode(const uint8_t *p, size_t len, vst_unseal_req *out)
{
    vst_rd r;
    if (len != 1 + VST_KEYSTORE_ID_LEN + VST_SHARE_LEN)
        return len < 49 ? VST_PROTO_E_SHORT : VST_PROTO_E_TRAILING;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u8(&r, &out->index));
    TRY(vst_rd_copy(&r, out->keystore_id, VST_KEYSTORE_ID_LEN));
    TRY(vst_rd_view(&r, VST_SHARE_LEN, &out->share));
    TRY(unseal_req_check(out));
    return vst_rd_end(&r);
}

static int put_unseal_req(vst_wr *w, const vst_unseal_req *in)
{
    TRY(vst_wr_u8(w, in->index));
    TRY(vst_wr_put(w, in->keystore_id, VST_KEYSTORE_ID_LEN));
    return vst_wr_put(w, in->share, VST_SHARE_LEN);
}

int vst_unseal_req_encode(vst_wr *w, const vst_unseal_req *in)
{
    if (in->share == NULL)
        return VST_PROTO_E_ARG;
    TRY(unseal_req_check(in));
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_unseal_req(w, in));
}

static int unseal_ok_check(const vst_unseal_ok *m)
{
    return m->result <= VST_UNSEAL_ROLLBACK ? 0 : VST_PROTO_E_RANGE;
}

int vst_unseal_ok_decode(const uint8_t *p, size_t len, vst_unseal_ok *out)
{
    if (len != 3)
        return len < 3 ? VST_PROTO_E_SHORT : VST_PROTO_E_TRAILING;
    out->result = p[0];
    out->have = p[1];
    out->need = p[2];
    return unseal_ok_check(out);
}

int vst_unseal_ok_encode(vst_wr *w, const vst_unseal_ok *in)
{
    TRY(unseal_ok_check(in));
    uint8_t b[3] = {in->result, in->have, in->need};
    return vst_wr_put(w, b, sizeof b);
}

/* ---- PUBKEY */

int vst_pubkey_ok_decode(const uint8_t *p, size_t len, vst_pubkey_ok *out)
{
    return rd_blob(p, len, out->key, sizeof out->key);
}

int vst_pubkey_ok_encode(vst_wr *w, const vst_pubkey_ok *in)
{
    return vst_wr_put(w, in->key, sizeof in->key);
}

/* ---- ROTATE, RETIRE */

int vst_keyver_decode(const uint8_t *p, size_t len, vst_keyver_msg *out)
{
    if (len != 4)
        return len < 4 ? VST_PROTO_E_SHORT : VST_PROTO_E_TRAILING;
    out->version = (uint32_t)vst_be_get(p, 4);
    return version_check(out->version);
}

int vst_keyver_encode(vst_wr *w, const vst_keyver_msg *in)
{
    TRY(version_check(in->version));
    return vst_wr_u32(w, in->version);
}
