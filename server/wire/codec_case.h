/* Exception-list messages (DESIGN.md §12, docs/keyd-protocol.md): DISCLOSE
 * (a disclosed pseudonym gets a substitute case) and OBJECT (an objecting
 * person is withheld). Admin socket only. Conventions: codec.h.
 *
 * Both answer the case and, for every live key version in ascending
 * order, the person's pseudonyms: DISCLOSE the disclosed P_v and the
 * substitute P*_v (entries of VST_DISCLOSE_ENTRY_LEN bytes), OBJECT the
 * pseudonym the person's rows carry now (P_v, or P*_v after a disclosure;
 * entries of VST_OBJECT_ENTRY_LEN bytes). */
#ifndef VST_WIRE_CODEC_CASE_H
#define VST_WIRE_CODEC_CASE_H

#include "core/domain.h" /* VST_DOMAIN_MAXLEN, VST_PSEUDONYM_LEN, VST_CASE_ID_LEN */
#include "wire/codec.h"
#include "wire/codec_pseud.h" /* VST_ID_LEN_MAX */

#define VST_DISCLOSE_ENTRY_LEN (4 + 2 * VST_PSEUDONYM_LEN)
#define VST_OBJECT_ENTRY_LEN (4 + VST_PSEUDONYM_LEN)

/* DISCLOSE request: str8 domain, u32 key_version (>= 1), 16-byte P. */
typedef struct {
    char domain[VST_DOMAIN_MAXLEN + 1]; /* NUL-terminated, [a-z0-9_./-] */
    uint32_t key_version;
    uint8_t pseudonym[VST_PSEUDONYM_LEN];
} vst_disclose_req;

/* OBJECT request: str8 domain, u8 id_len (1..16), id_len bytes of the
 * canonical identifier. */
typedef struct {
    char domain[VST_DOMAIN_MAXLEN + 1];
    uint8_t id_len;
    const uint8_t *id; /* id_len bytes, a view into the payload */
} vst_object_req;

/* One entry of an answer. */
typedef struct {
    uint32_t version;
    const uint8_t *p;      /* 16 bytes */
    const uint8_t *p_star; /* 16 bytes in a DISCLOSE answer, NULL in an OBJECT answer */
} vst_case_entry;

/* The answer of both: 8-byte case id, u8 existed (0/1: the case was there
 * before this request), u16 n (>= 1), n entries, versions strictly
 * ascending and >= 1. */
typedef struct {
    uint8_t case_id[VST_CASE_ID_LEN];
    uint8_t existed;
    uint8_t with_star; /* 1: a DISCLOSE answer (entries carry P*), 0: OBJECT */
    uint16_t n;
    const uint8_t *entries; /* n entries, a view into the payload */
} vst_case_ok;

int vst_disclose_req_decode(const uint8_t *p, size_t len, vst_disclose_req *out);
int vst_disclose_req_encode(vst_wr *w, const vst_disclose_req *in);
int vst_object_req_decode(const uint8_t *p, size_t len, vst_object_req *out);
int vst_object_req_encode(vst_wr *w, const vst_object_req *in);

/* Decoders of the answers (they set with_star). */
int vst_disclose_ok_decode(const uint8_t *p, size_t len, vst_case_ok *out);
int vst_object_ok_decode(const uint8_t *p, size_t len, vst_case_ok *out);
/* Entry i (< m->n) of a decoded answer. */
void vst_case_ok_at(const vst_case_ok *m, uint16_t i, vst_case_entry *e);
/* Builds an answer: begin writes case id, existed and a zero count (m's n
 * and entries are ignored); every add appends one entry of m->with_star's
 * layout, its version above the one before. */
int vst_case_ok_begin(vst_list_builder *b, vst_wr *w, const vst_case_ok *m);
int vst_case_ok_add(vst_list_builder *b, const vst_case_ok *m, const vst_case_entry *e);
/* Re-encodes a decoded answer. */
int vst_case_ok_encode(vst_wr *w, const vst_case_ok *m);

#endif
