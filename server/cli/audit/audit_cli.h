/* vst-audit, the auditor's tool (DESIGN.md §9, docs/audit.md).
 *
 *   vst_audit_main.c     command table, global options, shared helpers
 *   audit_verify_cmd.c   verify: the chain, the checkpoints, anchors
 *   audit_copy.c         verify's reader of the binary COPY stream
 *   audit_log_cmd.c      log: the events as a table or JSON lines
 *   audit_receipt_cmd.c  verify-receipt: a receipt and its delivery event
 *   audit_report_cmd.c   verify-report: a signed report (cells) and its event
 *   audit_overlap_report.c  verify-report of an overlap answer (vst/overlap/1)
 *
 * Runs as vst_auditor, which may read vst.audit_log and
 * vst.audit_checkpoints and nothing else. Exit status: 0 success, 1 the
 * log or receipt did not verify, 2 usage or operational error; every
 * failure ends with one line on stderr. */
#ifndef VST_AUDIT_CLI_H
#define VST_AUDIT_CLI_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/audit.h"

#define AUDIT_MAX_KEYS 16

enum { EXIT_OK = 0, EXIT_BAD = 1, EXIT_ERR = 2 };

typedef struct {
    const char *dsn;
    uint8_t keys[AUDIT_MAX_KEYS][VST_ED25519_PUB_LEN];
    size_t nkeys;
} audit_opts;

extern audit_opts g_aopt;

/* "vst-audit: <msg>" on stderr; returns code. */
int audit_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* argv[++*i] or NULL after printing "X needs a value". */
const char *audit_optarg(int argc, char **argv, int *i);
int audit_is_help(int argc, char **argv);
/* Handles the options every command takes (--dsn, --public-key,
 * --public-key-file) at argv[*i]: 1 consumed, 0 not one of them, -1 error
 * (printed). */
int audit_common_opt(int argc, char **argv, int *i);
/* Adds the key of VST_AUDIT_PUBLIC_KEY when no key was given; 0 or -1. */
int audit_env_key(void);
/* The arguments of a command that checks one signed file: the common
 * options and FILE (what names it in messages); needs a trusted key.
 * EXIT_OK, or the exit status after one line. */
int audit_file_and_keys(int argc, char **argv, const char *cmd, const char *what,
                        const char **file);
/* Connects (client_encoding UTF8, TimeZone UTC) or prints one line. */
PGconn *audit_connect(void);
/* verify-report: audit row audit_seq of a report is an event `action`
 * whose details equal the report's members keys (audit_report_cmd.c). */
int audit_report_event(const json_t *rep, const char *action, const char *const *keys,
                       size_t nkeys);
/* verify-report of a vst/overlap/1 report: exit status. */
int audit_verify_overlap(const json_t *rep);
/* The primary message of a failed result, one line, in a static buffer. */
const char *audit_pgerr(PGconn *db, PGresult *r);

int cmd_verify(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_verify_receipt(int argc, char **argv);
int cmd_verify_report(int argc, char **argv);

#endif
