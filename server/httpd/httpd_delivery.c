/* PUT and GET /v1/deliveries/{id} (DESIGN.md §6).
 *
 * A PUT is processed as its body streams in, in bounded memory: lines are
 * cut out of the chunks (a line split across chunks is carried over), each
 * goes through the profile engine, valid rows are batched, a batch's
 * identifiers go to vst-keyd in one round trip, and the rows are COPYed
 * into an open store transaction. Nothing is visible before the commit of
 * httpd_store.c's protocol; any invalid line turns the delivery into a 422
 * (the rest of the body is still checked so that every bad line is
 * reported) and the store transaction is rolled back. Deliveries are
 * idempotent by (client, id, body SHA-256): a replay gets the stored
 * receipt, a different body 409. A session advisory lock on (client, id)
 * serialises concurrent attempts at the same delivery. */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "common/hex.h"
#include "common/secmem.h"
#include "httpd_batch.h"
#include "httpd_lines.h"
#include "httpd_receipt.h"

enum { PH_STREAM, PH_REPLAY, PH_DRAIN };

struct delivery {
    int phase;
    vst_err drain_err;
    unsigned drain_retry;
    slot *s;
    client_info client;
    char id[VST_DELIVERY_ID_MAX + 1];
    const vst_profile *p;
    int64_t received_us, t0_ms;
    EVP_MD_CTX *sha;
    uint64_t bytes;
    vst_receipt_fields old;
    uint8_t old_sig[VST_ED25519_SIG_LEN], old_kid[32];
    int old_have_kid;
    httpd_lines lines; /* the body cut into lines (httpd_lines.c) */
    uint64_t lineno, records;
    vst_row *row;
    vst_errors errs;
    batch b;
    int store_open, invalid, locked;
    int received_logged, outcome_logged; /* every received delivery gets an outcome event */
    vst_err fail;                        /* infrastructure failure: answered with 503 */
    const char *fail_detail;
    uint32_t key_version;
    char ref[37];
};

/* ---- small helpers */

static void new_uuid(char out[37])
{
    uint8_t u[16];
    RAND_bytes(u, sizeof u);
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* version 4 */
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char h[33];
    vst_hex(u, 16, h);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

static void set_fail(delivery *d, vst_err e, const char *detail)
{
    if (d->fail == VST_E_OK) {
        d->fail = e;
        d->fail_detail = detail;
    }
}

static int exec_ok(PGconn *db, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
}

/* Appends an audit event (in the current transaction if one is open);
 * returns the sequence number or 0. details is a jansson object (stolen). */
static uint64_t audit(PGconn *trust, const char *action, const char *client, json_t *details)
{
    char *dj = json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(details);
    if (dj == NULL)
        return 0;
    uint64_t seq = 0;
    if (vst_audit_append(trust, "vst-httpd", action, client, dj, &seq) != 0) {
        metrics_db_error();
        seq = 0;
    }
    json_free_t jfree;
    json_get_alloc_funcs(NULL, &jfree);
    jfree(dj);
    return seq;
}

/* The outcome event of a delivery whose reception was logged and that was
 * neither stored nor rejected: refused mid-body, failed, or abandoned. */
static void outcome(delivery *d, const char *action, vst_err code)
{
    if (!d->received_logged || d->outcome_logged || d->s == NULL || slot_trust(d->s) != 0)
        return;
    if (PQtransactionStatus(d->s->trust) != PQTRANS_IDLE)
        exec_ok(d->s->trust, "ROLLBACK");
    d->outcome_logged =
        audit(d->s->trust, action, d->client.name,
              json_pack("{s:s, s:s, s:I, s:I}", "delivery_id", d->id, "code", vst_err_code(code),
                        "lines", (json_int_t)d->lineno, "body_bytes", (json_int_t)d->bytes)) != 0;
}

static void sha_hex(const uint8_t sha[32], char out[65])
{
    vst_hex(sha, 32, out);
}

/* ---- store transaction */

static void store_abort(delivery *d)
{
    if (!d->store_open)
        return;
    d->store_open = 0;
    PGconn *db = d->s->store;
    if (db == NULL)
        return;
    PQsetnonblocking(db, 0);
    if (PQputCopyEnd(db, "delivery aborted") == 1) {
        PGresult *r;
        while ((r = PQgetResult(db)) != NULL)
            PQclear(r);
    }
    if (!exec_ok(db, "ROLLBACK"))
        slot_drop_store(d->s);
}

static int store_begin(delivery *d)
{
    if (slot_store(d->s) != 0) {
        set_fail(d, VST_E_UNAVAILABLE, "the store is unreachable");
        return -1;
    }
    const vst_profile *p = d->p;
    char sql[1024];
    int n = snprintf(sql, sizeof sql, "COPY %s (delivery_ref, key_version", vst_profile_table(p));
    for (size_t c = 0; c < vst_profile_ncolumns(p); c++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, ", %s", vst_profile_column(p, c)->name);
    snprintf(sql + n, sizeof sql - (size_t)n, ") FROM STDIN");
    PGresult *r = NULL;
    if (exec_ok(d->s->store, "BEGIN") &&
        PQresultStatus(r = PQexec(d->s->store, sql)) == PGRES_COPY_IN) {
        PQclear(r);
        /* Non-blocking while COPYing: rows go to PostgreSQL while the next
         * batch is parsed (see flush and on_line), instead of the two
         * taking turns. */
        if (PQsetnonblocking(d->s->store, 1) != 0) {
            set_fail(d, VST_E_UNAVAILABLE, "the store connection failed");
            return -1;
        }
        d->store_open = 1;
        return 0;
    }
    PQclear(r);
    metrics_db_error();
    slot_drop_store(d->s);
    set_fail(d, VST_E_UNAVAILABLE, "the store refused the delivery");
    return -1;
}

/* Waits until libpq has handed everything queued to the kernel: at most
 * one batch is ever waiting in libpq, which bounds memory. */
static int drain(PGconn *db)
{
    int rc;
    while ((rc = PQflush(db)) == 1) {
        struct pollfd p = {.fd = PQsocket(db), .events = POLLOUT | POLLIN};
        if (poll(&p, 1, 30000) <= 0)
            return -1;
        if ((p.revents & POLLIN) && PQconsumeInput(db) == 0)
            return -1; /* the server reported an error or closed */
    }
    return rc;
}

/* Pseudonymizes and sends the current batch. */
static void flush(delivery *d)
{
    if (d->b.rows == 0 || d->fail != VST_E_OK || d->invalid)
        return;
    if (!d->store_open && store_begin(d) != 0)
        return;
    if (slot_keyd(d->s) != 0) {
        set_fail(d, VST_E_UNAVAILABLE, "the key service is unreachable");
        return;
    }
    int rc = batch_resolve(&d->b, d->p, d->s->keyd, &d->key_version);
    if (rc != 0) {
        metrics_keyd_error();
        if (rc < 0)
            slot_drop_keyd(d->s);
        hlog("error", "keyd refused a batch: %s", vst_keyd_strerror(rc));
        set_fail(d, rc == VST_KERR_INVALID_ARGUMENT ? VST_E_INTERNAL : VST_E_UNAVAILABLE,
                 rc == VST_KERR_SEALED            ? "the key service is sealed"
                 : rc == VST_KERR_BUDGET_EXCEEDED ? "the pseudonymization budget is exhausted"
                                                  : "the key service failed");
        return;
    }
    PGconn *db = d->s->store;
    int put = 0;
    while (drain(db) == 0 && (put = PQputCopyData(db, d->b.text, (int)d->b.len)) == 0)
        ; /* 0: libpq's buffer is full; drain and try again */
    if (put != 1 || PQflush(db) < 0) {
        metrics_db_error();
        set_fail(d, VST_E_UNAVAILABLE, "the store connection failed");
    }
    batch_reset(&d->b);
}

/* ---- lines */

static void on_line(void *ctx, const char *line, size_t len)
{
    delivery *d = ctx;
    d->lineno++;
    vst_err e = vst_profile_apply(d->p, line, len, d->lineno, d->row, &d->errs);
    if (e != VST_E_OK) {
        if (!d->invalid) {
            d->invalid = 1;
            store_abort(d); /* nothing of this delivery will be stored */
            batch_reset(&d->b);
        }
        return;
    }
    if (!d->invalid && d->fail == VST_E_OK) {
        if (batch_add_row(&d->b, d->p, d->row, d->ref) != 0)
            set_fail(d, VST_E_NOMEM, "out of memory");
        d->records++;
        if (d->b.rows >= g_hcfg.batch_records || d->b.nids + VST_ROW_MAX_IDS > VST_BATCH_MAX)
            flush(d);
        else if (d->store_open && (d->records & 255) == 0)
            PQflush(d->s->store); /* keep PostgreSQL fed; never blocks */
    } else {
        d->records++;
    }
    vst_row_clear(d->row); /* wipes the identifiers */
}

static void line_too_long(void *ctx)
{
    delivery *d = ctx;
    d->lineno++;
    vst_errors_add(&d->errs, d->lineno, "", VST_E_LINE_TOO_LONG);
    if (!d->invalid) {
        d->invalid = 1;
        store_abort(d);
        batch_reset(&d->b);
    }
}

/* ---- setup */

void delivery_free(delivery *d)
{
    if (d == NULL)
        return;
    store_abort(d);
    outcome(d, "delivery.aborted", VST_E_MALFORMED); /* the client went away */
    if (d->s != NULL) {
        if (d->locked && d->s->trust) {
            char key[160];
            snprintf(key, sizeof key, "%d/%s", d->client.id, d->id);
            const char *p[] = {key};
            PQclear(PQexecParams(d->s->trust, "SELECT pg_advisory_unlock(hashtextextended($1, 0))",
                                 1, NULL, p, NULL, NULL, 0));
        }
        pool_release(d->s);
    }
    EVP_MD_CTX_free(d->sha);
    httpd_lines_free(&d->lines);
    vst_row_free(d->row);
    vst_errors_free(&d->errs);
    batch_free(&d->b);
    free(d);
}

static int content_type_ok(struct MHD_Connection *c)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    const char *want = "application/x-ndjson";
    size_t n = strlen(want);
    return ct != NULL && strncasecmp(ct, want, n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* The first call: everything that can be decided from the headers. Returns
 * VST_E_OK with the delivery ready, or the error to answer with. */
static vst_err start(struct MHD_Connection *c, delivery *d, unsigned *retry)
{
    /* Authentication first: an unauthenticated peer learns nothing about
     * limits, profiles or ids. */
    if ((d->s = pool_acquire(30000)) == NULL) {
        *retry = 5;
        return VST_E_UNAVAILABLE;
    }
    vst_err e = auth_client(c, d->s, &d->client);
    if (e != VST_E_OK) {
        *retry = e == VST_E_UNAVAILABLE ? 5 : 0;
        auth_audit_failure(d->s, e, &d->client, "PUT");
        return e;
    }
    /* "." and ".." are in the id alphabet but name no resource a proxy
     * would leave alone. */
    if (!vst_delivery_id_ok(d->id, strlen(d->id)) || strspn(d->id, ".") == strlen(d->id))
        return VST_E_MALFORMED;
    /* The id goes into the audit log, which refuses anything shaped like a
     * KVNR or a pseudonym: refuse such an id now, not after the upload. */
    char probe[VST_DELIVERY_ID_MAX + 32];
    snprintf(probe, sizeof probe, "{\"delivery_id\":\"%s\"}", d->id);
    if (vst_audit_screen(NULL, NULL, probe) != 0)
        return VST_E_MALFORMED;
    if (!content_type_ok(c))
        return VST_E_UNSUPPORTED_MEDIA_TYPE;
    const char *prof = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "profile");
    if ((d->p = httpd_profile(prof ? prof : g_hcfg.default_profile)) == NULL)
        return VST_E_UNKNOWN_PROFILE;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl != NULL && strtoull(cl, NULL, 10) > g_hcfg.max_delivery_bytes)
        return VST_E_PAYLOAD_TOO_LARGE;
    if ((*retry = rate_check(d->client.id)) > 0)
        return VST_E_RATE_LIMITED;
    /* Serialise attempts at the same (client, id), then look for a receipt. */
    char key[160];
    snprintf(key, sizeof key, "%d/%s", d->client.id, d->id);
    const char *p[] = {key};
    PGresult *r = PQexecParams(d->s->trust, "SELECT pg_advisory_lock(hashtextextended($1, 0))", 1,
                               NULL, p, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    if (!ok) {
        slot_drop_trust(d->s);
        *retry = 5;
        return VST_E_UNAVAILABLE;
    }
    d->locked = 1;
    int found = receipt_load(d->s->trust, d->client.id, d->id, &d->old, d->old_sig, d->old_kid,
                             &d->old_have_kid);
    if (found < 0) {
        *retry = 5;
        return VST_E_UNAVAILABLE;
    }
    if ((d->sha = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(d->sha, EVP_sha256(), NULL) != 1)
        return VST_E_NOMEM;
    if (found) {
        d->phase = PH_REPLAY; /* only the body's hash matters now */
        return VST_E_OK;
    }
    d->phase = PH_STREAM;
    new_uuid(d->ref);
    /* + 1: a line may end in a CR, which the profile engine removes */
    if (httpd_lines_init(&d->lines, vst_profile_max_line(d->p) + 1, on_line, line_too_long, d) ||
        (d->row = vst_row_new(d->p)) == NULL || vst_errors_init(&d->errs, g_hcfg.max_errors) != 0)
        return VST_E_NOMEM;
    batch_init(&d->b);
    d->received_logged = audit(d->s->trust, "delivery.received", d->client.name,
                               json_pack("{s:s, s:s}", "delivery_id", d->id, "profile",
                                         vst_profile_name(d->p))) != 0;
    return VST_E_OK;
}

/* ---- the end of the body */

/* The receipt document. public_key is named only if it is the key that
 * signed (kid: SHA-256 of that key, as stored with the receipt). */
static enum MHD_Result answer_receipt(struct MHD_Connection *c, slot *s, unsigned status,
                                      const vst_receipt_fields *f, const uint8_t *sig,
                                      const uint8_t *kid)
{
    uint8_t pub[32], h[32];
    int have = receipt_public_key(s, pub) == 0;
    if (have && kid != NULL) {
        EVP_Digest(pub, 32, h, NULL, EVP_sha256(), NULL);
        have = memcmp(h, kid, 32) == 0;
    }
    char *json = receipt_json(f, sig, have ? pub : NULL);
    if (json == NULL)
        return reply_problem(c, VST_E_INTERNAL, NULL, 0);
    enum MHD_Result rc = reply_body(c, status, "application/json", json, strlen(json));
    free(json);
    return rc;
}

static enum MHD_Result finish_replay(struct MHD_Connection *c, delivery *d, const uint8_t sha[32])
{
    double secs = (double)(mono_ms() - d->t0_ms) / 1000.0;
    if (memcmp(sha, d->old.body_sha256, 32) != 0) {
        metrics_delivery(M_CONFLICT, 0, secs);
        return reply_problem(c, VST_E_DELIVERY_CONFLICT, NULL, 0);
    }
    metrics_delivery(M_REPLAYED, 0, secs);
    return answer_receipt(c, d->s, 200, &d->old, d->old_sig, d->old_have_kid ? d->old_kid : NULL);
}

static enum MHD_Result finish_rejected(struct MHD_Connection *c, delivery *d, const char *sha_x)
{
    store_abort(d);
    for (size_t i = 0; i < d->errs.n; i++)
        metrics_rejection(d->errs.items[i].code, 1);
    d->outcome_logged = 1;
    audit(d->s->trust, "delivery.rejected", d->client.name,
          json_pack("{s:s, s:s, s:I, s:I, s:s, s:I, s:s}", "delivery_id", d->id, "profile",
                    vst_profile_name(d->p), "errors_total", (json_int_t)d->errs.total, "lines",
                    (json_int_t)d->lineno, "body_sha256", sha_x, "body_bytes", (json_int_t)d->bytes,
                    "first_error",
                    d->errs.n ? vst_err_code(d->errs.items[0].code) : "empty_delivery"));
    metrics_delivery(M_REJECTED, 0, (double)(mono_ms() - d->t0_ms) / 1000.0);
    hlog("info", "delivery %s of %s rejected: %llu errors in %llu lines", d->id, d->client.name,
         (unsigned long long)d->errs.total, (unsigned long long)d->lineno);
    if (d->records == 0 && d->errs.total == 0)
        return reply_problem(c, VST_E_EMPTY_DELIVERY, NULL, 0);
    return reply_invalid_records(c, &d->errs);
}

/* The commit protocol of httpd_store.c: prepare the store transaction,
 * commit receipt + audit event in the trust DB (the decision), commit the
 * prepared store transaction. */
/* The lock that keeps recovery away from this delivery (httpd_store.c). */
static int ref_lock(delivery *d, int lock)
{
    char key[48];
    snprintf(key, sizeof key, "vst:%s", d->ref);
    const char *p[] = {key};
    PGresult *r = PQexecParams(d->s->trust,
                               lock ? "SELECT pg_advisory_lock(hashtextextended($1, 0))"
                                    : "SELECT pg_advisory_unlock(hashtextextended($1, 0))",
                               1, NULL, p, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok ? 0 : -1;
}

static enum MHD_Result finish_stored(struct MHD_Connection *c, delivery *d, const uint8_t sha[32])
{
    flush(d);
    PGconn *st = d->s->store, *tr = d->s->trust;
    char sql[80];
    if (d->fail == VST_E_OK && ref_lock(d, 1) != 0)
        set_fail(d, VST_E_UNAVAILABLE, "the trust DB is unreachable");
    snprintf(sql, sizeof sql, "PREPARE TRANSACTION 'vst:%s'", d->ref);
    int prepared = 0;
    if (d->fail == VST_E_OK) {
        PGresult *r = NULL;
        int ok = drain(st) == 0 && PQsetnonblocking(st, 0) == 0 && PQputCopyEnd(st, NULL) == 1 &&
                 (r = PQgetResult(st)) != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        while (ok && (r = PQgetResult(st)) != NULL)
            PQclear(r);
        d->store_open = 0;
        prepared = ok && exec_ok(st, sql);
        if (!prepared) {
            metrics_db_error();
            slot_drop_store(d->s);
            set_fail(d, VST_E_UNAVAILABLE, "the store could not take the delivery");
        }
    }
    if (d->key_version == 0 && d->fail == VST_E_OK) /* no identifiers at all */
        set_fail(d, VST_E_INTERNAL, "no key version");
    vst_receipt_fields f = {0};
    uint8_t sig[VST_ED25519_SIG_LEN];
    int decided = 0;
    if (d->fail == VST_E_OK) {
        snprintf(f.delivery_id, sizeof f.delivery_id, "%s", d->id);
        snprintf(f.client, sizeof f.client, "%s", d->client.name);
        snprintf(f.profile, sizeof f.profile, "%s", vst_profile_name(d->p));
        f.record_count = d->records;
        memcpy(f.body_sha256, sha, 32);
        f.key_version = d->key_version;
        f.received_at_us = d->received_us;
        f.stored_at_us = now_us();
        if (!exec_ok(tr, "BEGIN"))
            set_fail(d, VST_E_UNAVAILABLE, "the trust DB is unreachable");
    }
    if (d->fail == VST_E_OK) {
        /* The form `vst-audit verify-receipt` matches a receipt against. */
        if (vst_audit_append_delivery(tr, "vst-httpd", "delivery.stored", &f, &f.audit_seq) != 0) {
            metrics_db_error();
            f.audit_seq = 0;
        }
        int rc = f.audit_seq ? vst_keyd_sign_receipt(d->s->keyd, &f, sig) : -1;
        if (rc != 0) {
            set_fail(d, VST_E_UNAVAILABLE, "the receipt could not be signed");
            if (rc < 0 && f.audit_seq)
                slot_drop_keyd(d->s);
        }
    }
    if (d->fail == VST_E_OK) {
        char cid[16], cnt[24], bytes[24], kv[16], rec[24], sto[24], seq[24];
        snprintf(cid, sizeof cid, "%d", d->client.id);
        snprintf(cnt, sizeof cnt, "%llu", (unsigned long long)f.record_count);
        snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)d->bytes);
        snprintf(kv, sizeof kv, "%u", f.key_version);
        snprintf(rec, sizeof rec, "%lld", (long long)f.received_at_us);
        snprintf(sto, sizeof sto, "%lld", (long long)f.stored_at_us);
        snprintf(seq, sizeof seq, "%llu", (unsigned long long)f.audit_seq);
        uint8_t pubk[32], kid[32];
        const uint8_t *pub = receipt_public_key(d->s, pubk) == 0 ? pubk : NULL;
        if (pub)
            EVP_Digest(pub, 32, kid, NULL, EVP_sha256(), NULL);
        const char *p[] = {cid,
                           d->id,
                           d->ref,
                           f.profile,
                           cnt,
                           bytes,
                           (const char *)sha,
                           kv,
                           rec,
                           sto,
                           seq,
                           (const char *)sig,
                           pub ? (const char *)kid : NULL};
        int lens[] = {0, 0, 0, 0, 0, 0, 32, 0, 0, 0, 0, 64, 32};
        int fmts[] = {0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1};
        PGresult *r = PQexecParams(
            tr,
            "INSERT INTO vst.receipts (client_id, delivery_id, delivery_ref, profile, "
            "record_count, body_bytes, body_sha256, key_version, received_at, stored_at, "
            "audit_seq, signature, sign_key_id) VALUES ($1::int, $2, $3::uuid, $4, $5::bigint, "
            "$6::bigint, $7, $8::int, 'epoch'::timestamptz + $9::bigint * interval '1 "
            "microsecond', 'epoch'::timestamptz + $10::bigint * interval '1 microsecond', "
            "$11::bigint, $12, $13)",
            13, NULL, p, lens, fmts, 0);
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        /* The decision. If the connection dies inside COMMIT the outcome is
         * unknown here: the prepared store transaction is left for
         * store_recover(), which decides by the receipt. */
        if (ok && exec_ok(tr, "COMMIT"))
            decided = d->outcome_logged = 1;
        else
            set_fail(d, VST_E_UNAVAILABLE, "the receipt could not be committed");
    }
    if (!decided) {
        if (tr != NULL && PQstatus(tr) == CONNECTION_OK && PQtransactionStatus(tr) != PQTRANS_IDLE)
            exec_ok(tr, "ROLLBACK");
        if (prepared && PQstatus(tr) == CONNECTION_OK) {
            snprintf(sql, sizeof sql, "ROLLBACK PREPARED 'vst:%s'", d->ref);
            if (d->s->store == NULL || !exec_ok(d->s->store, sql))
                hlog("warning", "a prepared delivery is left for recovery");
        }
        outcome(d, "delivery.failed", d->fail == VST_E_OK ? VST_E_UNAVAILABLE : d->fail);
        if (PQstatus(tr) == CONNECTION_OK)
            ref_lock(d, 0);
        metrics_delivery(M_UNAVAILABLE, 0, (double)(mono_ms() - d->t0_ms) / 1000.0);
        return reply_problem(c, d->fail == VST_E_OK ? VST_E_UNAVAILABLE : d->fail, d->fail_detail,
                             5);
    }
    snprintf(sql, sizeof sql, "COMMIT PREPARED 'vst:%s'", d->ref);
    if (d->s->store == NULL || !exec_ok(d->s->store, sql)) {
        /* Retry on a fresh connection (the old one may be gone); if that
         * fails too, recovery commits it once the lock below is released. */
        slot_drop_store(d->s);
        if (slot_store(d->s) != 0 || !exec_ok(d->s->store, sql))
            hlog("error", "delivery %s decided but its store commit failed: left for recovery",
                 d->id);
    }
    ref_lock(d, 0);
    double secs = (double)(mono_ms() - d->t0_ms) / 1000.0;
    metrics_delivery(M_STORED, d->records, secs);
    hlog("info", "delivery %s of %s stored: %llu records, key version %u, %.3f s", d->id,
         d->client.name, (unsigned long long)d->records, d->key_version, secs);
    return answer_receipt(c, d->s, 201, &f, sig, NULL);
}

static enum MHD_Result finish(struct MHD_Connection *c, delivery *d)
{
    if (d->phase == PH_DRAIN) {
        outcome(d, "delivery.rejected", d->drain_err);
        return reply_problem(c, d->drain_err, NULL, d->drain_retry);
    }
    uint8_t sha[32];
    char sha_x[65];
    unsigned len = 0;
    EVP_DigestFinal_ex(d->sha, sha, &len);
    sha_hex(sha, sha_x);
    if (d->phase == PH_REPLAY)
        return finish_replay(c, d, sha);
    httpd_lines_finish(&d->lines);
    if (d->fail != VST_E_OK) {
        store_abort(d);
        outcome(d, "delivery.failed", d->fail);
        metrics_delivery(M_UNAVAILABLE, 0, (double)(mono_ms() - d->t0_ms) / 1000.0);
        return reply_problem(c, d->fail, d->fail_detail, d->fail == VST_E_UNAVAILABLE ? 5 : 0);
    }
    if (d->invalid || d->records == 0)
        return finish_rejected(c, d, sha_x);
    return finish_stored(c, d, sha);
}

enum MHD_Result delivery_put(struct MHD_Connection *c, const char *id, const char *upload,
                             size_t *upload_size, void **state)
{
    delivery *d = *state;
    if (d == NULL) {
        if ((d = calloc(1, sizeof *d)) == NULL)
            return MHD_NO;
        *state = d;
        d->t0_ms = mono_ms();
        d->received_us = now_us();
        snprintf(d->id, sizeof d->id, "%s", strlen(id) <= VST_DELIVERY_ID_MAX ? id : "");
        unsigned retry = 0;
        vst_err e = start(c, d, &retry);
        if (e != VST_E_OK) {
            metrics_delivery(e == VST_E_UNAVAILABLE ? M_UNAVAILABLE : M_REFUSED, 0, 0);
            /* Answer now; libmicrohttpd skips the body and closes. */
            return reply_problem(c, e, NULL, retry);
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        d->bytes += n;
        if (d->phase != PH_DRAIN && d->bytes > g_hcfg.max_delivery_bytes) {
            store_abort(d);
            d->phase = PH_DRAIN;
            d->drain_err = VST_E_PAYLOAD_TOO_LARGE;
        }
        if (d->phase == PH_DRAIN)
            return MHD_YES;
        EVP_DigestUpdate(d->sha, upload, n);
        if (d->phase == PH_STREAM)
            httpd_lines_feed(&d->lines, upload, n);
        return MHD_YES;
    }
    return finish(c, d);
}

enum MHD_Result delivery_get(struct MHD_Connection *c, const char *id)
{
    if (!vst_delivery_id_ok(id, strlen(id)))
        return reply_problem(c, VST_E_NOT_FOUND, NULL, 0);
    slot *s = pool_acquire(30000);
    if (s == NULL)
        return reply_problem(c, VST_E_UNAVAILABLE, NULL, 5);
    client_info ci;
    vst_err e = auth_client(c, s, &ci);
    enum MHD_Result rc;
    unsigned wait = 0;
    if (e != VST_E_OK) {
        auth_audit_failure(s, e, &ci, "GET");
        rc = reply_problem(c, e, NULL, e == VST_E_UNAVAILABLE ? 5 : 0);
    } else if ((wait = rate_check(ci.id)) > 0) {
        rc = reply_problem(c, VST_E_RATE_LIMITED, NULL, wait);
    } else {
        vst_receipt_fields f;
        uint8_t sig[VST_ED25519_SIG_LEN], kid[32];
        int have_kid = 0;
        int found = receipt_load(s->trust, ci.id, id, &f, sig, kid, &have_kid);
        if (found < 0) {
            slot_drop_trust(s);
            rc = reply_problem(c, VST_E_UNAVAILABLE, NULL, 5);
        } else if (found == 0) {
            /* Also for another client's delivery: no hint that it exists. */
            rc = reply_problem(c, VST_E_NOT_FOUND, NULL, 0);
        } else {
            rc = answer_receipt(c, s, 200, &f, sig, have_kid ? kid : NULL);
        }
    }
    pool_release(s);
    return rc;
}
