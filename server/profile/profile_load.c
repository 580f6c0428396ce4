/* Loading and checking a profile file (docs/profiles.md). A profile is
 * trusted configuration, but a mistake in it could leak data (a kept free
 * text field, an identifier kept instead of pseudonymized), so it is checked
 * as strictly as a record: unknown keys, wrong types, unused or conflicting
 * columns are start-up errors naming the file and the field. This file owns
 * the document: the top level, the columns, objects and their groups, the
 * column checks at the end; one field spec is profile_fields.c's, the
 * release protection keys (checked last: they name columns and fields) are
 * profile_release.c's. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/profile_loader.h"

vst_err pf_fail(pf_lctx *c, const char *path, const char *fmt, ...)
{
    if (c->msg != NULL && c->msglen > 0) {
        int n = snprintf(c->msg, c->msglen, "%s: %s: ", c->file, path[0] ? path : "(top level)");
        if (n >= 0 && (size_t)n < c->msglen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->msg + n, c->msglen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return VST_E_PROFILE_INVALID;
}

void pf_subpath(char *out, size_t n, const char *path, const char *name)
{
    snprintf(out, n, "%s%s%s", path, path[0] ? "." : "", name);
}

/* Only keys from `allowed` (NULL-terminated) may appear in obj. */
vst_err pf_only_keys(pf_lctx *c, const char *path, json_t *obj, const char *const *allowed)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        size_t i = 0;
        while (allowed[i] != NULL && strcmp(allowed[i], k) != 0)
            i++;
        if (allowed[i] == NULL) {
            char sp[160];
            pf_subpath(sp, sizeof sp, path, k);
            return pf_fail(c, sp, "unknown key");
        }
    }
    return VST_E_OK;
}

int pf_name_ok(const char *s, size_t max, const char *extra)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              (extra && strchr(extra, ch))))
            return 0;
    }
    return 1;
}

const char *pf_get_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

int pf_find_column(const vst_profile *p, const char *name)
{
    for (size_t i = 0; i < p->ncolumns; i++)
        if (strcmp(p->columns[i].name, name) == 0)
            return (int)i;
    return -1;
}

static vst_err load_columns(pf_lctx *c, json_t *arr)
{
    vst_profile *p = c->p;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return pf_fail(c, "columns", "must be a non-empty array");
    if (json_array_size(arr) > PF_MAX_COLUMNS)
        return pf_fail(c, "columns", "more than %d columns", PF_MAX_COLUMNS);
    static const char *const keys[] = {"name", "type", "nullable", "description", NULL};
    static const char *const types[] = {"text", "integer", "json", "pseudonym", "control"};
    size_t i;
    json_t *col;
    json_array_foreach(arr, i, col)
    {
        char path[64];
        snprintf(path, sizeof path, "columns[%zu]", i);
        if (!json_is_object(col))
            return pf_fail(c, path, "must be an object");
        vst_err e = pf_only_keys(c, path, col, keys);
        if (e)
            return e;
        const char *name = pf_get_str(col, "name"), *type = pf_get_str(col, "type");
        if (name == NULL || !pf_name_ok(name, 63, NULL) || (name[0] >= '0' && name[0] <= '9'))
            return pf_fail(c, path, "name must be a lower-case SQL identifier");
        if (pf_find_column(p, name) >= 0)
            return pf_fail(c, path, "duplicate column name");
        int t = -1;
        for (int k = 0; type && k < 5; k++)
            if (strcmp(type, types[k]) == 0)
                t = k;
        if (t < 0)
            return pf_fail(c, path, "type must be text, integer, json, pseudonym or control");
        json_t *nl = json_object_get(col, "nullable");
        if (nl != NULL && !json_is_boolean(nl))
            return pf_fail(c, path, "nullable must be true or false");
        p->columns[p->ncolumns].name = strdup(name);
        if (p->columns[p->ncolumns].name == NULL)
            return VST_E_NOMEM;
        p->columns[p->ncolumns].type = (vst_col_type)t;
        p->nullable[p->ncolumns] = json_is_true(nl);
        p->ncolumns++;
    }
    return VST_E_OK;
}

/* Resolves a "column" key to an index of the given type. */
vst_err pf_column_ref(pf_lctx *c, const char *path, const char *name, vst_col_type want, int *out)
{
    if (name == NULL)
        return pf_fail(c, path, "needs a \"column\"");
    int col = pf_find_column(c->p, name);
    if (col < 0)
        return pf_fail(c, path, "column \"%s\" is not declared in \"columns\"", name);
    if (c->p->columns[col].type != want)
        return pf_fail(c, path, "column \"%s\" has the wrong type for this action", name);
    *out = col;
    return VST_E_OK;
}

/* Records every column a field writes, for the column checks in finish(). */
static vst_err note_writers(pf_lctx *c, const char *path, const pf_field *obj, size_t idx,
                            int always)
{
    const pf_field *f = &obj->fields[idx];
    int cols[PF_MAX_DERIVED + 2];
    size_t n = 0;
    if (f->column >= 0)
        cols[n++] = f->column;
    if (f->placeholder_column >= 0)
        cols[n++] = f->placeholder_column;
    for (size_t i = 0; i < f->nderived; i++)
        cols[n++] = f->derived[i].column;
    for (size_t i = 0; i < n; i++) {
        int col = cols[i];
        if (c->writers[col] > 0) {
            /* Every two writers of one column must exclude each other: the
             * new one is checked against each earlier one, not just the last
             * (and a field writing one column twice is never exclusive). */
            int excl = c->writer_obj[col] == obj && !(c->writer_mask[col] >> idx & 1);
            for (size_t j = 0; excl && j < obj->nfields; j++) {
                int pair = 0;
                for (size_t g = 0; g < obj->nexclusive; g++)
                    pair |= (obj->exclusive[g] >> idx & 1) && (obj->exclusive[g] >> j & 1);
                if (c->writer_mask[col] >> j & 1)
                    excl = pair;
            }
            if (!excl)
                return pf_fail(c, path,
                               "column \"%s\" is also written by another field that may be "
                               "present at the same time (declare them exclusive)",
                               c->p->columns[col].name);
        }
        c->writers[col]++;
        c->writer_obj[col] = obj;
        c->writer_mask[col] |= 1u << idx;
        if (always && f->required)
            c->always[col] = 1;
    }
    return VST_E_OK;
}

static vst_err load_groups(pf_lctx *c, const char *path, json_t *arr, pf_field *obj,
                           uint32_t *masks, size_t *n, const char *what)
{
    if (!json_is_array(arr) || json_array_size(arr) > PF_MAX_GROUPS)
        return pf_fail(c, path, "%s must be an array of at most %d groups", what, PF_MAX_GROUPS);
    size_t i, j;
    json_t *g, *name;
    json_array_foreach(arr, i, g)
    {
        uint32_t m = 0;
        if (!json_is_array(g) || json_array_size(g) < 2)
            return pf_fail(c, path, "each %s group lists at least two field names", what);
        json_array_foreach(g, j, name)
        {
            size_t k = 0;
            const char *s = json_string_value(name);
            while (s && k < obj->nfields && strcmp(obj->fields[k].name, s) != 0)
                k++;
            if (s == NULL || k == obj->nfields)
                return pf_fail(c, path, "%s names a field that the object does not have", what);
            m |= 1u << k;
        }
        masks[(*n)++] = m;
    }
    return VST_E_OK;
}

/* "not_before": a date field names a date field of the same object that it
 * may not precede (death_date after birth_date): declared, not coded. */
static vst_err resolve_not_before(pf_lctx *c, const char *path, json_t *fields, pf_field *obj)
{
    for (size_t i = 0; i < obj->nfields; i++) {
        pf_field *f = &obj->fields[i];
        const char *nb = pf_get_str(json_object_get(fields, f->name), "not_before");
        if (f->type != FT_DATE || nb == NULL)
            continue;
        char sp[160];
        pf_subpath(sp, sizeof sp, path, f->name);
        for (size_t k = 0; k < obj->nfields; k++)
            if (k != i && obj->fields[k].type == FT_DATE && strcmp(obj->fields[k].name, nb) == 0)
                f->not_before = (int)k;
        if (f->not_before < 0)
            return pf_fail(c, sp, "not_before must name another date field of the same object");
    }
    return VST_E_OK;
}

vst_err pf_load_object(pf_lctx *c, const char *path, json_t *spec, pf_field *f, int always)
{
    static const char *const keys[] = {"type",        "required",  "fields",
                                       "json_column", "exclusive", "one_of",
                                       "description", "composite", NULL};
    vst_err e = pf_only_keys(c, path, spec, keys);
    if (e)
        return e;
    json_t *fields = json_object_get(spec, "fields");
    if (!json_is_object(fields) || json_object_size(fields) == 0)
        return pf_fail(c, path, "an object needs a non-empty \"fields\" object");
    if (json_object_size(fields) > PF_MAX_FIELDS)
        return pf_fail(c, path, "more than %d fields", PF_MAX_FIELDS);
    int depth = 0;
    for (const char *q = path; *q; q++)
        depth += *q == '.';
    if (depth >= PF_MAX_DEPTH)
        return pf_fail(c, path, "objects nest deeper than %d levels", PF_MAX_DEPTH);
    f->json_column = -1;
    const char *jc = pf_get_str(spec, "json_column");
    if (json_object_get(spec, "json_column") &&
        (e = pf_column_ref(c, path, jc, VST_COL_JSON, &f->json_column)))
        return e;
    if ((f->fields = calloc(json_object_size(fields), sizeof *f->fields)) == NULL)
        return VST_E_NOMEM;
    const char *k;
    json_t *v;
    json_object_foreach(fields, k, v)
    {
        char sp[160];
        pf_subpath(sp, sizeof sp, path, k);
        pf_field *child = &f->fields[f->nfields];
        if (!pf_name_ok(k, 32, NULL))
            return pf_fail(c, sp, "field names are 1..32 characters of [a-z0-9_]");
        if ((child->name = strdup(k)) == NULL)
            return VST_E_NOMEM;
        f->nfields++;
        if ((e = pf_load_field(c, sp, v, child, f->json_column, always)))
            return e;
    }
    if ((e = resolve_not_before(c, path, fields, f)))
        return e;
    json_t *ex = json_object_get(spec, "exclusive"), *oo = json_object_get(spec, "one_of");
    if (ex && (e = load_groups(c, path, ex, f, f->exclusive, &f->nexclusive, "exclusive")))
        return e;
    if (oo && (e = load_groups(c, path, oo, f, f->one_of, &f->none_of, "one_of")))
        return e;
    if (f->json_column >= 0) {
        /* The JSON column is written whenever the object is present. */
        if (c->writers[f->json_column] > 0)
            return pf_fail(c, path, "json_column \"%s\" is also written by another object",
                           c->p->columns[f->json_column].name);
        c->writers[f->json_column]++;
        if (always)
            c->always[f->json_column] = 1;
    }
    for (size_t i = 0; i < f->nfields; i++) {
        char sp[160];
        pf_subpath(sp, sizeof sp, path, f->fields[i].name);
        if (f->fields[i].type != FT_OBJECT && (e = note_writers(c, sp, f, i, always)))
            return e;
    }
    json_t *comp = json_object_get(spec, "composite");
    return comp != NULL ? pf_load_composite(c, path, comp, f, always) : VST_E_OK;
}

static vst_err load_top(pf_lctx *c, json_t *root)
{
    static const char *const keys[] = {
        "profile",         "description",  "table",  "max_line_bytes",
        "columns",         "placeholders", "record", "quasi_identifiers",
        "generalizations", "rare_codes",   "strata", NULL};
    vst_profile *p = c->p;
    if (!json_is_object(root))
        return pf_fail(c, "", "a profile is a JSON object");
    vst_err e = pf_only_keys(c, "", root, keys);
    if (e)
        return e;
    const char *name = pf_get_str(root, "profile"), *table = pf_get_str(root, "table");
    if (name == NULL || !pf_name_ok(name, 32, NULL))
        return pf_fail(c, "profile", "must be 1..32 characters of [a-z0-9_]");
    const char *dot = table ? strchr(table, '.') : NULL;
    if (dot == NULL || dot == table || strchr(dot + 1, '.') || !pf_name_ok(dot + 1, 63, NULL)) {
        return pf_fail(c, "table", "must be schema.table with lower-case SQL identifiers");
    }
    for (const char *q = table; q < dot; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_'))
            return pf_fail(c, "table", "must be schema.table with lower-case SQL identifiers");
    json_t *ml = json_object_get(root, "max_line_bytes");
    if (!json_is_integer(ml) || json_integer_value(ml) < 256 || json_integer_value(ml) > (1 << 20))
        return pf_fail(c, "max_line_bytes", "must be an integer 256..1048576");
    if ((p->name = strdup(name)) == NULL || (p->table = strdup(table)) == NULL)
        return VST_E_NOMEM;
    p->max_line = (size_t)json_integer_value(ml);
    if ((e = load_columns(c, json_object_get(root, "columns"))))
        return e;
    json_t *ph = json_object_get(root, "placeholders");
    if (ph != NULL && (e = pf_load_placeholders(c, ph)))
        return e;
    /* The record is an object spec without a "type"/"required". */
    json_t *rec = json_object_get(root, "record");
    if (!json_is_object(rec))
        return pf_fail(c, "record", "must be an object of field specs");
    json_t *wrap = json_pack("{s:s, s:O}", "type", "object", "fields", rec);
    if (wrap == NULL)
        return VST_E_NOMEM;
    p->record.type = FT_OBJECT;
    p->record.act = ACT_NEST;
    p->record.required = 1;
    e = pf_load_object(c, "", wrap, &p->record, 1);
    json_decref(wrap);
    if (e)
        return e;
    /* The composite's checks name control columns more clearly than the
     * generic ones below would. */
    if ((e = pf_load_link(c, root)))
        return e;
    for (size_t i = 0; i < p->ncolumns; i++) {
        char sp[80];
        snprintf(sp, sizeof sp, "columns[%zu]", i);
        if (c->writers[i] == 0)
            return pf_fail(c, sp, "column \"%s\" is never written by any field",
                           p->columns[i].name);
        if (!p->nullable[i] && !c->always[i])
            return pf_fail(c, sp, "column \"%s\" is NOT NULL but only optional fields write it",
                           p->columns[i].name);
    }
    if (p->ndomains == 0 && p->link.domain == NULL)
        return pf_fail(c, "record",
                       "a profile must pseudonymize at least one identifier or declare a "
                       "composite");
    return pf_load_release(c, root);
}

/* Checks a parsed profile document; file names the source in messages. */
static vst_err load_root(const char *file, json_t *root, const json_error_t *jerr,
                         vst_profile **out, char *msg, size_t msglen)
{
    pf_lctx c = {.file = file, .msg = msg, .msglen = msglen};
    if (root == NULL) {
        /* A profile is configuration, not a record: its parse error may be
         * shown in full. */
        if (msg)
            snprintf(msg, msglen, "%s:%d:%d: %s", file, jerr->line, jerr->column, jerr->text);
        return VST_E_PROFILE_SYNTAX;
    }
    if ((c.p = calloc(1, sizeof *c.p)) == NULL) {
        json_decref(root);
        return VST_E_NOMEM;
    }
    vst_err e = load_top(&c, root);
    json_decref(root);
    if (e != VST_E_OK) {
        if (e == VST_E_NOMEM && msg)
            snprintf(msg, msglen, "%s: out of memory", file);
        vst_profile_free(c.p);
        return e;
    }
    *out = c.p;
    return VST_E_OK;
}

vst_err vst_profile_load(const char *path, vst_profile **out, char *msg, size_t msglen)
{
    *out = NULL;
    if (msg && msglen)
        msg[0] = '\0';
    json_error_t jerr;
    FILE *fp = fopen(path, "re");
    if (fp == NULL) {
        if (msg)
            snprintf(msg, msglen, "%s: cannot open: %s", path, strerror(errno));
        return VST_E_PROFILE_IO;
    }
    json_t *root = json_loadf(fp, JSON_REJECT_DUPLICATES, &jerr);
    fclose(fp);
    return load_root(path, root, &jerr, out, msg, msglen);
}

vst_err vst_profile_load_buffer(const char *name, const char *buf, size_t len, vst_profile **out,
                                char *msg, size_t msglen)
{
    *out = NULL;
    if (msg && msglen)
        msg[0] = '\0';
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    return load_root(name, root, &jerr, out, msg, msglen);
}

static void free_field(pf_field *f)
{
    for (size_t i = 0; i < f->nfields; i++)
        free_field(&f->fields[i]);
    free(f->fields);
    free(f->name);
    if (f->str.has_re)
        regfree(&f->str.re);
    for (size_t i = 0; i < f->str.nenum; i++)
        free(f->str.enums[i]);
}

void vst_profile_free(vst_profile *p)
{
    if (p == NULL)
        return;
    free_field(&p->record);
    pf_free_placeholders(p);
    pf_free_release(p);
    pf_free_link(p);
    for (size_t i = 0; i < p->ncolumns; i++)
        free((char *)p->columns[i].name);
    for (size_t i = 0; i < p->ndomains; i++)
        free(p->domains[i]);
    free(p->name);
    free(p->table);
    free(p);
}

const char *vst_profile_warning(const vst_profile *p)
{
    return p->warning;
}

const char *vst_profile_name(const vst_profile *p)
{
    return p->name;
}

const char *vst_profile_table(const vst_profile *p)
{
    return p->table;
}

size_t vst_profile_max_line(const vst_profile *p)
{
    return p->max_line;
}

size_t vst_profile_ncolumns(const vst_profile *p)
{
    return p->ncolumns;
}

const vst_column *vst_profile_column(const vst_profile *p, size_t i)
{
    return i < p->ncolumns ? &p->columns[i] : NULL;
}

size_t vst_profile_ndomains(const vst_profile *p)
{
    return p->ndomains;
}

const char *vst_profile_domain(const vst_profile *p, size_t i)
{
    return i < p->ndomains ? p->domains[i] : NULL;
}
