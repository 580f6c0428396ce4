/* The exception list's cost in PSEUDONYMIZE's hot path, in-process (a
 * program, not a test; docs/benchmarks.md): keyd_cases.c with its keyd
 * calls stubbed, against a keystore in /dev/shm holding N objections.
 *
 *   bench_cases [--entries N] [--batch B] [--reps R]
 *
 * Per batch of B KVNRs (other draws than the planted ones: nearly all are
 * looked up and missed, as in production): the work keyd does for a section — inner values, the
 * list's lookup, AES — timed without the lookup, with it against an empty
 * list (the domain has no table: skipped) and against N entries; the
 * minimum of R repetitions each, so that other load on the machine counts
 * as little as possible. keyd's round trip (framing, copies, syscalls)
 * comes on top of these: tests/bench/bench_keyd.sh measures it. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "keyd/keyd.h"
#include "cli/gen/gen.h"

/* ---- keyd_cases.c's calls into the rest of keyd */

static vst_keystore *ks;

void keyd_log(const char *level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

vst_keystore *keyd_keystore(void)
{
    return ks;
}

void keyd_keys_written(void) {}

int64_t keyd_wall_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* ---- the bench */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_cases: %s\n", what);
    exit(1);
}

/* One section's work, as keyd_handlers.c's: lookup 0 as before the list
 * existed, 1 with keyd_cases_table's table. */
static double section(const vst_domain_key *dk, vst_version_key *vk, const char *ids, size_t n,
                      uint8_t *out, int lookup)
{
    static uint32_t withheld[VST_BATCH_MAX];
    double t0 = now();
    /* As keyd's handler. KVNRs are drawn from 2.6e9: one of the batch may
     * be planted too, and is withheld, as it would be in production. */
    const keyd_case_table *t = lookup ? keyd_cases_table("sgb5/insured") : NULL;
    (void)keyd_cases_derive(dk, t, (const uint8_t *)ids, 10, (uint32_t)n, out, withheld);
    if (vst_pseudonym_encrypt(vk, out, out, n) != 0)
        die("encrypt failed");
    return now() - t0;
}

/* Minimum over reps of each mode, alternating, in seconds. */
static void measure(const vst_domain_key *dk, vst_version_key *vk, const char *ids, size_t n,
                    int reps, double best[2])
{
    uint8_t *out = malloc(16 * n);
    if (out == NULL)
        die("out of memory");
    best[0] = best[1] = 1e9;
    for (int r = 0; r < reps; r++)
        for (int m = 0; m < 2; m++) {
            double t = section(dk, vk, ids, n, out, m);
            if (t < best[m])
                best[m] = t;
        }
    free(out);
}

static void plant(size_t n)
{
    vst_gen *g = vst_gen_new(4242);
    vst_domain_key *dk = vst_domain_key_new(vst_keystore_root_key(ks), "sgb5/insured");
    char id[VST_ID_MAXLEN + 1], err[256];
    for (size_t i = 0; g != NULL && dk != NULL && i < n; i++) {
        vst_ks_case c = {.action = VST_CASE_WITHHOLD, .created_us = keyd_wall_us()};
        vst_gen_id(g, VST_ID_KVNR, id);
        vst_inner_value(dk, id, 10, c.inner);
        RAND_bytes(c.case_id, sizeof c.case_id);
        if (vst_keystore_case_add(ks, "sgb5/insured", &c, err, sizeof err) != VST_KS_OK)
            die(err);
    }
    vst_domain_key_free(dk);
    vst_gen_free(g);
}

int main(int argc, char **argv)
{
    size_t entries = 10000, batch = 65536;
    int reps = 200;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--entries") == 0)
            entries = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--batch") == 0)
            batch = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--reps") == 0)
            reps = atoi(argv[i + 1]);
    }
    if (batch == 0 || batch > VST_BATCH_MAX || reps < 1 || entries > VST_KS_MAX_CASES)
        die("usage: bench_cases [--entries N] [--batch B (1..65536)] [--reps R]");
    char dir[] = "/dev/shm/vst-bench-cases-XXXXXX", err[256];
    uint8_t master[VST_KEY_LEN], vkey[VST_KEY_LEN];
    vst_ks_mode_info mode = {VST_KS_MODE_DEV_FILE, 0, 0};
    if (mkdtemp(dir) == NULL || vst_master_generate(master) != VST_KS_OK ||
        vst_keystore_create(dir, master, &mode, &ks, err, sizeof err) != VST_KS_OK)
        die("cannot create a keystore in /dev/shm");
    char *ids = malloc(10 * batch);
    vst_gen *g = vst_gen_new(42);
    for (size_t i = 0; ids != NULL && g != NULL && i < batch; i++) {
        char id[VST_ID_MAXLEN + 1];
        vst_gen_id(g, VST_ID_KVNR, id);
        memcpy(ids + 10 * i, id, 10);
    }
    vst_gen_free(g);
    RAND_bytes(vkey, sizeof vkey);
    vst_domain_key *dk = vst_domain_key_new(vst_keystore_root_key(ks), "sgb5/insured");
    vst_version_key *vk = vst_version_key_new(1, vkey);
    if (ids == NULL || dk == NULL || vk == NULL || keyd_cases_load(ks) != 0)
        die("set-up failed");
    double empty[2], full[2];
    measure(dk, vk, ids, batch, reps, empty);
    double t0 = now();
    plant(entries);
    double tp = now() - t0;
    if (keyd_cases_load(ks) != 0)
        die("loading the list failed");
    measure(dk, vk, ids, batch, reps, full);
    printf("exception list in the hot path: batch %zu, best of %d, in-process (keyd's work "
           "per section)\n",
           batch, reps);
    printf("  no lookup                 %8.3f ms  (%.1f ns/id)\n", empty[0] * 1e3,
           empty[0] * 1e9 / (double)batch);
    printf("  empty list (skipped)      %8.3f ms  %+.1f%%\n", empty[1] * 1e3,
           100 * (empty[1] / empty[0] - 1));
    printf("  %zu entries (%.1f s to plant) %8.3f ms  %+.1f%% (%.1f ns/id more)\n", entries, tp,
           full[1] * 1e3, 100 * (full[1] / full[0] - 1), (full[1] - full[0]) * 1e9 / (double)batch);
    keyd_cases_free();
    vst_domain_key_free(dk);
    vst_version_key_free(vk);
    vst_keystore_free(ks);
    OPENSSL_cleanse(master, sizeof master);
    char path[128];
    snprintf(path, sizeof path, "%s/" VST_KS_INFO_FILE, dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/" VST_KS_SEALED_FILE, dir);
    unlink(path);
    rmdir(dir);
    free(ids);
    return 0;
}
