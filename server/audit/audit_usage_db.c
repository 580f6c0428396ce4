/* The usage check on the database (audit_usage.h: vst_audit_usage_db): the
 * rows it needs streamed from vst.audit_log through a cursor, inside the
 * caller's snapshot, and the row hashes the checkpoint cross-check asks for. */
#include "audit/audit_usage_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hex.h"

/* Only the rows the check needs, so that verify stays fast on a long log:
 * keyd's reports and checkpoint records, the outcome events that name
 * identifiers, and the deliveries received since the in-flight window
 * before keyd's last report ($1, microseconds; older ones cannot be in
 * flight). */
static const char rows_sql[] =
    "DECLARE vst_usage_rows NO SCROLL CURSOR FOR "
    "SELECT seq, (extract(epoch FROM at) * 1000000)::bigint, action, client, "
    "CASE WHEN action LIKE 'keyd.%' THEN details::text END, details->>'delivery_id', "
    "(details->'identifiers')::text, details->>'received_at' "
    "FROM vst.audit_log WHERE action IN ('keyd.usage', 'keyd.checkpoint_signed') "
    "OR (action IN ('delivery.stored', 'delivery.rejected', 'delivery.failed', "
    "'delivery.aborted') AND details ? 'identifiers') "
    "OR (action = 'delivery.received' AND at >= to_timestamp($1::bigint / 1e6)) ORDER BY seq";

static const char last_delivery_sql[] =
    "SELECT seq, (extract(epoch FROM at) * 1000000)::bigint FROM vst.audit_log WHERE action IN "
    "('delivery.received', 'delivery.stored', 'delivery.rejected', 'delivery.failed', "
    "'delivery.aborted') ORDER BY seq DESC LIMIT 1";

static int row_hash_db(void *ctx, uint64_t seq, uint8_t out[VST_AUDIT_HASH_LEN])
{
    PGconn *db = ctx;
    char s[24];
    snprintf(s, sizeof s, "%" PRIu64, seq);
    const char *p[] = {s};
    PGresult *r = PQexecParams(db, "SELECT encode(hash, 'hex') FROM vst.audit_log WHERE seq = $1",
                               1, NULL, p, NULL, NULL, 0);
    int rc = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        rc = PQntuples(r) == 0 ? 0
             : vst_unhex_lower(PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0), out,
                               VST_AUDIT_HASH_LEN) == 0
                 ? 1
                 : -1;
    PQclear(r);
    return rc;
}

static int db_err(PGconn *db, PGresult *r, const char *what, char *err, size_t errlen)
{
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(err, errlen, "%s: %s", what, m ? m : PQerrorMessage(db));
    err[strcspn(err, "\n")] = '\0';
    return -1;
}

/* The time of keyd's last verified report, INT64_MIN if none. */
static int last_report_time(PGconn *db, const vst_audit_usage *u, int64_t *t, char *err,
                            size_t errlen)
{
    PGresult *r = PQexec(db, "SELECT details::text FROM vst.audit_log WHERE action = "
                             "'keyd.usage' ORDER BY seq");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_err(db, r, "reading keyd's usage events", err, errlen);
        PQclear(r);
        return -1;
    }
    *t = INT64_MIN;
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *d = json_loadb(PQgetvalue(r, i, 0), (size_t)PQgetlength(r, i, 0), 0, NULL);
        vst_usage x;
        uint8_t kid[VST_SHA256_LEN], sig[VST_ED25519_SIG_LEN];
        int k;
        if (vst_usage_parse(json_object_get(d, "event"), &x, kid, sig) == 0 &&
            (k = au_key_index(u, kid)) >= 0 && vst_usage_verify(u->keys[k], &x, sig) == 1 &&
            x.to_us > *t)
            *t = x.to_us;
        json_decref(d);
    }
    PQclear(r);
    return 0;
}

int vst_audit_usage_db(PGconn *db, vst_audit_usage *u, char *err, size_t errlen)
{
    int64_t t;
    if (last_report_time(db, u, &t, err, errlen) != 0)
        return -1;
    PGresult *r = PQexec(db, last_delivery_sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        db_err(db, r, "reading the last delivery event", err, errlen);
        PQclear(r);
        return -1;
    }
    if (PQntuples(r) == 1) {
        u->last_delivery_row = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
        u->last_delivery_at = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
    }
    PQclear(r);
    char cutoff[24];
    /* Without a report there is nothing to reconcile: no received rows
     * (9999-12-31). */
    snprintf(cutoff, sizeof cutoff, "%" PRId64,
             t == INT64_MIN ? (int64_t)253402300799000000LL : t - u->o.in_flight_window_us);
    const char *p[] = {cutoff};
    /* A cursor in verify's snapshot, fetched in blocks: far cheaper than a
     * result per row. */
    r = PQexecParams(db, rows_sql, 1, NULL, p, NULL, NULL, 0);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK
                 ? 0
                 : db_err(db, r, "reading the usage and delivery events", err, errlen);
    PQclear(r);
    for (int n = 1; rc == 0 && n > 0;) {
        r = PQexec(db, "FETCH 10000 FROM vst_usage_rows");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            rc = db_err(db, r, "reading the usage and delivery events", err, errlen);
            PQclear(r);
            break;
        }
        n = PQntuples(r);
        for (int i = 0; rc == 0 && i < n; i++) {
            uint64_t seq = strtoull(PQgetvalue(r, i, 0), NULL, 10);
            int64_t at = strtoll(PQgetvalue(r, i, 1), NULL, 10);
            const char *action = PQgetvalue(r, i, 2);
            const char *client = PQgetisnull(r, i, 3) ? NULL : PQgetvalue(r, i, 3);
            int bad =
                !PQgetisnull(r, i, 4)
                    ? vst_audit_usage_row(u, seq, at, action, client, PQgetvalue(r, i, 4),
                                          (size_t)PQgetlength(r, i, 4))
                    : vst_audit_usage_delivery(u, seq, at, action, client,
                                               PQgetisnull(r, i, 5) ? NULL : PQgetvalue(r, i, 5),
                                               PQgetisnull(r, i, 6) ? NULL : PQgetvalue(r, i, 6),
                                               (size_t)PQgetlength(r, i, 6),
                                               PQgetisnull(r, i, 7) ? NULL : PQgetvalue(r, i, 7));
            if (bad != 0) {
                snprintf(err, errlen, "out of memory");
                rc = -1;
            }
        }
        PQclear(r);
    }
    PQclear(PQexec(db, "CLOSE vst_usage_rows"));
    if (rc == 0 && vst_audit_usage_finish(u, row_hash_db, db) != 0)
        rc = db_err(db, NULL, "reading row hashes", err, errlen);
    return rc;
}
