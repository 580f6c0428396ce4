/* Creating and opening a keystore directory (keystore.h): the directory's
 * mode and lock, then the two files in their order — keystore.info written
 * before keystore.sealed at creation; at open the header read, the master
 * key checked against its key check value before a byte of
 * keystore.sealed is decrypted, then the sealed file opened. */
#include "keystore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/hex.h"

static vst_ks_status check_mode(const vst_ks_mode_info *m, char *err, size_t errlen)
{
    if (m == NULL)
        return VST_KS_FAIL(VST_KS_INVALID, "no master-key mode given");
    if (m->mode == VST_KS_MODE_DEV_FILE)
        return VST_KS_OK;
    if (m->mode != VST_KS_MODE_SHAMIR)
        return VST_KS_FAIL(VST_KS_INVALID, "unknown master-key mode %d", (int)m->mode);
    if (m->threshold < 2 || m->threshold > m->shares || m->shares > 255)
        return VST_KS_FAIL(VST_KS_INVALID,
                           "Shamir sharing needs 2 <= threshold <= shares <= 255 (got %u of %u)",
                           m->threshold, m->shares);
    return VST_KS_OK;
}

/* Share checks for create: one per share, distinct nonzero indices. */
static vst_ks_status check_share_checks(const vst_ks_mode_info *m, const vst_ks_share_check *c,
                                        size_t n, char *err, size_t errlen)
{
    if (n == 0)
        return VST_KS_OK;
    if (m->mode != VST_KS_MODE_SHAMIR || n != m->shares || c == NULL)
        return VST_KS_FAIL(VST_KS_INVALID, "share checks: one per share of a Shamir keystore");
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            if (c[i].index == 0 || (i != j && c[i].index == c[j].index))
                return VST_KS_FAIL(VST_KS_INVALID,
                                   "share checks: indices must be distinct and nonzero");
    return VST_KS_OK;
}

static int by_index(const void *a, const void *b)
{
    return (int)((const vst_ks_share_check *)a)->index -
           (int)((const vst_ks_share_check *)b)->index;
}

/* ks->dirfd: dir opened, locked, holding no keystore yet. A directory mkdir
 * just made (made_dir) gets 0700; an existing one must already deny group
 * and others. */
static vst_ks_status prepare_dir(vst_keystore *ks, const char *dir, int made_dir, char *err,
                                 size_t errlen)
{
    ks->dirfd = vst_ks_open_dir(dir);
    if (ks->dirfd < 0)
        return VST_KS_FAIL(VST_KS_IO, "keystore %s: %s", dir, strerror(errno));
    struct stat sb;
    if (fstat(ks->dirfd, &sb) != 0)
        return VST_KS_FAIL(VST_KS_IO, "keystore %s: %s", dir, strerror(errno));
    if (made_dir) {
        if (fchmod(ks->dirfd, 0700) != 0)
            return VST_KS_FAIL(VST_KS_IO, "keystore %s: chmod 0700: %s", dir, strerror(errno));
    } else if ((sb.st_mode & 077) != 0) {
        return VST_KS_FAIL(VST_KS_INSECURE,
                           "keystore %s: the directory is accessible by group or others (mode "
                           "%04o); chmod 700 it first",
                           dir, (unsigned)(sb.st_mode & 07777));
    }
    vst_ks_status st = vst_ks_lock_dir(ks->dirfd, dir, err, errlen);
    if (st != VST_KS_OK)
        return st;
    if (faccessat(ks->dirfd, VST_KS_INFO_FILE, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
        faccessat(ks->dirfd, VST_KS_SEALED_FILE, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return VST_KS_FAIL(VST_KS_EXISTS, "keystore %s already exists; refusing to overwrite it",
                           dir);
    return VST_KS_OK;
}

/* The header and version 1 of a new keystore: K_root, K_1, the Ed25519
 * key, the id (the caller's or a random one), K_seal and the key check
 * value from master, the share checks sorted by index. */
static vst_ks_status generate(vst_keystore *ks, const uint8_t master[VST_KEY_LEN],
                              const vst_ks_mode_info *mode, const uint8_t *id,
                              const vst_ks_share_check *checks, size_t nchecks, char *err,
                              size_t errlen)
{
    vst_keystore_info *in = &ks->info;
    in->format = VST_KS_FORMAT;
    in->created = (int64_t)time(NULL);
    in->mode = *mode;
    if (mode->mode == VST_KS_MODE_DEV_FILE)
        in->mode.threshold = in->mode.shares = 0;
    if (!vst_ks_reserve(ks, 1) || (ks->v[0].key = vst_ks_sec_zalloc(VST_KEY_LEN)) == NULL)
        return VST_KS_FAIL(VST_KS_NOMEM, "keystore %s: out of memory", ks->dir);
    ks->nv = 1;
    ks->v[0].retired = 0;
    ks->v[0].version = 1;
    ks->v[0].state = VST_KEY_CURRENT;
    ks->v[0].created = in->created;
    ks->current = 1;
    if (nchecks > 0) {
        memcpy(in->share_checks, checks, nchecks * sizeof *checks);
        qsort(in->share_checks, nchecks, sizeof *checks, by_index);
        in->nshare_checks = (unsigned)nchecks;
    }
    if (id != NULL)
        memcpy(in->id, id, VST_KS_ID_LEN);
    if ((id == NULL && RAND_bytes(in->id, VST_KS_ID_LEN) != 1) ||
        RAND_bytes(VST_KS_ROOT_KEY(ks), VST_KEY_LEN) != 1 ||
        RAND_bytes(ks->v[0].key, VST_KEY_LEN) != 1 ||
        RAND_bytes(VST_KS_SIGN_KEY(ks), VST_ED25519_LEN) != 1 ||
        !vst_ks_ed25519_public(VST_KS_SIGN_KEY(ks), in->sign_public) ||
        !vst_ks_derive_master(master, in->id, VST_KS_SEAL_KEY(ks), in->key_check))
        return VST_KS_FAIL(VST_KS_CRYPTO, "keystore %s: key generation failed (OpenSSL)", ks->dir);
    vst_hex(in->id, VST_KS_ID_LEN, in->id_hex);
    return VST_KS_OK;
}

/* keystore.info first, then keystore.sealed as generation 1: a crash in
 * between leaves a header without a sealed file, which open reports as
 * corrupt rather than as no keystore. *wrote_info: the header is on disk. */
static vst_ks_status write_files(vst_keystore *ks, int *wrote_info, char *err, size_t errlen)
{
    char info_text[VST_KS_INFO_MAX];
    ks->info_len = vst_ks_info_format(&ks->info, info_text, sizeof info_text);
    ks->info_raw = ks->info_len ? OPENSSL_strndup(info_text, ks->info_len) : NULL;
    if (ks->info_raw == NULL)
        return VST_KS_FAIL(VST_KS_NOMEM, "keystore %s: out of memory", ks->dir);
    int renamed = 0;
    vst_ks_status st = vst_ks_write_atomic(ks->dirfd, ks->dir, VST_KS_INFO_FILE, ks->info_raw,
                                           ks->info_len, &renamed, err, errlen);
    if (st != VST_KS_OK)
        return st;
    *wrote_info = 1;
    st = vst_ks_seal_and_write(ks, 1, &renamed, err, errlen);
    if (st == VST_KS_OK)
        ks->generation = 1;
    return st;
}

vst_ks_status vst_keystore_create_ex(const char *dir, const uint8_t master[VST_KEY_LEN],
                                     const vst_ks_mode_info *mode, const uint8_t id[VST_KS_ID_LEN],
                                     const vst_ks_share_check *checks, size_t nchecks,
                                     vst_keystore **out, char *err, size_t errlen)
{
    if (out != NULL)
        *out = NULL;
    if (dir == NULL || *dir == '\0' || master == NULL || out == NULL)
        return VST_KS_FAIL(VST_KS_INVALID, "keystore create: missing argument");
    vst_ks_status st = check_mode(mode, err, errlen);
    if (st == VST_KS_OK)
        st = check_share_checks(mode, checks, nchecks, err, errlen);
    if (st != VST_KS_OK)
        return st;

    int made_dir = 0, wrote_info = 0;
    if (mkdir(dir, 0700) == 0)
        made_dir = 1;
    else if (errno != EEXIST)
        return VST_KS_FAIL(VST_KS_IO, "keystore %s: cannot create the directory: %s", dir,
                           strerror(errno));
    vst_keystore *ks = vst_ks_new(dir);
    if (ks == NULL)
        st = VST_KS_FAIL(VST_KS_NOMEM, "keystore %s: out of memory", dir);
    else
        st = prepare_dir(ks, dir, made_dir, err, errlen);
    if (st == VST_KS_OK)
        st = generate(ks, master, mode, id, checks, nchecks, err, errlen);
    if (st == VST_KS_OK)
        st = write_files(ks, &wrote_info, err, errlen);
    if (st == VST_KS_OK) {
        *out = ks;
        return VST_KS_OK;
    }
    /* nothing usable stays behind: the files this call wrote, the
     * directory it made */
    if (ks != NULL && ks->dirfd >= 0 && wrote_info) {
        unlinkat(ks->dirfd, VST_KS_SEALED_FILE, 0);
        unlinkat(ks->dirfd, VST_KS_INFO_FILE, 0);
        (void)fsync(ks->dirfd);
    }
    vst_keystore_free(ks);
    if (made_dir)
        rmdir(dir);
    return st;
}

vst_ks_status vst_keystore_create(const char *dir, const uint8_t master[VST_KEY_LEN],
                                  const vst_ks_mode_info *mode, vst_keystore **out, char *err,
                                  size_t errlen)
{
    return vst_keystore_create_ex(dir, master, mode, NULL, NULL, 0, out, err, errlen);
}

vst_ks_status vst_keystore_open(const char *dir, const uint8_t master[VST_KEY_LEN],
                                vst_keystore **out, char *err, size_t errlen)
{
    if (out != NULL)
        *out = NULL;
    if (dir == NULL || master == NULL || out == NULL)
        return VST_KS_FAIL(VST_KS_INVALID, "keystore open: missing argument");
    vst_ks_status st;
    char *file = NULL;
    size_t file_len = 0;
    vst_keystore *ks = vst_ks_new(dir);
    if (ks == NULL)
        return VST_KS_FAIL(VST_KS_NOMEM, "keystore %s: out of memory", dir);
    ks->dirfd = vst_ks_open_dir(dir);
    if (ks->dirfd < 0) {
        st = errno == ENOENT
                 ? VST_KS_FAIL(VST_KS_NOT_FOUND, "no keystore in %s (no such directory)", dir)
                 : VST_KS_FAIL(VST_KS_IO, "keystore %s: %s", dir, strerror(errno));
        goto fail;
    }
    st = vst_ks_lock_dir(ks->dirfd, dir, err, errlen);
    if (st != VST_KS_OK)
        goto fail;
    st = vst_ks_info_load(ks->dirfd, dir, &ks->info, &ks->info_raw, &ks->info_len, err, errlen);
    if (st != VST_KS_OK)
        goto fail;

    uint8_t kcv[VST_KS_KCV_LEN];
    if (!vst_ks_derive_master(master, ks->info.id, VST_KS_SEAL_KEY(ks), kcv)) {
        st = VST_KS_FAIL(VST_KS_CRYPTO, "keystore %s: key derivation failed (OpenSSL)", dir);
        goto fail;
    }
    if (CRYPTO_memcmp(kcv, ks->info.key_check, VST_KS_KCV_LEN) != 0) {
        st = VST_KS_FAIL(
            VST_KS_WRONG_KEY,
            "keystore %s: wrong master key: it does not belong to this keystore (too few "
            "or wrong shares, or another keystore's master-key file); nothing was unsealed",
            dir);
        goto fail;
    }
    st = vst_ks_read_at(ks->dirfd, dir, VST_KS_SEALED_FILE, VST_KS_SEALED_MAX, &file, &file_len,
                        err, errlen);
    if (st == VST_KS_NOT_FOUND)
        st = VST_KS_FAIL(VST_KS_CORRUPT,
                         "keystore %s: " VST_KS_SEALED_FILE
                         " is missing (interrupted creation? restore "
                         "it from backup)",
                         dir);
    if (st != VST_KS_OK)
        goto fail;
    st = vst_ks_unseal(ks, (const uint8_t *)file, file_len, err, errlen);
    if (st != VST_KS_OK)
        goto fail;
    OPENSSL_free(file);
    *out = ks;
    return VST_KS_OK;
fail:
    OPENSSL_free(file);
    vst_keystore_free(ks);
    return st;
}
