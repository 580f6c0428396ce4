/* vst-httpd's log and clocks, on server/common/log.c. */
#include <stdarg.h>

#include "common/log.h"
#include "httpd.h"

int64_t now_us(void)
{
    return vst_wall_us();
}

int64_t mono_ms(void)
{
    return vst_mono_ms();
}

void hlog(const char *level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vst_logv("vst-httpd", level, fmt, ap);
    va_end(ap);
}
