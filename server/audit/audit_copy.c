/* The binary COPY reader of vst-audit verify; see audit_copy.h. The
 * stream is database output the auditor does not trust: every field is
 * read through the checked reader (core/buf.h) over the bytes that have
 * arrived, and a read past them means "wait for more", never a read
 * beyond the buffer. */
#include "audit/audit_copy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

/* PostgreSQL's binary timestamptz: microseconds since 2000-01-01 UTC. */
#define PG_EPOCH_US 946684800000000LL
#define NFIELDS 9

/* The result of a read: 0 need more data, -1 malformed. */
#define NEED(rc) ((rc) == VST_BUF_E_SHORT ? 0 : -1)

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

/* Signature, flags, header extension (skipped). 1 read, 0 need more, -1. */
static int read_header(vst_rd *r)
{
    const uint8_t *sig, *ext;
    uint32_t flags, extlen;
    int rc;
    if ((rc = vst_rd_view(r, sizeof copy_sig, &sig)) != 0)
        return NEED(rc);
    if (memcmp(sig, copy_sig, sizeof copy_sig) != 0)
        return -1;
    if ((rc = vst_rd_u32(r, &flags)) != 0 || (rc = vst_rd_u32(r, &extlen)) != 0 ||
        (rc = vst_rd_view(r, extlen, &ext)) != 0)
        return NEED(rc);
    return 1;
}

/* The tuple's nine fields as views (no NULLs in this query). 1, 0, -1. */
static int read_fields(vst_rd *r, const uint8_t *f[NFIELDS], uint32_t len[NFIELDS])
{
    int rc;
    for (int i = 0; i < NFIELDS; i++) {
        if ((rc = vst_rd_u32(r, &len[i])) != 0)
            return NEED(rc);
        if ((int32_t)len[i] < 0)
            return -1; /* NULL */
        if ((rc = vst_rd_view(r, len[i], &f[i])) != 0)
            return NEED(rc);
    }
    return 1;
}

/* `at` arrives as a binary timestamptz and is formatted here exactly as
 * to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') would
 * (years 0001..9999; a time outside them, e.g. infinity, cannot be
 * formatted and makes the row's hash mismatch). Saves the server a to_char
 * per row. */
static void format_at(int64_t pg_us, char at[VST_TIME_TEXT_LEN + 1])
{
    if (pg_us > INT64_MAX - PG_EPOCH_US || vst_time_format_us(pg_us + PG_EPOCH_US, at) != 0)
        at[0] = '\0';
}

int audit_copy_tuple(audit_copybuf *b, vst_audit_row *row)
{
    vst_rd r;
    vst_rd_init(&r, b->buf + b->off, b->len - b->off);
    int rc;
    if (!b->header_done) {
        if ((rc = read_header(&r)) != 1)
            return rc;
        b->off = b->len - vst_rd_left(&r);
        b->header_done = 1;
    }
    uint16_t nf;
    if ((rc = vst_rd_u16(&r, &nf)) != 0)
        return NEED(rc);
    if ((int16_t)nf == -1) {
        b->off = b->len - vst_rd_left(&r);
        return 2;
    }
    if (nf != NFIELDS)
        return -1;
    const uint8_t *f[NFIELDS];
    uint32_t len[NFIELDS];
    if ((rc = read_fields(&r, f, len)) != 1)
        return rc;
    if (len[0] != 8 || len[1] != 8 || len[7] != VST_AUDIT_HASH_LEN || len[8] != VST_AUDIT_HASH_LEN)
        return -1;
    row->seq = vst_be_get(f[0], 8);
    format_at((int64_t)vst_be_get(f[1], 8), b->at);
    row->at = (vst_audit_text){b->at, strlen(b->at)};
    vst_audit_text *t[] = {&row->db_user, &row->actor, &row->action, &row->client, &row->details};
    for (int i = 0; i < 5; i++)
        *t[i] = (vst_audit_text){(const char *)f[2 + i], len[2 + i]};
    memcpy(row->prev_hash, f[7], VST_AUDIT_HASH_LEN);
    memcpy(row->hash, f[8], VST_AUDIT_HASH_LEN);
    b->off = b->len - vst_rd_left(&r);
    return 1;
}
