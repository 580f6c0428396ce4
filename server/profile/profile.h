/* The profile engine (DESIGN.md §5): a profile file declares, for every field
 * of an incoming record, whether it is pseudonymized, generalized, dropped or
 * kept; the engine turns one NDJSON line into a typed output row plus the
 * identifiers still to be pseudonymized, or into a list of errors (line,
 * field path, stable code — never the value). The file format is documented
 * in docs/profiles.md. */
#ifndef VST_PROFILE_H
#define VST_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/vst_error.h"
#include "core/ident.h"
#include "linkage/person.h"

typedef struct vst_profile vst_profile;

typedef enum {
    VST_COL_TEXT,      /* short text (codes, prefixes) */
    VST_COL_INT,       /* integer */
    VST_COL_JSON,      /* a JSON document (jsonb), serialized by the engine */
    VST_COL_PSEUDONYM, /* 32 lower-case hex characters, filled in after keyd */
    VST_COL_CONTROL,   /* a control value (DESIGN.md §13): 32 lower-case hex, after keyd */
} vst_col_type;

typedef struct {
    const char *name;
    vst_col_type type;
} vst_column;

/* Loads and checks a profile file. On failure returns a VST_E_PROFILE_* code
 * and writes "FILE: FIELD-PATH: reason" into msg (never NULL-terminated
 * beyond msglen). */
vst_err vst_profile_load(const char *path, vst_profile **out, char *msg, size_t msglen);
/* The same for a profile document in memory (buf[0..len), no NUL needed);
 * name stands for the file in messages. */
vst_err vst_profile_load_buffer(const char *name, const char *buf, size_t len, vst_profile **out,
                                char *msg, size_t msglen);
void vst_profile_free(vst_profile *p);

const char *vst_profile_name(const vst_profile *p);
/* The risks a loaded profile takes that its load log line must name (a
 * postal prefix of more than 2 digits), or "". */
const char *vst_profile_warning(const vst_profile *p);
/* Schema-qualified output table, e.g. "sgb5.records". */
const char *vst_profile_table(const vst_profile *p);
size_t vst_profile_max_line(const vst_profile *p);
size_t vst_profile_ncolumns(const vst_profile *p);
const vst_column *vst_profile_column(const vst_profile *p, size_t i);
size_t vst_profile_ndomains(const vst_profile *p);
const char *vst_profile_domain(const vst_profile *p, size_t i);

/* Release protection (DESIGN.md §11, docs/profiles.md "Release protection
 * keys"): the quasi-identifier columns whose combinations vst-admin counts
 * and releases suppress below k, each one's generalization ladder, and the
 * code lists of the JSON column whose rare codes it reports. All optional:
 * 0 / NULL when the profile declares none. */
size_t vst_profile_nqi(const vst_profile *p);
/* The i-th quasi-identifier's column name (a text or integer NOT NULL
 * column), or NULL past the end. */
const char *vst_profile_qi(const vst_profile *p, size_t i);
/* The ladder of a quasi-identifier column: its rule strings, mildest first,
 * in *steps; returns their number, or 0 (and *steps = NULL) if the column
 * has none. Every step parses with vst_gen_rule_parse. */
size_t vst_profile_ladder(const vst_profile *p, const char *column, const char *const **steps);
/* The JSON column that holds the rare_codes lists, or NULL without any. */
const char *vst_profile_rare_column(const vst_profile *p);
size_t vst_profile_nrare(const vst_profile *p);
/* The i-th code list: a kept list field of the rare column's object (its
 * key in the JSON document, e.g. "icd10"), or NULL past the end. */
const char *vst_profile_rare(const vst_profile *p, size_t i);

/* Linkage without a number (DESIGN.md §13, docs/profiles.md "Composite
 * identifiers"): an object of the record names the fields that identify a
 * person (given, family and birth names, birth date, sex); vst-httpd sends
 * them, normalized (linkage/normalize.h), to keyd's CV_DERIVE and stores
 * the six control values in the profile's control columns. */
/* The linkage domain ("ph/child"), or NULL: the profile links nothing. */
const char *vst_profile_link_domain(const vst_profile *p);
/* The collection the control values are encrypted for ("measles_case"),
 * or NULL. */
const char *vst_profile_link_collection(const vst_profile *p);
/* The control column of linkage key `key` (in the order of
 * vst_link_key_name: "cv_exact", "cv_phonetic", ...), or NULL (no
 * composite, or key >= 6). */
const char *vst_profile_link_column(const vst_profile *p, unsigned key);
/* The strata: keys of the JSON column vst_profile_strata_column that an
 * overlap query may filter on (0 without). */
size_t vst_profile_nstrata(const vst_profile *p);
const char *vst_profile_stratum(const vst_profile *p, size_t i);
/* The JSON column that holds the strata ("case"), or NULL without any. */
const char *vst_profile_strata_column(const vst_profile *p);

/* One generalization rule: "band:N" (N 2..100; integers to floor(v/N)*N),
 * "prefix:N" (N 1..16; the first N characters of a text) or "drop" (the
 * column leaves the class key). Decimal N without sign, blanks or leading
 * zeros; nothing else is a rule. */
typedef enum { VST_GEN_NONE, VST_GEN_BAND, VST_GEN_PREFIX, VST_GEN_DROP } vst_gen_kind;
#define VST_GEN_BAND_MIN 2
#define VST_GEN_BAND_MAX 100
#define VST_GEN_PREFIX_MIN 1
#define VST_GEN_PREFIX_MAX 16
/* Parses one rule string: 0 with *kind and *n set (n = 0 for drop), or -1
 * (and *kind = VST_GEN_NONE, *n = 0). Pure; vst-admin's --generalize
 * COL=RULE reuses it. */
int vst_gen_rule_parse(const char *s, vst_gen_kind *kind, unsigned *n);

/* One value of an output row. Text and JSON point into the row's arena. */
typedef struct {
    int is_null;
    int64_t i;
    const char *s;
    size_t len;
} vst_value;

#define VST_ROW_MAX_IDS 8

/* An identifier the row still needs a pseudonym for. */
typedef struct {
    uint16_t column; /* index of the VST_COL_PSEUDONYM column */
    uint16_t domain; /* index into the profile's domains */
    vst_id id;       /* canonical identifier: wipe after use */
} vst_pending_id;

typedef struct {
    const vst_profile *profile;
    vst_value *values; /* vst_profile_ncolumns() entries */
    vst_pending_id ids[VST_ROW_MAX_IDS];
    size_t nids;
    /* A composite profile's person, normalized (has_person = 1): what keyd
     * turns into the row's control values. Wiped with the row. */
    vst_person person;
    int has_person;
    char *arena; /* storage for text values */
    size_t arena_used, arena_cap;
    /* scratch of the JSON scanner: tokens and unescaped strings */
    void *tokens;
    size_t tokens_cap;
    char *scratch;
    size_t scratch_used, scratch_cap;
} vst_row;

/* A row sized for the profile's largest line; NULL when out of memory. */
vst_row *vst_row_new(const vst_profile *p);
/* Wipes every value and identifier; the row can be reused. */
void vst_row_clear(vst_row *r);
void vst_row_free(vst_row *r);
/* Sets a pseudonym column to 32 hex characters (copied into the arena). */
vst_err vst_row_set_pseudonym(vst_row *r, size_t column, const char hex[32]);
/* The same for a control column. */
vst_err vst_row_set_control(vst_row *r, size_t column, const char hex[32]);

typedef struct {
    uint64_t line;  /* 1-based line number in the delivery */
    char path[128]; /* field path such as "insured.kvnr" or "service.icd10[2]" */
    vst_err code;
} vst_field_error;

/* Errors of a delivery: the first `max` are kept, all are counted. */
typedef struct {
    vst_field_error *items;
    size_t n, max;
    uint64_t total;
} vst_errors;

int vst_errors_init(vst_errors *e, size_t max);
void vst_errors_free(vst_errors *e);
void vst_errors_add(vst_errors *e, uint64_t line, const char *path, vst_err code);

/* Transforms one NDJSON line (without its newline). On success returns
 * VST_E_OK with *row filled (the previous content is cleared). Otherwise
 * records every error found in the line in *errs and returns the first code;
 * *row is left cleared. The line's bytes are not modified; the caller wipes
 * its own buffer. */
vst_err vst_profile_apply(const vst_profile *p, const char *line, size_t len, uint64_t lineno,
                          vst_row *row, vst_errors *errs);

/* An identifier a profile pseudonymizes into a column (DESIGN.md §12:
 * vst-admin objection add starts from one person's identifier). */
typedef struct {
    vst_id_kind kind;
    const char *domain;      /* points into the profile */
    unsigned id_from, id_to; /* identifying digits, 1-based inclusive */
} vst_column_identifier;

/* The identifier fields writing pseudonym column `column`, depth first:
 * fills out[0..min(n, max)) and returns n (0: no such pseudonym column). */
size_t vst_profile_column_identifiers(const vst_profile *p, const char *column,
                                      vst_column_identifier *out, size_t max);
/* Validates in[0..len) as ci's identifier kind and keeps its identifying
 * digits: *out is then exactly what a delivery hands to keyd for it (wipe
 * it after use). VST_E_OK or the identifier's error code. */
vst_err vst_profile_identifier_key(const vst_column_identifier *ci, const char *in, size_t len,
                                   vst_id *out);

#endif
