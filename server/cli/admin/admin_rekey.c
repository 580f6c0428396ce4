/* vst-admin rekey: moves every store row to the current key version
 * without any original (DESIGN.md §3): P' = AES_{K_new}(AES^-1_{K_old}(P)),
 * computed inside vst-keyd.
 *
 * Resumable and never double-applied: each batch is read, re-keyed by keyd
 * and written back in ONE store transaction whose UPDATE only touches rows
 * that still carry the version they were read with. A kill at any point
 * loses at most the uncommitted batches (one per worker), which still have
 * their old version and are simply picked up again by the next run.
 *
 * Speed: the store's UPDATE is the bottleneck (a PostgreSQL backend runs
 * on one core; per row it rewrites the tuple, inserts into every index and
 * re-evaluates every CHECK constraint), so --jobs workers, each with its own
 * store and keyd connection, re-key disjoint batches in parallel, and the
 * UPDATE's arrays are sent in binary (docs/benchmarks.md has the figures). */
#include "cli/admin/admin_rekey.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/admin/admin.h"
#include "core/buf.h"
#include "core/hex.h"
#include "core/secmem.h"
#include "derive.h"
#include "wire/codec_link.h"

#define MAX_COLS 4

/* PostgreSQL type OIDs of the binary array parameters (pg_type.dat). */
#define OID_INT4 23
#define OID_INT8 20
#define OID_TEXT 25

double rekey_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

void rekey_progress(rekey_ctx *c, const char *table, int final)
{
    double dt = rekey_now_s() - c->t0;
    double rate = dt > 0 ? (double)c->done / dt : 0;
    if (c->tty) {
        int width = 30, fill = c->total ? (int)(width * c->done / c->total) : width;
        if (fill > width)
            fill = width;
        fprintf(stderr, "\r%-16s [%.*s%*s] %" PRIu64 "/%" PRIu64 " rows %8.0f rows/s%s", table,
                fill, "##############################", width - fill, "", c->done, c->total, rate,
                final ? "\n" : "");
    } else if (final) {
        fprintf(stderr, "%s: %" PRIu64 " rows re-keyed\n", table, c->done);
    }
}

static int pg_ok(PGresult *r, ExecStatusType want, const char *what)
{
    if (PQresultStatus(r) == want)
        return 1;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
    msg[strcspn(msg, "\n")] = '\0';
    admin_fail("%s: %s", what, msg);
    return 0;
}

static int exec_cmd(PGconn *db, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    int ok = pg_ok(r, PGRES_COMMAND_OK, sql);
    PQclear(r);
    return ok ? 0 : -1;
}

/* A one-dimensional array parameter in PostgreSQL's binary format
 * (array_recv): ndim, has-null flag, element type, length, lower bound,
 * then per element a 32-bit length (-1 for NULL) and its bytes. Written
 * with the checked writer (core/buf.h), which wipes the pseudonyms when it
 * is freed; a batch's arrays (VST_BATCH_MAX x 36 bytes at most) stay far
 * below VST_BUF_MAX. Each returns 0 or -1 (out of memory). */
static int pgarr_begin(vst_wr *a, uint32_t elemtype, int n, int hasnull)
{
    return vst_wr_u32(a, 1) || vst_wr_u32(a, (uint32_t)hasnull) || vst_wr_u32(a, elemtype) ||
                   vst_wr_u32(a, (uint32_t)n) || vst_wr_u32(a, 1)
               ? -1
               : 0;
}

static int pgarr_i64(vst_wr *a, int64_t v)
{
    return vst_wr_u32(a, 8) || vst_wr_i64(a, v) ? -1 : 0;
}

static int pgarr_i32(vst_wr *a, uint32_t v)
{
    return vst_wr_u32(a, 4) || vst_wr_u32(a, v) ? -1 : 0;
}

static int pgarr_null(vst_wr *a)
{
    return vst_wr_u32(a, UINT32_MAX) ? -1 : 0;
}

static int pgarr_hex(vst_wr *a, const uint8_t p[VST_PSEUDONYM_LEN])
{
    char hex[VST_PSEUDONYM_HEX + 1];
    vst_hex(p, VST_PSEUDONYM_LEN, hex);
    int rc = vst_wr_u32(a, VST_PSEUDONYM_HEX) || vst_wr_put(a, hex, VST_PSEUDONYM_HEX) ? -1 : 0;
    vst_wipe(hex, sizeof hex);
    return rc;
}

/* The UPDATE's arrays for the batch in r: ids, the versions the rows were
 * read with, and per column the re-keyed pseudonyms (buf, at the places pos
 * gives) or NULL. 0, or -1 when out of memory. */
static int batch_arrays(PGresult *r, int rows, size_t nc, const uint32_t *from, const uint8_t *buf,
                        const uint32_t *pos, const int *hasnull, vst_wr *ids, vst_wr *vers,
                        vst_wr *cols)
{
    int rc = pgarr_begin(ids, OID_INT8, rows, 0) || pgarr_begin(vers, OID_INT4, rows, 0);
    for (size_t col = 0; rc == 0 && col < nc; col++)
        rc = pgarr_begin(&cols[col], OID_TEXT, rows, hasnull[col]);
    for (int i = 0; rc == 0 && i < rows; i++) {
        rc = pgarr_i64(ids, strtoll(PQgetvalue(r, i, 0), NULL, 10)) || pgarr_i32(vers, from[i]);
        for (size_t col = 0; rc == 0 && col < nc; col++)
            rc = PQgetisnull(r, i, 2 + (int)col)
                     ? pgarr_null(&cols[col])
                     : pgarr_hex(&cols[col],
                                 buf + (size_t)pos[(size_t)i * nc + col] * VST_PSEUDONYM_LEN);
    }
    return rc ? -1 : 0;
}

/* The smallest position of which every row before it is known committed
 * (for the bookkeeping row): the start of the oldest batch in flight, else
 * the hand-out cursor. Called under mu. */
static void watermark(const rekey_ctx *c, size_t *table, int64_t *id)
{
    *table = c->table;
    *id = c->cursor;
    for (size_t j = 0; j < c->njobs; j++)
        if (c->inflight[j].start >= 0 &&
            (c->inflight[j].table < *table ||
             (c->inflight[j].table == *table && c->inflight[j].start < *id))) {
            *table = c->inflight[j].table;
            *id = c->inflight[j].start;
        }
}

/* Reads the next batch under mu. Returns the number of rows (their result
 * in *res, the table in *t), 0 when every table is done, -1 on error. */
static int take_batch(rekey_worker *w, const admin_table **t, PGresult **res)
{
    rekey_ctx *c = w->c;
    int rows = 0;
    pthread_mutex_lock(&c->mu);
    while (!c->failed && c->table < c->nt) {
        const admin_table *tb = &c->tables[c->table];
        char sql[1024], cur[24], lim[24], to[16];
        int n = snprintf(sql, sizeof sql, "SELECT id, key_version");
        for (size_t i = 0; i < tb->ncolumns; i++)
            n += snprintf(sql + n, sizeof sql - (size_t)n, ", %s", tb->columns[i]);
        for (size_t i = 0; i < tb->ncv; i++)
            n += snprintf(sql + n, sizeof sql - (size_t)n, ", %s", tb->cv[i]);
        snprintf(sql + n, sizeof sql - (size_t)n,
                 " FROM %s WHERE key_version < $1::int AND id > $2::bigint ORDER BY id "
                 "LIMIT $3::int",
                 tb->table);
        snprintf(to, sizeof to, "%u", c->to);
        snprintf(cur, sizeof cur, "%" PRId64, c->cursor);
        snprintf(lim, sizeof lim, "%zu", c->batch);
        const char *p[] = {to, cur, lim};
        PGresult *r = PQexecParams(w->db, sql, 3, NULL, p, NULL, NULL, 0);
        if (!pg_ok(r, PGRES_TUPLES_OK, "reading store rows")) {
            PQclear(r);
            rows = -1;
            c->failed = 1;
            break;
        }
        if ((rows = PQntuples(r)) == 0) {
            PQclear(r);
            c->table++;
            c->cursor = 0;
            continue;
        }
        *t = tb;
        *res = r;
        c->inflight[w->slot].table = c->table;
        c->inflight[w->slot].start = c->cursor;
        c->cursor = strtoll(PQgetvalue(r, rows - 1, 0), NULL, 10);
        break;
    }
    pthread_mutex_unlock(&c->mu);
    return rows;
}

/* The control values of a linking table (DESIGN.md §13): each row's six
 * values (columns 2 + ncolumns ...) as one 96-byte record, re-keyed under
 * the table's collection by CV_REKEY, per source version, in frames of at
 * most VST_CV_BATCH_MAX records; then the UPDATE's text arrays, one per
 * column. The columns are NOT NULL. 0, or -1 after a message. */
static int rekey_cv(rekey_worker *w, const admin_table *t, PGresult *r, int rows,
                    const uint32_t *from, vst_wr cv[ADMIN_CV_MAX])
{
    size_t first = 2 + t->ncolumns;
    uint8_t *rec = malloc((size_t)rows * VST_CV_RECORD_LEN);
    int rc = rec == NULL ? admin_fail("out of memory") : 0;
    for (int i = 0; rc == 0 && i < rows; i++)
        for (size_t k = 0; rc == 0 && k < t->ncv; k++)
            if (PQgetisnull(r, i, (int)(first + k)) ||
                PQgetlength(r, i, (int)(first + k)) != VST_PSEUDONYM_HEX ||
                vst_unhex(PQgetvalue(r, i, (int)(first + k)), VST_CV_LEN,
                          rec + (size_t)i * VST_CV_RECORD_LEN + k * VST_CV_LEN) != 0)
                rc = admin_fail("a control value in %s is not 32 hex digits", t->table);
    /* Rows of one version are contiguous runs only by chance: gather each
     * version's records, re-key them, scatter them back. */
    uint8_t *run = rc == 0 ? malloc((size_t)rows * VST_CV_RECORD_LEN) : NULL;
    int *idx = rc == 0 ? malloc((size_t)rows * sizeof *idx) : NULL;
    if (rc == 0 && (run == NULL || idx == NULL))
        rc = admin_fail("out of memory");
    for (uint32_t v = 0; rc == 0;) {
        uint32_t next = UINT32_MAX;
        for (int i = 0; i < rows; i++)
            if (from[i] > v && from[i] < next)
                next = from[i];
        if (next == UINT32_MAX)
            break;
        v = next;
        uint32_t cnt = 0;
        for (int i = 0; i < rows; i++)
            if (from[i] == v) {
                memcpy(run + (size_t)cnt * VST_CV_RECORD_LEN, rec + (size_t)i * VST_CV_RECORD_LEN,
                       VST_CV_RECORD_LEN);
                idx[cnt++] = i;
            }
        for (uint32_t off = 0; rc == 0 && off < cnt; off += VST_CV_BATCH_MAX) {
            uint32_t m = cnt - off < VST_CV_BATCH_MAX ? cnt - off : VST_CV_BATCH_MAX;
            int kr = vst_keyd_cv_rekey(w->k, t->collection, v, w->c->to,
                                       run + (size_t)off * VST_CV_RECORD_LEN, m);
            if (kr != 0)
                rc = admin_fail("keyd refused to re-key the control values of %s (version %u): "
                                "%s",
                                t->table, v, vst_keyd_strerror(kr));
        }
        for (uint32_t j = 0; rc == 0 && j < cnt; j++)
            memcpy(rec + (size_t)idx[j] * VST_CV_RECORD_LEN, run + (size_t)j * VST_CV_RECORD_LEN,
                   VST_CV_RECORD_LEN);
    }
    for (size_t k = 0; rc == 0 && k < t->ncv; k++) {
        rc = pgarr_begin(&cv[k], OID_TEXT, rows, 0);
        for (int i = 0; rc == 0 && i < rows; i++)
            rc = pgarr_hex(&cv[k], rec + (size_t)i * VST_CV_RECORD_LEN + k * VST_CV_LEN);
        if (rc != 0)
            rc = admin_fail("out of memory");
    }
    free(rec);
    free(run);
    free(idx);
    return rc == 0 ? 0 : -1;
}

/* Re-keys every non-NULL pseudonym of the batch r (rows of table t) with
 * one keyd call per source version (versions ascending; rows of several
 * versions may interleave) and builds the UPDATE's binary arrays: buf holds
 * each version's pseudonyms together, pos says where each row's column
 * went. 0, or -1 after a message. */
static int rekey_rows(rekey_worker *w, const admin_table *t, PGresult *r, int rows, vst_wr *ids,
                      vst_wr *vers, vst_wr cols[MAX_COLS], vst_wr cv[ADMIN_CV_MAX])
{
    size_t nc = t->ncolumns;
    uint8_t *buf = malloc((size_t)rows * nc * VST_PSEUDONYM_LEN + 1); /* + 1: nc may be 0 */
    uint32_t *from = malloc((size_t)rows * sizeof *from);
    uint32_t *pos = malloc((size_t)rows * nc * sizeof *pos + 1);
    int hasnull[MAX_COLS] = {0};
    int rc = buf == NULL || from == NULL || pos == NULL ? admin_fail("out of memory") : 0;
    for (int i = 0; rc == 0 && i < rows; i++) {
        from[i] = (uint32_t)strtoul(PQgetvalue(r, i, 1), NULL, 10);
        for (size_t col = 0; col < nc; col++)
            hasnull[col] |= PQgetisnull(r, i, 2 + (int)col);
    }
    size_t base = 0;
    for (uint32_t v = 0; rc == 0;) {
        uint32_t next = UINT32_MAX;
        for (int i = 0; i < rows; i++)
            if (from[i] > v && from[i] < next)
                next = from[i];
        if (next == UINT32_MAX)
            break;
        v = next;
        uint32_t cnt = 0;
        uint8_t *run = buf + base * VST_PSEUDONYM_LEN;
        for (int i = 0; rc == 0 && i < rows; i++)
            for (size_t col = 0; from[i] == v && col < nc; col++)
                if (!PQgetisnull(r, i, 2 + (int)col)) {
                    if (vst_unhex(PQgetvalue(r, i, 2 + (int)col), VST_PSEUDONYM_LEN,
                                  run + (size_t)cnt * VST_PSEUDONYM_LEN) != 0)
                        rc = admin_fail("a pseudonym in %s is not hex", t->table);
                    pos[(size_t)i * nc + col] = (uint32_t)(base + cnt++);
                }
        if (rc == 0 && cnt > 0 && (rc = vst_keyd_rekey(w->k, v, w->c->to, run, cnt)) != 0)
            rc = admin_fail("keyd refused to re-key version %u: %s", v, vst_keyd_strerror(rc));
        base += cnt;
    }
    if (rc == 0 && batch_arrays(r, rows, nc, from, buf, pos, hasnull, ids, vers, cols) != 0)
        rc = admin_fail("out of memory");
    if (rc == 0 && t->ncv > 0)
        rc = rekey_cv(w, t, r, rows, from, cv);
    free(buf);
    free(from);
    free(pos);
    return rc == 0 ? 0 : -1;
}

/* UPDATE ... FROM unnest(arrays): one statement for the whole batch, its
 * arrays in binary (no text array to build here or to parse there); the
 * guard on the old key_version makes a second application impossible.
 * Returns the rows updated, -1 on error. */
static int64_t write_rows(rekey_worker *w, const admin_table *t, const vst_wr *ids,
                          const vst_wr *vers, const vst_wr cols[MAX_COLS],
                          const vst_wr cv[ADMIN_CV_MAX])
{
    /* The pseudonym columns, then the control-value columns. */
    size_t nc = t->ncolumns + t->ncv;
    const char *name[MAX_COLS + ADMIN_CV_MAX];
    const vst_wr *arr[MAX_COLS + ADMIN_CV_MAX];
    for (size_t col = 0; col < nc; col++) {
        name[col] = col < t->ncolumns ? t->columns[col] : t->cv[col - t->ncolumns];
        arr[col] = col < t->ncolumns ? &cols[col] : &cv[col - t->ncolumns];
    }
    char sql[2048], to[16];
    int n = snprintf(sql, sizeof sql, "UPDATE %s t SET key_version = $1::int", t->table);
    for (size_t col = 0; col < nc; col++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, ", %s = u.p%zu", name[col], col);
    n += snprintf(sql + n, sizeof sql - (size_t)n, " FROM unnest($2::bigint[], $3::int[]");
    for (size_t col = 0; col < nc; col++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, ", $%zu::text[]", col + 4);
    n += snprintf(sql + n, sizeof sql - (size_t)n, ") AS u(id, v");
    for (size_t col = 0; col < nc; col++)
        n += snprintf(sql + n, sizeof sql - (size_t)n, ", p%zu", col);
    snprintf(sql + n, sizeof sql - (size_t)n, ") WHERE t.id = u.id AND t.key_version = u.v");
    snprintf(to, sizeof to, "%u", w->c->to);
    const char *up[3 + MAX_COLS + ADMIN_CV_MAX] = {to, (const char *)vst_wr_data(ids),
                                                   (const char *)vst_wr_data(vers)};
    int lens[3 + MAX_COLS + ADMIN_CV_MAX] = {0, (int)vst_wr_len(ids), (int)vst_wr_len(vers)};
    int fmts[3 + MAX_COLS + ADMIN_CV_MAX] = {0, 1, 1};
    for (size_t col = 0; col < nc; col++) {
        up[3 + col] = (const char *)vst_wr_data(arr[col]);
        lens[3 + col] = (int)vst_wr_len(arr[col]);
        fmts[3 + col] = 1;
    }
    int64_t updated = -1;
    PGresult *r = PQexecParams(w->db, sql, 3 + (int)nc, NULL, up, lens, fmts, 0);
    if (pg_ok(r, PGRES_COMMAND_OK, "writing re-keyed rows"))
        updated = strtoll(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return updated;
}

/* One batch in one store transaction: returns rows updated (at least 1),
 * 0 when every table is done, -1 on error. */
static int64_t one_batch(rekey_worker *w)
{
    const admin_table *t = NULL;
    PGresult *r = NULL;
    if (exec_cmd(w->db, "BEGIN") != 0)
        return -1;
    int rows = take_batch(w, &t, &r);
    if (rows <= 0) {
        if (rows == 0 && exec_cmd(w->db, "COMMIT") == 0)
            return 0;
        PQclear(PQexec(w->db, "ROLLBACK"));
        return -1;
    }
    vst_wr ids = VST_WR_INIT, vers = VST_WR_INIT, cols[MAX_COLS], cv[ADMIN_CV_MAX];
    for (size_t col = 0; col < MAX_COLS; col++)
        vst_wr_init(&cols[col]);
    for (size_t k = 0; k < ADMIN_CV_MAX; k++)
        vst_wr_init(&cv[k]);
    int rc = rekey_rows(w, t, r, rows, &ids, &vers, cols, cv);
    PQclear(r);
    int64_t updated = rc == 0 ? write_rows(w, t, &ids, &vers, cols, cv) : -1;
    vst_wr_free(&ids);
    vst_wr_free(&vers);
    for (size_t col = 0; col < MAX_COLS; col++)
        vst_wr_free(&cols[col]);
    for (size_t k = 0; k < ADMIN_CV_MAX; k++)
        vst_wr_free(&cv[k]);
    if (updated < 0 || exec_cmd(w->db, "COMMIT") != 0) {
        PQclear(PQexec(w->db, "ROLLBACK"));
        return -1;
    }
    return updated > 0 ? updated : 1; /* rows taken by a concurrent run: keep going */
}

void *rekey_worker_main(void *arg)
{
    rekey_worker *w = arg;
    rekey_ctx *c = w->c;
    int64_t got;
    while ((got = one_batch(w)) > 0) {
        pthread_mutex_lock(&c->mu);
        c->inflight[w->slot].start = -1;
        c->done += (uint64_t)got;
        size_t tbl;
        int64_t id;
        watermark(c, &tbl, &id);
        if (tbl < c->nt)
            rekey_run_note(c,
                           "UPDATE vst.rekey_runs SET rows_done = $2::bigint, cursor_table = $3, "
                           "cursor_id = $4::bigint WHERE id = $1::bigint",
                           c->tables[tbl].table, id);
        else /* every table handed out and committed; the final note follows */
            rekey_run_note(c,
                           "UPDATE vst.rekey_runs SET rows_done = $2::bigint WHERE id = $1::bigint "
                           "AND $3 = $3 AND $4 = $4",
                           "", 0);
        rekey_progress(c, c->tables[tbl < c->nt ? tbl : c->nt - 1].table, 0);
        pthread_mutex_unlock(&c->mu);
    }
    pthread_mutex_lock(&c->mu);
    c->inflight[w->slot].start = -1;
    if (got < 0) {
        c->failed = 1;
        w->rc = 1;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}
