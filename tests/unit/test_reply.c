/* vst-httpd's problem+json bodies (server/httpd/reply.c), byte for byte:
 * their members and order are a public interface (docs/openapi.yaml;
 * vst-send's refusal report and the e2e suites read them). Issue 9 builds
 * them with jansson instead of snprintf and hand escaping; the bodies
 * pinned here are what the hand-built version sent. */
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "httpd/httpd.h"

/* reply.c counts every answer; this program answers nothing. */
void metrics_http(unsigned status)
{
    (void)status;
}

static void expect(char *got, const char *want)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "\ngot:  %s\nwant: %s\n", got, want);
        CU_FAIL("the body differs");
    }
    free(got);
}

static void test_problem(void)
{
    expect(reply_problem_json(VST_E_NOT_FOUND, NULL),
           "{\"type\":\"urn:vst:problem:not_found\",\"title\":\"no such resource\","
           "\"status\":404,\"code\":\"not_found\",\"detail\":\"no such resource\"}");
    expect(reply_problem_json(VST_E_UNAVAILABLE, "crash recovery is still running"),
           "{\"type\":\"urn:vst:problem:service_unavailable\",\"title\":\"the service is "
           "temporarily unavailable; retry later\",\"status\":503,\"code\":"
           "\"service_unavailable\",\"detail\":\"crash recovery is still running\"}");
    /* Escaped by the library: quotes, backslashes, control characters;
     * UTF-8 stays as it is. */
    expect(reply_problem_json(VST_E_MALFORMED, "a \"b\" \\ \x01 ü"),
           "{\"type\":\"urn:vst:problem:malformed_request\",\"title\":\"the request is "
           "malformed\",\"status\":400,\"code\":\"malformed_request\",\"detail\":\"a \\\"b\\\" "
           "\\\\ \\u0001 ü\"}");
}

static void test_invalid_records(void)
{
    vst_errors errs;
    CU_ASSERT_EQUAL_FATAL(vst_errors_init(&errs, 2), 0);
    expect(reply_invalid_records_json(&errs),
           "{\"type\":\"urn:vst:problem:invalid_records\",\"title\":\"the delivery has invalid "
           "records; nothing was stored\",\"status\":422,\"code\":\"invalid_records\","
           "\"detail\":\"0 error(s); nothing was stored\",\"errors_total\":0,\"errors\":[]}");
    vst_errors_add(&errs, 1, "insured.kvnr", VST_E_ID_CHECK_DIGIT);
    vst_errors_add(&errs, 7, "service.\"icd10\"[2]", VST_E_LINE_TOO_LONG);
    vst_errors_add(&errs, 9, "", VST_E_LINE_TOO_LONG); /* past max: counted only */
    expect(reply_invalid_records_json(&errs),
           "{\"type\":\"urn:vst:problem:invalid_records\",\"title\":\"the delivery has invalid "
           "records; nothing was stored\",\"status\":422,\"code\":\"invalid_records\","
           "\"detail\":\"3 error(s); nothing was stored\",\"errors_total\":3,\"errors\":["
           "{\"line\":1,\"field\":\"insured.kvnr\",\"code\":\"id_check_digit\"},"
           "{\"line\":7,\"field\":\"service.\\\"icd10\\\"[2]\",\"code\":\"line_too_long\"}]}");
    vst_errors_free(&errs);
}

static void test_field_cut_inside_a_character(void)
{
    /* A field path cut to the engine's buffer may end inside a UTF-8
     * character: the tail is dropped, the 422 still goes out. */
    vst_errors errs;
    CU_ASSERT_EQUAL_FATAL(vst_errors_init(&errs, 1), 0);
    vst_errors_add(&errs, 2, "stra\xc3", VST_E_LINE_TOO_LONG);
    char *got = reply_invalid_records_json(&errs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(got, "{\"line\":2,\"field\":\"stra\",\"code\":\"line_too_long\"}"));
    free(got);
    vst_errors_free(&errs);
}

static const vst_test tests[] = {
    {"problem+json: members, order, escaping", test_problem},
    {"422: errors_total and the error list", test_invalid_records},
    {"422: a field path cut inside a character", test_field_cut_inside_a_character},
    {NULL, NULL},
};

int vst_register_tests(void)
{
    VST_ADD_SUITE("reply", tests);
    return 0;
}
