/* Named statements, prepared once per connection; see sql.h. */
#include "httpd/sql.h"

#include <string.h>

typedef struct {
    const char *name;
    int db;
    int nparams;
    const char *text;
} statement;

static const statement statements[SQL__COUNT] = {
#define SQL_ROW(name, db, n, text) [SQL_##name] = {"vst_" #name, db, n, text},
    SQL_STATEMENTS(SQL_ROW)
#undef SQL_ROW
};

_Static_assert(SQL__COUNT <= sizeof(unsigned) * 8, "one bit per statement in slot.*_prepared");

/* Prepares id on its connection if that has not yet: NULL, or the failed
 * preparation's result. */
static PGresult *prepare(slot *s, const statement *st, unsigned bit)
{
    PGconn *db = st->db == SQL_TRUST ? s->trust : s->store;
    unsigned *prepared = st->db == SQL_TRUST ? &s->trust_prepared : &s->store_prepared;
    if ((*prepared & bit) != 0)
        return NULL;
    PGresult *r = PQprepare(db, st->name, st->text, st->nparams, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return r;
    PQclear(r);
    *prepared |= bit;
    return NULL;
}

/* The connection for st, its posted answers taken first. */
static PGconn *conn_for(slot *s, const statement *st)
{
    if (st->db == SQL_TRUST && s->trust_posted > 0)
        sql_collect(s);
    return st->db == SQL_TRUST ? s->trust : s->store;
}

int sql_post(slot *s, sql_stmt id, const char *const *values)
{
    const statement *st = &statements[id];
    if (s->trust == NULL || st->db != SQL_TRUST)
        return -1;
    if ((s->trust_prepared & (1u << id)) == 0) {
        /* Preparing waits for its answer: the earlier ones are taken first. */
        PGresult *r = NULL;
        if ((s->trust_posted > 0 && sql_collect(s) != 0) ||
            (r = prepare(s, st, 1u << id)) != NULL) {
            PQclear(r);
            return -1;
        }
    }
    PGconn *db = s->trust;
    if ((PQpipelineStatus(db) == PQ_PIPELINE_ON || PQenterPipelineMode(db) == 1) &&
        PQsendQueryPrepared(db, st->name, st->nparams, values, NULL, NULL, 0) == 1 &&
        PQpipelineSync(db) == 1) {
        s->trust_posted++;
        return 0;
    }
    slot_drop_trust(s);
    return -1;
}

int sql_collect(slot *s)
{
    PGconn *db = s->trust;
    int ok = db != NULL;
    /* Each posted statement: its result, the NULL that ends it, its Sync.
     * Its outcome is not looked at (an unlock answers false at worst);
     * only a failed connection is. Two NULLs in a row: nothing is coming. */
    for (; ok && s->trust_posted > 0; s->trust_posted--)
        for (int nulls = 0;;) {
            PGresult *r = PQgetResult(db);
            ExecStatusType st = PQresultStatus(r);
            PQclear(r);
            if (r == NULL && (++nulls > 1 || PQstatus(db) != CONNECTION_OK)) {
                ok = 0;
                break;
            }
            if (st == PGRES_PIPELINE_SYNC)
                break;
        }
    if (ok && PQexitPipelineMode(db) == 1)
        return 0;
    slot_drop_trust(s);
    return -1;
}

PGresult *sql_run(slot *s, sql_stmt id, const char *const *values, const int *lengths,
                  const int *formats)
{
    const statement *st = &statements[id];
    PGconn *db = conn_for(s, st);
    if (db == NULL)
        return NULL;
    PGresult *r = prepare(s, st, 1u << id);
    if (r != NULL)
        return r; /* the caller sees the failure as the statement's */
    return PQexecPrepared(db, st->name, st->nparams, values, lengths, formats, 0);
}

int sql_send(slot *s, sql_stmt id, const char *const *values)
{
    const statement *st = &statements[id];
    PGconn *db = conn_for(s, st);
    if (db == NULL)
        return -1;
    PGresult *r = prepare(s, st, 1u << id);
    if (r != NULL) {
        PQclear(r);
        return -1;
    }
    return PQsendQueryPrepared(db, st->name, st->nparams, values, NULL, NULL, 0) == 1 ? 0 : -1;
}

PGresult *sql_wait(PGconn *db)
{
    PGresult *r = db != NULL ? PQgetResult(db) : NULL, *more;
    while (db != NULL && (more = PQgetResult(db)) != NULL)
        PQclear(more); /* one statement has one result */
    return r;
}

/* One result of a pipeline: the statement's, then the NULL that ends it. */
static PGresult *pipeline_result(PGconn *db)
{
    PGresult *r = PQgetResult(db), *end;
    if (r != NULL && (end = PQgetResult(db)) != NULL) {
        PQclear(r); /* more than one result: not ours */
        r = end;
        while ((end = PQgetResult(db)) != NULL)
            PQclear(end);
    }
    return r;
}

int sql_run_pair(slot *s, sql_stmt a, const char *const *va, sql_stmt b, const char *const *vb,
                 PGresult **ra, PGresult **rb)
{
    const statement *sa = &statements[a], *sb = &statements[b];
    PGconn *db = conn_for(s, sa);
    *ra = *rb = NULL;
    if (db == NULL || sa->db != sb->db)
        return -1;
    if ((*ra = prepare(s, sa, 1u << a)) != NULL || (*rb = prepare(s, sb, 1u << b)) != NULL)
        return -1;
    /* One Sync for both: b runs only if a succeeded, in the same implicit
     * transaction, with a snapshot of its own taken when a is done. */
    if (PQenterPipelineMode(db) != 1)
        return -1;
    int sent = PQsendQueryPrepared(db, sa->name, sa->nparams, va, NULL, NULL, 0) == 1 &&
               PQsendQueryPrepared(db, sb->name, sb->nparams, vb, NULL, NULL, 0) == 1 &&
               PQpipelineSync(db) == 1;
    if (sent) {
        *ra = pipeline_result(db);
        *rb = pipeline_result(db);
        PGresult *sync = PQgetResult(db);
        sent = PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
        PQclear(sync);
    }
    if (PQexitPipelineMode(db) != 1 || !sent)
        return -1;
    return 0;
}

int sql_run_bool(slot *s, sql_stmt id, const char *const *values)
{
    PGresult *r = sql_run(s, id, values, NULL, NULL);
    int rc = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                 ? PQgetvalue(r, 0, 0)[0] == 't'
                 : -1;
    PQclear(r);
    return rc;
}

static int command_ok(PGconn *db, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok;
}

int sql_begin(PGconn *db)
{
    return command_ok(db, "BEGIN");
}

int sql_send_commit(PGconn *db)
{
    return db != NULL && PQsendQuery(db, "COMMIT") == 1 ? 0 : -1;
}

int sql_committed(PGconn *db)
{
    /* COMMIT of a transaction that failed answers COMMAND_OK too, with
     * the tag ROLLBACK. */
    PGresult *r = sql_wait(db);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "COMMIT") == 0;
    PQclear(r);
    return ok;
}

int sql_commit(PGconn *db)
{
    return sql_send_commit(db) == 0 && sql_committed(db);
}

int sql_rollback(PGconn *db)
{
    return command_ok(db, "ROLLBACK");
}

void sql_end_open(PGconn *db)
{
    if (PQtransactionStatus(db) != PQTRANS_IDLE)
        sql_rollback(db);
}
