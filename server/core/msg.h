/* The "0 or -1 with a message" convention of vst's library functions: the
 * caller passes a buffer (which may be NULL) and its size, the function
 * writes one line into it when it fails. */
#ifndef VST_MSG_H
#define VST_MSG_H

#include <stddef.h>

/* printf into msg[0..len), truncated; nothing if msg is NULL or len 0. */
__attribute__((format(printf, 3, 4))) void vst_msg(char *msg, size_t len, const char *fmt, ...);

#endif
