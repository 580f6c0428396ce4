/* vst-audit log: the events, filtered, as an aligned table or JSON lines.
 * Rows are streamed (single-row mode); the table is aligned page by page,
 * columns only ever widening. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/audit/audit_cli.h"

#define PAGE 500
enum { C_SEQ, C_AT, C_DBUSER, C_ACTOR, C_ACTION, C_CLIENT, C_DETAILS, C_HASH, NCOL };

static void help(void)
{
    printf("usage: vst-audit [--dsn DSN] log [--since T] [--until T] [--action A]\n"
           "                 [--client C] [--limit N] [--json]\n\n"
           "Lists audit events in seq order: an aligned table, or with --json one JSON\n"
           "object per line (seq, at, db_user, actor, action, client, details, hash).\n\n"
           "  --since T    events at or after T (any PostgreSQL timestamp; UTC unless it\n"
           "               names a zone), e.g. 2025-01-31 or 2025-01-31T12:00:00Z\n"
           "  --until T    events before T\n"
           "  --action A   this action; a trailing * matches a prefix (keyd.*)\n"
           "  --client C   events concerning client C\n"
           "  --limit N    at most N events\n"
           "  --json       JSON lines for tools\n");
}

/* JSON string of s[0..n) (valid UTF-8 from the server) to f. */
static void json_str(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void print_json(PGresult *r)
{
    printf("{\"seq\":%s,\"at\":", PQgetvalue(r, 0, C_SEQ));
    json_str(stdout, PQgetvalue(r, 0, C_AT), (size_t)PQgetlength(r, 0, C_AT));
    static const char *const names[] = {"db_user", "actor", "action"};
    for (int c = C_DBUSER; c <= C_ACTION; c++) {
        printf(",\"%s\":", names[c - C_DBUSER]);
        json_str(stdout, PQgetvalue(r, 0, c), (size_t)PQgetlength(r, 0, c));
    }
    printf(",\"client\":");
    if (PQgetisnull(r, 0, C_CLIENT))
        printf("null");
    else
        json_str(stdout, PQgetvalue(r, 0, C_CLIENT), (size_t)PQgetlength(r, 0, C_CLIENT));
    /* details is jsonb's own text output, valid JSON as it stands, and
     * written verbatim on purpose (not re-serialised by jansson like the
     * other --json outputs): the chain's canonical form hashes exactly this
     * text (docs/database.md), so an auditor can recompute a row's hash
     * from the line. */
    printf(",\"details\":%s,\"hash\":\"%s\"}\n", PQgetvalue(r, 0, C_DETAILS),
           PQgetvalue(r, 0, C_HASH));
}

typedef struct {
    PGresult *rows[PAGE];
    size_t n;
    int width[C_DETAILS];
    int header_done;
} page;

static const char *cell(PGresult *r, int c)
{
    return c == C_CLIENT && PQgetisnull(r, 0, c) ? "-" : PQgetvalue(r, 0, c);
}

static void flush_page(page *pg)
{
    static const char *const head[] = {"SEQ", "AT (UTC)", "DB USER", "ACTOR", "ACTION", "CLIENT"};
    if (!pg->header_done) {
        for (int c = 0; c < C_DETAILS; c++)
            if ((int)strlen(head[c]) > pg->width[c])
                pg->width[c] = (int)strlen(head[c]);
    }
    for (size_t i = 0; i < pg->n; i++)
        for (int c = 0; c < C_DETAILS; c++) {
            int w = (int)strlen(cell(pg->rows[i], c));
            if (w > pg->width[c])
                pg->width[c] = w;
        }
    if (!pg->header_done) {
        printf("%*s", pg->width[0], head[0]);
        for (int c = 1; c < C_DETAILS; c++)
            printf("  %-*s", pg->width[c], head[c]);
        printf("  DETAILS\n");
        pg->header_done = 1;
    }
    for (size_t i = 0; i < pg->n; i++) {
        PGresult *r = pg->rows[i];
        printf("%*s", pg->width[0], cell(r, 0));
        for (int c = 1; c < C_DETAILS; c++)
            printf("  %-*s", pg->width[c], cell(r, c));
        printf("  %s\n", PQgetvalue(r, 0, C_DETAILS));
        PQclear(r);
    }
    pg->n = 0;
}

/* A LIKE pattern matching the literal prefix s (without its '*'). */
static char *like_prefix(const char *s, size_t n)
{
    char *out = malloc(2 * n + 2);
    if (out == NULL)
        return NULL;
    char *p = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' || s[i] == '%' || s[i] == '_')
            *p++ = '\\';
        *p++ = s[i];
    }
    *p++ = '%';
    *p = '\0';
    return out;
}

typedef struct {
    const char *since, *until, *action, *client, *limit;
    int json;
} log_args;

/* 0 to go on, or the exit status. */
static int parse_args(int argc, char **argv, log_args *a)
{
    for (int i = 1; i < argc; i++) {
        int c = audit_common_opt(argc, argv, &i);
        if (c < 0)
            return EXIT_ERR;
        if (c > 0)
            continue;
        const char **dst = strcmp(argv[i], "--since") == 0    ? &a->since
                           : strcmp(argv[i], "--until") == 0  ? &a->until
                           : strcmp(argv[i], "--action") == 0 ? &a->action
                           : strcmp(argv[i], "--client") == 0 ? &a->client
                           : strcmp(argv[i], "--limit") == 0  ? &a->limit
                                                              : NULL;
        if (strcmp(argv[i], "--json") == 0)
            a->json = 1;
        else if (dst == NULL)
            return audit_fail(EXIT_ERR, "log: unexpected argument %s (see --help)", argv[i]);
        else if ((*dst = audit_optarg(argc, argv, &i)) == NULL)
            return EXIT_ERR;
    }
    if (a->limit) {
        char *end;
        unsigned long long l = strtoull(a->limit, &end, 10);
        if (*a->limit == '\0' || *end != '\0' || l == 0 || l > INT64_MAX)
            return audit_fail(EXIT_ERR, "log: --limit wants a positive integer");
    }
    return 0;
}

/* Sends the filtered query in single-row mode. 0, or the exit status. */
static int send_query(PGconn *db, const log_args *a)
{
    char *like = NULL;
    const char *exact = a->action;
    size_t alen = a->action ? strlen(a->action) : 0;
    if (alen > 0 && a->action[alen - 1] == '*') {
        if ((like = like_prefix(a->action, alen - 1)) == NULL)
            return audit_fail(EXIT_ERR, "out of memory");
        exact = NULL;
    }
    const char *p[] = {a->since, a->until, exact, like, a->client, a->limit};
    int sent = PQsendQueryParams(
        db,
        "SELECT seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
        "db_user, actor, action, client, details::text, encode(hash, 'hex') "
        "FROM vst.audit_log "
        "WHERE ($1::timestamptz IS NULL OR at >= $1::timestamptz) "
        "AND ($2::timestamptz IS NULL OR at < $2::timestamptz) "
        "AND ($3::text IS NULL OR action = $3::text) "
        "AND ($4::text IS NULL OR action LIKE $4::text) "
        "AND ($5::text IS NULL OR client = $5::text) "
        "ORDER BY seq LIMIT $6::bigint",
        6, NULL, p, NULL, NULL, 0);
    free(like);
    if (!sent || !PQsetSingleRowMode(db))
        return audit_fail(EXIT_ERR, "log: %s", audit_pgerr(db, NULL));
    return 0;
}

/* Prints the rows as they arrive: JSON lines, or pages of a table. */
static int print_rows(PGconn *db, int json)
{
    page pg = {.n = 0};
    int rc = EXIT_OK;
    uint64_t count = 0;
    PGresult *r;
    while ((r = PQgetResult(db)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE) {
            count++;
            if (json) {
                print_json(r);
                PQclear(r);
            } else {
                pg.rows[pg.n++] = r;
                if (pg.n == PAGE)
                    flush_page(&pg);
            }
            continue;
        }
        if (st != PGRES_TUPLES_OK && rc == EXIT_OK)
            rc = audit_fail(EXIT_ERR, "log: %s", audit_pgerr(db, r));
        PQclear(r);
    }
    if (!json && (pg.n > 0 || (!pg.header_done && rc == EXIT_OK)))
        flush_page(&pg);
    if (rc == EXIT_OK && !json && isatty(1))
        printf("(%" PRIu64 " event%s)\n", count, count == 1 ? "" : "s");
    return rc;
}

int cmd_log(int argc, char **argv)
{
    if (audit_is_help(argc, argv)) {
        help();
        return EXIT_OK;
    }
    log_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc;
    PGconn *db = audit_connect();
    if (db == NULL)
        return EXIT_ERR;
    rc = send_query(db, &a);
    if (rc == 0)
        rc = print_rows(db, a.json);
    PQfinish(db);
    return rc;
}
