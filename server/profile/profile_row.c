/* An output row's memory (its values, the arena for text, the scanner's
 * scratch) and a delivery's error list: what profile_apply.c fills. A row
 * is wiped whenever it is cleared or freed, because its arena and scratch
 * held the line's values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/secmem.h"
#include "profile/json_scan.h"
#include "profile/profile_internal.h"

/* ---- errors ---- */

int vst_errors_init(vst_errors *e, size_t max)
{
    memset(e, 0, sizeof *e);
    e->max = max;
    if (max > 0 && (e->items = calloc(max, sizeof *e->items)) == NULL)
        return -1;
    return 0;
}

void vst_errors_free(vst_errors *e)
{
    free(e->items);
    memset(e, 0, sizeof *e);
}

void vst_errors_add(vst_errors *e, uint64_t line, const char *path, vst_err code)
{
    e->total++;
    if (e->n >= e->max)
        return;
    vst_field_error *it = &e->items[e->n++];
    it->line = line;
    it->code = code;
    snprintf(it->path, sizeof it->path, "%s", path);
}

/* ---- rows ---- */

vst_row *vst_row_new(const vst_profile *p)
{
    vst_row *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->profile = p;
    r->values = calloc(p->ncolumns, sizeof *r->values);
    /* Kept values are at most as long as their JSON source (escaping never
     * grows beyond the input's own escaping), plus pseudonyms and framing. */
    r->arena_cap = 2 * p->max_line + 64 * p->ncolumns + 1024;
    r->arena = malloc(r->arena_cap);
    /* Tokens for any line up to max_line (json_scan.h); unescaped strings
     * are never longer than their escaped source. */
    r->tokens_cap = JS_TOKENS(p->max_line);
    r->tokens = calloc(r->tokens_cap, sizeof(js_tok));
    r->scratch_cap = p->max_line;
    r->scratch = malloc(r->scratch_cap);
    if (r->values == NULL || r->arena == NULL || r->tokens == NULL || r->scratch == NULL) {
        vst_row_free(r);
        return NULL;
    }
    vst_row_clear(r);
    return r;
}

void vst_row_clear(vst_row *r)
{
    vst_wipe(r->arena, r->arena_used);
    r->arena_used = 0;
    for (size_t i = 0; i < r->profile->ncolumns; i++)
        r->values[i] = (vst_value){.is_null = 1};
    vst_wipe(r->ids, sizeof r->ids);
    r->nids = 0;
    /* Only a composite profile ever writes a person (1 KB: not wiped for
     * nothing on every line of the others). */
    if (r->profile->link.domain != NULL)
        vst_wipe(&r->person, sizeof r->person);
    r->has_person = 0;
    vst_wipe(r->scratch, r->scratch_used);
    r->scratch_used = 0;
}

void vst_row_free(vst_row *r)
{
    if (r == NULL)
        return;
    if (r->arena != NULL && r->values != NULL && r->scratch != NULL)
        vst_row_clear(r);
    free(r->tokens);
    free(r->scratch);
    free(r->arena);
    free(r->values);
    free(r);
}

static vst_err set_hex(vst_row *r, size_t column, vst_col_type type, const char hex[32])
{
    if (column >= r->profile->ncolumns || r->profile->columns[column].type != type)
        return VST_E_INTERNAL;
    if (r->arena_cap - r->arena_used < 32)
        return VST_E_INTERNAL;
    char *dst = r->arena + r->arena_used;
    memcpy(dst, hex, 32);
    r->arena_used += 32;
    r->values[column] = (vst_value){.s = dst, .len = 32};
    return VST_E_OK;
}

vst_err vst_row_set_pseudonym(vst_row *r, size_t column, const char hex[32])
{
    return set_hex(r, column, VST_COL_PSEUDONYM, hex);
}

vst_err vst_row_set_control(vst_row *r, size_t column, const char hex[32])
{
    return set_hex(r, column, VST_COL_CONTROL, hex);
}
