/* What the files of the children's generator share (gen.h is the API):
 *
 *   gen_child.c         the side: pairing permutation, the child, the record
 *   gen_child_names.c   name pools with a Zipf-like frequency, from syllables
 *   gen_child_errors.c  the error kinds, applied to a child
 *
 * Internal to vstgen. */
#ifndef VST_GEN_CHILD_INTERNAL_H
#define VST_GEN_CHILD_INTERNAL_H

#include "cli/gen/gen_internal.h"

/* Bytes of a name field with its NUL: two given names or two family names
 * with a particle stay far below it, even after an error doubles a letter
 * or adds spaces. */
#define CHILD_NAME_MAX 160

typedef struct {
    char given[CHILD_NAME_MAX];
    char family[CHILD_NAME_MAX];
    char birth[CHILD_NAME_MAX]; /* "" when absent */
    uint32_t year, month, day;
    char sex;
    uint32_t postal;
} gen_child;

/* Cumulative Zipf-like weights of a name pool: rank r has weight
 * floor(2^40 / (r + q)), integers so that every platform draws alike. */
typedef struct {
    uint64_t *cum;
    uint32_t n;
} gen_pool;

typedef struct {
    gen_pool given[2]; /* 0: girls' names, 1: boys' names */
    gen_pool family;
} gen_pools;

/* gen_child_names.c */
int gen_pools_init(gen_pools *p);
void gen_pools_free(gen_pools *p);
/* A rank of the pool, drawn by r (Zipf-like). */
uint32_t gen_pool_draw(const gen_pool *p, uint64_t r);
/* Writes the name of a rank (NUL-terminated) and returns its end; a family
 * name may carry a particle ("von Tal..."), with_particle = 0 leaves it off
 * (the second part of a double name). */
char *gen_put_given_rank(char *p, int boy, uint32_t rank);
char *gen_put_family_rank(char *p, uint32_t rank, int with_particle);
/* Whole fields: one or two given names (~15 %), one family name or two
 * joined by a hyphen (~8 %). */
void gen_child_given(const gen_pools *pools, stream *st, int boy, char out[CHILD_NAME_MAX]);
void gen_child_family(const gen_pools *pools, stream *st, char out[CHILD_NAME_MAX]);

/* gen_child_errors.c: applies one error drawn by st to c and returns its
 * kind. */
vst_gen_error_kind gen_child_error(const gen_pools *pools, stream *st, gen_child *c);

#endif
