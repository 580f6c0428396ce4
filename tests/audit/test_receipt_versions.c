/* Receipt versions (issue 12): a receipt signed before issue 12 (v1, no
 * withheld_count) keeps verifying; a v2 receipt states withheld_count,
 * signed; neither passes for the other. The fixtures in tests/data/receipts
 * were made by a second implementation (make_fixtures.py, Python) from the
 * documented layout, so the C builder, parser and TBS are checked against
 * it byte for byte. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/receipt_json.h"
#include "core/hex.h"
#include "cunit_main.h"

/* The fixture file name (tests/data/receipts/NAME) as a string without its
 * final newline; malloc'd. */
static char *fixture(const char *name)
{
    const char *src = getenv("VST_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/receipts/%s", src ? src : ".", name);
    FILE *f = fopen(path, "rb");
    CU_ASSERT_FATAL(f != NULL);
    char *buf = calloc(1, VST_RECEIPT_JSON_MAX + 2);
    size_t n = fread(buf, 1, VST_RECEIPT_JSON_MAX + 1, f);
    fclose(f);
    CU_ASSERT_FATAL(n > 1 && n <= VST_RECEIPT_JSON_MAX && buf[n - 1] == '\n');
    buf[n - 1] = '\0';
    return buf;
}

static void fixture_key(uint8_t pub[VST_ED25519_PUB_LEN])
{
    char *hex = fixture("signing.pub");
    CU_ASSERT_FATAL(vst_unhex_lower(hex, strlen(hex), pub, VST_ED25519_PUB_LEN) == 0);
    free(hex);
}

/* Parses doc; 1 if it parses and verifies with pub. */
static int verifies(const char *doc, const uint8_t *pub, vst_receipt *r)
{
    char err[256];
    return vst_receipt_json_parse(doc, strlen(doc), r, err, sizeof err) == 0 &&
           vst_receipt_verify(pub, &r->f, r->signature) == 1;
}

/* Replaces the first occurrence of from in doc by to; malloc'd. */
static char *subst(const char *doc, const char *from, const char *to)
{
    const char *p = strstr(doc, from);
    CU_ASSERT_FATAL(p != NULL);
    size_t n = strlen(doc) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(p - doc), doc, to, p + strlen(from));
    return out;
}

/* Both fixtures verify with the fixture key, parse to their version, and
 * are rebuilt byte for byte from what was parsed (a replay of an old
 * receipt answers exactly what was signed). */
static void test_fixtures_verify(void)
{
    uint8_t pub[VST_ED25519_PUB_LEN];
    fixture_key(pub);
    const char *names[] = {"v1.json", "v2.json"};
    for (int v = 1; v <= 2; v++) {
        char *doc = fixture(names[v - 1]);
        vst_receipt r;
        CU_ASSERT(verifies(doc, pub, &r));
        CU_ASSERT_EQUAL(r.f.version, v);
        CU_ASSERT_EQUAL(r.f.withheld_count, v == 1 ? 0 : 2);
        CU_ASSERT_EQUAL(r.f.record_count, 998);
        CU_ASSERT(r.has_public_key && memcmp(r.public_key, pub, sizeof pub) == 0);
        char *again = vst_receipt_json_build(&r.f, r.signature, r.public_key);
        CU_ASSERT_FATAL(again != NULL);
        if (strcmp(again, doc) != 0)
            fprintf(stderr, "\n  built %s\n  file  %s\n", again, doc);
        CU_ASSERT_STRING_EQUAL(again, doc);
        CU_ASSERT((strstr(again, "withheld_count") != NULL) == (v == 2));
        free(again);
        free(doc);
    }
}

/* The version is part of the signed bytes: a v2 receipt stripped of its
 * count, a v1 receipt given one, a changed count: none verifies. */
static void test_no_downgrade(void)
{
    uint8_t pub[VST_ED25519_PUB_LEN];
    fixture_key(pub);
    char *v1 = fixture("v1.json"), *v2 = fixture("v2.json");
    vst_receipt r;
    char *bad = subst(v2, "\"withheld_count\":2,", "");
    CU_ASSERT(!verifies(bad, pub, &r));
    free(bad);
    /* Even when the count was 0: the prefix differs ("vst-receipt-v1"). */
    bad = subst(v1, "\"record_count\":998,", "\"record_count\":998,\"withheld_count\":0,");
    CU_ASSERT(!verifies(bad, pub, &r));
    free(bad);
    bad = subst(v2, "\"withheld_count\":2,", "\"withheld_count\":3,");
    CU_ASSERT(!verifies(bad, pub, &r));
    free(bad);
    bad = subst(v2, "\"withheld_count\":2,", "\"withheld_count\":0,");
    CU_ASSERT(!verifies(bad, pub, &r));
    free(bad);
    /* A v2 receipt's signature over fields with the count moved into
     * record_count (the total of valid records) does not verify either. */
    bad = subst(v2, "\"record_count\":998,\"withheld_count\":2,",
                "\"record_count\":1000,\"withheld_count\":0,");
    CU_ASSERT(!verifies(bad, pub, &r));
    free(bad);
    /* The two fixtures sign the same delivery; their signatures differ
     * and neither verifies the other's fields. */
    vst_receipt a, b;
    CU_ASSERT_FATAL(verifies(v1, pub, &a) && verifies(v2, pub, &b));
    CU_ASSERT(vst_receipt_verify(pub, &a.f, b.signature) == 0);
    CU_ASSERT(vst_receipt_verify(pub, &b.f, a.signature) == 0);
    free(v1);
    free(v2);
}

/* A v2 receipt states its count even when it is 0; a v1 one never. */
static void test_build_by_version(void)
{
    uint8_t pub[VST_ED25519_PUB_LEN], sig[VST_ED25519_SIG_LEN] = {7};
    fixture_key(pub);
    char *v2 = fixture("v2.json");
    vst_receipt r;
    char err[256];
    CU_ASSERT_FATAL(vst_receipt_json_parse(v2, strlen(v2), &r, err, sizeof err) == 0);
    r.f.withheld_count = 0;
    char *doc = vst_receipt_json_build(&r.f, sig, NULL);
    CU_ASSERT(doc != NULL && strstr(doc, "\"record_count\":998,\"withheld_count\":0,") != NULL);
    free(doc);
    r.f.version = VST_RECEIPT_V1;
    doc = vst_receipt_json_build(&r.f, sig, NULL);
    CU_ASSERT(doc != NULL && strstr(doc, "withheld") == NULL);
    vst_receipt back;
    CU_ASSERT(doc != NULL &&
              vst_receipt_json_parse(doc, strlen(doc), &back, err, sizeof err) == 0 &&
              back.f.version == VST_RECEIPT_V1 && back.f.withheld_count == 0);
    free(doc);
    free(v2);
}

int vst_register_tests(void)
{
    static vst_test tests[] = {
        {"v1 and v2 fixtures verify and rebuild byte for byte", test_fixtures_verify},
        {"the version and the withheld count are signed", test_no_downgrade},
        {"the builder writes withheld_count in v2 only", test_build_by_version},
        {NULL, NULL},
    };
    VST_ADD_SUITE("receipt versions", tests);
    return CUE_SUCCESS;
}
