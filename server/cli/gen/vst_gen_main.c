/* vst-gen: synthetic records (NDJSON) for tests, benchmarks and the
 * quickstart: sgb5 records with valid check digits and invented names, or
 * the two sides of the linkage example (measles_case, school_entry) with a
 * known overlap, a truth file and errors. See gen.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/gen/gen.h"

static const char usage[] =
    "usage: vst-gen [--records N] [--seed S] [--persons N] [--providers N] [-o FILE]\n"
    "       vst-gen --profile measles_case|school_entry [--records N] [--seed S]\n"
    "               [--overlap M] [--errors RATE] [--truth FILE] [-o FILE]\n"
    "\n"
    "Writes N synthetic records as NDJSON (one JSON object per line) to\n"
    "standard output or FILE. Identifiers carry valid check digits; names,\n"
    "streets and cities are invented. The output is a function of the\n"
    "options alone.\n"
    "\n"
    "  -n, --records N  number of records (default 10)\n"
    "  --seed S      PRNG seed, 0..2^64-1 (default 1)\n"
    "  --profile P   sgb5 (the default), or measles_case or school_entry: the\n"
    "                children of the linkage example (DESIGN.md section 13)\n"
    "  -o FILE       write to FILE instead of standard output\n"
    "  -h, --help    show this help\n"
    "\n"
    "sgb5 only:\n"
    "  --persons N   draw the insured from a pool of N distinct persons, so a\n"
    "                KVNR recurs across records (default 0: a new person per\n"
    "                record, KVNRs never repeat)\n"
    "  --providers N draw providers from a pool of N (default 25000); a small\n"
    "                pool shows one physician under several specialty groups\n"
    "                in a small sample\n"
    "\n"
    "measles_case and school_entry only:\n"
    "  --overlap M   M <= N children common to both profiles made with the same\n"
    "                --seed and --overlap (default 0); the others are the\n"
    "                side's own. A child appears at most once in a file.\n"
    "  --errors RATE probability, 0..1, that a record has one error (default\n"
    "                0.05): a typo, an umlaut spelling, swapped given and family\n"
    "                names, a changed family name with the birth name, a\n"
    "                day/month swap or day typo, upper/lower case or extra\n"
    "                spaces. The counts per kind go to standard error.\n"
    "  --truth FILE  write the true identity of each line as TSV: a header\n"
    "                \"line<TAB>child\", then the line number (from 1) and the\n"
    "                child: s<i> shared, a<i> (measles_case) or b<i>\n"
    "                (school_entry) the side's own. It is test and benchmark\n"
    "                input only: never load it into the store.\n";

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
    uint64_t records, seed, persons, providers, overlap;
    double errors;
    vst_gen_profile profile;
    const char *outpath, *truthpath;
    int sgb5_only, child_only; /* an option of one kind was given */
} options;

static int parse_rate(const char *s, double *out)
{
    if (s == NULL || ((*s < '0' || *s > '9') && *s != '.'))
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !(v >= 0.0 && v <= 1.0))
        return -1;
    *out = v;
    return 0;
}

/* An option with a text argument: 1 taken (i advanced), 0 not this kind,
 * or the exit status + 2 of a missing or bad argument. */
static int text_option(int argc, char **argv, int *i, options *o)
{
    const char *a = argv[*i];
    int profile = strcmp(a, "--profile") == 0, truth = strcmp(a, "--truth") == 0;
    int errors = strcmp(a, "--errors") == 0;
    int out = strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0;
    if (!profile && !truth && !errors && !out)
        return 0;
    if (*i + 1 >= argc)
        return 2 + fail("missing argument after", a);
    const char *v = argv[++*i];
    if (profile && vst_gen_profile_parse(v, &o->profile) != 0)
        return 2 + fail("unknown profile (sgb5, measles_case, school_entry)", v);
    if (errors && parse_rate(v, &o->errors) != 0)
        return 2 + fail("not a rate between 0 and 1", v);
    if (truth)
        o->truthpath = v;
    if (out)
        o->outpath = v;
    o->child_only |= truth || errors;
    return 1;
}

/* -1: go on; otherwise the exit status (--help, a bad argument). */
static int parse_options(int argc, char **argv, options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        int t = text_option(argc, argv, &i, o);
        if (t > 1)
            return t - 2;
        if (t == 1)
            continue;
        uint64_t *num = NULL;
        if (strcmp(a, "--records") == 0 || strcmp(a, "-n") == 0)
            num = &o->records;
        else if (strcmp(a, "--seed") == 0)
            num = &o->seed;
        else if (strcmp(a, "--persons") == 0)
            num = &o->persons;
        else if (strcmp(a, "--providers") == 0)
            num = &o->providers;
        else if (strcmp(a, "--overlap") == 0)
            num = &o->overlap;
        else
            return fail("unknown argument", a);
        o->sgb5_only |= num == &o->persons || num == &o->providers;
        o->child_only |= num == &o->overlap;
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
    if (o->profile == VST_GEN_PROFILE_SGB5 && o->child_only)
        return fail("--overlap, --errors and --truth need --profile measles_case or "
                    "school_entry",
                    NULL);
    if (o->profile != VST_GEN_PROFILE_SGB5 && o->sgb5_only)
        return fail("--persons and --providers are options of the sgb5 profile", NULL);
    if (o->overlap > o->records)
        return fail("--overlap must not exceed --records", NULL);
    return -1;
}

/* Lines are assembled in a large block and written with one fwrite. */
enum { BLOCK = 1 << 20 };

static int write_sgb5(const options *o, FILE *out, char *block)
{
    vst_gen *g = vst_gen_new(o->seed);
    if (g == NULL || vst_gen_set_persons(g, o->persons) != 0 ||
        vst_gen_set_providers(g, (uint32_t)o->providers) != 0) {
        fprintf(stderr, "vst-gen: out of memory\n");
        vst_gen_free(g);
        return -1;
    }
    size_t used = 0;
    int ok = 1;
    for (uint64_t n = 0; n < o->records && ok; n++) {
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
    vst_gen_free(g);
    return ok ? 0 : 1;
}

/* One line on standard error: the records of each error kind. */
static void print_error_counts(const vst_gen_child *g, const options *o)
{
    const uint64_t *c = vst_gen_child_errors(g);
    uint64_t total = 0;
    fprintf(stderr, "vst-gen: errors:");
    for (int k = 0; k < VST_GEN_ERR__COUNT; k++) {
        fprintf(stderr, " %s=%" PRIu64, vst_gen_error_name((vst_gen_error_kind)k), c[k]);
        total += c[k];
    }
    fprintf(stderr, " total=%" PRIu64 " records=%" PRIu64 " rate=%g\n", total, o->records,
            o->errors);
}

static int write_children(const options *o, FILE *out, FILE *truth, char *block)
{
    vst_gen_child *g = vst_gen_child_new(o->seed, o->profile, o->records, o->overlap, o->errors);
    if (g == NULL) {
        fprintf(stderr, "vst-gen: out of memory\n");
        return -1;
    }
    size_t used = 0;
    int ok = truth == NULL || fputs("line\tchild\n", truth) >= 0;
    for (uint64_t n = 0; n < o->records && ok; n++) {
        if (BLOCK - used < VST_GEN_CHILD_MAX_LINE + 2) {
            ok = fwrite(block, 1, used, out) == used;
            used = 0;
        }
        char id[VST_GEN_CHILD_ID_MAX];
        size_t len = vst_gen_child_record(g, n, block + used, BLOCK - used, id);
        block[used + len] = '\n';
        used += len + 1;
        if (truth != NULL && fprintf(truth, "%" PRIu64 "\t%s\n", n + 1, id) < 0)
            ok = 0;
    }
    if (ok && used > 0)
        ok = fwrite(block, 1, used, out) == used;
    if (ok)
        print_error_counts(g, o);
    vst_gen_child_free(g);
    return ok ? 0 : 1;
}

static int close_file(FILE *f, int ok)
{
    if (fflush(f) != 0)
        ok = 0;
    if (f != stdout && fclose(f) != 0)
        ok = 0;
    return ok;
}

int main(int argc, char **argv)
{
    options o = {.records = 10,
                 .seed = 1,
                 .providers = VST_GEN_PROVIDERS,
                 .errors = VST_GEN_ERRORS_DEFAULT,
                 .profile = VST_GEN_PROFILE_SGB5};
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;

    FILE *out = stdout, *truth = NULL;
    if (o.outpath != NULL && (out = fopen(o.outpath, "w")) == NULL) {
        fprintf(stderr, "vst-gen: cannot open %s: %s\n", o.outpath, strerror(errno));
        return 1;
    }
    if (o.truthpath != NULL && (truth = fopen(o.truthpath, "w")) == NULL) {
        fprintf(stderr, "vst-gen: cannot open %s: %s\n", o.truthpath, strerror(errno));
        close_file(out, 1);
        return 1;
    }
    char *block = malloc(BLOCK);
    if (block == NULL) {
        fprintf(stderr, "vst-gen: out of memory\n");
        close_file(out, 1);
        if (truth != NULL)
            close_file(truth, 1);
        return 1;
    }
    rc = o.profile == VST_GEN_PROFILE_SGB5 ? write_sgb5(&o, out, block)
                                           : write_children(&o, out, truth, block);
    free(block);
    int ok = close_file(out, rc == 0);
    if (truth != NULL)
        ok = close_file(truth, ok);
    if (rc < 0)
        return 1;
    if (!ok) {
        fprintf(stderr, "vst-gen: write failed: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}
