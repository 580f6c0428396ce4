/* Test-only: writes the cells page of a report JSON file, so that
 * tests/admin/test_cells_html_render.sh can open it in a browser without a
 * database or keyd (vst-admin cells builds the report from both).
 *
 *   cells_html_driver REPORT.json OUT.html     exit 0, or 1 with a message */
#include <jansson.h>
#include <stdio.h>

#include "cli/admin/cells_html.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: cells_html_driver REPORT.json OUT.html\n");
        return 1;
    }
    json_error_t err;
    json_t *report = json_load_file(argv[1], 0, &err);
    if (report == NULL) {
        fprintf(stderr, "cells_html_driver: %s:%d: %s\n", argv[1], err.line, err.text);
        return 1;
    }
    FILE *out = fopen(argv[2], "w");
    int rc = out != NULL ? vst_cells_html_write(report, out) : -1;
    if (out != NULL && fclose(out) != 0)
        rc = -1;
    json_decref(report);
    if (rc != 0)
        fprintf(stderr, "cells_html_driver: writing %s failed\n", argv[2]);
    return rc == 0 ? 0 : 1;
}
