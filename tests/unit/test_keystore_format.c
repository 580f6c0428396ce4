/* The keystore's files keep their bytes (docs/keystore.md "On disk").
 *
 * tests/data/keystore-v1 was written by the keystore code as it was before
 * issue 9 split it (keys/keystore.c in one file): a Shamir 2-of-3 keystore
 * with master key a0 a1 .. bf, keystore id 00 11 .. ff, versions 1
 * (retired), 2 (active) and 3 (current), generation 4, and two of its three
 * shares. These tests hold today's code to those bytes:
 *
 *   - the shares combine to the master key (share text and check values);
 *   - the keystore opens with it, with the versions, keys and header it had;
 *   - its keystore.sealed, decrypted here with OpenSSL alone as the format
 *     documents it (no keys/ code), holds exactly the plaintext this test
 *     composes from the opened keystore, and so does every file today's
 *     code writes (rotate, retire): a writer that moved a byte fails;
 *   - a keystore.info written today for the same id and master key differs
 *     from the old one only in the creation time and the signing key;
 *   - it opens with an empty exception list (issue 12), keeps VSTKEYS1 until
 *     the first case, and every change of the list is sealed as the format
 *     documents it (VSTKEYS2), again checked with OpenSSL alone. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "cunit_main.h"
#include "keystore.h"
#include "shamir.h"

#define FIXTURE "tests/data/keystore-v1"
#define FILE_MAX 4096

static char tmp[64];
static char err[1024];

static void master_key(uint8_t m[VST_KEY_LEN])
{
    for (int i = 0; i < VST_KEY_LEN; i++)
        m[i] = (uint8_t)(0xa0 + i);
}

static const char *in_tmp(const char *name)
{
    static char buf[4][256];
    static int k;
    char *b = buf[k++ % 4];
    int n = snprintf(b, sizeof buf[0], "%s/%s", tmp, name);
    CU_ASSERT_FATAL(n > 0 && (size_t)n < sizeof buf[0]);
    return b;
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    CU_ASSERT_FATAL(n > 0 && n < cap);
    return n;
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(write(fd, p, n) == (ssize_t)n);
    close(fd);
}

/* A private copy of the fixture in tmp/ks (0700, files 0600), as keyd would
 * hold it: open takes a lock and rotate rewrites. */
static void setup(void)
{
    strcpy(tmp, "/tmp/vst-test-ksformat-XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmp));
    CU_ASSERT_EQUAL_FATAL(mkdir(in_tmp("ks"), 0700), 0);
    static const char *const names[] = {VST_KS_INFO_FILE, VST_KS_SEALED_FILE};
    for (size_t i = 0; i < 2; i++) {
        uint8_t buf[FILE_MAX];
        char src[256], dst[256];
        snprintf(src, sizeof src, FIXTURE "/%s", names[i]);
        snprintf(dst, sizeof dst, "ks/%s", names[i]);
        size_t n = read_file(vst_src_path(src), buf, sizeof buf);
        write_file(in_tmp(dst), buf, n);
    }
}

static void teardown(void)
{
    unlink(in_tmp("ks/" VST_KS_INFO_FILE));
    unlink(in_tmp("ks/" VST_KS_SEALED_FILE));
    unlink(in_tmp("new/" VST_KS_INFO_FILE));
    unlink(in_tmp("new/" VST_KS_SEALED_FILE));
    rmdir(in_tmp("ks"));
    rmdir(in_tmp("new"));
    rmdir(tmp);
}

/* ---- the documented format, with OpenSSL alone */

static void hkdf(const uint8_t *ikm, const uint8_t *salt, size_t saltlen, const char *info,
                 uint8_t *out, size_t outlen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *c = EVP_KDF_CTX_new(kdf);
    char digest[] = "SHA256";
    OSSL_PARAM p[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, VST_KEY_LEN),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info)),
        OSSL_PARAM_construct_end()};
    CU_ASSERT_FATAL(c != NULL && EVP_KDF_derive(c, out, outlen, p) == 1);
    EVP_KDF_CTX_free(c);
    EVP_KDF_free(kdf);
}

/* Decrypts dir's keystore.sealed:
 *   magic "VSTSEAL1" || generation u64 || nonce[12] || ct || tag[16],
 *   AAD = magic || generation || keystore.info. */
static size_t unseal_here(const char *dir, uint8_t *pt, uint64_t *generation)
{
    uint8_t info[FILE_MAX], file[FILE_MAX], seal[VST_KEY_LEN], master[VST_KEY_LEN], id[16];
    char path[256];
    snprintf(path, sizeof path, "%s/" VST_KS_INFO_FILE, dir);
    size_t il = read_file(path, info, sizeof info);
    snprintf(path, sizeof path, "%s/" VST_KS_SEALED_FILE, dir);
    size_t fl = read_file(path, file, sizeof file);
    CU_ASSERT_FATAL(fl > 16 + 12 + 16 && memcmp(file, "VSTSEAL1", 8) == 0);
    *generation = 0;
    for (int i = 8; i < 16; i++)
        *generation = *generation << 8 | file[i];
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)(0x11 * i);
    master_key(master);
    hkdf(master, id, sizeof id, "vst/keystore/seal/v1", seal, sizeof seal);
    size_t ctl = fl - 16 - 12 - 16;
    int outl = 0, finl = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    CU_ASSERT_FATAL(EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
                    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
                    EVP_DecryptInit_ex(c, NULL, NULL, seal, file + 16) == 1 &&
                    EVP_DecryptUpdate(c, NULL, &outl, file, 16) == 1 &&
                    EVP_DecryptUpdate(c, NULL, &outl, info, (int)il) == 1 &&
                    EVP_DecryptUpdate(c, pt, &outl, file + 28, (int)ctl) == 1 &&
                    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, file + 28 + ctl) == 1 &&
                    EVP_DecryptFinal_ex(c, pt + outl, &finl) == 1);
    EVP_CIPHER_CTX_free(c);
    OPENSSL_cleanse(seal, sizeof seal);
    return ctl;
}

static uint8_t *be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

/* The exception list's part (issue 12):
 *   ndomains u8 || ndomains x (len u8 || name) || ncases u32 ||
 *   ncases x (domain u8 || I[16] || action u8 || case_id[8] || created_us i64
 *             || secret_len u8 (0 or 32) || secret). */
static uint8_t *compose_cases(const vst_keystore *ks, uint8_t *p)
{
    const vst_ks_case *c;
    size_t n = vst_keystore_cases(ks, &c);
    unsigned ndom = 0;
    for (size_t i = 0; i < n; i++)
        if (c[i].domain + 1u > ndom)
            ndom = c[i].domain + 1u;
    *p++ = (uint8_t)ndom;
    for (unsigned d = 0; d < ndom; d++) {
        vst_ks_case probe = {.domain = (uint8_t)d};
        const char *name = vst_keystore_case_domain(ks, &probe);
        *p++ = (uint8_t)strlen(name);
        memcpy(p, name, strlen(name)), p += strlen(name);
    }
    p = be(p, n, 4);
    for (size_t i = 0; i < n; i++) {
        *p++ = c[i].domain;
        memcpy(p, c[i].inner, 16), p += 16;
        *p++ = c[i].action;
        memcpy(p, c[i].case_id, 8), p += 8;
        p = be(p, (uint64_t)c[i].created_us, 8);
        *p++ = c[i].has_secret ? 32 : 0;
        if (c[i].has_secret)
            memcpy(p, c[i].secret, 32), p += 32;
    }
    return p;
}

/* The plaintext an open keystore must seal:
 *   "VSTKEYS1" || K_root || Ed25519 private || current u32 || count u32 ||
 *   count x (version u32 || state u8 || created i64 || retired i64 || K_v
 *   unless retired), and with an exception list "VSTKEYS2" || the same ||
 *   compose_cases. */
static size_t compose(const vst_keystore *ks, uint8_t *out)
{
    vst_key_version v[8];
    size_t nv = vst_keystore_versions(ks, v, 8);
    CU_ASSERT_FATAL(nv >= 1 && nv <= 8);
    size_t ncases = vst_keystore_cases(ks, NULL);
    uint8_t *p = out;
    memcpy(p, ncases > 0 ? "VSTKEYS2" : "VSTKEYS1", 8), p += 8;
    memcpy(p, vst_keystore_root_key(ks), VST_KEY_LEN), p += VST_KEY_LEN;
    memcpy(p, vst_keystore_sign_private(ks), VST_ED25519_LEN), p += VST_ED25519_LEN;
    p = be(p, vst_keystore_current(ks), 4);
    p = be(p, nv, 4);
    for (size_t i = 0; i < nv; i++) {
        p = be(p, v[i].version, 4);
        *p++ = (uint8_t)v[i].state;
        p = be(p, (uint64_t)v[i].created, 8);
        p = be(p, (uint64_t)v[i].retired, 8);
        if (v[i].state != VST_KEY_RETIRED)
            memcpy(p, vst_keystore_version_key(ks, v[i].version), VST_KEY_LEN), p += VST_KEY_LEN;
    }
    if (ncases > 0)
        p = compose_cases(ks, p);
    return (size_t)(p - out);
}

/* dir's sealed file holds exactly ks's plaintext, as generation gen. */
static void sealed_matches(const vst_keystore *ks, const char *dir, uint64_t gen)
{
    uint8_t pt[FILE_MAX], want[FILE_MAX];
    uint64_t g;
    size_t n = unseal_here(dir, pt, &g);
    size_t wn = compose(ks, want);
    CU_ASSERT_EQUAL(g, gen);
    CU_ASSERT_EQUAL(vst_keystore_generation(ks), gen);
    CU_ASSERT_EQUAL(n, wn);
    CU_ASSERT(n == wn && memcmp(pt, want, n) == 0);
    OPENSSL_cleanse(pt, sizeof pt);
    OPENSSL_cleanse(want, sizeof want);
}

/* ---- tests */

static void test_shares_combine(void)
{
    static const char *const files[] = {FIXTURE "/share-37.txt", FIXTURE "/share-193.txt"};
    vst_share sh[2];
    uint8_t id[VST_KS_ID_LEN], master[VST_KEY_LEN], want[VST_KEY_LEN];
    for (int i = 0; i < VST_KS_ID_LEN; i++)
        id[i] = (uint8_t)(0x11 * i);
    for (int i = 0; i < 2; i++)
        CU_ASSERT_EQUAL_FATAL(
            vst_share_file_read(vst_src_path(files[i]), id, &sh[i], err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(sh[0].index, 37);
    CU_ASSERT_EQUAL(sh[1].index, 193);
    CU_ASSERT_EQUAL_FATAL(vst_shamir_combine(sh, 2, id, master, err, sizeof err), VST_KS_OK);
    master_key(want);
    CU_ASSERT_EQUAL(memcmp(master, want, VST_KEY_LEN), 0);
    vst_share_wipe(sh, 2);
}

static void test_old_keystore_opens(void)
{
    setup();
    uint8_t master[VST_KEY_LEN];
    master_key(master);
    vst_keystore *ks = NULL;
    vst_ks_status st = vst_keystore_open(in_tmp("ks"), master, &ks, err, sizeof err);
    if (st != VST_KS_OK)
        fprintf(stderr, "open: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(st, VST_KS_OK);
    const vst_keystore_info *in = vst_keystore_get_info(ks);
    CU_ASSERT_STRING_EQUAL(in->id_hex, "00112233445566778899aabbccddeeff");
    CU_ASSERT_EQUAL(in->mode.mode, VST_KS_MODE_SHAMIR);
    CU_ASSERT_EQUAL(in->mode.threshold, 2);
    CU_ASSERT_EQUAL(in->mode.shares, 3);
    CU_ASSERT_EQUAL_FATAL(in->nshare_checks, 3);
    CU_ASSERT_EQUAL(in->share_checks[0].index, 37);
    CU_ASSERT_EQUAL(in->share_checks[2].index, 239);
    CU_ASSERT_PTR_NOT_NULL(vst_keystore_share_check(in, 193));
    CU_ASSERT_EQUAL(vst_keystore_check_master(in, master), 1);
    CU_ASSERT_EQUAL(vst_keystore_current(ks), 3);
    vst_key_version v[4];
    CU_ASSERT_EQUAL_FATAL(vst_keystore_versions(ks, v, 4), 3);
    CU_ASSERT(v[0].version == 1 && v[0].state == VST_KEY_RETIRED && v[0].retired > 0);
    CU_ASSERT(v[1].version == 2 && v[1].state == VST_KEY_ACTIVE && v[1].retired == 0);
    CU_ASSERT(v[2].version == 3 && v[2].state == VST_KEY_CURRENT);
    CU_ASSERT_PTR_NULL(vst_keystore_version_key(ks, 1));
    CU_ASSERT_PTR_NOT_NULL(vst_keystore_version_key(ks, 2));
    sealed_matches(ks, in_tmp("ks"), 4);

    vst_keystore_info again;
    CU_ASSERT_EQUAL(vst_keystore_read_info(in_tmp("ks"), &again, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(memcmp(&again, in, sizeof again), 0);
    vst_keystore_free(ks);
    teardown();
}

static void test_rewrites_keep_the_format(void)
{
    setup();
    uint8_t master[VST_KEY_LEN];
    master_key(master);
    vst_keystore *ks = NULL;
    CU_ASSERT_EQUAL_FATAL(vst_keystore_open(in_tmp("ks"), master, &ks, err, sizeof err), VST_KS_OK);
    uint32_t nv = 0;
    CU_ASSERT_EQUAL_FATAL(vst_keystore_rotate(ks, &nv, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(nv, 4);
    sealed_matches(ks, in_tmp("ks"), 5);
    CU_ASSERT_EQUAL_FATAL(vst_keystore_retire(ks, 2, err, sizeof err), VST_KS_OK);
    sealed_matches(ks, in_tmp("ks"), 6);
    uint8_t k4[VST_KEY_LEN];
    memcpy(k4, vst_keystore_version_key(ks, 4), VST_KEY_LEN);
    vst_keystore_free(ks);

    ks = NULL;
    CU_ASSERT_EQUAL_FATAL(vst_keystore_open(in_tmp("ks"), master, &ks, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(vst_keystore_current(ks), 4);
    CU_ASSERT(memcmp(vst_keystore_version_key(ks, 4), k4, VST_KEY_LEN) == 0);
    sealed_matches(ks, in_tmp("ks"), 6);
    vst_keystore_free(ks);
    OPENSSL_cleanse(k4, sizeof k4);
    teardown();
}

/* Seals pt as dir's keystore.sealed of generation gen, with OpenSSL alone
 * (the layout unseal_here reads). */
static void seal_here(const char *dir, const uint8_t *pt, size_t n, uint64_t gen)
{
    uint8_t info[FILE_MAX], file[FILE_MAX], seal[VST_KEY_LEN], master[VST_KEY_LEN], id[16];
    char path[256];
    snprintf(path, sizeof path, "%s/" VST_KS_INFO_FILE, dir);
    size_t il = read_file(path, info, sizeof info);
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)(0x11 * i);
    master_key(master);
    hkdf(master, id, sizeof id, "vst/keystore/seal/v1", seal, sizeof seal);
    CU_ASSERT_FATAL(16 + 12 + n + 16 <= sizeof file);
    memcpy(file, "VSTSEAL1", 8);
    be(file + 8, gen, 8);
    memset(file + 16, 0x42, 12);
    int outl = 0, finl = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    CU_ASSERT_FATAL(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
                    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1 &&
                    EVP_EncryptInit_ex(c, NULL, NULL, seal, file + 16) == 1 &&
                    EVP_EncryptUpdate(c, NULL, &outl, file, 16) == 1 &&
                    EVP_EncryptUpdate(c, NULL, &outl, info, (int)il) == 1 &&
                    EVP_EncryptUpdate(c, file + 28, &outl, pt, (int)n) == 1 &&
                    EVP_EncryptFinal_ex(c, file + 28 + outl, &finl) == 1 &&
                    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, file + 28 + n) == 1);
    EVP_CIPHER_CTX_free(c);
    OPENSSL_cleanse(seal, sizeof seal);
    snprintf(path, sizeof path, "%s/" VST_KS_SEALED_FILE, dir);
    unlink(path);
    write_file(path, file, 16 + 12 + n + 16);
}

static vst_ks_case mkcase(uint8_t action, uint8_t tag)
{
    vst_ks_case c = {.action = action, .has_secret = action == VST_CASE_SUBSTITUTE};
    memset(c.inner, tag, sizeof c.inner);
    memset(c.case_id, tag + 1, sizeof c.case_id);
    c.created_us = 1780000000000000 + tag;
    if (c.has_secret)
        memset(c.secret, tag + 2, sizeof c.secret);
    return c;
}

/* The keystore written before issue 9 opens with an empty exception list;
 * every change of the list is a new generation sealed as documented
 * (VSTKEYS2); rotate and retire keep the list; it reopens as it was. */
static void test_cases_format(void)
{
    setup();
    uint8_t master[VST_KEY_LEN];
    master_key(master);
    vst_keystore *ks = NULL;
    CU_ASSERT_EQUAL_FATAL(vst_keystore_open(in_tmp("ks"), master, &ks, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(vst_keystore_cases(ks, NULL), 0);
    vst_ks_case a = mkcase(VST_CASE_SUBSTITUTE, 0x31), b = mkcase(VST_CASE_WITHHOLD, 0x52);
    CU_ASSERT_EQUAL_FATAL(vst_keystore_case_add(ks, "sgb5/insured", &a, err, sizeof err),
                          VST_KS_OK);
    sealed_matches(ks, in_tmp("ks"), 5);
    CU_ASSERT_EQUAL_FATAL(vst_keystore_case_add(ks, "sgb5/lanr", &b, err, sizeof err), VST_KS_OK);
    sealed_matches(ks, in_tmp("ks"), 6);
    uint8_t id[8] = {9, 9, 9, 9, 9, 9, 9, 9};
    CU_ASSERT_EQUAL_FATAL(vst_keystore_case_withhold(ks, 0, id, 1790000000000000, err, sizeof err),
                          VST_KS_OK);
    sealed_matches(ks, in_tmp("ks"), 7);
    CU_ASSERT_EQUAL_FATAL(vst_keystore_rotate(ks, NULL, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL_FATAL(vst_keystore_retire(ks, 2, err, sizeof err), VST_KS_OK);
    sealed_matches(ks, in_tmp("ks"), 9);
    /* Refused: a bad domain, an unknown action, a substitute without a
     * secret; the file and generation stay. */
    vst_ks_case bad = mkcase(VST_CASE_SUBSTITUTE, 0x60);
    CU_ASSERT_EQUAL(vst_keystore_case_add(ks, "SGB5", &bad, err, sizeof err), VST_KS_INVALID);
    bad.has_secret = 0;
    CU_ASSERT_EQUAL(vst_keystore_case_add(ks, "d", &bad, err, sizeof err), VST_KS_INVALID);
    bad.action = 3;
    CU_ASSERT_EQUAL(vst_keystore_case_add(ks, "d", &bad, err, sizeof err), VST_KS_INVALID);
    CU_ASSERT_EQUAL(vst_keystore_case_withhold(ks, 2, id, 1, err, sizeof err), VST_KS_INVALID);
    sealed_matches(ks, in_tmp("ks"), 9);
    vst_keystore_free(ks);

    ks = NULL;
    CU_ASSERT_EQUAL_FATAL(vst_keystore_open(in_tmp("ks"), master, &ks, err, sizeof err), VST_KS_OK);
    const vst_ks_case *c;
    CU_ASSERT_EQUAL_FATAL(vst_keystore_cases(ks, &c), 2);
    CU_ASSERT(c[0].action == VST_CASE_WITHHOLD && c[0].has_secret == 1);
    CU_ASSERT(memcmp(c[0].secret, a.secret, 32) == 0 && memcmp(c[0].case_id, id, 8) == 0);
    CU_ASSERT(c[0].created_us == 1790000000000000 && memcmp(c[0].inner, a.inner, 16) == 0);
    CU_ASSERT(c[1].action == VST_CASE_WITHHOLD && c[1].has_secret == 0);
    CU_ASSERT(memcmp(&c[1].case_id, b.case_id, 8) == 0 && c[1].created_us == b.created_us);
    CU_ASSERT_STRING_EQUAL(vst_keystore_case_domain(ks, &c[1]), "sgb5/lanr");
    sealed_matches(ks, in_tmp("ks"), 9);
    vst_keystore_free(ks);
    teardown();
}

/* A sealed list that authenticates but breaks the format is refused as
 * corrupt: each plaintext below is sealed here with the right key. */
static void test_cases_inconsistent(void)
{
    setup();
    uint8_t master[VST_KEY_LEN], good[FILE_MAX], pt[FILE_MAX];
    master_key(master);
    vst_keystore *ks = NULL;
    CU_ASSERT_EQUAL_FATAL(vst_keystore_open(in_tmp("ks"), master, &ks, err, sizeof err), VST_KS_OK);
    vst_ks_case a = mkcase(VST_CASE_SUBSTITUTE, 0x31);
    CU_ASSERT_EQUAL_FATAL(vst_keystore_case_add(ks, "d", &a, err, sizeof err), VST_KS_OK);
    size_t n = compose(ks, good), head = n - (1 + 2 + 4 + 1 + 16 + 1 + 8 + 8 + 1 + 32);
    vst_keystore_free(ks);
    /* Offsets in the list's part: ndomains, len, 'd', ncases[4], domain,
     * I, action, case id, created, secret_len, secret. */
    enum { NDOM = 0, DLEN = 1, NAME = 2, NCASES = 3, DIDX = 7, ACTION = 24, SLEN = 41 };
    static const struct {
        size_t off;
        uint8_t val;
        long cut; /* bytes removed (< 0) or added (> 0) at the end */
    } bad[] = {{NDOM, 0, 0},       {DLEN, 0, 0}, {NAME, 'D', 0}, {NCASES + 3, 0, 0},
               {NCASES + 3, 2, 0}, {DIDX, 1, 0}, {ACTION, 0, 0}, {ACTION, 3, 0},
               {SLEN, 16, 0},      {SLEN, 0, 0}, {0, 0, -1},     {0, 0, 1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(pt, good, n);
        pt[n] = 0;
        if (bad[i].cut == 0)
            pt[head + bad[i].off] = bad[i].val;
        seal_here(in_tmp("ks"), pt, (size_t)((long)n + bad[i].cut), 5);
        ks = NULL;
        CU_ASSERT_EQUAL(vst_keystore_open(in_tmp("ks"), master, &ks, err, sizeof err),
                        VST_KS_CORRUPT);
        vst_keystore_free(ks);
    }
    /* The same bytes as they are open; an unknown magic does not. */
    seal_here(in_tmp("ks"), good, n, 5);
    ks = NULL;
    CU_ASSERT_EQUAL(vst_keystore_open(in_tmp("ks"), master, &ks, err, sizeof err), VST_KS_OK);
    vst_keystore_free(ks);
    memcpy(pt, good, n);
    pt[7] = '3';
    seal_here(in_tmp("ks"), pt, n, 5);
    ks = NULL;
    CU_ASSERT_EQUAL(vst_keystore_open(in_tmp("ks"), master, &ks, err, sizeof err), VST_KS_CORRUPT);
    vst_keystore_free(ks);
    OPENSSL_cleanse(good, sizeof good);
    OPENSSL_cleanse(pt, sizeof pt);
    teardown();
}

/* Line by line, except "created:" and "signing-public-key:". */
static void test_info_written_alike(void)
{
    setup();
    uint8_t master[VST_KEY_LEN];
    master_key(master);
    vst_keystore_info old;
    CU_ASSERT_EQUAL_FATAL(vst_keystore_read_info(in_tmp("ks"), &old, err, sizeof err), VST_KS_OK);
    vst_keystore *ks = NULL;
    CU_ASSERT_EQUAL_FATAL(vst_keystore_create_ex(in_tmp("new"), master, &old.mode, old.id,
                                                 old.share_checks, old.nshare_checks, &ks, err,
                                                 sizeof err),
                          VST_KS_OK);
    vst_keystore_free(ks);
    char a[FILE_MAX + 1], b[FILE_MAX + 1];
    size_t an = read_file(in_tmp("ks/" VST_KS_INFO_FILE), (uint8_t *)a, FILE_MAX);
    size_t bn = read_file(in_tmp("new/" VST_KS_INFO_FILE), (uint8_t *)b, FILE_MAX);
    a[an] = b[bn] = '\0';
    char *sa = NULL, *sb = NULL;
    int lines = 0;
    for (char *la = strtok_r(a, "\n", &sa), *lb = strtok_r(b, "\n", &sb); la != NULL || lb != NULL;
         la = strtok_r(NULL, "\n", &sa), lb = strtok_r(NULL, "\n", &sb), lines++) {
        CU_ASSERT_FATAL(la != NULL && lb != NULL);
        if (strncmp(la, "created: ", 9) == 0 || strncmp(la, "signing-public-key: ", 20) == 0) {
            CU_ASSERT(strlen(la) == strlen(lb) && strncmp(la, lb, 9) == 0);
        } else {
            CU_ASSERT_STRING_EQUAL(la, lb);
        }
    }
    CU_ASSERT_EQUAL(lines, 7);
    CU_ASSERT_EQUAL(an, bn);
    teardown();
}

int vst_register_tests(void)
{
    static vst_test tests[] = {
        {"the old keystore's shares combine", test_shares_combine},
        {"a keystore written before issue 9 opens, same plaintext", test_old_keystore_opens},
        {"rotate and retire write the same format", test_rewrites_keep_the_format},
        {"keystore.info is written as before", test_info_written_alike},
        {"the exception list: empty in an old keystore, sealed as documented", test_cases_format},
        {"an exception list that breaks the format is refused", test_cases_inconsistent},
        {NULL, NULL},
    };
    VST_ADD_SUITE("keystore format", tests);
    return CUE_SUCCESS;
}
