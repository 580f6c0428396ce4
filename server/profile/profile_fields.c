/* One field spec of a profile (docs/profiles.md "Field specs"), checked
 * against two tables: per type, the keys a spec of that type accepts, the
 * checks of its own constraints and the actions it allows; per action, what
 * it needs and where its result goes. pf_load_field walks them in a fixed
 * order (type, keys, action, the type's constraints, free text, keys that
 * belong to another action, the action), so a spec with several mistakes is
 * always refused with the same message. Objects are profile_load.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/domain.h"
#include "profile/profile_loader.h"

/* ---- constraints shared by types ---------------------------------------- */

static vst_err load_pattern(pf_lctx *c, const char *path, const char *pat, pf_string *s)
{
    size_t n = strlen(pat) + 5;
    char *anchored = malloc(n);
    if (anchored == NULL)
        return VST_E_NOMEM;
    /* Patterns always match the whole value. */
    snprintf(anchored, n, "^(%s)$", pat);
    int rc = regcomp(&s->re, anchored, REG_EXTENDED | REG_NOSUB);
    free(anchored);
    if (rc != 0)
        return pf_fail(c, path, "pattern is not a valid POSIX extended regular expression");
    s->has_re = 1;
    return VST_E_OK;
}

static vst_err load_enum(pf_lctx *c, const char *path, json_t *en, int has_pattern, pf_string *s)
{
    if (!json_is_array(en) || json_array_size(en) == 0 || json_array_size(en) > PF_MAX_ENUM)
        return pf_fail(c, path, "enum must be an array of 1..%d strings", PF_MAX_ENUM);
    if (has_pattern)
        return pf_fail(c, path, "use either enum or pattern, not both");
    size_t i;
    json_t *v;
    json_array_foreach(en, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) == 0)
            return pf_fail(c, path, "enum values must be non-empty strings");
        if ((s->enums[i] = strdup(json_string_value(v))) == NULL)
            return VST_E_NOMEM;
        s->nenum++;
    }
    return VST_E_OK;
}

static vst_err load_accept_integer(pf_lctx *c, const char *path, json_t *ai, int has_enum,
                                   pf_string *s)
{
    if (!json_is_boolean(ai) || !has_enum)
        return pf_fail(c, path, "accept_integer must be a boolean and needs an enum");
    /* The engine converts a matching value with pf_parse_int64, which then
     * cannot fail. */
    for (size_t i = 0; i < s->nenum; i++) {
        int64_t v;
        if (s->enums[i][0] == '-' || pf_parse_int64(s->enums[i], strlen(s->enums[i]), &v))
            return pf_fail(c, path,
                           "accept_integer needs enum values that are non-negative integers "
                           "(int64)");
    }
    s->enum_accepts_integer = json_is_true(ai);
    return VST_E_OK;
}

/* pattern, enum, accept_integer, max_length: a string's, or a list item's. */
static vst_err load_string_rules(pf_lctx *c, const char *path, json_t *spec, pf_string *s)
{
    const char *pat = pf_get_str(spec, "pattern");
    json_t *en = json_object_get(spec, "enum"), *ml = json_object_get(spec, "max_length");
    json_t *ai = json_object_get(spec, "accept_integer");
    vst_err e;
    if (json_object_get(spec, "pattern") != NULL && pat == NULL)
        return pf_fail(c, path, "pattern must be a string");
    if (pat != NULL && (e = load_pattern(c, path, pat, s)))
        return e;
    if (en != NULL && (e = load_enum(c, path, en, pat != NULL, s)))
        return e;
    if (ai != NULL && (e = load_accept_integer(c, path, ai, en != NULL, s)))
        return e;
    s->max_length = 1024;
    if (ml != NULL) {
        if (!json_is_integer(ml) || json_integer_value(ml) < 1 || json_integer_value(ml) > 65536)
            return pf_fail(c, path, "max_length must be an integer 1..65536");
        s->max_length = (size_t)json_integer_value(ml);
    }
    return VST_E_OK;
}

static vst_err load_date_bound(pf_lctx *c, const char *path, json_t *v, int32_t *out, int *today)
{
    const char *s = json_string_value(v);
    int y;
    if (s != NULL && today != NULL && strcmp(s, "today") == 0) {
        *today = 1;
        return VST_E_OK;
    }
    if (s == NULL || pf_parse_date(s, strlen(s), out, &y) != VST_E_OK)
        return pf_fail(c, path, "date bounds must be YYYY-MM-DD%s", today ? " or \"today\"" : "");
    return VST_E_OK;
}

/* ---- per type: its keys and its own constraints ------------------------- */

static vst_err check_string(pf_lctx *c, const char *path, json_t *spec, pf_field *f)
{
    return load_string_rules(c, path, spec, &f->str);
}

static vst_err check_identifier(pf_lctx *c, const char *path, json_t *spec, pf_field *f)
{
    const char *kind = pf_get_str(spec, "identifier");
    if (kind == NULL || (f->id_kind = vst_id_kind_from_name(kind)) < 0)
        return pf_fail(c, path, "identifier must be kvnr, lanr, bsnr or ik");
    f->id_from = 1;
    f->id_to = f->id_kind == VST_ID_KVNR ? 10 : 9;
    return VST_E_OK;
}

static vst_err check_integer(pf_lctx *c, const char *path, json_t *spec, pf_field *f)
{
    json_t *mn = json_object_get(spec, "min"), *mx = json_object_get(spec, "max");
    if ((mn && !json_is_integer(mn)) || (mx && !json_is_integer(mx)))
        return pf_fail(c, path, "min/max must be integers");
    f->imin = mn ? json_integer_value(mn) : INT64_MIN;
    f->imax = mx ? json_integer_value(mx) : INT64_MAX;
    if (f->imin > f->imax)
        return pf_fail(c, path, "min is greater than max");
    return VST_E_OK;
}

static vst_err check_date(pf_lctx *c, const char *path, json_t *spec, pf_field *f)
{
    json_t *mn = json_object_get(spec, "min"), *mx = json_object_get(spec, "max");
    vst_err e;
    f->dmin = INT32_MIN;
    f->dmax = INT32_MAX;
    if (mn && (e = load_date_bound(c, path, mn, &f->dmin, NULL)))
        return e;
    if (mx && (e = load_date_bound(c, path, mx, &f->dmax, &f->dmax_today)))
        return e;
    /* The sibling it names is resolved by the object (pf_load_object). */
    if (json_object_get(spec, "not_before") && pf_get_str(spec, "not_before") == NULL)
        return pf_fail(c, path, "not_before must name a date field of the same object");
    return VST_E_OK;
}

static vst_err check_list(pf_lctx *c, const char *path, json_t *spec, pf_field *f)
{
    static const char *const item_keys[] = {"pattern", "enum", "max_length", NULL};
    json_t *items = json_object_get(spec, "items");
    json_t *mn = json_object_get(spec, "min_items"), *mx = json_object_get(spec, "max_items");
    char sp[192];
    vst_err e;
    snprintf(sp, sizeof sp, "%s.items", path);
    if (!json_is_object(items))
        return pf_fail(c, sp, "a list needs \"items\" (an object with pattern/enum/max_length)");
    if ((e = pf_only_keys(c, sp, items, item_keys)) ||
        (e = load_string_rules(c, sp, items, &f->str)))
        return e;
    if ((mn && (!json_is_integer(mn) || json_integer_value(mn) < 0)) || !json_is_integer(mx) ||
        json_integer_value(mx) < 1 || json_integer_value(mx) > 1024)
        return pf_fail(c, path, "a list needs max_items 1..1024 (and min_items >= 0)");
    f->min_items = mn ? (size_t)json_integer_value(mn) : 0;
    f->max_items = (size_t)json_integer_value(mx);
    if (f->min_items > f->max_items)
        return pf_fail(c, path, "min_items is greater than max_items");
    return VST_E_OK;
}

/* A boolean has no constraints of its own. */
static vst_err check_boolean(pf_lctx *c, const char *path, json_t *spec, pf_field *f)
{
    (void)c;
    (void)path;
    (void)spec;
    (void)f;
    return VST_E_OK;
}

#define ACT(a) (1u << (a))
#define ALL_ACTIONS (ACT(ACT_KEEP) | ACT(ACT_DROP) | ACT(ACT_PSEUDONYMIZE) | ACT(ACT_GENERALIZE))

typedef vst_err (*type_check)(pf_lctx *c, const char *path, json_t *spec, pf_field *f);

/* Objects are not in this table: they nest (profile_load.c). */
static const struct field_type {
    const char *name;
    pf_type type;
    const char *const *keys; /* the keys a spec of this type may have */
    type_check check;        /* its own constraints */
    int free_text;           /* kept or cut to a prefix, it needs a pattern or an enum */
    unsigned actions;        /* ACT() bits it allows ... */
    const char *actions_msg; /* ... and why, for the others */
} field_types[] = {
    {"string", FT_STRING,
     (const char *const[]){"type", "required", "action", "column", "rule", "length", "pattern",
                           "enum", "accept_integer", "max_length", "description", NULL},
     check_string, 1, ALL_ACTIONS, NULL},
    /* An identifier leaves the trust center only as a pseudonym. */
    {"identifier", FT_IDENTIFIER,
     (const char *const[]){"type", "required", "action", "identifier", "domain", "column", "also",
                           "identify", "placeholder_column", "description", NULL},
     check_identifier, 0, ACT(ACT_PSEUDONYMIZE) | ACT(ACT_DROP),
     "an identifier can only be pseudonymized or dropped"},
    {"integer", FT_INTEGER,
     (const char *const[]){"type", "required", "action", "column", "min", "max", "description",
                           NULL},
     check_integer, 0, ALL_ACTIONS, NULL},
    {"date", FT_DATE,
     (const char *const[]){"type", "required", "action", "column", "rule", "min", "max",
                           "not_before", "description", NULL},
     check_date, 0, ALL_ACTIONS, NULL},
    {"list", FT_LIST,
     (const char *const[]){"type", "required", "action", "items", "min_items", "max_items",
                           "description", NULL},
     check_list, 1, ALL_ACTIONS, NULL},
    /* true or false, kept into its object's JSON column or dropped. */
    {"boolean", FT_BOOLEAN,
     (const char *const[]){"type", "required", "action", "description", NULL}, check_boolean, 0,
     ACT(ACT_KEEP) | ACT(ACT_DROP), "a boolean can only be kept (into a json_column) or dropped"},
};

/* ---- per action: what it needs, where its result goes ------------------- */

static vst_err load_also_rule(pf_lctx *c, const char *sp, json_t *r, size_t idlen, pf_derived *d)
{
    static const char *const keys[] = {"rule", "from", "to", "column", NULL};
    if (!json_is_object(r))
        return pf_fail(c, sp, "must be an object");
    vst_err e = pf_only_keys(c, sp, r, keys);
    if (e)
        return e;
    const char *rule = pf_get_str(r, "rule");
    json_t *from = json_object_get(r, "from"), *to = json_object_get(r, "to");
    if (rule == NULL || strcmp(rule, "digits") != 0)
        return pf_fail(c, sp, "rule must be \"digits\"");
    if (!json_is_integer(from) || !json_is_integer(to) || json_integer_value(from) < 1 ||
        json_integer_value(to) < json_integer_value(from) || (size_t)json_integer_value(to) > idlen)
        return pf_fail(c, sp, "from/to must select digits 1..%zu of the identifier", idlen);
    /* Never a range that re-creates most of the identifier. */
    if (json_integer_value(to) - json_integer_value(from) + 1 > 4)
        return pf_fail(c, sp, "a generalization may keep at most 4 digits of an identifier");
    d->rule = RULE_DIGITS;
    d->from = (unsigned)json_integer_value(from);
    d->to = (unsigned)json_integer_value(to);
    return pf_column_ref(c, sp, pf_get_str(r, "column"), VST_COL_TEXT, &d->column);
}

/* "also": generalizations of a pseudonymized identifier (a few digits). */
static vst_err load_also(pf_lctx *c, const char *path, json_t *also, pf_field *f)
{
    size_t idlen = f->id_kind == VST_ID_KVNR ? 10 : 9;
    if (!json_is_array(also) || json_array_size(also) > PF_MAX_DERIVED)
        return pf_fail(c, path, "also must be an array of at most %d rules", PF_MAX_DERIVED);
    size_t i;
    json_t *r;
    json_array_foreach(also, i, r)
    {
        char sp[192];
        snprintf(sp, sizeof sp, "%s.also[%zu]", path, i);
        vst_err e = load_also_rule(c, sp, r, idlen, &f->derived[f->nderived]);
        if (e)
            return e;
        f->nderived++;
    }
    return VST_E_OK;
}

static int domain_index(pf_lctx *c, const char *d)
{
    vst_profile *p = c->p;
    for (size_t i = 0; i < p->ndomains; i++)
        if (strcmp(p->domains[i], d) == 0)
            return (int)i;
    if (p->ndomains == PF_MAX_DOMAINS || (p->domains[p->ndomains] = strdup(d)) == NULL)
        return -1;
    return (int)p->ndomains++;
}

static vst_err place_drop(pf_lctx *c, const char *path, json_t *spec, pf_field *f, int parent_json)
{
    (void)f;
    (void)parent_json;
    if (json_object_get(spec, "column"))
        return pf_fail(c, path, "a dropped field has no column");
    return VST_E_OK;
}

/* "identify": [from, to], the digits that identify (1-based, inclusive);
 * the others describe and may only be kept by "also" (DESIGN.md §5). */
static vst_err load_identify(pf_lctx *c, const char *path, json_t *r, pf_field *f)
{
    size_t idlen = f->id_to;
    json_t *from = json_array_get(r, 0), *to = json_array_get(r, 1);
    if (!json_is_array(r) || json_array_size(r) != 2 || !json_is_integer(from) ||
        !json_is_integer(to))
        return pf_fail(c, path, "identify must be [from, to], two digit positions");
    json_int_t a = json_integer_value(from), b = json_integer_value(to);
    if (a < 1 || b < a || (size_t)b > idlen)
        return pf_fail(c, path, "identify must select digits within 1..%zu of the identifier",
                       idlen);
    /* Fewer digits could not tell providers apart: one pseudonym for many. */
    if (b - a + 1 < 5)
        return pf_fail(c, path, "identify must select at least 5 digits");
    f->id_from = (unsigned)a;
    f->id_to = (unsigned)b;
    return VST_E_OK;
}

/* A kind with placeholder numbers needs a nullable text column for their
 * names, and a nullable pseudonym column (a placeholder gets none). */
static vst_err load_placeholder_column(pf_lctx *c, const char *path, json_t *spec, pf_field *f)
{
    json_t *pc = json_object_get(spec, "placeholder_column");
    f->placeholder_column = -1;
    f->has_placeholders = pf_kind_has_placeholders(c->p, f->id_kind);
    if (!f->has_placeholders)
        return pc == NULL ? VST_E_OK
                          : pf_fail(c, path,
                                    "placeholder_column, but the profile lists no placeholders "
                                    "of this identifier");
    if (pc == NULL)
        return pf_fail(c, path,
                       "the profile lists placeholders of this identifier: name a "
                       "placeholder_column (a placeholder must not become one provider)");
    vst_err e = pf_column_ref(c, path, json_string_value(pc), VST_COL_TEXT, &f->placeholder_column);
    if (e)
        return e;
    if (!c->p->nullable[f->placeholder_column] || !c->p->nullable[f->column])
        return pf_fail(c, path, "a placeholder leaves columns NULL: declare them nullable");
    return VST_E_OK;
}

static vst_err place_pseudonymize(pf_lctx *c, const char *path, json_t *spec, pf_field *f,
                                  int parent_json)
{
    (void)parent_json;
    if (f->type != FT_IDENTIFIER)
        return pf_fail(c, path, "only identifiers can be pseudonymized");
    const char *dom = pf_get_str(spec, "domain");
    if (!vst_domain_name_ok(dom))
        return pf_fail(c, path, "domain must be 1..64 characters of [a-z0-9_./-]");
    if ((f->domain = domain_index(c, dom)) < 0)
        return pf_fail(c, path, "too many domains");
    int col;
    vst_err e = pf_column_ref(c, path, pf_get_str(spec, "column"), VST_COL_PSEUDONYM, &col);
    if (e)
        return e;
    f->column = col;
    json_t *id = json_object_get(spec, "identify"), *also = json_object_get(spec, "also");
    if ((id && (e = load_identify(c, path, id, f))) ||
        (e = load_placeholder_column(c, path, spec, f)))
        return e;
    /* One domain, one canonical form: pseudonyms of a whole LANR and of
     * its stem in one domain would silently never match. */
    size_t d = (size_t)f->domain;
    if (c->dom_to[d] == 0) {
        c->dom_kind[d] = f->id_kind;
        c->dom_from[d] = f->id_from;
        c->dom_to[d] = f->id_to;
    } else if (c->dom_kind[d] != f->id_kind || c->dom_from[d] != f->id_from ||
               c->dom_to[d] != f->id_to) {
        return pf_fail(c, path, "domain \"%s\" is used with another identifier or digit range",
                       dom);
    }
    return also ? load_also(c, path, also, f) : VST_E_OK;
}

/* Generalization rules of a field (an identifier's are its "also"). */
static const struct {
    const char *name;
    pf_rule rule;
    pf_type applies_to;
    const char *applies_msg;
    vst_col_type column; /* the column type its result goes to */
} gen_rules[] = {
    {"year", RULE_YEAR, FT_DATE, "rule year applies to dates", VST_COL_INT},
    {"prefix", RULE_PREFIX, FT_STRING, "rule prefix applies to strings", VST_COL_TEXT},
};

/* More than 2 leading postal digits name areas of a few thousand people:
 * with birth year and sex, small enough to re-identify some of them (the
 * BfD asks for 2). Allowed, but the load log line says so. */
static void note_long_prefix(pf_lctx *c, const char *path, unsigned len)
{
    char *w = c->p->warning;
    size_t used = strlen(w);
    snprintf(w + used, sizeof c->p->warning - used,
             "%s%s keeps %u leading characters (re-identification risk: more than 2 postal "
             "digits name small areas)",
             used ? "; " : "", path, len);
}

static vst_err place_generalize(pf_lctx *c, const char *path, json_t *spec, pf_field *f,
                                int parent_json)
{
    (void)parent_json;
    const char *rule = json_string_value(json_object_get(spec, "rule"));
    if (rule == NULL)
        return pf_fail(c, path, "generalize needs a \"rule\": year or prefix");
    f->nderived = 1;
    size_t r = 0;
    while (r < sizeof gen_rules / sizeof gen_rules[0] && strcmp(rule, gen_rules[r].name) != 0)
        r++;
    if (r == sizeof gen_rules / sizeof gen_rules[0])
        return pf_fail(c, path, "rule must be year or prefix");
    if (f->type != gen_rules[r].applies_to)
        return pf_fail(c, path, "%s", gen_rules[r].applies_msg);
    f->derived[0].rule = gen_rules[r].rule;
    if (gen_rules[r].rule == RULE_PREFIX) {
        json_t *len = json_object_get(spec, "length");
        if (!json_is_integer(len) || json_integer_value(len) < 1 || json_integer_value(len) > 16)
            return pf_fail(c, path, "rule prefix needs a length 1..16");
        f->derived[0].to = (unsigned)json_integer_value(len);
        if (f->derived[0].to > 2)
            note_long_prefix(c, path, f->derived[0].to);
    }
    return pf_column_ref(c, path, pf_get_str(spec, "column"), gen_rules[r].column,
                         &f->derived[0].column);
}

static vst_err place_keep(pf_lctx *c, const char *path, json_t *spec, pf_field *f, int parent_json)
{
    const char *col = pf_get_str(spec, "column");
    if (col == NULL) {
        if (parent_json < 0)
            return pf_fail(c, path, "keep without a column needs an enclosing json_column");
        if (json_object_get(spec, "column"))
            return pf_fail(c, path, "column must be a string");
        return VST_E_OK;
    }
    /* A string of integer codes may go to an integer column. */
    int found = pf_find_column(c->p, col);
    vst_col_type want;
    if (f->type == FT_INTEGER || (f->type == FT_STRING && f->str.enum_accepts_integer &&
                                  found >= 0 && c->p->columns[found].type == VST_COL_INT))
        want = VST_COL_INT;
    else if (f->type == FT_STRING || f->type == FT_DATE)
        want = VST_COL_TEXT;
    else
        return pf_fail(c, path, "a kept list goes into a json_column, not a column");
    return pf_column_ref(c, path, col, want, &f->column);
}

typedef vst_err (*action_place)(pf_lctx *c, const char *path, json_t *spec, pf_field *f,
                                int parent_json);

static const struct field_action {
    const char *name;
    pf_action act;
    action_place place;
} field_actions[] = {
    {"keep", ACT_KEEP, place_keep},
    {"drop", ACT_DROP, place_drop},
    {"pseudonymize", ACT_PSEUDONYMIZE, place_pseudonymize},
    {"generalize", ACT_GENERALIZE, place_generalize},
};

/* Keys that only one action may carry, checked in this order. */
static const struct {
    const char *key;
    pf_action owner;
    const char *msg;
} action_keys[] = {
    {"rule", ACT_GENERALIZE, "\"rule\" belongs to action generalize"},
    {"length", ACT_GENERALIZE, "\"length\" belongs to generalize rule prefix"},
    {"domain", ACT_PSEUDONYMIZE, "\"domain\"/\"also\" belong to action pseudonymize"},
    {"also", ACT_PSEUDONYMIZE, "\"domain\"/\"also\" belong to action pseudonymize"},
    {"identify", ACT_PSEUDONYMIZE, "\"identify\" belongs to action pseudonymize"},
    {"placeholder_column", ACT_PSEUDONYMIZE,
     "\"placeholder_column\" belongs to action pseudonymize"},
};

/* ---- a field spec ------------------------------------------------------- */

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static vst_err find_type(pf_lctx *c, const char *path, const char *type,
                         const struct field_type **out)
{
    for (size_t i = 0; i < COUNT(field_types); i++)
        if (strcmp(type, field_types[i].name) == 0) {
            *out = &field_types[i];
            return VST_E_OK;
        }
    return pf_fail(c, path,
                   "type must be object, string, identifier, integer, date, boolean or list");
}

static vst_err find_action(pf_lctx *c, const char *path, const char *act,
                           const struct field_action **out)
{
    if (act == NULL)
        return pf_fail(c, path, "needs an \"action\": keep, generalize, pseudonymize or drop");
    for (size_t i = 0; i < COUNT(field_actions); i++)
        if (strcmp(act, field_actions[i].name) == 0) {
            *out = &field_actions[i];
            return VST_E_OK;
        }
    return pf_fail(c, path, "action must be keep, generalize, pseudonymize or drop");
}

/* The type's own constraints, then the rules that tie type and action. */
static vst_err check_type_and_action(pf_lctx *c, const char *path, json_t *spec, pf_field *f,
                                     const struct field_type *t)
{
    vst_err e = t->check(c, path, spec, f);
    if (e)
        return e;
    if (!(t->actions & ACT(f->act)))
        return pf_fail(c, path, "%s", t->actions_msg);
    /* Free text could carry a name: a string that is kept, or cut to a
     * prefix, must be constrained by a pattern or an enum. */
    if (t->free_text && (f->act == ACT_KEEP || f->act == ACT_GENERALIZE) && !f->str.has_re &&
        f->str.nenum == 0)
        return pf_fail(c, path,
                       "a kept or generalized string needs a pattern or enum (free text "
                       "could carry a name)");
    for (size_t i = 0; i < COUNT(action_keys); i++)
        if (f->act != action_keys[i].owner && json_object_get(spec, action_keys[i].key) != NULL)
            return pf_fail(c, path, "%s", action_keys[i].msg);
    return VST_E_OK;
}

vst_err pf_load_field(pf_lctx *c, const char *path, json_t *spec, pf_field *f, int parent_json,
                      int always)
{
    if (!json_is_object(spec))
        return pf_fail(c, path, "field spec must be an object");
    const char *type = pf_get_str(spec, "type");
    json_t *req = json_object_get(spec, "required");
    if (req != NULL && !json_is_boolean(req))
        return pf_fail(c, path, "required must be true or false");
    f->required = json_is_true(req);
    f->column = -1;
    f->placeholder_column = -1;
    f->not_before = -1;
    if (type == NULL)
        return pf_fail(c, path, "needs a \"type\"");
    if (strcmp(type, "object") == 0) {
        f->type = FT_OBJECT;
        f->act = ACT_NEST;
        return pf_load_object(c, path, spec, f, always && f->required);
    }
    /* NULL for -O3's flow analysis: it cannot see that a lookup that fails
     * never returns VST_E_OK. */
    const struct field_type *t = NULL;
    const struct field_action *a = NULL;
    vst_err e;
    if ((e = find_type(c, path, type, &t)))
        return e;
    f->type = t->type;
    if ((e = pf_only_keys(c, path, spec, t->keys)) ||
        (e = find_action(c, path, pf_get_str(spec, "action"), &a)))
        return e;
    f->act = a->act;
    if ((e = check_type_and_action(c, path, spec, f, t)))
        return e;
    return a->place(c, path, spec, f, parent_json);
}
