/* The core helpers that replaced per-program copies (issue 9): the civil
 * calendar and time text, "Key: value" files, the pid file, dropping root,
 * messages into a caller's buffer.
 *
 * Suites:
 *   core/civil_time  every day of years 1..9999 both ways, against the C
 *                    library's timegm; leap years; the RFC 3339 text at its
 *                    edges
 *   core/kv_file     strict (keystore info) and hand-typed (shares) lines
 *   core/pidfile     the file's content, "" writes nothing, a bad path fails
 *   core/privdrop    as root, in forked children: the user, groups, the kept
 *                    capability and nothing else, no way back, not
 *                    dumpable, no new privileges; the paths handed over */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/civil_time.h"
#include "core/config.h"
#include "core/kv_file.h"
#include "core/msg.h"
#include "core/pidfile.h"
#include "core/privdrop.h"
#include "cunit_main.h"

/* ---- core/civil_time ------------------------------------------------------ */

static void test_days_against_timegm(void)
{
    /* Every day of 0001-01-01..9999-12-31 round-trips; every 97th is also
     * checked against glibc's timegm (proleptic Gregorian, 64-bit time_t). */
    int64_t first = vst_days_from_civil(1, 1, 1), last = vst_days_from_civil(9999, 12, 31);
    CU_ASSERT_EQUAL(vst_days_from_civil(1970, 1, 1), 0);
    CU_ASSERT_EQUAL(last - first + 1, 3652059); /* 9999 years of 365.2425 days */
    int bad = 0, bad_tm = 0;
    for (int64_t z = first; z <= last; z++) {
        int64_t y;
        unsigned m, d;
        vst_civil_from_days(z, &y, &m, &d);
        bad += !vst_date_valid(y, m, d) || vst_days_from_civil(y, m, d) != z;
        if (z % 97 == 0) {
            struct tm tm = {.tm_year = (int)(y - 1900), .tm_mon = (int)m - 1, .tm_mday = (int)d};
            bad_tm += (int64_t)timegm(&tm) != z * 86400;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(bad_tm, 0);
}

static void test_date_valid(void)
{
    CU_ASSERT(vst_date_valid(2000, 2, 29));  /* divisible by 400 */
    CU_ASSERT(!vst_date_valid(1900, 2, 29)); /* by 100, not 400 */
    CU_ASSERT(vst_date_valid(2024, 2, 29));
    CU_ASSERT(!vst_date_valid(2023, 2, 29));
    CU_ASSERT(!vst_date_valid(2023, 4, 31));
    CU_ASSERT(vst_date_valid(1, 1, 1) && vst_date_valid(9999, 12, 31));
    CU_ASSERT(!vst_date_valid(0, 12, 31) && !vst_date_valid(10000, 1, 1));
    CU_ASSERT(!vst_date_valid(2023, 0, 1) && !vst_date_valid(2023, 13, 1));
    CU_ASSERT(!vst_date_valid(2023, 1, 0));
    CU_ASSERT_EQUAL(vst_days_in_month(2023, 2), 28);
    CU_ASSERT_EQUAL(vst_days_in_month(2024, 2), 29);
    CU_ASSERT_EQUAL(vst_days_in_month(2024, 12), 31);
}

static void test_time_text(void)
{
    static const struct {
        int64_t us;
        const char *text;
    } v[] = {
        {0, "1970-01-01T00:00:00.000000Z"},
        {-1, "1969-12-31T23:59:59.999999Z"},
        {951782400123456LL, "2000-02-29T00:00:00.123456Z"},
        {-62135596800000000LL, "0001-01-01T00:00:00.000000Z"},
        {253402300799999999LL, "9999-12-31T23:59:59.999999Z"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char out[VST_TIME_TEXT_LEN + 1];
        int64_t back = 0;
        CU_ASSERT(vst_time_format_us(v[i].us, out) == 0 && strcmp(out, v[i].text) == 0);
        CU_ASSERT(vst_time_parse_us(v[i].text, VST_TIME_TEXT_LEN, &back) == 0 && back == v[i].us);
    }
    char out[VST_TIME_TEXT_LEN + 1];
    CU_ASSERT(vst_time_format_us(-62135596800000001LL, out) != 0);
    CU_ASSERT(vst_time_format_us(253402300800000000LL, out) != 0);
    int64_t us;
    const char *reject[] = {"2023-02-29T00:00:00.000000Z", "0000-01-01T00:00:00.000000Z",
                            "2023-01-01T24:00:00.000000Z", "2023-01-01T00:60:00.000000Z",
                            "2023-01-01T00:00:60.000000Z", "2023-01-01 00:00:00.000000Z",
                            "2023-01-01T00:00:00.00000aZ", "2023-01-01T00:00:00.000000z"};
    for (size_t i = 0; i < sizeof reject / sizeof reject[0]; i++)
        CU_ASSERT(vst_time_parse_us(reject[i], VST_TIME_TEXT_LEN, &us) != 0);
    CU_ASSERT(vst_time_parse_us("1970-01-01T00:00:00.000000Z", 26, &us) != 0);
}

/* ---- core/kv_file --------------------------------------------------------- */

/* The lines of text as "line|line|..." (values split off with key "k"). */
static void lines_of(const char *text, size_t len, int flags, char *out, size_t cap)
{
    vst_kv_file f;
    out[0] = '\0';
    CU_ASSERT_FATAL(vst_kv_open(&f, text, len, flags) == 0);
    const char *line;
    size_t n;
    while (vst_kv_line(&f, &line, &n)) {
        const char *v;
        size_t vn;
        if (vst_kv_split(line, n, "k", &v, &vn))
            line = v, n = vn;
        snprintf(out + strlen(out), cap - strlen(out), "%.*s|", (int)n, line);
    }
    snprintf(out + strlen(out), cap - strlen(out), "%s", vst_kv_at_end(&f) ? "END" : "REST");
}

static void test_kv_lines(void)
{
    char got[256];
    const char t1[] = "magic\nk: 1\nother: 2\n";
    lines_of(t1, sizeof t1 - 1, VST_KV_STRICT, got, sizeof got);
    CU_ASSERT_STRING_EQUAL(got, "magic|1|other: 2|END");
    /* strict: "\r" stays part of the line, an unterminated last line is left */
    const char t2[] = "magic\r\nk: 1\nk: 2";
    lines_of(t2, sizeof t2 - 1, VST_KV_STRICT, got, sizeof got);
    CU_ASSERT_STRING_EQUAL(got, "magic\r|1|REST");
    lines_of(t2, sizeof t2 - 1, VST_KV_HAND_TYPED, got, sizeof got);
    CU_ASSERT_STRING_EQUAL(got, "magic|1|2|END");
    lines_of("", 0, VST_KV_HAND_TYPED, got, sizeof got);
    CU_ASSERT_STRING_EQUAL(got, "END");
    vst_kv_file f;
    CU_ASSERT(vst_kv_open(&f, "a\0b\n", 4, VST_KV_STRICT) != 0);
}

static void test_kv_split(void)
{
    const char *v;
    size_t n;
    CU_ASSERT(vst_kv_split("id: ab", 6, "id", &v, &n) && n == 2 && memcmp(v, "ab", 2) == 0);
    CU_ASSERT(vst_kv_split("id: ", 4, "id", &v, &n) && n == 0);
    CU_ASSERT(!vst_kv_split("id:ab", 5, "id", &v, &n));
    CU_ASSERT(!vst_kv_split("idx: ab", 7, "id", &v, &n));
    CU_ASSERT(!vst_kv_split("i", 1, "id", &v, &n));
    CU_ASSERT(!vst_kv_split("ID: ab", 6, "id", &v, &n));
}

/* ---- core/pidfile, core/msg ----------------------------------------------- */

static void test_pidfile(void)
{
    char dir[] = "/tmp/vst-test-pid-XXXXXX", path[64], bad[96], buf[32] = "";
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/p.pid", dir);
    CU_ASSERT(vst_pidfile_write(path) == 0);
    FILE *f = fopen(path, "r");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT(fgets(buf, sizeof buf, f) != NULL);
    fclose(f);
    char want[32];
    snprintf(want, sizeof want, "%ld\n", (long)getpid());
    CU_ASSERT_STRING_EQUAL(buf, want);
    CU_ASSERT(vst_pidfile_write("") == 0);
    snprintf(bad, sizeof bad, "%s/missing/p.pid", dir);
    CU_ASSERT(vst_pidfile_write(bad) != 0);
    unlink(path);
    rmdir(dir);
}

static void test_msg(void)
{
    char m[8] = "x";
    vst_msg(m, sizeof m, "%s %d", "abcdef", 42);
    CU_ASSERT_STRING_EQUAL(m, "abcdef "); /* truncated, terminated */
    vst_msg(NULL, 10, "%d", 1);           /* no buffer: nothing */
    vst_msg(m, 0, "%d", 1);
    CU_ASSERT_STRING_EQUAL(m, "abcdef ");
}

/* ---- core/privdrop -------------------------------------------------------- */

static uint32_t effective_caps(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {{0}};
    if (syscall(SYS_capget, &hdr, data) != 0)
        return 0xffffffffu;
    return data[0].effective | data[0].permitted | data[1].effective | data[1].permitted;
}

/* Runs vst_privdrop_to in a child as root; the child's checks become its
 * exit code: 0 when every one holds, else the number of the first failed. */
static int drop_in_child(const char *user, uint32_t keep, const char *const *paths)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        const vst_privdrop d = {.user = user, .keep_caps = keep, .chown = paths};
        char err[256] = "";
        struct passwd *pw = getpwnam(user);
        if (pw == NULL || vst_privdrop_to(&d, err, sizeof err) != VST_PRIVDROP_DONE)
            _exit(1);
        uid_t r, e, s;
        gid_t rg, eg, sg;
        if (getresuid(&r, &e, &s) != 0 || r != pw->pw_uid || e != pw->pw_uid || s != pw->pw_uid)
            _exit(2);
        if (getresgid(&rg, &eg, &sg) != 0 || rg != pw->pw_gid || eg != pw->pw_gid ||
            sg != pw->pw_gid)
            _exit(3);
        if (getgroups(0, NULL) != 0)
            _exit(4);
        if (setuid(0) == 0 || seteuid(0) == 0)
            _exit(5);
        if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
            _exit(6);
        if (effective_caps() != keep)
            _exit(7);
        _exit(0);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static void test_privdrop(void)
{
    char err[256] = "";
    const vst_privdrop none = {.user = "", .keep_caps = 0, .chown = NULL};
    const vst_privdrop ghost = {.user = "vst-no-such-user", .keep_caps = 0, .chown = NULL};
    if (geteuid() != 0) {
        /* Not root: nothing to drop, whatever is asked. */
        CU_ASSERT_EQUAL(vst_privdrop_to(&ghost, err, sizeof err), VST_PRIVDROP_DONE);
        fprintf(stderr, "core/privdrop: not root, the drop itself is not exercised\n");
        return;
    }
    CU_ASSERT_EQUAL(vst_privdrop_to(&none, err, sizeof err), VST_PRIVDROP_STAYED_ROOT);
    CU_ASSERT_EQUAL(vst_privdrop_to(&ghost, err, sizeof err), -1);
    CU_ASSERT(strstr(err, "does not exist") != NULL);
    CU_ASSERT_EQUAL(geteuid(), 0); /* neither call changed this process */

    struct passwd *pw = getpwnam("nobody");
    CU_ASSERT_FATAL(pw != NULL);
    uid_t uid = pw->pw_uid;
    char path[] = "/tmp/vst-test-privdrop-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    const char *const paths[] = {path, NULL};
    CU_ASSERT_EQUAL(drop_in_child("nobody", 0, NULL), 0);
    CU_ASSERT_EQUAL(drop_in_child("nobody", 1u << CAP_IPC_LOCK, paths), 0);
    struct stat sb;
    CU_ASSERT(stat(path, &sb) == 0 && sb.st_uid == uid);
    unlink(path);
}

/* An integer option holds 0..2^63-1, so that it is a JSON integer and a
 * bigint wherever it is reported (key status, usage events). */
static void test_config_u64(void)
{
    uint64_t v = 7;
    const vst_cfg_opt opts[] = {{"n", VST_CFG_U64, &v, "a number"}, {NULL, 0, NULL, NULL}};
    char err[200];
    CU_ASSERT(vst_config_set(opts, "n", "0", err, sizeof err) == 0 && v == 0);
    CU_ASSERT(vst_config_set(opts, "n", "9223372036854775807", err, sizeof err) == 0 &&
              v == INT64_MAX);
    const char *bad[] = {
        "9223372036854775808", "18446744073709551615", "18446744073709551616", "-1", "", "12x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7;
        CU_ASSERT(vst_config_set(opts, "n", bad[i], err, sizeof err) == -1 && v == 7);
        CU_ASSERT(strstr(err, "\"n\"") != NULL);
    }
}

static const vst_test civil_tests[] = {
    {"days both ways, against timegm", test_days_against_timegm},
    {"valid dates, leap years", test_date_valid},
    {"RFC 3339 text", test_time_text},
    {NULL, NULL},
};
static const vst_test kv_tests[] = {
    {"lines, strict and hand-typed", test_kv_lines},
    {"key: value", test_kv_split},
    {NULL, NULL},
};
static const vst_test small_tests[] = {
    {"pid file", test_pidfile},
    {"messages", test_msg},
    {"integer options", test_config_u64},
    {NULL, NULL},
};
static const vst_test privdrop_tests[] = {
    {"dropping root", test_privdrop},
    {NULL, NULL},
};

int vst_register_tests(void)
{
    VST_ADD_SUITE("core/civil_time", civil_tests);
    VST_ADD_SUITE("core/kv_file", kv_tests);
    VST_ADD_SUITE("core/pidfile, core/msg, core/config", small_tests);
    VST_ADD_SUITE("core/privdrop", privdrop_tests);
    return CUE_SUCCESS;
}
