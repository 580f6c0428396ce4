/* The daemons' log: one JSON object per line on stderr, and their clocks.
 * Callers pass only codes, counts, names, ids and durations: never record
 * content, an identifier, an inner value, a pseudonym or a key. */
#ifndef VST_LOG_H
#define VST_LOG_H

#include <stdarg.h>
#include <stdint.h>

void vst_logv(const char *program, const char *level, const char *fmt, va_list ap);
int64_t vst_wall_us(void); /* microseconds since the epoch */
int64_t vst_mono_ms(void); /* monotonic milliseconds */

#endif
