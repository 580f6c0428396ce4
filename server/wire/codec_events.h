/* The EVENTS messages: keyd's event stream after a sequence number, at
 * most max >= 1 events per response (fewer if they would not fit in one
 * frame), docs/keyd-protocol.md. Conventions: codec.h. */
#ifndef VST_WIRE_CODEC_EVENTS_H
#define VST_WIRE_CODEC_EVENTS_H

#include "wire/codec.h"

#define VST_ACTION_LEN_MAX 255
#define VST_DETAILS_LEN_MAX 4096

typedef struct {
    uint64_t after_seq;
    uint16_t max;
} vst_events_req;
typedef struct {
    uint64_t seq;
    int64_t time_us;
    uint32_t actor_uid;
    const char *action; /* [a-z_.], 1..255 bytes, not NUL-terminated */
    size_t action_len;
    const char *details; /* one JSON text, 1..4096 bytes, not NUL-terminated */
    size_t details_len;
} vst_event;
typedef struct {
    uint16_t n;
    const uint8_t *entries; /* set by decode; walk with vst_events_next */
    size_t entries_len;
} vst_events_ok;
typedef struct {
    vst_rd rd;
    uint32_t left;
} vst_events_iter;

int vst_events_req_decode(const uint8_t *p, size_t len, vst_events_req *out);
int vst_events_req_encode(vst_wr *w, const vst_events_req *in);
int vst_events_ok_decode(const uint8_t *p, size_t len, vst_events_ok *out);
void vst_events_iter_init(vst_events_iter *it, const vst_events_ok *m);
/* 1 and *ev filled, 0 at the end, < 0 on a malformed entry. */
int vst_events_next(vst_events_iter *it, vst_event *ev);
/* The response is built with the list builder (codec.h); an event that
 * would not fit in the frame is refused with VST_PROTO_E_LENGTH. */
int vst_events_ok_begin(vst_list_builder *b, vst_wr *w);
int vst_events_ok_add(vst_list_builder *b, const vst_event *ev);

#endif
