/* Reading the small "Key: value" text files that operators look at and copy
 * by hand: the keystore's info file and the key shares (keys/,
 * docs/keystore.md). Such a file is a magic first line, then one
 * "key: value" per line in a fixed order.
 *
 * The reader only splits: it never copies, allocates or interprets a value,
 * so the caller checks each value where it knows its grammar, and a secret
 * value (a share) stays in the caller's buffer alone. */
#ifndef VST_KV_FILE_H
#define VST_KV_FILE_H

#include <stddef.h>

enum {
    /* Every line ends in '\n': a file vst writes and reads back. */
    VST_KV_STRICT = 0,
    /* A line may also end in "\r\n", and the last one may lack its
     * newline: a file a person may have typed in or passed through an
     * editor (a share transcribed from paper). */
    VST_KV_HAND_TYPED = 1,
};

typedef struct {
    const char *p, *end; /* the unread rest */
    int flags;           /* VST_KV_* */
} vst_kv_file;

/* Starts reading text[0..len). -1 if the text holds a NUL byte (then it is
 * not such a file), else 0. */
int vst_kv_open(vst_kv_file *f, const char *text, size_t len, int flags);

/* The next line, without its line end: 1, or 0 when there is none (the
 * end; in VST_KV_STRICT also a last line without '\n'). */
int vst_kv_line(vst_kv_file *f, const char **line, size_t *len);

/* If line[0..len) is "<key>: <value>", points *val at the value: 1, else 0. */
int vst_kv_split(const char *line, size_t len, const char *key, const char **val, size_t *vlen);

/* 1 when every byte was read (no unterminated last line left either). */
int vst_kv_at_end(const vst_kv_file *f);

#endif
