/* vst-audit: command table, global options, shared helpers; see
 * audit_cli.h. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/audit/audit_cli.h"
#include "core/hex.h"
#include "core/secmem.h"

audit_opts g_aopt;

int audit_fail(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("vst-audit: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

const char *audit_optarg(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        audit_fail(EXIT_ERR, "%s needs a value (see --help)", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int audit_is_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

static int is_hexc(int c)
{
    return isxdigit((unsigned char)c) != 0;
}

/* The first token of exactly 64 hex digits in s[0..n): a bare key, the
 * "signing public key: ..." line of `vst-admin key status`, or the
 * "signing_public_key" member of its --json output all work. */
static int key_from_text(const char *s, size_t n, uint8_t out[VST_ED25519_PUB_LEN])
{
    size_t i = 0;
    while (i < n) {
        while (i < n && !is_hexc(s[i]))
            i++;
        size_t start = i;
        while (i < n && is_hexc(s[i]))
            i++;
        if (i - start == 2 * VST_ED25519_PUB_LEN) {
            char low[2 * VST_ED25519_PUB_LEN];
            for (size_t k = 0; k < sizeof low; k++)
                low[k] = (char)tolower((unsigned char)s[start + k]);
            return vst_unhex_lower(low, sizeof low, out, VST_ED25519_PUB_LEN);
        }
    }
    return -1;
}

static int add_key(const char *text, size_t n, const char *what)
{
    if (g_aopt.nkeys >= AUDIT_MAX_KEYS)
        return audit_fail(EXIT_ERR, "at most %d public keys", AUDIT_MAX_KEYS), -1;
    if (key_from_text(text, n, g_aopt.keys[g_aopt.nkeys]) != 0)
        return audit_fail(EXIT_ERR,
                          "%s: no Ed25519 public key (64 hex digits) found; `vst-admin key "
                          "status` prints it",
                          what),
               -1;
    g_aopt.nkeys++;
    return 0;
}

static int add_key_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return audit_fail(EXIT_ERR, "cannot read %s: %s", path, strerror(errno)), -1;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return add_key(buf, n, path);
}

int audit_common_opt(int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    if (strcmp(a, "--dsn") == 0) {
        if ((v = audit_optarg(argc, argv, i)) == NULL)
            return -1;
        g_aopt.dsn = v;
        return 1;
    }
    if (strcmp(a, "--public-key") == 0) {
        if ((v = audit_optarg(argc, argv, i)) == NULL)
            return -1;
        return add_key(v, strlen(v), "--public-key") == 0 ? 1 : -1;
    }
    if (strcmp(a, "--public-key-file") == 0) {
        if ((v = audit_optarg(argc, argv, i)) == NULL)
            return -1;
        return add_key_file(v) == 0 ? 1 : -1;
    }
    return 0;
}

int audit_env_key(void)
{
    const char *e = getenv("VST_AUDIT_PUBLIC_KEY");
    if (g_aopt.nkeys > 0 || e == NULL || *e == '\0')
        return 0;
    return add_key(e, strlen(e), "VST_AUDIT_PUBLIC_KEY");
}

const char *audit_pgerr(PGconn *db, PGresult *r)
{
    static char msg[256];
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(msg, sizeof msg, "%s", m ? m : PQerrorMessage(db));
    msg[strcspn(msg, "\n")] = '\0';
    return msg;
}

int audit_file_and_keys(int argc, char **argv, const char *cmd, const char *what, const char **file)
{
    *file = NULL;
    for (int i = 1; i < argc; i++) {
        int c = audit_common_opt(argc, argv, &i);
        if (c < 0)
            return EXIT_ERR;
        if (c > 0)
            continue;
        if (argv[i][0] == '-' || *file != NULL)
            return audit_fail(EXIT_ERR, "%s: unexpected argument %s (see --help)", cmd, argv[i]);
        *file = argv[i];
    }
    if (*file == NULL)
        return audit_fail(EXIT_ERR, "%s: give the %s (see --help)", cmd, what);
    if (audit_env_key() != 0)
        return EXIT_ERR;
    if (g_aopt.nkeys == 0)
        return audit_fail(EXIT_ERR,
                          "%s: no signing public key: give --public-key HEX or "
                          "--public-key-file FILE (`vst-admin key status` prints it)",
                          cmd);
    return EXIT_OK;
}

PGconn *audit_connect(void)
{
    PGconn *db = PQconnectdb(g_aopt.dsn ? g_aopt.dsn : "");
    if (PQstatus(db) != CONNECTION_OK) {
        audit_fail(EXIT_ERR, "cannot connect to the trust DB: %s", audit_pgerr(db, NULL));
        PQfinish(db);
        return NULL;
    }
    /* Byte-exact canonical text (docs/database.md), times in UTC. */
    PGresult *r = PQexec(db, "SET client_encoding = 'UTF8'; SET TimeZone = 'UTC'");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        audit_fail(EXIT_ERR, "cannot set up the session: %s", audit_pgerr(db, r));
        PQclear(r);
        PQfinish(db);
        return NULL;
    }
    PQclear(r);
    return db;
}

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    {"verify", cmd_verify, "recompute the hash chain and check every signed checkpoint"},
    {"log", cmd_log, "list events (table on a terminal, --json lines for tools)"},
    {"verify-receipt", cmd_verify_receipt,
     "check a delivery receipt's signature and its event in the log"},
    {"verify-report", cmd_verify_report,
     "check a signed report (vst-admin cells --json) and its event"},
};

static void usage(void)
{
    printf("usage: vst-audit [--dsn DSN] COMMAND [options]\n\n"
           "The auditor's tool: checks, without trusting the operator, that the trust\n"
           "center's audit log is complete and unaltered. Runs as the database role\n"
           "vst_auditor, which can read the audit log and nothing else.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        printf("  %-15s %s\n", commands[i].name, commands[i].summary);
    printf("\nOptions (before or after the command):\n"
           "  --dsn DSN               the trust DB, as vst_auditor (VST_AUDIT_DSN; else\n"
           "                          libpq's PG* environment)\n"
           "  --public-key HEX        vst-keyd's Ed25519 signing key (vst-admin key status);\n"
           "                          repeatable (VST_AUDIT_PUBLIC_KEY)\n"
           "  --public-key-file FILE  the first 64-hex-digit token of FILE\n"
           "\nExit status: 0 verified, 1 not intact / not verified, 2 usage or other error.\n"
           "`vst-audit COMMAND --help` describes a command; docs/audit.md the whole audit.\n");
}

int main(int argc, char **argv)
{
    vst_secmem_install_json();
    const char *e = getenv("VST_AUDIT_DSN");
    g_aopt.dsn = e && *e ? e : NULL;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "-", 1) == 0; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage();
            return EXIT_OK;
        }
        int c = audit_common_opt(argc, argv, &i);
        if (c < 0)
            return EXIT_ERR;
        if (c == 0)
            return audit_fail(EXIT_ERR, "unknown option %s (see --help)", argv[i]);
    }
    if (i >= argc) {
        usage();
        return audit_fail(EXIT_ERR, "no command given (see --help)");
    }
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
        if (strcmp(argv[i], commands[c].name) == 0)
            return commands[c].fn(argc - i, argv + i);
    return audit_fail(EXIT_ERR, "unknown command \"%s\" (see vst-audit --help)", argv[i]);
}
