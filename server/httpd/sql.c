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

PGresult *sql_run(slot *s, sql_stmt id, const char *const *values, const int *lengths,
                  const int *formats)
{
    const statement *st = &statements[id];
    PGconn *db = st->db == SQL_TRUST ? s->trust : s->store;
    unsigned *prepared = st->db == SQL_TRUST ? &s->trust_prepared : &s->store_prepared;
    if (db == NULL)
        return NULL;
    unsigned bit = 1u << id;
    if ((*prepared & bit) == 0) {
        PGresult *r = PQprepare(db, st->name, st->text, st->nparams, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK)
            return r; /* the caller sees the failure as the statement's */
        PQclear(r);
        *prepared |= bit;
    }
    return PQexecPrepared(db, st->name, st->nparams, values, lengths, formats, 0);
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

int sql_begin_async(PGconn *db)
{
    return command_ok(db, "BEGIN; SET LOCAL synchronous_commit = off");
}

int sql_commit(PGconn *db)
{
    return command_ok(db, "COMMIT");
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
