/* The signed form of an overlap answer (overlap_tbs.h), written through a
 * fixed writer over the caller's block: a field that does not fit fails
 * the encoding instead of overrunning it. The answer's own rules are the
 * codec's (vst_overlap_result_encode), so nothing is signed that the
 * protocol would refuse to carry. */
#include "wire/overlap_tbs.h"

#include <string.h>

#include "core/domain.h"
#include "wire/codec_fields.h"

/* A str8 of at most max bytes. */
static int put_str(vst_wr *w, const char *s, size_t max)
{
    if (s == NULL)
        return VST_PROTO_E_ARG;
    size_t n = strnlen(s, max + 1);
    if (n > max)
        return VST_PROTO_E_RANGE;
    return wr_str8(w, s, n);
}

static int put_tbs(vst_wr *w, const vst_overlap_signed *s)
{
    vst_wr body = VST_WR_INIT;
    /* The answer's checks (and only them): an answer keyd could not send
     * is not signed either. */
    int rc = vst_overlap_result_encode(&body, &s->r);
    vst_wr_free(&body);
    TRY(rc);
    if (s->audit_seq == 0)
        return VST_PROTO_E_RANGE;
    TRY(vst_wr_put(w, VST_OVERLAP_CONTEXT, sizeof VST_OVERLAP_CONTEXT));
    TRY(vst_wr_u64(w, s->audit_seq));
    TRY(put_str(w, s->domain, VST_DOMAIN_MAXLEN));
    TRY(put_str(w, s->collection_a, VST_COLLECTION_MAXLEN));
    TRY(put_str(w, s->filter_a, VST_OVERLAP_FILTER_MAX));
    TRY(put_str(w, s->collection_b, VST_COLLECTION_MAXLEN));
    TRY(put_str(w, s->filter_b, VST_OVERLAP_FILTER_MAX));
    TRY(vst_wr_u64(w, s->r.a));
    TRY(vst_wr_u64(w, s->r.b));
    TRY(vst_wr_u8(w, s->r.suppressed));
    TRY(vst_wr_u64(w, s->r.overlap));
    TRY(vst_wr_u16(w, s->r.k));
    TRY(vst_wr_u8(w, VST_LINK_NKEYS));
    for (unsigned i = 0; i < VST_LINK_NKEYS; i++) {
        const char *name = vst_link_key_name(i);
        TRY(wr_str8(w, name, strlen(name)));
        TRY(vst_wr_u64(w, s->r.links[i]));
    }
    return vst_wr_u8(w, s->r.reason);
}

size_t vst_overlap_tbs(const vst_overlap_signed *s, uint8_t out[VST_OVERLAP_TBS_MAX])
{
    if (s == NULL || out == NULL)
        return 0;
    vst_wr w;
    vst_wr_init_fixed(&w, out, VST_OVERLAP_TBS_MAX);
    return put_tbs(&w, s) == 0 ? vst_wr_len(&w) : 0;
}
