/* The checked buffer (server/core/buf.h): big-endian helpers, the reader's
 * bounds (a failed get moves nothing and writes nothing), str8 both ways,
 * the heap writer's growth and limit, the fixed writer over the caller's
 * block, truncate, patch and wiping. */
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "cunit_main.h"

static void test_be(void)
{
    uint8_t b[9];
    memset(b, 0xee, sizeof b);
    vst_be_put(b, 0x0102030405060708ULL, 8);
    CU_ASSERT(memcmp(b, "\x01\x02\x03\x04\x05\x06\x07\x08\xee", 9) == 0);
    CU_ASSERT_EQUAL(vst_be_get(b, 8), 0x0102030405060708ULL);
    CU_ASSERT_EQUAL(vst_be_get(b, 3), 0x010203);
    CU_ASSERT_EQUAL(vst_be_get(b + 7, 1), 0x08);
    vst_be_put(b, 0xabcdef, 2); /* the low n bytes only */
    CU_ASSERT(b[0] == 0xcd && b[1] == 0xef && b[2] == 0x03);
    for (size_t n = 1; n <= 8; n++) {
        uint64_t v = 0xfedcba9876543210ULL >> (64 - 8 * n);
        vst_be_put(b, v, n);
        CU_ASSERT_EQUAL(vst_be_get(b, n), v);
    }
    CU_ASSERT_EQUAL(vst_be_get(b, 0), 0);
}

static void test_reader_ints(void)
{
    static const uint8_t in[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                                 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0xff,
                                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xaa};
    vst_rd r;
    vst_rd_init(&r, in, sizeof in);
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    int64_t i64;
    CU_ASSERT(vst_rd_u8(&r, &u8) == 0 && u8 == 0x01);
    CU_ASSERT(vst_rd_u16(&r, &u16) == 0 && u16 == 0x0203);
    CU_ASSERT(vst_rd_u32(&r, &u32) == 0 && u32 == 0x04050607);
    CU_ASSERT(vst_rd_u64(&r, &u64) == 0 && u64 == 0x08090a0b0c0d0e0fULL);
    CU_ASSERT(vst_rd_i64(&r, &i64) == 0 && i64 == -2);
    CU_ASSERT_EQUAL(vst_rd_left(&r), 1);
    CU_ASSERT_EQUAL(vst_rd_end(&r), VST_BUF_E_TRAILING);
    /* Short: nothing moves, nothing is written. */
    u16 = 0x1234, u32 = 0x12345678, u64 = 42, i64 = 43;
    CU_ASSERT_EQUAL(vst_rd_u16(&r, &u16), VST_BUF_E_SHORT);
    CU_ASSERT_EQUAL(vst_rd_u32(&r, &u32), VST_BUF_E_SHORT);
    CU_ASSERT_EQUAL(vst_rd_u64(&r, &u64), VST_BUF_E_SHORT);
    CU_ASSERT_EQUAL(vst_rd_i64(&r, &i64), VST_BUF_E_SHORT);
    CU_ASSERT(u16 == 0x1234 && u32 == 0x12345678 && u64 == 42 && i64 == 43);
    CU_ASSERT_EQUAL(vst_rd_left(&r), 1);
    CU_ASSERT(vst_rd_u8(&r, &u8) == 0 && u8 == 0xaa);
    CU_ASSERT_EQUAL(vst_rd_end(&r), 0);
    CU_ASSERT_EQUAL(vst_rd_u8(&r, &u8), VST_BUF_E_SHORT);
    CU_ASSERT_EQUAL(u8, 0xaa);
}

static void test_reader_bytes(void)
{
    static const uint8_t in[] = "abcdef";
    vst_rd r;
    const uint8_t *v = NULL;
    uint8_t out[8];
    vst_rd_init(&r, in, 6);
    CU_ASSERT(vst_rd_view(&r, 0, &v) == 0 && v == in);
    CU_ASSERT(vst_rd_view(&r, 2, &v) == 0 && v == in && vst_rd_left(&r) == 4);
    memset(out, 'z', sizeof out);
    CU_ASSERT_EQUAL(vst_rd_copy(&r, out, 5), VST_BUF_E_SHORT);
    CU_ASSERT(out[0] == 'z' && vst_rd_left(&r) == 4);
    CU_ASSERT_EQUAL(vst_rd_view(&r, 5, &v), VST_BUF_E_SHORT);
    CU_ASSERT(v == in);
    CU_ASSERT(vst_rd_copy(&r, out, 4) == 0 && memcmp(out, "cdef", 4) == 0);
    CU_ASSERT(vst_rd_copy(&r, out, 0) == 0 && vst_rd_end(&r) == 0);
    /* A reader over nothing (NULL) has nothing: no arithmetic on NULL. */
    vst_rd_init(&r, NULL, 100);
    CU_ASSERT_EQUAL(vst_rd_left(&r), 0);
    CU_ASSERT(vst_rd_view(&r, 0, &v) == 0 && v == NULL);
    CU_ASSERT_EQUAL(vst_rd_view(&r, 1, &v), VST_BUF_E_SHORT);
    CU_ASSERT_EQUAL(vst_rd_end(&r), 0);
    /* A huge n does not wrap around. */
    vst_rd_init(&r, in, 6);
    CU_ASSERT_EQUAL(vst_rd_view(&r, SIZE_MAX, &v), VST_BUF_E_SHORT);
}

static void test_reader_str8(void)
{
    static const uint8_t in[] = {3, 'a', 'b', 'c', 0, 2, 'x', 0, 4, 'l', 'o', 'n', 'g', 9, 'q'};
    vst_rd r;
    char s[8];
    vst_rd_init(&r, in, sizeof in);
    CU_ASSERT(vst_rd_str8(&r, s, 4) == 0 && strcmp(s, "abc") == 0); /* exactly fits */
    CU_ASSERT(vst_rd_str8(&r, s, 1) == 0 && strcmp(s, "") == 0);    /* empty */
    strcpy(s, "keep");
    size_t left = vst_rd_left(&r);
    CU_ASSERT_EQUAL(vst_rd_str8(&r, s, sizeof s), VST_BUF_E_RANGE); /* a NUL inside */
    CU_ASSERT(vst_rd_left(&r) == left && strcmp(s, "keep") == 0);
    CU_ASSERT(vst_rd_view(&r, 3, &(const uint8_t *){NULL}) == 0);
    CU_ASSERT_EQUAL(vst_rd_str8(&r, s, 4), VST_BUF_E_RANGE); /* no room for the NUL */
    CU_ASSERT_EQUAL(vst_rd_str8(&r, s, 0), VST_BUF_E_RANGE);
    CU_ASSERT(vst_rd_left(&r) == 7 && strcmp(s, "keep") == 0);
    CU_ASSERT(vst_rd_str8(&r, s, 5) == 0 && strcmp(s, "long") == 0);
    CU_ASSERT_EQUAL(vst_rd_str8(&r, s, sizeof s), VST_BUF_E_SHORT); /* 9 announced, 1 there */
    CU_ASSERT(vst_rd_left(&r) == 2 && strcmp(s, "long") == 0);
    vst_rd_init(&r, in, 0);
    CU_ASSERT_EQUAL(vst_rd_str8(&r, s, sizeof s), VST_BUF_E_SHORT); /* no length byte */
}

static void test_writer(void)
{
    vst_wr w = VST_WR_INIT;
    CU_ASSERT(vst_wr_len(&w) == 0 && vst_wr_data(&w) != NULL && vst_wr_capacity(&w) == 0);
    CU_ASSERT(vst_wr_u8(&w, 0x01) == 0 && vst_wr_u16(&w, 0x0203) == 0 &&
              vst_wr_u32(&w, 0x04050607) == 0 && vst_wr_u64(&w, 0x08090a0b0c0d0e0fULL) == 0 &&
              vst_wr_i64(&w, -2) == 0);
    CU_ASSERT_EQUAL(vst_wr_len(&w), 23);
    CU_ASSERT(memcmp(vst_wr_data(&w),
                     "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"
                     "\xff\xff\xff\xff\xff\xff\xff\xfe",
                     23) == 0);
    CU_ASSERT_EQUAL(vst_wr_put(&w, NULL, 1), VST_BUF_E_ARG);
    CU_ASSERT(vst_wr_put(&w, NULL, 0) == 0 && vst_wr_len(&w) == 23);
    /* Growth keeps what was written. */
    uint8_t big[1000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)i;
    CU_ASSERT(vst_wr_put(&w, big, sizeof big) == 0 && vst_wr_len(&w) == 1023);
    CU_ASSERT(vst_wr_capacity(&w) >= 1023);
    CU_ASSERT(vst_wr_data(&w)[0] == 0x01 && memcmp(vst_wr_data(&w) + 23, big, sizeof big) == 0);
    /* Reserve, truncate, patch. */
    uint8_t *dst;
    CU_ASSERT(vst_wr_reserve(&w, 4, &dst) == 0 && vst_wr_len(&w) == 1027);
    memcpy(dst, "tail", 4);
    vst_wr_truncate(&w, 2000); /* beyond the end: nothing */
    CU_ASSERT_EQUAL(vst_wr_len(&w), 1027);
    vst_wr_truncate(&w, 3);
    CU_ASSERT_EQUAL(vst_wr_len(&w), 3);
    CU_ASSERT(vst_wr_patch_be(&w, 1, 0xbeef, 2) == 0 &&
              memcmp(vst_wr_data(&w), "\x01\xbe\xef", 3) == 0);
    CU_ASSERT_EQUAL(vst_wr_patch_be(&w, 2, 0, 2), VST_BUF_E_SHORT);
    CU_ASSERT_EQUAL(vst_wr_patch_be(&w, 4, 0, 0), VST_BUF_E_SHORT);
    CU_ASSERT_EQUAL(vst_wr_patch_be(&w, SIZE_MAX, 0, 2), VST_BUF_E_SHORT);
    size_t cap = vst_wr_capacity(&w);
    vst_wr_reset(&w);
    CU_ASSERT(vst_wr_len(&w) == 0 && vst_wr_capacity(&w) == cap);
    vst_wr_free(&w);
    CU_ASSERT(vst_wr_len(&w) == 0 && vst_wr_capacity(&w) == 0);
    vst_wr_free(&w); /* twice is fine */
}

static void test_writer_limit(void)
{
    vst_wr w;
    vst_wr_init(&w);
    uint8_t *dst;
    CU_ASSERT_EQUAL_FATAL(vst_wr_reserve(&w, VST_BUF_MAX - 1, &dst), 0);
    dst[0] = 0x5a;
    CU_ASSERT_EQUAL(vst_wr_u16(&w, 1), VST_BUF_E_LENGTH);
    CU_ASSERT_EQUAL(vst_wr_reserve(&w, SIZE_MAX, &dst), VST_BUF_E_LENGTH);
    CU_ASSERT_EQUAL(vst_wr_len(&w), VST_BUF_MAX - 1);
    CU_ASSERT(vst_wr_u8(&w, 1) == 0 && vst_wr_len(&w) == VST_BUF_MAX);
    CU_ASSERT_EQUAL(vst_wr_put(&w, "x", 1), VST_BUF_E_LENGTH);
    CU_ASSERT_EQUAL(vst_wr_data(&w)[0], 0x5a);
    vst_wr_free(&w);
}

static void test_writer_str8(void)
{
    char s[256];
    memset(s, 's', sizeof s);
    vst_wr w = VST_WR_INIT;
    CU_ASSERT(vst_wr_str8(&w, "abc", 3) == 0 && vst_wr_str8(&w, NULL, 0) == 0);
    CU_ASSERT(vst_wr_len(&w) == 5 && memcmp(vst_wr_data(&w),
                                            "\x03"
                                            "abc\x00",
                                            5) == 0);
    CU_ASSERT_EQUAL(vst_wr_str8(&w, s, 256), VST_BUF_E_RANGE);
    CU_ASSERT_EQUAL(vst_wr_str8(&w, NULL, 1), VST_BUF_E_ARG);
    CU_ASSERT_EQUAL(vst_wr_len(&w), 5);
    CU_ASSERT(vst_wr_str8(&w, s, 255) == 0 && vst_wr_len(&w) == 5 + 256);
    /* What the writer wrote, the reader reads back. */
    vst_rd r;
    char back[256];
    vst_rd_init(&r, vst_wr_data(&w), vst_wr_len(&w));
    CU_ASSERT(vst_rd_str8(&r, back, sizeof back) == 0 && strcmp(back, "abc") == 0);
    CU_ASSERT(vst_rd_str8(&r, back, sizeof back) == 0 && back[0] == '\0');
    CU_ASSERT(vst_rd_str8(&r, back, sizeof back) == 0 && strlen(back) == 255);
    CU_ASSERT_EQUAL(vst_rd_end(&r), 0);
    vst_wr_free(&w);
}

static void test_writer_fixed(void)
{
    uint8_t block[12];
    memset(block, 0xee, sizeof block);
    vst_wr w;
    vst_wr_init_fixed(&w, block, 10);
    CU_ASSERT(vst_wr_capacity(&w) == 10 && vst_wr_data(&w) == block);
    CU_ASSERT(vst_wr_u32(&w, 0x01020304) == 0 && vst_wr_str8(&w, "ab", 2) == 0);
    CU_ASSERT_EQUAL(vst_wr_len(&w), 7);
    /* A put that does not fit fails whole and leaves everything as it was. */
    CU_ASSERT_EQUAL(vst_wr_u32(&w, 0xffffffff), VST_BUF_E_LENGTH);
    CU_ASSERT_EQUAL(vst_wr_str8(&w, "abc", 3), VST_BUF_E_LENGTH);
    CU_ASSERT_EQUAL(vst_wr_len(&w), 7);
    CU_ASSERT(memcmp(block,
                     "\x01\x02\x03\x04\x02"
                     "ab\xee\xee\xee",
                     10) == 0);
    CU_ASSERT(vst_wr_put(&w, "xyz", 3) == 0 && vst_wr_len(&w) == 10);
    CU_ASSERT_EQUAL(vst_wr_u8(&w, 0), VST_BUF_E_LENGTH);
    CU_ASSERT(block[10] == 0xee && block[11] == 0xee); /* never beyond cap */
    vst_wr_truncate(&w, 4);
    CU_ASSERT(vst_wr_len(&w) == 4 && block[4] == 0 && block[9] == 0); /* wiped */
    CU_ASSERT(vst_wr_patch_be(&w, 0, 0xa1a2, 2) == 0 && block[0] == 0xa1 && block[1] == 0xa2);
    vst_wr_reset(&w);
    CU_ASSERT(vst_wr_len(&w) == 0 && vst_wr_capacity(&w) == 10 && block[0] == 0);
    CU_ASSERT(vst_wr_u8(&w, 7) == 0 && block[0] == 7);
    /* free wipes the whole block, never releases it, and leaves a heap
     * writer that no longer touches the block. */
    vst_wr_free(&w);
    for (size_t i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(block[i], 0);
    CU_ASSERT(block[10] == 0xee && vst_wr_capacity(&w) == 0);
    CU_ASSERT(vst_wr_put(&w, "heap", 4) == 0 && vst_wr_data(&w) != block && block[0] == 0);
    vst_wr_free(&w);
    /* Over no memory: only empty puts succeed. */
    vst_wr_init_fixed(&w, NULL, 100);
    CU_ASSERT(vst_wr_capacity(&w) == 0 && vst_wr_put(&w, "", 0) == 0);
    CU_ASSERT_EQUAL(vst_wr_u8(&w, 1), VST_BUF_E_LENGTH);
    vst_wr_free(&w);
}

int vst_register_tests(void)
{
    static vst_test tests[] = {
        {"big-endian get/put, 1..8 bytes", test_be},
        {"reader: integers; a short read moves and writes nothing", test_reader_ints},
        {"reader: views, copies, NULL, no wrap-around", test_reader_bytes},
        {"reader: str8 into a C string", test_reader_str8},
        {"writer: integers, growth, reserve, truncate, patch, reset", test_writer},
        {"writer: VST_BUF_MAX", test_writer_limit},
        {"writer: str8", test_writer_str8},
        {"fixed writer over the caller's block", test_writer_fixed},
        {NULL, NULL},
    };
    VST_ADD_SUITE("checked buffer", tests);
    return CUE_SUCCESS;
}
