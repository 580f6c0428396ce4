/* PUT and GET /v1/deliveries/{id} (DESIGN.md §6).
 *
 * Before a worker slot is taken, a PUT is authenticated (auth.c),
 * checked against everything its headers decide, and refused at once while
 * vst-keyd is known to be stalled (health.c); a client holds at most
 * client-slots slots; a body that arrives slower than min-transfer-rate
 * (after a grace period) or grows past max-delivery-bytes is answered and
 * the connection closed; each keyd round trip is charged to the client's
 * daily identifier budget first. Every outcome event names how many
 * identifiers per domain keyd pseudonymized for the delivery, which is what
 * `vst-audit verify` reconciles keyd's own counts against.
 *
 * A PUT is processed as its body streams in, in bounded memory: lines are
 * cut out of the chunks (a line split across chunks is carried over), each
 * goes through the profile engine, valid rows are batched, a batch's
 * identifiers go to vst-keyd in one round trip, and the rows are COPYed
 * into an open store transaction. Nothing is visible before the commit of
 * store.c's protocol; any invalid line turns the delivery into a 422
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

#include "audit/audit.h"
#include "core/hex.h"
#include "core/secmem.h"
#include "httpd/batch.h"
#include "httpd/lines.h"
#include "httpd/receipt.h"
#include "httpd/request.h"

enum { PH_STREAM, PH_REPLAY, PH_REFUSED };

struct delivery {
    int phase;
    slot *s;
    client_info client;
    char id[VST_DELIVERY_ID_MAX + 1];
    const vst_profile *p;
    int64_t received_us, t0_ms;
    EVP_MD_CTX *sha;
    uint64_t bytes;
    stored_receipt old;
    peer_cache *peer; /* its connection (the watchdog's view), or NULL */
    vst_err refused;  /* PH_REFUSED: the answer once the body ends */
    uint64_t refused_bytes;
    int64_t refused_ms;
    int profile_asked; /* ?profile= was given */
    int close;         /* answer and close: the body is not read */
    httpd_lines lines; /* the body cut into lines (lines.c) */
    uint64_t lineno, records;
    vst_row *row;
    vst_errors errs;
    batch b;
    int store_open, invalid, locked;
    int received_logged, outcome_logged; /* every received delivery gets an outcome event */
    vst_err fail;                        /* infrastructure failure: answered with 503 */
    const char *fail_detail;
    unsigned fail_retry;
    uint32_t key_version;
    char ref[37];
    uint64_t *identifiers; /* per profile domain: pseudonymized by keyd for this delivery */
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
        d->fail_retry = e == VST_E_UNAVAILABLE ? 5 : 0;
    }
}

/* {"<domain>": n, ...}: the identifiers keyd pseudonymized for this
 * delivery, every domain of its profile (zeros included). */
static json_t *identifiers_json(const delivery *d)
{
    json_t *o = json_object();
    for (size_t i = 0; d->p != NULL && i < vst_profile_ndomains(d->p); i++)
        json_object_set_new(o, vst_profile_domain(d->p, i),
                            json_integer(d->identifiers ? (json_int_t)d->identifiers[i] : 0));
    return o;
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
              json_pack("{s:s, s:s, s:I, s:I, s:o}", "delivery_id", d->id, "code",
                        vst_err_code(code), "lines", (json_int_t)d->lineno, "body_bytes",
                        (json_int_t)d->bytes, "identifiers", identifiers_json(d))) != 0;
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

/* Gives the worker slot back early (a refusal in the middle of a body):
 * the lock on the id is released and nothing of the delivery stays open. */
static void release_slot(delivery *d)
{
    if (d->s == NULL)
        return;
    store_abort(d);
    if (d->locked && d->s->trust) {
        char key[160];
        snprintf(key, sizeof key, "%d/%s", d->client.id, d->id);
        const char *p[] = {key};
        PQclear(PQexecParams(d->s->trust, "SELECT pg_advisory_unlock(hashtextextended($1, 0))", 1,
                             NULL, p, NULL, NULL, 0));
    }
    d->locked = 0;
    pool_release(d->s);
    d->s = NULL;
}

/* Appends name, quoted as an SQL identifier (each part of a qualified
 * name on its own), to sql[*n..cap): profile files name the table and
 * columns, and nothing from a file goes into SQL unquoted. */
static int put_ident(PGconn *db, char *sql, size_t cap, size_t *n, const char *name)
{
    char part[128];
    for (const char *p = name; *p;) {
        size_t k = strcspn(p, ".");
        if (k == 0 || k >= sizeof part)
            return -1;
        memcpy(part, p, k);
        part[k] = '\0';
        char *q = PQescapeIdentifier(db, part, k);
        if (q == NULL)
            return -1;
        int w = snprintf(sql + *n, cap - *n, "%s%s", p == name ? "" : ".", q);
        PQfreemem(q);
        if (w < 0 || (size_t)w >= cap - *n)
            return -1;
        *n += (size_t)w;
        p += k + (p[k] == '.');
    }
    return 0;
}

static int copy_statement(PGconn *db, const vst_profile *p, char *sql, size_t cap)
{
    size_t n = (size_t)snprintf(sql, cap, "COPY ");
    if (put_ident(db, sql, cap, &n, vst_profile_table(p)) != 0)
        return -1;
    n += (size_t)snprintf(sql + n, cap - n, " (delivery_ref, key_version");
    for (size_t c = 0; c < vst_profile_ncolumns(p) && n < cap; c++) {
        n += (size_t)snprintf(sql + n, cap - n, ", ");
        if (n >= cap || put_ident(db, sql, cap, &n, vst_profile_column(p, c)->name) != 0)
            return -1;
    }
    if (n < cap)
        n += (size_t)snprintf(sql + n, cap - n, ") FROM STDIN");
    return n < cap ? 0 : -1;
}

static int store_begin(delivery *d)
{
    if (slot_store(d->s) != 0) {
        set_fail(d, VST_E_UNAVAILABLE, "the store is unreachable");
        health_mark_down("the store is unreachable");
        return -1;
    }
    char sql[4096];
    if (copy_statement(d->s->store, d->p, sql, sizeof sql) != 0) {
        set_fail(d, VST_E_INTERNAL, "the profile's table cannot be named");
        return -1;
    }
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

/* The answer to a failed keyd round trip. */
static void keyd_failed(delivery *d, int rc)
{
    metrics_keyd_error();
    if (rc < 0)
        slot_drop_keyd(d->s);
    hlog("error", "keyd refused a batch: %s", vst_keyd_strerror(rc));
    if (rc == VST_PROTO_E_TIMEOUT)
        health_mark_keyd_stalled();
    set_fail(d, rc == VST_KERR_INVALID_ARGUMENT ? VST_E_INTERNAL : VST_E_UNAVAILABLE,
             rc == VST_KERR_SEALED            ? "the key service is sealed"
             : rc == VST_KERR_BUDGET_EXCEEDED ? "the pseudonymization budget is exhausted"
             : rc == VST_KERR_BUSY            ? "the key service is busy"
             : rc == VST_PROTO_E_TIMEOUT      ? "the key service does not answer"
                                              : "the key service failed");
}

/* Pseudonymizes and sends the current batch. */
static void flush(delivery *d)
{
    if (d->b.rows == 0 || d->fail != VST_E_OK || d->invalid)
        return;
    if (!d->store_open && store_begin(d) != 0)
        return;
    unsigned wait =
        limits_identifiers(d->client.id, d->b.nids, g_hcfg.client_identifiers_day, mono_ms());
    if (wait > 0) {
        set_fail(d, VST_E_CLIENT_BUDGET, NULL);
        d->fail_retry = wait;
        return;
    }
    if (slot_keyd(d->s) != 0) {
        set_fail(d, VST_E_UNAVAILABLE, "the key service is unreachable");
        health_mark_down("vst-keyd is unreachable");
        return;
    }
    int rc = batch_resolve(&d->b, d->p, d->s->keyd, &d->key_version);
    if (rc != 0)
        return keyd_failed(d, rc);
    for (size_t s = 0; s < d->b.nsec; s++)
        d->identifiers[d->b.sec[s].domain] += d->b.sec[s].count;
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
    /* The client went away, or the watchdog cut it off for a slow body. */
    outcome(d, "delivery.aborted",
            d->peer != NULL && d->peer->cut_slow ? VST_E_TOO_SLOW : VST_E_MALFORMED);
    release_slot(d);
    EVP_MD_CTX_free(d->sha);
    httpd_lines_free(&d->lines);
    vst_row_free(d->row);
    vst_errors_free(&d->errs);
    batch_free(&d->b);
    free(d->identifiers);
    free(d);
}

/* Serialises attempts at the same (client, id). A second attempt waits
 * for the first at most db-lock-timeout (the session's lock_timeout), then
 * is told so (409, retry) instead of parking a worker on the lock for ever.
 * 1 locked, 0 held by another attempt, -1 database error. */
static int lock_id(delivery *d)
{
    char key[160];
    snprintf(key, sizeof key, "%d/%s", d->client.id, d->id);
    const char *p[] = {key};
    PGresult *r = PQexecParams(d->s->trust, "SELECT pg_advisory_lock(hashtextextended($1, 0))", 1,
                               NULL, p, NULL, NULL, 0);
    int rc = 1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        rc = state != NULL && strcmp(state, "55P03") == 0 ? 0 : -1; /* lock_not_available */
    }
    PQclear(r);
    return rc;
}

/* The first call: everything that can be decided from the headers. Returns
 * VST_E_OK with the delivery ready, or the error to answer with. */
static vst_err start(struct MHD_Connection *c, delivery *d, unsigned *retry)
{
    /* Authentication first, before a worker slot is taken: an
     * unauthenticated peer learns nothing about limits, profiles or ids
     * and costs no worker. */
    vst_err e = auth_client(c, &d->client);
    if (e == VST_E_OK && d->client.monitor)
        e = VST_E_CLIENT_UNKNOWN; /* a monitoring certificate delivers nothing */
    if (e != VST_E_OK) {
        *retry = e == VST_E_UNAVAILABLE ? 5 : 0;
        auth_audit_failure(e, &d->client, "PUT");
        return e;
    }
    /* "." and ".." are in the id alphabet but name no resource a proxy
     * would leave alone. */
    if (!vst_delivery_id_ok(d->id, strlen(d->id)) || strspn(d->id, ".") == strlen(d->id) ||
        httpd_id_carries_identifier(d->id))
        return VST_E_MALFORMED;
    if (!httpd_content_type_ok(c))
        return VST_E_UNSUPPORTED_MEDIA_TYPE;
    const char *prof = NULL;
    size_t prof_len = 0;
    MHD_lookup_connection_value_n(c, MHD_GET_ARGUMENT_KIND, "profile", 7, &prof, &prof_len);
    if (prof != NULL && strlen(prof) != prof_len)
        return VST_E_UNKNOWN_PROFILE; /* ?profile=sgb5%00x is no profile name */
    d->profile_asked = prof != NULL;
    if ((d->p = httpd_profile(prof ? prof : g_hcfg.default_profile)) == NULL)
        return VST_E_UNKNOWN_PROFILE;
    int64_t cl = httpd_content_length(c);
    if (cl == -2)
        return VST_E_MALFORMED;
    if (cl > (int64_t)g_hcfg.max_delivery_bytes) {
        d->close = 1; /* do not read a body we refuse */
        return VST_E_PAYLOAD_TOO_LARGE;
    }
    if ((*retry = limits_rate(d->client.id, g_hcfg.rate_limit, mono_ms())) > 0)
        return VST_E_RATE_LIMITED;
    if (health_keyd_stalled()) { /* do not make every sender wait out a timeout */
        d->fail_detail = "the key service does not answer";
        *retry = 5;
        return VST_E_UNAVAILABLE;
    }
    int busy = 0;
    if ((d->s = pool_acquire(d->client.id, 30000, &busy)) == NULL) {
        *retry = 5;
        return busy ? VST_E_CLIENT_BUSY : VST_E_UNAVAILABLE;
    }
    if (slot_trust(d->s) != 0) {
        *retry = 5;
        return VST_E_UNAVAILABLE;
    }
    int locked = lock_id(d);
    if (locked <= 0) {
        if (locked < 0)
            slot_drop_trust(d->s);
        *retry = locked < 0 ? 5 : 2;
        return locked < 0 ? VST_E_UNAVAILABLE : VST_E_DELIVERY_IN_PROGRESS;
    }
    d->locked = 1;
    int found = receipt_load(d->s->trust, d->client.id, d->id, &d->old);
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
        (d->row = vst_row_new(d->p)) == NULL || vst_errors_init(&d->errs, g_hcfg.max_errors) != 0 ||
        (d->identifiers = calloc(vst_profile_ndomains(d->p) + 1, sizeof *d->identifiers)) == NULL)
        return VST_E_NOMEM;
    batch_init(&d->b);
    d->received_logged = audit(d->s->trust, "delivery.received", d->client.name,
                               json_pack("{s:s, s:s}", "delivery_id", d->id, "profile",
                                         vst_profile_name(d->p))) != 0;
    return VST_E_OK;
}

/* ---- the end of the body */

/* The receipt document, signed first if it is not yet (a failure after its
 * commit). public_key is named only if it is the key that signed (kid:
 * SHA-256 of that key, as stored with the receipt). */
static enum MHD_Result answer_receipt(struct MHD_Connection *c, slot *s, unsigned status,
                                      stored_receipt *r)
{
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

static enum MHD_Result finish_replay(struct MHD_Connection *c, delivery *d, const uint8_t sha[32])
{
    double secs = (double)(mono_ms() - d->t0_ms) / 1000.0;
    /* The same id with another body, or explicitly for another profile, is
     * another delivery: never answered with the old receipt. */
    int other_body = memcmp(sha, d->old.f.body_sha256, 32) != 0;
    int other_profile = d->profile_asked && strcmp(vst_profile_name(d->p), d->old.f.profile) != 0;
    if (other_body || other_profile) {
        metrics_delivery(M_CONFLICT, 0, secs);
        audit(d->s->trust, "delivery.conflict", d->client.name,
              json_pack("{s:s, s:s, s:s, s:I}", "delivery_id", d->id, "profile",
                        vst_profile_name(d->p), "reason", other_body ? "body" : "profile",
                        "body_bytes", (json_int_t)d->bytes));
        return reply_problem(
            c, VST_E_DELIVERY_CONFLICT,
            other_body ? NULL : "this delivery id was stored under another profile", 0);
    }
    metrics_delivery(M_REPLAYED, 0, secs);
    audit(d->s->trust, "delivery.replayed", d->client.name,
          json_pack("{s:s, s:s, s:I}", "delivery_id", d->id, "profile", d->old.f.profile,
                    "stored_seq", (json_int_t)d->old.f.audit_seq));
    return answer_receipt(c, d->s, 200, &d->old);
}

static enum MHD_Result finish_rejected(struct MHD_Connection *c, delivery *d, const char *sha_x)
{
    store_abort(d);
    for (size_t i = 0; i < d->errs.n; i++)
        metrics_rejection(d->errs.items[i].code, 1);
    d->outcome_logged = 1;
    audit(d->s->trust, "delivery.rejected", d->client.name,
          json_pack("{s:s, s:s, s:I, s:I, s:s, s:I, s:s, s:o}", "delivery_id", d->id, "profile",
                    vst_profile_name(d->p), "errors_total", (json_int_t)d->errs.total, "lines",
                    (json_int_t)d->lineno, "body_sha256", sha_x, "body_bytes", (json_int_t)d->bytes,
                    "first_error",
                    d->errs.n ? vst_err_code(d->errs.items[0].code) : "empty_delivery",
                    "identifiers", identifiers_json(d)));
    metrics_delivery(M_REJECTED, 0, (double)(mono_ms() - d->t0_ms) / 1000.0);
    hlog("info", "delivery %s of %s rejected: %llu errors in %llu lines", d->id, d->client.name,
         (unsigned long long)d->errs.total, (unsigned long long)d->lineno);
    if (d->records == 0 && d->errs.total == 0)
        return reply_problem(c, VST_E_EMPTY_DELIVERY, NULL, 0);
    return reply_invalid_records(c, &d->errs);
}

/* The lock that keeps recovery away from this delivery (store.c). */
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

/* Ends the COPY and prepares the store transaction; 1 prepared, 0 not. */
static int prepare_store(delivery *d)
{
    PGconn *st = d->s->store;
    char sql[80];
    snprintf(sql, sizeof sql, "PREPARE TRANSACTION 'vst:%s'", d->ref);
    PGresult *r = NULL;
    int ok = drain(st) == 0 && PQsetnonblocking(st, 0) == 0 && PQputCopyEnd(st, NULL) == 1 &&
             (r = PQgetResult(st)) != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    while (ok && (r = PQgetResult(st)) != NULL)
        PQclear(r);
    d->store_open = 0;
    if (ok && exec_ok(st, sql))
        return 1;
    metrics_db_error();
    slot_drop_store(d->s);
    set_fail(d, VST_E_UNAVAILABLE, "the store could not take the delivery");
    return 0;
}

/* delivery.stored: the details verify-receipt matches, plus the
 * identifiers keyd pseudonymized for the delivery. */
static int audit_stored(delivery *d, vst_receipt_fields *f)
{
    char details[2048];
    size_t n = vst_audit_delivery_details(f, details, sizeof details);
    json_t *ids = identifiers_json(d);
    char *ij = json_dumps(ids, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(ids);
    int rc = -1;
    if (n > 1 && ij != NULL && n + strlen(ij) + 20 < sizeof details) {
        snprintf(details + n - 1, sizeof details - (n - 1), ",\"identifiers\":%s}", ij);
        rc = vst_audit_append(d->s->trust, "vst-httpd", "delivery.stored", f->client, details,
                              &f->audit_seq);
    }
    json_free_t jfree;
    json_get_alloc_funcs(NULL, &jfree);
    jfree(ij);
    return rc;
}

/* The receipt row and the delivery.stored event in one trust-DB
 * transaction: its commit is the decision. Returns 1 decided, 0 not. No
 * keyd call happens in here: the audit appenders' lock is held from the
 * append to the commit. */
static int decide(delivery *d, vst_receipt_fields *f)
{
    PGconn *tr = d->s->trust;
    if (!exec_ok(tr, "BEGIN")) {
        set_fail(d, VST_E_UNAVAILABLE, "the trust DB is unreachable");
        return 0;
    }
    if (audit_stored(d, f) != 0) {
        metrics_db_error();
        set_fail(d, VST_E_UNAVAILABLE, "the delivery could not be audited");
        return 0;
    }
    char cid[16], cnt[24], bytes[24], kv[16], rec[24], sto[24], seq[24];
    snprintf(cid, sizeof cid, "%d", d->client.id);
    snprintf(cnt, sizeof cnt, "%llu", (unsigned long long)f->record_count);
    snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)d->bytes);
    snprintf(kv, sizeof kv, "%u", f->key_version);
    snprintf(rec, sizeof rec, "%lld", (long long)f->received_at_us);
    snprintf(sto, sizeof sto, "%lld", (long long)f->stored_at_us);
    snprintf(seq, sizeof seq, "%llu", (unsigned long long)f->audit_seq);
    const char *p[] = {cid, d->id, d->ref, f->profile, cnt, bytes, (const char *)f->body_sha256,
                       kv,  rec,   sto,    seq};
    int lens[] = {0, 0, 0, 0, 0, 0, 32, 0, 0, 0, 0};
    int fmts[] = {0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    PGresult *r = PQexecParams(
        tr,
        "INSERT INTO vst.receipts (client_id, delivery_id, delivery_ref, profile, "
        "record_count, body_bytes, body_sha256, key_version, received_at, stored_at, "
        "audit_seq) VALUES ($1::int, $2, $3::uuid, $4, $5::bigint, $6::bigint, $7, $8::int, "
        "'epoch'::timestamptz + $9::bigint * interval '1 microsecond', "
        "'epoch'::timestamptz + $10::bigint * interval '1 microsecond', $11::bigint)",
        11, NULL, p, lens, fmts, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    /* The decision. If the connection dies inside COMMIT the outcome is
     * unknown here: the prepared store transaction is left for
     * store_recover(), which decides by the receipt. */
    if (ok && exec_ok(tr, "COMMIT"))
        return 1;
    set_fail(d, VST_E_UNAVAILABLE, "the receipt could not be committed");
    return 0;
}

static enum MHD_Result finish_stored(struct MHD_Connection *c, delivery *d, const uint8_t sha[32])
{
    flush(d);
    PGconn *tr = d->s->trust;
    char sql[80];
    if (d->fail == VST_E_OK && ref_lock(d, 1) != 0)
        set_fail(d, VST_E_UNAVAILABLE, "the trust DB is unreachable");
    int prepared = d->fail == VST_E_OK && prepare_store(d);
    if (d->key_version == 0 && d->fail == VST_E_OK) /* no identifiers at all */
        set_fail(d, VST_E_INTERNAL, "no key version");
    stored_receipt rc = {0};
    vst_receipt_fields *f = &rc.f;
    int decided = 0;
    if (d->fail == VST_E_OK) {
        snprintf(f->delivery_id, sizeof f->delivery_id, "%s", d->id);
        snprintf(f->client, sizeof f->client, "%s", d->client.name);
        snprintf(f->profile, sizeof f->profile, "%s", vst_profile_name(d->p));
        f->record_count = d->records;
        memcpy(f->body_sha256, sha, 32);
        f->key_version = d->key_version;
        f->received_at_us = d->received_us;
        f->stored_at_us = now_us();
        snprintf(rc.ref, sizeof rc.ref, "%s", d->ref);
        decided = d->outcome_logged = decide(d, f);
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
                             d->fail_retry ? d->fail_retry : 5);
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
    return answer_receipt(c, d->s, 201, &rc);
}

static enum MHD_Result finish(struct MHD_Connection *c, delivery *d)
{
    if (d->peer != NULL)
        d->peer->body_t0_ms = 0; /* the body is complete */
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
        return reply_problem(c, d->fail, d->fail_detail, d->fail_retry);
    }
    if (d->invalid || d->records == 0)
        return finish_rejected(c, d, sha_x);
    return finish_stored(c, d, sha);
}

/* A refusal in the middle of the body. libmicrohttpd cannot answer before
 * the body has ended, so the worker slot is given back at once and the
 * rest is discarded unread for at most REFUSED_DRAIN bytes or
 * REFUSED_DRAIN_MS — a small overshoot still gets its 413 — after which
 * the connection is closed: a 4 GiB upload is never drained, and a body
 * that trickles is closed without waiting for it (TOO_SLOW). */
#define REFUSED_DRAIN (1u << 20)
#define REFUSED_DRAIN_MS 2000

static enum MHD_Result refuse_mid_body(delivery *d, vst_err e)
{
    if (d->peer != NULL) {
        d->peer->body_t0_ms = 0;
        d->peer->close_at_ms = mono_ms() + REFUSED_DRAIN_MS; /* a sender that stops */
    }
    outcome(d, e == VST_E_TOO_SLOW ? "delivery.aborted" : "delivery.rejected", e);
    metrics_delivery(M_REFUSED, 0, (double)(mono_ms() - d->t0_ms) / 1000.0);
    release_slot(d);
    d->phase = PH_REFUSED;
    d->refused = e;
    d->refused_bytes = d->bytes;
    d->refused_ms = mono_ms();
    return e == VST_E_TOO_SLOW ? MHD_NO : MHD_YES;
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
        if ((d->peer = peer_of(c)) != NULL && e == VST_E_OK) {
            d->peer->body_bytes = 0;
            d->peer->body_t0_ms = d->t0_ms; /* the watchdog measures its rate */
        }
        if (e != VST_E_OK) {
            metrics_delivery(e == VST_E_UNAVAILABLE ? M_UNAVAILABLE : M_REFUSED, 0, 0);
            d->phase = PH_REFUSED;
            d->refused = e;
            d->refused_ms = mono_ms();
            /* Answer now; libmicrohttpd skips the body and closes. */
            return d->close ? reply_problem_close(c, e, NULL, retry)
                            : reply_problem(c, e, d->fail_detail, retry);
        }
        return MHD_YES;
    }
    if (d->phase == PH_REFUSED) {
        d->bytes += *upload_size;
        if (*upload_size == 0) /* the body ended: now it can be answered */
            return reply_problem_close(c, d->refused, NULL, 0);
        *upload_size = 0;
        return d->bytes - d->refused_bytes > REFUSED_DRAIN ||
                       mono_ms() - d->refused_ms > REFUSED_DRAIN_MS
                   ? MHD_NO
                   : MHD_YES;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        d->bytes += n;
        if (d->peer != NULL)
            d->peer->body_bytes = d->bytes;
        if (d->bytes > g_hcfg.max_delivery_bytes)
            return refuse_mid_body(d, VST_E_PAYLOAD_TOO_LARGE);
        int64_t ms = mono_ms() - d->t0_ms;
        if (g_hcfg.min_transfer_rate > 0 && ms > (int64_t)g_hcfg.min_rate_grace * 1000 &&
            d->bytes * 1000 / (uint64_t)ms < g_hcfg.min_transfer_rate)
            return refuse_mid_body(d, VST_E_TOO_SLOW);
        EVP_DigestUpdate(d->sha, upload, n);
        if (d->phase == PH_STREAM)
            httpd_lines_feed(&d->lines, upload, n);
        return MHD_YES;
    }
    return finish(c, d);
}

enum MHD_Result delivery_get(struct MHD_Connection *c, const char *id)
{
    client_info ci;
    vst_err e = auth_client(c, &ci);
    if (e == VST_E_OK && ci.monitor)
        e = VST_E_CLIENT_UNKNOWN;
    if (e != VST_E_OK) {
        auth_audit_failure(e, &ci, "GET");
        return reply_problem(c, e, NULL, e == VST_E_UNAVAILABLE ? 5 : 0);
    }
    unsigned wait = limits_rate(ci.id, g_hcfg.rate_limit, mono_ms());
    if (wait > 0)
        return reply_problem(c, VST_E_RATE_LIMITED, NULL, wait);
    int busy = 0;
    slot *s = pool_acquire(ci.id, 30000, &busy);
    if (s == NULL)
        return reply_problem(c, busy ? VST_E_CLIENT_BUSY : VST_E_UNAVAILABLE, NULL, busy ? 2 : 5);
    enum MHD_Result rc;
    stored_receipt r;
    int found = slot_trust(s) == 0 ? receipt_load(s->trust, ci.id, id, &r) : -1;
    if (found < 0) {
        slot_drop_trust(s);
        rc = reply_problem(c, VST_E_UNAVAILABLE, NULL, 5);
    } else if (found == 0) {
        /* Also for another client's delivery: no hint that it exists. */
        rc = reply_problem(c, VST_E_NOT_FOUND, NULL, 0);
    } else {
        rc = answer_receipt(c, s, 200, &r);
    }
    pool_release(s);
    return rc;
}
