/* vst-audit verify: streams the whole log with a binary COPY, recomputes
 * the chain row by row and checks every checkpoint (audit_chain.c), all in
 * one REPEATABLE READ snapshot so that rows and checkpoints agree. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/audit/audit_cli.h"
#include "audit/audit_copy.h"
#include "audit/audit_usage.h"
#include "core/hex.h"

#define SHOW_PROBLEMS 20

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void on_problem(void *ctx, uint64_t seq, const char *msg)
{
    uint64_t *shown = ctx;
    (void)seq;
    if ((*shown)++ < SHOW_PROBLEMS)
        printf("  problem: %s\n", msg);
}

static int load_checkpoints(PGconn *db, vst_audit_cp **out, size_t *n)
{
    PGresult *r = PQexec(db, "SELECT seq, encode(head, 'hex'), encode(signature, 'hex'), "
                             "encode(key_id, 'hex'), "
                             "(extract(epoch FROM signed_at) * 1000000)::bigint "
                             "FROM vst.audit_checkpoints ORDER BY seq");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        audit_fail(EXIT_ERR, "verify: cannot read vst.audit_checkpoints: %s", audit_pgerr(db, r));
        PQclear(r);
        return -1;
    }
    size_t rows = (size_t)PQntuples(r);
    vst_audit_cp *cp = calloc(rows ? rows : 1, sizeof *cp);
    if (cp == NULL) {
        PQclear(r);
        return audit_fail(EXIT_ERR, "out of memory"), -1;
    }
    for (size_t i = 0; i < rows; i++) {
        int row = (int)i;
        cp[i].seq = strtoull(PQgetvalue(r, row, 0), NULL, 10);
        /* The table's CHECKs fix the lengths; a bad one cannot verify. */
        vst_unhex_lower(PQgetvalue(r, row, 1), (size_t)PQgetlength(r, row, 1), cp[i].head,
                        sizeof cp[i].head);
        vst_unhex_lower(PQgetvalue(r, row, 2), (size_t)PQgetlength(r, row, 2), cp[i].signature,
                        sizeof cp[i].signature);
        vst_unhex_lower(PQgetvalue(r, row, 3), (size_t)PQgetlength(r, row, 3), cp[i].key_id,
                        sizeof cp[i].key_id);
        cp[i].has_signed_at = !PQgetisnull(r, row, 4);
        if (cp[i].has_signed_at)
            cp[i].signed_at_us = strtoll(PQgetvalue(r, row, 4), NULL, 10);
    }
    PQclear(r);
    *out = cp;
    *n = rows;
    return 0;
}

/* The columns of docs/database.md's canonical form, `at` in binary (see
 * audit_copy.c); text in client_encoding UTF8 (audit_connect). */
static const char copy_sql[] =
    "COPY (SELECT seq, at, db_user, actor, action, coalesce(client, ''), details::text, "
    "prev_hash, hash FROM vst.audit_log ORDER BY seq) TO STDOUT (FORMAT binary)";

/* Streams every row into v. 0, or EXIT_ERR after printing. */
static int stream_rows(PGconn *db, vst_audit_verifier *v)
{
    PGresult *r = PQexec(db, copy_sql);
    if (PQresultStatus(r) != PGRES_COPY_OUT) {
        audit_fail(EXIT_ERR, "verify: cannot read vst.audit_log: %s", audit_pgerr(db, r));
        PQclear(r);
        return EXIT_ERR;
    }
    PQclear(r);
    audit_copybuf b = {0};
    int rc = 0, trailer = 0;
    char *chunk;
    int n;
    while ((n = PQgetCopyData(db, &chunk, 0)) > 0) {
        int bad = audit_copy_append(&b, chunk, (size_t)n);
        PQfreemem(chunk);
        if (bad) {
            rc = audit_fail(EXIT_ERR, "out of memory");
            break;
        }
        vst_audit_row row;
        int t;
        while (rc == 0 && !trailer && (t = audit_copy_tuple(&b, &row)) != 0) {
            if (t < 0)
                rc = audit_fail(EXIT_ERR, "verify: malformed COPY data from the server");
            else if (t == 2)
                trailer = 1;
            else if (vst_audit_verifier_row(v, &row) < 0)
                rc = audit_fail(EXIT_ERR, "verify: hashing failed (OpenSSL)");
        }
        if (rc != 0)
            break;
    }
    if (rc == 0 && n == -2)
        rc = audit_fail(EXIT_ERR, "verify: reading the log failed: %s", audit_pgerr(db, NULL));
    /* Drain (after an early stop too) and collect the COPY's result. */
    while (n > 0 && (n = PQgetCopyData(db, &chunk, 0)) > 0)
        PQfreemem(chunk);
    while ((r = PQgetResult(db)) != NULL) {
        if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = audit_fail(EXIT_ERR, "verify: reading the log failed: %s", audit_pgerr(db, r));
        PQclear(r);
    }
    if (rc == 0 && !trailer)
        rc = audit_fail(EXIT_ERR, "verify: the COPY stream ended early");
    free(b.buf);
    return rc;
}

static int parse_anchor(const char *s, uint64_t *seq, uint8_t hash[VST_AUDIT_HASH_LEN])
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != ':' || v == 0)
        return -1;
    *seq = v;
    return vst_unhex_lower(end + 1, strlen(end + 1), hash, VST_AUDIT_HASH_LEN);
}

static void help(void)
{
    printf("usage: vst-audit [--dsn DSN] verify [--public-key HEX | --public-key-file FILE]...\n"
           "                 [--strict] [--anchor SEQ:HASH]...\n\n"
           "Recomputes the whole hash chain of vst.audit_log in seq order (gapless from 1,\n"
           "each prev_hash the previous row's hash, each hash recomputed from the row's\n"
           "canonical form) and checks every checkpoint: its signature with vst-keyd's\n"
           "signing key (selected by key_id) and its head against the chain. Names the\n"
           "first row or checkpoint that does not fit and why.\n\n"
           "  --public-key HEX        trusted signing key (64 hex digits); repeatable;\n"
           "                          default VST_AUDIT_PUBLIC_KEY. Required.\n"
           "  --public-key-file FILE  a file holding it (e.g. `vst-admin key status` output)\n"
           "  --strict                rows after the last signed checkpoint are a failure,\n"
           "                          not a warning\n"
           "  --anchor SEQ:HASH       a chain head noted earlier (verify prints one): the log\n"
           "                          must still hold row SEQ with this hash. Detects a log\n"
           "                          cut back together with its newest checkpoints.\n"
           "  --in-flight-window S    deliveries received at most S seconds (3600) before\n"
           "                          keyd's last usage report and without an outcome may\n"
           "                          account for what keyd served since\n"
           "  --usage-max-age S       keyd's last usage report may be at most S seconds\n"
           "                          (3600) older than the last delivery event\n\n"
           "Then reconciles keyd's signed usage reports with the delivery events: per\n"
           "pseudonym domain, identifiers keyd served that no delivery accounts for (a\n"
           "dictionary sweep), and the reverse, are problems (docs/audit.md).\n\n"
           "Exit status: 0 the log is intact, 1 it is not, 2 error.\n");
}

#define MAX_ANCHORS 16

typedef struct {
    int strict;
    uint64_t aseq[MAX_ANCHORS];
    uint8_t ahash[MAX_ANCHORS][VST_AUDIT_HASH_LEN];
    size_t nanchors;
    vst_audit_usage_opts uopt;
} verify_opts;

/* 0 to go on, or the exit status. */
static int parse_args(int argc, char **argv, verify_opts *o)
{
    vst_audit_usage_defaults(&o->uopt);
    char uerr[256];
    for (int i = 1; i < argc; i++) {
        int c = audit_common_opt(argc, argv, &i);
        if (c < 0)
            return EXIT_ERR;
        if (c > 0)
            continue;
        c = vst_audit_usage_opt(argc, argv, &i, &o->uopt, uerr, sizeof uerr);
        if (c < 0)
            return audit_fail(EXIT_ERR, "verify: %s", uerr);
        if (c > 0)
            continue;
        if (strcmp(argv[i], "--strict") == 0) {
            o->strict = 1;
        } else if (strcmp(argv[i], "--anchor") == 0) {
            const char *v = audit_optarg(argc, argv, &i);
            if (v == NULL)
                return EXIT_ERR;
            if (o->nanchors >= MAX_ANCHORS ||
                parse_anchor(v, &o->aseq[o->nanchors], o->ahash[o->nanchors]) != 0)
                return audit_fail(EXIT_ERR,
                                  "verify: --anchor wants SEQ:HASH (64 lower-case hex digits), "
                                  "at most 16");
            o->nanchors++;
        } else {
            return audit_fail(EXIT_ERR, "verify: unexpected argument %s (see --help)", argv[i]);
        }
    }
    if (audit_env_key() != 0)
        return EXIT_ERR;
    if (g_aopt.nkeys == 0)
        return audit_fail(EXIT_ERR, "verify: no signing public key: give --public-key HEX or "
                                    "--public-key-file FILE (`vst-admin key status` prints it)");
    return 0;
}

/* The chain, the checkpoints and keyd's usage, in one REPEATABLE READ
 * snapshot so that rows and checkpoints agree. 0 with *rep and *usage
 * (the caller's to free), or the exit status. */
static int check_in_snapshot(PGconn *db, const verify_opts *o, uint64_t *shown,
                             vst_audit_report *rep, vst_audit_usage **usage)
{
    PGresult *r = PQexec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    vst_audit_cp *cps = NULL;
    size_t ncps = 0;
    if (!ok || load_checkpoints(db, &cps, &ncps) != 0) {
        if (!ok)
            audit_fail(EXIT_ERR, "verify: cannot start a snapshot: %s", audit_pgerr(db, NULL));
        return EXIT_ERR;
    }
    vst_audit_verifier *v = vst_audit_verifier_new(
        (const uint8_t(*)[VST_ED25519_PUB_LEN])g_aopt.keys, g_aopt.nkeys, cps, ncps);
    free(cps);
    if (v == NULL)
        return audit_fail(EXIT_ERR, "out of memory");
    for (size_t i = 0; i < o->nanchors; i++)
        vst_audit_verifier_anchor(v, o->aseq[i], o->ahash[i]);
    vst_audit_verifier_on_problem(v, on_problem, shown);
    int rc = stream_rows(db, v);
    /* keyd's usage against the delivery events, in the same snapshot. */
    vst_audit_usage *u = vst_audit_usage_new((const uint8_t(*)[VST_ED25519_PUB_LEN])g_aopt.keys,
                                             g_aopt.nkeys, &o->uopt);
    char uerr[256];
    if (rc == 0 && u == NULL)
        rc = audit_fail(EXIT_ERR, "out of memory");
    if (rc == 0 && vst_audit_usage_db(db, u, uerr, sizeof uerr) != 0)
        rc = audit_fail(EXIT_ERR, "verify: %s", uerr);
    PQclear(PQexec(db, "COMMIT"));
    if (rc != 0) {
        vst_audit_usage_free(u);
        vst_audit_verifier_free(v);
        return rc;
    }
    vst_audit_verifier_finish(v, rep);
    vst_audit_verifier_free(v);
    *usage = u;
    return 0;
}

/* What was checked; the usage findings join rep's problems. */
static void print_summary(vst_audit_report *rep, const vst_audit_usage *usage, uint64_t shown,
                          double dt)
{
    if (shown > SHOW_PROBLEMS)
        printf("  ... and %" PRIu64 " more problems\n", shown - SHOW_PROBLEMS);
    char head[2 * VST_AUDIT_HASH_LEN + 1];
    vst_hex(rep->last_hash, VST_AUDIT_HASH_LEN, head);
    if (rep->rows)
        printf("rows: %" PRIu64 " (seq %" PRIu64 "..%" PRIu64 ")\n", rep->rows, rep->first_seq,
               rep->last_seq);
    else
        printf("rows: 0 (the log is empty)\n");
    printf("checkpoints: %" PRIu64 " (%" PRIu64 " verified)\n", rep->checkpoints,
           rep->checkpoints_ok);
    printf("keyd events: %" PRIu64 "\n", rep->keyd_events);
    vst_audit_usage_print(usage, stdout);
    uint64_t ufind = vst_audit_usage_findings(usage), chain_problems = rep->problems;
    if (rep->problems == 0 && ufind > 0)
        snprintf(rep->first_problem, sizeof rep->first_problem, "%s", vst_audit_usage_first(usage));
    rep->problems += ufind;
    if (rep->rows)
        printf("chain head: seq %" PRIu64 " hash %s\n", rep->last_seq, head);
    if (rep->rows && chain_problems == 0)
        printf("anchor for the next run: --anchor %" PRIu64 ":%s\n", rep->last_seq, head);
    printf("verified in %.3f s (%.0f rows/s)\n", dt, dt > 0 ? (double)rep->rows / dt : 0.0);
}

/* The exit status: any problem, or (--strict) rows not yet covered by a
 * signed checkpoint, fail. */
static int verdict(vst_audit_report *rep, int strict)
{
    int uncovered_fails = strict && rep->uncovered > 0;
    if (rep->uncovered > 0) {
        char range[64];
        if (rep->uncovered == 1)
            snprintf(range, sizeof range, "row %" PRIu64, rep->last_seq);
        else
            snprintf(range, sizeof range, "rows %" PRIu64 "..%" PRIu64,
                     rep->last_seq - rep->uncovered + 1, rep->last_seq);
        if (!uncovered_fails)
            printf("WARNING: %s (%" PRIu64 ") not yet covered by a signed checkpoint\n", range,
                   rep->uncovered);
        else if (rep->problems == 0)
            snprintf(rep->first_problem, sizeof rep->first_problem,
                     "%s not covered by a signed checkpoint (--strict)", range);
    }
    if (rep->problems > 0 || uncovered_fails) {
        printf("FAILED: the audit log is not intact\n");
        fflush(stdout);
        uint64_t np = rep->problems + (uint64_t)(rep->problems == 0);
        return audit_fail(EXIT_BAD, "verify: %s%s", rep->first_problem,
                          np > 1 ? " (and more problems, listed above)" : "");
    }
    printf("OK: the audit log is intact\n");
    return EXIT_OK;
}

int cmd_verify(int argc, char **argv)
{
    if (audit_is_help(argc, argv)) {
        help();
        return EXIT_OK;
    }
    verify_opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc;
    PGconn *db = audit_connect();
    if (db == NULL)
        return EXIT_ERR;
    double t0 = now_s();
    uint64_t shown = 0;
    vst_audit_report rep;
    vst_audit_usage *usage = NULL;
    rc = check_in_snapshot(db, &o, &shown, &rep, &usage);
    PQfinish(db);
    if (rc != 0)
        return rc;
    print_summary(&rep, usage, shown, now_s() - t0);
    vst_audit_usage_free(usage);
    return verdict(&rep, o.strict);
}
