/* Linkage messages (codec_link.h). keyd receives names only through
 * vst_person_decode: every token is 1..40 letters A-Z, the date a
 * calendar date YYYYMMDD, the sex one of M W D X, the counts in range —
 * anything else is VST_PROTO_E_FIELD, so no byte keyd hashes can carry
 * something the normalization (server/linkage/normalize.c) would not have
 * produced. Batches of control values are checked count first: the length
 * the count describes is verified before a value is looked at. */
#include "wire/codec_link.h"

#include <string.h>

#include "core/civil_time.h"
#include "core/secmem.h"
#include "wire/codec_fields.h"

static const char *const key_names[VST_LINK_NKEYS] = {"exact",    "phonetic", "swapped",
                                                      "daymonth", "year",     "birthname"};

const char *vst_link_key_name(unsigned k)
{
    return k < VST_LINK_NKEYS ? key_names[k] : NULL;
}

/* ---- names of domains and collections; filters */

static int name_ok(const char *s, size_t n)
{
    return strlen(s) == n && vst_domain_name_ok(s);
}

static int name_check(const char *s)
{
    size_t n = strnlen(s, VST_DOMAIN_MAXLEN + 1);
    if (n == 0 || n > VST_DOMAIN_MAXLEN)
        return VST_PROTO_E_RANGE;
    return vst_domain_name_ok(s) ? 0 : VST_PROTO_E_CHARSET;
}

_Static_assert(VST_COLLECTION_MAXLEN == VST_DOMAIN_MAXLEN, "one grammar for both");

/* A filter is the operator's "COL=VALUE" text, signed and logged as it is:
 * printable ASCII without the two characters JSON would have to escape. */
static int filter_byte_ok(uint8_t c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

static int filter_check(const char *s)
{
    size_t n = strnlen(s, VST_OVERLAP_FILTER_MAX + 1);
    if (n > VST_OVERLAP_FILTER_MAX)
        return VST_PROTO_E_RANGE;
    for (size_t i = 0; i < n; i++)
        if (!filter_byte_ok((uint8_t)s[i]))
            return VST_PROTO_E_CHARSET;
    return 0;
}

/* u8 len (0..VST_OVERLAP_FILTER_MAX) and the text. */
static int rd_filter(vst_rd *r, char out[VST_OVERLAP_FILTER_MAX + 1])
{
    uint8_t n;
    TRY(vst_rd_u8(r, &n));
    if (n > VST_OVERLAP_FILTER_MAX)
        return VST_PROTO_E_RANGE;
    TRY(vst_rd_copy(r, out, n));
    out[n] = '\0';
    /* Every byte of the n, a NUL among them too (the text ends at n). */
    for (uint8_t i = 0; i < n; i++)
        if (!filter_byte_ok((uint8_t)out[i]))
            return VST_PROTO_E_CHARSET;
    return 0;
}

/* ---- one person */

static int sex_ok(char s)
{
    return s == 'M' || s == 'W' || s == 'D' || s == 'X';
}

/* 8 ASCII digits YYYYMMDD of a calendar date (years 1..9999). */
static int date_ok(const char *d)
{
    for (int i = 0; i < 8; i++)
        if (d[i] < '0' || d[i] > '9')
            return 0;
    int64_t y = (d[0] - '0') * 1000 + (d[1] - '0') * 100 + (d[2] - '0') * 10 + (d[3] - '0');
    unsigned m = (unsigned)((d[4] - '0') * 10 + (d[5] - '0'));
    unsigned dd = (unsigned)((d[6] - '0') * 10 + (d[7] - '0'));
    return vst_date_valid(y, m, dd);
}

static int token_ok(const char *t, size_t n)
{
    if (n < 1 || n > VST_NAME_TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (t[i] < 'A' || t[i] > 'Z')
            return 0;
    return 1;
}

static int tokens_check(const vst_name_tokens *t, uint8_t min)
{
    if (t->n < min || t->n > VST_NAME_TOKENS_MAX)
        return VST_PROTO_E_FIELD;
    for (uint8_t i = 0; i < t->n; i++)
        if (t->len[i] != strnlen(t->tok[i], VST_NAME_TOKEN_MAX + 1) ||
            !token_ok(t->tok[i], t->len[i]))
            return VST_PROTO_E_FIELD;
    return 0;
}

static int person_check(const vst_person *p)
{
    if (!sex_ok(p->sex) || strnlen(p->date, sizeof p->date) != 8 || !date_ok(p->date))
        return VST_PROTO_E_FIELD;
    TRY(tokens_check(&p->given, 1));
    TRY(tokens_check(&p->family, 1));
    return tokens_check(&p->birth, 0);
}

static int rd_tokens(vst_rd *r, vst_name_tokens *t, uint8_t min)
{
    TRY(vst_rd_u8(r, &t->n));
    if (t->n < min || t->n > VST_NAME_TOKENS_MAX)
        return VST_PROTO_E_FIELD;
    for (uint8_t i = 0; i < t->n; i++) {
        TRY(vst_rd_u8(r, &t->len[i]));
        if (t->len[i] < 1 || t->len[i] > VST_NAME_TOKEN_MAX)
            return VST_PROTO_E_FIELD;
        TRY(vst_rd_copy(r, t->tok[i], t->len[i]));
        t->tok[i][t->len[i]] = '\0';
        if (!token_ok(t->tok[i], t->len[i]))
            return VST_PROTO_E_FIELD;
    }
    return 0;
}

static int rd_person(vst_rd *r, vst_person *out)
{
    uint8_t sex;
    TRY(vst_rd_u8(r, &sex));
    out->sex = (char)sex;
    if (!sex_ok(out->sex))
        return VST_PROTO_E_FIELD;
    TRY(vst_rd_copy(r, out->date, 8));
    out->date[8] = '\0';
    if (!date_ok(out->date))
        return VST_PROTO_E_FIELD;
    TRY(rd_tokens(r, &out->given, 1));
    TRY(rd_tokens(r, &out->family, 1));
    return rd_tokens(r, &out->birth, 0);
}

int vst_person_decode(const uint8_t **p, const uint8_t *end, vst_person *out)
{
    if (p == NULL || *p == NULL || end == NULL || end < *p || out == NULL)
        return VST_PROTO_E_ARG;
    vst_rd r;
    vst_rd_init(&r, *p, (size_t)(end - *p));
    memset(out, 0, sizeof *out);
    int rc = rd_person(&r, out);
    if (rc != 0) {
        vst_wipe(out, sizeof *out);
        return rc;
    }
    *p = end - vst_rd_left(&r);
    return 0;
}

static int put_tokens(vst_wr *w, const vst_name_tokens *t)
{
    TRY(vst_wr_u8(w, t->n));
    for (uint8_t i = 0; i < t->n; i++)
        TRY(wr_str8(w, t->tok[i], t->len[i]));
    return 0;
}

static int put_person(vst_wr *w, const vst_person *p)
{
    TRY(vst_wr_u8(w, (uint8_t)p->sex));
    TRY(vst_wr_put(w, p->date, 8));
    TRY(put_tokens(w, &p->given));
    TRY(put_tokens(w, &p->family));
    return put_tokens(w, &p->birth);
}

int vst_person_encode(vst_wr *w, const vst_person *p)
{
    if (p == NULL)
        return VST_PROTO_E_ARG;
    TRY(person_check(p));
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_person(w, p));
}

/* ---- CV_DERIVE */

static int batch_check(uint32_t count)
{
    return count >= 1 && count <= VST_CV_BATCH_MAX ? 0 : VST_PROTO_E_RANGE;
}

/* Every person of the batch is decoded once here (into a scratch struct,
 * wiped), so that a request that decodes is valid throughout. */
static int persons_check(const uint8_t *p, size_t len, uint32_t count)
{
    const uint8_t *at = p, *end = p + len;
    vst_person scratch;
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < count; i++)
        rc = vst_person_decode(&at, end, &scratch);
    vst_wipe(&scratch, sizeof scratch);
    if (rc == 0 && at != end)
        rc = VST_PROTO_E_TRAILING;
    return rc;
}

#define PERSON_MIN_LEN (1 + 8 + 3 + 2) /* sex, date, counts, two one-letter tokens */

int vst_cv_req_decode(const uint8_t *p, size_t len, vst_cv_req *out)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    TRY(rd_str8(&r, out->domain, VST_DOMAIN_MAXLEN, name_ok));
    TRY(rd_str8(&r, out->collection, VST_COLLECTION_MAXLEN, name_ok));
    TRY(vst_rd_u32(&r, &out->count));
    TRY(batch_check(out->count));
    if (vst_rd_left(&r) < (size_t)out->count * PERSON_MIN_LEN)
        return VST_PROTO_E_SHORT;
    out->persons_len = vst_rd_left(&r);
    TRY(vst_rd_view(&r, out->persons_len, &out->persons));
    return persons_check(out->persons, out->persons_len, out->count);
}

static int put_cv_req(vst_wr *w, const char *domain, const char *collection,
                      const vst_person *persons, uint32_t n)
{
    TRY(wr_str8(w, domain, strlen(domain)));
    TRY(wr_str8(w, collection, strlen(collection)));
    TRY(vst_wr_u32(w, n));
    for (uint32_t i = 0; i < n; i++)
        TRY(vst_person_encode(w, &persons[i]));
    return 0;
}

int vst_cv_req_encode(vst_wr *w, const char *domain, const char *collection,
                      const vst_person *persons, uint32_t n)
{
    if (domain == NULL || collection == NULL || persons == NULL)
        return VST_PROTO_E_ARG;
    TRY(name_check(domain));
    TRY(name_check(collection));
    TRY(batch_check(n));
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_cv_req(w, domain, collection, persons, n));
}

/* u32 count (1..16384) and count * 96 bytes, viewed after the count is
 * checked against the length. */
static int rd_values(vst_rd *r, uint32_t *count, const uint8_t **values)
{
    TRY(vst_rd_u32(r, count));
    TRY(batch_check(*count));
    return vst_rd_view(r, (size_t)*count * VST_CV_RECORD_LEN, values);
}

static int wr_values(vst_wr *w, uint32_t count, const uint8_t *values)
{
    TRY(vst_wr_u32(w, count));
    return vst_wr_put(w, values, (size_t)count * VST_CV_RECORD_LEN);
}

static int values_check(uint32_t count, const uint8_t *values)
{
    TRY(batch_check(count));
    return values != NULL ? 0 : VST_PROTO_E_ARG;
}

int vst_cv_ok_decode(const uint8_t *p, size_t len, vst_cv_ok *out)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u32(&r, &out->key_version));
    TRY(version_check(out->key_version));
    TRY(rd_values(&r, &out->count, &out->values));
    return vst_rd_end(&r);
}

static int put_cv_ok(vst_wr *w, const vst_cv_ok *in)
{
    TRY(vst_wr_u32(w, in->key_version));
    return wr_values(w, in->count, in->values);
}

int vst_cv_ok_encode(vst_wr *w, const vst_cv_ok *in)
{
    TRY(version_check(in->key_version));
    TRY(values_check(in->count, in->values));
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_cv_ok(w, in));
}

/* ---- CV_REKEY */

int vst_cv_rekey_req_decode(const uint8_t *p, size_t len, vst_cv_rekey_req *out)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    TRY(rd_str8(&r, out->collection, VST_COLLECTION_MAXLEN, name_ok));
    TRY(vst_rd_u32(&r, &out->from_version));
    TRY(vst_rd_u32(&r, &out->to_version));
    TRY(version_check(out->from_version));
    TRY(version_check(out->to_version));
    TRY(rd_values(&r, &out->count, &out->values));
    return vst_rd_end(&r);
}

static int put_rekey_req(vst_wr *w, const vst_cv_rekey_req *in)
{
    TRY(wr_str8(w, in->collection, strlen(in->collection)));
    TRY(vst_wr_u32(w, in->from_version));
    TRY(vst_wr_u32(w, in->to_version));
    return wr_values(w, in->count, in->values);
}

int vst_cv_rekey_req_encode(vst_wr *w, const vst_cv_rekey_req *in)
{
    TRY(name_check(in->collection));
    TRY(version_check(in->from_version));
    TRY(version_check(in->to_version));
    TRY(values_check(in->count, in->values));
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_rekey_req(w, in));
}

int vst_cv_rekey_ok_decode(const uint8_t *p, size_t len, vst_cv_rekey_ok *out)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    TRY(rd_values(&r, &out->count, &out->values));
    return vst_rd_end(&r);
}

int vst_cv_rekey_ok_encode(vst_wr *w, const vst_cv_rekey_ok *in)
{
    TRY(values_check(in->count, in->values));
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, wr_values(w, in->count, in->values));
}

/* ---- OVERLAP_OPEN */

static int k_check(uint16_t k)
{
    return k >= 3 ? 0 : VST_PROTO_E_RANGE;
}

int vst_overlap_open_req_decode(const uint8_t *p, size_t len, vst_overlap_open_req *out)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    TRY(rd_str8(&r, out->domain, VST_DOMAIN_MAXLEN, name_ok));
    TRY(rd_str8(&r, out->collection_a, VST_COLLECTION_MAXLEN, name_ok));
    TRY(rd_filter(&r, out->filter_a));
    TRY(rd_str8(&r, out->collection_b, VST_COLLECTION_MAXLEN, name_ok));
    TRY(rd_filter(&r, out->filter_b));
    TRY(vst_rd_u16(&r, &out->k));
    TRY(k_check(out->k));
    return vst_rd_end(&r);
}

static int put_open_req(vst_wr *w, const vst_overlap_open_req *in)
{
    TRY(wr_str8(w, in->domain, strlen(in->domain)));
    TRY(wr_str8(w, in->collection_a, strlen(in->collection_a)));
    TRY(wr_str8(w, in->filter_a, strlen(in->filter_a)));
    TRY(wr_str8(w, in->collection_b, strlen(in->collection_b)));
    TRY(wr_str8(w, in->filter_b, strlen(in->filter_b)));
    return vst_wr_u16(w, in->k);
}

int vst_overlap_open_req_encode(vst_wr *w, const vst_overlap_open_req *in)
{
    TRY(name_check(in->domain));
    TRY(name_check(in->collection_a));
    TRY(name_check(in->collection_b));
    TRY(filter_check(in->filter_a));
    TRY(filter_check(in->filter_b));
    TRY(k_check(in->k));
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_open_req(w, in));
}

int vst_overlap_open_ok_decode(const uint8_t *p, size_t len, vst_overlap_open_ok *out)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u32(&r, &out->budget_left));
    return vst_rd_end(&r);
}

int vst_overlap_open_ok_encode(vst_wr *w, const vst_overlap_open_ok *in)
{
    return vst_wr_u32(w, in->budget_left);
}

/* ---- OVERLAP_FEED */

int vst_overlap_feed_req_decode(const uint8_t *p, size_t len, vst_overlap_feed_req *out)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u8(&r, &out->side));
    TRY(vst_rd_u32(&r, &out->key_version));
    if (out->side > 1)
        return VST_PROTO_E_RANGE;
    TRY(version_check(out->key_version));
    TRY(rd_values(&r, &out->count, &out->values));
    return vst_rd_end(&r);
}

static int put_feed_req(vst_wr *w, const vst_overlap_feed_req *in)
{
    TRY(vst_wr_u8(w, in->side));
    TRY(vst_wr_u32(w, in->key_version));
    return wr_values(w, in->count, in->values);
}

int vst_overlap_feed_req_encode(vst_wr *w, const vst_overlap_feed_req *in)
{
    if (in->side > 1)
        return VST_PROTO_E_RANGE;
    TRY(version_check(in->key_version));
    TRY(values_check(in->count, in->values));
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_feed_req(w, in));
}

int vst_overlap_feed_ok_decode(const uint8_t *p, size_t len, vst_overlap_feed_ok *out)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u64(&r, &out->held));
    return vst_rd_end(&r);
}

int vst_overlap_feed_ok_encode(vst_wr *w, const vst_overlap_feed_ok *in)
{
    return vst_wr_u64(w, in->held);
}

/* ---- OVERLAP_RUN's answer */

/* What keyd's suppression (keys/keyd/keyd_overlap.c) can answer: an
 * unsuppressed answer is one no rule suppresses and whose links add up to
 * the overlap; a suppressed one shows no overlap and no link, and its
 * reason is consistent with the sizes it shows (3 only for a small side,
 * 1 and 2 only when both sides are large enough). */
static int result_check(const vst_overlap_result *m)
{
    if (m->k < 3 || m->reason > 3 || m->suppressed > 1 || (m->suppressed != 0) != (m->reason != 0))
        return VST_PROTO_E_RANGE;
    uint64_t sum = 0;
    for (unsigned i = 0; i < VST_LINK_NKEYS; i++) {
        if (m->links[i] > m->a || sum + m->links[i] < sum)
            return VST_PROTO_E_RANGE;
        sum += m->links[i];
    }
    int small_side = m->a < m->k || m->b < m->k;
    if (m->suppressed)
        return sum == 0 && m->overlap == 0 && (m->reason == 3) == small_side ? 0
                                                                             : VST_PROTO_E_RANGE;
    if (sum != m->overlap || m->overlap > m->a || m->overlap > m->b || small_side ||
        (m->overlap > 0 && m->overlap < m->k) || m->a - m->overlap < m->k ||
        m->b - m->overlap < m->k)
        return VST_PROTO_E_RANGE;
    return 0;
}

int vst_overlap_result_decode(const uint8_t *p, size_t len, vst_overlap_result *out)
{
    vst_rd r;
    uint8_t n;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u64(&r, &out->a));
    TRY(vst_rd_u64(&r, &out->b));
    TRY(vst_rd_u8(&r, &out->suppressed));
    TRY(vst_rd_u64(&r, &out->overlap));
    TRY(vst_rd_u16(&r, &out->k));
    TRY(vst_rd_u8(&r, &n));
    if (n != VST_LINK_NKEYS)
        return VST_PROTO_E_RANGE;
    for (unsigned i = 0; i < VST_LINK_NKEYS; i++)
        TRY(vst_rd_u64(&r, &out->links[i]));
    TRY(vst_rd_u8(&r, &out->reason));
    TRY(vst_rd_end(&r));
    return result_check(out);
}

static int put_result(vst_wr *w, const vst_overlap_result *in)
{
    TRY(vst_wr_u64(w, in->a));
    TRY(vst_wr_u64(w, in->b));
    TRY(vst_wr_u8(w, in->suppressed));
    TRY(vst_wr_u64(w, in->overlap));
    TRY(vst_wr_u16(w, in->k));
    TRY(vst_wr_u8(w, VST_LINK_NKEYS));
    for (unsigned i = 0; i < VST_LINK_NKEYS; i++)
        TRY(vst_wr_u64(w, in->links[i]));
    return vst_wr_u8(w, in->reason);
}

int vst_overlap_result_encode(vst_wr *w, const vst_overlap_result *in)
{
    TRY(result_check(in));
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_result(w, in));
}

/* ---- OVERLAP_SIGN */

int vst_overlap_sign_req_decode(const uint8_t *p, size_t len, uint64_t *audit_seq)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u64(&r, audit_seq));
    TRY(vst_rd_end(&r));
    return *audit_seq >= 1 ? 0 : VST_PROTO_E_RANGE;
}

int vst_overlap_sign_req_encode(vst_wr *w, uint64_t audit_seq)
{
    if (audit_seq < 1)
        return VST_PROTO_E_RANGE;
    return vst_wr_u64(w, audit_seq);
}
