/* The profile loader's working state and checks, shared by profile_load.c
 * (the document: top level, columns, objects, the column checks at the end)
 * and profile_fields.c (one field spec: its type, its action, where its
 * result goes). Internal to vstprofile. Every check that fails writes
 * "FILE: PATH: reason" and returns VST_E_PROFILE_INVALID. */
#ifndef VST_PROFILE_LOADER_H
#define VST_PROFILE_LOADER_H

#include <jansson.h>

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
    /* Per domain: the identifier kind and digit range its values have. */
    int dom_kind[PF_MAX_DOMAINS];
    unsigned dom_from[PF_MAX_DOMAINS], dom_to[PF_MAX_DOMAINS];
} pf_lctx;

/* Writes "FILE: PATH: <fmt>" into the caller's message; returns
 * VST_E_PROFILE_INVALID. */
__attribute__((format(printf, 3, 4))) vst_err pf_fail(pf_lctx *c, const char *path, const char *fmt,
                                                      ...);
/* path.name (or name at the top level) into out. */
void pf_subpath(char *out, size_t n, const char *path, const char *name);
/* Only keys from `allowed` (NULL-terminated) may appear in obj. */
vst_err pf_only_keys(pf_lctx *c, const char *path, json_t *obj, const char *const *allowed);
/* 1..max characters of [a-z0-9_] (and of extra, if given). */
int pf_name_ok(const char *s, size_t max, const char *extra);
/* The string value of obj.key, or NULL if absent or not a string. */
const char *pf_get_str(json_t *obj, const char *key);
/* Index of the declared column `name`, or -1. */
int pf_find_column(const vst_profile *p, const char *name);
/* Resolves a "column" key to the index of a column of type want. */
vst_err pf_column_ref(pf_lctx *c, const char *path, const char *name, vst_col_type want, int *out);

/* One field spec (profile_fields.c). parent_json is the enclosing object's
 * JSON column (or -1); always says whether the enclosing objects are all
 * required. */
vst_err pf_load_field(pf_lctx *c, const char *path, json_t *spec, pf_field *f, int parent_json,
                      int always);
/* An object spec and its fields (profile_load.c). */
vst_err pf_load_object(pf_lctx *c, const char *path, json_t *spec, pf_field *f, int always);

/* The profile's "placeholders" table (profile_placeholders.c); loaded
 * before the record, whose identifier fields check against it. */
vst_err pf_load_placeholders(pf_lctx *c, json_t *arr);
int pf_kind_has_placeholders(const vst_profile *p, int kind);
void pf_free_placeholders(vst_profile *p);

/* The release protection keys "quasi_identifiers", "generalizations" and
 * "rare_codes" (profile_release.c); loaded after the record and the column
 * checks, since they refer to both. */
vst_err pf_load_release(pf_lctx *c, json_t *root);
void pf_free_release(vst_profile *p);

/* The composite identifier of an object (its "composite" key), checked
 * after the object's fields (profile_link.c): always says whether the
 * object is reached through required objects only. */
vst_err pf_load_composite(pf_lctx *c, const char *path, json_t *spec, pf_field *obj, int always);
/* The top-level "strata" and the checks that tie the composite to the
 * columns, after the record (profile_link.c). */
vst_err pf_load_link(pf_lctx *c, json_t *root);
void pf_free_link(vst_profile *p);

#endif
