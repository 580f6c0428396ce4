/* vst-admin disclosed and objection (DESIGN.md §12; admin_cases.c says
 * how a case is made resumable):
 *
 *   admin_cases.c      options, the profile's identifier, the case row and
 *                      its event in the trust DB, the store's batches, list
 *   admin_cases_add.c  disclosed add, objection add
 *
 * Internal to vst-admin. */
#ifndef VST_ADMIN_CASES_H
#define VST_ADMIN_CASES_H

#include <libpq-fe.h>
#include <stdint.h>

#include "cli/admin/admin.h"
#include "cli/admin/admin_release.h" /* spec_query_value */
#include "profile/profile.h"

typedef struct {
    const char *kind;   /* "disclosed" or "objection" */
    const char *action; /* the audit action */
    const char *profile_name, *pseudonym, *column, *domain, *reason, *id_file, *key_version;
    int force;
    vst_profile *profile;
    vst_column_identifier ident; /* of the column (its domain) */
    char case_hex[17];
    int existed;    /* keyd knew the case: this run finishes an earlier one */
    long long rows; /* moved or deleted, over all runs of the case */
    uint64_t audit_seq;
} admin_case;

/* Options of an add command; takes: the options it accepts (NULL-ended).
 * 0, or the exit status after one line. */
int case_parse(admin_case *c, int argc, char **argv, const char *const *takes);
/* Loads the profile, picks the column's identifier, screens the reason.
 * 0 or 1. */
int case_resolve(admin_case *c);
/* Moves (to_hex) or deletes (to_hex NULL) from_hex's rows in batches. */
int case_store_apply(PGconn *db, admin_case *c, uint32_t version, const char *from_hex,
                     const char *to_hex);
/* The open case row (inserted, or found from an interrupted run). 0 or 1. */
int case_begin(PGconn *trust, admin_case *c);
/* Counts the case's rows in the store, appends its event and closes it in
 * the trust DB, prints the one-line result. 0 or 1. */
int case_finish(PGconn *store, PGconn *trust, admin_case *c);
int case_list(const char *kind, int argc, char **argv);
int case_help(const char *kind);

int cmd_disclosed_add(int argc, char **argv);
int cmd_disclosed_list(int argc, char **argv);
int cmd_objection_add(int argc, char **argv);
int cmd_objection_list(int argc, char **argv);

#endif
