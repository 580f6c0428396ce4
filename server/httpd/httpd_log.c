/* vst-httpd's log: one JSON object per line on stderr. Callers pass only
 * codes, counts, client names, delivery ids and durations — never record
 * content, an identifier or a pseudonym. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "httpd.h"

int64_t now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void hlog(const char *level, const char *fmt, ...)
{
    char msg[768], esc[1600], ts[40];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t j = 0;
    for (size_t i = 0; msg[i] && j < sizeof esc - 8; i++) {
        unsigned char ch = (unsigned char)msg[i];
        if (ch == '"' || ch == '\\') {
            esc[j++] = '\\';
            esc[j++] = (char)ch;
        } else if (ch < 0x20) {
            j += (size_t)snprintf(esc + j, 8, "\\u%04x", ch);
        } else {
            esc[j++] = (char)ch;
        }
    }
    esc[j] = '\0';
    fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"program\":\"vst-httpd\",\"msg\":\"%s\"}\n",
            ts, level, esc);
}
