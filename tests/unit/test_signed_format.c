/* The bytes vst-keyd signs keep their layout (server/core/signed.h,
 * server/core/usage.h): receipts, checkpoints and usage reports already
 * signed must still verify. Each expected value below is what the encoders
 * produced before issue 9 moved them onto the checked buffer (core/buf.h);
 * a change of one byte fails here before any signature breaks in the field.
 * The cells report's TBS (issue 11) is held from its first version on.
 * The Shamir share check value (keys/shamir.h) is held the same way: it is
 * recorded in every keystore.info since issue 8. */
#include <stdio.h>
#include <string.h>

#include "core/hex.h"
#include "core/signed.h"
#include "core/usage.h"
#include "cunit_main.h"
#include "shamir.h"

/* Compares bytes with expected hex; prints what it got on a mismatch. */
static void same_hex(const uint8_t *p, size_t n, const char *want)
{
    char got[2 * 1024 + 1];
    CU_ASSERT_FATAL(n <= 1024);
    vst_hex(p, n, got);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "\n  got  %s\n  want %s\n", got, want);
    CU_ASSERT_STRING_EQUAL(got, want);
}

/* The fields of the receipt vectors below. */
static void vector_fields(vst_receipt_fields *r, int version)
{
    memset(r, 0, sizeof *r);
    strcpy(r->delivery_id, "d-2024.01_x");
    strcpy(r->client, "AOK Baden-W\xc3\xbcrttemberg");
    strcpy(r->profile, "sgb5_v1");
    r->record_count = 0x0102030405060708ULL;
    for (int i = 0; i < VST_SHA256_LEN; i++)
        r->body_sha256[i] = (uint8_t)i;
    r->key_version = 0x0a0b0c0d;
    r->received_at_us = -2;
    r->stored_at_us = 1717000000000000LL;
    r->audit_seq = 77;
    r->version = version;
}

/* The bytes after either prefix, up to and including audit_seq. */
#define RECEIPT_V1_FIELDS                                                                          \
    "0b642d323032342e30315f78"                       /* str8 delivery id */                        \
    "16414f4b20426164656e2d57c3bc727474656d62657267" /* str8 client */                             \
    "07736762355f7631"                               /* str8 profile */                            \
    "0102030405060708"                               /* record_count */                            \
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"                             \
    "0a0b0c0d"         /* key_version */                                                           \
    "fffffffffffffffe" /* received_at_us */                                                        \
    "0006199a37145000" /* stored_at_us */                                                          \
    "000000000000004d" /* audit_seq */

/* Receipts signed before issue 12 (v1) keep their bytes, so they keep
 * verifying; a v1 receipt cannot carry a withheld count. */
static void test_receipt_tbs(void)
{
    vst_receipt_fields r;
    vector_fields(&r, VST_RECEIPT_V1);
    uint8_t tbs[VST_RECEIPT_TBS_MAX], enc[VST_RECEIPT_ENC_MAX];
    size_t n = vst_receipt_tbs(&r, tbs);
    same_hex(tbs, n, "7673742d726563656970742d763100" /* "vst-receipt-v1\0" */ RECEIPT_V1_FIELDS);
    size_t en = vst_receipt_encode(&r, enc);
    CU_ASSERT(en + sizeof VST_RECEIPT_PREFIX_V1 == n &&
              memcmp(enc, tbs + sizeof VST_RECEIPT_PREFIX_V1, en) == 0);
    /* A v1 receipt states no withheld records: such fields are invalid. */
    r.withheld_count = 1;
    CU_ASSERT_EQUAL(vst_receipt_tbs(&r, tbs), 0);
    CU_ASSERT_EQUAL(vst_receipt_encode(&r, enc), 0);
    /* Neither is a version other than 1 and 2 (0: fields never set). */
    vector_fields(&r, 0);
    CU_ASSERT_EQUAL(vst_receipt_tbs(&r, tbs), 0);
    vector_fields(&r, 3);
    CU_ASSERT_EQUAL(vst_receipt_encode(&r, enc), 0);

    /* The longest v1 fields take VST_RECEIPT_ENC_MAX but the withheld count. */
    vector_fields(&r, VST_RECEIPT_V1);
    memset(r.delivery_id, 'a', VST_DELIVERY_ID_MAX);
    r.delivery_id[VST_DELIVERY_ID_MAX] = '\0';
    memset(r.client, 'b', VST_CLIENT_NAME_MAX);
    r.client[VST_CLIENT_NAME_MAX] = '\0';
    memset(r.profile, 'c', VST_PROFILE_NAME_MAX);
    r.profile[VST_PROFILE_NAME_MAX] = '\0';
    CU_ASSERT_EQUAL(vst_receipt_encode(&r, enc), VST_RECEIPT_ENC_MAX - 8);
    CU_ASSERT_EQUAL(vst_receipt_tbs(&r, tbs), VST_RECEIPT_TBS_MAX - 8);
    /* ... and v2 ones fill it exactly. */
    r.version = VST_RECEIPT_V2;
    CU_ASSERT_EQUAL(vst_receipt_encode(&r, enc), VST_RECEIPT_ENC_MAX);
    CU_ASSERT_EQUAL(vst_receipt_tbs(&r, tbs), VST_RECEIPT_TBS_MAX);
    r.profile[0] = 'X'; /* outside the grammar: nothing is encoded */
    CU_ASSERT_EQUAL(vst_receipt_encode(&r, enc), 0);
    CU_ASSERT_EQUAL(vst_receipt_tbs(&r, tbs), 0);
}

/* Every receipt since issue 12 (v2): its own prefix, the v1 fields, then
 * the withheld count. Held from its first version on. */
static void test_receipt_v2_tbs(void)
{
    vst_receipt_fields r;
    vector_fields(&r, VST_RECEIPT_V2);
    r.withheld_count = 0x1112131415161718ULL;
    uint8_t tbs[VST_RECEIPT_TBS_MAX], enc[VST_RECEIPT_ENC_MAX];
    size_t n = vst_receipt_tbs(&r, tbs);
    same_hex(tbs, n,
             "7673742d726563656970742d763200" /* "vst-receipt-v2\0" */
             RECEIPT_V1_FIELDS "1112131415161718" /* withheld_count */);
    size_t en = vst_receipt_encode(&r, enc);
    CU_ASSERT(en + sizeof VST_RECEIPT_PREFIX_V2 == n &&
              memcmp(enc, tbs + sizeof VST_RECEIPT_PREFIX_V2, en) == 0);
    /* A v2 receipt without withheld records still carries the count (0). */
    r.withheld_count = 0;
    n = vst_receipt_tbs(&r, tbs);
    same_hex(tbs, n, "7673742d726563656970742d763200" RECEIPT_V1_FIELDS "0000000000000000");
    CU_ASSERT_STRING_EQUAL(VST_RECEIPT_PREFIX, VST_RECEIPT_PREFIX_V2);
}

static void test_checkpoint_tbs(void)
{
    uint8_t head[VST_SHA256_LEN], tbs[VST_CHECKPOINT_TBS_LEN], enc[VST_CHECKPOINT_ENC_LEN];
    memset(head, 0xcc, sizeof head);
    vst_checkpoint_tbs(0x1122334455667788ULL, head, -5, tbs);
    same_hex(tbs, sizeof tbs,
             "7673742d636865636b706f696e742d763100" /* "vst-checkpoint-v1\0" */
             "1122334455667788"
             "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
             "fffffffffffffffb");
    vst_checkpoint_encode(0x1122334455667788ULL, head, -5, enc);
    CU_ASSERT_EQUAL(memcmp(enc, tbs + sizeof VST_CHECKPOINT_PREFIX, sizeof enc), 0);
}

static void test_usage_tbs(void)
{
    vst_usage u = {.seq = 3, .from_us = 1750000000000000LL, .to_us = 1750000060000000LL, .n = 2};
    u.e[0] = (vst_usage_entry){.sock = VST_USAGE_SOCK_DATA,
                               .uid = 1001,
                               .op = VST_USAGE_OP_PSEUDONYMIZE,
                               .count = 10,
                               .total = 110,
                               .slack = 4};
    strcpy(u.e[0].domain, "sgb5/insured");
    u.e[1] = (vst_usage_entry){.sock = VST_USAGE_SOCK_ADMIN,
                               .uid = 0,
                               .op = VST_USAGE_OP_SIGN_CHECKPOINT,
                               .count = 1,
                               .total = 0x0102030405060708ULL,
                               .slack = 0};
    uint8_t tbs[VST_USAGE_TBS_MAX];
    size_t n = vst_usage_tbs(&u, tbs);
    same_hex(tbs, n,
             "7673742f75736167652f3100" /* "vst/usage/1\0" */
             "0000000000000003"         /* usage_seq */
             "0006379da05b6000"         /* from_us */
             "0006379da3eee700"         /* to_us */
             "0002"                     /* n */
             "01"
             "000003e9"
             "01"
             "0c736762352f696e7375726564"
             "000000000000000a"
             "000000000000006e"
             "0000000000000004"
             "02"
             "00000000"
             "04"
             "00"
             "0000000000000001"
             "0102030405060708"
             "0000000000000000");
    /* The largest report fits VST_USAGE_TBS_MAX. */
    u.n = VST_USAGE_MAX_ENTRIES;
    for (size_t i = 0; i < u.n; i++) {
        u.e[i] = u.e[0];
        memset(u.e[i].domain, 'a', VST_DOMAIN_MAXLEN);
        u.e[i].domain[VST_DOMAIN_MAXLEN] = '\0';
    }
    CU_ASSERT_FATAL(vst_domain_name_ok(u.e[0].domain));
    CU_ASSERT_EQUAL(vst_usage_tbs(&u, tbs), VST_USAGE_TBS_MAX);
}

/* The cells report's TBS (issue 11): vst-audit will verify reports signed
 * now, so its bytes are held like the others'. */
static void test_report_tbs(void)
{
    uint8_t digest[VST_SHA256_LEN], tbs[VST_REPORT_TBS_MAX];
    for (int i = 0; i < VST_SHA256_LEN; i++)
        digest[i] = (uint8_t)(0x80 + i);
    size_t n = vst_report_tbs(VST_REPORT_KIND_CELLS, digest, tbs);
    same_hex(tbs, n,
             "7673742f63656c6c732f3100" /* "vst/cells/1\0" */
             "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    CU_ASSERT_EQUAL(n, VST_REPORT_TBS_MAX);
    CU_ASSERT_EQUAL(VST_REPORT_KIND_CELLS, 1);
}

static void test_share_check(void)
{
    vst_share s;
    memset(&s, 0, sizeof s);
    for (int i = 0; i < VST_KS_ID_LEN; i++)
        s.keystore_id[i] = (uint8_t)(0x11 * i);
    s.index = 37;
    s.threshold = 2;
    s.shares = 3;
    for (int i = 0; i < VST_KEY_LEN; i++)
        s.y[i] = (uint8_t)(0xf0 - i);
    uint8_t ck[VST_KS_SHARE_CHECK_LEN];
    CU_ASSERT_FATAL(vst_share_check(&s, ck) == 1);
    same_hex(ck, sizeof ck, "02dd1244fd3660b6");
}

int vst_register_tests(void)
{
    static vst_test tests[] = {
        {"receipt TBS bytes (v1)", test_receipt_tbs},
        {"receipt TBS bytes (v2, withheld count)", test_receipt_v2_tbs},
        {"checkpoint TBS bytes", test_checkpoint_tbs},
        {"usage report TBS bytes", test_usage_tbs},
        {"cells report TBS bytes", test_report_tbs},
        {"Shamir share check value", test_share_check},
        {NULL, NULL},
    };
    VST_ADD_SUITE("signed and stored formats", tests);
    return CUE_SUCCESS;
}
