/* Receipts; see httpd_receipt.h. */
#include "httpd_receipt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hex.h"
#include "receipt_json.h"

char *receipt_json(const vst_receipt_fields *f, const uint8_t sig[VST_ED25519_SIG_LEN],
                   const uint8_t *pub)
{
    /* One builder for every program: vst-send and vst-audit parse exactly
     * what this writes (server/audit/receipt_json.h). */
    return vst_receipt_json_build(f, sig, pub);
}

int receipt_load(PGconn *trust, int client_id, const char *delivery_id, vst_receipt_fields *f,
                 uint8_t sig[VST_ED25519_SIG_LEN], uint8_t kid[32], int *have_kid)
{
    char cid[16];
    snprintf(cid, sizeof cid, "%d", client_id);
    const char *p[] = {cid, delivery_id};
    PGresult *r = PQexecParams(
        trust,
        "SELECT c.name, r.profile, r.record_count, encode(r.body_sha256, 'hex'), r.key_version, "
        "(extract(epoch FROM r.received_at) * 1000000)::bigint, "
        "(extract(epoch FROM r.stored_at) * 1000000)::bigint, r.audit_seq, "
        "encode(r.signature, 'hex'), encode(r.sign_key_id, 'hex') FROM vst.receipts r JOIN "
        "vst.clients c ON c.id = r.client_id "
        "WHERE r.client_id = $1::int AND r.delivery_id = $2",
        2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return -1;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    memset(f, 0, sizeof *f);
    snprintf(f->delivery_id, sizeof f->delivery_id, "%s", delivery_id);
    snprintf(f->client, sizeof f->client, "%s", PQgetvalue(r, 0, 0));
    snprintf(f->profile, sizeof f->profile, "%s", PQgetvalue(r, 0, 1));
    f->record_count = strtoull(PQgetvalue(r, 0, 2), NULL, 10);
    vst_unhex(PQgetvalue(r, 0, 3), 32, f->body_sha256);
    f->key_version = (uint32_t)strtoul(PQgetvalue(r, 0, 4), NULL, 10);
    f->received_at_us = strtoll(PQgetvalue(r, 0, 5), NULL, 10);
    f->stored_at_us = strtoll(PQgetvalue(r, 0, 6), NULL, 10);
    f->audit_seq = strtoull(PQgetvalue(r, 0, 7), NULL, 10);
    vst_unhex(PQgetvalue(r, 0, 8), 64, sig);
    *have_kid = !PQgetisnull(r, 0, 9) && vst_unhex(PQgetvalue(r, 0, 9), 32, kid) == 0;
    PQclear(r);
    return 1;
}

int receipt_public_key(slot *s, uint8_t pub[VST_ED25519_PUB_LEN])
{
    /* Asked each time, never cached: a keyd that came back with another
     * keystore signs with another key, and a receipt must name the key
     * that signed it. One small round trip. */
    if (slot_keyd(s) != 0)
        return -1;
    if (vst_keyd_pubkey(s->keyd, pub) != 0) {
        slot_drop_keyd(s);
        return -1;
    }
    return 0;
}
