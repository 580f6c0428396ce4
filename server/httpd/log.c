/* vst-httpd's log and clocks, on server/core/log.c. */
#include <stdarg.h>
#include <time.h>

#include "core/log.h"
#include "httpd/httpd.h"

int64_t now_us(void)
{
    return vst_wall_us();
}

void deadline_in(int ms, struct timespec *until)
{
    clock_gettime(CLOCK_REALTIME, until);
    until->tv_sec += ms / 1000;
    until->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until->tv_nsec >= 1000000000L) {
        until->tv_sec++;
        until->tv_nsec -= 1000000000L;
    }
}

int64_t mono_ms(void)
{
    return vst_mono_ms();
}

int64_t mono_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

void hlog(const char *level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vst_logv("vst-httpd", level, fmt, ap);
    va_end(ap);
}
