/* Unit tests of the audit code that need no database and no keyd: RFC 3339
 * times, the receipt JSON document, the canonical row hash (against values
 * PostgreSQL's vst.audit_row_hash gives), the verifier on hand-made chains,
 * the identifier screen, the checkpoint policy and verify's reader of
 * PostgreSQL's binary COPY stream. */
#include <CUnit/CUnit.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/audit_copy.h"
#include "cunit_main.h"
#include "core/ident.h"
#include "core/hex.h"
#include "audit/receipt_json.h"

/* ---- an Ed25519 signer standing in for keyd -------------------------------------- */

static EVP_PKEY *key_new(uint8_t pub[32])
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    size_t n = 32;
    CU_ASSERT_FATAL(k != NULL && EVP_PKEY_get_raw_public_key(k, pub, &n) == 1 && n == 32);
    return k;
}

static void sign(EVP_PKEY *k, const uint8_t *msg, size_t len, uint8_t sig[64])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t n = 64;
    CU_ASSERT_FATAL(EVP_DigestSignInit(c, NULL, NULL, NULL, k) == 1 &&
                    EVP_DigestSign(c, sig, &n, msg, len) == 1 && n == 64);
    EVP_MD_CTX_free(c);
}

static void sign_cp(EVP_PKEY *k, uint64_t seq, const uint8_t head[32], int64_t t, uint8_t sig[64])
{
    uint8_t tbs[VST_CHECKPOINT_TBS_LEN];
    vst_checkpoint_tbs(seq, head, t, tbs);
    sign(k, tbs, sizeof tbs, sig);
}

/* ---- times ------------------------------------------------------------------------- */

static void test_time(void)
{
    char s[VST_TIME_TEXT_LEN + 1];
    int64_t us;
    CU_ASSERT(vst_time_format_us(0, s) == 0 && strcmp(s, "1970-01-01T00:00:00.000000Z") == 0);
    CU_ASSERT(vst_time_format_us(1700000000123456LL, s) == 0 &&
              strcmp(s, "2023-11-14T22:13:20.123456Z") == 0);
    CU_ASSERT(vst_time_format_us(-1, s) == 0 && strcmp(s, "1969-12-31T23:59:59.999999Z") == 0);
    CU_ASSERT(vst_time_format_us(951782400000000LL, s) == 0 &&
              strcmp(s, "2000-02-29T00:00:00.000000Z") == 0);
    CU_ASSERT(vst_time_format_us(253402300800000000LL, s) == -1); /* year 10000 */
    const int64_t samples[] = {0,
                               1,
                               -1,
                               1700000000123456LL,
                               951782400000000LL,
                               -62135596800000000LL,
                               253402300799999999LL,
                               4102444800000001LL};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        CU_ASSERT_FATAL(vst_time_format_us(samples[i], s) == 0);
        CU_ASSERT(vst_time_parse_us(s, strlen(s), &us) == 0 && us == samples[i]);
    }
    const char *bad[] = {"2023-02-29T00:00:00.000000Z", "2023-11-14T22:13:20.12345Z",
                         "2023-11-14t22:13:20.123456Z", "2023-11-14T22:13:20.123456+00:00",
                         "2023-11-14T24:00:00.000000Z", "2023-13-01T00:00:00.000000Z",
                         "0000-01-01T00:00:00.000000Z", "2023-11-14T22:13:60.000000Z",
                         "2023-11-14 22:13:20.123456Z", " 023-11-14T22:13:20.123456Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT(vst_time_parse_us(bad[i], strlen(bad[i]), &us) == -1);
    CU_ASSERT(vst_time_parse_us("1900-02-29T00:00:00.000000Z", 27, &us) == -1);
    CU_ASSERT(vst_time_parse_us("2000-02-29T00:00:00.000000Z", 27, &us) == 0);
}

/* ---- receipt JSON ------------------------------------------------------------------ */

static vst_receipt_fields sample_fields(void)
{
    vst_receipt_fields f = {0};
    strcpy(f.delivery_id, "2025-Q1.part_1");
    strcpy(f.client, "AOK \"Test\" \\ Kasse");
    strcpy(f.profile, "sgb5");
    f.record_count = 12345;
    for (int i = 0; i < 32; i++)
        f.body_sha256[i] = (uint8_t)(0xa0 + i);
    f.key_version = 3;
    f.received_at_us = 1700000000123456LL;
    f.stored_at_us = 1700000002000001LL;
    f.audit_seq = 42;
    f.withheld_count = 2;
    f.version = VST_RECEIPT_V2;
    return f;
}

static void test_receipt_roundtrip(void)
{
    uint8_t pub[32];
    EVP_PKEY *k = key_new(pub);
    vst_receipt_fields f = sample_fields();
    uint8_t tbs[VST_RECEIPT_TBS_MAX], sig[64];
    size_t n = vst_receipt_tbs(&f, tbs);
    CU_ASSERT_FATAL(n > 0);
    sign(k, tbs, n, sig);
    char *doc = vst_receipt_json_build(&f, sig, pub);
    CU_ASSERT_FATAL(doc != NULL);
    /* The documented member order, compact, the client escaped. */
    const char *head = "{\"delivery_id\":\"2025-Q1.part_1\",\"client\":\"AOK \\\"Test\\\" \\\\ "
                       "Kasse\",\"profile\":\"sgb5\",\"record_count\":12345,\"withheld_count\":2,"
                       "\"body_sha256\":\"a0a1a2a3";
    CU_ASSERT(strncmp(doc, head, strlen(head)) == 0);
    CU_ASSERT(strstr(doc, "\"key_version\":3,\"received_at\":\"2023-11-14T22:13:20.123456Z\","
                          "\"stored_at\":\"2023-11-14T22:13:22.000001Z\",\"audit_seq\":42,"
                          "\"signature\":\"") != NULL);
    CU_ASSERT(strstr(doc, "\"public_key\":\"") != NULL && doc[strlen(doc) - 1] == '}');
    vst_receipt r;
    char err[256];
    CU_ASSERT_FATAL(vst_receipt_json_parse(doc, strlen(doc), &r, err, sizeof err) == 0);
    CU_ASSERT(memcmp(&r.f, &f, sizeof f) == 0);
    CU_ASSERT(memcmp(r.signature, sig, 64) == 0);
    CU_ASSERT(r.has_public_key && memcmp(r.public_key, pub, 32) == 0);
    CU_ASSERT(vst_receipt_verify(pub, &r.f, r.signature) == 1);
    free(doc);

    /* Without the public key; any member order and whitespace parse. */
    doc = vst_receipt_json_build(&f, sig, NULL);
    CU_ASSERT_FATAL(doc != NULL);
    CU_ASSERT(strstr(doc, "public_key") == NULL);
    CU_ASSERT(vst_receipt_json_parse(doc, strlen(doc), &r, err, sizeof err) == 0 &&
              !r.has_public_key && vst_receipt_verify(pub, &r.f, r.signature) == 1);
    free(doc);
    char sg[129];
    vst_hex(sig, 64, sg);
    char re[2048];
    snprintf(re, sizeof re,
             " {\n \"signature\" : \"%s\", \"audit_seq\": 42, \"stored_at\": "
             "\"2023-11-14T22:13:22.000001Z\", \"received_at\": \"2023-11-14T22:13:20.123456Z\", "
             "\"key_version\": 3, \"body_sha256\": "
             "\"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\", "
             "\"record_count\": 12345, \"profile\": \"sgb5\", \"client\": \"AOK \\\"Test\\\" "
             "\\\\ Kasse\", \"withheld_count\" : 2, \"delivery_id\": \"2025-Q1.part_1\"}\n",
             sg);
    CU_ASSERT(vst_receipt_json_parse(re, strlen(re), &r, err, sizeof err) == 0 &&
              vst_receipt_verify(pub, &r.f, r.signature) == 1);

    /* A changed field keeps parsing but no longer verifies. */
    vst_receipt_fields g = f;
    g.record_count++;
    doc = vst_receipt_json_build(&g, sig, NULL);
    CU_ASSERT(vst_receipt_json_parse(doc, strlen(doc), &r, err, sizeof err) == 0 &&
              vst_receipt_verify(pub, &r.f, r.signature) == 0);
    free(doc);
    EVP_PKEY_free(k);
}

static void test_receipt_build_refuses(void)
{
    uint8_t sig[64] = {0};
    vst_receipt_fields f = sample_fields();
    f.delivery_id[0] = '/';
    CU_ASSERT(vst_receipt_json_build(&f, sig, NULL) == NULL);
    f = sample_fields();
    f.key_version = 0;
    CU_ASSERT(vst_receipt_json_build(&f, sig, NULL) == NULL);
    f = sample_fields();
    f.stored_at_us = f.received_at_us - 1;
    CU_ASSERT(vst_receipt_json_build(&f, sig, NULL) == NULL);
    f = sample_fields();
    f.audit_seq = 0;
    CU_ASSERT(vst_receipt_json_build(&f, sig, NULL) == NULL);
    f = sample_fields();
    f.record_count = (uint64_t)INT64_MAX + 1;
    CU_ASSERT(vst_receipt_json_build(&f, sig, NULL) == NULL);
    f = sample_fields();
    f.withheld_count = (uint64_t)INT64_MAX + 1;
    CU_ASSERT(vst_receipt_json_build(&f, sig, NULL) == NULL);
    f = sample_fields(); /* a v1 receipt cannot state withheld records */
    f.version = VST_RECEIPT_V1;
    CU_ASSERT(vst_receipt_json_build(&f, sig, NULL) == NULL);
    f.version = 0;
    f.withheld_count = 0;
    CU_ASSERT(vst_receipt_json_build(&f, sig, NULL) == NULL);
}

/* Replaces the first occurrence of from by to in a copy of doc. */
static char *subst(const char *doc, const char *from, const char *to)
{
    const char *p = strstr(doc, from);
    CU_ASSERT_FATAL(p != NULL);
    size_t n = strlen(doc) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(p - doc), doc, to, p + strlen(from));
    return out;
}

static void test_receipt_parse_refuses(void)
{
    uint8_t sig[64] = {1, 2, 3}, pub[32] = {9};
    vst_receipt_fields f = sample_fields();
    char *doc = vst_receipt_json_build(&f, sig, pub);
    CU_ASSERT_FATAL(doc != NULL);
    struct {
        const char *from, *to, *why;
    } cases[] = {
        {"{\"delivery_id\"", "{\"extra\":1,\"delivery_id\"", "not part of the format"},
        {"{\"delivery_id\"", "{\"audit_seq\":1,\"delivery_id\"", "not valid JSON"}, /* duplicate */
        {"\"profile\":\"sgb5\",", "", "lacks \"profile\""},
        {"\"record_count\":12345", "\"record_count\":-1", "record_count"},
        {"\"record_count\":12345", "\"record_count\":12345.0", "record_count"},
        {"\"record_count\":12345", "\"record_count\":\"12345\"", "record_count"},
        {"\"withheld_count\":2", "\"withheld_count\":-1", "withheld_count"},
        {"\"withheld_count\":2", "\"withheld_count\":2.0", "withheld_count"},
        {"\"withheld_count\":2", "\"withheld_count\":\"2\"", "withheld_count"},
        {"\"withheld_count\":2", "\"withheld_count\":null", "withheld_count"},
        {"\"withheld_count\":2", "\"withheld_count\":9223372036854775808", "not valid JSON"},
        {"\"withheld_count\":2", "\"withheld_count\":2,\"withheld_count\":2", "not valid JSON"},
        {"\"key_version\":3", "\"key_version\":0", "key_version"},
        {"\"key_version\":3", "\"key_version\":4294967296", "key_version"},
        {"\"audit_seq\":42", "\"audit_seq\":0", "audit_seq"},
        {"a0a1a2a3", "A0A1A2A3", "body_sha256"},
        {"a0a1a2a3", "a0a1a2", "body_sha256"},
        {"\"signature\":\"01", "\"signature\":\"0", "signature"},
        {"\"public_key\":\"09", "\"public_key\":\"0g", "public_key"},
        {"22:13:20.123456Z", "22:13:20.123456+00:00", "received_at"},
        {"2023-11-14T22:13:22.000001Z", "2023-11-14T22:13:19.000001Z", "earlier"},
        {"\"2025-Q1.part_1\"", "\"2025/Q1\"", "delivery_id"},
        {"\"sgb5\"", "\"SGB5\"", "profile"},
        {"AOK", "\\u0001AOK", "client"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *bad = subst(doc, cases[i].from, cases[i].to);
        vst_receipt r;
        char err[256] = "";
        int rc = vst_receipt_json_parse(bad, strlen(bad), &r, err, sizeof err);
        CU_ASSERT(rc == -1);
        if (rc != -1 || strstr(err, cases[i].why) == NULL)
            fprintf(stderr, "case %zu: rc %d, err \"%s\" (want \"%s\")\n", i, rc, err,
                    cases[i].why);
        CU_ASSERT(strstr(err, cases[i].why) != NULL);
        free(bad);
    }
    vst_receipt r;
    char err[256];
    CU_ASSERT(vst_receipt_json_parse("[1]", 3, &r, err, sizeof err) == -1 &&
              strstr(err, "not a JSON object"));
    CU_ASSERT(vst_receipt_json_parse("{", 1, &r, err, sizeof err) == -1 &&
              strstr(err, "not valid JSON"));
    char *huge = calloc(1, VST_RECEIPT_JSON_MAX + 2);
    memset(huge, ' ', VST_RECEIPT_JSON_MAX + 1);
    CU_ASSERT(vst_receipt_json_parse(huge, VST_RECEIPT_JSON_MAX + 1, &r, err, sizeof err) == -1);
    free(huge);
    free(doc);
}

/* ---- row hash and verifier ----------------------------------------------------------- */

#define T(s) ((vst_audit_text){(s), sizeof(s) - 1})

static void test_row_hash_vector(void)
{
    /* Expected values computed by PostgreSQL's vst.audit_row_hash (and by
     * sha256sum over the documented canonical text). */
    uint8_t prev[32] = {0}, h[32], want[32];
    vst_audit_row r = {.seq = 1,
                       .at = T("2025-01-02T03:04:05.678901Z"),
                       .db_user = T("vst_httpd"),
                       .actor = T("vst-httpd"),
                       .action = T("delivery.stored"),
                       .client = T("Test insurer"),
                       .details = T("{\"n\": \"\xc3\xbc\\nx\", \"records\": 3}")};
    CU_ASSERT_FATAL(vst_audit_row_hash(prev, &r, h) == 0);
    vst_unhex_lower("7452258023ad77ed80c7934dc0f288fe0f1b18b12a7bf0b71b93b5ffe5997d85", 64, want,
                    32);
    CU_ASSERT(memcmp(h, want, 32) == 0);
    vst_audit_row r2 = {.seq = 2,
                        .at = T("2025-01-02T03:04:06.000000Z"),
                        .db_user = T("vst_admin"),
                        .actor = T("vst-admin"),
                        .action = T("key.rotated"),
                        .client = T(""),
                        .details = T("{}")};
    CU_ASSERT_FATAL(vst_audit_row_hash(want, &r2, h) == 0);
    vst_unhex_lower("0e7bbd162f7a94e5d525eae965bb7e62ce7c7be4d4c481b30bb81774315c9164", 64, want,
                    32);
    CU_ASSERT(memcmp(h, want, 32) == 0);
}

/* A hand-made log: rows 1..N with texts in static storage. */
#define N 12
typedef struct {
    vst_audit_row rows[N];
    char details[N][96];
    char at[N][28];
} chain;

static void chain_rehash(chain *c, size_t from)
{
    for (size_t i = from; i < N; i++) {
        static const uint8_t zero[32];
        memcpy(c->rows[i].prev_hash, i ? c->rows[i - 1].hash : zero, 32);
        vst_audit_row_hash(c->rows[i].prev_hash, &c->rows[i], c->rows[i].hash);
    }
}

/* A copy whose rows point into its own text arrays. */
static void chain_copy(chain *dst, const chain *src)
{
    *dst = *src;
    for (size_t i = 0; i < N; i++) {
        if (src->rows[i].details.p == src->details[i])
            dst->rows[i].details.p = dst->details[i];
        if (src->rows[i].at.p == src->at[i])
            dst->rows[i].at.p = dst->at[i];
    }
}

/* Rows 3, 4, 5 mirror keyd events 1, 2, 3. */
static void chain_init(chain *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < N; i++) {
        vst_audit_row *r = &c->rows[i];
        r->seq = i + 1;
        snprintf(c->at[i], sizeof c->at[i], "2025-01-02T03:04:%02zu.000000Z", i);
        r->at = (vst_audit_text){c->at[i], 27};
        r->db_user = T("vst_httpd");
        if (i >= 2 && i <= 4) {
            r->actor = T("keyd:uid=0");
            r->action = T("keyd.rotate");
            snprintf(c->details[i], sizeof c->details[i],
                     "{\"event\": {}, \"keyd_seq\": %zu, \"keyd_time_us\": 5}", i - 1);
        } else {
            r->actor = T("vst-httpd");
            r->action = T("delivery.stored");
            snprintf(c->details[i], sizeof c->details[i], "{\"record_count\": %zu}", i * 10);
        }
        r->client = i % 2 ? T("Test insurer") : T("");
        r->details = (vst_audit_text){c->details[i], strlen(c->details[i])};
    }
    chain_rehash(c, 0);
}

typedef struct {
    int n;
    char first[320];
} problems;

static void collect(void *ctx, uint64_t seq, const char *msg)
{
    problems *p = ctx;
    (void)seq;
    if (p->n++ == 0)
        snprintf(p->first, sizeof p->first, "%s", msg);
}

/* Walks rows (skipping index `skip` if >= 0) with checkpoints; returns the
 * report, the first message in *p. */
static vst_audit_report walk(const chain *c, int skip, const uint8_t (*keys)[32], size_t nkeys,
                             const vst_audit_cp *cps, size_t ncps, problems *p)
{
    vst_audit_verifier *v = vst_audit_verifier_new(keys, nkeys, cps, ncps);
    CU_ASSERT_FATAL(v != NULL);
    memset(p, 0, sizeof *p);
    vst_audit_verifier_on_problem(v, collect, p);
    for (int i = 0; i < N; i++)
        if (i != skip)
            vst_audit_verifier_row(v, &c->rows[i]);
    vst_audit_report rep;
    vst_audit_verifier_finish(v, &rep);
    vst_audit_verifier_free(v);
    return rep;
}

static void make_cp(EVP_PKEY *k, const uint8_t pub[32], const chain *c, uint64_t seq,
                    vst_audit_cp *cp)
{
    memset(cp, 0, sizeof *cp);
    cp->seq = seq;
    memcpy(cp->head, c->rows[seq - 1].hash, 32);
    cp->has_signed_at = 1;
    cp->signed_at_us = 1700000000000000LL + (int64_t)seq;
    vst_audit_key_id(pub, cp->key_id);
    sign_cp(k, seq, cp->head, cp->signed_at_us, cp->signature);
}

static void test_verifier(void)
{
    uint8_t pub[1][32], other[1][32];
    EVP_PKEY *k = key_new(pub[0]), *k2 = key_new(other[0]);
    chain c;
    chain_init(&c);
    vst_audit_cp cps[2];
    make_cp(k, pub[0], &c, 8, &cps[1]); /* given out of order on purpose */
    make_cp(k, pub[0], &c, 4, &cps[0]);
    problems p;

    vst_audit_report rep = walk(&c, -1, (const uint8_t(*)[32])pub, 1, cps, 2, &p);
    CU_ASSERT(rep.problems == 0 && p.n == 0);
    CU_ASSERT(rep.rows == N && rep.first_seq == 1 && rep.last_seq == N);
    CU_ASSERT(rep.checkpoints == 2 && rep.checkpoints_ok == 2 && rep.covered_seq == 8);
    CU_ASSERT(rep.uncovered == N - 8 && rep.keyd_events == 3);
    CU_ASSERT(memcmp(rep.last_hash, c.rows[N - 1].hash, 32) == 0);

    /* Content changed. */
    chain t;
    chain_copy(&t, &c);
    t.details[5][2] = 'X';
    rep = walk(&t, -1, (const uint8_t(*)[32])pub, 1, cps, 2, &p);
    CU_ASSERT(rep.problems == 1 && strcmp(p.first, "row 6: hash mismatch (content changed)") == 0);
    /* A row deleted. */
    rep = walk(&c, 6, (const uint8_t(*)[32])pub, 1, cps, 2, &p);
    CU_ASSERT(strcmp(p.first, "row 7 missing (gap between 6 and 8)") == 0);
    /* The first row deleted; the checkpointed row 4 deleted. */
    rep = walk(&c, 0, (const uint8_t(*)[32])pub, 1, cps, 2, &p);
    CU_ASSERT(strcmp(p.first, "row 1 missing (the log starts at row 2)") == 0);
    rep = walk(&c, 3, (const uint8_t(*)[32])pub, 1, cps, 2, &p);
    CU_ASSERT(strcmp(p.first, "row 4 missing (gap between 3 and 5)") == 0 && p.n >= 2);
    /* Rows swapped (contents, seq kept). */
    chain_copy(&t, &c);
    vst_audit_row tmp = t.rows[9];
    t.rows[9] = t.rows[10];
    t.rows[10] = tmp;
    t.rows[9].seq = 10;
    t.rows[10].seq = 11;
    rep = walk(&t, -1, (const uint8_t(*)[32])pub, 1, cps, 2, &p);
    CU_ASSERT(strncmp(p.first, "row 10: hash mismatch and prev_hash does not link to row 9", 58) ==
              0);
    /* A link broken with the content intact (prev_hash rewritten and the
     * row's hash recomputed for it). */
    chain_copy(&t, &c);
    t.rows[10].prev_hash[0] ^= 1;
    vst_audit_row_hash(t.rows[10].prev_hash, &t.rows[10], t.rows[10].hash);
    rep = walk(&t, -1, (const uint8_t(*)[32])pub, 1, cps, 2, &p);
    CU_ASSERT(strncmp(p.first, "row 11: prev_hash does not link to row 10", 41) == 0);
    /* The chain rewritten from row 6 on, consistently: only the signed
     * checkpoint at 8 notices. */
    chain_copy(&t, &c);
    t.details[5][2] = 'X';
    chain_rehash(&t, 5);
    rep = walk(&t, -1, (const uint8_t(*)[32])pub, 1, cps, 2, &p);
    CU_ASSERT(rep.problems == 1 &&
              strcmp(p.first, "checkpoint at seq 8: signed head differs from row 8's hash: the "
                              "log was rewritten between seq 5 and 8") == 0);
    /* The tail cut below the last checkpoint. */
    vst_audit_verifier *v = vst_audit_verifier_new((const uint8_t(*)[32])pub, 1, cps, 2);
    memset(&p, 0, sizeof p);
    vst_audit_verifier_on_problem(v, collect, &p);
    for (int i = 0; i < 6; i++)
        vst_audit_verifier_row(v, &c.rows[i]);
    vst_audit_verifier_finish(v, &rep);
    vst_audit_verifier_free(v);
    CU_ASSERT(strcmp(p.first, "checkpoint at seq 8: row 8 does not exist (the log ends at row 6: "
                              "rows were removed from its end)") == 0);
    /* Checkpoint forgeries. */
    vst_audit_cp bad[2] = {cps[0], cps[1]};
    bad[1].signature[5] ^= 0x10;
    walk(&c, -1, (const uint8_t(*)[32])pub, 1, bad, 2, &p);
    CU_ASSERT(strcmp(p.first, "checkpoint at seq 8: bad signature") == 0);
    bad[1] = cps[1];
    bad[1].head[0] ^= 1;
    walk(&c, -1, (const uint8_t(*)[32])pub, 1, bad, 2, &p);
    CU_ASSERT(strncmp(p.first, "checkpoint at seq 8: head altered", 33) == 0);
    bad[1] = cps[1];
    bad[1].signed_at_us++;
    walk(&c, -1, (const uint8_t(*)[32])pub, 1, bad, 2, &p);
    CU_ASSERT(strcmp(p.first, "checkpoint at seq 8: bad signature") == 0);
    bad[1] = cps[1];
    bad[1].has_signed_at = 0;
    walk(&c, -1, (const uint8_t(*)[32])pub, 1, bad, 2, &p);
    CU_ASSERT(strstr(p.first, "stored without its signed time") != NULL);
    /* Signed by a key that is not trusted; and the right key among two. */
    walk(&c, -1, (const uint8_t(*)[32])other, 1, cps, 2, &p);
    CU_ASSERT(strncmp(p.first, "checkpoint at seq 4: signed by an unknown key", 45) == 0);
    uint8_t both[2][32];
    memcpy(both[0], other[0], 32);
    memcpy(both[1], pub[0], 32);
    rep = walk(&c, -1, (const uint8_t(*)[32])both, 2, cps, 2, &p);
    CU_ASSERT(rep.problems == 0);
    /* A checkpoint by the other key over the right head is fine too. */
    make_cp(k2, other[0], &c, 8, &bad[1]);
    bad[0] = cps[0];
    rep = walk(&c, -1, (const uint8_t(*)[32])both, 2, bad, 2, &p);
    CU_ASSERT(rep.problems == 0 && rep.checkpoints_ok == 2);

    /* Anchors. */
    v = vst_audit_verifier_new((const uint8_t(*)[32])pub, 1, cps, 2);
    CU_ASSERT(vst_audit_verifier_anchor(v, 11, c.rows[10].hash) == 0);
    CU_ASSERT(vst_audit_verifier_anchor(v, 20, c.rows[10].hash) == 0);
    memset(&p, 0, sizeof p);
    vst_audit_verifier_on_problem(v, collect, &p);
    for (int i = 0; i < N; i++)
        vst_audit_verifier_row(v, &c.rows[i]);
    vst_audit_verifier_finish(v, &rep);
    vst_audit_verifier_free(v);
    CU_ASSERT(rep.problems == 1 &&
              strncmp(p.first, "anchor at seq 20: row 20 does not exist (the log ends at row 12",
                      63) == 0);
    v = vst_audit_verifier_new((const uint8_t(*)[32])pub, 1, cps, 2);
    CU_ASSERT(vst_audit_verifier_anchor(v, 11, c.rows[9].hash) == 0);
    memset(&p, 0, sizeof p);
    vst_audit_verifier_on_problem(v, collect, &p);
    for (int i = 0; i < N; i++)
        vst_audit_verifier_row(v, &c.rows[i]);
    vst_audit_verifier_finish(v, &rep);
    vst_audit_verifier_free(v);
    CU_ASSERT(strncmp(p.first, "anchor at seq 11: row 11's hash differs from the anchor", 55) == 0);

    /* An empty log with a checkpoint: everything was removed. */
    v = vst_audit_verifier_new((const uint8_t(*)[32])pub, 1, cps, 1);
    memset(&p, 0, sizeof p);
    vst_audit_verifier_on_problem(v, collect, &p);
    vst_audit_verifier_finish(v, &rep);
    vst_audit_verifier_free(v);
    CU_ASSERT(rep.rows == 0 && strstr(p.first, "(the log is empty: rows were removed") != NULL);
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
}

static void set_details(chain *c, size_t i, const char *action, const char *d)
{
    snprintf(c->details[i], sizeof c->details[i], "%s", d);
    c->rows[i].details = (vst_audit_text){c->details[i], strlen(c->details[i])};
    c->rows[i].action = (vst_audit_text){action, strlen(action)};
}

static void test_verifier_keyd_stream(void)
{
    uint8_t pub[1][32];
    EVP_PKEY *k = key_new(pub[0]);
    chain c;
    problems p;
    /* keyd event 2 missing: 1, 3. */
    chain_init(&c);
    set_details(&c, 3, "keyd.rotate", "{\"keyd_seq\": 3}");
    set_details(&c, 4, "keyd.rotate", "{\"keyd_seq\": 4}");
    chain_rehash(&c, 0);
    vst_audit_report rep = walk(&c, -1, (const uint8_t(*)[32])pub, 1, NULL, 0, &p);
    CU_ASSERT(strcmp(p.first, "row 4: keyd event 3 follows keyd event 1: keyd event 2 is "
                              "missing from the log") == 0);
    /* A repeat. */
    chain_init(&c);
    set_details(&c, 4, "keyd.rotate", "{\"keyd_seq\": 2}");
    chain_rehash(&c, 0);
    walk(&c, -1, (const uint8_t(*)[32])pub, 1, NULL, 0, &p);
    CU_ASSERT(strncmp(p.first, "row 5: keyd event 2 repeats or goes back", 40) == 0);
    /* A lost-events marker and a reset marker keep the stream whole. */
    chain_init(&c);
    set_details(&c, 3, "audit.keyd_events_lost",
                "{\"count\": 6, \"keyd_seq\": 7, \"keyd_first_lost\": 2}");
    set_details(&c, 4, "keyd.rotate", "{\"keyd_seq\": 8}");
    set_details(&c, 6, "audit.keyd_reset", "{\"keyd_seq\": 0, \"previous_keyd_seq\": 8}");
    set_details(&c, 7, "keyd.start", "{\"keyd_seq\": 1}");
    chain_rehash(&c, 0);
    rep = walk(&c, -1, (const uint8_t(*)[32])pub, 1, NULL, 0, &p);
    CU_ASSERT(rep.problems == 0 && rep.keyd_events == 3);
    /* A marker that does not continue the stream. */
    set_details(&c, 3, "audit.keyd_events_lost",
                "{\"count\": 5, \"keyd_seq\": 7, \"keyd_first_lost\": 4}");
    chain_rehash(&c, 0);
    walk(&c, -1, (const uint8_t(*)[32])pub, 1, NULL, 0, &p);
    CU_ASSERT(strncmp(p.first, "row 4: keyd events-lost marker does not continue", 48) == 0);
    /* "keyd_seq" only inside a string is not a keyd row. */
    chain_init(&c);
    set_details(&c, 8, "delivery.stored", "{\"note\": \"\\\"keyd_seq\\\": 99\"}");
    chain_rehash(&c, 0);
    rep = walk(&c, -1, (const uint8_t(*)[32])pub, 1, NULL, 0, &p);
    CU_ASSERT(rep.problems == 0);
    EVP_PKEY_free(k);
}

/* ---- the identifier screen, delivery details, the policy ------------------------------ */

static void valid_kvnr(char out[11])
{
    strcpy(out, "T12345678");
    int d = vst_id_check_digit(VST_ID_KVNR, out);
    CU_ASSERT_FATAL(d >= 0);
    out[9] = (char)('0' + d);
    out[10] = '\0';
}

static void test_screen(void)
{
    char kvnr[11], buf[256];
    valid_kvnr(kvnr);
    const char *pseud = "0123456789abcdef0123456789ABCDEF";
    CU_ASSERT(vst_audit_screen("vst-httpd", "Test insurer", "{\"records\": 3}") == 0);
    CU_ASSERT(vst_audit_screen("vst-httpd", NULL, NULL) == 0);
    /* SHA-256 (64 hex digits), uuids, ids: fine. */
    CU_ASSERT(vst_audit_screen(
                  "x", NULL,
                  "{\"body_sha256\": \"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9"
                  "babbbcbdbebf\", \"ref\": \"4b0c3c52-6f6a-4a53-9d1e-2f1f0c7f2a10\"}") == 0);
    snprintf(buf, sizeof buf, "{\"x\": \"%s\"}", kvnr);
    CU_ASSERT(vst_audit_screen("x", NULL, buf) == VST_AUDIT_E_IDENTIFIER);
    CU_ASSERT(strstr(vst_audit_last_error(), "identifier") != NULL);
    CU_ASSERT(strstr(vst_audit_last_error(), kvnr) == NULL);
    snprintf(buf, sizeof buf, "{\"x\": [1, {\"y\": \"bad id %s in line 3\"}]}", kvnr);
    CU_ASSERT(vst_audit_screen("x", NULL, buf) == VST_AUDIT_E_IDENTIFIER);
    snprintf(buf, sizeof buf, "{\"x\": \"%s\"}", pseud);
    CU_ASSERT(vst_audit_screen("x", NULL, buf) == VST_AUDIT_E_IDENTIFIER);
    snprintf(buf, sizeof buf, "{\"%s\": 1}", pseud);
    CU_ASSERT(vst_audit_screen("x", NULL, buf) == VST_AUDIT_E_IDENTIFIER);
    CU_ASSERT(vst_audit_screen(kvnr, NULL, NULL) == VST_AUDIT_E_IDENTIFIER);
    CU_ASSERT(vst_audit_screen("x", pseud, NULL) == VST_AUDIT_E_IDENTIFIER);
    /* A KVNR with a wrong check digit is not one; a token inside a longer
     * run is not either. */
    kvnr[9] = (char)('0' + (kvnr[9] - '0' + 1) % 10);
    snprintf(buf, sizeof buf, "{\"x\": \"%s\", \"y\": \"Z%s\"}", kvnr, pseud);
    CU_ASSERT(vst_audit_screen("x", NULL, buf) == 0);
    CU_ASSERT(vst_audit_screen("x", NULL, "{\"n\": 123456789012345678901234567890}") == 0);
    CU_ASSERT(vst_audit_screen("x", NULL, "[1]") == VST_AUDIT_E_ARG);
    CU_ASSERT(vst_audit_screen("x", NULL, "{\"a\": 1, \"a\": 2}") == VST_AUDIT_E_ARG);
    CU_ASSERT(vst_audit_screen("x", NULL, "{") == VST_AUDIT_E_ARG);
}

static void test_delivery_details(void)
{
    vst_receipt_fields f = sample_fields();
    char d[1024];
    size_t n = vst_audit_delivery_details(&f, d, sizeof d);
    CU_ASSERT(n == strlen(d));
    CU_ASSERT(strcmp(d,
                     "{\"delivery_id\":\"2025-Q1.part_1\",\"profile\":\"sgb5\",\"record_count\":"
                     "12345,\"withheld_count\":2,\"body_sha256\":\"a0a1a2a3a4a5a6a7a8a9aaabacadae"
                     "afb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\",\"key_version\":3,\"received_at\":"
                     "\"2023-11-14T22:13:20.123456Z\"}") == 0);
    CU_ASSERT(vst_audit_delivery_details(&f, d, 20) == 0);
    /* A v1 receipt's event (before issue 12) had no withheld count. */
    f.version = VST_RECEIPT_V1;
    f.withheld_count = 0;
    CU_ASSERT(vst_audit_delivery_details(&f, d, sizeof d) > 0 && strstr(d, "withheld") == NULL &&
              strstr(d, "\"record_count\":12345,\"body_sha256\"") != NULL);
    f = sample_fields();
    f.profile[0] = '\0';
    CU_ASSERT(vst_audit_delivery_details(&f, d, sizeof d) == 0);
}

static void test_policy(void)
{
    vst_audit_cp_state st = {0, 0, 0};
    CU_ASSERT(vst_audit_checkpoint_is_due(10, 60, &st) == 0); /* empty log */
    st.head_seq = 1;
    CU_ASSERT(vst_audit_checkpoint_is_due(10, 60, &st) == 1); /* never checkpointed */
    st = (vst_audit_cp_state){15, 10, 5};
    CU_ASSERT(vst_audit_checkpoint_is_due(10, 60, &st) == 0);
    st.head_seq = 20;
    CU_ASSERT(vst_audit_checkpoint_is_due(10, 60, &st) == 1);
    st = (vst_audit_cp_state){11, 10, 61};
    CU_ASSERT(vst_audit_checkpoint_is_due(10, 60, &st) == 1);
    CU_ASSERT(vst_audit_checkpoint_is_due(10, 0, &st) == 0);
    CU_ASSERT(vst_audit_checkpoint_is_due(0, 0, &st) == 0);
    st = (vst_audit_cp_state){10, 10, 1000};
    CU_ASSERT(vst_audit_checkpoint_is_due(1, 1, &st) == 0); /* nothing new */
    CU_ASSERT(vst_audit_checkpoint_is_due(1, 1, NULL) == 0);
}

/* ---- verify's binary COPY reader (audit_copy.c) ----------------------------------- */

typedef struct {
    char b[1024];
    size_t n;
} pgbuf;

static void pg_be(pgbuf *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--)
        p->b[p->n++] = (char)(v >> (8 * i));
}

static void pg_field(pgbuf *p, const void *v, int32_t len)
{
    pg_be(p, (uint32_t)len, 4);
    if (len > 0) {
        memcpy(p->b + p->n, v, (size_t)len);
        p->n += (size_t)len;
    }
}

/* One tuple of the verify query; seq_len, hash_len and nfields bend it. */
static void pg_tuple(pgbuf *p, uint64_t seq, int64_t pg_us, int nfields, int32_t seq_len,
                     int32_t hash_len)
{
    uint8_t be[8], prev[32], hash[32];
    memset(prev, 0x11, sizeof prev);
    memset(hash, 0x22, sizeof hash);
    pg_be(p, (uint16_t)nfields, 2);
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)(seq >> (8 * (7 - i)));
    pg_field(p, be + 8 - seq_len, seq_len);
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)((uint64_t)pg_us >> (8 * (7 - i)));
    pg_field(p, be, 8);
    const char *text[] = {"vst_httpd", "httpd", "delivery.stored", "AOK", "{}"};
    for (int i = 0; i < 5 && i + 3 <= nfields; i++)
        pg_field(p, text[i], (int32_t)strlen(text[i]));
    pg_field(p, prev, 32);
    pg_field(p, hash, hash_len);
}

static void pg_header(pgbuf *p, uint32_t ext)
{
    memcpy(p->b, "PGCOPY\n\377\r\n", 11);
    p->n = 11;
    pg_be(p, 0, 4);
    pg_be(p, ext, 4);
    for (uint32_t i = 0; i < ext; i++)
        p->b[p->n++] = 'x';
}

/* What one tuple said, copied out of the reader's buffer. */
typedef struct {
    uint64_t seq;
    char at[40], db_user[40], details[40];
    uint8_t prev0, hash31;
} pg_seen;

/* Feeds the stream in pieces of `step` bytes (0: whole); the results of
 * audit_copy_tuple in order, up to the first that is not 1 (0 at the end
 * of the stream). */
static int pg_read(const pgbuf *p, size_t step, int *res, pg_seen *seen)
{
    audit_copybuf b = {0};
    int k = 0, done = 0;
    for (size_t off = 0; off < p->n && !done;) {
        size_t n = step && p->n - off > step ? step : p->n - off;
        CU_ASSERT_FATAL(audit_copy_append(&b, p->b + off, n) == 0);
        off += n;
        int t;
        vst_audit_row r;
        while (!done && (t = audit_copy_tuple(&b, &r)) != 0) {
            res[k] = t;
            if (t == 1) {
                pg_seen *w = &seen[k];
                w->seq = r.seq;
                snprintf(w->at, sizeof w->at, "%.*s", (int)r.at.n, r.at.p);
                snprintf(w->db_user, sizeof w->db_user, "%.*s", (int)r.db_user.n, r.db_user.p);
                snprintf(w->details, sizeof w->details, "%.*s", (int)r.details.n, r.details.p);
                w->prev0 = r.prev_hash[0];
                w->hash31 = r.hash[31];
            }
            done = t != 1;
            k++;
        }
    }
    if (!done)
        res[k++] = 0;
    free(b.buf);
    return k;
}

static void test_copy_reader(void)
{
    pgbuf p;
    pg_header(&p, 3);
    pg_tuple(&p, 1, 0, 9, 8, 32);
    pg_tuple(&p, 0x0102030405060708ULL, 773000123456789LL, 9, 8, 32);
    pg_be(&p, 0xffff, 2);
    int res[8];
    pg_seen seen[8];
    for (size_t step = 0; step <= 7; step += 7) {
        CU_ASSERT_EQUAL_FATAL(pg_read(&p, step, res, seen), 3);
        CU_ASSERT(res[0] == 1 && res[1] == 1 && res[2] == 2);
        CU_ASSERT_EQUAL(seen[0].seq, 1);
        CU_ASSERT_STRING_EQUAL(seen[0].at, "2000-01-01T00:00:00.000000Z");
        CU_ASSERT_EQUAL(seen[1].seq, 0x0102030405060708ULL);
        CU_ASSERT_STRING_EQUAL(seen[1].at, "2024-06-29T18:15:23.456789Z");
        CU_ASSERT_STRING_EQUAL(seen[1].db_user, "vst_httpd");
        CU_ASSERT_STRING_EQUAL(seen[1].details, "{}");
        CU_ASSERT(seen[1].prev0 == 0x11 && seen[1].hash31 == 0x22);
    }
    /* Incomplete streams ask for more; one byte at a time gives the same. */
    for (size_t cut = 0; cut < p.n; cut++) {
        pgbuf q = p;
        q.n = cut;
        int n = pg_read(&q, 1, res, seen);
        CU_ASSERT(res[n - 1] == 0);
    }
    CU_ASSERT_EQUAL(pg_read(&p, 1, res, seen), 3);
    CU_ASSERT(res[2] == 2);

    /* A time outside 0001..9999 has no text: the row's hash will not match. */
    pg_header(&p, 0);
    pg_tuple(&p, 5, INT64_MAX, 9, 8, 32);
    CU_ASSERT(pg_read(&p, 0, res, seen) == 2 && res[0] == 1 && seen[0].at[0] == '\0');

    /* Malformed: bad signature, wrong field count, a NULL, wrong sizes. */
    struct {
        int nfields;
        int32_t seq_len, hash_len;
    } bad[] = {{8, 8, 32}, {10, 8, 32}, {9, 4, 32}, {9, 8, 31}, {9, 8, -1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pg_header(&p, 0);
        pg_tuple(&p, 1, 0, bad[i].nfields, bad[i].seq_len, bad[i].hash_len);
        pg_be(&p, 0xffff, 2);
        int n = pg_read(&p, 0, res, seen);
        CU_ASSERT(n >= 1 && res[n - 1] == -1);
    }
    pg_header(&p, 0);
    p.b[5] = 'X';
    CU_ASSERT(pg_read(&p, 0, res, seen) == 1 && res[0] == -1);
}

int vst_register_tests(void)
{
    static const vst_test tests[] = {
        {"RFC 3339 times with microseconds, round trip and strictness", test_time},
        {"receipt JSON: build, parse, verify, any order", test_receipt_roundtrip},
        {"receipt JSON: the builder refuses invalid fields", test_receipt_build_refuses},
        {"receipt JSON: the parser refuses every deviation", test_receipt_parse_refuses},
        {"row hash equals vst.audit_row_hash (known vectors)", test_row_hash_vector},
        {"verifier: intact chain, tampering, checkpoints, anchors", test_verifier},
        {"verifier: keyd's event stream must be gapless", test_verifier_keyd_stream},
        {"identifier screen of vst_audit_append", test_screen},
        {"delivery event details", test_delivery_details},
        {"checkpoint policy", test_policy},
        {"binary COPY reader: tuples, any chunking, malformed streams", test_copy_reader},
        {NULL, NULL},
    };
    VST_ADD_SUITE("audit (no database)", tests);
    return CUE_SUCCESS;
}
