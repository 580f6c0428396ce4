/* vst-httpd's request checks (server/httpd/request.c; issue 8,
 * finding 9 and the low finding on the delivery-id screen): the delivery
 * id comes from the raw path, and ids that could carry an identifier or a
 * birth date are refused, also glued to other characters. */
#include <stdio.h>
#include <string.h>

#include "cunit_main.h"
#include "httpd/request.h"

#define P "/v1/deliveries/"

static void test_id_from_raw_path(void)
{
    CU_ASSERT_STRING_EQUAL(httpd_delivery_id(P "abc", P "abc", P), "abc");
    /* MHD decodes %00 and the C string ends there: "abc" is not the id
     * the sender used. */
    CU_ASSERT_PTR_NULL(httpd_delivery_id(P "abc%00def", P "abc", P));
    CU_ASSERT_PTR_NULL(httpd_delivery_id(P "abc%2Edef", P "abc.def", P));
    CU_ASSERT_PTR_NULL(httpd_delivery_id(P "%61bc", P "abc", P));
    CU_ASSERT_PTR_NULL(httpd_delivery_id(P "a%2Fb", P "a/b", P));
    CU_ASSERT_PTR_NULL(httpd_delivery_id(NULL, P "abc", P));
    CU_ASSERT_PTR_NULL(httpd_delivery_id(P "ab c", P "ab c", P)); /* outside the alphabet */
    CU_ASSERT_PTR_NULL(httpd_delivery_id(P, P, P));               /* empty */
    char longid[200];
    memset(longid, 'x', sizeof longid);
    strcpy(longid, P);
    memset(longid + strlen(P), 'a', 129);
    longid[strlen(P) + 129] = '\0';
    CU_ASSERT_PTR_NULL(httpd_delivery_id(longid, longid, P)); /* 129 > 128 */
    longid[strlen(P) + 128] = '\0';
    CU_ASSERT_PTR_NOT_NULL(httpd_delivery_id(longid, longid, P));
}

static void test_id_screen(void)
{
    static const char *const refused[] = {
        "A123456780",                        /* a KVNR */
        "AOKA123456780x",                    /* glued */
        "x-a123456780-y",                    /* lower-case letter: canonical form upper-cases it */
        "x123456601y",                       /* nine digits: LANR/BSNR/IK shape */
        "t1733326400",                       /* a Unix time is nine or more digits too */
        "0123456789abcdef0123456789abcdefZ", /* 32 hex digits */
        "birth-1964-08-12",                  /* dates with their day, every layout */
        "d12.08.1964",
        "19640812x",
        "12_08_1964",
        "1964.08.12",
        "2024-02-29", /* a leap day */
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (!httpd_id_carries_identifier(refused[i])) {
            fprintf(stderr, "accepted: %s\n", refused[i]);
            CU_FAIL("an id with an identifier or a date was accepted");
        }
    static const char *const fine[] =
        {
            "2026Q4-part-07", "2026-12.aok-nw.3", "delivery-1", "12345678",
            "2023-02-29",     "1964-13-12",       "1964-08-32", "2026-12.05",
            "1899-01-01",     "q1-2024",          "a12345678b", /* eight digits */
        };
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++)
        if (httpd_id_carries_identifier(fine[i])) {
            fprintf(stderr, "refused: %s\n", fine[i]);
            CU_FAIL("an id without an identifier or a date was refused");
        }
}

static const vst_test tests[] = {
    {"delivery id from the raw path (no %00 truncation, no encoding)", test_id_from_raw_path},
    {"ids that could carry an identifier or a date are refused", test_id_screen},
    {NULL, NULL},
};

int vst_register_tests(void)
{
    VST_ADD_SUITE("request", tests);
    return 0;
}
