/* keyd benchmark (a program, not a test): identifiers/s through vst-keyd's
 * data socket with batching, and p50/p99 latency of one batch round trip,
 * against a baseline measured in the same process: the in-process
 * derivation (vst_pseudonymize with a random key) of the same identifiers
 * in batches of the same size, on one core. keyd is single-threaded, so the
 * ratio socket/in-process says how much of a core's derivation rate the
 * process boundary (framing, copies, syscalls, the peer's work) leaves.
 *
 *   bench_keyd --socket PATH [--ids N] [--batch B] [--conns C]
 *       Without --batch / --conns it runs batches of 16384 and 65536 with 1
 *       and 2 connections (one thread each) and reports the best.
 *
 * Two helper modes for tests/bench/bench_keyd.sh (re-key benchmark):
 *
 *   bench_keyd --socket PATH --emit-rows N [--seed S]
 *       Writes N sgb5.records rows as COPY text to stdout, columns
 *       (delivery_ref, pseudonym, key_version, birth_year, sex,
 *       insurance_status, postal_prefix, provider_pseudonym, provider_group,
 *       provider_region, practice_pseudonym, provider_postal_prefix,
 *       service), whose pseudonyms are real keyd pseudonyms under keyd's
 *       current version. Row i (1-based, = its id in a fresh table) has the
 *       KVNR of generator person i-1; its provider identifiers come from the
 *       generator's stream, so the rows are a function of N's prefix and S.
 *
 *   bench_keyd --socket PATH --expect-rows N --sample K [--seed S]
 *       Regenerates the same rows and prints, for K rows spread over 1..N,
 *       "id|pseudonym|provider_pseudonym|practice_pseudonym|key_version"
 *       freshly pseudonymized by keyd now (NULL as an empty field), to be
 *       compared with the store after a re-key.
 *
 * A setup mode for the exception list (issue 12, tests/bench/bench_keyd.sh
 * --plant N):
 *
 *   bench_keyd --socket ADMIN_PATH --plant-objections N [--seed S]
 *       Records N objections (OBJECT on keyd's admin socket) for KVNRs of
 *       generator seed S (default 4242; the round trip uses seed 42, so
 *       almost all of its identifiers are looked up and missed, as in
 *       production), so that the round trip can be measured with a list of
 *       N entries in its domain (KVNRs are drawn from 2.6e9, so a few of a
 *       run's millions may be planted too: they come back withheld, as in
 *       production). Bench keystores only: the objections are permanent. */
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench_machine.h"
#include "derive.h"
#include "wire/keyd_client.h"
#include "cli/gen/gen.h"

#define KVNR_LEN 10

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "bench_keyd: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    exit(1);
}

static vst_keyd *connect_or_die(const char *path)
{
    char err[256];
    vst_keyd *k = vst_keyd_connect(path, err, sizeof err);
    if (k == NULL)
        die("%s%s", err, "");
    return k;
}

/* ---------------------------------------------------------------- throughput */

typedef struct {
    const char *socket;
    const uint8_t *ids; /* this thread's slice: n * KVNR_LEN bytes */
    size_t n, batch;
    double *lat; /* one entry per batch, seconds */
    size_t nlat;
    int rc;
    uint8_t acc;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    vst_keyd *k = connect_or_die(w->socket);
    uint8_t *out = malloc(w->batch * VST_PSEUDONYM_LEN), *withheld = malloc(w->batch);
    if (out == NULL || withheld == NULL)
        die("out of memory%s%s", "", "");
    for (size_t off = 0; off < w->n; off += w->batch) {
        size_t cnt = w->n - off < w->batch ? w->n - off : w->batch;
        vst_pseud_req rq = {.nsections = 1};
        snprintf(rq.sec[0].domain, sizeof rq.sec[0].domain, "sgb5/insured");
        rq.sec[0].id_len = KVNR_LEN;
        rq.sec[0].count = (uint32_t)cnt;
        rq.sec[0].ids = w->ids + off * KVNR_LEN;
        uint32_t v;
        double t0 = now();
        /* As vst-httpd: a planted objection (--plant-objections) may
         * withhold an identifier of the run. */
        int rc = vst_keyd_pseudonymize_withheld(k, &rq, &v, out, cnt * VST_PSEUDONYM_LEN, withheld);
        w->lat[w->nlat++] = now() - t0;
        if (rc != 0) {
            w->rc = rc;
            break;
        }
        w->acc ^= out[0];
    }
    free(out);
    free(withheld);
    vst_keyd_close(k);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *s, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return s[i < n ? i : n - 1];
}

/* Identifiers/s through the socket; p50 and p99 get the batch latency in s. */
static double run_socket(const char *sock, const uint8_t *ids, size_t n, size_t batch,
                         unsigned conns, double *p50, double *p99)
{
    worker w[16];
    pthread_t th[16];
    size_t per = (n + conns - 1) / conns, all = 0;
    double *lat = malloc(((n + batch - 1) / batch + conns) * sizeof *lat);
    for (unsigned c = 0; c < conns; c++) {
        size_t lo = c * per < n ? c * per : n, hi = lo + per < n ? lo + per : n;
        w[c] = (worker){sock, ids + lo * KVNR_LEN, hi - lo, batch, NULL, 0, 0, 0};
        w[c].lat = malloc(((hi - lo + batch - 1) / batch + 1) * sizeof(double));
    }
    double t0 = now();
    for (unsigned c = 0; c < conns; c++)
        if (pthread_create(&th[c], NULL, work, &w[c]) != 0)
            die("pthread_create failed%s%s", "", "");
    for (unsigned c = 0; c < conns; c++)
        pthread_join(th[c], NULL);
    double dt = now() - t0;
    for (unsigned c = 0; c < conns; c++) {
        if (w[c].rc != 0)
            die("pseudonymize: %s%s", vst_keyd_strerror(w[c].rc), "");
        memcpy(lat + all, w[c].lat, w[c].nlat * sizeof *lat);
        all += w[c].nlat;
        free(w[c].lat);
    }
    qsort(lat, all, sizeof *lat, cmp_double);
    *p50 = pct(lat, all, 0.50);
    *p99 = pct(lat, all, 0.99);
    free(lat);
    return (double)n / dt;
}

/* The same identifiers derived in this process, in batches of the same
 * size, on one core: identifiers/s. */
static double run_inproc(const uint8_t *ids, size_t n, size_t batch)
{
    uint8_t root[VST_KEY_LEN], vkey[VST_KEY_LEN];
    RAND_bytes(root, sizeof root);
    RAND_bytes(vkey, sizeof vkey);
    vst_domain_key *dk = vst_domain_key_new(root, "sgb5/insured");
    vst_version_key *vk = vst_version_key_new(1, vkey);
    OPENSSL_cleanse(root, sizeof root);
    OPENSSL_cleanse(vkey, sizeof vkey);
    const char **p = malloc(batch * sizeof *p);
    size_t *lens = malloc(batch * sizeof *lens);
    uint8_t *out = malloc(batch * VST_PSEUDONYM_LEN), acc = 0;
    double t0 = now();
    for (size_t off = 0; off < n; off += batch) {
        size_t cnt = n - off < batch ? n - off : batch;
        for (size_t i = 0; i < cnt; i++) {
            p[i] = (const char *)ids + (off + i) * KVNR_LEN;
            lens[i] = KVNR_LEN;
        }
        if (vst_pseudonymize(dk, vk, p, lens, cnt, out) != 0)
            die("vst_pseudonymize failed%s%s", "", "");
        acc ^= out[0];
    }
    double dt = now() - t0;
    if (acc == 0x5a)
        fputc('\0', stderr); /* keep the loop observable */
    free(p);
    free(lens);
    free(out);
    vst_domain_key_free(dk);
    vst_version_key_free(vk);
    return (double)n / dt;
}

static int bench(const char *sock, size_t n, size_t batch_opt, unsigned conns_opt)
{
    bench_print_machine();
    uint8_t *ids = malloc(n * KVNR_LEN);
    if (ids == NULL)
        die("out of memory%s%s", "", "");
    vst_gen *g = vst_gen_new(42);
    char id[VST_ID_MAXLEN + 1];
    for (size_t i = 0; i < n; i++) {
        vst_gen_id(g, VST_ID_KVNR, id);
        memcpy(ids + i * KVNR_LEN, id, KVNR_LEN);
    }
    vst_gen_free(g);
    size_t batches[2] = {batch_opt ? batch_opt : 16384, 65536};
    unsigned connss[2] = {conns_opt ? conns_opt : 1, 2};
    size_t nb = batch_opt ? 1 : 2, nc = conns_opt ? 1 : 2;
    printf("keyd round trip: %zu KVNRs (domain sgb5/insured) through %s\n", n, sock);
    /* Warm-up: connection set-up, keyd's domain key, page faults. */
    double p50, p99, best = 0, best_ratio = 0;
    size_t best_b = 0;
    unsigned best_c = 0;
    run_socket(sock, ids, n < 65536 ? n : 65536, 16384, 1, &p50, &p99);
    for (size_t bi = 0; bi < nb; bi++) {
        size_t b = batches[bi];
        double base = run_inproc(ids, n, b);
        printf("  batch %6zu  in-process vst_pseudonymize (baseline, 1 core): %10.0f ids/s\n", b,
               base);
        for (size_t ci = 0; ci < nc; ci++) {
            unsigned c = connss[ci];
            double r = run_socket(sock, ids, n, b, c, &p50, &p99);
            printf("  batch %6zu  conns %u  socket: %10.0f ids/s  p50 %6.2f ms  p99 %6.2f ms  "
                   "socket/in-process = %.2f\n",
                   b, c, r, p50 * 1e3, p99 * 1e3, r / base);
            fflush(stdout);
            if (r > best) {
                best = r;
                best_ratio = r / base;
                best_b = b;
                best_c = c;
            }
        }
    }
    printf("keyd best: %.0f identifiers/s (batch %zu, %u conns), socket/in-process = %.2f; "
           "goal >= 1000000: %s\n",
           best, best_b, best_c, best_ratio, best >= 1e6 ? "met" : "NOT met");
    free(ids);
    return 0;
}

/* ---------------------------------------------------------------- store rows */

enum { PROV_NONE, PROV_LANR_BSNR, PROV_LANR, PROV_IK };

typedef struct {
    char kvnr[VST_ID_MAXLEN + 1];
    char prov[VST_ID_MAXLEN + 1]; /* LANR or IK */
    char bsnr[VST_ID_MAXLEN + 1];
    int kind;
    uint64_t r; /* randomness for the plain columns */
} row_ids;

/* Row i (0-based) of the sequence; must be called for i = 0, 1, 2, ... */
static void row_next(vst_gen *g, uint64_t i, row_ids *r)
{
    vst_gen_person_kvnr(g, i, r->kvnr);
    r->r = vst_gen_u64(g);
    unsigned k = (unsigned)(r->r % 100);
    r->kind = k < 10 ? PROV_NONE : k < 70 ? PROV_LANR_BSNR : k < 85 ? PROV_LANR : PROV_IK;
    r->prov[0] = r->bsnr[0] = '\0';
    if (r->kind == PROV_LANR || r->kind == PROV_LANR_BSNR)
        vst_gen_id(g, VST_ID_LANR, r->prov);
    if (r->kind == PROV_IK)
        vst_gen_id(g, VST_ID_IK, r->prov);
    if (r->kind == PROV_LANR_BSNR)
        vst_gen_id(g, VST_ID_BSNR, r->bsnr);
}

/* A chunk of rows and their pseudonyms from one keyd call: up to 4
 * sections (insured, lanr, ik, bsnr). */
#define CHUNK 16384
typedef struct {
    row_ids rows[CHUNK];
    size_t n;
    uint8_t ids[4][CHUNK * VST_ID_MAXLEN];
    uint32_t cnt[4];
    uint8_t len[4];
    uint32_t at[CHUNK][3]; /* index into the section of each column */
    uint8_t out[4 * CHUNK * VST_PSEUDONYM_LEN];
    char hex[CHUNK][3][VST_PSEUDONYM_HEX + 1];
    uint32_t version;
} chunk;

static void chunk_add(chunk *c, int sec, const char *id, uint32_t *at)
{
    size_t l = strlen(id);
    c->len[sec] = (uint8_t)l;
    memcpy(c->ids[sec] + (size_t)c->cnt[sec] * l, id, l);
    *at = c->cnt[sec]++;
}

/* Pseudonymizes the rows of c whose want[] is set (all if want is NULL). */
static void chunk_pseudonymize(vst_keyd *k, chunk *c, const unsigned char *want)
{
    static const char *const dom[4] = {"sgb5/insured", "sgb5/lanr-stem", "sgb5/ik", "sgb5/bsnr"};
    memset(c->cnt, 0, sizeof c->cnt);
    for (size_t i = 0; i < c->n; i++) {
        row_ids *r = &c->rows[i];
        if (want != NULL && !want[i])
            continue;
        chunk_add(c, 0, r->kvnr, &c->at[i][0]);
        if (r->kind != PROV_NONE)
            chunk_add(c, r->kind == PROV_IK ? 2 : 1, r->prov, &c->at[i][1]);
        if (r->kind == PROV_LANR_BSNR)
            chunk_add(c, 3, r->bsnr, &c->at[i][2]);
    }
    vst_pseud_req rq = {0};
    size_t base[4], off = 0;
    for (int s = 0; s < 4; s++) {
        base[s] = off;
        if (c->cnt[s] == 0)
            continue;
        vst_pseud_section *sec = &rq.sec[rq.nsections++];
        snprintf(sec->domain, sizeof sec->domain, "%s", dom[s]);
        sec->id_len = c->len[s];
        sec->count = c->cnt[s];
        sec->ids = c->ids[s];
        off += c->cnt[s];
    }
    if (rq.nsections == 0)
        return;
    int rc = vst_keyd_pseudonymize(k, &rq, &c->version, c->out, sizeof c->out);
    if (rc != 0)
        die("pseudonymize: %s%s", vst_keyd_strerror(rc), "");
    for (size_t i = 0; i < c->n; i++) {
        row_ids *r = &c->rows[i];
        if (want != NULL && !want[i])
            continue;
        vst_hex(c->out + (base[0] + c->at[i][0]) * VST_PSEUDONYM_LEN, VST_PSEUDONYM_LEN,
                c->hex[i][0]);
        c->hex[i][1][0] = c->hex[i][2][0] = '\0';
        if (r->kind != PROV_NONE)
            vst_hex(c->out + (base[r->kind == PROV_IK ? 2 : 1] + c->at[i][1]) * VST_PSEUDONYM_LEN,
                    VST_PSEUDONYM_LEN, c->hex[i][1]);
        if (r->kind == PROV_LANR_BSNR)
            vst_hex(c->out + (base[3] + c->at[i][2]) * VST_PSEUDONYM_LEN, VST_PSEUDONYM_LEN,
                    c->hex[i][2]);
    }
}

static const char *const ICD[] = {"J06.9", "I10", "E11.9", "M54.5", "K21.0", "F32.1", "Z00.0"};
static const char *const EBM[] = {"03000", "03220", "01732", "13250", "32101", "04110"};

static void emit_row(FILE *f, uint64_t id, const row_ids *r,
                     const char hex[3][VST_PSEUDONYM_HEX + 1], uint32_t version)
{
    uint64_t x = r->r;
    /* delivery_ref: one per 10000 rows */
    uint64_t d = id / 10000;
    fprintf(f, "00000000-0000-4000-8000-%012" PRIx64 "\t%s\t%u\t%u\t%c\t%c\t%02u\t", d, hex[0],
            version, 1920u + (unsigned)(x >> 8) % 100, "MWDX"[(x >> 16) % 4], "135"[(x >> 20) % 3],
            (unsigned)(x >> 24) % 100);
    if (r->kind == PROV_NONE) {
        fputs("\\N\t\\N\t\\N\t\\N\t\\N\t", f);
    } else if (r->kind == PROV_IK) {
        fprintf(f, "%s\t%.2s\t%.2s\t\\N\t%02u\t", hex[1], r->prov, r->prov + 2,
                (unsigned)(x >> 32) % 100);
    } else {
        fprintf(f, "%s\t%.2s\t", hex[1], r->prov + 7);
        if (r->kind == PROV_LANR_BSNR)
            fprintf(f, "%.2s\t%s\t", r->bsnr, hex[2]);
        else
            fputs("\\N\t\\N\t", f);
        fprintf(f, "%02u\t", (unsigned)(x >> 32) % 100);
    }
    fprintf(f,
            "{\"period\": \"20%02uQ%u\", \"icd10\": [\"%s\"], \"ebm\": [\"%s\"], "
            "\"cost_cents\": %u, \"days\": %u}\n",
            20u + (unsigned)(x >> 40) % 5, 1u + (unsigned)(x >> 44) % 4, ICD[(x >> 48) % 7],
            EBM[(x >> 52) % 6], (unsigned)(x >> 12) % 100000, 1u + (unsigned)(x >> 56) % 90);
}

static int rows(const char *sock, uint64_t n, uint64_t seed, uint64_t sample)
{
    vst_keyd *k = connect_or_die(sock);
    vst_gen *g = vst_gen_new(seed);
    chunk *c = malloc(sizeof *c);
    unsigned char *want = sample ? malloc(CHUNK) : NULL;
    if (g == NULL || c == NULL || (sample && want == NULL))
        die("out of memory%s%s", "", "");
    uint64_t step = sample ? (n / sample ? n / sample : 1) : 1;
    static char obuf[1 << 20];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    for (uint64_t i = 0; i < n;) {
        c->n = 0;
        size_t hits = 0;
        for (; c->n < CHUNK && i < n; i++, c->n++) {
            row_next(g, i, &c->rows[c->n]);
            if (want) {
                /* ids step, 2*step, ...: i + 1 is the row's id */
                want[c->n] = (unsigned char)((i + 1) % step == 0);
                hits += want[c->n];
            }
        }
        if (want && hits == 0)
            continue;
        chunk_pseudonymize(k, c, want);
        uint64_t first = i - c->n + 1;
        for (size_t j = 0; j < c->n; j++) {
            if (want == NULL)
                emit_row(stdout, first + j, &c->rows[j], c->hex[j], c->version);
            else if (want[j])
                printf("%" PRIu64 "|%s|%s|%s|%u\n", first + j, c->hex[j][0], c->hex[j][1],
                       c->hex[j][2], c->version);
        }
    }
    if (fflush(stdout) != 0)
        die("writing rows: %s%s", strerror(errno), "");
    free(want);
    free(c);
    vst_gen_free(g);
    vst_keyd_close(k);
    return 0;
}

/* N objections through the admin socket (see the header). */
static int plant(const char *sock, uint64_t n, uint64_t seed)
{
    vst_keyd *k = connect_or_die(sock);
    vst_gen *g = vst_gen_new(seed);
    char id[VST_ID_MAXLEN + 1];
    uint64_t fresh = 0;
    double t0 = now();
    for (uint64_t i = 0; g != NULL && i < n; i++) {
        vst_case_answer a;
        vst_gen_id(g, VST_ID_KVNR, id);
        int rc = vst_keyd_object(k, "sgb5/insured", (const uint8_t *)id, KVNR_LEN, &a);
        if (rc != 0)
            die("object: %s%s", vst_keyd_strerror(rc), "");
        fresh += !a.existed;
        vst_case_answer_free(&a);
    }
    OPENSSL_cleanse(id, sizeof id);
    printf("planted %" PRIu64 " objections (%" PRIu64 " new) in %.1f s\n", n, fresh, now() - t0);
    vst_gen_free(g);
    vst_keyd_close(k);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_keyd --socket PATH [--ids N] [--batch B] [--conns C]\n"
                    "       bench_keyd --socket PATH --emit-rows N [--seed S]\n"
                    "       bench_keyd --socket PATH --expect-rows N --sample K [--seed S]\n"
                    "       bench_keyd --socket ADMIN_PATH --plant-objections N [--seed S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *sock = NULL;
    size_t nids = 4000000, batch = 0;
    unsigned conns = 0;
    uint64_t emit = 0, expect = 0, sample = 0, seed = 7, nplant = 0;
    int seeded = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            usage();
        i++;
        if (strcmp(a, "--socket") == 0)
            sock = v;
        else if (strcmp(a, "--ids") == 0)
            nids = strtoull(v, NULL, 10);
        else if (strcmp(a, "--batch") == 0)
            batch = strtoull(v, NULL, 10);
        else if (strcmp(a, "--conns") == 0)
            conns = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(a, "--emit-rows") == 0)
            emit = strtoull(v, NULL, 10);
        else if (strcmp(a, "--expect-rows") == 0)
            expect = strtoull(v, NULL, 10);
        else if (strcmp(a, "--sample") == 0)
            sample = strtoull(v, NULL, 10);
        else if (strcmp(a, "--seed") == 0)
            seed = strtoull(v, NULL, 10), seeded = 1;
        else if (strcmp(a, "--plant-objections") == 0)
            nplant = strtoull(v, NULL, 10);
        else
            usage();
    }
    if (sock == NULL || nids == 0 || batch > VST_BATCH_MAX || conns > 16 || (expect && sample == 0))
        usage();
    if (nplant)
        return plant(sock, nplant, seeded ? seed : 4242);
    if (emit)
        return rows(sock, emit, seed, 0);
    if (expect)
        return rows(sock, expect, seed, sample);
    return bench(sock, nids, batch, conns);
}
