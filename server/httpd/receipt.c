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
#include "httpd/sql.h"

char *receipt_json(const vst_receipt_fields *f, const uint8_t sig[VST_ED25519_SIG_LEN],
                   const uint8_t *pub)
{
    /* One builder for every program: vst-send and vst-audit parse exactly
     * what this writes (server/audit/receipt_json.h). */
    return vst_receipt_json_build(f, sig, pub);
}

/* Row i of a result of SQL_RECEIPT_COLUMNS (sql.h) into *out. */
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
    /* The version the receipt was (or is to be) signed under: a receipt
     * from before issue 12 is v1 and is answered as it was signed. */
    f->withheld_count = strtoull(PQgetvalue(r, i, 12), NULL, 10);
    f->version = atoi(PQgetvalue(r, i, 13));
}

int receipt_from_result(PGresult *r, stored_receipt *out)
{
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return -1;
    int found = PQntuples(r) == 1;
    if (found)
        from_row(r, 0, out);
    return found;
}

int receipt_load(slot *s, int client_id, const char *delivery_id, stored_receipt *out)
{
    char cid[16];
    snprintf(cid, sizeof cid, "%d", client_id);
    const char *p[] = {cid, delivery_id};
    PGresult *r = sql_run(s, SQL_RECEIPT_BY_ID, p, NULL, NULL);
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
    PGresult *q = sql_run(s, SQL_RECEIPT_ATTACH_SIGNATURE, p, lens, fmts);
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
        PGresult *g = sql_run(s, SQL_RECEIPT_BY_REF, pr, NULL, NULL);
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

void receipt_attach_group(slot *s, stored_receipt *const *r, size_t n, const uint8_t kid[32])
{
    /* Text arrays of uuids and hex signatures: nothing in them needs
     * quoting. */
    size_t rcap = n * 38 + 3, scap = n * (2 * VST_ED25519_SIG_LEN + 1) + 3, rn = 0, sn = 0;
    char *refs = malloc(rcap), *sigs = malloc(scap), kid_x[65];
    if (refs != NULL && sigs != NULL && slot_trust(s) == 0) {
        refs[rn++] = sigs[sn++] = '{';
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                refs[rn++] = sigs[sn++] = ',';
            memcpy(refs + rn, r[i]->ref, 36);
            rn += 36;
            vst_hex(r[i]->sig, VST_ED25519_SIG_LEN, sigs + sn);
            sn += 2 * VST_ED25519_SIG_LEN;
        }
        memcpy(refs + rn, "}", 2);
        memcpy(sigs + sn, "}", 2);
        vst_hex(kid, 32, kid_x);
        /* Not waited for: the receipts have been answered, and a lost
         * attachment is made again identically (receipt_sign_pending). */
        const char *p[] = {refs, sigs, kid_x};
        sql_post(s, SQL_RECEIPTS_ATTACH_SIGNATURES, p);
    }
    free(refs);
    free(sigs);
}

void receipt_sign_pending(slot *s)
{
    PGresult *r = sql_run(s, SQL_RECEIPTS_UNSIGNED, NULL, NULL, NULL);
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

/* public_key is named only if it is the key that signed (kid: SHA-256 of
 * that key, as stored with the receipt). */
enum MHD_Result receipt_reply(struct MHD_Connection *c, slot *s, unsigned status, stored_receipt *r)
{
    return receipt_reply_key(c, s, status, r, NULL);
}

enum MHD_Result receipt_reply_key(struct MHD_Connection *c, slot *s, unsigned status,
                                  stored_receipt *r, const uint8_t *signer)
{
    if (r->have_sig && signer != NULL) {
        char *json = receipt_json(&r->f, r->sig, signer);
        if (json == NULL)
            return reply_problem(c, VST_E_INTERNAL, NULL, 0);
        enum MHD_Result rc = reply_body(c, status, "application/json", json, strlen(json));
        free(json);
        return rc;
    }
    if (receipt_sign(s, r) != 0)
        return reply_problem(c, VST_E_UNAVAILABLE,
                             "the delivery is stored; its receipt could not be signed yet "
                             "(retry the same request to fetch it)",
                             5);
    uint8_t pub[32], h[32];
    int have = receipt_public_key(s, pub) == 0;
    if (have && r->have_kid) {
        EVP_Digest(pub, 32, h, NULL, EVP_sha256(), NULL);
        have = memcmp(h, r->kid, 32) == 0;
    }
    char *json = receipt_json(&r->f, r->sig, have ? pub : NULL);
    if (json == NULL)
        return reply_problem(c, VST_E_INTERNAL, NULL, 0);
    enum MHD_Result rc = reply_body(c, status, "application/json", json, strlen(json));
    free(json);
    return rc;
}
