/* Hex encoding; see hex.h. */
#include "core/hex.h"

void vst_hex(const uint8_t *in, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int lower_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int nibble(char c)
{
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return lower_nibble(c);
}

int vst_unhex(const char *in, size_t n, uint8_t *out)
{
    /* Check each character before reading the next, so a short
     * NUL-terminated string is never read past its end. */
    for (size_t i = 0; i < 2 * n; i++)
        if (nibble(in[i]) < 0)
            return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(nibble(in[2 * i]) << 4 | nibble(in[2 * i + 1]));
    return 0;
}

int vst_unhex_lower(const char *s, size_t slen, uint8_t *out, size_t n)
{
    if (s == NULL || slen != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = lower_nibble(s[2 * i]), lo = lower_nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
