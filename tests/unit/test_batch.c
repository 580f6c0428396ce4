/* vst-httpd's batches (server/httpd/batch.c; issue 12): after keyd's
 * answer, a record one of whose identifiers keyd withheld (an objection,
 * DESIGN.md §12) leaves the COPY text and is counted; the other records
 * stay, in their order and byte for byte what they would have been. Real
 * sgb5 records (vst-gen) through the real profile; keyd's answer is
 * written here (batch_fill is the half of batch_resolve after the round
 * trip), each identifier getting a pseudonym of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/gen/gen.h"
#include "cunit_main.h"
#include "httpd/batch.h"

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

int vst_register_tests(void)
{
    static vst_test tests[] = {
        {"nothing withheld: every row, as filled", test_nothing_withheld},
        {"withheld rows leave the text, the others stay as they were", test_withheld_rows_leave},
        {"a record with any withheld identifier is withheld", test_any_identifier},
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
