/* The audit events of a delivery (docs/audit.md): received, then exactly
 * one outcome — stored (appended by the decision, store.c, with the
 * details built here), rejected, replayed, conflict, failed or aborted.
 * Every outcome names how many identifiers per domain keyd pseudonymized
 * for the delivery, which is what `vst-audit verify` reconciles keyd's own
 * counts against. No event carries a value from the body. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/civil_time.h"
#include "core/hex.h"
#include "httpd/delivery.h"
#include "httpd/sql.h"

static void json_text_free(char *s)
{
    json_free_t jfree;
    json_get_alloc_funcs(NULL, &jfree);
    jfree(s);
}

/* {"<domain>": n, ...}: the identifiers keyd pseudonymized for this
 * delivery, every domain of its profile (zeros included); for a linkage
 * profile the persons keyd derived control values for, under its link
 * domain (vst-audit reconciles both with keyd's usage reports). */
static json_t *identifiers_json(const delivery *d)
{
    json_t *o = json_object();
    for (size_t i = 0; d->p != NULL && i < vst_profile_ndomains(d->p); i++)
        json_object_set_new(o, vst_profile_domain(d->p, i),
                            json_integer(d->identifiers ? (json_int_t)d->identifiers[i] : 0));
    if (d->p != NULL && vst_profile_link_domain(d->p) != NULL)
        json_object_set_new(o, vst_profile_link_domain(d->p), json_integer((json_int_t)d->linked));
    return o;
}

/* Appends an event on the delivery's trust connection (in the current
 * transaction if one is open); returns the sequence number or 0. details
 * is a jansson object (stolen). */
static uint64_t audit(delivery *d, const char *action, json_t *details)
{
    char *dj = json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(details);
    if (dj == NULL)
        return 0;
    uint64_t seq = 0;
    if (vst_audit_append(d->s->trust, "vst-httpd", action, d->client.name, dj, &seq) != 0) {
        metrics_db_error();
        seq = 0;
    }
    json_text_free(dj);
    return seq;
}

static json_t *received_json(const delivery *d)
{
    return json_pack("{s:s, s:s}", "delivery_id", d->id, "profile", vst_profile_name(d->p));
}

int delivery_event_received(delivery *d)
{
    return audit(d, "delivery.received", received_json(d)) != 0;
}

char *delivery_received_details(const delivery *d)
{
    json_t *j = received_json(d);
    char *t = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    char *out = t ? strdup(t) : NULL;
    if (t)
        json_text_free(t);
    return out;
}

/* An outcome event of a delivery received (d->received) but not stored,
 * after its delivery.received event if that was deferred (delivery_put.c),
 * in one transaction. The outcome names when the delivery was received
 * (received_at): vst-audit places the delivery's keyd work from then on,
 * whenever its delivery.received row was appended. Returns 1 when logged. */
static int outcome(delivery *d, const char *action, json_t *details)
{
    char at[VST_TIME_TEXT_LEN + 1];
    if (vst_time_format_us(d->received_us, at) == 0)
        json_object_set_new(details, "received_at", json_string(at));
    if (d->received_logged)
        return audit(d, action, details) != 0;
    PGconn *tr = d->s->trust;
    int ok = sql_begin(tr) && audit(d, "delivery.received", received_json(d)) != 0 &&
             audit(d, action, json_incref(details)) != 0 && sql_commit(tr);
    json_decref(details);
    if (!ok)
        sql_end_open(tr);
    d->received_logged = ok;
    return ok;
}

void delivery_event_outcome(delivery *d, const char *action, vst_err code)
{
    if (!d->received || d->outcome_logged || d->s == NULL || slot_trust(d->s) != 0)
        return;
    sql_end_open(d->s->trust);
    d->outcome_logged =
        outcome(d, action,
                json_pack("{s:s, s:s, s:I, s:I, s:o}", "delivery_id", d->id, "code",
                          vst_err_code(code), "lines", (json_int_t)d->lineno, "body_bytes",
                          (json_int_t)d->bytes, "identifiers", identifiers_json(d)));
}

void delivery_event_rejected(delivery *d, const uint8_t sha[32])
{
    char sha_x[65];
    vst_hex(sha, 32, sha_x);
    d->outcome_logged = 1;
    outcome(d, "delivery.rejected",
            json_pack("{s:s, s:s, s:I, s:I, s:s, s:I, s:s, s:o}", "delivery_id", d->id, "profile",
                      vst_profile_name(d->p), "errors_total", (json_int_t)d->errs.total, "lines",
                      (json_int_t)d->lineno, "body_sha256", sha_x, "body_bytes",
                      (json_int_t)d->bytes, "first_error",
                      d->errs.n ? vst_err_code(d->errs.items[0].code) : "empty_delivery",
                      "identifiers", identifiers_json(d)));
}

void delivery_event_conflict(delivery *d, int other_body)
{
    audit(d, "delivery.conflict",
          json_pack("{s:s, s:s, s:s, s:I}", "delivery_id", d->id, "profile", vst_profile_name(d->p),
                    "reason", other_body ? "body" : "profile", "body_bytes", (json_int_t)d->bytes));
}

void delivery_event_replayed(delivery *d)
{
    audit(d, "delivery.replayed",
          json_pack("{s:s, s:s, s:I}", "delivery_id", d->id, "profile", d->old.f.profile,
                    "stored_seq", (json_int_t)d->old.f.audit_seq));
}

char *delivery_stored_details(const delivery *d, const vst_receipt_fields *f)
{
    char details[2048];
    size_t n = vst_audit_delivery_details(f, details, sizeof details);
    json_t *ids = identifiers_json(d);
    char *ij = json_dumps(ids, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(ids);
    char *out = NULL;
    if (n > 1 && ij != NULL && n + strlen(ij) + 20 < sizeof details) {
        snprintf(details + n - 1, sizeof details - (n - 1), ",\"identifiers\":%s}", ij);
        out = strdup(details);
    }
    json_text_free(ij);
    return out;
}
