/* The page of `vst-admin cells --html FILE`: the cells report (issue 11,
 * DESIGN.md §11) as one self-contained HTML page for a data-protection
 * officer -- inline CSS and inline SVG, no script, nothing fetched.
 *
 *   cells_html.c        the page: header, verdict, tables, signature
 *   cells_html_svg.c    its charts (class sizes, per quasi-identifier,
 *                       suggestions)
 *   cells_html_fmt.c    escaping and number text shared by both */
#ifndef VST_CELLS_HTML_H
#define VST_CELLS_HTML_H

#include <jansson.h>
#include <stdio.h>

/* Writes the page for report (the object of `vst-admin cells --json`,
 * "report": "vst/cells/1") to out. Every string of the report is
 * HTML-escaped; missing or mistyped counts read as 0. Returns 0, or -1 if
 * report is not a cells report, memory ran out or writing to out failed
 * (out may then hold part of a page). */
int vst_cells_html_write(const json_t *report, FILE *out);

#endif
