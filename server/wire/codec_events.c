/* The EVENTS messages (codec_events.h): the request, and the response's
 * entries — decoded, walked with an iterator, and built one event at a
 * time up to the frame limit. An event's action is [a-z_.] and its details
 * one JSON text: what the audit log stores. */
#include "wire/codec_events.h"

#include <jansson.h>

#include "wire/codec_fields.h"
#include "wire/frame.h"

#define EVENT_MIN_LEN (8 + 8 + 4 + 1 + 1 + 2 + 1)

static int action_ok(const char *s, size_t n)
{
    if (n < 1 || n > VST_ACTION_LEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_' || s[i] == '.'))
            return 0;
    return 1;
}

/* One JSON text (any value), UTF-8, no duplicate object keys: what the
 * audit log can store as jsonb without losing anything. */
static int details_ok(const char *s, size_t n)
{
    if (n < 1 || n > VST_DETAILS_LEN_MAX)
        return 0;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (j == NULL)
        return 0;
    json_decref(j);
    return 1;
}

int vst_events_req_decode(const uint8_t *p, size_t len, vst_events_req *out)
{
    vst_rd r;
    if (len != 10)
        return len < 10 ? VST_PROTO_E_SHORT : VST_PROTO_E_TRAILING;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u64(&r, &out->after_seq));
    TRY(vst_rd_u16(&r, &out->max));
    return out->max >= 1 ? 0 : VST_PROTO_E_RANGE;
}

static int put_events_req(vst_wr *w, const vst_events_req *in)
{
    TRY(vst_wr_u64(w, in->after_seq));
    return vst_wr_u16(w, in->max);
}

int vst_events_req_encode(vst_wr *w, const vst_events_req *in)
{
    if (in->max < 1)
        return VST_PROTO_E_RANGE;
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_events_req(w, in));
}

static int event_check(const vst_event *ev)
{
    if (ev->action == NULL || ev->details == NULL)
        return VST_PROTO_E_ARG;
    if (ev->action_len < 1 || ev->action_len > VST_ACTION_LEN_MAX || ev->details_len < 1 ||
        ev->details_len > VST_DETAILS_LEN_MAX)
        return VST_PROTO_E_RANGE;
    if (!action_ok(ev->action, ev->action_len) || !details_ok(ev->details, ev->details_len))
        return VST_PROTO_E_CHARSET;
    return 0;
}

static int rd_event(vst_rd *r, vst_event *ev)
{
    uint8_t alen;
    uint16_t dlen;
    const uint8_t *a, *d;
    TRY(vst_rd_u64(r, &ev->seq));
    TRY(vst_rd_i64(r, &ev->time_us));
    TRY(vst_rd_u32(r, &ev->actor_uid));
    TRY(vst_rd_u8(r, &alen));
    TRY(vst_rd_view(r, alen, &a));
    TRY(vst_rd_u16(r, &dlen));
    if (dlen > VST_DETAILS_LEN_MAX)
        return VST_PROTO_E_RANGE;
    TRY(vst_rd_view(r, dlen, &d));
    ev->action = (const char *)a;
    ev->action_len = alen;
    ev->details = (const char *)d;
    ev->details_len = dlen;
    return event_check(ev);
}

int vst_events_ok_decode(const uint8_t *p, size_t len, vst_events_ok *out)
{
    vst_rd r;
    vst_event ev;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u16(&r, &out->n));
    /* Cheap bound before any entry is parsed. */
    if (vst_rd_left(&r) < (size_t)out->n * EVENT_MIN_LEN)
        return VST_PROTO_E_SHORT;
    out->entries = p + 2;
    out->entries_len = len - 2;
    for (size_t i = 0; i < out->n; i++)
        TRY(rd_event(&r, &ev));
    return vst_rd_end(&r);
}

void vst_events_iter_init(vst_events_iter *it, const vst_events_ok *m)
{
    vst_rd_init(&it->rd, m->entries, m->entries_len);
    it->left = m->n;
}

int vst_events_next(vst_events_iter *it, vst_event *ev)
{
    if (it->left == 0)
        return 0;
    TRY(rd_event(&it->rd, ev));
    it->left--;
    return 1;
}

int vst_events_ok_begin(vst_list_builder *b, vst_wr *w)
{
    b->w = w;
    b->count_off = vst_wr_len(w);
    b->n = 0;
    return vst_wr_u16(w, 0);
}

static int put_event(vst_wr *w, const vst_event *ev)
{
    TRY(vst_wr_u64(w, ev->seq));
    TRY(vst_wr_i64(w, ev->time_us));
    TRY(vst_wr_u32(w, ev->actor_uid));
    TRY(wr_str8(w, ev->action, ev->action_len));
    TRY(vst_wr_u16(w, (uint16_t)ev->details_len));
    return vst_wr_put(w, ev->details, ev->details_len);
}

int vst_events_ok_add(vst_list_builder *b, const vst_event *ev)
{
    TRY(event_check(ev));
    if (b->n >= 0xffffu)
        return VST_PROTO_E_RANGE;
    size_t need = 8 + 8 + 4 + 1 + ev->action_len + 2 + ev->details_len;
    if (need > VST_FRAME_MAX - vst_wr_len(b->w))
        return VST_PROTO_E_LENGTH;
    size_t mark = vst_wr_len(b->w);
    TRY(wr_rollback(b->w, mark, put_event(b->w, ev)));
    b->n++;
    builder_patch(b);
    return 0;
}
