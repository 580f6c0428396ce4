/* vst-admin: command table and global options; see admin.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin/admin.h"
#include "cli/admin/admin_cases.h"
#include "cli/admin/admin_overlap.h"
#include "cli/admin/admin_release.h"
#include "core/secmem.h"

admin_opts g_opt;

int admin_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("vst-admin: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

vst_keyd *admin_keyd(void)
{
    char err[256];
    /* A stopped or hung keyd must not hang an operator's command: 30 s per
     * call is far beyond the slowest legitimate one (a 65536-pseudonym
     * re-key batch takes milliseconds). */
    vst_keyd *k = vst_keyd_connect_timeout(g_opt.admin_socket, 30000, err, sizeof err);
    if (k == NULL)
        admin_fail("%s", err);
    return k;
}

const char *admin_optarg(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        admin_fail("%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int admin_is_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    return 0;
}

static const struct {
    const char *word1, *word2;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    {"key", "init", cmd_key_init, "create the keystore, key version 1 and the signing key"},
    {"key", "status", cmd_key_status, "sealed or not, versions and their store rows, budget"},
    {"key", "rotate", cmd_key_rotate, "make a new key version current"},
    {"key", "retire", cmd_key_retire, "destroy key VERSION once no store row uses it"},
    {"unseal", NULL, cmd_unseal, "give vst-keyd one Shamir share (SHARE-FILE)"},
    {"rekey", NULL, cmd_rekey, "re-key every store row to the current version"},
    {"audit", "sync", cmd_audit_sync, "copy keyd's events into the audit log, checkpoint"},
    {"client", "add", cmd_client_add, "register an insurer's certificate (--name --ik --cert)"},
    {"client", "set", cmd_client_set, "change a client's --rate-limit, no restart needed"},
    {"client", "revoke", cmd_client_revoke, "revoke a client: its certificate is refused"},
    {"client", "list", cmd_client_list, "registered clients, their fingerprints and states"},
    {"cells", NULL, cmd_cells, "small-cell report: persons in classes below k (signed)"},
    {"release", "create", cmd_release_create, "write release NAME for researchers (k-protected)"},
    {"release", "list", cmd_release_list, "published releases and interrupted builds"},
    {"release", "drop", cmd_release_drop, "remove release NAME"},
    {"disclosed", "add", cmd_disclosed_add, "a disclosed pseudonym: substitute it, move its rows"},
    {"disclosed", "list", cmd_disclosed_list, "cases of disclosed pseudonyms (no pseudonyms)"},
    {"objection", "add", cmd_objection_add, "a person's objection: withhold, delete their rows"},
    {"objection", "list", cmd_objection_list, "objection cases (no identifiers)"},
    {"overlap", NULL, cmd_overlap, "persons two collections share: counts only (signed)"},
};

static void usage(void)
{
    printf("usage: vst-admin [global options] COMMAND [options]\n\nCommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s%s%s", commands[i].word1, commands[i].word2 ? " " : "",
                 commands[i].word2 ? commands[i].word2 : "");
        printf("  %-15s %s\n", name, commands[i].summary);
    }
    printf("\nGlobal options (or environment variables):\n"
           "  --admin-socket PATH  vst-keyd's admin socket   (VST_KEYD_ADMIN_SOCKET)\n"
           "  --store-dsn DSN      the store, as vst_admin   (VST_STORE_DSN)\n"
           "  --trust-dsn DSN      the trust DB, as vst_admin (VST_TRUST_DSN)\n"
           "  --keystore DIR       keystore directory        (VST_KEYSTORE)\n"
           "  --profiles DIR       profile files             (VST_PROFILE_DIR)\n"
           "  --json               machine-readable output where offered\n"
           "\n`vst-admin COMMAND --help` describes a command.\n");
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

int main(int argc, char **argv)
{
    vst_secmem_install_json();
    g_opt.admin_socket = env_or("VST_KEYD_ADMIN_SOCKET", "/run/vst-keyd/admin.sock");
    g_opt.store_dsn = env_or("VST_STORE_DSN", NULL);
    g_opt.trust_dsn = env_or("VST_TRUST_DSN", NULL);
    g_opt.keystore = env_or("VST_KEYSTORE", "/var/lib/vst-keyd/keystore");
    g_opt.profiles = env_or("VST_PROFILE_DIR", VST_PROFILE_DIR);
    /* Global options come first; the rest is the command and its own. */
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *a = argv[i];
        const char **dst = strcmp(a, "--admin-socket") == 0 ? &g_opt.admin_socket
                           : strcmp(a, "--store-dsn") == 0  ? &g_opt.store_dsn
                           : strcmp(a, "--trust-dsn") == 0  ? &g_opt.trust_dsn
                           : strcmp(a, "--keystore") == 0   ? &g_opt.keystore
                           : strcmp(a, "--profiles") == 0   ? &g_opt.profiles
                                                            : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        } else if (strcmp(a, "--json") == 0) {
            g_opt.json = 1;
        } else if (dst != NULL) {
            if ((*dst = admin_optarg(argc, argv, &i)) == NULL)
                return 2;
        } else {
            return admin_fail("unknown option %s (see --help)", a), 2;
        }
    }
    if (i >= argc) {
        usage();
        return 2;
    }
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
        if (strcmp(argv[i], commands[c].word1) != 0)
            continue;
        if (commands[c].word2 == NULL)
            return commands[c].fn(argc - i, argv + i);
        if (i + 1 < argc && strcmp(argv[i + 1], commands[c].word2) == 0)
            return commands[c].fn(argc - i - 1, argv + i + 1);
    }
    /* A first word alone ("release", "release --help"): its commands. */
    int known = 0;
    FILE *out = admin_is_help(argc - i, argv + i) ? stdout : stderr;
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
        if (strcmp(argv[i], commands[c].word1) == 0 && commands[c].word2 != NULL) {
            if (!known++)
                fprintf(out, "usage: vst-admin %s COMMAND, one of:\n", argv[i]);
            fprintf(out, "  %s %-8s %s\n", argv[i], commands[c].word2, commands[c].summary);
        }
    if (known)
        return admin_is_help(argc - i, argv + i) ? 0 : 2;
    return admin_fail("unknown command \"%s%s%s\" (see vst-admin --help)", argv[i],
                      i + 1 < argc ? " " : "", i + 1 < argc ? argv[i + 1] : "");
}
