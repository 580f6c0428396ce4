/* keyd's authenticated state files: small files in the state directory
 * that must survive a restart and that keyd must be able to trust when it
 * reads them back — the usage counters and budget windows (keyd_usage.c),
 * the last signed checkpoint (keyd_checkpoint.c) and the overlap queries'
 * pair budgets (keyd_overlap.c).
 *
 * A file is   "vst-keyd-state-1" 0x00 || str8 name || u64 generation
 *             || u32 payload_len || payload || HMAC-SHA256(K_state, all before)
 * with K_state = HKDF-SHA256(K_root, info = "vst/keyd-state/1"). The name
 * inside the MAC keeps one state file from being passed off as another; the
 * root key ties it to this keystore. The MAC proves that keyd wrote the
 * file, not that it is the newest one: an operator who restores an older
 * file lowers the counts, which the signed usage events in the audit log
 * then show as totals going backwards (vst-audit verify).
 *
 * The directory is opened at start-up (before privileges are dropped and
 * seccomp is installed); files are read once keyd is unsealed (the key
 * needs the root key) and replaced atomically: temp file, fsync, rename,
 * fsync of the directory — the system calls keystore rewrites use. Both
 * directions go through the checked buffer (core/buf.h). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "keyd/keyd.h"

#define MAGIC "vst-keyd-state-1"
#define MAC_LEN 32
#define NAME_MAX_LEN 32
#define STATE_MAX (4u << 20) /* far above any state keyd writes */

static int state_dirfd = -1;
static char dirpath[512];
static uint8_t mac_key[VST_KEY_LEN];
static int have_key;
static uint64_t generation;

int keyd_state_open(const char *dir, char *err, size_t errlen)
{
    snprintf(dirpath, sizeof dirpath, "%s", dir);
    state_dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (state_dirfd < 0) {
        snprintf(err, errlen, "state directory %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

void keyd_state_close(void)
{
    if (state_dirfd >= 0)
        close(state_dirfd);
    state_dirfd = -1;
    OPENSSL_cleanse(mac_key, sizeof mac_key);
    have_key = 0;
}

int keyd_state_unlock(void)
{
    if (keyd_derive_key("vst/keyd-state/1", mac_key) != 0)
        return -1;
    have_key = 1;
    return 0;
}

static int mac(const uint8_t *data, size_t len, uint8_t out[MAC_LEN])
{
    unsigned n = 0;
    return HMAC(EVP_sha256(), mac_key, sizeof mac_key, data, len, out, &n) != NULL && n == MAC_LEN
               ? 0
               : -1;
}

/* Reads the whole file (at most STATE_MAX bytes): 0, 1 if missing, -1. */
static int read_all(const char *name, uint8_t **out, size_t *len)
{
    int fd = openat(state_dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 1 : -1;
    struct stat st;
    uint8_t *buf = NULL;
    int rc = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uint64_t)st.st_size <= STATE_MAX && (buf = malloc((size_t)st.st_size)) != NULL) {
        size_t got = 0;
        ssize_t n;
        while (got < (size_t)st.st_size && (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0)
            got += (size_t)n;
        if (got == (size_t)st.st_size) {
            *out = buf;
            *len = got;
            buf = NULL;
            rc = 0;
        }
    }
    free(buf);
    close(fd);
    return rc;
}

/* The payload of name's state file f[0..n) (a view into f) and its
 * generation: 0, or -1 when the file is not one keyd wrote under this name
 * with this key. */
static int parse_file(const uint8_t *f, size_t n, const char *name, const uint8_t **payload,
                      size_t *len, uint64_t *gen)
{
    vst_rd r;
    const uint8_t *magic;
    char got[NAME_MAX_LEN + 1];
    uint32_t pl;
    uint8_t want[MAC_LEN];
    if (n < MAC_LEN)
        return -1;
    vst_rd_init(&r, f, n - MAC_LEN);
    if (vst_rd_view(&r, sizeof MAGIC, &magic) || memcmp(magic, MAGIC, sizeof MAGIC) != 0 ||
        vst_rd_str8(&r, got, sizeof got) || strcmp(got, name) != 0 || vst_rd_u64(&r, gen) ||
        vst_rd_u32(&r, &pl) || pl != vst_rd_left(&r) || vst_rd_view(&r, pl, payload) ||
        mac(f, n - MAC_LEN, want) != 0 || CRYPTO_memcmp(want, f + n - MAC_LEN, MAC_LEN) != 0)
        return -1;
    *len = pl;
    return 0;
}

keyd_state_rc keyd_state_load(const char *name, uint8_t **payload, size_t *len)
{
    *payload = NULL;
    *len = 0;
    if (state_dirfd < 0 || !have_key || strlen(name) > NAME_MAX_LEN)
        return KEYD_STATE_ERROR;
    uint8_t *buf = NULL;
    size_t n = 0;
    int r = read_all(name, &buf, &n);
    if (r == 1)
        return KEYD_STATE_MISSING;
    if (r != 0)
        return KEYD_STATE_INVALID; /* unreadable: treated like a bad file */
    const uint8_t *p;
    size_t pl;
    uint64_t g;
    keyd_state_rc rc = KEYD_STATE_INVALID;
    if (parse_file(buf, n, name, &p, &pl, &g) == 0) {
        if (g > generation)
            generation = g;
        *payload = malloc(pl ? pl : 1);
        if (*payload != NULL) {
            if (pl > 0)
                memcpy(*payload, p, pl);
            *len = pl;
            rc = KEYD_STATE_OK;
        } else {
            rc = KEYD_STATE_ERROR;
        }
    }
    free(buf);
    return rc;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The whole file for name and payload, its MAC last. */
static int build_file(vst_wr *w, const char *name, const uint8_t *payload, size_t len)
{
    uint8_t *tag;
    if (vst_wr_put(w, MAGIC, sizeof MAGIC) || vst_wr_str8(w, name, strlen(name)) ||
        vst_wr_u64(w, ++generation) || vst_wr_u32(w, (uint32_t)len) ||
        vst_wr_put(w, payload, len) || vst_wr_reserve(w, MAC_LEN, &tag))
        return -1;
    return mac(vst_wr_data(w), vst_wr_len(w) - MAC_LEN, tag);
}

int keyd_state_save(const char *name, const uint8_t *payload, size_t len)
{
    if (state_dirfd < 0 || !have_key || strlen(name) > NAME_MAX_LEN || len > STATE_MAX)
        return -1;
    vst_wr w = VST_WR_INIT;
    char tmp[NAME_MAX_LEN + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    int rc = build_file(&w, name, payload, len);
    int fd = -1;
    if (rc == 0) {
        /* A fresh temp file (O_EXCL after removing a leftover), the one
         * create keyd's seccomp filter allows (keyd_seccomp.c). */
        (void)unlinkat(state_dirfd, tmp, 0);
        fd = openat(state_dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        rc = fd >= 0 ? 0 : -1;
    }
    if (rc == 0)
        rc = write_all(fd, vst_wr_data(&w), vst_wr_len(&w)) == 0 && fsync(fd) == 0 ? 0 : -1;
    if (fd >= 0 && close(fd) != 0)
        rc = -1;
    if (rc == 0)
        rc = renameat(state_dirfd, tmp, state_dirfd, name) == 0 && fsync(state_dirfd) == 0 ? 0 : -1;
    if (rc != 0)
        keyd_log("error", "cannot write the state file %s/%s: %s", dirpath, name, strerror(errno));
    vst_wr_free(&w);
    return rc;
}

void keyd_state_set_aside(const char *name)
{
    char aside[NAME_MAX_LEN + 16];
    snprintf(aside, sizeof aside, "%s.rejected", name);
    if (state_dirfd >= 0)
        (void)renameat(state_dirfd, name, state_dirfd, aside);
}

void keyd_state_unsealed(void)
{
    const char *usage = "error", *checkpoint = "error", *overlap = "error";
    if (keyd_state_unlock() == 0) {
        usage = keyd_usage_load();
        checkpoint = keyd_checkpoint_load();
        overlap = keyd_overlap_load();
    } else {
        keyd_log("error", "cannot derive the state files' key");
    }
    /* Counting from zero, or forgetting the last signed checkpoint, is
     * what an operator who deletes the files would want: it is audited. */
    if (strcmp(usage, "loaded") != 0 || strcmp(checkpoint, "loaded") != 0 ||
        strcmp(overlap, "loaded") != 0)
        keyd_event((uint32_t)getuid(), "keyd.state_reset",
                   "{\"usage\":\"%s\",\"checkpoint\":\"%s\",\"overlap\":\"%s\"}", usage, checkpoint,
                   overlap);
}
