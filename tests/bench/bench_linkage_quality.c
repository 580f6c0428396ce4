/* Linkage benchmark, Parts B and C (tests/bench/bench_linkage.sh runs them).
 *
 *   bench_linkage --quality --a A.ndjson --truth-a A.tsv --b B.ndjson --truth-b B.tsv
 *                 [--keyd-data SOCK --keyd-admin SOCK --keyd-pid PID]
 *
 * Part B, quality, in process: every child of both sides (vst-gen
 * --profile measles_case / school_entry) goes through vst_person_normalize
 * (a child it refuses would be refused at delivery: counted, left out) and
 * the inner control values of keys/link_derive.h (vst_link_inner) under a
 * random root key, domain ph/child; vst_link_match links the sides with pair_a/pair_b. The truth
 * files (TSV "line<TAB>child", child s<i> for a shared child) say which links are right. Per pass:
 * links made, precision of that pass, cumulative precision and recall; overall: true overlap
 * (shared children on both sides), found overlap, its error, precision, recall. A pass's links are
 * told apart by re-running the matcher with the keys after it replaced by
 * values unique to each record: passes run in order, so the run that stops
 * after pass k links exactly what the full run linked in passes 0..k.
 *
 * Part C, keyd, with --keyd-*: the same children through a real vst-keyd:
 * CV_DERIVE on the data socket (collections measles_case and school_entry,
 * domain ph/child), then OVERLAP_OPEN (k 5), OVERLAP_FEED of both sides in
 * frames of 16384 and OVERLAP_RUN on the admin socket, each timed; keyd's
 * VmHWM and VmRSS from /proc/PID/status before and after. keyd's overlap
 * and passes must equal Part B's (same records, same rules). */
#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_linkage.h"
#include "link_derive.h"
#include "link_match.h"
#include "linkage/normalize.h"
#include "wire/keyd_client.h"

#define NONE UINT64_MAX

typedef struct {
    size_t n;        /* records kept */
    size_t refused;  /* refused by the normalization */
    uint64_t *truth; /* n: shared child number, or NONE for the side's own */
    uint8_t *cv;     /* n * 96 inner control values, in process (Part B) */
    uint8_t *st;     /* n * 96 stored values from keyd's CV_DERIVE (Part C), or NULL */
    uint32_t st_version;
    double t_norm, t_derive, t_keyd; /* seconds spent in each */
} side;

/* What reading a side derives with: the in-process linkage key, and
 * keyd's data socket (NULL: no Part C). */
typedef struct {
    const vst_link_key *lk;
    vst_keyd *keyd;
    const char *collection;
} deriver;

/* ---- reading a side ------------------------------------------------------- */

static const char *str_of(json_t *o, const char *k, size_t *len)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v)) {
        *len = 0;
        return NULL;
    }
    *len = json_string_length(v);
    return json_string_value(v);
}

static int normalize_child(const char *line, vst_person *out)
{
    json_t *root = json_loads(line, 0, NULL);
    json_t *child = root ? json_object_get(root, "child") : NULL;
    if (child == NULL) {
        json_decref(root);
        return -1;
    }
    vst_person_raw r;
    r.given = str_of(child, "given_names", &r.given_len);
    r.family = str_of(child, "family_names", &r.family_len);
    r.birth = str_of(child, "birth_name", &r.birth_len);
    r.date = str_of(child, "birth_date", &r.date_len);
    r.sex = str_of(child, "sex", &r.sex_len);
    const char *which = NULL;
    int rc = r.given && r.family && r.date && r.sex && vst_person_normalize(&r, out, &which) == 0
                 ? 0
                 : 1;
    json_decref(root);
    return rc;
}

static uint64_t *read_truth(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "bench_linkage: cannot open %s\n", path);
        exit(1);
    }
    size_t cap = 1024, used = 0;
    uint64_t *t = bench_xmalloc(cap * sizeof *t);
    char buf[128];
    if (fgets(buf, sizeof buf, f) == NULL || strncmp(buf, "line\tchild", 10) != 0) {
        fprintf(stderr, "bench_linkage: %s is not a vst-gen truth file\n", path);
        exit(1);
    }
    while (fgets(buf, sizeof buf, f) != NULL) {
        unsigned long long line;
        char id[64];
        if (sscanf(buf, "%llu\t%63s", &line, id) != 2 || line != used + 1) {
            fprintf(stderr, "bench_linkage: %s line %zu is malformed\n", path, used + 2);
            exit(1);
        }
        if (used == cap) {
            cap *= 2;
            t = realloc(t, cap * sizeof *t);
            if (t == NULL)
                exit(1);
        }
        t[used++] = id[0] == 's' ? strtoull(id + 1, NULL, 10) : NONE;
    }
    fclose(f);
    *n = used;
    return t;
}

static void keyd_check(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "bench_linkage: %s: %s\n", what, vst_keyd_strerror(rc));
        exit(1);
    }
}

/* Derives the values of the m persons of batch that start at record `at`. */
static void derive_batch(const deriver *d, side *s, const vst_person *batch, size_t m, size_t at)
{
    double t0 = bench_now();
    for (size_t i = 0; i < m; i++)
        if (vst_link_inner(d->lk, &batch[i], s->cv + (at + i) * VST_CV_RECORD_LEN) != 0) {
            fprintf(stderr, "bench_linkage: vst_link_inner refused a normalized child\n");
            exit(1);
        }
    double t1 = bench_now();
    s->t_derive += t1 - t0;
    if (d->keyd == NULL)
        return;
    keyd_check(vst_keyd_cv_derive(d->keyd, "ph/child", d->collection, batch, (uint32_t)m,
                                  &s->st_version, s->st + at * VST_CV_RECORD_LEN,
                                  m * VST_CV_RECORD_LEN),
               "CV_DERIVE");
    s->t_keyd += bench_now() - t1;
}

/* Reads, normalizes and derives a side in batches of VST_CV_BATCH_MAX
 * children (the persons are wiped batch by batch; only values are kept). */
static void read_side(const char *path, const char *truth_path, const deriver *d, side *s)
{
    size_t nt;
    uint64_t *truth = read_truth(truth_path, &nt);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "bench_linkage: cannot open %s\n", path);
        exit(1);
    }
    memset(s, 0, sizeof *s);
    s->truth = bench_xmalloc((nt ? nt : 1) * sizeof *s->truth);
    s->cv = bench_xmalloc((nt ? nt : 1) * VST_CV_RECORD_LEN);
    s->st = d->keyd ? bench_xmalloc((nt ? nt : 1) * VST_CV_RECORD_LEN) : NULL;
    vst_person *batch = bench_xmalloc(VST_CV_BATCH_MAX * sizeof *batch);
    char *line = NULL;
    size_t cap = 0, l = 0, m = 0;
    for (;;) {
        double t0 = bench_now();
        ssize_t len = getline(&line, &cap, f);
        if (len > 0 && l >= nt) {
            fprintf(stderr, "bench_linkage: %s has more lines than its truth file\n", path);
            exit(1);
        }
        if (len > 0 && normalize_child(line, &batch[m]) == 0)
            s->truth[s->n + m++] = truth[l];
        else if (len > 0)
            s->refused++;
        l += len > 0;
        s->t_norm += bench_now() - t0;
        if (m == VST_CV_BATCH_MAX || (len <= 0 && m > 0)) {
            derive_batch(d, s, batch, m, s->n);
            s->n += m;
            m = 0;
        }
        if (len <= 0)
            break;
    }
    OPENSSL_cleanse(batch, VST_CV_BATCH_MAX * sizeof *batch);
    free(batch);
    if (line != NULL)
        OPENSSL_cleanse(line, cap);
    free(line);
    fclose(f);
    free(truth);
    if (l != nt) {
        fprintf(stderr, "bench_linkage: %s has %zu lines, its truth file %zu\n", path, l, nt);
        exit(1);
    }
}

static void free_side(side *s)
{
    OPENSSL_cleanse(s->cv, s->n * VST_CV_RECORD_LEN);
    free(s->cv);
    free(s->st);
    free(s->truth);
}

/* Shared children present on both sides (each is on a side at most once). */
static uint64_t true_overlap(const side *a, const side *b)
{
    uint64_t max = 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->truth[i] != NONE && a->truth[i] + 1 > max)
            max = a->truth[i] + 1;
    uint8_t *on_a = calloc(max ? max : 1, 1);
    if (on_a == NULL)
        exit(1);
    for (size_t i = 0; i < a->n; i++)
        if (a->truth[i] != NONE)
            on_a[a->truth[i]] = 1;
    uint64_t both = 0;
    for (size_t j = 0; j < b->n; j++)
        both += b->truth[j] != NONE && b->truth[j] < max && on_a[b->truth[j]];
    free(on_a);
    return both;
}

/* ---- Part B ---------------------------------------------------------------- */

/* A copy of recs whose keys after `last` hold values unique to each record
 * (tag tells the sides apart), so that no pass after `last` links. */
static uint8_t *keys_upto(const uint8_t *recs, size_t n, unsigned last, uint8_t tag)
{
    uint8_t *c = bench_xmalloc((n ? n : 1) * VST_CV_RECORD_LEN);
    memcpy(c, recs, n * VST_CV_RECORD_LEN);
    for (size_t i = 0; i < n; i++)
        for (unsigned k = last + 1; k < VST_LINK_NKEYS; k++) {
            uint8_t *v = c + i * VST_CV_RECORD_LEN + k * VST_CV_LEN;
            uint64_t x = (uint64_t)i;
            memset(v, 0, VST_CV_LEN);
            memcpy(v, &x, sizeof x);
            v[8] = tag;
            v[9] = (uint8_t)k;
        }
    return c;
}

static uint64_t correct_links(const side *a, const side *b, const size_t *pa)
{
    uint64_t ok = 0;
    for (size_t i = 0; i < a->n; i++)
        ok += pa[i] != SIZE_MAX && a->truth[i] != NONE && a->truth[i] == b->truth[pa[i]];
    return ok;
}

static double pct(uint64_t x, uint64_t of)
{
    return of ? 100.0 * (double)x / (double)of : 0.0;
}

static int part_b(side *a, side *b, vst_link_counts *full)
{
    double t1 = bench_now();
    size_t *pa = bench_xmalloc((a->n ? a->n : 1) * sizeof *pa);
    size_t *pb = bench_xmalloc((b->n ? b->n : 1) * sizeof *pb);
    if (vst_link_match(a->cv, a->n, b->cv, b->n, full, pa, pb) != 0)
        return -1;
    double t2 = bench_now();
    uint64_t truth = true_overlap(a, b), right = correct_links(a, b, pa);
    printf("B  a %zu records (%zu refused by the normalization), b %zu (%zu refused); read and "
           "normalize %.2f s, derive in process %.2f s, match %.2f s\n",
           a->n, a->refused, b->n, b->refused, a->t_norm + b->t_norm, a->t_derive + b->t_derive,
           t2 - t1);
    printf("B  pass        links   right  pass-precision  cum-precision  cum-recall\n");
    uint64_t prev_links = 0, prev_right = 0;
    int rc = 0;
    for (unsigned k = 0; k < VST_LINK_NKEYS; k++) {
        uint8_t *ca = keys_upto(a->cv, a->n, k, 1), *cb = keys_upto(b->cv, b->n, k, 2);
        vst_link_counts c;
        if (vst_link_match(ca, a->n, cb, b->n, &c, pa, NULL) != 0)
            return -1;
        uint64_t r = correct_links(a, b, pa);
        if (c.overlap - prev_links != full->links[k])
            rc = -1;                           /* the cut run must agree with the full one */
        char pass_prec[32] = "             -"; /* no link: no precision */
        if (c.overlap > prev_links)
            snprintf(pass_prec, sizeof pass_prec, "%13.3f%%",
                     pct(r - prev_right, c.overlap - prev_links));
        printf("B  %-9s %8" PRIu64 " %7" PRIu64 "  %s  %12.3f%%  %9.3f%%\n", vst_link_key_name(k),
               c.overlap - prev_links, r - prev_right, pass_prec, pct(r, c.overlap), pct(r, truth));
        prev_links = c.overlap;
        prev_right = r;
        free(ca);
        free(cb);
    }
    double err = truth ? 100.0 * ((double)full->overlap - (double)truth) / (double)truth : 0.0;
    printf("B  overall: true overlap %" PRIu64 ", found %" PRIu64
           " (error %+.2f %%), right %" PRIu64 ", precision %.3f %%, recall %.3f %%%s\n",
           truth, full->overlap, err, right, pct(right, full->overlap), pct(right, truth),
           rc == 0 ? "" : "  [per-pass runs DISAGREE with the full run]");
    free(pa);
    free(pb);
    return rc;
}

/* ---- Part C ---------------------------------------------------------------- */

static void proc_status(long pid, long *hwm_kib, long *rss_kib)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    *hwm_kib = *rss_kib = -1;
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm_kib = strtol(line + 6, NULL, 10);
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss_kib = strtol(line + 6, NULL, 10);
    }
    fclose(f);
}

static vst_keyd *keyd_or_die(const char *path)
{
    char err[256];
    vst_keyd *k = vst_keyd_connect(path, err, sizeof err);
    if (k == NULL) {
        fprintf(stderr, "bench_linkage: keyd %s: %s\n", path, err);
        exit(1);
    }
    return k;
}

static void keyd_feed(vst_keyd *k, uint8_t side_no, uint32_t ver, const uint8_t *v, size_t n)
{
    for (size_t i = 0; i < n; i += VST_CV_BATCH_MAX) {
        uint32_t m = (uint32_t)(n - i < VST_CV_BATCH_MAX ? n - i : VST_CV_BATCH_MAX);
        keyd_check(vst_keyd_overlap_feed(k, side_no, ver, v + i * VST_CV_RECORD_LEN, m, NULL),
                   "OVERLAP_FEED");
    }
}

static int part_c(const side *a, const side *b, const vst_link_counts *inproc, vst_keyd *ka,
                  long pid, long hwm1)
{
    long hwm2, rss2;
    vst_overlap_open_req rq;
    memset(&rq, 0, sizeof rq);
    snprintf(rq.domain, sizeof rq.domain, "ph/child");
    snprintf(rq.collection_a, sizeof rq.collection_a, "measles_case");
    snprintf(rq.collection_b, sizeof rq.collection_b, "school_entry");
    rq.k = 5;
    uint32_t left;
    vst_overlap_result res;
    double t2 = bench_now();
    keyd_check(vst_keyd_overlap_open(ka, &rq, &left), "OVERLAP_OPEN");
    keyd_feed(ka, 0, a->st_version, a->st, a->n);
    keyd_feed(ka, 1, b->st_version, b->st, b->n);
    double t3 = bench_now();
    keyd_check(vst_keyd_overlap_run(ka, &res), "OVERLAP_RUN");
    double t4 = bench_now();
    proc_status(pid, &hwm2, &rss2);
    int same = !res.suppressed && res.overlap == inproc->overlap &&
               memcmp(res.links, inproc->links, sizeof res.links) == 0;
    printf("C  keyd: CV_DERIVE %zu + %zu children %.2f s; query OPEN+FEED %.2f s, RUN %.2f s, "
           "total %.2f s; overlap %" PRIu64 "%s\n",
           a->n, b->n, a->t_keyd + b->t_keyd, t3 - t2, t4 - t3, t4 - t2, res.overlap,
           same ? " (= in process)" : " (DIFFERS from in process)");
    printf("C  keyd memory: VmHWM %.1f MiB before the query, %.1f MiB after RUN (the query's "
           "peak %+.1f MiB), VmRSS %.1f MiB after RUN\n",
           hwm1 / 1024.0, hwm2 / 1024.0, (hwm2 - hwm1) / 1024.0, rss2 / 1024.0);
    return same ? 0 : -1;
}

int bench_quality(int argc, char **argv)
{
    const char *fa = NULL, *ta = NULL, *fb = NULL, *tb = NULL, *data = NULL, *admin = NULL;
    long pid = 0;
    for (int i = 0; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (strcmp(o, "--a") == 0)
            fa = v;
        else if (strcmp(o, "--truth-a") == 0)
            ta = v;
        else if (strcmp(o, "--b") == 0)
            fb = v;
        else if (strcmp(o, "--truth-b") == 0)
            tb = v;
        else if (strcmp(o, "--keyd-data") == 0)
            data = v;
        else if (strcmp(o, "--keyd-admin") == 0)
            admin = v;
        else if (strcmp(o, "--keyd-pid") == 0)
            pid = strtol(v, NULL, 10);
        else
            fa = NULL, i = argc;
    }
    if (fa == NULL || ta == NULL || fb == NULL || tb == NULL || (argc % 2) != 0) {
        fprintf(stderr, "usage: bench_linkage --quality --a FILE --truth-a FILE --b FILE "
                        "--truth-b FILE [--keyd-data SOCK --keyd-admin SOCK --keyd-pid PID]\n");
        return 2;
    }
    uint8_t root[VST_KEY_LEN];
    if (RAND_bytes(root, sizeof root) != 1)
        return 1;
    vst_link_key *lk = vst_link_key_new(root, "ph/child"); /* a random root key */
    OPENSSL_cleanse(root, sizeof root);
    if (lk == NULL)
        return 1;
    int keyd = data != NULL && admin != NULL && pid > 0;
    vst_keyd *kd = keyd ? keyd_or_die(data) : NULL, *ka = keyd ? keyd_or_die(admin) : NULL;
    deriver da = {lk, kd, "measles_case"}, db = {lk, kd, "school_entry"};
    side a, b;
    read_side(fa, ta, &da, &a);
    read_side(fb, tb, &db, &b);
    vst_link_key_free(lk);
    long hwm1 = 0, rss1;
    if (keyd)
        proc_status(pid, &hwm1, &rss1);
    vst_link_counts full;
    int rc = part_b(&a, &b, &full) == 0 ? 0 : 1;
    if (rc == 0 && keyd)
        rc = part_c(&a, &b, &full, ka, pid, hwm1) == 0 ? 0 : 1;
    if (keyd) {
        vst_keyd_close(kd);
        vst_keyd_close(ka);
    }
    fflush(stdout);
    free_side(&a);
    free_side(&b);
    return rc;
}
