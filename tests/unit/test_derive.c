/* Pseudonym derivation (keys/derive.c, DESIGN.md §3) checked against
 *   - the openssl command-line tool, run at test time (HKDF, HMAC, AES-ECB),
 *   - an independent HKDF/HMAC built from EVP_MAC, anchored on RFC 5869 and
 *     RFC 4231 vectors, and the FIPS-197 AES-256 vector,
 *   - the properties the trust center relies on: determinism, domain and
 *     version separation, invertibility, re-keying, release pseudonyms,
 *     batch == single.
 * The openssl CLI is required: if it cannot be run the CLI tests FAIL. Set
 * VST_OPENSSL to use another binary than the one on PATH. */
#include "cunit_main.h"
#include "derive.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *const SGB5_DOMAINS[] = {"sgb5/insured", "sgb5/lanr", "sgb5/bsnr", "sgb5/ik"};
#define N_DOMAINS (sizeof SGB5_DOMAINS / sizeof SGB5_DOMAINS[0])

/* ---- helpers ------------------------------------------------------------ */

static void rnd(void *buf, size_t n)
{
    if (n > 0)
        CU_ASSERT_FATAL(RAND_bytes(buf, (int)n) == 1);
}

static uint32_t rnd_u32(uint32_t bound)
{
    uint32_t x;
    rnd(&x, sizeof x);
    return bound ? x % bound : x;
}

static int hex_to_bytes(const char *hex, uint8_t *out, size_t n)
{
    return strlen(hex) == 2 * n ? vst_unhex(hex, n, out) : -1;
}

static void report(const char *what, const uint8_t *a, const uint8_t *b, size_t n)
{
    char ha[2 * 64 + 1], hb[2 * 64 + 1];
    if (n > 64)
        n = 64;
    vst_hex(a, n, ha);
    vst_hex(b, n, hb);
    fprintf(stderr, "\n  mismatch (%s):\n    got  %s\n    want %s\n", what, ha, hb);
}

/* CU_ASSERT on equal bytes, printing both sides when they differ. */
#define CHECK_BYTES(what, got, want, n)                                                            \
    do {                                                                                           \
        int eq_ = memcmp((got), (want), (n)) == 0;                                                 \
        if (!eq_)                                                                                  \
            report((what), (got), (want), (n));                                                    \
        CU_ASSERT(eq_);                                                                            \
    } while (0)

/* ---- running the openssl CLI ---------------------------------------------- */

static const char *openssl_bin(void)
{
    const char *p = getenv("VST_OPENSSL");
    return (p && *p) ? p : "openssl";
}

/* Runs argv (argv[0] looked up on PATH) with stdin from /dev/null and
 * captures stdout into out (NUL-terminated, at most cap-1 bytes). Returns the
 * exit status, or -1 if the program could not be run or was killed. */
static int run_capture(char *const argv[], char *out, size_t cap, size_t *outlen)
{
    int fd[2];
    *outlen = 0;
    out[0] = '\0';
    if (pipe(fd) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            close(devnull);
        }
        dup2(fd[1], STDOUT_FILENO);
        close(fd[0]);
        close(fd[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0;
    for (;;) {
        char tmp[4096];
        ssize_t r = read(fd[0], tmp, sizeof tmp);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        size_t take = (size_t)r;
        if (take > cap - 1 - len)
            take = cap - 1 - len;
        memcpy(out + len, tmp, take);
        len += take;
    }
    close(fd[0]);
    out[len] = '\0';
    *outlen = len;
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (!WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses the hex printed by `openssl kdf` ("7A:77:...") or `openssl mac`
 * ("BA23C8..."), also tolerating a "LABEL(file)= " prefix: takes the text
 * after the last '=', ignores ':' and white space, rejects anything else and
 * requires exactly n bytes. */
static int parse_cli_hex(const char *s, uint8_t *out, size_t n)
{
    const char *eq = strrchr(s, '=');
    if (eq != NULL)
        s = eq + 1;
    size_t nd = 0;
    int hi = -1;
    for (; *s; s++) {
        char c = *s;
        if (c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        int v = hexval(c);
        if (v < 0)
            return -1;
        if (hi < 0) {
            hi = v;
            continue;
        }
        if (nd == n)
            return -1;
        out[nd++] = (uint8_t)(hi << 4 | v);
        hi = -1;
    }
    return (nd == n && hi < 0) ? 0 : -1;
}

/* A private scratch directory for the CLI's input and output files. */
typedef struct {
    char dir[256];
    char in[300];
    char out[300];
} scratch;

static int scratch_open(scratch *s)
{
    const char *t = getenv("TMPDIR");
    snprintf(s->dir, sizeof s->dir, "%s/vst-test-derive.XXXXXX", (t && *t) ? t : "/tmp");
    if (mkdtemp(s->dir) == NULL)
        return -1;
    snprintf(s->in, sizeof s->in, "%s/in", s->dir);
    snprintf(s->out, sizeof s->out, "%s/out", s->dir);
    return 0;
}

static void scratch_close(scratch *s)
{
    unlink(s->in);
    unlink(s->out);
    CU_ASSERT(rmdir(s->dir) == 0);
}

static int write_file(const char *path, const void *buf, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return close(fd);
}

/* Reads exactly n bytes (the file must be that long). */
static int read_file_exact(const char *path, uint8_t *buf, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    size_t r = fread(buf, 1, n, f);
    int extra = fgetc(f);
    fclose(f);
    return (r == n && extra == EOF) ? 0 : -1;
}

/* K_d = `openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt hexkey:ROOT
 *        -kdfopt info:vst/domain/D HKDF` */
static int cli_hkdf(const uint8_t root[VST_KEY_LEN], const char *domain, uint8_t out[VST_KEY_LEN])
{
    char hexroot[2 * VST_KEY_LEN + 1], keyopt[16 + sizeof hexroot], infoopt[128], buf[1024];
    vst_hex(root, VST_KEY_LEN, hexroot);
    snprintf(keyopt, sizeof keyopt, "hexkey:%s", hexroot);
    snprintf(infoopt, sizeof infoopt, "info:vst/domain/%s", domain);
    char *argv[] = {(char *)openssl_bin(),
                    "kdf",
                    "-keylen",
                    "32",
                    "-kdfopt",
                    "digest:SHA256",
                    "-kdfopt",
                    keyopt,
                    "-kdfopt",
                    infoopt,
                    "HKDF",
                    NULL};
    size_t len;
    int rc = run_capture(argv, buf, sizeof buf, &len);
    OPENSSL_cleanse(hexroot, sizeof hexroot);
    OPENSSL_cleanse(keyopt, sizeof keyopt);
    if (rc != 0) {
        fprintf(stderr, "\n  openssl kdf failed (status %d)\n", rc);
        return -1;
    }
    return parse_cli_hex(buf, out, VST_KEY_LEN);
}

/* HMAC = `openssl mac -digest SHA256 -macopt hexkey:K_D -in FILE HMAC` */
static int cli_hmac(scratch *s, const uint8_t kd[VST_KEY_LEN], const void *id, size_t len,
                    uint8_t out[32])
{
    char hexkey[2 * VST_KEY_LEN + 1], keyopt[16 + sizeof hexkey], buf[1024];
    if (write_file(s->in, id, len) != 0)
        return -1;
    vst_hex(kd, VST_KEY_LEN, hexkey);
    snprintf(keyopt, sizeof keyopt, "hexkey:%s", hexkey);
    char *argv[] = {(char *)openssl_bin(),
                    "mac",
                    "-digest",
                    "SHA256",
                    "-macopt",
                    keyopt,
                    "-in",
                    s->in,
                    "HMAC",
                    NULL};
    size_t olen;
    int rc = run_capture(argv, buf, sizeof buf, &olen);
    OPENSSL_cleanse(hexkey, sizeof hexkey);
    OPENSSL_cleanse(keyopt, sizeof keyopt);
    unlink(s->in);
    if (rc != 0) {
        fprintf(stderr, "\n  openssl mac failed (status %d)\n", rc);
        return -1;
    }
    return parse_cli_hex(buf, out, 32);
}

/* `openssl enc -aes-256-ecb -nopad [-e|-d] -K KEY -in FILE -out FILE` */
static int cli_aes(scratch *s, int enc, const uint8_t key[VST_KEY_LEN], const uint8_t *in,
                   uint8_t *out, size_t nblocks)
{
    char hexkey[2 * VST_KEY_LEN + 1], buf[256];
    if (write_file(s->in, in, nblocks * 16) != 0)
        return -1;
    vst_hex(key, VST_KEY_LEN, hexkey);
    char *argv[] = {(char *)openssl_bin(),
                    "enc",
                    "-aes-256-ecb",
                    "-nopad",
                    enc ? "-e" : "-d",
                    "-K",
                    hexkey,
                    "-in",
                    s->in,
                    "-out",
                    s->out,
                    NULL};
    size_t olen;
    int rc = run_capture(argv, buf, sizeof buf, &olen);
    OPENSSL_cleanse(hexkey, sizeof hexkey);
    unlink(s->in);
    if (rc != 0) {
        fprintf(stderr, "\n  openssl enc failed (status %d)\n", rc);
        unlink(s->out);
        return -1;
    }
    rc = read_file_exact(s->out, out, nblocks * 16);
    unlink(s->out);
    return rc;
}

/* ---- independent reference: HMAC and HKDF from EVP_MAC ------------------ */

static int ref_hmac(const void *key, size_t klen, const void *data, size_t dlen, uint8_t out[32])
{
    static const uint8_t empty[1];
    size_t outlen = 0;
    if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, klen, dlen ? data : empty, dlen, out, 32,
                  &outlen) == NULL)
        return -1;
    return outlen == 32 ? 0 : -1;
}

/* RFC 5869 with L = 32 (one expand block): an absent salt is HashLen zero
 * bytes, which HMAC treats exactly like an empty key. */
static int ref_hkdf_domain(const uint8_t root[VST_KEY_LEN], const char *domain,
                           uint8_t out[VST_KEY_LEN])
{
    uint8_t zeros[32] = {0}, prk[32], t[128];
    int n = snprintf((char *)t, sizeof t, "vst/domain/%s%c", domain, 0x01);
    if (n <= 0 || (size_t)n >= sizeof t)
        return -1;
    int rc = (ref_hmac(zeros, sizeof zeros, root, VST_KEY_LEN, prk) == 0 &&
              ref_hmac(prk, sizeof prk, t, (size_t)n, out) == 0)
                 ? 0
                 : -1;
    OPENSSL_cleanse(prk, sizeof prk);
    return rc;
}

/* ---- tests: openssl CLI --------------------------------------------------- */

static void test_cli_present(void)
{
    char buf[512];
    size_t len;
    char *argv[] = {(char *)openssl_bin(), "version", NULL};
    int rc = run_capture(argv, buf, sizeof buf, &len);
    if (rc != 0)
        fprintf(stderr, "\n  the openssl command-line tool (%s) cannot be run: status %d\n",
                openssl_bin(), rc);
    CU_ASSERT_FATAL(rc == 0);
    CU_ASSERT(strncmp(buf, "OpenSSL 3.", 10) == 0);
}

/* Identifiers for the CLI cross-check: typical KVNR / LANR / BSNR / IK
 * shapes, the empty string, a 64-byte and a 55/56-byte (SHA-256 padding
 * boundary) value, UTF-8 and an embedded NUL. */
static const struct {
    const char *s;
    size_t len;
} CLI_IDS[] = {
    {"A123456780", 10},
    {"", 0},
    {"123456601", 9},
    {"261234567", 9},
    {"0123456789012345678901234567890123456789012345678901234", 55},
    {"01234567890123456789012345678901234567890123456789012345", 56},
    {"0123456789012345678901234567890123456789012345678901234567890123", 64},
    {"M\xc3\xbcller", 7},
    {"a\0b", 3},
};
#define N_CLI_IDS (sizeof CLI_IDS / sizeof CLI_IDS[0])

/* On failure: record it and leave through the cleanup path, so that the
 * scratch directory and every context are released even then. */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            CU_FAIL(#cond);                                                                        \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

static void crosscheck_root(scratch *s, uint32_t version)
{
    uint8_t root[VST_KEY_LEN], kv[VST_KEY_LEN];
    vst_version_key *vk = NULL;
    vst_domain_key *dk = NULL;
    rnd(root, sizeof root);
    rnd(kv, sizeof kv);
    REQUIRE((vk = vst_version_key_new(version, kv)) != NULL);
    for (size_t d = 0; d < N_DOMAINS; d++) {
        uint8_t kd[VST_KEY_LEN], kd_cli[VST_KEY_LEN];
        REQUIRE(vst_hkdf_domain(root, SGB5_DOMAINS[d], kd) == 0);
        REQUIRE(cli_hkdf(root, SGB5_DOMAINS[d], kd_cli) == 0);
        CHECK_BYTES(SGB5_DOMAINS[d], kd, kd_cli, VST_KEY_LEN);

        REQUIRE((dk = vst_domain_key_new(root, SGB5_DOMAINS[d])) != NULL);
        for (size_t i = 0; i < N_CLI_IDS; i++) {
            const char *id = CLI_IDS[i].s;
            size_t len = CLI_IDS[i].len;
            uint8_t inner[VST_INNER_LEN], mac[32], p[16], p_cli[16], back[16], back_cli[16];

            vst_inner_value(dk, id, len, inner);
            REQUIRE(cli_hmac(s, kd_cli, id, len, mac) == 0);
            CHECK_BYTES("inner value vs openssl mac", inner, mac, VST_INNER_LEN);

            REQUIRE(vst_pseudonymize(dk, vk, &id, &len, 1, p) == 0);
            REQUIRE(cli_aes(s, 1, kv, mac, p_cli, 1) == 0);
            CHECK_BYTES("pseudonym vs openssl enc", p, p_cli, 16);

            REQUIRE(cli_aes(s, 0, kv, p, back_cli, 1) == 0);
            CHECK_BYTES("openssl enc -d of pseudonym", back_cli, inner, 16);
            REQUIRE(vst_pseudonym_decrypt(vk, p, back, 1) == 0);
            CHECK_BYTES("inverse", back, inner, 16);
        }
        vst_domain_key_free(dk);
        dk = NULL;
    }
out:
    vst_domain_key_free(dk);
    vst_version_key_free(vk);
}

static void test_cli_crosscheck(void)
{
    scratch s = {{0}, {0}, {0}};
    CU_ASSERT_FATAL(scratch_open(&s) == 0);
    for (uint32_t r = 1; r <= 3; r++)
        crosscheck_root(&s, r);
    scratch_close(&s);
}

/* Multi-block ECB: the CLI and our batch agree block by block. */
static void test_cli_aes_batch(void)
{
    enum { N = 37 };
    uint8_t key[VST_KEY_LEN], in[N * 16], ours[N * 16], cli[N * 16];
    rnd(key, sizeof key);
    rnd(in, sizeof in);
    scratch s = {{0}, {0}, {0}};
    CU_ASSERT_FATAL(scratch_open(&s) == 0);
    vst_version_key *vk = NULL;
    REQUIRE((vk = vst_version_key_new(7, key)) != NULL);
    REQUIRE(vst_pseudonym_encrypt(vk, in, ours, N) == 0);
    REQUIRE(cli_aes(&s, 1, key, in, cli, N) == 0);
    CHECK_BYTES("batch encrypt vs openssl enc", ours, cli, sizeof ours);
    REQUIRE(vst_pseudonym_decrypt(vk, cli, ours, N) == 0);
    CHECK_BYTES("batch decrypt", ours, in, sizeof in);
out:
    vst_version_key_free(vk);
    scratch_close(&s);
}

static void test_cli_hex_parser(void)
{
    uint8_t b[4];
    CU_ASSERT(parse_cli_hex("7A:77:be:4D\n", b, 4) == 0 && b[0] == 0x7a && b[3] == 0x4d);
    CU_ASSERT(parse_cli_hex("HMAC-SHA256(x)= 0a0B0c0D\n", b, 4) == 0 && b[1] == 0x0b);
    CU_ASSERT(parse_cli_hex("0a0b0c", b, 4) == -1);     /* too short */
    CU_ASSERT(parse_cli_hex("0a0b0c0d0e", b, 4) == -1); /* too long */
    CU_ASSERT(parse_cli_hex("0a0b0c0", b, 4) == -1);    /* odd */
    CU_ASSERT(parse_cli_hex("0a0b0c0g", b, 4) == -1);   /* junk */
    CU_ASSERT(parse_cli_hex("Error: x", b, 4) == -1);
}

/* ---- tests: published vectors and EVP reference -------------------------- */

static int evp_hkdf(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen,
                    const uint8_t *info, size_t infolen, uint8_t *out, size_t outlen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    EVP_KDF_free(kdf);
    if (ctx == NULL)
        return -1;
    OSSL_PARAM params[5], *p = params;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
    if (salt != NULL)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
    if (info != NULL)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen);
    *p = OSSL_PARAM_construct_end();
    int rc = EVP_KDF_derive(ctx, out, outlen, params) == 1 ? 0 : -1;
    EVP_KDF_CTX_free(ctx);
    return rc;
}

/* RFC 5869 A.1 and A.3 through EVP_KDF wired as derive.c wires it (A.3:
 * no salt parameter at all, as in vst_hkdf_domain, equals the empty salt). */
static void test_rfc5869(void)
{
    uint8_t ikm[22], salt[13], info[10], okm[42], want[42];
    memset(ikm, 0x0b, sizeof ikm);
    for (size_t i = 0; i < sizeof salt; i++)
        salt[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof info; i++)
        info[i] = (uint8_t)(0xf0 + i);

    CU_ASSERT_FATAL(hex_to_bytes("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                                 "34007208d5b887185865",
                                 want, sizeof want) == 0);
    CU_ASSERT(evp_hkdf(ikm, sizeof ikm, salt, sizeof salt, info, sizeof info, okm, 42) == 0);
    CHECK_BYTES("RFC 5869 A.1", okm, want, 42);

    CU_ASSERT_FATAL(hex_to_bytes("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                                 "9d201395faa4b61a96c8",
                                 want, sizeof want) == 0);
    CU_ASSERT(evp_hkdf(ikm, sizeof ikm, NULL, 0, NULL, 0, okm, 42) == 0);
    CHECK_BYTES("RFC 5869 A.3 (no salt)", okm, want, 42);
    uint8_t zeros[32] = {0};
    CU_ASSERT(evp_hkdf(ikm, sizeof ikm, zeros, sizeof zeros, NULL, 0, okm, 42) == 0);
    CHECK_BYTES("RFC 5869 A.3 (HashLen zero salt)", okm, want, 42);
}

/* RFC 4231 test cases 1, 2 and 6 anchor the EVP_MAC reference used below. */
static void test_rfc4231_reference(void)
{
    uint8_t key[131], mac[32], want[32];

    memset(key, 0x0b, 20);
    CU_ASSERT(ref_hmac(key, 20, "Hi There", 8, mac) == 0);
    CU_ASSERT_FATAL(hex_to_bytes("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
                                 want, 32) == 0);
    CHECK_BYTES("RFC 4231 case 1", mac, want, 32);

    CU_ASSERT(ref_hmac("Jefe", 4, "what do ya want for nothing?", 28, mac) == 0);
    CU_ASSERT_FATAL(hex_to_bytes("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                                 want, 32) == 0);
    CHECK_BYTES("RFC 4231 case 2", mac, want, 32);

    static const char m6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
    memset(key, 0xaa, sizeof key);
    CU_ASSERT(ref_hmac(key, 131, m6, sizeof m6 - 1, mac) == 0);
    CU_ASSERT_FATAL(hex_to_bytes("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
                                 want, 32) == 0);
    CHECK_BYTES("RFC 4231 case 6", mac, want, 32);
}

/* vst_hkdf_domain against HKDF assembled from two EVP_MAC HMACs. */
static void test_hkdf_vs_reference(void)
{
    for (int r = 0; r < 50; r++) {
        uint8_t root[VST_KEY_LEN], a[VST_KEY_LEN], b[VST_KEY_LEN];
        rnd(root, sizeof root);
        for (size_t d = 0; d < N_DOMAINS; d++) {
            CU_ASSERT_FATAL(vst_hkdf_domain(root, SGB5_DOMAINS[d], a) == 0);
            CU_ASSERT_FATAL(ref_hkdf_domain(root, SGB5_DOMAINS[d], b) == 0);
            CHECK_BYTES(SGB5_DOMAINS[d], a, b, VST_KEY_LEN);
        }
    }
}

/* vst_inner_value (SHA-256 pad states) against EVP_MAC HMAC with K_d, for
 * 1000 random identifiers of lengths 0..64 (every length hit several times). */
static void test_inner_vs_evp_mac(void)
{
    uint8_t root[VST_KEY_LEN];
    rnd(root, sizeof root);
    for (size_t d = 0; d < N_DOMAINS; d++) {
        uint8_t kd[VST_KEY_LEN];
        CU_ASSERT_FATAL(vst_hkdf_domain(root, SGB5_DOMAINS[d], kd) == 0);
        vst_domain_key *dk = vst_domain_key_new(root, SGB5_DOMAINS[d]);
        CU_ASSERT_FATAL(dk != NULL);
        int bad = 0;
        for (int i = 0; i < 1000; i++) {
            uint8_t id[64], inner[VST_INNER_LEN], mac[32];
            size_t len = (size_t)(i % 65);
            rnd(id, len);
            vst_inner_value(dk, (const char *)id, len, inner);
            CU_ASSERT_FATAL(ref_hmac(kd, sizeof kd, id, len, mac) == 0);
            if (memcmp(inner, mac, VST_INNER_LEN) != 0 && bad++ == 0)
                report("inner value vs EVP_MAC", inner, mac, VST_INNER_LEN);
        }
        CU_ASSERT(bad == 0);
        vst_domain_key_free(dk);
        OPENSSL_cleanse(kd, sizeof kd);
    }
}

/* FIPS-197 C.3 (AES-256). */
static void test_fips197(void)
{
    uint8_t key[VST_KEY_LEN], pt[16], ct[16], want[16], buf[16];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)i;
    CU_ASSERT_FATAL(hex_to_bytes("00112233445566778899aabbccddeeff", pt, 16) == 0);
    CU_ASSERT_FATAL(hex_to_bytes("8ea2b7ca516745bfeafc49904b496089", want, 16) == 0);
    vst_version_key *vk = vst_version_key_new(1, key);
    CU_ASSERT_FATAL(vk != NULL);
    CU_ASSERT(vst_version_key_version(vk) == 1);
    CU_ASSERT(vst_pseudonym_encrypt(vk, pt, ct, 1) == 0);
    CHECK_BYTES("FIPS-197 encrypt", ct, want, 16);
    CU_ASSERT(vst_pseudonym_decrypt(vk, ct, buf, 1) == 0);
    CHECK_BYTES("FIPS-197 decrypt", buf, pt, 16);
    memcpy(buf, pt, 16); /* in place */
    CU_ASSERT(vst_pseudonym_encrypt(vk, buf, buf, 1) == 0);
    CHECK_BYTES("FIPS-197 encrypt in place", buf, want, 16);
    CU_ASSERT(vst_pseudonym_decrypt(vk, buf, buf, 1) == 0);
    CHECK_BYTES("FIPS-197 decrypt in place", buf, pt, 16);
    char hex[VST_PSEUDONYM_HEX + 1];
    vst_hex(ct, 16, hex);
    CU_ASSERT_STRING_EQUAL(hex, "8ea2b7ca516745bfeafc49904b496089");
    vst_version_key_free(vk);
}

/* The worked example of docs/crypto.md: pins the derivation, so that a
 * change to it cannot pass unnoticed (stored pseudonyms would silently stop
 * matching). */
static void test_doc_example(void)
{
    uint8_t root[VST_KEY_LEN], k1[VST_KEY_LEN], k2[VST_KEY_LEN], kd[VST_KEY_LEN], want[32];
    uint8_t inner[16], p[16];
    for (size_t i = 0; i < VST_KEY_LEN; i++) {
        root[i] = (uint8_t)i;
        k1[i] = (uint8_t)(0x20 + i);
        k2[i] = (uint8_t)(0x40 + i);
    }
    CU_ASSERT(vst_hkdf_domain(root, "sgb5/insured", kd) == 0);
    CU_ASSERT_FATAL(hex_to_bytes("75e4c91c430ac5b71d9213ee3ae3de04d74baf5ba3f782e9264a65a580dc740c",
                                 want, 32) == 0);
    CHECK_BYTES("example K_d", kd, want, 32);

    vst_domain_key *dk = vst_domain_key_new(root, "sgb5/insured");
    vst_version_key *v1 = vst_version_key_new(1, k1), *v2 = vst_version_key_new(2, k2);
    CU_ASSERT_FATAL(dk != NULL && v1 != NULL && v2 != NULL);
    const char *id = "A123456780";
    size_t len = 10;
    vst_inner_value(dk, id, len, inner);
    CU_ASSERT_FATAL(hex_to_bytes("0654b84af49e86886a4ba2b2c36700b5", want, 16) == 0);
    CHECK_BYTES("example I", inner, want, 16);

    char hex[VST_PSEUDONYM_HEX + 1];
    CU_ASSERT(vst_pseudonymize(dk, v1, &id, &len, 1, p) == 0);
    vst_hex(p, 16, hex);
    CU_ASSERT_STRING_EQUAL(hex, "a5e351d259ca26689dd65bf20b71822c");
    CU_ASSERT(vst_rekey(v1, v2, p, 1) == 0);
    vst_hex(p, 16, hex);
    CU_ASSERT_STRING_EQUAL(hex, "fa6e45e0f12122dcfc6ccfdb8cab1df1");

    vst_domain_key_free(dk);
    vst_version_key_free(v1);
    vst_version_key_free(v2);
}

/* ---- tests: properties --------------------------------------------------- */

static int pseudo1(const uint8_t root[VST_KEY_LEN], const char *domain, uint32_t v,
                   const uint8_t kv[VST_KEY_LEN], const char *id, uint8_t out[16])
{
    vst_domain_key *dk = vst_domain_key_new(root, domain);
    vst_version_key *vk = vst_version_key_new(v, kv);
    size_t len = strlen(id);
    int rc = (dk && vk) ? vst_pseudonymize(dk, vk, &id, &len, 1, out) : -1;
    vst_domain_key_free(dk);
    vst_version_key_free(vk);
    return rc;
}

static void test_determinism(void)
{
    static const char *const ids[] = {"A123456780", "Z987654321", "x", ""};
    uint8_t root[VST_KEY_LEN], kv[VST_KEY_LEN];
    rnd(root, sizeof root);
    rnd(kv, sizeof kv);
    for (size_t d = 0; d < N_DOMAINS; d++) {
        vst_domain_key *dk = vst_domain_key_new(root, SGB5_DOMAINS[d]);
        vst_version_key *vk = vst_version_key_new(1, kv);
        CU_ASSERT_FATAL(dk != NULL && vk != NULL);
        CU_ASSERT_STRING_EQUAL(vst_domain_key_name(dk), SGB5_DOMAINS[d]);
        for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
            uint8_t a[16], b[16], c[16];
            size_t len = strlen(ids[i]);
            CU_ASSERT(vst_pseudonymize(dk, vk, &ids[i], &len, 1, a) == 0);
            CU_ASSERT(vst_pseudonymize(dk, vk, &ids[i], &len, 1, b) == 0);
            CU_ASSERT(memcmp(a, b, 16) == 0); /* same contexts, repeated */
            CU_ASSERT(pseudo1(root, SGB5_DOMAINS[d], 1, kv, ids[i], c) == 0);
            CU_ASSERT(memcmp(a, c, 16) == 0); /* fresh contexts */
        }
        vst_domain_key_free(dk);
        vst_version_key_free(vk);
    }
}

static void test_domain_separation(void)
{
    static const char *const ids[] = {"A123456780", "123456601", ""};
    uint8_t root[VST_KEY_LEN], root2[VST_KEY_LEN], kv[VST_KEY_LEN];
    rnd(root, sizeof root);
    rnd(root2, sizeof root2);
    rnd(kv, sizeof kv);
    const char *doms[N_DOMAINS + 1];
    for (size_t d = 0; d < N_DOMAINS; d++)
        doms[d] = SGB5_DOMAINS[d];
    doms[N_DOMAINS] = "sgb5/insured2";
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        uint8_t p[N_DOMAINS + 1][16], kd[N_DOMAINS + 1][VST_KEY_LEN];
        for (size_t d = 0; d <= N_DOMAINS; d++) {
            CU_ASSERT_FATAL(pseudo1(root, doms[d], 1, kv, ids[i], p[d]) == 0);
            CU_ASSERT_FATAL(vst_hkdf_domain(root, doms[d], kd[d]) == 0);
        }
        for (size_t a = 0; a <= N_DOMAINS; a++)
            for (size_t b = a + 1; b <= N_DOMAINS; b++) {
                CU_ASSERT(memcmp(p[a], p[b], 16) != 0);
                CU_ASSERT(memcmp(kd[a], kd[b], VST_KEY_LEN) != 0);
            }
        uint8_t q[16]; /* another root: another pseudonym */
        CU_ASSERT_FATAL(pseudo1(root2, doms[0], 1, kv, ids[i], q) == 0);
        CU_ASSERT(memcmp(p[0], q, 16) != 0);
    }
    /* The identifier is length-delimited: "a\0b" is not "a". */
    vst_domain_key *dk = vst_domain_key_new(root, "sgb5/insured");
    CU_ASSERT_FATAL(dk != NULL);
    uint8_t x[16], y[16];
    vst_inner_value(dk, "a\0b", 3, x);
    vst_inner_value(dk, "a", 1, y);
    CU_ASSERT(memcmp(x, y, 16) != 0);
    vst_domain_key_free(dk);
}

static void test_version_separation(void)
{
    uint8_t root[VST_KEY_LEN], k1[VST_KEY_LEN], k2[VST_KEY_LEN], a[16], b[16];
    rnd(root, sizeof root);
    rnd(k1, sizeof k1);
    rnd(k2, sizeof k2);
    for (size_t d = 0; d < N_DOMAINS; d++) {
        CU_ASSERT_FATAL(pseudo1(root, SGB5_DOMAINS[d], 1, k1, "A123456780", a) == 0);
        CU_ASSERT_FATAL(pseudo1(root, SGB5_DOMAINS[d], 2, k2, "A123456780", b) == 0);
        CU_ASSERT(memcmp(a, b, 16) != 0);
    }
    /* The version number is a label; the key alone determines P. */
    CU_ASSERT_FATAL(pseudo1(root, "sgb5/ik", 1, k1, "261234567", a) == 0);
    CU_ASSERT_FATAL(pseudo1(root, "sgb5/ik", 9, k1, "261234567", b) == 0);
    CU_ASSERT(memcmp(a, b, 16) == 0);
}

static void test_roundtrip(void)
{
    static const size_t sizes[] = {1, 2, 3, 5, 7, 15, 17, 31, 33, 255, 257, 1001, 4097};
    uint8_t key[VST_KEY_LEN];
    rnd(key, sizeof key);
    vst_version_key *vk = vst_version_key_new(3, key);
    CU_ASSERT_FATAL(vk != NULL);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        uint8_t *x = malloc(n * 16), *y = malloc(n * 16), *z = malloc(n * 16);
        CU_ASSERT_FATAL(x && y && z);
        rnd(x, n * 16);
        CU_ASSERT(vst_pseudonym_encrypt(vk, x, y, n) == 0);
        CU_ASSERT(memcmp(x, y, n * 16) != 0);
        CU_ASSERT(vst_pseudonym_decrypt(vk, y, z, n) == 0);
        CU_ASSERT(memcmp(x, z, n * 16) == 0);
        /* block-wise equals batch */
        int same = 1;
        for (size_t i = 0; i < n; i++) {
            uint8_t b[16];
            CU_ASSERT(vst_pseudonym_encrypt(vk, x + 16 * i, b, 1) == 0);
            same &= memcmp(b, y + 16 * i, 16) == 0;
        }
        CU_ASSERT(same);
        /* in place */
        memcpy(z, x, n * 16);
        CU_ASSERT(vst_pseudonym_encrypt(vk, z, z, n) == 0);
        CU_ASSERT(memcmp(z, y, n * 16) == 0);
        CU_ASSERT(vst_pseudonym_decrypt(vk, z, z, n) == 0);
        CU_ASSERT(memcmp(z, x, n * 16) == 0);
        free(x);
        free(y);
        free(z);
    }
    uint8_t dummy[16] = {0};
    CU_ASSERT(vst_pseudonym_encrypt(vk, dummy, dummy, 0) == 0);
    vst_version_key_free(vk);
}

#define N_BATCH 5000

typedef struct {
    char (*buf)[65];
    const char **ids;
    size_t *lens;
    uint8_t *single; /* one-at-a-time pseudonyms */
} idset;

static void idset_make(idset *s, const vst_domain_key *dk, vst_version_key *vk)
{
    s->buf = malloc(N_BATCH * sizeof *s->buf);
    s->ids = malloc(N_BATCH * sizeof *s->ids);
    s->lens = malloc(N_BATCH * sizeof *s->lens);
    s->single = malloc(N_BATCH * 16);
    CU_ASSERT_FATAL(s->buf && s->ids && s->lens && s->single);
    for (size_t i = 0; i < N_BATCH; i++) {
        s->lens[i] = rnd_u32(65);
        rnd(s->buf[i], s->lens[i]);
        s->ids[i] = s->buf[i];
        CU_ASSERT_FATAL(vst_pseudonymize(dk, vk, &s->ids[i], &s->lens[i], 1, s->single + 16 * i) ==
                        0);
    }
}

static void idset_free(idset *s)
{
    free(s->buf);
    free(s->ids);
    free(s->lens);
    free(s->single);
}

static void test_batch_equals_single(void)
{
    uint8_t root[VST_KEY_LEN], kv[VST_KEY_LEN];
    rnd(root, sizeof root);
    rnd(kv, sizeof kv);
    vst_domain_key *dk = vst_domain_key_new(root, "sgb5/lanr");
    vst_version_key *vk = vst_version_key_new(1, kv);
    CU_ASSERT_FATAL(dk != NULL && vk != NULL);
    idset s;
    idset_make(&s, dk, vk);
    uint8_t *out = malloc(N_BATCH * 16);
    CU_ASSERT_FATAL(out != NULL);

    /* Every n in 1..5000, each at a different offset into the set
     * (about 12.5 million identifiers: ~2 s under ASan). */
    size_t bad = 0;
    for (size_t n = 1; n <= N_BATCH; n++) {
        size_t o = (n * 7919u) % (N_BATCH - n + 1);
        if (vst_pseudonymize(dk, vk, s.ids + o, s.lens + o, n, out) != 0 ||
            memcmp(out, s.single + 16 * o, 16 * n) != 0) {
            if (bad++ == 0)
                fprintf(stderr, "\n  batch of %zu at offset %zu differs\n", n, o);
        }
    }
    CU_ASSERT(bad == 0);
    CU_ASSERT(vst_pseudonymize(dk, vk, s.ids, s.lens, 0, out) == 0);

    free(out);
    idset_free(&s);
    vst_domain_key_free(dk);
    vst_version_key_free(vk);
}

static void test_rekey(void)
{
    uint8_t root[VST_KEY_LEN], k1[VST_KEY_LEN], k2[VST_KEY_LEN];
    rnd(root, sizeof root);
    rnd(k1, sizeof k1);
    rnd(k2, sizeof k2);
    vst_domain_key *dk = vst_domain_key_new(root, "sgb5/insured");
    vst_version_key *v1 = vst_version_key_new(1, k1), *v2 = vst_version_key_new(2, k2);
    CU_ASSERT_FATAL(dk != NULL && v1 != NULL && v2 != NULL);
    CU_ASSERT(vst_version_key_version(v2) == 2);
    idset s;
    idset_make(&s, dk, v1);
    uint8_t *buf = malloc(N_BATCH * 16), *fresh = malloc(N_BATCH * 16);
    CU_ASSERT_FATAL(buf && fresh);

    static const size_t sizes[] = {1, 2, 3, 17, 999, N_BATCH};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        memcpy(buf, s.single, 16 * n);
        CU_ASSERT(vst_rekey(v1, v2, buf, n) == 0);
        CU_ASSERT(vst_pseudonymize(dk, v2, s.ids, s.lens, n, fresh) == 0);
        CU_ASSERT(memcmp(buf, fresh, 16 * n) == 0);
        CU_ASSERT(memcmp(buf, s.single, 16 * n) != 0);
        /* and back */
        CU_ASSERT(vst_rekey(v2, v1, buf, n) == 0);
        CU_ASSERT(memcmp(buf, s.single, 16 * n) == 0);
    }
    free(buf);
    free(fresh);
    idset_free(&s);
    vst_domain_key_free(dk);
    vst_version_key_free(v1);
    vst_version_key_free(v2);
}

/* A release pseudonym is the inner value under the release key: the same
 * from either key version, computed here with EVP directly; batch sizes
 * as for REKEY. */
static void test_release_map(void)
{
    uint8_t root[VST_KEY_LEN], k1[VST_KEY_LEN], k2[VST_KEY_LEN], kr[VST_KEY_LEN];
    rnd(root, sizeof root);
    rnd(k1, sizeof k1);
    rnd(k2, sizeof k2);
    rnd(kr, sizeof kr);
    vst_domain_key *dk = vst_domain_key_new(root, "sgb5/insured");
    vst_version_key *v1 = vst_version_key_new(1, k1), *v2 = vst_version_key_new(2, k2);
    CU_ASSERT_FATAL(dk != NULL && v1 != NULL && v2 != NULL);
    idset s;
    idset_make(&s, dk, v1);
    uint8_t *a = malloc(N_BATCH * 16), *b = malloc(N_BATCH * 16), *want = malloc(N_BATCH * 16);
    CU_ASSERT_FATAL(a && b && want);
    /* want = AES-256-ECB_{kr}(I), I = the inner values, by EVP alone. */
    CU_ASSERT_FATAL(vst_pseudonymize(dk, v1, s.ids, s.lens, N_BATCH, want) == 0);
    CU_ASSERT_FATAL(vst_pseudonym_decrypt(v1, want, want, N_BATCH) == 0);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int outl = 0;
    CU_ASSERT_FATAL(c != NULL && EVP_EncryptInit_ex2(c, EVP_aes_256_ecb(), kr, NULL, NULL) == 1 &&
                    EVP_CIPHER_CTX_set_padding(c, 0) == 1 &&
                    EVP_EncryptUpdate(c, want, &outl, want, N_BATCH * 16) == 1 &&
                    outl == N_BATCH * 16);
    EVP_CIPHER_CTX_free(c);
    static const size_t sizes[] = {1, 2, 17, 999, N_BATCH};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        size_t n = sizes[k];
        memcpy(a, s.single, 16 * n);
        CU_ASSERT(vst_pseudonymize(dk, v2, s.ids, s.lens, n, b) == 0);
        CU_ASSERT(vst_release_map(v1, kr, a, n) == 0);
        CU_ASSERT(vst_release_map(v2, kr, b, n) == 0);
        CU_ASSERT(memcmp(a, want, 16 * n) == 0);
        CU_ASSERT(memcmp(b, want, 16 * n) == 0);
        CU_ASSERT(memcmp(a, s.single, 16 * n) != 0);
    }
    /* Another release key: other release pseudonyms. */
    kr[0] ^= 1;
    memcpy(a, s.single, 16);
    CU_ASSERT(vst_release_map(v1, kr, a, 1) == 0 && memcmp(a, want, 16) != 0);
    free(a);
    free(b);
    free(want);
    idset_free(&s);
    vst_domain_key_free(dk);
    vst_version_key_free(v1);
    vst_version_key_free(v2);
}

/* I* = HMAC-SHA256(S, "vst/substitute/1" || I)[0..16) (DESIGN.md §12):
 * the docs/crypto.md vector (S = 00..1f, I = a0..af, computed with
 * Python's hmac), then random secrets and inner values against EVP_MAC;
 * another secret or another I gives another I*. */
static void test_substitute(void)
{
    uint8_t sec[VST_CASE_SECRET_LEN], in[VST_INNER_LEN], out[VST_INNER_LEN], want[VST_INNER_LEN];
    for (int i = 0; i < VST_CASE_SECRET_LEN; i++)
        sec[i] = (uint8_t)i;
    for (int i = 0; i < VST_INNER_LEN; i++)
        in[i] = (uint8_t)(0xa0 + i);
    CU_ASSERT_FATAL(vst_unhex("a8e6a0ad27ea1e898beb48397bfa5057", 16, want) == 0);
    CU_ASSERT_FATAL(vst_substitute(sec, in, out) == 0);
    CU_ASSERT(memcmp(out, want, 16) == 0);
    for (int k = 0; k < 200; k++) {
        uint8_t msg[16 + VST_INNER_LEN], mac[32], o2[VST_INNER_LEN];
        rnd(sec, sizeof sec);
        rnd(in, sizeof in);
        memcpy(msg, "vst/substitute/1", 16);
        memcpy(msg + 16, in, VST_INNER_LEN);
        CU_ASSERT_FATAL(ref_hmac(sec, sizeof sec, msg, sizeof msg, mac) == 0);
        CU_ASSERT_FATAL(vst_substitute(sec, in, out) == 0);
        CU_ASSERT(memcmp(out, mac, VST_INNER_LEN) == 0);
        CU_ASSERT(memcmp(out, in, VST_INNER_LEN) != 0);
        sec[k % 32] ^= 1;
        CU_ASSERT(vst_substitute(sec, in, o2) == 0 && memcmp(o2, out, VST_INNER_LEN) != 0);
        sec[k % 32] ^= 1;
        in[k % 16] ^= 0x80;
        CU_ASSERT(vst_substitute(sec, in, o2) == 0 && memcmp(o2, out, VST_INNER_LEN) != 0);
    }
}

static void test_domain_names(void)
{
    char name[VST_DOMAIN_MAXLEN + 2];
    uint8_t root[VST_KEY_LEN] = {1}, kd[VST_KEY_LEN];

    for (size_t d = 0; d < N_DOMAINS; d++)
        CU_ASSERT(vst_domain_name_ok(SGB5_DOMAINS[d]));
    CU_ASSERT(vst_domain_name_ok("a"));
    CU_ASSERT(vst_domain_name_ok("measles-2024_v1.0/school"));

    memset(name, 'a', VST_DOMAIN_MAXLEN);
    name[VST_DOMAIN_MAXLEN] = '\0';
    CU_ASSERT(vst_domain_name_ok(name)); /* 64 */
    name[VST_DOMAIN_MAXLEN] = 'a';
    name[VST_DOMAIN_MAXLEN + 1] = '\0';
    CU_ASSERT(!vst_domain_name_ok(name)); /* 65 */
    CU_ASSERT(vst_hkdf_domain(root, name, kd) == -1);
    CU_ASSERT(vst_domain_key_new(root, name) == NULL);

    static const char *const bad[] = {"",          "SGB5/insured", "sgb5/Insured", "sgb5 insured",
                                      " sgb5",     "sgb5/ik\n",    "sgb5:ik",      "sgb5\\ik",
                                      "m\xc3\xa4", "a\tb",         "a+b",          "a%s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CU_ASSERT(!vst_domain_name_ok(bad[i]));
        CU_ASSERT(vst_hkdf_domain(root, bad[i], kd) == -1);
        CU_ASSERT(vst_domain_key_new(root, bad[i]) == NULL);
    }
    CU_ASSERT(!vst_domain_name_ok(NULL));

    vst_domain_key_free(NULL);
    vst_version_key_free(NULL);
}

static void test_hex(void)
{
    uint8_t in[64], out[64];
    char hex[2 * 64 + 1];
    for (size_t n = 0; n <= 64; n++) {
        rnd(in, n);
        vst_hex(in, n, hex);
        CU_ASSERT(strlen(hex) == 2 * n);
        CU_ASSERT(strspn(hex, "0123456789abcdef") == 2 * n);
        memset(out, 0xee, sizeof out);
        CU_ASSERT(vst_unhex(hex, n, out) == 0);
        CU_ASSERT(memcmp(in, out, n) == 0);
        for (size_t i = 0; i < 2 * n; i++)
            if (hex[i] >= 'a' && hex[i] <= 'f')
                hex[i] = (char)(hex[i] - 'a' + 'A');
        CU_ASSERT(vst_unhex(hex, n, out) == 0);
        CU_ASSERT(memcmp(in, out, n) == 0);
    }
    uint8_t b[4];
    CU_ASSERT(vst_unhex("DeadBeef", 4, b) == 0 && b[0] == 0xde && b[3] == 0xef);
    static const char *const bad[] = {"deadbeeg", "dead beef", "0xdeadbe",  "deadbe\xef\xbb",
                                      "-eadbeef", "deadbee:",  "deadbee\n", "de\0dbeef"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* copied into a zero-padded buffer: a short string must not make the
         * parser read beyond it */
        char padded[16] = {0};
        memcpy(padded, bad[i], 8);
        CU_ASSERT(vst_unhex(padded, 4, b) == -1);
    }
    char shortstr[16] = "deadbe";
    CU_ASSERT(vst_unhex(shortstr, 4, b) == -1); /* fewer than 2n digits */
    char odd[16] = "deadbee";
    CU_ASSERT(vst_unhex(odd, 4, b) == -1);
}

/* ---- registration --------------------------------------------------------- */

static vst_test cli_tests[] = {
    {"openssl CLI present", test_cli_present},
    {"CLI hex parser", test_cli_hex_parser},
    {"HKDF/HMAC/AES vs openssl CLI, sgb5 domains", test_cli_crosscheck},
    {"multi-block AES vs openssl CLI", test_cli_aes_batch},
    {NULL, NULL},
};

static vst_test vector_tests[] = {
    {"RFC 5869 via EVP_KDF (empty salt)", test_rfc5869},
    {"RFC 4231 anchors EVP_MAC reference", test_rfc4231_reference},
    {"HKDF vs EVP_MAC reference", test_hkdf_vs_reference},
    {"inner value vs EVP_MAC, 1000 ids", test_inner_vs_evp_mac},
    {"FIPS-197 AES-256", test_fips197},
    {"docs/crypto.md worked example", test_doc_example},
    {"substitute inner value I* vs EVP_MAC and the docs vector", test_substitute},
    {NULL, NULL},
};

static vst_test property_tests[] = {
    {"determinism", test_determinism},
    {"domain separation", test_domain_separation},
    {"version separation", test_version_separation},
    {"encrypt/decrypt round trip", test_roundtrip},
    {"batch equals one-at-a-time", test_batch_equals_single},
    {"rekey equals fresh pseudonymization", test_rekey},
    {"release map: inner value under the release key", test_release_map},
    {"domain name validation", test_domain_names},
    {"hex and unhex", test_hex},
    {NULL, NULL},
};

int vst_register_tests(void)
{
    static const struct {
        const char *title;
        vst_test *tests;
    } suites[] = {
        {"derive: openssl CLI", cli_tests},
        {"derive: published vectors", vector_tests},
        {"derive: properties", property_tests},
    };
    for (size_t k = 0; k < sizeof suites / sizeof suites[0]; k++) {
        vst_test *list = suites[k].tests;
        VST_ADD_SUITE(suites[k].title, list);
    }
    return CUE_SUCCESS;
}
