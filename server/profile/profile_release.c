/* A profile's release protection keys (DESIGN.md §11, docs/profiles.md
 * "Release protection keys"): "quasi_identifiers", the columns whose
 * combinations vst-admin counts in persons and releases suppress below k;
 * "generalizations", per quasi-identifier the ladder of coarser forms its
 * suggestions and releases may apply; "rare_codes", the code lists of the
 * JSON column whose rare codes the cells report lists. They are checked
 * here as strictly as the rest of the file: a quasi-identifier that could
 * be NULL, a rule that cannot apply to its column or a ladder that gets no
 * coarser would make a count or a release quietly wrong. Also the pure
 * parser of one rule string, which vst-admin reuses for --generalize. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/profile_loader.h"

/* 1..max as plain decimal: no sign, blank or leading zero. */
static int parse_small(const char *s, unsigned min, unsigned max, unsigned *out)
{
    unsigned v = 0;
    size_t i = 0;
    if (s[0] == '0')
        return -1;
    for (; s[i] >= '0' && s[i] <= '9' && i < 3; i++)
        v = v * 10 + (unsigned)(s[i] - '0');
    if (i == 0 || s[i] != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int vst_gen_rule_parse(const char *s, vst_gen_kind *kind, unsigned *n)
{
    *kind = VST_GEN_NONE;
    *n = 0;
    if (s == NULL)
        return -1;
    unsigned v;
    if (strcmp(s, "drop") == 0) {
        *kind = VST_GEN_DROP;
        return 0;
    }
    if (strncmp(s, "band:", 5) == 0 &&
        parse_small(s + 5, VST_GEN_BAND_MIN, VST_GEN_BAND_MAX, &v) == 0) {
        *kind = VST_GEN_BAND;
        *n = v;
        return 0;
    }
    if (strncmp(s, "prefix:", 7) == 0 &&
        parse_small(s + 7, VST_GEN_PREFIX_MIN, VST_GEN_PREFIX_MAX, &v) == 0) {
        *kind = VST_GEN_PREFIX;
        *n = v;
        return 0;
    }
    return -1;
}

/* ---- loading ------------------------------------------------------------ */

static vst_err load_qi(pf_lctx *c, json_t *arr)
{
    vst_profile *p = c->p;
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > PF_MAX_QI)
        return pf_fail(c, "quasi_identifiers", "must be an array of 1..%d column names", PF_MAX_QI);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char path[64];
        snprintf(path, sizeof path, "quasi_identifiers[%zu]", i);
        const char *name = json_string_value(v);
        if (name == NULL)
            return pf_fail(c, path, "must be a column name");
        int col = pf_find_column(p, name);
        if (col < 0)
            return pf_fail(c, path, "column \"%.63s\" is not declared in \"columns\"", name);
        vst_col_type t = p->columns[col].type;
        if (t != VST_COL_TEXT && t != VST_COL_INT)
            return pf_fail(c, path,
                           "column \"%s\" is a %s column; a quasi-identifier is a text or "
                           "integer column",
                           name,
                           t == VST_COL_JSON        ? "json"
                           : t == VST_COL_PSEUDONYM ? "pseudonym"
                                                    : "control");
        /* NULL would be a class of its own: persons without the value
         * would hide in it, or form a small cell nobody counted. */
        if (p->nullable[col])
            return pf_fail(c, path,
                           "column \"%s\" is nullable; a quasi-identifier must be NOT NULL "
                           "(NULL would form a class of its own)",
                           name);
        for (size_t k = 0; k < p->nqi; k++)
            if (p->qi[k] == col)
                return pf_fail(c, path, "column \"%s\" is already quasi_identifiers[%zu]", name, k);
        p->qi[p->nqi++] = col;
    }
    return VST_E_OK;
}

/* The most characters a text column holds when every field that writes it
 * cuts its value to a fixed length (a prefix, identifier digits): prefix:N
 * of N or more would change nothing. *whole is set when some field keeps a
 * value as it is (no bound known). */
static void cut_length(const pf_field *obj, int col, unsigned *max, int *whole)
{
    for (size_t i = 0; i < obj->nfields; i++) {
        const pf_field *f = &obj->fields[i];
        if (f->type == FT_OBJECT)
            cut_length(f, col, max, whole);
        if (f->column == col || f->placeholder_column == col)
            *whole = 1;
        for (size_t k = 0; k < f->nderived; k++) {
            const pf_derived *d = &f->derived[k];
            unsigned len = d->rule == RULE_PREFIX   ? d->to
                           : d->rule == RULE_DIGITS ? d->to - d->from + 1
                                                    : 0;
            if (d->column == col && len > *max)
                *max = len;
        }
    }
}

/* One step of a ladder against its column and the step before it. */
static vst_err check_step(pf_lctx *c, const char *path, int col, vst_gen_kind kind, unsigned n,
                          vst_gen_kind prev, unsigned pn)
{
    const vst_column *column = &c->p->columns[col];
    if (prev == VST_GEN_DROP)
        return pf_fail(c, path, "follows drop; drop must be the last step");
    if (kind == VST_GEN_BAND && column->type != VST_COL_INT)
        return pf_fail(c, path, "band applies to integer columns; \"%s\" is text", column->name);
    if (kind == VST_GEN_PREFIX && column->type != VST_COL_TEXT)
        return pf_fail(c, path, "prefix applies to text columns; \"%s\" is integer", column->name);
    if (kind == VST_GEN_BAND && prev == VST_GEN_BAND && (n <= pn || n % pn != 0))
        return pf_fail(c, path, "band:%u must be a larger multiple of the previous band:%u", n, pn);
    if (kind == VST_GEN_PREFIX && prev == VST_GEN_PREFIX && n >= pn)
        return pf_fail(c, path, "prefix:%u must be shorter than the previous prefix:%u", n, pn);
    unsigned len = 0;
    int whole = 0;
    if (kind == VST_GEN_PREFIX)
        cut_length(&c->p->record, col, &len, &whole);
    if (!whole && len > 0 && n >= len)
        return pf_fail(c, path, "prefix:%u must be shorter than the %u characters \"%s\" holds", n,
                       len, column->name);
    return VST_E_OK;
}

static vst_err load_ladder(pf_lctx *c, const char *path, json_t *arr, int col, pf_ladder *l)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > PF_MAX_LADDER)
        return pf_fail(c, path, "must be an array of 1..%d rule strings", PF_MAX_LADDER);
    l->column = col;
    vst_gen_kind prev = VST_GEN_NONE;
    unsigned pn = 0;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char sp[192];
        snprintf(sp, sizeof sp, "%s[%zu]", path, i);
        const char *rule = json_string_value(v);
        vst_gen_kind kind;
        unsigned n;
        if (vst_gen_rule_parse(rule, &kind, &n) != 0)
            return pf_fail(c, sp, "must be a rule: band:N (N %d..%d), prefix:N (N %d..%d) or drop",
                           VST_GEN_BAND_MIN, VST_GEN_BAND_MAX, VST_GEN_PREFIX_MIN,
                           VST_GEN_PREFIX_MAX);
        vst_err e = check_step(c, sp, col, kind, n, prev, pn);
        if (e)
            return e;
        if ((l->steps[l->nsteps] = strdup(rule)) == NULL)
            return VST_E_NOMEM;
        l->nsteps++;
        prev = kind;
        pn = n;
    }
    return VST_E_OK;
}

static vst_err load_generalizations(pf_lctx *c, json_t *obj)
{
    vst_profile *p = c->p;
    if (!json_is_object(obj))
        return pf_fail(c, "generalizations", "must be an object of ladders");
    if (p->nqi == 0)
        return pf_fail(c, "generalizations", "needs \"quasi_identifiers\"");
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        char path[160];
        pf_subpath(path, sizeof path, "generalizations", k);
        int col = pf_find_column(p, k);
        size_t q = 0;
        while (q < p->nqi && p->qi[q] != col)
            q++;
        if (col < 0 || q == p->nqi)
            return pf_fail(c, path, "names no column of \"quasi_identifiers\"");
        vst_err e = load_ladder(c, path, v, col, &p->ladders[p->nladders]);
        p->nladders++; /* counted even when refused: its steps are freed */
        if (e)
            return e;
    }
    return VST_E_OK;
}

/* Every field called `name` directly inside an object with a json_column,
 * anywhere in the record: counted in *named, the last one in *found and its
 * object in *owner. */
static void find_list(const pf_field *obj, const char *name, const pf_field **found,
                      const pf_field **owner, int *named)
{
    for (size_t i = 0; i < obj->nfields; i++) {
        const pf_field *f = &obj->fields[i];
        if (f->type == FT_OBJECT)
            find_list(f, name, found, owner, named);
        if (obj->json_column >= 0 && strcmp(f->name, name) == 0) {
            (*named)++;
            *found = f;
            *owner = obj;
        }
    }
}

static vst_err load_rare_entry(pf_lctx *c, const char *path, const char *name)
{
    vst_profile *p = c->p;
    const pf_field *f = NULL, *obj = NULL;
    int named = 0;
    if (name == NULL)
        return pf_fail(c, path, "must be the name of a list field");
    find_list(&p->record, name, &f, &obj, &named);
    if (named == 0)
        return pf_fail(c, path, "\"%.32s\" names no field of an object with a json_column", name);
    if (named > 1)
        return pf_fail(c, path, "\"%s\" names fields of two json_column objects", name);
    if (f->type != FT_LIST || f->act != ACT_KEEP)
        return pf_fail(c, path, "\"%s\" is not a kept list (rare codes are counted in lists)",
                       name);
    if (p->nrare > 0 && p->rare_column != obj->json_column)
        return pf_fail(c, path, "\"%s\" is in json_column \"%s\", rare_codes[0] in \"%s\"", name,
                       p->columns[obj->json_column].name, p->columns[p->rare_column].name);
    for (size_t k = 0; k < p->nrare; k++)
        if (p->rare[k] == f->name)
            return pf_fail(c, path, "\"%s\" is already rare_codes[%zu]", name, k);
    p->rare_column = obj->json_column;
    p->rare[p->nrare++] = f->name;
    return VST_E_OK;
}

static vst_err load_rare(pf_lctx *c, json_t *arr)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > PF_MAX_RARE)
        return pf_fail(c, "rare_codes", "must be an array of 1..%d list field names", PF_MAX_RARE);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char path[64];
        snprintf(path, sizeof path, "rare_codes[%zu]", i);
        vst_err e = load_rare_entry(c, path, json_string_value(v));
        if (e)
            return e;
    }
    return VST_E_OK;
}

vst_err pf_load_release(pf_lctx *c, json_t *root)
{
    json_t *qi = json_object_get(root, "quasi_identifiers");
    json_t *gen = json_object_get(root, "generalizations");
    json_t *rare = json_object_get(root, "rare_codes");
    vst_err e;
    if (qi != NULL && (e = load_qi(c, qi)))
        return e;
    if (gen != NULL && (e = load_generalizations(c, gen)))
        return e;
    if (rare != NULL && (e = load_rare(c, rare)))
        return e;
    return VST_E_OK;
}

void pf_free_release(vst_profile *p)
{
    for (size_t i = 0; i < p->nladders; i++)
        for (size_t k = 0; k < p->ladders[i].nsteps; k++)
            free((char *)p->ladders[i].steps[k]);
}

/* ---- accessors ---------------------------------------------------------- */

size_t vst_profile_nqi(const vst_profile *p)
{
    return p->nqi;
}

const char *vst_profile_qi(const vst_profile *p, size_t i)
{
    return i < p->nqi ? p->columns[p->qi[i]].name : NULL;
}

size_t vst_profile_ladder(const vst_profile *p, const char *column, const char *const **steps)
{
    int col = pf_find_column(p, column);
    for (size_t i = 0; col >= 0 && i < p->nladders; i++)
        if (p->ladders[i].column == col) {
            *steps = p->ladders[i].steps;
            return p->ladders[i].nsteps;
        }
    *steps = NULL;
    return 0;
}

const char *vst_profile_rare_column(const vst_profile *p)
{
    return p->nrare > 0 ? p->columns[p->rare_column].name : NULL;
}

size_t vst_profile_nrare(const vst_profile *p)
{
    return p->nrare;
}

const char *vst_profile_rare(const vst_profile *p, size_t i)
{
    return i < p->nrare ? p->rare[i] : NULL;
}
