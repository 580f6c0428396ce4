/* The keystore's file I/O (keystore_internal.h, docs/keystore.md "Atomic
 * writes, locking"): whole-file reads that refuse symlinks, non-regular and
 * oversized files; atomic replace (temp file, fsync, rename, fsync of the
 * directory); new 0600 files for shares and the master-key file; the
 * directory's flock. What the bytes mean is the other files' business. */
#include "keystore_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "core/hex.h"

static vst_ks_status write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return VST_KS_IO;
        }
        p += w;
        len -= (size_t)w;
    }
    return VST_KS_OK;
}

/* Reads a whole regular file opened as fd (at most max bytes) into a fresh
 * OPENSSL_malloc'd buffer with a terminating NUL. */
static vst_ks_status read_fd(int fd, size_t max, char **out, size_t *outlen, const char *what,
                             char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return VST_KS_FAIL(VST_KS_IO, "%s: %s", what, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return VST_KS_FAIL(VST_KS_CORRUPT, "%s: not a regular file", what);
    if (st.st_size < 0 || (uint64_t)st.st_size > max)
        return VST_KS_FAIL(VST_KS_CORRUPT, "%s: file is too large (%lld bytes)", what,
                           (long long)st.st_size);
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *buf = OPENSSL_malloc(cap);
    if (buf == NULL)
        return VST_KS_FAIL(VST_KS_NOMEM, "%s: out of memory", what);
    for (;;) {
        if (len == cap - 1) {
            /* grown since fstat: one more byte means "too large" */
            char extra;
            ssize_t r = read(fd, &extra, 1);
            if (r == 0)
                break;
            if (r < 0 && errno == EINTR)
                continue;
            OPENSSL_free(buf);
            if (r < 0)
                return VST_KS_FAIL(VST_KS_IO, "%s: %s", what, strerror(errno));
            return VST_KS_FAIL(VST_KS_CORRUPT, "%s: file changed while being read", what);
        }
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            OPENSSL_free(buf);
            return VST_KS_FAIL(VST_KS_IO, "%s: %s", what, strerror(e));
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return VST_KS_OK;
}

vst_ks_status vst_ks_read_at(int dirfd, const char *dir, const char *name, size_t max, char **out,
                             size_t *outlen, char *err, size_t errlen)
{
    char what[PATH_MAX + 64];
    snprintf(what, sizeof what, "keystore %s: %s", dir, name);
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return VST_KS_FAIL(VST_KS_NOT_FOUND, "%s is missing", what);
        return VST_KS_FAIL(VST_KS_IO, "%s: %s", what, strerror(errno));
    }
    vst_ks_status st = read_fd(fd, max, out, outlen, what, err, errlen);
    close(fd);
    return st;
}

/* Fills a file just created: mode 0600 whatever the umask, the data,
 * fsync, close. The fd is closed either way. NULL, or the step that failed
 * (errno set). */
static const char *fill_and_close(int fd, const void *data, size_t len)
{
    const char *step = NULL;
    if (fchmod(fd, 0600) != 0)
        step = "fchmod";
    else if (write_all(fd, data, len) != VST_KS_OK)
        step = "write";
    else if (fsync(fd) != 0)
        step = "fsync";
    int e = errno;
    if (close(fd) != 0 && step == NULL)
        return "close";
    errno = e;
    return step;
}

/* The temp file is named at random: a stale one from a crash never blocks
 * the next write. */
vst_ks_status vst_ks_write_atomic(int dirfd, const char *dir, const char *name, const void *data,
                                  size_t len, int *renamed, char *err, size_t errlen)
{
    if (renamed != NULL)
        *renamed = 0;
    uint8_t rnd[8];
    char rhex[2 * sizeof rnd + 1], tmp[128];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return VST_KS_FAIL(VST_KS_CRYPTO, "keystore %s: random number generator failed", dir);
    vst_hex(rnd, sizeof rnd, rhex);
    snprintf(tmp, sizeof tmp, ".%s.%s.tmp", name, rhex);

    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return VST_KS_FAIL(VST_KS_IO, "keystore %s: cannot create %s: %s", dir, tmp,
                           strerror(errno));
    const char *step = fill_and_close(fd, data, len);
    fd = -1;
    if (step != NULL)
        goto fail;
    step = "rename";
    if (renameat(dirfd, tmp, dirfd, name) != 0)
        goto fail;
    if (renamed != NULL)
        *renamed = 1;
    if (fsync(dirfd) != 0)
        return VST_KS_FAIL(
            VST_KS_IO,
            "keystore %s: %s was replaced but the directory could not be synced (%s): "
            "the change may not survive a crash",
            dir, name, strerror(errno));
    return VST_KS_OK;
fail:;
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlinkat(dirfd, tmp, 0);
    return VST_KS_FAIL(VST_KS_IO, "keystore %s: writing %s failed (%s): %s", dir, name, step,
                       strerror(e));
}

static void fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir)
            return;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

vst_ks_status vst_ks_write_new_file(const char *path, const void *data, size_t len, char *err,
                                    size_t errlen)
{
    if (path == NULL || (data == NULL && len > 0))
        return VST_KS_FAIL(VST_KS_INVALID, "no file name given");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return VST_KS_FAIL(VST_KS_EXISTS, "%s already exists; refusing to overwrite it", path);
        return VST_KS_FAIL(VST_KS_IO, "cannot create %s: %s", path, strerror(errno));
    }
    const char *step = fill_and_close(fd, data, len);
    fd = -1;
    if (step != NULL)
        goto fail;
    fsync_parent(path);
    return VST_KS_OK;
fail:;
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlink(path);
    return VST_KS_FAIL(VST_KS_IO, "writing %s failed (%s): %s", path, step, strerror(e));
}

vst_ks_status vst_ks_read_small_file(const char *path, char *buf, size_t cap, size_t *len,
                                     unsigned *mode, char *err, size_t errlen)
{
    if (path == NULL || buf == NULL || cap == 0 || len == NULL)
        return VST_KS_FAIL(VST_KS_INVALID, "no file name given");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT)
            return VST_KS_FAIL(VST_KS_NOT_FOUND, "%s: no such file", path);
        return VST_KS_FAIL(VST_KS_IO, "%s: %s", path, strerror(errno));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return VST_KS_FAIL(VST_KS_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return VST_KS_FAIL(VST_KS_INVALID, "%s: not a regular file", path);
    }
    if (mode != NULL)
        *mode = (unsigned)sb.st_mode;
    size_t n = 0;
    vst_ks_status st = VST_KS_OK;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            st = VST_KS_FAIL(VST_KS_IO, "%s: %s", path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            st = VST_KS_FAIL(VST_KS_CORRUPT, "%s: file is too large (more than %zu bytes)", path,
                             cap - 1);
            break;
        }
    }
    close(fd);
    if (st != VST_KS_OK) {
        OPENSSL_cleanse(buf, cap);
        return st;
    }
    buf[n] = '\0';
    *len = n;
    return VST_KS_OK;
}

int vst_ks_open_dir(const char *dir)
{
    return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

vst_ks_status vst_ks_lock_dir(int dirfd, const char *dir, char *err, size_t errlen)
{
    while (flock(dirfd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR)
            continue;
        if (errno == EWOULDBLOCK)
            return VST_KS_FAIL(
                VST_KS_BUSY,
                "keystore %s is in use by another process (is vst-keyd already running?)", dir);
        return VST_KS_FAIL(VST_KS_IO, "keystore %s: cannot lock: %s", dir, strerror(errno));
    }
    return VST_KS_OK;
}
