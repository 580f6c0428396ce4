/* keyd's seccomp allowlist (keys/keyd/keyd_seccomp.c) on its own: every
 * case forks, installs keyd_seccomp() in the child and makes one system
 * call (or a few). What keyd needs must pass; what it must never do
 * (execute, fork, make a socket, chown, map executable memory, ioctl other
 * than TCGETS, open a file for writing other than as a new 0600 file) must
 * kill the child with SIGSYS. The real daemon under the filter is
 * tests/keyd/test_keyd.c's sandbox suite. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cunit_main.h"
#include "keyd/keyd.h"

static char dir[64];    /* scratch directory of this run */
static char exist[128]; /* a file in it */
static int sp[2];       /* a connected socket pair, made before the filter */

/* What a child does after the filter is in: 0 when every step succeeded as
 * expected, else the number of the step that did not. */
typedef int (*step_fn)(void);

/* Runs fn under the filter in a child: its exit code (0..255), or 1000 +
 * signal when it was killed. */
static int under_filter(step_fn fn)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        char err[256];
        if (keyd_seccomp(err, sizeof err) != 0) {
            fprintf(stderr, "keyd_seccomp: %s\n", err);
            _exit(99);
        }
        _exit(fn()); /* no atexit handlers: LeakSanitizer would need ptrace */
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFSIGNALED(st) ? 1000 + WTERMSIG(st) : WEXITSTATUS(st);
}

static void expect_allowed(const char *what, step_fn fn)
{
    int r = under_filter(fn);
    if (r != 0)
        fprintf(stderr, "allowed case \"%s\": %s %d\n", what, r >= 1000 ? "signal" : "step",
                r >= 1000 ? r - 1000 : r);
    CU_ASSERT_EQUAL(r, 0);
}

static void expect_killed(const char *what, step_fn fn)
{
    int r = under_filter(fn);
    if (r != 1000 + SIGSYS)
        fprintf(stderr, "forbidden case \"%s\": not killed by SIGSYS (%d)\n", what, r);
    CU_ASSERT_EQUAL(r, 1000 + SIGSYS);
}

/* ------------------------------------------------------------ what keyd does */

static int loop_io(void)
{
    char b[4];
    if (send(sp[1], "abc", 3, MSG_NOSIGNAL) != 3 || read(sp[0], b, 3) != 3)
        return 2;
    if (write(sp[0], "de", 2) != 2 || recv(sp[1], b, 2, 0) != 2)
        return 1;
    struct timespec t;
    if (clock_gettime(CLOCK_MONOTONIC, &t) != 0 || getpid() <= 0)
        return 3;
    uint8_t r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return 4;
    if (shutdown(sp[0], SHUT_RDWR) != 0 || close(sp[0]) != 0)
        return 5;
    return 0;
}

static int memory(void)
{
    void *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return 1;
    memset(m, 1, 1 << 20);
    if (mprotect(m, 4096, PROT_READ) != 0 || mprotect(m, 4096, PROT_NONE) != 0)
        return 2;
    if (munmap(m, 1 << 20) != 0)
        return 3;
    char *big = malloc(8 << 20);
    if (big == NULL)
        return 4;
    memset(big, 2, 8 << 20);
    free(big);
    return 0;
}

/* A keystore rewrite: read, temp file, fsync, rename, fsync dir, lock. */
static int keystore_rewrite(void)
{
    int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return 1;
    if (flock(d, LOCK_EX | LOCK_NB) != 0)
        return 2;
    int f = openat(d, "keystore.info", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    char b[16];
    if (f < 0 || read(f, b, sizeof b) < 0)
        return 3;
    close(f);
    int t = openat(d, ".tmp", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (t < 0 || fchmod(t, 0600) != 0 || write(t, "x", 1) != 1 || fsync(t) != 0)
        return 4;
    close(t);
    if (renameat(d, ".tmp", d, "keystore.sealed") != 0 || fsync(d) != 0)
        return 5;
    struct stat st;
    if (fstatat(d, "keystore.sealed", &st, AT_SYMLINK_NOFOLLOW) != 0)
        return 6;
    if (unlinkat(d, "keystore.sealed", 0) != 0)
        return 7;
    close(d);
    return 0;
}

/* keystore_info.c's check for a missing keystore.info (it killed keyd). */
static int access_checks(void)
{
    int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d < 0)
        return 1;
    if (faccessat(d, "no-such-file", F_OK, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
        return 2;
    if (faccessat(d, "keystore.info", F_OK, AT_SYMLINK_NOFOLLOW) != 0)
        return 3;
    if (access(exist, R_OK) != 0)
        return 4;
    close(d);
    return 0;
}

static int isatty_probe(void)
{
    struct termios t;
    (void)ioctl(0, TCGETS, &t); /* ENOTTY or not: either way it returns */
    return 0;
}

static int read_only_open(void)
{
    int f = open(exist, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (f < 0)
        return 1;
    close(f);
    return 0;
}

/* ------------------------------------------------------------ what it must not */

static int exec_mmap(void)
{
    (void)mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return 0;
}

static int exec_mprotect(void)
{
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return 1;
    (void)mprotect(m, 4096, PROT_READ | PROT_EXEC);
    return 0;
}

static int ioctl_fionread(void)
{
    int n;
    (void)ioctl(0, FIONREAD, &n);
    return 0;
}

static int open_rdwr(void)
{
    (void)open(exist, O_RDWR | O_CLOEXEC);
    return 0;
}

static int open_trunc(void)
{
    (void)open(exist, O_WRONLY | O_TRUNC | O_CLOEXEC);
    return 0;
}

static int open_append(void)
{
    (void)open(exist, O_WRONLY | O_APPEND | O_CLOEXEC);
    return 0;
}

static int create_0644(void)
{
    char p[160];
    snprintf(p, sizeof p, "%s/loose", dir);
    (void)open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    return 0;
}

static int create_no_excl(void)
{
    char p[160];
    snprintf(p, sizeof p, "%s/over", dir);
    (void)open(p, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    return 0;
}

static int do_fchown(void)
{
    int f = open(exist, O_RDONLY | O_CLOEXEC);
    (void)fchown(f, 0, 0);
    return 0;
}

static int do_fchmod_loose(void)
{
    int f = open(exist, O_RDONLY | O_CLOEXEC);
    (void)fchmod(f, 0644);
    return 0;
}

static int do_chmod(void)
{
    (void)chmod(exist, 0600);
    return 0;
}

static int do_exec(void)
{
    char *const argv[] = {"/bin/true", NULL};
    execv("/bin/true", argv);
    return 0;
}

static int do_fork(void)
{
    (void)syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
    return 0;
}

static int do_socket(void)
{
    (void)socket(AF_INET, SOCK_STREAM, 0);
    return 0;
}

static int do_setuid(void)
{
    (void)syscall(SYS_setuid, 0);
    return 0;
}

static int do_ptrace(void)
{
    (void)ptrace(PTRACE_TRACEME, 0, NULL, NULL);
    return 0;
}

static int do_mkdir(void)
{
    char p[160];
    snprintf(p, sizeof p, "%s/sub", dir);
    (void)mkdir(p, 0700);
    return 0;
}

static int do_link(void)
{
    char p[160];
    snprintf(p, sizeof p, "%s/alias", dir);
    (void)symlink(exist, p);
    return 0;
}

/* ------------------------------------------------------------ tests */

static int suite_init(void)
{
    snprintf(dir, sizeof dir, "/tmp/vst-seccomp-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(exist, sizeof exist, "%s/keystore.info", dir);
    FILE *f = fopen(exist, "w");
    if (f == NULL)
        return -1;
    fputs("vst-keystore-v1\n", f);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0)
        return -1;
    return fclose(f);
}

static int suite_clean(void)
{
    close(sp[0]);
    close(sp[1]);
    char p[160];
    const char *names[] = {"keystore.info", "keystore.sealed", ".tmp", "loose", "over", "alias"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/sub", dir);
    rmdir(p);
    rmdir(dir);
    return 0;
}

static void test_needed_calls_pass(void)
{
    expect_allowed("poll loop I/O, clock, randomness", loop_io);
    expect_allowed("mmap, mprotect without exec, the allocator", memory);
    expect_allowed("keystore rewrite: temp file, fsync, rename, lock", keystore_rewrite);
    expect_allowed("faccessat/access (a missing keystore.info)", access_checks);
    expect_allowed("ioctl TCGETS (isatty)", isatty_probe);
    expect_allowed("read-only open", read_only_open);
}

static void test_forbidden_calls_kill(void)
{
    expect_killed("mmap PROT_EXEC", exec_mmap);
    expect_killed("mprotect to PROT_EXEC", exec_mprotect);
    expect_killed("ioctl FIONREAD", ioctl_fionread);
    expect_killed("open O_RDWR", open_rdwr);
    expect_killed("open O_TRUNC", open_trunc);
    expect_killed("open O_APPEND", open_append);
    expect_killed("create with mode 0644", create_0644);
    expect_killed("create without O_EXCL", create_no_excl);
    expect_killed("fchown", do_fchown);
    expect_killed("fchmod 0644", do_fchmod_loose);
    expect_killed("chmod", do_chmod);
    expect_killed("execve", do_exec);
    expect_killed("fork (clone)", do_fork);
    expect_killed("socket", do_socket);
    expect_killed("setuid", do_setuid);
    expect_killed("ptrace", do_ptrace);
    expect_killed("mkdir", do_mkdir);
    expect_killed("symlink", do_link);
    /* Nothing was created or changed behind the filter's back. */
    char p[160];
    snprintf(p, sizeof p, "%s/loose", dir);
    CU_ASSERT(access(p, F_OK) != 0);
    snprintf(p, sizeof p, "%s/over", dir);
    CU_ASSERT(access(p, F_OK) != 0);
    struct stat st;
    CU_ASSERT(stat(exist, &st) == 0 && st.st_size == 16);
}

int vst_register_tests(void)
{
    CU_pSuite s = CU_add_suite("keyd seccomp allowlist", suite_init, suite_clean);
    if (s == NULL || CU_add_test(s, "needed calls pass", test_needed_calls_pass) == NULL ||
        CU_add_test(s, "forbidden calls kill with SIGSYS", test_forbidden_calls_kill) == NULL)
        return CU_get_error();
    return CUE_SUCCESS;
}
