/* Core benchmark (a program, not a test): pseudonyms/s of the derivation on
 * one core, and records/s of the profile engine on generated sgb5 records,
 * each with a baseline measured in the same run so the ratio means
 * something on a shared machine:
 *   - derivation vs. a bare SHA-256 of the same identifiers (the cost floor
 *     of any keyed hash);
 *   - profile engine vs. a bare jansson parse of the same lines.
 * Usage: bench_core [--ids N] [--records N] [--profile FILE] */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench_machine.h"
#include "core/secmem.h"
#include "derive.h"
#include "profile/profile.h"
#include "cli/gen/gen.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Pseudonymizes n KVNRs in batches of 4096, the way keyd serves a frame. */
static void bench_derive(size_t n)
{
    enum { BATCH = 4096 };
    uint8_t root[VST_KEY_LEN], vkey[VST_KEY_LEN];
    RAND_bytes(root, sizeof root);
    RAND_bytes(vkey, sizeof vkey);
    vst_domain_key *dk = vst_domain_key_new(root, "sgb5/insured");
    vst_version_key *vk = vst_version_key_new(1, vkey);
    static char idbuf[BATCH][VST_ID_MAXLEN + 1];
    static const char *ids[BATCH];
    static size_t lens[BATCH];
    static uint8_t out[BATCH * VST_PSEUDONYM_LEN];
    vst_gen *g = vst_gen_new(42);
    for (size_t i = 0; i < BATCH; i++) {
        vst_gen_id(g, VST_ID_KVNR, idbuf[i]);
        ids[i] = idbuf[i];
        lens[i] = 10;
    }
    uint8_t acc = 0;
    double t0 = now();
    for (size_t done = 0; done < n; done += BATCH) {
        vst_pseudonymize(dk, vk, ids, lens, BATCH, out);
        acc ^= out[done % BATCH];
    }
    double td = now() - t0;

    /* Baseline: one plain SHA-256 per identifier through the one-shot API. */
    unsigned char md[32];
    t0 = now();
    for (size_t done = 0; done < n; done += BATCH)
        for (size_t i = 0; i < BATCH; i++) {
            EVP_Digest(ids[i], 10, md, NULL, EVP_sha256(), NULL);
            acc ^= md[0];
        }
    double tb = now() - t0;
    size_t total = (n + BATCH - 1) / BATCH * BATCH;
    printf("derivation: %.0f pseudonyms/s on one core (%zu KVNRs, batches of %d)\n",
           (double)total / td, total, BATCH);
    printf("  baseline EVP_Digest(SHA-256): %.0f hashes/s; derivation/baseline = %.2f\n",
           (double)total / tb, tb / td);
    printf("  (checksum %u)\n", acc);
    vst_gen_free(g);
    vst_domain_key_free(dk);
    vst_version_key_free(vk);
}

static void bench_profile(size_t n, const char *path)
{
    char msg[512];
    vst_profile *p;
    if (vst_profile_load(path, &p, msg, sizeof msg) != VST_E_OK) {
        fprintf(stderr, "bench_core: %s\n", msg);
        exit(1);
    }
    /* Pre-generate the lines so that generation is not measured. */
    size_t cap = n * 512, used = 0;
    char *buf = malloc(cap);
    size_t *off = malloc((n + 1) * sizeof *off);
    vst_gen *g = vst_gen_new(7);
    for (size_t i = 0; i < n; i++) {
        if (cap - used < 4096) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        off[i] = used;
        used += vst_gen_record(g, buf + used, cap - used);
    }
    off[n] = used;
    vst_row *row = vst_row_new(p);
    vst_errors errs;
    vst_errors_init(&errs, 16);
    size_t ok = 0, bytes = used;
    double t0 = now();
    for (size_t i = 0; i < n; i++)
        ok +=
            vst_profile_apply(p, buf + off[i], off[i + 1] - off[i], i + 1, row, &errs) == VST_E_OK;
    double tp = now() - t0;
    t0 = now();
    for (size_t i = 0; i < n; i++) {
        json_error_t je;
        json_t *j = json_loadb(buf + off[i], off[i + 1] - off[i], JSON_REJECT_DUPLICATES, &je);
        json_decref(j);
    }
    double tj = now() - t0;
    printf("profile engine (%s): %.0f records/s on one core, %.1f MB/s (%zu records, %zu valid)\n",
           vst_profile_name(p), (double)n / tp, (double)bytes / tp / 1e6, n, ok);
    printf("  baseline jansson parse only: %.0f records/s; engine/baseline = %.2f\n",
           (double)n / tj, tj / tp);
    vst_row_free(row);
    vst_errors_free(&errs);
    vst_gen_free(g);
    vst_profile_free(p);
    free(buf);
    free(off);
}

int main(int argc, char **argv)
{
    size_t nids = 8u << 20, nrec = 500000;
    const char *profile = VST_PROFILE_DIR "/sgb5.json";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ids") == 0 && i + 1 < argc)
            nids = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--records") == 0 && i + 1 < argc)
            nrec = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--profile") == 0 && i + 1 < argc)
            profile = argv[++i];
        else {
            fprintf(stderr, "usage: bench_core [--ids N] [--records N] [--profile FILE]\n");
            return 2;
        }
    }
    vst_secmem_install_json();
    bench_print_machine();
    bench_derive(nids);
    bench_profile(nrec, profile);
    return 0;
}
