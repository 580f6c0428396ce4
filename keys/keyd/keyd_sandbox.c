/* keyd's process hardening (DESIGN.md §2): when started as root it locks
 * all its memory (keys never reach swap), drops to its own user keeping
 * exactly one capability, CAP_IPC_LOCK (so that memory mapped later is
 * locked too, beyond RLIMIT_MEMLOCK), disables core dumps and ptrace attach
 * (PR_SET_DUMPABLE 0) and sets NO_NEW_PRIVS. The drop itself is
 * core/privdrop.c's; the seccomp allowlist that comes last is
 * keyd_seccomp.c's. */
#define _GNU_SOURCE /* MCL_ONFAULT */
#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/privdrop.h"
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
    const char *const sockets[] = {g_cfg.data_socket, g_cfg.admin_socket, NULL};
    /* Keep CAP_IPC_LOCK alone: memory locked with MCL_FUTURE may then
     * exceed the user's RLIMIT_MEMLOCK. Every other capability is gone. */
    const vst_privdrop d = {.user = user, .keep_caps = 1u << CAP_IPC_LOCK, .chown = sockets};
    int rc = vst_privdrop_to(&d, err, errlen);
    if (rc == VST_PRIVDROP_STAYED_ROOT)
        keyd_log("warning", "running as root: set `user` to keyd's own account");
    return rc < 0 ? -1 : 0;
}
