/* keyd's authenticated state files (keys/keyd/keyd_state.c) keep their
 * bytes: a file written before issue 9 moved the framing onto the checked
 * buffer still loads, and a file written today is the same bytes.
 *
 * keyd_state.c is compiled into this program alone, with the few keyd
 * functions it calls stubbed below: the state key is a fixed 32 bytes
 * instead of one derived from a keystore's root key. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/hex.h"
#include "cunit_main.h"
#include "keyd/keyd.h"

/* ---- stubs for what keyd_state.c calls */

int keyd_derive_key(const char *info, uint8_t out[VST_KEY_LEN])
{
    if (strcmp(info, "vst/keyd-state/1") != 0)
        return -1;
    for (int i = 0; i < VST_KEY_LEN; i++)
        out[i] = (uint8_t)(0x40 + i);
    return 0;
}

void keyd_log(const char *level, const char *fmt, ...)
{
    (void)level;
    (void)fmt;
}

void keyd_event(uint32_t actor_uid, const char *action, const char *details_fmt, ...)
{
    (void)actor_uid;
    (void)action;
    (void)details_fmt;
}

const char *keyd_usage_load(void)
{
    return "loaded";
}

const char *keyd_checkpoint_load(void)
{
    return "loaded";
}

const char *keyd_overlap_load(void)
{
    return "loaded";
}

/* ---- the files */

/* "vst-keyd-state-1\0" || str8 "usage" || u64 generation 1 || u32 5 ||
 * "hello" || HMAC-SHA256, as the code before issue 9 wrote it. */
static const char OLD_USAGE_HEX[] =
    "7673742d6b6579642d73746174652d3100"
    "057573616765"
    "0000000000000001"
    "00000005"
    "68656c6c6f"
    "d58b1b8125c6eac0cc269cd43530324c8469318a13ed632bb1187672e584e6ef";

static char dir[64];

static const char *path_of(const char *name)
{
    static char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static size_t read_bytes(const char *name, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path_of(name), "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void open_state(void)
{
    strcpy(dir, "/tmp/vst-test-keydstate-XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char err[256];
    CU_ASSERT_EQUAL_FATAL(keyd_state_open(dir, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(keyd_state_unlock(), 0);
}

static void close_state(void)
{
    keyd_state_close();
    static const char *const names[] = {"usage", "usage.rejected", "checkpoint", "empty"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(path_of(names[i]));
    rmdir(dir);
}

static void test_written_as_before(void)
{
    open_state();
    CU_ASSERT_EQUAL_FATAL(keyd_state_save("usage", (const uint8_t *)"hello", 5), 0);
    uint8_t buf[256];
    size_t n = read_bytes("usage", buf, sizeof buf);
    char got[2 * sizeof buf + 1];
    vst_hex(buf, n, got);
    if (strcmp(got, OLD_USAGE_HEX) != 0)
        fprintf(stderr, "\n  got  %s\n  want %s\n", got, OLD_USAGE_HEX);
    CU_ASSERT_STRING_EQUAL(got, OLD_USAGE_HEX);
    close_state();
}

static void test_old_file_loads(void)
{
    open_state();
    size_t n = strlen(OLD_USAGE_HEX) / 2;
    uint8_t raw[256];
    CU_ASSERT_EQUAL_FATAL(vst_unhex(OLD_USAGE_HEX, n, raw), 0);
    int fd = open(path_of("usage"), O_WRONLY | O_CREAT | O_EXCL, 0600);
    CU_ASSERT_FATAL(fd >= 0 && write(fd, raw, n) == (ssize_t)n);
    close(fd);
    uint8_t *p = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(keyd_state_load("usage", &p, &len), KEYD_STATE_OK);
    CU_ASSERT(len == 5 && memcmp(p, "hello", 5) == 0);
    free(p);
    /* The generation read back continues: the next write is number 2. */
    CU_ASSERT_EQUAL_FATAL(keyd_state_save("usage", (const uint8_t *)"hello", 5), 0);
    uint8_t buf[256];
    CU_ASSERT_EQUAL(read_bytes("usage", buf, sizeof buf), n);
    CU_ASSERT_EQUAL(buf[17 + 6 + 7], 2);
    close_state();
}

static void test_refused(void)
{
    open_state();
    size_t n = strlen(OLD_USAGE_HEX) / 2;
    uint8_t raw[256], *p = NULL;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(vst_unhex(OLD_USAGE_HEX, n, raw), 0);
    /* Every single-byte change, and every truncation, is refused; under
     * another name the file does not verify either. */
    for (size_t i = 0; i <= n; i++) {
        for (int mode = 0; mode < 2; mode++) {
            if (mode == 0 && i == n)
                continue;
            unlink(path_of("usage"));
            int fd = open(path_of("usage"), O_WRONLY | O_CREAT | O_EXCL, 0600);
            CU_ASSERT_FATAL(fd >= 0);
            raw[i < n ? i : 0] ^= (uint8_t)(mode == 0);
            CU_ASSERT_FATAL(write(fd, raw, mode == 0 ? n : i) == (ssize_t)(mode == 0 ? n : i));
            raw[i < n ? i : 0] ^= (uint8_t)(mode == 0);
            close(fd);
            keyd_state_rc rc = keyd_state_load("usage", &p, &len);
            CU_ASSERT(mode == 1 && i == n ? rc == KEYD_STATE_OK : rc == KEYD_STATE_INVALID);
            free(p);
            p = NULL;
        }
    }
    char from[128];
    snprintf(from, sizeof from, "%s", path_of("usage"));
    CU_ASSERT_EQUAL(rename(from, path_of("checkpoint")), 0);
    CU_ASSERT_EQUAL(keyd_state_load("checkpoint", &p, &len), KEYD_STATE_INVALID);
    CU_ASSERT_EQUAL(keyd_state_load("usage", &p, &len), KEYD_STATE_MISSING);
    /* An empty payload round-trips. */
    CU_ASSERT_EQUAL_FATAL(keyd_state_save("empty", (const uint8_t *)"", 0), 0);
    CU_ASSERT_EQUAL(keyd_state_load("empty", &p, &len), KEYD_STATE_OK);
    CU_ASSERT_EQUAL(len, 0);
    free(p);
    close_state();
}

int vst_register_tests(void)
{
    static vst_test tests[] = {
        {"a state file is written as before", test_written_as_before},
        {"a state file written before loads", test_old_file_loads},
        {"altered, truncated or renamed files are refused", test_refused},
        {NULL, NULL},
    };
    VST_ADD_SUITE("keyd state files", tests);
    return CUE_SUCCESS;
}
