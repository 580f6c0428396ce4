/* Dropping root for a daemon's own account (DESIGN.md §2, docs/operations.md).
 * vst-keyd keeps CAP_IPC_LOCK alone; a daemon that keeps no capability
 * (vst-httpd) passes keep_caps 0. */
#ifndef VST_PRIVDROP_H
#define VST_PRIVDROP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *user;         /* the account to become; "" or NULL: stay root */
    uint32_t keep_caps;       /* capabilities kept, as bits 1u << CAP_x (x < 32); 0: none */
    const char *const *chown; /* NULL-terminated paths handed to the user first, or NULL */
} vst_privdrop;

enum {
    VST_PRIVDROP_DONE = 0,        /* now the user, or not root to begin with */
    VST_PRIVDROP_STAYED_ROOT = 1, /* root and no user set: the caller warns */
};

/* Does nothing unless the effective uid is 0. Otherwise looks the user up,
 * chowns the given paths to it, clears the supplementary groups, sets the
 * real, effective and saved gid and uid, keeps exactly keep_caps in the
 * permitted and effective sets, checks that root cannot be regained, and
 * sets PR_SET_DUMPABLE 0 (setuid resets it) and PR_SET_NO_NEW_PRIVS.
 * Returns a VST_PRIVDROP_* value, or -1 with one line in err. */
int vst_privdrop_to(const vst_privdrop *d, char *err, size_t errlen);

#endif
