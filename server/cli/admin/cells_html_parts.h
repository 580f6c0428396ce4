/* What the parts of the cells page share (cells_html.h lists the files).
 * Internal to vst-admin's cells page. */
#ifndef VST_CELLS_HTML_PARTS_H
#define VST_CELLS_HTML_PARTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* Counts above this are read as this: the report holds person counts, so
 * it is never reached, and every product below (count x 1000, count x
 * pixels) stays inside 64 bits. */
#define CH_COUNT_MAX 1000000000000000LL

#define CH_NUM_LEN 32
#define CH_PCT_LEN 48

/* s with & < > " ' as references and control characters (which HTML does
 * not allow) as U+FFFD; NULL prints nothing. Values come from the
 * database: every string of the report goes through here. */
void ch_esc(FILE *out, const char *s);
/* The same, cut after max characters (UTF-8 code points) with an ellipsis:
 * for chart labels, which cannot wrap. */
void ch_esc_max(FILE *out, const char *s, size_t max);
/* An integer member, clamped to 0..CH_COUNT_MAX (missing or not an
 * integer: 0). */
long long ch_int(const json_t *o, const char *key);
/* A string member, or NULL. */
const char *ch_str(const json_t *o, const char *key);
/* "1,234,567". Returns buf. */
const char *ch_num(long long v, char buf[CH_NUM_LEN]);
/* n of d as "86.3 %", rounded to tenths; "< 0.1 %" and "> 99.9 %" where
 * rounding would show 0.0 or 100.0 for a part that is neither; "n/a" for
 * d = 0. Integers only: the report holds no floats. Returns buf. */
const char *ch_pct(long long n, long long d, char buf[CH_PCT_LEN]);
/* A generalization rule in plain words ("bands of 5", "first 1
 * character", "left out"); NULL for a rule it does not know. */
const char *ch_rule_words(const char *rule, char *buf, size_t len);

/* ---- charts (cells_html_svg.c); each returns 0 or -1 (out of memory). */
/* Persons by class size: one bar per histogram bucket, buckets whose
 * lower bound is below k drawn as at risk. */
int ch_svg_histogram(const json_t *report, FILE *out);
/* Persons below k per quasi-identifier taken alone. */
int ch_svg_per_qi(const json_t *report, FILE *out);
/* Persons still below k per suggested step, against now. */
int ch_svg_suggestions(const json_t *report, FILE *out);

#endif
