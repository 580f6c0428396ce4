/* Upload progress on stderr: a bar redrawn in place (at most 5 times a
 * second) when stderr is a terminal, otherwise one plain line per 10 % and
 * one at the end, so logs of unattended runs stay short. */
#ifndef VST_SEND_PROGRESS_H
#define VST_SEND_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *out;
    int enabled;
    int tty;
    uint64_t total; /* bytes */
    uint64_t sent;
    uint64_t records; /* newlines sent, plus an unterminated last line */
    double t0, last_draw;
    int last_decile;
    int drawn; /* a bar is on the current terminal line */
} vst_progress;

void vst_progress_init(vst_progress *p, FILE *out, int enabled, int tty);
/* Begins (or, on a retry, restarts) an upload of total bytes. */
void vst_progress_start(vst_progress *p, uint64_t total);
void vst_progress_update(vst_progress *p, uint64_t sent, uint64_t records);
/* The final line (bar completed or "sent ..." line). */
void vst_progress_finish(vst_progress *p);
/* Ends a bar line so that other messages start on a fresh line. */
void vst_progress_break(vst_progress *p);

/* One line of text for the figures, e.g.
 * " 45%  450.0 of 1000.0 MB  85.3 MB/s  123456 records/s". */
void vst_progress_format(char *buf, size_t len, uint64_t sent, uint64_t total, uint64_t records,
                         double seconds);

#endif
