/* Client names and UTF-8 (issue 8, finding 7): one grammar for names,
 * end to end. "AOK Baden-Württemberg" was accepted by `vst-admin client
 * add` and then refused by the receipt encoder after pseudonymization, so
 * every delivery of that insurer ended in a retried 503. Here: the UTF-8
 * decoder, the name grammar, that a receipt with such a name encodes,
 * signs-as-TBS and round-trips through the receipt JSON, and that the log
 * never cuts a name inside a character. */
#include <stdlib.h>
#include <string.h>

#include "core/signed.h"
#include "core/utf8.h"
#include "cunit_main.h"
#include "audit/receipt_json.h"

static void test_utf8_decoder(void)
{
    uint32_t cp = 0;
    CU_ASSERT_EQUAL(vst_utf8_next("A", 1, &cp), 1);
    CU_ASSERT_EQUAL(cp, 'A');
    CU_ASSERT_EQUAL(vst_utf8_next("\xc3\xbc", 2, &cp), 2); /* ü */
    CU_ASSERT_EQUAL(cp, 0xfc);
    CU_ASSERT_EQUAL(vst_utf8_next("\xe1\xba\x9e", 3, &cp), 3); /* ẞ */
    CU_ASSERT_EQUAL(cp, 0x1e9e);
    CU_ASSERT_EQUAL(vst_utf8_next("\xf0\x9f\x98\x80", 4, &cp), 4);
    CU_ASSERT_EQUAL(cp, 0x1f600);
    /* Refused: overlong forms, surrogates, beyond U+10FFFF, cut sequences,
     * stray continuation bytes, 0xfe/0xff. */
    static const struct {
        const char *s;
        size_t n;
    } bad[] = {
        {"\xc0\x80", 2},
        {"\xc1\xbf", 2},
        {"\xe0\x80\x80", 3},
        {"\xe0\x9f\xbf", 3},
        {"\xf0\x80\x80\x80", 4},
        {"\xed\xa0\x80", 3},
        {"\xed\xbf\xbf", 3},
        {"\xf4\x90\x80\x80", 4},
        {"\xc3", 1},
        {"\xe1\xba", 2},
        {"\x80", 1},
        {"\xbf", 1},
        {"\xfe", 1},
        {"\xff", 1},
        {"\xc3\x41", 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_EQUAL(vst_utf8_next(bad[i].s, bad[i].n, &cp), 0);
    CU_ASSERT(vst_utf8_valid("Stra\xc3\x9f"
                             "e",
                             7));
    CU_ASSERT(!vst_utf8_valid("Stra\xc3", 5));
    CU_ASSERT(vst_utf8_valid("", 0));
}

static void test_utf8_cut(void)
{
    const char *s = "ab\xc3\xbc"; /* "abü" */
    CU_ASSERT_EQUAL(vst_utf8_cut(s, 4), 4);
    CU_ASSERT_EQUAL(vst_utf8_cut(s, 3), 2); /* inside ü: back to before it */
    CU_ASSERT_EQUAL(vst_utf8_cut(s, 2), 2);
    const char *e = "x\xf0\x9f\x98\x80";
    for (size_t n = 2; n < 5; n++)
        CU_ASSERT_EQUAL(vst_utf8_cut(e, n), 1);
    CU_ASSERT_EQUAL(vst_utf8_cut(e, 5), 5);
}

static int name_ok(const char *s)
{
    return vst_client_name_ok(s, strlen(s));
}

static void test_name_grammar(void)
{
    /* German insurers' names are UTF-8. */
    CU_ASSERT(name_ok("AOK Baden-W\xc3\xbcrttemberg"));
    CU_ASSERT(name_ok("BKK Gro\xc3\x9f"
                      "e Stra\xc3\x9f"
                      "e"));
    CU_ASSERT(name_ok("Gesundheitsamt K\xc3\xb6ln (Infektionsschutz)"));
    CU_ASSERT(name_ok("insurer"));
    char max[VST_CLIENT_NAME_MAX + 2];
    /* 64 two-byte characters are exactly 128 bytes: fits; one more byte does not. */
    for (int i = 0; i < 64; i++)
        memcpy(max + 2 * i, "\xc3\xa4", 2);
    max[128] = '\0';
    CU_ASSERT(name_ok(max));
    max[128] = 'x';
    max[129] = '\0';
    CU_ASSERT(!name_ok(max));
    /* Refused: empty, blanks at the ends, controls (C0, DEL, C1), invisible
     * formatting, invalid UTF-8. */
    static const char *const bad[] = {
        "",
        " AOK",
        "AOK ",
        "AOK\tNordwest",
        "AOK\nNordwest",
        "AOK\x7f",
        "AOK\xc2\x85", /* U+0085 NEL */
        "AOK\xc2\x9b", /* U+009B CSI */
        "AOK\xc2\xad"
        "Bayern", /* soft hyphen */
        "AOK\xe2\x80\x8b"
        "Bayern", /* zero-width space */
        "AOK\xe2\x80\xae"
        "nreyaB", /* right-to-left override */
        "AOK\xe2\x81\xa6"
        "x", /* left-to-right isolate */
        "\xef\xbb\xbf"
        "AOK",                /* BOM */
        "AOK W\xfcrttemberg", /* Latin-1, not UTF-8 */
        "AOK \xc0\xa0",       /* overlong */
        "AOK \xed\xa0\x80",   /* surrogate */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (name_ok(bad[i]))
            CU_FAIL("a name outside the grammar was accepted");
    }
}

/* The receipt of a client with a UTF-8 name: fields valid, encoded for
 * keyd (the step that used to fail), JSON built and parsed back equal. */
static void test_receipt_with_utf8_name(void)
{
    vst_receipt_fields f;
    memset(&f, 0, sizeof f);
    strcpy(f.delivery_id, "2026Q4-part.1");
    strcpy(f.client, "AOK Baden-W\xc3\xbcrttemberg");
    strcpy(f.profile, "sgb5");
    f.record_count = 3;
    f.key_version = 1;
    f.received_at_us = 1790000000000000;
    f.stored_at_us = 1790000000500000;
    f.audit_seq = 42;
    f.version = VST_RECEIPT_V2;
    CU_ASSERT(vst_receipt_fields_ok(&f));
    uint8_t tbs[VST_RECEIPT_TBS_MAX];
    CU_ASSERT(vst_receipt_tbs(&f, tbs) > 0);
    uint8_t sig[VST_ED25519_SIG_LEN] = {1, 2, 3};
    char *json = vst_receipt_json_build(&f, sig, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(json);
    CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"client\":\"AOK Baden-W\xc3\xbcrttemberg\""));
    vst_receipt r;
    char err[200];
    CU_ASSERT_EQUAL(vst_receipt_json_parse(json, strlen(json), &r, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(r.f.client, f.client);
    free(json);
    /* The same name in \\u form parses to the same bytes. */
    const char *escaped =
        "{\"delivery_id\":\"2026Q4-part.1\",\"client\":\"AOK Baden-W\\u00fcrttemberg\","
        "\"profile\":\"sgb5\",\"record_count\":3,\"body_sha256\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\","
        "\"key_version\":1,\"received_at\":\"2026-09-21T13:46:40.000000Z\",\"stored_at\":"
        "\"2026-09-21T13:46:40.500000Z\",\"audit_seq\":42,\"signature\":\""
        "0102030000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000\"}";
    CU_ASSERT_EQUAL(vst_receipt_json_parse(escaped, strlen(escaped), &r, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(r.f.client, f.client);
    /* A name with a control character is refused by the encoder and the
     * parser alike. */
    strcpy(f.client, "AOK\xc2\x85");
    CU_ASSERT(!vst_receipt_fields_ok(&f));
    CU_ASSERT_PTR_NULL(vst_receipt_json_build(&f, sig, NULL));
}

static const vst_test tests[] = {
    {"utf8: strict decoder", test_utf8_decoder},
    {"utf8: cut at a character boundary", test_utf8_cut},
    {"client name grammar: UTF-8 accepted, controls and invisibles refused", test_name_grammar},
    {"receipt of a client with a UTF-8 name", test_receipt_with_utf8_name},
    {NULL, NULL},
};

int vst_register_tests(void)
{
    VST_ADD_SUITE("names", tests);
    return 0;
}
