/* A profile's composite identifier and its strata (DESIGN.md §13,
 * docs/profiles.md "Composite identifiers"). An object of the record names
 * the fields that identify a person without a number:
 *
 *   "composite": {"domain": "ph/child", "collection": "measles_case",
 *                 "given": "given_names", "family": "family_names",
 *                 "birth": "birth_name", "birth_date": "birth_date",
 *                 "sex": "sex"}
 *
 * vst-httpd turns those fields (normalized, linkage/normalize.h) into six
 * control values by keyd's CV_DERIVE and stores them in the six control
 * columns cv_<key>; the names themselves are dropped. The top-level
 * "strata" names the keys of one JSON column that an overlap query may
 * filter on. Checked as strictly as the rest of the file: a name field
 * that could be kept, a control column that could stay empty or a stratum
 * that is no kept key would leak a name or make a count quietly wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/domain.h"
#include "linkage/normalize.h"
#include "profile/profile_loader.h"

/* The contract's names (wire/codec_link.h vst_link_key_name); the store's
 * columns are cv_<name>. */
static const char *const key_names[PF_LINK_KEYS] = {"exact",    "phonetic", "swapped",
                                                    "daymonth", "year",     "birthname"};

const char *pf_link_key_name(unsigned k)
{
    return k < PF_LINK_KEYS ? key_names[k] : NULL;
}

/* The composite's keys: the JSON key, its role, and what the field must be. */
static const struct {
    const char *key;
    pf_link_role role;
    pf_type type;
    int required; /* the field must be required (every row needs it) */
} roles[] = {
    {"given", LINK_GIVEN, FT_STRING, 1}, {"family", LINK_FAMILY, FT_STRING, 1},
    {"birth", LINK_BIRTH, FT_STRING, 0}, {"birth_date", LINK_DATE, FT_DATE, 1},
    {"sex", LINK_SEX, FT_STRING, 1},
};
#define NROLES (sizeof roles / sizeof roles[0])

static vst_err load_role(pf_lctx *c, const char *path, json_t *spec, pf_field *obj, size_t r)
{
    pf_link *l = &c->p->link;
    json_t *v = json_object_get(spec, roles[r].key);
    l->field[roles[r].role] = -1;
    if (v == NULL && !roles[r].required)
        return VST_E_OK;
    const char *name = json_string_value(v);
    if (name == NULL)
        return pf_fail(c, path, "composite needs \"%s\": the name of a field of this object",
                       roles[r].key);
    size_t i = 0;
    while (i < obj->nfields && strcmp(obj->fields[i].name, name) != 0)
        i++;
    if (i == obj->nfields)
        return pf_fail(c, path, "composite.%s names \"%.32s\", which is not a field of this object",
                       roles[r].key, name);
    pf_field *f = &obj->fields[i];
    char sp[192];
    pf_subpath(sp, sizeof sp, path, f->name);
    if (f->link_role != 0)
        return pf_fail(c, sp, "is named twice in composite");
    if (f->type != roles[r].type || (f->type == FT_STRING && f->str.enum_accepts_integer))
        return pf_fail(c, sp, "composite.%s must name a %s field", roles[r].key,
                       roles[r].type == FT_DATE ? "date" : "string");
    /* A name reaches keyd only normalized, and the store never. */
    if (roles[r].type == FT_STRING && roles[r].role != LINK_SEX && f->act != ACT_DROP)
        return pf_fail(c, sp, "a name field of a composite must have action \"drop\"");
    if (roles[r].required && !f->required)
        return pf_fail(c, sp,
                       "composite.%s must be a required field (every row needs its control "
                       "values)",
                       roles[r].key);
    f->link_role = 1 + (int)roles[r].role;
    l->field[roles[r].role] = (int)i;
    return VST_E_OK;
}

vst_err pf_load_composite(pf_lctx *c, const char *path, json_t *spec, pf_field *obj, int always)
{
    static const char *const keys[] = {"domain",     "family",     "given",       "birth", "sex",
                                       "collection", "birth_date", "description", NULL};
    char sp[160];
    pf_link *l = &c->p->link;
    pf_subpath(sp, sizeof sp, path, "composite");
    if (!json_is_object(spec))
        return pf_fail(c, sp, "must be an object");
    if (l->domain != NULL)
        return pf_fail(c, sp, "a profile has at most one composite identifier");
    vst_err e = pf_only_keys(c, sp, spec, keys);
    if (e)
        return e;
    const char *dom = pf_get_str(spec, "domain"), *coll = pf_get_str(spec, "collection");
    if (dom == NULL || !vst_domain_name_ok(dom))
        return pf_fail(c, sp, "domain must be 1..64 characters of [a-z0-9_./-]");
    if (coll == NULL || !vst_domain_name_ok(coll))
        return pf_fail(c, sp, "collection must be 1..64 characters of [a-z0-9_./-]");
    if (!always)
        return pf_fail(c, path,
                       "the object of a composite must be required, and so must the objects "
                       "around it (every row needs its control values)");
    for (size_t r = 0; r < NROLES; r++)
        if ((e = load_role(c, path, spec, obj, r)))
            return e;
    if ((l->domain = strdup(dom)) == NULL || (l->collection = strdup(coll)) == NULL)
        return VST_E_NOMEM;
    obj->composite = 1;
    /* The control columns are written whenever a row is: by keyd's answer. */
    for (unsigned k = 0; k < PF_LINK_KEYS; k++) {
        char col[16];
        snprintf(col, sizeof col, "cv_%s", pf_link_key_name(k));
        int i = pf_find_column(c->p, col);
        if (i < 0 || c->p->columns[i].type != VST_COL_CONTROL)
            return pf_fail(c, sp, "needs the control column \"%s\" (type control) in \"columns\"",
                           col);
        if (c->p->nullable[i])
            return pf_fail(c, sp, "control column \"%s\" must not be nullable", col);
        l->columns[k] = i;
        c->writers[i]++;
        c->always[i] = 1;
    }
    return VST_E_OK;
}

/* The JSON column that keeps `name` as a scalar member (kept, no column of
 * its own, not a list or object), searched depth first; *found counts the
 * objects that do (a stratum must be unambiguous). */
static void find_kept_key(const pf_field *obj, const char *name, int *column, int *found)
{
    for (size_t i = 0; i < obj->nfields; i++) {
        const pf_field *f = &obj->fields[i];
        if (f->type == FT_OBJECT)
            find_kept_key(f, name, column, found);
        else if (obj->json_column >= 0 && f->act == ACT_KEEP && f->column < 0 &&
                 f->type != FT_LIST && strcmp(f->name, name) == 0) {
            *column = obj->json_column;
            (*found)++;
        }
    }
}

static vst_err load_strata(pf_lctx *c, json_t *arr)
{
    pf_link *l = &c->p->link;
    if (l->domain == NULL)
        return pf_fail(c, "strata", "strata filter an overlap query: they need a composite");
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > PF_MAX_STRATA)
        return pf_fail(c, "strata", "must be an array of 1..%d key names", PF_MAX_STRATA);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char path[64];
        snprintf(path, sizeof path, "strata[%zu]", i);
        const char *name = json_string_value(v);
        if (name == NULL || !pf_name_ok(name, 32, NULL))
            return pf_fail(c, path, "must be the name of a kept key of a json_column");
        for (size_t k = 0; k < l->nstrata; k++)
            if (strcmp(l->strata[k], name) == 0)
                return pf_fail(c, path, "\"%s\" is already strata[%zu]", name, k);
        int column = -1, found = 0;
        find_kept_key(&c->p->record, name, &column, &found);
        if (found == 0)
            return pf_fail(c, path,
                           "\"%s\" is not a kept key of a json_column (a scalar field with "
                           "action keep and no column of its own)",
                           name);
        if (found > 1)
            return pf_fail(c, path, "\"%s\" is kept by more than one object", name);
        if (l->nstrata > 0 && column != l->strata_column)
            return pf_fail(c, path, "all strata must be keys of one json_column");
        l->strata_column = column;
        if ((l->strata[l->nstrata] = strdup(name)) == NULL)
            return VST_E_NOMEM;
        l->nstrata++;
    }
    return VST_E_OK;
}

vst_err pf_load_link(pf_lctx *c, json_t *root)
{
    vst_profile *p = c->p;
    json_t *strata = json_object_get(root, "strata");
    p->link.strata_column = -1;
    if (p->link.domain == NULL) {
        for (size_t i = 0; i < p->ncolumns; i++)
            if (p->columns[i].type == VST_COL_CONTROL) {
                char sp[64];
                snprintf(sp, sizeof sp, "columns[%zu]", i);
                return pf_fail(c, sp, "a control column needs a \"composite\" in the record");
            }
    } else {
        size_t ncontrol = 0;
        for (size_t i = 0; i < p->ncolumns; i++)
            ncontrol += p->columns[i].type == VST_COL_CONTROL;
        if (ncontrol != PF_LINK_KEYS)
            return pf_fail(c, "columns",
                           "a composite profile declares exactly the %d control columns "
                           "cv_exact, cv_phonetic, cv_swapped, cv_daymonth, cv_year, cv_birthname",
                           PF_LINK_KEYS);
        /* One row, one key version: pseudonyms and control values would
         * come from two keyd calls, across a rotation perhaps. */
        if (p->ndomains > 0)
            return pf_fail(c, "record",
                           "a composite profile pseudonymizes no identifier (a row has one key "
                           "version)");
    }
    return strata != NULL ? load_strata(c, strata) : VST_E_OK;
}

void pf_free_link(vst_profile *p)
{
    free(p->link.domain);
    free(p->link.collection);
    for (size_t i = 0; i < p->link.nstrata; i++)
        free(p->link.strata[i]);
}

/* ---- a record's person -------------------------------------------------- */

vst_err pf_link_person(const vst_profile *p, const pf_field *obj, const char *const s[LINK_NROLES],
                       const size_t len[LINK_NROLES], vst_person *out, const char **field)
{
    const pf_link *l = &p->link;
    *field = "";
    /* Required fields, so the walk found them; birth may be absent. */
    if (s[LINK_GIVEN] == NULL || s[LINK_FAMILY] == NULL || s[LINK_DATE] == NULL ||
        s[LINK_SEX] == NULL)
        return VST_E_INTERNAL;
    vst_person_raw raw = {
        .given = s[LINK_GIVEN],
        .given_len = len[LINK_GIVEN],
        .family = s[LINK_FAMILY],
        .family_len = len[LINK_FAMILY],
        .birth = s[LINK_BIRTH],
        .birth_len = s[LINK_BIRTH] != NULL ? len[LINK_BIRTH] : 0,
        .date = s[LINK_DATE],
        .date_len = len[LINK_DATE],
        .sex = s[LINK_SEX],
        .sex_len = len[LINK_SEX],
    };
    const char *which = NULL;
    vst_err e = vst_person_normalize(&raw, out, &which);
    if (e == VST_E_OK)
        return e;
    /* which is the normalizer's name of the field; the record's may differ. */
    static const char *const names[LINK_NROLES] = {"given_names", "family_names", "birth_name",
                                                   "birth_date", "sex"};
    for (int r = 0; which != NULL && r < LINK_NROLES; r++)
        if (strcmp(which, names[r]) == 0 && l->field[r] >= 0)
            *field = obj->fields[l->field[r]].name;
    return e;
}

/* ---- the API ------------------------------------------------------------ */

const char *vst_profile_link_domain(const vst_profile *p)
{
    return p->link.domain;
}

const char *vst_profile_link_collection(const vst_profile *p)
{
    return p->link.collection;
}

const char *vst_profile_link_column(const vst_profile *p, unsigned key)
{
    if (p->link.domain == NULL || key >= PF_LINK_KEYS)
        return NULL;
    return p->columns[p->link.columns[key]].name;
}

size_t vst_profile_nstrata(const vst_profile *p)
{
    return p->link.nstrata;
}

const char *vst_profile_stratum(const vst_profile *p, size_t i)
{
    return i < p->link.nstrata ? p->link.strata[i] : NULL;
}

const char *vst_profile_strata_column(const vst_profile *p)
{
    return p->link.strata_column >= 0 ? p->columns[p->link.strata_column].name : NULL;
}
