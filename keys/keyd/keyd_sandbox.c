/* keyd's process hardening (DESIGN.md §2): when started as root it locks
 * all its memory (keys never reach swap), drops to its own user keeping
 * exactly one capability, CAP_IPC_LOCK (so that memory mapped later is
 * locked too, beyond RLIMIT_MEMLOCK), disables core dumps and ptrace attach
 * (PR_SET_DUMPABLE 0) and sets NO_NEW_PRIVS. The seccomp allowlist that
 * comes last is keyd_seccomp.c's. */
#define _GNU_SOURCE /* accept4, SO_PEERCRED, setresuid, MCL_ONFAULT */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "keyd/keyd.h"

int keyd_harden_process(char *err, size_t errlen)
{
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        snprintf(err, errlen, "disabling core dumps: %s", strerror(errno));
        return -1;
    }
    /* MCL_ONFAULT locks pages as they are touched instead of every
     * reservation at once (sanitizer builds reserve terabytes of shadow). */
    if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0) {
        if (geteuid() == 0) {
            snprintf(err, errlen, "locking memory: %s", strerror(errno));
            return -1;
        }
        keyd_log("warning",
                 "memory is not locked (%s): give vst-keyd CAP_IPC_LOCK or start "
                 "it as root; keys stay in OpenSSL's secure heap",
                 strerror(errno));
    }
    return 0;
}

int keyd_drop_privileges(const char *user, char *err, size_t errlen)
{
    if (geteuid() != 0)
        return 0;
    if (user == NULL || user[0] == '\0') {
        keyd_log("warning", "running as root: set `user` to keyd's own account");
        return 0;
    }
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        snprintf(err, errlen, "user \"%s\" does not exist (create it, or set `user`)", user);
        return -1;
    }
    if (chown(g_cfg.data_socket, pw->pw_uid, pw->pw_gid) != 0 ||
        chown(g_cfg.admin_socket, pw->pw_uid, pw->pw_gid) != 0) {
        snprintf(err, errlen, "chown of the sockets: %s", strerror(errno));
        return -1;
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 || setgroups(0, NULL) != 0 ||
        setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
        setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0) {
        snprintf(err, errlen, "dropping to user %s: %s", user, strerror(errno));
        return -1;
    }
    /* Keep CAP_IPC_LOCK alone: memory locked with MCL_FUTURE may then
     * exceed the user's RLIMIT_MEMLOCK. Every other capability is gone. */
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct caps[2] = {{0}};
    caps[0].effective = caps[0].permitted = 1u << CAP_IPC_LOCK;
    if (syscall(SYS_capset, &hdr, caps) != 0 || prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) {
        snprintf(err, errlen, "dropping capabilities: %s", strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) { /* must be impossible now */
        snprintf(err, errlen, "privileges were not dropped");
        return -1;
    }
    /* setuid resets dumpable; set it again. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(err, errlen, "prctl: %s", strerror(errno));
        return -1;
    }
    return 0;
}
