/* Value checks of the profile engine: calendar dates, strings against
 * patterns and allowed values, and JSON string escaping for JSON columns.
 * Every function here looks at untrusted bytes and reports only a code. */
#include <string.h>
#include <time.h>

#include "core/secmem.h"
#include "core/civil_time.h"
#include "profile/profile_internal.h"

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

vst_err pf_parse_date(const char *s, size_t len, int32_t *days, int *year)
{
    int y, m, d;
    if (len != 10 || s[4] != '-' || s[7] != '-' || digits(s, 4, &y) || digits(s + 5, 2, &m) ||
        digits(s + 8, 2, &d))
        return VST_E_INVALID_DATE;
    if (!vst_date_valid(y, (unsigned)m, (unsigned)d))
        return VST_E_INVALID_DATE;
    *days = (int32_t)vst_days_from_civil(y, (unsigned)m, (unsigned)d);
    *year = y;
    return VST_E_OK;
}

int pf_parse_int64(const char *s, size_t len, int64_t *out)
{
    size_t i = len > 0 && s[0] == '-';
    uint64_t v = 0, lim = i ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (i == len || (s[i] == '0' && len - i > 1))
        return -1;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (lim - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = s[0] == '-' ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

int32_t pf_today(void)
{
    return (int32_t)(time(NULL) / 86400);
}

vst_err pf_check_string(const pf_string *c, const char *s, size_t len)
{
    if (c->max_length > 0 && len > c->max_length) /* bytes: bounds storage */
        return VST_E_TOO_LONG;
    if (memchr(s, '\0', len) != NULL)
        return VST_E_PATTERN; /* jansson refuses \u0000 already; belt and braces */
    if (c->nenum > 0) {
        for (size_t i = 0; i < c->nenum; i++)
            if (strlen(c->enums[i]) == len && memcmp(c->enums[i], s, len) == 0)
                return VST_E_OK;
        return VST_E_NOT_ALLOWED;
    }
    if (c->has_re) {
        /* regexec needs a NUL-terminated string; patterned values are short
         * codes, longer ones cannot match any pattern we accept anyway. */
        char tmp[256];
        if (len >= sizeof tmp)
            return VST_E_PATTERN;
        memcpy(tmp, s, len);
        tmp[len] = '\0';
        int rc = regexec(&c->re, tmp, 0, NULL, 0);
        vst_wipe(tmp, len);
        if (rc != 0)
            return VST_E_PATTERN;
    }
    return VST_E_OK;
}

int pf_json_escape(char *buf, size_t cap, size_t *used, const char *s, size_t len)
{
    static const char hx[] = "0123456789abcdef", ctl[] = "\b\f\n\r\t", esc[] = "bfnrt";
    size_t u = *used;
    if (u >= cap)
        return -1;
    buf[u++] = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (cap - u < 8)
            return -1;
        /* The short escapes keep the output no longer than the input's own
         * escaping (the row's arena is sized on that): a control character
         * arrives as \t, \n, ... (2 bytes) or \u00XX (6 bytes). */
        const char *sh = ch != 0 ? strchr(ctl, ch) : NULL;
        if (ch == '"' || ch == '\\') {
            buf[u++] = '\\';
            buf[u++] = (char)ch;
        } else if (sh != NULL) {
            buf[u++] = '\\';
            buf[u++] = esc[sh - ctl];
        } else if (ch < 0x20) {
            memcpy(buf + u, "\\u00", 4);
            buf[u + 4] = hx[ch >> 4];
            buf[u + 5] = hx[ch & 15];
            u += 6;
        } else {
            buf[u++] = (char)ch;
        }
    }
    if (cap - u < 1)
        return -1;
    buf[u++] = '"';
    *used = u;
    return 0;
}
