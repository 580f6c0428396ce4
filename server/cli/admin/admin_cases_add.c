/* vst-admin disclosed add and objection add (admin_cases.h). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/admin/admin_cases.h"
#include "core/hex.h"

#define ID_FILE_MAX 256

/* The key version(s) whose rows carry P in the column; 0 if none. */
static uint32_t version_of(PGconn *db, const admin_case *c, const char *p_hex, int *err)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT coalesce(max(key_version), 0) FROM %s WHERE %s = $1",
             vst_profile_table(c->profile), c->column);
    const char *p[] = {p_hex};
    char *v = spec_query_value(db, c->kind, sql, 1, p);
    *err = v == NULL;
    uint32_t r = v ? (uint32_t)strtoul(v, NULL, 10) : 0;
    free(v);
    return r;
}

/* --pseudonym: 32 hex digits, either case, into lower-case p_hex. */
static int pseudonym_arg(const admin_case *c, char p_hex[33], uint8_t p[16])
{
    if (c->pseudonym == NULL || strlen(c->pseudonym) != 32 || vst_unhex(c->pseudonym, 16, p) != 0)
        return admin_fail("disclosed add: --pseudonym wants the 32 hex digits of a stored "
                          "pseudonym");
    vst_hex(p, 16, p_hex);
    return 0;
}

static int disclose(PGconn *store, PGconn *trust, admin_case *c, const uint8_t p[16],
                    uint32_t version)
{
    vst_keyd *k = admin_keyd();
    if (k == NULL)
        return 1;
    vst_case_answer ans;
    int rc = vst_keyd_disclose(k, c->ident.domain, version, p, &ans);
    vst_keyd_close(k);
    if (rc != 0)
        return admin_fail("disclosed add: vst-keyd refused (%s)", vst_keyd_strerror(rc));
    snprintf(c->case_hex, sizeof c->case_hex, "%s", ans.case_hex);
    c->existed = ans.existed;
    rc = case_begin(trust, c);
    for (size_t i = 0; rc == 0 && i < ans.n; i++) {
        char from[33], to[33];
        vst_hex(ans.v[i].p, 16, from);
        vst_hex(ans.v[i].p_star, 16, to);
        rc = case_store_apply(store, c, ans.v[i].version, from, to) != 0;
        OPENSSL_cleanse(from, sizeof from);
        OPENSSL_cleanse(to, sizeof to);
    }
    vst_case_answer_free(&ans);
    return rc != 0 ? 1 : case_finish(store, trust, c);
}

int cmd_disclosed_add(int argc, char **argv)
{
    if (admin_is_help(argc, argv))
        return case_help("disclosed");
    static const char *const takes[] = {"--profile",     "--pseudonym", "--column",
                                        "--domain",      "--reason",    "--force",
                                        "--key-version", "--batch",     NULL};
    admin_case c = {.kind = "disclosed", .action = "pseudonym.disclosed"};
    char p_hex[33];
    uint8_t p[16];
    int rc = case_parse(&c, argc, argv, takes);
    if (rc == 0 && (case_resolve(&c) != 0 || pseudonym_arg(&c, p_hex, p) != 0))
        rc = 2;
    PGconn *store = rc == 0 ? admin_db(g_opt.store_dsn, "store") : NULL;
    PGconn *trust = store ? admin_db(g_opt.trust_dsn, "trust") : NULL;
    if (rc == 0 && trust == NULL)
        rc = 1;
    int err = 0;
    uint32_t version = rc == 0 ? version_of(store, &c, p_hex, &err) : 0;
    if (rc == 0 && err)
        rc = 1;
    /* No row carries P: only the operator knows its key version (keyd
     * decrypts any 16 bytes under any version, so a guess would record a
     * case for nobody). */
    if (rc == 0 && version == 0 && c.force && c.key_version == NULL)
        rc = admin_fail("disclosed add: no stored row carries this pseudonym; with --force also "
                        "give --key-version N, the version it was made under (an interrupted "
                        "run: the version it named)");
    if (rc == 0 && version == 0 && c.key_version != NULL)
        version = (uint32_t)strtoul(c.key_version, NULL, 10);
    if (rc == 0 && version == 0 && !c.force)
        rc = admin_fail("disclosed add: no stored row carries this pseudonym in %s.%s; check it, "
                        "or give --force (records the case anyway, and finishes an interrupted "
                        "run whose rows are all moved)",
                        vst_profile_table(c.profile), c.column);
    if (rc == 0)
        rc = disclose(store, trust, &c, p, version);
    if (rc == 0)
        admin_audit_sync(1); /* keyd's keyd.disclosed event */
    OPENSSL_cleanse(p, sizeof p);
    PQfinish(store);
    PQfinish(trust);
    vst_profile_free(c.profile);
    return rc;
}

/* Reads the identifier file: a regular file of its owner only, at most
 * ID_FILE_MAX bytes, one line. Into buf (wiped by the caller). */
static int read_id_file(const char *path, char *buf, size_t *len)
{
    /* O_NONBLOCK: a FIFO must be refused below, not waited on. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return admin_fail("objection add: cannot open %s: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        rc = admin_fail("objection add: %s is not a regular file", path);
    else if ((st.st_mode & 077) != 0)
        rc = admin_fail("objection add: %s is readable by others (mode %03o); it holds an "
                        "identifier: chmod 600 it",
                        path, (unsigned)(st.st_mode & 0777));
    ssize_t n = rc == 0 ? read(fd, buf, ID_FILE_MAX) : 0;
    close(fd);
    if (rc == 0 && (n <= 0 || n == ID_FILE_MAX))
        rc = admin_fail("objection add: %s must hold one identifier (one short line)", path);
    if (rc != 0)
        return rc;
    size_t l = (size_t)n;
    while (l > 0 && (buf[l - 1] == '\n' || buf[l - 1] == '\r'))
        l--;
    if (memchr(buf, '\n', l) != NULL)
        return admin_fail("objection add: %s must hold one identifier on one line", path);
    *len = l;
    return 0;
}

/* The identifier from the file, as keyd derives it. 0 or 1. */
static int identifier(const admin_case *c, vst_id *id)
{
    char buf[ID_FILE_MAX];
    size_t len = 0;
    int rc = read_id_file(c->id_file, buf, &len);
    vst_err e = rc == 0 ? vst_profile_identifier_key(&c->ident, buf, len, id) : VST_E_OK;
    OPENSSL_cleanse(buf, sizeof buf);
    if (rc != 0)
        return 1;
    if (e != VST_E_OK) /* never the value: only what is wrong with it */
        return admin_fail("objection add: %s does not hold a valid %s (%s)", c->id_file,
                          vst_id_kind_name(c->ident.kind), vst_err_code(e));
    return 0;
}

static int object(PGconn *store, PGconn *trust, admin_case *c, vst_id *id)
{
    vst_keyd *k = admin_keyd();
    vst_case_answer ans;
    int rc = k ? vst_keyd_object(k, c->ident.domain, (const uint8_t *)id->s, id->len, &ans) : -1;
    vst_id_wipe(id);
    vst_keyd_close(k);
    if (k == NULL)
        return 1;
    if (rc != 0)
        return admin_fail("objection add: vst-keyd refused (%s)", vst_keyd_strerror(rc));
    snprintf(c->case_hex, sizeof c->case_hex, "%s", ans.case_hex);
    c->existed = ans.existed;
    rc = case_begin(trust, c);
    /* The person's pseudonyms go from keyd's answer straight into the
     * store's delete function; they are never shown. */
    for (size_t i = 0; rc == 0 && i < ans.n; i++) {
        char p[33];
        vst_hex(ans.v[i].p, 16, p);
        rc = case_store_apply(store, c, ans.v[i].version, p, NULL) != 0;
        OPENSSL_cleanse(p, sizeof p);
    }
    vst_case_answer_free(&ans);
    return rc != 0 ? 1 : case_finish(store, trust, c);
}

int cmd_objection_add(int argc, char **argv)
{
    if (admin_is_help(argc, argv))
        return case_help("objection");
    static const char *const takes[] = {"--profile", "--identifier-file", "--reason", "--batch",
                                        NULL};
    admin_case c = {
        .kind = "objection", .action = "person.objection", .reason = "objection of the person"};
    vst_id id;
    memset(&id, 0, sizeof id);
    int rc = case_parse(&c, argc, argv, takes);
    if (rc == 0 && c.id_file == NULL)
        rc = admin_fail("objection add: --identifier-file FILE is required") + 1;
    if (rc == 0 && (case_resolve(&c) != 0 || identifier(&c, &id) != 0))
        rc = 2;
    PGconn *store = rc == 0 ? admin_db(g_opt.store_dsn, "store") : NULL;
    PGconn *trust = store ? admin_db(g_opt.trust_dsn, "trust") : NULL;
    if (rc == 0 && trust == NULL)
        rc = 1;
    if (rc == 0)
        rc = object(store, trust, &c, &id);
    vst_id_wipe(&id);
    if (rc == 0)
        admin_audit_sync(1); /* keyd's keyd.objection event */
    PQfinish(store);
    PQfinish(trust);
    vst_profile_free(c.profile);
    return rc;
}

int cmd_disclosed_list(int argc, char **argv)
{
    return case_list("disclosed", argc, argv);
}

int cmd_objection_list(int argc, char **argv)
{
    return case_list("objection", argc, argv);
}
