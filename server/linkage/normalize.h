/* Normalization of names for linkage (DESIGN.md §13, docs/linkage.md
 * "Normalization"): one small pure module, no allocation, no I/O, no
 * locale. Linked by vst-httpd (the profile engine) and the tests; vst-keyd
 * never sees a name before it went through here.
 *
 * Steps, in order:
 *   1. strict UTF-8 (overlongs, surrogates, > U+10FFFF refused);
 *   2. NFC for the common combining marks: a base letter followed by
 *      U+0308 becomes the umlaut (U+0041 U+0308 -> U+00C4); other marks in
 *      U+0300..U+036F are dropped (they only decorate their base letter);
 *   3. upper case; Ä Ö Ü -> AE OE UE, ß and ẞ -> SS, Æ -> AE, Œ -> OE,
 *      other Latin letters with diacritics to their base letter by a static
 *      table (É -> E, Ç -> C, Ø -> O, Ł -> L, Ş -> S, ...); a letter of
 *      another script is dropped and counted (*dropped);
 *   4. every character outside A-Z separates tokens (blanks, hyphens,
 *      dots, apostrophes, digits);
 *   5. titles (DR PROF PD MED DIPL ING HC) are dropped from every field,
 *      name particles (AL AM AN AUF D DA DE DEL DELA DEM DEN DER DI DOS DU
 *      EL EN ET LA LE MC O SR UND V VAN VO VOM VON Y ZU ZUM ZUR and the
 *      noble titles FREIFRAU FREIHERR GRAEFIN GRAF) from family and birth
 *      names only; if that leaves no token, the particles are kept (a
 *      family name "Van" stays VAN);
 *   6. in a family name, GEB or GEBORENE starts the birth name: the tokens
 *      after it go to *birth_out (when the caller passes one).
 *
 * Errors (stable codes of server/core/vst_error.def, never the value):
 * VST_E_INVALID_UTF8, VST_E_NAME_EMPTY (no letter A-Z left),
 * VST_E_NAME_TOKENS (more than VST_NAME_TOKENS_MAX tokens),
 * VST_E_NAME_TOKEN_LENGTH (a token longer than VST_NAME_TOKEN_MAX). */
#ifndef VST_LINK_NORMALIZE_H
#define VST_LINK_NORMALIZE_H

#include <stddef.h>

#include "core/vst_error.h"
#include "linkage/person.h"

typedef enum { VST_NAME_GIVEN, VST_NAME_FAMILY, VST_NAME_BIRTH } vst_name_kind;

/* Normalizes s[0..len) (no NUL needed) into *out. For VST_NAME_FAMILY,
 * birth_out (may be NULL) receives the tokens after GEB/GEBORENE (n = 0
 * when there is none). *dropped (may be NULL) counts letters of other
 * scripts that were dropped. On error *out is zeroed. */
vst_err vst_name_normalize(vst_name_kind kind, const char *s, size_t len, vst_name_tokens *out,
                           vst_name_tokens *birth_out, unsigned *dropped);

/* The fields of one person as delivered (UTF-8, not NUL-terminated). birth
 * may be NULL (absent). date is "YYYY-MM-DD" (already validated as a
 * calendar date by the profile engine, but checked again here); sex one of
 * "M" "W" "D" "X", with "F" accepted for W. */
typedef struct {
    const char *given;
    size_t given_len;
    const char *family;
    size_t family_len;
    const char *birth;
    size_t birth_len;
    const char *date;
    size_t date_len;
    const char *sex;
    size_t sex_len;
} vst_person_raw;

/* All of the above for one person: given, family (with a GEB birth name
 * when no birth field is given; an explicit birth field wins), birth, date
 * to YYYYMMDD, sex. On error *which names the failing field ("given_names",
 * "family_names", "birth_name", "birth_date", "sex") and *out is zeroed.
 * Errors for date and sex: VST_E_INVALID_DATE, VST_E_NOT_ALLOWED. */
vst_err vst_person_normalize(const vst_person_raw *raw, vst_person *out, const char **which);

#endif
