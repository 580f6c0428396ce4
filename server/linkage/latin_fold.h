/* The static table of Latin letters with diacritics for name normalization
 * (normalize.c, docs/linkage.md "Normalization"): internal to vstlink. */
#ifndef VST_LINK_LATIN_FOLD_H
#define VST_LINK_LATIN_FOLD_H

#include <stdint.h>

/* The upper-case A-Z spelling of the Latin letter cp outside ASCII: the
 * base letter ("E" for É and é, "S" for Ş and Ș), "AE" "OE" "UE" for the
 * umlauts (also with a further mark, Ǟ Ȫ Ǖ), "SS" for ß and ẞ, "AE" "OE"
 * for Æ Œ, "IJ" "DZ" "LJ" "NJ" "TH" "LL" for the ligatures and Þ. NULL
 * when cp is not in the table (ASCII, a Latin letter without a base
 * letter such as Ʒ, or another script). */
const char *vst_latin_fold(uint32_t cp);

#endif
