/* The profile engine (server/profile, DESIGN.md §5, docs/profiles.md):
 *   - full sgb5 and measles records transformed, every output column checked,
 *     the identifiers left for keyd (column, domain, canonical form), and the
 *     dropped fields absent from every byte of the row;
 *   - every way a line can be rejected, each as its (line, path, code) triple,
 *     and never with the offending value in a path, code or hint;
 *   - profile loading: the shipped profiles load, the broken profiles in
 *     tests/data/profiles/ fail with a message naming the file and the field;
 *   - the release protection keys (quasi_identifiers, generalizations,
 *     rare_codes): what sgb5 and measles declare, every refusal on an edited
 *     sgb5 document, and the rule-string parser vst-admin reuses.
 * Records are parsed by the engine's strict scanner (json_scan.c); profiles
 * by jansson with the wiping allocator that cunit_main.c installs. */
#include "cunit_main.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ident.h"
#include "profile/json_scan.h"
#include "profile/profile.h"
#include "profile/profile_internal.h"

/* ---- fixtures ----------------------------------------------------------- */

typedef struct {
    vst_profile *p;
    vst_row *r;
    vst_errors e;
    int stale; /* fill the row's scratch with digits before each line */
} fx;

static const char *profile_path(const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s", vst_src_path(rel));
    return buf;
}

static int fx_open(fx *f, const char *rel, size_t maxerr)
{
    char msg[512];
    memset(f, 0, sizeof *f);
    vst_err e = vst_profile_load(profile_path(rel), &f->p, msg, sizeof msg);
    if (e != VST_E_OK) {
        fprintf(stderr, "\n  loading %s: %s (%s)\n", rel, msg, vst_err_code(e));
        return -1;
    }
    f->r = vst_row_new(f->p);
    if (f->r == NULL || vst_errors_init(&f->e, maxerr) != 0)
        return -1;
    return 0;
}

static void fx_close(fx *f)
{
    vst_row_free(f->r);
    vst_errors_free(&f->e);
    vst_profile_free(f->p);
    memset(f, 0, sizeof *f);
}

#define OPEN(f, rel) CU_ASSERT_FATAL(fx_open(&(f), (rel), 16) == 0)
#define SGB5 "server/profiles/sgb5.json"
#define MEASLES "server/profiles/measles.json"
#define TESTPROF(name) "tests/data/profiles/" name ".json"

static void errs_reset(vst_errors *e)
{
    e->n = 0;
    e->total = 0;
}

/* Another delivery's digits left in the row's scratch, as a reused heap
 * buffer would hold them: a decoded string read past its length shows. */
static void plant_stale_digits(fx *f)
{
    vst_row_clear(f->r);
    memset(f->r->scratch, '7', f->r->scratch_cap);
}

static vst_err apply_n(fx *f, const char *line, size_t len, uint64_t lineno)
{
    errs_reset(&f->e);
    if (f->stale)
        plant_stale_digits(f);
    return vst_profile_apply(f->p, line, len, lineno, f->r, &f->e);
}

static vst_err apply(fx *f, const char *line)
{
    return apply_n(f, line, strlen(line), 42);
}

static void dump_errors(const fx *f)
{
    for (size_t i = 0; i < f->e.n; i++)
        fprintf(stderr, "    line %llu  %-28s %s\n", (unsigned long long)f->e.items[i].line,
                f->e.items[i].path, vst_err_code(f->e.items[i].code));
    fprintf(stderr, "    (total %llu)\n", (unsigned long long)f->e.total);
}

static int col(const vst_profile *p, const char *name)
{
    for (size_t i = 0; i < vst_profile_ncolumns(p); i++)
        if (strcmp(vst_profile_column(p, i)->name, name) == 0)
            return (int)i;
    fprintf(stderr, "\n  no column %s\n", name);
    CU_FAIL_FATAL("column not in profile");
    return -1;
}

/* ---- record text -------------------------------------------------------- */

#define KVNR "A123456780"
#define LANR "123456601"
#define LANR_STEM "1234566" /* its identifying digits 1-7 */
#define BSNR "721234500"
#define IK "260326822"

static const char BASE[] =
    "{\"insured\":{\"kvnr\":\"A123456780\",\"last_name\":\"Borentak\",\"first_name\":\"Limara\","
    "\"birth_date\":\"1980-02-28\",\"sex\":\"W\",\"insurance_status\":\"1\","
    "\"postal_code\":\"10115\",\"street\":\"Talweg 3\",\"city\":\"Nordhausen\"},"
    "\"provider\":{\"lanr\":\"123456601\",\"bsnr\":\"721234500\",\"postal_code\":\"10117\","
    "\"name\":\"Praxis Vemolin\"},"
    "\"service\":{\"period\":\"2024Q1\",\"icd10\":[\"J06.9\",\"I10.-\"],\"ops\":[\"5-470.11\"],"
    "\"ebm\":[\"03000\"],\"atc\":[\"N02BE01\"],\"cost_cents\":4250,\"days\":1}}";

static const char BASE_SERVICE_JSON[] =
    "{\"period\":\"2024Q1\",\"icd10\":[\"J06.9\",\"I10.-\"],\"ops\":[\"5-470.11\"],"
    "\"ebm\":[\"03000\"],\"atc\":[\"N02BE01\"],\"cost_cents\":4250,\"days\":1}";

/* Values of BASE that must never leave the engine in clear. */
static const char *const SECRETS[] = {KVNR,     LANR,       BSNR,         IK,        "Borentak",
                                      "Limara", "Talweg 3", "Nordhausen", "Vemolin", NULL};

/* base with the first occurrence of `from` replaced by `to`. Rotating static
 * buffers, so with(with(...)) works. */
static const char *with(const char *base, const char *from, const char *to)
{
    static char bufs[4][32768];
    static unsigned next;
    char *out = bufs[next++ % 4];
    const char *at = strstr(base, from);
    if (at == NULL) {
        fprintf(stderr, "\n  with(): \"%s\" not in the record\n", from);
        CU_FAIL_FATAL("bad test edit");
    }
    size_t pre = (size_t)(at - base), fl = strlen(from), tl = strlen(to);
    CU_ASSERT_FATAL(strlen(base) - fl + tl < sizeof bufs[0]);
    memcpy(out, base, pre);
    memcpy(out + pre, to, tl);
    strcpy(out + pre + tl, at + fl);
    return out;
}

/* ---- assertions --------------------------------------------------------- */

static void expect_null(const fx *f, const char *name)
{
    const vst_value *v = &f->r->values[col(f->p, name)];
    if (!v->is_null)
        fprintf(stderr, "\n  column %s: expected NULL\n", name);
    CU_ASSERT(v->is_null);
}

static void expect_text(const fx *f, const char *name, const char *want)
{
    const vst_value *v = &f->r->values[col(f->p, name)];
    int ok =
        !v->is_null && v->s != NULL && v->len == strlen(want) && memcmp(v->s, want, v->len) == 0;
    if (!ok)
        fprintf(stderr, "\n  column %s: want \"%s\", got %s\"%.*s\"\n", name, want,
                v->is_null ? "NULL " : "", v->s ? (int)v->len : 0, v->s ? v->s : "");
    CU_ASSERT(ok);
    /* Text values live in the row's arena. */
    CU_ASSERT(v->s >= f->r->arena && v->s + v->len <= f->r->arena + f->r->arena_used);
}

static void expect_int(const fx *f, const char *name, int64_t want)
{
    const vst_value *v = &f->r->values[col(f->p, name)];
    int ok = !v->is_null && v->i == want;
    if (!ok)
        fprintf(stderr, "\n  column %s: want %lld, got %s%lld\n", name, (long long)want,
                v->is_null ? "NULL " : "", (long long)v->i);
    CU_ASSERT(ok);
}

/* The row waits for a pseudonym of `id` in `domain` for column `name`. */
static void expect_pending(const fx *f, const char *name, const char *domain, vst_id_kind kind,
                           const char *id)
{
    int c = col(f->p, name), found = 0;
    CU_ASSERT(vst_profile_column(f->p, (size_t)c)->type == VST_COL_PSEUDONYM);
    for (size_t i = 0; i < f->r->nids; i++) {
        const vst_pending_id *pid = &f->r->ids[i];
        if (pid->column != c)
            continue;
        found++;
        const char *d = vst_profile_domain(f->p, pid->domain);
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        CU_ASSERT_STRING_EQUAL(d, domain);
        CU_ASSERT_EQUAL(pid->id.kind, kind);
        CU_ASSERT_EQUAL(pid->id.len, strlen(id));
        CU_ASSERT_STRING_EQUAL(pid->id.s, id);
    }
    if (found != 1)
        fprintf(stderr, "\n  column %s: %d pending identifiers, want 1\n", name, found);
    CU_ASSERT_EQUAL(found, 1);
    /* Not filled until keyd answers. */
    CU_ASSERT(f->r->values[c].is_null);
}

static int mem_has(const char *hay, size_t hn, const char *needle, size_t n)
{
    for (size_t i = 0; n > 0 && i + n <= hn; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return 1;
    return 0;
}

static int row_contains(const vst_row *r, const char *needle)
{
    size_t n = strlen(needle);
    if (mem_has(r->arena, r->arena_used, needle, n))
        return 1;
    for (size_t i = 0; i < vst_profile_ncolumns(r->profile); i++) {
        const vst_value *v = &r->values[i];
        if (!v->is_null && v->s != NULL && mem_has(v->s, v->len, needle, n))
            return 1;
    }
    return 0;
}

/* Names, addresses and raw identifiers are nowhere in the row's bytes (the
 * identifiers are only in ids[], waiting for keyd). */
static void expect_nothing_dropped_in_row(const fx *f)
{
    for (size_t i = 0; SECRETS[i] != NULL; i++) {
        if (row_contains(f->r, SECRETS[i]))
            fprintf(stderr, "\n  \"%s\" found in the row\n", SECRETS[i]);
        CU_ASSERT(!row_contains(f->r, SECRETS[i]));
    }
}

static void expect_row_cleared(const fx *f)
{
    CU_ASSERT_EQUAL(f->r->nids, 0);
    CU_ASSERT_EQUAL(f->r->arena_used, 0);
    CU_ASSERT_EQUAL(f->r->scratch_used, 0); /* unescaped strings wiped too */
    for (size_t i = 0; i < vst_profile_ncolumns(f->p); i++)
        CU_ASSERT(f->r->values[i].is_null);
}

/* No error text carries `secret` (nor any value of BASE). */
static void expect_no_leak(const fx *f, const char *secret)
{
    for (size_t i = 0; i < f->e.n; i++) {
        const vst_field_error *it = &f->e.items[i];
        const char *texts[] = {it->path, vst_err_code(it->code), vst_err_hint(it->code)};
        for (size_t t = 0; t < 3; t++) {
            if (secret != NULL && secret[0] != '\0') {
                if (strstr(texts[t], secret) != NULL)
                    fprintf(stderr, "\n  error text \"%s\" contains \"%s\"\n", texts[t], secret);
                CU_ASSERT(strstr(texts[t], secret) == NULL);
            }
            for (size_t k = 0; SECRETS[k] != NULL; k++)
                CU_ASSERT(strstr(texts[t], SECRETS[k]) == NULL);
        }
    }
}

/* The line is rejected with exactly one error (42, path, code). */
static void reject_len(fx *f, const char *label, const char *line, size_t len, const char *path,
                       vst_err code, const char *secret)
{
    vst_err rc = apply_n(f, line, len, 42);
    int ok = rc == code && f->e.total == 1 && f->e.n == 1 && f->e.items[0].line == 42 &&
             strcmp(f->e.items[0].path, path) == 0 && f->e.items[0].code == code;
    if (!ok) {
        fprintf(stderr, "\n  %s: want (42, \"%s\", %s), got %s:\n", label, path, vst_err_code(code),
                vst_err_code(rc));
        dump_errors(f);
    }
    CU_ASSERT(ok);
    expect_row_cleared(f);
    expect_no_leak(f, secret);
}

static void reject(fx *f, const char *label, const char *line, const char *path, vst_err code,
                   const char *secret)
{
    reject_len(f, label, line, strlen(line), path, code, secret);
}

static void accept(fx *f, const char *label, const char *line)
{
    vst_err rc = apply(f, line);
    if (rc != VST_E_OK) {
        fprintf(stderr, "\n  %s: rejected with %s:\n", label, vst_err_code(rc));
        dump_errors(f);
    }
    CU_ASSERT_EQUAL(rc, VST_E_OK);
    CU_ASSERT_EQUAL(f->e.total, 0);
}

typedef struct {
    const char *label, *from, *to, *path;
    vst_err code;
    const char *secret;
} edit_case;

static void reject_edits(fx *f, const edit_case *cases)
{
    for (size_t i = 0; cases[i].label != NULL; i++)
        reject(f, cases[i].label, with(BASE, cases[i].from, cases[i].to), cases[i].path,
               cases[i].code, cases[i].secret);
}

static void ymd(time_t t, char out[11])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

/* ---- sgb5: accepted records --------------------------------------------- */

static void test_sgb5_accessors(void)
{
    fx f;
    OPEN(f, SGB5);
    CU_ASSERT_STRING_EQUAL(vst_profile_name(f.p), "sgb5");
    CU_ASSERT_STRING_EQUAL(vst_profile_table(f.p), "sgb5.records");
    CU_ASSERT_EQUAL(vst_profile_max_line(f.p), 16384);
    CU_ASSERT_EQUAL(vst_profile_ncolumns(f.p), 14);
    CU_ASSERT_PTR_NULL(vst_profile_column(f.p, 14));
    CU_ASSERT_EQUAL(vst_profile_column(f.p, (size_t)col(f.p, "pseudonym"))->type,
                    VST_COL_PSEUDONYM);
    CU_ASSERT_EQUAL(vst_profile_column(f.p, (size_t)col(f.p, "birth_year"))->type, VST_COL_INT);
    CU_ASSERT_EQUAL(vst_profile_column(f.p, (size_t)col(f.p, "sex"))->type, VST_COL_TEXT);
    CU_ASSERT_EQUAL(vst_profile_column(f.p, (size_t)col(f.p, "insurance_status"))->type,
                    VST_COL_INT);
    CU_ASSERT_EQUAL(vst_profile_column(f.p, (size_t)col(f.p, "service"))->type, VST_COL_JSON);
    /* The store writer adds these; the profile does not declare them. */
    for (size_t i = 0; i < vst_profile_ncolumns(f.p); i++) {
        CU_ASSERT_STRING_NOT_EQUAL(vst_profile_column(f.p, i)->name, "delivery_ref");
        CU_ASSERT_STRING_NOT_EQUAL(vst_profile_column(f.p, i)->name, "key_version");
    }
    const char *want[] = {"sgb5/insured", "sgb5/lanr-stem", "sgb5/ik", "sgb5/bsnr"};
    CU_ASSERT_EQUAL_FATAL(vst_profile_ndomains(f.p), 4);
    for (size_t w = 0; w < 4; w++) {
        int found = 0;
        for (size_t i = 0; i < 4; i++)
            found += strcmp(vst_profile_domain(f.p, i), want[w]) == 0;
        CU_ASSERT_EQUAL(found, 1);
    }
    CU_ASSERT_PTR_NULL(vst_profile_domain(f.p, 4));
    fx_close(&f);
}

static void test_sgb5_full_record(void)
{
    fx f;
    OPEN(f, SGB5);
    accept(&f, "base record", BASE);
    expect_pending(&f, "pseudonym", "sgb5/insured", VST_ID_KVNR, KVNR);
    expect_int(&f, "birth_year", 1980);
    expect_text(&f, "sex", "W");
    expect_int(&f, "insurance_status", 1);
    expect_text(&f, "postal_prefix", "10");
    /* lanr + bsnr: group = LANR digits 8-9, region = BSNR digits 1-2 */
    expect_pending(&f, "provider_pseudonym", "sgb5/lanr-stem", VST_ID_LANR, LANR_STEM);
    expect_text(&f, "provider_group", "01");
    expect_text(&f, "provider_region", "72");
    expect_pending(&f, "practice_pseudonym", "sgb5/bsnr", VST_ID_BSNR, BSNR);
    expect_text(&f, "provider_postal_prefix", "10");
    expect_text(&f, "service", BASE_SERVICE_JSON);
    CU_ASSERT_EQUAL(f.r->nids, 3);
    expect_nothing_dropped_in_row(&f);

    /* keyd's answers fill the pseudonym columns. */
    const char hex1[33] = "0123456789abcdef0123456789abcdef";
    const char hex2[33] = "fedcba9876543210fedcba9876543210";
    CU_ASSERT_EQUAL(vst_row_set_pseudonym(f.r, (size_t)col(f.p, "pseudonym"), hex1), VST_E_OK);
    CU_ASSERT_EQUAL(vst_row_set_pseudonym(f.r, (size_t)col(f.p, "provider_pseudonym"), hex2),
                    VST_E_OK);
    expect_text(&f, "pseudonym", hex1);
    expect_text(&f, "provider_pseudonym", hex2);
    CU_ASSERT(f.r->values[col(f.p, "practice_pseudonym")].is_null);
    /* Only pseudonym columns, only existing ones. */
    CU_ASSERT_EQUAL(vst_row_set_pseudonym(f.r, (size_t)col(f.p, "sex"), hex1), VST_E_INTERNAL);
    CU_ASSERT_EQUAL(vst_row_set_pseudonym(f.r, 11, hex1), VST_E_INTERNAL);
    expect_text(&f, "sex", "W");

    /* Clearing wipes everything; the row can be reused. */
    vst_row_clear(f.r);
    expect_row_cleared(&f);
    accept(&f, "base record again", BASE);
    expect_text(&f, "service", BASE_SERVICE_JSON);
    fx_close(&f);
}

static void test_sgb5_provider_ik(void)
{
    fx f;
    OPEN(f, SGB5);
    const char *line =
        with(BASE, "\"lanr\":\"123456601\",\"bsnr\":\"721234500\"", "\"ik\":\"260326822\"");
    accept(&f, "provider with ik", line);
    expect_pending(&f, "pseudonym", "sgb5/insured", VST_ID_KVNR, KVNR);
    expect_pending(&f, "provider_pseudonym", "sgb5/ik", VST_ID_IK, IK);
    expect_text(&f, "provider_group", "26");  /* IK digits 1-2 */
    expect_text(&f, "provider_region", "03"); /* IK digits 3-4 */
    expect_null(&f, "practice_pseudonym");
    expect_text(&f, "provider_postal_prefix", "10");
    CU_ASSERT_EQUAL(f.r->nids, 2);
    expect_int(&f, "birth_year", 1980);
    expect_text(&f, "service", BASE_SERVICE_JSON);
    expect_nothing_dropped_in_row(&f);

    /* Another valid IK, computed: class 10, region 99, serial 1234. */
    char ik2[10] = "10991234";
    ik2[8] = (char)('0' + vst_id_check_digit(VST_ID_IK, ik2));
    char ikfield[32];
    snprintf(ikfield, sizeof ikfield, "\"ik\":\"%s\"", ik2);
    accept(&f, "computed ik", with(line, "\"ik\":\"260326822\"", ikfield));
    expect_pending(&f, "provider_pseudonym", "sgb5/ik", VST_ID_IK, ik2);
    expect_text(&f, "provider_group", "10");
    expect_text(&f, "provider_region", "99");
    fx_close(&f);
}

static void test_sgb5_provider_variants(void)
{
    fx f;
    OPEN(f, SGB5);
    /* lanr alone: no practice, no region */
    accept(&f, "lanr only", with(BASE, "\"bsnr\":\"721234500\",", ""));
    expect_pending(&f, "provider_pseudonym", "sgb5/lanr-stem", VST_ID_LANR, LANR_STEM);
    expect_text(&f, "provider_group", "01");
    expect_null(&f, "provider_region");
    expect_null(&f, "practice_pseudonym");
    expect_text(&f, "provider_postal_prefix", "10");
    CU_ASSERT_EQUAL(f.r->nids, 2);

    /* a computed LANR with specialty group 34 */
    char lanr2[10] = "987654";
    lanr2[6] = (char)('0' + vst_id_check_digit(VST_ID_LANR, lanr2));
    lanr2[7] = '3';
    lanr2[8] = '4';
    lanr2[9] = '\0';
    char lf[32];
    snprintf(lf, sizeof lf, "\"lanr\":\"%s\"", lanr2);
    accept(&f, "computed lanr", with(BASE, "\"lanr\":\"123456601\"", lf));
    lanr2[7] = '\0'; /* keyd gets digits 1-7 only ("identify": [1, 7]) */
    expect_pending(&f, "provider_pseudonym", "sgb5/lanr-stem", VST_ID_LANR, lanr2);
    lanr2[7] = '3';
    expect_text(&f, "provider_group", "34");
    expect_text(&f, "provider_region", "72");

    /* provider with only the required alternative: postal prefix NULL */
    accept(&f, "provider without postal code",
           with(BASE, "\"postal_code\":\"10117\",\"name\":\"Praxis Vemolin\"",
                "\"name\":\"Praxis Vemolin\""));
    expect_null(&f, "provider_postal_prefix");
    expect_text(&f, "provider_group", "01");

    /* no provider at all: every provider column NULL */
    const char *noprov = with(
        BASE,
        "\"provider\":{\"lanr\":\"123456601\",\"bsnr\":\"721234500\",\"postal_code\":\"10117\","
        "\"name\":\"Praxis Vemolin\"},",
        "");
    accept(&f, "no provider", noprov);
    expect_pending(&f, "pseudonym", "sgb5/insured", VST_ID_KVNR, KVNR);
    CU_ASSERT_EQUAL(f.r->nids, 1);
    expect_null(&f, "provider_pseudonym");
    expect_null(&f, "provider_group");
    expect_null(&f, "provider_region");
    expect_null(&f, "practice_pseudonym");
    expect_null(&f, "provider_postal_prefix");
    expect_int(&f, "birth_year", 1980);
    expect_text(&f, "sex", "W");
    expect_int(&f, "insurance_status", 1);
    expect_text(&f, "postal_prefix", "10");
    expect_text(&f, "service", BASE_SERVICE_JSON);
    expect_nothing_dropped_in_row(&f);
    fx_close(&f);
}

static void test_sgb5_insured_variants(void)
{
    fx f;
    OPEN(f, SGB5);
    /* insurance_status as a JSON integer */
    accept(&f, "status 3 as integer",
           with(BASE, "\"insurance_status\":\"1\"", "\"insurance_status\":3"));
    expect_int(&f, "insurance_status", 3);
    accept(&f, "status \"5\"",
           with(BASE, "\"insurance_status\":\"1\"", "\"insurance_status\":\"5\""));
    expect_int(&f, "insurance_status", 5);
    accept(&f, "status 1 as integer",
           with(BASE, "\"insurance_status\":\"1\"", "\"insurance_status\":1"));
    expect_int(&f, "insurance_status", 1);

    /* blanks and a lower-case letter: canonical KVNR */
    accept(&f, "kvnr blanks/lower", with(BASE, "\"A123456780\"", "\" \\ta123456780  \""));
    expect_pending(&f, "pseudonym", "sgb5/insured", VST_ID_KVNR, KVNR);
    accept(&f, "lanr blanks", with(BASE, "\"123456601\"", "\"  123456601\\t\""));
    expect_pending(&f, "provider_pseudonym", "sgb5/lanr-stem", VST_ID_LANR, LANR_STEM);

    /* a computed KVNR */
    char kv[11] = "Z98765432";
    kv[9] = (char)('0' + vst_id_check_digit(VST_ID_KVNR, kv));
    kv[10] = '\0';
    char kf[32];
    snprintf(kf, sizeof kf, "\"kvnr\":\"%s\"", kv);
    accept(&f, "computed kvnr", with(BASE, "\"kvnr\":\"A123456780\"", kf));
    expect_pending(&f, "pseudonym", "sgb5/insured", VST_ID_KVNR, kv);

    /* each sex, and 2000-02-29 (a leap day: 2000 is divisible by 400) */
    const char *sexes[] = {"M", "W", "D", "X"};
    for (size_t i = 0; i < 4; i++) {
        char sf[16];
        snprintf(sf, sizeof sf, "\"sex\":\"%s\"", sexes[i]);
        accept(&f, "sex", with(BASE, "\"sex\":\"W\"", sf));
        expect_text(&f, "sex", sexes[i]);
    }
    accept(&f, "2000-02-29", with(BASE, "1980-02-28", "2000-02-29"));
    expect_int(&f, "birth_year", 2000);
    accept(&f, "1880-01-01 (the minimum)", with(BASE, "1980-02-28", "1880-01-01"));
    expect_int(&f, "birth_year", 1880);
    accept(&f, "2024-02-29", with(BASE, "1980-02-28", "2024-02-29"));
    expect_int(&f, "birth_year", 2024);
    char today[11];
    ymd(time(NULL), today);
    accept(&f, "born today (the maximum)", with(BASE, "1980-02-28", today));
    expect_int(&f, "birth_year", atoi(today));

    /* dropped fields are optional; non-ASCII names are fine (and dropped) */
    accept(&f, "no names", with(BASE, "\"last_name\":\"Borentak\",\"first_name\":\"Limara\",", ""));
    accept(&f, "umlauts", with(BASE, "Borentak", "B\xc3\xb6rent\xc3\xa4k \\u00df\\ud83d\\ude00"));
    CU_ASSERT(!row_contains(f.r, "\xc3\xb6"));
    CU_ASSERT(!row_contains(f.r, "\xc3\x9f")); /* the unescaped \u00df */
    CU_ASSERT(f.r->scratch_used > 0);          /* ... lives in the scratch until cleared */
    vst_row_clear(f.r);
    CU_ASSERT_EQUAL(f.r->scratch_used, 0);
    /* keys in any order; the service JSON follows the profile's order */
    accept(&f, "reordered",
           "{\"service\":{\"days\":1,\"cost_cents\":4250,\"atc\":[\"N02BE01\"],\"ebm\":[\"03000\"],"
           "\"ops\":[\"5-470.11\"],\"icd10\":[\"J06.9\",\"I10.-\"],\"period\":\"2024Q1\"},"
           "\"insured\":{\"sex\":\"W\",\"postal_code\":\"10115\",\"kvnr\":\"A123456780\","
           "\"insurance_status\":\"1\",\"birth_date\":\"1980-02-28\"}}");
    expect_text(&f, "service", BASE_SERVICE_JSON);
    expect_text(&f, "postal_prefix", "10");
    /* JSON whitespace everywhere */
    accept(&f, "whitespace",
           " { \"insured\" : { \"kvnr\" : \"A123456780\" , \"birth_date\":\"1980-02-28\",\n"
           "\"sex\":\"W\",\"insurance_status\":\"1\",\"postal_code\":\"10115\"},\t\"service\":"
           "{\"period\":\"2024Q1\"} } ");
    expect_text(&f, "service", "{\"period\":\"2024Q1\"}");
    fx_close(&f);
}

static void test_sgb5_service_variants(void)
{
    fx f;
    OPEN(f, SGB5);
    /* only the required period; empty lists are kept as empty lists */
    accept(&f, "minimal service",
           with(BASE,
                "{\"period\":\"2024Q1\",\"icd10\":[\"J06.9\",\"I10.-\"],\"ops\":[\"5-470.11\"],"
                "\"ebm\":[\"03000\"],\"atc\":[\"N02BE01\"],\"cost_cents\":4250,\"days\":1}",
                "{\"period\":\"1999Q4\",\"icd10\":[],\"days\":0,\"cost_cents\":100000000000}"));
    expect_text(&f, "service",
                "{\"period\":\"1999Q4\",\"icd10\":[],\"cost_cents\":100000000000,\"days\":0}");
    /* code shapes the patterns accept */
    accept(&f, "codes",
           with(BASE, "[\"J06.9\",\"I10.-\"]",
                "[\"J06\",\"J06.90\",\"I10.-\",\"E11.9G\",\"T78.4+\",\"M07.1*\",\"U07.1!\"]"));
    accept(&f, "ops", with(BASE, "[\"5-470.11\"]", "[\"5-470\",\"1-20\",\"8-98f.0\",\"5-470.1\"]"));
    accept(&f, "atc",
           with(BASE, "[\"N02BE01\"]", "[\"N\",\"N02\",\"N02B\",\"N02BE\",\"N02BE01\"]"));
    accept(&f, "ebm", with(BASE, "[\"03000\"]", "[\"03000\",\"01100A\"]"));
    expect_text(&f, "service",
                "{\"period\":\"2024Q1\",\"icd10\":[\"J06.9\",\"I10.-\"],\"ops\":[\"5-470.11\"],"
                "\"ebm\":[\"03000\",\"01100A\"],\"atc\":[\"N02BE01\"],\"cost_cents\":4250,"
                "\"days\":1}");
    /* 64 items is the maximum */
    char list[64 * 8 + 8];
    size_t n = 0;
    list[n++] = '[';
    for (int i = 0; i < 64; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s\"%05d\"", i ? "," : "", i);
    list[n++] = ']';
    list[n] = '\0';
    accept(&f, "64 ebm codes", with(BASE, "[\"03000\"]", list));
    fx_close(&f);
}

static void test_sgb5_line_framing(void)
{
    fx f;
    OPEN(f, SGB5);
    size_t blen = strlen(BASE);
    char *buf = malloc(16384 + 2);
    CU_ASSERT_FATAL(buf != NULL);
    /* CRLF: the CR is not part of the record */
    memcpy(buf, BASE, blen);
    buf[blen] = '\r';
    CU_ASSERT_EQUAL(apply_n(&f, buf, blen + 1, 1), VST_E_OK);
    expect_text(&f, "service", BASE_SERVICE_JSON);
    /* exactly max_line_bytes (padded with JSON whitespace) is accepted, plus a CR */
    memset(buf + blen, ' ', 16384 - blen);
    CU_ASSERT_EQUAL(apply_n(&f, buf, 16384, 2), VST_E_OK);
    buf[16384] = '\r';
    CU_ASSERT_EQUAL(apply_n(&f, buf, 16385, 3), VST_E_OK);
    /* one byte more is too long, whatever it holds */
    buf[16384] = ' ';
    reject_len(&f, "16385 bytes", buf, 16385, "", VST_E_LINE_TOO_LONG, NULL);
    CU_ASSERT_EQUAL(apply_n(&f, buf, 16385, 7), VST_E_LINE_TOO_LONG);
    CU_ASSERT_EQUAL(f.e.items[0].line, 7);
    /* the line is not modified */
    CU_ASSERT(memcmp(buf, BASE, blen) == 0);
    free(buf);
    fx_close(&f);
}

/* ---- sgb5: rejections --------------------------------------------------- */

static void test_reject_unknown_fields(void)
{
    fx f;
    OPEN(f, SGB5);
    static const edit_case cases[] = {
        {"top level", "\"service\":{", "\"comment\":\"call back\",\"service\":{", "comment",
         VST_E_UNKNOWN_FIELD, "call back"},
        {"nested", "\"city\":\"Nordhausen\"", "\"city\":\"Nordhausen\",\"phone\":\"0301234\"",
         "insured.phone", VST_E_UNKNOWN_FIELD, "0301234"},
        {"in service", "\"days\":1", "\"days\":1,\"diagnosis_text\":\"flu\"",
         "service.diagnosis_text", VST_E_UNKNOWN_FIELD, "flu"},
        /* keys that could be values: by position (1-based among the object's keys) */
        {"identifier as top-level key", "\"service\":{", "\"A123456780\":1,\"service\":{",
         "<key #3>", VST_E_UNKNOWN_FIELD, KVNR},
        {"identifier as nested key", "\"last_name\"", "\"A123456780\":true,\"last_name\"",
         "insured.<key #2>", VST_E_UNKNOWN_FIELD, KVNR},
        {"digits in a key", "\"name\":\"Praxis Vemolin\"",
         "\"name\":\"Praxis Vemolin\",\"tel_0301234\":\"x\"", "provider.<key #5>",
         VST_E_UNKNOWN_FIELD, "0301234"},
        {"non-ASCII key", "\"days\":1", "\"days\":1,\"M\xc3\xbcller\":\"x\"", "service.<key #8>",
         VST_E_UNKNOWN_FIELD, "M\xc3\xbcller"},
        {"punctuation in a key", "\"days\":1", "\"days\":1,\"a.b\":\"x\"", "service.<key #8>",
         VST_E_UNKNOWN_FIELD, "a.b"},
        {"empty key", "\"days\":1", "\"days\":1,\"\":\"x\"", "service.<key #8>",
         VST_E_UNKNOWN_FIELD, NULL},
        {"capitalized key (could be a name)", "\"days\":1", "\"days\":1,\"Borentak\":\"x\"",
         "service.<key #8>", VST_E_UNKNOWN_FIELD, "Borentak"},
        {"long letters-only key", "\"days\":1",
         "\"days\":1,\"abcdefghijklmnopqrstuvwxyzabcdefghij\":1", "service.<key #8>",
         VST_E_UNKNOWN_FIELD, "abcdefghijklmnopqrstuvwxyzabcdefghij"},
        {NULL, NULL, NULL, NULL, VST_E_OK, NULL}};
    reject_edits(&f, cases);
    fx_close(&f);
}

static void test_reject_wrong_types(void)
{
    fx f;
    OPEN(f, SGB5);
    static const edit_case cases[] = {
        {"string for integer", "\"cost_cents\":4250", "\"cost_cents\":\"4250\"",
         "service.cost_cents", VST_E_WRONG_TYPE, "4250"},
        {"real for integer", "\"days\":1", "\"days\":3.5", "service.days", VST_E_WRONG_TYPE, "3.5"},
        {"real 1.0 for integer", "\"days\":1", "\"days\":1.0", "service.days", VST_E_WRONG_TYPE,
         NULL},
        {"exponent for integer", "\"days\":1", "\"days\":1e2", "service.days", VST_E_WRONG_TYPE,
         NULL},
        {"bool for integer", "\"days\":1", "\"days\":true", "service.days", VST_E_WRONG_TYPE, NULL},
        {"integer for string", "\"sex\":\"W\"", "\"sex\":1", "insured.sex", VST_E_WRONG_TYPE, NULL},
        {"integer for patterned string", "\"postal_code\":\"10115\"", "\"postal_code\":10115",
         "insured.postal_code", VST_E_WRONG_TYPE, "10115"},
        {"bool for string", "\"sex\":\"W\"", "\"sex\":false", "insured.sex", VST_E_WRONG_TYPE,
         NULL},
        {"object for string", "\"last_name\":\"Borentak\"", "\"last_name\":{\"v\":\"Borentak\"}",
         "insured.last_name", VST_E_WRONG_TYPE, "Borentak"},
        {"array for string", "\"first_name\":\"Limara\"", "\"first_name\":[\"Limara\"]",
         "insured.first_name", VST_E_WRONG_TYPE, "Limara"},
        {"real for integer-enum", "\"insurance_status\":\"1\"", "\"insurance_status\":3.0",
         "insured.insurance_status", VST_E_WRONG_TYPE, NULL},
        {"bool for integer-enum", "\"insurance_status\":\"1\"", "\"insurance_status\":true",
         "insured.insurance_status", VST_E_WRONG_TYPE, NULL},
        {"integer for identifier", "\"lanr\":\"123456601\"", "\"lanr\":123456601", "provider.lanr",
         VST_E_WRONG_TYPE, LANR},
        {"object for identifier", "\"kvnr\":\"A123456780\"", "\"kvnr\":{\"id\":\"A123456780\"}",
         "insured.kvnr", VST_E_WRONG_TYPE, KVNR},
        {"integer for date", "\"birth_date\":\"1980-02-28\"", "\"birth_date\":19800228",
         "insured.birth_date", VST_E_WRONG_TYPE, "19800228"},
        {"string for list", "[\"J06.9\",\"I10.-\"]", "\"J06.9\"", "service.icd10", VST_E_WRONG_TYPE,
         NULL},
        {"object for list", "[\"03000\"]", "{\"a\":\"03000\"}", "service.ebm", VST_E_WRONG_TYPE,
         NULL},
        {"integer list item", "[\"J06.9\",\"I10.-\"]", "[\"J06.9\",106]", "service.icd10[1]",
         VST_E_WRONG_TYPE, NULL},
        {"array for object",
         "\"provider\":{\"lanr\":\"123456601\",\"bsnr\":\"721234500\","
         "\"postal_code\":\"10117\",\"name\":\"Praxis Vemolin\"}",
         "\"provider\":[\"123456601\",\"Praxis Vemolin\"]", "provider", VST_E_NOT_OBJECT, LANR},
        {NULL, NULL, NULL, NULL, VST_E_OK, NULL}};
    reject_edits(&f, cases);
    reject(&f, "string for object",
           "{\"insured\":{\"kvnr\":\"A123456780\",\"birth_date\":\"1980-02-28\",\"sex\":\"W\","
           "\"insurance_status\":\"1\",\"postal_code\":\"10115\"},\"service\":\"2024Q1\"}",
           "service", VST_E_NOT_OBJECT, NULL);
    fx_close(&f);
}

static void test_reject_dates(void)
{
    fx f;
    OPEN(f, SGB5);
    static const edit_case bad[] = {
        {"30 February", "1980-02-28", "1980-02-30", "insured.birth_date", VST_E_INVALID_DATE,
         "1980-02-30"},
        {"29 Feb, not leap", "1980-02-28", "2023-02-29", "insured.birth_date", VST_E_INVALID_DATE,
         "2023-02-29"},
        {"29 Feb 1900 (century)", "1980-02-28", "1900-02-29", "insured.birth_date",
         VST_E_INVALID_DATE, "1900-02-29"},
        {"13th month", "1980-02-28", "1980-13-01", "insured.birth_date", VST_E_INVALID_DATE,
         "1980-13-01"},
        {"month 00", "1980-02-28", "1980-00-10", "insured.birth_date", VST_E_INVALID_DATE,
         "1980-00-10"},
        {"day 00", "1980-02-28", "1980-02-00", "insured.birth_date", VST_E_INVALID_DATE,
         "1980-02-00"},
        {"31 April", "1980-02-28", "1980-04-31", "insured.birth_date", VST_E_INVALID_DATE,
         "1980-04-31"},
        {"no leading zeros", "1980-02-28", "1980-2-3", "insured.birth_date", VST_E_INVALID_DATE,
         "1980-2-3"},
        {"with time", "1980-02-28", "1980-02-28T00:00", "insured.birth_date", VST_E_INVALID_DATE,
         "1980-02-28T00:00"},
        {"dots", "1980-02-28", "28.02.1980", "insured.birth_date", VST_E_INVALID_DATE,
         "28.02.1980"},
        {"slashes", "1980-02-28", "1980/02/28", "insured.birth_date", VST_E_INVALID_DATE,
         "1980/02/28"},
        {"signed", "1980-02-28", "+980-02-28", "insured.birth_date", VST_E_INVALID_DATE,
         "+980-02-28"},
        {"blank", "1980-02-28", " 1980-02-2", "insured.birth_date", VST_E_INVALID_DATE,
         "1980-02-2"},
        {"empty", "\"1980-02-28\"", "\"\"", "insured.birth_date", VST_E_INVALID_DATE, NULL},
        {"year 0000", "1980-02-28", "0000-01-01", "insured.birth_date", VST_E_INVALID_DATE,
         "0000-01-01"},
        {"future", "1980-02-28", "2999-01-01", "insured.birth_date", VST_E_DATE_RANGE,
         "2999-01-01"},
        {"before min", "1980-02-28", "1879-12-31", "insured.birth_date", VST_E_DATE_RANGE,
         "1879-12-31"},
        {NULL, NULL, NULL, NULL, VST_E_OK, NULL}};
    reject_edits(&f, bad);
    char tomorrow[11];
    ymd(time(NULL) + 86400, tomorrow);
    reject(&f, "tomorrow", with(BASE, "1980-02-28", tomorrow), "insured.birth_date",
           VST_E_DATE_RANGE, tomorrow);
    fx_close(&f);
}

static void test_reject_codes(void)
{
    fx f;
    OPEN(f, SGB5);
    static const edit_case cases[] = {
        {"icd10 item", "[\"J06.9\",\"I10.-\"]", "[\"J06.9\",\"I10.-\",\"J6.9\"]",
         "service.icd10[2]", VST_E_PATTERN, "J6.9"},
        {"icd10 lower case", "[\"J06.9\",\"I10.-\"]", "[\"j06.9\"]", "service.icd10[0]",
         VST_E_PATTERN, "j06.9"},
        {"icd10 empty item", "[\"J06.9\",\"I10.-\"]", "[\"\"]", "service.icd10[0]", VST_E_PATTERN,
         NULL},
        {"icd10 free text", "[\"J06.9\",\"I10.-\"]", "[\"J06.9\",\"Borentak\"]", "service.icd10[1]",
         VST_E_PATTERN, "Borentak"},
        {"period Q5", "2024Q1", "2024Q5", "service.period", VST_E_PATTERN, "2024Q5"},
        {"period 1899", "2024Q1", "1899Q1", "service.period", VST_E_PATTERN, "1899Q1"},
        {"period lower q", "2024Q1", "2024q1", "service.period", VST_E_PATTERN, "2024q1"},
        {"ebm 4 digits", "[\"03000\"]", "[\"3000\"]", "service.ebm[0]", VST_E_PATTERN, "3000"},
        {"ebm trailing blank", "[\"03000\"]", "[\"03000 \"]", "service.ebm[0]", VST_E_PATTERN,
         "03000 "},
        {"ops leading 0", "[\"5-470.11\"]", "[\"5-470.11\",\"0-470.11\"]", "service.ops[1]",
         VST_E_PATTERN, "0-470.11"},
        {"ops without dash", "[\"5-470.11\"]", "[\"547011\"]", "service.ops[0]", VST_E_PATTERN,
         "547011"},
        {"atc 6 chars", "[\"N02BE01\"]", "[\"N02BE0\"]", "service.atc[0]", VST_E_PATTERN, "N02BE0"},
        {"atc 8 chars", "[\"N02BE01\"]", "[\"N02BE012\"]", "service.atc[0]", VST_E_PATTERN,
         "N02BE012"},
        {"sex F", "\"sex\":\"W\"", "\"sex\":\"F\"", "insured.sex", VST_E_NOT_ALLOWED, NULL},
        {"sex lower", "\"sex\":\"W\"", "\"sex\":\"w\"", "insured.sex", VST_E_NOT_ALLOWED, NULL},
        {"sex word", "\"sex\":\"W\"", "\"sex\":\"female\"", "insured.sex", VST_E_NOT_ALLOWED,
         "female"},
        {"status \"2\"", "\"insurance_status\":\"1\"", "\"insurance_status\":\"2\"",
         "insured.insurance_status", VST_E_NOT_ALLOWED, NULL},
        {"status 2", "\"insurance_status\":\"1\"", "\"insurance_status\":2",
         "insured.insurance_status", VST_E_NOT_ALLOWED, NULL},
        {"status \"01\"", "\"insurance_status\":\"1\"", "\"insurance_status\":\"01\"",
         "insured.insurance_status", VST_E_NOT_ALLOWED, NULL},
        {"postal code 4 digits", "\"postal_code\":\"10115\"", "\"postal_code\":\"1011\"",
         "insured.postal_code", VST_E_PATTERN, "1011"},
        {"postal code blank", "\"postal_code\":\"10115\"", "\"postal_code\":\"10115 \"",
         "insured.postal_code", VST_E_PATTERN, "10115 "},
        {"provider postal code", "\"postal_code\":\"10117\"", "\"postal_code\":\"D-10117\"",
         "provider.postal_code", VST_E_PATTERN, "10117"},
        {NULL, NULL, NULL, NULL, VST_E_OK, NULL}};
    reject_edits(&f, cases);
    /* dropped fields are checked too (a 201-byte name is refused) */
    char name[256];
    memset(name, 'a', 201);
    name[201] = '\0';
    reject(&f, "name too long", with(BASE, "Borentak", name), "insured.last_name", VST_E_TOO_LONG,
           name);
    name[200] = '\0';
    accept(&f, "200-byte name", with(BASE, "Borentak", name));
    fx_close(&f);
}

static void test_reject_identifiers(void)
{
    fx f;
    OPEN(f, SGB5);
    static const edit_case cases[] = {
        {"kvnr check digit", KVNR, "A123456781", "insured.kvnr", VST_E_ID_CHECK_DIGIT,
         "A123456781"},
        {"kvnr other letter", KVNR, "B123456780", "insured.kvnr", VST_E_ID_CHECK_DIGIT,
         "B123456780"},
        {"kvnr too short", KVNR, "A12345678", "insured.kvnr", VST_E_ID_LENGTH, "A12345678"},
        {"kvnr too long", KVNR, "A1234567800", "insured.kvnr", VST_E_ID_LENGTH, "A1234567800"},
        {"kvnr inner blank", KVNR, "A1234 56780", "insured.kvnr", VST_E_ID_LENGTH, "A1234 56780"},
        {"kvnr digit first", KVNR, "1123456780", "insured.kvnr", VST_E_ID_SYNTAX, "1123456780"},
        {"kvnr letter inside", KVNR, "A12345B780", "insured.kvnr", VST_E_ID_SYNTAX, "A12345B780"},
        {"kvnr umlaut", KVNR,
         "\xc3\x84"
         "12345678",
         "insured.kvnr", VST_E_ID_SYNTAX, "12345678"},
        {"kvnr empty", "\"A123456780\"", "\"\"", "insured.kvnr", VST_E_ID_LENGTH, NULL},
        {"lanr check digit", LANR, "123456701", "provider.lanr", VST_E_ID_CHECK_DIGIT, "123456701"},
        {"lanr length", LANR, "12345660", "provider.lanr", VST_E_ID_LENGTH, "12345660"},
        {"lanr syntax", LANR, "12345660A", "provider.lanr", VST_E_ID_SYNTAX, "12345660A"},
        {"bsnr syntax", BSNR, "72123450X", "provider.bsnr", VST_E_ID_SYNTAX, "72123450X"},
        {"bsnr length", BSNR, "7212345", "provider.bsnr", VST_E_ID_LENGTH, "7212345"},
        {"ik check digit", "\"lanr\":\"123456601\",\"bsnr\":\"721234500\"", "\"ik\":\"260326823\"",
         "provider.ik", VST_E_ID_CHECK_DIGIT, "260326823"},
        {"ik length", "\"lanr\":\"123456601\",\"bsnr\":\"721234500\"", "\"ik\":\"2603268220\"",
         "provider.ik", VST_E_ID_LENGTH, "2603268220"},
        {"ik syntax", "\"lanr\":\"123456601\",\"bsnr\":\"721234500\"", "\"ik\":\"26032682-\"",
         "provider.ik", VST_E_ID_SYNTAX, "26032682"},
        {NULL, NULL, NULL, NULL, VST_E_OK, NULL}};
    reject_edits(&f, cases);
    fx_close(&f);
}

static void test_reject_duplicates_and_utf8(void)
{
    fx f;
    OPEN(f, SGB5);
    static const edit_case cases[] = {
        {"duplicate top-level", "\"service\":{",
         "\"insured\":{\"kvnr\":\"A123456780\"},\"service\":{", "", VST_E_DUPLICATE_KEY, KVNR},
        {"duplicate nested", "\"sex\":\"W\"", "\"sex\":\"W\",\"kvnr\":\"A123456781\"", "",
         VST_E_DUPLICATE_KEY, "A123456781"},
        {"duplicate same value", "\"days\":1", "\"days\":1,\"days\":1", "", VST_E_DUPLICATE_KEY,
         NULL},
        {"raw 0xff", "Borentak",
         "Bor"
         "\xff"
         "ntak",
         "", VST_E_INVALID_UTF8, "ntak"},
        {"raw 0xfe", "Borentak", "\xfe", "", VST_E_INVALID_UTF8, NULL},
        {"overlong '/'", "Borentak",
         "Bor"
         "\xc0\xaf"
         "ntak",
         "", VST_E_INVALID_UTF8, "ntak"},
        {"overlong NUL", "Borentak",
         "Bor"
         "\xc0\x80"
         "ntak",
         "", VST_E_INVALID_UTF8, "ntak"},
        {"overlong 3-byte", "Borentak",
         "Bor"
         "\xe0\x80\xaf"
         "ntak",
         "", VST_E_INVALID_UTF8, "ntak"},
        {"overlong 4-byte", "Borentak",
         "Bor"
         "\xf0\x80\x80\xaf"
         "ntak",
         "", VST_E_INVALID_UTF8, "ntak"},
        {"lone continuation", "Borentak",
         "Bor"
         "\x80"
         "ntak",
         "", VST_E_INVALID_UTF8, "ntak"},
        {"lone continuation 0xbf", "Borentak", "\xbf", "", VST_E_INVALID_UTF8, NULL},
        {"truncated sequence", "Borentak",
         "Borentak"
         "\xc3",
         "", VST_E_INVALID_UTF8, NULL},
        {"UTF-16 surrogate", "Borentak",
         "Bor"
         "\xed\xa0\x80"
         "ntak",
         "", VST_E_INVALID_UTF8, "ntak"},
        {"beyond U+10FFFF", "Borentak",
         "Bor"
         "\xf4\x90\x80\x80"
         "ntak",
         "", VST_E_INVALID_UTF8, "ntak"},
        {"invalid UTF-8 in a key", "\"city\"",
         "\"c"
         "\xff"
         "ty\"",
         "", VST_E_INVALID_UTF8, NULL},
        {"escaped lone surrogate", "Borentak", "Bor\\ud800ntak", "", VST_E_INVALID_UTF8, "ntak"},
        {"escaped lone low surrogate", "Borentak", "Bor\\udc00ntak", "", VST_E_INVALID_UTF8,
         "ntak"},
        {"duplicate after unescaping", "\"days\":1", "\"days\":1,\"d\\u0061ys\":2", "",
         VST_E_DUPLICATE_KEY, NULL},
        {"leading zero", "\"days\":1", "\"days\":01", "", VST_E_INVALID_JSON, NULL},
        {"bad escape", "Borentak", "Bor\\xntak", "", VST_E_INVALID_JSON, "ntak"},
        {"escaped NUL", "Borentak", "Bor\\u0000ntak", "", VST_E_INVALID_JSON, "ntak"},
        {"raw control char", "Borentak", "Bor\tntak", "", VST_E_INVALID_JSON, "ntak"},
        {"truncated", "\"days\":1}}", "\"days\":1}", "", VST_E_INVALID_JSON, NULL},
        {"trailing garbage", "\"days\":1}}", "\"days\":1}}x", "", VST_E_INVALID_JSON, NULL},
        {"two records", "\"days\":1}}", "\"days\":1}}{}", "", VST_E_INVALID_JSON, NULL},
        {"single quotes", "\"days\":1", "'days':1", "", VST_E_INVALID_JSON, NULL},
        {"integer overflow", "\"days\":1", "\"days\":99999999999999999999", "service.days",
         VST_E_OUT_OF_RANGE, "99999999999999999999"},
        {"integer overflow in an integer enum", "\"insurance_status\":\"1\"",
         "\"insurance_status\":99999999999999999999", "insured.insurance_status", VST_E_NOT_ALLOWED,
         "99999999999999999999"},
        {NULL, NULL, NULL, NULL, VST_E_OK, NULL}};
    reject_edits(&f, cases);

    /* keys are compared after unescaping */
    accept(&f, "escaped field name", with(BASE, "\"kvnr\"", "\"\\u006bvnr\""));
    expect_pending(&f, "pseudonym", "sgb5/insured", VST_ID_KVNR, KVNR);
    reject(&f, "escaped unknown key", with(BASE, "\"days\":1", "\"days\":1,\"n\\u006fte\":1"),
           "service.<key #8>", VST_E_UNKNOWN_FIELD, NULL);
    /* nesting: the record object is depth 0; down to depth 16 is parsed (and
     * refused by type), depth 17 is not */
    char deep[128];
    for (int levels = 17; levels <= 18; levels++) {
        int n = snprintf(deep, sizeof deep, "\"days\":");
        for (int i = 0; i < levels - 2; i++)
            deep[n++] = '[';
        for (int i = 0; i < levels - 2; i++)
            deep[n++] = ']';
        deep[n] = '\0';
        if (levels == 17)
            reject(&f, "depth 16", with(BASE, "\"days\":1", deep), "service.days", VST_E_WRONG_TYPE,
                   NULL);
        else
            reject(&f, "depth 17", with(BASE, "\"days\":1", deep), "", VST_E_INVALID_JSON, NULL);
    }
    /* members per object are bounded by the scanner */
    char many[129 * 12 + 64];
    size_t m = (size_t)snprintf(many, sizeof many, "\"days\":1");
    for (int i = 0; i < 128; i++)
        m += (size_t)snprintf(many + m, sizeof many - m, ",\"k%d\":1", i);
    reject(&f, "129 members", with(BASE, "\"days\":1", many), "", VST_E_TOO_MANY_ITEMS, NULL);
    fx_close(&f);
}

static void test_reject_line_shape(void)
{
    fx f;
    OPEN(f, SGB5);
    reject(&f, "empty", "", "", VST_E_EMPTY_LINE, NULL);
    reject(&f, "blanks", "  \t  ", "", VST_E_EMPTY_LINE, NULL);
    reject(&f, "CR only", "\r", "", VST_E_EMPTY_LINE, NULL);
    reject(&f, "array", "[\"A123456780\",\"Borentak\"]", "", VST_E_NOT_OBJECT, KVNR);
    reject(&f, "empty array", "[]", "", VST_E_NOT_OBJECT, NULL);
    reject(&f, "number", "1980", "", VST_E_NOT_OBJECT, "1980");
    reject(&f, "string", "\"Borentak\"", "", VST_E_NOT_OBJECT, "Borentak");
    reject(&f, "null", "null", "", VST_E_NOT_OBJECT, NULL);
    reject(&f, "true", "true", "", VST_E_NOT_OBJECT, NULL);
    reject(&f, "garbage", "Borentak;Limara", "", VST_E_INVALID_JSON, "Borentak");
    /* an empty object misses both required sections */
    CU_ASSERT_EQUAL(apply(&f, "{}"), VST_E_MISSING_FIELD);
    CU_ASSERT_EQUAL(f.e.total, 2);
    /* far over the limit: refused before parsing */
    size_t big = 1u << 20;
    char *buf = malloc(big);
    CU_ASSERT_FATAL(buf != NULL);
    memset(buf, '[', big);
    reject_len(&f, "1 MiB", buf, big, "", VST_E_LINE_TOO_LONG, NULL);
    /* A line of the maximum size that opens 16 arrays (the items of the
     * 16th are at the depth limit) and then lists "1," without end is
     * invalid JSON; the row's tokens must last until the scanner sees that,
     * or it would report too_many_items instead (found by
     * tests/fuzz/fuzz_profile_line.c). The same inside an object member. */
    size_t max = vst_profile_max_line(f.p);
    memset(buf, '[', 16);
    for (size_t i = 16; i + 1 < max; i += 2)
        memcpy(buf + i, "1,", 2);
    reject_len(&f, "unterminated nested list of maximum size", buf, max, "", VST_E_INVALID_JSON,
               NULL);
    memcpy(buf, "{\"a\":[[[[[[[[[[[[[[[1,", 22);
    reject_len(&f, "... inside an object", buf, max, "", VST_E_INVALID_JSON, NULL);
    free(buf);
    fx_close(&f);
}

static void test_reject_structure(void)
{
    fx f;
    OPEN(f, SGB5);
    static const edit_case cases[] = {
        {"missing kvnr", "\"kvnr\":\"A123456780\",", "", "insured.kvnr", VST_E_MISSING_FIELD, NULL},
        {"missing birth date", "\"birth_date\":\"1980-02-28\",", "", "insured.birth_date",
         VST_E_MISSING_FIELD, "1980-02-28"},
        {"missing period", "\"period\":\"2024Q1\",", "", "service.period", VST_E_MISSING_FIELD,
         NULL},
        {"missing service",
         ",\"service\":{\"period\":\"2024Q1\",\"icd10\":[\"J06.9\",\"I10.-\"],\"ops\":[\"5-470."
         "11\"],"
         "\"ebm\":[\"03000\"],\"atc\":[\"N02BE01\"],\"cost_cents\":4250,\"days\":1}",
         "", "service", VST_E_MISSING_FIELD, NULL},
        {"null kvnr", "\"kvnr\":\"A123456780\"", "\"kvnr\":null", "insured.kvnr", VST_E_NULL_VALUE,
         NULL},
        {"null sex", "\"sex\":\"W\"", "\"sex\":null", "insured.sex", VST_E_NULL_VALUE, NULL},
        {"null dropped field", "\"street\":\"Talweg 3\"", "\"street\":null", "insured.street",
         VST_E_NULL_VALUE, NULL},
        {"null optional object",
         "{\"lanr\":\"123456601\",\"bsnr\":\"721234500\",\"postal_code\":\"10117\","
         "\"name\":\"Praxis Vemolin\"}",
         "null", "provider", VST_E_NULL_VALUE, NULL},
        {"null bsnr", "\"bsnr\":\"721234500\"", "\"bsnr\":null", "provider.bsnr", VST_E_NULL_VALUE,
         NULL},
        {"null list", "[\"03000\"]", "null", "service.ebm", VST_E_NULL_VALUE, NULL},
        {"null list item", "[\"03000\"]", "[null]", "service.ebm[0]", VST_E_WRONG_TYPE, NULL},
        {"lanr + ik", "\"bsnr\":\"721234500\"", "\"ik\":\"260326822\"", "provider.ik",
         VST_E_CONFLICT, IK},
        {"ik + bsnr", "\"lanr\":\"123456601\"", "\"ik\":\"260326822\"", "provider.bsnr",
         VST_E_CONFLICT, IK},
        {"provider without lanr or ik", "\"lanr\":\"123456601\",", "", "provider.lanr|ik",
         VST_E_MISSING_FIELD, NULL},
        {"provider with a name only",
         "\"lanr\":\"123456601\",\"bsnr\":\"721234500\",\"postal_code\":\"10117\",", "",
         "provider.lanr|ik", VST_E_MISSING_FIELD, "Vemolin"},
        {"empty provider",
         "{\"lanr\":\"123456601\",\"bsnr\":\"721234500\",\"postal_code\":\"10117\","
         "\"name\":\"Praxis Vemolin\"}",
         "{}", "provider.lanr|ik", VST_E_MISSING_FIELD, NULL},
        {"days 367", "\"days\":1", "\"days\":367", "service.days", VST_E_OUT_OF_RANGE, "367"},
        {"days -1", "\"days\":1", "\"days\":-1", "service.days", VST_E_OUT_OF_RANGE, NULL},
        {"cost over max", "\"cost_cents\":4250", "\"cost_cents\":100000000001",
         "service.cost_cents", VST_E_OUT_OF_RANGE, "100000000001"},
        {"cost INT64_MIN", "\"cost_cents\":4250", "\"cost_cents\":-9223372036854775808",
         "service.cost_cents", VST_E_OUT_OF_RANGE, "9223372036854775808"},
        {NULL, NULL, NULL, NULL, VST_E_OK, NULL}};
    reject_edits(&f, cases);

    /* lanr + ik + bsnr: both exclusive groups are violated */
    CU_ASSERT_EQUAL(apply(&f, with(BASE, "\"bsnr\"", "\"ik\":\"260326822\",\"bsnr\"")),
                    VST_E_CONFLICT);
    CU_ASSERT_EQUAL_FATAL(f.e.total, 2);
    CU_ASSERT_STRING_EQUAL(f.e.items[0].path, "provider.ik");
    CU_ASSERT_STRING_EQUAL(f.e.items[1].path, "provider.bsnr");
    CU_ASSERT_EQUAL(f.e.items[1].code, VST_E_CONFLICT);
    expect_row_cleared(&f);

    /* over max_items: one error for the list, none per item */
    char list[65 * 8 + 8];
    size_t n = 0;
    list[n++] = '[';
    for (int i = 0; i < 65; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s\"J%02d\"", i ? "," : "", i);
    list[n++] = ']';
    list[n] = '\0';
    reject(&f, "65 icd10 codes", with(BASE, "[\"J06.9\",\"I10.-\"]", list), "service.icd10",
           VST_E_TOO_MANY_ITEMS, NULL);
    list[2] = 'x'; /* a bad item too, but the count is checked first */
    reject(&f, "65 bad codes", with(BASE, "[\"J06.9\",\"I10.-\"]", list), "service.icd10",
           VST_E_TOO_MANY_ITEMS, NULL);
    fx_close(&f);
}

typedef struct {
    const char *path;
    vst_err code;
} triple;

static const char MULTI[] =
    "{\"insured\":{\"kvnr\":\"A123456781\",\"last_name\":\"Borentak\",\"birth_date\":\"1980-02-"
    "30\","
    "\"sex\":\"W\",\"insurance_status\":\"1\",\"postal_code\":\"10115\"},"
    "\"note\":\"Borentak\","
    "\"service\":{\"period\":\"2024Q1\",\"icd10\":[\"J06.9\",\"Limara\"],\"days\":400}}";

static const triple MULTI_WANT[] = {{"note", VST_E_UNKNOWN_FIELD},
                                    {"insured.kvnr", VST_E_ID_CHECK_DIGIT},
                                    {"insured.birth_date", VST_E_INVALID_DATE},
                                    {"service.icd10[1]", VST_E_PATTERN},
                                    {"service.days", VST_E_OUT_OF_RANGE}};
#define MULTI_N (sizeof MULTI_WANT / sizeof MULTI_WANT[0])

static void test_several_errors(void)
{
    fx f;
    OPEN(f, SGB5);
    vst_err rc = apply_n(&f, MULTI, strlen(MULTI), 9);
    CU_ASSERT_EQUAL_FATAL(f.e.total, MULTI_N);
    CU_ASSERT_EQUAL_FATAL(f.e.n, MULTI_N);
    CU_ASSERT_EQUAL(rc, f.e.items[0].code); /* the first error found */
    for (size_t w = 0; w < MULTI_N; w++) {
        int found = 0;
        for (size_t i = 0; i < f.e.n; i++)
            found += f.e.items[i].line == 9 && f.e.items[i].code == MULTI_WANT[w].code &&
                     strcmp(f.e.items[i].path, MULTI_WANT[w].path) == 0;
        if (found != 1) {
            fprintf(stderr, "\n  missing (9, %s, %s)\n", MULTI_WANT[w].path,
                    vst_err_code(MULTI_WANT[w].code));
            dump_errors(&f);
        }
        CU_ASSERT_EQUAL(found, 1);
    }
    expect_no_leak(&f, "A123456781");
    expect_no_leak(&f, "1980-02-30");
    expect_no_leak(&f, "Limara");
    expect_no_leak(&f, "400");
    expect_row_cleared(&f);
    /* the row works again after a rejected line */
    accept(&f, "after errors", BASE);
    expect_text(&f, "service", BASE_SERVICE_JSON);
    fx_close(&f);
}

static void test_error_capacity(void)
{
    fx f;
    OPEN(f, SGB5);
    vst_errors small;
    CU_ASSERT_FATAL(vst_errors_init(&small, 2) == 0);
    CU_ASSERT(vst_profile_apply(f.p, MULTI, strlen(MULTI), 1, f.r, &small) != VST_E_OK);
    CU_ASSERT_EQUAL(small.n, 2);
    CU_ASSERT_EQUAL(small.total, MULTI_N);
    /* a delivery accumulates: later lines keep counting */
    CU_ASSERT(vst_profile_apply(f.p, MULTI, strlen(MULTI), 2, f.r, &small) != VST_E_OK);
    CU_ASSERT(vst_profile_apply(f.p, "", 0, 3, f.r, &small) == VST_E_EMPTY_LINE);
    CU_ASSERT(vst_profile_apply(f.p, BASE, strlen(BASE), 4, f.r, &small) == VST_E_OK);
    CU_ASSERT_EQUAL(small.n, 2);
    CU_ASSERT_EQUAL(small.total, 2 * MULTI_N + 1);
    CU_ASSERT_EQUAL(small.items[0].line, 1);
    CU_ASSERT_EQUAL(small.items[1].line, 1);
    vst_errors_free(&small);

    /* max 0: nothing kept, everything counted */
    vst_errors none;
    CU_ASSERT_FATAL(vst_errors_init(&none, 0) == 0);
    CU_ASSERT_EQUAL(vst_profile_apply(f.p, "[]", 2, 1, f.r, &none), VST_E_NOT_OBJECT);
    CU_ASSERT(vst_profile_apply(f.p, MULTI, strlen(MULTI), 2, f.r, &none) != VST_E_OK);
    CU_ASSERT_EQUAL(none.n, 0);
    CU_ASSERT_EQUAL(none.total, 1 + MULTI_N);
    vst_errors_free(&none);

    /* a path longer than the error's buffer is truncated, not overflowed */
    vst_errors one;
    CU_ASSERT_FATAL(vst_errors_init(&one, 1) == 0);
    char longpath[200];
    memset(longpath, 'p', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    vst_errors_add(&one, 5, longpath, VST_E_PATTERN);
    CU_ASSERT_EQUAL(strlen(one.items[0].path), sizeof one.items[0].path - 1);
    vst_errors_free(&one);
    fx_close(&f);
}

/* ---- measles: a second collection is a file ----------------------------- */

static const char MEASLES_REC[] =
    "{\"person\":{\"kvnr\":\"A123456780\",\"birth_date\":\"2015-06-01\",\"sex\":\"M\","
    "\"postal_code\":\"99084\",\"last_name\":\"Borentak\",\"first_name\":\"Limara\"},"
    "\"report\":{\"year\":2021,\"source\":\"school_entry\",\"doses\":2,"
    "\"vaccines\":[\"J07BD52\",\"J07BD54\"],\"immunity\":\"documented\"}}";

static void test_measles(void)
{
    fx f, g;
    OPEN(f, MEASLES);
    CU_ASSERT_STRING_EQUAL(vst_profile_name(f.p), "measles");
    CU_ASSERT_STRING_EQUAL(vst_profile_table(f.p), "measles.records");
    CU_ASSERT_EQUAL(vst_profile_max_line(f.p), 4096);
    CU_ASSERT_EQUAL(vst_profile_ncolumns(f.p), 5);
    CU_ASSERT_EQUAL_FATAL(vst_profile_ndomains(f.p), 1);
    CU_ASSERT_STRING_EQUAL(vst_profile_domain(f.p, 0), "ph/measles");

    accept(&f, "measles record", MEASLES_REC);
    expect_pending(&f, "pseudonym", "ph/measles", VST_ID_KVNR, KVNR);
    CU_ASSERT_EQUAL(f.r->nids, 1);
    expect_int(&f, "birth_year", 2015);
    expect_text(&f, "sex", "M");
    expect_text(&f, "postal_prefix", "99");
    expect_text(&f, "report",
                "{\"year\":2021,\"source\":\"school_entry\",\"doses\":2,"
                "\"vaccines\":[\"J07BD52\",\"J07BD54\"],\"immunity\":\"documented\"}");
    expect_nothing_dropped_in_row(&f);

    /* The same person in sgb5 goes to another domain: the pseudonyms differ
     * and the collections cannot be linked. */
    OPEN(g, SGB5);
    accept(&g, "sgb5 record", BASE);
    CU_ASSERT_STRING_EQUAL(vst_profile_domain(g.p, g.r->ids[0].domain), "sgb5/insured");
    CU_ASSERT_STRING_NOT_EQUAL(vst_profile_domain(f.p, f.r->ids[0].domain),
                               vst_profile_domain(g.p, g.r->ids[0].domain));
    CU_ASSERT_STRING_EQUAL(f.r->ids[0].id.s, g.r->ids[0].id.s);
    /* A record of one collection is not a record of the other. */
    CU_ASSERT_EQUAL(apply(&f, BASE), VST_E_UNKNOWN_FIELD);
    CU_ASSERT_EQUAL(apply(&g, MEASLES_REC), VST_E_UNKNOWN_FIELD);
    fx_close(&g);

    /* measles' own rules */
    const char *m = MEASLES_REC;
    reject(&f, "year 1999", with(m, "2021", "1999"), "report.year", VST_E_OUT_OF_RANGE, NULL);
    reject(&f, "source", with(m, "school_entry", "pharmacy"), "report.source", VST_E_NOT_ALLOWED,
           "pharmacy");
    reject(&f, "doses 6", with(m, "\"doses\":2", "\"doses\":6"), "report.doses", VST_E_OUT_OF_RANGE,
           NULL);
    reject(&f, "vaccine code", with(m, "J07BD54", "J07XX1"), "report.vaccines[1]", VST_E_PATTERN,
           "J07XX1");
    reject(&f, "6 vaccines",
           with(m, "\"J07BD54\"", "\"J07BD54\",\"J07BD54\",\"J07BD54\",\"J07BD54\",\"J07BD54\""),
           "report.vaccines", VST_E_TOO_MANY_ITEMS, NULL);
    reject(&f, "born 1899", with(m, "2015-06-01", "1899-12-31"), "person.birth_date",
           VST_E_DATE_RANGE, "1899-12-31");
    reject(&f, "no street in measles", with(m, "\"first_name\"", "\"street\":\"x\",\"first_name\""),
           "person.street", VST_E_UNKNOWN_FIELD, NULL);
    reject(&f, "missing report",
           "{\"person\":{\"kvnr\":\"A123456780\",\"birth_date\":\"2015-06-01\","
           "\"sex\":\"M\",\"postal_code\":\"99084\"}}",
           "report", VST_E_MISSING_FIELD, NULL);
    accept(&f, "minimal report",
           with(m, ",\"vaccines\":[\"J07BD52\",\"J07BD54\"],\"immunity\":\"documented\"", ""));
    expect_text(&f, "report", "{\"year\":2021,\"source\":\"school_entry\",\"doses\":2}");
    /* a line over measles' own (smaller) limit */
    char *buf = malloc(4097);
    CU_ASSERT_FATAL(buf != NULL);
    memset(buf, ' ', 4097);
    memcpy(buf, MEASLES_REC, strlen(MEASLES_REC));
    CU_ASSERT_EQUAL(apply_n(&f, buf, 4096, 1), VST_E_OK);
    reject_len(&f, "4097 bytes", buf, 4097, "", VST_E_LINE_TOO_LONG, NULL);
    free(buf);
    fx_close(&f);
}

/* ---- escaped values: every kept integer and enum ------------------------ */

/* Each kept, generalized or pseudonymized field of sgb5 arrives with its
 * characters escaped (\u0031 for "1", ...), into a row whose scratch holds
 * stale digits. The value must be exactly the decoded one: nothing read
 * beyond the decoded bytes (review finding 3: insurance_status "\u0031" was
 * converted with strtoll past the end of the decoded string). */
static void test_sgb5_escaped_values(void)
{
    fx f;
    OPEN(f, SGB5);
    f.stale = 1;

    static const struct {
        const char *esc;
        int64_t want;
    } status[] = {{"\\u0031", 1}, {"\\u0033", 3}, {"\\u0035", 5}};
    for (size_t i = 0; i < 3; i++) {
        char fld[64];
        snprintf(fld, sizeof fld, "\"insurance_status\":\"%s\"", status[i].esc);
        accept(&f, "escaped insurance_status", with(BASE, "\"insurance_status\":\"1\"", fld));
        expect_int(&f, "insurance_status", status[i].want);
    }
    static const char *const sexes[][2] = {
        {"\\u004d", "M"}, {"\\u0057", "W"}, {"\\u0044", "D"}, {"\\u0058", "X"}, {"\\u004D", "M"}};
    for (size_t i = 0; i < 5; i++) {
        char fld[32];
        snprintf(fld, sizeof fld, "\"sex\":\"%s\"", sexes[i][0]);
        accept(&f, "escaped sex", with(BASE, "\"sex\":\"W\"", fld));
        expect_text(&f, "sex", sexes[i][1]);
    }

    /* dates, postal codes and identifiers with escaped digits */
    const char *line = with(
        with(with(BASE, "\"1980-02-28\"", "\"\\u0031\\u0039\\u0038\\u0030\\u002d02-2\\u0038\""),
             "\"10115\"", "\"\\u00310115\""),
        "\"A123456780\"", "\"\\u0061\\u0031\\u00323456780\"");
    line = with(with(line, "\"123456601\"", "\"12345660\\u0031\""), "\"721234500\"",
                "\"\\u0037\\u00321234500\"");
    line = with(line, "\"10117\"", "\"\\u0031\\u00301\\u00317\"");
    accept(&f, "escaped dates, postal codes and identifiers", line);
    expect_int(&f, "birth_year", 1980);
    expect_text(&f, "postal_prefix", "10");
    expect_pending(&f, "pseudonym", "sgb5/insured", VST_ID_KVNR, KVNR);
    expect_pending(&f, "provider_pseudonym", "sgb5/lanr-stem", VST_ID_LANR, LANR_STEM);
    expect_text(&f, "provider_group", "01");
    expect_pending(&f, "practice_pseudonym", "sgb5/bsnr", VST_ID_BSNR, BSNR);
    expect_text(&f, "provider_region", "72");
    expect_text(&f, "provider_postal_prefix", "10");
    expect_text(&f, "service", BASE_SERVICE_JSON);

    accept(&f, "escaped ik",
           with(BASE, "\"lanr\":\"123456601\",\"bsnr\":\"721234500\"",
                "\"ik\":\"\\u0032\\u00360326822\""));
    expect_pending(&f, "provider_pseudonym", "sgb5/ik", VST_ID_IK, IK);
    expect_text(&f, "provider_group", "26");
    expect_text(&f, "provider_region", "03");

    /* codes kept in the service JSON: written decoded, exactly */
    line = with(with(BASE, "\"2024Q1\"", "\"\\u0032024\\u0051\\u0031\""), "\"J06.9\"",
                "\"J\\u00306\\u002e\\u0039\"");
    line = with(with(line, "\"5-470.11\"", "\"\\u0035-470.1\\u0031\""), "\"03000\"",
                "\"0300\\u0030\"");
    line = with(line, "\"N02BE01\"", "\"N02BE0\\u0031\"");
    accept(&f, "escaped service codes", line);
    expect_text(&f, "service", BASE_SERVICE_JSON);

    /* escaped values outside the enum or pattern stay outside */
    static const edit_case cases[] = {
        {"escaped status 2", "\"insurance_status\":\"1\"", "\"insurance_status\":\"\\u0032\"",
         "insured.insurance_status", VST_E_NOT_ALLOWED, NULL},
        {"escaped status 11", "\"insurance_status\":\"1\"", "\"insurance_status\":\"\\u00311\"",
         "insured.insurance_status", VST_E_NOT_ALLOWED, NULL},
        {"escaped status with a blank", "\"insurance_status\":\"1\"",
         "\"insurance_status\":\"\\u0031 \"", "insured.insurance_status", VST_E_NOT_ALLOWED, NULL},
        {"escaped status -1", "\"insurance_status\":\"1\"", "\"insurance_status\":\"\\u002d1\"",
         "insured.insurance_status", VST_E_NOT_ALLOWED, NULL},
        {"escaped sex m", "\"sex\":\"W\"", "\"sex\":\"\\u006d\"", "insured.sex", VST_E_NOT_ALLOWED,
         NULL},
        {"escaped 4-digit postal code", "\"10115\"", "\"\\u0031011\"", "insured.postal_code",
         VST_E_PATTERN, NULL},
        {"escaped short date", "\"1980-02-28\"", "\"\\u0031980-02-2\"", "insured.birth_date",
         VST_E_INVALID_DATE, NULL},
        /* integers are JSON numbers: an escaped string is not one */
        {"escaped cost_cents", "\"cost_cents\":4250", "\"cost_cents\":\"\\u0034250\"",
         "service.cost_cents", VST_E_WRONG_TYPE, NULL},
        {"escaped days", "\"days\":1", "\"days\":\"\\u0031\"", "service.days", VST_E_WRONG_TYPE,
         NULL},
        {NULL, NULL, NULL, NULL, VST_E_OK, NULL}};
    reject_edits(&f, cases);
    fx_close(&f);
}

/* The conversions under the engine read exactly the bytes they are given:
 * pf_parse_int64 stops at len whatever follows, and a decoded string is
 * NUL-terminated in its output buffer, within the capacity given. */
static void test_bounded_conversions(void)
{
    int64_t v = -42;
    CU_ASSERT(pf_parse_int64("17", 1, &v) == 0 && v == 1);
    CU_ASSERT(pf_parse_int64("3\"", 1, &v) == 0 && v == 3);
    CU_ASSERT(pf_parse_int64("9223372036854775807", 19, &v) == 0 && v == INT64_MAX);
    CU_ASSERT(pf_parse_int64("-9223372036854775808", 20, &v) == 0 && v == INT64_MIN);
    CU_ASSERT(pf_parse_int64("-0", 2, &v) == 0 && v == 0);
    v = -42;
    static const char *const bad[] = {"",
                                      "-",
                                      "9223372036854775808",
                                      "-9223372036854775809",
                                      "01",
                                      "+1",
                                      " 1",
                                      "1 ",
                                      "1a",
                                      "0x1",
                                      "1.0",
                                      "--1",
                                      "99999999999999999999",
                                      NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        if (pf_parse_int64(bad[i], strlen(bad[i]), &v) == 0)
            fprintf(stderr, "\n  pf_parse_int64 accepted \"%s\"\n", bad[i]);
        CU_ASSERT(pf_parse_int64(bad[i], strlen(bad[i]), &v) != 0);
    }
    CU_ASSERT_EQUAL(v, -42); /* untouched on failure */

    /* "\u0031" decodes to "1\0" in front of stale digits; no escapes: a
     * pointer into the line with the length, nothing copied */
    const char line[] = "[\"\\u0031\",\"35\",\"\\u00e4\\ud83d\\ude00\"]";
    js_tok tok[8];
    js_doc d = {.tok = tok, .cap = 8};
    CU_ASSERT_FATAL(js_scan(&d, line, sizeof line - 1) == VST_E_OK && d.n == 4);
    char out[16];
    size_t len = 99;
    memset(out, '7', sizeof out);
    const char *s = js_string(line, &tok[1], out, sizeof out, &len);
    CU_ASSERT(s == out && len == 1 && memcmp(out, "1\0", 2) == 0);
    s = js_string(line, &tok[2], out, sizeof out, &len);
    CU_ASSERT(s == line + 11 && len == 2 && memcmp(s, "35", 2) == 0);
    memset(out, '7', sizeof out);
    s = js_string(line, &tok[3], out, sizeof out, &len);
    CU_ASSERT(s == out && len == 6 && memcmp(out, "\xc3\xa4\xf0\x9f\x98\x80\0", 7) == 0);
    /* capacity: decoded bytes plus the NUL, never more */
    memset(out, '7', sizeof out);
    CU_ASSERT(js_string(line, &tok[3], out, 7, &len) == out && out[6] == '\0');
    CU_ASSERT(js_string(line, &tok[3], out, 6, &len) == NULL);
    CU_ASSERT(js_string(line, &tok[1], out, 1, &len) == NULL);
    CU_ASSERT(js_string(line, &tok[1], out, 0, &len) == NULL);
    CU_ASSERT_EQUAL(out[7], '7'); /* nothing written past the capacity */
}

/* The same for measles' kept fields and enums. */
static void test_measles_escaped_values(void)
{
    fx f;
    OPEN(f, MEASLES);
    f.stale = 1;
    const char *m = MEASLES_REC;
    const char *line = with(with(m, "\"2015-06-01\"", "\"\\u0032\\u003015-06-0\\u0031\""),
                            "\"99084\"", "\"\\u0039\\u00390\\u00384\"");
    line = with(with(line, "\"sex\":\"M\"", "\"sex\":\"\\u004d\""), "\"A123456780\"",
                "\"\\u0041123456780\"");
    line = with(with(line, "\"school_entry\"", "\"school\\u005fentr\\u0079\""), "\"documented\"",
                "\"\\u0064ocumented\"");
    line = with(line, "\"J07BD54\"", "\"J07BD\\u00354\"");
    accept(&f, "escaped measles record", line);
    expect_pending(&f, "pseudonym", "ph/measles", VST_ID_KVNR, KVNR);
    expect_int(&f, "birth_year", 2015);
    expect_text(&f, "sex", "M");
    expect_text(&f, "postal_prefix", "99");
    expect_text(&f, "report",
                "{\"year\":2021,\"source\":\"school_entry\",\"doses\":2,"
                "\"vaccines\":[\"J07BD52\",\"J07BD54\"],\"immunity\":\"documented\"}");

    static const char *const sources[][2] = {{"\\u0067\\u0070", "gp"},
                                             {"health\\u005foffice", "health_office"}};
    static const char *const immunity[][2] = {{"\\u0074iter", "titer"},
                                              {"\\u006e\\u006f\\u006e\\u0065", "none"},
                                              {"unknow\\u006e", "unknown"}};
    for (size_t i = 0; i < 2; i++) {
        char fld[64], want[160];
        snprintf(fld, sizeof fld, "\"source\":\"%s\"", sources[i][0]);
        accept(&f, "escaped source", with(m, "\"source\":\"school_entry\"", fld));
        snprintf(want, sizeof want,
                 "{\"year\":2021,\"source\":\"%s\",\"doses\":2,"
                 "\"vaccines\":[\"J07BD52\",\"J07BD54\"],\"immunity\":\"documented\"}",
                 sources[i][1]);
        expect_text(&f, "report", want);
    }
    for (size_t i = 0; i < 3; i++) {
        char fld[64], want[160];
        snprintf(fld, sizeof fld, "\"immunity\":\"%s\"", immunity[i][0]);
        accept(&f, "escaped immunity", with(m, "\"immunity\":\"documented\"", fld));
        snprintf(want, sizeof want,
                 "{\"year\":2021,\"source\":\"school_entry\",\"doses\":2,"
                 "\"vaccines\":[\"J07BD52\",\"J07BD54\"],\"immunity\":\"%s\"}",
                 immunity[i][1]);
        expect_text(&f, "report", want);
    }
    reject(&f, "escaped year", with(m, "\"year\":2021", "\"year\":\"\\u0032021\""), "report.year",
           VST_E_WRONG_TYPE, NULL);
    reject(&f, "escaped doses", with(m, "\"doses\":2", "\"doses\":\"\\u0032\""), "report.doses",
           VST_E_WRONG_TYPE, NULL);
    reject(&f, "escaped source outside the enum", with(m, "\"school_entry\"", "\"\\u0067p \""),
           "report.source", VST_E_NOT_ALLOWED, NULL);
    fx_close(&f);
}

/* valid_json_mixed: an object with a JSON column that also writes plain
 * columns, keeps strings with control characters, and drops lists. */
static const char MIXED_REC[] =
    "{\"kvnr\":\"A123456780\",\"remarks\":[\"Borentak\"],\"data\":{\"codes\":[\"a\","
    "\"b\\\"c\"],\"postal_code\":\"10115\",\"bsnr\":\"721234500\",\"kind\":\"b\","
    "\"note\":\"x\\ty\\u0001\",\"count\":7,\"tags\":[\"Limara\",\"Nordhausen\"]}}";

static void test_json_column_mixed(void)
{
    fx f;
    OPEN(f, TESTPROF("valid_json_mixed"));
    accept(&f, "mixed", MIXED_REC);
    expect_pending(&f, "pseudonym", "mixed/person", VST_ID_KVNR, KVNR);
    expect_pending(&f, "practice_pseudonym", "mixed/bsnr", VST_ID_BSNR, BSNR);
    expect_text(&f, "region", "10");
    expect_text(&f, "practice_region", "72");
    expect_text(&f, "kind", "b");
    /* The JSON column holds exactly the kept members, escaped with the
     * short escapes where JSON has them. */
    expect_text(&f, "data", "{\"codes\":[\"a\",\"b\\\"c\"],\"note\":\"x\\ty\\u0001\",\"count\":7}");
    const vst_value *v = &f.r->values[col(f.p, "data")];
    json_error_t je;
    json_t *doc = v->is_null ? NULL : json_loadb(v->s, v->len, 0, &je);
    if (doc == NULL) {
        fprintf(stderr, "\n  data column is not JSON: %.*s\n", v->s ? (int)v->len : 0,
                v->s ? v->s : "");
        CU_FAIL("data column is not JSON");
    } else {
        CU_ASSERT_EQUAL(json_object_size(doc), 3);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(doc, "codes"), 1)),
                               "b\"c");
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc, "note")), "x\ty\x01");
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(doc, "count")), 7);
        json_decref(doc);
    }
    fx_close(&f);
}

static void test_dropped_list(void)
{
    fx f;
    OPEN(f, TESTPROF("valid_json_mixed"));
    accept(&f, "mixed", MIXED_REC);
    /* "remarks" (top level) and "tags" (inside the JSON object) are dropped
     * lists: checked, and written nowhere */
    expect_nothing_dropped_in_row(&f);
    const vst_value *v = &f.r->values[col(f.p, "data")];
    CU_ASSERT(!v->is_null && !mem_has(v->s, v->len, "tags", 4));
    /* ... but still checked */
    reject(&f, "dropped list item type", with(MIXED_REC, "\"Nordhausen\"", "7"), "data.tags[1]",
           VST_E_WRONG_TYPE, NULL);
    reject(&f, "dropped list too long",
           with(MIXED_REC, "[\"Borentak\"]",
                "[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]"),
           "remarks", VST_E_TOO_MANY_ITEMS, NULL);
    fx_close(&f);
}

/* A line of maximum size that is almost all escaped control characters is
 * a valid record: the row must have room for its JSON column. */
static void test_json_column_escapes_fit(void)
{
    fx f;
    OPEN(f, TESTPROF("valid_json_mixed"));
    size_t max = vst_profile_max_line(f.p);
    char *buf = malloc(max + 1);
    CU_ASSERT_FATAL(buf != NULL);
    size_t n = (size_t)snprintf(buf, max, "{\"kvnr\":\"A123456780\",\"data\":{\"codes\":[");
    int first = 1;
    while (n + 260 + 8 < max) {
        if (!first)
            buf[n++] = ',';
        first = 0;
        buf[n++] = '"';
        for (int i = 0; i < 127; i++) {
            buf[n++] = '\\';
            buf[n++] = 't';
        }
        buf[n++] = '"';
    }
    n += (size_t)snprintf(buf + n, max + 1 - n, "]}}");
    CU_ASSERT(n <= max && n > max - 300);
    vst_err rc = apply_n(&f, buf, n, 1);
    if (rc != VST_E_OK)
        dump_errors(&f);
    CU_ASSERT_EQUAL(rc, VST_E_OK);
    const vst_value *v = &f.r->values[col(f.p, "data")];
    CU_ASSERT(!v->is_null && v->len <= n);
    free(buf);
    fx_close(&f);
}

/* ---- profile loading ---------------------------------------------------- */

static void test_load_shipped(void)
{
    const char *files[] = {SGB5, MEASLES, TESTPROF("valid_minimal"), TESTPROF("valid_json_mixed")};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        vst_profile *p = NULL;
        char msg[256] = "untouched";
        vst_err e = vst_profile_load(profile_path(files[i]), &p, msg, sizeof msg);
        if (e != VST_E_OK)
            fprintf(stderr, "\n  %s: %s\n", files[i], msg);
        CU_ASSERT_EQUAL(e, VST_E_OK);
        CU_ASSERT_PTR_NOT_NULL(p);
        CU_ASSERT_STRING_EQUAL(msg, "");
        vst_profile_free(p);
    }
    /* the documented default directory holds the same files */
    vst_profile *p = NULL;
    CU_ASSERT_EQUAL(vst_profile_load(VST_PROFILE_DIR "/sgb5.json", &p, NULL, 0), VST_E_OK);
    vst_profile_free(p);
    vst_profile_free(NULL);
}

typedef struct {
    const char *file; /* under tests/data/profiles, without .json */
    vst_err code;
    const char *path; /* field path in the message ("" for syntax errors) */
    const char *reason;
} bad_profile;

static const bad_profile BAD[] = {
    {"unknown_key", VST_E_PROFILE_INVALID, ": person.name.colour: ", "unknown key"},
    {"unknown_top_key", VST_E_PROFILE_INVALID, ": version: ", "unknown key"},
    {"missing_type", VST_E_PROFILE_INVALID, ": data.count: ", "\"type\""},
    {"bad_action", VST_E_PROFILE_INVALID, ": person.name: ", "action must be"},
    {"identifier_kept", VST_E_PROFILE_INVALID, ": person.kvnr: ", "pseudonymized or dropped"},
    {"invalid_regex", VST_E_PROFILE_INVALID, ": data.codes.items: ", "regular expression"},
    {"column_not_declared", VST_E_PROFILE_INVALID, ": person.birth_date: ", "not declared"},
    {"column_type_mismatch", VST_E_PROFILE_INVALID, ": person.birth_date: ", "wrong type"},
    {"enum_int_overflow", VST_E_PROFILE_INVALID, ": data.grade: ", "(int64)"},
    {"notnull_optional", VST_E_PROFILE_INVALID, ": columns[3]: ", "NOT NULL"},
    {"column_never_written", VST_E_PROFILE_INVALID, ": columns[5]: ", "never written"},
    {"two_writers", VST_E_PROFILE_INVALID, ": practice.postal_code: ", "exclusive"},
    {"three_writers", VST_E_PROFILE_INVALID, ": practice.zip: ", "exclusive"},
    {"bad_domain", VST_E_PROFILE_INVALID, ": person.kvnr: ", "domain"},
    {"also_out_of_range", VST_E_PROFILE_INVALID, ": practice.ik.also[0]: ", "digits 1..9"},
    {"also_too_many_digits", VST_E_PROFILE_INVALID, ": practice.ik.also[0]: ", "at most 4 digits"},
    {"list_without_max_items", VST_E_PROFILE_INVALID, ": data.codes: ", "max_items"},
    {"bad_date_bound", VST_E_PROFILE_INVALID, ": person.birth_date: ", "date bounds"},
    {"kept_free_text", VST_E_PROFILE_INVALID, ": data.comment: ", "pattern or enum"},
    {"prefix_free_text", VST_E_PROFILE_INVALID, ": person.name: ", "pattern or enum"},
    {"no_pseudonym", VST_E_PROFILE_INVALID, ": record: ", "pseudonymize"},
    {"bad_exclusive", VST_E_PROFILE_INVALID, ": practice: ", "exclusive"},
    {"json_column_twice", VST_E_PROFILE_INVALID, ": more: ", "also written by another object"},
    {"qi_nullable", VST_E_PROFILE_INVALID, ": quasi_identifiers[1]: ", "nullable"},
    {"rare_codes_two_columns", VST_E_PROFILE_INVALID,
     ": rare_codes[1]: ", "is in json_column \"more\", rare_codes[0] in \"data\""},
    {"rare_codes_ambiguous", VST_E_PROFILE_INVALID, ": rare_codes[0]: ", "two json_column objects"},
    {"duplicate_key", VST_E_PROFILE_SYNTAX, "", "duplicate"},
    {"not_json", VST_E_PROFILE_SYNTAX, "", ""},
};

static void test_load_broken(void)
{
    for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
        char rel[128], file[160], msg[512];
        snprintf(rel, sizeof rel, "tests/data/profiles/%s.json", BAD[i].file);
        snprintf(file, sizeof file, "%s.json", BAD[i].file);
        static char sentinel;
        vst_profile *p = (vst_profile *)(void *)&sentinel; /* must be reset to NULL */
        vst_err e = vst_profile_load(profile_path(rel), &p, msg, sizeof msg);
        int ok = e == BAD[i].code && p == NULL && strstr(msg, file) != NULL &&
                 strstr(msg, BAD[i].path) != NULL && strstr(msg, BAD[i].reason) != NULL;
        if (!ok)
            fprintf(stderr, "\n  %s: want %s \"%s\" \"%s\", got %s: %s\n", BAD[i].file,
                    vst_err_code(BAD[i].code), BAD[i].path, BAD[i].reason, vst_err_code(e), msg);
        CU_ASSERT(ok);
        vst_profile_free(p);
    }
    /* a syntax error names the line */
    char msg[512];
    vst_profile *p;
    CU_ASSERT_EQUAL(vst_profile_load(profile_path(TESTPROF("not_json")), &p, msg, sizeof msg),
                    VST_E_PROFILE_SYNTAX);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "not_json.json:"));
    /* a file that does not exist */
    CU_ASSERT_EQUAL(
        vst_profile_load(profile_path(TESTPROF("no_such_profile")), &p, msg, sizeof msg),
        VST_E_PROFILE_IO);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "no_such_profile.json"));
    CU_ASSERT_EQUAL(vst_profile_load(profile_path("tests/data/profiles"), &p, msg, sizeof msg),
                    VST_E_PROFILE_SYNTAX); /* a directory opens but does not parse */
    /* small or no message buffers are fine */
    char tiny[8];
    CU_ASSERT_EQUAL(vst_profile_load(profile_path(TESTPROF("unknown_key")), &p, tiny, sizeof tiny),
                    VST_E_PROFILE_INVALID);
    CU_ASSERT_EQUAL(strlen(tiny), sizeof tiny - 1);
    CU_ASSERT_EQUAL(vst_profile_load(profile_path(TESTPROF("unknown_key")), &p, NULL, 0),
                    VST_E_PROFILE_INVALID);
    CU_ASSERT_EQUAL(vst_profile_load(profile_path(TESTPROF("no_such_profile")), &p, NULL, 0),
                    VST_E_PROFILE_IO);
}

/* vst_profile_load_buffer: the same checks on a document in memory (the
 * profile-file fuzzer's entry point); the buffer needs no NUL. */
static void test_load_buffer(void)
{
    FILE *fp = fopen(profile_path(SGB5), "rb");
    CU_ASSERT_FATAL(fp != NULL);
    static char text[65536];
    size_t n = fread(text, 1, sizeof text, fp);
    fclose(fp);
    CU_ASSERT_FATAL(n > 0 && n < sizeof text);
    text[n] = 'x'; /* not part of the document */
    vst_profile *p = NULL;
    char msg[512];
    CU_ASSERT_EQUAL_FATAL(vst_profile_load_buffer("mem", text, n, &p, msg, sizeof msg), VST_E_OK);
    CU_ASSERT_STRING_EQUAL(vst_profile_name(p), "sgb5");
    CU_ASSERT_EQUAL(vst_profile_ncolumns(p), 14);
    vst_profile_free(p);
    CU_ASSERT_EQUAL(vst_profile_load_buffer("mem", text, n + 1, &p, msg, sizeof msg),
                    VST_E_PROFILE_SYNTAX);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT(strncmp(msg, "mem:", 4) == 0);
    CU_ASSERT_EQUAL(vst_profile_load_buffer("mem", "{\"profile\":1}", 13, &p, msg, sizeof msg),
                    VST_E_PROFILE_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "mem: profile: "));
    CU_ASSERT_EQUAL(vst_profile_load_buffer("mem", "", 0, &p, NULL, 0), VST_E_PROFILE_SYNTAX);
}

/* ---- release protection keys (DESIGN.md §11) ---------------------------- */

static const char *const NONE[] = {NULL};

/* n() names, read through get(), are exactly want (NULL-terminated), and
 * get() answers NULL past the end. */
static void expect_names(const vst_profile *p, size_t (*n)(const vst_profile *),
                         const char *(*get)(const vst_profile *, size_t), const char *const *want)
{
    size_t k = 0;
    while (want[k] != NULL)
        k++;
    CU_ASSERT_EQUAL(n(p), k);
    for (size_t i = 0; i < k && i < n(p); i++)
        CU_ASSERT_STRING_EQUAL(get(p, i), want[i]);
    CU_ASSERT_PTR_NULL(get(p, n(p)));
}

static void expect_ladder(const vst_profile *p, const char *column, const char *const *want)
{
    static const char *const planted[] = {"planted"};
    const char *const *steps = planted; /* must be overwritten */
    size_t k = 0;
    while (want[k] != NULL)
        k++;
    size_t n = vst_profile_ladder(p, column, &steps);
    CU_ASSERT_EQUAL(n, k);
    if (k == 0)
        CU_ASSERT_PTR_NULL(steps);
    for (size_t i = 0; i < k && i < n; i++)
        CU_ASSERT_STRING_EQUAL(steps[i], want[i]);
}

static void test_release_shipped(void)
{
    fx f;
    OPEN(f, SGB5);
    static const char *const sgb5_qi[] = {"birth_year", "sex", "postal_prefix", "insurance_status",
                                          NULL};
    static const char *const sgb5_rare[] = {"icd10", "ops", "atc", NULL};
    static const char *const bands[] = {"band:5", "band:10", NULL};
    static const char *const drop[] = {"drop", NULL};
    static const char *const postal[] = {"prefix:1", "drop", NULL};
    expect_names(f.p, vst_profile_nqi, vst_profile_qi, sgb5_qi);
    expect_ladder(f.p, "birth_year", bands);
    expect_ladder(f.p, "sex", drop);
    expect_ladder(f.p, "postal_prefix", postal);
    expect_ladder(f.p, "insurance_status", drop);
    expect_ladder(f.p, "pseudonym", NONE);
    expect_ladder(f.p, "no_such_column", NONE);
    CU_ASSERT_STRING_EQUAL(vst_profile_rare_column(f.p), "service");
    expect_names(f.p, vst_profile_nrare, vst_profile_rare, sgb5_rare);
    fx_close(&f);

    OPEN(f, MEASLES);
    static const char *const measles_qi[] = {"birth_year", "sex", "postal_prefix", NULL};
    static const char *const measles_rare[] = {"vaccines", NULL};
    expect_names(f.p, vst_profile_nqi, vst_profile_qi, measles_qi);
    expect_ladder(f.p, "birth_year", bands);
    expect_ladder(f.p, "sex", drop);
    expect_ladder(f.p, "postal_prefix", postal);
    CU_ASSERT_STRING_EQUAL(vst_profile_rare_column(f.p), "report");
    expect_names(f.p, vst_profile_nrare, vst_profile_rare, measles_rare);
    fx_close(&f);

    /* all three keys are optional */
    OPEN(f, TESTPROF("valid_minimal"));
    expect_names(f.p, vst_profile_nqi, vst_profile_qi, NONE);
    expect_names(f.p, vst_profile_nrare, vst_profile_rare, NONE);
    CU_ASSERT_PTR_NULL(vst_profile_rare_column(f.p));
    expect_ladder(f.p, "birth_year", NONE);
    fx_close(&f);
}

/* One or two edits of the shipped sgb5 document: `at` is a dotted path of
 * object members, `json` its new value (NULL: the member is removed). */
typedef struct {
    const char *at, *json;
    const char *at2, *json2; /* a second edit, or at2 NULL */
    const char *path;        /* the field path the message must name */
    const char *reason;
} release_case;

static void set_member(json_t *doc, const char *at, const char *json)
{
    char buf[160];
    snprintf(buf, sizeof buf, "%s", at);
    char *key = buf, *dot;
    json_t *o = doc;
    while ((dot = strchr(key, '.')) != NULL) {
        *dot = '\0';
        o = json_object_get(o, key);
        CU_ASSERT_FATAL(json_is_object(o));
        key = dot + 1;
    }
    if (json == NULL) {
        CU_ASSERT_EQUAL_FATAL(json_object_del(o, key), 0);
        return;
    }
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    CU_ASSERT_FATAL(v != NULL);
    CU_ASSERT_EQUAL_FATAL(json_object_set_new(o, key, v), 0);
}

/* Loads sgb5.json with the case's edits as "case.json". */
static vst_err load_edited(const release_case *rc, vst_profile **p, char *msg, size_t msglen)
{
    static char text[65536];
    json_t *doc = json_load_file(profile_path(SGB5), JSON_REJECT_DUPLICATES, NULL);
    CU_ASSERT_FATAL(doc != NULL);
    set_member(doc, rc->at, rc->json);
    if (rc->at2 != NULL)
        set_member(doc, rc->at2, rc->json2);
    size_t n = json_dumpb(doc, text, sizeof text, JSON_INDENT(2));
    json_decref(doc);
    CU_ASSERT_FATAL(n > 0 && n < sizeof text);
    return vst_profile_load_buffer("case.json", text, n, p, msg, msglen);
}

#define QI "quasi_identifiers"
#define GEN "generalizations"
#define NINE "[\"birth_year\",\"sex\",\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\"]"

static const release_case RELEASE_BAD[] = {
    /* quasi_identifiers */
    {QI, "[\"birth_year\",\"no_such\"]", NULL, NULL, "quasi_identifiers[1]", "not declared"},
    {QI, "[\"pseudonym\"]", NULL, NULL, "quasi_identifiers[0]", "is a pseudonym column"},
    {QI, "[\"birth_year\",\"service\"]", NULL, NULL, "quasi_identifiers[1]", "is a json column"},
    {QI, "[\"sex\",\"death_year\"]", NULL, NULL, "quasi_identifiers[1]", "nullable"},
    {QI, "[\"provider_group\"]", NULL, NULL, "quasi_identifiers[0]", "must be NOT NULL"},
    {QI, "[\"sex\",\"birth_year\",\"sex\"]", NULL, NULL, "quasi_identifiers[2]",
     "already quasi_identifiers[0]"},
    {QI, "[\"sex\",7]", NULL, NULL, "quasi_identifiers[1]", "must be a column name"},
    {QI, "[]", NULL, NULL, "quasi_identifiers", "1..8 column names"},
    {QI, NINE, NULL, NULL, "quasi_identifiers", "1..8 column names"},
    {QI, "\"sex\"", NULL, NULL, "quasi_identifiers", "1..8 column names"},
    {"quasi_identifier", "[\"sex\"]", NULL, NULL, "quasi_identifier", "unknown key"},
    /* generalizations: which columns */
    {QI, NULL, NULL, NULL, "generalizations", "needs \"quasi_identifiers\""},
    {QI, "[\"birth_year\"]", NULL, NULL, "generalizations.sex", "names no column of"},
    {GEN, "{\"death_year\":[\"band:5\"]}", NULL, NULL, "generalizations.death_year",
     "names no column of"},
    {GEN, "{\"no_such\":[\"drop\"]}", NULL, NULL, "generalizations.no_such", "names no column"},
    {GEN, "[]", NULL, NULL, "generalizations", "must be an object"},
    /* ladders: shape, rule against column type, order */
    {GEN ".sex", "[]", NULL, NULL, "generalizations.sex", "1..4 rule strings"},
    {GEN ".sex", "\"drop\"", NULL, NULL, "generalizations.sex", "1..4 rule strings"},
    {GEN ".birth_year", "[\"band:2\",\"band:4\",\"band:8\",\"band:16\",\"band:32\"]", NULL, NULL,
     "generalizations.birth_year", "1..4 rule strings"},
    {GEN ".sex", "[\"band:5\"]", NULL, NULL, "generalizations.sex[0]",
     "band applies to integer columns"},
    {GEN ".postal_prefix", "[\"prefix:1\",\"band:10\"]", NULL, NULL,
     "generalizations.postal_prefix[1]", "band applies to integer columns"},
    {GEN ".birth_year", "[\"prefix:1\"]", NULL, NULL, "generalizations.birth_year[0]",
     "prefix applies to text columns"},
    {GEN ".insurance_status", "[\"prefix:1\",\"drop\"]", NULL, NULL,
     "generalizations.insurance_status[0]", "prefix applies to text columns"},
    {GEN ".birth_year", "[\"band:10\",\"band:5\"]", NULL, NULL, "generalizations.birth_year[1]",
     "band:5 must be a larger multiple of the previous band:10"},
    {GEN ".birth_year", "[\"band:5\",\"band:7\"]", NULL, NULL, "generalizations.birth_year[1]",
     "larger multiple"},
    {GEN ".birth_year", "[\"band:5\",\"band:5\"]", NULL, NULL, "generalizations.birth_year[1]",
     "larger multiple"},
    {GEN ".postal_prefix", "[\"prefix:1\",\"prefix:1\"]", NULL, NULL,
     "generalizations.postal_prefix[1]", "shorter than the previous prefix:1"},
    /* postal_prefix holds 2 characters (rule prefix, length 2) */
    {GEN ".postal_prefix", "[\"prefix:2\"]", NULL, NULL, "generalizations.postal_prefix[0]",
     "shorter than the 2 characters"},
    {GEN ".birth_year", "[\"drop\",\"band:5\"]", NULL, NULL, "generalizations.birth_year[1]",
     "drop must be the last step"},
    {GEN ".sex", "[\"drop\",\"drop\"]", NULL, NULL, "generalizations.sex[1]",
     "drop must be the last step"},
    /* rule strings */
    {GEN ".birth_year", "[\"band:0\"]", NULL, NULL, "generalizations.birth_year[0]",
     "must be a rule"},
    {GEN ".birth_year", "[\"band:x\"]", NULL, NULL, "generalizations.birth_year[0]",
     "must be a rule"},
    {GEN ".birth_year", "[\"band:1\"]", NULL, NULL, "generalizations.birth_year[0]",
     "must be a rule"},
    {GEN ".birth_year", "[\"band:101\"]", NULL, NULL, "generalizations.birth_year[0]",
     "must be a rule"},
    {GEN ".birth_year", "[\"band:5\",5]", NULL, NULL, "generalizations.birth_year[1]",
     "must be a rule"},
    {GEN ".postal_prefix", "[\"prefix:\"]", NULL, NULL, "generalizations.postal_prefix[0]",
     "must be a rule"},
    {GEN ".postal_prefix", "[\"prefix:0\"]", NULL, NULL, "generalizations.postal_prefix[0]",
     "must be a rule"},
    {GEN ".sex", "[\"drop:1\"]", NULL, NULL, "generalizations.sex[0]", "must be a rule"},
    {GEN ".sex", "[\"\"]", NULL, NULL, "generalizations.sex[0]", "must be a rule"},
    /* rare_codes */
    {"rare_codes", "[\"icd10\",\"period\"]", NULL, NULL, "rare_codes[1]", "not a kept list"},
    {"rare_codes", "[\"cost_cents\"]", NULL, NULL, "rare_codes[0]", "not a kept list"},
    {"rare_codes", "[\"atc\"]", "record.service.fields.atc.action", "\"drop\"", "rare_codes[0]",
     "not a kept list"},
    {"rare_codes", "[\"no_such\"]", NULL, NULL, "rare_codes[0]", "names no field"},
    {"rare_codes", "[\"kvnr\"]", NULL, NULL, "rare_codes[0]", "object with a json_column"},
    {"rare_codes", "[\"icd10\",\"ops\",\"icd10\"]", NULL, NULL, "rare_codes[2]",
     "already rare_codes[0]"},
    {"rare_codes", "[\"icd10\",null]", NULL, NULL, "rare_codes[1]", "name of a list field"},
    {"rare_codes", "[]", NULL, NULL, "rare_codes", "1..16 list field names"},
    {"rare_codes", "{\"icd10\":1}", NULL, NULL, "rare_codes", "1..16 list field names"},
};

static void test_release_refused(void)
{
    for (size_t i = 0; i < sizeof RELEASE_BAD / sizeof RELEASE_BAD[0]; i++) {
        const release_case *rc = &RELEASE_BAD[i];
        char msg[512] = "", want[192];
        static char sentinel;
        vst_profile *p = (vst_profile *)(void *)&sentinel; /* must be reset to NULL */
        vst_err e = load_edited(rc, &p, msg, sizeof msg);
        snprintf(want, sizeof want, "case.json: %s: ", rc->path);
        int ok = e == VST_E_PROFILE_INVALID && p == NULL && strncmp(msg, want, strlen(want)) == 0 &&
                 strstr(msg, rc->reason) != NULL;
        if (!ok)
            fprintf(stderr, "\n  case %zu (%s = %s): want \"%s\" \"%s\", got %s: %s\n", i, rc->at,
                    rc->json ? rc->json : "(removed)", want, rc->reason, vst_err_code(e), msg);
        CU_ASSERT(ok);
        vst_profile_free(p);
    }
}

/* What may be left out or varied, and still loads. */
static void test_release_optional(void)
{
    static const release_case ok[] = {
        {GEN, NULL, QI, NULL, "", ""},           /* rare_codes alone */
        {GEN, NULL, "rare_codes", NULL, "", ""}, /* quasi-identifiers alone */
        {GEN, "{\"birth_year\":[\"band:2\",\"band:10\",\"band:50\",\"band:100\"]}", NULL, NULL, "",
         ""},
        {GEN ".sex", "[\"prefix:1\"]", NULL, NULL, "", ""}, /* a kept text: no length known */
        {"rare_codes", "[\"ebm\"]", NULL, NULL, "", ""},
    };
    static const char *const hundred[] = {"band:2", "band:10", "band:50", "band:100", NULL};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        vst_profile *p = NULL;
        char msg[512] = "";
        vst_err e = load_edited(&ok[i], &p, msg, sizeof msg);
        if (e != VST_E_OK)
            fprintf(stderr, "\n  case %zu: %s\n", i, msg);
        CU_ASSERT_EQUAL_FATAL(e, VST_E_OK);
        switch (i) {
        case 0:
            CU_ASSERT_EQUAL(vst_profile_nqi(p), 0);
            CU_ASSERT_EQUAL(vst_profile_nrare(p), 3);
            expect_ladder(p, "birth_year", NONE);
            break;
        case 1:
            CU_ASSERT_EQUAL(vst_profile_nqi(p), 4);
            CU_ASSERT_EQUAL(vst_profile_nrare(p), 0);
            CU_ASSERT_PTR_NULL(vst_profile_rare_column(p));
            expect_ladder(p, "sex", NONE);
            break;
        case 2:
            expect_ladder(p, "birth_year", hundred);
            expect_ladder(p, "postal_prefix", NONE);
            break;
        default:
            break;
        }
        vst_profile_free(p);
    }
}

static void test_gen_rule_parse(void)
{
    static const struct {
        const char *s;
        vst_gen_kind kind;
        unsigned n;
    } good[] = {
        {"band:2", VST_GEN_BAND, 2},       {"band:5", VST_GEN_BAND, 5},
        {"band:10", VST_GEN_BAND, 10},     {"band:100", VST_GEN_BAND, 100},
        {"prefix:1", VST_GEN_PREFIX, 1},   {"prefix:9", VST_GEN_PREFIX, 9},
        {"prefix:16", VST_GEN_PREFIX, 16}, {"drop", VST_GEN_DROP, 0},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        vst_gen_kind kind = VST_GEN_NONE;
        unsigned n = 99;
        CU_ASSERT_EQUAL(vst_gen_rule_parse(good[i].s, &kind, &n), 0);
        CU_ASSERT_EQUAL(kind, good[i].kind);
        CU_ASSERT_EQUAL(n, good[i].n);
    }
    static const char *const bad[] = {
        "",          "band",       "band:",     "band:0",    "band:1",    "band:101",
        "band:1000", "band:x",     "band:5x",   "band:-5",   "band:+5",   "band: 5",
        "band:05",   "band:5 ",    "band:5\n",  "Band:5",    "band=5",    "band:4294967301",
        "prefix",    "prefix:",    "prefix:0",  "prefix:17", "prefix:01", "prefix:1.0",
        "drop:1",    "drop ",      " drop",     "DROP",      "dro",       "drops",
        "year",      "prefix:1:2", "band:5:10", NULL};
    for (size_t i = 0; bad[i] != NULL; i++) {
        vst_gen_kind kind = VST_GEN_BAND;
        unsigned n = 99;
        int rc = vst_gen_rule_parse(bad[i], &kind, &n);
        if (rc != -1)
            fprintf(stderr, "\n  \"%s\" parsed\n", bad[i]);
        CU_ASSERT_EQUAL(rc, -1);
        CU_ASSERT_EQUAL(kind, VST_GEN_NONE);
        CU_ASSERT_EQUAL(n, 0);
    }
    vst_gen_kind kind = VST_GEN_BAND;
    unsigned n = 99;
    CU_ASSERT_EQUAL(vst_gen_rule_parse(NULL, &kind, &n), -1);
    CU_ASSERT_EQUAL(kind, VST_GEN_NONE);
}

int vst_register_tests(void)
{
    static const vst_test records[] = {
        {"sgb5 profile accessors", test_sgb5_accessors},
        {"sgb5 full record, field by field", test_sgb5_full_record},
        {"sgb5 provider with IK", test_sgb5_provider_ik},
        {"sgb5 provider variants and no provider", test_sgb5_provider_variants},
        {"sgb5 insured variants (status 3, KVNR canonical, dates)", test_sgb5_insured_variants},
        {"sgb5 service variants", test_sgb5_service_variants},
        {"line framing: CRLF, max_line_bytes", test_sgb5_line_framing},
        {"measles: a second collection", test_measles},
        {"JSON column next to plain columns", test_json_column_mixed},
        {"dropped lists are checked, not written", test_dropped_list},
        {"JSON column of a maximum line of escapes fits", test_json_column_escapes_fit},
        {"sgb5: escaped forms of every kept value", test_sgb5_escaped_values},
        {"measles: escaped forms of every kept value", test_measles_escaped_values},
        {"bounded integer conversion, terminated decoded strings", test_bounded_conversions},
        {NULL, NULL}};
    static const vst_test rejections[] = {
        {"unknown fields (identifier-like keys by position)", test_reject_unknown_fields},
        {"wrong types", test_reject_wrong_types},
        {"impossible and out-of-range dates", test_reject_dates},
        {"codes outside their pattern or enum", test_reject_codes},
        {"identifiers: check digit, length, syntax", test_reject_identifiers},
        {"duplicate keys, invalid UTF-8, invalid JSON", test_reject_duplicates_and_utf8},
        {"empty, too long, not an object", test_reject_line_shape},
        {"missing, null, conflicting, too many, out of range", test_reject_structure},
        {"several errors in one line", test_several_errors},
        {"error list capacity", test_error_capacity},
        {NULL, NULL}};
    static const vst_test loading[] = {
        {"shipped and valid profiles load", test_load_shipped},
        {"broken profiles are refused with file and path", test_load_broken},
        {"a profile document in memory", test_load_buffer},
        {NULL, NULL}};
    static const vst_test release[] = {
        {"shipped profiles declare their release keys", test_release_shipped},
        {"release keys refused with file and path", test_release_refused},
        {"release keys are optional", test_release_optional},
        {"generalization rule strings", test_gen_rule_parse},
        {NULL, NULL}};
    VST_ADD_SUITE("profile: records", records);
    VST_ADD_SUITE("profile: rejections", rejections);
    VST_ADD_SUITE("profile: loading", loading);
    VST_ADD_SUITE("profile: release protection keys", release);
    return CUE_SUCCESS;
}
