/* vst-audit verify-report: a signed report of vst-admin (today the
 * small-cell report of `vst-admin cells --json`, DESIGN.md §11): its
 * Ed25519 signature over the digest of its canonical form (overlap answers:
 * audit_overlap_report.c)
 * (audit/report_json.h) with the trusted key, and — when a trust DB is
 * given — that the audit log's row audit_seq is its release.cells event
 * with the same profile, k and counts. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/report_json.h"
#include "cli/audit/audit_cli.h"
#include "core/hex.h"

/* Members the release.cells event repeats from the report. */
static const char *const event_keys[] = {"profile",
                                         "k",
                                         "rows",
                                         "persons",
                                         "classes",
                                         "classes_below_k",
                                         "persons_below_k",
                                         "rows_below_k",
                                         "quasi_identifiers",
                                         "generalize"};

static void help(void)
{
    printf("usage: vst-audit [--dsn DSN] verify-report REPORT-FILE\n"
           "                 [--public-key HEX | --public-key-file FILE]...\n\n"
           "Checks a signed report saved from `vst-admin cells --json` or `vst-admin\n"
           "overlap --json`: vst-keyd's Ed25519 signature (context vst/cells/1 over\n"
           "the SHA-256 of the report's canonical form, or vst/overlap/1 over the\n"
           "answer keyd built; docs/audit.md \"Signed reports\"), with the trusted key.\n"
           "With a trust DB (--dsn or VST_AUDIT_DSN) also checks that audit row\n"
           "audit_seq is the report's release.cells or overlap.queried event with the\n"
           "same counts.\n\n"
           "Exit status: 0 verified, 1 not verified, 2 error.\n");
}

/* 0 if the signature verifies with one of the trusted keys. */
static int check_signature(const json_t *rep)
{
    const char *sig_hex = json_string_value(json_object_get(rep, "signature"));
    uint8_t sig[VST_ED25519_SIG_LEN], digest[32];
    if (sig_hex == NULL || vst_unhex_lower(sig_hex, strlen(sig_hex), sig, sizeof sig) != 0)
        return audit_fail(EXIT_BAD, "verify-report: no signature (128 lower-case hex digits)");
    if (vst_report_digest(rep, digest) != 0)
        return audit_fail(EXIT_BAD, "verify-report: the report is not a JSON object of "
                                    "integers and strings");
    for (size_t k = 0; k < g_aopt.nkeys; k++)
        /* (kind, digest, sig, pub): the key comes last here. */
        if (vst_report_verify(VST_REPORT_KIND_CELLS, digest, sig, g_aopt.keys[k]) == 1) {
            char kid[17];
            vst_hex(g_aopt.keys[k], 8, kid);
            printf("signature: OK (signing key %s...)\n", kid);
            return 0;
        }
    return audit_fail(EXIT_BAD, "verify-report: bad signature: the report was altered or not "
                                "signed by the trusted key");
}

/* Audit row audit_seq of a report: an event `action` whose details equal
 * the report in every member of keys. EXIT_OK, or the exit status after
 * one line. */
int audit_report_event(const json_t *rep, const char *action, const char *const *keys, size_t nkeys)
{
    json_int_t seq = json_integer_value(json_object_get(rep, "audit_seq"));
    if (seq <= 0)
        return audit_fail(EXIT_BAD, "verify-report: no audit_seq");
    PGconn *db = audit_connect();
    if (db == NULL)
        return EXIT_ERR;
    char s[24];
    snprintf(s, sizeof s, "%" PRId64, (int64_t)seq);
    const char *p[] = {s};
    PGresult *r = PQexecParams(db, "SELECT action, details FROM vst.audit_log WHERE seq = $1", 1,
                               NULL, p, NULL, NULL, 0);
    int rc = EXIT_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = audit_fail(EXIT_ERR, "verify-report: %s", audit_pgerr(db, r));
    } else if (PQntuples(r) != 1 || strcmp(PQgetvalue(r, 0, 0), action) != 0) {
        rc = audit_fail(EXIT_BAD, "verify-report: audit row %s is not a %s event", s, action);
    } else {
        json_t *d = json_loads(PQgetvalue(r, 0, 1), 0, NULL);
        for (size_t i = 0; rc == EXIT_OK && i < nkeys; i++)
            if (!json_equal(json_object_get(d, keys[i]), json_object_get(rep, keys[i])))
                rc = audit_fail(EXIT_BAD,
                                "verify-report: audit row %s differs from the report "
                                "in \"%s\"",
                                s, keys[i]);
        json_decref(d);
    }
    PQclear(r);
    PQfinish(db);
    if (rc == EXIT_OK)
        printf("audit row %s: the report's %s event\n", s, action);
    return rc;
}

int cmd_verify_report(int argc, char **argv)
{
    if (audit_is_help(argc, argv)) {
        help();
        return EXIT_OK;
    }
    const char *file;
    int arc = audit_file_and_keys(argc, argv, "verify-report", "REPORT-FILE", &file);
    if (arc != EXIT_OK)
        return arc;
    json_error_t jerr;
    json_t *rep = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
    if (rep == NULL)
        return audit_fail(errno == ENOENT ? EXIT_ERR : EXIT_BAD, "verify-report: %s: %s", file,
                          jerr.text);
    const char *kind = json_string_value(json_object_get(rep, "report"));
    if (kind && strcmp(kind, "vst/overlap/1") == 0) {
        int orc = audit_verify_overlap(rep);
        json_decref(rep);
        return orc;
    }
    int rc = kind && strcmp(kind, "vst/cells/1") == 0
                 ? EXIT_OK
                 : audit_fail(EXIT_BAD, "verify-report: not a vst/cells/1 or vst/overlap/1 report");
    if (rc == EXIT_OK && check_signature(rep) != 0)
        rc = EXIT_BAD;
    if (rc == EXIT_OK && g_aopt.dsn != NULL)
        rc = audit_report_event(rep, "release.cells", event_keys,
                                sizeof event_keys / sizeof event_keys[0]);
    if (rc == EXIT_OK)
        printf("OK: %s report of profile %s, k=%" JSON_INTEGER_FORMAT
               ", audit seq %" JSON_INTEGER_FORMAT "\n",
               kind, json_string_value(json_object_get(rep, "profile")),
               json_integer_value(json_object_get(rep, "k")),
               json_integer_value(json_object_get(rep, "audit_seq")));
    json_decref(rep);
    return rc;
}
