/* Linkage benchmark (a program, not a test; tests/bench/bench_linkage.sh
 * runs it, docs/benchmarks.md "Linkage (issue 13)").
 *
 *   bench_linkage [--sizes N,N,...] [--seed S]
 *       Part A, in process: for each N, vst_link_match on N x N records of
 *       random 16-byte values (the inner control values' distribution) with
 *       a planted overlap of N/2 (pair j differs from its partner in keys
 *       0 .. (j mod 6)-1, so that every pass links about N/12), keyd's way
 *       (pair arrays NULL). Baseline in the same run: a textbook hash join
 *       of the two sides' N single 16-byte values (key 0), counting equal
 *       pairs: one table, open addressing, no prefetching. The matcher does
 *       six such joins with the uniqueness rule, so the ratio says what the
 *       rule and the six passes cost over one plain join. Memory: the
 *       matcher's vst_link_match_bytes and the ru_maxrss growth across the
 *       call (the records are in memory before it).
 *
 *   bench_linkage --quality ...
 *       Parts B (quality) and C (through vst-keyd): bench_linkage_quality.c. */
#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_linkage.h"
#include "bench_machine.h"
#include "link_match.h"

double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

long bench_maxrss_kib(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

void *bench_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "bench_linkage: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static void random_bytes(uint8_t *p, size_t n)
{
    while (n > 0) {
        int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
        if (RAND_bytes(p, chunk) != 1) {
            fprintf(stderr, "bench_linkage: RAND_bytes failed\n");
            exit(1);
        }
        p += chunk;
        n -= (size_t)chunk;
    }
}

/* ---- the baseline: one plain hash join of 16-byte values ------------------ */

typedef struct {
    uint32_t idx1; /* index + 1 of the first a value, 0 = empty */
    uint32_t count;
} join_slot;

static uint64_t join_pairs(const uint8_t *va, const uint8_t *vb, size_t n)
{
    size_t slots = 2;
    while (slots < 2 * n)
        slots *= 2;
    join_slot *t = calloc(slots, sizeof *t);
    if (t == NULL) {
        fprintf(stderr, "bench_linkage: out of memory\n");
        exit(1);
    }
    size_t mask = slots - 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t h;
        memcpy(&h, va + 16 * i, 8);
        for (size_t p = h & mask;; p = (p + 1) & mask) {
            if (t[p].idx1 == 0) {
                t[p].idx1 = (uint32_t)i + 1;
                t[p].count = 1;
                break;
            }
            if (memcmp(va + 16 * (t[p].idx1 - 1), va + 16 * i, 16) == 0) {
                t[p].count++;
                break;
            }
        }
    }
    uint64_t pairs = 0;
    for (size_t j = 0; j < n; j++) {
        uint64_t h;
        memcpy(&h, vb + 16 * j, 8);
        for (size_t p = h & mask; t[p].idx1 != 0; p = (p + 1) & mask)
            if (memcmp(va + 16 * (t[p].idx1 - 1), vb + 16 * j, 16) == 0) {
                pairs += t[p].count;
                break;
            }
    }
    free(t);
    return pairs;
}

/* ---- Part A -------------------------------------------------------------- */

/* b = N/2 partners of distinct a records (in a shuffled order), then N/2
 * records of fresh values. Partner j gets fresh values in keys 0..(j%6)-1. */
static void make_sides(size_t n, uint8_t *a, uint8_t *b)
{
    random_bytes(a, n * VST_CV_RECORD_LEN);
    random_bytes(b, n * VST_CV_RECORD_LEN);
    size_t *perm = bench_xmalloc(n * sizeof *perm);
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates with a slightly biased draw: fine here */
        uint64_t r;
        random_bytes((uint8_t *)&r, sizeof r);
        size_t j = (size_t)(r % (i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t j = 0; j < n / 2; j++) {
        unsigned from = (unsigned)(j % VST_LINK_NKEYS);
        memcpy(b + perm[j] * VST_CV_RECORD_LEN + from * VST_CV_LEN,
               a + j * VST_CV_RECORD_LEN + from * VST_CV_LEN,
               (size_t)(VST_LINK_NKEYS - from) * VST_CV_LEN);
    }
    free(perm);
}

static void key0_values(const uint8_t *recs, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++)
        memcpy(out + 16 * i, recs + i * VST_CV_RECORD_LEN, 16);
}

static int part_a(size_t n)
{
    uint8_t *a = bench_xmalloc(n * VST_CV_RECORD_LEN), *b = bench_xmalloc(n * VST_CV_RECORD_LEN);
    make_sides(n, a, b);
    vst_link_counts c;
    long rss0 = bench_maxrss_kib();
    double t0 = bench_now();
    if (vst_link_match(a, n, b, n, &c, NULL, NULL) != 0) {
        fprintf(stderr, "bench_linkage: vst_link_match out of memory at N=%zu\n", n);
        return -1;
    }
    double t1 = bench_now();
    long rss1 = bench_maxrss_kib();
    uint8_t *va = bench_xmalloc(16 * n), *vb = bench_xmalloc(16 * n);
    key0_values(a, n, va);
    key0_values(b, n, vb);
    double t2 = bench_now();
    uint64_t pairs = join_pairs(va, vb, n);
    double t3 = bench_now();
    printf("A  N=%-8zu match %8.3f s  join %7.3f s  match/join %5.1fx  overlap %" PRIu64
           " (planted %zu, %s)  links/pass",
           n, t1 - t0, t3 - t2, (t1 - t0) / (t3 - t2), c.overlap, n / 2,
           c.overlap == n / 2 ? "ok" : "MISMATCH");
    for (unsigned k = 0; k < VST_LINK_NKEYS; k++)
        printf(" %" PRIu64, c.links[k]);
    printf("  join pairs %" PRIu64 "  working memory %.1f MiB, maxrss +%.1f MiB\n", pairs,
           (double)vst_link_match_bytes(n, n) / 1048576.0, (double)(rss1 - rss0) / 1024.0);
    fflush(stdout);
    free(va);
    free(vb);
    free(a);
    free(b);
    return c.overlap == n / 2 ? 0 : -1;
}

static int run_sizes(const char *list)
{
    int rc = 0;
    for (const char *p = list; *p != '\0';) {
        char *end;
        unsigned long long n = strtoull(p, &end, 10);
        if (end == p || n < 2 || n > 100000000ULL) {
            fprintf(stderr, "bench_linkage: bad --sizes %s\n", list);
            return 2;
        }
        if (part_a((size_t)n) != 0)
            rc = 1;
        p = *end == ',' ? end + 1 : end;
    }
    return rc;
}

int main(int argc, char **argv)
{
    const char *sizes = "10000,100000,1000000";
    int quality = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc)
            sizes = argv[++i];
        else if (strcmp(argv[i], "--quality") == 0)
            quality = i;
        else if (quality == 0) {
            fprintf(stderr, "usage: bench_linkage [--sizes N,N,...] | --quality ...\n");
            return 2;
        }
    }
    bench_print_machine();
    if (quality)
        return bench_quality(argc - quality - 1, argv + quality + 1);
    return run_sizes(sizes);
}
