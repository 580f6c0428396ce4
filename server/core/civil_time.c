/* The calendar and time text; see civil_time.h. */
#include "core/civil_time.h"

#include <stdio.h>
#include <string.h>

int vst_leap_year(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned vst_days_in_month(int64_t y, unsigned m)
{
    static const unsigned char dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && vst_leap_year(y) ? 29 : dm[m - 1];
}

int vst_date_valid(int64_t y, unsigned m, unsigned d)
{
    return y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= vst_days_in_month(y, m);
}

int64_t vst_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void vst_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z in seconds. */
#define MIN_S (-62135596800LL)
#define END_S (253402300800LL)

int vst_time_format_us(int64_t us, char out[VST_TIME_TEXT_LEN + 1])
{
    int64_t s = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        s -= 1;
    }
    if (s < MIN_S || s >= END_S)
        return -1;
    int64_t days = s / 86400, sod = s % 86400;
    if (sod < 0) {
        sod += 86400;
        days -= 1;
    }
    int64_t y;
    unsigned m, d;
    vst_civil_from_days(days, &y, &m, &d);
    /* The ranges above make this exactly 27 characters; the compiler
     * cannot see that, hence the roomy buffer. */
    char tmp[96];
    snprintf(tmp, sizeof tmp, "%04d-%02u-%02uT%02d:%02d:%02d.%06dZ", (int)y, m, d,
             (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (int)frac);
    memcpy(out, tmp, VST_TIME_TEXT_LEN);
    out[VST_TIME_TEXT_LEN] = '\0';
    return 0;
}

static int digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return 0;
}

int vst_time_parse_us(const char *s, size_t n, int64_t *us)
{
    /* 0123456789012345678901234567
     * YYYY-MM-DDTHH:MM:SS.ffffffZ */
    unsigned y, mo, d, h, mi, se, fr;
    if (s == NULL || n != VST_TIME_TEXT_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
        s[13] != ':' || s[16] != ':' || s[19] != '.' || s[26] != 'Z' || digits(s, 4, &y) ||
        digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) || digits(s + 11, 2, &h) ||
        digits(s + 14, 2, &mi) || digits(s + 17, 2, &se) || digits(s + 20, 6, &fr))
        return -1;
    if (!vst_date_valid(y, mo, d) || h > 23 || mi > 59 || se > 59)
        return -1;
    int64_t secs = vst_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    *us = secs * 1000000 + fr;
    return 0;
}
