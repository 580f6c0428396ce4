/* Batches of store rows; see batch.h. */
#include "httpd/batch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/secmem.h"
#include "wire/codec_link.h"

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
    if (b->npersons > 0) {
        vst_wipe(b->persons, b->npersons * sizeof *b->persons);
        vst_wipe(b->cv_out, b->cv_out_cap);
        b->npersons = 0;
    }
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
    free(b->persons);
    free(b->cv_off);
    free(b->cv_out);
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

/* The linkage key whose control value column c holds (its place in the
 * person's 96 bytes), or -1. Six short compares, for composite profiles
 * only. */
static int control_key(const vst_profile *p, const vst_column *col)
{
    for (unsigned k = 0; k < VST_LINK_NKEYS; k++) {
        const char *name = vst_profile_link_column(p, k);
        if (name != NULL && strcmp(name, col->name) == 0)
            return (int)k;
    }
    return -1;
}

/* A control-value hole of the row's person (batch_add_row made room). */
static int control_hole(batch *b, const vst_profile *p, const vst_row *row, const vst_column *col)
{
    int k = control_key(p, col);
    if (!row->has_person || k < 0)
        return -1;
    b->cv_off[b->npersons * VST_LINK_NKEYS + (size_t)k] = b->len;
    return put(b, "00000000000000000000000000000000", 2 * VST_CV_LEN);
}

int batch_add_row(batch *b, const vst_profile *p, const vst_row *row, const char ref[37])
{
    if (grow((void **)&b->kv_off, &b->kv_cap, b->rows + 1, sizeof *b->kv_off) != 0 ||
        put(b, ref, REF_LEN) != 0 || put(b, "\t", 1) != 0)
        return -1;
    /* Person i is row i (batch.h): room for its holes and itself. */
    if (row->has_person &&
        (b->npersons != b->rows ||
         grow((void **)&b->cv_off, &b->cv_off_cap, (b->npersons + 1) * VST_LINK_NKEYS,
              sizeof *b->cv_off) != 0 ||
         grow((void **)&b->persons, &b->persons_cap, b->npersons + 1, sizeof *b->persons) != 0))
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
        } else if (col->type == VST_COL_CONTROL) {
            if (control_hole(b, p, row, col) != 0)
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
    if (row->has_person)
        b->persons[b->npersons++] = row->person;
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

int batch_cv_room(batch *b)
{
    return grow((void **)&b->cv_out, &b->cv_out_cap, b->npersons * VST_CV_RECORD_LEN, 1);
}

void batch_fill_persons(batch *b, size_t from, size_t n, uint32_t key_version)
{
    char kv[KV_WIDTH + 1];
    snprintf(kv, sizeof kv, "%010u", key_version);
    for (size_t i = from; i < from + n && i < b->npersons; i++) {
        const uint8_t *cv = b->cv_out + i * VST_CV_RECORD_LEN;
        for (size_t k = 0; k < VST_LINK_NKEYS; k++) {
            char *dst = b->text + b->cv_off[i * VST_LINK_NKEYS + k];
            for (size_t j = 0; j < VST_CV_LEN; j++) {
                dst[2 * j] = hx[cv[k * VST_CV_LEN + j] >> 4];
                dst[2 * j + 1] = hx[cv[k * VST_CV_LEN + j] & 15];
            }
        }
        memcpy(b->text + b->kv_off[i], kv, KV_WIDTH); /* person i is row i */
    }
}

/* The control values of the batch's persons, VST_CV_BATCH_MAX per keyd
 * frame. Each frame's rows get the key version that frame was answered
 * under; *key_version is the last one. The persons and keyd's answer are
 * wiped at once, whatever the outcome (the client wipes its frames). */
static int resolve_persons(batch *b, const vst_profile *p, vst_keyd *k, uint32_t *key_version)
{
    int rc = batch_cv_room(b) != 0 ? VST_PROTO_E_NOMEM : 0;
    b->persons_served = 0;
    for (size_t at = 0; rc == 0 && at < b->npersons;) {
        size_t n = b->npersons - at < VST_CV_BATCH_MAX ? b->npersons - at : VST_CV_BATCH_MAX;
        uint32_t kv = 0;
        rc = vst_keyd_cv_derive(k, vst_profile_link_domain(p), vst_profile_link_collection(p),
                                b->persons + at, (uint32_t)n, &kv,
                                b->cv_out + at * VST_CV_RECORD_LEN, n * VST_CV_RECORD_LEN);
        if (rc == 0) {
            batch_fill_persons(b, at, n, kv);
            *key_version = kv;
            at += n;
            b->persons_served += n;
        }
    }
    vst_wipe(b->persons, b->npersons * sizeof *b->persons);
    vst_wipe(b->cv_out, b->cv_out_cap);
    return rc;
}

int batch_resolve(batch *b, const vst_profile *p, vst_keyd *k, uint32_t *key_version)
{
    if (b->npersons > 0) /* a composite profile: nothing to pseudonymize */
        return resolve_persons(b, p, k, key_version);
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
