/* Pseudonym messages: PSEUDONYMIZE (identifiers in, pseudonyms out) and
 * REKEY (pseudonyms of one key version to another), docs/keyd-protocol.md.
 * Conventions: codec.h. */
#ifndef VST_WIRE_CODEC_PSEUD_H
#define VST_WIRE_CODEC_PSEUD_H

#include "core/domain.h" /* VST_DOMAIN_MAXLEN, VST_PSEUDONYM_LEN */
#include "wire/codec.h"

#define VST_BATCH_MAX 65536u /* identifiers or pseudonyms per frame */
#define VST_SECTIONS_MAX 16
#define VST_ID_LEN_MAX 16

/* PSEUDONYMIZE: 1..16 sections, each count >= 1 identifiers of id_len
 * bytes in one domain; counts total <= VST_BATCH_MAX. */
typedef struct {
    char domain[VST_DOMAIN_MAXLEN + 1]; /* NUL-terminated, [a-z0-9_./-] */
    uint8_t id_len;                     /* 1..16 */
    uint32_t count;                     /* >= 1 */
    const uint8_t *ids;                 /* count * id_len bytes */
} vst_pseud_section;
typedef struct {
    uint16_t nsections; /* 1..16 */
    vst_pseud_section sec[VST_SECTIONS_MAX];
} vst_pseud_req;

/* One section of the answer. Identifiers the exception list withholds
 * (DESIGN.md §12) get no pseudonym: their 16 bytes are zero and their
 * indices (0-based within the section) are listed, strictly ascending and
 * < count, nwithheld <= count. The indices are big-endian u32 as on the
 * wire (the payload is not copied): read them with vst_pseud_withheld_at,
 * walking the list in order. */
typedef struct {
    uint32_t count;
    const uint8_t *pseudonyms; /* count * 16 bytes */
    uint32_t nwithheld;
    const uint8_t *withheld; /* nwithheld * 4 bytes; may be NULL if nwithheld is 0 */
} vst_pseud_out;
typedef struct {
    uint32_t key_version; /* >= 1 */
    uint16_t nsections;   /* 1..16 */
    vst_pseud_out sec[VST_SECTIONS_MAX];
} vst_pseud_ok;

int vst_pseud_req_decode(const uint8_t *p, size_t len, vst_pseud_req *out);
int vst_pseud_req_encode(vst_wr *w, const vst_pseud_req *in);
int vst_pseud_ok_decode(const uint8_t *p, size_t len, vst_pseud_ok *out);
int vst_pseud_ok_encode(vst_wr *w, const vst_pseud_ok *in);
/* Total identifiers of a decoded request (for keyd's budget). */
uint32_t vst_pseud_req_total(const vst_pseud_req *m);
/* 1 if the response has the request's sections and counts and each
 * section's withheld list is well formed (ascending, < count), else 0. */
int vst_pseud_ok_matches(const vst_pseud_req *rq, const vst_pseud_ok *rs);
/* The j-th withheld index of a section (j < o->nwithheld). */
uint32_t vst_pseud_withheld_at(const vst_pseud_out *o, uint32_t j);

/* REKEY: count 1..65536 pseudonyms from one version to another. */
typedef struct {
    uint32_t from_version, to_version; /* >= 1 */
    uint32_t count;
    const uint8_t *pseudonyms; /* count * 16 bytes */
} vst_rekey_req;
typedef struct {
    uint32_t count;
    const uint8_t *pseudonyms;
} vst_rekey_ok;

int vst_rekey_req_decode(const uint8_t *p, size_t len, vst_rekey_req *out);
int vst_rekey_req_encode(vst_wr *w, const vst_rekey_req *in);
int vst_rekey_ok_decode(const uint8_t *p, size_t len, vst_rekey_ok *out);
int vst_rekey_ok_encode(vst_wr *w, const vst_rekey_ok *in);

#endif
