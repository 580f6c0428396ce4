/* The binary COPY reader of vst-audit verify; see audit_copy.h. Moved out
 * of audit_verify_cmd.c unchanged, so that it can be fuzzed alone. */
#include "audit/audit_copy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* PostgreSQL's binary timestamptz: microseconds since 2000-01-01 UTC. */
#define PG_EPOCH_US 946684800000000LL

static uint32_t be32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static uint64_t be64(const char *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

int audit_copy_append(audit_copybuf *b, const char *data, size_t n)
{
    if (b->off > 0 && b->off == b->len) {
        b->off = b->len = 0;
    } else if (b->off > 65536) {
        memmove(b->buf, b->buf + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->buf, cap);
        if (p == NULL)
            return -1;
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, data, n);
    b->len += n;
    return 0;
}

static const char copy_sig[11] = "PGCOPY\n\377\r\n";

int audit_copy_tuple(audit_copybuf *b, vst_audit_row *r)
{
    size_t avail = b->len - b->off;
    const char *p = b->buf + b->off;
    if (!b->header_done) {
        if (avail < 19)
            return 0;
        if (memcmp(p, copy_sig, 11) != 0)
            return -1;
        uint32_t ext = be32(p + 15);
        if (avail < 19 + (size_t)ext)
            return 0;
        b->off += 19 + ext;
        b->header_done = 1;
        avail = b->len - b->off;
        p = b->buf + b->off;
    }
    if (avail < 2)
        return 0;
    int16_t nf = (int16_t)((unsigned char)p[0] << 8 | (unsigned char)p[1]);
    if (nf == -1) {
        b->off += 2;
        return 2;
    }
    if (nf != 9)
        return -1;
    size_t pos = 2;
    const char *f[9];
    int32_t flen[9];
    for (int i = 0; i < 9; i++) {
        if (avail < pos + 4)
            return 0;
        flen[i] = (int32_t)be32(p + pos);
        pos += 4;
        if (flen[i] < 0)
            return -1; /* no NULLs in this query */
        if (avail < pos + (size_t)flen[i])
            return 0;
        f[i] = p + pos;
        pos += (size_t)flen[i];
    }
    if (flen[0] != 8 || flen[1] != 8 || flen[7] != VST_AUDIT_HASH_LEN ||
        flen[8] != VST_AUDIT_HASH_LEN)
        return -1;
    r->seq = be64(f[0]);
    /* `at` arrives as a binary timestamptz and is formatted here exactly as
     * to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') would
     * (years 0001..9999; a time outside them, e.g. infinity, cannot be
     * formatted and makes the row's hash mismatch). Saves the server a
     * to_char per row. */
    int64_t pg_us = (int64_t)be64(f[1]);
    if (pg_us > INT64_MAX - PG_EPOCH_US || vst_time_format_us(pg_us + PG_EPOCH_US, b->at) != 0)
        b->at[0] = '\0';
    r->at = (vst_audit_text){b->at, strlen(b->at)};
    vst_audit_text *t[] = {&r->db_user, &r->actor, &r->action, &r->client, &r->details};
    for (int i = 0; i < 5; i++) {
        t[i]->p = f[2 + i];
        t[i]->n = (size_t)flen[2 + i];
    }
    memcpy(r->prev_hash, f[7], VST_AUDIT_HASH_LEN);
    memcpy(r->hash, f[8], VST_AUDIT_HASH_LEN);
    b->off += pos;
    return 1;
}
