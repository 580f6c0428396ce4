/* A profile's placeholder numbers (DESIGN.md §5, docs/profiles.md
 * "Placeholders"): identifier values that pass every check digit but name
 * no provider (a LANR for dentists and midwives, the hospital discharge
 * prefix, the substitute practice number). Pseudonymized, each would become
 * one giant fake provider; instead the engine writes the entry's name into
 * the field's placeholder_column and no pseudonym. The table is data in the
 * profile, loaded and checked here; pf_placeholder_find is the lookup the
 * engine runs for every identifier of a kind that has entries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile/profile_loader.h"

static vst_err load_entry(pf_lctx *c, const char *path, json_t *e, pf_placeholder *ph)
{
    static const char *const keys[] = {"identifier", "number",      "prefix",
                                       "name",       "description", NULL};
    if (!json_is_object(e))
        return pf_fail(c, path, "must be an object");
    vst_err err = pf_only_keys(c, path, e, keys);
    if (err)
        return err;
    const char *kind = pf_get_str(e, "identifier"), *name = pf_get_str(e, "name");
    const char *num = pf_get_str(e, "number"), *pre = pf_get_str(e, "prefix");
    if (kind == NULL || (ph->kind = vst_id_kind_from_name(kind)) < 0)
        return pf_fail(c, path, "identifier must be kvnr, lanr, bsnr or ik");
    if (name == NULL || !pf_name_ok(name, 32, NULL))
        return pf_fail(c, path, "name must be 1..32 characters of [a-z0-9_]");
    if ((num == NULL) == (pre == NULL))
        return pf_fail(c, path, "needs either a \"number\" or a \"prefix\"");
    size_t idlen = ph->kind == VST_ID_KVNR ? 10 : 9;
    if (num != NULL) {
        /* A placeholder is a valid identifier: it is validated as any other
         * value before it is looked up, so an invalid one could never match. */
        vst_id id;
        if (vst_id_parse((vst_id_kind)ph->kind, num, strlen(num), &id) != VST_E_OK ||
            strcmp(id.s, num) != 0)
            return pf_fail(c, path, "number must be a valid %s in canonical form", kind);
        vst_id_wipe(&id);
    } else {
        size_t n = strlen(pre);
        if (n == 0 || n >= idlen || strspn(pre, "0123456789") != n)
            return pf_fail(c, path, "prefix must be 1..%zu digits", idlen - 1);
    }
    const char *v = num != NULL ? num : pre;
    ph->len = (unsigned char)strlen(v);
    memcpy(ph->digits, v, ph->len + 1u);
    ph->prefix = pre != NULL;
    return (ph->name = strdup(name)) == NULL ? VST_E_NOMEM : VST_E_OK;
}

vst_err pf_load_placeholders(pf_lctx *c, json_t *arr)
{
    if (!json_is_array(arr) || json_array_size(arr) > PF_MAX_PLACEHOLDERS)
        return pf_fail(c, "placeholders", "must be an array of at most %d entries",
                       PF_MAX_PLACEHOLDERS);
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        char path[64];
        snprintf(path, sizeof path, "placeholders[%zu]", i);
        pf_placeholder *ph = &c->p->placeholders[c->p->nplaceholders];
        vst_err err = load_entry(c, path, e, ph);
        if (err)
            return err;
        c->p->nplaceholders++;
        for (size_t k = 0; k + 1 < c->p->nplaceholders; k++) {
            const pf_placeholder *o = &c->p->placeholders[k];
            size_t n = o->len < ph->len ? o->len : ph->len;
            /* Two entries that can match one value would make the name
             * depend on the order of the table. */
            if (o->kind == ph->kind && memcmp(o->digits, ph->digits, n) == 0 &&
                (o->prefix || ph->prefix || o->len == ph->len))
                return pf_fail(c, path, "overlaps placeholders[%zu]", k);
        }
    }
    return VST_E_OK;
}

int pf_kind_has_placeholders(const vst_profile *p, int kind)
{
    for (size_t i = 0; i < p->nplaceholders; i++)
        if (p->placeholders[i].kind == kind)
            return 1;
    return 0;
}

const pf_placeholder *pf_placeholder_find(const vst_profile *p, int kind, const char *s, size_t len)
{
    for (size_t i = 0; i < p->nplaceholders; i++) {
        const pf_placeholder *ph = &p->placeholders[i];
        if (ph->kind == kind && ph->digits[0] == s[0] &&
            (ph->prefix ? ph->len < len : ph->len == len) && memcmp(ph->digits, s, ph->len) == 0)
            return ph;
    }
    return NULL;
}

void pf_free_placeholders(vst_profile *p)
{
    for (size_t i = 0; i < p->nplaceholders; i++)
        free(p->placeholders[i].name);
}
