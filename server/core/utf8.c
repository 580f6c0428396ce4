/* Strict UTF-8; see utf8.h. */
#include "core/utf8.h"

size_t vst_utf8_next(const char *str, size_t n, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)str;
    if (n == 0)
        return 0;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len;
    uint32_t c, min;
    if ((s[0] & 0xe0) == 0xc0) {
        len = 2, c = s[0] & 0x1f, min = 0x80;
    } else if ((s[0] & 0xf0) == 0xe0) {
        len = 3, c = s[0] & 0x0f, min = 0x800;
    } else if ((s[0] & 0xf8) == 0xf0) {
        len = 4, c = s[0] & 0x07, min = 0x10000;
    } else {
        return 0; /* a continuation byte, or 0xf8..0xff */
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0; /* overlong, out of range, or a surrogate */
    *cp = c;
    return len;
}

int vst_utf8_valid(const char *s, size_t n)
{
    uint32_t cp;
    for (size_t i = 0, k; i < n; i += k)
        if ((k = vst_utf8_next(s + i, n - i, &cp)) == 0)
            return 0;
    return 1;
}

size_t vst_utf8_cut(const char *s, size_t n)
{
    size_t i = n;
    /* Step back over at most three continuation bytes to a lead byte. */
    while (i > 0 && n - i < 4 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
        i--;
    if (i == 0 || (unsigned char)s[i - 1] < 0x80)
        return n; /* ends in ASCII (or only continuation bytes: leave as is) */
    uint32_t cp;
    return vst_utf8_next(s + i - 1, n - (i - 1), &cp) == n - (i - 1) ? n : i - 1;
}
