/* JSON-lines logging and clocks; see log.h. */
#include "core/log.h"

#include <stdio.h>
#include <time.h>

#include "core/utf8.h"

int64_t vst_wall_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

int64_t vst_mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void vst_logv(const char *program, const char *level, const char *fmt, va_list ap)
{
    char msg[768], esc[1600], ts[40];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int len = vsnprintf(msg, sizeof msg, fmt, ap);
    /* A cut message must not end inside a UTF-8 sequence (a client name). */
    if (len >= (int)sizeof msg)
        msg[vst_utf8_cut(msg, sizeof msg - 1)] = '\0';
    /* Escape what JSON needs; the message itself is built from constants. */
    size_t j = 0;
    size_t i;
    for (i = 0; msg[i] && j < sizeof esc - 8; i++) {
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
    if (msg[i] != '\0') /* esc is full: cut at a character boundary */
        j = vst_utf8_cut(esc, j);
    esc[j] = '\0';
    fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"program\":\"%s\",\"msg\":\"%s\"}\n", ts,
            level, program, esc);
}
