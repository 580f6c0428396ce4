/* vst-audit verify-report for an overlap answer (`vst-admin overlap --json`,
 * DESIGN.md §13): rebuilds the structure vst-keyd signed
 * (wire/overlap_tbs.h) from the report's members and checks the Ed25519
 * signature with the trusted keys; with a trust DB, also that audit row
 * audit_seq is its overlap.queried event with the same question and
 * answer. A member the signature does not cover (budget_left) is not
 * trusted. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/audit/audit_cli.h"
#include "core/hex.h"
#include "core/signed.h"
#include "wire/overlap_tbs.h"

static const char *const reasons[] = {"none", "small overlap", "small remainder", "small side"};

/* Members the overlap.queried event repeats from the report. */
static const char *const event_keys[] = {
    "domain", "profile_a", "collection_a", "filter_a", "profile_b", "collection_b", "filter_b",
    "a",      "b",         "overlap",      "k",        "passes",    "suppressed"};

static int str(const json_t *rep, const char *key, const char **out)
{
    *out = json_string_value(json_object_get(rep, key));
    return *out ? 0 : -1;
}

static int count(const json_t *v, int suppressed, uint64_t *out)
{
    if (suppressed)
        return json_is_string(v) && strcmp(json_string_value(v), "<k") == 0 ? 0 : -1;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* The signed structure from the report; 0, or -1 if a member is missing
 * or malformed. */
static int rebuild(const json_t *rep, vst_overlap_signed *s)
{
    memset(s, 0, sizeof *s);
    const char *why;
    json_int_t seq = json_integer_value(json_object_get(rep, "audit_seq"));
    json_int_t k = json_integer_value(json_object_get(rep, "k"));
    json_int_t a = json_integer_value(json_object_get(rep, "a"));
    json_int_t b = json_integer_value(json_object_get(rep, "b"));
    if (str(rep, "domain", &s->domain) || str(rep, "collection_a", &s->collection_a) ||
        str(rep, "filter_a", &s->filter_a) || str(rep, "collection_b", &s->collection_b) ||
        str(rep, "filter_b", &s->filter_b) || str(rep, "suppressed", &why) || seq <= 0 || k < 1 ||
        k > 65535 || a < 0 || b < 0)
        return -1;
    s->audit_seq = (uint64_t)seq;
    s->r.a = (uint64_t)a;
    s->r.b = (uint64_t)b;
    s->r.k = (uint16_t)k;
    s->r.reason = 0xff;
    for (uint8_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (strcmp(why, reasons[i]) == 0)
            s->r.reason = i;
    if (s->r.reason == 0xff)
        return -1;
    s->r.suppressed = s->r.reason != 0;
    const json_t *passes = json_object_get(rep, "passes");
    if (count(json_object_get(rep, "overlap"), s->r.suppressed, &s->r.overlap) != 0 ||
        json_array_size(passes) != VST_LINK_NKEYS)
        return -1;
    for (unsigned i = 0; i < VST_LINK_NKEYS; i++) {
        const json_t *p = json_array_get(passes, i);
        const char *key = json_string_value(json_object_get(p, "key"));
        if (key == NULL || strcmp(key, vst_link_key_name(i)) != 0 ||
            count(json_object_get(p, "links"), s->r.suppressed, &s->r.links[i]) != 0)
            return -1;
    }
    return 0;
}

static int check_signature(const json_t *rep)
{
    vst_overlap_signed s;
    uint8_t tbs[VST_OVERLAP_TBS_MAX], sig[VST_ED25519_SIG_LEN];
    const char *sig_hex = json_string_value(json_object_get(rep, "signature"));
    if (sig_hex == NULL || vst_unhex_lower(sig_hex, strlen(sig_hex), sig, sizeof sig) != 0)
        return audit_fail(EXIT_BAD, "verify-report: no signature (128 lower-case hex digits)");
    size_t n = rebuild(rep, &s) == 0 ? vst_overlap_tbs(&s, tbs) : 0;
    if (n == 0)
        return audit_fail(EXIT_BAD, "verify-report: the overlap report lacks a member or has "
                                    "one out of range (see docs/audit.md \"Signed reports\")");
    for (size_t k = 0; k < g_aopt.nkeys; k++)
        if (vst_ed25519_verify(g_aopt.keys[k], tbs, n, sig) == 1) {
            char kid[17];
            vst_hex(g_aopt.keys[k], 8, kid);
            printf("signature: OK (signing key %s...)\n", kid);
            return 0;
        }
    return audit_fail(EXIT_BAD, "verify-report: bad signature: the report was altered or not "
                                "signed by the trusted key");
}

int audit_verify_overlap(const json_t *rep)
{
    int rc = check_signature(rep) == 0 ? EXIT_OK : EXIT_BAD;
    if (rc == EXIT_OK && g_aopt.dsn != NULL)
        rc = audit_report_event(rep, "overlap.queried", event_keys,
                                sizeof event_keys / sizeof event_keys[0]);
    if (rc == EXIT_OK)
        printf("OK: vst/overlap/1 report of %s x %s, k=%" JSON_INTEGER_FORMAT
               ", audit seq %" JSON_INTEGER_FORMAT "\n",
               json_string_value(json_object_get(rep, "profile_a")),
               json_string_value(json_object_get(rep, "profile_b")),
               json_integer_value(json_object_get(rep, "k")),
               json_integer_value(json_object_get(rep, "audit_seq")));
    return rc;
}
