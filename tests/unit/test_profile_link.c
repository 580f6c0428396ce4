/* The profile engine's composite identifiers (DESIGN.md §13,
 * docs/profiles.md "Composite identifiers"):
 *   - measles_case and school_entry load; the linkage API answers their
 *     domain, collection, control columns and strata, and nothing for sgb5;
 *   - the broken composite profiles in tests/data/profiles/ (composite_*,
 *     strata_*, control_without_composite) fail with a message naming the
 *     file, the field and the mistake;
 *   - a record of each profile yields its row (no name byte in it, the
 *     control columns left for keyd) and its normalized person;
 *   - a name that normalizes to nothing is an error of that field (line,
 *     path, name_empty), never the value; a row with any error has no
 *     person, and vst_row_clear wipes the person.
 * Names are invented, like vst-gen's. */
#include "cunit_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/profile.h"
#include "profile/profile_internal.h"
#include "wire/codec_link.h"

#define MEASLES_CASE "server/profiles/measles_case.json"
#define SCHOOL_ENTRY "server/profiles/school_entry.json"
#define TESTPROF(name) "tests/data/profiles/" name ".json"

typedef struct {
    vst_profile *p;
    vst_row *r;
    vst_errors e;
} fx;

static int fx_open(fx *f, const char *rel)
{
    char msg[512];
    memset(f, 0, sizeof *f);
    vst_err e = vst_profile_load(vst_src_path(rel), &f->p, msg, sizeof msg);
    if (e != VST_E_OK) {
        fprintf(stderr, "\n  loading %s: %s (%s)\n", rel, msg, vst_err_code(e));
        return -1;
    }
    f->r = vst_row_new(f->p);
    return f->r == NULL || vst_errors_init(&f->e, 16) != 0 ? -1 : 0;
}

static void fx_close(fx *f)
{
    vst_row_free(f->r);
    vst_errors_free(&f->e);
    vst_profile_free(f->p);
}

#define OPEN(f, rel) CU_ASSERT_FATAL(fx_open(&(f), (rel)) == 0)

static vst_err apply(fx *f, const char *line, uint64_t lineno)
{
    f->e.n = 0;
    f->e.total = 0;
    return vst_profile_apply(f->p, line, strlen(line), lineno, f->r, &f->e);
}

static void dump_errors(const fx *f)
{
    for (size_t i = 0; i < f->e.n; i++)
        fprintf(stderr, "    line %llu  %-28s %s\n", (unsigned long long)f->e.items[i].line,
                f->e.items[i].path, vst_err_code(f->e.items[i].code));
}

static int col(const vst_profile *p, const char *name)
{
    for (size_t i = 0; i < vst_profile_ncolumns(p); i++)
        if (strcmp(vst_profile_column(p, i)->name, name) == 0)
            return (int)i;
    CU_FAIL_FATAL("column not in profile");
    return -1;
}

static int text_is(const fx *f, const char *column, const char *want)
{
    const vst_value *v = &f->r->values[col(f->p, column)];
    return !v->is_null && v->len == strlen(want) && memcmp(v->s, want, v->len) == 0;
}

/* Whether needle occurs in the row's arena (every kept value). */
static int row_holds(const vst_row *r, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= r->arena_used; i++)
        if (memcmp(r->arena + i, needle, n) == 0)
            return 1;
    return 0;
}

static int tokens_are(const vst_name_tokens *t, const char *const *want)
{
    size_t n = 0;
    while (want[n] != NULL)
        n++;
    if (t->n != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (t->len[i] != strlen(want[i]) || strcmp(t->tok[i], want[i]) != 0)
            return 0;
    return 1;
}

/* ---- records ------------------------------------------------------------- */

#define CHILD                                                                                      \
    "\"child\":{\"given_names\":\"Limara S\\u00f6ve\",\"family_names\":\"Borentak-\xc3\x9clvan\"," \
    "\"birth_name\":\"Qestrin\",\"birth_date\":\"2019-03-04\",\"sex\":\"W\","                      \
    "\"postal_code\":\"60311\"}"
#define CASE "\"case\":{\"year\":2025,\"district\":\"06412\",\"follow_up\":true}"
#define MEASLES_LINE "{" CHILD "," CASE "}"
#define SCHOOL_LINE                                                                                \
    "{\"child\":{\"given_names\":\"Vemo\",\"family_names\":\"von Dralle\","                        \
    "\"birth_date\":\"2019-11-30\",\"sex\":\"M\",\"postal_code\":\"06108\"},"                      \
    "\"exam\":{\"school_year\":2025,\"district\":\"15002\",\"measles_doses\":2}}"

/* The API on the shipped profiles. */
static void test_link_shipped(void)
{
    static const struct {
        const char *file, *name, *column;
        const char *strata[4];
    } want[] = {
        {MEASLES_CASE, "measles_case", "case", {"year", "district", NULL}},
        {SCHOOL_ENTRY, "school_entry", "exam", {"school_year", "district", "measles_doses", NULL}},
    };
    for (size_t w = 0; w < 2; w++) {
        fx f;
        OPEN(f, want[w].file);
        CU_ASSERT_STRING_EQUAL(vst_profile_name(f.p), want[w].name);
        CU_ASSERT_STRING_EQUAL(vst_profile_link_domain(f.p), "ph/child");
        CU_ASSERT_STRING_EQUAL(vst_profile_link_collection(f.p), want[w].name);
        for (unsigned k = 0; k < VST_LINK_NKEYS; k++) {
            char name[32];
            snprintf(name, sizeof name, "cv_%s", vst_link_key_name(k));
            CU_ASSERT_STRING_EQUAL(vst_profile_link_column(f.p, k), name);
            CU_ASSERT_EQUAL(vst_profile_column(f.p, (size_t)col(f.p, name))->type, VST_COL_CONTROL);
            /* the engine's own copy of the contract's names */
            CU_ASSERT_STRING_EQUAL(pf_link_key_name(k), vst_link_key_name(k));
        }
        CU_ASSERT_PTR_NULL(vst_profile_link_column(f.p, VST_LINK_NKEYS));
        CU_ASSERT_STRING_EQUAL(vst_profile_strata_column(f.p), want[w].column);
        size_t n = 0;
        while (want[w].strata[n] != NULL)
            n++;
        CU_ASSERT_EQUAL(vst_profile_nstrata(f.p), n);
        for (size_t i = 0; i < n; i++)
            CU_ASSERT_STRING_EQUAL(vst_profile_stratum(f.p, i), want[w].strata[i]);
        CU_ASSERT_PTR_NULL(vst_profile_stratum(f.p, n));
        /* no pseudonym, no quasi-identifier: cells and releases do not apply */
        CU_ASSERT_EQUAL(vst_profile_ndomains(f.p), 0);
        CU_ASSERT_EQUAL(vst_profile_nqi(f.p), 0);
        for (size_t i = 0; i < vst_profile_ncolumns(f.p); i++)
            CU_ASSERT(vst_profile_column(f.p, i)->type != VST_COL_PSEUDONYM);
        fx_close(&f);
    }
    CU_ASSERT_EQUAL(PF_LINK_KEYS, VST_LINK_NKEYS);
    CU_ASSERT_PTR_NULL(pf_link_key_name(PF_LINK_KEYS));
    /* a profile without a composite links nothing */
    fx g;
    OPEN(g, "server/profiles/sgb5.json");
    CU_ASSERT_PTR_NULL(vst_profile_link_domain(g.p));
    CU_ASSERT_PTR_NULL(vst_profile_link_collection(g.p));
    CU_ASSERT_PTR_NULL(vst_profile_link_column(g.p, 0));
    CU_ASSERT_PTR_NULL(vst_profile_strata_column(g.p));
    CU_ASSERT_EQUAL(vst_profile_nstrata(g.p), 0);
    CU_ASSERT_PTR_NULL(vst_profile_stratum(g.p, 0));
    fx_close(&g);
    OPEN(g, TESTPROF("valid_composite"));
    CU_ASSERT_STRING_EQUAL(vst_profile_link_domain(g.p), "linked/child");
    fx_close(&g);
}

static const struct {
    const char *file;
    const char *path; /* in the message */
    const char *reason;
} BAD[] = {
    {"composite_name_kept", ": child.last: ", "must have action \"drop\""},
    {"composite_unknown_field",
     ": child: ", "composite.given names \"given_names\", which is not a field of this object"},
    {"composite_wrong_type", ": child.born: ", "composite.birth_date must name a date field"},
    {"composite_bad_domain", ": child.composite: ", "domain must be"},
    {"composite_bad_collection", ": child.composite: ", "collection must be"},
    {"composite_unknown_key", ": child.composite.keys: ", "unknown key"},
    {"composite_missing_control", ": child.composite: ", "control column \"cv_year\""},
    {"composite_extra_control", ": columns: ", "exactly the 6 control columns"},
    {"composite_nullable_control", ": child.composite: ", "\"cv_exact\" must not be nullable"},
    {"composite_optional_object", ": child: ", "must be required"},
    {"composite_optional_name", ": child.first: ", "composite.given must be a required field"},
    {"composite_with_pseudonym", ": record: ", "pseudonymizes no identifier"},
    {"strata_not_kept", ": strata[1]: ", "\"month\" is not a kept key of a json_column"},
    {"strata_list", ": strata[0]: ", "\"codes\" is not a kept key"},
    {"strata_without_composite", ": strata: ", "need a composite"},
    {"control_without_composite", ": columns[5]: ", "a control column needs a \"composite\""},
};

static void test_link_broken(void)
{
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        char rel[128], file[160], msg[512] = "";
        snprintf(rel, sizeof rel, "tests/data/profiles/%s.json", BAD[i].file);
        snprintf(file, sizeof file, "%s.json", BAD[i].file);
        vst_profile *p = NULL;
        vst_err e = vst_profile_load(vst_src_path(rel), &p, msg, sizeof msg);
        int ok = e == VST_E_PROFILE_INVALID && p == NULL && strstr(msg, file) != NULL &&
                 strstr(msg, BAD[i].path) != NULL && strstr(msg, BAD[i].reason) != NULL;
        if (!ok)
            fprintf(stderr, "\n  %s: want \"%s\" \"%s\", got %s: %s\n", BAD[i].file, BAD[i].path,
                    BAD[i].reason, vst_err_code(e), msg);
        CU_ASSERT(ok);
        vst_profile_free(p);
    }
}

/* A measles_case record: the row keeps birth year, sex, postal prefix and
 * the case object; the names leave only as the normalized person. */
static void test_measles_case_record(void)
{
    fx f;
    OPEN(f, MEASLES_CASE);
    vst_err e = apply(&f, MEASLES_LINE, 1);
    if (e != VST_E_OK)
        dump_errors(&f);
    CU_ASSERT_EQUAL_FATAL(e, VST_E_OK);
    CU_ASSERT_EQUAL(f.r->values[col(f.p, "birth_year")].i, 2019);
    CU_ASSERT(text_is(&f, "sex", "W"));
    CU_ASSERT(text_is(&f, "postal_prefix", "60"));
    CU_ASSERT(text_is(&f, "case", "{\"year\":2025,\"district\":\"06412\",\"follow_up\":true}"));
    for (unsigned k = 0; k < VST_LINK_NKEYS; k++)
        CU_ASSERT(f.r->values[col(f.p, vst_profile_link_column(f.p, k))].is_null);
    CU_ASSERT_EQUAL(f.r->nids, 0);
    CU_ASSERT_EQUAL_FATAL(f.r->has_person, 1);
    const vst_person *ps = &f.r->person;
    CU_ASSERT(tokens_are(&ps->given, (const char *const[]){"LIMARA", "SOEVE", NULL}));
    CU_ASSERT(tokens_are(&ps->family, (const char *const[]){"BORENTAK", "UELVAN", NULL}));
    CU_ASSERT(tokens_are(&ps->birth, (const char *const[]){"QESTRIN", NULL}));
    CU_ASSERT_STRING_EQUAL(ps->date, "20190304");
    CU_ASSERT_EQUAL(ps->sex, 'W');
    /* no name, no full birth date in the row's kept values */
    const char *const names[] = {"Limara", "Borentak", "Qestrin", "LIMARA", "2019-03-04", "0304"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CU_ASSERT(!row_holds(f.r, names[i]));
    /* keyd's answer goes into a control column, and only there */
    char hex[33] = "0123456789abcdef0123456789abcdef";
    size_t cv = (size_t)col(f.p, "cv_swapped");
    CU_ASSERT_EQUAL(vst_row_set_control(f.r, cv, hex), VST_E_OK);
    CU_ASSERT(text_is(&f, "cv_swapped", hex));
    CU_ASSERT_EQUAL(vst_row_set_control(f.r, (size_t)col(f.p, "sex"), hex), VST_E_INTERNAL);
    CU_ASSERT_EQUAL(vst_row_set_pseudonym(f.r, cv, hex), VST_E_INTERNAL);
    CU_ASSERT_EQUAL(vst_row_set_control(f.r, vst_profile_ncolumns(f.p), hex), VST_E_INTERNAL);
    /* clearing the row wipes the person */
    vst_row_clear(f.r);
    CU_ASSERT_EQUAL(f.r->has_person, 0);
    static const vst_person zero;
    CU_ASSERT(memcmp(&f.r->person, &zero, sizeof zero) == 0);
    /* "F" is not in the profile's enum: an error of the field, no person */
    e = apply(&f,
              "{\"child\":{\"given_names\":\"Vemo\",\"family_names\":\"Dralle\","
              "\"birth_date\":\"2019-11-30\",\"sex\":\"F\",\"postal_code\":\"06108\"}," CASE "}",
              2);
    CU_ASSERT_EQUAL(e, VST_E_NOT_ALLOWED);
    CU_ASSERT_EQUAL(f.r->has_person, 0);
    fx_close(&f);
}

/* A school_entry record without a birth name. */
static void test_school_entry_record(void)
{
    fx f;
    OPEN(f, SCHOOL_ENTRY);
    vst_err e = apply(&f, SCHOOL_LINE, 7);
    if (e != VST_E_OK)
        dump_errors(&f);
    CU_ASSERT_EQUAL_FATAL(e, VST_E_OK);
    CU_ASSERT_EQUAL(f.r->values[col(f.p, "birth_year")].i, 2019);
    CU_ASSERT(text_is(&f, "sex", "M"));
    CU_ASSERT(text_is(&f, "postal_prefix", "06"));
    CU_ASSERT(
        text_is(&f, "exam", "{\"school_year\":2025,\"district\":\"15002\",\"measles_doses\":2}"));
    CU_ASSERT_EQUAL_FATAL(f.r->has_person, 1);
    CU_ASSERT(tokens_are(&f.r->person.given, (const char *const[]){"VEMO", NULL}));
    CU_ASSERT(tokens_are(&f.r->person.family, (const char *const[]){"DRALLE", NULL}));
    CU_ASSERT_EQUAL(f.r->person.birth.n, 0);
    CU_ASSERT_STRING_EQUAL(f.r->person.date, "20191130");
    CU_ASSERT_EQUAL(f.r->person.sex, 'M');
    CU_ASSERT(!row_holds(f.r, "Vemo") && !row_holds(f.r, "Dralle"));
    fx_close(&f);
}

/* Replaces the first `from` in src by `to` (one line of a test). */
static const char *edit(const char *src, const char *from, const char *to)
{
    static char buf[2048];
    const char *at = strstr(src, from);
    CU_ASSERT_FATAL(at != NULL);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - src), src, to, at + strlen(from));
    return buf;
}

/* A name that normalizes to nothing (only a title, only punctuation) is
 * an error of its field, at its path, with its line; never its value. */
static void test_name_errors(void)
{
    static const struct {
        const char *from, *to, *path;
        vst_err code;
    } cases[] = {
        {"\"family_names\":\"Borentak-\xc3\x9clvan\"", "\"family_names\":\"Dr. -\"",
         "child.family_names", VST_E_NAME_EMPTY},
        {"\"given_names\":\"Limara S\\u00f6ve\"", "\"given_names\":\"... --\"", "child.given_names",
         VST_E_NAME_EMPTY},
        {"\"birth_name\":\"Qestrin\"", "\"birth_name\":\"Prof.\"", "child.birth_name",
         VST_E_NAME_EMPTY},
        /* letters of another script only: nothing left */
        {"\"family_names\":\"Borentak-\xc3\x9clvan\"",
         "\"family_names\":\"\xce\xb2\xce\xb3\xce\xb4\"", "child.family_names", VST_E_NAME_EMPTY},
        /* checked by the profile first: the normalizer never sees it */
        {"\"given_names\":\"Limara S\\u00f6ve\"", "\"given_names\":7", "child.given_names",
         VST_E_WRONG_TYPE},
        {"\"follow_up\":true", "\"follow_up\":\"yes\"", "case.follow_up", VST_E_WRONG_TYPE},
    };
    fx f;
    OPEN(f, MEASLES_CASE);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *line = edit(MEASLES_LINE, cases[i].from, cases[i].to);
        vst_err e = apply(&f, line, 3);
        int ok = e == cases[i].code && f.e.total == 1 && f.e.n == 1 && f.e.items[0].line == 3 &&
                 strcmp(f.e.items[0].path, cases[i].path) == 0 &&
                 f.e.items[0].code == cases[i].code;
        if (!ok) {
            fprintf(stderr, "\n  case %zu: want %s %s, got %s\n", i, cases[i].path,
                    vst_err_code(cases[i].code), vst_err_code(e));
            dump_errors(&f);
        }
        CU_ASSERT(ok);
        CU_ASSERT_EQUAL(f.r->has_person, 0);
        CU_ASSERT_EQUAL(f.r->arena_used, 0);
    }
    /* an error elsewhere in the line: no person either (the row is cleared) */
    CU_ASSERT_EQUAL(apply(&f, edit(MEASLES_LINE, "\"year\":2025", "\"year\":1999"), 4),
                    VST_E_OUT_OF_RANGE);
    CU_ASSERT_EQUAL(f.r->has_person, 0);
    static const vst_person zero;
    CU_ASSERT(memcmp(&f.r->person, &zero, sizeof zero) == 0);
    /* and the next good line has its own person again */
    CU_ASSERT_EQUAL(apply(&f, MEASLES_LINE, 5), VST_E_OK);
    CU_ASSERT_EQUAL(f.r->has_person, 1);
    fx_close(&f);
}

int vst_register_tests(void)
{
    static const vst_test tests[] = {
        {"shipped composite profiles and the linkage API", test_link_shipped},
        {"broken composite declarations are refused", test_link_broken},
        {"measles_case record: row and person", test_measles_case_record},
        {"school_entry record: row and person", test_school_entry_record},
        {"names that normalize to nothing are field errors", test_name_errors},
        {NULL, NULL},
    };
    VST_ADD_SUITE("profile composite", tests);
    return 0;
}
