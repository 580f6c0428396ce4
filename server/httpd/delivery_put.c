/* PUT /v1/deliveries/{id} (DESIGN.md §6), in the order a request runs:
 *
 *   headers  start(): authentication first, then everything the headers
 *            decide (id, Content-Type, profile, Content-Length, request
 *            rate, a stalled keyd) before a worker slot is taken; then the
 *            slot (a client holds at most client-slots), the attempt lock
 *            (store.c) and the receipt lookup: an id with a receipt is a
 *            replay, whose body is only hashed.
 *   stream   body(): the body as it arrives, in bounded memory: its size
 *            (max-delivery-bytes) and rate (min-transfer-rate after a
 *            grace period) — a refusal gives the slot back at once — its
 *            SHA-256, and lines cut out of the chunks (lines.c).
 *   batch    on_line(), flush(): each line through the profile engine;
 *            valid rows are batched (batch.c); a batch's identifiers go to
 *            vst-keyd in one round trip, charged to the client's daily
 *            identifier budget first, and its rows are COPYed into an open
 *            store transaction (store.c) — a composite profile's persons
 *            go to keyd's CV_DERIVE instead (DESIGN.md §13) — but for the rows with an
 *            identifier keyd withheld (an objection, DESIGN.md §12): they
 *            were validated, are counted, and are not stored (batch.c).
 *            Any invalid line turns the
 *            delivery into a 422 and the store transaction is rolled back;
 *            the rest of the body is still checked, so that every bad line
 *            is reported.
 *   commit   commit(): store.c's protocol — prepare the store transaction,
 *            decide in the trust DB (receipt and delivery.stored), commit.
 *            Nothing is visible before.
 *   reply    201 with the signed receipt (record_count stored,
 *            withheld_count withheld); for a replay 200 with the stored
 *            receipt or 409 for another body; 422 listing the bad lines;
 *            503 with Retry-After when a dependency failed.
 *
 * Every received delivery gets exactly one outcome event
 * (delivery_events.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "httpd/delivery.h"
#include "httpd/group_commit.h"
#include "httpd/request.h"

static void set_fail(delivery *d, vst_err e, const char *detail)
{
    if (d->fail == VST_E_OK) {
        d->fail = e;
        d->fail_detail = detail;
        d->fail_retry = e == VST_E_UNAVAILABLE ? 5 : 0;
    }
}

/* Adds the time since *t0 to phase ph and restarts the clock. */
static void lap(delivery *d, delivery_phase ph, int64_t *t0)
{
    int64_t now = mono_us();
    d->phase_us[ph] += (uint64_t)(now - *t0);
    *t0 = now;
}

static double elapsed_s(const delivery *d)
{
    return (double)(mono_ms() - d->t0_ms) / 1000.0;
}

/* ---- headers */

/* Everything the headers decide, before a worker slot is taken: an
 * unauthenticated peer learns nothing about limits, profiles or ids and
 * costs no worker. VST_E_OK, or the answer. */
static vst_err check_headers(struct MHD_Connection *c, delivery *d, unsigned *retry)
{
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
    if ((*retry = limits_rate(d->client.id, limits_rate_of(d->client.rate_limit, g_hcfg.rate_limit),
                              mono_ms())) > 0)
        return VST_E_RATE_LIMITED;
    if (health_keyd_stalled()) { /* do not make every sender wait out a timeout */
        d->fail_detail = "the key service does not answer";
        *retry = 5;
        return VST_E_UNAVAILABLE;
    }
    return VST_E_OK;
}

/* A worker slot, the attempt lock on (client, id), and the receipt of the
 * id if there is one (*found). */
static vst_err take_slot(delivery *d, unsigned *retry, int *found)
{
    int busy = 0;
    if ((d->s = pool_acquire(d->client.id, 30000, &busy)) == NULL) {
        *retry = 5;
        return busy ? VST_E_CLIENT_BUSY : VST_E_UNAVAILABLE;
    }
    if (slot_trust(d->s) != 0) {
        *retry = 5;
        return VST_E_UNAVAILABLE;
    }
    PGresult *receipt = NULL; /* the lock, then the lookup: one round trip */
    int locked = store_lock_attempt_load(d->s, d->client.id, d->id, &receipt);
    if (locked <= 0) {
        *retry = locked < 0 ? 5 : 2;
        return locked < 0 ? VST_E_UNAVAILABLE : VST_E_DELIVERY_IN_PROGRESS;
    }
    d->locked = 1;
    *found = receipt_from_result(receipt, &d->old);
    PQclear(receipt);
    if (*found < 0) {
        *retry = 5;
        return VST_E_UNAVAILABLE;
    }
    return VST_E_OK;
}

static void on_line(void *ctx, const char *line, size_t len);
static void line_too_long(void *ctx);

/* The first call. VST_E_OK with the delivery ready to stream (or, for a
 * replay, to hash), or the error to answer with. */
static vst_err start(struct MHD_Connection *c, delivery *d, unsigned *retry)
{
    int found = 0;
    vst_err e = check_headers(c, d, retry);
    int64_t t0 = mono_us();
    if (e == VST_E_OK)
        e = take_slot(d, retry, &found);
    lap(d, PHASE_SLOT, &t0);
    if (e != VST_E_OK)
        return e;
    if ((d->sha = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(d->sha, EVP_sha256(), NULL) != 1)
        return VST_E_NOMEM;
    if (found) {
        d->phase = PH_REPLAY; /* only the body's hash matters now */
        return VST_E_OK;
    }
    d->phase = PH_STREAM;
    store_tx_init(&d->tx);
    /* + 1: a line may end in a CR, which the profile engine removes */
    if (httpd_lines_init(&d->lines, vst_profile_max_line(d->p) + 1, on_line, line_too_long, d) ||
        (d->row = vst_row_new(d->p)) == NULL || vst_errors_init(&d->errs, g_hcfg.max_errors) != 0 ||
        (d->identifiers = calloc(vst_profile_ndomains(d->p) + 1, sizeof *d->identifiers)) == NULL)
        return VST_E_NOMEM;
    batch_init(&d->b);
    /* delivery.received waits: appended with the outcome of a delivery
     * that fits one batch, before the first batch of a larger one. */
    d->received = 1;
    return VST_E_OK;
}

/* ---- batch */

/* The answer to a failed keyd round trip. */
static void keyd_failed(delivery *d, int rc)
{
    metrics_keyd_error();
    if (rc < 0)
        slot_drop_keyd(d->s);
    hlog("error", "keyd refused a batch: %s", vst_keyd_strerror(rc));
    if (rc == VST_PROTO_E_TIMEOUT)
        health_mark_keyd_stalled();
    /* The answer and its detail are the code's line in vst_error.def. */
    const char *detail;
    vst_err e = vst_keyd_http_err(rc, &detail);
    set_fail(d, e, detail);
}

/* Pseudonymizes the current batch (fills its holes): 0, or -1 with
 * d->fail set. */
static int resolve(delivery *d)
{
    /* A person sent for control values counts like an identifier. */
    unsigned wait = limits_identifiers(d->client.id, d->b.nids + d->b.npersons,
                                       g_hcfg.client_identifiers_day, mono_ms());
    if (wait > 0) {
        set_fail(d, VST_E_CLIENT_BUDGET, NULL);
        d->fail_retry = wait;
        return -1;
    }
    if (slot_keyd(d->s) != 0) {
        set_fail(d, VST_E_UNAVAILABLE, "the key service is unreachable");
        health_mark_down("vst-keyd is unreachable");
        return -1;
    }
    d->b.persons_served = 0;
    int64_t t0 = mono_us();
    int rc = batch_resolve(&d->b, d->p, d->s->keyd, &d->key_version);
    lap(d, PHASE_KEYD, &t0);
    d->linked += d->b.persons_served;
    if (rc != 0) {
        keyd_failed(d, rc);
        return -1;
    }
    for (size_t s = 0; s < d->b.nsec; s++)
        d->identifiers[d->b.sec[s].domain] += d->b.sec[s].count;
    d->withheld += d->b.withheld_rows;
    return 0;
}

/* Pseudonymizes the current batch and sends it to the store: a delivery
 * larger than one batch, in its own store transaction. */
static void flush(delivery *d)
{
    if (d->b.rows == 0 || d->fail != VST_E_OK || d->invalid)
        return;
    const char *detail = NULL;
    int64_t t0 = mono_us();
    /* Its reception is logged before keyd serves any of it. */
    if (!d->received_logged)
        d->received_logged = delivery_event_received(d);
    vst_err e = d->tx.copying ? VST_E_OK : store_copy_begin(d->s, &d->tx, d->p, &detail);
    lap(d, PHASE_COPY, &t0);
    if (e != VST_E_OK) {
        set_fail(d, e, detail);
        return;
    }
    if (resolve(d) != 0)
        return;
    t0 = mono_us();
    /* A batch keyd withheld entirely has nothing left to COPY. */
    if (d->b.len > 0 && (e = store_copy_rows(d->s, d->b.text, d->b.len, &detail)) != VST_E_OK)
        set_fail(d, e, detail);
    lap(d, PHASE_COPY, &t0);
    batch_reset(&d->b);
}

/* The first bad line: nothing of this delivery will be stored. */
static void turn_invalid(delivery *d)
{
    if (!d->invalid) {
        d->invalid = 1;
        store_copy_abort(d->s, &d->tx);
        batch_reset(&d->b);
    }
}

static void on_line(void *ctx, const char *line, size_t len)
{
    delivery *d = ctx;
    d->lineno++;
    vst_err e = vst_profile_apply(d->p, line, len, d->lineno, d->row, &d->errs);
    if (e != VST_E_OK) {
        turn_invalid(d);
        return;
    }
    if (!d->invalid && d->fail == VST_E_OK) {
        if (batch_add_row(&d->b, d->p, d->row, d->tx.ref) != 0)
            set_fail(d, VST_E_NOMEM, "out of memory");
        d->records++;
        if (d->b.rows >= g_hcfg.batch_records || d->b.nids + VST_ROW_MAX_IDS > VST_BATCH_MAX)
            flush(d);
        else if ((d->records & 255) == 0)
            store_copy_nudge(d->s, &d->tx); /* keep PostgreSQL fed */
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
    turn_invalid(d);
}

/* ---- commit and reply */

static enum MHD_Result finish_replay(struct MHD_Connection *c, delivery *d, const uint8_t sha[32])
{
    double secs = elapsed_s(d);
    /* The same id with another body, or explicitly for another profile, is
     * another delivery: never answered with the old receipt. */
    int other_body = memcmp(sha, d->old.f.body_sha256, 32) != 0;
    int other_profile = d->profile_asked && strcmp(vst_profile_name(d->p), d->old.f.profile) != 0;
    if (other_body || other_profile) {
        metrics_delivery(M_CONFLICT, 0, secs);
        delivery_event_conflict(d, other_body);
        return reply_problem(
            c, VST_E_DELIVERY_CONFLICT,
            other_body ? NULL : "this delivery id was stored under another profile", 0);
    }
    metrics_delivery(M_REPLAYED, 0, secs);
    delivery_event_replayed(d);
    return receipt_reply(c, d->s, 200, &d->old);
}

static enum MHD_Result finish_rejected(struct MHD_Connection *c, delivery *d, const uint8_t sha[32])
{
    store_copy_abort(d->s, &d->tx);
    for (size_t i = 0; i < d->errs.n; i++)
        metrics_rejection(d->errs.items[i].code, 1);
    delivery_event_rejected(d, sha);
    metrics_delivery(M_REJECTED, 0, elapsed_s(d));
    hlog("info", "delivery %s of %s rejected: %llu errors in %llu lines", d->id, d->client.name,
         (unsigned long long)d->errs.total, (unsigned long long)d->lineno);
    if (d->records == 0 && d->errs.total == 0)
        return reply_problem(c, VST_E_EMPTY_DELIVERY, NULL, 0);
    return reply_invalid_records(c, &d->errs);
}

static void receipt_fields(const delivery *d, const uint8_t sha[32], stored_receipt *rc)
{
    vst_receipt_fields *f = &rc->f;
    snprintf(f->delivery_id, sizeof f->delivery_id, "%s", d->id);
    snprintf(f->client, sizeof f->client, "%s", d->client.name);
    snprintf(f->profile, sizeof f->profile, "%s", vst_profile_name(d->p));
    /* Every new receipt is v2: record_count the records stored,
     * withheld_count the valid ones an objection kept out (DESIGN.md §12). */
    f->version = VST_RECEIPT_V2;
    f->record_count = d->records - d->withheld;
    f->withheld_count = d->withheld;
    memcpy(f->body_sha256, sha, 32);
    f->key_version = d->key_version;
    f->received_at_us = d->received_us;
    f->stored_at_us = now_us();
    snprintf(rc->ref, sizeof rc->ref, "%s", d->tx.ref);
}

/* Not decided: everything rolled back (or left to recovery), 503. */
static enum MHD_Result not_committed(struct MHD_Connection *c, delivery *d)
{
    store_undo(d->s, &d->tx);
    delivery_event_outcome(d, "delivery.failed", d->fail == VST_E_OK ? VST_E_UNAVAILABLE : d->fail);
    store_unlock_ref(d->s, &d->tx);
    metrics_delivery(M_UNAVAILABLE, 0, elapsed_s(d));
    return reply_problem(c, d->fail == VST_E_OK ? VST_E_UNAVAILABLE : d->fail, d->fail_detail,
                         d->fail_retry ? d->fail_retry : 5);
}

static enum MHD_Result reply_stored(struct MHD_Connection *c, delivery *d, stored_receipt *rc,
                                    const uint8_t *pub, int64_t t0)
{
    double secs = elapsed_s(d);
    metrics_delivery(M_STORED, rc->f.record_count, secs);
    metrics_withheld(rc->f.withheld_count);
    hlog("info", "delivery %s of %s stored: %llu records, %llu withheld, key version %u, %.3f s",
         d->id, d->client.name, (unsigned long long)rc->f.record_count,
         (unsigned long long)rc->f.withheld_count, d->key_version, secs);
    enum MHD_Result r = receipt_reply_key(c, d->s, 201, rc, pub);
    lap(d, PHASE_SIGN, &t0);
    metrics_phases(d->phase_us);
    return r;
}

/* A delivery that fits one batch: pseudonymized here, then committed by
 * its commit group (group_commit.h), which also signs its receipt. */
static enum MHD_Result commit_grouped(struct MHD_Connection *c, delivery *d, const uint8_t sha[32])
{
    if (resolve(d) != 0)
        return not_committed(c, d);
    if (d->key_version == 0) /* no identifiers at all */
        set_fail(d, VST_E_INTERNAL, "no key version");
    gc_entry e = {.p = d->p,
                  .copy = d->b.text,
                  .copy_len = d->b.len,
                  .client_id = d->client.id,
                  .body_bytes = d->bytes};
    receipt_fields(d, sha, &e.rc);
    e.stored_details = delivery_stored_details(d, &e.rc.f);
    e.received_details = d->received_logged ? NULL : delivery_received_details(d);
    /* The screen vst_audit_append applies to every event, here on the
     * delivery's own thread rather than the committer's. */
    if (e.stored_details == NULL || (!d->received_logged && e.received_details == NULL) ||
        vst_audit_screen("vst-httpd", d->client.name, e.stored_details) != 0 ||
        vst_audit_screen("vst-httpd", d->client.name, e.received_details) != 0)
        set_fail(d, VST_E_UNAVAILABLE, "the delivery could not be audited");
    int64_t t0 = mono_us();
    if (d->fail == VST_E_OK) {
        group_commit_submit(&e);
        if (e.result != VST_E_OK)
            set_fail(d, e.result, e.detail);
    }
    lap(d, PHASE_GROUP, &t0);
    free(e.stored_details);
    free(e.received_details);
    batch_reset(&d->b); /* wipes the rows */
    if (d->fail != VST_E_OK) {
        /* Nothing is prepared here; a decision of unknown outcome is
         * recovery's (the retry then finds the receipt or stores anew). */
        return not_committed(c, d);
    }
    d->received_logged = d->outcome_logged = 1; /* both in the group's statement */
    return reply_stored(c, d, &e.rc, e.rc.have_sig ? e.pub : NULL, t0);
}

static enum MHD_Result commit(struct MHD_Connection *c, delivery *d, const uint8_t sha[32])
{
    if (!d->tx.copying && d->records <= g_hcfg.group_max_records) /* all in one batch */
        return commit_grouped(c, d, sha);
    flush(d); /* the last batch */
    const char *detail = NULL;
    vst_err e;
    int64_t t0 = mono_us();
    if (d->fail == VST_E_OK && (e = store_prepare(d->s, &d->tx, &detail)) != VST_E_OK)
        set_fail(d, e, detail);
    lap(d, PHASE_PREPARE, &t0);
    if (d->key_version == 0 && d->fail == VST_E_OK) /* no identifiers at all */
        set_fail(d, VST_E_INTERNAL, "no key version");
    if (d->fail != VST_E_OK)
        return not_committed(c, d);
    stored_receipt rc = {0};
    receipt_fields(d, sha, &rc);
    char *details = delivery_stored_details(d, &rc.f);
    e = store_decide(d->s, &d->tx, &rc.f, d->client.id, d->bytes, details, &detail);
    free(details);
    lap(d, PHASE_DECIDE, &t0);
    if (e != VST_E_OK) {
        set_fail(d, e, detail);
        return not_committed(c, d);
    }
    d->outcome_logged = 1; /* delivery.stored, with the decision */
    store_commit(d->s, &d->tx, d->id);
    lap(d, PHASE_COMMIT, &t0);
    return reply_stored(c, d, &rc, NULL, t0);
}

/* The body has ended. */
static enum MHD_Result finish(struct MHD_Connection *c, delivery *d)
{
    if (d->peer != NULL)
        d->peer->body_t0_ms = 0; /* the body is complete */
    uint8_t sha[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(d->sha, sha, &len);
    if (d->phase == PH_REPLAY)
        return finish_replay(c, d, sha);
    httpd_lines_finish(&d->lines);
    if (d->fail != VST_E_OK) {
        store_copy_abort(d->s, &d->tx);
        delivery_event_outcome(d, "delivery.failed", d->fail);
        metrics_delivery(M_UNAVAILABLE, 0, elapsed_s(d));
        return reply_problem(c, d->fail, d->fail_detail, d->fail_retry);
    }
    if (d->invalid || d->records == 0)
        return finish_rejected(c, d, sha);
    return commit(c, d, sha);
}

/* ---- stream */

/* Gives the worker slot back early (a refusal in the middle of a body):
 * the lock on the id is released and nothing of the delivery stays open. */
static void release_slot(delivery *d)
{
    if (d->s == NULL)
        return;
    store_copy_abort(d->s, &d->tx);
    if (d->locked)
        store_unlock_attempt(d->s, d->client.id, d->id);
    d->locked = 0;
    pool_release(d->s);
    d->s = NULL;
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
    delivery_event_outcome(d, e == VST_E_TOO_SLOW ? "delivery.aborted" : "delivery.rejected", e);
    metrics_delivery(M_REFUSED, 0, elapsed_s(d));
    release_slot(d);
    d->phase = PH_REFUSED;
    d->refused = e;
    d->refused_bytes = d->bytes;
    d->refused_ms = mono_ms();
    return e == VST_E_TOO_SLOW ? MHD_NO : MHD_YES;
}

/* The body of a refused delivery, discarded until it ends (then answered)
 * or grows or lasts too long (then the connection is closed). */
static enum MHD_Result discard(struct MHD_Connection *c, delivery *d, size_t *upload_size)
{
    d->bytes += *upload_size;
    if (*upload_size == 0) /* the body ended: now it can be answered */
        return reply_problem_close(c, d->refused, NULL, 0);
    *upload_size = 0;
    return d->bytes - d->refused_bytes > REFUSED_DRAIN ||
                   mono_ms() - d->refused_ms > REFUSED_DRAIN_MS
               ? MHD_NO
               : MHD_YES;
}

/* A chunk of the body: counted, checked against size and rate, hashed,
 * cut into lines (which run the batch step). */
static enum MHD_Result body(delivery *d, const char *upload, size_t *upload_size)
{
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

/* The first call: the headers. A refusal is answered at once;
 * libmicrohttpd then skips the body, or closes the connection. */
static enum MHD_Result first_call(struct MHD_Connection *c, const http_call *call)
{
    delivery *d = calloc(1, sizeof *d);
    if (d == NULL)
        return MHD_NO;
    *call->state = d;
    d->t0_ms = mono_ms();
    d->received_us = now_us();
    snprintf(d->id, sizeof d->id, "%s", strlen(call->id) <= VST_DELIVERY_ID_MAX ? call->id : "");
    unsigned retry = 0;
    vst_err e = start(c, d, &retry);
    if ((d->peer = peer_of(c)) != NULL && e == VST_E_OK) {
        d->peer->body_bytes = 0;
        d->peer->body_t0_ms = d->t0_ms; /* the watchdog measures its rate */
    }
    if (e == VST_E_OK)
        return MHD_YES;
    metrics_delivery(e == VST_E_UNAVAILABLE ? M_UNAVAILABLE : M_REFUSED, 0, 0);
    d->phase = PH_REFUSED;
    d->refused = e;
    d->refused_ms = mono_ms();
    return d->close ? reply_problem_close(c, e, NULL, retry)
                    : reply_problem(c, e, d->fail_detail, retry);
}

enum MHD_Result delivery_put(struct MHD_Connection *c, const http_call *call)
{
    delivery *d = *call->state;
    if (d == NULL)
        return first_call(c, call);
    if (d->phase == PH_REFUSED)
        return discard(c, d, call->upload_size);
    if (*call->upload_size > 0)
        return body(d, call->upload, call->upload_size);
    return finish(c, d);
}

void delivery_put_done(void *state)
{
    delivery *d = state;
    if (d == NULL)
        return;
    store_copy_abort(d->s, &d->tx);
    /* The client went away, or the watchdog cut it off for a slow body. */
    delivery_event_outcome(d, "delivery.aborted",
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
