/* Exception-list messages (codec_case.h): DISCLOSE and OBJECT requests and
 * their answers. Each is checked whole: the domain's grammar, the lengths,
 * existed 0/1, the count against the length before any entry is viewed,
 * versions strictly ascending. */
#include "wire/codec_case.h"

#include <string.h>

#include "wire/codec_fields.h"

static int domain_ok(const char *s, size_t n)
{
    return strlen(s) == n && vst_domain_name_ok(s);
}

static int domain_check(const char *d)
{
    size_t n = strnlen(d, VST_DOMAIN_MAXLEN + 1);
    if (n == 0 || n > VST_DOMAIN_MAXLEN)
        return VST_PROTO_E_RANGE;
    return vst_domain_name_ok(d) ? 0 : VST_PROTO_E_CHARSET;
}

/* ---- DISCLOSE */

int vst_disclose_req_decode(const uint8_t *p, size_t len, vst_disclose_req *out)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    TRY(rd_str8(&r, out->domain, VST_DOMAIN_MAXLEN, domain_ok));
    TRY(vst_rd_u32(&r, &out->key_version));
    TRY(version_check(out->key_version));
    TRY(vst_rd_copy(&r, out->pseudonym, VST_PSEUDONYM_LEN));
    return vst_rd_end(&r);
}

static int put_disclose_req(vst_wr *w, const vst_disclose_req *in)
{
    TRY(wr_str8(w, in->domain, strlen(in->domain)));
    TRY(vst_wr_u32(w, in->key_version));
    return vst_wr_put(w, in->pseudonym, VST_PSEUDONYM_LEN);
}

int vst_disclose_req_encode(vst_wr *w, const vst_disclose_req *in)
{
    TRY(domain_check(in->domain));
    TRY(version_check(in->key_version));
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_disclose_req(w, in));
}

/* ---- OBJECT */

static int id_len_check(uint8_t n)
{
    return n >= 1 && n <= VST_ID_LEN_MAX ? 0 : VST_PROTO_E_RANGE;
}

int vst_object_req_decode(const uint8_t *p, size_t len, vst_object_req *out)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    TRY(rd_str8(&r, out->domain, VST_DOMAIN_MAXLEN, domain_ok));
    TRY(vst_rd_u8(&r, &out->id_len));
    TRY(id_len_check(out->id_len));
    TRY(vst_rd_view(&r, out->id_len, &out->id));
    return vst_rd_end(&r);
}

static int put_object_req(vst_wr *w, const vst_object_req *in)
{
    TRY(wr_str8(w, in->domain, strlen(in->domain)));
    TRY(vst_wr_u8(w, in->id_len));
    return vst_wr_put(w, in->id, in->id_len);
}

int vst_object_req_encode(vst_wr *w, const vst_object_req *in)
{
    TRY(domain_check(in->domain));
    TRY(id_len_check(in->id_len));
    if (in->id == NULL)
        return VST_PROTO_E_ARG;
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_object_req(w, in));
}

/* ---- the answers */

static size_t entry_len(const vst_case_ok *m)
{
    return m->with_star ? VST_DISCLOSE_ENTRY_LEN : VST_OBJECT_ENTRY_LEN;
}

void vst_case_ok_at(const vst_case_ok *m, uint16_t i, vst_case_entry *e)
{
    const uint8_t *b = m->entries + (size_t)i * entry_len(m);
    e->version = vst_index_at(b, 0);
    e->p = b + 4;
    e->p_star = m->with_star ? b + 4 + VST_PSEUDONYM_LEN : NULL;
}

/* existed 0/1, n >= 1, versions >= 1 and strictly ascending. */
static int case_ok_check(const vst_case_ok *m)
{
    if (m->existed > 1 || m->n == 0)
        return VST_PROTO_E_RANGE;
    uint32_t prev = 0;
    for (uint16_t i = 0; i < m->n; i++) {
        vst_case_entry e;
        vst_case_ok_at(m, i, &e);
        if (e.version <= prev)
            return VST_PROTO_E_RANGE;
        prev = e.version;
    }
    return 0;
}

static int case_ok_decode(const uint8_t *p, size_t len, vst_case_ok *out, uint8_t with_star)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    out->with_star = with_star;
    TRY(vst_rd_copy(&r, out->case_id, VST_CASE_ID_LEN));
    TRY(vst_rd_u8(&r, &out->existed));
    TRY(vst_rd_u16(&r, &out->n));
    if (out->existed > 1 || out->n == 0)
        return VST_PROTO_E_RANGE;
    /* n <= 65535 entries of at most 36 bytes: no overflow. */
    TRY(vst_rd_view(&r, (size_t)out->n * entry_len(out), &out->entries));
    TRY(vst_rd_end(&r));
    return case_ok_check(out);
}

int vst_disclose_ok_decode(const uint8_t *p, size_t len, vst_case_ok *out)
{
    return case_ok_decode(p, len, out, 1);
}

int vst_object_ok_decode(const uint8_t *p, size_t len, vst_case_ok *out)
{
    return case_ok_decode(p, len, out, 0);
}

static int put_case_fixed(vst_wr *w, const vst_case_ok *m)
{
    TRY(vst_wr_put(w, m->case_id, VST_CASE_ID_LEN));
    TRY(vst_wr_u8(w, m->existed));
    return vst_wr_u16(w, 0);
}

int vst_case_ok_begin(vst_list_builder *b, vst_wr *w, const vst_case_ok *m)
{
    if (m->existed > 1 || m->with_star > 1)
        return VST_PROTO_E_RANGE;
    size_t mark = vst_wr_len(w);
    TRY(wr_rollback(w, mark, put_case_fixed(w, m)));
    b->w = w;
    b->count_off = vst_wr_len(w) - 2;
    b->n = 0;
    return 0;
}

static int put_case_entry(vst_wr *w, const vst_case_entry *e)
{
    TRY(vst_wr_u32(w, e->version));
    TRY(vst_wr_put(w, e->p, VST_PSEUDONYM_LEN));
    return e->p_star != NULL ? vst_wr_put(w, e->p_star, VST_PSEUDONYM_LEN) : 0;
}

int vst_case_ok_add(vst_list_builder *b, const vst_case_ok *m, const vst_case_entry *e)
{
    if (e->p == NULL || (e->p_star != NULL) != (m->with_star != 0))
        return VST_PROTO_E_ARG;
    /* The version before this one is the last entry's first field. */
    uint32_t prev =
        b->n > 0 ? vst_index_at(vst_wr_data(b->w) + vst_wr_len(b->w) - entry_len(m), 0) : 0;
    if (e->version <= prev || b->n >= 0xffffu)
        return VST_PROTO_E_RANGE;
    size_t mark = vst_wr_len(b->w);
    TRY(wr_rollback(b->w, mark, put_case_entry(b->w, e)));
    b->n++;
    builder_patch(b);
    return 0;
}

static int put_case_ok(vst_wr *w, const vst_case_ok *m)
{
    vst_list_builder b;
    TRY(vst_case_ok_begin(&b, w, m));
    for (uint16_t i = 0; i < m->n; i++) {
        vst_case_entry e;
        vst_case_ok_at(m, i, &e);
        TRY(vst_case_ok_add(&b, m, &e));
    }
    return 0;
}

int vst_case_ok_encode(vst_wr *w, const vst_case_ok *m)
{
    if (m->entries == NULL)
        return VST_PROTO_E_ARG;
    TRY(case_ok_check(m));
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_case_ok(w, m));
}
