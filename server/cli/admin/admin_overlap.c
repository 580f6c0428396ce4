/* vst-admin overlap (DESIGN.md §13, docs/linkage.md): how many persons two
 * collections have in common, counted inside vst-keyd, never a record.
 *
 *   1. Both profiles must link in the same domain; a filter may name only a
 *      stratum the profile declares (the store's vst.link_values checks the
 *      same, so a direct SQL call cannot filter on anything else).
 *   2. OVERLAP_OPEN charges the pair's daily query budget in keyd.
 *   3. The stored control values of each side stream from the store
 *      (vst.link_values, a SECURITY DEFINER function: vst_admin reads no
 *      table) through OVERLAP_FEED in frames of up to 16,384 records. They
 *      are encrypted under their collection's key: vst-admin cannot compare
 *      them, only keyd can.
 *   4. OVERLAP_RUN: keyd links, suppresses below k and answers counts.
 *   5. The answer is audited (overlap.queried); keyd then signs it together
 *      with the audit seq (OVERLAP_SIGN, context vst/overlap/1), a structure
 *      keyd builds from its own counts (wire/overlap_tbs.h).
 * An answer that cannot be audited is not shown. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/audit.h"
#include "cli/admin/admin_overlap.h"
#include "core/hex.h"
#include "core/secmem.h"

typedef struct {
    const char *spec; /* PROFILE[:COL=VALUE] as given */
    char profile[64];
    char column[64]; /* "" without a filter */
    char value[65];
    char filter[VST_OVERLAP_FILTER_MAX + 1]; /* "COL=VALUE" or "" */
    vst_profile *p;
    uint64_t fed;
} side;

static int usage(void)
{
    printf("usage: vst-admin overlap --a PROFILE[:COL=VALUE] --b PROFILE[:COL=VALUE]\n"
           "                         [--k K] [--json]\n\n"
           "How many persons two collections have in common (DESIGN.md §13), linked\n"
           "inside vst-keyd by their control values, strictest key first; only counts\n"
           "leave keyd. The overlap is shown as \"<k\" when it is below k, when what is\n"
           "left of either side is below k, or when a side has fewer than k records.\n\n"
           "  --a, --b SIDE  a profile that links persons without a number (e.g.\n"
           "                 measles_case, school_entry), optionally filtered on one of\n"
           "                 its strata: measles_case:year=2025, school_entry:district=06412\n"
           "  --k K          suppression threshold, at least 3 (default 5)\n"
           "  --json         the answer as JSON (a, b, overlap, k, passes, audit_seq,\n"
           "                 signature, ...)\n\n"
           "Every query is audited (overlap.queried) and charged to the pair's daily\n"
           "query budget in vst-keyd; the answer is signed (vst-audit verify-report).\n");
    return 0;
}

/* [a-z0-9_] names; values [A-Za-z0-9_.-], as strata are years, codes and
 * booleans: nothing else is needed and nothing else reaches the store. */
static int plain(const char *s, size_t max, int value)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              (value && ((*s >= 'A' && *s <= 'Z') || *s == '.' || *s == '-'))))
            return 0;
    return 1;
}

static int parse_side(side *s, const char *opt)
{
    const char *colon = strchr(s->spec, ':');
    size_t plen = colon ? (size_t)(colon - s->spec) : strlen(s->spec);
    if (plen == 0 || plen >= sizeof s->profile)
        return admin_fail("overlap: %s wants PROFILE[:COL=VALUE]", opt);
    memcpy(s->profile, s->spec, plen);
    s->profile[plen] = '\0';
    if (!plain(s->profile, 32, 0))
        return admin_fail("overlap: %s: \"%s\" is not a profile name", opt, s->profile);
    if (colon) {
        const char *eq = strchr(colon + 1, '=');
        size_t clen = eq ? (size_t)(eq - colon - 1) : 0;
        if (eq == NULL || clen == 0 || clen >= sizeof s->column)
            return admin_fail("overlap: %s: the filter wants COL=VALUE after the profile", opt);
        memcpy(s->column, colon + 1, clen);
        s->column[clen] = '\0';
        snprintf(s->value, sizeof s->value, "%s", eq + 1);
        if (!plain(s->column, 63, 0) || !plain(s->value, 64, 1))
            return admin_fail("overlap: %s: the filter wants COL=VALUE with a column name and "
                              "a value of letters, digits, '.', '-' or '_'",
                              opt);
        snprintf(s->filter, sizeof s->filter, "%s=%s", s->column, s->value);
    }
    char path[4096], msg[512];
    snprintf(path, sizeof path, "%s/%s.json", g_opt.profiles, s->profile);
    if (vst_profile_load(path, &s->p, msg, sizeof msg) != VST_E_OK)
        return admin_fail("overlap: profile %s: %s", s->profile, msg);
    if (vst_profile_link_domain(s->p) == NULL)
        return admin_fail("overlap: profile %s links no persons (it declares no composite "
                          "identifier)",
                          s->profile);
    if (s->column[0] == '\0')
        return 0;
    char strata[256] = "";
    for (size_t i = 0; i < vst_profile_nstrata(s->p); i++) {
        if (strcmp(vst_profile_stratum(s->p, i), s->column) == 0)
            return 0;
        snprintf(strata + strlen(strata), sizeof strata - strlen(strata), "%s%s", i ? ", " : "",
                 vst_profile_stratum(s->p, i));
    }
    return admin_fail("overlap: %s: %s is not a stratum of profile %s; filters may use only "
                      "its strata (%s)",
                      opt, s->column, s->profile, strata[0] ? strata : "none");
}

static int parse(side *a, side *b, long *k, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--json") == 0) {
            g_opt.json = 1;
        } else if (strcmp(o, "--a") == 0 || strcmp(o, "--b") == 0) {
            side *s = o[2] == 'a' ? a : b;
            if (s->spec != NULL)
                return admin_fail("overlap: %s given twice", o);
            if ((s->spec = admin_optarg(argc, argv, &i)) == NULL)
                return 1;
        } else if (strcmp(o, "--k") == 0) {
            const char *v = admin_optarg(argc, argv, &i);
            char *end;
            if (v == NULL)
                return 1;
            *k = strtol(v, &end, 10);
            if (*end != '\0' || end == v || *k < VST_OVERLAP_K_MIN || *k > 65535)
                return admin_fail("overlap: --k wants a whole number from %d to 65535",
                                  VST_OVERLAP_K_MIN);
        } else {
            return admin_fail("overlap: unexpected argument %s (see --help)", o);
        }
    }
    if (a->spec == NULL || b->spec == NULL)
        return admin_fail("overlap: give both sides, --a PROFILE[:COL=VALUE] and --b "
                          "PROFILE[:COL=VALUE] (see --help)");
    if (parse_side(a, "--a") != 0 || parse_side(b, "--b") != 0)
        return 1;
    if (strcmp(vst_profile_link_domain(a->p), vst_profile_link_domain(b->p)) != 0)
        return admin_fail("overlap: %s and %s link persons in different domains (%s, %s): "
                          "their control values can never match",
                          a->profile, b->profile, vst_profile_link_domain(a->p),
                          vst_profile_link_domain(b->p));
    if (g_opt.trust_dsn == NULL)
        return admin_fail("overlap: no trust DB connection (--trust-dsn or VST_TRUST_DSN): "
                          "every query is audited");
    return 0;
}

/* Streams one side's control values into keyd. 0 or 1. */
static int feed_side(PGconn *db, vst_keyd *k, side *s, uint8_t which)
{
    const char *p[] = {s->profile, s->column[0] ? s->column : NULL, s->column[0] ? s->value : NULL};
    PGresult *r = PQexec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (ok) {
        r = PQexecParams(db,
                         "DECLARE lv NO SCROLL CURSOR FOR SELECT key_version, cv "
                         "FROM vst.link_values($1, $2, $3) ORDER BY key_version",
                         3, NULL, p, NULL, NULL, 1);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok) {
            char m[256];
            admin_fail("overlap: %s: %s", s->profile,
                       admin_pg_line(PQresultErrorMessage(r), m, sizeof m));
        }
        PQclear(r);
    }
    uint8_t *buf = ok ? vst_secure_malloc((size_t)VST_CV_BATCH_MAX * VST_CV_RECORD_LEN) : NULL;
    int rc = ok && buf ? 0 : 1;
    if (ok && buf == NULL)
        admin_fail("overlap: out of memory");
    while (rc == 0) {
        r = PQexecParams(db, "FETCH 16384 FROM lv", 0, NULL, NULL, NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            char m[256];
            rc = admin_fail("overlap: %s: %s", s->profile,
                            admin_pg_line(PQresultErrorMessage(r), m, sizeof m));
            PQclear(r);
            break;
        }
        int n = PQntuples(r);
        /* Rows of one key version go into one frame: split at a change. */
        for (int i = 0; i < n && rc == 0;) {
            uint32_t v = 0;
            uint32_t cnt = 0;
            for (int j = i; j < n; j++) {
                if (PQgetlength(r, j, 0) != 4 || PQgetlength(r, j, 1) != VST_CV_RECORD_LEN) {
                    rc = admin_fail("overlap: %s: a stored record has no complete set of control "
                                    "values",
                                    s->profile);
                    break;
                }
                const uint8_t *b = (const uint8_t *)PQgetvalue(r, j, 0);
                uint32_t vj =
                    (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
                if (cnt > 0 && vj != v)
                    break;
                v = vj;
                memcpy(buf + (size_t)cnt * VST_CV_RECORD_LEN, PQgetvalue(r, j, 1),
                       VST_CV_RECORD_LEN);
                cnt++;
            }
            if (rc != 0)
                break;
            uint64_t held = 0;
            int kr = vst_keyd_overlap_feed(k, which, v, buf, cnt, &held);
            if (kr != 0)
                rc = admin_fail("overlap: vst-keyd refused the values of %s (%s)%s", s->profile,
                                vst_keyd_strerror(kr),
                                kr == VST_KERR_OVERLAP_LIMIT
                                    ? ": more records than keyd's overlap_max_records; "
                                      "narrow the side with a stratum filter"
                                    : "");
            s->fed = held;
            i += (int)cnt;
        }
        PQclear(r);
        if (n == 0)
            break;
    }
    if (buf)
        vst_secure_free(buf);
    PQclear(PQexec(db, rc == 0 ? "COMMIT" : "ROLLBACK"));
    return rc;
}

static const char *const reasons[] = {"none", "small overlap", "small remainder", "small side"};

static json_t *count_or_k(const vst_overlap_result *r, uint64_t v)
{
    return r->suppressed ? json_string("<k") : json_integer((json_int_t)v);
}

static json_t *answer_json(const side *a, const side *b, const vst_overlap_result *r,
                           const char *domain)
{
    json_t *passes = json_array();
    for (unsigned i = 0; passes && i < VST_LINK_NKEYS; i++)
        json_array_append_new(passes, json_pack("{s:s, s:o}", "key", vst_link_key_name(i), "links",
                                                count_or_k(r, r->links[i])));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:I, s:o, s:s}",
                     "report", "vst/overlap/1", "domain", domain, "profile_a", a->profile,
                     "collection_a", vst_profile_link_collection(a->p), "filter_a", a->filter,
                     "profile_b", b->profile, "collection_b", vst_profile_link_collection(b->p),
                     "filter_b", b->filter, "a", (json_int_t)r->a, "b", (json_int_t)r->b, "overlap",
                     count_or_k(r, r->overlap), "k", (json_int_t)r->k, "passes", passes,
                     "suppressed", r->reason < 4 ? reasons[r->reason] : "none");
}

/* overlap.queried: the question and the answer as keyd gave it (already
 * suppressed), never a value. Sets audit_seq. 0 or 1. */
static int audit_answer(json_t *ans)
{
    PGconn *db = admin_db(g_opt.trust_dsn, "trust");
    if (db == NULL)
        return 1;
    char *details = json_dumps(ans, JSON_COMPACT | JSON_SORT_KEYS);
    char actor[160];
    admin_actor(actor, sizeof actor);
    uint64_t seq = 0;
    int rc = details ? vst_audit_append(db, actor, "overlap.queried", NULL, details, &seq) : -1;
    vst_secure_free(details);
    PQfinish(db);
    if (rc != 0)
        return admin_fail("overlap: audit log: %s (the answer is not shown)",
                          vst_audit_last_error());
    json_object_set_new(ans, "audit_seq", json_integer((json_int_t)seq));
    return 0;
}

static void print_text(const json_t *j, uint32_t budget_left)
{
    const json_t *o = json_object_get(j, "overlap");
    char ov[32];
    if (json_is_string(o))
        snprintf(ov, sizeof ov, "%s", json_string_value(o));
    else
        snprintf(ov, sizeof ov, "%lld", (long long)json_integer_value(o));
    const char *fa = json_string_value(json_object_get(j, "filter_a"));
    const char *fb = json_string_value(json_object_get(j, "filter_b"));
    printf("overlap %s%s%s%s x %s%s%s%s, k=%lld: %s in common of %lld and %lld records%s%s%s; "
           "audit seq %lld\n",
           json_string_value(json_object_get(j, "profile_a")), *fa ? " (" : "", fa, *fa ? ")" : "",
           json_string_value(json_object_get(j, "profile_b")), *fb ? " (" : "", fb, *fb ? ")" : "",
           (long long)json_integer_value(json_object_get(j, "k")), ov,
           (long long)json_integer_value(json_object_get(j, "a")),
           (long long)json_integer_value(json_object_get(j, "b")), json_is_string(o) ? " (" : "",
           json_is_string(o) ? json_string_value(json_object_get(j, "suppressed")) : "",
           json_is_string(o) ? ")" : "",
           (long long)json_integer_value(json_object_get(j, "audit_seq")));
    size_t i;
    json_t *p;
    printf("  links per pass:");
    json_array_foreach(json_object_get(j, "passes"), i, p)
    {
        const json_t *l = json_object_get(p, "links");
        if (json_is_string(l))
            printf(" %s %s", json_string_value(json_object_get(p, "key")), json_string_value(l));
        else
            printf(" %s %lld", json_string_value(json_object_get(p, "key")),
                   (long long)json_integer_value(l));
    }
    printf("\n  queries of this pair left today: %" PRIu32 "\n", budget_left);
}

int cmd_overlap(int argc, char **argv)
{
    if (admin_is_help(argc, argv))
        return usage();
    side a = {0}, b = {0};
    long k = VST_OVERLAP_K_DEFAULT;
    int rc = parse(&a, &b, &k, argc, argv) != 0 ? 2 : 0;
    vst_overlap_open_req q = {.k = (uint16_t)k};
    if (rc == 0) {
        snprintf(q.domain, sizeof q.domain, "%s", vst_profile_link_domain(a.p));
        snprintf(q.collection_a, sizeof q.collection_a, "%s", vst_profile_link_collection(a.p));
        snprintf(q.filter_a, sizeof q.filter_a, "%s", a.filter);
        snprintf(q.collection_b, sizeof q.collection_b, "%s", vst_profile_link_collection(b.p));
        snprintf(q.filter_b, sizeof q.filter_b, "%s", b.filter);
    }
    PGconn *db = rc == 0 ? admin_db(g_opt.store_dsn, "store") : NULL;
    vst_keyd *kd = db ? admin_keyd() : NULL;
    if (rc == 0 && kd == NULL)
        rc = 1;
    uint32_t budget_left = 0;
    if (rc == 0) {
        int kr = vst_keyd_overlap_open(kd, &q, &budget_left);
        if (kr == VST_KERR_OVERLAP_BUDGET)
            rc = admin_fail("overlap: refused: the query budget of %s x %s for today is used up "
                            "(vst-keyd option overlap_budget)",
                            q.collection_a, q.collection_b);
        else if (kr != 0)
            rc = admin_fail("overlap: vst-keyd refused the query (%s)", vst_keyd_strerror(kr));
    }
    if (rc == 0)
        rc = feed_side(db, kd, &a, 0);
    if (rc == 0)
        rc = feed_side(db, kd, &b, 1);
    vst_overlap_result res;
    memset(&res, 0, sizeof res);
    if (rc == 0) {
        int kr = vst_keyd_overlap_run(kd, &res);
        if (kr != 0)
            rc = admin_fail("overlap: vst-keyd could not link (%s)", vst_keyd_strerror(kr));
    }
    json_t *ans = rc == 0 ? answer_json(&a, &b, &res, q.domain) : NULL;
    if (rc == 0 && ans == NULL)
        rc = admin_fail("overlap: out of memory");
    if (rc == 0)
        rc = audit_answer(ans);
    if (rc == 0) {
        uint8_t sig[VST_ED25519_SIG_LEN];
        char hex[2 * VST_ED25519_SIG_LEN + 1];
        int kr = vst_keyd_overlap_sign(
            kd, (uint64_t)json_integer_value(json_object_get(ans, "audit_seq")), sig);
        if (kr != 0) {
            rc =
                admin_fail("overlap: vst-keyd did not sign the answer (%s)", vst_keyd_strerror(kr));
        } else {
            vst_hex(sig, sizeof sig, hex);
            json_object_set_new(ans, "signature", json_string(hex));
            json_object_set_new(ans, "budget_left", json_integer(budget_left));
        }
    }
    if (rc == 0) {
        if (g_opt.json) {
            char *t = json_dumps(ans, JSON_INDENT(2) | JSON_SORT_KEYS);
            if (t)
                puts(t);
            vst_secure_free(t);
        } else {
            print_text(ans, budget_left);
        }
    }
    json_decref(ans);
    vst_keyd_close(kd);
    PQfinish(db);
    vst_profile_free(a.p);
    vst_profile_free(b.p);
    if (rc == 0)
        admin_audit_sync(1); /* keyd's keyd.overlap event */
    return rc;
}
