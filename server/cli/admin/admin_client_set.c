/* vst-admin client set NAME --rate-limit N|default (DESIGN.md §14): the
 * per-client request rate of the registration. vst-httpd reads it with the
 * registration on every request, so the change needs no restart. Written
 * with its audit event client.updated (old and new value) in one
 * trust-DB transaction, like every client change (admin_client.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin/admin.h"
#include "cli/admin/admin_client.h"

/* The client's current rate, locked for the change: 0 with *rate (-1:
 * default) and fpr filled, or -1 after one clear line. */
static int lock_client(PGconn *db, const char *name, long *rate, char fpr[2 * FPR_LEN + 1])
{
    char m[256];
    const char *p1[] = {name};
    PGresult *r = admin_client_query(
        db,
        "SELECT state, coalesce(rate_limit, -1), encode(cert_fingerprint, 'hex') "
        "FROM vst.clients WHERE name = $1 FOR UPDATE",
        1, p1);
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        admin_fail("client set: %s", admin_pg_line(PQresultErrorMessage(r), m, sizeof m));
    else if (PQntuples(r) == 0)
        admin_fail("client set: no client named \"%s\" (see vst-admin client list)", name);
    else if (strcmp(PQgetvalue(r, 0, 0), "active") != 0)
        admin_fail("client set: \"%s\" is revoked; a revoked client is not changed", name);
    else {
        *rate = strtol(PQgetvalue(r, 0, 1), NULL, 10);
        snprintf(fpr, 2 * FPR_LEN + 1, "%s", PQgetvalue(r, 0, 2));
        rc = 0;
    }
    PQclear(r);
    return rc;
}

static void rate_text(long rate, char *out, size_t len)
{
    if (rate < 0)
        snprintf(out, len, "default (vst-httpd's --rate-limit)");
    else if (rate == 0)
        snprintf(out, len, "unlimited");
    else
        snprintf(out, len, "%ld/min", rate);
}

int cmd_client_set(int argc, char **argv)
{
    if (admin_is_help(argc, argv)) {
        printf("usage: vst-admin client set NAME --rate-limit N|default\n\n"
               "Changes an active client's registration. --rate-limit N: requests per\n"
               "minute vst-httpd accepts from it, a whole number 0..1000000, 0 = unlimited;\n"
               "\"default\": vst-httpd's configured --rate-limit. vst-httpd reads it with\n"
               "the registration on every request: the next request is held to it, no\n"
               "restart. The change and its audit event (client.updated, with the old and\n"
               "the new value) are written in one transaction; setting the value it has\n"
               "already changes and audits nothing.\n");
        return 0;
    }
    const char *name = NULL, *rate_in = NULL, *v;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rate-limit") == 0) {
            if ((v = admin_optarg(argc, argv, &i)) == NULL)
                return 2;
            rate_in = v;
        } else if (argv[i][0] == '-' || name != NULL) {
            return admin_fail("client set: unexpected argument %s (see --help)", argv[i]);
        } else {
            name = argv[i];
        }
    }
    if (name == NULL)
        return admin_fail("client set: which client? (vst-admin client set NAME --rate-limit N)");
    if (rate_in == NULL)
        return admin_fail("client set: nothing to change; give --rate-limit N (see --help)");
    long rate_new;
    if (admin_client_rate_parse("client set", rate_in, &rate_new) != 0)
        return 1;

    PGconn *db = admin_db(g_opt.trust_dsn, "trust");
    if (db == NULL)
        return 1;
    /* READ COMMITTED: vst.audit_append requires it. */
    long rate_old;
    char fpr[2 * FPR_LEN + 1];
    if (!admin_client_exec(db, "BEGIN ISOLATION LEVEL READ COMMITTED") ||
        lock_client(db, name, &rate_old, fpr) != 0)
        return admin_client_abort(db);
    char told[48], tnew[48];
    rate_text(rate_old, told, sizeof told);
    rate_text(rate_new, tnew, sizeof tnew);
    if (rate_old == rate_new) {
        admin_client_abort(db);
        printf("client \"%s\": rate limit already %s; nothing changed\n", name, tnew);
        return 0;
    }
    char m[256], rate[24];
    snprintf(rate, sizeof rate, "%ld", rate_new);
    const char *p2[] = {name, rate_new < 0 ? NULL : rate};
    PGresult *r = admin_client_query(
        db, "UPDATE vst.clients SET rate_limit = $2::integer WHERE name = $1", 2, p2);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        admin_fail("client set: %s", admin_pg_line(PQresultErrorMessage(r), m, sizeof m));
        PQclear(r);
        return admin_client_abort(db);
    }
    PQclear(r);
    char actor[160];
    admin_actor(actor, sizeof actor);
    json_t *d =
        json_pack("{s:s, s:{s:o, s:o}}", "cert_fingerprint", fpr, "rate_limit", "old",
                  admin_client_rate_json(rate_old), "new", admin_client_rate_json(rate_new));
    char seq[24];
    if (admin_client_commit(db, "client set", "client.updated", actor, name, d, seq) != 0)
        return 1;
    printf("client \"%s\": rate limit %s -> %s (audit seq %s)\n", name, told, tnew, seq);
    return 0;
}
