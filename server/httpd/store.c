/* The store side of a delivery, and the commit across two databases.
 *
 * DESIGN.md §7: rows are COPYed into a store transaction which is then
 * PREPAREd ("vst:<delivery_ref>"); the receipt and its audit event are
 * committed in the trust DB — that commit is the decision — and only then
 * is the prepared store transaction committed. After a crash at any point,
 * store_recover() finds prepared transactions and commits those whose
 * receipt exists and rolls back the others, so a delivery is either
 * stored once, with its receipt, or not at all. While a delivery runs, its
 * trust-DB session holds an advisory lock on "vst:<delivery_ref>", so that
 * recovery (of this or of another vst-httpd) never decides for it. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "httpd/httpd.h"

static int gid_ok(const char *gid)
{
    /* "vst:" + a canonical UUID: safe to place in a statement. */
    if (strncmp(gid, "vst:", 4) != 0 || strlen(gid) != 40)
        return 0;
    for (const char *p = gid + 4; *p; p++)
        if (!(isxdigit((unsigned char)*p) || *p == '-'))
            return 0;
    return 1;
}

int store_recover(slot *s, int min_age_s)
{
    if (slot_store(s) != 0 || slot_trust(s) != 0)
        return -1;
    char age[16];
    snprintf(age, sizeof age, "%d", min_age_s);
    const char *p[] = {age};
    PGresult *r = PQexecParams(s->store,
                               "SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'vst:%' AND "
                               "database = current_database() AND owner = current_user AND "
                               "prepared <= now() - make_interval(secs => $1::int)",
                               1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        slot_drop_store(s);
        return -1;
    }
    int resolved = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *gid = PQgetvalue(r, i, 0);
        if (!gid_ok(gid))
            continue;
        /* A delivery in flight (in this or another vst-httpd) holds this
         * lock in the trust DB from before PREPARE until COMMIT PREPARED;
         * its own session makes the decision, so leave it alone. */
        const char *key[] = {gid};
        PGresult *q = PQexecParams(s->trust, "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                                   1, NULL, key, NULL, NULL, 0);
        int mine = PQresultStatus(q) == PGRES_TUPLES_OK && PQgetvalue(q, 0, 0)[0] == 't';
        PQclear(q);
        if (!mine)
            continue;
        const char *ref[] = {gid + 4};
        q = PQexecParams(s->trust, "SELECT 1 FROM vst.receipts WHERE delivery_ref = $1::uuid", 1,
                         NULL, ref, NULL, NULL, 0);
        int known = PQresultStatus(q) == PGRES_TUPLES_OK;
        int commit = known && PQntuples(q) == 1;
        PQclear(q);
        if (known) { /* otherwise decide next time, never guess */
            char sql[96];
            snprintf(sql, sizeof sql, "%s PREPARED '%s'", commit ? "COMMIT" : "ROLLBACK", gid);
            q = PQexec(s->store, sql);
            if (PQresultStatus(q) == PGRES_COMMAND_OK) {
                resolved++;
                hlog("warning", "recovered a delivery left by an interruption: %s",
                     commit ? "committed (its receipt exists)" : "rolled back (no receipt)");
            }
            PQclear(q);
        }
        PQclear(PQexecParams(s->trust, "SELECT pg_advisory_unlock(hashtextextended($1, 0))", 1,
                             NULL, key, NULL, NULL, 0));
    }
    PQclear(r);
    return resolved;
}
