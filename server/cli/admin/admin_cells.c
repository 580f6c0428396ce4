/* vst-admin cells: the small-cell report (DESIGN.md §11, docs/release.md).
 *
 * The counting runs in the store, in one pass over the profile's table
 * (vst.release_cells); vst-admin adds what the report is about (profile,
 * k, quasi-identifiers, generalizations, time), appends the release.cells
 * event to the audit log, puts its sequence number into the report and has
 * vst-keyd sign the report's digest (kind "cells", context vst/cells/1).
 * The report names attribute combinations and counts, never a pseudonym. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "audit/report_json.h"
#include "cli/admin/admin_release.h"
#include "cli/admin/cells_html.h"
#include "core/hex.h"
#include "core/secmem.h"

#define RARE_LIMIT 200

typedef struct {
    release_spec s;
    int rare, check;
    const char *html;
} cells_args;

static int usage(void)
{
    printf("usage: vst-admin cells [--profile P] [--k K] [--by COL,COL...]\n"
           "                       [--generalize COL=RULE,...] [--rare-codes] [--check]\n"
           "                       [--json] [--html FILE]\n\n"
           "Counts the distinct persons in every combination of the quasi-identifiers\n"
           "over the profile's whole store table, inside PostgreSQL (no row leaves it),\n"
           "and reports the classes held by fewer than k persons: how many, the smallest\n"
           "ones, what a single generalization step would leave, and (--rare-codes) the\n"
           "codes of the profile's code lists held by fewer than k persons.\n\n"
           "  --profile P        profile (default sgb5)\n"
           "  --k K              smallest class allowed, in persons (default 5, at least 2)\n"
           "  --by COL,...       quasi-identifiers instead of the profile's own\n"
           "  --generalize C=R   count as if C were generalized: band:N, prefix:N, drop\n"
           "  --rare-codes       also list rare codes (one more pass over the table)\n"
           "  --check            exit 3 if any class is below k\n"
           "  --json             the report as one JSON object (docs/release.md)\n"
           "  --html FILE        also write the report as one self-contained HTML page\n\n"
           "Every run is audited (release.cells) and the report is signed by vst-keyd;\n"
           "`vst-audit verify-report FILE` checks a saved --json report.\n"
           "Needs the store (--store-dsn), the trust DB (--trust-dsn) and the admin socket.\n");
    return 0;
}

static int parse(cells_args *a, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        int r = spec_option(&a->s, argc, argv, &i);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (strcmp(argv[i], "--rare-codes") == 0)
            a->rare = 1;
        else if (strcmp(argv[i], "--check") == 0)
            a->check = 1;
        else if (strcmp(argv[i], "--json") == 0)
            g_opt.json = 1;
        else if (strcmp(argv[i], "--html") == 0) {
            if ((a->html = admin_optarg(argc, argv, &i)) == NULL)
                return 2;
        } else
            return admin_fail("cells: unexpected argument %s (see --help)", argv[i]), 2;
    }
    return spec_finish(&a->s, 0) != 0 ? 2 : 0;
}

/* The store's part: counts, and rare codes if asked. A new object or NULL. */
static json_t *count_cells(PGconn *db, const cells_args *a)
{
    const release_spec *s = &a->s;
    char kbuf[24], lim[16];
    snprintf(kbuf, sizeof kbuf, "%ld", s->k);
    snprintf(lim, sizeof lim, "%d", RARE_LIMIT);
    char *qi = spec_sql_array(s->qi[0], SPEC_NAME_MAX, s->nqi);
    char *ru = spec_sql_array(s->rule[0], SPEC_RULE_MAX, s->nqi);
    char *nx = spec_sql_array(s->next[0], SPEC_RULE_MAX, s->nqi);
    const char *table = vst_profile_table(s->profile);
    const char *p[] = {table, qi, ru, nx, kbuf};
    char *text = qi && ru && nx ? spec_query_value(db, "cells",
                                                   "SELECT vst.release_cells($1::regclass, "
                                                   "$2::text[], $3::text[], $4::text[], $5::int)",
                                                   5, p)
                                : NULL;
    free(qi);
    free(ru);
    free(nx);
    json_t *counts = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(text);
    if (counts == NULL || !a->rare)
        return counts;
    size_t nl = vst_profile_nrare(s->profile);
    char lists[SPEC_MAX_COLS][SPEC_NAME_MAX];
    if (nl == 0 || nl > SPEC_MAX_COLS) {
        json_decref(counts);
        admin_fail("cells: profile %s declares no rare_codes lists", vst_profile_name(s->profile));
        return NULL;
    }
    for (size_t i = 0; i < nl; i++)
        snprintf(lists[i], SPEC_NAME_MAX, "%s", vst_profile_rare(s->profile, i));
    char *la = spec_sql_array(lists[0], SPEC_NAME_MAX, nl);
    const char *rp[] = {table, vst_profile_rare_column(s->profile), la, kbuf, lim};
    text = la ? spec_query_value(db, "cells: rare codes",
                                 "SELECT vst.release_rare_codes($1::regclass, $2, $3::text[], "
                                 "$4::int, $5::int)",
                                 5, rp)
              : NULL;
    free(la);
    json_t *rare = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(text);
    if (rare == NULL) {
        json_decref(counts);
        return NULL;
    }
    json_object_set(counts, "rare_codes", json_object_get(rare, "codes"));
    json_object_set(counts, "rare_codes_total", json_object_get(rare, "total"));
    json_decref(rare);
    return counts;
}

/* The report without audit_seq and signature: what it is about, then the
 * store's counts. */
static json_t *build_report(const cells_args *a, json_t *counts)
{
    char created[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    json_t *r = json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:s}", "report", "vst/cells/1", "profile",
                          vst_profile_name(a->s.profile), "table", vst_profile_table(a->s.profile),
                          "k", (json_int_t)a->s.k, "quasi_identifiers", spec_qi_json(&a->s),
                          "generalize", spec_generalize_json(&a->s), "created", created);
    if (r == NULL || json_object_update(r, counts) != 0) {
        json_decref(r);
        return NULL;
    }
    return r;
}

static json_int_t num(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* Appends release.cells; the report gets its audit_seq. 0 or 1. */
static int audit_cells(const json_t *rep)
{
    static const char *const keys[] = {
        "rows",         "persons",      "classes",         "classes_below_k", "persons_below_k",
        "rows_below_k", "key_versions", "rare_codes_total"};
    PGconn *db = admin_db(g_opt.trust_dsn, "trust");
    if (db == NULL)
        return 1;
    json_t *d = json_pack("{s:O, s:O, s:O, s:O}", "profile", json_object_get(rep, "profile"), "k",
                          json_object_get(rep, "k"), "quasi_identifiers",
                          json_object_get(rep, "quasi_identifiers"), "generalize",
                          json_object_get(rep, "generalize"));
    for (size_t i = 0; d && i < sizeof keys / sizeof keys[0]; i++)
        if (json_object_get(rep, keys[i]))
            json_object_set(d, keys[i], json_object_get(rep, keys[i]));
    char *details = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    char actor[160];
    admin_actor(actor, sizeof actor);
    uint64_t seq = 0;
    int rc = details ? vst_audit_append(db, actor, "release.cells", NULL, details, &seq) : -1;
    vst_secure_free(details);
    PQfinish(db);
    if (rc != 0)
        return admin_fail("cells: audit log: %s", vst_audit_last_error());
    json_object_set_new((json_t *)rep, "audit_seq", json_integer((json_int_t)seq));
    return 0;
}

/* keyd signs the digest of the report as kind "cells". 0 or 1. */
static int sign_cells(json_t *rep)
{
    uint8_t digest[32], sig[VST_ED25519_SIG_LEN];
    char hex[2 * VST_ED25519_SIG_LEN + 1];
    if (vst_report_digest(rep, digest) != 0)
        return admin_fail("cells: the report cannot be put in canonical form");
    vst_keyd *k = admin_keyd();
    if (k == NULL)
        return 1;
    int rc = vst_keyd_sign_report(k, VST_REPORT_KIND_CELLS, digest, sig);
    vst_keyd_close(k);
    if (rc != 0)
        return admin_fail("cells: vst-keyd did not sign the report (%s)", vst_keyd_strerror(rc));
    vst_hex(sig, sizeof sig, hex);
    json_object_set_new(rep, "signature", json_string(hex));
    return 0;
}

static void print_tenths(json_int_t part, json_int_t whole)
{
    long long t = whole > 0 ? (long long)(part * 1000 / whole) : 0;
    printf("%lld.%lld %%", t / 10, t % 10);
}

/* The first line is the one-line summary (the quickstart prints it). */
static void print_text(const json_t *r)
{
    json_int_t pb = num(r, "persons_below_k"), p = num(r, "persons");
    printf("cells %s k=%lld: %s, ", json_string_value(json_object_get(r, "profile")),
           (long long)num(r, "k"), pb == 0 ? "k-anonymous" : "NOT k-anonymous");
    printf("%lld of %lld persons (", (long long)pb, (long long)p);
    print_tenths(pb, p);
    printf(") in %lld of %lld classes below k; %lld rows; audit seq %lld\n",
           (long long)num(r, "classes_below_k"), (long long)num(r, "classes"),
           (long long)num(r, "rows"), (long long)num(r, "audit_seq"));
    json_t *h, *e;
    size_t i;
    printf("  class sizes (persons):");
    json_array_foreach(json_object_get(r, "histogram"), i, h)
    {
        printf(" %s:%lld", json_string_value(json_object_get(h, "size")),
               (long long)num(h, "classes"));
    }
    printf(" classes\n");
    json_array_foreach(json_object_get(r, "smallest"), i, e)
    {
        if (i == 5)
            break;
        printf("  small: ");
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(e, "values"), key, v)
        {
            printf("%s=%s ", key, json_string_value(v));
        }
        printf("-> %lld person(s)\n", (long long)num(e, "persons"));
    }
    json_array_foreach(json_object_get(r, "suggestions"), i, e)
    {
        printf("  if %s were %s: %lld persons below k\n",
               json_string_value(json_object_get(e, "column")),
               json_string_value(json_object_get(e, "rule")), (long long)num(e, "persons_below_k"));
    }
    if (json_object_get(r, "rare_codes_total"))
        printf("  rare codes (held by fewer than k persons): %lld\n",
               (long long)num(r, "rare_codes_total"));
    if (num(r, "key_versions") > 1)
        printf("  warning: rows of %lld key versions; a re-key in progress can count one person "
               "twice\n",
               (long long)num(r, "key_versions"));
}

static int write_html(const char *path, const json_t *rep)
{
    FILE *f = fopen(path, "we");
    if (f == NULL)
        return admin_fail("cells: cannot write %s", path);
    int rc = vst_cells_html_write(rep, f);
    if (fclose(f) != 0 || rc != 0)
        return admin_fail("cells: writing %s failed", path);
    return 0;
}

int cmd_cells(int argc, char **argv)
{
    if (admin_is_help(argc, argv))
        return usage();
    cells_args a = {.s = {.what = "cells"}};
    int rc = parse(&a, argc, argv);
    /* Every report is audited: no trust DB, no counting. */
    if (rc == 0 && g_opt.trust_dsn == NULL)
        rc = admin_fail("cells: no trust DB connection (--trust-dsn or VST_TRUST_DSN): every "
                        "report is audited");
    PGconn *db = rc == 0 ? admin_db(g_opt.store_dsn, "store") : NULL;
    json_t *counts = db ? count_cells(db, &a) : NULL;
    PQfinish(db);
    json_t *rep = counts ? build_report(&a, counts) : NULL;
    json_decref(counts);
    if (rc == 0 && rep == NULL)
        rc = 1;
    if (rc == 0 && (rc = audit_cells(rep)) == 0 && (rc = sign_cells(rep)) == 0) {
        if (g_opt.json) {
            char *t = json_dumps(rep, JSON_INDENT(2));
            if (t)
                puts(t);
            vst_secure_free(t);
        } else {
            print_text(rep);
        }
        if (a.html != NULL)
            rc = write_html(a.html, rep);
        if (rc == 0 && a.check && num(rep, "classes_below_k") > 0)
            rc = 3;
    }
    json_decref(rep);
    spec_free(&a.s);
    return rc;
}
