/* vst-audit verify-receipt: a receipt's signature with the trusted key, and
 * the log's delivery.stored event at the receipt's audit_seq (same client,
 * delivery id, body hash, record and withheld counts; the row's own hash
 * intact). */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/audit/audit_cli.h"
#include "core/hex.h"

static void help(void)
{
    printf("usage: vst-audit [--dsn DSN] verify-receipt RECEIPT-FILE\n"
           "                 [--public-key HEX | --public-key-file FILE]...\n\n"
           "Checks a delivery receipt (the JSON document vst-httpd returned to the\n"
           "insurer; format in docs/audit.md): its Ed25519 signature with the trusted\n"
           "signing key (never the key inside the receipt), and that the audit log's\n"
           "row audit_seq is the delivery.stored event of that delivery: same client,\n"
           "delivery_id, body_sha256, record_count and withheld_count (and profile\n"
           "and key_version),\n"
           "with an intact row hash. `vst-audit verify` checks the chain around it.\n\n"
           "Exit status: 0 verified, 1 not verified, 2 error.\n");
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        audit_fail(EXIT_ERR, "verify-receipt: cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = VST_RECEIPT_JSON_MAX + 2;
    char *buf = malloc(cap);
    size_t n = buf ? fread(buf, 1, cap, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (buf == NULL || err) {
        free(buf);
        audit_fail(EXIT_ERR, "verify-receipt: cannot read %s", path);
        return NULL;
    }
    if (n == cap) {
        free(buf);
        audit_fail(EXIT_BAD, "verify-receipt: %s is longer than a receipt can be", path);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Compares the event's details with the receipt; NULL if they agree, else
 * the first member that differs. */
static const char *mismatch(json_t *d, const vst_receipt_fields *f)
{
    char body[2 * VST_SHA256_LEN + 1];
    vst_hex(f->body_sha256, VST_SHA256_LEN, body);
    json_t *x = json_object_get(d, "delivery_id");
    if (!json_is_string(x) || strcmp(json_string_value(x), f->delivery_id) != 0)
        return "delivery_id";
    x = json_object_get(d, "body_sha256");
    if (!json_is_string(x) || strcmp(json_string_value(x), body) != 0)
        return "body_sha256";
    x = json_object_get(d, "record_count");
    if (!json_is_integer(x) || json_integer_value(x) < 0 ||
        (uint64_t)json_integer_value(x) != f->record_count)
        return "record_count";
    /* Optional in an event, but when present they must agree too. */
    x = json_object_get(d, "profile");
    if (x && (!json_is_string(x) || strcmp(json_string_value(x), f->profile) != 0))
        return "profile";
    x = json_object_get(d, "key_version");
    if (x && (!json_is_integer(x) || json_integer_value(x) != (json_int_t)f->key_version))
        return "key_version";
    /* An event from before issue 12 has none: nothing was withheld then
     * (and its receipt is v1, whose withheld count is 0). */
    x = json_object_get(d, "withheld_count");
    if (x ? !json_is_integer(x) || json_integer_value(x) < 0 ||
                (uint64_t)json_integer_value(x) != f->withheld_count
          : f->withheld_count != 0)
        return "withheld_count";
    return NULL;
}

static int check_event(PGconn *db, const vst_receipt *rc_)
{
    const vst_receipt_fields *f = &rc_->f;
    char seq[24];
    snprintf(seq, sizeof seq, "%" PRIu64, f->audit_seq);
    const char *p[] = {seq};
    PGresult *r = PQexecParams(
        db,
        "SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
        "db_user, actor, action, coalesce(client, ''), details::text, encode(prev_hash, 'hex'), "
        "encode(hash, 'hex'), "
        "(SELECT min(c.seq) FROM vst.audit_checkpoints c WHERE c.seq >= l.seq) "
        "FROM vst.audit_log l WHERE seq = $1::bigint",
        1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        int rc = audit_fail(EXIT_ERR, "verify-receipt: cannot read the audit log: %s",
                            audit_pgerr(db, r));
        PQclear(r);
        return rc;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        return audit_fail(EXIT_BAD,
                          "verify-receipt: the audit log has no row %s: the receipt's delivery "
                          "event is missing",
                          seq);
    }
    vst_audit_row row = {.seq = f->audit_seq};
    vst_audit_text *t[] = {&row.at,     &row.db_user, &row.actor,
                           &row.action, &row.client,  &row.details};
    for (int i = 0; i < 6; i++) {
        t[i]->p = PQgetvalue(r, 0, 1 + i);
        t[i]->n = (size_t)PQgetlength(r, 0, 1 + i);
    }
    uint8_t calc[VST_AUDIT_HASH_LEN];
    int hex_ok = vst_unhex_lower(PQgetvalue(r, 0, 7), (size_t)PQgetlength(r, 0, 7), row.prev_hash,
                                 VST_AUDIT_HASH_LEN) == 0 &&
                 vst_unhex_lower(PQgetvalue(r, 0, 8), (size_t)PQgetlength(r, 0, 8), row.hash,
                                 VST_AUDIT_HASH_LEN) == 0;
    int rc = EXIT_OK;
    const char *what;
    json_t *d = NULL;
    if (!hex_ok || vst_audit_row_hash(row.prev_hash, &row, calc) != 0 ||
        memcmp(calc, row.hash, VST_AUDIT_HASH_LEN) != 0) {
        rc = audit_fail(EXIT_BAD, "verify-receipt: audit row %s: hash mismatch (content changed)",
                        seq);
    } else if (strcmp(PQgetvalue(r, 0, 4), "delivery.stored") != 0) {
        rc = audit_fail(EXIT_BAD,
                        "verify-receipt: audit row %s is a \"%s\" event, not the delivery's "
                        "delivery.stored",
                        seq, PQgetvalue(r, 0, 4));
    } else if (strcmp(PQgetvalue(r, 0, 5), f->client) != 0) {
        rc = audit_fail(EXIT_BAD,
                        "verify-receipt: audit row %s does not match the receipt: client differs",
                        seq);
    } else if ((d = json_loads(PQgetvalue(r, 0, 6), 0, NULL)) == NULL || !json_is_object(d) ||
               (what = mismatch(d, f)) != NULL) {
        rc = audit_fail(EXIT_BAD,
                        "verify-receipt: audit row %s does not match the receipt: %s differs", seq,
                        json_is_object(d) ? what : "details");
    } else {
        printf("audit event: row %s, delivery.stored at %s by %s (%s)\n", seq, PQgetvalue(r, 0, 1),
               PQgetvalue(r, 0, 3), PQgetvalue(r, 0, 2));
        if (PQgetisnull(r, 0, 9))
            printf("checkpoint: none yet at or after row %s\n", seq);
        else
            printf("checkpoint: row %s is covered by the checkpoint at seq %s "
                   "(`vst-audit verify` checks the chain and its signature)\n",
                   seq, PQgetvalue(r, 0, 9));
    }
    json_decref(d);
    PQclear(r);
    return rc;
}

int cmd_verify_receipt(int argc, char **argv)
{
    if (audit_is_help(argc, argv)) {
        help();
        return EXIT_OK;
    }
    const char *file;
    int arc = audit_file_and_keys(argc, argv, "verify-receipt", "RECEIPT-FILE", &file);
    if (arc != EXIT_OK)
        return arc;
    size_t len;
    char *text = read_file(file, &len);
    if (text == NULL)
        return EXIT_ERR;
    vst_receipt rc_;
    char err[256];
    int bad = vst_receipt_json_parse(text, len, &rc_, err, sizeof err);
    free(text);
    if (bad)
        return audit_fail(EXIT_BAD, "verify-receipt: %s", err);

    if (rc_.has_public_key) {
        size_t k = 0;
        while (k < g_aopt.nkeys && memcmp(g_aopt.keys[k], rc_.public_key, VST_ED25519_PUB_LEN) != 0)
            k++;
        if (k == g_aopt.nkeys)
            return audit_fail(EXIT_BAD, "verify-receipt: the receipt names a public key that is "
                                        "not the trusted signing key");
    }
    size_t k = 0;
    while (k < g_aopt.nkeys && vst_receipt_verify(g_aopt.keys[k], &rc_.f, rc_.signature) != 1)
        k++;
    if (k == g_aopt.nkeys)
        return audit_fail(EXIT_BAD, "verify-receipt: bad signature: the receipt was altered or "
                                    "not signed by the trusted key");
    char kid[17];
    vst_hex(g_aopt.keys[k], 8, kid);
    printf("signature: OK (signing key %s...)\n", kid);

    PGconn *db = audit_connect();
    if (db == NULL)
        return EXIT_ERR;
    int rc = check_event(db, &rc_);
    PQfinish(db);
    /* A v1 receipt (before issue 12) states no withheld count. */
    char withheld[48] = "; receipt v1";
    if (rc_.f.version == VST_RECEIPT_V2)
        snprintf(withheld, sizeof withheld, ", %" PRIu64 " withheld", rc_.f.withheld_count);
    if (rc == EXIT_OK)
        printf("OK: receipt for delivery %s of client \"%s\" (%" PRIu64
               " records%s) verified against audit row %" PRIu64 "\n",
               rc_.f.delivery_id, rc_.f.client, rc_.f.record_count, withheld, rc_.f.audit_seq);
    return rc;
}
