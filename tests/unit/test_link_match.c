/* The matcher of the overlap query (keys/link_match.c, DESIGN.md §13):
 *   - hand-built cases, one per rule of link_match.h: an equal value links,
 *     a value twice on one side never links (also in a later pass after one
 *     of its records was linked), a linked record is not linked again, the
 *     links of each pass, pair_a/pair_b, empty sides, 1 x 1, values that
 *     share their first 8 bytes (the table's key) but differ after;
 *   - a randomized cross-check against a naive O(n^2) reference written
 *     here from the rules, on a few thousand records with planted
 *     duplicates, overlap and prefix collisions. */
#include "cunit_main.h"
#include "link_match.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- building records ------------------------------------------------------ */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint8_t *val(uint8_t *recs, size_t i, unsigned k)
{
    return recs + i * VST_CV_RECORD_LEN + (size_t)k * VST_CV_LEN;
}

/* Every value of every record distinct (a counter per call site side tag). */
static uint8_t *fresh(size_t n, uint8_t side)
{
    uint8_t *r = calloc(n ? n : 1, VST_CV_RECORD_LEN);
    CU_ASSERT_FATAL(r != NULL);
    for (size_t i = 0; i < n; i++)
        for (unsigned k = 0; k < VST_LINK_NKEYS; k++) {
            uint8_t *v = val(r, i, k);
            uint64_t id = (uint64_t)i * VST_LINK_NKEYS + k;
            memcpy(v, &id, sizeof id);
            v[8] = side; /* a's and b's fillers never meet */
        }
    return r;
}

/* A shared value, distinct from every filler (byte 9 set). */
static void set(uint8_t *recs, size_t i, unsigned k, uint64_t tag)
{
    uint8_t *v = val(recs, i, k);
    memset(v, 0, VST_CV_LEN);
    memcpy(v, &tag, sizeof tag);
    v[9] = 0xAA;
}

typedef struct {
    vst_link_counts c;
    size_t pa[64], pb[64];
} result;

static void run(const uint8_t *a, size_t na, const uint8_t *b, size_t nb, result *r)
{
    CU_ASSERT_FATAL(na <= 64 && nb <= 64);
    memset(r, 0x5A, sizeof *r);
    CU_ASSERT_EQUAL_FATAL(vst_link_match(a, na, b, nb, &r->c, r->pa, r->pb), 0);
    uint64_t sum = 0;
    for (unsigned k = 0; k < VST_LINK_NKEYS; k++)
        sum += r->c.links[k];
    CU_ASSERT_EQUAL(r->c.overlap, sum);
}

static void expect_links(const result *r, const uint64_t want[VST_LINK_NKEYS])
{
    for (unsigned k = 0; k < VST_LINK_NKEYS; k++) {
        if (r->c.links[k] != want[k])
            fprintf(stderr, "\n  pass %u: %" PRIu64 " links, want %" PRIu64 "\n", k, r->c.links[k],
                    want[k]);
        CU_ASSERT_EQUAL(r->c.links[k], want[k]);
    }
}

/* ---- hand-built cases -------------------------------------------------------- */

static void test_equal_value_links(void)
{
    uint8_t *a = fresh(3, 1), *b = fresh(4, 2);
    set(a, 1, 0, 7);
    set(b, 2, 0, 7);
    result r;
    run(a, 3, b, 4, &r);
    expect_links(&r, (const uint64_t[]){1, 0, 0, 0, 0, 0});
    CU_ASSERT_EQUAL(r.c.overlap, 1);
    CU_ASSERT_EQUAL(r.pa[0], SIZE_MAX);
    CU_ASSERT_EQUAL(r.pa[1], 2);
    CU_ASSERT_EQUAL(r.pa[2], SIZE_MAX);
    CU_ASSERT_EQUAL(r.pb[0], SIZE_MAX);
    CU_ASSERT_EQUAL(r.pb[1], SIZE_MAX);
    CU_ASSERT_EQUAL(r.pb[2], 1);
    CU_ASSERT_EQUAL(r.pb[3], SIZE_MAX);
    free(a);
    free(b);
}

static void test_equal_on_every_key_links_once(void)
{
    uint8_t *a = fresh(1, 1), *b = fresh(1, 2);
    for (unsigned k = 0; k < VST_LINK_NKEYS; k++) {
        set(a, 0, k, 100 + k);
        set(b, 0, k, 100 + k);
    }
    result r;
    run(a, 1, b, 1, &r);
    expect_links(&r, (const uint64_t[]){1, 0, 0, 0, 0, 0});
    CU_ASSERT_EQUAL(r.pa[0], 0);
    CU_ASSERT_EQUAL(r.pb[0], 0);
    free(a);
    free(b);
}

static void test_one_by_one_without_match(void)
{
    uint8_t *a = fresh(1, 1), *b = fresh(1, 2);
    result r;
    run(a, 1, b, 1, &r);
    expect_links(&r, (const uint64_t[]){0, 0, 0, 0, 0, 0});
    CU_ASSERT_EQUAL(r.c.overlap, 0);
    CU_ASSERT_EQUAL(r.pa[0], SIZE_MAX);
    CU_ASSERT_EQUAL(r.pb[0], SIZE_MAX);
    free(a);
    free(b);
}

static void test_twice_on_a_never_links(void)
{
    uint8_t *a = fresh(3, 1), *b = fresh(2, 2);
    set(a, 0, 3, 9);
    set(a, 2, 3, 9);
    set(b, 1, 3, 9);
    result r;
    run(a, 3, b, 2, &r);
    CU_ASSERT_EQUAL(r.c.overlap, 0);
    CU_ASSERT_EQUAL(r.pb[1], SIZE_MAX);
    /* three times is no better than twice */
    uint8_t *a4 = fresh(4, 1);
    for (size_t i = 0; i < 3; i++)
        set(a4, i, 0, 9);
    set(b, 1, 0, 9);
    run(a4, 4, b, 2, &r);
    CU_ASSERT_EQUAL(r.c.overlap, 0);
    free(a);
    free(a4);
    free(b);
}

static void test_twice_on_b_never_links(void)
{
    uint8_t *a = fresh(2, 1), *b = fresh(3, 2);
    set(a, 1, 5, 11);
    set(b, 0, 5, 11);
    set(b, 2, 5, 11);
    result r;
    run(a, 2, b, 3, &r);
    CU_ASSERT_EQUAL(r.c.overlap, 0);
    CU_ASSERT_EQUAL(r.pa[1], SIZE_MAX);
    free(a);
    free(b);
}

/* a0 and a1 share the key-2 value V, b0 has V too. a0 links to b1 in pass
 * 0, so in pass 2 only a1 and b0 are unlinked and carry V: V still occurs
 * twice among ALL records of a, so they must not link. */
static void test_twice_stays_ambiguous_after_a_link(void)
{
    uint8_t *a = fresh(2, 1), *b = fresh(2, 2);
    set(a, 0, 0, 1);
    set(b, 1, 0, 1);
    set(a, 0, 2, 2);
    set(a, 1, 2, 2);
    set(b, 0, 2, 2);
    result r;
    run(a, 2, b, 2, &r);
    expect_links(&r, (const uint64_t[]){1, 0, 0, 0, 0, 0});
    CU_ASSERT_EQUAL(r.pa[0], 1);
    CU_ASSERT_EQUAL(r.pa[1], SIZE_MAX);
    CU_ASSERT_EQUAL(r.pb[0], SIZE_MAX);
    /* the same on side b: b0 and b1 share V at key 4, b0 linked in pass 1 */
    uint8_t *a2 = fresh(2, 1), *b2 = fresh(2, 2);
    set(a2, 0, 1, 3);
    set(b2, 0, 1, 3);
    set(b2, 0, 4, 4);
    set(b2, 1, 4, 4);
    set(a2, 1, 4, 4);
    run(a2, 2, b2, 2, &r);
    expect_links(&r, (const uint64_t[]){0, 1, 0, 0, 0, 0});
    CU_ASSERT_EQUAL(r.pb[1], SIZE_MAX);
    free(a);
    free(b);
    free(a2);
    free(b2);
}

/* a0-b0 link in pass 0; a0 also shares a unique key-1 value with b1, and b0
 * a unique key-3 value with a1: neither links, a linked record is taken. */
static void test_linked_record_not_linked_again(void)
{
    uint8_t *a = fresh(2, 1), *b = fresh(2, 2);
    set(a, 0, 0, 5);
    set(b, 0, 0, 5);
    set(a, 0, 1, 6);
    set(b, 1, 1, 6);
    set(b, 0, 3, 7);
    set(a, 1, 3, 7);
    result r;
    run(a, 2, b, 2, &r);
    expect_links(&r, (const uint64_t[]){1, 0, 0, 0, 0, 0});
    CU_ASSERT_EQUAL(r.pa[0], 0);
    CU_ASSERT_EQUAL(r.pb[0], 0);
    CU_ASSERT_EQUAL(r.pa[1], SIZE_MAX);
    CU_ASSERT_EQUAL(r.pb[1], SIZE_MAX);
    free(a);
    free(b);
}

/* k + 1 pairs that first agree on key k (and on every later key, as real
 * records that differ by an error do), in a shuffled order on side b. */
static void test_counts_per_pass_and_pairs(void)
{
    enum { NP = 21, NA = NP + 4, NB = NP + 7 };
    uint8_t *a = fresh(NA, 1), *b = fresh(NB, 2);
    size_t ai[NP], bi[NP], p = 0;
    for (unsigned k = 0; k < VST_LINK_NKEYS; k++)
        for (unsigned j = 0; j <= k; j++, p++) {
            ai[p] = 2 + p;
            bi[p] = (p * 5 + 3) % NB; /* 5 is prime to 28: a permutation */
            for (unsigned kk = k; kk < VST_LINK_NKEYS; kk++) {
                set(a, ai[p], kk, 1000 * (p + 1) + kk);
                set(b, bi[p], kk, 1000 * (p + 1) + kk);
            }
        }
    result r;
    run(a, NA, b, NB, &r);
    expect_links(&r, (const uint64_t[]){1, 2, 3, 4, 5, 6});
    CU_ASSERT_EQUAL(r.c.overlap, NP);
    size_t paired_a = 0, paired_b = 0;
    for (p = 0; p < NP; p++) {
        CU_ASSERT_EQUAL(r.pa[ai[p]], bi[p]);
        CU_ASSERT_EQUAL(r.pb[bi[p]], ai[p]);
    }
    for (size_t i = 0; i < NA; i++)
        paired_a += r.pa[i] != SIZE_MAX;
    for (size_t j = 0; j < NB; j++)
        paired_b += r.pb[j] != SIZE_MAX;
    CU_ASSERT_EQUAL(paired_a, NP);
    CU_ASSERT_EQUAL(paired_b, NP);
    free(a);
    free(b);
}

static void test_empty_sides(void)
{
    uint8_t *a = fresh(3, 1);
    result r;
    run(a, 3, NULL, 0, &r);
    CU_ASSERT_EQUAL(r.c.overlap, 0);
    for (size_t i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(r.pa[i], SIZE_MAX);
    run(NULL, 0, a, 3, &r);
    CU_ASSERT_EQUAL(r.c.overlap, 0);
    for (size_t i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(r.pb[i], SIZE_MAX);
    run(NULL, 0, NULL, 0, &r);
    expect_links(&r, (const uint64_t[]){0, 0, 0, 0, 0, 0});
    vst_link_counts c;
    CU_ASSERT_EQUAL(vst_link_match(a, 3, NULL, 0, &c, NULL, NULL), 0);
    CU_ASSERT_EQUAL(c.overlap, 0);
    free(a);
}

/* Values equal in their first 8 bytes (the table's key) but not after are
 * different values: a0=V b1=V and a1=W b0=W link crosswise. */
static void test_prefix_collision_compares_all_bytes(void)
{
    uint8_t *a = fresh(2, 1), *b = fresh(2, 2);
    set(a, 0, 0, 42);
    set(b, 1, 0, 42);
    set(a, 1, 0, 42);
    set(b, 0, 0, 42);
    val(a, 1, 0)[15] = 1;
    val(b, 0, 0)[15] = 1;
    result r;
    run(a, 2, b, 2, &r);
    expect_links(&r, (const uint64_t[]){2, 0, 0, 0, 0, 0});
    CU_ASSERT_EQUAL(r.pa[0], 1);
    CU_ASSERT_EQUAL(r.pa[1], 0);
    /* and W twice on a (differing from V only in the last byte) leaves V alone */
    set(a, 1, 0, 42);
    val(a, 1, 0)[15] = 1;
    uint8_t *a3 = fresh(3, 1);
    memcpy(a3, a, 2 * VST_CV_RECORD_LEN);
    memcpy(val(a3, 2, 0), val(a, 1, 0), VST_CV_LEN);
    run(a3, 3, b, 2, &r);
    expect_links(&r, (const uint64_t[]){1, 0, 0, 0, 0, 0});
    CU_ASSERT_EQUAL(r.pa[0], 1);
    CU_ASSERT_EQUAL(r.pb[0], SIZE_MAX);
    free(a);
    free(a3);
    free(b);
}

static void test_bytes(void)
{
    size_t m = vst_link_match_bytes(1000000, 1000000);
    CU_ASSERT(m >= 2000000u * 2 * 16);
    CU_ASSERT(m <= 2000000u * 4 * 16 + 2000000u);
    CU_ASSERT(vst_link_match_bytes(0, 0) < 4096);
    CU_ASSERT_EQUAL(vst_link_match_bytes(SIZE_MAX / 2, 1), SIZE_MAX);
    CU_ASSERT_EQUAL(vst_link_match_bytes(1, (size_t)1 << 40), SIZE_MAX);
    uint8_t one[VST_CV_RECORD_LEN] = {0};
    vst_link_counts c;
    memset(&c, 0x5A, sizeof c);
    CU_ASSERT_EQUAL(vst_link_match(one, (size_t)1 << 40, one, 1, &c, NULL, NULL), -1);
    CU_ASSERT_EQUAL(c.overlap, 0);
    CU_ASSERT_EQUAL(c.links[0], 0);
}

/* ---- randomized cross-check ------------------------------------------------- */

/* The rules of link_match.h, literally: O(n^2) per pass. */
static void naive(const uint8_t *a, size_t na, const uint8_t *b, size_t nb, vst_link_counts *out,
                  size_t *pa, size_t *pb)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < na; i++)
        pa[i] = SIZE_MAX;
    for (size_t j = 0; j < nb; j++)
        pb[j] = SIZE_MAX;
    for (unsigned k = 0; k < VST_LINK_NKEYS; k++) {
        for (size_t i = 0; i < na; i++) {
            if (pa[i] != SIZE_MAX)
                continue;
            const uint8_t *v = a + i * VST_CV_RECORD_LEN + k * VST_CV_LEN;
            size_t in_a = 0, in_b = 0, j_match = 0;
            for (size_t i2 = 0; i2 < na; i2++)
                in_a += memcmp(a + i2 * VST_CV_RECORD_LEN + k * VST_CV_LEN, v, VST_CV_LEN) == 0;
            for (size_t j = 0; j < nb; j++)
                if (memcmp(b + j * VST_CV_RECORD_LEN + k * VST_CV_LEN, v, VST_CV_LEN) == 0) {
                    in_b++;
                    j_match = j;
                }
            if (in_a == 1 && in_b == 1 && pb[j_match] == SIZE_MAX) {
                pa[i] = j_match;
                pb[j_match] = i;
                out->links[k]++;
                out->overlap++;
            }
        }
    }
}

/* A value from a pool of `pool` per key: r and r^1 share their first 8
 * bytes (prefix collisions), small pools give duplicates on both sides. */
static void pool_value(uint8_t *v, unsigned k, uint64_t r, uint64_t salt)
{
    uint64_t s1 = salt ^ ((uint64_t)k << 56) ^ (r >> 1), s2 = salt ^ ((uint64_t)k << 56) ^ r;
    uint64_t hi = splitmix(&s1), lo = splitmix(&s2) ^ UINT64_C(0x1234);
    memcpy(v, &hi, 8);
    memcpy(v + 8, &lo, 8);
}

static void cross_check(uint64_t seed, size_t na, size_t nb, uint64_t pool, int plain)
{
    uint64_t s = seed;
    uint8_t *a = malloc(na * VST_CV_RECORD_LEN), *b = malloc(nb * VST_CV_RECORD_LEN);
    size_t *pa = malloc(na * sizeof *pa), *pb = malloc(nb * sizeof *pb);
    size_t *qa = malloc(na * sizeof *qa), *qb = malloc(nb * sizeof *qb);
    CU_ASSERT_FATAL(a && b && pa && pb && qa && qb);
    for (size_t i = 0; i < na; i++)
        for (unsigned k = 0; k < VST_LINK_NKEYS; k++)
            pool_value(val(a, i, k), k, splitmix(&s) % pool, seed);
    for (size_t j = 0; j < nb; j++) {
        if (j < nb / 2) { /* planted overlap: a copy of an a record, keys redrawn at 25 % */
            memcpy(val(b, j, 0), val(a, splitmix(&s) % na, 0), VST_CV_RECORD_LEN);
            for (unsigned k = 0; k < VST_LINK_NKEYS; k++)
                if (splitmix(&s) % 4 == 0)
                    pool_value(val(b, j, k), k, splitmix(&s) % pool, seed);
        } else {
            for (unsigned k = 0; k < VST_LINK_NKEYS; k++)
                pool_value(val(b, j, k), k, splitmix(&s) % pool, seed);
        }
    }
    vst_link_counts got, want;
    CU_ASSERT_EQUAL_FATAL(vst_link_match(a, na, b, nb, &got, pa, pb), 0);
    naive(a, na, b, nb, &want, qa, qb);
    if (memcmp(&got, &want, sizeof got) != 0)
        fprintf(stderr, "\n  seed %" PRIu64 ": overlap %" PRIu64 ", naive %" PRIu64 "\n", seed,
                got.overlap, want.overlap);
    CU_ASSERT(memcmp(&got, &want, sizeof got) == 0);
    CU_ASSERT(memcmp(pa, qa, na * sizeof *pa) == 0);
    CU_ASSERT(memcmp(pb, qb, nb * sizeof *pb) == 0);
    /* a plain case is not trivial: links in several passes */
    unsigned passes = 0;
    for (unsigned k = 0; k < VST_LINK_NKEYS; k++)
        passes += want.links[k] > 0;
    CU_ASSERT(!plain || (want.overlap > nb / 8 && passes >= 3));
    free(a);
    free(b);
    free(pa);
    free(pb);
    free(qa);
    free(qb);
}

static void test_random_against_naive(void)
{
    cross_check(1, 3000, 2500, 20000, 1);   /* few duplicates */
    cross_check(2, 2000, 3000, 3000, 1);    /* many duplicates on both sides */
    cross_check(3, 4000, 1000, 1000000, 1); /* almost all unique */
    cross_check(4, 1, 3000, 1000000, 0);    /* a's one record copied 1500 times into b */
    cross_check(5, 2500, 1, 50, 0);         /* every value of a many times over */
    cross_check(6, 1, 1, 1000000, 0);
}

int vst_register_tests(void)
{
    static const vst_test tests[] = {
        {"equal value links", test_equal_value_links},
        {"equal on every key links once, in pass 0", test_equal_on_every_key_links_once},
        {"1 x 1 without a match", test_one_by_one_without_match},
        {"a value twice on side a never links", test_twice_on_a_never_links},
        {"a value twice on side b never links", test_twice_on_b_never_links},
        {"a value twice stays ambiguous after one of its records linked",
         test_twice_stays_ambiguous_after_a_link},
        {"a record linked in pass 0 is not linked again", test_linked_record_not_linked_again},
        {"links per pass, pair_a and pair_b", test_counts_per_pass_and_pairs},
        {"empty sides", test_empty_sides},
        {"first 8 bytes equal, value different", test_prefix_collision_compares_all_bytes},
        {"working memory size and refusal", test_bytes},
        {"random records against the naive reference", test_random_against_naive},
        {NULL, NULL},
    };
    VST_ADD_SUITE("link_match", tests);
    return 0;
}
