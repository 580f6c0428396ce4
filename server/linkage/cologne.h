/* The Kölner Phonetik (Postel 1969; the rules of Apache commons-codec's
 * ColognePhonetic, docs/linkage.md "Kölner Phonetik"): a pure function
 * over normalized tokens. vst-keyd codes the tokens it receives; the tests
 * check it against the published vectors.
 *
 * Input: letters A-Z only (a normalized token, so umlauts arrive as AE OE
 * UE and ß as SS, which codes the same as the original: MUELLER 657 like
 * Müller). Output: the code digits, NUL-terminated: each letter coded by
 * its context, runs of equal digits collapsed, every 0 but a leading one
 * dropped, H coded as nothing. */
#ifndef VST_LINK_COLOGNE_H
#define VST_LINK_COLOGNE_H

#include <stddef.h>

/* Codes s[0..n) into out (cap bytes, room for the NUL; 2 * n + 1 always
 * suffices). Returns the number of digits written, or (size_t)-1 when s
 * holds a byte outside A-Z or out is too small (out is then ""). */
size_t vst_cologne(const char *s, size_t n, char *out, size_t cap);

#endif
