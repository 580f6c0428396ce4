/* Shared by the client commands of vst-admin (admin_client.c: add, revoke,
 * list; admin_client_set.c: set). Internal to vst-admin. */
#ifndef VST_ADMIN_CLIENT_H
#define VST_ADMIN_CLIENT_H

#include <jansson.h>
#include <libpq-fe.h>

#define FPR_LEN 32
#define RATE_MAX 1000000 /* requests per minute; also the column's CHECK (trust/0011) */

PGresult *admin_client_query(PGconn *db, const char *sql, int n, const char *const *params);
/* Runs a command; 1 if it succeeded, else 0 after one clear line. */
int admin_client_exec(PGconn *db, const char *sql);
/* Rolls back, closes, returns 1. */
int admin_client_abort(PGconn *db);
/* Appends the audit event of a client change (details consumed) in the
 * transaction of the change and commits both; closes db. 0 with seq
 * filled, or 1 after one clear line. */
int admin_client_commit(PGconn *db, const char *what, const char *action, const char *actor,
                        const char *name, json_t *d, char seq[24]);
/* --rate-limit's value: "default" (-1: vst-httpd's --rate-limit applies) or
 * a whole number 0..RATE_MAX, 0 = unlimited. 0, or -1 after one line. */
int admin_client_rate_parse(const char *what, const char *v, long *out);
/* A rate as JSON: null for the default. */
json_t *admin_client_rate_json(long rate);

#endif
