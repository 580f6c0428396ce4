/* Receipts in the trust DB: load, insert, and the JSON the API returns.
 * The JSON is rebuilt from the stored columns, so a replay returns
 * byte-identical receipts. */
#ifndef VST_HTTPD_RECEIPT_H
#define VST_HTTPD_RECEIPT_H

#include "common/signed.h"
#include "httpd.h"

/* 1 found (fields, sig filled), 0 not found, -1 database error. */
int receipt_load(PGconn *trust, int client_id, const char *delivery_id, vst_receipt_fields *f,
                 uint8_t sig[VST_ED25519_SIG_LEN], uint8_t kid[32], int *have_kid);
/* malloc'd JSON text. */
char *receipt_json(const vst_receipt_fields *f, const uint8_t sig[VST_ED25519_SIG_LEN],
                   const uint8_t *pub /* may be NULL */);
/* keyd's current signing public key; 0, or -1 when keyd is unreachable. */
int receipt_public_key(slot *s, uint8_t pub[VST_ED25519_PUB_LEN]);

#endif
