/* Release messages (codec_release.h). The RELEASE_MAP decoder checks the
 * version and the count before it views the bytes the count describes, so
 * a frame's length is verified against its count before any pseudonym is
 * looked at (as for REKEY). */
#include "wire/codec_release.h"

#include "wire/codec_fields.h"

static int count_check(uint32_t count)
{
    return count >= 1 && count <= VST_BATCH_MAX ? 0 : VST_PROTO_E_RANGE;
}

/* ---- RELEASE_OPEN */

int vst_release_open_ok_decode(const uint8_t *p, size_t len, vst_release_open_ok *out)
{
    return rd_blob(p, len, out->id, sizeof out->id);
}

int vst_release_open_ok_encode(vst_wr *w, const vst_release_open_ok *in)
{
    return vst_wr_put(w, in->id, sizeof in->id);
}

/* ---- RELEASE_MAP */

int vst_release_map_req_decode(const uint8_t *p, size_t len, vst_release_map_req *out)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u32(&r, &out->from_version));
    TRY(vst_rd_u32(&r, &out->count));
    TRY(version_check(out->from_version));
    TRY(count_check(out->count));
    /* count <= 65536: at most 1 MiB, no overflow. */
    TRY(vst_rd_view(&r, (size_t)out->count * VST_PSEUDONYM_LEN, &out->pseudonyms));
    return vst_rd_end(&r);
}

static int put_map_req(vst_wr *w, const vst_release_map_req *in)
{
    TRY(vst_wr_u32(w, in->from_version));
    TRY(vst_wr_u32(w, in->count));
    return vst_wr_put(w, in->pseudonyms, (size_t)in->count * VST_PSEUDONYM_LEN);
}

int vst_release_map_req_encode(vst_wr *w, const vst_release_map_req *in)
{
    TRY(version_check(in->from_version));
    TRY(count_check(in->count));
    if (in->pseudonyms == NULL)
        return VST_PROTO_E_ARG;
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_map_req(w, in));
}

int vst_release_map_ok_decode(const uint8_t *p, size_t len, vst_release_map_ok *out)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u32(&r, &out->count));
    TRY(count_check(out->count));
    TRY(vst_rd_view(&r, (size_t)out->count * VST_PSEUDONYM_LEN, &out->pseudonyms));
    TRY(rd_index_list(&r, out->count, &out->nexcluded, &out->excluded));
    return vst_rd_end(&r);
}

static int put_map_ok(vst_wr *w, const vst_release_map_ok *in)
{
    TRY(vst_wr_u32(w, in->count));
    TRY(vst_wr_put(w, in->pseudonyms, (size_t)in->count * VST_PSEUDONYM_LEN));
    return wr_index_list(w, in->nexcluded, in->excluded);
}

int vst_release_map_ok_encode(vst_wr *w, const vst_release_map_ok *in)
{
    TRY(count_check(in->count));
    if (in->pseudonyms == NULL)
        return VST_PROTO_E_ARG;
    TRY(index_list_check(in->count, in->nexcluded, in->excluded));
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_map_ok(w, in));
}
