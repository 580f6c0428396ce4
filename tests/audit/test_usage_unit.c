/* Unit tests, without a database or keyd, of keyd's usage report
 * (server/core/usage.c: signed bytes, JSON) and of the reconciliation
 * of vst-audit verify (server/audit/audit_usage.c) on made-up rows: an
 * honest log balances; a sweep, a reset, a forged report, claims keyd never
 * served, a stale report and a forged checkpoint head are findings; the
 * allowances for deliveries in flight and for keyd's crash slack hold
 * exactly as far as documented. */
#include <CUnit/CUnit.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "audit/audit_usage.h"
#include "core/civil_time.h"
#include "core/hex.h"
#include "core/usage.h"
#include "cunit_main.h"

#define MIN_US (60LL * 1000000)
#define T0 1750000000000000LL /* a fixed epoch for the made-up rows */

static EVP_PKEY *key;
static uint8_t pub[32];

static void key_once(void)
{
    if (key != NULL)
        return;
    key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    size_t n = 32;
    CU_ASSERT_FATAL(key != NULL && EVP_PKEY_get_raw_public_key(key, pub, &n) == 1 && n == 32);
}

static void sign_with(EVP_PKEY *k, const uint8_t *msg, size_t len, uint8_t sig[64])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t n = 64;
    CU_ASSERT_FATAL(EVP_DigestSignInit(c, NULL, NULL, NULL, k) == 1 &&
                    EVP_DigestSign(c, sig, &n, msg, len) == 1 && n == 64);
    EVP_MD_CTX_free(c);
}

/* A report with one data-socket PSEUDONYMIZE entry of uid 1001. */
static vst_usage one_entry(uint64_t seq, int64_t to_us, const char *domain, uint64_t total,
                           uint64_t slack)
{
    vst_usage u = {.seq = seq, .from_us = to_us - MIN_US, .to_us = to_us, .n = 1};
    u.e[0] = (vst_usage_entry){.sock = VST_USAGE_SOCK_DATA,
                               .uid = 1001,
                               .op = VST_USAGE_OP_PSEUDONYMIZE,
                               .count = total,
                               .total = total,
                               .slack = slack};
    snprintf(u.e[0].domain, sizeof u.e[0].domain, "%s", domain);
    return u;
}

/* The details of the keyd.usage row as vst-audit-pull writes them. */
static char *usage_details(const vst_usage *u, EVP_PKEY *k)
{
    uint8_t tbs[VST_USAGE_TBS_MAX], sig[64], kid[32], kpub[32];
    size_t n = vst_usage_tbs(u, tbs), pl = 32;
    CU_ASSERT_FATAL(n > 0);
    sign_with(k, tbs, n, sig);
    CU_ASSERT_FATAL(EVP_PKEY_get_raw_public_key(k, kpub, &pl) == 1);
    vst_audit_key_id(kpub, kid);
    char json[VST_USAGE_JSON_MAX];
    CU_ASSERT_FATAL(vst_usage_json(u, kid, sig, json, sizeof json) > 0);
    char *out = malloc(strlen(json) + 64);
    sprintf(out, "{\"event\": %s, \"keyd_seq\": %" PRIu64 ", \"keyd_time_us\": 1}", json, u->seq);
    return out;
}

/* ---- the report itself ---------------------------------------------------------- */

static void test_usage_codec(void)
{
    key_once();
    vst_usage u = one_entry(7, T0, "sgb5/insured", 1234, 34);
    u.n = 3;
    u.e[1] = (vst_usage_entry){
        .sock = VST_USAGE_SOCK_ADMIN, .uid = 0, .op = VST_USAGE_OP_REKEY, .count = 5, .total = 9};
    u.e[2] = (vst_usage_entry){.sock = VST_USAGE_SOCK_DATA,
                               .uid = 1001,
                               .op = VST_USAGE_OP_SIGN_CHECKPOINT,
                               .count = 1,
                               .total = 1};
    uint8_t tbs[VST_USAGE_TBS_MAX], sig[64], kid[32], kid2[32], sig2[64];
    size_t n = vst_usage_tbs(&u, tbs);
    CU_ASSERT(n > sizeof VST_USAGE_PREFIX);
    CU_ASSERT(memcmp(tbs, "vst/usage/1\0", 12) == 0);
    sign_with(key, tbs, n, sig);
    CU_ASSERT(vst_usage_verify(pub, &u, sig) == 1);
    /* Every number is covered. */
    vst_usage t = u;
    t.e[0].total++;
    CU_ASSERT(vst_usage_verify(pub, &t, sig) == 0);
    t = u;
    t.e[1].uid = 1;
    CU_ASSERT(vst_usage_verify(pub, &t, sig) == 0);
    t = u;
    t.to_us++;
    CU_ASSERT(vst_usage_verify(pub, &t, sig) == 0);
    /* JSON round trip; it passes the audit log's identifier screen. */
    vst_audit_key_id(pub, kid);
    char json[VST_USAGE_JSON_MAX];
    CU_ASSERT_FATAL(vst_usage_json(&u, kid, sig, json, sizeof json) > 0);
    CU_ASSERT(vst_audit_screen("keyd:uid=0", NULL, json) == 0);
    json_t *j = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
    vst_usage back;
    CU_ASSERT_FATAL(vst_usage_parse(j, &back, kid2, sig2) == 0);
    CU_ASSERT(memcmp(kid, kid2, 32) == 0 && memcmp(sig, sig2, 64) == 0);
    CU_ASSERT(vst_usage_verify(pub, &back, sig2) == 1);
    CU_ASSERT(back.n == 3 && back.e[1].op == VST_USAGE_OP_REKEY && back.e[0].slack == 34);
    /* The parser takes exactly this object. */
    json_object_set_new(j, "extra", json_true());
    CU_ASSERT(vst_usage_parse(j, &back, kid2, sig2) == -1);
    json_object_del(j, "extra");
    json_object_set_new(json_array_get(json_object_get(j, "entries"), 0), "op",
                        json_string("decrypt"));
    CU_ASSERT(vst_usage_parse(j, &back, kid2, sig2) == -1);
    json_decref(j);
    /* The grammar: count and slack within the total, a domain exactly for
     * PSEUDONYMIZE, at most 16 entries; a JSON buffer too small. */
    t = u;
    t.e[0].count = t.e[0].total + 1;
    CU_ASSERT(vst_usage_ok(&t) == 0);
    t = u;
    strcpy(t.e[1].domain, "sgb5/insured");
    CU_ASSERT(vst_usage_ok(&t) == 0);
    t = u;
    t.e[0].domain[0] = '\0';
    CU_ASSERT(vst_usage_ok(&t) == 0);
    t = u;
    t.n = VST_USAGE_MAX_ENTRIES + 1;
    CU_ASSERT(vst_usage_tbs(&t, tbs) == 0);
    CU_ASSERT(vst_usage_json(&u, kid, sig, json, 100) == 0);
    /* The largest report fits an event. */
    vst_usage big = {
        .seq = INT64_MAX, .from_us = 0, .to_us = INT64_MAX, .n = VST_USAGE_MAX_ENTRIES};
    for (size_t i = 0; i < big.n; i++) {
        big.e[i] = (vst_usage_entry){VST_USAGE_SOCK_ADMIN,
                                     UINT32_MAX,
                                     VST_USAGE_OP_PSEUDONYMIZE,
                                     "",
                                     INT64_MAX,
                                     INT64_MAX,
                                     INT64_MAX};
        memset(big.e[i].domain, 'a', VST_DOMAIN_MAXLEN);
        big.e[i].domain[VST_DOMAIN_MAXLEN] = '\0';
    }
    size_t jl = vst_usage_json(&big, kid, sig, json, sizeof json);
    CU_ASSERT(jl > 0 && jl < 4096);
}

/* ---- the reconciliation --------------------------------------------------------- */

typedef struct {
    vst_audit_usage *u;
    uint64_t seq;
} walk;

static walk walk_new(void)
{
    key_once();
    vst_audit_usage_opts o;
    vst_audit_usage_defaults(&o);
    walk w = {vst_audit_usage_new((const uint8_t(*)[32])pub, 1, &o), 0};
    CU_ASSERT_FATAL(w.u != NULL);
    return w;
}

static void row(walk *w, int64_t at, const char *action, const char *client, const char *fmt, ...)
{
    char d[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d, sizeof d, fmt, ap);
    va_end(ap);
    CU_ASSERT(vst_audit_usage_row(w->u, ++w->seq, at, action, client, d, strlen(d)) == 0);
}

static void usage_row(walk *w, int64_t at, const vst_usage *r, EVP_PKEY *k)
{
    char *d = usage_details(r, k);
    CU_ASSERT(vst_audit_usage_row(w->u, ++w->seq, at, "keyd.usage", NULL, d, strlen(d)) == 0);
    free(d);
}

/* A delivery: received at r, its outcome at o naming n identifiers. */
static void delivery(walk *w, const char *id, int64_t r, int64_t o, const char *outcome, uint64_t n)
{
    row(w, r, "delivery.received", "AOK", "{\"delivery_id\": \"%s\", \"profile\": \"sgb5\"}", id);
    if (outcome != NULL)
        row(w, o, outcome, "AOK",
            "{\"delivery_id\": \"%s\", \"identifiers\": {\"sgb5/insured\": %" PRIu64 "}}", id, n);
}

/* Finishes (no checkpoint rows to look up) and returns the findings. */
static uint64_t finish(walk *w)
{
    CU_ASSERT(vst_audit_usage_finish(w->u, NULL, NULL) == 0);
    return vst_audit_usage_findings(w->u);
}

static int first_has(const walk *w, const char *s)
{
    const char *f = vst_audit_usage_first(w->u);
    if (strstr(f, s) == NULL) {
        fprintf(stderr, "\nfirst finding: \"%s\", wanted \"%s\"\n", f, s);
        return 0;
    }
    return 1;
}

static void test_honest(void)
{
    walk w = walk_new();
    delivery(&w, "d1", T0, T0 + 10, "delivery.stored", 700);
    delivery(&w, "d2", T0 + 20, T0 + 30, "delivery.rejected", 200);
    /* The database path hands a delivery event over in parts. */
    CU_ASSERT(vst_audit_usage_delivery(w.u, ++w.seq, T0 + 40, "delivery.received", "AOK", "d3",
                                       NULL, 0, NULL) == 0);
    const char *ids = "{\"sgb5/insured\": 100}";
    CU_ASSERT(vst_audit_usage_delivery(w.u, ++w.seq, T0 + 50, "delivery.failed", "AOK", "d3", ids,
                                       strlen(ids), NULL) == 0);
    vst_usage r = one_entry(1, T0 + MIN_US, "sgb5/insured", 1000, 0);
    usage_row(&w, T0 + MIN_US + 5, &r, key);
    /* Replays and events from before vst-httpd named identifiers. */
    row(&w, T0 + 2 * MIN_US, "delivery.stored", "AOK", "{\"delivery_id\": \"old\"}");
    CU_ASSERT(finish(&w) == 0);
    char buf[4096];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    vst_audit_usage_print(w.u, f);
    fclose(f);
    CU_ASSERT(strstr(buf, "sgb5/insured: keyd served 1000 (crash slack 0); deliveries 1000 "
                          "(stored 700, rejected 200, failed 100, aborted 0)") != NULL);
    vst_audit_usage_free(w.u);
}

static void test_sweep(void)
{
    /* Identifiers keyd served and no delivery names: a sweep. */
    walk w = walk_new();
    delivery(&w, "d1", T0, T0 + 10, "delivery.stored", 100);
    vst_usage r = one_entry(1, T0 + MIN_US, "sgb5/insured", 5000, 0);
    usage_row(&w, T0 + MIN_US + 5, &r, key);
    CU_ASSERT(finish(&w) == 1);
    CU_ASSERT(first_has(&w, "domain sgb5/insured: keyd served 4900 identifiers that no delivery "
                            "event accounts for"));
    vst_audit_usage_free(w.u);

    /* Claims keyd never served. */
    w = walk_new();
    delivery(&w, "d1", T0, T0 + 10, "delivery.stored", 100);
    r = one_entry(1, T0 + MIN_US, "sgb5/insured", 60, 0);
    usage_row(&w, T0 + MIN_US + 5, &r, key);
    CU_ASSERT(finish(&w) == 1);
    CU_ASSERT(first_has(&w, "delivery events claim 40 identifiers more than keyd served"));
    vst_audit_usage_free(w.u);

    /* Totals summed over peers and over reports. */
    w = walk_new();
    delivery(&w, "d1", T0, T0 + 10, "delivery.stored", 150);
    r = one_entry(1, T0 + MIN_US, "sgb5/insured", 100, 0);
    r.n = 2;
    r.e[1] = r.e[0];
    r.e[1].uid = 1002;
    r.e[1].count = r.e[1].total = 40;
    usage_row(&w, T0 + MIN_US, &r, key);
    r = one_entry(2, T0 + 2 * MIN_US, "sgb5/insured", 110, 0);
    usage_row(&w, T0 + 2 * MIN_US, &r, key);
    CU_ASSERT(finish(&w) == 0);
    vst_audit_usage_free(w.u);
}

static void test_in_flight(void)
{
    /* A delivery received before keyd's last report, its outcome after it:
     * it may have used up to what it names; one received after the report
     * counts for nothing. */
    walk w = walk_new();
    vst_usage r = one_entry(1, T0 + MIN_US, "sgb5/insured", 300, 0);
    delivery(&w, "d1", T0, 0, NULL, 0);
    usage_row(&w, T0 + MIN_US, &r, key);
    row(&w, T0 + 2 * MIN_US, "delivery.stored", "AOK",
        "{\"delivery_id\": \"d1\", \"identifiers\": {\"sgb5/insured\": 500}}");
    delivery(&w, "d2", T0 + 3 * MIN_US, T0 + 4 * MIN_US, "delivery.stored", 50);
    CU_ASSERT(finish(&w) == 0);
    vst_audit_usage_free(w.u);

    /* No outcome yet, received within the window before the last report:
     * it may account for what keyd served since its last report before. */
    w = walk_new();
    r = one_entry(1, T0, "sgb5/insured", 1000, 0);
    delivery(&w, "d0", T0 - 10, T0 - 5, "delivery.stored", 1000);
    usage_row(&w, T0, &r, key);
    delivery(&w, "d1", T0 + MIN_US, 0, NULL, 0);
    r = one_entry(2, T0 + 2 * MIN_US, "sgb5/insured", 1800, 0);
    usage_row(&w, T0 + 2 * MIN_US, &r, key);
    CU_ASSERT(finish(&w) == 0);
    vst_audit_usage_free(w.u);

    /* ... but not one older than the window (default one hour), and not
     * what keyd served before it was received. */
    w = walk_new();
    r = one_entry(1, T0, "sgb5/insured", 1000, 0);
    usage_row(&w, T0, &r, key);
    delivery(&w, "d1", T0 + MIN_US, 0, NULL, 0);
    r = one_entry(2, T0 + 2 * MIN_US, "sgb5/insured", 1800, 0);
    usage_row(&w, T0 + 2 * MIN_US, &r, key);
    CU_ASSERT(finish(&w) == 1);
    CU_ASSERT(first_has(&w, "keyd served 1000 identifiers that no delivery"));
    vst_audit_usage_free(w.u);
    w = walk_new();
    delivery(&w, "d1", T0, 0, NULL, 0);
    r = one_entry(1, T0 + 61 * MIN_US, "sgb5/insured", 800, 0);
    usage_row(&w, T0 + 61 * MIN_US, &r, key);
    CU_ASSERT(finish(&w) == 1);
    CU_ASSERT(first_has(&w, "keyd served 800 identifiers"));
    vst_audit_usage_free(w.u);
}

static void test_received_with_outcome(void)
{
    /* A delivery of a commit group: keyd served it before its last report,
     * and its delivery.received row is appended with its outcome, after
     * the report. The outcome's received_at places it in flight at the
     * report; without it, what keyd served is unaccounted for. */
    char at[VST_TIME_TEXT_LEN + 1];
    CU_ASSERT_FATAL(vst_time_format_us(T0 + MIN_US - 5, at) == 0);
    for (int named = 0; named < 2; named++) {
        walk w = walk_new();
        vst_usage r = one_entry(1, T0 + MIN_US, "sgb5/insured", 7, 0);
        usage_row(&w, T0 + MIN_US, &r, key);
        row(&w, T0 + MIN_US + 5, "delivery.received", "AOK",
            "{\"delivery_id\": \"g1\", \"profile\": \"sgb5\"}");
        if (named)
            row(&w, T0 + MIN_US + 5, "delivery.stored", "AOK",
                "{\"delivery_id\": \"g1\", \"received_at\": \"%s\", "
                "\"identifiers\": {\"sgb5/insured\": 7}}",
                at);
        else
            row(&w, T0 + MIN_US + 5, "delivery.stored", "AOK",
                "{\"delivery_id\": \"g1\", \"identifiers\": {\"sgb5/insured\": 7}}");
        CU_ASSERT(finish(&w) == (named ? 0 : 1));
        vst_audit_usage_free(w.u);
    }
    /* The same through the database path's parts. */
    walk w = walk_new();
    vst_usage r = one_entry(1, T0 + MIN_US, "sgb5/insured", 7, 0);
    usage_row(&w, T0 + MIN_US, &r, key);
    const char *ids = "{\"sgb5/insured\": 7}";
    CU_ASSERT(vst_audit_usage_delivery(w.u, ++w.seq, T0 + MIN_US + 5, "delivery.failed", "AOK",
                                       "g2", ids, strlen(ids), at) == 0);
    CU_ASSERT(finish(&w) == 0);
    vst_audit_usage_free(w.u);
}

static void test_slack_and_resets(void)
{
    /* After a crash keyd's total may overstate by its slack: allowed. */
    walk w = walk_new();
    delivery(&w, "d1", T0, T0 + 10, "delivery.stored", 100);
    vst_usage r = one_entry(1, T0 + MIN_US, "sgb5/insured", 6350, 6250);
    usage_row(&w, T0 + MIN_US, &r, key);
    CU_ASSERT(finish(&w) == 0);
    vst_audit_usage_free(w.u);
    /* ... no more than that. */
    w = walk_new();
    delivery(&w, "d1", T0, T0 + 10, "delivery.stored", 100);
    r = one_entry(1, T0 + MIN_US, "sgb5/insured", 6351, 6250);
    usage_row(&w, T0 + MIN_US, &r, key);
    CU_ASSERT(finish(&w) == 1);
    vst_audit_usage_free(w.u);

    /* keyd's state reset: the totals go back (a finding), and what was
     * reported before still counts. */
    w = walk_new();
    delivery(&w, "d1", T0, T0 + 10, "delivery.stored", 100);
    r = one_entry(5, T0 + MIN_US, "sgb5/insured", 2100, 0);
    usage_row(&w, T0 + MIN_US, &r, key);
    r = one_entry(1, T0 + 2 * MIN_US, "sgb5/insured", 10, 0);
    usage_row(&w, T0 + 2 * MIN_US, &r, key);
    CU_ASSERT(finish(&w) == 3);
    CU_ASSERT(first_has(&w, "keyd.usage report 1 after report 5"));
    char buf[4096];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    vst_audit_usage_print(w.u, f);
    fclose(f);
    CU_ASSERT(strstr(buf, "went back from 2100 to 10") != NULL);
    CU_ASSERT(strstr(buf, "keyd served 2010 identifiers that no delivery") != NULL);
    vst_audit_usage_free(w.u);
}

/* Issue 11: keyd reports release maps and report signatures (admin
 * socket, operations of vst-admin release/cells). They pass the same
 * grammar and signature check and are never taken for deliveries: like
 * REKEY, no delivery event accounts for them and none must. */
static void test_release_and_reports(void)
{
    walk w = walk_new();
    delivery(&w, "d1", T0, T0 + 10, "delivery.stored", 700);
    vst_usage r = one_entry(1, T0 + MIN_US, "sgb5/insured", 700, 0);
    r.n = 4;
    r.e[1] = (vst_usage_entry){
        .sock = VST_USAGE_SOCK_ADMIN, .uid = 0, .op = VST_USAGE_OP_REKEY, .count = 9, .total = 9};
    r.e[2] = (vst_usage_entry){.sock = VST_USAGE_SOCK_ADMIN,
                               .uid = 0,
                               .op = VST_USAGE_OP_RELEASE_MAP,
                               .count = 65536,
                               .total = 200000};
    r.e[3] = (vst_usage_entry){.sock = VST_USAGE_SOCK_ADMIN,
                               .uid = 1000,
                               .op = VST_USAGE_OP_SIGN_REPORT,
                               .count = 2,
                               .total = 3};
    usage_row(&w, T0 + MIN_US + 5, &r, key);
    CU_ASSERT(finish(&w) == 0);
    if (vst_audit_usage_findings(w.u) != 0)
        fprintf(stderr, "\nfirst finding: %s\n", vst_audit_usage_first(w.u));
    vst_audit_usage_free(w.u);
    /* Their names in the JSON keyd writes and vst-audit reads back. */
    CU_ASSERT_STRING_EQUAL(vst_usage_op_name(VST_USAGE_OP_SIGN_REPORT), "sign_report");
    CU_ASSERT_STRING_EQUAL(vst_usage_op_name(VST_USAGE_OP_RELEASE_MAP), "release_map");
    CU_ASSERT_STRING_EQUAL(vst_usage_op_name(VST_USAGE_OP_DISCLOSE), "disclose");
    CU_ASSERT_STRING_EQUAL(vst_usage_op_name(VST_USAGE_OP_OBJECT), "object");
    CU_ASSERT(VST_USAGE_OP_DISCLOSE == 7 && VST_USAGE_OP_OBJECT == 8);
    /* Linkage (issue 13): control values per link domain, records fed to
     * overlap queries, control values re-keyed. */
    CU_ASSERT_STRING_EQUAL(vst_usage_op_name(VST_USAGE_OP_DERIVE_CV), "derive_cv");
    CU_ASSERT_STRING_EQUAL(vst_usage_op_name(VST_USAGE_OP_OVERLAP), "overlap");
    CU_ASSERT_STRING_EQUAL(vst_usage_op_name(VST_USAGE_OP_CV_REKEY), "cv_rekey");
    CU_ASSERT(VST_USAGE_OP_DERIVE_CV == 9 && VST_USAGE_OP_CV_REKEY == 11);
    CU_ASSERT(vst_usage_op_name(VST_USAGE_OP_CV_REKEY + 1) == NULL);
    /* derive_cv names its domain, the others none. */
    vst_usage du = {.seq = 1, .from_us = T0, .to_us = T0, .n = 1};
    du.e[0] = (vst_usage_entry){.sock = VST_USAGE_SOCK_DATA,
                                .op = VST_USAGE_OP_DERIVE_CV,
                                .domain = "ph/child",
                                .count = 2,
                                .total = 2};
    CU_ASSERT(vst_usage_ok(&du) == 1);
    du.e[0].domain[0] = '\0';
    CU_ASSERT(vst_usage_ok(&du) == 0);
    du.e[0].op = VST_USAGE_OP_OVERLAP;
    CU_ASSERT(vst_usage_ok(&du) == 1);
    strcpy(du.e[0].domain, "ph/child");
    CU_ASSERT(vst_usage_ok(&du) == 0);
    /* A release map that goes back is a reset like any other total's. */
    w = walk_new();
    vst_usage a = {.seq = 1, .from_us = T0, .to_us = T0 + MIN_US, .n = 1};
    a.e[0] = (vst_usage_entry){
        .sock = VST_USAGE_SOCK_ADMIN, .op = VST_USAGE_OP_RELEASE_MAP, .count = 50, .total = 50};
    usage_row(&w, T0 + MIN_US, &a, key);
    a.seq = 2, a.to_us += MIN_US, a.e[0].count = 5, a.e[0].total = 5;
    usage_row(&w, T0 + 2 * MIN_US, &a, key);
    CU_ASSERT(finish(&w) == 1);
    CU_ASSERT(first_has(&w, "admin release_map uid 0 went back from 50 to 5"));
    vst_audit_usage_free(w.u);
}

static void test_forged_and_stale(void)
{
    /* A report signed by another key, or altered: not counted, a finding. */
    walk w = walk_new();
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    vst_usage r = one_entry(1, T0, "sgb5/insured", 5, 0);
    usage_row(&w, T0, &r, other);
    char *d = usage_details(&r, key);
    char *p = strstr(d, "\"total\":5");
    CU_ASSERT_FATAL(p != NULL);
    p[8] = '6';
    CU_ASSERT(vst_audit_usage_row(w.u, ++w.seq, T0, "keyd.usage", NULL, d, strlen(d)) == 0);
    free(d);
    CU_ASSERT(finish(&w) == 2);
    CU_ASSERT(first_has(&w, "keyd.usage signed by an unknown key"));
    char buf[4096];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    vst_audit_usage_print(w.u, f);
    fclose(f);
    CU_ASSERT(strstr(buf, "row 2: keyd.usage has a bad signature") != NULL);
    EVP_PKEY_free(other);
    vst_audit_usage_free(w.u);

    /* The last report long before the last delivery. */
    w = walk_new();
    r = one_entry(1, T0, "sgb5/insured", 100, 0);
    delivery(&w, "d1", T0 - 20, T0 - 10, "delivery.stored", 100);
    usage_row(&w, T0, &r, key);
    delivery(&w, "d2", T0 + 2 * 60 * MIN_US, T0 + 2 * 60 * MIN_US + 1, "delivery.stored", 7);
    CU_ASSERT(finish(&w) == 1);
    CU_ASSERT(first_has(&w, "is older than the last delivery event"));
    vst_audit_usage_free(w.u);

    /* No report at all while deliveries name identifiers, the first older
     * than the allowed age (keyd reports every usage-interval); none is
     * fine while they name none (a log from before usage reports), and a
     * delivery of a moment ago may not be reported yet. */
    w = walk_new();
    delivery(&w, "d1", T0, T0 + 10, "delivery.stored", 3);
    CU_ASSERT(finish(&w) == 1);
    CU_ASSERT(first_has(&w, "no verified keyd.usage event"));
    vst_audit_usage_free(w.u);
    w = walk_new();
    {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t t = (int64_t)now.tv_sec * 1000000 - 60 * 1000000LL; /* a minute ago */
        delivery(&w, "d1", t, t + 10, "delivery.stored", 3);
    }
    CU_ASSERT(finish(&w) == 0);
    vst_audit_usage_free(w.u);
    w = walk_new();
    row(&w, T0, "delivery.stored", "AOK", "{\"delivery_id\": \"x\"}");
    CU_ASSERT(finish(&w) == 0);
    vst_audit_usage_free(w.u);
    /* A malformed identifiers object. */
    w = walk_new();
    row(&w, T0, "delivery.stored", "AOK", "{\"delivery_id\": \"x\", \"identifiers\": [3]}");
    CU_ASSERT(vst_audit_usage_delivery(w.u, ++w.seq, T0, "delivery.aborted", "AOK", "y", "{\"a", 3,
                                       NULL) == 0);
    CU_ASSERT(vst_audit_usage_delivery(w.u, ++w.seq, T0, "delivery.aborted", "AOK", "z",
                                       "{\"sgb5/lanr\": -1}", 17, NULL) == 0);
    CU_ASSERT(finish(&w) == 3);
    CU_ASSERT(first_has(&w, "names its identifiers in a malformed way"));
    vst_audit_usage_free(w.u);
}

/* Row hashes 1..5 of a made-up log: byte i everywhere. */
static int hashes(void *ctx, uint64_t seq, uint8_t out[32])
{
    (void)ctx;
    if (seq > 5)
        return 0;
    memset(out, (int)seq, 32);
    return 1;
}

static void test_checkpoint_records(void)
{
    walk w = walk_new();
    uint8_t h[32];
    char hex[65];
    memset(h, 3, 32);
    vst_hex(h, 32, hex);
    row(&w, T0, "keyd.checkpoint_signed", NULL,
        "{\"event\": {\"seq\": 3, \"head\": \"%s\", \"time_us\": 1, \"skipped\": 0}}", hex);
    CU_ASSERT(vst_audit_usage_finish(w.u, hashes, NULL) == 0);
    CU_ASSERT(vst_audit_usage_findings(w.u) == 0);
    vst_audit_usage_free(w.u);
    /* A head that is not the row's, a seq beyond the end. */
    w = walk_new();
    row(&w, T0, "keyd.checkpoint_signed", NULL,
        "{\"event\": {\"seq\": 4, \"head\": \"%s\", \"time_us\": 1, \"skipped\": 0}}", hex);
    row(&w, T0, "keyd.checkpoint_signed", NULL,
        "{\"event\": {\"seq\": 9, \"head\": \"%s\", \"time_us\": 1, \"skipped\": 0}}", hex);
    CU_ASSERT(vst_audit_usage_finish(w.u, hashes, NULL) == 0);
    CU_ASSERT(vst_audit_usage_findings(w.u) == 2);
    CU_ASSERT(first_has(&w, "keyd signed a head for seq 4 that is not that row's hash"));
    vst_audit_usage_free(w.u);
}

static void test_options(void)
{
    vst_audit_usage_opts o;
    vst_audit_usage_defaults(&o);
    char err[128];
    char *argv[] = {"verify", "--in-flight-window", "60", "--usage-max-age", "x", "--strict"};
    int i = 1;
    CU_ASSERT(vst_audit_usage_opt(6, argv, &i, &o, err, sizeof err) == 1 && i == 2);
    CU_ASSERT(o.in_flight_window_us == 60 * 1000000LL);
    i = 3;
    CU_ASSERT(vst_audit_usage_opt(6, argv, &i, &o, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "--usage-max-age") != NULL);
    i = 5;
    CU_ASSERT(vst_audit_usage_opt(6, argv, &i, &o, err, sizeof err) == 0);
}

static void cleanup(void)
{
    EVP_PKEY_free(key);
    key = NULL;
}

int vst_register_tests(void)
{
    static const vst_test tests[] = {
        {"usage report: signed bytes, JSON, grammar", test_usage_codec},
        {"reconciliation: an honest log balances", test_honest},
        {"reconciliation: a sweep, claims keyd never served, sums", test_sweep},
        {"reconciliation: deliveries in flight, the window", test_in_flight},
        {"reconciliation: an outcome names when its delivery was received",
         test_received_with_outcome},
        {"reconciliation: crash slack, state resets", test_slack_and_resets},
        {"reconciliation: release maps and report signatures", test_release_and_reports},
        {"reconciliation: forged and stale reports, none, malformed", test_forged_and_stale},
        {"keyd.checkpoint_signed against the chain", test_checkpoint_records},
        {"verify options", test_options},
        {NULL, NULL},
    };
    VST_ADD_SUITE("keyd usage (no database)", tests);
    atexit(cleanup);
    return CUE_SUCCESS;
}
