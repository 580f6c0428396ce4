/* The charts of the cells page (cells_html_parts.h), as inline SVG: no
 * script, no external file, the numbers written on the bars so that the
 * page reads the same printed in grey. Persons at risk (in classes of
 * fewer than k) are drawn orange and hatched, the rest blue; each chart
 * has a <title> and a <desc> that says its numbers in words for a screen
 * reader. Coordinates are integers in a 1000-unit-wide viewBox: no float
 * reaches the page, whatever the locale. */
#include <stdlib.h>
#include <string.h>

#include "cli/admin/cells_html_parts.h"

#define RISK "#c2410c"
#define RISK_DARK "#7c2d12"
#define SAFE "#2563a8"
#define INK "#1b1f24"
#define MUTED "#4a5360"
#define OK "#1e6b3a"

/* ---- the histogram: persons by class size */
#define HX0 70
#define HX1 990
#define HTOP 70
#define HBASE 290

/* Diagonal white stripes over the risk colour, so that risk does not rest
 * on colour alone. The pattern is "<id>-hatch", id the chart's. */
static void hatch(FILE *out, const char *id)
{
    fprintf(
        out,
        "<defs><pattern id=\"%s-hatch\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\" "
        "patternTransform=\"rotate(45)\"><rect width=\"8\" height=\"8\" fill=\"" RISK
        "\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"8\" stroke=\"#fff\" stroke-width=\"3\" "
        "stroke-opacity=\"0.45\"/></pattern></defs>\n",
        id);
}

/* "5-9" -> 5 and 9, "50+" -> 50 and LLONG_MAX, "1" -> 1 and 1; a label
 * without a number -> 0 and 0 (drawn as at risk: the careful side). */
static void bucket_bounds(const char *size, long long *lo, long long *hi)
{
    char *end;
    *lo = *hi = 0;
    if (size == NULL || *size < '0' || *size > '9')
        return;
    *lo = *hi = strtoll(size, &end, 10);
    if (*end == '+')
        *hi = CH_COUNT_MAX;
    else if (*end == '-' && end[1] >= '0' && end[1] <= '9')
        *hi = strtoll(end + 1, NULL, 10);
}

static void histogram_legend(FILE *out, long long k)
{
    fprintf(out,
            "<rect x=\"%d\" y=\"12\" width=\"18\" height=\"14\" fill=\"url(#sizes-hatch)\"/>"
            "<text x=\"%d\" y=\"24\" font-size=\"14\" fill=\"" INK "\">classes of fewer than "
            "%lld persons (at risk)</text>\n"
            "<rect x=\"%d\" y=\"12\" width=\"18\" height=\"14\" fill=\"" SAFE "\"/>"
            "<text x=\"%d\" y=\"24\" font-size=\"14\" fill=\"" INK "\">classes of %lld or more "
            "persons</text>\n"
            "<text x=\"%d\" y=\"56\" font-size=\"13\" fill=\"" MUTED "\">persons</text>\n",
            HX0, HX0 + 26, k, HX0 + 380, HX0 + 406, k, HX0 - 58);
}

/* One bucket: its bar, the persons above it, size and classes below. */
static void histogram_bar(FILE *out, const json_t *b, size_t i, size_t n, long long max,
                          long long k, long long persons)
{
    long long lo, hi, v = ch_int(b, "persons"), gw = (HX1 - HX0) / (long long)n;
    char pv[CH_NUM_LEN], cv[CH_NUM_LEN], pct[CH_PCT_LEN];
    bucket_bounds(ch_str(b, "size"), &lo, &hi);
    long long h = max > 0 ? v * (HBASE - HTOP) / max : 0, bw = gw * 3 / 5;
    long long x = HX0 + (long long)i * gw + (gw - bw) / 2, cx = x + bw / 2;
    if (v > 0 && h < 2)
        h = 2;
    fputs("<g><title>class size ", out);
    ch_esc(out, ch_str(b, "size"));
    fprintf(out, ": %s classes, %s persons", ch_num(ch_int(b, "classes"), cv), ch_num(v, pv));
    if (persons > 0)
        fprintf(out, " (%s of all persons)", ch_pct(v, persons, pct));
    fputs("</title>\n", out);
    fprintf(out, "<rect x=\"%lld\" y=\"%lld\" width=\"%lld\" height=\"%lld\" fill=\"%s\"/>\n", x,
            HBASE - h, bw, h, lo < k ? "url(#sizes-hatch)" : SAFE);
    fprintf(out,
            "<text x=\"%lld\" y=\"%lld\" text-anchor=\"middle\" font-size=\"15\" "
            "font-weight=\"bold\" fill=\"" INK "\">%s</text>\n",
            cx, HBASE - h - 8, pv);
    fprintf(out,
            "<text x=\"%lld\" y=\"%d\" text-anchor=\"middle\" font-size=\"16\" "
            "font-weight=\"bold\" fill=\"" INK "\">",
            cx, HBASE + 24);
    ch_esc_max(out, ch_str(b, "size"), 12);
    fprintf(out,
            "</text>\n<text x=\"%lld\" y=\"%d\" text-anchor=\"middle\" font-size=\"13\" "
            "fill=\"" MUTED "\">%s class%s</text>\n</g>\n",
            cx, HBASE + 44, cv, ch_int(b, "classes") == 1 ? "" : "es");
}

/* The dashed line between the last bucket that starts below k and the
 * first that does not. */
static void k_line(FILE *out, size_t at, size_t n, long long k)
{
    long long x = HX0 + (long long)at * ((HX1 - HX0) / (long long)n);
    if (at == 0)
        return;
    fprintf(out,
            "<line x1=\"%lld\" y1=\"%d\" x2=\"%lld\" y2=\"%d\" stroke=\"" INK
            "\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\n"
            "<text x=\"%lld\" y=\"%d\" text-anchor=\"%s\" font-size=\"14\" font-weight=\"bold\" "
            "fill=\"" INK "\">k = %lld</text>\n",
            x, HTOP - 8, x, HBASE + 50, at == n ? x - 6 : x + 6, HTOP - 4,
            at == n ? "end" : "start", k);
}

/* The chart's description in words, and the note when a bucket holds
 * classes on both sides of k (k = 7 falls inside "5-9"). */
static void histogram_words(FILE *out, const json_t *hist, long long k, int desc)
{
    size_t i;
    json_t *b;
    long long lo, hi;
    char pv[CH_NUM_LEN], cv[CH_NUM_LEN];
    json_array_foreach(hist, i, b)
    {
        bucket_bounds(ch_str(b, "size"), &lo, &hi);
        if (desc) {
            fputs(i > 0 ? "; size " : "Size ", out);
            ch_esc(out, ch_str(b, "size"));
            fprintf(out, ": %s persons in %s classes", ch_num(ch_int(b, "persons"), pv),
                    ch_num(ch_int(b, "classes"), cv));
        } else if (lo < k && hi >= k) {
            fputs("<figcaption class=\"note\">The bucket ", out);
            ch_esc(out, ch_str(b, "size"));
            fprintf(out,
                    " holds classes below k=%lld and classes at or above it; it is drawn as "
                    "at risk.</figcaption>\n",
                    k);
        }
    }
    if (desc)
        fputs(".", out);
}

int ch_svg_histogram(const json_t *r, FILE *out)
{
    json_t *hist = json_object_get(r, "histogram"), *b;
    size_t n = json_array_size(hist), i, at = 0;
    long long k = ch_int(r, "k"), max = 0, lo, hi;
    json_array_foreach(hist, i, b)
    {
        max = ch_int(b, "persons") > max ? ch_int(b, "persons") : max;
        bucket_bounds(ch_str(b, "size"), &lo, &hi);
        at += lo < k;
    }
    fputs("<svg viewBox=\"0 0 1000 350\" role=\"img\" aria-labelledby=\"sizes-t sizes-d\">\n"
          "<title id=\"sizes-t\">Persons by class size</title>\n<desc id=\"sizes-d\">",
          out);
    histogram_words(out, hist, k, 1);
    fputs("</desc>\n", out);
    hatch(out, "sizes");
    histogram_legend(out, k);
    fprintf(out,
            "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"" MUTED "\"/>\n"
            "<text x=\"%d\" y=\"%d\" font-size=\"13\" fill=\"" MUTED "\">size</text>\n"
            "<text x=\"%d\" y=\"%d\" font-size=\"13\" fill=\"" MUTED "\">classes</text>\n",
            HX0, HBASE, HX1, HBASE, HX0 - 58, HBASE + 24, HX0 - 58, HBASE + 44);
    json_array_foreach(hist, i, b)
    {
        histogram_bar(out, b, i, n, max, k, ch_int(r, "persons"));
    }
    if (n > 0)
        k_line(out, at, n, k);
    fputs("</svg>\n", out);
    histogram_words(out, hist, k, 0);
    return 0;
}

/* ---- horizontal bars: per quasi-identifier, suggestions */
#define BX 320   /* bars start here; labels end left of it */
#define BW 420   /* the longest bar */
#define VX 990   /* the counts end here */
#define ROW 48   /* one bar with its label and note */
#define BTOP 30  /* room for the "now" line's label */
#define LABEL 30 /* characters of a label before it is cut */

typedef struct {
    const char *label; /* from the report: escaped when printed */
    const char *rule;  /* a suggestion's step, shown as "label -> rule"; or NULL */
    char note[64];     /* numbers and words of ours only */
    long long value;   /* persons below k */
    const char *fill;
} hbar;

static void hbar_label(FILE *out, const hbar *b, size_t max)
{
    ch_esc_max(out, b->label, max);
    if (b->rule != NULL) {
        fputs(" \xe2\x86\x92 ", out); /* U+2192 */
        ch_esc_max(out, b->rule, max);
    }
}

/* Label and note left of the bar, the count in a column of its own at
 * the right: no line or bar ever runs through a number. */
static void hbar_row(FILE *out, const hbar *b, long long y, long long max, long long persons)
{
    char v[CH_NUM_LEN], p[CH_PCT_LEN];
    long long w = max > 0 ? b->value * BW / max : 0;
    if (b->value > 0 && w < 2)
        w = 2;
    fputs("<g><title>", out);
    hbar_label(out, b, 200);
    fprintf(out, ": %s persons below k</title>\n", ch_num(b->value, v));
    fprintf(out,
            "<text x=\"%d\" y=\"%lld\" text-anchor=\"end\" font-size=\"15\" "
            "font-weight=\"bold\" fill=\"" INK "\">",
            BX - 12, y + 20);
    hbar_label(out, b, LABEL);
    fprintf(out,
            "</text>\n<text x=\"%d\" y=\"%lld\" text-anchor=\"end\" font-size=\"13\" "
            "fill=\"" MUTED "\">%s</text>\n",
            BX - 12, y + 38, b->note);
    fprintf(out, "<rect x=\"%d\" y=\"%lld\" width=\"%lld\" height=\"26\" fill=\"%s\"/>\n", BX,
            y + 8, w, b->fill);
    if (b->value == 0)
        fprintf(out,
                "<text x=\"%d\" y=\"%lld\" text-anchor=\"end\" font-size=\"15\" "
                "font-weight=\"bold\" fill=\"" OK "\">0: no one below k</text>\n</g>\n",
                VX, y + 26);
    else
        fprintf(out,
                "<text x=\"%d\" y=\"%lld\" text-anchor=\"end\" font-size=\"15\" "
                "fill=\"" INK "\"><tspan font-weight=\"bold\">%s</tspan> persons "
                "(%s)</text>\n</g>\n",
                VX, y + 26, v, ch_pct(b->value, persons, p));
}

/* The bars, scaled to the largest (or to ref), with a dashed line at ref
 * (the persons below k now) when ref >= 0. */
static void hbars(FILE *out, const char *id, const char *title, const hbar *b, size_t n,
                  long long persons, long long ref)
{
    long long max = ref, h = BTOP + (long long)n * ROW + 10;
    char v[CH_NUM_LEN];
    for (size_t i = 0; i < n; i++)
        max = b[i].value > max ? b[i].value : max;
    fprintf(out,
            "<svg viewBox=\"0 0 1000 %lld\" role=\"img\" aria-labelledby=\"%s-t %s-d\">\n"
            "<title id=\"%s-t\">%s</title>\n<desc id=\"%s-d\">",
            h, id, id, id, title, id);
    for (size_t i = 0; i < n; i++) {
        fputs(i > 0 ? "; " : "", out);
        hbar_label(out, &b[i], 200);
        fprintf(out, ": %s", ch_num(b[i].value, v));
    }
    fputs(".</desc>\n", out);
    hatch(out, id);
    fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%lld\" stroke=\"" MUTED "\"/>\n", BX,
            BTOP, BX, h - 6);
    for (size_t i = 0; i < n; i++)
        hbar_row(out, &b[i], BTOP + (long long)i * ROW, max, persons);
    if (ref > 0) {
        long long x = BX + ref * BW / max;
        fprintf(out,
                "<line x1=\"%lld\" y1=\"%d\" x2=\"%lld\" y2=\"%lld\" stroke=\"" INK
                "\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>\n<text x=\"%lld\" y=\"%d\" "
                "text-anchor=\"middle\" font-size=\"13\" fill=\"" INK "\">now: %s</text>\n",
                x, BTOP - 10, x, h - 6, x, BTOP - 14, ch_num(ref, v));
    }
    fputs("</svg>\n", out);
}

int ch_svg_per_qi(const json_t *r, FILE *out)
{
    json_t *all = json_object_get(r, "per_quasi_identifier"), *q;
    size_t n = json_array_size(all), i;
    char v[CH_NUM_LEN];
    if (n == 0) {
        fputs("<p>The report lists no quasi-identifier.</p>\n", out);
        return 0;
    }
    hbar *b = calloc(n, sizeof *b);
    if (b == NULL)
        return -1;
    json_array_foreach(all, i, q)
    {
        b[i].label = ch_str(q, "column");
        snprintf(b[i].note, sizeof b[i].note, "%s distinct values", ch_num(ch_int(q, "values"), v));
        b[i].value = ch_int(q, "persons_below_k");
        b[i].fill = "url(#per-qi-c-hatch)";
    }
    hbars(out, "per-qi-c", "Persons below k for each quasi-identifier alone", b, n,
          ch_int(r, "persons"), -1);
    free(b);
    return 0;
}

int ch_svg_suggestions(const json_t *r, FILE *out)
{
    json_t *all = json_object_get(r, "suggestions"), *s;
    size_t n = json_array_size(all) + 1, i;
    char v[CH_NUM_LEN];
    hbar *b = calloc(n, sizeof *b);
    if (b == NULL)
        return -1;
    b[0].label = "now";
    snprintf(b[0].note, sizeof b[0].note, "as generalized above");
    b[0].value = ch_int(r, "persons_below_k");
    b[0].fill = RISK_DARK;
    json_array_foreach(all, i, s)
    {
        b[i + 1].label = ch_str(s, "column");
        b[i + 1].rule = ch_str(s, "rule");
        snprintf(b[i + 1].note, sizeof b[i + 1].note, "%s classes below k",
                 ch_num(ch_int(s, "classes_below_k"), v));
        b[i + 1].value = ch_int(s, "persons_below_k");
        b[i + 1].fill = "url(#next-c-hatch)";
    }
    hbars(out, "next-c", "Persons still below k after one more step, against now", b, n,
          ch_int(r, "persons"), b[0].value);
    free(b);
    return 0;
}
