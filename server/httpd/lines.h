/* Cutting a streamed request body into lines (NDJSON), in bounded memory.
 *
 * The body arrives in chunks of any size; a line may be split across any
 * number of them. A line that ends inside a chunk is handed over in place
 * (no copy); only a line's start that has no newline yet is carried over,
 * into a buffer of max bytes that is wiped as soon as the line is done. A
 * line longer than max is never delivered: it is reported once through
 * on_too_long and its remaining bytes up to the next newline are skipped.
 *
 * Lines are delivered without their '\n' (a CR before it is left to the
 * consumer); an empty line between two newlines is delivered as length 0;
 * the bytes after the last newline are a last line, delivered by
 * httpd_lines_finish if there are any. No knowledge of HTTP, JSON or the
 * profile: this is pure, and fuzzed as such (tests/fuzz/fuzz_lines.c). */
#ifndef VST_HTTPD_LINES_H
#define VST_HTTPD_LINES_H

#include <stddef.h>

typedef struct {
    size_t max;  /* longest line delivered, in bytes, without the '\n' */
    char *carry; /* max bytes: the start of a line still waiting for its end */
    size_t carry_len;
    int skipping; /* inside a line that was too long, until its '\n' */
    void (*on_line)(void *ctx, const char *line, size_t len);
    void (*on_too_long)(void *ctx);
    void *ctx;
} httpd_lines;

/* 0, or -1 when the carry buffer cannot be allocated. max >= 1. */
int httpd_lines_init(httpd_lines *l, size_t max, void (*on_line)(void *, const char *, size_t),
                     void (*on_too_long)(void *), void *ctx);
/* Cuts data[0..n) into lines, calling back for each complete one. */
void httpd_lines_feed(httpd_lines *l, const char *data, size_t n);
/* The end of the body: delivers the last line if it had no newline. */
void httpd_lines_finish(httpd_lines *l);
/* Wipes and frees the carry buffer; l may be zeroed or already freed. */
void httpd_lines_free(httpd_lines *l);

#endif
