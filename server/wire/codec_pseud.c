/* Pseudonym messages (codec_pseud.h): PSEUDONYMIZE requests and responses
 * in sections, REKEY requests and responses. Batch decoders check each
 * count against its limit before the bytes it describes are viewed, so the
 * size a frame's counts describe is verified against its length before
 * any identifier or pseudonym is looked at. */
#include "wire/codec_pseud.h"

#include <string.h>

#include "core/domain.h"
#include "wire/codec_fields.h"

static int blocks_count_check(uint32_t count)
{
    return count >= 1 && count <= VST_BATCH_MAX ? 0 : VST_PROTO_E_RANGE;
}

/* Adds count to *total, both within 1..VST_BATCH_MAX. */
static int batch_add(uint32_t *total, uint32_t count)
{
    if (count < 1 || count > VST_BATCH_MAX - *total)
        return VST_PROTO_E_RANGE;
    *total += count;
    return 0;
}

static int sections_check(uint16_t n)
{
    return n >= 1 && n <= VST_SECTIONS_MAX ? 0 : VST_PROTO_E_RANGE;
}

/* ---- PSEUDONYMIZE */

/* Everything about a section but its identifier bytes. */
static int section_check(const vst_pseud_section *s, uint32_t *total)
{
    size_t dl = strnlen(s->domain, sizeof s->domain);
    if (dl == sizeof s->domain)
        return VST_PROTO_E_RANGE;
    if (!vst_domain_name_ok(s->domain))
        return dl == 0 ? VST_PROTO_E_RANGE : VST_PROTO_E_CHARSET;
    if (s->id_len < 1 || s->id_len > VST_ID_LEN_MAX)
        return VST_PROTO_E_RANGE;
    return batch_add(total, s->count);
}

/* The domain as read: no NUL inside, then domain.h's grammar. */
static int domain_ok(const char *s, size_t n)
{
    return strlen(s) == n && vst_domain_name_ok(s);
}

static int rd_section(vst_rd *r, vst_pseud_section *s, uint32_t *total)
{
    TRY(rd_str8(r, s->domain, VST_DOMAIN_MAXLEN, domain_ok));
    TRY(vst_rd_u8(r, &s->id_len));
    TRY(vst_rd_u32(r, &s->count));
    TRY(section_check(s, total));
    /* count <= 65536 and id_len <= 16: at most 1 MiB, no overflow. */
    return vst_rd_view(r, (size_t)s->count * s->id_len, &s->ids);
}

int vst_pseud_req_decode(const uint8_t *p, size_t len, vst_pseud_req *out)
{
    vst_rd r;
    uint32_t total = 0;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u16(&r, &out->nsections));
    TRY(sections_check(out->nsections));
    for (size_t i = 0; i < out->nsections; i++)
        TRY(rd_section(&r, &out->sec[i], &total));
    return vst_rd_end(&r);
}

static int pseud_req_check(const vst_pseud_req *m)
{
    uint32_t total = 0;
    TRY(sections_check(m->nsections));
    for (size_t i = 0; i < m->nsections; i++) {
        TRY(section_check(&m->sec[i], &total));
        if (m->sec[i].ids == NULL)
            return VST_PROTO_E_ARG;
    }
    return 0;
}

static int wr_section(vst_wr *w, const vst_pseud_section *s)
{
    TRY(wr_str8(w, s->domain, strlen(s->domain)));
    TRY(vst_wr_u8(w, s->id_len));
    TRY(vst_wr_u32(w, s->count));
    return vst_wr_put(w, s->ids, (size_t)s->count * s->id_len);
}

static int put_pseud_req(vst_wr *w, const vst_pseud_req *in)
{
    TRY(vst_wr_u16(w, in->nsections));
    for (size_t i = 0; i < in->nsections; i++)
        TRY(wr_section(w, &in->sec[i]));
    return 0;
}

int vst_pseud_req_encode(vst_wr *w, const vst_pseud_req *in)
{
    TRY(pseud_req_check(in));
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_pseud_req(w, in));
}

uint32_t vst_pseud_req_total(const vst_pseud_req *m)
{
    uint32_t total = 0;
    for (size_t i = 0; i < m->nsections && i < VST_SECTIONS_MAX; i++)
        total += m->sec[i].count;
    return total;
}

uint32_t vst_pseud_withheld_at(const vst_pseud_out *o, uint32_t j)
{
    return vst_index_at(o->withheld, j);
}

/* A section's withheld list (index_list_check), and each withheld slot's
 * 16 bytes zero: no value a caller could store by mistake. */
static int withheld_check(const vst_pseud_out *s)
{
    static const uint8_t zero[VST_PSEUDONYM_LEN];
    TRY(index_list_check(s->count, s->nwithheld, s->withheld));
    for (uint32_t j = 0; j < s->nwithheld; j++) {
        uint32_t i = vst_index_at(s->withheld, j);
        if (memcmp(s->pseudonyms + (size_t)i * VST_PSEUDONYM_LEN, zero, sizeof zero) != 0)
            return VST_PROTO_E_RESERVED;
    }
    return 0;
}

static int rd_pseud_out(vst_rd *r, vst_pseud_out *s, uint32_t *total)
{
    TRY(vst_rd_u32(r, &s->count));
    TRY(batch_add(total, s->count));
    TRY(vst_rd_view(r, (size_t)s->count * VST_PSEUDONYM_LEN, &s->pseudonyms));
    TRY(rd_index_list(r, s->count, &s->nwithheld, &s->withheld));
    return withheld_check(s);
}

int vst_pseud_ok_decode(const uint8_t *p, size_t len, vst_pseud_ok *out)
{
    vst_rd r;
    uint32_t total = 0;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u32(&r, &out->key_version));
    TRY(version_check(out->key_version));
    TRY(vst_rd_u16(&r, &out->nsections));
    TRY(sections_check(out->nsections));
    for (size_t i = 0; i < out->nsections; i++)
        TRY(rd_pseud_out(&r, &out->sec[i], &total));
    return vst_rd_end(&r);
}

static int pseud_ok_check(const vst_pseud_ok *m)
{
    uint32_t total = 0;
    TRY(version_check(m->key_version));
    TRY(sections_check(m->nsections));
    for (size_t i = 0; i < m->nsections; i++) {
        TRY(batch_add(&total, m->sec[i].count));
        if (m->sec[i].pseudonyms == NULL)
            return VST_PROTO_E_ARG;
        TRY(withheld_check(&m->sec[i]));
    }
    return 0;
}

static int put_pseud_ok(vst_wr *w, const vst_pseud_ok *in)
{
    TRY(vst_wr_u32(w, in->key_version));
    TRY(vst_wr_u16(w, in->nsections));
    for (size_t i = 0; i < in->nsections; i++) {
        const vst_pseud_out *s = &in->sec[i];
        TRY(vst_wr_u32(w, s->count));
        TRY(vst_wr_put(w, s->pseudonyms, (size_t)s->count * VST_PSEUDONYM_LEN));
        TRY(wr_index_list(w, s->nwithheld, s->withheld));
    }
    return 0;
}

int vst_pseud_ok_encode(vst_wr *w, const vst_pseud_ok *in)
{
    TRY(pseud_ok_check(in));
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_pseud_ok(w, in));
}

int vst_pseud_ok_matches(const vst_pseud_req *rq, const vst_pseud_ok *rs)
{
    if (rq->nsections != rs->nsections || rq->nsections > VST_SECTIONS_MAX)
        return 0;
    for (size_t i = 0; i < rq->nsections; i++)
        if (rq->sec[i].count != rs->sec[i].count || rs->sec[i].pseudonyms == NULL ||
            withheld_check(&rs->sec[i]) != 0)
            return 0;
    return 1;
}

/* ---- REKEY */

static int rekey_req_check(const vst_rekey_req *m)
{
    TRY(version_check(m->from_version));
    TRY(version_check(m->to_version));
    return blocks_count_check(m->count);
}

int vst_rekey_req_decode(const uint8_t *p, size_t len, vst_rekey_req *out)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u32(&r, &out->from_version));
    TRY(vst_rd_u32(&r, &out->to_version));
    TRY(vst_rd_u32(&r, &out->count));
    TRY(rekey_req_check(out));
    TRY(vst_rd_view(&r, (size_t)out->count * VST_PSEUDONYM_LEN, &out->pseudonyms));
    return vst_rd_end(&r);
}

static int put_rekey_req(vst_wr *w, const vst_rekey_req *in)
{
    TRY(vst_wr_u32(w, in->from_version));
    TRY(vst_wr_u32(w, in->to_version));
    TRY(vst_wr_u32(w, in->count));
    return vst_wr_put(w, in->pseudonyms, (size_t)in->count * VST_PSEUDONYM_LEN);
}

int vst_rekey_req_encode(vst_wr *w, const vst_rekey_req *in)
{
    TRY(rekey_req_check(in));
    if (in->pseudonyms == NULL)
        return VST_PROTO_E_ARG;
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_rekey_req(w, in));
}

int vst_rekey_ok_decode(const uint8_t *p, size_t len, vst_rekey_ok *out)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u32(&r, &out->count));
    TRY(blocks_count_check(out->count));
    TRY(vst_rd_view(&r, (size_t)out->count * VST_PSEUDONYM_LEN, &out->pseudonyms));
    return vst_rd_end(&r);
}

static int put_rekey_ok(vst_wr *w, const vst_rekey_ok *in)
{
    TRY(vst_wr_u32(w, in->count));
    return vst_wr_put(w, in->pseudonyms, (size_t)in->count * VST_PSEUDONYM_LEN);
}

int vst_rekey_ok_encode(vst_wr *w, const vst_rekey_ok *in)
{
    TRY(blocks_count_check(in->count));
    if (in->pseudonyms == NULL)
        return VST_PROTO_E_ARG;
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_rekey_ok(w, in));
}
