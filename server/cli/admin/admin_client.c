/* vst-admin client add | revoke | list (set: admin_client_set.c): the registry of senders in
 * the trust DB (vst.clients, DESIGN.md §6, §7, §9, §14).
 *
 * A client is identified by its TLS certificate's public key: the
 * fingerprint is SHA-256 over the DER SubjectPublicKeyInfo, so a renewed
 * certificate for the same key keeps working and a new key is a new client.
 * Every change is written together with its audit event (client.added,
 * client.updated, client.revoked) in ONE trust-DB transaction: either both are there or
 * neither is. The audit details carry the IK and the fingerprint, never
 * anything about an insured person. */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/admin/admin.h"
#include "cli/admin/admin_client.h"
#include "audit/audit.h"
#include "core/hex.h"
#include "core/secmem.h"
#include "core/ident.h"

PGresult *admin_client_query(PGconn *db, const char *sql, int n, const char *const *params)
{
    return PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
}

int admin_client_exec(PGconn *db, const char *sql)
{
    PGresult *r = PQexec(db, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        char m[256];
        admin_fail("%s: %s", sql, admin_pg_line(PQresultErrorMessage(r), m, sizeof m));
    }
    PQclear(r);
    return ok;
}

static int valid_name(const char *name)
{
    return vst_client_name_ok(name, strlen(name));
}

/* Loads the first certificate of a PEM (or DER) file. */
static X509 *load_cert(const char *path)
{
    BIO *b = BIO_new_file(path, "rb");
    if (b == NULL) {
        admin_fail("client add: cannot read %s", path);
        return NULL;
    }
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    if (x == NULL) {
        (void)BIO_reset(b);
        x = d2i_X509_bio(b, NULL);
    }
    BIO_free(b);
    if (x == NULL)
        admin_fail("client add: %s holds no X.509 certificate (PEM or DER)", path);
    return x;
}

static void asn1_time_text(const ASN1_TIME *t, char *out, size_t len)
{
    struct tm tm;
    if (t != NULL && ASN1_TIME_to_tm(t, &tm) == 1)
        strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    else
        snprintf(out, len, "?");
}

/* Checks the certificate and computes its key fingerprint. */
static int cert_fingerprint(const char *path, unsigned char fpr[FPR_LEN], char *not_after,
                            size_t nalen)
{
    X509 *x = load_cert(path);
    if (x == NULL)
        return -1;
    int rc = -1;
    char when[32];
    EVP_PKEY *pk = X509_get0_pubkey(x);
    unsigned char *der = NULL;
    int derlen;
    if (X509_cmp_current_time(X509_get0_notBefore(x)) >= 0) {
        asn1_time_text(X509_get0_notBefore(x), when, sizeof when);
        admin_fail("client add: %s is not valid yet (not before %s)", path, when);
    } else if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
        asn1_time_text(X509_get0_notAfter(x), when, sizeof when);
        admin_fail("client add: %s has expired (not after %s)", path, when);
    } else if (X509_get_extension_flags(x) & EXFLAG_CA) {
        admin_fail("client add: %s is a CA certificate; give the insurer's own certificate", path);
    } else if (pk == NULL || (derlen = i2d_PUBKEY(pk, &der)) <= 0) {
        admin_fail("client add: cannot read the public key of %s", path);
    } else {
        unsigned int mdlen = 0;
        if (EVP_Digest(der, (size_t)derlen, fpr, &mdlen, EVP_sha256(), NULL) == 1 &&
            mdlen == FPR_LEN) {
            asn1_time_text(X509_get0_notAfter(x), not_after, nalen);
            rc = 0;
        } else {
            admin_fail("client add: SHA-256 failed");
        }
    }
    OPENSSL_free(der);
    X509_free(x);
    return rc;
}

/* Rolls back, closes, returns 1. */
int admin_client_abort(PGconn *db)
{
    PGresult *r = PQexec(db, "ROLLBACK");
    PQclear(r);
    PQfinish(db);
    return 1;
}

/* Appends the audit event of a client change (details: a JSON object,
 * consumed) in the transaction of the change, and commits both. Goes
 * through vst_audit_append, so the identifier screen applies here too.
 * Returns 0 with seq (24 bytes) filled, or 1 after one clear line. */
int admin_client_commit(PGconn *db, const char *what, const char *action, const char *actor,
                        const char *name, json_t *d, char seq[24])
{
    char m[256];
    char *details = d ? json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(d);
    if (details == NULL) {
        admin_fail("%s: the details are not valid UTF-8 text", what);
        return admin_client_abort(db);
    }
    uint64_t n = 0;
    int rc = vst_audit_append(db, actor, action, name, details, &n);
    vst_secure_free(details);
    if (rc != 0) {
        admin_fail("%s: audit log: %s", what, vst_audit_last_error());
        return admin_client_abort(db);
    }
    snprintf(seq, 24, "%llu", (unsigned long long)n);
    PGresult *r = PQexec(db, "COMMIT");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        admin_fail("%s: commit: %s", what, admin_pg_line(PQresultErrorMessage(r), m, sizeof m));
        PQclear(r);
        PQfinish(db);
        return 1;
    }
    PQclear(r);
    PQfinish(db);
    return 0;
}

static int want_json(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--json") == 0)
            return 1;
    return g_opt.json;
}

/* --rate-limit's value: "default" (the registration sets none: vst-httpd's
 * configured --rate-limit applies; -1) or a whole number 0..RATE_MAX of
 * requests per minute, 0 = unlimited. 0, or -1 after one clear line. */
int admin_client_rate_parse(const char *what, const char *v, long *out)
{
    if (strcmp(v, "default") == 0) {
        *out = -1;
        return 0;
    }
    long n = 0;
    size_t len = strlen(v);
    int ok = len > 0 && len <= 7;
    for (size_t i = 0; ok && i < len; i++) {
        ok = v[i] >= '0' && v[i] <= '9';
        n = n * 10 + (v[i] - '0');
    }
    if (!ok || n > RATE_MAX) {
        admin_fail("%s: --rate-limit must be a whole number 0..%d (requests per minute, 0 = "
                   "unlimited) or \"default\", not \"%s\"",
                   what, RATE_MAX, v);
        return -1;
    }
    *out = n;
    return 0;
}

/* A rate as JSON: null for the default. */
json_t *admin_client_rate_json(long rate)
{
    return rate < 0 ? json_null() : json_integer(rate);
}

typedef struct {
    const char *name, *ik_in, *cert, *rate_in;
    vst_id ik;
    long rate; /* -1: default */
} add_args;

/* 0, or the exit status. */
static int parse_add_args(int argc, char **argv, add_args *a)
{
    const char *v;
    for (int i = 1; i < argc; i++) {
        const char **dst = strcmp(argv[i], "--name") == 0         ? &a->name
                           : strcmp(argv[i], "--ik") == 0         ? &a->ik_in
                           : strcmp(argv[i], "--cert") == 0       ? &a->cert
                           : strcmp(argv[i], "--rate-limit") == 0 ? &a->rate_in
                                                                  : NULL;
        if (dst != NULL) {
            if ((v = admin_optarg(argc, argv, &i)) == NULL)
                return 2;
            *dst = v;
        } else if (strcmp(argv[i], "--json") != 0) {
            return admin_fail("client add: unexpected argument %s (see --help)", argv[i]);
        }
    }
    if (a->name == NULL || a->ik_in == NULL || a->cert == NULL)
        return admin_fail("client add: --name, --ik and --cert are required (see --help)");
    a->rate = -1;
    if (a->rate_in != NULL && admin_client_rate_parse("client add", a->rate_in, &a->rate) != 0)
        return 1;
    if (!valid_name(a->name))
        return admin_fail("client add: the name must be 1-128 bytes of UTF-8 without control or "
                          "invisible formatting characters and without a blank at either end");
    vst_err e = vst_id_parse(VST_ID_IK, a->ik_in, strlen(a->ik_in), &a->ik);
    if (e != VST_E_OK)
        return admin_fail("client add: \"%s\" is not a valid IK (%s)", a->ik_in,
                          e == VST_E_ID_CHECK_DIGIT ? "wrong check digit"
                          : e == VST_E_ID_LENGTH    ? "an IK has 9 digits"
                                                    : "an IK has 9 digits and nothing else");
    return 0;
}

/* Duplicates are refused with a message naming the other client; the
 * unique constraints still decide a race between two operators. 0, or -1
 * after the message. */
static int refuse_duplicate(PGconn *db, const char *name, const char *fpr_hex)
{
    char m[256];
    const char *p2[] = {name, fpr_hex};
    PGresult *r =
        admin_client_query(db,
                           "SELECT name, state FROM vst.clients WHERE name = $1 OR "
                           "cert_fingerprint = decode($2, 'hex') ORDER BY (name = $1) DESC",
                           2, p2);
    int rc = -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        admin_fail("client add: %s", admin_pg_line(PQresultErrorMessage(r), m, sizeof m));
    } else if (PQntuples(r) > 0) {
        const char *other = PQgetvalue(r, 0, 0), *state = PQgetvalue(r, 0, 1);
        if (strcmp(other, name) == 0)
            admin_fail("client add: a client named \"%s\" already exists (%s)", name, state);
        else
            admin_fail("client add: this certificate's key is already registered as \"%s\" "
                       "(%s)%s",
                       other, state,
                       strcmp(state, "revoked") == 0 ? "; a revoked key needs a new key pair" : "");
    } else {
        rc = 0;
    }
    PQclear(r);
    return rc;
}

/* The INSERT; created gets its time. 0, or -1 after the message. */
static int insert_client(PGconn *db, const add_args *a, const char *fpr_hex, char created[32])
{
    char m[256];
    char rate[24];
    snprintf(rate, sizeof rate, "%ld", a->rate);
    const char *pi[] = {a->name, a->ik.s, fpr_hex, a->rate < 0 ? NULL : rate};
    PGresult *r = admin_client_query(
        db,
        "INSERT INTO vst.clients (name, ik, cert_fingerprint, rate_limit) VALUES "
        "($1, $2, decode($3, 'hex'), $4::integer) RETURNING "
        "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
        4, pi);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state != NULL && strcmp(state, "23505") == 0)
            admin_fail("client add: \"%s\" or its certificate key was registered meanwhile",
                       a->name);
        else
            admin_fail("client add: %s", admin_pg_line(PQresultErrorMessage(r), m, sizeof m));
        PQclear(r);
        return -1;
    }
    snprintf(created, 32, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

static void print_added(int json, const add_args *a, const char *fpr_hex, const char *created,
                        const char *not_after, const char *seq)
{
    if (json) {
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:I}", "name", a->name, "ik", a->ik.s,
                      "fingerprint", fpr_hex, "state", "active", "created", created,
                      "cert_not_after", not_after, "rate_limit", admin_client_rate_json(a->rate),
                      "audit_seq", (json_int_t)strtoll(seq, NULL, 10));
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (s != NULL)
            printf("%s\n", s);
        vst_secure_free(s);
    } else
        printf("client \"%s\" added (IK %s, audit seq %s)\nfingerprint: %s\n"
               "certificate valid until %s\n",
               a->name, a->ik.s, seq, fpr_hex, not_after);
    if (!json && a->rate >= 0)
        printf("rate limit: %ld requests per minute%s\n", a->rate,
               a->rate == 0 ? " (0 = unlimited)" : "");
}

int cmd_client_add(int argc, char **argv)
{
    if (admin_is_help(argc, argv)) {
        printf("usage: vst-admin client add --name NAME --ik IK --cert CERT.pem\n"
               "                            [--rate-limit N|default] [--json]\n\n"
               "Registers a sender (an insurer) in the trust DB (--trust-dsn, as vst_admin).\n"
               "The client is identified by its certificate's public key: the fingerprint\n"
               "is SHA-256 over the DER SubjectPublicKeyInfo, so a renewed certificate for\n"
               "the same key keeps working. Refuses an invalid IK, an expired or not yet\n"
               "valid certificate, a CA certificate, a name or key already registered\n"
               "(also a revoked one: a revoked key is never registered again). The client\n"
               "and its audit event (client.added) are written in one transaction.\n\n"
               "--rate-limit N   requests per minute vst-httpd accepts from this client,\n"
               "                 a whole number 0..1000000, 0 = unlimited; without it (or\n"
               "                 \"default\") vst-httpd's --rate-limit applies. Change it\n"
               "                 later with vst-admin client set, without a restart.\n");
        return 0;
    }
    add_args a = {0};
    int rc = parse_add_args(argc, argv, &a);
    if (rc != 0)
        return rc;
    unsigned char fpr[FPR_LEN];
    char fpr_hex[2 * FPR_LEN + 1], not_after[32];
    if (cert_fingerprint(a.cert, fpr, not_after, sizeof not_after) != 0)
        return 1;
    vst_hex(fpr, FPR_LEN, fpr_hex);

    PGconn *db = admin_db(g_opt.trust_dsn, "trust");
    if (db == NULL)
        return 1;
    /* READ COMMITTED: vst.audit_append requires it. */
    char created[32];
    if (!admin_client_exec(db, "BEGIN ISOLATION LEVEL READ COMMITTED") ||
        refuse_duplicate(db, a.name, fpr_hex) != 0 || insert_client(db, &a, fpr_hex, created) != 0)
        return admin_client_abort(db);
    char actor[160];
    admin_actor(actor, sizeof actor);
    /* No IK: DESIGN.md §8 keeps every identifier of §4 out of the log; the
     * client's name and certificate fingerprint identify it there. */
    json_t *d = json_pack("{s:s, s:s, s:o}", "cert_fingerprint", fpr_hex, "cert_not_after",
                          not_after, "rate_limit", admin_client_rate_json(a.rate));
    char seq[24];
    if (admin_client_commit(db, "client add", "client.added", actor, a.name, d, seq) != 0)
        return 1;
    print_added(want_json(argc, argv), &a, fpr_hex, created, not_after, seq);
    return 0;
}

int cmd_client_revoke(int argc, char **argv)
{
    if (admin_is_help(argc, argv)) {
        printf("usage: vst-admin client revoke NAME [--reason TEXT]\n\n"
               "Revokes a client: vst-httpd answers its certificate with 403 from then on.\n"
               "The row stays (receipts refer to it); a revoked client cannot be\n"
               "re-activated and its key cannot be registered again. The change and its\n"
               "audit event (client.revoked, with the reason if given) are written in one\n"
               "transaction.\n");
        return 0;
    }
    const char *name = NULL, *reason = NULL, *v;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reason") == 0) {
            if ((v = admin_optarg(argc, argv, &i)) == NULL)
                return 2;
            reason = v;
        } else if (argv[i][0] == '-' || name != NULL) {
            return admin_fail("client revoke: unexpected argument %s (see --help)", argv[i]);
        } else {
            name = argv[i];
        }
    }
    if (name == NULL)
        return admin_fail("client revoke: which client? (vst-admin client revoke NAME)");

    PGconn *db = admin_db(g_opt.trust_dsn, "trust");
    if (db == NULL)
        return 1;
    if (!admin_client_exec(db, "BEGIN ISOLATION LEVEL READ COMMITTED"))
        return admin_client_abort(db);
    char m[256];
    const char *p1[] = {name};
    PGresult *r = admin_client_query(
        db,
        "UPDATE vst.clients SET state = 'revoked', revoked_at = now() "
        "WHERE name = $1 AND state = 'active' "
        "RETURNING ik, encode(cert_fingerprint, 'hex'), "
        "to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
        1, p1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        admin_fail("client revoke: %s", admin_pg_line(PQresultErrorMessage(r), m, sizeof m));
        PQclear(r);
        return admin_client_abort(db);
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        r = admin_client_query(db,
                               "SELECT to_char(revoked_at AT TIME ZONE 'UTC', "
                               "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM vst.clients WHERE name = $1",
                               1, p1);
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
            admin_fail("client revoke: \"%s\" is already revoked (since %s)", name,
                       PQgetvalue(r, 0, 0));
        else
            admin_fail("client revoke: no client named \"%s\" (see vst-admin client list)", name);
        PQclear(r);
        return admin_client_abort(db);
    }
    char fpr[2 * FPR_LEN + 1], when[32];
    snprintf(fpr, sizeof fpr, "%s", PQgetvalue(r, 0, 1));
    snprintf(when, sizeof when, "%s", PQgetvalue(r, 0, 2));
    PQclear(r);

    char actor[160];
    admin_actor(actor, sizeof actor);
    json_t *d = json_pack("{s:s}", "cert_fingerprint", fpr);
    if (d != NULL && reason != NULL)
        json_object_set_new(d, "reason", json_string(reason));
    char seq[24];
    if (admin_client_commit(db, "client revoke", "client.revoked", actor, name, d, seq) != 0)
        return 1;
    printf("client \"%s\" revoked at %s (audit seq %s)\nfingerprint: %s\n", name, when, seq, fpr);
    return 0;
}

int cmd_client_list(int argc, char **argv)
{
    if (admin_is_help(argc, argv)) {
        printf("usage: vst-admin client list [--json]\n\n"
               "Lists every registered client, active and revoked: name, IK, certificate\n"
               "key fingerprint (SHA-256 of the DER SubjectPublicKeyInfo, hex), state,\n"
               "rate limit (requests per minute; \"default\": vst-httpd's --rate-limit\n"
               "applies, \"unlimited\": 0), created and revoked times (UTC). With --json\n"
               "\"rate_limit\" is the number, or null for the default.\n");
        return 0;
    }
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--json") != 0)
            return admin_fail("client list: unexpected argument %s (see --help)", argv[i]);
    int json = want_json(argc, argv);
    PGconn *db = admin_db(g_opt.trust_dsn, "trust");
    if (db == NULL)
        return 1;
    PGresult *r = PQexec(db, "SELECT name, ik, encode(cert_fingerprint, 'hex'), state, "
                             "to_char(created_at AT TIME ZONE 'UTC', "
                             "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
                             "coalesce(to_char(revoked_at AT TIME ZONE 'UTC', "
                             "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), "
                             "coalesce(rate_limit, -1) FROM vst.clients ORDER BY id");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char m[256];
        admin_fail("client list: %s", admin_pg_line(PQresultErrorMessage(r), m, sizeof m));
        PQclear(r);
        PQfinish(db);
        return 1;
    }
    int n = PQntuples(r), rc = 0;
    if (json) {
        json_t *a = json_array();
        for (int i = 0; a != NULL && i < n; i++) {
            const char *rev = PQgetvalue(r, i, 5);
            json_t *o =
                json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:o}", "name", PQgetvalue(r, i, 0), "ik",
                          PQgetvalue(r, i, 1), "fingerprint", PQgetvalue(r, i, 2), "state",
                          PQgetvalue(r, i, 3), "rate_limit",
                          admin_client_rate_json(strtol(PQgetvalue(r, i, 6), NULL, 10)), "created",
                          PQgetvalue(r, i, 4), "revoked", *rev ? json_string(rev) : json_null());
            if (o == NULL || json_array_append_new(a, o) != 0) {
                json_decref(a);
                a = NULL;
            }
        }
        char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
        json_decref(a);
        if (s != NULL)
            printf("%s\n", s);
        else
            rc = admin_fail("client list: out of memory");
        vst_secure_free(s);
    } else {
        int w = 4;
        for (int i = 0; i < n; i++) {
            int l = (int)strlen(PQgetvalue(r, i, 0));
            if (l > w)
                w = l;
        }
        printf("%-*s  %-9s  %-64s  %-7s  %-9s  %-20s  %s\n", w, "NAME", "IK",
               "FINGERPRINT (SHA-256)", "STATE", "RATE/MIN", "CREATED", "REVOKED");
        for (int i = 0; i < n; i++) {
            const char *rate = PQgetvalue(r, i, 6);
            printf("%-*s  %-9s  %-64s  %-7s  %-9s  %-20s  %s\n", w, PQgetvalue(r, i, 0),
                   PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
                   strcmp(rate, "-1") == 0  ? "default"
                   : strcmp(rate, "0") == 0 ? "unlimited"
                                            : rate,
                   PQgetvalue(r, i, 4), *PQgetvalue(r, i, 5) ? PQgetvalue(r, i, 5) : "-");
        }
        if (n == 0)
            printf("(no clients; vst-admin client add registers one)\n");
    }
    PQclear(r);
    PQfinish(db);
    return rc;
}
