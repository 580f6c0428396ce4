/* The sealed keystore, Shamir shares and the dev master-key file
 * (keys/keystore.h, keys/shamir.h, docs/keystore.md). Every test works in a
 * private mkdtemp directory that is removed afterwards. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cunit_main.h"
#include "keystore.h"
#include "shamir.h"

/* ------------------------------------------------------------ fixture */

#define NKS 4
#define NBUF 16
static struct {
    char tmp[64];
    vst_keystore *ks[NKS];
    void *buf[NBUF]; /* test allocations, freed by fx_end */
} fx;

static char err[1024];

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        chmod(path, 0700);
        DIR *d = opendir(path);
        if (d != NULL) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                char sub[4096];
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

/* Frees what a previous test left behind (a failed CU_ASSERT_*_FATAL
 * skips its own clean-up). */
static void fx_end(void)
{
    for (int i = 0; i < NKS; i++) {
        vst_keystore_free(fx.ks[i]);
        fx.ks[i] = NULL;
    }
    for (int i = 0; i < NBUF; i++) {
        free(fx.buf[i]);
        fx.buf[i] = NULL;
    }
    if (fx.tmp[0] != '\0')
        rm_rf(fx.tmp);
    fx.tmp[0] = '\0';
}

static void fx_begin(void)
{
    fx_end();
    strcpy(fx.tmp, "/tmp/vst-test-keystore-XXXXXX");
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(fx.tmp));
    err[0] = '\0';
}

/* A path inside the test directory (static rotating buffers). */
static const char *P(const char *name)
{
    static char buf[8][4096];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, 4096, "%s/%s", fx.tmp, name);
    return b;
}

/* malloc whose block fx_end frees. */
static void *fx_alloc(size_t n)
{
    for (int i = 0; i < NBUF; i++)
        if (fx.buf[i] == NULL)
            return fx.buf[i] = calloc(1, n);
    CU_FAIL_FATAL("test fixture: too many buffers");
    return NULL;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    unsigned char *buf = fx_alloc(1 << 16);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

/* Overwrites (or creates, 0600) a file with the given bytes. */
static void spill(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(write(fd, data, len) == (ssize_t)len);
    close(fd);
}

static unsigned file_mode(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0xffffffffu;
    return (unsigned)(st.st_mode & 07777);
}

static int count_entries(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static const vst_ks_mode_info MODE_2_OF_3 = {VST_KS_MODE_SHAMIR, 2, 3};
static const vst_ks_mode_info MODE_DEV = {VST_KS_MODE_DEV_FILE, 0, 0};

/* Creates DIR/ks with a fresh master key; the keystore stays open in fx.ks[0]. */
static void make_keystore(uint8_t master[VST_KEY_LEN], const vst_ks_mode_info *mode)
{
    CU_ASSERT_EQUAL_FATAL(vst_master_generate(master), VST_KS_OK);
    vst_ks_status st = vst_keystore_create(P("ks"), master, mode, &fx.ks[0], err, sizeof err);
    if (st != VST_KS_OK)
        fprintf(stderr, "create: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(st, VST_KS_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fx.ks[0]);
}

static int is_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* -------------------------------------------------------------- tests */

static void test_status_names(void)
{
    for (int s = VST_KS_OK; s <= VST_KS_SHARE_TOO_FEW; s++)
        CU_ASSERT_STRING_NOT_EQUAL(vst_ks_status_name((vst_ks_status)s), "unknown");
    CU_ASSERT_STRING_EQUAL(vst_ks_status_name(VST_KS_WRONG_KEY), "wrong_key");
    CU_ASSERT_STRING_EQUAL(vst_key_state_name(VST_KEY_RETIRED), "retired");
}

static void test_create_open_roundtrip(void)
{
    fx_begin();
    uint8_t master[VST_KEY_LEN], root[VST_KEY_LEN], k1[VST_KEY_LEN], sign[VST_ED25519_LEN];
    make_keystore(master, &MODE_2_OF_3);
    vst_keystore *ks = fx.ks[0];

    CU_ASSERT_EQUAL(vst_keystore_current(ks), 1);
    CU_ASSERT_EQUAL(vst_keystore_generation(ks), 1);
    vst_key_version vers[4];
    CU_ASSERT_EQUAL(vst_keystore_versions(ks, vers, 4), 1);
    CU_ASSERT_EQUAL(vers[0].version, 1);
    CU_ASSERT_EQUAL(vers[0].state, VST_KEY_CURRENT);
    CU_ASSERT(vers[0].created > 0);
    CU_ASSERT_EQUAL(vers[0].retired, 0);
    CU_ASSERT_PTR_NULL(vst_keystore_version_key(ks, 0));
    CU_ASSERT_PTR_NULL(vst_keystore_version_key(ks, 2));
    CU_ASSERT_EQUAL(vst_keystore_version_state(ks, 2, NULL), -1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(vst_keystore_version_key(ks, 1));
    memcpy(root, vst_keystore_root_key(ks), VST_KEY_LEN);
    memcpy(k1, vst_keystore_version_key(ks, 1), VST_KEY_LEN);
    memcpy(sign, vst_keystore_sign_private(ks), VST_ED25519_LEN);
    CU_ASSERT(!is_zero(root, VST_KEY_LEN));
    CU_ASSERT(!is_zero(k1, VST_KEY_LEN));
    CU_ASSERT(memcmp(root, k1, VST_KEY_LEN) != 0);
    CU_ASSERT(memcmp(root, master, VST_KEY_LEN) != 0);
    vst_keystore_info info = *vst_keystore_get_info(ks);
    CU_ASSERT_EQUAL(info.format, VST_KS_FORMAT);
    CU_ASSERT_EQUAL(strlen(info.id_hex), VST_KS_ID_HEX);
    vst_keystore_free(ks);
    fx.ks[0] = NULL;

    vst_ks_status st = vst_keystore_open(P("ks"), master, &fx.ks[0], err, sizeof err);
    CU_ASSERT_EQUAL_FATAL(st, VST_KS_OK);
    ks = fx.ks[0];
    CU_ASSERT_EQUAL(memcmp(vst_keystore_root_key(ks), root, VST_KEY_LEN), 0);
    CU_ASSERT_EQUAL(memcmp(vst_keystore_version_key(ks, 1), k1, VST_KEY_LEN), 0);
    CU_ASSERT_EQUAL(memcmp(vst_keystore_sign_private(ks), sign, VST_ED25519_LEN), 0);
    CU_ASSERT_EQUAL(vst_keystore_current(ks), 1);
    CU_ASSERT_EQUAL(vst_keystore_generation(ks), 1);
    const vst_keystore_info *in2 = vst_keystore_get_info(ks);
    CU_ASSERT_EQUAL(memcmp(in2->id, info.id, VST_KS_ID_LEN), 0);
    CU_ASSERT_EQUAL(memcmp(in2->sign_public, info.sign_public, VST_ED25519_LEN), 0);
    CU_ASSERT_EQUAL(memcmp(in2->key_check, info.key_check, VST_KS_KCV_LEN), 0);
    CU_ASSERT_EQUAL(in2->created, info.created);
    CU_ASSERT_EQUAL(in2->mode.mode, VST_KS_MODE_SHAMIR);
    CU_ASSERT_EQUAL(in2->mode.threshold, 2);
    CU_ASSERT_EQUAL(in2->mode.shares, 3);
    OPENSSL_cleanse(root, sizeof root);
    OPENSSL_cleanse(k1, sizeof k1);
    OPENSSL_cleanse(sign, sizeof sign);
    fx_end();
}

static void test_read_info_while_sealed(void)
{
    fx_begin();
    uint8_t master[VST_KEY_LEN];
    make_keystore(master, &MODE_2_OF_3);
    uint8_t pub[VST_ED25519_LEN];
    memcpy(pub, vst_keystore_sign_public(fx.ks[0]), sizeof pub);
    char id[VST_KS_ID_HEX + 1];
    strcpy(id, vst_keystore_get_info(fx.ks[0])->id_hex);
    vst_keystore_free(fx.ks[0]);
    fx.ks[0] = NULL;

    vst_keystore_info info;
    CU_ASSERT_EQUAL_FATAL(vst_keystore_read_info(P("ks"), &info, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(info.mode.mode, VST_KS_MODE_SHAMIR);
    CU_ASSERT_EQUAL(info.mode.threshold, 2);
    CU_ASSERT_EQUAL(info.mode.shares, 3);
    CU_ASSERT_STRING_EQUAL(info.id_hex, id);
    CU_ASSERT_EQUAL(memcmp(info.sign_public, pub, sizeof pub), 0);

    /* the header is plain text an operator can read */
    size_t len = 0;
    unsigned char *txt = slurp(P("ks/keystore.info"), &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(txt);
    txt[len < 65535 ? len : 65535] = '\0';
    CU_ASSERT_PTR_NOT_NULL(strstr((char *)txt, "vst-keystore-v1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr((char *)txt, "master: shamir 2 of 3\n"));

    /* a dev-file keystore says so */
    uint8_t m2[VST_KEY_LEN];
    CU_ASSERT_EQUAL(vst_master_generate(m2), VST_KS_OK);
    CU_ASSERT_EQUAL_FATAL(vst_keystore_create(P("dev"), m2, &MODE_DEV, &fx.ks[1], err, sizeof err),
                          VST_KS_OK);
    CU_ASSERT_EQUAL(vst_keystore_read_info(P("dev"), &info, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(info.mode.mode, VST_KS_MODE_DEV_FILE);

    CU_ASSERT_EQUAL(vst_keystore_read_info(P("nothing"), &info, err, sizeof err), VST_KS_NOT_FOUND);
    CU_ASSERT_EQUAL(mkdir(P("empty"), 0700), 0);
    CU_ASSERT_EQUAL(vst_keystore_read_info(P("empty"), &info, err, sizeof err), VST_KS_NOT_FOUND);
    fx_end();
}

static void test_create_refuses_existing(void)
{
    fx_begin();
    uint8_t master[VST_KEY_LEN], other[VST_KEY_LEN], root[VST_KEY_LEN];
    make_keystore(master, &MODE_2_OF_3);
    memcpy(root, vst_keystore_root_key(fx.ks[0]), VST_KEY_LEN);

    CU_ASSERT_EQUAL(vst_master_generate(other), VST_KS_OK);
    vst_keystore *ks2 = (vst_keystore *)1;
    /* while open: the lock says busy */
    CU_ASSERT_EQUAL(vst_keystore_create(P("ks"), other, &MODE_2_OF_3, &ks2, err, sizeof err),
                    VST_KS_BUSY);
    CU_ASSERT_PTR_NULL(ks2);
    vst_keystore_free(fx.ks[0]);
    fx.ks[0] = NULL;
    ks2 = (vst_keystore *)1;
    CU_ASSERT_EQUAL(vst_keystore_create(P("ks"), other, &MODE_2_OF_3, &ks2, err, sizeof err),
                    VST_KS_EXISTS);
    CU_ASSERT_PTR_NULL(ks2);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "already exists"));
    /* and the existing keystore is untouched */
    CU_ASSERT_EQUAL_FATAL(vst_keystore_open(P("ks"), master, &fx.ks[0], err, sizeof err),
                          VST_KS_OK);
    CU_ASSERT_EQUAL(memcmp(vst_keystore_root_key(fx.ks[0]), root, VST_KEY_LEN), 0);
    vst_keystore_free(fx.ks[0]);
    fx.ks[0] = NULL;

    /* a leftover sealed file alone also counts as a keystore */
    CU_ASSERT_EQUAL(mkdir(P("half"), 0700), 0);
    spill(P("half/keystore.sealed"), "x", 1);
    CU_ASSERT_EQUAL(vst_keystore_create(P("half"), other, &MODE_2_OF_3, &ks2, err, sizeof err),
                    VST_KS_EXISTS);

    /* an existing directory that others can read is refused */
    CU_ASSERT_EQUAL(mkdir(P("open"), 0700), 0);
    CU_ASSERT_EQUAL(chmod(P("open"), 0755), 0);
    CU_ASSERT_EQUAL(vst_keystore_create(P("open"), other, &MODE_2_OF_3, &ks2, err, sizeof err),
                    VST_KS_INSECURE);
    CU_ASSERT_EQUAL(count_entries(P("open")), 0);
    /* an existing empty 0700 directory is fine */
    CU_ASSERT_EQUAL(mkdir(P("mine"), 0700), 0);
    CU_ASSERT_EQUAL(vst_keystore_create(P("mine"), other, &MODE_2_OF_3, &fx.ks[1], err, sizeof err),
                    VST_KS_OK);
    /* bad arguments */
    vst_ks_mode_info bad = {VST_KS_MODE_SHAMIR, 1, 3};
    CU_ASSERT_EQUAL(vst_keystore_create(P("bad"), other, &bad, &ks2, err, sizeof err),
                    VST_KS_INVALID);
    bad.threshold = 4;
    CU_ASSERT_EQUAL(vst_keystore_create(P("bad"), other, &bad, &ks2, err, sizeof err),
                    VST_KS_INVALID);
    CU_ASSERT_EQUAL(access(P("bad"), F_OK), -1);
    /* missing parent */
    CU_ASSERT_EQUAL(
        vst_keystore_create(P("no/such/dir"), other, &MODE_2_OF_3, &ks2, err, sizeof err),
        VST_KS_IO);
    OPENSSL_cleanse(root, sizeof root);
    fx_end();
}

static void test_wrong_master(void)
{
    fx_begin();
    uint8_t master[VST_KEY_LEN], wrong[VST_KEY_LEN];
    make_keystore(master, &MODE_2_OF_3);
    vst_keystore_free(fx.ks[0]);
    fx.ks[0] = NULL;
    CU_ASSERT_EQUAL(vst_master_generate(wrong), VST_KS_OK);
    vst_keystore *ks = (vst_keystore *)1;
    err[0] = '\0';
    CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), wrong, &ks, err, sizeof err), VST_KS_WRONG_KEY);
    CU_ASSERT_PTR_NULL(ks);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "wrong master key"));
    char hex[2 * VST_KEY_LEN + 1];
    vst_hex(wrong, VST_KEY_LEN, hex);
    CU_ASSERT_PTR_NULL(strstr(err, hex));
    vst_hex(master, VST_KEY_LEN, hex);
    CU_ASSERT_PTR_NULL(strstr(err, hex));
    /* a one-bit difference is just as wrong */
    memcpy(wrong, master, VST_KEY_LEN);
    wrong[31] ^= 1;
    CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), wrong, &ks, err, sizeof err), VST_KS_WRONG_KEY);
    CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), master, &fx.ks[0], err, sizeof err), VST_KS_OK);
    fx_end();
}

static void test_file_modes(void)
{
    fx_begin();
    uint8_t master[VST_KEY_LEN];
    mode_t old = umask(0); /* the modes must not depend on the umask */
    make_keystore(master, &MODE_2_OF_3);
    umask(old);
    CU_ASSERT_EQUAL(file_mode(P("ks")), 0700);
    CU_ASSERT_EQUAL(file_mode(P("ks/keystore.info")), 0600);
    CU_ASSERT_EQUAL(file_mode(P("ks/keystore.sealed")), 0600);
    old = umask(0);
    uint32_t v = 0;
    CU_ASSERT_EQUAL(vst_keystore_rotate(fx.ks[0], &v, err, sizeof err), VST_KS_OK);
    umask(old);
    CU_ASSERT_EQUAL(file_mode(P("ks/keystore.sealed")), 0600);
    CU_ASSERT_EQUAL(count_entries(P("ks")), 2); /* no temp file left behind */

    vst_share sh[3];
    CU_ASSERT_EQUAL(
        vst_shamir_split(master, vst_keystore_get_info(fx.ks[0])->id, 2, 3, sh, err, sizeof err),
        VST_KS_OK);
    old = umask(0);
    CU_ASSERT_EQUAL(vst_share_file_write(P("share1"), &sh[0], err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(vst_master_file_create(P("master.key"), NULL, err, sizeof err), VST_KS_OK);
    umask(old);
    CU_ASSERT_EQUAL(file_mode(P("share1")), 0600);
    CU_ASSERT_EQUAL(file_mode(P("master.key")), 0600);
    vst_share_wipe(sh, 3);
    fx_end();
}

/* Every subset of the n shares of an m-of-n split: >= m unseal, fewer give
 * a wrong key that vst_keystore_open rejects with VST_KS_WRONG_KEY. */
static void shamir_case(unsigned m, unsigned n)
{
    fx_begin();
    uint8_t master[VST_KEY_LEN];
    vst_ks_mode_info mode = {VST_KS_MODE_SHAMIR, m, n};
    make_keystore(master, &mode);
    vst_keystore_free(fx.ks[0]);
    fx.ks[0] = NULL;
    vst_keystore_info info;
    CU_ASSERT_EQUAL_FATAL(vst_keystore_read_info(P("ks"), &info, err, sizeof err), VST_KS_OK);

    vst_share sh[8];
    CU_ASSERT_EQUAL_FATAL(vst_shamir_split(master, info.id, m, n, sh, err, sizeof err), VST_KS_OK);
    char name[32];
    for (unsigned i = 0; i < n; i++) {
        CU_ASSERT(sh[i].index != 0);
        CU_ASSERT_EQUAL(sh[i].threshold, m);
        CU_ASSERT_EQUAL(sh[i].shares, n);
        for (unsigned j = 0; j < i; j++)
            CU_ASSERT(sh[i].index != sh[j].index);
        CU_ASSERT(memcmp(sh[i].y, master, VST_KEY_LEN) != 0);
        snprintf(name, sizeof name, "share%u", i + 1);
        CU_ASSERT_EQUAL(vst_share_file_write(P(name), &sh[i], err, sizeof err), VST_KS_OK);
    }
    vst_share_wipe(sh, n);

    unsigned good = 0, short_sets = 0;
    for (unsigned mask = 1; mask < (1u << n); mask++) {
        vst_share got[8];
        size_t k = 0;
        for (unsigned i = 0; i < n; i++) {
            if (!(mask & (1u << i)))
                continue;
            snprintf(name, sizeof name, "share%u", i + 1);
            CU_ASSERT_EQUAL(vst_share_file_read(P(name), info.id, &got[k++], err, sizeof err),
                            VST_KS_OK);
        }
        uint8_t key[VST_KEY_LEN];
        vst_keystore *ks = NULL;
        if (k >= m) {
            CU_ASSERT_EQUAL(vst_shamir_combine(got, k, info.id, key, err, sizeof err), VST_KS_OK);
            CU_ASSERT_EQUAL(memcmp(key, master, VST_KEY_LEN), 0);
            CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), key, &ks, err, sizeof err), VST_KS_OK);
            CU_ASSERT_PTR_NOT_NULL(ks);
            vst_keystore_free(ks);
            good++;
        } else {
            /* the policy check refuses too few shares ... */
            CU_ASSERT_EQUAL(vst_shamir_combine(got, k, info.id, key, err, sizeof err),
                            VST_KS_SHARE_TOO_FEW);
            /* ... but raw interpolation silently yields a wrong key, which
             * the keystore must detect */
            CU_ASSERT_EQUAL(vst_shamir_combine_raw(got, k, key, err, sizeof err), VST_KS_OK);
            CU_ASSERT(memcmp(key, master, VST_KEY_LEN) != 0);
            CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), key, &ks, err, sizeof err),
                            VST_KS_WRONG_KEY);
            CU_ASSERT_PTR_NULL(ks);
            /* shares whose threshold field was forged down to k (check value
             * recomputed, as an attacker could) pass combine: open catches it */
            if (k >= 2) {
                for (size_t i = 0; i < k; i++)
                    got[i].threshold = (uint8_t)k;
                char text[VST_SHARE_TEXT_MAX];
                vst_share forged[8];
                for (size_t i = 0; i < k; i++) {
                    CU_ASSERT_EQUAL(vst_share_format(&got[i], text, sizeof text), VST_KS_OK);
                    CU_ASSERT_EQUAL(
                        vst_share_parse(text, strlen(text), info.id, &forged[i], err, sizeof err),
                        VST_KS_OK);
                }
                OPENSSL_cleanse(text, sizeof text);
                CU_ASSERT_EQUAL(vst_shamir_combine(forged, k, info.id, key, err, sizeof err),
                                VST_KS_OK);
                CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), key, &ks, err, sizeof err),
                                VST_KS_WRONG_KEY);
                vst_share_wipe(forged, k);
            }
            short_sets++;
        }
        OPENSSL_cleanse(key, sizeof key);
        vst_share_wipe(got, k);
    }
    /* sanity: every subset was tried */
    unsigned expect_good = 0;
    for (unsigned mask = 1; mask < (1u << n); mask++)
        expect_good += (unsigned)__builtin_popcount(mask) >= m;
    CU_ASSERT_EQUAL(good, expect_good);
    CU_ASSERT_EQUAL(good + short_sets, (1u << n) - 1);
    fx_end();
}

static void test_shamir_2_of_3(void)
{
    shamir_case(2, 3);
}

static void test_shamir_3_of_5(void)
{
    shamir_case(3, 5);
}

static void test_shamir_split_args(void)
{
    uint8_t master[VST_KEY_LEN] = {1}, id[VST_KS_ID_LEN] = {2}, key[VST_KEY_LEN];
    vst_share sh[255];
    CU_ASSERT_EQUAL(vst_shamir_split(master, id, 1, 3, sh, err, sizeof err), VST_KS_INVALID);
    CU_ASSERT_EQUAL(vst_shamir_split(master, id, 4, 3, sh, err, sizeof err), VST_KS_INVALID);
    CU_ASSERT_EQUAL(vst_shamir_split(master, id, 2, 256, sh, err, sizeof err), VST_KS_INVALID);
    /* the full 255 x coordinates: all distinct and nonzero, and m of them recombine */
    CU_ASSERT_EQUAL_FATAL(vst_shamir_split(master, id, 5, 255, sh, err, sizeof err), VST_KS_OK);
    int seen[256] = {0};
    for (int i = 0; i < 255; i++) {
        CU_ASSERT(sh[i].index != 0);
        CU_ASSERT_EQUAL(seen[sh[i].index], 0);
        seen[sh[i].index] = 1;
    }
    CU_ASSERT_EQUAL(vst_shamir_combine(sh + 100, 5, id, key, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(memcmp(key, master, VST_KEY_LEN), 0);
    CU_ASSERT_EQUAL(vst_shamir_combine(sh, 255, id, key, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(memcmp(key, master, VST_KEY_LEN), 0);
    /* two splits of the same secret use fresh randomness */
    vst_share a[3], b[3];
    CU_ASSERT_EQUAL(vst_shamir_split(master, id, 2, 3, a, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(vst_shamir_split(master, id, 2, 3, b, err, sizeof err), VST_KS_OK);
    CU_ASSERT(memcmp(a[0].y, b[0].y, VST_KEY_LEN) != 0 || a[0].index != b[0].index);
    CU_ASSERT_EQUAL(vst_shamir_combine(NULL, 0, id, key, err, sizeof err), VST_KS_SHARE_TOO_FEW);
    vst_share_wipe(sh, 255);
    vst_share_wipe(a, 3);
    vst_share_wipe(b, 3);
}

/* Replaces the first occurrence of `from` (one char at offset `at` inside the
 * line that starts with `key`) and writes the result to `out`. */
static void write_variant(const char *text, size_t len, const char *key, size_t at, char c,
                          const char *out)
{
    char buf[1024];
    memcpy(buf, text, len);
    char *line = strstr(buf, key);
    CU_ASSERT_PTR_NOT_NULL_FATAL(line);
    line[strlen(key) + at] = c;
    unlink(out);
    spill(out, buf, len);
    OPENSSL_cleanse(buf, sizeof buf);
}

static char other_hex(char c)
{
    return c == '0' ? '1' : '0';
}

static void test_share_corruption(void)
{
    fx_begin();
    uint8_t master[VST_KEY_LEN], key[VST_KEY_LEN];
    make_keystore(master, &MODE_2_OF_3);
    const uint8_t *id = vst_keystore_get_info(fx.ks[0])->id;
    vst_share sh[3], got[4];
    CU_ASSERT_EQUAL_FATAL(vst_shamir_split(master, id, 2, 3, sh, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(vst_share_file_write(P("s1"), &sh[0], err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(vst_share_file_write(P("s2"), &sh[1], err, sizeof err), VST_KS_OK);

    /* never overwritten */
    CU_ASSERT_EQUAL(vst_share_file_write(P("s1"), &sh[2], err, sizeof err), VST_KS_EXISTS);
    CU_ASSERT_EQUAL(vst_share_file_read(P("s1"), id, &got[0], err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(got[0].index, sh[0].index);
    CU_ASSERT_EQUAL(memcmp(got[0].y, sh[0].y, VST_KEY_LEN), 0);

    size_t len = 0;
    unsigned char *text = slurp(P("s1"), &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    char share_hex[2 * VST_KEY_LEN + 1];
    vst_hex(sh[0].y, VST_KEY_LEN, share_hex);

    /* one hex digit changed anywhere in the share, the id or the check value */
    const struct {
        const char *key;
        size_t digits;
    } lines[] = {{"share: ", 64}, {"keystore: ", 32}, {"check: ", 16}};
    for (size_t l = 0; l < sizeof lines / sizeof lines[0]; l++) {
        for (size_t d = 0; d < lines[l].digits; d++) {
            const char *line = strstr((char *)text, lines[l].key);
            char c = line[strlen(lines[l].key) + d];
            write_variant((char *)text, len, lines[l].key, d, other_hex(c), P("bad"));
            err[0] = '\0';
            CU_ASSERT_EQUAL(vst_share_file_read(P("bad"), id, &got[1], err, sizeof err),
                            VST_KS_SHARE_CORRUPT);
            CU_ASSERT_PTR_NOT_NULL(strstr(err, P("bad"))); /* names the file */
            CU_ASSERT_PTR_NULL(strstr(err, share_hex));    /* never prints the share */
        }
    }
    /* the index, threshold or count changed to another valid number */
    const char *idx_line = strstr((char *)text, "index: ");
    char idx_digit = idx_line[7];
    write_variant((char *)text, len, "index: ", 0, idx_digit == '1' ? '2' : '1', P("bad"));
    CU_ASSERT_EQUAL(vst_share_file_read(P("bad"), id, &got[1], err, sizeof err),
                    VST_KS_SHARE_CORRUPT);
    write_variant((char *)text, len, "threshold: ", 0, '3', P("bad"));
    CU_ASSERT_EQUAL(vst_share_file_read(P("bad"), id, &got[1], err, sizeof err),
                    VST_KS_SHARE_CORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "check value"));

    /* truncated at every length; only the final newline is optional */
    for (size_t cut = 0; cut < len; cut++) {
        unlink(P("cut"));
        spill(P("cut"), text, cut);
        vst_ks_status want = cut == len - 1 ? VST_KS_OK : VST_KS_SHARE_CORRUPT;
        CU_ASSERT_EQUAL(vst_share_file_read(P("cut"), id, &got[1], err, sizeof err), want);
    }
    /* trailing junk */
    {
        char buf[1024];
        memcpy(buf, text, len);
        memcpy(buf + len, "extra\n", 6);
        unlink(P("junk"));
        spill(P("junk"), buf, len + 6);
        CU_ASSERT_EQUAL(vst_share_file_read(P("junk"), id, &got[1], err, sizeof err),
                        VST_KS_SHARE_CORRUPT);
        OPENSSL_cleanse(buf, sizeof buf);
    }
    /* CRLF line ends (a share file that passed through an editor) are fine */
    {
        char buf[1024];
        size_t n = 0;
        for (size_t i = 0; i < len; i++) {
            if (text[i] == '\n')
                buf[n++] = '\r';
            buf[n++] = (char)text[i];
        }
        CU_ASSERT_EQUAL(vst_share_parse(buf, n, id, &got[1], err, sizeof err), VST_KS_OK);
        OPENSSL_cleanse(buf, sizeof buf);
    }
    OPENSSL_cleanse(text, len);

    /* missing file */
    CU_ASSERT_EQUAL(vst_share_file_read(P("none"), id, &got[1], err, sizeof err), VST_KS_NOT_FOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, P("none")));

    /* a genuine share of another keystore */
    uint8_t m2[VST_KEY_LEN];
    CU_ASSERT_EQUAL(vst_master_generate(m2), VST_KS_OK);
    CU_ASSERT_EQUAL_FATAL(
        vst_keystore_create(P("ks2"), m2, &MODE_2_OF_3, &fx.ks[1], err, sizeof err), VST_KS_OK);
    vst_share other[3];
    CU_ASSERT_EQUAL(
        vst_shamir_split(m2, vst_keystore_get_info(fx.ks[1])->id, 2, 3, other, err, sizeof err),
        VST_KS_OK);
    CU_ASSERT_EQUAL(vst_share_file_write(P("foreign"), &other[0], err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(vst_share_file_read(P("foreign"), id, &got[1], err, sizeof err),
                    VST_KS_SHARE_FOREIGN);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, P("foreign")));
    /* without an expected id, combine notices the mix */
    CU_ASSERT_EQUAL(vst_share_file_read(P("foreign"), NULL, &got[1], err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(vst_shamir_combine(got, 2, NULL, key, err, sizeof err), VST_KS_SHARE_MISMATCH);
    CU_ASSERT_EQUAL(vst_shamir_combine(got, 2, id, key, err, sizeof err), VST_KS_SHARE_FOREIGN);

    /* the same share twice */
    CU_ASSERT_EQUAL(vst_share_file_read(P("s1"), id, &got[1], err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(vst_shamir_combine(got, 2, id, key, err, sizeof err), VST_KS_SHARE_DUPLICATE);
    CU_ASSERT_EQUAL(vst_shamir_combine_raw(got, 2, key, err, sizeof err), VST_KS_SHARE_DUPLICATE);
    /* two different shares claiming the same index */
    CU_ASSERT_EQUAL(vst_share_file_read(P("s2"), id, &got[1], err, sizeof err), VST_KS_OK);
    got[2] = got[1];
    got[2].index = got[0].index;
    CU_ASSERT_EQUAL(vst_shamir_combine(got, 3, id, key, err, sizeof err), VST_KS_SHARE_DUPLICATE);
    /* shares disagreeing on the threshold */
    got[2] = sh[2];
    got[2].threshold = 3;
    CU_ASSERT_EQUAL(vst_shamir_combine(got, 3, id, key, err, sizeof err), VST_KS_SHARE_MISMATCH);
    /* the good pair still works */
    CU_ASSERT_EQUAL(vst_shamir_combine(got, 2, id, key, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(memcmp(key, master, VST_KEY_LEN), 0);

    OPENSSL_cleanse(key, sizeof key);
    vst_share_wipe(sh, 3);
    vst_share_wipe(got, 4);
    vst_share_wipe(other, 3);
    fx_end();
}

static void test_rotate_persists(void)
{
    fx_begin();
    uint8_t master[VST_KEY_LEN], k1[VST_KEY_LEN], k2[VST_KEY_LEN], k3[VST_KEY_LEN],
        root[VST_KEY_LEN];
    make_keystore(master, &MODE_2_OF_3);
    vst_keystore *ks = fx.ks[0];
    memcpy(root, vst_keystore_root_key(ks), VST_KEY_LEN);
    memcpy(k1, vst_keystore_version_key(ks, 1), VST_KEY_LEN);
    uint32_t v = 0;
    CU_ASSERT_EQUAL_FATAL(vst_keystore_rotate(ks, &v, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(v, 2);
    CU_ASSERT_EQUAL(vst_keystore_current(ks), 2);
    CU_ASSERT_EQUAL(vst_keystore_generation(ks), 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(vst_keystore_version_key(ks, 2));
    memcpy(k2, vst_keystore_version_key(ks, 2), VST_KEY_LEN);
    CU_ASSERT(memcmp(k1, k2, VST_KEY_LEN) != 0);
    CU_ASSERT_EQUAL(memcmp(vst_keystore_version_key(ks, 1), k1, VST_KEY_LEN), 0);
    vst_key_state s;
    CU_ASSERT_EQUAL(vst_keystore_version_state(ks, 1, &s), 0);
    CU_ASSERT_EQUAL(s, VST_KEY_ACTIVE);
    CU_ASSERT_EQUAL_FATAL(vst_keystore_rotate(ks, &v, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(v, 3);
    memcpy(k3, vst_keystore_version_key(ks, 3), VST_KEY_LEN);
    vst_keystore_free(ks);
    fx.ks[0] = NULL;

    CU_ASSERT_EQUAL_FATAL(vst_keystore_open(P("ks"), master, &fx.ks[0], err, sizeof err),
                          VST_KS_OK);
    ks = fx.ks[0];
    CU_ASSERT_EQUAL(vst_keystore_current(ks), 3);
    CU_ASSERT_EQUAL(vst_keystore_generation(ks), 3);
    CU_ASSERT_EQUAL(memcmp(vst_keystore_root_key(ks), root, VST_KEY_LEN), 0);
    CU_ASSERT_EQUAL(memcmp(vst_keystore_version_key(ks, 1), k1, VST_KEY_LEN), 0);
    CU_ASSERT_EQUAL(memcmp(vst_keystore_version_key(ks, 2), k2, VST_KEY_LEN), 0);
    CU_ASSERT_EQUAL(memcmp(vst_keystore_version_key(ks, 3), k3, VST_KEY_LEN), 0);
    vst_key_version vers[8];
    CU_ASSERT_EQUAL_FATAL(vst_keystore_versions(ks, vers, 8), 3);
    CU_ASSERT_EQUAL(vst_keystore_versions(ks, NULL, 0), 3);
    CU_ASSERT_EQUAL(vers[0].state, VST_KEY_ACTIVE);
    CU_ASSERT_EQUAL(vers[1].state, VST_KEY_ACTIVE);
    CU_ASSERT_EQUAL(vers[2].state, VST_KEY_CURRENT);
    CU_ASSERT_EQUAL(vers[2].version, 3);
    OPENSSL_cleanse(k1, sizeof k1);
    OPENSSL_cleanse(k2, sizeof k2);
    OPENSSL_cleanse(k3, sizeof k3);
    OPENSSL_cleanse(root, sizeof root);
    fx_end();
}

static void test_retire(void)
{
    fx_begin();
    uint8_t master[VST_KEY_LEN], k2[VST_KEY_LEN];
    make_keystore(master, &MODE_2_OF_3);
    vst_keystore *ks = fx.ks[0];
    uint32_t v = 0;
    CU_ASSERT_EQUAL_FATAL(vst_keystore_rotate(ks, &v, err, sizeof err), VST_KS_OK);
    memcpy(k2, vst_keystore_version_key(ks, 2), VST_KEY_LEN);
    size_t before = 0, after = 0;
    slurp(P("ks/keystore.sealed"), &before);

    CU_ASSERT_EQUAL(vst_keystore_retire(ks, 2, err, sizeof err), VST_KS_REFUSED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "current"));
    CU_ASSERT_EQUAL(vst_keystore_retire(ks, 99, err, sizeof err), VST_KS_REFUSED);
    CU_ASSERT_EQUAL(vst_keystore_retire(ks, 0, err, sizeof err), VST_KS_REFUSED);
    CU_ASSERT_EQUAL(vst_keystore_generation(ks), 2); /* refusals write nothing */
    CU_ASSERT_EQUAL(vst_keystore_retire(ks, 1, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(vst_keystore_generation(ks), 3);
    CU_ASSERT_PTR_NULL(vst_keystore_version_key(ks, 1));
    vst_key_state s;
    CU_ASSERT_EQUAL(vst_keystore_version_state(ks, 1, &s), 0);
    CU_ASSERT_EQUAL(s, VST_KEY_RETIRED);
    CU_ASSERT_EQUAL(vst_keystore_retire(ks, 1, err, sizeof err), VST_KS_REFUSED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "already retired"));
    slurp(P("ks/keystore.sealed"), &after);
    CU_ASSERT_EQUAL(before - after, VST_KEY_LEN); /* the key is gone from the file */
    vst_keystore_free(ks);
    fx.ks[0] = NULL;

    CU_ASSERT_EQUAL_FATAL(vst_keystore_open(P("ks"), master, &fx.ks[0], err, sizeof err),
                          VST_KS_OK);
    ks = fx.ks[0];
    CU_ASSERT_PTR_NULL(vst_keystore_version_key(ks, 1));
    CU_ASSERT_EQUAL(memcmp(vst_keystore_version_key(ks, 2), k2, VST_KEY_LEN), 0);
    vst_key_version vers[4];
    CU_ASSERT_EQUAL_FATAL(vst_keystore_versions(ks, vers, 4), 2);
    CU_ASSERT_EQUAL(vers[0].state, VST_KEY_RETIRED);
    CU_ASSERT(vers[0].retired > 0);
    CU_ASSERT_EQUAL(vers[1].state, VST_KEY_CURRENT);
    /* version numbers are never reused */
    CU_ASSERT_EQUAL(vst_keystore_rotate(ks, &v, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(v, 3);
    CU_ASSERT_EQUAL(vst_keystore_retire(ks, 2, err, sizeof err), VST_KS_OK);
    vst_keystore_free(ks);
    fx.ks[0] = NULL;
    CU_ASSERT_EQUAL_FATAL(vst_keystore_open(P("ks"), master, &fx.ks[0], err, sizeof err),
                          VST_KS_OK);
    CU_ASSERT_EQUAL(vst_keystore_versions(fx.ks[0], vers, 4), 3);
    CU_ASSERT_EQUAL(vers[1].state, VST_KEY_RETIRED);
    CU_ASSERT_EQUAL(vers[2].state, VST_KEY_CURRENT);
    CU_ASSERT_PTR_NULL(vst_keystore_version_key(fx.ks[0], 2));
    OPENSSL_cleanse(k2, sizeof k2);
    fx_end();
}

static void test_tamper_sealed(void)
{
    fx_begin();
    uint8_t master[VST_KEY_LEN];
    make_keystore(master, &MODE_2_OF_3);
    uint32_t v;
    CU_ASSERT_EQUAL(vst_keystore_rotate(fx.ks[0], &v, err, sizeof err), VST_KS_OK);
    vst_keystore_free(fx.ks[0]);
    fx.ks[0] = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s", P("ks/keystore.sealed"));
    size_t len = 0;
    unsigned char *orig = slurp(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(orig);
    unsigned char *buf = fx_alloc(len + 1);
    unsigned fails = 0;
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            memcpy(buf, orig, len);
            buf[i] ^= (unsigned char)(1u << bit);
            spill(path, buf, len);
            vst_keystore *ks = (vst_keystore *)1;
            vst_ks_status st = vst_keystore_open(P("ks"), master, &ks, err, sizeof err);
            if (st != VST_KS_CORRUPT || ks != NULL)
                fails++;
        }
    }
    CU_ASSERT_EQUAL(fails, 0);
    /* truncated at every length, or one byte longer */
    fails = 0;
    for (size_t cut = 0; cut < len; cut++) {
        spill(path, orig, cut);
        vst_keystore *ks = (vst_keystore *)1;
        if (vst_keystore_open(P("ks"), master, &ks, err, sizeof err) != VST_KS_CORRUPT ||
            ks != NULL)
            fails++;
    }
    CU_ASSERT_EQUAL(fails, 0);
    memcpy(buf, orig, len);
    buf[len] = 0;
    spill(path, buf, len + 1);
    vst_keystore *ks = NULL;
    CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), master, &ks, err, sizeof err), VST_KS_CORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "keystore.sealed"));
    /* missing */
    unlink(path);
    CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), master, &ks, err, sizeof err), VST_KS_CORRUPT);
    /* restored: opens again */
    spill(path, orig, len);
    CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), master, &fx.ks[0], err, sizeof err), VST_KS_OK);
    vst_keystore_free(fx.ks[0]);
    fx.ks[0] = NULL;

    /* the sealed file of another keystore under the same master key */
    CU_ASSERT_EQUAL_FATAL(
        vst_keystore_create(P("ks2"), master, &MODE_2_OF_3, &fx.ks[1], err, sizeof err), VST_KS_OK);
    vst_keystore_free(fx.ks[1]);
    fx.ks[1] = NULL;
    size_t len2 = 0;
    unsigned char *other = slurp(P("ks2/keystore.sealed"), &len2);
    spill(path, other, len2);
    CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), master, &ks, err, sizeof err), VST_KS_CORRUPT);
    fx_end();
}

static void test_tamper_header(void)
{
    fx_begin();
    uint8_t master[VST_KEY_LEN];
    make_keystore(master, &MODE_2_OF_3);
    vst_keystore_free(fx.ks[0]);
    fx.ks[0] = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s", P("ks/keystore.info"));
    size_t len = 0;
    unsigned char *orig = slurp(path, &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(orig);
    unsigned char *buf = fx_alloc(len + 8);
    unsigned fails = 0;
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, orig, len);
            buf[i] ^= (unsigned char)(1u << bit);
            spill(path, buf, len);
            vst_keystore *ks = (vst_keystore *)1;
            vst_ks_status st = vst_keystore_open(P("ks"), master, &ks, err, sizeof err);
            if ((st != VST_KS_CORRUPT && st != VST_KS_WRONG_KEY) || ks != NULL)
                fails++;
        }
    }
    CU_ASSERT_EQUAL(fails, 0);
    vst_keystore *ks = NULL;
    /* a well-formed but altered header is caught by the GCM tag */
    memcpy(buf, orig, len);
    char *m = strstr((char *)buf, "shamir 2 of 3");
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    m[7] = '3';
    spill(path, buf, len);
    vst_keystore_info info;
    CU_ASSERT_EQUAL(vst_keystore_read_info(P("ks"), &info, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(info.mode.threshold, 3);
    CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), master, &ks, err, sizeof err), VST_KS_CORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "authentication failed"));
    /* a swapped signing public key */
    memcpy(buf, orig, len);
    char *pk = strstr((char *)buf, "signing-public-key: ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(pk);
    pk[20] = other_hex(pk[20]);
    spill(path, buf, len);
    CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), master, &ks, err, sizeof err), VST_KS_CORRUPT);
    /* truncated header */
    spill(path, orig, len - 1);
    CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), master, &ks, err, sizeof err), VST_KS_CORRUPT);
    CU_ASSERT_EQUAL(vst_keystore_read_info(P("ks"), &info, err, sizeof err), VST_KS_CORRUPT);
    /* missing header, sealed file present */
    unlink(path);
    CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), master, &ks, err, sizeof err), VST_KS_CORRUPT);
    /* restored */
    spill(path, orig, len);
    CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), master, &fx.ks[0], err, sizeof err), VST_KS_OK);
    /* no keystore at all */
    CU_ASSERT_EQUAL(vst_keystore_open(P("nothing"), master, &ks, err, sizeof err),
                    VST_KS_NOT_FOUND);
    fx_end();
}

/* Share checks in keystore.info (issue 8): written by create_ex, read back
 * by read_info, equal to each share's own check, covered by the GCM AAD,
 * and parsed strictly; the master key's KCV check works on the header. */
static void test_share_checks(void)
{
    fx_begin();
    uint8_t master[VST_KEY_LEN], id[VST_KS_ID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
    vst_share sh[3];
    vst_ks_share_check ck[3];
    CU_ASSERT_EQUAL_FATAL(vst_master_generate(master), VST_KS_OK);
    CU_ASSERT_EQUAL_FATAL(vst_shamir_split(master, id, 2, 3, sh, err, sizeof err), VST_KS_OK);
    for (int i = 0; i < 3; i++) {
        ck[i].index = sh[i].index;
        CU_ASSERT_FATAL(vst_share_check(&sh[i], ck[i].check));
    }
    /* one check per share, distinct nonzero indices */
    vst_keystore *ks = NULL;
    CU_ASSERT_EQUAL(
        vst_keystore_create_ex(P("ks"), master, &MODE_2_OF_3, id, ck, 2, &ks, err, sizeof err),
        VST_KS_INVALID);
    CU_ASSERT_EQUAL(
        vst_keystore_create_ex(P("ks"), master, &MODE_DEV, id, ck, 3, &ks, err, sizeof err),
        VST_KS_INVALID);
    CU_ASSERT_EQUAL_FATAL(vst_keystore_create_ex(P("ks"), master, &MODE_2_OF_3, id, ck, 3,
                                                 &fx.ks[0], err, sizeof err),
                          VST_KS_OK);
    CU_ASSERT_EQUAL(memcmp(vst_keystore_get_info(fx.ks[0])->id, id, sizeof id), 0);
    vst_keystore_free(fx.ks[0]);
    fx.ks[0] = NULL;
    vst_keystore_info info;
    CU_ASSERT_EQUAL_FATAL(vst_keystore_read_info(P("ks"), &info, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(info.nshare_checks, 3);
    for (int i = 0; i < 3; i++) {
        const vst_ks_share_check *c = vst_keystore_share_check(&info, sh[i].index);
        CU_ASSERT(c != NULL && memcmp(c->check, ck[i].check, VST_KS_SHARE_CHECK_LEN) == 0);
        /* it is the share file's own check line */
        char text[VST_SHARE_TEXT_MAX], hex[2 * VST_KS_SHARE_CHECK_LEN + 1];
        CU_ASSERT_EQUAL(vst_share_format(&sh[i], text, sizeof text), VST_KS_OK);
        vst_hex(ck[i].check, VST_KS_SHARE_CHECK_LEN, hex);
        CU_ASSERT_PTR_NOT_NULL(strstr(text, hex));
    }
    CU_ASSERT(info.share_checks[0].index < info.share_checks[1].index &&
              info.share_checks[1].index < info.share_checks[2].index);
    CU_ASSERT_PTR_NULL(vst_keystore_share_check(&info, 0));
    CU_ASSERT_EQUAL(vst_keystore_check_master(&info, master), 1);
    uint8_t wrong[VST_KEY_LEN];
    memcpy(wrong, master, sizeof wrong);
    wrong[0] ^= 1;
    CU_ASSERT_EQUAL(vst_keystore_check_master(&info, wrong), 0);
    CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), master, &fx.ks[0], err, sizeof err), VST_KS_OK);
    vst_keystore_free(fx.ks[0]);
    fx.ks[0] = NULL;

    /* strict: malformed line 7 is corrupt; a changed check fails at open */
    size_t len = 0;
    unsigned char *orig = slurp(P("ks/keystore.info"), &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(orig);
    char *buf = fx_alloc(len + 64);
    const char *cases[] = {"share-checks: 1:00",
                           "share-checks:", "share-check: ", " share-checks: "};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        memcpy(buf, orig, len);
        buf[len] = '\0';
        char *l7 = strstr(buf, "share-checks: ");
        CU_ASSERT_PTR_NOT_NULL_FATAL(l7);
        snprintf(l7, 64, "%s\n", cases[c]);
        spill(P("ks/keystore.info"), buf, strlen(buf));
        CU_ASSERT_EQUAL(vst_keystore_read_info(P("ks"), &info, err, sizeof err), VST_KS_CORRUPT);
    }
    memcpy(buf, orig, len);
    buf[len] = '\0';
    char *hex = strchr(strstr(buf, "share-checks: "), ':') + 2;
    hex = strchr(hex, ':') + 1;
    hex[0] = other_hex(hex[0]);
    spill(P("ks/keystore.info"), buf, len);
    CU_ASSERT_EQUAL(vst_keystore_read_info(P("ks"), &info, err, sizeof err), VST_KS_OK);
    vst_keystore *k2 = NULL;
    CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), master, &k2, err, sizeof err), VST_KS_CORRUPT);
    /* trailing data after line 7 */
    memcpy(buf, orig, len);
    memcpy(buf + len, "x\n", 2);
    spill(P("ks/keystore.info"), buf, len + 2);
    CU_ASSERT_EQUAL(vst_keystore_read_info(P("ks"), &info, err, sizeof err), VST_KS_CORRUPT);
    vst_share_wipe(sh, 3);
    fx_end();
}

static void test_signing_key(void)
{
    fx_begin();
    uint8_t master[VST_KEY_LEN];
    make_keystore(master, &MODE_2_OF_3);
    vst_keystore_free(fx.ks[0]);
    fx.ks[0] = NULL;
    CU_ASSERT_EQUAL_FATAL(vst_keystore_open(P("ks"), master, &fx.ks[0], err, sizeof err),
                          VST_KS_OK);
    vst_keystore_info info;
    CU_ASSERT_EQUAL_FATAL(vst_keystore_read_info(P("ks"), &info, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(memcmp(info.sign_public, vst_keystore_sign_public(fx.ks[0]), 32), 0);

    EVP_PKEY *sk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
                                                vst_keystore_sign_private(fx.ks[0]), 32);
    EVP_PKEY *pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, info.sign_public, 32);
    CU_ASSERT_PTR_NOT_NULL_FATAL(sk);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pk);
    uint8_t derived[32];
    size_t dl = sizeof derived;
    CU_ASSERT_EQUAL(EVP_PKEY_get_raw_public_key(sk, derived, &dl), 1);
    CU_ASSERT_EQUAL(memcmp(derived, info.sign_public, 32), 0);

    static const unsigned char msg[] = "vst-receipt-v1\ndelivery 42";
    unsigned char sig[64];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    CU_ASSERT_EQUAL(EVP_DigestSignInit(c, NULL, NULL, NULL, sk), 1);
    CU_ASSERT_EQUAL(EVP_DigestSign(c, sig, &siglen, msg, sizeof msg - 1), 1);
    CU_ASSERT_EQUAL(siglen, 64);
    EVP_MD_CTX_free(c);
    c = EVP_MD_CTX_new();
    CU_ASSERT_EQUAL(EVP_DigestVerifyInit(c, NULL, NULL, NULL, pk), 1);
    CU_ASSERT_EQUAL(EVP_DigestVerify(c, sig, siglen, msg, sizeof msg - 1), 1);
    EVP_MD_CTX_free(c);
    c = EVP_MD_CTX_new();
    CU_ASSERT_EQUAL(EVP_DigestVerifyInit(c, NULL, NULL, NULL, pk), 1);
    CU_ASSERT_NOT_EQUAL(EVP_DigestVerify(c, sig, siglen, msg, sizeof msg - 2), 1);
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(sk);
    EVP_PKEY_free(pk);
    fx_end();
}

static void test_master_file(void)
{
    fx_begin();
    uint8_t m1[VST_KEY_LEN], m2[VST_KEY_LEN];
    CU_ASSERT_EQUAL_FATAL(vst_master_file_create(P("master.key"), m1, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(vst_master_file_create(P("master.key"), NULL, err, sizeof err), VST_KS_EXISTS);
    CU_ASSERT_EQUAL(vst_master_file_read(P("master.key"), m2, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL(memcmp(m1, m2, VST_KEY_LEN), 0);
    size_t len = 0;
    CU_ASSERT_PTR_NOT_NULL(slurp(P("master.key"), &len));
    CU_ASSERT_EQUAL(len, 65);

    /* a dev-file keystore opens with the key read back from the file */
    CU_ASSERT_EQUAL_FATAL(vst_keystore_create(P("ks"), m1, &MODE_DEV, &fx.ks[0], err, sizeof err),
                          VST_KS_OK);
    vst_keystore_free(fx.ks[0]);
    fx.ks[0] = NULL;
    CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), m2, &fx.ks[0], err, sizeof err), VST_KS_OK);

    /* group/world access is refused */
    CU_ASSERT_EQUAL(chmod(P("master.key"), 0640), 0);
    CU_ASSERT_EQUAL(vst_master_file_read(P("master.key"), m2, err, sizeof err), VST_KS_INSECURE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "chmod 600"));
    CU_ASSERT_EQUAL(chmod(P("master.key"), 0604), 0);
    CU_ASSERT_EQUAL(vst_master_file_read(P("master.key"), m2, err, sizeof err), VST_KS_INSECURE);
    CU_ASSERT_EQUAL(chmod(P("master.key"), 0400), 0);
    CU_ASSERT_EQUAL(vst_master_file_read(P("master.key"), m2, err, sizeof err), VST_KS_OK);

    /* bad content */
    static const char *bad[] = {
        "", "abc\n", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\n",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdefa\n",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.key", i);
        CU_ASSERT_EQUAL(vst_ks_write_new_file(P(name), bad[i], strlen(bad[i]), err, sizeof err),
                        VST_KS_OK);
        CU_ASSERT_EQUAL(vst_master_file_read(P(name), m2, err, sizeof err), VST_KS_CORRUPT);
    }
    CU_ASSERT_EQUAL(vst_master_file_read(P("none.key"), m2, err, sizeof err), VST_KS_NOT_FOUND);
    CU_ASSERT_EQUAL(vst_master_file_read(fx.tmp, m2, err, sizeof err), VST_KS_INVALID);
    OPENSSL_cleanse(m1, sizeof m1);
    OPENSSL_cleanse(m2, sizeof m2);
    fx_end();
}

static void test_busy(void)
{
    fx_begin();
    uint8_t master[VST_KEY_LEN];
    make_keystore(master, &MODE_2_OF_3);
    vst_keystore *ks = (vst_keystore *)1;
    CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), master, &ks, err, sizeof err), VST_KS_BUSY);
    CU_ASSERT_PTR_NULL(ks);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "in use"));
    /* read_info needs no lock */
    vst_keystore_info info;
    CU_ASSERT_EQUAL(vst_keystore_read_info(P("ks"), &info, err, sizeof err), VST_KS_OK);
    vst_keystore_free(fx.ks[0]);
    fx.ks[0] = NULL;
    CU_ASSERT_EQUAL(vst_keystore_open(P("ks"), master, &fx.ks[0], err, sizeof err), VST_KS_OK);
    fx_end();
}

/* With the secure heap initialised (as vst-keyd does) every key lives there,
 * and all of it is returned when the keystore is freed. Runs last. */
static void test_secure_heap(void)
{
    fx_begin();
    if (!CRYPTO_secure_malloc_initialized())
        CU_ASSERT_NOT_EQUAL_FATAL(CRYPTO_secure_malloc_init(1 << 16, 16), 0);
    size_t used = CRYPTO_secure_used();
    uint8_t master[VST_KEY_LEN];
    make_keystore(master, &MODE_2_OF_3);
    uint32_t v;
    CU_ASSERT_EQUAL(vst_keystore_rotate(fx.ks[0], &v, err, sizeof err), VST_KS_OK);
    CU_ASSERT(CRYPTO_secure_allocated(vst_keystore_root_key(fx.ks[0])));
    CU_ASSERT(CRYPTO_secure_allocated(vst_keystore_version_key(fx.ks[0], 1)));
    CU_ASSERT(CRYPTO_secure_allocated(vst_keystore_version_key(fx.ks[0], 2)));
    CU_ASSERT(CRYPTO_secure_used() > used);
    vst_keystore_free(fx.ks[0]);
    fx.ks[0] = NULL;
    CU_ASSERT_EQUAL_FATAL(vst_keystore_open(P("ks"), master, &fx.ks[0], err, sizeof err),
                          VST_KS_OK);
    CU_ASSERT(CRYPTO_secure_allocated(vst_keystore_sign_private(fx.ks[0])));
    CU_ASSERT_EQUAL(vst_keystore_retire(fx.ks[0], 1, err, sizeof err), VST_KS_OK);
    vst_keystore_free(fx.ks[0]);
    fx.ks[0] = NULL;
    CU_ASSERT_EQUAL(CRYPTO_secure_used(), used);
    fx_end();
}

static void cleanup_at_exit(void)
{
    fx_end();
    if (CRYPTO_secure_malloc_initialized())
        CRYPTO_secure_malloc_done();
}

int vst_register_tests(void)
{
    static vst_test tests[] = {
        {"status names", test_status_names},
        {"create/open round trip", test_create_open_roundtrip},
        {"read_info while sealed", test_read_info_while_sealed},
        {"create refuses an existing keystore", test_create_refuses_existing},
        {"wrong master key -> VST_KS_WRONG_KEY", test_wrong_master},
        {"file modes 0700/0600 regardless of umask", test_file_modes},
        {"Shamir 2 of 3: every subset", test_shamir_2_of_3},
        {"Shamir 3 of 5: every subset", test_shamir_3_of_5},
        {"Shamir split arguments and x coordinates", test_shamir_split_args},
        {"corrupted, foreign, duplicate shares", test_share_corruption},
        {"rotate persists across reopen", test_rotate_persists},
        {"retire refuses current, destroys the key", test_retire},
        {"tampered or truncated sealed file", test_tamper_sealed},
        {"tampered header", test_tamper_header},
        {"share check values in keystore.info", test_share_checks},
        {"Ed25519 signing key", test_signing_key},
        {"development master-key file", test_master_file},
        {"second open is refused while locked", test_busy},
        {"secure heap", test_secure_heap},
        {NULL, NULL},
    };
    atexit(cleanup_at_exit);
    VST_ADD_SUITE("keystore", tests);
    return CUE_SUCCESS;
}
