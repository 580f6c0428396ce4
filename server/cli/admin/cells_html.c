/* The page of `vst-admin cells --html` (cells_html.h): what a
 * data-protection officer reads before a table is released. Top to bottom:
 * what was counted (header), the answer (verdict), how large the classes
 * are, which quasi-identifier singles persons out, the smallest classes,
 * what the next generalization step would change, rare codes, and the
 * signature with how to check it.
 *
 * The page is one file that opens anywhere, offline, years later: inline
 * CSS and SVG, no script, no font or image to fetch. It shows the report,
 * it is not the report: the signature covers the JSON, and the footer says
 * so. Percentages are computed here, in integers (ch_pct): the signed JSON
 * holds counts only. */
#include <string.h>

#include "cli/admin/cells_html.h"
#include "cli/admin/cells_html_parts.h"

/* Readable at 1280 px, on paper and in grey: risk is told by colour,
 * hatching and words alike; text keeps at least 7:1 against its ground. */
static const char CSS[] =
    ":root{--ink:#1b1f24;--muted:#4a5360;--line:#d0d7de;--soft:#f6f8fa;--risk:#a63a0a;"
    "--riskbg:#fdf1ea;--ok:#1e6b3a;--okbg:#ebf6ef}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:#eef0f3;color:var(--ink);font:15px/1.5 \"DejaVu Sans\","
    "system-ui,\"Segoe UI\",Roboto,Arial,sans-serif}\n"
    "main{max-width:1120px;margin:0 auto;padding:28px 40px 20px;background:#fff}\n"
    "h1{font-size:26px;line-height:1.25;margin:0 0 6px}\n"
    "h2{font-size:19px;margin:0 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}\n"
    "section{margin:30px 0}\n"
    ".kicker{margin:0;color:var(--muted);font-size:13px;letter-spacing:.04em;"
    "text-transform:uppercase}\n"
    "dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:3px 24px;margin:16px 0 0}\n"
    "dl.meta dt{font-weight:700;color:var(--muted)}\n"
    "dl.meta dd{margin:0;overflow-wrap:anywhere}\n"
    ".what{background:var(--soft);border-left:4px solid var(--muted);padding:8px 14px;"
    "margin:16px 0 0}\n"
    ".verdict{border:2px solid var(--risk);background:var(--riskbg);border-radius:6px;"
    "padding:14px 22px}\n"
    ".verdict.yes{border-color:var(--ok);background:var(--okbg)}\n"
    ".verdict h2{border:0;margin:0;padding:0;font-size:15px;color:var(--muted);"
    "text-transform:uppercase;letter-spacing:.04em}\n"
    ".answer{font-size:26px;font-weight:700;margin:2px 0 6px}\n"
    ".verdict.no .answer strong{color:var(--risk)}\n"
    ".verdict.yes .answer strong{color:var(--ok)}\n"
    ".tiles{display:grid;grid-template-columns:repeat(3,1fr);gap:12px;margin:12px 0 4px}\n"
    ".tile{background:#fff;border:1px solid var(--line);border-radius:4px;padding:8px 14px}\n"
    ".tile b{display:block;font-size:24px}\n"
    "tr.best td{background:var(--okbg)}\n"
    "table{border-collapse:collapse;width:100%;font-size:14px}\n"
    "th,td{border-bottom:1px solid var(--line);padding:5px 10px;text-align:left;"
    "vertical-align:top;overflow-wrap:anywhere}\n"
    "th{background:var(--soft)}\n"
    ".n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
    ".muted{color:var(--muted)}\n"
    ".note{color:var(--muted);font-size:14px;margin:6px 0 0}\n"
    "figure{margin:10px 0 0}\n"
    "svg{display:block;width:100%;height:auto}\n"
    "svg text{font-family:inherit}\n"
    "code,pre{font-family:\"DejaVu Sans Mono\",ui-monospace,Menlo,Consolas,monospace;"
    "font-size:13px}\n"
    "pre.sig{white-space:pre-wrap;overflow-wrap:anywhere;background:var(--soft);"
    "border:1px solid var(--line);padding:8px 12px;margin:6px 0}\n"
    "pre.cmd{background:var(--soft);border-left:4px solid var(--muted);padding:6px 12px}\n"
    "footer{border-top:2px solid var(--line);margin-top:34px;padding-top:10px;font-size:14px}\n"
    "@media print{body{background:#fff;font-size:10.5pt}main{max-width:none;padding:0}"
    "figure,.verdict,tr{break-inside:avoid}h2{break-after:avoid}"
    "*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}\n";

static void head(const json_t *r, FILE *out)
{
    char k[CH_NUM_LEN];
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>Small-cell report: ",
          out);
    ch_esc(out, ch_str(r, "table"));
    fprintf(out, " at k=%s</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n",
            ch_num(ch_int(r, "k"), k), CSS);
}

/* The quasi-identifiers as "a, b, c". */
static void qi_list(const json_t *r, FILE *out)
{
    json_t *qis = json_object_get(r, "quasi_identifiers");
    size_t i;
    json_t *q;
    if (json_array_size(qis) == 0)
        fputs("<span class=\"muted\">none declared</span>", out);
    json_array_foreach(qis, i, q)
    {
        fputs(i > 0 ? ", <code>" : "<code>", out);
        ch_esc(out, json_string_value(q));
        fputs("</code>", out);
    }
}

/* "birth_year: band:5 (bands of 5)", one per generalized column. */
static void generalizations(const json_t *r, FILE *out)
{
    json_t *g = json_object_get(r, "generalize");
    const char *col;
    json_t *rule;
    char words[64];
    int n = 0;
    json_object_foreach(g, col, rule)
    {
        const char *w = ch_rule_words(json_string_value(rule), words, sizeof words);
        fputs(n++ > 0 ? "; <code>" : "<code>", out);
        ch_esc(out, col);
        fputs("</code>: <code>", out);
        ch_esc(out, json_string_value(rule));
        fputs("</code>", out);
        if (w != NULL)
            fprintf(out, " (%s)", w);
    }
    if (n == 0)
        fputs("none: values counted as stored", out);
}

static void header(const json_t *r, FILE *out)
{
    char k[CH_NUM_LEN], rows[CH_NUM_LEN], persons[CH_NUM_LEN];
    long long kv = ch_int(r, "key_versions");
    ch_num(ch_int(r, "k"), k);
    fputs("<header>\n<p class=\"kicker\">vst &middot; small-cell report (vst/cells/1)</p>\n"
          "<h1>Small-cell report: ",
          out);
    ch_esc(out, ch_str(r, "table"));
    fputs("</h1>\n<dl class=\"meta\">\n<dt>Profile</dt><dd>", out);
    ch_esc(out, ch_str(r, "profile"));
    fputs("</dd>\n<dt>Table</dt><dd><code>", out);
    ch_esc(out, ch_str(r, "table"));
    fprintf(out,
            "</code></dd>\n<dt>k</dt><dd>%s: every combination of quasi-identifier values "
            "must be held by at least %s persons</dd>\n<dt>Quasi-identifiers</dt><dd>",
            k, k);
    qi_list(r, out);
    fputs("</dd>\n<dt>Generalizations applied</dt><dd>", out);
    generalizations(r, out);
    fprintf(out, "</dd>\n<dt>Data</dt><dd>%s rows of %s persons (%lld key version%s)</dd>\n",
            ch_num(ch_int(r, "rows"), rows), ch_num(ch_int(r, "persons"), persons), kv,
            kv == 1 ? "" : "s");
    fputs("<dt>Created</dt><dd>", out);
    ch_esc(out, ch_str(r, "created"));
    fprintf(out,
            "</dd>\n<dt>Audit sequence</dt><dd>%lld (this report&#39;s entry in the audit "
            "log)</dd>\n</dl>\n",
            ch_int(r, "audit_seq"));
    fputs("<p class=\"what\"><strong>What this means:</strong> persons who share the same "
          "values of all quasi-identifiers form a <em>class</em>. A person in a class of fewer "
          "than k persons could be singled out in a release of this table, even without a "
          "name. This report counts such persons and shows what would reduce them.</p>\n"
          "</header>\n",
          out);
}

/* The suggestion that leaves the fewest persons below k (the first of
 * equals), if that is fewer than now; else NULL. */
static const json_t *best_step(const json_t *r)
{
    json_t *s, *best = NULL;
    size_t i;
    long long fewest = ch_int(r, "persons_below_k");
    json_array_foreach(json_object_get(r, "suggestions"), i, s)
    {
        if (ch_int(s, "persons_below_k") < fewest) {
            fewest = ch_int(s, "persons_below_k");
            best = s;
        }
    }
    return best;
}

/* "The one step that helps most: postal_prefix -> prefix:1 ..." */
static void best_line(const json_t *r, FILE *out)
{
    const json_t *s = best_step(r);
    char words[64], a[CH_NUM_LEN], p[CH_PCT_LEN];
    if (s == NULL)
        return;
    const char *w = ch_rule_words(ch_str(s, "rule"), words, sizeof words);
    long long left = ch_int(s, "persons_below_k");
    fputs("<p>The one step that helps most: <code>", out);
    ch_esc(out, ch_str(s, "column"));
    fputs("</code> &rarr; <code>", out);
    ch_esc(out, ch_str(s, "rule"));
    fprintf(out, "</code>%s%s%s", w ? " (" : "", w ? w : "", w ? ")" : "");
    if (left == 0)
        fputs(" leaves no one below k.</p>\n", out);
    else
        fprintf(out, " leaves %s persons (%s) below k.</p>\n", ch_num(left, a),
                ch_pct(left, ch_int(r, "persons"), p));
}

/* One figure of the verdict: "650 / classes below k / of 700 (92.9 %)". */
static void tile(FILE *out, long long n, long long of, const char *what)
{
    char a[CH_NUM_LEN], b[CH_NUM_LEN], p[CH_PCT_LEN];
    fprintf(out, "<div class=\"tile\"><b>%s</b>%s<br><span class=\"muted\">of %s", ch_num(n, a),
            what, ch_num(of, b));
    if (of > 0)
        fprintf(out, " (%s)", ch_pct(n, of, p));
    fputs("</span></div>\n", out);
}

static void verdict(const json_t *r, FILE *out)
{
    char k[CH_NUM_LEN], a[CH_NUM_LEN], b[CH_NUM_LEN], p[CH_PCT_LEN];
    long long persons = ch_int(r, "persons"), below = ch_int(r, "persons_below_k");
    int yes = below == 0 && ch_int(r, "classes_below_k") == 0;
    ch_num(ch_int(r, "k"), k);
    fprintf(out,
            "<section class=\"verdict %s\" aria-labelledby=\"verdict\">\n"
            "<h2 id=\"verdict\">Verdict</h2>\n"
            "<p class=\"answer\">k-anonymous at k=%s: <strong>%s</strong></p>\n",
            yes ? "yes" : "no", k, yes ? "yes" : "no");
    if (persons == 0 && yes)
        fputs("<p>The table holds no person, so no one can be singled out in it.</p>\n", out);
    else if (yes)
        fprintf(out,
                "<p>All %s persons are in classes held by at least %s persons: no "
                "combination of quasi-identifier values points to fewer.</p>\n",
                ch_num(persons, a), k);
    else
        fprintf(out,
                "<p><strong>%s of %s persons (%s)</strong> are in classes held by fewer than "
                "%s persons: released like this, they could be singled out.</p>\n",
                ch_num(below, a), ch_num(persons, b), ch_pct(below, persons, p), k);
    if (!yes)
        best_line(r, out);
    fputs("<div class=\"tiles\">\n", out);
    tile(out, below, persons, "persons below k");
    tile(out, ch_int(r, "classes_below_k"), ch_int(r, "classes"), "classes below k");
    tile(out, ch_int(r, "rows_below_k"), ch_int(r, "rows"), "rows below k");
    fputs("</div>\n</section>\n", out);
}

/* A chart section: heading, the chart's figure, a note. */
static int chart_section(const json_t *r, FILE *out, const char *id, const char *title,
                         const char *lead, int (*chart)(const json_t *, FILE *), const char *note)
{
    fprintf(out, "<section aria-labelledby=\"%s\">\n<h2 id=\"%s\">%s</h2>\n%s<figure>\n", id, id,
            title, lead);
    if (chart(r, out) != 0)
        return -1;
    fprintf(out, "</figure>\n<p class=\"note\">%s</p>\n</section>\n", note);
    return 0;
}

/* The persons alone in their class (the bucket "1"): the figure a reader
 * remembers. Empty for an empty store. */
static void alone(const json_t *r, char *buf, size_t len)
{
    json_t *b;
    size_t i;
    char a[CH_NUM_LEN], p[CH_PCT_LEN];
    long long persons = ch_int(r, "persons"), n = 0;
    json_array_foreach(json_object_get(r, "histogram"), i, b)
    {
        const char *size = ch_str(b, "size");
        if (size != NULL && strcmp(size, "1") == 0)
            n = ch_int(b, "persons");
    }
    buf[0] = '\0';
    if (persons > 0 && n == 0)
        snprintf(buf, len, "<p>No person is alone in a class.</p>\n");
    else if (persons > 0)
        snprintf(buf, len,
                 "<p><strong>%s persons (%s) are alone in their class</strong>: their "
                 "combination of values points to one person.</p>\n",
                 ch_num(n, a), ch_pct(n, persons, p));
}

static int charts(const json_t *r, FILE *out)
{
    char lead[256];
    alone(r, lead, sizeof lead);
    return chart_section(r, out, "sizes", "Class sizes", lead, ch_svg_histogram,
                         "A class is one combination of quasi-identifier values; its size is "
                         "the number of persons holding it. A person whose records fall into "
                         "two classes counts in both.") != 0 ||
                   chart_section(r, out, "per-qi", "Each quasi-identifier alone", "", ch_svg_per_qi,
                                 "Persons whose value of that one column is held by fewer than "
                                 "k persons: a column with many such persons singles persons "
                                 "out even before it is combined with the others.") != 0
               ? -1
               : 0;
}

/* One cell of the smallest-classes table: the class's value of column
 * col; a column the generalization dropped has none. */
static void value_cell(const json_t *r, const json_t *values, const char *col, FILE *out)
{
    const char *v = json_string_value(json_object_get(values, col));
    const char *rule = json_string_value(json_object_get(json_object_get(r, "generalize"), col));
    if (v != NULL) {
        fputs("<td>", out);
        ch_esc(out, v);
        fputs("</td>", out);
    } else
        fputs(rule != NULL && strcmp(rule, "drop") == 0 ? "<td class=\"muted\">(left out)</td>"
                                                        : "<td class=\"muted\">&ndash;</td>",
              out);
}

static void smallest(const json_t *r, FILE *out)
{
    json_t *qis = json_object_get(r, "quasi_identifiers"), *rows = json_object_get(r, "smallest");
    json_t *q, *row;
    size_t i, j;
    char n[CH_NUM_LEN];
    fputs("<section aria-labelledby=\"smallest\">\n<h2 id=\"smallest\">The smallest "
          "classes</h2>\n",
          out);
    if (json_array_size(rows) == 0) {
        fputs("<p>No class is held by fewer than k persons.</p>\n</section>\n", out);
        return;
    }
    fputs("<table>\n<thead><tr><th scope=\"col\" class=\"n\">#</th>", out);
    json_array_foreach(qis, i, q)
    {
        fputs("<th scope=\"col\">", out);
        ch_esc(out, json_string_value(q));
        fputs("</th>", out);
    }
    fputs("<th scope=\"col\" class=\"n\">Persons</th></tr></thead>\n<tbody>\n", out);
    json_array_foreach(rows, i, row)
    {
        fprintf(out, "<tr><td class=\"n\">%zu</td>", i + 1);
        json_array_foreach(qis, j, q)
        {
            value_cell(r, json_object_get(row, "values"), json_string_value(q), out);
        }
        fprintf(out, "<td class=\"n\">%s</td></tr>\n", ch_num(ch_int(row, "persons"), n));
    }
    fprintf(out, "</tbody>\n</table>\n<p class=\"note\">Up to 20 classes below k, smallest first: "
                 "these value combinations are the ones that point to a handful of persons.</p>\n"
                 "</section>\n");
}

/* One suggestion as a table row, with its change against now; best: it
 * leaves the fewest persons below k of all. */
static void suggestion_row(const json_t *s, long long now, long long persons, int best, FILE *out)
{
    char words[64], a[CH_NUM_LEN], b[CH_NUM_LEN], p[CH_PCT_LEN];
    const char *w = ch_rule_words(ch_str(s, "rule"), words, sizeof words);
    long long left = ch_int(s, "persons_below_k");
    fputs(best ? "<tr class=\"best\"><td><code>" : "<tr><td><code>", out);
    ch_esc(out, ch_str(s, "column"));
    fputs("</code></td><td><code>", out);
    ch_esc(out, ch_str(s, "rule"));
    fprintf(out, "</code>%s%s%s</td><td class=\"n\">%s</td><td class=\"n\">%s (%s)</td>",
            w ? " (" : "", w ? w : "", w ? ")" : "", ch_num(ch_int(s, "classes_below_k"), a),
            ch_num(left, b), ch_pct(left, persons, p));
    if (left < now)
        fprintf(out, "<td class=\"n\">%s%s fewer</td></tr>\n", best ? "<b>best step:</b> " : "",
                ch_num(now - left, a));
    else if (left == now)
        fputs("<td class=\"n\">no change</td></tr>\n", out);
    else
        fprintf(out, "<td class=\"n\">%s more</td></tr>\n", ch_num(left - now, a));
}

static int suggestions(const json_t *r, FILE *out)
{
    json_t *all = json_object_get(r, "suggestions"), *s;
    long long now = ch_int(r, "persons_below_k"), persons = ch_int(r, "persons");
    char a[CH_NUM_LEN];
    size_t i;
    fputs("<section aria-labelledby=\"next\">\n<h2 id=\"next\">What one more generalization "
          "step would change</h2>\n",
          out);
    if (json_array_size(all) == 0) {
        fputs("<p>The profile offers no further step for any quasi-identifier.</p>\n"
              "</section>\n",
              out);
        return 0;
    }
    fprintf(out,
            "<p>Now %s persons are below k. Each row adds one step of the profile&#39;s ladder "
            "for one column to what is applied now, and counts again.</p>\n",
            ch_num(now, a));
    fputs("<table>\n<thead><tr><th scope=\"col\">Column</th><th scope=\"col\">Next step</th>"
          "<th scope=\"col\" class=\"n\">Classes below k</th>"
          "<th scope=\"col\" class=\"n\">Persons below k</th>"
          "<th scope=\"col\" class=\"n\">Against now</th></tr></thead>\n<tbody>\n",
          out);
    const json_t *best = best_step(r);
    json_array_foreach(all, i, s)
    {
        suggestion_row(s, now, persons, s == best, out);
    }
    fputs("</tbody>\n</table>\n<figure>\n", out);
    if (ch_svg_suggestions(r, out) != 0)
        return -1;
    fputs("</figure>\n</section>\n", out);
    return 0;
}

/* Only with --rare-codes: the report has the member then, maybe empty. */
static void rare_codes(const json_t *r, FILE *out)
{
    json_t *codes = json_object_get(r, "rare_codes"), *c;
    long long total = ch_int(r, "rare_codes_total");
    char a[CH_NUM_LEN], b[CH_NUM_LEN];
    size_t i;
    if (!json_is_array(codes))
        return;
    fputs("<section aria-labelledby=\"rare\">\n<h2 id=\"rare\">Rare codes</h2>\n", out);
    if (json_array_size(codes) == 0) {
        fputs("<p>No code of the listed fields is held by fewer than k persons.</p>\n"
              "</section>\n",
              out);
        return;
    }
    fprintf(out,
            "<p>Codes held by fewer than k persons: a rare diagnosis or procedure can single a "
            "person out on its own. %s of %s shown, smallest first.</p>\n",
            ch_num((long long)json_array_size(codes), a), ch_num(total, b));
    fputs("<table>\n<thead><tr><th scope=\"col\">Field</th><th scope=\"col\">Code</th>"
          "<th scope=\"col\" class=\"n\">Persons</th></tr></thead>\n<tbody>\n",
          out);
    json_array_foreach(codes, i, c)
    {
        fputs("<tr><td><code>", out);
        ch_esc(out, ch_str(c, "list"));
        fputs("</code></td><td><code>", out);
        ch_esc(out, ch_str(c, "code"));
        fprintf(out, "</code></td><td class=\"n\">%s</td></tr>\n", ch_num(ch_int(c, "persons"), a));
    }
    fputs("</tbody>\n</table>\n</section>\n", out);
}

/* The signature in lines of 64 characters (a line never ends inside a
 * UTF-8 character, should the member hold something else than hex). */
static void signature(const char *sig, FILE *out)
{
    fputs("<pre class=\"sig\">", out);
    while (*sig != '\0') {
        size_t n = strnlen(sig, 64);
        while (sig[n] != '\0' && ((unsigned char)sig[n] & 0xc0) == 0x80)
            n++;
        char line[80];
        memcpy(line, sig, n);
        line[n] = '\0';
        ch_esc(out, line);
        sig += n;
        fputs(*sig != '\0' ? "\n" : "", out);
    }
    fputs("</pre>\n", out);
}

static void footer(const json_t *r, FILE *out)
{
    const char *sig = ch_str(r, "signature");
    fputs("<footer>\n<h2>Signature</h2>\n", out);
    if (sig == NULL || *sig == '\0')
        fputs("<p><strong>This report is not signed.</strong> Its figures cannot be checked "
              "against vst-keyd&#39;s key.</p>\n",
              out);
    else {
        fputs("<p>Ed25519, by vst-keyd, over the report&#39;s JSON (canonical form, without "
              "this member):</p>\n",
              out);
        signature(sig, out);
    }
    fputs("<p>This page shows the report; the signature covers the JSON file it was made "
          "from. Keep that file with the page and check it with:</p>\n"
          "<pre class=\"cmd\">vst-audit verify-report FILE.json</pre>\n"
          "<p>If the page and the verified JSON differ, the JSON is right.</p>\n</footer>\n",
          out);
}

int vst_cells_html_write(const json_t *report, FILE *out)
{
    const char *kind = ch_str(report, "report");
    if (!json_is_object(report) || kind == NULL || strcmp(kind, "vst/cells/1") != 0)
        return -1;
    head(report, out);
    header(report, out);
    verdict(report, out);
    if (charts(report, out) != 0)
        return -1;
    smallest(report, out);
    if (suggestions(report, out) != 0)
        return -1;
    rare_codes(report, out);
    footer(report, out);
    fputs("</main>\n</body>\n</html>\n", out);
    return fflush(out) != 0 || ferror(out) ? -1 : 0;
}
