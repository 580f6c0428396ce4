/* What the generator's files share (gen.h is the API):
 *
 *   gen.c        the generator's state, the record and its sections
 *   gen_ids.c    identifiers: a person's KVNR (a keyed permutation), LANR,
 *                BSNR, IK with valid check digits
 *   gen_names.c  names, streets, cities and practices from syllables
 *
 * The PRNG and the writers are inline here: records are written millions
 * of times in benchmarks. Internal to vstgen. */
#ifndef VST_GEN_INTERNAL_H
#define VST_GEN_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "cli/gen/gen.h"

/* ---- PRNG ----------------------------------------------------------------- */

static inline uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

typedef struct {
    uint64_t s[4];
} xoshiro;

static inline uint64_t xo_next(xoshiro *x)
{
    uint64_t *s = x->s;
    uint64_t r = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* A uniform-enough integer in [0, n) for n <= 2^32 (multiply-shift; the bias
 * is below 2^-32 and irrelevant for test data). */
static inline uint32_t below(uint64_t r, uint32_t n)
{
    return (uint32_t)(((r >> 32) * (uint64_t)n) >> 32);
}

/* A stream for the attributes of one person or provider. */
typedef struct {
    uint64_t s;
} stream;

static inline uint32_t st_below(stream *st, uint32_t n)
{
    return below(splitmix64(&st->s), n);
}

#define PERSON_SPACE 2600000000U /* KVNR bodies: letter (26) x 8 digits */

struct vst_gen {
    xoshiro x;
    uint64_t persons;      /* 0: a new person per record */
    uint32_t providers;    /* size of the provider pool */
    uint64_t next_person;  /* next fresh person when persons == 0 */
    uint64_t person_key;   /* keys the person streams */
    uint64_t provider_key; /* keys the provider streams */
    uint32_t feistel[4];   /* round keys of the KVNR permutation */
    char scratch[VST_GEN_MAX_LINE + 512];
};

/* ---- writing -------------------------------------------------------------- */

static inline char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT(p, lit) ((p) = put((p), (lit), sizeof(lit) - 1))

/* v as exactly w decimal digits (leading zeros). */
static inline char *put_fixed(char *p, uint32_t v, int w)
{
    for (int i = w - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + w;
}

static inline char *put_uint(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A piece of text of a table, with its length. */
typedef struct {
    const char *s;
    unsigned char n;
} syl;

#define S(x)                                                                                       \
    {                                                                                              \
        x, sizeof(x) - 1                                                                           \
    }

/* gen_ids.c */
void gen_person_kvnr(const vst_gen *g, uint64_t i, char out[VST_ID_MAXLEN + 1]);
void gen_make_lanr(uint64_t r, char out[VST_ID_MAXLEN + 1]);
/* Replaces digits 8-9 (the specialty group) of lanr with a group drawn by r. */
void gen_set_lanr_group(char lanr[VST_ID_MAXLEN + 1], uint32_t r);
/* One of the placeholder LANRs (999999900, 999999991, 4444444 + group). */
void gen_make_placeholder_lanr(uint32_t r, char out[VST_ID_MAXLEN + 1]);
#define GEN_PLACEHOLDER_BSNR "179999900" /* the substitute practice number */
void gen_make_bsnr(uint64_t r, char out[VST_ID_MAXLEN + 1]);
void gen_make_ik(uint64_t r, char out[VST_ID_MAXLEN + 1]);

/* gen_names.c: each draws from st and returns the end of what it wrote. */
char *gen_put_last_name(char *p, stream *st);
char *gen_put_first_name(char *p, stream *st);
/* A street name without the number: a stem and an ending ("-weg"). */
char *gen_put_street(char *p, stream *st);
/* A city name: a stem and an ending ("-hausen"). */
char *gen_put_city(char *p, stream *st);
/* A provider's name: a practice ("Praxis Dr. " and a surname) or an
 * institution ("Klinikum " and a city name). */
char *gen_put_practice(char *p, stream *st);
char *gen_put_institution(char *p, stream *st);
char *gen_put_postal(char *p, uint32_t r);

#endif
