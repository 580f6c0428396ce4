/* Applying a profile to one NDJSON line: scan it (json_scan.c: strict,
 * no allocation, no copies), walk the record against the profile, collect
 * every error as (line, path, code), and fill a typed output row (its
 * memory and the error list are profile_row.c's). The
 * offending value never leaves this file: errors carry codes only, and the
 * scratch that held unescaped strings is wiped with the row. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/secmem.h"
#include "profile/json_scan.h"
#include "profile/profile_internal.h"

static int put_text(vst_row *r, int col, const char *s, size_t len)
{
    if (r->arena_cap - r->arena_used < len)
        return -1;
    char *dst = r->arena + r->arena_used;
    memcpy(dst, s, len);
    r->arena_used += len;
    r->values[col] = (vst_value){.s = dst, .len = len};
    return 0;
}

static void put_int(vst_row *r, int col, int64_t v)
{
    r->values[col] = (vst_value){.i = v};
}

/* ---- the walk ---- */

typedef struct {
    const vst_profile *p;
    vst_row *row;
    vst_errors *errs;
    uint64_t line;
    int32_t today;
    vst_err first;
    const char *buf; /* the line */
    const js_tok *tok;
    int32_t date; /* the last valid date leaf() saw, for "not_before" */
    int date_ok;
    /* The composite's fields as delivered (profile_link.c), pointing into
     * the line or the row's scratch: for vst_person_normalize. */
    const char *link_s[LINK_NROLES];
    size_t link_len[LINK_NROLES];
} actx;

/* Where an error is: the enclosing object's path, a field name and, for
 * list items, an index. Paths are only formatted when an error occurs. */
typedef struct {
    const char *obj;
    const char *name;
    long index;
} where;

static void err(actx *c, where w, vst_err code)
{
    char path[128];
    const char *sep = (w.obj[0] && w.name[0]) ? "." : "";
    if (w.index >= 0)
        snprintf(path, sizeof path, "%s%s%s[%ld]", w.obj, sep, w.name, w.index);
    else
        snprintf(path, sizeof path, "%s%s%s", w.obj, sep, w.name);
    if (c->first == VST_E_OK)
        c->first = code;
    vst_errors_add(c->errs, c->line, path, code);
}

static int json_put(actx *c, const char *s, size_t len)
{
    vst_row *r = c->row;
    if (r->arena_cap - r->arena_used < len)
        return -1;
    memcpy(r->arena + r->arena_used, s, len);
    r->arena_used += len;
    return 0;
}

static int json_put_str(actx *c, const char *s, size_t len)
{
    vst_row *r = c->row;
    return pf_json_escape(r->arena, r->arena_cap, &r->arena_used, s, len);
}

/* The unescaped bytes of a string token: in the line itself when it has no
 * escapes, else NUL-terminated in the row's scratch (wiped with the row).
 * Only *len bytes are the value: whatever follows (the line's closing quote,
 * or older scratch bytes) must never be read, so every conversion below is
 * given the length. The scratch always suffices: an escaped string decodes
 * to at least one byte less than its raw span, which leaves room for the
 * NUL, and the raw spans of one line add up to at most max_line; NULL (an
 * internal error) would mean that reasoning broke. */
static const char *str(actx *c, const js_tok *t, size_t *len)
{
    vst_row *r = c->row;
    const char *s =
        js_string(c->buf, t, r->scratch + r->scratch_used, r->scratch_cap - r->scratch_used, len);
    if (s != NULL && t->escaped)
        r->scratch_used += *len + 1;
    return s;
}

/* Checks a string-typed value (string field or list item). */
static vst_err string_value(actx *c, const pf_string *rules, const js_tok *t, const char **s,
                            size_t *len, char *numbuf, size_t numcap)
{
    if (t->type == JT_STRING) {
        if ((*s = str(c, t, len)) == NULL)
            return VST_E_INTERNAL;
    } else if (t->type == JT_INTEGER && rules->enum_accepts_integer) {
        int64_t v;
        if (js_integer(c->buf, t, &v) != 0)
            return VST_E_NOT_ALLOWED;
        int n = snprintf(numbuf, numcap, "%" PRId64, v);
        *s = numbuf;
        *len = (size_t)n;
    } else {
        return VST_E_WRONG_TYPE;
    }
    return pf_check_string(rules, *s, *len);
}

static int derive_text(actx *c, const pf_derived *d, const char *s, size_t len)
{
    if (d->rule == RULE_PREFIX)
        return put_text(c->row, d->column, s, len < d->to ? len : d->to);
    return put_text(c->row, d->column, s + d->from - 1, d->to - d->from + 1);
}

/* A placeholder value (profile_placeholders.c) names no provider: its
 * name goes into the field's placeholder column and no pseudonym is asked
 * for; the describing digits are kept as for any other value. */
static int placeholder(actx *c, const pf_field *f, const vst_id *id)
{
    const pf_placeholder *ph = pf_placeholder_find(c->p, f->id_kind, id->s, id->len);
    if (ph == NULL)
        return 0;
    return put_text(c->row, f->placeholder_column, ph->name, strlen(ph->name)) == 0 ? 1 : -1;
}

/* Queues the identifying digits id[from..to] for keyd, and keeps the
 * describing ones ("also"). */
static int pseudonymize(actx *c, const pf_field *f, const vst_id *id)
{
    vst_row *r = c->row;
    int fail = 0;
    int ph = f->has_placeholders ? placeholder(c, f, id) : 0;
    if (ph < 0)
        return -1;
    if (ph == 0) {
        if (r->nids == VST_ROW_MAX_IDS)
            return -1;
        vst_pending_id *pid = &r->ids[r->nids++];
        pid->column = (uint16_t)f->column;
        pid->domain = (uint16_t)f->domain;
        pid->id.kind = id->kind;
        pid->id.len = (unsigned char)(f->id_to - f->id_from + 1);
        memcpy(pid->id.s, id->s + f->id_from - 1, pid->id.len);
        pid->id.s[pid->id.len] = '\0';
    }
    for (size_t i = 0; i < f->nderived; i++)
        fail |= derive_text(c, &f->derived[i], id->s, id->len);
    return fail ? -1 : 0;
}

static int leaf_identifier(actx *c, const pf_field *f, const js_tok *t, where w)
{
    size_t len;
    vst_id id;
    int fail = 0;
    if (t->type != JT_STRING) {
        err(c, w, VST_E_WRONG_TYPE);
        return 0;
    }
    const char *s = str(c, t, &len);
    if (s == NULL) {
        err(c, w, VST_E_INTERNAL);
        return 0;
    }
    vst_err e = vst_id_parse((vst_id_kind)f->id_kind, s, len, &id);
    if (e != VST_E_OK) {
        err(c, w, e);
        return 0;
    }
    if (f->act == ACT_PSEUDONYMIZE)
        fail = pseudonymize(c, f, &id);
    vst_id_wipe(&id);
    return fail;
}

static int leaf_list(actx *c, const pf_field *f, const js_tok *t, where w, int into_json)
{
    char num[32];
    const char *s;
    size_t len;
    int fail = 0, ok = 1;
    if (t->type != JT_ARRAY) {
        err(c, w, VST_E_WRONG_TYPE);
        return 0;
    }
    if (t->count > f->max_items) {
        err(c, w, VST_E_TOO_MANY_ITEMS);
        return 0;
    }
    if (t->count < f->min_items) {
        err(c, w, VST_E_MISSING_FIELD);
        return 0;
    }
    /* Only a kept list is written (into its object's JSON column); a
     * dropped one is checked and nothing else. */
    size_t json_start = c->row->arena_used;
    if (into_json)
        fail |= json_put(c, "[", 1);
    const js_tok *item = t + 1;
    for (long i = 0; i < (long)t->count; i++, item = c->tok + item->next) {
        vst_err e = string_value(c, &f->str, item, &s, &len, num, sizeof num);
        if (e != VST_E_OK) {
            err(c, (where){w.obj, w.name, i}, e);
            ok = 0;
        } else if (ok && into_json) {
            fail |= (i > 0 && json_put(c, ",", 1)) || json_put_str(c, s, len);
        }
    }
    if (into_json)
        fail |= json_put(c, "]", 1);
    if (!ok)
        c->row->arena_used = json_start;
    return fail ? -1 : 0;
}

/* A kept enum of integers ("1", "3", "5" into an integer column): the value
 * matched the enum, which the loader checked to hold integers that fit;
 * converted from exactly len bytes (s is not NUL-terminated when it points
 * into the line). */
static int keep_enum_int(actx *c, const pf_field *f, const char *s, size_t len, where w)
{
    int64_t v;
    if (pf_parse_int64(s, len, &v) != 0) {
        err(c, w, VST_E_INTERNAL);
        return 0;
    }
    put_int(c->row, f->column, v);
    return 0;
}

/* A field of the composite: its value, for make_person. */
static void note_link(actx *c, const pf_field *f, const char *s, size_t len)
{
    c->link_s[f->link_role - 1] = s;
    c->link_len[f->link_role - 1] = len;
}

static int leaf_boolean(actx *c, const pf_field *f, const js_tok *t, where w, int into_json)
{
    if (t->type != JT_TRUE && t->type != JT_FALSE) {
        err(c, w, VST_E_WRONG_TYPE);
        return 0;
    }
    if (f->act == ACT_KEEP && into_json)
        return (t->type == JT_TRUE ? json_put(c, "true", 4) : json_put(c, "false", 5)) ? -1 : 0;
    return 0;
}

/* A date: valid, in range; its year, or itself, kept as the action says. */
static int leaf_date(actx *c, const pf_field *f, const js_tok *t, where w, int into_json)
{
    const char *s;
    size_t len;
    int32_t days;
    int year, fail = 0;
    vst_err e;
    if (t->type != JT_STRING) {
        err(c, w, VST_E_WRONG_TYPE);
        return 0;
    }
    if ((s = str(c, t, &len)) == NULL) {
        err(c, w, VST_E_INTERNAL);
        return 0;
    }
    if ((e = pf_parse_date(s, len, &days, &year)) != VST_E_OK) {
        err(c, w, e);
        return 0;
    }
    if (days < f->dmin || days > (f->dmax_today ? c->today : f->dmax)) {
        err(c, w, VST_E_DATE_RANGE);
        return 0;
    }
    c->date = days;
    c->date_ok = 1;
    if (f->link_role)
        note_link(c, f, s, len);
    if (f->act == ACT_GENERALIZE)
        put_int(c->row, f->derived[0].column, year);
    else if (f->act == ACT_KEEP && into_json)
        fail |= json_put_str(c, s, len);
    else if (f->act == ACT_KEEP)
        fail |= put_text(c->row, f->column, s, len);
    return fail ? -1 : 0;
}

/* Validates one non-object value and writes what the action keeps. Returns
 * -1 only when the row's arena overflows (an internal limit). */
static int leaf(actx *c, const pf_field *f, const js_tok *t, where w, int into_json)
{
    char num[32];
    const char *s = NULL;
    size_t len = 0;
    vst_err e;
    int fail = 0;

    switch (f->type) {
    case FT_IDENTIFIER:
        return leaf_identifier(c, f, t, w);
    case FT_LIST:
        return leaf_list(c, f, t, w, into_json);
    case FT_STRING:
        if ((e = string_value(c, &f->str, t, &s, &len, num, sizeof num)) != VST_E_OK) {
            err(c, w, e);
            return 0;
        }
        if (f->link_role) /* a string, never num: the loader refuses accept_integer */
            note_link(c, f, s, len);
        if (f->act == ACT_GENERALIZE)
            fail |= derive_text(c, &f->derived[0], s, len);
        else if (f->act == ACT_KEEP && into_json)
            fail |= json_put_str(c, s, len);
        else if (f->act == ACT_KEEP && c->p->columns[f->column].type == VST_COL_INT)
            fail |= keep_enum_int(c, f, s, len, w); /* an enum of integers */
        else if (f->act == ACT_KEEP)
            fail |= put_text(c->row, f->column, s, len);
        break;
    case FT_INTEGER: {
        int64_t iv;
        if (t->type != JT_INTEGER) {
            err(c, w, VST_E_WRONG_TYPE);
            return 0;
        }
        if (js_integer(c->buf, t, &iv) != 0 || iv < f->imin || iv > f->imax) {
            err(c, w, VST_E_OUT_OF_RANGE);
            return 0;
        }
        if (f->act == ACT_KEEP && into_json) {
            int n = snprintf(num, sizeof num, "%" PRId64, iv);
            fail |= json_put(c, num, (size_t)n);
        } else if (f->act == ACT_KEEP) {
            put_int(c->row, f->column, iv);
        }
        break;
    }
    case FT_DATE:
        return leaf_date(c, f, t, w, into_json);
    case FT_BOOLEAN:
        return leaf_boolean(c, f, t, w, into_json);
    default:
        break;
    }
    return fail ? -1 : 0;
}

/* A key the profile doesn't know is reported by name only if it looks like
 * a field name ([a-z_], at most 32): such a name carries no identifier, and
 * no proper name either (those are capitalized). Anything else is reported
 * by its position in the object. */
static void unknown_key(actx *c, const js_tok *key, const char *obj, long pos)
{
    char name[40];
    size_t len, i = 0;
    const char *k = key->escaped ? NULL : c->buf + key->start;
    len = key->len;
    while (k != NULL && i < len && i < 32 && ((k[i] >= 'a' && k[i] <= 'z') || k[i] == '_'))
        i++;
    if (k != NULL && len > 0 && i == len) {
        memcpy(name, k, len);
        name[len] = '\0';
    } else {
        snprintf(name, sizeof name, "<key #%ld>", pos + 1);
    }
    err(c, (where){obj, name, -1}, VST_E_UNKNOWN_FIELD);
}

static void walk_object(actx *c, const pf_field *spec, const js_tok *obj, const char *path);

/* Matches the record's members to the profile's fields in one pass;
 * anything unmatched is an error (an allowlist: nothing passes unnamed). */
static void match_members(actx *c, const pf_field *spec, const js_tok *obj, const char *path,
                          const js_tok *slot[PF_MAX_FIELDS])
{
    const js_tok *key = obj + 1;
    for (long m = 0; m < (long)obj->count; m++) {
        const js_tok *val = key + 1;
        size_t i = 0;
        while (i < spec->nfields &&
               !js_string_eq(c->buf, key, spec->fields[i].name, strlen(spec->fields[i].name)))
            i++;
        if (i == spec->nfields)
            unknown_key(c, key, path, m);
        else
            slot[i] = val;
        key = c->tok + val->next;
    }
}

/* The object's groups: at most one of each exclusive group, at least one
 * of each one-of group (present: a bit per field). */
static void check_groups(actx *c, const pf_field *spec, uint32_t present, const char *path)
{
    for (size_t g = 0; g < spec->nexclusive; g++) {
        uint32_t both = present & spec->exclusive[g];
        if (both & (both - 1)) { /* two or more present: name the last one */
            size_t last = 31 - (size_t)__builtin_clz(both);
            err(c, (where){path, spec->fields[last].name, -1}, VST_E_CONFLICT);
        }
    }
    for (size_t g = 0; g < spec->none_of; g++) {
        if ((present & spec->one_of[g]) == 0) {
            /* Path "provider.lanr|ik": the alternatives, one of them required. */
            char alts[96];
            int n = 0;
            alts[0] = '\0';
            for (size_t i = 0; i < spec->nfields && n >= 0 && (size_t)n < sizeof alts; i++)
                if (spec->one_of[g] >> i & 1)
                    n += snprintf(alts + n, sizeof alts - (size_t)n, "%s%s", n ? "|" : "",
                                  spec->fields[i].name);
            err(c, (where){path, alts, -1}, VST_E_MISSING_FIELD);
        }
    }
}

/* What walking one object gathers: which fields were present, how many
 * went into its JSON column, and the valid dates ("not_before"). */
typedef struct {
    uint32_t present, dated;
    int nkept;
    int32_t days[PF_MAX_FIELDS];
} objwalk;

/* One member of an object: present or missing, null, a nested object or a
 * leaf. Returns -1 only when the row's arena overflows. */
static int walk_member(actx *c, const pf_field *spec, size_t i, const js_tok *v, const char *path,
                       int json_here, objwalk *ow)
{
    const pf_field *f = &spec->fields[i];
    where w = {path, f->name, -1};
    int fail = 0;
    if (v == NULL) {
        if (f->required)
            err(c, w, VST_E_MISSING_FIELD);
        return 0;
    }
    if (v->type == JT_NULL) {
        err(c, w, VST_E_NULL_VALUE);
        return 0;
    }
    ow->present |= 1u << i;
    if (f->type == FT_OBJECT) {
        char sub[128];
        if (v->type != JT_OBJECT) {
            err(c, w, VST_E_NOT_OBJECT);
            return 0;
        }
        snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", f->name);
        walk_object(c, f, v, sub);
        return 0;
    }
    if (json_here) {
        /* "name": value */
        fail |= (ow->nkept++ > 0 && json_put(c, ",", 1)) ||
                json_put_str(c, f->name, strlen(f->name)) || json_put(c, ":", 1);
    }
    c->date_ok = 0;
    fail |= leaf(c, f, v, w, json_here);
    if (f->type == FT_DATE && c->date_ok) {
        ow->days[i] = c->date;
        ow->dated |= 1u << i;
    }
    return fail;
}

/* Cross-field rules the profile declares: a date "not_before" a sibling
 * date (death after birth). Checked only when both dates are valid; the
 * error names the later field, never a value. */
static void check_order(actx *c, const pf_field *spec, const objwalk *ow, const char *path)
{
    for (size_t i = 0; i < spec->nfields; i++) {
        int nb = spec->fields[i].not_before;
        if (nb >= 0 && (ow->dated >> i & 1) && (ow->dated >> nb & 1) && ow->days[i] < ow->days[nb])
            err(c, (where){path, spec->fields[i].name, -1}, VST_E_DATE_ORDER);
    }
}

/* The person of a composite object whose fields were all valid
 * (profile_link.c). A name that normalizes to nothing is an error of that
 * field, by its code and path only. */
static void make_person(actx *c, const pf_field *spec, const char *path)
{
    const char *field = "";
    vst_err e = pf_link_person(c->p, spec, c->link_s, c->link_len, &c->row->person, &field);
    if (e == VST_E_OK)
        c->row->has_person = 1;
    else
        err(c, (where){path, field, -1}, e);
}

static void walk_object(actx *c, const pf_field *spec, const js_tok *obj, const char *path)
{
    const js_tok *slot[PF_MAX_FIELDS] = {0};
    uint64_t errors_before = c->errs->total;
    if (spec->composite)
        memset(c->link_s, 0, sizeof c->link_s);
    match_members(c, spec, obj, path, slot);
    objwalk ow = {0};
    size_t json_start = c->row->arena_used;
    int into_json = spec->json_column >= 0, fail = 0;
    if (into_json)
        fail |= json_put(c, "{", 1);
    /* Two passes: first the members of the object's JSON column, then every
     * other field, so that nothing else (a prefix, an identifier's digits, a
     * nested object) is written into the arena in the middle of the JSON. */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && into_json) {
            fail |= json_put(c, "}", 1);
            vst_row *r = c->row;
            r->values[spec->json_column] =
                (vst_value){.s = r->arena + json_start, .len = r->arena_used - json_start};
        }
        for (size_t i = 0; i < spec->nfields; i++) {
            const pf_field *f = &spec->fields[i];
            int json_here =
                into_json && f->type != FT_OBJECT && f->act == ACT_KEEP && f->column < 0;
            if (json_here == (pass == 0))
                fail |= walk_member(c, spec, i, slot[i], path, json_here, &ow);
        }
    }
    check_groups(c, spec, ow.present, path);
    check_order(c, spec, &ow, path);
    if (fail)
        err(c, (where){path, "", -1}, VST_E_INTERNAL);
    else if (spec->composite && c->errs->total == errors_before)
        make_person(c, spec, path);
}

static int blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return 0;
    return 1;
}

vst_err vst_profile_apply(const vst_profile *p, const char *line, size_t len, uint64_t lineno,
                          vst_row *row, vst_errors *errs)
{
    actx c = {.p = p, .row = row, .errs = errs, .line = lineno, .today = pf_today(), .buf = line};
    where top = {"", "", -1};
    vst_row_clear(row);
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len > p->max_line) {
        err(&c, top, VST_E_LINE_TOO_LONG);
        return c.first;
    }
    if (blank(line, len)) {
        err(&c, top, VST_E_EMPTY_LINE);
        return c.first;
    }
    js_doc doc = {.tok = row->tokens, .cap = row->tokens_cap};
    vst_err e = js_scan(&doc, line, len);
    if (e != VST_E_OK) {
        err(&c, top, e);
        return c.first;
    }
    c.tok = doc.tok;
    if (doc.tok[0].type != JT_OBJECT)
        err(&c, top, VST_E_NOT_OBJECT);
    else
        walk_object(&c, &p->record, &doc.tok[0], "");
    if (c.first == VST_E_OK) {
        /* The profile check guarantees NOT NULL columns are written; a
         * pseudonym or control column is filled after keyd answers. */
        for (size_t i = 0; i < p->ncolumns; i++) {
            int pending = p->columns[i].type == VST_COL_CONTROL && row->has_person;
            for (size_t k = 0; k < row->nids; k++)
                pending |= row->ids[k].column == i;
            if (!p->nullable[i] && row->values[i].is_null && !pending)
                err(&c, top, VST_E_INTERNAL);
        }
    }
    if (c.first != VST_E_OK)
        vst_row_clear(row);
    return c.first;
}
