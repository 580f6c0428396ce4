/* Writing the audit log: events, keyd's event stream, checkpoints; see
 * audit.h and docs/audit.md. Runs as vst_httpd or vst_admin, which may
 * execute the audit functions but not read the log. */
#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "core/hex.h"
#include "core/ident.h"
#include "core/civil_time.h"

#define PULL_BATCH 256
/* Upper bound of batches per pull: keyd's ring holds 4096 events, so a
 * pull normally needs far fewer; a keyd that keeps producing events faster
 * than they are appended is finished by the next pull. */
#define PULL_MAX_BATCHES 64

static _Thread_local char last_error[320];

const char *vst_audit_last_error(void)
{
    return last_error;
}

__attribute__((format(printf, 2, 3))) static int fail(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return rc;
}

/* The primary message of a failed result or connection, one line. Never
 * the DETAIL, which may quote row values. */
static int db_fail(PGconn *db, PGresult *r, const char *what)
{
    char msg[256];
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(msg, sizeof msg, "%s", m ? m : PQerrorMessage(db));
    msg[strcspn(msg, "\n")] = '\0';
    return fail(VST_AUDIT_E_DB, "%s: %s", what, msg[0] ? msg : "database error");
}

static int exec_cmd(PGconn *db, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : db_fail(db, r, sql);
    PQclear(r);
    return rc;
}

static void rollback(PGconn *db)
{
    PQclear(PQexec(db, "ROLLBACK"));
}

/* ---- the identifier screen ---------------------------------------------------- */

static int is_hex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Refuses a string holding, as a token of its own (a maximal run of
 * letters and digits), a valid KVNR or 32 hex digits (a pseudonym). */
static int screen_str(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && !isalnum((unsigned char)s[i]))
            i++;
        size_t start = i;
        while (i < n && isalnum((unsigned char)s[i]))
            i++;
        size_t len = i - start;
        if (len == 32) {
            size_t h = 0;
            while (h < 32 && is_hex((unsigned char)s[start + h]))
                h++;
            if (h == 32)
                return -1;
        }
        if (len == 10) {
            vst_id id;
            vst_err e = vst_id_parse(VST_ID_KVNR, s + start, len, &id);
            vst_id_wipe(&id);
            if (e == VST_E_OK)
                return -1;
        }
    }
    return 0;
}

static int screen_json(json_t *j)
{
    const char *key;
    json_t *v;
    size_t i;
    switch (json_typeof(j)) {
    case JSON_STRING:
        return screen_str(json_string_value(j), json_string_length(j));
    case JSON_OBJECT:
        json_object_foreach(j, key, v)
        {
            if (screen_str(key, strlen(key)) != 0 || screen_json(v) != 0)
                return -1;
        }
        return 0;
    case JSON_ARRAY:
        json_array_foreach(j, i, v)
        {
            if (screen_json(v) != 0)
                return -1;
        }
        return 0;
    default:
        return 0;
    }
}

int vst_audit_screen(const char *actor, const char *client, const char *details_json)
{
    if (actor && screen_str(actor, strlen(actor)) != 0)
        return fail(VST_AUDIT_E_IDENTIFIER,
                    "audit event refused: the actor holds a value shaped like an identifier or "
                    "pseudonym");
    if (client && screen_str(client, strlen(client)) != 0)
        return fail(VST_AUDIT_E_IDENTIFIER,
                    "audit event refused: the client name holds a value shaped like an "
                    "identifier or pseudonym");
    if (details_json == NULL)
        return 0;
    /* Integers as reals: only strings are screened, and PostgreSQL takes
     * integers beyond 64 bits that jansson would refuse. */
    json_t *j = json_loads(details_json, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return fail(VST_AUDIT_E_ARG,
                    "audit event refused: details are not one JSON object without duplicate "
                    "keys");
    }
    int bad = screen_json(j);
    json_decref(j);
    if (bad)
        return fail(VST_AUDIT_E_IDENTIFIER,
                    "audit event refused: its details hold a value shaped like an identifier "
                    "(KVNR) or a pseudonym (32 hex digits)");
    return 0;
}

/* ---- events ----------------------------------------------------------------------- */

int vst_audit_append(PGconn *db, const char *actor, const char *action, const char *client,
                     const char *details_json, uint64_t *seq)
{
    if (db == NULL || actor == NULL || action == NULL)
        return fail(VST_AUDIT_E_ARG, "audit append: actor and action are required");
    int rc = vst_audit_screen(actor, client, details_json);
    if (rc != 0)
        return rc;
    const char *p[] = {actor, action, client, details_json ? details_json : "{}"};
    PGresult *r = PQexecParams(db, "SELECT vst.audit_append($1, $2, $3, $4::jsonb)", 4, NULL, p,
                               NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        rc = db_fail(db, r, "audit append");
        PQclear(r);
        return rc;
    }
    if (seq)
        *seq = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

size_t vst_audit_delivery_details(const vst_receipt_fields *f, char *out, size_t cap)
{
    char body[2 * VST_SHA256_LEN + 1], recv[VST_TIME_TEXT_LEN + 1];
    if (f == NULL || out == NULL || !vst_receipt_fields_ok(f) ||
        vst_time_format_us(f->received_at_us, recv) != 0)
        return 0;
    vst_hex(f->body_sha256, VST_SHA256_LEN, body);
    /* The withheld count of a v2 receipt, right after record_count. */
    char withheld[40] = "";
    if (f->version == VST_RECEIPT_V2)
        snprintf(withheld, sizeof withheld, ",\"withheld_count\":%" PRIu64, f->withheld_count);
    /* delivery_id and profile have JSON-safe alphabets (signed.h). */
    int n =
        snprintf(out, cap,
                 "{\"delivery_id\":\"%s\",\"profile\":\"%s\",\"record_count\":%" PRIu64
                 "%s,\"body_sha256\":\"%s\",\"key_version\":%" PRIu32 ",\"received_at\":\"%s\"}",
                 f->delivery_id, f->profile, f->record_count, withheld, body, f->key_version, recv);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int vst_audit_append_delivery(PGconn *db, const char *actor, const char *action,
                              const vst_receipt_fields *f, uint64_t *seq)
{
    char details[1024];
    if (vst_audit_delivery_details(f, details, sizeof details) == 0)
        return fail(VST_AUDIT_E_ARG, "audit append: invalid delivery fields");
    return vst_audit_append(db, actor, action, f->client, details, seq);
}

/* ---- keyd's event stream ------------------------------------------------------------ */

static void jfree(char *s)
{
    if (s == NULL)
        return;
    json_free_t f;
    json_get_alloc_funcs(NULL, &f);
    f(s);
}

/* {"keyd_seq":N,"keyd_time_us":T,"event":<keyd's details>}; keyd's details
 * that do not parse, or that hold an identifier-shaped value (keyd never
 * writes one), are replaced by a note so that the stream goes on. Allocated
 * by jansson: free with jfree. */
static char *keyd_details(const vst_event *ev)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "keyd_seq", json_integer((json_int_t)ev->seq));
    json_object_set_new(o, "keyd_time_us", json_integer((json_int_t)ev->time_us));
    json_t *d = json_loadb(ev->details, ev->details_len, JSON_REJECT_DUPLICATES, NULL);
    if (d == NULL) {
        json_object_set_new(o, "event", json_null());
        json_object_set_new(o, "event_unparsable", json_true());
    } else if (screen_json(d) != 0) {
        json_decref(d);
        json_object_set_new(o, "event", json_null());
        json_object_set_new(o, "event_redacted",
                            json_string("value shaped like an identifier or pseudonym"));
    } else {
        json_object_set_new(o, "event", d);
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static int append_keyd_event(PGconn *db, const vst_event *ev)
{
    char actor[32], action[80];
    snprintf(actor, sizeof actor, "keyd:uid=%" PRIu32, ev->actor_uid);
    if (ev->action_len >= 1 && ev->action_len <= 64)
        snprintf(action, sizeof action, "%.*s", (int)ev->action_len, ev->action);
    else
        snprintf(action, sizeof action, "keyd.event");
    char *details = keyd_details(ev);
    if (details == NULL)
        return fail(VST_AUDIT_E_NOMEM, "out of memory");
    int rc = vst_audit_append(db, actor, action, NULL, details, NULL);
    jfree(details);
    return rc;
}

static int keyd_fail(int krc, const char *what)
{
    return fail(VST_AUDIT_E_KEYD, "vst-keyd %s: %s", what, vst_keyd_strerror(krc));
}

/* Where the log's copy of keyd's stream ends: *seq = 0 and *has_time = 0
 * when it has none. vst.audit_keyd_position() takes the appenders' lock:
 * outside a transaction it is released with the statement, inside one it
 * is held to the end of the transaction. */
static int keyd_position(PGconn *db, uint64_t *seq, int64_t *time_us, int *has_time)
{
    PGresult *r = PQexec(db, "SELECT keyd_seq, keyd_time_us FROM vst.audit_keyd_position()");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        int rc = db_fail(db, r, "reading keyd's position in the audit log");
        PQclear(r);
        return rc;
    }
    *seq = PQgetisnull(r, 0, 0) ? 0 : strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    *has_time = !PQgetisnull(r, 0, 1);
    *time_us = *has_time ? strtoll(PQgetvalue(r, 0, 1), NULL, 10) : 0;
    PQclear(r);
    return 0;
}

/* Whether keyd's stream still holds event `last` as the log recorded it;
 * if not, keyd's stream restarted: *reset = 1. */
static int probe_reset(vst_keyd *k, uint64_t last, int has_time, int64_t time_us, int *reset)
{
    vst_events_ok ok;
    uint8_t *buf;
    size_t len;
    *reset = 0;
    int krc = vst_keyd_events(k, last - 1, 1, &ok, &buf, &len);
    if (krc != 0)
        return keyd_fail(krc, "events");
    vst_events_iter it;
    vst_event ev;
    vst_events_iter_init(&it, &ok);
    int got = vst_events_next(&it, &ev);
    if (got < 0) {
        vst_frame_free(buf, len);
        return fail(VST_AUDIT_E_KEYD, "vst-keyd events: malformed entry");
    }
    /* Nothing at or after `last`: keyd's stream is shorter than the log's
     * copy. The same seq at another time: a different stream. A later seq
     * only means keyd's ring dropped `last` (handled as lost events). */
    if (got == 0 || (ev.seq == last && has_time && ev.time_us != time_us))
        *reset = 1;
    vst_frame_free(buf, len);
    return 0;
}

/* One batch: keyd is asked first, outside any transaction — never while
 * the appenders' lock is held, so that a stalled keyd cannot stall every
 * audit writer — then one transaction takes the lock, checks that nobody
 * else appended meanwhile, and appends up to PULL_BATCH events. *n
 * receives the keyd events appended (0 also when another puller was
 * first: the caller simply pulls again), *rows all rows appended. */
static int pull_batch(PGconn *db, vst_keyd *k, int probe, int *n, uint64_t *rows)
{
    uint64_t last = 0, last2 = 0;
    int64_t last_time = 0, time2 = 0;
    int has_time = 0, has2 = 0, reset = 0;
    *n = 0;
    int rc = keyd_position(db, &last, &last_time, &has_time);
    if (rc != 0)
        return rc;
    if (probe && last > 0 && (rc = probe_reset(k, last, has_time, last_time, &reset)) != 0)
        return rc;
    vst_events_ok ok;
    uint8_t *buf;
    size_t len;
    int krc = vst_keyd_events(k, reset ? 0 : last, PULL_BATCH, &ok, &buf, &len);
    if (krc != 0)
        return keyd_fail(krc, "events");
    if ((rc = exec_cmd(db, "BEGIN ISOLATION LEVEL READ COMMITTED")) != 0 ||
        (rc = keyd_position(db, &last2, &time2, &has2)) != 0) {
        vst_frame_free(buf, len);
        rollback(db);
        return rc;
    }
    /* Under the appenders' lock from here on. */
    uint64_t added = 0;
    if (last2 != last) { /* another puller was first: nothing to do here */
        vst_frame_free(buf, len);
        rollback(db);
        return 0;
    }
    if (reset) {
        char d[96];
        snprintf(d, sizeof d, "{\"keyd_seq\":0,\"previous_keyd_seq\":%" PRIu64 "}", last);
        rc = vst_audit_append(db, VST_AUDIT_PULL_ACTOR, "audit.keyd_reset", NULL, d, NULL);
        if (rc == 0)
            added++;
        last = 0;
    }
    vst_events_iter it;
    vst_event ev;
    vst_events_iter_init(&it, &ok);
    int got;
    while (rc == 0 && (got = vst_events_next(&it, &ev)) != 0) {
        if (got < 0) {
            rc = fail(VST_AUDIT_E_KEYD, "vst-keyd events: malformed entry");
            break;
        }
        if (ev.seq <= last)
            continue;
        if (ev.seq > last + 1) {
            char d[160];
            snprintf(d, sizeof d,
                     "{\"keyd_seq\":%" PRIu64 ",\"keyd_first_lost\":%" PRIu64 ",\"count\":%" PRIu64
                     "}",
                     ev.seq - 1, last + 1, ev.seq - 1 - last);
            rc =
                vst_audit_append(db, VST_AUDIT_PULL_ACTOR, "audit.keyd_events_lost", NULL, d, NULL);
            if (rc == 0)
                added++;
        }
        if (rc == 0 && (rc = append_keyd_event(db, &ev)) == 0) {
            added++;
            (*n)++;
            last = ev.seq;
        }
    }
    vst_frame_free(buf, len);
    if (rc == 0)
        rc = exec_cmd(db, "COMMIT");
    if (rc != 0) {
        rollback(db);
        *n = 0;
        return rc;
    }
    *rows += added;
    return 0;
}

int vst_audit_pull_keyd_events(PGconn *db, vst_keyd *k)
{
    if (db == NULL || k == NULL)
        return fail(VST_AUDIT_E_ARG, "pull keyd events: missing argument");
    if (PQtransactionStatus(db) != PQTRANS_IDLE)
        return fail(VST_AUDIT_E_STATE, "pull keyd events: the connection is inside a transaction");
    uint64_t rows = 0;
    for (int batch = 0; batch < PULL_MAX_BATCHES; batch++) {
        int n;
        int rc = pull_batch(db, k, batch == 0, &n, &rows);
        if (rc != 0)
            return rc;
        if (n == 0)
            break;
    }
    return rows > INT32_MAX ? INT32_MAX : (int)rows;
}

/* ---- checkpoints ----------------------------------------------------------------- */

static int64_t wall_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

int vst_audit_checkpoint_state(PGconn *db, vst_audit_cp_state *st)
{
    if (db == NULL || st == NULL)
        return fail(VST_AUDIT_E_ARG, "checkpoint state: missing argument");
    PGresult *r = PQexec(db, "SELECT head_seq, checkpoint_seq, seconds_since_checkpoint "
                             "FROM vst.audit_checkpoint_state()");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        int rc = db_fail(db, r, "reading the checkpoint state");
        PQclear(r);
        return rc;
    }
    st->head_seq = PQgetisnull(r, 0, 0) ? 0 : strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    st->checkpoint_seq = PQgetisnull(r, 0, 1) ? 0 : strtoull(PQgetvalue(r, 0, 1), NULL, 10);
    st->seconds_since = PQgetisnull(r, 0, 2) ? 0 : strtod(PQgetvalue(r, 0, 2), NULL);
    PQclear(r);
    return 0;
}

int vst_audit_checkpoint_is_due(uint64_t every_events, uint64_t every_seconds,
                                const vst_audit_cp_state *st)
{
    if (st == NULL || st->head_seq == 0 || st->head_seq <= st->checkpoint_seq)
        return 0;
    if (st->checkpoint_seq == 0)
        return 1;
    if (every_events && st->head_seq - st->checkpoint_seq >= every_events)
        return 1;
    if (every_seconds && st->seconds_since >= (double)every_seconds)
        return 1;
    return 0;
}

int vst_audit_checkpoint(PGconn *db, vst_keyd *k, uint64_t *seq)
{
    if (seq)
        *seq = 0;
    if (db == NULL || k == NULL)
        return fail(VST_AUDIT_E_ARG, "checkpoint: missing argument");
    uint8_t pub[VST_ED25519_PUB_LEN], key_id[VST_SHA256_LEN];
    int krc = vst_keyd_pubkey(k, pub);
    if (krc != 0)
        return keyd_fail(krc, "public key");
    vst_audit_key_id(pub, key_id);

    PGresult *r = PQexec(db, "SELECT h.seq, encode(h.hash, 'hex'), s.checkpoint_seq "
                             "FROM vst.audit_head() h, vst.audit_checkpoint_state() s");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        int rc = db_fail(db, r, "reading the audit chain head");
        PQclear(r);
        return rc;
    }
    if (PQgetisnull(r, 0, 0)) {
        PQclear(r);
        return 0; /* empty log: nothing to sign */
    }
    uint64_t head_seq = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    uint64_t cp_seq = PQgetisnull(r, 0, 2) ? 0 : strtoull(PQgetvalue(r, 0, 2), NULL, 10);
    uint8_t head[VST_AUDIT_HASH_LEN];
    int bad = vst_unhex_lower(PQgetvalue(r, 0, 1), (size_t)PQgetlength(r, 0, 1), head, sizeof head);
    PQclear(r);
    if (bad)
        return fail(VST_AUDIT_E_DB, "the audit chain head is not 32 bytes");
    if (cp_seq == head_seq) {
        if (seq)
            *seq = head_seq; /* already checkpointed */
        return 0;
    }

    int64_t now = wall_us();
    uint8_t sig[VST_ED25519_SIG_LEN];
    krc = vst_keyd_sign_checkpoint(k, head_seq, head, now, sig);
    if (krc != 0)
        return keyd_fail(krc, "sign checkpoint");
    if (vst_checkpoint_verify(pub, head_seq, head, now, sig) != 1)
        return fail(VST_AUDIT_E_SIGNATURE,
                    "vst-keyd's checkpoint signature does not verify with its public key");

    char s_seq[24], s_head[2 * VST_AUDIT_HASH_LEN + 1], s_sig[2 * VST_ED25519_SIG_LEN + 1],
        s_kid[2 * VST_SHA256_LEN + 1], s_at[VST_TIME_TEXT_LEN + 1];
    snprintf(s_seq, sizeof s_seq, "%" PRIu64, head_seq);
    vst_hex(head, sizeof head, s_head);
    vst_hex(sig, sizeof sig, s_sig);
    vst_hex(key_id, sizeof key_id, s_kid);
    if (vst_time_format_us(now, s_at) != 0)
        return fail(VST_AUDIT_E_ARG, "the system clock is out of range");
    const char *p[] = {s_seq, s_head, s_sig, s_kid, s_at};
    r = PQexecParams(db,
                     "SELECT vst.audit_checkpoint($1::bigint, decode($2, 'hex'), "
                     "decode($3, 'hex'), decode($4, 'hex'), $5::timestamptz)",
                     5, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
        int rc = db_fail(db, r, "storing the checkpoint");
        PQclear(r);
        return rc;
    }
    PQclear(r);
    if (seq)
        *seq = head_seq;
    return 0;
}

int vst_audit_checkpoint_due(PGconn *db, vst_keyd *k, uint64_t every_events, uint64_t every_seconds,
                             uint64_t *seq)
{
    if (seq)
        *seq = 0;
    vst_audit_cp_state st = {0};
    int rc = vst_audit_checkpoint_state(db, &st);
    if (rc != 0)
        return rc;
    if (!vst_audit_checkpoint_is_due(every_events, every_seconds, &st))
        return 0;
    rc = vst_audit_checkpoint(db, k, seq);
    return rc == 0 ? 1 : rc;
}
