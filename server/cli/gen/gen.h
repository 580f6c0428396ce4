/* Synthetic records of the default `sgb5` profile (DESIGN.md §5) for tests,
 * benchmarks and the quickstart.
 *
 * Every identifier carries a valid check digit (DESIGN.md §4); every name,
 * street, city and practice name is composed from syllables, never taken
 * from a list of real names. The output is deterministic per seed (and per
 * persons setting) on every platform: the same seed gives the same bytes.
 *
 * One record is one line of NDJSON with the keys, in this order:
 *   insured:  kvnr last_name first_name birth_date sex insurance_status
 *             postal_code street city [death_date] (~2% of persons: on or
 *             after the birth date, before 2026)
 *   provider: (absent in ~10% of records) either lanr [bsnr] or ik, then
 *             postal_code name. A physician has one lifelong number (LANR
 *             digits 1-7) and bills under one to three specialty groups
 *             (digits 8-9; a quarter have several); ~3% of LANRs are the
 *             placeholders 999999900, 999999991 or 4444444 + group and ~1%
 *             of BSNRs the substitute 179999900 (DESIGN.md §5)
 *   service:  period icd10 ops ebm atc cost_cents days
 * See docs/identifiers.md for the identifier schemes. */
#ifndef VST_GEN_H
#define VST_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "core/ident.h"

typedef struct vst_gen vst_gen;

/* A generator seeded with `seed`; NULL when out of memory. */
vst_gen *vst_gen_new(uint64_t seed);
void vst_gen_free(vst_gen *g);

/* Draw insured persons from a pool of n distinct persons (distinct KVNRs,
 * each person always with the same name, birth date, sex, address), so one
 * KVNR appears in several records, as in real deliveries. n = 0 (the
 * default) makes every record a new person: KVNRs then never repeat (up to
 * VST_GEN_MAX_PERSONS records). Returns 0, or -1 if n > VST_GEN_MAX_PERSONS.
 * Call before the first record to keep the output a function of the seed. */
#define VST_GEN_MAX_PERSONS 2600000000ULL /* 26 letters x 10^8 */
int vst_gen_set_persons(vst_gen *g, uint64_t n);

/* Draw providers from a pool of n (default VST_GEN_PROVIDERS): a small
 * pool makes one physician recur, under each of their specialty groups, in
 * a small sample. Returns 0, or -1 if n is 0. Call before the first record. */
#define VST_GEN_PROVIDERS 25000U
int vst_gen_set_providers(vst_gen *g, uint32_t n);

/* Upper bound of vst_gen_record's line length: a buffer of this many bytes
 * (plus one for the NUL) always suffices. */
#define VST_GEN_MAX_LINE 1536

/* Writes the next record into buf as one JSON object, NUL-terminated, without
 * a newline. Returns its length (excluding the NUL), or 0 when cap is too
 * small for line + NUL; in that case the generator does not advance, so a
 * retry with a larger buffer yields the same record. */
size_t vst_gen_record(vst_gen *g, char *buf, size_t cap);

/* Writes a random valid identifier of the given kind (canonical form) into
 * out, NUL-terminated, and returns its length (10 for KVNR, 9 otherwise).
 * Draws from the same stream as vst_gen_record. */
size_t vst_gen_id(vst_gen *g, vst_id_kind kind, char out[VST_ID_MAXLEN + 1]);

/* The KVNR of person i (0 <= i < VST_GEN_MAX_PERSONS) for this generator's
 * seed: a bijection, so distinct i give distinct KVNRs. Returns 10, or 0 for
 * an out-of-range i. */
size_t vst_gen_person_kvnr(const vst_gen *g, uint64_t i, char out[VST_ID_MAXLEN + 1]);

/* Raw 64-bit output of the generator's PRNG (xoshiro256**). */
uint64_t vst_gen_u64(vst_gen *g);

/* ---- children of the linkage example (DESIGN.md §13) ------------------------
 *
 * Records of the profiles measles_case and school_entry, for measuring
 * linkage without a number: two files ("sides") that share a known set of
 * children, each record with a realistic error at a given rate. See
 * docs/identifiers.md ("The generator: children of the linkage
 * example") for the statistics.
 *
 *   {"child":{"given_names","family_names",["birth_name",]"birth_date","sex",
 *             "postal_code"},
 *    "case":{"year","district","follow_up"}}                  measles_case
 *    "exam":{"school_year","district","measles_doses"}}       school_entry
 *
 * Pairing: line l (0-based) of a side of N records holds slot perm(l), a
 * keyed permutation of [0, N) per (seed, profile), so the shared children
 * are spread over the file. Slot i < M is the shared child "s<i>", a
 * function of (seed, i) alone, so both sides made with the same seed and M
 * hold the same M children; slot i >= M is the side's own child "a<i-M>"
 * (measles_case) or "b<i-M>" (school_entry), a function of (seed, profile,
 * i - M). The district of a shared child is the same on both sides in
 * about 90 % of cases. */

typedef enum {
    VST_GEN_PROFILE_SGB5,
    VST_GEN_PROFILE_MEASLES_CASE,
    VST_GEN_PROFILE_SCHOOL_ENTRY,
} vst_gen_profile;

/* "sgb5", "measles_case", "school_entry": 0 and *out set, else -1. */
int vst_gen_profile_parse(const char *name, vst_gen_profile *out);

/* The error kinds; a record has at most one. An umlaut spelling is drawn
 * only for a record with an umlaut or ß in a name: a record without one
 * draws among the other kinds. A day/month swap needs day and month <= 12
 * and different; otherwise the record gets a day typo instead. */
typedef enum {
    VST_GEN_ERR_TYPO,      /* a letter of a name substituted, dropped or transposed */
    VST_GEN_ERR_UMLAUT,    /* Müller -> Mueller or Muller, ß -> ss */
    VST_GEN_ERR_SWAP,      /* given and family names swapped */
    VST_GEN_ERR_BIRTHNAME, /* a new family name, the old one as birth_name */
    VST_GEN_ERR_DAYMONTH,  /* day and month swapped */
    VST_GEN_ERR_DAYTYPO,   /* the day changed */
    VST_GEN_ERR_CASE,      /* a name upper- or lower-cased, or extra spaces */
    VST_GEN_ERR__COUNT
} vst_gen_error_kind;

/* "typo", "umlaut", "swap", "birthname", "daymonth", "daytypo", "case". */
const char *vst_gen_error_name(vst_gen_error_kind k);

#define VST_GEN_ERRORS_DEFAULT 0.05 /* the default error rate per record */

typedef struct vst_gen_child vst_gen_child;

/* A side of `records` records of `profile` (measles_case or school_entry)
 * with `overlap` shared children, each record erroneous with probability
 * `errors`. NULL when out of memory or an argument is wrong: overlap >
 * records, errors outside [0, 1], or profile sgb5. */
vst_gen_child *vst_gen_child_new(uint64_t seed, vst_gen_profile profile, uint64_t records,
                                 uint64_t overlap, double errors);
void vst_gen_child_free(vst_gen_child *g);

#define VST_GEN_CHILD_MAX_LINE 1024 /* bound of a line, like VST_GEN_MAX_LINE */
#define VST_GEN_CHILD_ID_MAX 24     /* "s18446744073709551615" and the NUL */

/* Writes record `line` (0-based, < records) into buf, NUL-terminated,
 * without a newline, and its child id ("s17", "a3", "b3") into id. Every
 * record is a function of (seed, profile, records, overlap, errors, line)
 * alone, so lines may be written in any order. Returns the length, or 0
 * when line is out of range or cap is too small (nothing is counted then).
 * Counts the record's error kind (vst_gen_child_errors). */
size_t vst_gen_child_record(vst_gen_child *g, uint64_t line, char *buf, size_t cap,
                            char id[VST_GEN_CHILD_ID_MAX]);

/* How many records written so far had each error kind
 * (VST_GEN_ERR__COUNT entries). */
const uint64_t *vst_gen_child_errors(const vst_gen_child *g);

#endif
