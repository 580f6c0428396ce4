/* vst-admin release create | list | drop (DESIGN.md §11, docs/release.md).
 *
 * create runs the steps of sql/store/0008_release.sql on one store
 * connection (which holds the build's advisory lock): begin, the release
 * pseudonyms through vst-keyd (admin_release_map.c), the suppression plan,
 * the rows in id ranges with progress, then publish — the one transaction
 * that makes the release visible to researchers. Then the release.created
 * event. A kill before publish leaves a build researchers cannot see; the
 * next create of that name (or drop) removes it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "cli/admin/admin_release.h"
#include "core/hex.h"
#include "core/secmem.h"

#define FILL_BATCH_MIN 1000000LL

typedef struct {
    release_spec s;
    const char *name;
    int keep;
    long long batch; /* --batch: source ids per step, 0 = automatic */
} create_args;

static double now_s(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static int name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 48 || n[0] < 'a' || n[0] > 'z' || strcmp(n, "catalog") == 0)
        return 0;
    for (; *n; n++)
        if (!((*n >= 'a' && *n <= 'z') || (*n >= '0' && *n <= '9') || *n == '_'))
            return 0;
    return 1;
}

static int create_usage(void)
{
    printf("usage: vst-admin release create NAME [--profile P] [--k K] [--by COL,...]\n"
           "                                    [--generalize COL=RULE,...] [--keep-pseudonyms]\n"
           "                                    [--batch IDS]\n\n"
           "Writes release.NAME in the store for researchers (role vst_researcher): the\n"
           "profile's rows with the generalizations applied (band:N, prefix:N, drop),\n"
           "without every row of any person whose combination of quasi-identifiers is\n"
           "held by fewer than k persons, checked after writing. Each release has its own\n"
           "pseudonyms, mapped by vst-keyd under a key that exists only while the release\n"
           "is built: two releases cannot be joined on pseudonyms. --keep-pseudonyms keeps\n"
           "the store's pseudonyms instead (audited as such). --batch: source row ids per\n"
           "step (default: a twentieth of the table, at least 1000000).\n\n"
           "NAME is 1..48 characters of [a-z0-9_], starting with a letter. Run\n"
           "`vst-admin cells` with the same options first to see what would be suppressed.\n"
           "Audited (release.created). Needs the store, the trust DB and the admin socket.\n");
    return 0;
}

static int parse_create(create_args *a, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        int r = spec_option(&a->s, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--keep-pseudonyms") == 0) {
            a->keep = 1;
        } else if (strcmp(argv[i], "--batch") == 0) {
            const char *v = admin_optarg(argc, argv, &i);
            char *end = NULL;
            a->batch = v ? strtoll(v, &end, 10) : 0;
            if (v == NULL || *end != '\0' || a->batch < 1000 || a->batch > 100000000)
                return admin_fail("release create: --batch wants 1000..100000000 row ids"), 2;
        } else if (argv[i][0] != '-' && a->name == NULL) {
            a->name = argv[i];
        } else {
            return admin_fail("release create: unexpected argument %s (see --help)", argv[i]), 2;
        }
    }
    if (a->name == NULL || !name_ok(a->name))
        return admin_fail("release create: NAME is 1..48 characters of [a-z0-9_], starting with "
                          "a letter (not \"catalog\")"),
               2;
    return spec_finish(&a->s, 1) != 0 ? 2 : 0;
}

/* The profile table and its pseudonym columns, for the map. */
static void table_of(const vst_profile *p, admin_table *t)
{
    memset(t, 0, sizeof *t);
    snprintf(t->table, sizeof t->table, "%s", vst_profile_table(p));
    for (size_t c = 0; c < vst_profile_ncolumns(p) && t->ncolumns < 4; c++)
        if (vst_profile_column(p, c)->type == VST_COL_PSEUDONYM)
            snprintf(t->columns[t->ncolumns++], sizeof t->columns[0], "%s",
                     vst_profile_column(p, c)->name);
}

/* The SQL functions refuse a name whose advisory lock another session
 * holds (sql/store/0008_release.sql). After a kill -9 of vst-admin that
 * session lives on until its current statement ends, so an operator who
 * re-runs at once would be refused for nothing: wait for the lock here
 * (taking it stacks with the functions' own; both end with the
 * connection), saying so once, for at most LOCK_WAIT_S seconds. */
#define LOCK_WAIT_S 120
static int wait_for_name(PGconn *db, const char *what, const char *name)
{
    const char *p[] = {name};
    for (int i = 0; i < LOCK_WAIT_S * 5; i++) {
        char *v = spec_query_value(
            db, what, "SELECT pg_try_advisory_lock(1987277824 + 3, hashtext($1))", 1, p);
        if (v == NULL)
            return -1;
        int got = strcmp(v, "t") == 0;
        free(v);
        if (got)
            return 0;
        if (i == 0)
            fprintf(stderr,
                    "vst-admin: %s: another session holds release %s (a second vst-admin, or the "
                    "database session of a killed one, which ends with its statement); "
                    "waiting up to %d s\n",
                    what, name, LOCK_WAIT_S);
        usleep(200000);
    }
    return admin_fail("%s: release %s is still locked by another session after %d s", what, name,
                      LOCK_WAIT_S);
}

/* One SQL call whose single value is discarded or returned. */
static int call(PGconn *db, const char *sql, int n, const char *const *p, char **out)
{
    char *v = spec_query_value(db, "release create", sql, n, p);
    if (v == NULL)
        return -1;
    if (out)
        *out = v;
    else
        free(v);
    return 0;
}

static int begin_build(PGconn *db, create_args *a)
{
    char kbuf[24];
    snprintf(kbuf, sizeof kbuf, "%ld", a->s.k);
    char *qi = spec_sql_array(a->s.qi[0], SPEC_NAME_MAX, a->s.nqi);
    json_t *g = spec_generalize_json(&a->s);
    char *rules = g ? json_dumps(g, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(g);
    const char *p[] = {a->name,
                       vst_profile_name(a->s.profile),
                       vst_profile_table(a->s.profile),
                       kbuf,
                       qi,
                       rules,
                       a->keep ? "true" : "false",
                       NULL};
    int rc = qi && rules ? call(db,
                                "SELECT vst.release_begin($1, $2, $3::regclass, $4::int, "
                                "$5::text[], $6::jsonb, $7::bool, $8)",
                                8, p, NULL)
                         : -1;
    free(qi);
    vst_secure_free(rules);
    return rc;
}

/* Writes the rows in id ranges (vst.release_fill moves the build's
 * cursor; it reports ids, never row counts). 0 or -1. */
static int fill(PGconn *db, const create_args *a)
{
    char sql[256], *range = NULL;
    snprintf(sql, sizeof sql, "SELECT coalesce(min(id), 1) || ' ' || coalesce(max(id), 0) FROM %s",
             vst_profile_table(a->s.profile));
    if (call(db, sql, 0, NULL, &range) != 0)
        return -1;
    long long lo = 1, hi = 0;
    sscanf(range, "%lld %lld", &lo, &hi);
    free(range);
    /* About 20 steps (progress, and a kill loses at most one step's work
     * to redo), at least FILL_BATCH_MIN ids each (each step joins the
     * whole pseudonym map). */
    long long span = hi - lo + 1 > 0 ? hi - lo + 1 : 1;
    long long step =
        a->batch ? a->batch : (span / 20 > FILL_BATCH_MIN ? span / 20 : FILL_BATCH_MIN);
    int tty = isatty(STDERR_FILENO);
    for (long long at = lo;;) {
        char t[24], *n = NULL;
        snprintf(t, sizeof t, "%lld", at + step);
        const char *p[] = {a->name, t};
        if (call(db, "SELECT vst.release_fill($1, $2::bigint)", 2, p, &n) != 0)
            return -1;
        long long next = strtoll(n, NULL, 10);
        free(n);
        if (tty)
            fprintf(stderr, "\r  rows written: %3lld %% of the table",
                    next - lo >= span ? 100 : (next - lo) * 100 / span);
        if (next < at + step) /* the plan's last id is behind us */
            break;
        at = next;
    }
    if (tty)
        fputc('\n', stderr);
    return 0;
}

/* release.created, then the catalog learns its audit seq. 0 or 1. */
static int audit_created(PGconn *db, const create_args *a, json_t *cat, uint64_t *seq)
{
    static const char *const keys[] = {"name",
                                       "profile",
                                       "k",
                                       "quasi_identifiers",
                                       "generalizations",
                                       "keep_pseudonyms",
                                       "rows",
                                       "persons",
                                       "suppressed_persons",
                                       "suppressed_rows",
                                       "min_class",
                                       "release_id"};
    json_t *d = json_object();
    for (size_t i = 0; d && i < sizeof keys / sizeof keys[0]; i++)
        if (json_object_get(cat, keys[i]) && !json_is_null(json_object_get(cat, keys[i])))
            json_object_set(d, keys[i], json_object_get(cat, keys[i]));
    char *details = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    PGconn *trust = details ? admin_db(g_opt.trust_dsn, "trust") : NULL;
    char actor[160];
    admin_actor(actor, sizeof actor);
    int rc = trust ? vst_audit_append(trust, actor, "release.created", NULL, details, seq) : -1;
    vst_secure_free(details);
    PQfinish(trust);
    if (rc != 0)
        return admin_fail("release create: audit log: %s",
                          trust ? vst_audit_last_error() : "no trust DB");
    char s[24];
    snprintf(s, sizeof s, "%" PRIu64, *seq);
    const char *p[] = {a->name, s};
    return call(db, "SELECT vst.release_audited($1, $2::bigint)", 2, p, NULL) != 0;
}

/* The steps after begin; the published catalog row or NULL. */
static json_t *build(PGconn *db, create_args *a)
{
    admin_table t;
    table_of(a->s.profile, &t);
    const char *p[] = {a->name};
    char *plan = NULL, *pub = NULL;
    /* Also with --keep-pseudonyms: keyd's answer says who has a case. */
    if (release_map_pseudonyms(db, a->name, &t) < 0)
        return NULL;
    if (call(db, "SELECT vst.release_plan($1)", 1, p, &plan) != 0)
        return NULL;
    json_t *pl = json_loads(plan, 0, NULL);
    free(plan);
    fprintf(stderr,
            "  suppressed: %lld persons (%lld rows; %lld with a disclosure or objection) "
            "in %lld round(s)\n",
            (long long)json_integer_value(json_object_get(pl, "suppressed_persons")),
            (long long)json_integer_value(json_object_get(pl, "suppressed_rows")),
            (long long)json_integer_value(json_object_get(pl, "excluded_persons")),
            (long long)json_integer_value(json_object_get(pl, "rounds")));
    json_decref(pl);
    if (fill(db, a) != 0 || call(db, "SELECT vst.release_publish($1)", 1, p, &pub) != 0)
        return NULL;
    json_t *cat = json_loads(pub, 0, NULL);
    free(pub);
    if (cat == NULL)
        admin_fail("release create: the store's answer is not JSON");
    return cat;
}

int cmd_release_create(int argc, char **argv)
{
    if (admin_is_help(argc, argv))
        return create_usage();
    create_args a = {.s = {.what = "release create"}};
    int rc = parse_create(&a, argc, argv);
    double t0 = now_s();
    PGconn *db = rc == 0 ? admin_db(g_opt.store_dsn, "store") : NULL;
    if (rc == 0 && db == NULL)
        rc = 1;
    json_t *cat =
        rc == 0 && wait_for_name(db, "release create", a.name) == 0 && begin_build(db, &a) == 0
            ? build(db, &a)
            : NULL;
    uint64_t seq = 0;
    if (rc == 0 && cat == NULL)
        rc = 1;
    if (rc == 0 && audit_created(db, &a, cat, &seq) != 0) {
        const char *p[] = {a.name};
        PQclear(PQexecParams(db, "SELECT vst.release_drop($1)", 1, NULL, p, NULL, NULL, 0));
        rc = admin_fail("release create: release %s withdrawn: it could not be audited", a.name);
    }
    if (rc == 0) {
        long long rows = (long long)json_integer_value(json_object_get(cat, "rows"));
        double dt = now_s() - t0;
        printf("release %s created: %lld rows, %lld persons, k=%ld; suppressed %lld persons "
               "(%lld rows); %s; %.1f s (%.0f rows/s); audit seq %" PRIu64 "\n",
               a.name, rows, (long long)json_integer_value(json_object_get(cat, "persons")), a.s.k,
               (long long)json_integer_value(json_object_get(cat, "suppressed_persons")),
               (long long)json_integer_value(json_object_get(cat, "suppressed_rows")),
               a.keep ? "STORE PSEUDONYMS KEPT" : "own release pseudonyms", dt,
               (double)rows / (dt + 1e-9), seq);
        admin_audit_sync(1); /* keyd's release_map event */
    }
    json_decref(cat);
    PQfinish(db);
    spec_free(&a.s);
    return rc;
}

/* DESIGN.md §12: a release made before a disclosure or an objection of
 * its profile still holds that person's rows. Marks each release
 * "affected" (true/false) from the trust DB's cases; leaves them unmarked
 * when there is no trust DB. Times compare at whole seconds, a case in the
 * release's second counting as later (the safe side). */
static void mark_affected(json_t *releases)
{
    if (g_opt.trust_dsn == NULL || json_array_size(releases) == 0)
        return;
    PGconn *db = admin_db(g_opt.trust_dsn, "trust");
    char *v = db ? spec_query_value(db, "release list",
                                    "SELECT coalesce(json_object_agg(profile, last), '{}') FROM "
                                    "(SELECT profile, to_char(max(created_at) AT TIME ZONE 'UTC', "
                                    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS last FROM vst.cases "
                                    "GROUP BY profile) c",
                                    0, NULL)
                 : NULL;
    PQfinish(db);
    json_t *last = v ? json_loads(v, 0, NULL) : NULL;
    free(v);
    size_t i;
    json_t *r;
    json_array_foreach(releases, i, r)
    {
        const char *c = json_string_value(
            json_object_get(last, json_string_value(json_object_get(r, "profile"))));
        const char *made = json_string_value(json_object_get(r, "created"));
        json_object_set_new(r, "affected", json_boolean(c && made && strcmp(c, made) >= 0));
    }
    json_decref(last);
}

int cmd_release_list(int argc, char **argv)
{
    if (admin_is_help(argc, argv)) {
        printf(
            "usage: vst-admin release list [--json]\n\nThe published releases (name, profile, "
            "k, rows, persons, suppressed persons,\ncreated) and any build that was "
            "interrupted (remove it with release drop). AFFECTED marks a release made\nbefore a "
            "disclosed "
            "pseudonym or an objection of its profile (needs the trust DB):\nit still holds that "
            "person's rows; drop it and make a new one.\n");
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            g_opt.json = 1;
        else
            return admin_fail("release list: unexpected argument %s", argv[i]), 2;
    }
    PGconn *db = admin_db(g_opt.store_dsn, "store");
    if (db == NULL)
        return 1;
    char *v = spec_query_value(db, "release list", "SELECT vst.release_list()", 0, NULL);
    PQfinish(db);
    json_t *o = v ? json_loads(v, 0, NULL) : NULL;
    free(v);
    if (o == NULL)
        return 1;
    mark_affected(json_object_get(o, "releases"));
    if (g_opt.json) {
        char *t = json_dumps(o, JSON_INDENT(2));
        if (t)
            puts(t);
        vst_secure_free(t);
    } else {
        size_t i;
        json_t *r;
        printf("%-24s %-10s %4s %12s %10s %10s  %-20s\n", "NAME", "PROFILE", "K", "ROWS", "PERSONS",
               "SUPPRESSED", "CREATED");
        json_array_foreach(json_object_get(o, "releases"), i, r)
        {
            printf("%-24s %-10s %4lld %12lld %10lld %10lld  %-20s%s%s%s\n",
                   json_string_value(json_object_get(r, "name")),
                   json_string_value(json_object_get(r, "profile")),
                   (long long)json_integer_value(json_object_get(r, "k")),
                   (long long)json_integer_value(json_object_get(r, "rows")),
                   (long long)json_integer_value(json_object_get(r, "persons")),
                   (long long)json_integer_value(json_object_get(r, "suppressed_persons")),
                   json_string_value(json_object_get(r, "created")),
                   json_is_true(json_object_get(r, "keep_pseudonyms")) ? "  store pseudonyms" : "",
                   json_is_null(json_object_get(r, "audit_seq")) ? "  NOT AUDITED" : "",
                   json_is_true(json_object_get(r, "affected"))
                       ? "  AFFECTED: a pseudonym was disclosed or a person objected since"
                       : "");
        }
        json_array_foreach(json_object_get(o, "interrupted"), i, r)
        {
            printf("interrupted build: %s (started %s; `vst-admin release drop %s` removes it)\n",
                   json_string_value(json_object_get(r, "name")),
                   json_string_value(json_object_get(r, "started")),
                   json_string_value(json_object_get(r, "name")));
        }
    }
    json_decref(o);
    return 0;
}

/* release.dropped for an interrupted build (never published). 0 or 1. */
static int audit_build_removed(const char *name)
{
    json_t *d = json_pack("{s:s, s:b}", "name", name, "interrupted_build", 1);
    char *details = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    PGconn *trust = details ? admin_db(g_opt.trust_dsn, "trust") : NULL;
    char actor[160];
    admin_actor(actor, sizeof actor);
    uint64_t seq = 0;
    int rc = 0;
    if (trust == NULL ||
        vst_audit_append(trust, actor, "release.dropped", NULL, details, &seq) != 0)
        rc = admin_fail("release drop: build %s removed, but the audit log refused the event: %s",
                        name, trust ? vst_audit_last_error() : "no trust DB");
    else
        printf("interrupted build %s removed (it was never published; audit seq %" PRIu64 ")\n",
               name, seq);
    vst_secure_free(details);
    PQfinish(trust);
    return rc;
}

int cmd_release_drop(int argc, char **argv)
{
    if (admin_is_help(argc, argv)) {
        printf("usage: vst-admin release drop NAME\n\nRemoves release.NAME and its catalog "
               "entry (or an interrupted build of that\nname). Audited (release.dropped).\n");
        return 0;
    }
    if (argc != 2 || !name_ok(argv[1]))
        return admin_fail("release drop: give one release NAME (see --help)"), 2;
    PGconn *db = admin_db(g_opt.store_dsn, "store");
    const char *p[] = {argv[1]};
    char *v = db && wait_for_name(db, "release drop", argv[1]) == 0
                  ? spec_query_value(db, "release drop", "SELECT vst.release_drop($1)", 1, p)
                  : NULL;
    PQfinish(db);
    json_t *o = v ? json_loads(v, 0, NULL) : NULL;
    free(v);
    if (o == NULL)
        return 1;
    json_t *rel = json_object_get(o, "release");
    int rc = 0;
    if (json_is_object(rel)) {
        json_t *d =
            json_pack("{s:O, s:O, s:O, s:O}", "name", json_object_get(rel, "name"), "profile",
                      json_object_get(rel, "profile"), "rows", json_object_get(rel, "rows"),
                      "persons", json_object_get(rel, "persons"));
        char *details = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(d);
        PGconn *trust = details ? admin_db(g_opt.trust_dsn, "trust") : NULL;
        char actor[160];
        admin_actor(actor, sizeof actor);
        uint64_t seq = 0;
        if (trust == NULL ||
            vst_audit_append(trust, actor, "release.dropped", NULL, details, &seq) != 0)
            rc = admin_fail("release drop: %s dropped, but the audit log refused the event: %s",
                            argv[1], trust ? vst_audit_last_error() : "no trust DB");
        else
            printf("release %s dropped (audit seq %" PRIu64 ")\n", argv[1], seq);
        vst_secure_free(details);
        PQfinish(trust);
    } else if (json_is_true(json_object_get(o, "build"))) {
        rc = audit_build_removed(argv[1]);
    } else {
        rc = admin_fail("release drop: there is no release %s", argv[1]);
    }
    json_decref(o);
    return rc;
}
