/* Receipts in the trust DB: load one, have vst-keyd sign it after the
 * commit, and answer a request with it. The JSON is rebuilt from the stored
 * columns, so a replay returns byte-identical receipts.
 *
 * The receipt row itself is written by the commit (store.c, through
 * vst.receipt_insert): committed unsigned together with its audit event
 * (the decision), then signed by vst-keyd outside that transaction and the
 * signature attached once (sql/trust/0006): no keyd call ever runs under
 * the audit appenders' lock. An unsigned receipt is never handed out; it
 * is signed first (receipt_sign), by the request that finds it or by the
 * background thread (receipt_sign_pending). */
#ifndef VST_HTTPD_RECEIPT_H
#define VST_HTTPD_RECEIPT_H

#include "core/signed.h"
#include "httpd/httpd.h"

typedef struct {
    vst_receipt_fields f;
    char ref[37]; /* delivery_ref */
    int have_sig;
    uint8_t sig[VST_ED25519_SIG_LEN];
    int have_kid; /* sign_key_id: SHA-256 of the key that signed */
    uint8_t kid[32];
} stored_receipt;

/* The receipt of (client, delivery id) on the slot's trust connection.
 * 1 found, 0 not found, -1 database error. */
int receipt_load(slot *s, int client_id, const char *delivery_id, stored_receipt *out);
/* The same from a result of SQL_RECEIPT_BY_ID (store_lock_attempt_load). */
int receipt_from_result(PGresult *r, stored_receipt *out);
/* Has keyd sign r (if it is not signed yet) and attaches the signature.
 * 0, or -1 when keyd or the trust DB failed (the receipt stays unsigned). */
int receipt_sign(slot *s, stored_receipt *r);
/* Attaches the signatures of n receipts signed by the key whose SHA-256
 * is kid, in one statement sent without waiting for its answer (sql_post)
 * whose commit does not wait for its WAL flush: a signature lost to a
 * crash is made again, to the same bytes (Ed25519 is deterministic), by
 * receipt_sign_pending or by the request that next reads the receipt.
 * Best effort. */
void receipt_attach_group(slot *s, stored_receipt *const *r, size_t n, const uint8_t kid[32]);
/* Signs receipts left unsigned by a failure after their commit. */
void receipt_sign_pending(slot *s);
/* malloc'd JSON text. */
char *receipt_json(const vst_receipt_fields *f, const uint8_t sig[VST_ED25519_SIG_LEN],
                   const uint8_t *pub /* may be NULL */);
/* keyd's current signing public key; 0, or -1 when keyd is unreachable. */
int receipt_public_key(slot *s, uint8_t pub[VST_ED25519_PUB_LEN]);
/* Answers with the receipt document (status 201 or 200), signed first if
 * it is not yet; 503 when it cannot be signed now (the delivery is stored:
 * the same request again fetches it). */
enum MHD_Result receipt_reply(struct MHD_Connection *c, slot *s, unsigned status,
                              stored_receipt *r);
/* The same, for a receipt signed by the key signer (its public key; the
 * commit group asked keyd for it when it signed): no keyd round trip. With
 * signer NULL or r unsigned, receipt_reply. */
enum MHD_Result receipt_reply_key(struct MHD_Connection *c, slot *s, unsigned status,
                                  stored_receipt *r, const uint8_t *signer);

#endif
