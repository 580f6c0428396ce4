/* Dropping root; see privdrop.h. */
#define _GNU_SOURCE /* setresuid, setresgid */
#include "core/privdrop.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/msg.h"

/* Keeps exactly `caps` (after setresuid with PR_SET_KEEPCAPS). */
static int set_caps(uint32_t caps)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {{0}};
    data[0].effective = data[0].permitted = caps;
    return syscall(SYS_capset, &hdr, data) != 0 || prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0 ? -1 : 0;
}

int vst_privdrop_to(const vst_privdrop *d, char *err, size_t errlen)
{
    if (geteuid() != 0)
        return VST_PRIVDROP_DONE;
    if (d->user == NULL || d->user[0] == '\0')
        return VST_PRIVDROP_STAYED_ROOT;
    struct passwd *pw = getpwnam(d->user);
    if (pw == NULL) {
        vst_msg(err, errlen, "user \"%s\" does not exist (create it, or set `user`)", d->user);
        return -1;
    }
    for (size_t i = 0; d->chown != NULL && d->chown[i] != NULL; i++)
        if (chown(d->chown[i], pw->pw_uid, pw->pw_gid) != 0) {
            vst_msg(err, errlen, "chown of %s: %s", d->chown[i], strerror(errno));
            return -1;
        }
    if ((d->keep_caps != 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) || setgroups(0, NULL) != 0 ||
        setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
        setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0) {
        vst_msg(err, errlen, "dropping to user %s: %s", d->user, strerror(errno));
        return -1;
    }
    /* Without PR_SET_KEEPCAPS setresuid cleared every capability. */
    if (d->keep_caps != 0 && set_caps(d->keep_caps) != 0) {
        vst_msg(err, errlen, "dropping capabilities: %s", strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) { /* must be impossible now */
        vst_msg(err, errlen, "privileges were not dropped");
        return -1;
    }
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        vst_msg(err, errlen, "prctl: %s", strerror(errno));
        return -1;
    }
    return VST_PRIVDROP_DONE;
}
