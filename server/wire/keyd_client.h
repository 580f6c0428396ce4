/* Client side of the keyd protocol, for vst-httpd, vst-admin and the tests:
 * one blocking connection and typed calls with the same shape as the work
 * keyd does, so callers need not know there is a process boundary (the
 * OpenSSH monitor_wrap idea). Part of vstwire: no key material here. */
#ifndef VST_KEYD_CLIENT_H
#define VST_KEYD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "wire/proto.h"

typedef struct vst_keyd vst_keyd;

/* Results of every call: 0 on success; > 0 a keyd error code
 * (vst_keyd_err, answered by keyd); < 0 a local or transport error
 * (VST_PROTO_E_*; the connection is then unusable: close it). */
vst_keyd *vst_keyd_connect(const char *socket_path, char *err, size_t errlen);
/* The same with a timeout of ms milliseconds for the connect itself (a
 * stopped keyd's full listen queue) and for every later call
 * (vst_keyd_set_timeout). */
vst_keyd *vst_keyd_connect_timeout(const char *socket_path, unsigned ms, char *err, size_t errlen);
void vst_keyd_close(vst_keyd *k);
/* Every later send and receive on k fails with VST_PROTO_E_TIMEOUT after
 * ms milliseconds without progress (0 = wait for ever, the default). A
 * stopped keyd then costs a caller a bounded wait, never a hang. 0 or -1. */
int vst_keyd_set_timeout(vst_keyd *k, unsigned ms);
int vst_keyd_fd(const vst_keyd *k);
/* One line describing a result code, for messages. */
const char *vst_keyd_strerror(int rc);

/* Raw call: sends a request payload and receives the response payload
 * (caller frees with vst_frame_free(*resp, *resp_len)). */
int vst_keyd_call(vst_keyd *k, uint8_t type, const void *req, size_t req_len, uint8_t **resp,
                  size_t *resp_len);

/* STATUS: *buf holds the response the struct points into; free with
 * vst_frame_free(*buf, *buf_len). */
int vst_keyd_status(vst_keyd *k, vst_status_ok *out, uint8_t **buf, size_t *buf_len);
int vst_keyd_unseal(vst_keyd *k, const vst_unseal_req *rq, vst_unseal_ok *out);
int vst_keyd_pubkey(vst_keyd *k, uint8_t pub[VST_ED25519_PUB_LEN]);
int vst_keyd_rotate(vst_keyd *k, uint32_t *new_version);
int vst_keyd_retire(vst_keyd *k, uint32_t version);
/* PSEUDONYMIZE: out receives, per section in order, count * 16 bytes;
 * withheld (one byte per identifier, in the same order) 1 where keyd
 * withheld the identifier (DESIGN.md §12: its 16 bytes in out are zero,
 * store nothing for it), else 0. */
int vst_keyd_pseudonymize_withheld(vst_keyd *k, const vst_pseud_req *rq, uint32_t *key_version,
                                   uint8_t *out, size_t out_cap, uint8_t *withheld);
/* The same for a caller that cannot withhold: an answer that withholds
 * any identifier is refused with VST_PROTO_E_ARG (nothing is stored as
 * a zero pseudonym). */
int vst_keyd_pseudonymize(vst_keyd *k, const vst_pseud_req *rq, uint32_t *key_version, uint8_t *out,
                          size_t out_cap);
/* REKEY: n pseudonyms in buf are replaced in place. */
int vst_keyd_rekey(vst_keyd *k, uint32_t from, uint32_t to, uint8_t *buf, uint32_t n);
int vst_keyd_sign_receipt(vst_keyd *k, const vst_receipt_fields *f,
                          uint8_t sig[VST_ED25519_SIG_LEN]);
/* SIGN_RECEIPTS: the n receipts f[0..n) signed in one round trip, sigs[i]
 * the signature of f[i], byte for byte what vst_keyd_sign_receipt answers
 * for it. n is 1..VST_SIGN_RECEIPTS_MAX (else VST_PROTO_E_RANGE, nothing
 * sent); any receipt vst_keyd_sign_receipt would refuse refuses the whole
 * call with that result (v1 fields VST_PROTO_E_RANGE before anything is
 * sent; a key version keyd does not have unknown_version), and no
 * signature is made. */
int vst_keyd_sign_receipts(vst_keyd *k, const vst_receipt_fields *f, size_t n,
                           uint8_t (*sigs)[VST_ED25519_SIG_LEN]);
int vst_keyd_sign_checkpoint(vst_keyd *k, uint64_t seq, const uint8_t head[VST_SHA256_LEN],
                             int64_t time_us, uint8_t sig[VST_ED25519_SIG_LEN]);
/* SIGN_REPORT (admin socket): keyd's signature over
 * vst_report_tbs(kind, digest) (core/signed.h); invalid_argument for a
 * kind keyd does not sign. */
int vst_keyd_sign_report(vst_keyd *k, uint8_t kind, const uint8_t digest[VST_SHA256_LEN],
                         uint8_t sig[VST_ED25519_SIG_LEN]);
/* RELEASE_OPEN (admin socket): keyd draws a fresh release key bound to this
 * connection (replacing the one opened before on it) and answers its id.
 * The key lives as long as the connection: close it when the release is
 * written, and the mapping can never be recomputed. */
int vst_keyd_release_open(vst_keyd *k, uint8_t id[VST_RELEASE_ID_LEN]);
/* RELEASE_MAP (admin socket): n (1..65536) store pseudonyms of key version
 * from_version in `in` to release pseudonyms under the connection's release
 * key, n * 16 bytes into `out` (in order; out may equal in). no_release
 * without RELEASE_OPEN on this connection; unknown_version or
 * retired_version as for REKEY. */
int vst_keyd_release_map(vst_keyd *k, uint32_t from_version, const uint8_t *in, uint32_t n,
                         uint8_t *out);
/* The same with excluded (n bytes): 1 where the pseudonym belongs to a
 * person with a disclosure or objection case (DESIGN.md §12), whose row
 * must not enter the release, else 0. vst_keyd_release_map, for a caller
 * that cannot exclude, refuses an answer that excludes anything
 * (VST_PROTO_E_ARG). */
int vst_keyd_release_map_excluded(vst_keyd *k, uint32_t from_version, const uint8_t *in, uint32_t n,
                                  uint8_t *out, uint8_t *excluded);

/* The answer of DISCLOSE and OBJECT (admin socket; DESIGN.md §12,
 * docs/keyd-protocol.md): the case, whether it was there before this call
 * (a re-run after a crash gets the same case), and per live key version,
 * ascending, the person's pseudonyms. They are secrets of one person: keep
 * them in memory only, and free the answer with vst_case_answer_free,
 * which wipes them. */
typedef struct {
    uint32_t version;
    uint8_t p[VST_PSEUDONYM_LEN];      /* DISCLOSE: the disclosed P_v; OBJECT: the
                                          pseudonym the person's rows carry (P_v or P*_v) */
    uint8_t p_star[VST_PSEUDONYM_LEN]; /* DISCLOSE: the substitute P*_v; OBJECT: zero */
} vst_case_pseudonyms;
typedef struct {
    uint8_t case_id[VST_CASE_ID_LEN];
    char case_hex[VST_CASE_ID_HEX + 1]; /* the case id as 16 lower-case hex digits */
    int existed;                        /* 1: the case was recorded before this call */
    size_t n;                           /* >= 1 on success */
    vst_case_pseudonyms *v;             /* n entries (malloc'd) */
} vst_case_answer;
/* Wipes and frees out->v; out is empty again. */
void vst_case_answer_free(vst_case_answer *out);

/* DISCLOSE: the pseudonym p of key version `version` in `domain` has been
 * linked to its person. keyd recovers the person's inner value, records a
 * substitute case for it (or finds the one recorded before) in its sealed
 * keystore before it answers, and from then on pseudonymizes the person
 * to P*. keyd errors: invalid_argument (a domain keyd does not serve),
 * unknown_version / retired_version, withheld (the person has an
 * objection), case_limit, internal. On success *out must be freed. */
int vst_keyd_disclose(vst_keyd *k, const char *domain, uint32_t version,
                      const uint8_t p[VST_PSEUDONYM_LEN], vst_case_answer *out);
/* OBJECT: the person with canonical identifier id (1..16 bytes; the
 * profile's validation and canonical form are the caller's) objects. keyd
 * records the person as withheld (or finds the case recorded before; a
 * substitute case becomes a withhold) before it answers, with the
 * pseudonyms the person's stored rows carry, so that they can be deleted.
 * keyd errors: invalid_argument, case_limit, internal. On success *out
 * must be freed; wipe id yourself. */
int vst_keyd_object(vst_keyd *k, const char *domain, const uint8_t *id, uint8_t id_len,
                    vst_case_answer *out);
/* ---- linkage without a number (DESIGN.md §13, docs/keyd-protocol.md) */

/* CV_DERIVE (data socket, vst-httpd): the control values of n persons
 * (1..VST_CV_BATCH_MAX, normalized: linkage/normalize.h) in link domain
 * `domain` for collection `collection`, VST_CV_RECORD_LEN bytes per
 * person into out (out_cap >= n * 96), in order, under the current key
 * version (*key_version). Charged to the domain's pseudonymization budget
 * (budget_exceeded). keyd errors: invalid_argument (a domain keyd does not
 * serve). A person outside the normalized form is VST_PROTO_E_FIELD
 * before anything is sent. The values are secrets of the persons: wipe
 * out after use. */
int vst_keyd_cv_derive(vst_keyd *k, const char *domain, const char *collection,
                       const vst_person *persons, uint32_t n, uint32_t *key_version, uint8_t *out,
                       size_t out_cap);
/* CV_REKEY (admin socket): n stored records (n * 96 bytes in buf) of
 * `collection` from key version `from` to `to` (the current one), in
 * place. keyd errors as for REKEY. */
int vst_keyd_cv_rekey(vst_keyd *k, const char *collection, uint32_t from, uint32_t to, uint8_t *buf,
                      uint32_t n);
/* OVERLAP_OPEN (admin socket): starts the connection's count-only query
 * (one at a time) and charges it to the pair's budget of the UTC day;
 * *budget_left: queries of the pair left today after this one. keyd
 * errors: overlap_budget, overlap_state (a query is being fed),
 * invalid_argument (a domain keyd does not serve). */
int vst_keyd_overlap_open(vst_keyd *k, const vst_overlap_open_req *rq, uint32_t *budget_left);
/* OVERLAP_FEED: n stored records (n * 96 bytes) of side 0 (a) or 1 (b)
 * under key version key_version; *held (may be NULL): records held on
 * that side now. keyd errors: overlap_limit (the query is then dropped),
 * overlap_state, unknown_version, retired_version. */
int vst_keyd_overlap_feed(vst_keyd *k, uint8_t side, uint32_t key_version, const uint8_t *values,
                          uint32_t n, uint64_t *held);
/* OVERLAP_RUN: links, suppresses and answers the counts; keyd has wiped
 * every value when this returns. overlap_state without an open query. */
int vst_keyd_overlap_run(vst_keyd *k, vst_overlap_result *out);
/* OVERLAP_SIGN: keyd's signature over vst_overlap_tbs (wire/overlap_tbs.h)
 * of the answer of the last OVERLAP_RUN on this connection with audit_seq
 * (once per answer). overlap_state before RUN. */
int vst_keyd_overlap_sign(vst_keyd *k, uint64_t audit_seq, uint8_t sig[VST_ED25519_SIG_LEN]);

/* EVENTS: *buf as for STATUS; iterate with vst_events_iter_init. */
int vst_keyd_events(vst_keyd *k, uint64_t after, uint16_t max, vst_events_ok *out, uint8_t **buf,
                    size_t *buf_len);

#endif
