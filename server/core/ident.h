/* Validation of the identifiers of DESIGN.md §4: KVNR, LANR, BSNR, IK.
 *
 * Every identifier is validated before anything else touches it; a valid one
 * is returned in canonical form (trimmed, KVNR letter upper-cased), which is
 * exactly the byte string the pseudonym derivation hashes. A vst_id holds an
 * identifier: wipe it (vst_id_wipe) once used. */
#ifndef VST_IDENT_H
#define VST_IDENT_H

#include <stddef.h>

#include "core/vst_error.h"

typedef enum {
    VST_ID_KVNR = 0, /* unchangeable part: letter, 8 digits, check digit */
    VST_ID_LANR,     /* lifelong physician number: 6 digits, check, group (2) */
    VST_ID_BSNR,     /* practice number: 9 digits, 1-2 the KV region; no check */
    VST_ID_IK,       /* institution code: class (2), region (2), serial (4), check */
    VST_ID__COUNT
} vst_id_kind;

#define VST_ID_MAXLEN 10

typedef struct {
    vst_id_kind kind;
    unsigned char len;         /* 10 for KVNR, 9 otherwise */
    char s[VST_ID_MAXLEN + 1]; /* canonical form, NUL-terminated */
} vst_id;

/* Validate in[0..len) as an identifier of the given kind. On success fills
 * *out and returns VST_E_OK; otherwise returns VST_E_ID_LENGTH,
 * VST_E_ID_SYNTAX or VST_E_ID_CHECK_DIGIT and leaves *out wiped.
 * Leading and trailing blanks (space, tab) are trimmed for every kind; the
 * KVNR letter is upper-cased. Any other deviation is rejected. */
vst_err vst_id_parse(vst_id_kind kind, const char *in, size_t len, vst_id *out);

/* Name of a kind as used in profiles: "kvnr", "lanr", "bsnr", "ik". */
const char *vst_id_kind_name(vst_id_kind kind);
/* Inverse of vst_id_kind_name; returns -1 for an unknown name. */
int vst_id_kind_from_name(const char *name);

/* Check digit (0-9) over the leading digits of a canonical-form prefix:
 * KVNR: letter + 8 digits; LANR: 6 digits; IK: 8 digits (positions 1-8,
 * the check covers 3-8). Returns -1 for malformed input or for BSNR, which
 * has no check digit. Used by the synthetic data generator and the tests. */
int vst_id_check_digit(vst_id_kind kind, const char *prefix);

void vst_id_wipe(vst_id *id);

#endif
