/* vst-gen: synthetic sgb5 records (NDJSON) with valid check digits and
 * invented names, for tests, benchmarks and the quickstart. See gen.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/gen/gen.h"

static const char usage[] =
    "usage: vst-gen [--records N] [--seed S] [--persons N] [--providers N] [-o FILE]\n"
    "\n"
    "Writes N synthetic records of the sgb5 profile as NDJSON (one JSON object\n"
    "per line) to standard output or FILE. Identifiers carry valid check\n"
    "digits; names, streets and cities are invented. The output is a function\n"
    "of the seed, --persons and --providers alone.\n"
    "\n"
    "  -n, --records N  number of records (default 10)\n"
    "  --seed S      PRNG seed, 0..2^64-1 (default 1)\n"
    "  --persons N   draw the insured from a pool of N distinct persons, so a\n"
    "                KVNR recurs across records (default 0: a new person per\n"
    "                record, KVNRs never repeat)\n"
    "  --providers N draw providers from a pool of N (default 25000); a small\n"
    "                pool shows one physician under several specialty groups\n"
    "                in a small sample\n"
    "  -o FILE       write to FILE instead of standard output\n"
    "  -h, --help    show this help\n";

static int parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static int fail(const char *msg, const char *arg)
{
    if (arg != NULL)
        fprintf(stderr, "vst-gen: %s: %s (see --help)\n", msg, arg);
    else
        fprintf(stderr, "vst-gen: %s (see --help)\n", msg);
    return 2;
}

typedef struct {
    uint64_t records, seed, persons, providers;
    const char *outpath;
} options;

/* -1: go on; otherwise the exit status (--help, a bad argument). */
static int parse_options(int argc, char **argv, options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        uint64_t *num = NULL;
        if (strcmp(a, "--records") == 0 || strcmp(a, "-n") == 0)
            num = &o->records;
        else if (strcmp(a, "--seed") == 0)
            num = &o->seed;
        else if (strcmp(a, "--persons") == 0)
            num = &o->persons;
        else if (strcmp(a, "--providers") == 0)
            num = &o->providers;
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (i + 1 >= argc)
                return fail("missing file name after", a);
            o->outpath = argv[++i];
            continue;
        } else
            return fail("unknown argument", a);
        if (i + 1 >= argc)
            return fail("missing number after", a);
        if (parse_u64(argv[i + 1], num) != 0)
            return fail("not a non-negative integer", argv[i + 1]);
        i++;
    }
    if (o->persons > VST_GEN_MAX_PERSONS)
        return fail("--persons exceeds the number of possible KVNRs (2600000000)", NULL);
    if (o->providers == 0 || o->providers > UINT32_MAX)
        return fail("--providers must be 1..4294967295", NULL);
    return -1;
}

int main(int argc, char **argv)
{
    options o = {.records = 10, .seed = 1, .persons = 0, .providers = VST_GEN_PROVIDERS};
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    uint64_t records = o.records;
    const char *outpath = o.outpath;

    FILE *out = stdout;
    if (outpath != NULL) {
        out = fopen(outpath, "w");
        if (out == NULL) {
            fprintf(stderr, "vst-gen: cannot open %s: %s\n", outpath, strerror(errno));
            return 1;
        }
    }
    vst_gen *g = vst_gen_new(o.seed);
    if (g == NULL || vst_gen_set_persons(g, o.persons) != 0 ||
        vst_gen_set_providers(g, (uint32_t)o.providers) != 0) {
        fprintf(stderr, "vst-gen: out of memory\n");
        return 1;
    }

    /* Lines are assembled in a large block and written with one fwrite. */
    enum { BLOCK = 1 << 20 };
    char *block = malloc(BLOCK);
    if (block == NULL) {
        fprintf(stderr, "vst-gen: out of memory\n");
        vst_gen_free(g);
        return 1;
    }
    size_t used = 0;
    int ok = 1;
    for (uint64_t n = 0; n < records && ok; n++) {
        if (BLOCK - used < VST_GEN_MAX_LINE + 2) {
            ok = fwrite(block, 1, used, out) == used;
            used = 0;
        }
        size_t len = vst_gen_record(g, block + used, BLOCK - used);
        block[used + len] = '\n';
        used += len + 1;
    }
    if (ok && used > 0)
        ok = fwrite(block, 1, used, out) == used;
    free(block);
    vst_gen_free(g);
    if (fflush(out) != 0)
        ok = 0;
    if (out != stdout && fclose(out) != 0)
        ok = 0;
    if (!ok) {
        fprintf(stderr, "vst-gen: write failed: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
