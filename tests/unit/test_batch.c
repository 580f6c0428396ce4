/* vst-httpd's batches (server/httpd/batch.c; issue 12): after keyd's
 * answer, a record one of whose identifiers keyd withheld (an objection,
 * DESIGN.md §12) leaves the COPY text and is counted; the other records
 * stay, in their order and byte for byte what they would have been. Real
 * sgb5 records (vst-gen) through the real profile; keyd's answer is
 * written here (batch_fill is the half of batch_resolve after the round
 * trip), each identifier getting a pseudonym of its own. A composite
 * profile's batch (issue 13): the persons it holds, the control values of
 * two CV_DERIVE frames in their columns with each frame's key version, and
 * the persons and answer wiped by batch_reset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/gen/gen.h"
#include "cunit_main.h"
#include "httpd/batch.h"
#include "wire/codec_link.h"

#define NROWS 5
#define REF "0b7d3b1e-0c1f-4b7a-9a61-5f1d2c3b4a59"

static vst_profile *P;
static char lines[NROWS][VST_GEN_MAX_LINE + 1];

static int suite_init(void)
{
    char msg[512];
    if (vst_profile_load(vst_src_path("server/profiles/sgb5.json"), &P, msg, sizeof msg) !=
        VST_E_OK)
        return -1;
    vst_gen *g = vst_gen_new(20261212);
    for (int i = 0; g != NULL && i < NROWS; i++)
        if (vst_gen_record(g, lines[i], sizeof lines[i]) == 0)
            return -1;
    vst_gen_free(g);
    return g != NULL ? 0 : -1;
}

static int suite_clean(void)
{
    vst_profile_free(P);
    return 0;
}

/* A batch of the NROWS records, keyd's answer in place: identifier i's
 * pseudonym is 16 bytes of (i + 1), nothing withheld yet. */
static void make(batch *b)
{
    batch_init(b);
    vst_row *row = vst_row_new(P);
    vst_errors errs;
    CU_ASSERT_FATAL(row != NULL && vst_errors_init(&errs, 4) == 0);
    for (int i = 0; i < NROWS; i++) {
        CU_ASSERT_FATAL(vst_profile_apply(P, lines[i], strlen(lines[i]), (uint64_t)i + 1, row,
                                          &errs) == VST_E_OK);
        CU_ASSERT_FATAL(batch_add_row(b, P, row, REF) == 0);
    }
    vst_row_free(row);
    vst_errors_free(&errs);
    CU_ASSERT_FATAL(b->rows == NROWS && b->nids >= NROWS && batch_answer_room(b) == 0);
    for (uint32_t i = 0; i < b->nids; i++)
        memset(b->out + (size_t)i * VST_PSEUDONYM_LEN, (int)(i + 1) & 0xff, VST_PSEUDONYM_LEN);
    memset(b->withheld, 0, b->nids);
}

/* Marks the j-th identifier of row r withheld (its slot zero, as keyd
 * answers it). */
static void withhold(batch *b, size_t r, size_t j)
{
    size_t base[VST_SECTIONS_MAX], total = 0, seen = 0;
    for (size_t s = 0; s < b->nsec; s++)
        base[s] = total, total += b->sec[s].count;
    size_t start = b->kv_off[r], end = r + 1 < b->rows ? b->kv_off[r + 1] : b->len;
    for (size_t h = 0; h < b->nholes; h++) {
        if (b->holes[h].off < start || b->holes[h].off >= end || seen++ != j)
            continue;
        size_t i = base[b->holes[h].sec] + b->holes[h].idx;
        b->withheld[i] = 1;
        memset(b->out + i * VST_PSEUDONYM_LEN, 0, VST_PSEUDONYM_LEN);
        return;
    }
    CU_FAIL_FATAL("no such identifier in the row");
}

/* The rows of a filled batch without any withheld: the reference. */
static void reference(char rows[NROWS][4096])
{
    batch b;
    make(&b);
    batch_fill(&b, 3);
    CU_ASSERT_FATAL(b.withheld_rows == 0 && b.rows == NROWS);
    const char *p = b.text;
    for (int i = 0; i < NROWS; i++) {
        const char *nl = memchr(p, '\n', b.len - (size_t)(p - b.text));
        CU_ASSERT_FATAL(nl != NULL && (size_t)(nl - p) < 4095);
        snprintf(rows[i], 4096, "%.*s", (int)(nl + 1 - p), p);
        p = nl + 1;
    }
    CU_ASSERT((size_t)(p - b.text) == b.len);
    batch_free(&b);
}

/* Withholds per row (keep[r] == 0: its identifier `which` is withheld),
 * fills, and checks the text is exactly the kept reference rows, the
 * count, and that the bytes given up are zero. */
static void expect_kept(const int keep[NROWS], size_t which)
{
    char rows[NROWS][4096], want[NROWS * 4096] = "";
    reference(rows);
    batch b;
    make(&b);
    size_t nkept = 0;
    for (int r = 0; r < NROWS; r++) {
        if (keep[r]) {
            strcat(want, rows[r]);
            nkept++;
        } else {
            withhold(&b, (size_t)r, which);
        }
    }
    size_t old_len = b.len;
    batch_fill(&b, 3);
    CU_ASSERT_EQUAL(b.withheld_rows, NROWS - nkept);
    CU_ASSERT_EQUAL(b.rows, nkept);
    CU_ASSERT_EQUAL(b.len, strlen(want));
    CU_ASSERT(b.len == strlen(want) && memcmp(b.text, want, b.len) == 0);
    int zero = 1;
    for (size_t i = b.len; i < old_len; i++)
        zero &= b.text[i] == 0;
    CU_ASSERT(zero); /* a withheld record's other values do not linger */
    batch_free(&b);
}

static void test_nothing_withheld(void)
{
    const int keep[NROWS] = {1, 1, 1, 1, 1};
    expect_kept(keep, 0);
}

static void test_withheld_rows_leave(void)
{
    const int middle[NROWS] = {1, 0, 1, 0, 1};
    expect_kept(middle, 0);
    const int ends[NROWS] = {0, 1, 1, 1, 0};
    expect_kept(ends, 0);
    const int all[NROWS] = {0, 0, 0, 0, 0};
    expect_kept(all, 0);
}

/* Any withheld identifier of a record withholds the record, not only the
 * insured person's: here each row's last identifier. */
static void test_any_identifier(void)
{
    char rows[NROWS][4096];
    reference(rows);
    batch b;
    make(&b);
    /* Row 2's identifiers: the holes inside it. */
    size_t n = 0;
    for (size_t h = 0; h < b.nholes; h++)
        n += b.holes[h].off >= b.kv_off[2] && b.holes[h].off < b.kv_off[3];
    batch_free(&b);
    CU_ASSERT_FATAL(n >= 1);
    const int keep[NROWS] = {1, 1, 0, 1, 1};
    expect_kept(keep, n - 1);
}

/* ---- composite profiles (DESIGN.md §13) ---------------------------------- */

static int holds(const char *s, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(s + i, needle, n) == 0)
            return 1;
    return 0;
}

/* Invented children (names as vst-gen's), two frames' worth of answer. */
static const char *const CHILDREN[] = {
    "{\"child\":{\"given_names\":\"Limara\",\"family_names\":\"Borentak\",\"birth_date\":"
    "\"2019-03-04\",\"sex\":\"W\",\"postal_code\":\"60311\"},\"case\":{\"year\":2025,"
    "\"district\":\"06412\",\"follow_up\":true}}",
    "{\"child\":{\"given_names\":\"Vemo\",\"family_names\":\"Dralle\",\"birth_name\":\"Qestrin\","
    "\"birth_date\":\"2018-12-01\",\"sex\":\"M\",\"postal_code\":\"06108\"},\"case\":{\"year\":"
    "2024,\"district\":\"15002\",\"follow_up\":false}}",
    "{\"child\":{\"given_names\":\"Sova\",\"family_names\":\"Ulmenhag\",\"birth_date\":"
    "\"2020-07-15\",\"sex\":\"D\",\"postal_code\":\"99084\"},\"case\":{\"year\":2025,"
    "\"district\":\"16051\",\"follow_up\":true}}",
};
#define NCHILD (sizeof CHILDREN / sizeof CHILDREN[0])

/* A measles_case batch: one person per row, its six control-value holes in
 * the columns of the profile's key order; keyd's answer in two frames
 * (rows 0-1 under key version 3, row 2 under 4, as across a rotation)
 * fills them, value k of person i being 16 bytes of 16 * i + k + 1. */
static void test_control_values(void)
{
    char msg[512];
    vst_profile *p = NULL;
    CU_ASSERT_FATAL(vst_profile_load(vst_src_path("server/profiles/measles_case.json"), &p, msg,
                                     sizeof msg) == VST_E_OK);
    batch b;
    batch_init(&b);
    vst_row *row = vst_row_new(p);
    vst_errors errs;
    CU_ASSERT_FATAL(row != NULL && vst_errors_init(&errs, 4) == 0);
    for (size_t i = 0; i < NCHILD; i++) {
        CU_ASSERT_FATAL(vst_profile_apply(p, CHILDREN[i], strlen(CHILDREN[i]), i + 1, row, &errs) ==
                        VST_E_OK);
        CU_ASSERT_FATAL(batch_add_row(&b, p, row, REF) == 0);
        /* the batch holds its own copy of the person */
        CU_ASSERT(memcmp(&b.persons[i], &row->person, sizeof row->person) == 0);
        vst_row_clear(row);
    }
    CU_ASSERT_EQUAL(b.rows, NCHILD);
    CU_ASSERT_EQUAL(b.npersons, NCHILD);
    CU_ASSERT_EQUAL(b.nids, 0);
    CU_ASSERT_STRING_EQUAL(b.persons[1].birth.tok[0], "QESTRIN");
    CU_ASSERT_FATAL(batch_cv_room(&b) == 0);
    for (size_t i = 0; i < NCHILD; i++)
        for (size_t k = 0; k < VST_LINK_NKEYS; k++)
            memset(b.cv_out + i * VST_CV_RECORD_LEN + k * VST_CV_LEN, (int)(16 * i + k + 1),
                   VST_CV_LEN);
    batch_fill_persons(&b, 0, 2, 3);
    batch_fill_persons(&b, 2, 1, 4);
    /* each line: ref, key version, then the profile's columns in order */
    char *save = NULL, *text = strndup(b.text, b.len);
    CU_ASSERT_FATAL(text != NULL);
    size_t i = 0;
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save), i++) {
        CU_ASSERT_FATAL(i < NCHILD);
        char *f[2 + 16], *fs = NULL;
        size_t nf = 0;
        for (char *t = strtok_r(line, "\t", &fs); t != NULL && nf < 18;
             t = strtok_r(NULL, "\t", &fs))
            f[nf++] = t;
        CU_ASSERT_EQUAL_FATAL(nf, 2 + vst_profile_ncolumns(p));
        CU_ASSERT_STRING_EQUAL(f[0], REF);
        CU_ASSERT_STRING_EQUAL(f[1], i < 2 ? "0000000003" : "0000000004");
        for (size_t k = 0; k < VST_LINK_NKEYS; k++) {
            const char *name = vst_profile_link_column(p, k);
            size_t c = 0;
            while (strcmp(vst_profile_column(p, c)->name, name) != 0)
                c++;
            char want[33];
            for (size_t j = 0; j < 16; j++)
                snprintf(want + 2 * j, 3, "%02x", (unsigned)(16 * i + k + 1));
            CU_ASSERT_STRING_EQUAL(f[2 + c], want);
        }
    }
    CU_ASSERT_EQUAL(i, NCHILD);
    /* no name in the text */
    CU_ASSERT(!holds(b.text, b.len, "Borentak"));
    CU_ASSERT(!holds(b.text, b.len, "QESTRIN"));
    free(text);
    /* reset wipes the persons and keyd's answer */
    vst_person *persons = b.persons;
    uint8_t *out = b.cv_out;
    size_t ncap = b.cv_out_cap;
    batch_reset(&b);
    static const vst_person zero;
    for (size_t j = 0; j < NCHILD; j++)
        CU_ASSERT(memcmp(&persons[j], &zero, sizeof zero) == 0);
    for (size_t j = 0; j < ncap; j++)
        if (out[j] != 0) {
            CU_FAIL("keyd's answer not wiped");
            break;
        }
    CU_ASSERT_EQUAL(b.npersons, 0);
    batch_free(&b);
    vst_row_free(row);
    vst_errors_free(&errs);
    vst_profile_free(p);
}

int vst_register_tests(void)
{
    static vst_test tests[] = {
        {"nothing withheld: every row, as filled", test_nothing_withheld},
        {"withheld rows leave the text, the others stay as they were", test_withheld_rows_leave},
        {"a record with any withheld identifier is withheld", test_any_identifier},
        {"composite profile: control values fill their columns per frame", test_control_values},
        {NULL, NULL},
    };
    CU_pSuite s = CU_add_suite("httpd batch: withheld records", suite_init, suite_clean);
    if (s == NULL)
        return CU_get_error();
    for (size_t i = 0; tests[i].name != NULL; i++)
        if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL)
            return CU_get_error();
    return CUE_SUCCESS;
}
