/* The in-memory form of a loaded profile, shared by profile_load.c and
 * profile_fields.c (which build and check it, profile_loader.h),
 * profile_rules.c (value checks) and profile_apply.c (which walks a record
 * against it). Not part of the public API. */
#ifndef VST_PROFILE_INTERNAL_H
#define VST_PROFILE_INTERNAL_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include "profile/profile.h"

#define PF_MAX_FIELDS 32
#define PF_MAX_DEPTH 4
#define PF_MAX_COLUMNS 32
#define PF_MAX_DOMAINS 16
#define PF_MAX_DERIVED 4
#define PF_MAX_GROUPS 4
#define PF_MAX_ENUM 16
#define PF_MAX_PLACEHOLDERS 16
#define PF_MAX_QI 8
#define PF_MAX_LADDER 4
#define PF_MAX_RARE 16
#define PF_MAX_STRATA 8
/* The linkage keys (= VST_LINK_NKEYS of wire/codec_link.h, which the
 * profile engine does not link; test_profile checks that both agree). */
#define PF_LINK_KEYS 6

typedef enum {
    FT_OBJECT,
    FT_STRING,
    FT_DATE,
    FT_INTEGER,
    FT_LIST,
    FT_IDENTIFIER,
    FT_BOOLEAN
} pf_type;
typedef enum { ACT_KEEP, ACT_DROP, ACT_PSEUDONYMIZE, ACT_GENERALIZE, ACT_NEST } pf_action;
/* Generalization rules: year of a date, first n characters, digits a..b of
 * an identifier (1-based, inclusive). */
typedef enum { RULE_YEAR, RULE_PREFIX, RULE_DIGITS } pf_rule;

typedef struct {
    pf_rule rule;
    unsigned from, to; /* RULE_DIGITS: 1-based inclusive; RULE_PREFIX: to = length */
    int column;
} pf_derived;

/* Constraints on a string (also list items). */
typedef struct {
    regex_t re;
    int has_re;
    size_t max_length; /* in bytes; 0 = the profile's default */
    char *enums[PF_MAX_ENUM];
    size_t nenum;
    int enum_accepts_integer; /* "1" may also arrive as the JSON number 1 */
} pf_string;

typedef struct pf_field pf_field;

struct pf_field {
    char *name;
    pf_type type;
    pf_action act;
    int required;
    pf_string str;               /* FT_STRING, and FT_LIST items */
    int64_t imin, imax;          /* FT_INTEGER */
    int32_t dmin, dmax;          /* FT_DATE, days since 1970-01-01 */
    int dmax_today;              /* FT_DATE: max is the current UTC date */
    size_t min_items, max_items; /* FT_LIST */
    int column;                  /* ACT_KEEP to a column (or -1: into the parent's JSON) */
    int id_kind;                 /* FT_IDENTIFIER: vst_id_kind */
    /* FT_IDENTIFIER: the identifying digits a..b (1-based, inclusive; the
     * whole identifier unless the profile says "identify"): exactly these
     * bytes are handed to keyd. */
    unsigned id_from, id_to;
    int placeholder_column; /* text column for a placeholder's name, or -1 */
    int has_placeholders;   /* the profile lists placeholders of this kind */
    int not_before;         /* FT_DATE: index of a sibling date it may not precede, or -1 */
    int domain;             /* ACT_PSEUDONYMIZE: index into profile domains */
    pf_derived derived[PF_MAX_DERIVED];
    size_t nderived;
    /* A field of the composite (profile_link.c): 1 + its pf_link_role, or
     * 0. profile_apply.c keeps its value for vst_person_normalize. */
    int link_role;
    /* FT_OBJECT */
    int composite; /* this object holds the profile's composite identifier */
    pf_field *fields;
    size_t nfields;
    int json_column; /* kept children are collected into this JSON column, or -1 */
    /* field-index bitmasks: at most one of each exclusive group may be present;
     * at least one of each one_of group must be present */
    uint32_t exclusive[PF_MAX_GROUPS];
    size_t nexclusive;
    uint32_t one_of[PF_MAX_GROUPS];
    size_t none_of;
};

/* A placeholder number (docs/profiles.md "Placeholders"): a valid value of
 * an identifier kind that names no provider; matched on the canonical form,
 * exactly (len == the identifier's length) or as a prefix. */
typedef struct {
    int kind;
    char digits[VST_ID_MAXLEN + 1];
    unsigned char len;
    unsigned char prefix;
    char *name;
} pf_placeholder;

/* A quasi-identifier's generalization ladder (profile_release.c): the rule
 * strings as the profile writes them (each parses with vst_gen_rule_parse),
 * mildest first. */
typedef struct {
    int column;
    const char *steps[PF_MAX_LADDER]; /* owned */
    size_t nsteps;
} pf_ladder;

/* The fields of a composite identifier (DESIGN.md §13), in the order of
 * vst_person_raw. */
typedef enum { LINK_GIVEN, LINK_FAMILY, LINK_BIRTH, LINK_DATE, LINK_SEX, LINK_NROLES } pf_link_role;

/* A profile's composite identifier and its strata (profile_link.c). */
typedef struct {
    char *domain; /* NULL: the profile links nothing */
    char *collection;
    int field[LINK_NROLES];      /* index in the composite object's fields; birth -1 if none */
    int columns[PF_LINK_KEYS];   /* the control columns, in key order */
    int strata_column;           /* the JSON column of the strata, or -1 */
    char *strata[PF_MAX_STRATA]; /* owned */
    size_t nstrata;
} pf_link;

struct vst_profile {
    char *name;
    char *table;
    size_t max_line;
    vst_column columns[PF_MAX_COLUMNS];
    int nullable[PF_MAX_COLUMNS];
    size_t ncolumns;
    char *domains[PF_MAX_DOMAINS];
    size_t ndomains;
    pf_field record; /* the top-level object */
    pf_placeholder placeholders[PF_MAX_PLACEHOLDERS];
    size_t nplaceholders;
    char warning[256]; /* risks the load log line names (a long postal prefix), or "" */
    /* Release protection (profile_release.c, DESIGN.md §11). */
    int qi[PF_MAX_QI]; /* column indexes of the quasi-identifiers */
    size_t nqi;
    pf_ladder ladders[PF_MAX_QI];
    size_t nladders;
    int rare_column;               /* the JSON column of the rare_codes lists (if nrare) */
    const char *rare[PF_MAX_RARE]; /* names of list fields: point into record */
    size_t nrare;
    pf_link link; /* the composite identifier (link.domain != NULL) */
};

/* profile_link.c */
/* The linkage key names, in key order (as vst_link_key_name). */
const char *pf_link_key_name(unsigned k);
/* The person of the composite object obj from its fields' values as
 * delivered (by pf_link_role; birth NULL when absent), normalized
 * (linkage/normalize.h) into *out. VST_E_OK, or the error, with *field
 * the record's name of the field it concerns ("" if none). */
vst_err pf_link_person(const vst_profile *p, const pf_field *obj, const char *const s[LINK_NROLES],
                       const size_t len[LINK_NROLES], vst_person *out, const char **field);

/* profile_placeholders.c */
/* The placeholder entry a canonical identifier of this kind matches, or
 * NULL. At most PF_MAX_PLACEHOLDERS short compares: no cost to speak of. */
const pf_placeholder *pf_placeholder_find(const vst_profile *p, int kind, const char *s,
                                          size_t len);

/* profile_rules.c */
/* Parses "YYYY-MM-DD" strictly; returns VST_E_OK or VST_E_INVALID_DATE. */
vst_err pf_parse_date(const char *s, size_t len, int32_t *days, int *year);
int32_t pf_today(void);
/* The decimal integer s[0..len): an optional '-' and 1..19 digits, nothing
 * else (no blanks, no '+', no leading zeros), within int64. Reads exactly len
 * bytes, so s need not be NUL-terminated. 0, or -1 if not such an integer. */
int pf_parse_int64(const char *s, size_t len, int64_t *out);
vst_err pf_check_string(const pf_string *c, const char *s, size_t len);
/* Appends s as a JSON string literal (with quotes) to buf; -1 on overflow. */
int pf_json_escape(char *buf, size_t cap, size_t *used, const char *s, size_t len);

#endif
