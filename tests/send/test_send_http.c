/* vst-send without a network: the HTTP response parser (every framing,
 * every cap, malformed input, fed whole and byte by byte), the retry
 * schedule and Retry-After, the URL and delivery id checks, the pinned key
 * argument, receipt verification with a receipt signed here by a fresh
 * Ed25519 key, and the refusal report. */
#include "cunit_main.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/receipt_json.h"
#include "core/hex.h"
#include "core/signed.h"
#include "cli/send/http_response.h"
#include "cli/send/send_progress.h"
#include "cli/send/send_result.h"
#include "cli/send/send_util.h"

/* ---- helpers -------------------------------------------------------------- */

/* Feed s whole; then (again, fresh) byte by byte; both must agree. */
static vst_hr_result parse_both(const char *s, size_t n, vst_http_resp *r, size_t body_max)
{
    vst_http_resp b;
    vst_http_resp_init(&b, body_max);
    vst_hr_result rb = VST_HR_MORE;
    for (size_t i = 0; i < n && rb == VST_HR_MORE; i++)
        rb = vst_http_resp_feed(&b, s + i, 1, NULL);

    vst_http_resp_init(r, body_max);
    /* An exactly sized heap copy, so ASan sees any read past the input. */
    char *copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    size_t used = 0;
    vst_hr_result ra = vst_http_resp_feed(r, copy, n, &used);
    free(copy);
    CU_ASSERT_EQUAL(ra, rb);
    CU_ASSERT_EQUAL(r->status, b.status);
    CU_ASSERT_EQUAL(r->error, b.error);
    /* On an error the byte-wise parse may have kept a few more body bytes. */
    if (ra == VST_HR_DONE) {
        CU_ASSERT_EQUAL(r->body_len, b.body_len);
        if (r->body_len == b.body_len && r->body_len > 0)
            CU_ASSERT(memcmp(r->body, b.body, r->body_len) == 0);
    }
    vst_http_resp_free(&b);
    return ra;
}

static vst_hr_result parse(const char *s, vst_http_resp *r)
{
    return parse_both(s, strlen(s), r, 0);
}

static void expect_error(const char *s, vst_hr_error e)
{
    vst_http_resp r;
    CU_ASSERT_EQUAL(parse(s, &r), VST_HR_ERROR);
    CU_ASSERT_EQUAL(r.error, e);
    if (r.error != e)
        fprintf(stderr, "\n  input %.40s...: error %d (%s), expected %d\n", s, r.error,
                vst_http_resp_strerror(r.error), e);
    vst_http_resp_free(&r);
}

/* ---- response parser: good input ------------------------------------------ */

static void test_content_length(void)
{
    static const char s[] = "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                            "Content-Length: 11\r\nCache-Control: no-store\r\n\r\n{\"a\":\"xyz\"}";
    vst_http_resp r;
    CU_ASSERT_EQUAL(parse(s, &r), VST_HR_DONE);
    CU_ASSERT_EQUAL(r.status, 201);
    CU_ASSERT_EQUAL(r.minor_version, 1);
    CU_ASSERT_EQUAL(r.body_len, 11);
    CU_ASSERT_STRING_EQUAL((char *)r.body, "{\"a\":\"xyz\"}");
    CU_ASSERT(r.has_content_type);
    CU_ASSERT_STRING_EQUAL(r.content_type, "application/json");
    CU_ASSERT(!r.has_retry_after);
    vst_http_resp_free(&r);
}

static void test_chunked(void)
{
    static const char s[] = "HTTP/1.1 200 OK\r\ntransfer-encoding:  Chunked \r\n\r\n"
                            "4\r\nWiki\r\n"
                            "6;name=\"v\"\r\npedia \r\n"
                            "E\r\nin \r\n\r\nchunks.\r\n"
                            "0\r\nX-Trailer: 1\r\n\r\n";
    vst_http_resp r;
    CU_ASSERT_EQUAL(parse(s, &r), VST_HR_DONE);
    CU_ASSERT_EQUAL(r.status, 200);
    CU_ASSERT_EQUAL(r.body_len, 4 + 6 + 14);
    CU_ASSERT_STRING_EQUAL((char *)r.body, "Wikipedia in \r\n\r\nchunks.");
    vst_http_resp_free(&r);
}

static void test_until_close(void)
{
    static const char s[] = "HTTP/1.0 503 Service Unavailable\r\nRetry-After: 7\r\n\r\nbusy";
    vst_http_resp r;
    CU_ASSERT_EQUAL(parse(s, &r), VST_HR_MORE);
    CU_ASSERT(vst_http_resp_started(&r));
    CU_ASSERT_EQUAL(vst_http_resp_eof(&r), VST_HR_DONE);
    CU_ASSERT_EQUAL(r.status, 503);
    CU_ASSERT_EQUAL(r.minor_version, 0);
    CU_ASSERT_STRING_EQUAL(r.retry_after, "7");
    CU_ASSERT_STRING_EQUAL((char *)r.body, "busy");
    vst_http_resp_free(&r);
}

static void test_interim_and_no_body(void)
{
    static const char s[] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\nX: y\r\n\r\n"
                            "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n";
    vst_http_resp r;
    CU_ASSERT_EQUAL(parse(s, &r), VST_HR_DONE);
    CU_ASSERT_EQUAL(r.status, 204);
    CU_ASSERT_EQUAL(r.interim_seen, 2);
    CU_ASSERT_EQUAL(r.body_len, 0);
    CU_ASSERT_PTR_NULL(r.body);
    vst_http_resp_free(&r);
}

static void test_lenient_forms(void)
{
    /* Bare LF, no reason phrase, same Content-Length twice, obs-text. */
    static const char s[] = "HTTP/1.1 404\nContent-Length: 2\nContent-Length: 2\n"
                            "X-Note: caf\xc3\xa9\n\nno";
    vst_http_resp r;
    CU_ASSERT_EQUAL(parse(s, &r), VST_HR_DONE);
    CU_ASSERT_EQUAL(r.status, 404);
    CU_ASSERT_STRING_EQUAL((char *)r.body, "no");
    vst_http_resp_free(&r);
}

static void test_sticky_and_extra_bytes(void)
{
    static const char s[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA";
    vst_http_resp r;
    vst_http_resp_init(&r, 0);
    size_t used = 0;
    CU_ASSERT_EQUAL(vst_http_resp_feed(&r, s, strlen(s), &used), VST_HR_DONE);
    CU_ASSERT_EQUAL(used, strlen(s) - 5);
    CU_ASSERT_EQUAL(vst_http_resp_feed(&r, "more", 4, &used), VST_HR_DONE);
    CU_ASSERT_EQUAL(used, 0);
    CU_ASSERT_EQUAL(vst_http_resp_eof(&r), VST_HR_DONE);
    CU_ASSERT_EQUAL(vst_http_resp_result(&r), VST_HR_DONE);
    vst_http_resp_free(&r);
    CU_ASSERT_EQUAL(vst_http_resp_result(&r), VST_HR_MORE);
    CU_ASSERT(!vst_http_resp_started(&r));
    CU_ASSERT_EQUAL(r.status, 0);
}

static void test_oversized_values_not_kept(void)
{
    char s[600];
    char v[300];
    memset(v, 'a', sizeof v - 1);
    v[sizeof v - 1] = '\0';
    snprintf(s, sizeof s, "HTTP/1.1 503 x\r\nRetry-After: %s\r\nContent-Length: 0\r\n\r\n", v);
    vst_http_resp r;
    CU_ASSERT_EQUAL(parse(s, &r), VST_HR_DONE);
    CU_ASSERT(!r.has_retry_after);
    vst_http_resp_free(&r);
}

/* ---- response parser: bad input ------------------------------------------- */

static void test_bad_status_lines(void)
{
    expect_error("HTTP/2 200 OK\r\n\r\n", VST_HR_E_STATUS_LINE);
    expect_error("HTTP/1.1 20 OK\r\n\r\n", VST_HR_E_STATUS_LINE);
    expect_error("HTTP/1.1 2000 OK\r\n\r\n", VST_HR_E_STATUS_LINE);
    expect_error("HTTP/1.1 099 x\r\n\r\n", VST_HR_E_STATUS_LINE);
    expect_error("HTTP/1.1 600 x\r\n\r\n", VST_HR_E_STATUS_LINE);
    expect_error("ICY 200 OK\r\n\r\n", VST_HR_E_STATUS_LINE);
    expect_error("http/1.1 200 OK\r\n\r\n", VST_HR_E_STATUS_LINE);
    expect_error("HTTP/1.1 200 O\x01K\r\n\r\n", VST_HR_E_STATUS_LINE);
    expect_error("HTTP/1.1 200 O\rK\r\n\r\n", VST_HR_E_STATUS_LINE);
    expect_error("\r\n", VST_HR_E_STATUS_LINE);
}

static void test_bad_fields(void)
{
    expect_error("HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n", VST_HR_E_HEADER_SYNTAX);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx", VST_HR_E_HEADER_SYNTAX);
    expect_error("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", VST_HR_E_HEADER_SYNTAX);
    expect_error("HTTP/1.1 200 OK\r\n: empty\r\n\r\n", VST_HR_E_HEADER_SYNTAX);
    expect_error("HTTP/1.1 200 OK\r\nX: a\x1b[31m\r\n\r\n", VST_HR_E_HEADER_SYNTAX);
    expect_error("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", VST_HR_E_HEADER_SYNTAX);
    expect_error("HTTP/1.1 200 OK\r\nX\x7f: a\r\n\r\n", VST_HR_E_HEADER_SYNTAX);
    /* a NUL inside a field */
    static const char nul[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
    vst_http_resp r;
    CU_ASSERT_EQUAL(parse_both(nul, sizeof nul - 1, &r, 0), VST_HR_ERROR);
    CU_ASSERT_EQUAL(r.error, VST_HR_E_HEADER_SYNTAX);
    vst_http_resp_free(&r);
}

static void test_bad_framing(void)
{
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
                 VST_HR_E_CONTENT_LENGTH);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", VST_HR_E_CONTENT_LENGTH);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 1,1\r\n\r\n", VST_HR_E_CONTENT_LENGTH);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", VST_HR_E_CONTENT_LENGTH);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", VST_HR_E_CONTENT_LENGTH);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
                 VST_HR_E_CONTENT_LENGTH);
    expect_error("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                 VST_HR_E_CONTENT_LENGTH);
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                 VST_HR_E_TRANSFER_CODING);
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
                 "\r\n\r\n",
                 VST_HR_E_TRANSFER_CODING);
    expect_error("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n",
                 VST_HR_E_TRANSFER_CODING);
}

static void test_bad_chunks(void)
{
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\nabc\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;a\x01\r\nabc\r\n",
        NULL,
    };
    for (size_t i = 0; bad[i] != NULL; i++)
        expect_error(bad[i], VST_HR_E_CHUNK);
}

static void test_caps(void)
{
    /* One line over the cap. */
    size_t n = VST_HR_LINE_MAX + 64;
    char *s = malloc(n + 64);
    int k = snprintf(s, n + 64, "HTTP/1.1 200 OK\r\nX: ");
    memset(s + k, 'a', n - (size_t)k);
    strcpy(s + n, "\r\n\r\n");
    expect_error(s, VST_HR_E_LINE_TOO_LONG);
    free(s);

    /* Lines under the line cap that together exceed the block cap. */
    size_t total = VST_HR_HEADERS_MAX + 1000;
    s = malloc(total + 8000);
    char *p = s + sprintf(s, "HTTP/1.1 200 OK\r\n");
    char val[7001];
    memset(val, 'v', sizeof val - 1);
    val[sizeof val - 1] = '\0';
    while ((size_t)(p - s) < total)
        p += sprintf(p, "X-%d: %s\r\n", (int)(p - s), val);
    strcpy(p, "\r\n");
    expect_error(s, VST_HR_E_HEADERS_TOO_LARGE);

    /* Many tiny fields, under the byte cap but over the count. */
    p = s + sprintf(s, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i <= VST_HR_FIELDS_MAX; i++)
        p += sprintf(p, "X: %d\r\n", i);
    strcpy(p, "\r\n");
    expect_error(s, VST_HR_E_TOO_MANY_FIELDS);
    free(s);

    /* Body caps: by Content-Length (before any body byte), chunked, until close. */
    vst_http_resp r;
    static const char cl[] = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n";
    CU_ASSERT_EQUAL(parse_both(cl, strlen(cl), &r, 10), VST_HR_ERROR);
    CU_ASSERT_EQUAL(r.error, VST_HR_E_BODY_TOO_LARGE);
    vst_http_resp_free(&r);
    static const char cl_ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789";
    CU_ASSERT_EQUAL(parse_both(cl_ok, strlen(cl_ok), &r, 10), VST_HR_DONE);
    vst_http_resp_free(&r);
    static const char ch[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "6\r\n012345\r\n5\r\n";
    CU_ASSERT_EQUAL(parse_both(ch, strlen(ch), &r, 10), VST_HR_ERROR);
    CU_ASSERT_EQUAL(r.error, VST_HR_E_BODY_TOO_LARGE);
    vst_http_resp_free(&r);
    static const char eof[] = "HTTP/1.1 200 OK\r\n\r\n0123456789A";
    CU_ASSERT_EQUAL(parse_both(eof, strlen(eof), &r, 10), VST_HR_ERROR);
    CU_ASSERT_EQUAL(r.error, VST_HR_E_BODY_TOO_LARGE);
    vst_http_resp_free(&r);

    /* A large body that fits, arriving in odd pieces. */
    size_t big = 300000;
    s = malloc(big + 100);
    k = sprintf(s, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", big);
    for (size_t i = 0; i < big; i++)
        s[k + (int)i] = (char)('a' + i % 26);
    vst_http_resp_init(&r, 0);
    vst_hr_result res = VST_HR_MORE;
    for (size_t off = 0, step = 1; off < (size_t)k + big; off += step, step = step * 3 + 1) {
        size_t m = step < (size_t)k + big - off ? step : (size_t)k + big - off;
        res = vst_http_resp_feed(&r, s + off, m, NULL);
    }
    CU_ASSERT_EQUAL(res, VST_HR_DONE);
    CU_ASSERT_EQUAL(r.body_len, big);
    CU_ASSERT(r.body != NULL && memcmp(r.body, s + k, big) == 0 && r.body[big] == 0);
    vst_http_resp_free(&r);
    free(s);
}

static void test_truncated_and_interim(void)
{
    static const char *const cut[] = {
        "",
        "HTTP/1.1 200 OK\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
        NULL,
    };
    for (size_t i = 0; cut[i] != NULL; i++) {
        vst_http_resp r;
        parse(cut[i], &r);
        CU_ASSERT_EQUAL(vst_http_resp_eof(&r), VST_HR_ERROR);
        CU_ASSERT_EQUAL(r.error, VST_HR_E_TRUNCATED);
        vst_http_resp_free(&r);
    }
    expect_error("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
                 VST_HR_E_UNEXPECTED_STATUS);
    char s[1024];
    char *p = s;
    for (int i = 0; i <= VST_HR_INTERIM_MAX; i++)
        p += sprintf(p, "HTTP/1.1 100 Continue\r\n\r\n");
    sprintf(p, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    expect_error(s, VST_HR_E_UNEXPECTED_STATUS);
}

/* Every prefix and every single-byte corruption of a valid response either
 * parses, asks for more, or fails cleanly (ASan watches the rest). */
static void test_mutations(void)
{
    static const char base[] = "HTTP/1.1 422 Unprocessable\r\nContent-Type: application/problem+"
                               "json\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\n{\"a\":\r\n"
                               "2\r\n1}\r\n0\r\nT: v\r\n\r\n";
    size_t n = sizeof base - 1;
    static const char subst[] = {'\0', '\r', '\n', ' ', ':', '0', 'f', 'z', '\x80', '\x7f'};
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < sizeof subst; j++) {
            char *m = malloc(n);
            memcpy(m, base, n);
            m[i] = subst[j];
            vst_http_resp r;
            vst_http_resp_init(&r, 64);
            vst_hr_result res = vst_http_resp_feed(&r, m, n, NULL);
            if (res == VST_HR_MORE)
                res = vst_http_resp_eof(&r);
            CU_ASSERT(res == VST_HR_DONE || (res == VST_HR_ERROR && r.error != VST_HR_E_NONE));
            if (res == VST_HR_DONE)
                CU_ASSERT(r.body_len <= 64);
            vst_http_resp_free(&r);
            free(m);
        }
        vst_http_resp r;
        vst_http_resp_init(&r, 0);
        char *m = malloc(i + 1);
        memcpy(m, base, i);
        CU_ASSERT_EQUAL(vst_http_resp_feed(&r, m, i, NULL), VST_HR_MORE);
        free(m);
        vst_http_resp_free(&r);
    }
}

/* ---- retry schedule, Retry-After ------------------------------------------ */

static void test_backoff(void)
{
    /* Without jitter (rnd 0) half the delay; with maximal jitter the delay. */
    static const uint32_t full[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
    for (unsigned a = 0; a < sizeof full / sizeof full[0]; a++) {
        CU_ASSERT_EQUAL(vst_backoff_ms(a, 0), full[a] - full[a] / 2);
        CU_ASSERT_EQUAL(vst_backoff_ms(a, full[a] / 2), full[a]);
        CU_ASSERT_EQUAL(vst_backoff_ms(a, full[a] / 2 + 1), full[a] - full[a] / 2);
    }
    srand(7);
    for (unsigned a = 0; a < 1000; a += 7)
        for (int i = 0; i < 20; i++) {
            uint32_t d = vst_backoff_ms(a, (uint32_t)rand() * 2654435761u);
            CU_ASSERT(d >= VST_BACKOFF_BASE_MS / 2 && d <= VST_BACKOFF_CAP_MS);
        }
    CU_ASSERT_EQUAL(vst_backoff_ms(4000000000u, UINT32_MAX) <= VST_BACKOFF_CAP_MS, 1);
}

static void test_retry_after(void)
{
    unsigned s = 99;
    CU_ASSERT_EQUAL(vst_retry_after_parse("5", 0, &s), 0);
    CU_ASSERT_EQUAL(s, 5);
    CU_ASSERT_EQUAL(vst_retry_after_parse("0", 0, &s), 0);
    CU_ASSERT_EQUAL(s, 0);
    CU_ASSERT_EQUAL(vst_retry_after_parse("86400", 0, &s), 0);
    CU_ASSERT_EQUAL(s, VST_RETRY_AFTER_CAP_S);
    CU_ASSERT_EQUAL(vst_retry_after_parse("99999999999999999999999", 0, &s), 0);
    CU_ASSERT_EQUAL(s, VST_RETRY_AFTER_CAP_S);
    static const char *const bad[] = {"",
                                      "-1",
                                      "1.5",
                                      " 5",
                                      "5s",
                                      "soon",
                                      "Sun, 06 Nov 1994 08:49:37 UTC",
                                      "Sun, 31 Feb 1994 08:49:37 GMT",
                                      "Sun, 06 Nov 1994 24:49:37 GMT",
                                      "Sunday, 06-Nov-94 08:49:37 GMT",
                                      NULL};
    for (size_t i = 0; bad[i] != NULL; i++)
        CU_ASSERT_EQUAL(vst_retry_after_parse(bad[i], 0, &s), -1);
    /* 1994-11-06T08:49:37Z = 784111777 */
    CU_ASSERT_EQUAL(vst_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", 784111767, &s), 0);
    CU_ASSERT_EQUAL(s, 10);
    CU_ASSERT_EQUAL(vst_retry_after_parse("Sun, 06 Nov 1994 08:49:37 GMT", 784111787, &s), 0);
    CU_ASSERT_EQUAL(s, 0);
    CU_ASSERT_EQUAL(vst_retry_after_parse("Thu, 29 Feb 2024 00:00:00 GMT", 1709164800 - 100, &s),
                    0);
    CU_ASSERT_EQUAL(s, 100);
    CU_ASSERT_EQUAL(vst_retry_after_parse("Fri, 01 Jan 2100 00:00:00 GMT", 0, &s), 0);
    CU_ASSERT_EQUAL(s, VST_RETRY_AFTER_CAP_S);
}

/* ---- arguments ------------------------------------------------------------ */

static void test_delivery_id(void)
{
    char id[VST_DELIVERY_ID_MAX + 2];
    memset(id, 'a', sizeof id);
    CU_ASSERT(vst_delivery_id_ok(id, VST_DELIVERY_ID_MAX));
    CU_ASSERT(!vst_delivery_id_ok(id, VST_DELIVERY_ID_MAX + 1));
    static const char *const good[] = {"2024Q1-AOK.part_1", "x", "A-Z.a_z-0.9", NULL};
    static const char *const bad[] = {"",         "a b",  "a/b", "a%2f", "a?b", "a#b",
                                      "\xc3\xa4", "a\nb", "a+b", "a:b",  NULL};
    for (size_t i = 0; good[i] != NULL; i++)
        CU_ASSERT(vst_delivery_id_ok(good[i], strlen(good[i])));
    for (size_t i = 0; bad[i] != NULL; i++)
        CU_ASSERT(!vst_delivery_id_ok(bad[i], strlen(bad[i])));
}

static void test_url(void)
{
    vst_url u;
    char err[256];
    CU_ASSERT_EQUAL(vst_url_parse("https://127.0.0.1:8443", &u, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(u.host, "127.0.0.1");
    CU_ASSERT_STRING_EQUAL(u.port, "8443");
    CU_ASSERT_EQUAL(u.host_is_ip, 4);
    CU_ASSERT_STRING_EQUAL(u.prefix, "");
    CU_ASSERT_STRING_EQUAL(u.host_header, "127.0.0.1:8443");

    CU_ASSERT_EQUAL(vst_url_parse("HTTPS://vst.example.org/api/", &u, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(u.host, "vst.example.org");
    CU_ASSERT_STRING_EQUAL(u.port, "443");
    CU_ASSERT_EQUAL(u.host_is_ip, 0);
    CU_ASSERT_STRING_EQUAL(u.prefix, "/api");
    CU_ASSERT_STRING_EQUAL(u.host_header, "vst.example.org");

    CU_ASSERT_EQUAL(vst_url_parse("https://[::1]:9443/", &u, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(u.host, "::1");
    CU_ASSERT_EQUAL(u.host_is_ip, 6);
    CU_ASSERT_STRING_EQUAL(u.host_header, "[::1]:9443");
    CU_ASSERT_STRING_EQUAL(u.prefix, "");

    static const char *const bad[] = {
        "http://127.0.0.1",
        "127.0.0.1:8443",
        "https://",
        "https://:8443",
        "https://h:0",
        "https://h:65536",
        "https://h:",
        "https://h:84a3",
        "https://user@h",
        "https://h/a?b=c",
        "https://h/#x",
        "https://h_x",
        "https://[::1",
        "https://[zz::1]",
        "https://[::1]x",
        "https://h/a b",
        "https://h/%2e%2e",
        "https://h:8443:1",
        NULL,
    };
    for (size_t i = 0; bad[i] != NULL; i++) {
        CU_ASSERT_EQUAL(vst_url_parse(bad[i], &u, err, sizeof err), -1);
        CU_ASSERT(err[0] != '\0');
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

static EVP_PKEY *new_ed25519(void)
{
    EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    EVP_PKEY *k = NULL;
    CU_ASSERT_FATAL(kc != NULL && EVP_PKEY_keygen_init(kc) == 1 && EVP_PKEY_keygen(kc, &k) == 1);
    EVP_PKEY_CTX_free(kc);
    return k;
}

static void raw_pub(EVP_PKEY *k, uint8_t pub[VST_ED25519_PUB_LEN])
{
    size_t n = VST_ED25519_PUB_LEN;
    CU_ASSERT_FATAL(EVP_PKEY_get_raw_public_key(k, pub, &n) == 1 && n == VST_ED25519_PUB_LEN);
}

static void test_pubkey_arg(void)
{
    uint8_t want[VST_ED25519_PUB_LEN], got[VST_ED25519_PUB_LEN];
    char hex[2 * VST_ED25519_PUB_LEN + 1], err[256], path[] = "/tmp/vst-send-test-XXXXXX";
    EVP_PKEY *k = new_ed25519();
    raw_pub(k, want);
    vst_hex(want, sizeof want, hex);

    CU_ASSERT_EQUAL(vst_pubkey_arg(hex, got, err, sizeof err), 0);
    CU_ASSERT(memcmp(got, want, sizeof want) == 0);
    for (char *p = hex; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    CU_ASSERT_EQUAL(vst_pubkey_arg(hex, got, err, sizeof err), 0);
    CU_ASSERT(memcmp(got, want, sizeof want) == 0);

    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    char text[200];
    snprintf(text, sizeof text, "  %s\n", hex);
    write_file(path, text);
    memset(got, 0, sizeof got);
    CU_ASSERT_EQUAL(vst_pubkey_arg(path, got, err, sizeof err), 0);
    CU_ASSERT(memcmp(got, want, sizeof want) == 0);

    FILE *f = fopen(path, "w");
    PEM_write_PUBKEY(f, k);
    fclose(f);
    memset(got, 0, sizeof got);
    CU_ASSERT_EQUAL(vst_pubkey_arg(path, got, err, sizeof err), 0);
    CU_ASSERT(memcmp(got, want, sizeof want) == 0);

    write_file(path, "-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n");
    CU_ASSERT_EQUAL(vst_pubkey_arg(path, got, err, sizeof err), -1);
    hex[63] = '\0';
    write_file(path, hex);
    CU_ASSERT_EQUAL(vst_pubkey_arg(path, got, err, sizeof err), -1);
    CU_ASSERT_EQUAL(vst_pubkey_arg(hex, got, err, sizeof err), -1); /* 63 digits: no such file */
    CU_ASSERT_EQUAL(vst_pubkey_arg("/nonexistent/key", got, err, sizeof err), -1);
    unlink(path);
    EVP_PKEY_free(k);
}

/* ---- receipts ------------------------------------------------------------- */

static EVP_PKEY *sign_key;
static uint8_t sign_pub[VST_ED25519_PUB_LEN];
static const uint8_t body_sha[VST_SHA256_LEN] = {0x11, 0x22, 0x33, 0x44, 0x55};

static int receipt_suite_init(void)
{
    EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    size_t n = VST_ED25519_PUB_LEN;
    int ok = kc != NULL && EVP_PKEY_keygen_init(kc) == 1 && EVP_PKEY_keygen(kc, &sign_key) == 1 &&
             EVP_PKEY_get_raw_public_key(sign_key, sign_pub, &n) == 1;
    EVP_PKEY_CTX_free(kc);
    return ok ? 0 : -1;
}

static int receipt_suite_clean(void)
{
    EVP_PKEY_free(sign_key);
    return 0;
}

static void fields(vst_receipt_fields *f)
{
    memset(f, 0, sizeof *f);
    strcpy(f->delivery_id, "2026Q4-AOK.1");
    strcpy(f->client, "AOK Nordost (IK 109519005)");
    strcpy(f->profile, "sgb5");
    f->record_count = 1000;
    memcpy(f->body_sha256, body_sha, sizeof body_sha);
    f->key_version = 2;
    f->received_at_us = 1795359427123456;
    f->stored_at_us = 1795359428000001;
    f->audit_seq = 77;
    f->version = VST_RECEIPT_V2;
}

/* The receipt document for f, signed by key (sign_key if NULL). */
static char *signed_doc(const vst_receipt_fields *f, EVP_PKEY *key, int with_pub)
{
    uint8_t tbs[VST_RECEIPT_TBS_MAX], sig[VST_ED25519_SIG_LEN], pub[VST_ED25519_PUB_LEN];
    size_t n = vst_receipt_tbs(f, tbs), sl = sizeof sig;
    CU_ASSERT_FATAL(n > 0);
    key = key ? key : sign_key;
    raw_pub(key, pub);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    CU_ASSERT_FATAL(EVP_DigestSignInit(md, NULL, NULL, NULL, key) == 1 &&
                    EVP_DigestSign(md, sig, &sl, tbs, n) == 1);
    EVP_MD_CTX_free(md);
    char *doc = vst_receipt_json_build(f, sig, with_pub ? pub : NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    return doc;
}

static vst_rcpt_check check(const char *doc, const char *id, const char *profile,
                            const uint8_t *sha, const uint8_t *pinned)
{
    vst_rcpt_expect e = {
        .delivery_id = id, .profile = profile, .body_sha256 = sha, .pinned_key = pinned};
    vst_receipt r;
    char msg[400] = "";
    vst_rcpt_check c = vst_receipt_check(doc, strlen(doc), &e, &r, msg, sizeof msg);
    CU_ASSERT((c == VST_RCPT_OK) == (msg[0] == '\0'));
    return c;
}

static void test_receipt_valid(void)
{
    vst_receipt_fields f;
    fields(&f);
    char *doc = signed_doc(&f, NULL, 1);
    CU_ASSERT_EQUAL(check(doc, "2026Q4-AOK.1", NULL, body_sha, sign_pub), VST_RCPT_OK);
    CU_ASSERT_EQUAL(check(doc, "2026Q4-AOK.1", "sgb5", body_sha, sign_pub), VST_RCPT_OK);
    CU_ASSERT_EQUAL(check(doc, "2026Q4-AOK.1", NULL, body_sha, NULL), VST_RCPT_OK);

    vst_rcpt_expect e = {
        .delivery_id = "2026Q4-AOK.1", .body_sha256 = body_sha, .pinned_key = sign_pub};
    vst_receipt r;
    char msg[200];
    CU_ASSERT_EQUAL(vst_receipt_check(doc, strlen(doc), &e, &r, msg, sizeof msg), VST_RCPT_OK);
    char out[4096] = "";
    FILE *m = fmemopen(out, sizeof out, "w");
    vst_receipt_print(m, &r, "stored (201 Created)", "pinned");
    fclose(m);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "status        stored (201 Created)\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "client        AOK Nordost (IK 109519005)\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "record_count  1000\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "received_at   2026-11-22T14:57:07.123456Z\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "body_sha256   1122334455000000"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "audit_seq     77\n"));
    CU_ASSERT_PTR_NULL(strstr(out, "withheld")); /* none withheld: no line */
    free(doc);

    /* Records withheld (issue 12): one more line, after record_count. */
    f.withheld_count = 4;
    doc = signed_doc(&f, NULL, 1);
    CU_ASSERT_EQUAL(vst_receipt_check(doc, strlen(doc), &e, &r, msg, sizeof msg), VST_RCPT_OK);
    m = fmemopen(out, sizeof out, "w");
    vst_receipt_print(m, &r, "stored (201 Created)", "pinned");
    fclose(m);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "record_count  1000\nwithheld      4 (objections: "
                                       "validated, not stored)\nbody_sha256"));
    free(doc);
    /* A receipt from before issue 12 (v1) verifies as it was signed. */
    f.withheld_count = 0;
    f.version = VST_RECEIPT_V1;
    doc = signed_doc(&f, NULL, 1);
    CU_ASSERT_PTR_NULL(strstr(doc, "withheld"));
    CU_ASSERT_EQUAL(vst_receipt_check(doc, strlen(doc), &e, &r, msg, sizeof msg), VST_RCPT_OK);
    CU_ASSERT_EQUAL(r.f.version, VST_RECEIPT_V1);
    free(doc);
}

static void test_receipt_rejected(void)
{
    vst_receipt_fields f;
    fields(&f);
    char *doc = signed_doc(&f, NULL, 1);
    uint8_t other_sha[VST_SHA256_LEN] = {0x11, 0x22, 0x33, 0x44, 0x56};
    CU_ASSERT_EQUAL(check(doc, "2026Q4-AOK.2", NULL, body_sha, sign_pub), VST_RCPT_ID_MISMATCH);
    CU_ASSERT_EQUAL(check(doc, "2026Q4-AOK.1", "measles", body_sha, sign_pub),
                    VST_RCPT_PROFILE_MISMATCH);
    CU_ASSERT_EQUAL(check(doc, "2026Q4-AOK.1", NULL, other_sha, sign_pub), VST_RCPT_SHA_MISMATCH);

    /* Pinned key differs from the signer (whatever key the receipt names). */
    EVP_PKEY *rogue = new_ed25519();
    char *forged = signed_doc(&f, rogue, 1);
    CU_ASSERT_EQUAL(check(forged, "2026Q4-AOK.1", NULL, body_sha, sign_pub),
                    VST_RCPT_BAD_SIGNATURE);
    /* Unpinned, a self-consistent forgery verifies: hence the warning. */
    CU_ASSERT_EQUAL(check(forged, "2026Q4-AOK.1", NULL, body_sha, NULL), VST_RCPT_OK);
    free(forged);
    EVP_PKEY_free(rogue);

    /* No key anywhere. */
    char *nopub = signed_doc(&f, NULL, 0);
    CU_ASSERT_EQUAL(check(nopub, "2026Q4-AOK.1", NULL, body_sha, NULL), VST_RCPT_NO_KEY);
    CU_ASSERT_EQUAL(check(nopub, "2026Q4-AOK.1", NULL, body_sha, sign_pub), VST_RCPT_OK);
    free(nopub);

    /* A signed field changed after signing: the signature fails, whatever
     * else matches. */
    char *t = strdup(doc);
    char *rc = strstr(t, "\"record_count\":1000");
    CU_ASSERT_PTR_NOT_NULL_FATAL(rc);
    rc[strlen("\"record_count\":1")] = '1'; /* 1100 */
    CU_ASSERT_EQUAL(check(t, "2026Q4-AOK.1", NULL, body_sha, sign_pub), VST_RCPT_BAD_SIGNATURE);
    free(t);
    /* A flipped signature bit. */
    t = strdup(doc);
    char *sg = strstr(t, "\"signature\":\"") + 13;
    sg[5] = sg[5] == '0' ? '1' : '0';
    CU_ASSERT_EQUAL(check(t, "2026Q4-AOK.1", NULL, body_sha, sign_pub), VST_RCPT_BAD_SIGNATURE);
    free(t);

    static const char *const junk[] = {"",  "null", "[]", "{}", "<html>", "{\"delivery_id\":1}",
                                       NULL};
    for (size_t i = 0; junk[i] != NULL; i++)
        CU_ASSERT_EQUAL(check(junk[i], "2026Q4-AOK.1", NULL, body_sha, sign_pub),
                        VST_RCPT_MALFORMED);
    free(doc);
}

/* ---- refusal report ------------------------------------------------------- */

static void report(int status, const char *body, char *out, size_t outlen, char *sum, size_t sumlen,
                   size_t max_errors)
{
    memset(out, 0, outlen);
    FILE *m = fmemopen(out, outlen, "w");
    vst_problem_report(m, status, (const uint8_t *)body, body ? strlen(body) : 0, max_errors, sum,
                       sumlen);
    fclose(m);
}

static void test_problem_422(void)
{
    static const char body[] =
        "{\"type\":\"urn:vst:problem:invalid_records\",\"title\":\"the delivery has invalid "
        "records; nothing was stored\",\"status\":422,\"code\":\"invalid_records\",\"detail\":"
        "\"3 error(s); nothing was stored\",\"errors_total\":3,\"errors\":["
        "{\"line\":1,\"field\":\"insured.kvnr\",\"code\":\"id_check_digit\"},"
        "{\"line\":17,\"field\":\"service.icd10[2]\",\"code\":\"pattern_mismatch\"},"
        "{\"line\":99,\"field\":\"\",\"code\":\"line_too_long\"}]}";
    char out[4096], sum[256];
    report(422, body, out, sizeof out, sum, sizeof sum, 1000);
    CU_ASSERT_STRING_EQUAL(sum, "delivery refused (422 invalid_records): 3 errors");
    CU_ASSERT_STRING_EQUAL(out, "vst-send: the delivery has invalid records; nothing was stored\n"
                                "vst-send: 3 error(s); nothing was stored\n"
                                "vst-send:   line 1: insured.kvnr: id_check_digit\n"
                                "vst-send:   line 17: service.icd10[2]: pattern_mismatch\n"
                                "vst-send:   line 99: line_too_long\n");
    /* Capped listing, and a total larger than the list. */
    static const char more[] = "{\"code\":\"invalid_records\",\"errors_total\":5000,\"errors\":["
                               "{\"line\":1,\"field\":\"a\",\"code\":\"x\"},"
                               "{\"line\":2,\"field\":\"b\",\"code\":\"y\"}]}";
    report(422, more, out, sizeof out, sum, sizeof sum, 1);
    CU_ASSERT_STRING_EQUAL(sum, "delivery refused (422 invalid_records): 5000 errors");
    CU_ASSERT_STRING_EQUAL(out, "vst-send:   line 1: a: x\n"
                                "vst-send:   ... 1 more not shown\n"
                                "vst-send:   (5000 errors in total; the server listed 2)\n");
}

static void test_problem_other(void)
{
    char out[4096], sum[256];
    report(403,
           "{\"title\":\"the client certificate has been revoked\",\"status\":403,"
           "\"code\":\"client_revoked\",\"detail\":\"the client certificate has been revoked\"}",
           out, sizeof out, sum, sizeof sum, 10);
    CU_ASSERT_STRING_EQUAL(sum, "delivery refused (403 client_revoked): the client certificate "
                                "has been revoked");
    CU_ASSERT_STRING_EQUAL(out, "vst-send: the client certificate has been revoked\n");

    /* Hostile text: escape sequences and newlines never reach the terminal. */
    report(400, "{\"title\":\"a\\u001b[2Jb\\nc\",\"code\":\"x\\u0007\"}", out, sizeof out, sum,
           sizeof sum, 10);
    CU_ASSERT_PTR_NULL(strchr(out, '\x1b'));
    CU_ASSERT_STRING_EQUAL(out, "vst-send: a?[2Jb?c\n");
    CU_ASSERT_STRING_EQUAL(sum, "delivery refused (400 x?): a?[2Jb?c");

    /* Not JSON at all (a proxy's page). */
    report(413, "<html>\x1b]0;pwned\x07</html>", out, sizeof out, sum, sizeof sum, 10);
    CU_ASSERT_STRING_EQUAL(out, "vst-send: server said: <html>?]0;pwned?</html>\n");
    CU_ASSERT_STRING_EQUAL(sum, "delivery refused (413)");
    report(415, NULL, out, sizeof out, sum, sizeof sum, 10);
    CU_ASSERT_STRING_EQUAL(out, "");
    CU_ASSERT_STRING_EQUAL(sum, "delivery refused (415)");
}

static void test_sanitize(void)
{
    char out[8];
    vst_sanitize("abc", out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "abc");
    vst_sanitize("abcdefghij", out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "abcd...");
    vst_sanitize("\xc3\xa4\t", out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "???");
    vst_sanitize(NULL, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "");
}

static void test_progress_format(void)
{
    char b[200];
    vst_progress_format(b, sizeof b, 450000000, 1000000000, 1234567, 5.0);
    CU_ASSERT_STRING_EQUAL(b, " 45%  450.0 of 1000.0 MB  90.0 MB/s  1234567 records  246913 "
                              "records/s");
    vst_progress_format(b, sizeof b, 0, 0, 0, 0);
    CU_ASSERT_STRING_EQUAL(b, "100%  0.0 of 0.0 MB  0.0 MB/s  0 records  0 records/s");
}

/* ---- registry ------------------------------------------------------------- */

static const vst_test parser_tests[] = {
    {"Content-Length body", test_content_length},
    {"chunked body with extensions and trailer", test_chunked},
    {"body delimited by the connection's end", test_until_close},
    {"1xx skipped, 204 without body", test_interim_and_no_body},
    {"bare LF, no reason, repeated equal Content-Length", test_lenient_forms},
    {"result is sticky, extra bytes unconsumed", test_sticky_and_extra_bytes},
    {"oversized header values are not kept", test_oversized_values_not_kept},
    {"malformed status lines", test_bad_status_lines},
    {"malformed header fields", test_bad_fields},
    {"conflicting or unsupported framing", test_bad_framing},
    {"malformed chunks", test_bad_chunks},
    {"line, header block, field count and body caps", test_caps},
    {"truncation, 101 and endless 1xx", test_truncated_and_interim},
    {"every prefix and single-byte mutation", test_mutations},
    {NULL, NULL},
};

static const vst_test util_tests[] = {
    {"backoff 0.5 s doubling to 30 s with jitter", test_backoff},
    {"Retry-After seconds and dates, capped", test_retry_after},
    {"delivery id grammar", test_delivery_id},
    {"server URL", test_url},
    {"pinned key: hex, hex file, PEM file", test_pubkey_arg},
    {"progress figures", test_progress_format},
    {NULL, NULL},
};

static const vst_test receipt_tests[] = {
    {"valid receipt, pinned and unpinned", test_receipt_valid},
    {"forged, tampered, mismatched, malformed receipts", test_receipt_rejected},
    {NULL, NULL},
};

static const vst_test report_tests[] = {
    {"422 with line/field/code errors", test_problem_422},
    {"other refusals, hostile and non-JSON bodies", test_problem_other},
    {"sanitize", test_sanitize},
    {NULL, NULL},
};

int vst_register_tests(void)
{
    VST_ADD_SUITE("send/http_response", parser_tests);
    VST_ADD_SUITE("send/util", util_tests);
    CU_pSuite s = CU_add_suite("send/receipt", receipt_suite_init, receipt_suite_clean);
    if (s == NULL)
        return CU_get_error();
    for (size_t i = 0; receipt_tests[i].name != NULL; i++)
        if (CU_add_test(s, receipt_tests[i].name, receipt_tests[i].fn) == NULL)
            return CU_get_error();
    VST_ADD_SUITE("send/report", report_tests);
    return CUE_SUCCESS;
}
