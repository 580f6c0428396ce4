/* vst-admin: the operator's tool (DESIGN.md §9).
 *
 *   admin_main.c      command table, global options, messages
 *   admin_key_init.c  key init: the keystore, the master key and its shares
 *   admin_key.c       key status | rotate | retire, unseal
 *   admin_rekey.c     rekey: every store row to the current key version
 *   admin_client.c    client add | revoke | list (trust DB, audited)
 *   admin_audit.c     audit sync: keyd's events into the log, a checkpoint
 *   admin_db.c        PostgreSQL helpers and the store's profile tables
 *   admin_release*.c, admin_cells.c  cells and release (admin_release.h) */
#ifndef VST_ADMIN_H
#define VST_ADMIN_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/keyd_client.h"

typedef struct {
    const char *admin_socket;
    const char *store_dsn;
    const char *trust_dsn;
    const char *keystore;
    const char *profiles;
    int json;
} admin_opts;

extern admin_opts g_opt;

/* Prints "vst-admin: <msg>" on stderr; returns 1 (the exit status). */
int admin_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Connects to keyd's admin socket or fails with one clear line. */
vst_keyd *admin_keyd(void);
/* Wants a value for an option: returns argv[++*i] or NULL (message printed). */
const char *admin_optarg(int argc, char **argv, int *i);
int admin_is_help(int argc, char **argv);

/* ---- commands: argv[0] is the last command word */
int cmd_key_init(int argc, char **argv);
int cmd_key_status(int argc, char **argv);
int cmd_key_rotate(int argc, char **argv);
int cmd_key_retire(int argc, char **argv);
int cmd_unseal(int argc, char **argv);
int cmd_rekey(int argc, char **argv);
int cmd_audit_sync(int argc, char **argv);
/* Pulls keyd events into the audit log and checkpoints; quiet: only a
 * warning on failure (after key actions), returns 0. */
int admin_audit_sync(int quiet);
int cmd_client_add(int argc, char **argv);
int cmd_client_set(int argc, char **argv);
int cmd_client_revoke(int argc, char **argv);
int cmd_client_list(int argc, char **argv);

/* ---- database (admin_db.c) */
PGconn *admin_db(const char *dsn, const char *what);
/* The audit actor of this operator: "vst-admin:alice" (or "uid=N"). */
void admin_actor(char *out, size_t len);
/* The first line of a libpq error message, copied into buf. */
const char *admin_pg_line(const char *msg, char *buf, size_t len);
/* A store table of a profile, its pseudonym columns and, for a profile
 * that links persons without a number (DESIGN.md §13), its collection and
 * its control-value columns in key order (ncv = 0 or 6). */
#define ADMIN_CV_MAX 6
typedef struct {
    char table[96];
    char columns[4][64];
    size_t ncolumns;
    char collection[65];
    char cv[ADMIN_CV_MAX][64];
    size_t ncv;
} admin_table;
/* The tables of every profile in g_opt.profiles (deduplicated). */
int admin_store_tables(admin_table *out, size_t max, size_t *n);
/* Rows per key version over all store tables, any version number. */
typedef struct {
    uint32_t version;
    uint64_t rows;
} admin_version_rows;
/* *out (malloc'd, free it) holds every version that has rows, ascending;
 * *n entries. */
int admin_rows_per_version(PGconn *db, const admin_table *t, size_t nt, admin_version_rows **out,
                           size_t *n);
/* The rows of version v in such a list (0 if it is not listed). */
uint64_t admin_rows_of(const admin_version_rows *vr, size_t n, uint32_t v);
/* Records key-version metadata in the trust DB if one is configured. */
void admin_note_version(uint32_t version, const char *state);

#endif
