/* The Kölner Phonetik as Apache commons-codec's ColognePhonetic codes it;
 * see cologne.h and docs/linkage.md "Kölner Phonetik". Apache's
 * colognePhonetic() step by step, minus its preprocessing (uppercase,
 * umlauts to A O U S): the input is already a normalized token. */
#include "linkage/cologne.h"

#include <string.h>

/* The output buffer of Apache's CologneOutputBuffer.put: a digit is written
 * unless it repeats the previous code or is a 0 after the first digit;
 * H's "code" (none) is remembered too, so it breaks a run (R H R -> 77). */
typedef struct {
    char *out;
    size_t cap;
    size_t len;
    char last; /* the previous code, '-' for H or nothing yet */
    int overflow;
} cologne_out;

static void put(cologne_out *o, char code)
{
    if (code != '-' && code != o->last && (code != '0' || o->len == 0)) {
        if (o->len + 1 < o->cap)
            o->out[o->len++] = code;
        else
            o->overflow = 1;
    }
    o->last = code;
}

static int in(char c, const char *set)
{
    return c != '\0' && strchr(set, c) != NULL;
}

size_t vst_cologne(const char *s, size_t n, char *out, size_t cap)
{
    if (out == NULL || cap == 0)
        return (size_t)-1;
    out[0] = '\0';
    if (s == NULL && n > 0)
        return (size_t)-1;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return (size_t)-1;
    cologne_out o = {out, cap, 0, '-', 0};
    char prev = '\0'; /* the previous letter (Apache's lastChar) */
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        char next = i + 1 < n ? s[i + 1] : '\0';
        if (in(c, "AEIJOUY")) {
            put(&o, '0');
        } else if (c == 'B' || (c == 'P' && next != 'H')) {
            put(&o, '1');
        } else if ((c == 'D' || c == 'T') && !in(next, "CSZ")) {
            put(&o, '2');
        } else if (in(c, "FPVW")) {
            put(&o, '3');
        } else if (in(c, "GKQ")) {
            put(&o, '4');
        } else if (c == 'X' && !in(prev, "CKQ")) {
            put(&o, '4');
            put(&o, '8');
        } else if (c == 'S' || c == 'Z') {
            put(&o, '8');
        } else if (c == 'C') {
            /* "At the onset" is Apache's "nothing written yet", so a C
             * after a leading H counts as onset too (HCA -> 4). */
            if (o.len == 0)
                put(&o, in(next, "AHKLOQRUX") ? '4' : '8');
            else if (in(prev, "SZ") || !in(next, "AHOUKQX"))
                put(&o, '8');
            else
                put(&o, '4');
        } else if (in(c, "DTX")) {
            put(&o, '8');
        } else if (c == 'R') {
            put(&o, '7');
        } else if (c == 'L') {
            put(&o, '5');
        } else if (c == 'M' || c == 'N') {
            put(&o, '6');
        } else if (c == 'H') {
            put(&o, '-');
        }
        prev = c;
    }
    if (o.overflow) {
        out[0] = '\0';
        return (size_t)-1;
    }
    out[o.len] = '\0';
    return o.len;
}
