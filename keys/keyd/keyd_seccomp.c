/* keyd's seccomp allowlist (DESIGN.md §2; docs/operations.md "Sandbox").
 *
 * Installed once start-up is done (sockets made, privileges dropped, the
 * development master key read): from then on keyd may only do what its
 * poll loop, the allocator, OpenSSL and a keystore rewrite (rotate,
 * retire: temp file, fsync, rename) need. Anything else kills the process
 * (SIGSYS): it cannot execute, fork, open a network socket, change its
 * credentials or ownerships, or map executable memory.
 *
 * The list was taken from strace of every keyd test (tests/keyd) after the
 * filter's install point. Arguments are checked where seccomp can see them
 * (registers, never memory behind a pointer):
 *  - mmap/mprotect: never PROT_EXEC (no new code, no JIT: keyd has none);
 *  - ioctl: TCGETS only (isatty, which stdio may ask); no other request;
 *  - openat: read-only opens (no write, create, truncate or append flag),
 *    or exactly the keystore's temp-file create (O_WRONLY|O_CREAT|O_EXCL|
 *    O_NOFOLLOW|O_CLOEXEC, mode 0600): an existing file can never be
 *    opened for writing, nor a file created with looser permissions.
 *    The path cannot be checked here: which directories keyd may write is
 *    up to file permissions and the unit's ReadWritePaths;
 *  - fchmod: mode 0600 only. No chown of any kind.
 *
 * What start-up would otherwise do lazily after the install is done first
 * here: OpenSSL reads its configuration, jansson seeds its hash function
 * (both would open files later). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "keyd/keyd.h"

/* Calls allowed whatever their arguments. */
static const char *const allow[] = {
    /* the poll loop and its sockets */
    "read", "write", "readv", "writev", "pread64", "close", "poll", "ppoll", "accept4",
    "getsockopt", "sendto", "recvfrom", "shutdown",
    /* files: the events file, the keystore and the state files (read,
     * rewrite, lock) */
    "newfstatat", "fstat", "statx", "lstat", "stat", "lseek", "fsync", "fdatasync", "renameat",
    "renameat2", "unlink", "unlinkat", "flock", "fcntl", "faccessat", "faccessat2", "access",
    /* memory (mmap and mprotect: below) */
    "brk", "munmap", "mremap", "madvise", "mlock", "munlock",
    /* randomness, time, identity, signals, exit */
    "getrandom", "futex", "clock_gettime", "clock_nanosleep", "nanosleep", "gettimeofday", "getpid",
    "gettid", "getuid", "geteuid", "getgid", "getegid", "rt_sigreturn", "rt_sigprocmask",
    "rt_sigaction", "sigaltstack", "tgkill", "exit", "exit_group", "sched_yield", "restart_syscall",
    "sched_getaffinity", "prlimit64", "getrlimit", "uname"};

/* Open flags that change nothing on disk. */
#define OPEN_HARMLESS (O_CLOEXEC | O_NOFOLLOW | O_DIRECTORY | O_NOCTTY)
/* The keystore's and the state files' temp files (keystore_file.c
 * vst_ks_write_atomic, keyd_state.c). */
#define OPEN_CREATE_NEW (O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC)

static int add_rules(scmp_filter_ctx ctx)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof allow / sizeof allow[0]; i++) {
        int nr = seccomp_syscall_resolve_name(allow[i]);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not on this architecture */
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
    }
    const scmp_datum_t noexec = PROT_EXEC, flags = (uint32_t)~OPEN_HARMLESS;
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, noexec, 0));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, noexec, 0));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)TCGETS));
    /* O_RDONLY is 0: no access-mode bit and nothing but harmless flags. */
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, flags, 0));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 2,
                              SCMP_A2(SCMP_CMP_EQ, (scmp_datum_t)OPEN_CREATE_NEW),
                              SCMP_A3(SCMP_CMP_EQ, (scmp_datum_t)0600));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fchmod), 1,
                              SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)0600));
    return rc;
}

int keyd_seccomp(char *err, size_t errlen)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(err, errlen, "prctl(NO_NEW_PRIVS): %s", strerror(errno));
        return -1;
    }
    if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1) {
        snprintf(err, errlen, "OpenSSL initialisation failed");
        return -1;
    }
    json_object_seed(0);
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (ctx == NULL) {
        snprintf(err, errlen, "seccomp_init failed");
        return -1;
    }
    int rc = add_rules(ctx);
    if (rc == 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc != 0) {
        snprintf(err, errlen, "installing the seccomp filter: %s", strerror(-rc));
        return -1;
    }
    return 0;
}
