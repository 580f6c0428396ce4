/* vst-httpd's per-client limits (server/httpd/client_limits.c; issue 8,
 * finding 5 and the low finding "the rate-limit table shares buckets when
 * full"), driven with a clock of the test's choosing. */
#include "cunit_main.h"
#include "httpd/client_limits.h"

#define MIN_MS 60000LL

static void test_rate_bucket(void)
{
    limits_reset();
    int64_t t = 1000 * MIN_MS;
    for (int i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(limits_rate(7, 10, t), 0);
    unsigned wait = limits_rate(7, 10, t);
    CU_ASSERT(wait >= 1 && wait <= 7);         /* one token per 6 s */
    CU_ASSERT_EQUAL(limits_rate(8, 10, t), 0); /* another client is not affected */
    CU_ASSERT_EQUAL(limits_rate(7, 10, t + 6000), 0);
    CU_ASSERT_EQUAL(limits_rate(7, 0, t), 0); /* 0 = off */
}

/* A full table must not make two clients share a bucket: before the fix,
 * client 1 + LIMITS_CLIENTS landed in client 1's exhausted bucket. */
static void test_rate_table_full(void)
{
    limits_reset();
    int64_t t = 2000 * MIN_MS;
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(limits_rate(1, 5, t), 0);
    CU_ASSERT(limits_rate(1, 5, t) > 0); /* client 1 is exhausted */
    /* Fill every other entry, newer than client 1's. */
    for (int id = 2; id <= LIMITS_CLIENTS; id++)
        CU_ASSERT_EQUAL(limits_rate(id, 5, t + 1), 0);
    /* A new client, table full: gets a fresh bucket of its own. */
    int newcomer = 1 + LIMITS_CLIENTS;
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(limits_rate(newcomer, 5, t + 2), 0);
    CU_ASSERT(limits_rate(newcomer, 5, t + 2) > 0);
    /* It evicted the longest idle entry (client 1), nobody shares. */
    CU_ASSERT_EQUAL(limits_rate(2, 5, t + 3), 0);
}

static void test_identifier_budget(void)
{
    limits_reset();
    int64_t t = 3000 * MIN_MS;
    CU_ASSERT_EQUAL(limits_identifiers(1, 600, 1000, t), 0);
    CU_ASSERT_EQUAL(limits_identifiers(1, 400, 1000, t + MIN_MS), 0);
    CU_ASSERT_EQUAL(limits_identifiers_used(1, t + MIN_MS), 1000);
    unsigned wait = limits_identifiers(1, 1, 1000, t + 2 * MIN_MS);
    /* Exhausted: the first 600 leave the window 24 h after they came. */
    CU_ASSERT(wait > 0);
    CU_ASSERT(wait <= 24 * 3600);
    CU_ASSERT(wait >= 24 * 3600 - 2 * 60 - 300);
    CU_ASSERT_EQUAL(limits_identifiers_used(1, t + 2 * MIN_MS), 1000); /* refusal charges nothing */
    CU_ASSERT_EQUAL(limits_identifiers(2, 1000, 1000, t), 0);          /* clients are separate */
    CU_ASSERT_EQUAL(limits_identifiers(1, 5000, 1000, t), 86400);      /* never fits */
    /* A day later the window is empty again. */
    CU_ASSERT_EQUAL(limits_identifiers(1, 1000, 1000, t + 24 * 60 * MIN_MS + 10 * MIN_MS), 0);
    CU_ASSERT_EQUAL(limits_identifiers(1, 1, 0, t), 0); /* 0 = off */
}

/* The registration's rate (issue 14) replaces the configured one; NULL
 * (-1) keeps it; 0 is unlimited. A rate changed between requests applies to
 * the next one: lowered, the bucket is capped at once; raised to unlimited,
 * an exhausted client is served. */
static void test_rate_of_registration(void)
{
    CU_ASSERT_EQUAL(limits_rate_of(-1, 600), 600);
    CU_ASSERT_EQUAL(limits_rate_of(5, 600), 5);
    CU_ASSERT_EQUAL(limits_rate_of(0, 600), 0);
    limits_reset();
    int64_t t = 4000 * MIN_MS;
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(limits_rate(3, 600, t), 0);
    for (int i = 0; i < 5; i++) /* 595 tokens left, capped at the new 5 */
        CU_ASSERT_EQUAL(limits_rate(3, 5, t), 0);
    CU_ASSERT(limits_rate(3, 5, t) > 0);
    CU_ASSERT_EQUAL(limits_rate(3, 0, t), 0); /* set to unlimited */
}

static const vst_test tests[] = {
    {"rate: token bucket per client", test_rate_bucket},
    {"rate: a full table never shares a bucket", test_rate_table_full},
    {"rate: the registration's rate, changed between requests", test_rate_of_registration},
    {"identifiers: sliding 24 h budget per client", test_identifier_budget},
    {NULL, NULL},
};

int vst_register_tests(void)
{
    VST_ADD_SUITE("limits", tests);
    return 0;
}
