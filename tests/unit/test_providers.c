/* Providers as the law pseudonymizes them (issue 10, DESIGN.md §5), on the
 * shipped sgb5 profile:
 *   - a LANR's pseudonym is derived from its identifying digits 1-7 only:
 *     one physician under two specialty groups leaves identical pending
 *     bytes for keyd and two group values;
 *   - the placeholder table: every placeholder LANR and the substitute BSNR
 *     get no pending identifier, a NULL pseudonym and their name; near
 *     misses (ordinary valid LANRs close to a placeholder) are pseudonymized;
 *   - insured.death_date: death_year, and "not_before": birth_date as a
 *     declared rule; errors carry codes and paths, never the value;
 *   - loading: an "identify" range outside the identifier, and the other new
 *     keys' mistakes, are load errors naming file and field; a postal prefix
 *     longer than 2 digits is named in the profile's warning. */
#include "cunit_main.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ident.h"
#include "profile/profile.h"

#define SGB5 "server/profiles/sgb5.json"

typedef struct {
    vst_profile *p;
    vst_row *r;
    vst_errors e;
} fx;

static void fx_open(fx *f)
{
    char msg[512];
    memset(f, 0, sizeof *f);
    vst_err e = vst_profile_load(vst_src_path(SGB5), &f->p, msg, sizeof msg);
    if (e != VST_E_OK)
        fprintf(stderr, "\n  %s\n", msg);
    CU_ASSERT_EQUAL_FATAL(e, VST_E_OK);
    f->r = vst_row_new(f->p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f->r);
    CU_ASSERT_EQUAL_FATAL(vst_errors_init(&f->e, 16), 0);
}

static void fx_close(fx *f)
{
    vst_row_free(f->r);
    vst_errors_free(&f->e);
    vst_profile_free(f->p);
}

static int col(const fx *f, const char *name)
{
    for (size_t i = 0; i < vst_profile_ncolumns(f->p); i++)
        if (strcmp(vst_profile_column(f->p, i)->name, name) == 0)
            return (int)i;
    CU_FAIL_FATAL("column not in profile");
    return -1;
}

/* A record with this provider object and these insured dates. */
static vst_err apply(fx *f, const char *provider, const char *dates)
{
    char line[2048];
    snprintf(line, sizeof line,
             "{\"insured\":{\"kvnr\":\"A123456780\",%s,\"sex\":\"W\",\"insurance_status\":\"1\","
             "\"postal_code\":\"10115\"}%s%s%s,\"service\":{\"period\":\"2024Q1\"}}",
             dates, provider ? ",\"provider\":{" : "", provider ? provider : "",
             provider ? "}" : "");
    f->e.n = 0;
    f->e.total = 0;
    return vst_profile_apply(f->p, line, strlen(line), 7, f->r, &f->e);
}

#define BIRTH "\"birth_date\":\"1950-03-01\""

static const char *text(const fx *f, const char *name)
{
    static char buf[64];
    const vst_value *v = &f->r->values[col(f, name)];
    if (v->is_null)
        return NULL;
    snprintf(buf, sizeof buf, "%.*s", (int)v->len, v->s);
    return buf;
}

static void expect_text(const fx *f, const char *name, const char *want)
{
    const char *got = text(f, name);
    if (want == NULL ? got != NULL : got == NULL || strcmp(got, want) != 0)
        fprintf(stderr, "\n  %s: want %s, got %s\n", name, want ? want : "NULL",
                got ? got : "NULL");
    CU_ASSERT(want == NULL ? got == NULL : got != NULL && strcmp(got, want) == 0);
}

/* The pending identifier of a pseudonym column, or NULL. */
static const vst_pending_id *pending(const fx *f, const char *name)
{
    const vst_pending_id *found = NULL;
    for (size_t i = 0; i < f->r->nids; i++)
        if (f->r->ids[i].column == (uint16_t)col(f, name)) {
            CU_ASSERT_PTR_NULL(found); /* at most one per column */
            found = &f->r->ids[i];
        }
    return found;
}

/* A valid LANR: digits 1-6, their check digit, the group. */
static void make_lanr(char out[10], const char *six, const char *group)
{
    memcpy(out, six, 6);
    out[6] = (char)('0' + vst_id_check_digit(VST_ID_LANR, six));
    memcpy(out + 7, group, 2);
    out[9] = '\0';
}

static void test_stem_across_groups(void)
{
    fx f;
    fx_open(&f);
    char a[10], b[10], prov[64];
    make_lanr(a, "314159", "01");
    make_lanr(b, "314159", "23");
    unsigned char bytes_a[16];
    size_t len_a = 0;
    snprintf(prov, sizeof prov, "\"lanr\":\"%s\"", a);
    CU_ASSERT_EQUAL_FATAL(apply(&f, prov, BIRTH), VST_E_OK);
    const vst_pending_id *pa = pending(&f, "provider_pseudonym");
    CU_ASSERT_PTR_NOT_NULL_FATAL(pa);
    CU_ASSERT_STRING_EQUAL(vst_profile_domain(f.p, pa->domain), "sgb5/lanr-stem");
    len_a = pa->id.len;
    memcpy(bytes_a, pa->id.s, len_a);
    expect_text(&f, "provider_group", "01");
    expect_text(&f, "provider_placeholder", NULL);

    snprintf(prov, sizeof prov, "\"lanr\":\"%s\"", b);
    CU_ASSERT_EQUAL_FATAL(apply(&f, prov, BIRTH), VST_E_OK);
    const vst_pending_id *pb = pending(&f, "provider_pseudonym");
    CU_ASSERT_PTR_NOT_NULL_FATAL(pb);
    /* The same bytes for keyd: digits 1-7, the number and its check digit. */
    CU_ASSERT_EQUAL(pb->id.len, 7);
    CU_ASSERT_EQUAL(len_a, 7);
    CU_ASSERT(memcmp(pb->id.s, bytes_a, 7) == 0);
    CU_ASSERT(memcmp(pb->id.s, a, 7) == 0);
    expect_text(&f, "provider_group", "23");

    /* Another physician: other bytes. */
    make_lanr(b, "314158", "01");
    snprintf(prov, sizeof prov, "\"lanr\":\"%s\"", b);
    CU_ASSERT_EQUAL_FATAL(apply(&f, prov, BIRTH), VST_E_OK);
    CU_ASSERT(memcmp(pending(&f, "provider_pseudonym")->id.s, bytes_a, 7) != 0);
    fx_close(&f);
}

static void test_ik_and_bsnr_whole(void)
{
    fx f;
    fx_open(&f);
    /* IK and BSNR: every digit identifies (docs/identifiers.md). */
    CU_ASSERT_EQUAL_FATAL(apply(&f, "\"ik\":\"260326822\"", BIRTH), VST_E_OK);
    const vst_pending_id *p = pending(&f, "provider_pseudonym");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_STRING_EQUAL(p->id.s, "260326822");
    CU_ASSERT_STRING_EQUAL(vst_profile_domain(f.p, p->domain), "sgb5/ik");
    expect_text(&f, "provider_group", "26");
    expect_text(&f, "provider_region", "03");
    CU_ASSERT_EQUAL_FATAL(apply(&f, "\"lanr\":\"123456601\",\"bsnr\":\"721234500\"", BIRTH),
                          VST_E_OK);
    p = pending(&f, "practice_pseudonym");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_STRING_EQUAL(p->id.s, "721234500");
    CU_ASSERT_STRING_EQUAL(vst_profile_domain(f.p, p->domain), "sgb5/bsnr");
    fx_close(&f);
}

typedef struct {
    const char *provider;
    const char *provider_placeholder, *practice_placeholder; /* NULL: none */
    const char *group, *region;
} ph_case;

static const ph_case PH[] = {
    {"\"lanr\":\"999999900\"", "non_physician", NULL, "00", NULL},
    {"\"lanr\":\"999999991\"", "unassigned_physician", NULL, "91", NULL},
    {"\"lanr\":\"444444401\"", "hospital_discharge", NULL, "01", NULL},
    {"\"lanr\":\"444444470\"", "hospital_discharge", NULL, "70", NULL},
    {"\"lanr\":\"123456601\",\"bsnr\":\"179999900\"", NULL, "substitute_practice", "01", "17"},
    {"\"lanr\":\"999999900\",\"bsnr\":\"179999900\"", "non_physician", "substitute_practice", "00",
     "17"},
    /* near misses: ordinary valid numbers */
    {"\"lanr\":\"999998801\"", NULL, NULL, "01", NULL},
    {"\"lanr\":\"999999901\"", NULL, NULL, "01", NULL},
    {"\"lanr\":\"999999992\"", NULL, NULL, "92", NULL},
    {"\"lanr\":\"123456601\",\"bsnr\":\"179999901\"", NULL, NULL, "01", "17"},
    {"\"lanr\":\"123456601\",\"bsnr\":\"279999900\"", NULL, NULL, "01", "27"},
};

static void test_placeholders(void)
{
    fx f;
    fx_open(&f);
    /* The near miss is an ordinary valid LANR: 9,9,9,9,9,8 weighted
     * 4,9,4,9,4,9 sum to 342, (10 - 2) mod 10 = 8 is its 7th digit. */
    CU_ASSERT_EQUAL(vst_id_check_digit(VST_ID_LANR, "999998"), 8);
    for (size_t i = 0; i < sizeof PH / sizeof PH[0]; i++) {
        const ph_case *c = &PH[i];
        vst_err e = apply(&f, c->provider, BIRTH);
        if (e != VST_E_OK)
            fprintf(stderr, "\n  case %zu: %s\n", i, vst_err_code(e));
        CU_ASSERT_EQUAL_FATAL(e, VST_E_OK);
        expect_text(&f, "provider_placeholder", c->provider_placeholder);
        expect_text(&f, "practice_placeholder", c->practice_placeholder);
        expect_text(&f, "provider_group", c->group);
        expect_text(&f, "provider_region", c->region);
        /* A placeholder is never sent to keyd and gets no pseudonym. */
        CU_ASSERT_EQUAL(pending(&f, "provider_pseudonym") == NULL, c->provider_placeholder != NULL);
        int has_bsnr = strstr(c->provider, "bsnr") != NULL;
        CU_ASSERT_EQUAL(pending(&f, "practice_pseudonym") != NULL,
                        has_bsnr && c->practice_placeholder == NULL);
        CU_ASSERT(f.r->values[col(&f, "provider_pseudonym")].is_null);
        CU_ASSERT(f.r->values[col(&f, "practice_pseudonym")].is_null);
        /* the insured person is pseudonymized as always */
        CU_ASSERT_PTR_NOT_NULL(pending(&f, "pseudonym"));
    }
    /* A placeholder with a wrong check digit is refused like any LANR. */
    CU_ASSERT_EQUAL(apply(&f, "\"lanr\":\"999999800\"", BIRTH), VST_E_ID_CHECK_DIGIT);
    fx_close(&f);
}

/* The error list holds codes and paths only: no byte of the dates. */
static void expect_date_error(fx *f, const char *dates, vst_err want, const char *value)
{
    CU_ASSERT_EQUAL(apply(f, NULL, dates), want);
    CU_ASSERT_EQUAL_FATAL(f->e.n, 1);
    CU_ASSERT_EQUAL(f->e.items[0].code, want);
    CU_ASSERT_EQUAL(f->e.items[0].line, 7);
    CU_ASSERT_STRING_EQUAL(f->e.items[0].path, "insured.death_date");
    CU_ASSERT_PTR_NULL(strstr(f->e.items[0].path, value));
    CU_ASSERT_PTR_NULL(strstr(vst_err_hint(want), value));
    CU_ASSERT(f->r->values[col(f, "death_year")].is_null); /* the row is cleared */
}

static void test_death_date(void)
{
    fx f;
    fx_open(&f);
    CU_ASSERT_EQUAL_FATAL(apply(&f, NULL, BIRTH ",\"death_date\":\"2021-11-30\""), VST_E_OK);
    CU_ASSERT_EQUAL(f.r->values[col(&f, "death_year")].i, 2021);
    CU_ASSERT(!f.r->values[col(&f, "death_year")].is_null);
    CU_ASSERT_EQUAL_FATAL(apply(&f, NULL, BIRTH), VST_E_OK);
    CU_ASSERT(f.r->values[col(&f, "death_year")].is_null);
    /* the day of birth itself is not before it */
    CU_ASSERT_EQUAL(apply(&f, NULL, BIRTH ",\"death_date\":\"1950-03-01\""), VST_E_OK);

    expect_date_error(&f, BIRTH ",\"death_date\":\"1950-02-28\"", VST_E_DATE_ORDER, "1950");
    /* the order holds whichever field comes first in the line */
    expect_date_error(&f, "\"death_date\":\"1949-12-31\"," BIRTH, VST_E_DATE_ORDER, "1949");
    char future[128];
    time_t t = time(NULL) + 2 * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(future, sizeof future, BIRTH ",\"death_date\":\"%04d-%02d-%02d\"", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday);
    expect_date_error(&f, future, VST_E_DATE_RANGE, future + strlen(BIRTH) + 15);
    expect_date_error(&f, BIRTH ",\"death_date\":\"2021-02-30\"", VST_E_INVALID_DATE, "2021");
    expect_date_error(&f, BIRTH ",\"death_date\":\"30.11.2021\"", VST_E_INVALID_DATE, "30.11");
    expect_date_error(&f, BIRTH ",\"death_date\":\"2021-1-3\"", VST_E_INVALID_DATE, "2021");
    /* an invalid birth date is its own error, not also an order error */
    CU_ASSERT_EQUAL(apply(&f, NULL, "\"birth_date\":\"1950-13-01\",\"death_date\":\"1940-01-01\""),
                    VST_E_INVALID_DATE);
    CU_ASSERT_EQUAL(f.e.n, 1);
    CU_ASSERT_STRING_EQUAL(f.e.items[0].path, "insured.birth_date");
    fx_close(&f);
}

typedef struct {
    const char *file, *path, *reason;
} bad_profile;

static const bad_profile BAD[] = {
    {"identify_out_of_range", ": practice.ik: ", "identify must select digits within 1..9"},
    {"identify_too_short", ": practice.ik: ", "at least 5 digits"},
    {"placeholder_without_column", ": practice.ik: ", "placeholder_column"},
    {"placeholder_invalid", ": placeholders[0]: ", "valid lanr"},
    {"placeholder_overlap", ": placeholders[1]: ", "overlaps placeholders[0]"},
    {"not_before_unknown", ": person.death_date: ", "not_before"},
    {"domain_two_ranges", ": practice.ik2: ", "another identifier or digit range"},
};

static void test_load_errors(void)
{
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        char rel[128], file[128], msg[512];
        snprintf(rel, sizeof rel, "tests/data/profiles/%s.json", BAD[i].file);
        snprintf(file, sizeof file, "%s.json:", BAD[i].file);
        vst_profile *p = NULL;
        vst_err e = vst_profile_load(vst_src_path(rel), &p, msg, sizeof msg);
        int ok = e == VST_E_PROFILE_INVALID && p == NULL && strstr(msg, file) != NULL &&
                 strstr(msg, BAD[i].path) != NULL && strstr(msg, BAD[i].reason) != NULL;
        if (!ok)
            fprintf(stderr, "\n  %s: got %s: %s\n", BAD[i].file, vst_err_code(e), msg);
        CU_ASSERT(ok);
        vst_profile_free(p);
    }
}

/* sgb5 with its postal prefix cut to `len` digits, loaded from memory. */
static vst_profile *sgb5_with_prefix(int len, char *msg, size_t msglen)
{
    FILE *fp = fopen(vst_src_path(SGB5), "rb");
    CU_ASSERT_FATAL(fp != NULL);
    static char text[65536], out[65600];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    const char *key = "\"length\": 2, \"column\": \"postal_prefix\"";
    char *at = strstr(text, key);
    CU_ASSERT_FATAL(at != NULL);
    snprintf(out, sizeof out, "%.*s\"length\": %d%s", (int)(at - text), text, len,
             at + strlen("\"length\": 2"));
    vst_profile *p = NULL;
    CU_ASSERT_EQUAL(vst_profile_load_buffer("sgb5-prefix.json", out, strlen(out), &p, msg, msglen),
                    VST_E_OK);
    return p;
}

static void test_postal_prefix_warning(void)
{
    char msg[512];
    vst_profile *p = sgb5_with_prefix(2, msg, sizeof msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_STRING_EQUAL(vst_profile_warning(p), "");
    vst_profile_free(p);
    p = sgb5_with_prefix(3, msg, sizeof msg);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_PTR_NOT_NULL(strstr(vst_profile_warning(p), "insured.postal_code keeps 3"));
    CU_ASSERT_PTR_NOT_NULL(strstr(vst_profile_warning(p), "re-identification risk"));
    vst_profile_free(p);
}

static const vst_test tests[] = {
    {"one LANR stem under two groups: the same bytes for keyd", test_stem_across_groups},
    {"IK and BSNR: every digit identifies", test_ik_and_bsnr_whole},
    {"placeholders and near misses", test_placeholders},
    {"death date: year, order, range, syntax; no value in errors", test_death_date},
    {"identify, placeholders, not_before: load errors name file and field", test_load_errors},
    {"a postal prefix of more than 2 digits is named in the warning", test_postal_prefix_warning},
    {NULL, NULL},
};

int vst_register_tests(void)
{
    VST_ADD_SUITE("providers", tests);
    return 0;
}
