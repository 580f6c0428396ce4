/* vst-admin cells and release (DESIGN.md §11, docs/release.md):
 *
 *   admin_release_spec.c  the options both share (--profile, --k, --by,
 *                         --generalize), the profile's quasi-identifiers and
 *                         generalization ladders, SQL array literals
 *   admin_cells.c         cells: the small-cell report, audited and signed
 *   admin_release.c       release create | list | drop
 *   admin_release_map.c   the release pseudonyms: every store pseudonym
 *                         streamed through vst-keyd into the build's map
 *
 * Everything that reads payload runs in the store's SECURITY DEFINER
 * functions (sql/store/0008_release.sql); vst-admin sees counts, names and
 * pseudonym columns only. Internal to vst-admin. */
#ifndef VST_ADMIN_RELEASE_H
#define VST_ADMIN_RELEASE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>

#include "cli/admin/admin.h"
#include "profile/profile.h"

#define SPEC_MAX_COLS 16
#define SPEC_NAME_MAX 64
#define SPEC_RULE_MAX 16

typedef struct {
    char col[SPEC_NAME_MAX];
    char rule[SPEC_RULE_MAX];
} spec_rule;

typedef struct {
    const char *what;             /* "cells", "release create": message prefix */
    const char *profile_name;     /* --profile, default sgb5 */
    const char *by;               /* --by COL,COL... or NULL */
    long k;                       /* --k, default 5 */
    spec_rule gen[SPEC_MAX_COLS]; /* every --generalize COL=RULE, in order */
    size_t ngen;
    /* Resolved by spec_finish: */
    vst_profile *profile;
    size_t nqi; /* quasi-identifiers left after drops */
    char qi[SPEC_MAX_COLS][SPEC_NAME_MAX];
    char rule[SPEC_MAX_COLS][SPEC_RULE_MAX]; /* "" none */
    char next[SPEC_MAX_COLS][SPEC_RULE_MAX]; /* next ladder step, "" none */
} release_spec;

/* Consumes argv[*i] (and its value) if it is a shared option: 1 consumed,
 * 0 not one of them, -1 error (message printed). */
int spec_option(release_spec *s, int argc, char **argv, int *i);
/* Loads the profile, settles the quasi-identifiers, rules and next steps.
 * allow_other: --generalize may name columns that are not quasi-
 * identifiers (release create). 0, or 1 after one clear line. */
int spec_finish(release_spec *s, int allow_other);
void spec_free(release_spec *s);
/* {"col": "rule", ...} of every --generalize (new reference). */
json_t *spec_generalize_json(const release_spec *s);
/* ["col", ...] of the quasi-identifiers left (new reference). */
json_t *spec_qi_json(const release_spec *s);
/* A PostgreSQL text[] literal of n strings taken every `stride` bytes from
 * base ({"a","b"}); the strings are [a-z0-9_:] only (checked before).
 * Returns a malloc'd string or NULL. */
char *spec_sql_array(const char *base, size_t stride, size_t n);
/* Runs a one-value query; returns the value (malloc'd) or NULL after
 * printing "<what>: <the server's first error line>". */
char *spec_query_value(PGconn *db, const char *what, const char *sql, int nparams,
                       const char *const *params);

int cmd_cells(int argc, char **argv);
int cmd_release_create(int argc, char **argv);
int cmd_release_list(int argc, char **argv);
int cmd_release_drop(int argc, char **argv);

/* Streams every distinct (key version, store pseudonym) of the build's
 * table through vst-keyd into release_build."<name>__map", under a release
 * key keyd draws for this connection when the first pseudonyms are ready
 * (RELEASE_OPEN; its id recorded with vst.release_key_id) and forgets when
 * the connection closes, which this function does. Prints progress on a
 * terminal. Returns the number mapped, or -1 after one clear line. */
long long release_map_pseudonyms(PGconn *db, const char *name, const admin_table *t);

#endif
