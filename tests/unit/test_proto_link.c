/* The linkage messages of the keyd protocol (server/wire/codec_link.c,
 * overlap_tbs.c; DESIGN.md §13): round trips that keep every field, and
 * every rejection — a person outside the normalized form (lowercase, an
 * umlaut's bytes, a digit, token lengths and counts, a bad date, sex 'F'),
 * counts against lengths, names and filters outside their grammar, an
 * answer keyd's suppression could not have given — and the signed form of
 * an answer, byte for byte. The generic round-trip, truncation and
 * extra-byte tests of test_proto.c cover these types too. Decoders run on
 * exactly sized heap copies (ASan sees any read past the payload). */
#include "cunit_main.h"

#include <stdlib.h>
#include <string.h>

#include "wire/proto.h"
#include "test_person.h"

static void good_person(vst_person *p)
{
    mkperson(p, "MIA SOPHIE", "MUELLER LUEDENSCHEIDT", "SCHMIDT", "20190304", 'W');
}

/* Decodes one person from an exactly sized heap copy of b[0..n). */
static int person_bytes(const uint8_t *b, size_t n, vst_person *out, size_t *used)
{
    uint8_t *c = malloc(n ? n : 1);
    CU_ASSERT_FATAL(c != NULL);
    memcpy(c, b, n);
    const uint8_t *at = c;
    int rc = vst_person_decode(&at, c + n, out);
    if (used != NULL)
        *used = (size_t)(at - c);
    free(c);
    return rc;
}

/* The encoding of good_person with byte i replaced by v, decoded. */
static int patched(size_t i, uint8_t v)
{
    vst_person p, q;
    vst_wr w = VST_WR_INIT;
    good_person(&p);
    CU_ASSERT_FATAL(vst_person_encode(&w, &p) == 0);
    uint8_t *b = malloc(vst_wr_len(&w));
    CU_ASSERT_FATAL(b != NULL);
    memcpy(b, vst_wr_data(&w), vst_wr_len(&w));
    CU_ASSERT_FATAL(i < vst_wr_len(&w));
    b[i] = v;
    int rc = person_bytes(b, vst_wr_len(&w), &q, NULL);
    free(b);
    vst_wr_free(&w);
    return rc;
}

static void test_person_roundtrip(void)
{
    vst_person p, q;
    vst_wr w = VST_WR_INIT;
    size_t used;
    good_person(&p);
    CU_ASSERT_FATAL(vst_person_encode(&w, &p) == 0);
    /* sex, date, 2 given tokens (3+6), 2 family (7+14), 1 birth (7) */
    CU_ASSERT(vst_wr_len(&w) == 1 + 8 + (1 + 4 + 7) + (1 + 8 + 14) + (1 + 8));
    CU_ASSERT_FATAL(person_bytes(vst_wr_data(&w), vst_wr_len(&w), &q, &used) == 0);
    CU_ASSERT(used == vst_wr_len(&w));
    CU_ASSERT(memcmp(&p, &q, sizeof p) == 0);
    CU_ASSERT(strcmp(q.family.tok[1], "LUEDENSCHEIDT") == 0 && q.birth.n == 1);
    vst_wr_free(&w);
    /* No birth name, the longest token, eight tokens. */
    mkperson(&p, "A B C D E F G H", "XAVERIUSXAVERIUSXAVERIUSXAVERIUSXAVERIUS", "", "00010101",
             'X');
    CU_ASSERT(p.family.len[0] == 40);
    CU_ASSERT_FATAL(vst_person_encode(&w, &p) == 0);
    CU_ASSERT_FATAL(person_bytes(vst_wr_data(&w), vst_wr_len(&w), &q, NULL) == 0);
    CU_ASSERT(memcmp(&p, &q, sizeof p) == 0 && q.birth.n == 0 && q.given.n == 8);
    vst_wr_free(&w);
    /* Leap days. */
    mkperson(&p, "A", "B", "", "20000229", 'D');
    CU_ASSERT(vst_person_encode(&w, &p) == 0);
    vst_wr_free(&w);
}

/* Offsets in good_person's encoding: 0 sex, 1..8 date, 9 given n, 10 len
 * of MIA, 11..13 MIA. */
static void test_person_rejects_bytes(void)
{
    CU_ASSERT(patched(0, 'F') == VST_PROTO_E_FIELD); /* sex F is normalized to W, never sent */
    CU_ASSERT(patched(0, 'w') == VST_PROTO_E_FIELD);
    CU_ASSERT(patched(0, 0) == VST_PROTO_E_FIELD);
    CU_ASSERT(patched(0, 'M') == 0 && patched(0, 'D') == 0 && patched(0, 'X') == 0);
    CU_ASSERT(patched(1, 'x') == VST_PROTO_E_FIELD);   /* date not digits */
    CU_ASSERT(patched(5, '3') == VST_PROTO_E_FIELD);   /* month 13... "20193304" */
    CU_ASSERT(patched(12, 'i') == VST_PROTO_E_FIELD);  /* lowercase */
    CU_ASSERT(patched(12, 0xC3) == VST_PROTO_E_FIELD); /* the first byte of Ü in UTF-8 */
    CU_ASSERT(patched(12, 0x9C) == VST_PROTO_E_FIELD);
    CU_ASSERT(patched(12, '1') == VST_PROTO_E_FIELD);
    CU_ASSERT(patched(12, ' ') == VST_PROTO_E_FIELD);
    CU_ASSERT(patched(12, '-') == VST_PROTO_E_FIELD);
    CU_ASSERT(patched(12, 0) == VST_PROTO_E_FIELD);
    CU_ASSERT(patched(12, 'Z') == 0 && patched(12, 'A') == 0);
    /* Every byte value in a token: exactly A-Z pass. */
    for (unsigned v = 0; v < 256; v++)
        CU_ASSERT((patched(11, (uint8_t)v) == 0) == (v >= 'A' && v <= 'Z'));
    CU_ASSERT(patched(9, 0) == VST_PROTO_E_FIELD);  /* no given token */
    CU_ASSERT(patched(9, 9) == VST_PROTO_E_FIELD);  /* nine tokens */
    CU_ASSERT(patched(10, 0) == VST_PROTO_E_FIELD); /* empty token */
    CU_ASSERT(patched(10, 41) == VST_PROTO_E_FIELD);
}

static int date_rc(const char *date)
{
    vst_person p;
    vst_wr w = VST_WR_INIT;
    mkperson(&p, "MIA", "B", "", "20190304", 'W');
    int rc = vst_person_encode(&w, &p);
    CU_ASSERT_FATAL(rc == 0);
    uint8_t *b = malloc(vst_wr_len(&w));
    CU_ASSERT_FATAL(b != NULL);
    memcpy(b, vst_wr_data(&w), vst_wr_len(&w));
    memcpy(b + 1, date, 8);
    rc = person_bytes(b, vst_wr_len(&w), &p, NULL);
    free(b);
    /* The encoder refuses what the decoder refuses. */
    vst_person q;
    mkperson(&q, "MIA", "B", "", date, 'W');
    vst_wr_reset(&w);
    CU_ASSERT(vst_person_encode(&w, &q) == rc && (rc == 0 || vst_wr_len(&w) == 0));
    vst_wr_free(&w);
    return rc;
}

static void test_person_dates(void)
{
    CU_ASSERT(date_rc("20190304") == 0);
    CU_ASSERT(date_rc("20240229") == 0);
    CU_ASSERT(date_rc("99991231") == 0);
    CU_ASSERT(date_rc("20230229") == VST_PROTO_E_FIELD);
    CU_ASSERT(date_rc("19000229") == VST_PROTO_E_FIELD);
    CU_ASSERT(date_rc("20231301") == VST_PROTO_E_FIELD);
    CU_ASSERT(date_rc("20230001") == VST_PROTO_E_FIELD);
    CU_ASSERT(date_rc("20230431") == VST_PROTO_E_FIELD);
    CU_ASSERT(date_rc("20230100") == VST_PROTO_E_FIELD);
    CU_ASSERT(date_rc("00000101") == VST_PROTO_E_FIELD);
    CU_ASSERT(date_rc("2019-3-4") == VST_PROTO_E_FIELD);
    CU_ASSERT(date_rc("2019030a") == VST_PROTO_E_FIELD);
}

static void test_person_encoder_checks(void)
{
    vst_person p;
    vst_wr w = VST_WR_INIT;
    CU_ASSERT(vst_wr_u8(&w, 0x42) == 0); /* the writer keeps what it had */
    good_person(&p);
    p.given.tok[0][1] = 'i';
    CU_ASSERT(vst_person_encode(&w, &p) == VST_PROTO_E_FIELD);
    good_person(&p);
    p.family.len[0] = 3; /* disagrees with the token */
    CU_ASSERT(vst_person_encode(&w, &p) == VST_PROTO_E_FIELD);
    good_person(&p);
    p.birth.n = 9;
    CU_ASSERT(vst_person_encode(&w, &p) == VST_PROTO_E_FIELD);
    good_person(&p);
    p.family.n = 0;
    CU_ASSERT(vst_person_encode(&w, &p) == VST_PROTO_E_FIELD);
    good_person(&p);
    p.sex = 'F';
    CU_ASSERT(vst_person_encode(&w, &p) == VST_PROTO_E_FIELD);
    CU_ASSERT(vst_person_encode(&w, NULL) == VST_PROTO_E_ARG);
    CU_ASSERT(vst_wr_len(&w) == 1);
    vst_wr_free(&w);
    /* A truncated person is short, not a field error. */
    good_person(&p);
    CU_ASSERT_FATAL(vst_person_encode(&w, &p) == 0);
    for (size_t n = 0; n < vst_wr_len(&w); n++)
        CU_ASSERT(person_bytes(vst_wr_data(&w), n, &p, NULL) == VST_PROTO_E_SHORT);
    vst_wr_free(&w);
}

static int decode_copy(uint8_t type, const uint8_t *p, size_t len, vst_msg *m)
{
    uint8_t *c = malloc(len ? len : 1);
    CU_ASSERT_FATAL(c != NULL);
    memcpy(c, p, len);
    int rc = vst_msg_decode(type, c, len, m);
    free(c);
    return rc;
}

static void test_cv_request(void)
{
    vst_person p[3];
    vst_wr w = VST_WR_INIT;
    vst_msg m;
    good_person(&p[0]);
    mkperson(&p[1], "NOAH", "OEZTUERK", "", "20181231", 'M');
    mkperson(&p[2], "LEA", "BECKER", "", "20200101", 'D');
    CU_ASSERT_FATAL(vst_cv_req_encode(&w, "ph/child", "measles_case", p, 3) == 0);
    CU_ASSERT_FATAL(decode_copy(VST_MSG_CV_DERIVE, vst_wr_data(&w), vst_wr_len(&w), &m) == 0);
    CU_ASSERT(strcmp(m.cv_req.domain, "ph/child") == 0 && m.cv_req.count == 3);
    CU_ASSERT(strcmp(m.cv_req.collection, "measles_case") == 0);
    CU_ASSERT(m.cv_req.persons_len == vst_wr_len(&w) - (1 + 8 + 1 + 12 + 4));
    /* The count must describe the persons exactly. */
    uint8_t *b = malloc(vst_wr_len(&w) + 1);
    CU_ASSERT_FATAL(b != NULL);
    memcpy(b, vst_wr_data(&w), vst_wr_len(&w));
    size_t count_at = 1 + 8 + 1 + 12;
    b[count_at + 3] = 2;
    CU_ASSERT(decode_copy(VST_MSG_CV_DERIVE, b, vst_wr_len(&w), &m) == VST_PROTO_E_TRAILING);
    b[count_at + 3] = 4;
    CU_ASSERT(decode_copy(VST_MSG_CV_DERIVE, b, vst_wr_len(&w), &m) == VST_PROTO_E_SHORT);
    b[count_at + 3] = 0;
    CU_ASSERT(decode_copy(VST_MSG_CV_DERIVE, b, vst_wr_len(&w), &m) == VST_PROTO_E_RANGE);
    b[count_at] = 1; /* 16777219 persons: refused before any is read */
    b[count_at + 3] = 3;
    CU_ASSERT(decode_copy(VST_MSG_CV_DERIVE, b, vst_wr_len(&w), &m) == VST_PROTO_E_RANGE);
    b[count_at] = 0;
    b[count_at + 2] = 0x40; /* 16387: over VST_CV_BATCH_MAX */
    CU_ASSERT(decode_copy(VST_MSG_CV_DERIVE, b, vst_wr_len(&w), &m) == VST_PROTO_E_RANGE);
    b[count_at + 2] = 0;
    /* A bad person anywhere in the batch refuses the batch. */
    b[vst_wr_len(&w) - 1] = 'e'; /* last letter of BECKER */
    CU_ASSERT(decode_copy(VST_MSG_CV_DERIVE, b, vst_wr_len(&w), &m) == VST_PROTO_E_FIELD);
    b[vst_wr_len(&w) - 1] = 'R';
    b[1] = 'P'; /* the domain's grammar */
    CU_ASSERT(decode_copy(VST_MSG_CV_DERIVE, b, vst_wr_len(&w), &m) == VST_PROTO_E_CHARSET);
    free(b);
    vst_wr_free(&w);
    /* Encoder: names, counts, a bad person (nothing written). */
    CU_ASSERT(vst_cv_req_encode(&w, "PH", "measles_case", p, 1) == VST_PROTO_E_CHARSET);
    CU_ASSERT(vst_cv_req_encode(&w, "ph/child", "", p, 1) == VST_PROTO_E_RANGE);
    CU_ASSERT(vst_cv_req_encode(&w, "ph/child", "c", p, 0) == VST_PROTO_E_RANGE);
    CU_ASSERT(vst_cv_req_encode(&w, "ph/child", "c", p, VST_CV_BATCH_MAX + 1) == VST_PROTO_E_RANGE);
    CU_ASSERT(vst_cv_req_encode(&w, "ph/child", "c", NULL, 1) == VST_PROTO_E_ARG);
    p[2].sex = 'F';
    CU_ASSERT(vst_cv_req_encode(&w, "ph/child", "c", p, 3) == VST_PROTO_E_FIELD);
    CU_ASSERT(vst_wr_len(&w) == 0);
    vst_wr_free(&w);
}

static void test_cv_values(void)
{
    static uint8_t v[3 * VST_CV_RECORD_LEN];
    vst_wr w = VST_WR_INIT;
    vst_msg m;
    vst_cv_ok ok = {7, 3, v};
    CU_ASSERT_FATAL(vst_cv_ok_encode(&w, &ok) == 0);
    CU_ASSERT(vst_wr_len(&w) == 8 + 3 * 96);
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_CV_DERIVE), vst_wr_data(&w), vst_wr_len(&w), &m) ==
                  0 &&
              m.cv_ok.key_version == 7 && m.cv_ok.count == 3);
    /* Count against length: one record short, one byte over. */
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_CV_DERIVE), vst_wr_data(&w), vst_wr_len(&w) - 96,
                          &m) == VST_PROTO_E_SHORT);
    vst_wr_free(&w);
    ok.key_version = 0;
    CU_ASSERT(vst_cv_ok_encode(&w, &ok) == VST_PROTO_E_RANGE);
    ok = (vst_cv_ok){1, 0, v};
    CU_ASSERT(vst_cv_ok_encode(&w, &ok) == VST_PROTO_E_RANGE);
    ok = (vst_cv_ok){1, 1, NULL};
    CU_ASSERT(vst_cv_ok_encode(&w, &ok) == VST_PROTO_E_ARG);
    /* CV_REKEY: versions >= 1, the collection's grammar. */
    vst_cv_rekey_req rq = {"school_entry", 1, 2, 3, v};
    CU_ASSERT_FATAL(vst_cv_rekey_req_encode(&w, &rq) == 0);
    CU_ASSERT(vst_wr_len(&w) == 1 + 12 + 12 + 3 * 96);
    CU_ASSERT(decode_copy(VST_MSG_CV_REKEY, vst_wr_data(&w), vst_wr_len(&w), &m) == 0 &&
              m.cv_rekey_req.to_version == 2 &&
              strcmp(m.cv_rekey_req.collection, rq.collection) == 0);
    vst_wr_free(&w);
    rq.from_version = 0;
    CU_ASSERT(vst_cv_rekey_req_encode(&w, &rq) == VST_PROTO_E_RANGE);
    rq = (vst_cv_rekey_req){"School", 1, 2, 3, v};
    CU_ASSERT(vst_cv_rekey_req_encode(&w, &rq) == VST_PROTO_E_CHARSET);
    CU_ASSERT(vst_wr_len(&w) == 0);
}

static void test_overlap_open_and_feed(void)
{
    vst_wr w = VST_WR_INIT;
    vst_msg m;
    vst_overlap_open_req rq = {"ph/child", "measles_case", "year=2025", "school_entry", "", 3};
    CU_ASSERT_FATAL(vst_overlap_open_req_encode(&w, &rq) == 0);
    CU_ASSERT(decode_copy(VST_MSG_OVERLAP_OPEN, vst_wr_data(&w), vst_wr_len(&w), &m) == 0);
    const vst_overlap_open_req *g = &m.overlap_open_req;
    CU_ASSERT(strcmp(g->domain, rq.domain) == 0 && strcmp(g->collection_a, rq.collection_a) == 0 &&
              strcmp(g->filter_a, rq.filter_a) == 0 &&
              strcmp(g->collection_b, rq.collection_b) == 0 && g->filter_b[0] == '\0' && g->k == 3);
    /* k below 3, patched into the payload's last two bytes. */
    uint8_t *b = malloc(vst_wr_len(&w));
    CU_ASSERT_FATAL(b != NULL);
    memcpy(b, vst_wr_data(&w), vst_wr_len(&w));
    b[vst_wr_len(&w) - 1] = 2;
    CU_ASSERT(decode_copy(VST_MSG_OVERLAP_OPEN, b, vst_wr_len(&w), &m) == VST_PROTO_E_RANGE);
    free(b);
    vst_wr_free(&w);
    rq.k = 2;
    CU_ASSERT(vst_overlap_open_req_encode(&w, &rq) == VST_PROTO_E_RANGE);
    rq.k = 5;
    strcpy(rq.filter_b, "district=\"x\"");
    CU_ASSERT(vst_overlap_open_req_encode(&w, &rq) == VST_PROTO_E_CHARSET);
    strcpy(rq.filter_b, "a\\b");
    CU_ASSERT(vst_overlap_open_req_encode(&w, &rq) == VST_PROTO_E_CHARSET);
    strcpy(rq.filter_b, "a\nb");
    CU_ASSERT(vst_overlap_open_req_encode(&w, &rq) == VST_PROTO_E_CHARSET);
    memset(rq.filter_b, 'x', VST_OVERLAP_FILTER_MAX);
    rq.filter_b[VST_OVERLAP_FILTER_MAX] = '\0';
    CU_ASSERT(vst_overlap_open_req_encode(&w, &rq) == 0); /* 200 is the most */
    vst_wr_free(&w);
    rq.filter_b[0] = '\0';
    strcpy(rq.collection_b, "School_entry");
    CU_ASSERT(vst_overlap_open_req_encode(&w, &rq) == VST_PROTO_E_CHARSET);
    CU_ASSERT(vst_wr_len(&w) == 0);
    /* A filter of 201 bytes on the wire. */
    uint8_t raw[2 + 9 + 2 + 1 + 1 + 201 + 1 + 1 + 1 + 2];
    size_t o = 0;
    raw[o++] = 1, raw[o++] = 'd';
    raw[o++] = 1, raw[o++] = 'a';
    raw[o++] = 201;
    memset(raw + o, 'x', 201);
    o += 201;
    raw[o++] = 1, raw[o++] = 'b';
    raw[o++] = 0;
    raw[o++] = 0, raw[o++] = 5;
    CU_ASSERT(decode_copy(VST_MSG_OVERLAP_OPEN, raw, o, &m) == VST_PROTO_E_RANGE);
    /* A NUL inside a filter (found by fuzz_frame): the text would end
     * early and not re-encode to the bytes that were signed. */
    static const uint8_t nul[] = {1, 'd', 1, 'a', 3, 'y', 0, 'x', 1, 'b', 0, 0, 5};
    CU_ASSERT(decode_copy(VST_MSG_OVERLAP_OPEN, nul, sizeof nul, &m) == VST_PROTO_E_CHARSET);
    raw[4] = 0; /* the same with an empty filter a: the 201 bytes are trailing garbage */
    CU_ASSERT(decode_copy(VST_MSG_OVERLAP_OPEN, raw, o, &m) != 0);

    static uint8_t v[2 * VST_CV_RECORD_LEN];
    vst_overlap_feed_req f = {1, 3, 2, v};
    CU_ASSERT_FATAL(vst_overlap_feed_req_encode(&w, &f) == 0);
    CU_ASSERT(vst_wr_len(&w) == 9 + 2 * 96);
    CU_ASSERT(decode_copy(VST_MSG_OVERLAP_FEED, vst_wr_data(&w), vst_wr_len(&w), &m) == 0 &&
              m.overlap_feed_req.side == 1 && m.overlap_feed_req.count == 2);
    b = malloc(vst_wr_len(&w));
    CU_ASSERT_FATAL(b != NULL);
    memcpy(b, vst_wr_data(&w), vst_wr_len(&w));
    b[0] = 2;
    CU_ASSERT(decode_copy(VST_MSG_OVERLAP_FEED, b, vst_wr_len(&w), &m) == VST_PROTO_E_RANGE);
    free(b);
    vst_wr_free(&w);
    f.side = 2;
    CU_ASSERT(vst_overlap_feed_req_encode(&w, &f) == VST_PROTO_E_RANGE);
    f = (vst_overlap_feed_req){0, 0, 2, v};
    CU_ASSERT(vst_overlap_feed_req_encode(&w, &f) == VST_PROTO_E_RANGE);
    CU_ASSERT(vst_overlap_sign_req_encode(&w, 0) == VST_PROTO_E_RANGE);
    uint8_t zero[8] = {0};
    CU_ASSERT(decode_copy(VST_MSG_OVERLAP_SIGN, zero, 8, &m) == VST_PROTO_E_RANGE);
    vst_wr_free(&w);
}

static int result_rc(vst_overlap_result r)
{
    vst_wr w = VST_WR_INIT;
    int rc = vst_overlap_result_encode(&w, &r);
    vst_wr_free(&w);
    return rc;
}

static void test_overlap_result_rules(void)
{
    vst_overlap_result ok = {1000, 800, 0, 60, 5, {40, 10, 4, 3, 2, 1}, 0};
    CU_ASSERT(result_rc(ok) == 0);
    vst_overlap_result r = ok;
    r.links[5] = 2; /* links do not add up */
    CU_ASSERT(result_rc(r) == VST_PROTO_E_RANGE);
    r = ok;
    r.k = 2;
    CU_ASSERT(result_rc(r) == VST_PROTO_E_RANGE);
    r = ok;
    r.reason = 1; /* a reason without suppression */
    CU_ASSERT(result_rc(r) == VST_PROTO_E_RANGE);
    r = (vst_overlap_result){1000, 800, 0, 3, 5, {3, 0, 0, 0, 0, 0}, 0}; /* 0 < 3 < k shown */
    CU_ASSERT(result_rc(r) == VST_PROTO_E_RANGE);
    r = (vst_overlap_result){100, 800, 0, 97, 5, {97, 0, 0, 0, 0, 0}, 0}; /* a - overlap < k */
    CU_ASSERT(result_rc(r) == VST_PROTO_E_RANGE);
    r = (vst_overlap_result){4, 800, 0, 0, 5, {0}, 0}; /* a small side shown */
    CU_ASSERT(result_rc(r) == VST_PROTO_E_RANGE);
    /* Suppressed answers: nothing shown, a reason consistent with the sizes. */
    r = (vst_overlap_result){4, 800, 1, 0, 5, {0}, 3};
    CU_ASSERT(result_rc(r) == 0);
    r.reason = 1; /* small overlap, but a side is small: 3 comes first */
    CU_ASSERT(result_rc(r) == VST_PROTO_E_RANGE);
    r = (vst_overlap_result){1000, 800, 1, 0, 5, {0}, 1};
    CU_ASSERT(result_rc(r) == 0);
    r.reason = 3;
    CU_ASSERT(result_rc(r) == VST_PROTO_E_RANGE);
    r.reason = 2;
    CU_ASSERT(result_rc(r) == 0);
    r.overlap = 7; /* a suppressed count shown */
    CU_ASSERT(result_rc(r) == VST_PROTO_E_RANGE);
    r.overlap = 0;
    r.links[0] = 1;
    CU_ASSERT(result_rc(r) == VST_PROTO_E_RANGE);
    r = (vst_overlap_result){1000, 800, 2, 0, 5, {0}, 2};
    CU_ASSERT(result_rc(r) == VST_PROTO_E_RANGE);
    r = (vst_overlap_result){1000, 800, 1, 0, 5, {0}, 4};
    CU_ASSERT(result_rc(r) == VST_PROTO_E_RANGE);
    /* A zero overlap of two large sides is an answer. */
    r = (vst_overlap_result){10, 10, 0, 0, 5, {0}, 0};
    CU_ASSERT(result_rc(r) == 0);
    /* npasses other than 6 on the wire. */
    vst_wr w = VST_WR_INIT;
    vst_msg m;
    CU_ASSERT_FATAL(vst_overlap_result_encode(&w, &ok) == 0);
    CU_ASSERT(vst_wr_len(&w) == 77);
    uint8_t b[77];
    memcpy(b, vst_wr_data(&w), 77);
    b[8 + 8 + 1 + 8 + 2] = 5;
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_OVERLAP_RUN), b, 77, &m) == VST_PROTO_E_RANGE);
    vst_wr_free(&w);
}

static void put64(uint8_t **p, uint64_t v)
{
    for (int i = 7; i >= 0; i--)
        *(*p)++ = (uint8_t)(v >> (8 * i));
}

static void putstr(uint8_t **p, const char *s)
{
    *(*p)++ = (uint8_t)strlen(s);
    memcpy(*p, s, strlen(s));
    *p += strlen(s);
}

/* The TBS as overlap_tbs.h spells it, written out by hand here. */
static size_t tbs_by_hand(const vst_overlap_signed *s, uint8_t *out)
{
    static const char *const names[6] = {"exact",    "phonetic", "swapped",
                                         "daymonth", "year",     "birthname"};
    uint8_t *p = out;
    memcpy(p, "vst/overlap/1", 14); /* with its NUL */
    p += 14;
    put64(&p, s->audit_seq);
    putstr(&p, s->domain);
    putstr(&p, s->collection_a);
    putstr(&p, s->filter_a);
    putstr(&p, s->collection_b);
    putstr(&p, s->filter_b);
    put64(&p, s->r.a);
    put64(&p, s->r.b);
    *p++ = s->r.suppressed;
    put64(&p, s->r.overlap);
    *p++ = (uint8_t)(s->r.k >> 8), *p++ = (uint8_t)s->r.k;
    *p++ = 6;
    for (int i = 0; i < 6; i++) {
        putstr(&p, names[i]);
        put64(&p, s->r.links[i]);
    }
    *p++ = s->r.reason;
    return (size_t)(p - out);
}

static void test_overlap_tbs(void)
{
    uint8_t got[VST_OVERLAP_TBS_MAX], want[VST_OVERLAP_TBS_MAX];
    vst_overlap_signed s = {.audit_seq = 4711,
                            .domain = "ph/child",
                            .collection_a = "measles_case",
                            .filter_a = "district=06412",
                            .collection_b = "school_entry",
                            .filter_b = "",
                            .r = {1000, 800, 0, 60, 5, {40, 10, 4, 3, 2, 1}, 0}};
    size_t n = vst_overlap_tbs(&s, got);
    CU_ASSERT(n > 0 && n == tbs_by_hand(&s, want) && memcmp(got, want, n) == 0);
    CU_ASSERT(got[13] == 0 && memcmp(got, "vst/overlap/1", 13) == 0);
    /* Suppressed: zeros where the counts were. */
    s.r = (vst_overlap_result){1000, 800, 1, 0, 5, {0}, 1};
    n = vst_overlap_tbs(&s, got);
    CU_ASSERT(n > 0 && n == tbs_by_hand(&s, want) && memcmp(got, want, n) == 0);
    CU_ASSERT(got[n - 1] == 1);
    /* The longest fields fit. */
    char dom[65], fa[201];
    memset(dom, 'd', 64), dom[64] = '\0';
    memset(fa, 'f', 200), fa[200] = '\0';
    s = (vst_overlap_signed){UINT64_MAX, dom, dom, fa, dom, fa, s.r};
    CU_ASSERT(vst_overlap_tbs(&s, got) == tbs_by_hand(&s, want));
    /* Refused: an answer keyd could not give, a too-long field, no seq. */
    s.r.overlap = 3;
    CU_ASSERT(vst_overlap_tbs(&s, got) == 0);
    s.r.overlap = 0;
    char longer[202];
    memset(longer, 'f', 201), longer[201] = '\0';
    s.filter_b = longer;
    CU_ASSERT(vst_overlap_tbs(&s, got) == 0);
    s.filter_b = fa;
    s.audit_seq = 0;
    CU_ASSERT(vst_overlap_tbs(&s, got) == 0);
    s.audit_seq = 1;
    s.domain = NULL;
    CU_ASSERT(vst_overlap_tbs(&s, got) == 0);
    /* Names of the keys, the contract of the store's columns. */
    CU_ASSERT(strcmp(vst_link_key_name(0), "exact") == 0);
    CU_ASSERT(strcmp(vst_link_key_name(5), "birthname") == 0);
    CU_ASSERT(vst_link_key_name(6) == NULL);
}

int vst_register_tests(void)
{
    static const vst_test person[] = {
        {"person: round trip, every field", test_person_roundtrip},
        {"person: bytes outside the normalized form", test_person_rejects_bytes},
        {"person: calendar dates", test_person_dates},
        {"person: encoder checks, truncation", test_person_encoder_checks},
        {NULL, NULL},
    };
    static const vst_test msgs[] = {
        {"cv_derive request: counts, names, persons", test_cv_request},
        {"cv_derive answer, cv_rekey: counts and versions", test_cv_values},
        {"overlap_open, overlap_feed, overlap_sign: fields", test_overlap_open_and_feed},
        {"overlap_run answer: what suppression can answer", test_overlap_result_rules},
        {"the signed overlap answer, byte for byte", test_overlap_tbs},
        {NULL, NULL},
    };
    VST_ADD_SUITE("linkage: persons on the wire", person);
    VST_ADD_SUITE("linkage: messages", msgs);
    return CUE_SUCCESS;
}
