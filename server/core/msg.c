/* Messages into a caller's buffer; see msg.h. */
#include "core/msg.h"

#include <stdarg.h>
#include <stdio.h>

void vst_msg(char *msg, size_t len, const char *fmt, ...)
{
    if (msg == NULL || len == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
}
