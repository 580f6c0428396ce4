/* Loading and checking a profile file (docs/profiles.md). A profile is
 * trusted configuration, but a mistake in it could leak data (a kept free
 * text field, an identifier kept instead of pseudonymized), so it is checked
 * as strictly as a record: unknown keys, wrong types, unused or conflicting
 * columns are start-up errors naming the file and the field. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/domain.h"
#include "profile/profile_internal.h"

typedef struct {
    const char *file;
    char *msg;
    size_t msglen;
    vst_profile *p;
    /* Per column: how many fields write it, and whether one of them is
     * reached through required fields only (needed for NOT NULL columns). */
    unsigned writers[PF_MAX_COLUMNS];
    int always[PF_MAX_COLUMNS];
    const pf_field *writer_obj[PF_MAX_COLUMNS];
    uint32_t writer_mask[PF_MAX_COLUMNS]; /* the fields of writer_obj that write it */
} lctx;

static vst_err fail(lctx *c, const char *path, const char *fmt, ...)
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

static void subpath(char *out, size_t n, const char *path, const char *name)
{
    snprintf(out, n, "%s%s%s", path, path[0] ? "." : "", name);
}

/* Only keys from `allowed` (NULL-terminated) may appear in obj. */
static vst_err only_keys(lctx *c, const char *path, json_t *obj, const char *const *allowed)
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
            subpath(sp, sizeof sp, path, k);
            return fail(c, sp, "unknown key");
        }
    }
    return VST_E_OK;
}

static int name_ok(const char *s, size_t max, const char *extra)
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

static const char *get_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static int find_column(const vst_profile *p, const char *name)
{
    for (size_t i = 0; i < p->ncolumns; i++)
        if (strcmp(p->columns[i].name, name) == 0)
            return (int)i;
    return -1;
}

static vst_err load_columns(lctx *c, json_t *arr)
{
    vst_profile *p = c->p;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return fail(c, "columns", "must be a non-empty array");
    if (json_array_size(arr) > PF_MAX_COLUMNS)
        return fail(c, "columns", "more than %d columns", PF_MAX_COLUMNS);
    static const char *const keys[] = {"name", "type", "nullable", "description", NULL};
    static const char *const types[] = {"text", "integer", "json", "pseudonym"};
    size_t i;
    json_t *col;
    json_array_foreach(arr, i, col)
    {
        char path[64];
        snprintf(path, sizeof path, "columns[%zu]", i);
        if (!json_is_object(col))
            return fail(c, path, "must be an object");
        vst_err e = only_keys(c, path, col, keys);
        if (e)
            return e;
        const char *name = get_str(col, "name"), *type = get_str(col, "type");
        if (name == NULL || !name_ok(name, 63, NULL) || (name[0] >= '0' && name[0] <= '9'))
            return fail(c, path, "name must be a lower-case SQL identifier");
        if (find_column(p, name) >= 0)
            return fail(c, path, "duplicate column name");
        int t = -1;
        for (int k = 0; type && k < 4; k++)
            if (strcmp(type, types[k]) == 0)
                t = k;
        if (t < 0)
            return fail(c, path, "type must be text, integer, json or pseudonym");
        json_t *nl = json_object_get(col, "nullable");
        if (nl != NULL && !json_is_boolean(nl))
            return fail(c, path, "nullable must be true or false");
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
static vst_err column_ref(lctx *c, const char *path, const char *name, vst_col_type want, int *out)
{
    if (name == NULL)
        return fail(c, path, "needs a \"column\"");
    int col = find_column(c->p, name);
    if (col < 0)
        return fail(c, path, "column \"%s\" is not declared in \"columns\"", name);
    if (c->p->columns[col].type != want)
        return fail(c, path, "column \"%s\" has the wrong type for this action", name);
    *out = col;
    return VST_E_OK;
}

static vst_err load_string_rules(lctx *c, const char *path, json_t *spec, pf_string *s)
{
    const char *pat = get_str(spec, "pattern");
    json_t *en = json_object_get(spec, "enum"), *ml = json_object_get(spec, "max_length");
    json_t *ai = json_object_get(spec, "accept_integer");
    if (json_object_get(spec, "pattern") != NULL && pat == NULL)
        return fail(c, path, "pattern must be a string");
    if (pat != NULL) {
        size_t n = strlen(pat) + 5;
        char *anchored = malloc(n);
        if (anchored == NULL)
            return VST_E_NOMEM;
        /* Patterns always match the whole value. */
        snprintf(anchored, n, "^(%s)$", pat);
        int rc = regcomp(&s->re, anchored, REG_EXTENDED | REG_NOSUB);
        free(anchored);
        if (rc != 0)
            return fail(c, path, "pattern is not a valid POSIX extended regular expression");
        s->has_re = 1;
    }
    if (en != NULL) {
        if (!json_is_array(en) || json_array_size(en) == 0 || json_array_size(en) > PF_MAX_ENUM)
            return fail(c, path, "enum must be an array of 1..%d strings", PF_MAX_ENUM);
        if (pat != NULL)
            return fail(c, path, "use either enum or pattern, not both");
        size_t i;
        json_t *v;
        json_array_foreach(en, i, v)
        {
            if (!json_is_string(v) || json_string_length(v) == 0)
                return fail(c, path, "enum values must be non-empty strings");
            if ((s->enums[i] = strdup(json_string_value(v))) == NULL)
                return VST_E_NOMEM;
            s->nenum++;
        }
    }
    if (ai != NULL) {
        if (!json_is_boolean(ai) || en == NULL)
            return fail(c, path, "accept_integer must be a boolean and needs an enum");
        /* The engine converts a matching value with pf_parse_int64, which
         * then cannot fail. */
        for (size_t i = 0; i < s->nenum; i++) {
            int64_t v;
            if (s->enums[i][0] == '-' || pf_parse_int64(s->enums[i], strlen(s->enums[i]), &v))
                return fail(c, path,
                            "accept_integer needs enum values that are non-negative integers "
                            "(int64)");
        }
        s->enum_accepts_integer = json_is_true(ai);
    }
    s->max_length = 1024;
    if (ml != NULL) {
        if (!json_is_integer(ml) || json_integer_value(ml) < 1 || json_integer_value(ml) > 65536)
            return fail(c, path, "max_length must be an integer 1..65536");
        s->max_length = (size_t)json_integer_value(ml);
    }
    return VST_E_OK;
}

static vst_err load_date_bound(lctx *c, const char *path, json_t *v, int32_t *out, int *today)
{
    const char *s = json_string_value(v);
    int y;
    if (s != NULL && today != NULL && strcmp(s, "today") == 0) {
        *today = 1;
        return VST_E_OK;
    }
    if (s == NULL || pf_parse_date(s, strlen(s), out, &y) != VST_E_OK)
        return fail(c, path, "date bounds must be YYYY-MM-DD%s", today ? " or \"today\"" : "");
    return VST_E_OK;
}

static vst_err load_object(lctx *c, const char *path, json_t *spec, pf_field *f, int always);

/* The keys a field spec may have, by type. */
static const char *const string_keys[] = {"type",           "required",   "action",      "column",
                                          "rule",           "length",     "pattern",     "enum",
                                          "accept_integer", "max_length", "description", NULL};
static const char *const ident_keys[] = {
    "type", "required", "action", "identifier", "domain", "column", "also", "description", NULL};
static const char *const int_keys[] = {"type", "required", "action",      "column",
                                       "min",  "max",      "description", NULL};
static const char *const date_keys[] = {"type", "required", "action",      "column", "rule",
                                        "min",  "max",      "description", NULL};
static const char *const list_keys[] = {"type",      "required",  "action",      "items",
                                        "min_items", "max_items", "description", NULL};
static const char *const item_keys[] = {"pattern", "enum", "max_length", NULL};

static vst_err load_also(lctx *c, const char *path, json_t *also, pf_field *f)
{
    size_t idlen = f->id_kind == VST_ID_KVNR ? 10 : 9;
    if (!json_is_array(also) || json_array_size(also) > PF_MAX_DERIVED)
        return fail(c, path, "also must be an array of at most %d rules", PF_MAX_DERIVED);
    static const char *const keys[] = {"rule", "from", "to", "column", NULL};
    size_t i;
    json_t *r;
    json_array_foreach(also, i, r)
    {
        char sp[192];
        snprintf(sp, sizeof sp, "%s.also[%zu]", path, i);
        if (!json_is_object(r))
            return fail(c, sp, "must be an object");
        vst_err e = only_keys(c, sp, r, keys);
        if (e)
            return e;
        const char *rule = get_str(r, "rule");
        json_t *from = json_object_get(r, "from"), *to = json_object_get(r, "to");
        if (rule == NULL || strcmp(rule, "digits") != 0)
            return fail(c, sp, "rule must be \"digits\"");
        if (!json_is_integer(from) || !json_is_integer(to) || json_integer_value(from) < 1 ||
            json_integer_value(to) < json_integer_value(from) ||
            (size_t)json_integer_value(to) > idlen)
            return fail(c, sp, "from/to must select digits 1..%zu of the identifier", idlen);
        /* Never a range that re-creates most of the identifier. */
        if (json_integer_value(to) - json_integer_value(from) + 1 > 4)
            return fail(c, sp, "a generalization may keep at most 4 digits of an identifier");
        pf_derived *d = &f->derived[f->nderived];
        d->rule = RULE_DIGITS;
        d->from = (unsigned)json_integer_value(from);
        d->to = (unsigned)json_integer_value(to);
        e = column_ref(c, sp, get_str(r, "column"), VST_COL_TEXT, &d->column);
        if (e)
            return e;
        f->nderived++;
    }
    return VST_E_OK;
}

static int domain_index(lctx *c, const char *d)
{
    vst_profile *p = c->p;
    for (size_t i = 0; i < p->ndomains; i++)
        if (strcmp(p->domains[i], d) == 0)
            return (int)i;
    if (p->ndomains == PF_MAX_DOMAINS || (p->domains[p->ndomains] = strdup(d)) == NULL)
        return -1;
    return (int)p->ndomains++;
}

static vst_err load_field(lctx *c, const char *path, json_t *spec, pf_field *f, int parent_json,
                          int always)
{
    if (!json_is_object(spec))
        return fail(c, path, "field spec must be an object");
    const char *type = get_str(spec, "type"), *act = get_str(spec, "action");
    json_t *req = json_object_get(spec, "required");
    if (req != NULL && !json_is_boolean(req))
        return fail(c, path, "required must be true or false");
    f->required = json_is_true(req);
    f->column = -1;
    if (type == NULL)
        return fail(c, path, "needs a \"type\"");
    if (strcmp(type, "object") == 0) {
        f->type = FT_OBJECT;
        f->act = ACT_NEST;
        return load_object(c, path, spec, f, always && f->required);
    }
    const char *const *keys;
    if (strcmp(type, "string") == 0)
        f->type = FT_STRING, keys = string_keys;
    else if (strcmp(type, "identifier") == 0)
        f->type = FT_IDENTIFIER, keys = ident_keys;
    else if (strcmp(type, "integer") == 0)
        f->type = FT_INTEGER, keys = int_keys;
    else if (strcmp(type, "date") == 0)
        f->type = FT_DATE, keys = date_keys;
    else if (strcmp(type, "list") == 0)
        f->type = FT_LIST, keys = list_keys;
    else
        return fail(c, path, "type must be object, string, identifier, integer, date or list");
    vst_err e = only_keys(c, path, spec, keys);
    if (e)
        return e;
    if (act == NULL)
        return fail(c, path, "needs an \"action\": keep, generalize, pseudonymize or drop");
    if (strcmp(act, "keep") == 0)
        f->act = ACT_KEEP;
    else if (strcmp(act, "drop") == 0)
        f->act = ACT_DROP;
    else if (strcmp(act, "pseudonymize") == 0)
        f->act = ACT_PSEUDONYMIZE;
    else if (strcmp(act, "generalize") == 0)
        f->act = ACT_GENERALIZE;
    else
        return fail(c, path, "action must be keep, generalize, pseudonymize or drop");

    /* Type constraints. */
    switch (f->type) {
    case FT_STRING:
        if ((e = load_string_rules(c, path, spec, &f->str)))
            return e;
        break;
    case FT_IDENTIFIER: {
        const char *kind = get_str(spec, "identifier");
        if (kind == NULL || (f->id_kind = vst_id_kind_from_name(kind)) < 0)
            return fail(c, path, "identifier must be kvnr, lanr, bsnr or ik");
        /* An identifier leaves the trust center only as a pseudonym. */
        if (f->act != ACT_PSEUDONYMIZE && f->act != ACT_DROP)
            return fail(c, path, "an identifier can only be pseudonymized or dropped");
        break;
    }
    case FT_INTEGER: {
        json_t *mn = json_object_get(spec, "min"), *mx = json_object_get(spec, "max");
        if ((mn && !json_is_integer(mn)) || (mx && !json_is_integer(mx)))
            return fail(c, path, "min/max must be integers");
        f->imin = mn ? json_integer_value(mn) : INT64_MIN;
        f->imax = mx ? json_integer_value(mx) : INT64_MAX;
        if (f->imin > f->imax)
            return fail(c, path, "min is greater than max");
        break;
    }
    case FT_DATE: {
        json_t *mn = json_object_get(spec, "min"), *mx = json_object_get(spec, "max");
        f->dmin = INT32_MIN;
        f->dmax = INT32_MAX;
        if (mn && (e = load_date_bound(c, path, mn, &f->dmin, NULL)))
            return e;
        if (mx && (e = load_date_bound(c, path, mx, &f->dmax, &f->dmax_today)))
            return e;
        break;
    }
    case FT_LIST: {
        json_t *items = json_object_get(spec, "items");
        json_t *mn = json_object_get(spec, "min_items"), *mx = json_object_get(spec, "max_items");
        char sp[192];
        snprintf(sp, sizeof sp, "%s.items", path);
        if (!json_is_object(items))
            return fail(c, sp, "a list needs \"items\" (an object with pattern/enum/max_length)");
        if ((e = only_keys(c, sp, items, item_keys)) ||
            (e = load_string_rules(c, sp, items, &f->str)))
            return e;
        if ((mn && (!json_is_integer(mn) || json_integer_value(mn) < 0)) || !json_is_integer(mx) ||
            json_integer_value(mx) < 1 || json_integer_value(mx) > 1024)
            return fail(c, path, "a list needs max_items 1..1024 (and min_items >= 0)");
        f->min_items = mn ? (size_t)json_integer_value(mn) : 0;
        f->max_items = (size_t)json_integer_value(mx);
        if (f->min_items > f->max_items)
            return fail(c, path, "min_items is greater than max_items");
        break;
    }
    default:
        break;
    }

    /* Free text could carry a name: a string that is kept, or cut to a
     * prefix, must be constrained by a pattern or an enum. */
    if ((f->type == FT_STRING || f->type == FT_LIST) &&
        (f->act == ACT_KEEP || f->act == ACT_GENERALIZE) && !f->str.has_re && f->str.nenum == 0)
        return fail(c, path,
                    "a kept or generalized string needs a pattern or enum (free text "
                    "could carry a name)");

    /* The action and where its result goes. */
    const char *col = get_str(spec, "column");
    json_t *rule_j = json_object_get(spec, "rule");
    const char *rule = json_string_value(rule_j);
    if (f->act != ACT_GENERALIZE && rule_j != NULL)
        return fail(c, path, "\"rule\" belongs to action generalize");
    if (f->act != ACT_GENERALIZE && json_object_get(spec, "length") != NULL)
        return fail(c, path, "\"length\" belongs to generalize rule prefix");
    if (f->act != ACT_PSEUDONYMIZE &&
        (json_object_get(spec, "domain") || json_object_get(spec, "also")))
        return fail(c, path, "\"domain\"/\"also\" belong to action pseudonymize");
    int colidx = -1;
    switch (f->act) {
    case ACT_DROP:
        if (json_object_get(spec, "column"))
            return fail(c, path, "a dropped field has no column");
        return VST_E_OK;
    case ACT_PSEUDONYMIZE: {
        if (f->type != FT_IDENTIFIER)
            return fail(c, path, "only identifiers can be pseudonymized");
        const char *dom = get_str(spec, "domain");
        if (!vst_domain_name_ok(dom))
            return fail(c, path, "domain must be 1..64 characters of [a-z0-9_./-]");
        if ((f->domain = domain_index(c, dom)) < 0)
            return fail(c, path, "too many domains");
        if ((e = column_ref(c, path, col, VST_COL_PSEUDONYM, &colidx)))
            return e;
        json_t *also = json_object_get(spec, "also");
        if (also && (e = load_also(c, path, also, f)))
            return e;
        break;
    }
    case ACT_GENERALIZE:
        if (rule == NULL)
            return fail(c, path, "generalize needs a \"rule\": year or prefix");
        f->nderived = 1;
        if (strcmp(rule, "year") == 0) {
            if (f->type != FT_DATE)
                return fail(c, path, "rule year applies to dates");
            f->derived[0].rule = RULE_YEAR;
            e = column_ref(c, path, col, VST_COL_INT, &f->derived[0].column);
        } else if (strcmp(rule, "prefix") == 0) {
            json_t *len = json_object_get(spec, "length");
            if (f->type != FT_STRING)
                return fail(c, path, "rule prefix applies to strings");
            if (!json_is_integer(len) || json_integer_value(len) < 1 ||
                json_integer_value(len) > 16)
                return fail(c, path, "rule prefix needs a length 1..16");
            f->derived[0].rule = RULE_PREFIX;
            f->derived[0].to = (unsigned)json_integer_value(len);
            e = column_ref(c, path, col, VST_COL_TEXT, &f->derived[0].column);
        } else {
            return fail(c, path, "rule must be year or prefix");
        }
        if (e)
            return e;
        break;
    case ACT_KEEP:
        if (col == NULL) {
            if (parent_json < 0)
                return fail(c, path, "keep without a column needs an enclosing json_column");
            if (json_object_get(spec, "column"))
                return fail(c, path, "column must be a string");
            return VST_E_OK;
        }
        if (f->type == FT_INTEGER ||
            (f->type == FT_STRING && f->str.enum_accepts_integer && find_column(c->p, col) >= 0 &&
             c->p->columns[find_column(c->p, col)].type == VST_COL_INT))
            e = column_ref(c, path, col, VST_COL_INT, &colidx);
        else if (f->type == FT_STRING || f->type == FT_DATE)
            e = column_ref(c, path, col, VST_COL_TEXT, &colidx);
        else
            return fail(c, path, "a kept list goes into a json_column, not a column");
        if (e)
            return e;
        f->column = colidx;
        break;
    default:
        break;
    }
    if (colidx >= 0)
        f->column = colidx;
    return VST_E_OK;
}

/* Records every column a field writes, for the column checks in finish(). */
static vst_err note_writers(lctx *c, const char *path, const pf_field *obj, size_t idx, int always)
{
    const pf_field *f = &obj->fields[idx];
    int cols[PF_MAX_DERIVED + 1];
    size_t n = 0;
    if (f->column >= 0)
        cols[n++] = f->column;
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
                return fail(c, path,
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

static vst_err load_groups(lctx *c, const char *path, json_t *arr, pf_field *obj, uint32_t *masks,
                           size_t *n, const char *what)
{
    if (!json_is_array(arr) || json_array_size(arr) > PF_MAX_GROUPS)
        return fail(c, path, "%s must be an array of at most %d groups", what, PF_MAX_GROUPS);
    size_t i, j;
    json_t *g, *name;
    json_array_foreach(arr, i, g)
    {
        uint32_t m = 0;
        if (!json_is_array(g) || json_array_size(g) < 2)
            return fail(c, path, "each %s group lists at least two field names", what);
        json_array_foreach(g, j, name)
        {
            size_t k = 0;
            const char *s = json_string_value(name);
            while (s && k < obj->nfields && strcmp(obj->fields[k].name, s) != 0)
                k++;
            if (s == NULL || k == obj->nfields)
                return fail(c, path, "%s names a field that the object does not have", what);
            m |= 1u << k;
        }
        masks[(*n)++] = m;
    }
    return VST_E_OK;
}

static vst_err load_object(lctx *c, const char *path, json_t *spec, pf_field *f, int always)
{
    static const char *const keys[] = {"type",      "required", "fields",      "json_column",
                                       "exclusive", "one_of",   "description", NULL};
    vst_err e = only_keys(c, path, spec, keys);
    if (e)
        return e;
    json_t *fields = json_object_get(spec, "fields");
    if (!json_is_object(fields) || json_object_size(fields) == 0)
        return fail(c, path, "an object needs a non-empty \"fields\" object");
    if (json_object_size(fields) > PF_MAX_FIELDS)
        return fail(c, path, "more than %d fields", PF_MAX_FIELDS);
    int depth = 0;
    for (const char *q = path; *q; q++)
        depth += *q == '.';
    if (depth >= PF_MAX_DEPTH)
        return fail(c, path, "objects nest deeper than %d levels", PF_MAX_DEPTH);
    f->json_column = -1;
    const char *jc = get_str(spec, "json_column");
    if (json_object_get(spec, "json_column") &&
        (e = column_ref(c, path, jc, VST_COL_JSON, &f->json_column)))
        return e;
    if ((f->fields = calloc(json_object_size(fields), sizeof *f->fields)) == NULL)
        return VST_E_NOMEM;
    const char *k;
    json_t *v;
    json_object_foreach(fields, k, v)
    {
        char sp[160];
        subpath(sp, sizeof sp, path, k);
        pf_field *child = &f->fields[f->nfields];
        if (!name_ok(k, 32, NULL))
            return fail(c, sp, "field names are 1..32 characters of [a-z0-9_]");
        if ((child->name = strdup(k)) == NULL)
            return VST_E_NOMEM;
        f->nfields++;
        if ((e = load_field(c, sp, v, child, f->json_column, always)))
            return e;
    }
    json_t *ex = json_object_get(spec, "exclusive"), *oo = json_object_get(spec, "one_of");
    if (ex && (e = load_groups(c, path, ex, f, f->exclusive, &f->nexclusive, "exclusive")))
        return e;
    if (oo && (e = load_groups(c, path, oo, f, f->one_of, &f->none_of, "one_of")))
        return e;
    if (f->json_column >= 0) {
        /* The JSON column is written whenever the object is present. */
        if (c->writers[f->json_column] > 0)
            return fail(c, path, "json_column \"%s\" is also written by another object",
                        c->p->columns[f->json_column].name);
        c->writers[f->json_column]++;
        if (always)
            c->always[f->json_column] = 1;
    }
    for (size_t i = 0; i < f->nfields; i++) {
        char sp[160];
        subpath(sp, sizeof sp, path, f->fields[i].name);
        if (f->fields[i].type != FT_OBJECT && (e = note_writers(c, sp, f, i, always)))
            return e;
    }
    return VST_E_OK;
}

static vst_err load_top(lctx *c, json_t *root)
{
    static const char *const keys[] = {"profile", "description", "table", "max_line_bytes",
                                       "columns", "record",      NULL};
    vst_profile *p = c->p;
    if (!json_is_object(root))
        return fail(c, "", "a profile is a JSON object");
    vst_err e = only_keys(c, "", root, keys);
    if (e)
        return e;
    const char *name = get_str(root, "profile"), *table = get_str(root, "table");
    if (name == NULL || !name_ok(name, 32, NULL))
        return fail(c, "profile", "must be 1..32 characters of [a-z0-9_]");
    const char *dot = table ? strchr(table, '.') : NULL;
    if (dot == NULL || dot == table || strchr(dot + 1, '.') || !name_ok(dot + 1, 63, NULL)) {
        return fail(c, "table", "must be schema.table with lower-case SQL identifiers");
    }
    for (const char *q = table; q < dot; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '_'))
            return fail(c, "table", "must be schema.table with lower-case SQL identifiers");
    json_t *ml = json_object_get(root, "max_line_bytes");
    if (!json_is_integer(ml) || json_integer_value(ml) < 256 || json_integer_value(ml) > (1 << 20))
        return fail(c, "max_line_bytes", "must be an integer 256..1048576");
    if ((p->name = strdup(name)) == NULL || (p->table = strdup(table)) == NULL)
        return VST_E_NOMEM;
    p->max_line = (size_t)json_integer_value(ml);
    if ((e = load_columns(c, json_object_get(root, "columns"))))
        return e;
    /* The record is an object spec without a "type"/"required". */
    json_t *rec = json_object_get(root, "record");
    if (!json_is_object(rec))
        return fail(c, "record", "must be an object of field specs");
    json_t *wrap = json_pack("{s:s, s:O}", "type", "object", "fields", rec);
    if (wrap == NULL)
        return VST_E_NOMEM;
    p->record.type = FT_OBJECT;
    p->record.act = ACT_NEST;
    p->record.required = 1;
    e = load_object(c, "", wrap, &p->record, 1);
    json_decref(wrap);
    if (e)
        return e;
    for (size_t i = 0; i < p->ncolumns; i++) {
        char sp[80];
        snprintf(sp, sizeof sp, "columns[%zu]", i);
        if (c->writers[i] == 0)
            return fail(c, sp, "column \"%s\" is never written by any field", p->columns[i].name);
        if (!p->nullable[i] && !c->always[i])
            return fail(c, sp, "column \"%s\" is NOT NULL but only optional fields write it",
                        p->columns[i].name);
    }
    if (p->ndomains == 0)
        return fail(c, "record", "a profile must pseudonymize at least one identifier");
    return VST_E_OK;
}

/* Checks a parsed profile document; file names the source in messages. */
static vst_err load_root(const char *file, json_t *root, const json_error_t *jerr,
                         vst_profile **out, char *msg, size_t msglen)
{
    lctx c = {.file = file, .msg = msg, .msglen = msglen};
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
    for (size_t i = 0; i < p->ncolumns; i++)
        free((char *)p->columns[i].name);
    for (size_t i = 0; i < p->ndomains; i++)
        free(p->domains[i]);
    free(p->name);
    free(p->table);
    free(p);
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
