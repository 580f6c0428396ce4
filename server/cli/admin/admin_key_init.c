/* vst-admin key init: a new keystore (root key, key version 1, the signing
 * key) sealed under a new master key, split into Shamir shares written one
 * per file, or kept in a development master-key file. */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/admin/admin.h"
#include "core/hex.h"
#include "keystore.h"
#include "shamir.h"

static int chown_tree(const char *dir, const char *owner)
{
    struct passwd *pw = getpwnam(owner);
    if (pw == NULL)
        return admin_fail("--owner: no such user \"%s\"", owner);
    const char *files[] = {"", "/" VST_KS_INFO_FILE, "/" VST_KS_SEALED_FILE};
    for (size_t i = 0; i < 3; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s%s", dir, files[i]);
        if (chown(path, pw->pw_uid, pw->pw_gid) != 0)
            return admin_fail("chown %s: %s", path, strerror(errno));
    }
    return 0;
}

/* Removes a keystore that was just created but whose shares could not all
 * be written: without its shares nobody could ever open it. */
static void remove_keystore(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, VST_KS_SEALED_FILE);
    unlink(path);
    snprintf(path, sizeof path, "%s/%s", dir, VST_KS_INFO_FILE);
    unlink(path);
    rmdir(dir);
}

typedef struct {
    unsigned long n, m; /* shares, threshold; 0 with a dev master-key file */
    const char *share_dir, *dev, *owner;
} init_args;

/* 0, or the exit status. */
static int parse_init_args(int argc, char **argv, init_args *a)
{
    const char *v;
    a->share_dir = ".";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--shares") == 0 && (v = admin_optarg(argc, argv, &i)))
            a->n = strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--threshold") == 0 && (v = admin_optarg(argc, argv, &i)))
            a->m = strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--share-dir") == 0 && (v = admin_optarg(argc, argv, &i)))
            a->share_dir = v;
        else if (strcmp(argv[i], "--dev-master-key") == 0 && (v = admin_optarg(argc, argv, &i)))
            a->dev = v;
        else if (strcmp(argv[i], "--owner") == 0 && (v = admin_optarg(argc, argv, &i)))
            a->owner = v;
        else
            return admin_fail("key init: unexpected argument %s (see --help)", argv[i]);
    }
    if ((a->dev != NULL) == (a->n != 0 || a->m != 0))
        return admin_fail("key init: give either --shares N --threshold M or --dev-master-key");
    if (a->dev == NULL && (a->m < 2 || a->n < a->m || a->n > VST_SHARE_MAX_COUNT))
        return admin_fail("key init: need 2 <= threshold <= shares <= %d", VST_SHARE_MAX_COUNT);
    return 0;
}

/* A new master key, or the dev file's (read, or created). 0, or the exit
 * status. */
static int new_master(const init_args *a, uint8_t master[VST_KEY_LEN])
{
    char err[512];
    if (a->dev != NULL) {
        vst_ks_status st = access(a->dev, F_OK) == 0
                               ? vst_master_file_read(a->dev, master, err, sizeof err)
                               : vst_master_file_create(a->dev, master, err, sizeof err);
        return st == VST_KS_OK ? 0 : admin_fail("%s", err);
    }
    return vst_master_generate(master) == VST_KS_OK ? 0
                                                    : admin_fail("cannot generate a master key");
}

static void free_shares(vst_share *shares, unsigned long n)
{
    if (shares)
        vst_share_wipe(shares, n);
    OPENSSL_secure_free(shares);
}

/* Shamir: split first, so that keystore.info can record every share's
 * check value (keyd then refuses a wrong share on its own). *shares: n in
 * the secure heap, or NULL with a status. */
static vst_ks_status split_master(const init_args *a, const uint8_t master[VST_KEY_LEN],
                                  uint8_t id[VST_KS_ID_LEN], vst_share **out,
                                  vst_ks_share_check checks[VST_SHARE_MAX_COUNT])
{
    char err[512];
    vst_share *shares = OPENSSL_secure_zalloc(a->n * sizeof *shares);
    vst_ks_status st =
        shares == NULL ? VST_KS_NOMEM
        : RAND_bytes(id, VST_KS_ID_LEN) != 1
            ? VST_KS_CRYPTO
            : vst_shamir_split(master, id, (unsigned)a->m, (unsigned)a->n, shares, err, sizeof err);
    for (unsigned long i = 0; st == VST_KS_OK && i < a->n; i++) {
        checks[i].index = shares[i].index;
        if (!vst_share_check(&shares[i], checks[i].check))
            st = VST_KS_CRYPTO;
    }
    if (st != VST_KS_OK) {
        free_shares(shares, a->n);
        shares = NULL;
    }
    *out = shares;
    return st;
}

/* One file per share; on failure the keystore is removed again. Wipes and
 * frees the shares. 0, or the exit status. */
static int write_shares(const init_args *a, vst_share *shares)
{
    char err[512];
    vst_ks_status st = VST_KS_OK;
    for (unsigned long i = 0; st == VST_KS_OK && i < a->n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/share-%lu-of-%lu.txt", a->share_dir, i + 1, a->n);
        st = vst_share_file_write(path, &shares[i], err, sizeof err);
        if (st == VST_KS_OK)
            printf("share %lu of %lu: %s\n", i + 1, a->n, path);
    }
    free_shares(shares, a->n);
    if (st != VST_KS_OK) {
        remove_keystore(g_opt.keystore);
        return admin_fail("%s; the keystore was removed again", err);
    }
    return 0;
}

static void print_init(const init_args *a, const vst_keystore_info *info)
{
    char pub[2 * VST_ED25519_LEN + 1];
    vst_hex(info->sign_public, VST_ED25519_LEN, pub);
    printf("keystore: %s (id %s)\nkey version: 1 (current)\nsigning public key: %s\n",
           g_opt.keystore, info->id_hex, pub);
    if (a->dev != NULL)
        printf("WARNING: development master-key file %s; never use it for real data\n", a->dev);
    else
        printf("master key: %lu shares, %lu needed to unseal; hand each share to a different "
               "custodian and delete it here\n",
               a->n, a->m);
}

int cmd_key_init(int argc, char **argv)
{
    if (admin_is_help(argc, argv)) {
        printf("usage: vst-admin key init (--shares N --threshold M [--share-dir DIR] |\n"
               "                           --dev-master-key FILE) [--owner USER]\n\n"
               "Creates the keystore (--keystore): the root key, key version 1 and the\n"
               "Ed25519 signing key, sealed under a new master key. With --shares, the\n"
               "master key is split into N Shamir shares of which M rebuild it; each share\n"
               "is written to its own file share-I-of-N.txt (0600) in --share-dir, to be\n"
               "handed to a different custodian. --dev-master-key writes (or uses) a\n"
               "master-key file instead: for development only. --owner chowns the keystore\n"
               "to vst-keyd's user. An existing keystore is never overwritten.\n");
        return 0;
    }
    init_args a = {0};
    uint8_t master[VST_KEY_LEN];
    int rc = parse_init_args(argc, argv, &a);
    if (rc != 0 || (rc = new_master(&a, master)) != 0)
        return rc;
    vst_share *shares = NULL;
    vst_ks_share_check checks[VST_SHARE_MAX_COUNT];
    uint8_t id[VST_KS_ID_LEN];
    vst_ks_status st;
    if (a.dev == NULL && (st = split_master(&a, master, id, &shares, checks)) != VST_KS_OK) {
        OPENSSL_cleanse(master, sizeof master);
        return admin_fail("key init: cannot split the master key (%s)", vst_ks_status_name(st));
    }
    char err[512];
    vst_keystore *ks = NULL;
    vst_ks_mode_info mode = {a.dev ? VST_KS_MODE_DEV_FILE : VST_KS_MODE_SHAMIR, (unsigned)a.m,
                             (unsigned)a.n};
    st = vst_keystore_create_ex(g_opt.keystore, master, &mode, a.dev ? NULL : id,
                                a.dev ? NULL : checks, a.dev ? 0 : a.n, &ks, err, sizeof err);
    OPENSSL_cleanse(master, sizeof master);
    if (st != VST_KS_OK) {
        free_shares(shares, a.n);
        return admin_fail("%s", err);
    }
    vst_keystore_info info = *vst_keystore_get_info(ks);
    vst_keystore_free(ks);
    if (a.dev == NULL && (rc = write_shares(&a, shares)) != 0)
        return rc;
    if (a.owner != NULL && chown_tree(g_opt.keystore, a.owner) != 0)
        return 1;
    print_init(&a, &info);
    admin_note_version(1, "current");
    return 0;
}
