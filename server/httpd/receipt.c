/* Receipts; see receipt.h. */
#include "httpd/receipt.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/hex.h"
#include "audit/receipt_json.h"

char *receipt_json(const vst_receipt_fields *f, const uint8_t sig[VST_ED25519_SIG_LEN],
                   const uint8_t *pub)
{
    /* One builder for every program: vst-send and vst-audit parse exactly
     * what this writes (server/audit/receipt_json.h). */
    return vst_receipt_json_build(f, sig, pub);
}

#define RECEIPT_COLUMNS                                                                            \
    "SELECT c.name, r.profile, r.record_count, encode(r.body_sha256, 'hex'), r.key_version, "      \
    "(extract(epoch FROM r.received_at) * 1000000)::bigint, "                                      \
    "(extract(epoch FROM r.stored_at) * 1000000)::bigint, r.audit_seq, "                           \
    "encode(r.signature, 'hex'), encode(r.sign_key_id, 'hex'), r.delivery_id, "                    \
    "r.delivery_ref::text FROM vst.receipts r JOIN vst.clients c ON c.id = r.client_id "

/* Row i of a RECEIPT_COLUMNS result into *out. */
static void from_row(PGresult *r, int i, stored_receipt *out)
{
    memset(out, 0, sizeof *out);
    vst_receipt_fields *f = &out->f;
    snprintf(f->client, sizeof f->client, "%s", PQgetvalue(r, i, 0));
    snprintf(f->profile, sizeof f->profile, "%s", PQgetvalue(r, i, 1));
    f->record_count = strtoull(PQgetvalue(r, i, 2), NULL, 10);
    vst_unhex(PQgetvalue(r, i, 3), 32, f->body_sha256);
    f->key_version = (uint32_t)strtoul(PQgetvalue(r, i, 4), NULL, 10);
    f->received_at_us = strtoll(PQgetvalue(r, i, 5), NULL, 10);
    f->stored_at_us = strtoll(PQgetvalue(r, i, 6), NULL, 10);
    f->audit_seq = strtoull(PQgetvalue(r, i, 7), NULL, 10);
    out->have_sig = !PQgetisnull(r, i, 8) && vst_unhex(PQgetvalue(r, i, 8), 64, out->sig) == 0;
    out->have_kid = !PQgetisnull(r, i, 9) && vst_unhex(PQgetvalue(r, i, 9), 32, out->kid) == 0;
    snprintf(f->delivery_id, sizeof f->delivery_id, "%s", PQgetvalue(r, i, 10));
    snprintf(out->ref, sizeof out->ref, "%s", PQgetvalue(r, i, 11));
}

int receipt_load(PGconn *trust, int client_id, const char *delivery_id, stored_receipt *out)
{
    char cid[16];
    snprintf(cid, sizeof cid, "%d", client_id);
    const char *p[] = {cid, delivery_id};
    PGresult *r =
        PQexecParams(trust, RECEIPT_COLUMNS "WHERE r.client_id = $1::int AND r.delivery_id = $2", 2,
                     NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return -1;
    }
    int found = PQntuples(r) == 1;
    if (found)
        from_row(r, 0, out);
    PQclear(r);
    return found;
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

int receipt_sign(slot *s, stored_receipt *r)
{
    if (r->have_sig)
        return 0;
    uint8_t pub[32], sig[VST_ED25519_SIG_LEN], kid[32];
    if (slot_keyd(s) != 0 || receipt_public_key(s, pub) != 0)
        return -1;
    int rc = vst_keyd_sign_receipt(s->keyd, &r->f, sig);
    if (rc != 0) {
        if (rc < 0)
            slot_drop_keyd(s);
        hlog("error", "keyd did not sign a receipt: %s", vst_keyd_strerror(rc));
        return -1;
    }
    if (vst_receipt_verify(pub, &r->f, sig) != 1) {
        hlog("error", "keyd's receipt signature does not verify with its public key");
        return -1;
    }
    EVP_Digest(pub, 32, kid, NULL, EVP_sha256(), NULL);
    if (slot_trust(s) != 0)
        return -1;
    const char *p[] = {r->ref, (const char *)sig, (const char *)kid};
    int lens[] = {0, VST_ED25519_SIG_LEN, 32}, fmts[] = {0, 1, 1};
    PGresult *q = PQexecParams(s->trust, "SELECT vst.receipt_attach_signature($1::uuid, $2, $3)", 3,
                               NULL, p, lens, fmts, 0);
    int ok = PQresultStatus(q) == PGRES_TUPLES_OK;
    int attached = ok && PQgetvalue(q, 0, 0)[0] == 't';
    PQclear(q);
    if (!ok) {
        slot_drop_trust(s);
        metrics_db_error();
        return -1;
    }
    if (!attached) {
        /* Someone else signed it meanwhile: use what is stored. */
        const char *pr[] = {r->ref};
        PGresult *g = PQexecParams(s->trust, RECEIPT_COLUMNS "WHERE r.delivery_ref = $1::uuid", 1,
                                   NULL, pr, NULL, NULL, 0);
        int have = PQresultStatus(g) == PGRES_TUPLES_OK && PQntuples(g) == 1;
        if (have)
            from_row(g, 0, r);
        PQclear(g);
        return have && r->have_sig ? 0 : -1;
    }
    memcpy(r->sig, sig, sizeof sig);
    memcpy(r->kid, kid, sizeof kid);
    r->have_sig = r->have_kid = 1;
    return 0;
}

void receipt_sign_pending(slot *s)
{
    PGresult *r = PQexec(s->trust, RECEIPT_COLUMNS "WHERE r.signature IS NULL LIMIT 100");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        return;
    }
    int n = PQntuples(r), done = 0;
    for (int i = 0; i < n; i++) {
        stored_receipt sr;
        from_row(r, i, &sr);
        if (receipt_sign(s, &sr) != 0)
            break; /* keyd or the DB is down: next round */
        done++;
    }
    PQclear(r);
    if (done > 0)
        hlog("info", "signed %d receipt(s) left unsigned by an interruption", done);
}
