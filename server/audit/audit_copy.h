/* Reading the audit log as PostgreSQL's binary COPY stream (FORMAT binary),
 * as `vst-audit verify` receives it: a buffer that takes the chunks
 * PQgetCopyData returns, in any sizes, and yields one tuple of the verify
 * query at a time (seq, at, db_user, actor, action, client, details,
 * prev_hash, hash). The bytes come from the server, so every length is
 * checked against what has arrived before it is used; no database is
 * needed to run it (tests/fuzz/fuzz_audit_copy.c fuzzes it). */
#ifndef VST_AUDIT_COPY_H
#define VST_AUDIT_COPY_H

#include <stddef.h>

#include "audit/audit.h"

typedef struct {
    char *buf;
    size_t len, cap, off;
    int header_done, trailer;
    char at[VST_TIME_TEXT_LEN + 1]; /* the current row's time, canonical text */
} audit_copybuf;

/* Appends n bytes of the stream; 0, or -1 when out of memory. Release the
 * buffer with free(b->buf). */
int audit_copy_append(audit_copybuf *b, const char *data, size_t n);

/* Next complete tuple of 9 fields: 1 with *r filled (its text fields point
 * into b, valid until the next call), 0 need more data, -1 malformed,
 * 2 trailer. */
int audit_copy_tuple(audit_copybuf *b, vst_audit_row *r);

#endif
