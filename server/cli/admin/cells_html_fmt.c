/* Escaping and number text for the cells page (cells_html_parts.h). The
 * page holds values from the database (column names, generalized values,
 * codes): they reach it only through ch_esc, so a value like "<script>"
 * is text on the page, never markup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin/cells_html_parts.h"

/* U+FFFD, written where a control character stood. */
#define REPLACEMENT "\xef\xbf\xbd"

static void esc_n(FILE *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '&')
            fputs("&amp;", out);
        else if (c == '<')
            fputs("&lt;", out);
        else if (c == '>')
            fputs("&gt;", out);
        else if (c == '"')
            fputs("&quot;", out);
        else if (c == '\'')
            fputs("&#39;", out);
        else if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
            fputs(REPLACEMENT, out);
        else if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
                 (unsigned char)s[i + 1] <= 0x9f) {
            fputs(REPLACEMENT, out); /* a C1 control, U+0080..U+009F */
            i++;
        } else
            fputc(c, out);
    }
}

void ch_esc(FILE *out, const char *s)
{
    if (s != NULL)
        esc_n(out, s, strlen(s));
}

void ch_esc_max(FILE *out, const char *s, size_t max)
{
    if (s == NULL)
        return;
    size_t chars = 0, i = 0;
    for (; s[i] != '\0'; i++) {
        if (((unsigned char)s[i] & 0xc0) == 0x80)
            continue; /* a continuation byte: same character */
        if (chars == max)
            break;
        chars++;
    }
    esc_n(out, s, i);
    if (s[i] != '\0')
        fputs("\xe2\x80\xa6", out); /* U+2026 */
}

long long ch_int(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    return json_integer_value(v) > CH_COUNT_MAX ? CH_COUNT_MAX : (long long)json_integer_value(v);
}

const char *ch_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

const char *ch_num(long long v, char buf[CH_NUM_LEN])
{
    char digits[CH_NUM_LEN];
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    int n = snprintf(digits, sizeof digits, "%llu", u);
    size_t o = 0;
    if (v < 0)
        buf[o++] = '-';
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* "86.3 %" with a no-break space, so that a number never loses its sign
 * at a line end. */
const char *ch_pct(long long n, long long d, char buf[CH_PCT_LEN])
{
    if (d <= 0 || n < 0) {
        snprintf(buf, CH_PCT_LEN, "n/a");
        return buf;
    }
    long long t = (n * 1000 + d / 2) / d; /* tenths of a per cent */
    if (t == 0 && n > 0)
        snprintf(buf, CH_PCT_LEN, "< 0.1\xc2\xa0%%");
    else if (t >= 1000 && n < d)
        snprintf(buf, CH_PCT_LEN, "> 99.9\xc2\xa0%%");
    else
        snprintf(buf, CH_PCT_LEN, "%lld.%lld\xc2\xa0%%", t / 10, t % 10);
    return buf;
}

/* The number after "band:" or "prefix:", or -1 if it is not one. */
static long rule_arg(const char *s)
{
    if (*s < '1' || *s > '9' || strlen(s) > 3)
        return -1;
    char *end;
    long v = strtol(s, &end, 10);
    return *end == '\0' ? v : -1;
}

const char *ch_rule_words(const char *rule, char *buf, size_t len)
{
    if (rule == NULL)
        return NULL;
    if (strcmp(rule, "drop") == 0) {
        snprintf(buf, len, "left out");
        return buf;
    }
    long v;
    if (strncmp(rule, "band:", 5) == 0 && (v = rule_arg(rule + 5)) > 0) {
        snprintf(buf, len, "bands of %ld", v);
        return buf;
    }
    if (strncmp(rule, "prefix:", 7) == 0 && (v = rule_arg(rule + 7)) > 0) {
        snprintf(buf, len, "first %ld character%s", v, v == 1 ? "" : "s");
        return buf;
    }
    return NULL;
}
