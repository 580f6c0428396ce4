/* The identifiers a profile pseudonymizes into a column, for the commands
 * that start from one person's identifier outside a delivery (vst-admin
 * objection add, DESIGN.md §12): the same validation and the same
 * identifying digits as profile_apply.c, so that keyd derives the same
 * inner value as for a delivered record. */
#include <string.h>

#include "profile/profile_internal.h"

/* The n-th identifier field (depth first) that pseudonymizes into column. */
static const pf_field *nth_writer(const pf_field *obj, int column, size_t *n)
{
    for (size_t i = 0; i < obj->nfields; i++) {
        const pf_field *f = &obj->fields[i];
        if (f->type == FT_OBJECT) {
            const pf_field *g = nth_writer(f, column, n);
            if (g != NULL)
                return g;
        } else if (f->type == FT_IDENTIFIER && f->act == ACT_PSEUDONYMIZE && f->column == column) {
            if (*n == 0)
                return f;
            (*n)--;
        }
    }
    return NULL;
}

static int column_index(const vst_profile *p, const char *column)
{
    for (size_t i = 0; i < p->ncolumns; i++)
        if (strcmp(p->columns[i].name, column) == 0 && p->columns[i].type == VST_COL_PSEUDONYM)
            return (int)i;
    return -1;
}

size_t vst_profile_column_identifiers(const vst_profile *p, const char *column,
                                      vst_column_identifier *out, size_t max)
{
    int c = column_index(p, column);
    if (c < 0)
        return 0;
    size_t n = 0;
    for (;;) {
        size_t k = n;
        const pf_field *f = nth_writer(&p->record, c, &k);
        if (f == NULL)
            return n;
        if (n < max)
            out[n] = (vst_column_identifier){.kind = (vst_id_kind)f->id_kind,
                                             .domain = p->domains[f->domain],
                                             .id_from = f->id_from,
                                             .id_to = f->id_to};
        n++;
    }
}

vst_err vst_profile_identifier_key(const vst_column_identifier *ci, const char *in, size_t len,
                                   vst_id *out)
{
    vst_id id;
    vst_err e = vst_id_parse(ci->kind, in, len, &id);
    if (e != VST_E_OK)
        return e;
    out->kind = id.kind;
    out->len = (unsigned char)(ci->id_to - ci->id_from + 1);
    memcpy(out->s, id.s + ci->id_from - 1, out->len);
    out->s[out->len] = '\0';
    vst_id_wipe(&id);
    return VST_E_OK;
}
