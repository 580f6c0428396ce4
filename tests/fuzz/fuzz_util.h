/* Helpers shared by the libFuzzer harnesses of tests/fuzz/ (built and run
 * by tests/fuzz/run_all.sh; see docs/fuzzing.md). Header-only: every
 * harness is one translation unit plus the sources it fuzzes. */
#ifndef VST_FUZZ_UTIL_H
#define VST_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property that must hold: otherwise abort, which libFuzzer reports as a
 * crash with the input saved. */
#define FZ_CHECK(cond, what)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, what);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The source tree, for the shipped profiles: VST_SOURCE_DIR, else the
 * directory run_all.sh compiled in. */
static inline const char *fz_root(void)
{
    const char *r = getenv("VST_SOURCE_DIR");
#ifdef VST_FUZZ_ROOT
    if (r == NULL || r[0] == '\0')
        r = VST_FUZZ_ROOT;
#endif
    return r != NULL ? r : ".";
}

/* Chunk sizes for feeding one input to an incremental parser in pieces:
 * a small xorshift generator seeded from the input itself, so that a crash
 * reproduces from the saved input alone. Sizes 1..max. */
typedef struct {
    uint32_t s;
} fz_chunks;

static inline void fz_chunks_init(fz_chunks *c, uint32_t seed)
{
    c->s = seed * 2654435761u + 1u;
}

static inline size_t fz_chunk_next(fz_chunks *c, size_t max)
{
    c->s ^= c->s << 13;
    c->s ^= c->s >> 17;
    c->s ^= c->s << 5;
    /* Mostly tiny pieces (the hard cases), sometimes large ones. */
    size_t n = (c->s & 3) == 0 ? (c->s >> 8) % max : (c->s >> 8) % 8;
    return n + 1;
}

/* A copy of data[0..n) in its own allocation, so that ASan sees its end
 * (libFuzzer's buffer is exactly sized too, but a prefix of it is not). */
static inline char *fz_dup(const uint8_t *data, size_t n)
{
    char *p = malloc(n > 0 ? n : 1);
    FZ_CHECK(p != NULL, "out of memory");
    if (n > 0)
        memcpy(p, data, n);
    return p;
}

#endif
