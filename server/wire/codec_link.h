/* Linkage messages (DESIGN.md §13, docs/keyd-protocol.md, docs/linkage.md):
 *   CV_DERIVE     (data)  normalized persons -> control values
 *   CV_REKEY      (admin) stored control values of one collection from one
 *                         key version to another
 *   OVERLAP_OPEN  (admin) start a count-only overlap query on this connection
 *   OVERLAP_FEED  (admin) stored control values of side a or b
 *   OVERLAP_RUN   (admin) link, suppress, answer counts; values are wiped
 *   OVERLAP_SIGN  (admin) sign the answer with the audit seq of its event
 * Conventions: codec.h. Strings are str8 (u8 length, bytes, no NUL).
 *
 * A control value on the wire and in the store is 16 bytes:
 *   I_k = HMAC-SHA256(K_link,d, "vst/cv/1" 0x1F key_name 0x1F fields...)[0..16)
 *   C_k = AES-256_{K_v,c}(I_k),  K_v,c = HKDF(K_v, "vst/collection/" || c)
 * with K_link,d = HKDF(K_root, "vst/link/" || d). A record carries
 * VST_LINK_NKEYS values, in the order of vst_link_key_name. */
#ifndef VST_WIRE_CODEC_LINK_H
#define VST_WIRE_CODEC_LINK_H

#include "core/domain.h"
#include "linkage/person.h"
#include "wire/codec.h"

#define VST_LINK_NKEYS 6
#define VST_CV_LEN 16
#define VST_CV_RECORD_LEN (VST_LINK_NKEYS * VST_CV_LEN) /* 96 bytes per record */
#define VST_CV_BATCH_MAX 16384u                         /* persons or records per frame */
#define VST_COLLECTION_MAXLEN 64            /* same grammar as a domain: [a-z0-9_./-]{1,64} */
#define VST_OVERLAP_FILTER_MAX 200          /* "COL=VALUE" text of one side, may be empty */
#define VST_OVERLAP_CONTEXT "vst/overlap/1" /* signed with its NUL */

/* "exact", "phonetic", "swapped", "daymonth", "year", "birthname" (k <
 * VST_LINK_NKEYS), else NULL. The names are part of the contract: they
 * appear in the control-value input, in the overlap answer and in the
 * store's column names (cv_<name>). */
const char *vst_link_key_name(unsigned k);

/* One person on the wire:
 *   u8 sex ('M','W','D','X'), 8 bytes date "YYYYMMDD" (a valid date),
 *   then given, family, birth: u8 n, n x (u8 len, len bytes [A-Z]).
 *   given.n and family.n 1..8, birth.n 0..8, len 1..40. */
int vst_person_encode(vst_wr *w, const vst_person *p);
/* Decodes the next person from *p (advancing it) up to end; rejects every
 * byte outside the normalized alphabet, an invalid date, or counts out of
 * range (VST_PROTO_E_FIELD). */
int vst_person_decode(const uint8_t **p, const uint8_t *end, vst_person *out);

/* CV_DERIVE request: str8 domain, str8 collection, u32 count (1..16384),
 * then count persons. */
typedef struct {
    char domain[VST_DOMAIN_MAXLEN + 1];
    char collection[VST_COLLECTION_MAXLEN + 1];
    uint32_t count;
    const uint8_t *persons; /* the encoded persons, persons_len bytes */
    size_t persons_len;
} vst_cv_req;
/* CV_DERIVE response: u32 key_version, u32 count, count x 96 bytes. */
typedef struct {
    uint32_t key_version;
    uint32_t count;
    const uint8_t *values; /* count * VST_CV_RECORD_LEN */
} vst_cv_ok;

int vst_cv_req_decode(const uint8_t *p, size_t len, vst_cv_req *out);
/* Encodes a request from n persons (n 1..16384). */
int vst_cv_req_encode(vst_wr *w, const char *domain, const char *collection,
                      const vst_person *persons, uint32_t n);
int vst_cv_ok_decode(const uint8_t *p, size_t len, vst_cv_ok *out);
int vst_cv_ok_encode(vst_wr *w, const vst_cv_ok *in);

/* CV_REKEY request: str8 collection, u32 from_version, u32 to_version, u32
 * count (1..16384), count x 96 bytes. Response: u32 count, count x 96. */
typedef struct {
    char collection[VST_COLLECTION_MAXLEN + 1];
    uint32_t from_version, to_version;
    uint32_t count;
    const uint8_t *values;
} vst_cv_rekey_req;
typedef struct {
    uint32_t count;
    const uint8_t *values;
} vst_cv_rekey_ok;

int vst_cv_rekey_req_decode(const uint8_t *p, size_t len, vst_cv_rekey_req *out);
int vst_cv_rekey_req_encode(vst_wr *w, const vst_cv_rekey_req *in);
int vst_cv_rekey_ok_decode(const uint8_t *p, size_t len, vst_cv_rekey_ok *out);
int vst_cv_rekey_ok_encode(vst_wr *w, const vst_cv_rekey_ok *in);

/* OVERLAP_OPEN request: str8 domain, str8 collection_a, str8 filter_a,
 * str8 collection_b, str8 filter_b, u16 k (>= 3). The filters are the
 * operator's "COL=VALUE" texts (or empty): keyd does not interpret them,
 * it signs them with the answer. Response: u32 budget_left (queries of this
 * pair left today, after this one). */
typedef struct {
    char domain[VST_DOMAIN_MAXLEN + 1];
    char collection_a[VST_COLLECTION_MAXLEN + 1];
    char filter_a[VST_OVERLAP_FILTER_MAX + 1];
    char collection_b[VST_COLLECTION_MAXLEN + 1];
    char filter_b[VST_OVERLAP_FILTER_MAX + 1];
    uint16_t k;
} vst_overlap_open_req;
typedef struct {
    uint32_t budget_left;
} vst_overlap_open_ok;

/* OVERLAP_FEED request: u8 side (0 = a, 1 = b), u32 key_version, u32 count
 * (1..16384), count x 96 bytes. Response: u64 records held on that side. */
typedef struct {
    uint8_t side;
    uint32_t key_version;
    uint32_t count;
    const uint8_t *values;
} vst_overlap_feed_req;
typedef struct {
    uint64_t held;
} vst_overlap_feed_ok;

/* OVERLAP_RUN request: empty. Response (the answer keyd will sign):
 *   u64 a, u64 b, u8 suppressed, u64 overlap (0 when suppressed), u16 k,
 *   u8 npasses (= VST_LINK_NKEYS), npasses x u64 links (0 when suppressed),
 *   u8 reason (0 none, 1 small overlap, 2 small remainder, 3 small side). */
typedef struct {
    uint64_t a, b;
    uint8_t suppressed;
    uint64_t overlap;
    uint16_t k;
    uint64_t links[VST_LINK_NKEYS];
    uint8_t reason;
} vst_overlap_result;

/* OVERLAP_SIGN request: u64 audit_seq. Response: 64-byte Ed25519 signature
 * over vst_overlap_tbs (wire/overlap_tbs.h) of the connection's last
 * answer with that audit_seq. */

int vst_overlap_open_req_decode(const uint8_t *p, size_t len, vst_overlap_open_req *out);
int vst_overlap_open_req_encode(vst_wr *w, const vst_overlap_open_req *in);
int vst_overlap_open_ok_decode(const uint8_t *p, size_t len, vst_overlap_open_ok *out);
int vst_overlap_open_ok_encode(vst_wr *w, const vst_overlap_open_ok *in);
int vst_overlap_feed_req_decode(const uint8_t *p, size_t len, vst_overlap_feed_req *out);
int vst_overlap_feed_req_encode(vst_wr *w, const vst_overlap_feed_req *in);
int vst_overlap_feed_ok_decode(const uint8_t *p, size_t len, vst_overlap_feed_ok *out);
int vst_overlap_feed_ok_encode(vst_wr *w, const vst_overlap_feed_ok *in);
int vst_overlap_result_decode(const uint8_t *p, size_t len, vst_overlap_result *out);
int vst_overlap_result_encode(vst_wr *w, const vst_overlap_result *in);
int vst_overlap_sign_req_decode(const uint8_t *p, size_t len, uint64_t *audit_seq);
int vst_overlap_sign_req_encode(vst_wr *w, uint64_t audit_seq);

#endif
