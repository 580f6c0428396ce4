/* The options `vst-admin cells` and `release create` share, and how they
 * become quasi-identifiers, rules and next steps (admin_release.h). The
 * store checks every column and rule again (vst.release_check): this file
 * gives the operator a clear line before a query runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin/admin_release.h"

/* Column and rule strings travel into SQL array literals: [a-z0-9_:] only. */
static int plain(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n >= max)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == ':'))
            return 0;
    return 1;
}

/* "COL=RULE[,COL=RULE...]" appended to s->gen. */
static int add_generalize(release_spec *s, const char *arg)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", arg);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        vst_gen_kind kind;
        unsigned n;
        if (eq == NULL)
            return admin_fail("%s: --generalize wants COL=RULE, e.g. birth_year=band:5", s->what);
        *eq = '\0';
        if (!plain(tok, SPEC_NAME_MAX) || !plain(eq + 1, SPEC_RULE_MAX) ||
            vst_gen_rule_parse(eq + 1, &kind, &n) != 0)
            return admin_fail("%s: --generalize %s: a rule is band:N (N 2..100), prefix:N "
                              "(N 1..16) or drop",
                              s->what, tok);
        for (size_t i = 0; i < s->ngen; i++)
            if (strcmp(s->gen[i].col, tok) == 0)
                return admin_fail("%s: --generalize names %s twice", s->what, tok);
        if (s->ngen == SPEC_MAX_COLS)
            return admin_fail("%s: at most %d generalizations", s->what, SPEC_MAX_COLS);
        snprintf(s->gen[s->ngen].col, SPEC_NAME_MAX, "%s", tok);
        snprintf(s->gen[s->ngen].rule, SPEC_RULE_MAX, "%s", eq + 1);
        s->ngen++;
    }
    return 0;
}

int spec_option(release_spec *s, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    if (strcmp(a, "--profile") == 0 || strcmp(a, "--by") == 0 || strcmp(a, "--k") == 0 ||
        strcmp(a, "--generalize") == 0) {
        if ((v = admin_optarg(argc, argv, i)) == NULL)
            return -1;
    } else {
        return 0;
    }
    if (strcmp(a, "--profile") == 0) {
        s->profile_name = v;
    } else if (strcmp(a, "--by") == 0) {
        s->by = v;
    } else if (strcmp(a, "--k") == 0) {
        char *end;
        s->k = strtol(v, &end, 10);
        if (*end != '\0' || end == v || s->k < 2 || s->k > 1000000)
            return admin_fail("%s: --k must be an integer from 2 (k = 1 protects nobody) to "
                              "1000000",
                              s->what),
                   -1;
    } else if (add_generalize(s, v) != 0) {
        return -1;
    }
    return 1;
}

static const char *rule_of(const release_spec *s, const char *col)
{
    for (size_t i = 0; i < s->ngen; i++)
        if (strcmp(s->gen[i].col, col) == 0)
            return s->gen[i].rule;
    return "";
}

/* 1 if rule b generalizes further than rule a ("" is none). */
static int coarser(const char *a, const char *b)
{
    vst_gen_kind ka = VST_GEN_NONE, kb;
    unsigned na = 0, nb;
    if (a[0] != '\0' && vst_gen_rule_parse(a, &ka, &na) != 0)
        return 0;
    if (vst_gen_rule_parse(b, &kb, &nb) != 0 || ka == VST_GEN_DROP)
        return 0;
    if (kb == VST_GEN_DROP || ka == VST_GEN_NONE)
        return 1;
    if (ka != kb)
        return 0;
    return kb == VST_GEN_BAND ? nb > na && nb % na == 0 : nb < na;
}

/* The first step of the column's ladder beyond its current rule. */
static void next_step(const release_spec *s, const char *col, const char *cur, char *out)
{
    const char *const *steps;
    size_t n = vst_profile_ladder(s->profile, col, &steps);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if (coarser(cur, steps[i])) {
            snprintf(out, SPEC_RULE_MAX, "%s", steps[i]);
            return;
        }
}

static int add_qi(release_spec *s, const char *col)
{
    if (!plain(col, SPEC_NAME_MAX) || strchr(col, ':'))
        return admin_fail("%s: \"%s\" is not a column name", s->what, col);
    for (size_t i = 0; i < s->nqi; i++)
        if (strcmp(s->qi[i], col) == 0)
            return admin_fail("%s: %s is named twice", s->what, col);
    const char *r = rule_of(s, col);
    if (strcmp(r, "drop") == 0)
        return 0; /* dropped: no longer part of any class */
    if (s->nqi == SPEC_MAX_COLS)
        return admin_fail("%s: at most %d quasi-identifiers", s->what, SPEC_MAX_COLS);
    snprintf(s->qi[s->nqi], SPEC_NAME_MAX, "%s", col);
    snprintf(s->rule[s->nqi], SPEC_RULE_MAX, "%s", r);
    next_step(s, col, r, s->next[s->nqi]);
    s->nqi++;
    return 0;
}

static int load_profile(release_spec *s)
{
    char path[4096], msg[512];
    const char *name = s->profile_name ? s->profile_name : "sgb5";
    if (!plain(name, 33) || strchr(name, ':'))
        return admin_fail("%s: --profile wants a profile name such as sgb5", s->what);
    snprintf(path, sizeof path, "%s/%s.json", g_opt.profiles, name);
    if (vst_profile_load(path, &s->profile, msg, sizeof msg) != VST_E_OK)
        return admin_fail("%s: profile %s: %s", s->what, name, msg);
    /* Cells and releases count persons by their pseudonym; a linkage
     * profile (DESIGN.md §13) stores none, only control values. */
    int pseudonym = 0;
    for (size_t c = 0; c < vst_profile_ncolumns(s->profile); c++)
        pseudonym |= strcmp(vst_profile_column(s->profile, c)->name, "pseudonym") == 0 &&
                     vst_profile_column(s->profile, c)->type == VST_COL_PSEUDONYM;
    if (!pseudonym)
        return admin_fail("%s: profile %s has no pseudonym column, so it has no persons to "
                          "count%s",
                          s->what, name,
                          vst_profile_link_domain(s->profile) != NULL
                              ? " (it stores control values: see vst-admin overlap)"
                              : "");
    return 0;
}

/* 1 if col is one of the quasi-identifiers asked for (--by or the
 * profile's), dropped or not. */
static int named_qi(const release_spec *s, const char *col)
{
    if (s->by == NULL) {
        for (size_t i = 0; i < vst_profile_nqi(s->profile); i++)
            if (strcmp(vst_profile_qi(s->profile, i), col) == 0)
                return 1;
        return 0;
    }
    size_t n = strlen(col);
    for (const char *p = s->by; (p = strstr(p, col)) != NULL; p += n)
        if ((p == s->by || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}

int spec_finish(release_spec *s, int allow_other)
{
    if (s->k == 0)
        s->k = 5;
    if (load_profile(s) != 0)
        return 1;
    size_t declared = vst_profile_nqi(s->profile);
    if (s->by != NULL) {
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", s->by);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
            if (add_qi(s, t) != 0)
                return 1;
    } else if (declared == 0) {
        return admin_fail("%s: profile %s declares no quasi_identifiers; name them with --by",
                          s->what, vst_profile_name(s->profile));
    } else {
        for (size_t i = 0; i < declared; i++)
            if (add_qi(s, vst_profile_qi(s->profile, i)) != 0)
                return 1;
    }
    for (size_t g = 0; g < s->ngen && !allow_other; g++) {
        int found = strcmp(s->gen[g].rule, "drop") == 0 && named_qi(s, s->gen[g].col);
        for (size_t i = 0; i < s->nqi && !found; i++)
            found = strcmp(s->qi[i], s->gen[g].col) == 0;
        if (!found)
            return admin_fail("%s: --generalize %s: not a quasi-identifier here", s->what,
                              s->gen[g].col);
    }
    if (s->nqi == 0)
        return admin_fail("%s: every quasi-identifier is dropped; nothing to count", s->what);
    return 0;
}

void spec_free(release_spec *s)
{
    vst_profile_free(s->profile);
    s->profile = NULL;
}

json_t *spec_generalize_json(const release_spec *s)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < s->ngen; i++)
        json_object_set_new(o, s->gen[i].col, json_string(s->gen[i].rule));
    return o;
}

json_t *spec_qi_json(const release_spec *s)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < s->nqi; i++)
        json_array_append_new(a, json_string(s->qi[i]));
    return a;
}

char *spec_sql_array(const char *base, size_t stride, size_t n)
{
    size_t cap = 3 + n * (stride + 3);
    char *out = malloc(cap), *p = out;
    if (out == NULL)
        return NULL;
    *p++ = '{';
    for (size_t i = 0; i < n; i++)
        p += snprintf(p, cap - (size_t)(p - out), "%s\"%s\"", i ? "," : "", base + i * stride);
    snprintf(p, cap - (size_t)(p - out), "}");
    return out;
}

char *spec_query_value(PGconn *db, const char *what, const char *sql, int nparams,
                       const char *const *params)
{
    PGresult *r = PQexecParams(db, sql, nparams, NULL, params, NULL, NULL, 0);
    char *v = NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) == 1) {
        v = strdup(PQgetvalue(r, 0, 0));
        if (v == NULL)
            admin_fail("%s: out of memory", what);
    } else {
        /* The server's own sentence (vst.release_* raise clear ones),
         * without its "ERROR:" prefix and context lines. */
        const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        char m[512];
        admin_fail("%s: %s", what,
                   primary ? primary : admin_pg_line(PQresultErrorMessage(r), m, sizeof m));
    }
    PQclear(r);
    return v;
}
