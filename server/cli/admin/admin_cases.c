/* vst-admin disclosed add|list and objection add|list (DESIGN.md §12,
 * docs/operations.md "A disclosed pseudonym", "An objection").
 *
 * A case has three homes: vst-keyd (the sealed exception: the person's
 * keyed inner value, substitute or withhold), the store (the person's rows,
 * moved to P* or deleted through vst.case_move / vst.case_delete) and the
 * trust DB (vst.cases and the audit event: counts, reason, actor — never a
 * pseudonym or identifier). The order makes every step resumable: keyd
 * first (it answers the same case again when asked again), then the rows in
 * short batches, then the case row and its event in one transaction. A
 * kill anywhere is finished by running the same command again (`--force`
 * for a disclosed pseudonym whose rows have all been moved already). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "cli/admin/admin_cases.h"
#include "core/hex.h"
#include "core/secmem.h"

#define MOVE_BATCH 10000

/* --batch (hidden from the summary; for the crash test and huge persons). */
static long g_batch = MOVE_BATCH;

static int case_usage(const char *kind)
{
    if (strcmp(kind, "disclosed") == 0)
        printf("usage: vst-admin disclosed add --pseudonym HEX --reason TEXT [--profile P]\n"
               "                               [--column COL] [--domain D]\n"
               "                               [--force [--key-version N]]\n"
               "       vst-admin disclosed list [--json]\n\n"
               "A pseudonym that has been linked to its person stops working: vst-keyd\n"
               "records a substitution for the person (sealed in its keystore), every stored\n"
               "row carrying the pseudonym is moved to the person's new pseudonym, and later\n"
               "deliveries produce the new one. Prints the case id; audited as\n"
               "pseudonym.disclosed (case id, reason, rows moved; never a pseudonym).\n"
               "--column: the pseudonym column (default pseudonym); --domain when the\n"
               "column holds several identifier kinds. A pseudonym no stored row carries is\n"
               "refused unless --force (which also finishes an interrupted run whose rows are\n"
               "all moved; give the pseudonym's --key-version then).\n");
    else
        printf("usage: vst-admin objection add --identifier-file FILE [--reason TEXT]\n"
               "                               [--profile P]\n"
               "       vst-admin objection list [--json]\n\n"
               "A person objects: vst-keyd records the person's keyed value as withheld\n"
               "(sealed in its keystore), every stored row of the person is deleted, and\n"
               "later deliveries validate the person's records but do not store them (the\n"
               "receipt counts them as withheld_count). The identifier (e.g. the KVNR) is\n"
               "read from FILE, which must be a regular file readable by its owner only\n"
               "(mode 0600 or 0400); it is never shown, logged or stored. Audited as\n"
               "person.objection (case id, rows deleted).\n");
    return 0;
}

/* ---- the trust DB: the case row and its event */

/* Inserts the case as open (or finds it open from an interrupted run). */
static int case_open(PGconn *db, const admin_case *c)
{
    const char *p[] = {c->case_hex, c->kind, vst_profile_name(c->profile), c->reason};
    PGresult *r = PQexecParams(db,
                               "INSERT INTO vst.cases (case_id, kind, profile, reason) "
                               "VALUES ($1, $2, $3, $4) ON CONFLICT (case_id) DO NOTHING",
                               4, NULL, p, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        char m[256];
        admin_fail("%s add: trust DB: %s", c->kind,
                   admin_pg_line(PQresultErrorMessage(r), m, sizeof m));
    }
    PQclear(r);
    return ok ? 0 : -1;
}

/* The event and the case's end in one transaction. 0, or -1. */
static int case_close(PGconn *db, admin_case *c)
{
    char rows[24], seq[24], actor[160];
    snprintf(rows, sizeof rows, "%lld", c->rows);
    json_t *d = json_pack("{s:s, s:s, s:s, s:I, s:b}", "case_id", c->case_hex, "profile",
                          vst_profile_name(c->profile), "reason", c->reason,
                          strcmp(c->kind, "disclosed") == 0 ? "rows_moved" : "rows_deleted",
                          (json_int_t)c->rows, "resumed", c->existed);
    char *details = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    admin_actor(actor, sizeof actor);
    uint64_t n = 0;
    PGresult *r = PQexec(db, "BEGIN");
    PQclear(r);
    int rc = details ? vst_audit_append(db, actor, c->action, NULL, details, &n) : -1;
    vst_secure_free(details);
    if (rc != 0) {
        PQclear(PQexec(db, "ROLLBACK"));
        return admin_fail("%s add: audit log: %s", c->kind, vst_audit_last_error()), -1;
    }
    snprintf(seq, sizeof seq, "%" PRIu64, n);
    const char *p[] = {c->case_hex, rows, seq};
    r = PQexecParams(db,
                     "UPDATE vst.cases SET state = 'done', finished_at = now(), "
                     "rows = $2::bigint, audit_seq = $3::bigint WHERE case_id = $1",
                     3, NULL, p, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    r = PQexec(db, ok ? "COMMIT" : "ROLLBACK");
    ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok)
        return admin_fail("%s add: the case could not be closed in the trust DB", c->kind), -1;
    c->audit_seq = n;
    return 0;
}

/* ---- the store: moving or deleting one pseudonym's rows, in batches */

/* Calls vst.case_move (to_hex) or vst.case_delete (to_hex NULL) until no
 * row is left. 0 or -1. */
int case_store_apply(PGconn *db, admin_case *c, uint32_t version, const char *from_hex,
                     const char *to_hex)
{
    char v[16], lim[16];
    snprintf(v, sizeof v, "%u", version);
    snprintf(lim, sizeof lim, "%ld", g_batch);
    const char *table = vst_profile_table(c->profile);
    long long done = 0;
    const char *mv[] = {c->case_hex, table, v, from_hex, to_hex, lim};
    const char *dl[] = {c->case_hex, table, v, from_hex, lim};
    for (;;) {
        char *s = to_hex ? spec_query_value(db, c->kind,
                                            "SELECT vst.case_move($1, $2::regclass, $3::int, "
                                            "$4, $5, $6::int)",
                                            6, mv)
                         : spec_query_value(db, c->kind,
                                            "SELECT vst.case_delete($1, $2::regclass, $3::int, "
                                            "$4, $5::int)",
                                            5, dl);
        if (s == NULL)
            return -1;
        long long n = strtoll(s, NULL, 10);
        free(s);
        done += n;
        if (isatty(STDERR_FILENO))
            fprintf(stderr, "\r  rows %s: %lld", to_hex ? "moved" : "deleted", done);
        if (n < g_batch)
            break;
    }
    if (isatty(STDERR_FILENO))
        fputc('\n', stderr);
    return 0;
}

/* ---- shared option handling */

int case_parse(admin_case *c, int argc, char **argv, const char *const *takes)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], **dst = NULL;
        int known = 0;
        for (size_t t = 0; takes[t]; t++)
            known |= strcmp(takes[t], a) == 0;
        if (!known)
            return admin_fail("%s add: unexpected argument %s (see --help)", c->kind, a), 2;
        if (strcmp(a, "--force") == 0) {
            c->force = 1;
            continue;
        }
        dst = strcmp(a, "--profile") == 0           ? &c->profile_name
              : strcmp(a, "--pseudonym") == 0       ? &c->pseudonym
              : strcmp(a, "--column") == 0          ? &c->column
              : strcmp(a, "--domain") == 0          ? &c->domain
              : strcmp(a, "--reason") == 0          ? &c->reason
              : strcmp(a, "--identifier-file") == 0 ? &c->id_file
              : strcmp(a, "--key-version") == 0     ? &c->key_version
                                                    : NULL;
        if (strcmp(a, "--batch") == 0) {
            const char *v = admin_optarg(argc, argv, &i);
            g_batch = v ? strtol(v, NULL, 10) : 0;
            if (g_batch < 1 || g_batch > 1000000)
                return admin_fail("%s add: --batch wants 1..1000000", c->kind), 2;
        } else if (dst == NULL || (*dst = admin_optarg(argc, argv, &i)) == NULL) {
            return 2;
        }
    }
    return 0;
}

/* The trust DB's check on a reason (0010_cases.sql), before keyd records
 * anything: 32 hex digits in a row, or a letter and 9 digits (a KVNR's
 * shape). */
static int shaped(const char *s)
{
    size_t hex = 0, digits = 0;
    int letter = 0;
    for (; *s; s++) {
        char ch = *s;
        int is_hex =
            (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
        hex = is_hex ? hex + 1 : 0;
        if (hex >= 32)
            return 1;
        if (ch >= '0' && ch <= '9') {
            digits = letter || digits ? digits + 1 : 0;
            if (letter && digits >= 9)
                return 1;
        } else {
            letter = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
            digits = 0;
        }
    }
    return 0;
}

/* Loads the profile and picks the identifier (domain) of the column. */
int case_resolve(admin_case *c)
{
    char path[4096], msg[512];
    const char *name = c->profile_name ? c->profile_name : "sgb5";
    snprintf(path, sizeof path, "%s/%s.json", g_opt.profiles, name);
    if (strchr(name, '/') || vst_profile_load(path, &c->profile, msg, sizeof msg) != VST_E_OK)
        return admin_fail("%s add: profile %s: %s", c->kind, name, msg);
    vst_column_identifier ids[8];
    const char *col = c->column ? c->column : "pseudonym";
    size_t n = vst_profile_column_identifiers(c->profile, col, ids, 8);
    if (n == 0)
        return admin_fail("%s add: profile %s has no pseudonym column %s", c->kind, name, col);
    for (size_t i = 0; i < n && i < 8; i++)
        if (c->domain == NULL ? n == 1 : strcmp(ids[i].domain, c->domain) == 0)
            c->ident = ids[i];
    if (c->ident.domain == NULL)
        return admin_fail("%s add: column %s holds %zu identifier kinds: name one with --domain "
                          "(%s%s%s)",
                          c->kind, col, n, ids[0].domain, n > 1 ? ", " : "",
                          n > 1 ? ids[1].domain : "");
    c->column = col;
    if (c->reason == NULL || c->reason[0] == '\0')
        return admin_fail("%s add: --reason TEXT is required", c->kind);
    json_t *d = json_pack("{s:s}", "reason", c->reason);
    char *dj = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    int bad = dj == NULL || strlen(c->reason) > 500 || vst_audit_screen(NULL, NULL, dj) != 0 ||
              shaped(c->reason);
    vst_secure_free(dj);
    if (bad)
        return admin_fail("%s add: the reason must be 1..500 characters of text and may not "
                          "hold a pseudonym or an identifier",
                          c->kind);
    return 0;
}

int case_finish(PGconn *store, PGconn *trust, admin_case *c)
{
    const char *p[] = {c->case_hex};
    char *t = spec_query_value(store, c->kind, "SELECT vst.case_total($1)", 1, p);
    if (t == NULL)
        return 1;
    c->rows = strtoll(t, NULL, 10);
    free(t);
    if (case_close(trust, c) != 0)
        return 1;
    printf("%s case %s: %lld row(s) %s%s; audit seq %" PRIu64 "\n", c->kind, c->case_hex, c->rows,
           strcmp(c->kind, "disclosed") == 0 ? "moved to the new pseudonym" : "deleted",
           c->existed ? " (finishing an earlier run)" : "", c->audit_seq);
    return 0;
}

int case_begin(PGconn *trust, admin_case *c)
{
    return case_open(trust, c) == 0 ? 0 : 1;
}

/* ---- list */

int case_list(const char *kind, int argc, char **argv)
{
    if (admin_is_help(argc, argv))
        return case_usage(kind);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            g_opt.json = 1;
        else
            return admin_fail("%s list: unexpected argument %s", kind, argv[i]), 2;
    }
    PGconn *db = admin_db(g_opt.trust_dsn, "trust");
    if (db == NULL)
        return 1;
    const char *p[] = {kind};
    char *v = spec_query_value(
        db, "list",
        "SELECT coalesce(json_agg(json_build_object('case_id', case_id, 'profile', profile, "
        "'reason', reason, 'state', state, 'rows', rows, 'created', to_char(created_at AT TIME "
        "ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), 'audit_seq', audit_seq) ORDER BY "
        "created_at), '[]') FROM vst.cases WHERE kind = $1",
        1, p);
    PQfinish(db);
    json_t *a = v ? json_loads(v, 0, NULL) : NULL;
    free(v);
    if (a == NULL)
        return 1;
    if (g_opt.json) {
        char *t = json_dumps(a, JSON_INDENT(2));
        if (t)
            puts(t);
        vst_secure_free(t);
    } else {
        size_t i;
        json_t *e;
        printf("%-16s  %-20s  %-8s  %-5s  %8s  %s\n", "CASE", "CREATED", "PROFILE", "STATE", "ROWS",
               "REASON");
        json_array_foreach(a, i, e)
        {
            printf("%-16s  %-20s  %-8s  %-5s  %8lld  %s\n",
                   json_string_value(json_object_get(e, "case_id")),
                   json_string_value(json_object_get(e, "created")),
                   json_string_value(json_object_get(e, "profile")),
                   json_string_value(json_object_get(e, "state")),
                   (long long)json_integer_value(json_object_get(e, "rows")),
                   json_string_value(json_object_get(e, "reason")));
        }
    }
    json_decref(a);
    return 0;
}

int case_help(const char *kind)
{
    return case_usage(kind);
}
