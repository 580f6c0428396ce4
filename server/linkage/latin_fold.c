/* The Latin letters with diacritics and their A-Z spelling; see
 * latin_fold.h. Covered: Latin-1 Supplement, Latin Extended-A and -B,
 * Latin Extended Additional (U+00C0..U+024F, U+1E00..U+1EFF) and the two
 * letterlike symbols that NFC turns into letters (K U+212A, Å U+212B).
 *
 * How the table was made: a letter whose canonical decomposition is an
 * ASCII letter followed by marks of U+0300..U+036F maps to that letter in
 * upper case, except that a diaeresis (U+0308) as the first mark on A O U
 * gives AE OE UE, so that a precomposed letter and its decomposed spelling
 * (normalize.c folds base + U+0308 the same way) always agree. Letters
 * without such a decomposition are mapped by hand to their usual base
 * letter (Ø O, Ł L, Đ D, Ħ H, ı I, Ŧ T, ſ S, Ə E, Ș S, ...) or to their
 * usual spelling (Æ AE, Œ OE, ß ẞ SS, Þ TH, Ĳ IJ). The rest (Ʒ, Ȝ, Ƿ, the
 * clicks and tone letters) stays 0: a letter without a Latin reading,
 * dropped and counted like a letter of another script. */
#include "linkage/latin_fold.h"

#include <stddef.h>

/* U+00C0..U+024F, 8 a line */
static const char *const fold_00c0[0x250 - 0xC0] = {
    /* 00C0 */ "A",  "A",  "A",  "A",  "AE", "A",  "AE", "C",
    /* 00C8 */ "E",  "E",  "E",  "E",  "I",  "I",  "I",  "I",
    /* 00D0 */ "D",  "N",  "O",  "O",  "O",  "O",  "OE", NULL,
    /* 00D8 */ "O",  "U",  "U",  "U",  "UE", "Y",  "TH", "SS",
    /* 00E0 */ "A",  "A",  "A",  "A",  "AE", "A",  "AE", "C",
    /* 00E8 */ "E",  "E",  "E",  "E",  "I",  "I",  "I",  "I",
    /* 00F0 */ "D",  "N",  "O",  "O",  "O",  "O",  "OE", NULL,
    /* 00F8 */ "O",  "U",  "U",  "U",  "UE", "Y",  "TH", "Y",
    /* 0100 */ "A",  "A",  "A",  "A",  "A",  "A",  "C",  "C",
    /* 0108 */ "C",  "C",  "C",  "C",  "C",  "C",  "D",  "D",
    /* 0110 */ "D",  "D",  "E",  "E",  "E",  "E",  "E",  "E",
    /* 0118 */ "E",  "E",  "E",  "E",  "G",  "G",  "G",  "G",
    /* 0120 */ "G",  "G",  "G",  "G",  "H",  "H",  "H",  "H",
    /* 0128 */ "I",  "I",  "I",  "I",  "I",  "I",  "I",  "I",
    /* 0130 */ "I",  "I",  "IJ", "IJ", "J",  "J",  "K",  "K",
    /* 0138 */ "K",  "L",  "L",  "L",  "L",  "L",  "L",  "L",
    /* 0140 */ "L",  "L",  "L",  "N",  "N",  "N",  "N",  "N",
    /* 0148 */ "N",  "N",  "N",  "N",  "O",  "O",  "O",  "O",
    /* 0150 */ "O",  "O",  "OE", "OE", "R",  "R",  "R",  "R",
    /* 0158 */ "R",  "R",  "S",  "S",  "S",  "S",  "S",  "S",
    /* 0160 */ "S",  "S",  "T",  "T",  "T",  "T",  "T",  "T",
    /* 0168 */ "U",  "U",  "U",  "U",  "U",  "U",  "U",  "U",
    /* 0170 */ "U",  "U",  "U",  "U",  "W",  "W",  "Y",  "Y",
    /* 0178 */ "Y",  "Z",  "Z",  "Z",  "Z",  "Z",  "Z",  "S",
    /* 0180 */ "B",  "B",  "B",  "B",  NULL, NULL, "O",  "C",
    /* 0188 */ "C",  "D",  "D",  "D",  "D",  NULL, "E",  "E",
    /* 0190 */ "E",  "F",  "F",  "G",  NULL, NULL, NULL, "I",
    /* 0198 */ "K",  "K",  "L",  NULL, NULL, "N",  "N",  "O",
    /* 01A0 */ "O",  "O",  NULL, NULL, "P",  "P",  NULL, NULL,
    /* 01A8 */ NULL, NULL, NULL, "T",  "T",  "T",  "T",  "U",
    /* 01B0 */ "U",  NULL, "V",  "Y",  "Y",  "Z",  "Z",  NULL,
    /* 01B8 */ NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    /* 01C0 */ NULL, NULL, NULL, NULL, "DZ", "DZ", "DZ", "LJ",
    /* 01C8 */ "LJ", "LJ", "NJ", "NJ", "NJ", "A",  "A",  "I",
    /* 01D0 */ "I",  "O",  "O",  "U",  "U",  "UE", "UE", "UE",
    /* 01D8 */ "UE", "UE", "UE", "UE", "UE", "E",  "AE", "AE",
    /* 01E0 */ "A",  "A",  "AE", "AE", "G",  "G",  "G",  "G",
    /* 01E8 */ "K",  "K",  "O",  "O",  "O",  "O",  NULL, NULL,
    /* 01F0 */ "J",  "DZ", "DZ", "DZ", "G",  "G",  NULL, NULL,
    /* 01F8 */ "N",  "N",  "A",  "A",  "AE", "AE", "O",  "O",
    /* 0200 */ "A",  "A",  "A",  "A",  "E",  "E",  "E",  "E",
    /* 0208 */ "I",  "I",  "I",  "I",  "O",  "O",  "O",  "O",
    /* 0210 */ "R",  "R",  "R",  "R",  "U",  "U",  "U",  "U",
    /* 0218 */ "S",  "S",  "T",  "T",  NULL, NULL, "H",  "H",
    /* 0220 */ "N",  "D",  NULL, NULL, "Z",  "Z",  "A",  "A",
    /* 0228 */ "E",  "E",  "OE", "OE", "O",  "O",  "O",  "O",
    /* 0230 */ "O",  "O",  "Y",  "Y",  "L",  "N",  "T",  "J",
    /* 0238 */ NULL, NULL, "A",  "C",  "C",  "L",  "T",  "S",
    /* 0240 */ "Z",  NULL, NULL, "B",  "U",  NULL, "E",  "E",
    /* 0248 */ "J",  "J",  "Q",  "Q",  "R",  "R",  "Y",  "Y",
};

/* U+1E00..U+1EFF, 8 a line */
static const char *const fold_1e00[0x1F00 - 0x1E00] = {
    /* 1E00 */ "A", "A", "B",  "B",  "B", "B", "B",  "B",
    /* 1E08 */ "C", "C", "D",  "D",  "D", "D", "D",  "D",
    /* 1E10 */ "D", "D", "D",  "D",  "E", "E", "E",  "E",
    /* 1E18 */ "E", "E", "E",  "E",  "E", "E", "F",  "F",
    /* 1E20 */ "G", "G", "H",  "H",  "H", "H", "H",  "H",
    /* 1E28 */ "H", "H", "H",  "H",  "I", "I", "I",  "I",
    /* 1E30 */ "K", "K", "K",  "K",  "K", "K", "L",  "L",
    /* 1E38 */ "L", "L", "L",  "L",  "L", "L", "M",  "M",
    /* 1E40 */ "M", "M", "M",  "M",  "N", "N", "N",  "N",
    /* 1E48 */ "N", "N", "N",  "N",  "O", "O", "O",  "O",
    /* 1E50 */ "O", "O", "O",  "O",  "P", "P", "P",  "P",
    /* 1E58 */ "R", "R", "R",  "R",  "R", "R", "R",  "R",
    /* 1E60 */ "S", "S", "S",  "S",  "S", "S", "S",  "S",
    /* 1E68 */ "S", "S", "T",  "T",  "T", "T", "T",  "T",
    /* 1E70 */ "T", "T", "U",  "U",  "U", "U", "U",  "U",
    /* 1E78 */ "U", "U", "U",  "U",  "V", "V", "V",  "V",
    /* 1E80 */ "W", "W", "W",  "W",  "W", "W", "W",  "W",
    /* 1E88 */ "W", "W", "X",  "X",  "X", "X", "Y",  "Y",
    /* 1E90 */ "Z", "Z", "Z",  "Z",  "Z", "Z", "H",  "T",
    /* 1E98 */ "W", "Y", "A",  "S",  "S", "S", "SS", NULL,
    /* 1EA0 */ "A", "A", "A",  "A",  "A", "A", "A",  "A",
    /* 1EA8 */ "A", "A", "A",  "A",  "A", "A", "A",  "A",
    /* 1EB0 */ "A", "A", "A",  "A",  "A", "A", "A",  "A",
    /* 1EB8 */ "E", "E", "E",  "E",  "E", "E", "E",  "E",
    /* 1EC0 */ "E", "E", "E",  "E",  "E", "E", "E",  "E",
    /* 1EC8 */ "I", "I", "I",  "I",  "O", "O", "O",  "O",
    /* 1ED0 */ "O", "O", "O",  "O",  "O", "O", "O",  "O",
    /* 1ED8 */ "O", "O", "O",  "O",  "O", "O", "O",  "O",
    /* 1EE0 */ "O", "O", "O",  "O",  "U", "U", "U",  "U",
    /* 1EE8 */ "U", "U", "U",  "U",  "U", "U", "U",  "U",
    /* 1EF0 */ "U", "U", "Y",  "Y",  "Y", "Y", "Y",  "Y",
    /* 1EF8 */ "Y", "Y", "LL", "LL", "V", "V", "Y",  "Y",
};

const char *vst_latin_fold(uint32_t cp)
{
    if (cp >= 0xC0 && cp < 0x250)
        return fold_00c0[cp - 0xC0];
    if (cp >= 0x1E00 && cp < 0x1F00)
        return fold_1e00[cp - 0x1E00];
    if (cp == 0x212A) /* KELVIN SIGN, NFC: K */
        return "K";
    if (cp == 0x212B) /* ANGSTROM SIGN, NFC: Å */
        return "A";
    return NULL;
}
