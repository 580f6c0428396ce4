/* vst-admin's database helpers: connections, the store's profile tables
 * and their rows per key version, key-version metadata in the trust DB. */
#include <dirent.h>
#include <pwd.h>
#include <unistd.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin/admin.h"
#include "profile/profile.h"

/* "vst-admin:alice", or "vst-admin:uid=1000" for a uid without a name. */
void admin_actor(char *out, size_t len)
{
    uid_t uid = getuid();
    struct passwd *pw = getpwuid(uid);
    int ok = 0;
    if (pw != NULL && pw->pw_name != NULL && pw->pw_name[0] != '\0') {
        ok = 1;
        for (const char *p = pw->pw_name; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                ok = 0;
    }
    if (ok)
        snprintf(out, len, "vst-admin:%s", pw->pw_name);
    else
        snprintf(out, len, "vst-admin:uid=%lu", (unsigned long)uid);
}

/* One line of a libpq error, for admin_fail. */
const char *admin_pg_line(const char *msg, char *buf, size_t len)
{
    snprintf(buf, len, "%s", msg ? msg : "");
    buf[strcspn(buf, "\n")] = '\0';
    return buf;
}

PGconn *admin_db(const char *dsn, const char *what)
{
    if (dsn == NULL) {
        admin_fail("no %s connection: set --%s-dsn or VST_%s_DSN", what, what,
                   strcmp(what, "store") == 0 ? "STORE" : "TRUST");
        return NULL;
    }
    PGconn *db = PQconnectdb(dsn);
    if (PQstatus(db) != CONNECTION_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(db));
        msg[strcspn(msg, "\n")] = '\0';
        admin_fail("cannot connect to the %s: %s", what, msg);
        PQfinish(db);
        return NULL;
    }
    return db;
}

int admin_store_tables(admin_table *out, size_t max, size_t *n)
{
    DIR *d = opendir(g_opt.profiles);
    *n = 0;
    if (d == NULL)
        return admin_fail("cannot read the profile directory %s", g_opt.profiles);
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        char path[4096], msg[512];
        snprintf(path, sizeof path, "%s/%s", g_opt.profiles, e->d_name);
        vst_profile *p;
        if (vst_profile_load(path, &p, msg, sizeof msg) != VST_E_OK) {
            rc = admin_fail("%s", msg);
            break;
        }
        size_t k = 0;
        while (k < *n && strcmp(out[k].table, vst_profile_table(p)) != 0)
            k++;
        if (k == *n && *n < max) {
            admin_table *t = &out[(*n)++];
            memset(t, 0, sizeof *t);
            snprintf(t->table, sizeof t->table, "%s", vst_profile_table(p));
            for (size_t c = 0; c < vst_profile_ncolumns(p) && t->ncolumns < 4; c++)
                if (vst_profile_column(p, c)->type == VST_COL_PSEUDONYM)
                    snprintf(t->columns[t->ncolumns++], sizeof t->columns[0], "%s",
                             vst_profile_column(p, c)->name);
            if (vst_profile_link_domain(p) != NULL) {
                snprintf(t->collection, sizeof t->collection, "%s", vst_profile_link_collection(p));
                for (unsigned key = 0; key < ADMIN_CV_MAX; key++)
                    snprintf(t->cv[t->ncv++], sizeof t->cv[0], "%s",
                             vst_profile_link_column(p, key));
            }
        }
        vst_profile_free(p);
    }
    closedir(d);
    return rc;
}

static int by_version(const void *a, const void *b)
{
    uint32_t x = ((const admin_version_rows *)a)->version,
             y = ((const admin_version_rows *)b)->version;
    return x < y ? -1 : x > y;
}

/* Adds rows of version v to the list (a new entry if v is not there). */
static int add_rows(admin_version_rows **vr, size_t *n, size_t *cap, uint32_t v, uint64_t rows)
{
    for (size_t i = 0; i < *n; i++)
        if ((*vr)[i].version == v) {
            (*vr)[i].rows += rows;
            return 0;
        }
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        admin_version_rows *p = realloc(*vr, nc * sizeof *p);
        if (p == NULL)
            return -1;
        *vr = p;
        *cap = nc;
    }
    (*vr)[(*n)++] = (admin_version_rows){v, rows};
    return 0;
}

int admin_rows_per_version(PGconn *db, const admin_table *t, size_t nt, admin_version_rows **out,
                           size_t *n)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < nt; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT key_version, count(*) FROM %s GROUP BY key_version",
                 t[i].table);
        PGresult *r = PQexec(db, sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
            msg[strcspn(msg, "\n")] = '\0';
            PQclear(r);
            free(*out);
            *out = NULL;
            *n = 0;
            return admin_fail("counting rows of %s: %s", t[i].table, msg);
        }
        int rc = 0;
        for (int row = 0; rc == 0 && row < PQntuples(r); row++) {
            unsigned long v = strtoul(PQgetvalue(r, row, 0), NULL, 10);
            if (v > 0 && v <= UINT32_MAX)
                rc = add_rows(out, n, &cap, (uint32_t)v, strtoull(PQgetvalue(r, row, 1), NULL, 10));
        }
        PQclear(r);
        if (rc != 0) {
            free(*out);
            *out = NULL;
            *n = 0;
            return admin_fail("out of memory");
        }
    }
    if (*n > 1)
        qsort(*out, *n, sizeof **out, by_version);
    return 0;
}

uint64_t admin_rows_of(const admin_version_rows *vr, size_t n, uint32_t v)
{
    for (size_t i = 0; i < n; i++)
        if (vr[i].version == v)
            return vr[i].rows;
    return 0;
}

static int exec_params(PGconn *db, const char *sql, const char *p1)
{
    const char *params[] = {p1};
    PGresult *r = PQexecParams(db, sql, p1 ? 1 : 0, NULL, p1 ? params : NULL, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "vst-admin: warning: key-version metadata not recorded: %s",
                PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

void admin_note_version(uint32_t version, const char *state)
{
    if (g_opt.trust_dsn == NULL)
        return;
    PGconn *db = admin_db(g_opt.trust_dsn, "trust");
    if (db == NULL)
        return;
    char v[16];
    snprintf(v, sizeof v, "%u", version);
    /* The unique index on the current version needs the demotion first. */
    int rc = exec_params(db, "BEGIN", NULL);
    if (rc == 0 && strcmp(state, "current") == 0)
        rc = exec_params(db,
                         "UPDATE vst.key_versions SET state = 'active' "
                         "WHERE state = 'current' AND version <> $1::int",
                         v);
    if (rc == 0 && strcmp(state, "current") == 0)
        rc = exec_params(db,
                         "INSERT INTO vst.key_versions (version, state) VALUES ($1::int, "
                         "'current') ON CONFLICT (version) DO UPDATE SET state = 'current', "
                         "retired_at = NULL",
                         v);
    if (rc == 0 && strcmp(state, "retired") == 0)
        rc = exec_params(db,
                         "INSERT INTO vst.key_versions (version, state, retired_at) VALUES "
                         "($1::int, 'retired', now()) ON CONFLICT (version) DO UPDATE SET "
                         "state = 'retired', retired_at = now()",
                         v);
    exec_params(db, rc == 0 ? "COMMIT" : "ROLLBACK", NULL);
    PQfinish(db);
}
