/* Batches of store rows; see batch.h. */
#include "httpd/batch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/secmem.h"

#define KV_WIDTH 10 /* key version hole: zero-padded decimal, valid COPY int */
#define REF_LEN 36  /* delivery_ref: a UUID's text */
/* A row begins with its delivery_ref and a tab, then its key version hole
 * (kv_off). */
#define ROW_HEAD (REF_LEN + 1)

void batch_init(batch *b)
{
    memset(b, 0, sizeof *b);
}

void batch_reset(batch *b)
{
    vst_wipe(b->text, b->len);
    for (size_t s = 0; s < b->nsec; s++) {
        vst_wipe(b->sec[s].ids, (size_t)b->sec[s].count * b->sec[s].id_len);
        b->sec[s].count = 0;
    }
    vst_wipe(b->out, (size_t)b->nids * VST_PSEUDONYM_LEN);
    b->len = b->rows = b->nholes = 0;
    b->nids = 0;
    b->withheld_rows = 0;
}

void batch_free(batch *b)
{
    batch_reset(b);
    for (size_t s = 0; s < VST_SECTIONS_MAX; s++)
        free(b->sec[s].ids);
    free(b->text);
    free(b->holes);
    free(b->kv_off);
    free(b->out);
    free(b->withheld);
    memset(b, 0, sizeof *b);
}

/* Grows by doubling. Never a plain realloc: the identifiers and rows of a
 * batch must not be left behind in a block realloc moved away from. */
static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc *= 2;
    void *q = vst_wiping_realloc(*p, *cap * elem, nc * elem);
    if (q == NULL)
        return -1;
    *p = q;
    *cap = nc;
    return 0;
}

static int put(batch *b, const char *s, size_t n)
{
    if (grow((void **)&b->text, &b->cap, b->len + n, 1) != 0)
        return -1;
    memcpy(b->text + b->len, s, n);
    b->len += n;
    return 0;
}

/* COPY text format: backslash, tab, newline and carriage return escaped. */
static int put_escaped(batch *b, const char *s, size_t n)
{
    if (grow((void **)&b->text, &b->cap, b->len + 2 * n, 1) != 0)
        return -1;
    char *o = b->text + b->len;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '\\' || ch == '\t' || ch == '\n' || ch == '\r') {
            *o++ = '\\';
            *o++ = ch == '\t' ? 't' : ch == '\n' ? 'n' : ch == '\r' ? 'r' : '\\';
        } else {
            *o++ = ch;
        }
    }
    b->len = (size_t)(o - b->text);
    return 0;
}

static int section_for(batch *b, uint16_t domain, uint8_t len)
{
    for (size_t s = 0; s < b->nsec; s++)
        if (b->sec[s].domain == domain && b->sec[s].id_len == len)
            return (int)s;
    if (b->nsec == VST_SECTIONS_MAX)
        return -1;
    b->sec[b->nsec].domain = domain;
    b->sec[b->nsec].id_len = len;
    b->sec[b->nsec].count = 0;
    return (int)b->nsec++;
}

int batch_add_row(batch *b, const vst_profile *p, const vst_row *row, const char ref[37])
{
    if (grow((void **)&b->kv_off, &b->kv_cap, b->rows + 1, sizeof *b->kv_off) != 0 ||
        put(b, ref, REF_LEN) != 0 || put(b, "\t", 1) != 0)
        return -1;
    b->kv_off[b->rows] = b->len;
    if (put(b, "0000000000", KV_WIDTH) != 0)
        return -1;
    for (size_t c = 0; c < vst_profile_ncolumns(p); c++) {
        const vst_column *col = vst_profile_column(p, c);
        const vst_value *v = &row->values[c];
        if (put(b, "\t", 1) != 0)
            return -1;
        if (col->type == VST_COL_PSEUDONYM) {
            const vst_pending_id *pid = NULL;
            for (size_t k = 0; k < row->nids; k++)
                if (row->ids[k].column == c)
                    pid = &row->ids[k];
            if (pid == NULL) {
                if (put(b, "\\N", 2) != 0)
                    return -1;
                continue;
            }
            int s = section_for(b, pid->domain, pid->id.len);
            batch_section *sec = s >= 0 ? &b->sec[s] : NULL;
            if (sec == NULL ||
                grow((void **)&sec->ids, &sec->cap, (size_t)(sec->count + 1) * sec->id_len, 1) !=
                    0 ||
                grow((void **)&b->holes, &b->holes_cap, b->nholes + 1, sizeof *b->holes) != 0)
                return -1;
            memcpy(sec->ids + (size_t)sec->count * sec->id_len, pid->id.s, sec->id_len);
            b->holes[b->nholes++] = (batch_hole){b->len, (uint16_t)s, sec->count};
            sec->count++;
            b->nids++;
            if (put(b, "00000000000000000000000000000000", 2 * VST_PSEUDONYM_LEN) != 0)
                return -1;
        } else if (v->is_null) {
            if (put(b, "\\N", 2) != 0)
                return -1;
        } else if (col->type == VST_COL_INT) {
            char num[24];
            int n = snprintf(num, sizeof num, "%" PRId64, v->i);
            if (put(b, num, (size_t)n) != 0)
                return -1;
        } else if (put_escaped(b, v->s, v->len) != 0) {
            return -1;
        }
    }
    b->rows++;
    return put(b, "\n", 1);
}

static const char hx[] = "0123456789abcdef";

/* Where each section's answers begin in out (and in withheld), counted in
 * identifiers: the sections in order, those with count 0 taking no room
 * (they are left out of the request and no hole refers to them). */
static size_t section_bases(const batch *b, size_t base[VST_SECTIONS_MAX])
{
    size_t total = 0;
    for (size_t s = 0; s < b->nsec; s++) {
        base[s] = total;
        total += b->sec[s].count;
    }
    return total;
}

/* keyd's request: the batch's non-empty sections. */
static void build_request(const batch *b, const vst_profile *p, vst_pseud_req *rq)
{
    memset(rq, 0, sizeof *rq);
    for (size_t s = 0; s < b->nsec; s++) {
        if (b->sec[s].count == 0)
            continue;
        vst_pseud_section *q = &rq->sec[rq->nsections++];
        snprintf(q->domain, sizeof q->domain, "%s", vst_profile_domain(p, b->sec[s].domain));
        q->id_len = b->sec[s].id_len;
        q->count = b->sec[s].count;
        q->ids = b->sec[s].ids;
    }
}

static void fill_holes(batch *b, const size_t base[VST_SECTIONS_MAX])
{
    for (size_t h = 0; h < b->nholes; h++) {
        const uint8_t *ps = b->out + (base[b->holes[h].sec] + b->holes[h].idx) * VST_PSEUDONYM_LEN;
        char *dst = b->text + b->holes[h].off;
        for (size_t i = 0; i < VST_PSEUDONYM_LEN; i++) {
            dst[2 * i] = hx[ps[i] >> 4];
            dst[2 * i + 1] = hx[ps[i] & 15];
        }
    }
}

/* Takes the rows one of whose identifiers keyd withheld out of the text,
 * in place, the others keeping their order; wipes the bytes freed (the
 * withheld rows' other values). Holes are in text order, so one pass over
 * rows and holes together finds each row's holes. kv_off and the holes no
 * longer describe the text afterwards: the batch is only sent and reset.
 * Returns the number of rows taken out. */
static size_t drop_withheld(batch *b, const size_t base[VST_SECTIONS_MAX])
{
    size_t h = 0, w = 0, dropped = 0;
    for (size_t r = 0; r < b->rows; r++) {
        size_t start = b->kv_off[r] - ROW_HEAD;
        size_t end = r + 1 < b->rows ? b->kv_off[r + 1] - ROW_HEAD : b->len;
        int drop = 0;
        for (; h < b->nholes && b->holes[h].off < end; h++)
            drop |= b->withheld[base[b->holes[h].sec] + b->holes[h].idx];
        if (drop) {
            dropped++;
            continue;
        }
        if (w != start)
            memmove(b->text + w, b->text + start, end - start);
        w += end - start;
    }
    vst_wipe(b->text + w, b->len - w);
    b->len = w;
    b->rows -= dropped;
    return dropped;
}

int batch_answer_room(batch *b)
{
    size_t base[VST_SECTIONS_MAX];
    size_t total = section_bases(b, base);
    return grow((void **)&b->out, &b->out_cap, total * VST_PSEUDONYM_LEN, 1) != 0 ||
                   grow((void **)&b->withheld, &b->withheld_cap, total, 1) != 0
               ? -1
               : 0;
}

void batch_fill(batch *b, uint32_t key_version)
{
    size_t base[VST_SECTIONS_MAX];
    size_t total = section_bases(b, base);
    b->withheld_rows = 0;
    if (total > 0)
        fill_holes(b, base);
    char kv[KV_WIDTH + 1];
    snprintf(kv, sizeof kv, "%010u", key_version);
    for (size_t r = 0; r < b->rows; r++)
        memcpy(b->text + b->kv_off[r], kv, KV_WIDTH);
    /* The common case, nothing withheld, costs one memchr. */
    if (total > 0 && memchr(b->withheld, 1, total) != NULL)
        b->withheld_rows = drop_withheld(b, base);
}

int batch_resolve(batch *b, const vst_profile *p, vst_keyd *k, uint32_t *key_version)
{
    if (b->nids > 0) {
        static __thread vst_pseud_req rq; /* large: keep it off the stack */
        build_request(b, p, &rq);
        if (batch_answer_room(b) != 0)
            return VST_PROTO_E_NOMEM;
        int rc =
            vst_keyd_pseudonymize_withheld(k, &rq, key_version, b->out, b->out_cap, b->withheld);
        if (rc != 0)
            return rc;
    }
    batch_fill(b, *key_version);
    return 0;
}
