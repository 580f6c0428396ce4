/* The generator of the linkage example (gen.h, vst-gen --profile
 * measles_case|school_entry; DESIGN.md §13).
 *
 * Suites:
 *   gen_link/library  records: shape and values per profile, determinism per
 *                     seed, the pairing (exactly the M shared children on
 *                     both sides, no child twice, shared lines spread, the
 *                     district kept in ~90 %), the error rate, every error
 *                     kind seen and each record's error classified against
 *                     its error-free twin (so the counts tell the truth),
 *                     wrong arguments refused
 *   gen_link/cli      vst-gen: --help names the new options; the truth files
 *                     of both sides hold exactly s0..s(M-1); the counts line
 *                     on stderr; --overlap > --records refused; the sgb5
 *                     output of before the linkage profiles, byte for byte */
#define _GNU_SOURCE
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/gen/gen.h"
#include "core/civil_time.h"
#include "cunit_main.h"

#define N_BIG 10000

static char line_a[VST_GEN_CHILD_MAX_LINE + 1], line_b[VST_GEN_CHILD_MAX_LINE + 1];

/* ---- checks of one record ------------------------------------------------- */

static int keys_exact(json_t *obj, const char *const *keys, size_t n, const char *optional)
{
    if (!json_is_object(obj))
        return 0;
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        if (json_object_get(obj, keys[i]) == NULL)
            return 0;
        found++;
    }
    if (optional != NULL && json_object_get(obj, optional) != NULL)
        found++;
    return found == json_object_size(obj);
}

static int nonempty_string(json_t *v)
{
    return json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < 200;
}

static int int_in(json_t *v, json_int_t lo, json_int_t hi)
{
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

static int digits(const char *s, size_t n)
{
    if (s == NULL || strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

static int valid_child(json_t *c)
{
    static const char *const keys[] = {"given_names", "family_names", "birth_date", "sex",
                                       "postal_code"};
    if (!keys_exact(c, keys, 5, "birth_name"))
        return 0;
    json_t *birth = json_object_get(c, "birth_name");
    const char *d = json_string_value(json_object_get(c, "birth_date"));
    const char *sex = json_string_value(json_object_get(c, "sex"));
    if (!nonempty_string(json_object_get(c, "given_names")) ||
        !nonempty_string(json_object_get(c, "family_names")) ||
        (birth != NULL && !nonempty_string(birth)) || d == NULL || strlen(d) != 10 || sex == NULL ||
        strlen(sex) != 1 || strchr("MWDX", sex[0]) == NULL ||
        !digits(json_string_value(json_object_get(c, "postal_code")), 5))
        return 0;
    int y = atoi(d), m = atoi(d + 5), day = atoi(d + 8);
    char yyyy[5] = {d[0], d[1], d[2], d[3], '\0'};
    return digits(yyyy, 4) && d[4] == '-' && d[7] == '-' && y >= 2016 && y <= 2020 &&
           vst_date_valid(y, (unsigned)m, (unsigned)day);
}

static int valid_district(json_t *v)
{
    const char *s = json_string_value(v);
    return digits(s, 5) && strncmp(s, "064", 3) == 0;
}

/* Exactly the fields of the profile, with values in range. */
static int valid_record(const char *line, vst_gen_profile profile)
{
    json_error_t err;
    json_t *r = json_loads(line, JSON_REJECT_DUPLICATES, &err);
    int ok = 0;
    if (profile == VST_GEN_PROFILE_MEASLES_CASE) {
        static const char *const top[] = {"child", "case"}, *const sec[] = {"year", "district",
                                                                            "follow_up"};
        json_t *s = json_object_get(r, "case");
        ok = keys_exact(r, top, 2, NULL) && keys_exact(s, sec, 3, NULL) &&
             int_in(json_object_get(s, "year"), 2023, 2025) &&
             valid_district(json_object_get(s, "district")) &&
             json_is_boolean(json_object_get(s, "follow_up"));
    } else {
        static const char *const top[] = {"child", "exam"}, *const sec[] = {"school_year",
                                                                            "district",
                                                                            "measles_doses"};
        json_t *s = json_object_get(r, "exam");
        ok = keys_exact(r, top, 2, NULL) && keys_exact(s, sec, 3, NULL) &&
             int_in(json_object_get(s, "school_year"), 2023, 2025) &&
             valid_district(json_object_get(s, "district")) &&
             int_in(json_object_get(s, "measles_doses"), 0, 2);
    }
    ok = ok && valid_child(json_object_get(r, "child"));
    json_decref(r);
    return ok;
}

/* ---- gen_link/library ----------------------------------------------------- */

static void test_records_valid(void)
{
    for (int p = VST_GEN_PROFILE_MEASLES_CASE; p <= VST_GEN_PROFILE_SCHOOL_ENTRY; p++) {
        vst_gen_child *g = vst_gen_child_new(77, (vst_gen_profile)p, N_BIG, 3000, 0.3);
        CU_ASSERT_PTR_NOT_NULL_FATAL(g);
        unsigned bad = 0, birth = 0, double_given = 0, double_family = 0, umlaut = 0;
        char id[VST_GEN_CHILD_ID_MAX];
        for (uint64_t l = 0; l < N_BIG; l++) {
            size_t len = vst_gen_child_record(g, l, line_a, sizeof line_a, id);
            bad += len == 0 || strlen(line_a) != len || !valid_record(line_a, (vst_gen_profile)p);
            birth += strstr(line_a, "\"birth_name\"") != NULL;
            const char *gv = strstr(line_a, "\"given_names\":\""), *fm = strstr(line_a, "\",\"f");
            double_given += memchr(gv, ' ', (size_t)(fm - gv)) != NULL;
            const char *bd = strstr(line_a, "\"birth_date\"");
            double_family += memchr(fm, '-', (size_t)(bd - fm)) != NULL;
            umlaut += strstr(line_a, "\xC3\xBC") != NULL || strstr(line_a, "\xC3\xB6") != NULL ||
                      strstr(line_a, "\xC3\xA4") != NULL || strstr(line_a, "\xC3\x9F") != NULL;
        }
        CU_ASSERT_EQUAL(bad, 0);
        CU_ASSERT_EQUAL(birth, vst_gen_child_errors(g)[VST_GEN_ERR_BIRTHNAME]);
        /* ~15 % double given names, ~8 % double family names, umlauts common */
        CU_ASSERT(double_given > N_BIG * 12 / 100 && double_given < N_BIG * 18 / 100);
        CU_ASSERT(double_family > N_BIG * 6 / 100 && double_family < N_BIG * 11 / 100);
        CU_ASSERT(umlaut > N_BIG * 20 / 100);
        CU_ASSERT_EQUAL(vst_gen_child_record(g, N_BIG, line_a, sizeof line_a, id), 0);
        vst_gen_child_free(g);
    }
}

static void test_deterministic(void)
{
    vst_gen_child *g1 = vst_gen_child_new(5, VST_GEN_PROFILE_SCHOOL_ENTRY, 3000, 1000, 0.2);
    vst_gen_child *g2 = vst_gen_child_new(5, VST_GEN_PROFILE_SCHOOL_ENTRY, 3000, 1000, 0.2);
    vst_gen_child *g3 = vst_gen_child_new(6, VST_GEN_PROFILE_SCHOOL_ENTRY, 3000, 1000, 0.2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g3);
    unsigned differ = 0, same_other_seed = 0;
    char ia[VST_GEN_CHILD_ID_MAX], ib[VST_GEN_CHILD_ID_MAX];
    for (uint64_t l = 0; l < 3000; l++) {
        /* g2 backwards: a record is a function of its line alone */
        vst_gen_child_record(g1, l, line_a, sizeof line_a, ia);
        vst_gen_child_record(g2, 2999 - l, line_b, sizeof line_b, ib);
        vst_gen_child_record(g2, l, line_b, sizeof line_b, ib);
        differ += strcmp(line_a, line_b) != 0 || strcmp(ia, ib) != 0;
        vst_gen_child_record(g3, l, line_b, sizeof line_b, ib);
        same_other_seed += strcmp(line_a, line_b) == 0;
    }
    CU_ASSERT_EQUAL(differ, 0);
    CU_ASSERT_EQUAL(same_other_seed, 0);
    /* the same counts, whatever the order */
    for (int k = 0; k < VST_GEN_ERR__COUNT; k++)
        CU_ASSERT_EQUAL(vst_gen_child_errors(g1)[k] * 2, vst_gen_child_errors(g2)[k]);
    /* a buffer too small: 0, nothing counted */
    uint64_t before = vst_gen_child_errors(g1)[VST_GEN_ERR_TYPO];
    for (uint64_t l = 0; l < 100; l++)
        CU_ASSERT_EQUAL(vst_gen_child_record(g1, l, line_a, 20, ia), 0);
    CU_ASSERT_EQUAL(vst_gen_child_errors(g1)[VST_GEN_ERR_TYPO], before);
    vst_gen_child_free(g1);
    vst_gen_child_free(g2);
    vst_gen_child_free(g3);
}

/* The ids of a side, in line order, as one JSON array (ids are short). */
static json_t *side_ids(uint64_t seed, vst_gen_profile p, uint64_t n, uint64_t m)
{
    vst_gen_child *g = vst_gen_child_new(seed, p, n, m, VST_GEN_ERRORS_DEFAULT);
    if (g == NULL)
        return NULL;
    json_t *ids = json_array();
    char id[VST_GEN_CHILD_ID_MAX];
    for (uint64_t l = 0; l < n; l++) {
        vst_gen_child_record(g, l, line_a, sizeof line_a, id);
        json_array_append_new(ids, json_string(id));
    }
    vst_gen_child_free(g);
    return ids;
}

/* The side's ids: all distinct, the shared ones exactly s0..s(m-1), the
 * others <own>0..<own>(n-m-1); *first_half counts shared ids in lines < n/2. */
static int ids_exact(json_t *ids, uint64_t n, uint64_t m, char own, uint64_t *first_half)
{
    char *seen = calloc(n, 1);
    int ok = seen != NULL && json_array_size(ids) == n;
    *first_half = 0;
    for (size_t l = 0; ok && l < n; l++) {
        const char *id = json_string_value(json_array_get(ids, l));
        char *end;
        uint64_t i = strtoull(id + 1, &end, 10);
        int shared = id[0] == 's';
        ok = *end == '\0' && (shared || id[0] == own) && (shared ? i < m : i < n - m);
        uint64_t slot = shared ? i : m + i;
        ok = ok && !seen[slot];
        if (ok)
            seen[slot] = 1;
        *first_half += shared && l < n / 2;
    }
    free(seen);
    return ok; /* n distinct slots out of n: every one seen once */
}

static void test_pairing(void)
{
    static const uint64_t cases[][3] = {{1, 0, 0},        {1, 1, 1},     {2, 1, 2},
                                        {10, 10, 3},      {1000, 0, 4},  {1000, 1000, 5},
                                        {N_BIG, 3000, 6}, {N_BIG, 1, 7}, {4097, 2000, 8}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint64_t n = cases[c][0], m = cases[c][1], seed = cases[c][2], half_a, half_b;
        json_t *a = side_ids(seed, VST_GEN_PROFILE_MEASLES_CASE, n, m);
        json_t *b = side_ids(seed, VST_GEN_PROFILE_SCHOOL_ENTRY, n, m);
        CU_ASSERT_PTR_NOT_NULL_FATAL(a);
        CU_ASSERT_PTR_NOT_NULL_FATAL(b);
        CU_ASSERT(ids_exact(a, n, m, 'a', &half_a));
        CU_ASSERT(ids_exact(b, n, m, 'b', &half_b));
        if (n >= 1000 && m >= 1000 && m < n) { /* spread: not bunched at the start */
            CU_ASSERT(half_a > m * 45 / 100 && half_a < m * 55 / 100);
            CU_ASSERT(half_b > m * 45 / 100 && half_b < m * 55 / 100);
        }
        if (n > 1 && m < n) /* the two sides do not list their children alike */
            CU_ASSERT_FALSE(json_equal(a, b));
        json_decref(a);
        json_decref(b);
    }
}

/* A shared child is the same child on both sides (without errors) and in
 * ~90 % of cases in the same district. */
static void test_shared_same_child(void)
{
    enum { N = 4000, M = 2000 };
    vst_gen_child *ga = vst_gen_child_new(31, VST_GEN_PROFILE_MEASLES_CASE, N, M, 0);
    vst_gen_child *gb = vst_gen_child_new(31, VST_GEN_PROFILE_SCHOOL_ENTRY, N, M, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ga);
    CU_ASSERT_PTR_NOT_NULL_FATAL(gb);
    json_t *child_of = json_object(), *district_of = json_object();
    char id[VST_GEN_CHILD_ID_MAX];
    for (uint64_t l = 0; l < N; l++) {
        vst_gen_child_record(ga, l, line_a, sizeof line_a, id);
        json_t *r = json_loads(line_a, 0, NULL);
        json_object_set(child_of, id, json_object_get(r, "child"));
        json_object_set(district_of, id, json_object_get(json_object_get(r, "case"), "district"));
        json_decref(r);
    }
    unsigned shared = 0, same_child = 0, same_district = 0;
    for (uint64_t l = 0; l < N; l++) {
        vst_gen_child_record(gb, l, line_b, sizeof line_b, id);
        if (id[0] != 's')
            continue;
        json_t *r = json_loads(line_b, 0, NULL);
        shared++;
        same_child += json_equal(json_object_get(r, "child"), json_object_get(child_of, id));
        same_district += json_equal(json_object_get(json_object_get(r, "exam"), "district"),
                                    json_object_get(district_of, id));
        json_decref(r);
    }
    CU_ASSERT_EQUAL(shared, M);
    CU_ASSERT_EQUAL(same_child, M);
    CU_ASSERT(same_district > M * 85 / 100 && same_district < M * 95 / 100);
    json_decref(child_of);
    json_decref(district_of);
    vst_gen_child_free(ga);
    vst_gen_child_free(gb);
}

static uint64_t total_errors(const vst_gen_child *g)
{
    uint64_t t = 0;
    for (int k = 0; k < VST_GEN_ERR__COUNT; k++)
        t += vst_gen_child_errors(g)[k];
    return t;
}

static void test_error_rate(void)
{
    static const double rates[] = {0.0, 0.05, 0.2, 1.0};
    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        vst_gen_child *g = vst_gen_child_new(99, VST_GEN_PROFILE_MEASLES_CASE, N_BIG, 0, rates[r]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(g);
        char id[VST_GEN_CHILD_ID_MAX];
        for (uint64_t l = 0; l < N_BIG; l++)
            vst_gen_child_record(g, l, line_a, sizeof line_a, id);
        double got = (double)total_errors(g) / N_BIG;
        /* binomial: sd <= 0.005 at N = 10^4; 0.015 is 3 sd */
        CU_ASSERT(got >= rates[r] - 0.015 && got <= rates[r] + 0.015);
        if (rates[r] == 0.0 || rates[r] == 1.0)
            CU_ASSERT_EQUAL(got, rates[r]);
        vst_gen_child_free(g);
    }
}

/* ---- classifying an error against the error-free record -------------------- */

typedef struct {
    uint32_t c[200];
    size_t n;
} cps;

static void decode(const char *s, cps *o)
{
    const unsigned char *u = (const unsigned char *)s;
    o->n = 0;
    while (*u != 0 && o->n < 200) {
        if (*u < 0x80) {
            o->c[o->n++] = *u++;
        } else {
            o->c[o->n++] = ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
            u += 2;
        }
    }
}

static uint32_t fold(uint32_t v)
{
    if ((v >= 'A' && v <= 'Z') || (v >= 0xC0 && v <= 0xDE && v != 0xD7))
        return v + 0x20;
    return v == 0x15E ? 0x15F : v;
}

/* Equal but for letter case and spaces. */
static int same_but_case(const char *x, const char *y)
{
    cps a, b;
    decode(x, &a);
    decode(y, &b);
    size_t i = 0, j = 0;
    for (;;) {
        while (i < a.n && a.c[i] == ' ')
            i++;
        while (j < b.n && b.c[j] == ' ')
            j++;
        if (i == a.n || j == b.n)
            return i == a.n && j == b.n;
        if (fold(a.c[i++]) != fold(b.c[j++]))
            return 0;
    }
}

/* One letter substituted, dropped or two neighbours transposed. */
static int one_edit(const char *x, const char *y)
{
    cps a, b;
    decode(x, &a);
    decode(y, &b);
    size_t p = 0;
    while (p < a.n && p < b.n && a.c[p] == b.c[p])
        p++;
    if (a.n == b.n + 1) /* dropped */
        return memcmp(&a.c[p + 1], &b.c[p], (b.n - p) * sizeof a.c[0]) == 0;
    if (a.n != b.n || p == a.n)
        return 0;
    if (memcmp(&a.c[p + 1], &b.c[p + 1], (a.n - p - 1) * sizeof a.c[0]) == 0)
        return 1; /* substituted */
    return p + 1 < a.n && a.c[p] == b.c[p + 1] && a.c[p + 1] == b.c[p] &&
           memcmp(&a.c[p + 2], &b.c[p + 2], (a.n - p - 2) * sizeof a.c[0]) == 0;
}

/* x with ä ö ü Ä Ö Ü as ae.. (e_form) or a.., ß as ss. */
static void transliterate(const char *x, int e_form, char *out)
{
    static const struct {
        const char *from, *e, *plain;
    } t[] = {{"\xC3\xA4", "ae", "a"}, {"\xC3\xB6", "oe", "o"}, {"\xC3\xBC", "ue", "u"},
             {"\xC3\x84", "Ae", "A"}, {"\xC3\x96", "Oe", "O"}, {"\xC3\x9C", "Ue", "U"},
             {"\xC3\x9F", "ss", "ss"}};
    while (*x != '\0') {
        size_t k = 0;
        while (k < sizeof t / sizeof t[0] && strncmp(x, t[k].from, 2) != 0)
            k++;
        if (k < sizeof t / sizeof t[0]) {
            const char *r = e_form ? t[k].e : t[k].plain;
            out = stpcpy(out, r);
            x += 2;
        } else {
            *out++ = *x++;
        }
    }
    *out = '\0';
}

static int umlaut_spelling(const char *clean, const char *err)
{
    char a[400], b[400];
    transliterate(clean, 1, a);
    transliterate(clean, 0, b);
    return strcmp(clean, err) != 0 && (strcmp(a, err) == 0 || strcmp(b, err) == 0);
}

static const char *field(json_t *child, const char *key)
{
    const char *s = json_string_value(json_object_get(child, key));
    return s != NULL ? s : "";
}

/* The kind that turned clean into err, or VST_GEN_ERR__COUNT when none
 * explains it (or nothing changed). */
static int classify(json_t *clean, json_t *err)
{
    const char *g0 = field(clean, "given_names"), *f0 = field(clean, "family_names");
    const char *g1 = field(err, "given_names"), *f1 = field(err, "family_names");
    const char *d0 = field(clean, "birth_date"), *d1 = field(err, "birth_date");
    int names_same = strcmp(g0, g1) == 0 && strcmp(f0, f1) == 0;
    int date_same = strcmp(d0, d1) == 0;
    if (json_object_get(err, "birth_name") != NULL)
        return strcmp(field(err, "birth_name"), f0) == 0 && strcmp(f0, f1) != 0 &&
                       strcmp(g0, g1) == 0 && date_same
                   ? VST_GEN_ERR_BIRTHNAME
                   : VST_GEN_ERR__COUNT;
    if (!date_same)
        return !names_same || strncmp(d0, d1, 4) != 0 ? VST_GEN_ERR__COUNT
               : strncmp(d0 + 5, d1 + 8, 2) == 0 && strncmp(d0 + 8, d1 + 5, 2) == 0
                   ? VST_GEN_ERR_DAYMONTH
               : strncmp(d0 + 5, d1 + 5, 2) == 0 ? VST_GEN_ERR_DAYTYPO
                                                 : VST_GEN_ERR__COUNT;
    if (strcmp(g0, f1) == 0 && strcmp(f0, g1) == 0)
        return VST_GEN_ERR_SWAP;
    /* exactly one name changed, the other as it was */
    const char *n0 = strcmp(g0, g1) != 0 ? g0 : f0, *n1 = strcmp(g0, g1) != 0 ? g1 : f1;
    if (names_same || (strcmp(g0, g1) != 0 && strcmp(f0, f1) != 0))
        return VST_GEN_ERR__COUNT;
    if (umlaut_spelling(n0, n1))
        return VST_GEN_ERR_UMLAUT;
    if (same_but_case(n0, n1))
        return VST_GEN_ERR_CASE;
    return one_edit(n0, n1) ? VST_GEN_ERR_TYPO : VST_GEN_ERR__COUNT;
}

/* At rate 1 every record errs; each error, compared with the same record
 * at rate 0, is what its kind says, and the counts are those kinds. */
static void test_error_kinds(void)
{
    for (int p = VST_GEN_PROFILE_MEASLES_CASE; p <= VST_GEN_PROFILE_SCHOOL_ENTRY; p++) {
        vst_gen_child *clean = vst_gen_child_new(4, (vst_gen_profile)p, N_BIG, 500, 0.0);
        vst_gen_child *err = vst_gen_child_new(4, (vst_gen_profile)p, N_BIG, 500, 1.0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(clean);
        CU_ASSERT_PTR_NOT_NULL_FATAL(err);
        uint64_t seen[VST_GEN_ERR__COUNT + 1] = {0};
        char ia[VST_GEN_CHILD_ID_MAX], ib[VST_GEN_CHILD_ID_MAX];
        for (uint64_t l = 0; l < N_BIG; l++) {
            vst_gen_child_record(clean, l, line_a, sizeof line_a, ia);
            vst_gen_child_record(err, l, line_b, sizeof line_b, ib);
            CU_ASSERT_STRING_EQUAL(ia, ib);
            json_t *a = json_loads(line_a, 0, NULL), *b = json_loads(line_b, 0, NULL);
            seen[classify(json_object_get(a, "child"), json_object_get(b, "child"))]++;
            json_decref(a);
            json_decref(b);
        }
        CU_ASSERT_EQUAL(seen[VST_GEN_ERR__COUNT], 0);
        for (int k = 0; k < VST_GEN_ERR__COUNT; k++) {
            CU_ASSERT(seen[k] > N_BIG / 100); /* every kind occurs */
            CU_ASSERT_EQUAL(seen[k], vst_gen_child_errors(err)[k]);
        }
        CU_ASSERT_EQUAL(total_errors(clean), 0);
        vst_gen_child_free(clean);
        vst_gen_child_free(err);
    }
}

static void test_refused(void)
{
    CU_ASSERT_PTR_NULL(vst_gen_child_new(1, VST_GEN_PROFILE_MEASLES_CASE, 10, 11, 0.05));
    CU_ASSERT_PTR_NULL(vst_gen_child_new(1, VST_GEN_PROFILE_SCHOOL_ENTRY, 0, 1, 0.05));
    CU_ASSERT_PTR_NULL(vst_gen_child_new(1, VST_GEN_PROFILE_SGB5, 10, 1, 0.05));
    CU_ASSERT_PTR_NULL(vst_gen_child_new(1, VST_GEN_PROFILE_MEASLES_CASE, 10, 1, -0.01));
    CU_ASSERT_PTR_NULL(vst_gen_child_new(1, VST_GEN_PROFILE_MEASLES_CASE, 10, 1, 1.01));
    vst_gen_child *g = vst_gen_child_new(1, VST_GEN_PROFILE_MEASLES_CASE, 10, 10, 0.05);
    CU_ASSERT_PTR_NOT_NULL(g);
    vst_gen_child_free(g);
    vst_gen_profile p;
    CU_ASSERT_EQUAL(vst_gen_profile_parse("school_entry", &p), 0);
    CU_ASSERT_EQUAL(p, VST_GEN_PROFILE_SCHOOL_ENTRY);
    CU_ASSERT_EQUAL(vst_gen_profile_parse("measles", &p), -1);
    CU_ASSERT_STRING_EQUAL(vst_gen_error_name(VST_GEN_ERR_DAYMONTH), "daymonth");
}

/* ---- gen_link/cli ----------------------------------------------------------- */

static char tmpdir[] = "/tmp/vst-gen-link-XXXXXX";

static int cli_init(void)
{
    return getenv("VST_GEN") == NULL || mkdtemp(tmpdir) == NULL;
}

static int cli_clean(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) != 0;
}

/* Runs vst-gen with args (shell words), stdout to out (or /dev/null),
 * stderr to err (or /dev/null); returns the exit status or -1. */
static int run_gen(const char *args, const char *out, const char *err)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s'", getenv("VST_GEN"), args,
             out != NULL ? out : "/dev/null", err != NULL ? err : "/dev/null");
    int st = system(cmd);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    size_t r;
    while (b != NULL && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(b, 2 * cap + 1);
            if (nb == NULL) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (b != NULL)
        b[n] = '\0';
    *len = n;
    return b;
}

static char *path_in(const char *name)
{
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", tmpdir, name);
    return p;
}

static void test_cli_help(void)
{
    const char *out = path_in("help.txt");
    CU_ASSERT_EQUAL(run_gen("--help", out, NULL), 0);
    size_t n;
    char *h = slurp(out, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    static const char *const want[] = {"--profile",    "measles_case",
                                       "school_entry", "--overlap",
                                       "--errors",     "default\n                0.05",
                                       "--truth",      "never load it into the store"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        CU_ASSERT_PTR_NOT_NULL(strstr(h, want[i]));
    free(h);
}

/* The truth file: the header, then lines 1..n with distinct ids; the set
 * of s<i> is exactly s0..s(m-1). */
static int truth_ok(const char *path, unsigned n, unsigned m, char own)
{
    size_t len;
    char *t = slurp(path, &len), *save = NULL;
    if (t == NULL)
        return 0;
    char *line = strtok_r(t, "\n", &save);
    int ok = line != NULL && strcmp(line, "line\tchild") == 0;
    unsigned char *seen = calloc(n, 1);
    unsigned lines = 0, shared = 0;
    while (ok && seen != NULL && (line = strtok_r(NULL, "\n", &save)) != NULL) {
        char tag;
        unsigned num, i;
        ok = sscanf(line, "%u\t%c%u", &num, &tag, &i) == 3 && num == ++lines &&
             (tag == 's' ? i < m : tag == own && i < n - m);
        unsigned slot = tag == 's' ? i : m + i;
        ok = ok && !seen[slot];
        if (ok)
            seen[slot] = 1;
        shared += tag == 's';
    }
    ok = ok && seen != NULL && lines == n && shared == m;
    free(seen);
    free(t);
    return ok;
}

static void test_cli_pairing(void)
{
    char args[512];
    const char *err = path_in("err.txt");
    snprintf(args, sizeof args,
             "--profile measles_case --records 3000 --overlap 1200 --seed 21 --truth '%s' -o '%s'",
             path_in("a.tsv"), path_in("a.nd"));
    CU_ASSERT_EQUAL(run_gen(args, NULL, err), 0);
    CU_ASSERT(truth_ok(path_in("a.tsv"), 3000, 1200, 'a'));
    size_t n;
    char *e = slurp(err, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    /* one line, each kind named, the total near the default rate */
    unsigned long long k[VST_GEN_ERR__COUNT], total, records;
    CU_ASSERT_EQUAL(sscanf(e,
                           "vst-gen: errors: typo=%llu umlaut=%llu swap=%llu birthname=%llu "
                           "daymonth=%llu daytypo=%llu case=%llu total=%llu records=%llu",
                           &k[0], &k[1], &k[2], &k[3], &k[4], &k[5], &k[6], &total, &records),
                    9);
    CU_ASSERT_EQUAL(records, 3000);
    CU_ASSERT(total > 90 && total < 220);
    CU_ASSERT_EQUAL(strchr(e, '\n'), e + n - 1);
    free(e);

    snprintf(args, sizeof args,
             "--profile school_entry --records 3000 --overlap 1200 --seed 21 --truth '%s'",
             path_in("b.tsv"));
    CU_ASSERT_EQUAL(run_gen(args, path_in("b.nd"), NULL), 0);
    CU_ASSERT(truth_ok(path_in("b.tsv"), 3000, 1200, 'b'));

    /* refused: M > N, a rate outside [0, 1], linkage options without a
     * linkage profile, sgb5 options with one */
    CU_ASSERT_EQUAL(run_gen("--profile measles_case --records 10 --overlap 11", NULL, err), 2);
    e = slurp(err, &n);
    CU_ASSERT(e != NULL && strstr(e, "--overlap must not exceed --records") != NULL);
    free(e);
    CU_ASSERT_EQUAL(run_gen("--profile measles_case --errors 1.5", NULL, NULL), 2);
    CU_ASSERT_EQUAL(run_gen("--overlap 3", NULL, NULL), 2);
    CU_ASSERT_EQUAL(run_gen("--profile sgb5 --truth x", NULL, NULL), 2);
    CU_ASSERT_EQUAL(run_gen("--profile school_entry --persons 4", NULL, NULL), 2);
    CU_ASSERT_EQUAL(run_gen("--profile measles", NULL, NULL), 2);
}

static void sha256_hex(const char *data, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* vst-gen's sgb5 output as it was before the linkage profiles (the
 * digests were taken from that binary), with and without --profile sgb5. */
static void test_cli_sgb5_unchanged(void)
{
    static const struct {
        const char *args, *sha256;
    } cases[] = {
        {"--records 500 --seed 1",
         "47bc5ac5e6a678c86cfda9c63b15fc47ab2c9b724e7c1531c60b237c81735dbb"},
        {"--records 500 --seed 42 --profile sgb5",
         "82163db457204bbd2f248a4cb0c2755370b66e34dfd5850c9031068ebd6ea9fe"},
        {"--records 300 --seed 9 --persons 50 --providers 7",
         "1525b92efff2582b68bd6947fd9af95c93703a6b287a19cb9e531e82fefa45ec"},
        {"--profile sgb5 --records 300 --seed 9 --persons 50 --providers 7",
         "1525b92efff2582b68bd6947fd9af95c93703a6b287a19cb9e531e82fefa45ec"},
    };
    const char *out = path_in("sgb5.nd"), *err = path_in("sgb5.err");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CU_ASSERT_EQUAL(run_gen(cases[i].args, out, err), 0);
        size_t n, en;
        char *d = slurp(out, &n), *e = slurp(err, &en), hex[65];
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        sha256_hex(d, n, hex);
        CU_ASSERT_STRING_EQUAL(hex, cases[i].sha256);
        CU_ASSERT_EQUAL(en, 0); /* no error counts for sgb5 */
        free(d);
        free(e);
    }
}

static const vst_test library_tests[] = {
    {"records: exactly the profile's fields, values in range", test_records_valid},
    {"deterministic per seed, any line order", test_deterministic},
    {"pairing: exactly M shared, no child twice, spread", test_pairing},
    {"a shared child is the same child, district kept ~90 %", test_shared_same_child},
    {"error rate within tolerance", test_error_rate},
    {"every error kind occurs and is what it says", test_error_kinds},
    {"wrong arguments refused", test_refused},
    {NULL, NULL},
};

static const vst_test cli_tests[] = {
    {"--help names the linkage options", test_cli_help},
    {"truth files of both sides, counts on stderr, refusals", test_cli_pairing},
    {"sgb5 output unchanged", test_cli_sgb5_unchanged},
    {NULL, NULL},
};

int vst_register_tests(void)
{
    VST_ADD_SUITE("gen_link/library", library_tests);
    CU_pSuite s = CU_add_suite("gen_link/cli", cli_init, cli_clean);
    if (s == NULL)
        return CU_get_error();
    for (size_t i = 0; cli_tests[i].name != NULL; i++)
        if (CU_add_test(s, cli_tests[i].name, cli_tests[i].fn) == NULL)
            return CU_get_error();
    return CUE_SUCCESS;
}
