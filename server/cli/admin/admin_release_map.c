/* The release pseudonyms of a build (admin_release.h): every distinct
 * store pseudonym of the profile's table, per key version, goes through
 * vst-keyd's RELEASE_MAP in frames of up to 65,536 and comes back as the
 * release pseudonym R = AES_{K_release}(AES^-1_{K_v}(P)); (v, P, R) is
 * copied into release_build."<name>__map", which vst.release_plan/fill join.
 * The key lives in keyd for this connection only; the map table is
 * unlogged and dropped when the release is published.
 *
 * vst_admin may read the pseudonym columns (re-keying reads them too);
 * it never reads the map back. One transaction: the cursor and the COPYs. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/admin/admin_release.h"
#include "core/hex.h"

#define MAP_BATCH 65536u

typedef struct {
    PGconn *db;
    const char *name;
    vst_keyd *k; /* opened at the first batch */
    uint8_t *in, *out, *excluded;
    char *copy; /* COPY text of one batch */
    long long done;
    int tty;
} map_ctx;

static int exec_ok(PGconn *db, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        char m[256];
        admin_fail("release create: %s", admin_pg_line(PQresultErrorMessage(r), m, sizeof m));
    }
    PQclear(r);
    return ok ? 0 : -1;
}

/* Connects to keyd, has it draw the release key and records its id. */
static int open_release(map_ctx *c)
{
    uint8_t id[VST_RELEASE_ID_LEN];
    char hex[2 * VST_RELEASE_ID_LEN + 1];
    if ((c->k = admin_keyd()) == NULL)
        return -1;
    int rc = vst_keyd_release_open(c->k, id);
    if (rc != 0)
        return admin_fail("release create: vst-keyd refused a release key (%s)",
                          vst_keyd_strerror(rc)),
               -1;
    vst_hex(id, sizeof id, hex);
    const char *p[] = {c->name, hex};
    char *v = spec_query_value(c->db, "release create", "SELECT vst.release_key_id($1, $2)", 2, p);
    free(v);
    return v ? 0 : -1;
}

/* Maps one fetched batch of version v and copies it into the map. */
static int map_batch(map_ctx *c, PGresult *r, uint32_t v, const char *copy_sql)
{
    uint32_t n = (uint32_t)PQntuples(r);
    if (c->k == NULL && open_release(c) != 0)
        return -1;
    for (uint32_t i = 0; i < n; i++)
        if (PQgetlength(r, (int)i, 0) != 32 ||
            vst_unhex_lower(PQgetvalue(r, (int)i, 0), 32, c->in + (size_t)i * 16, 16) != 0)
            return admin_fail("release create: a stored pseudonym is not 32 hex digits"), -1;
    int rc = vst_keyd_release_map_excluded(c->k, v, c->in, n, c->out, c->excluded);
    if (rc != 0)
        return admin_fail("release create: vst-keyd refused the release mapping (%s)",
                          vst_keyd_strerror(rc)),
               -1;
    char *p = c->copy;
    for (uint32_t i = 0; i < n; i++) {
        p += sprintf(p, "%" PRIu32 "\t%s\t", v, PQgetvalue(r, (int)i, 0));
        vst_hex(c->out + (size_t)i * 16, 16, p);
        p += 32;
        p += sprintf(p, "\t%c\n", c->excluded[i] ? 't' : 'f');
    }
    PGresult *cr = PQexec(c->db, copy_sql);
    int ok = PQresultStatus(cr) == PGRES_COPY_IN;
    PQclear(cr);
    ok = ok && PQputCopyData(c->db, c->copy, (int)(p - c->copy)) == 1 &&
         PQputCopyEnd(c->db, NULL) == 1;
    cr = PQgetResult(c->db);
    ok = ok && PQresultStatus(cr) == PGRES_COMMAND_OK;
    if (!ok) {
        char m[256];
        admin_fail("release create: copying the map: %s",
                   admin_pg_line(PQresultErrorMessage(cr), m, sizeof m));
    }
    PQclear(cr);
    while ((cr = PQgetResult(c->db)) != NULL)
        PQclear(cr);
    c->done += n;
    if (c->tty)
        fprintf(stderr, "\r  release pseudonyms: %lld", c->done);
    return ok ? 0 : -1;
}

/* The DISTINCT pseudonyms of version v over every pseudonym column. Each
 * column is de-duplicated on its own first: the planner knows how many
 * distinct values a column holds and hashes them, where the UNION of the
 * raw columns (no estimate: tens of millions of groups) was sorted on disk
 * (41 s of 175 at 10,000,000 rows, bench_release.sh). */
static int map_version(map_ctx *c, const admin_table *t, const char *v, const char *copy_sql)
{
    char sql[2048], *p = sql;
    p += snprintf(p, sizeof sql, "DECLARE rel_map NO SCROLL CURSOR FOR ");
    for (size_t i = 0; i < t->ncolumns; i++)
        p +=
            snprintf(p, sizeof sql - (size_t)(p - sql),
                     "%sSELECT p FROM (SELECT DISTINCT %s AS p FROM %s WHERE key_version = $1::int "
                     "AND %s IS NOT NULL) d%zu",
                     i ? " UNION " : "", t->columns[i], t->table, t->columns[i], i);
    const char *params[] = {v};
    PGresult *r = PQexecParams(c->db, sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        char m[256];
        admin_fail("release create: %s", admin_pg_line(PQresultErrorMessage(r), m, sizeof m));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    uint32_t version = (uint32_t)strtoul(v, NULL, 10);
    for (;;) {
        r = PQexec(c->db, "FETCH 65536 FROM rel_map");
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            char m[256];
            admin_fail("release create: %s", admin_pg_line(PQresultErrorMessage(r), m, sizeof m));
            PQclear(r);
            return -1;
        }
        int n = PQntuples(r);
        int rc = n > 0 ? map_batch(c, r, version, copy_sql) : 0;
        PQclear(r);
        if (rc != 0)
            return -1;
        if (n == 0)
            break;
    }
    return exec_ok(c->db, "CLOSE rel_map");
}

long long release_map_pseudonyms(PGconn *db, const char *name, const admin_table *t)
{
    map_ctx c = {.db = db, .name = name, .tty = isatty(STDERR_FILENO)};
    c.in = malloc((size_t)MAP_BATCH * 16);
    c.out = malloc((size_t)MAP_BATCH * 16);
    c.copy = malloc((size_t)MAP_BATCH * 82);
    c.excluded = malloc(MAP_BATCH);
    char copy_sql[160];
    snprintf(copy_sql, sizeof copy_sql, "COPY release_build.\"%s__map\" (v, p, r, x) FROM STDIN",
             name);
    char vsql[256];
    snprintf(vsql, sizeof vsql, "SELECT DISTINCT key_version FROM %s ORDER BY 1", t->table);
    int rc = c.in && c.out && c.copy && c.excluded ? exec_ok(db, "BEGIN")
                                                   : (admin_fail("out of memory"), -1);
    /* Room to hash the distinct pseudonyms (about 70 MB per 500,000) in
     * memory; for this transaction only. */
    if (rc == 0)
        rc = exec_ok(db, "SET LOCAL work_mem = '512MB'");
    PGresult *vr = rc == 0 ? PQexec(db, vsql) : NULL;
    if (rc == 0 && PQresultStatus(vr) != PGRES_TUPLES_OK)
        rc = admin_fail("release create: cannot list the key versions");
    for (int i = 0; rc == 0 && i < PQntuples(vr); i++)
        rc = map_version(&c, t, PQgetvalue(vr, i, 0), copy_sql);
    PQclear(vr);
    if (rc == 0 && c.k == NULL) /* an empty table: no pseudonym, still a key id */
        rc = open_release(&c);
    if (rc == 0)
        rc = exec_ok(db, "COMMIT");
    else
        PQclear(PQexec(db, "ROLLBACK"));
    vst_keyd_close(c.k); /* keyd wipes the release key: the mapping is gone */
    if (c.tty)
        fputc('\n', stderr);
    /* The map's pseudonyms pass through these buffers only. */
    free(c.in);
    free(c.out);
    free(c.copy);
    free(c.excluded);
    return rc == 0 ? c.done : -1;
}
