/* The cells page (server/cli/admin/cells_html.h): pages written from report
 * objects built here -- a normal report, one with every class below k, an
 * empty store, k inside a histogram bucket, hostile strings -- checked for
 * structure (the tags of a set closed in order, the charts there, nothing
 * fetched, no script), escaping, counts and percentages, and refusals.
 * tests/admin/test_cells_html_render.sh opens a page in a browser. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin/cells_html.h"
#include "cli/admin/cells_html_parts.h"
#include "cunit_main.h"

/* The report of issue 11's example, with a little of everything. */
static const char NORMAL[] =
    "{\"report\":\"vst/cells/1\",\"profile\":\"sgb5\",\"table\":\"sgb5.records\",\"k\":5,"
    "\"quasi_identifiers\":[\"birth_year\",\"sex\",\"postal_prefix\",\"insurance_status\"],"
    "\"generalize\":{\"birth_year\":\"band:5\",\"insurance_status\":\"drop\"},"
    "\"created\":\"2026-12-04T23:59:59Z\",\"rows\":1000,\"persons\":800,\"key_versions\":1,"
    "\"classes\":649,\"classes_below_k\":641,\"persons_below_k\":690,\"rows_below_k\":850,"
    "\"histogram\":[{\"size\":\"1\",\"classes\":600,\"persons\":600},"
    "{\"size\":\"2\",\"classes\":35,\"persons\":70},{\"size\":\"3\",\"classes\":4,\"persons\":12},"
    "{\"size\":\"4\",\"classes\":2,\"persons\":8},{\"size\":\"5-9\",\"classes\":6,\"persons\":40},"
    "{\"size\":\"10-49\",\"classes\":2,\"persons\":70},{\"size\":\"50+\",\"classes\":0,"
    "\"persons\":0}],"
    "\"per_quasi_identifier\":[{\"column\":\"birth_year\",\"values\":18,\"persons_below_k\":3},"
    "{\"column\":\"postal_prefix\",\"values\":95,\"persons_below_k\":41}],"
    "\"smallest\":[{\"values\":{\"birth_year\":\"1930-1934\",\"sex\":\"W\","
    "\"postal_prefix\":\"01\"},\"persons\":1},{\"values\":{\"birth_year\":\"1985-1989\","
    "\"sex\":\"M\",\"postal_prefix\":\"80\"},\"persons\":3}],"
    "\"suggestions\":[{\"column\":\"birth_year\",\"rule\":\"band:10\",\"classes_below_k\":520,"
    "\"persons_below_k\":560},{\"column\":\"postal_prefix\",\"rule\":\"prefix:1\","
    "\"classes_below_k\":10,\"persons_below_k\":20}],"
    "\"rare_codes\":[{\"list\":\"icd10\",\"code\":\"Q87.1\",\"persons\":2}],"
    "\"rare_codes_total\":7,\"audit_seq\":1234,\"signature\":"
    "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}";

static json_t *normal(void)
{
    json_t *r = json_loads(NORMAL, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    return r;
}

/* The page of r, or NULL if the writer failed (rc in *rc). */
static char *page(const json_t *r, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    *rc = vst_cells_html_write(r, f);
    fclose(f);
    if (*rc != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static char *page_ok(const json_t *r)
{
    int rc;
    char *p = page(r, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    return p;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* The elements the page opens and must close, in order. */
static const char *const PAIRED[] = {
    "html",   "head", "body",  "main",       "header", "footer", "section", "table", "thead",
    "tbody",  "tr",   "th",    "td",         "svg",    "g",      "text",    "title", "desc",
    "figure", "p",    "dl",    "dt",         "dd",     "code",   "pre",     "defs",  "pattern",
    "strong", "b",    "tspan", "figcaption", "div",    "span",   "style",   "em",    NULL};

static int paired(const char *name)
{
    for (size_t i = 0; PAIRED[i] != NULL; i++)
        if (strcmp(PAIRED[i], name) == 0)
            return 1;
    return 0;
}

/* Every element of PAIRED opened in html is closed, innermost first;
 * returns 1, or 0 with the offending place printed. Tags outside PAIRED
 * (meta, br, rect, line) are skipped. */
static int well_formed(const char *html)
{
    char stack[256][16];
    size_t depth = 0;
    for (const char *p = strchr(html, '<'); p != NULL; p = strchr(p + 1, '<')) {
        int close = p[1] == '/';
        const char *s = p + 1 + close;
        char name[16];
        size_t n = 0;
        while (isalnum((unsigned char)s[n]) && n < sizeof name - 1) {
            name[n] = (char)tolower((unsigned char)s[n]);
            n++;
        }
        name[n] = '\0';
        const char *end = strchr(s, '>');
        if (end == NULL || !paired(name) || (!close && end[-1] == '/'))
            continue;
        if (!close) {
            if (depth == 256)
                return 0;
            strcpy(stack[depth++], name);
        } else if (depth == 0 || strcmp(stack[--depth], name) != 0) {
            fprintf(stderr, "\n  </%s> closes <%s> at: %.60s\n", name, depth ? stack[depth] : "",
                    p);
            return 0;
        }
    }
    if (depth != 0)
        fprintf(stderr, "\n  <%s> left open\n", stack[depth - 1]);
    return depth == 0;
}

/* What every page must be: well formed, self-contained, without script. */
static void check_page(const char *p)
{
    CU_ASSERT(strncmp(p, "<!DOCTYPE html>\n", 16) == 0);
    CU_ASSERT(well_formed(p));
    CU_ASSERT_PTR_NULL(strstr(p, "http://"));
    CU_ASSERT_PTR_NULL(strstr(p, "https://"));
    CU_ASSERT_PTR_NULL(strstr(p, "<script"));
    CU_ASSERT_PTR_NULL(strstr(p, "<img"));
    CU_ASSERT_PTR_NULL(strstr(p, "<link"));
    CU_ASSERT_PTR_NULL(strstr(p, "@import"));
    CU_ASSERT_PTR_NULL(strstr(p, "url(h"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "<title id=\"sizes-t\">"));
    CU_ASSERT(strstr(p, "</html>\n") != NULL && strstr(p, "</html>\n")[8] == '\0');
}

static void test_normal(void)
{
    json_t *r = normal();
    char *p = page_ok(r);
    check_page(p);
    CU_ASSERT_EQUAL(count(p, "<svg "), 3); /* histogram, per quasi-identifier, suggestions */
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "<title id=\"per-qi-c-t\">"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "<title id=\"next-c-t\">"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "k-anonymous at k=5: <strong>no</strong>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "690 of 800 persons (86.3\xc2\xa0%)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "<b>641</b>classes below k<br><span class=\"muted\">of 649 "
                                     "(98.8\xc2\xa0%)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "of 1,000 (85.0\xc2\xa0%)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, ">600 classes</text>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, ">35 classes</text>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, ">0 classes</text>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "95 distinct values"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "<b>best step:</b> 670 fewer"));
    CU_ASSERT_EQUAL(count(p, "best step:"), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "The one step that helps most: <code>postal_prefix</code> "
                                     "&rarr; <code>prefix:1</code> (first 1 character) leaves "
                                     "20 persons (2.5\xc2\xa0%) below k."));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "<strong>600 persons (75.0\xc2\xa0%) are alone in their "
                                     "class</strong>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "130 fewer"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "<code>band:5</code> (bands of 5)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "(left out)")); /* insurance_status dropped */
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "Q87.1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "1 of 7 shown"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "1234 (this report"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "vst-audit verify-report FILE.json"));
    /* The signature in two lines of 64. */
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "aabbccddeeff\n0123456789abcdef"));
    /* k=5: buckets 1..4 at risk (and the legend's swatch), 5-9 on. */
    CU_ASSERT_EQUAL(count(p, "fill=\"url(#sizes-hatch)\""), 5);
    CU_ASSERT_EQUAL(count(p, "fill=\"#2563a8\""), 4);
    CU_ASSERT_PTR_NULL(strstr(p, "<figcaption"));
    free(p);
    json_decref(r);
}

/* k=7 falls inside "5-9": the bucket is drawn at risk (its lower bound is
 * below k) and a caption says why; k=2 leaves only "1" at risk. */
static void test_k_inside_bucket(void)
{
    json_t *r = normal();
    json_object_set_new(r, "k", json_integer(7));
    char *p = page_ok(r);
    check_page(p);
    CU_ASSERT_EQUAL(count(p, "fill=\"url(#sizes-hatch)\""), 6);
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "<figcaption class=\"note\">The bucket 5-9 holds classes "
                                     "below k=7"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, ">k = 7</text>"));
    free(p);
    json_object_set_new(r, "k", json_integer(2));
    p = page_ok(r);
    CU_ASSERT_EQUAL(count(p, "fill=\"url(#sizes-hatch)\""), 2);
    CU_ASSERT_PTR_NULL(strstr(p, "<figcaption"));
    free(p);
    json_decref(r);
}

/* The best step: the first of equals, "no one" when it reaches 0, none
 * when no step helps. */
static void test_best_step(void)
{
    json_t *r = normal();
    json_t *sug = json_object_get(r, "suggestions");
    json_object_set_new(json_array_get(sug, 0), "persons_below_k", json_integer(0));
    json_object_set_new(json_array_get(sug, 1), "persons_below_k", json_integer(0));
    char *p = page_ok(r);
    CU_ASSERT_EQUAL(count(p, "best step:"), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "<tr class=\"best\"><td><code>birth_year</code>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "(bands of 10) leaves no one below k."));
    CU_ASSERT_EQUAL(count(p, "0: no one below k"), 2);
    free(p);
    json_object_set_new(json_array_get(sug, 0), "persons_below_k", json_integer(690));
    json_object_set_new(json_array_get(sug, 1), "persons_below_k", json_integer(700));
    p = page_ok(r);
    check_page(p);
    CU_ASSERT_PTR_NULL(strstr(p, "best step:"));
    CU_ASSERT_PTR_NULL(strstr(p, "helps most"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "no change"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "10 more"));
    free(p);
    json_decref(r);
}

/* Every class below k: every bucket at risk, 100 %, the k line at the
 * right end. */
static void test_all_below(void)
{
    json_t *r = normal();
    json_object_set_new(r, "k", json_integer(100));
    json_object_set_new(r, "persons_below_k", json_integer(800));
    json_object_set_new(r, "classes_below_k", json_integer(649));
    json_object_set_new(r, "rows_below_k", json_integer(1000));
    char *p = page_ok(r);
    check_page(p);
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "k-anonymous at k=100: <strong>no</strong>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "800 of 800 persons (100.0\xc2\xa0%)"));
    CU_ASSERT_EQUAL(count(p, "fill=\"url(#sizes-hatch)\""), 8);
    CU_ASSERT_EQUAL(count(p, "fill=\"#2563a8\""), 1); /* the legend only */
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "text-anchor=\"end\" font-size=\"14\" font-weight=\"bold\" "
                                     "fill=\"#1b1f24\">k = 100</text>"));
    free(p);
    json_decref(r);
}

/* An empty store: every count 0, nothing divided by zero (UBSan would
 * stop the test), the verdict in words. */
static void test_empty_store(void)
{
    json_t *r = json_pack(
        "{s:s,s:s,s:s,s:i,s:[s,s],s:{},s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:[{s:s,s:i,s:i},"
        "{s:s,s:i,s:i}],s:[{s:s,s:i,s:i}],s:[],s:[],s:i}",
        "report", "vst/cells/1", "profile", "measles", "table", "measles.records", "k", 5,
        "quasi_identifiers", "birth_year", "sex", "generalize", "created", "2026-12-04T23:59:59Z",
        "rows", 0, "persons", 0, "key_versions", 0, "classes", 0, "classes_below_k", 0,
        "persons_below_k", 0, "rows_below_k", 0, "histogram", "size", "1", "classes", 0, "persons",
        0, "size", "50+", "classes", 0, "persons", 0, "per_quasi_identifier", "column", "sex",
        "values", 0, "persons_below_k", 0, "smallest", "suggestions", "audit_seq", 9);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    char *p = page_ok(r);
    check_page(p);
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "k-anonymous at k=5: <strong>yes</strong>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "holds no person"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "none: values counted as stored"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "No class is held by fewer than k persons"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "This report is not signed"));
    CU_ASSERT_PTR_NULL(strstr(p, "n/a"));
    CU_ASSERT_PTR_NULL(strstr(p, "nan"));
    CU_ASSERT_PTR_NULL(strstr(p, "Rare codes")); /* no --rare-codes */
    CU_ASSERT_PTR_NULL(strstr(p, "alone in"));
    CU_ASSERT_EQUAL(count(p, "<svg "), 2); /* no suggestion: no third chart */
    free(p);
    /* Counts that contradict each other: the verdict follows the persons
     * below k, with no percentage of nobody. */
    json_object_set_new(r, "persons_below_k", json_integer(3));
    p = page_ok(r);
    check_page(p);
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "k-anonymous at k=5: <strong>no</strong>"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "3 of 0 persons (n/a)"));
    CU_ASSERT_PTR_NULL(strstr(p, "holds no person"));
    free(p);
    json_decref(r);
}

/* The normal report with v in every string that comes from the database. */
static json_t *with_value(const char *v)
{
    json_t *r = normal();
    json_object_set_new(r, "table", json_string(v));
    json_object_set_new(r, "profile", json_string(v));
    json_object_set_new(r, "created", json_string(v));
    json_object_set_new(r, "signature", json_string(v));
    json_object_set_new(r, "quasi_identifiers", json_pack("[s,s]", v, "sex"));
    json_object_set_new(r, "generalize", json_pack("{s:s}", v, v));
    json_object_set_new(r, "histogram",
                        json_pack("[{s:s,s:i,s:i}]", "size", v, "classes", 1, "persons", 1));
    json_object_set_new(
        r, "per_quasi_identifier",
        json_pack("[{s:s,s:i,s:i}]", "column", v, "values", 1, "persons_below_k", 1));
    json_object_set_new(r, "smallest",
                        json_pack("[{s:{s:s,s:s},s:i}]", "values", v, v, "sex", v, "persons", 1));
    json_object_set_new(r, "suggestions",
                        json_pack("[{s:s,s:s,s:i,s:i}]", "column", v, "rule", v, "classes_below_k",
                                  1, "persons_below_k", 1));
    json_object_set_new(r, "rare_codes",
                        json_pack("[{s:s,s:s,s:i}]", "list", v, "code", v, "persons", 1));
    return r;
}

/* Values from the database are text on the page, never markup: nothing of
 * a hostile value is left raw, and it is shown (escaped) wherever a
 * harmless value of the same length is. */
static void test_hostile_strings(void)
{
    const char *evil = "<script>alert(1)</script>\"&'\x01";
    const char *escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;&#39;\xef\xbf\xbd";
    const char *plain = "ABCDEFGHIJKLMNOPQRSTUVWXYZabc"; /* as long as evil */
    CU_ASSERT_EQUAL_FATAL(strlen(plain), strlen(evil));
    json_t *r = with_value(evil), *rp = with_value(plain);
    char *p = page_ok(r), *pp = page_ok(rp);
    check_page(p);
    CU_ASSERT_PTR_NULL(strstr(p, "alert(1)</script>"));
    CU_ASSERT_PTR_NULL(strstr(p, "\"&'"));
    CU_ASSERT_PTR_NULL(strchr(p, '\x01'));
    CU_ASSERT(count(pp, plain) >= 20); /* every place a value is printed in full */
    CU_ASSERT_EQUAL(count(p, escaped), count(pp, plain));
    free(p);
    free(pp);
    json_decref(r);
    json_decref(rp);
}

/* Not a cells report, or nowhere to write: -1. */
static void test_refusals(void)
{
    int rc;
    json_t *r = normal();
    json_t *arr = json_array();
    CU_ASSERT_PTR_NULL(page(arr, &rc));
    CU_ASSERT_EQUAL(rc, -1);
    json_object_set_new(r, "report", json_string("vst/overlap/1"));
    CU_ASSERT_PTR_NULL(page(r, &rc));
    CU_ASSERT_EQUAL(rc, -1);
    json_object_del(r, "report");
    CU_ASSERT_PTR_NULL(page(r, &rc));
    json_object_set_new(r, "report", json_string("vst/cells/1"));
    FILE *full = fopen("/dev/full", "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(full);
    CU_ASSERT_EQUAL(vst_cells_html_write(r, full), -1);
    fclose(full);
    json_decref(arr);
    json_decref(r);
}

/* Counts the report holds as something else than a count read as 0. */
static void test_mistyped_counts(void)
{
    json_t *r = normal();
    json_object_set_new(r, "persons", json_string("800"));
    json_object_set_new(r, "persons_below_k", json_integer(-5));
    json_object_set_new(r, "rows", json_real(1000.0));
    json_object_set_new(r, "classes", json_integer(CH_COUNT_MAX * 9));
    char *p = page_ok(r);
    check_page(p);
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "0 rows of 0 persons"));
    CU_ASSERT_PTR_NOT_NULL(strstr(p, "of 1,000,000,000,000,000 ("));
    free(p);
    json_decref(r);
}

static void test_numbers(void)
{
    char n[CH_NUM_LEN], p[CH_PCT_LEN], w[64];
    CU_ASSERT_STRING_EQUAL(ch_num(0, n), "0");
    CU_ASSERT_STRING_EQUAL(ch_num(999, n), "999");
    CU_ASSERT_STRING_EQUAL(ch_num(1000, n), "1,000");
    CU_ASSERT_STRING_EQUAL(ch_num(1234567, n), "1,234,567");
    CU_ASSERT_STRING_EQUAL(ch_num(-1234, n), "-1,234");
    CU_ASSERT_STRING_EQUAL(ch_pct(690, 800, p), "86.3\xc2\xa0%");
    CU_ASSERT_STRING_EQUAL(ch_pct(1, 3, p), "33.3\xc2\xa0%");
    CU_ASSERT_STRING_EQUAL(ch_pct(2, 3, p), "66.7\xc2\xa0%");
    CU_ASSERT_STRING_EQUAL(ch_pct(0, 5, p), "0.0\xc2\xa0%");
    CU_ASSERT_STRING_EQUAL(ch_pct(5, 5, p), "100.0\xc2\xa0%");
    CU_ASSERT_STRING_EQUAL(ch_pct(1, 1000000, p), "< 0.1\xc2\xa0%");
    CU_ASSERT_STRING_EQUAL(ch_pct(999999, 1000000, p), "> 99.9\xc2\xa0%");
    CU_ASSERT_STRING_EQUAL(ch_pct(0, 0, p), "n/a");
    CU_ASSERT_STRING_EQUAL(ch_pct(CH_COUNT_MAX, CH_COUNT_MAX, p), "100.0\xc2\xa0%");
    CU_ASSERT_STRING_EQUAL(ch_rule_words("band:10", w, sizeof w), "bands of 10");
    CU_ASSERT_STRING_EQUAL(ch_rule_words("prefix:1", w, sizeof w), "first 1 character");
    CU_ASSERT_STRING_EQUAL(ch_rule_words("prefix:3", w, sizeof w), "first 3 characters");
    CU_ASSERT_STRING_EQUAL(ch_rule_words("drop", w, sizeof w), "left out");
    CU_ASSERT_PTR_NULL(ch_rule_words("band:0", w, sizeof w));
    CU_ASSERT_PTR_NULL(ch_rule_words("band:5x", w, sizeof w));
    CU_ASSERT_PTR_NULL(ch_rule_words("round:5", w, sizeof w));
}

/* Chart labels are cut between characters, never inside one. */
static void test_cut_labels(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    ch_esc_max(f, "\xc3\xa4\xc3\xb6\xc3\xbc", 2); /* "äöü" */
    fputc('|', f);
    ch_esc_max(f, "a<b", 3);
    fputc('|', f);
    ch_esc_max(f, "abcd", 3);
    fclose(f);
    CU_ASSERT_STRING_EQUAL(buf, "\xc3\xa4\xc3\xb6\xe2\x80\xa6|a&lt;b|abc\xe2\x80\xa6");
    free(buf);
}

int vst_register_tests(void)
{
    static const vst_test tests[] = {
        {"normal report", test_normal},
        {"k inside a histogram bucket", test_k_inside_bucket},
        {"the best step", test_best_step},
        {"every class below k", test_all_below},
        {"empty store", test_empty_store},
        {"hostile strings escaped", test_hostile_strings},
        {"refusals", test_refusals},
        {"mistyped counts", test_mistyped_counts},
        {"numbers and percentages", test_numbers},
        {"chart labels cut between characters", test_cut_labels},
        {NULL, NULL},
    };
    VST_ADD_SUITE("cells page", tests);
    return CUE_SUCCESS;
}
