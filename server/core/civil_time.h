/* The calendar and time text, in one place: the profile engine's dates,
 * the receipts' and audit log's RFC 3339 times, vst-send's Retry-After
 * dates. Proleptic Gregorian calendar, UTC, no time zones, no libc time
 * functions (timegm/gmtime depend on the TZ database and the locale). */
#ifndef VST_CIVIL_TIME_H
#define VST_CIVIL_TIME_H

#include <stddef.h>
#include <stdint.h>

/* "YYYY-MM-DDTHH:MM:SS.ffffffZ" */
#define VST_TIME_TEXT_LEN 27

int vst_leap_year(int64_t y);
/* Days in month m (1..12) of year y. */
unsigned vst_days_in_month(int64_t y, unsigned m);
/* 1 if y-m-d is a date of years 1..9999, else 0. */
int vst_date_valid(int64_t y, unsigned m, unsigned d);

/* Days since 1970-01-01 of the date y-m-d (m 1..12, d 1..31; not checked:
 * see vst_date_valid), and back (H. Hinnant's days_from_civil and
 * civil_from_days). */
int64_t vst_days_from_civil(int64_t y, unsigned m, unsigned d);
void vst_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* Microseconds since the Unix epoch <-> RFC 3339 UTC text with exactly six
 * fraction digits and "Z" (years 0001..9999). format writes 27 characters
 * and a NUL; returns 0, or -1 if the year is out of range. parse accepts
 * exactly that form (s[0..n), no NUL needed) with valid calendar fields;
 * returns 0 or -1. */
int vst_time_format_us(int64_t us, char out[VST_TIME_TEXT_LEN + 1]);
int vst_time_parse_us(const char *s, size_t n, int64_t *us);

#endif
