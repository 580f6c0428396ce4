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
/* EVENTS: *buf as for STATUS; iterate with vst_events_iter_init. */
int vst_keyd_events(vst_keyd *k, uint64_t after, uint16_t max, vst_events_ok *out, uint8_t **buf,
                    size_t *buf_len);

#endif
