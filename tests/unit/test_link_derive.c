/* Control values (keys/link_derive.c, DESIGN.md §13) under a fixed root
 * key: each key absorbs the variants it is meant for and no other key
 * does; different persons differ everywhere; the collection layer makes
 * the stored values of two collections differ while the inner values
 * agree; re-keying equals deriving under the new version; and the HMAC
 * input bytes and keys checked independently — the input for one person
 * spelled out here by hand, K_link,d and K_v,c by `openssl kdf`, the
 * values by `openssl mac` (the openssl CLI is required, as for
 * test_derive). */
#include "cunit_main.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hex.h"
#include "link_derive.h"
#include "test_person.h"

static uint8_t root[VST_KEY_LEN];
static uint8_t v1[VST_KEY_LEN], v2[VST_KEY_LEN];

static int setup(void)
{
    for (int i = 0; i < VST_KEY_LEN; i++) {
        root[i] = (uint8_t)(0x10 + i);
        v1[i] = (uint8_t)(0xa0 ^ i);
        v2[i] = (uint8_t)(0x55 + 3 * i);
    }
    return 0;
}

/* The inner values of a person (96 bytes). */
static void inner(const vst_person *p, uint8_t out[VST_CV_RECORD_LEN])
{
    vst_link_key *lk = vst_link_key_new(root, "ph/child");
    CU_ASSERT_FATAL(lk != NULL);
    CU_ASSERT_FATAL(vst_link_inner(lk, p, out) == 0);
    vst_link_key_free(lk);
}

/* Bit k set if key k's values of p and q are equal. */
static unsigned equal_keys(const vst_person *p, const vst_person *q)
{
    uint8_t a[VST_CV_RECORD_LEN], b[VST_CV_RECORD_LEN];
    inner(p, a);
    inner(q, b);
    unsigned m = 0;
    for (unsigned k = 0; k < VST_LINK_NKEYS; k++)
        if (memcmp(a + k * VST_CV_LEN, b + k * VST_CV_LEN, VST_CV_LEN) == 0)
            m |= 1u << k;
    return m;
}

enum { EXACT = 1, PHON = 2, SWAP = 4, DAYMON = 8, YEAR = 16, BIRTH = 32, ALL = 63 };

static void test_variants(void)
{
    vst_person p, q;
    mkperson(&p, "MIA SOPHIE", "MEIER", "", "20190304", 'W');
    CU_ASSERT(equal_keys(&p, &p) == ALL);
    /* Spelling of the family name (Meier/Maier/Meyer: phi 67): every key
     * but the exact one. */
    mkperson(&q, "MIA SOPHIE", "MAYER", "", "20190304", 'W');
    CU_ASSERT(equal_keys(&p, &q) == (ALL & ~EXACT));
    /* The double given name written as one: only the exact key sees the
     * concatenation, and it is the same; the others use the first token. */
    mkperson(&q, "MIASOPHIE", "MEIER", "", "20190304", 'W');
    CU_ASSERT((equal_keys(&p, &q) & EXACT) == EXACT);
    /* Given and family name swapped, and the sex recorded otherwise. */
    mkperson(&q, "MEIER", "MIA SOPHIE", "", "20190304", 'D');
    CU_ASSERT(equal_keys(&p, &q) == SWAP);
    /* Day and month swapped. */
    mkperson(&q, "MIA SOPHIE", "MEIER", "", "20190403", 'W');
    CU_ASSERT(equal_keys(&p, &q) == DAYMON);
    /* A wrong year. */
    mkperson(&q, "MIA SOPHIE", "MEIER", "", "20180304", 'W');
    CU_ASSERT(equal_keys(&p, &q) == YEAR);
    /* A changed family name: the old one is the birth name now. */
    mkperson(&q, "MIA SOPHIE", "OEZTUERK", "MEIER", "20190304", 'W');
    CU_ASSERT(equal_keys(&p, &q) == BIRTH);
    /* Umlaut spellings arrive normalized (Müller -> MUELLER): the phonetic
     * code of MULLER is the same. */
    mkperson(&p, "NOAH", "MUELLER", "", "20180101", 'M');
    mkperson(&q, "NOAH", "MULLER", "", "20180101", 'M');
    CU_ASSERT(equal_keys(&p, &q) == (ALL & ~EXACT));
    /* A day equal to its month: daymonth and the others agree. */
    mkperson(&p, "NOAH", "MUELLER", "", "20180505", 'M');
    CU_ASSERT(equal_keys(&p, &p) == ALL);
}

static void test_different_persons(void)
{
    static const char *const given[] = {"MIA", "NOAH", "LEA", "BEN", "EMMA", "PAUL"};
    static const char *const family[] = {"MEIER",  "SCHMIDT", "BECKER",
                                         "WAGNER", "FISCHER", "WEBER"};
    static const char *const dates[] = {"20190304", "20180512", "20200101",
                                        "20171111", "20190630", "20160229"};
    uint8_t v[6][VST_CV_RECORD_LEN];
    for (int i = 0; i < 6; i++) {
        vst_person p;
        mkperson(&p, given[i], family[i], "", dates[i], i % 2 ? 'M' : 'W');
        inner(&p, v[i]);
    }
    /* No value of any key is shared by two of them. */
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            for (int k = 0; k < VST_LINK_NKEYS; k++)
                for (int l = 0; l < VST_LINK_NKEYS; l++)
                    if (i != j || k != l)
                        CU_ASSERT(memcmp(v[i] + k * 16, v[j] + l * 16, 16) != 0);
    /* Another domain, other values. */
    vst_person p;
    uint8_t a[VST_CV_RECORD_LEN], b[VST_CV_RECORD_LEN];
    mkperson(&p, "MIA", "MEIER", "", "20190304", 'W');
    inner(&p, a);
    vst_link_key *lk = vst_link_key_new(root, "ph/other");
    CU_ASSERT_FATAL(lk != NULL && vst_link_inner(lk, &p, b) == 0);
    vst_link_key_free(lk);
    for (int k = 0; k < VST_LINK_NKEYS; k++)
        CU_ASSERT(memcmp(a + k * 16, b + k * 16, 16) != 0);
    /* Not normalized: refused, out zeroed. */
    p.given.tok[0][0] = 'm';
    lk = vst_link_key_new(root, "ph/child");
    memset(b, 0xff, sizeof b);
    CU_ASSERT(vst_link_inner(lk, &p, b) == -1);
    static const uint8_t zero[VST_CV_RECORD_LEN];
    CU_ASSERT(memcmp(b, zero, sizeof b) == 0);
    vst_link_key_free(lk);
    CU_ASSERT(vst_link_key_new(root, "Bad Domain") == NULL);
}

static void test_collections_and_rekey(void)
{
    vst_person p;
    uint8_t in[2][VST_CV_RECORD_LEN], a[2][VST_CV_RECORD_LEN], b[2][VST_CV_RECORD_LEN];
    mkperson(&p, "MIA", "MEIER", "", "20190304", 'W');
    inner(&p, in[0]);
    mkperson(&p, "NOAH", "SCHMIDT", "KLEIN", "20180512", 'M');
    inner(&p, in[1]);
    vst_version_key *ca1 = vst_collection_key_new(1, v1, "measles_case");
    vst_version_key *cb1 = vst_collection_key_new(1, v1, "school_entry");
    vst_version_key *ca2 = vst_collection_key_new(2, v2, "measles_case");
    CU_ASSERT_FATAL(ca1 != NULL && cb1 != NULL && ca2 != NULL);
    memcpy(a, in, sizeof in);
    memcpy(b, in, sizeof in);
    CU_ASSERT(vst_link_encrypt(ca1, a[0], 2) == 0 && vst_link_encrypt(cb1, b[0], 2) == 0);
    /* Stored values of two collections never compare equal, nor do they
     * equal the inner values. */
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < VST_LINK_NKEYS; k++) {
            CU_ASSERT(memcmp(a[r] + k * 16, b[r] + k * 16, 16) != 0);
            CU_ASSERT(memcmp(a[r] + k * 16, in[r] + k * 16, 16) != 0);
        }
    /* Only stripping the layers makes them comparable. */
    uint8_t sa[2][VST_CV_RECORD_LEN], sb[2][VST_CV_RECORD_LEN];
    memcpy(sa, a, sizeof a);
    memcpy(sb, b, sizeof b);
    CU_ASSERT(vst_link_strip(ca1, sa[0], 2) == 0 && vst_link_strip(cb1, sb[0], 2) == 0);
    CU_ASSERT(memcmp(sa, in, sizeof in) == 0 && memcmp(sb, in, sizeof in) == 0);
    /* Rekey v1 -> v2 equals deriving under v2, and strips back to I. */
    uint8_t direct[2][VST_CV_RECORD_LEN];
    memcpy(direct, in, sizeof in);
    CU_ASSERT(vst_link_encrypt(ca2, direct[0], 2) == 0);
    CU_ASSERT(vst_link_rekey(ca1, ca2, a[0], 2) == 0);
    CU_ASSERT(memcmp(a, direct, sizeof a) == 0);
    CU_ASSERT(vst_link_strip(ca2, a[0], 2) == 0 && memcmp(a, in, sizeof in) == 0);
    vst_version_key_free(ca1);
    vst_version_key_free(cb1);
    vst_version_key_free(ca2);
    CU_ASSERT(vst_collection_key_new(1, v1, "") == NULL);
}

/* ---- independent checks */

/* Runs cmd through the shell and reads its first line of output. */
static int run_line(const char *cmd, char *out, size_t cap)
{
    FILE *f = popen(cmd, "r");
    if (f == NULL)
        return -1;
    char *got = fgets(out, (int)cap, f);
    int st = pclose(f);
    return got != NULL && st == 0 ? 0 : -1;
}

/* The hex after the last '=' or whole, ':' and blanks dropped, lower-cased. */
static void clean_hex(const char *s, char *out, size_t cap)
{
    const char *eq = strrchr(s, '=');
    if (eq != NULL)
        s = eq + 1;
    size_t n = 0;
    for (; *s && n + 1 < cap; s++)
        if ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f'))
            out[n++] = *s;
        else if (*s >= 'A' && *s <= 'F')
            out[n++] = (char)(*s - 'A' + 'a');
    out[n] = '\0';
}

static const char *openssl_bin(void)
{
    const char *p = getenv("VST_OPENSSL");
    return p && *p ? p : "openssl";
}

/* `openssl kdf` HKDF-SHA256 of key under info, as hex. */
static int cli_hkdf(const uint8_t key[VST_KEY_LEN], const char *info, char hex[65])
{
    char k[65], cmd[512], line[512];
    vst_hex(key, VST_KEY_LEN, k);
    snprintf(cmd, sizeof cmd,
             "%s kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt hexkey:%s -kdfopt info:%s HKDF",
             openssl_bin(), k, info);
    if (run_line(cmd, line, sizeof line) != 0)
        return -1;
    clean_hex(line, hex, 65);
    return strlen(hex) == 64 ? 0 : -1;
}

static void test_against_openssl(void)
{
    vst_person p;
    mkperson(&p, "MIA SOPHIE", "MUELLER LUEDENSCHEIDT", "SCHMIDT", "20190304", 'W');
    /* The input of two keys, spelled out: phi(MIA) = 6, phi(MUELLER) =
     * 657, phi(SCHMIDT) = 862 (Apache's vectors). */
    uint8_t buf[VST_LINK_INPUT_MAX];
    const char want_phon[] = "vst/cv/1\x1fphonetic\x1f"
                             "6\x1f"
                             "657\x1f"
                             "20190304\x1fW";
    const char want_exact[] = "vst/cv/1\x1f"
                              "exact\x1fMIASOPHIE\x1fMUELLERLUEDENSCHEIDT\x1f"
                              "20190304\x1fW";
    const char want_dm[] = "vst/cv/1\x1f"
                           "daymonth\x1f"
                           "6\x1f"
                           "657\x1f"
                           "2019\x1f"
                           "03\x1f"
                           "04\x1fW";
    const char want_birth[] = "vst/cv/1\x1f"
                              "birthname\x1f"
                              "6\x1f"
                              "862\x1f"
                              "20190304";
    const char want_swap[] = "vst/cv/1\x1fswapped\x1f"
                             "6\x1f"
                             "657\x1f"
                             "20190304";
    size_t n = vst_link_input(1, &p, buf, sizeof buf);
    CU_ASSERT(n == sizeof want_phon - 1 && memcmp(buf, want_phon, n) == 0);
    n = vst_link_input(0, &p, buf, sizeof buf);
    CU_ASSERT(n == sizeof want_exact - 1 && memcmp(buf, want_exact, n) == 0);
    n = vst_link_input(3, &p, buf, sizeof buf);
    CU_ASSERT(n == sizeof want_dm - 1 && memcmp(buf, want_dm, n) == 0);
    n = vst_link_input(5, &p, buf, sizeof buf);
    CU_ASSERT(n == sizeof want_birth - 1 && memcmp(buf, want_birth, n) == 0);
    n = vst_link_input(2, &p, buf, sizeof buf);
    CU_ASSERT(n == sizeof want_swap - 1 && memcmp(buf, want_swap, n) == 0);
    CU_ASSERT(vst_link_input(1, &p, buf, 10) == 0);
    CU_ASSERT(vst_link_input(6, &p, buf, sizeof buf) == 0);

    /* K_link,d and K_v,c by the openssl CLI. */
    uint8_t kl[VST_KEY_LEN], kc[VST_KEY_LEN];
    char mine[65], cli[65];
    CU_ASSERT_FATAL(vst_hkdf_link(root, "ph/child", kl) == 0);
    vst_hex(kl, VST_KEY_LEN, mine);
    CU_ASSERT_FATAL(cli_hkdf(root, "vst/link/ph/child", cli) == 0);
    CU_ASSERT_STRING_EQUAL(mine, cli);
    CU_ASSERT_FATAL(vst_hkdf_collection(v1, "school_entry", kc) == 0);
    vst_hex(kc, VST_KEY_LEN, mine);
    CU_ASSERT_FATAL(cli_hkdf(v1, "vst/collection/school_entry", cli) == 0);
    CU_ASSERT_STRING_EQUAL(mine, cli);

    /* Each of the six values: HMAC-SHA256 of its input under K_link,d by
     * `openssl mac`, first 16 bytes. */
    uint8_t v[VST_CV_RECORD_LEN];
    inner(&p, v);
    char dir[] = "/tmp/vst-test-link.XXXXXX", path[64], klhex[65];
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/in", dir);
    vst_hex(kl, VST_KEY_LEN, klhex);
    for (unsigned k = 0; k < VST_LINK_NKEYS; k++) {
        n = vst_link_input(k, &p, buf, sizeof buf);
        FILE *f = fopen(path, "wb");
        CU_ASSERT_FATAL(f != NULL && fwrite(buf, 1, n, f) == n);
        fclose(f);
        char cmd[512], line[512], got[65], want[33];
        snprintf(cmd, sizeof cmd, "%s mac -digest SHA256 -macopt hexkey:%s -in %s HMAC",
                 openssl_bin(), klhex, path);
        CU_ASSERT_FATAL(run_line(cmd, line, sizeof line) == 0);
        clean_hex(line, got, sizeof got);
        vst_hex(v + k * VST_CV_LEN, VST_CV_LEN, want);
        CU_ASSERT(strlen(got) == 64 && strncmp(got, want, 32) == 0);
    }
    unlink(path);
    rmdir(dir);
    OPENSSL_cleanse(buf, sizeof buf);

    /* The vector of docs/crypto.md "Control values", made with the openssl
     * commands shown there: the phonetic value of MIA MUELLER 2019-03-04 W
     * under this root key, and stored for measles_case under v1. */
    mkperson(&p, "MIA", "MUELLER", "", "20190304", 'W');
    inner(&p, v);
    char hex[33];
    vst_hex(v + VST_CV_LEN, VST_CV_LEN, hex);
    CU_ASSERT_STRING_EQUAL(hex, "f02f0fc4d77d1fa24dc5f15d9395e776");
    vst_version_key *ck = vst_collection_key_new(1, v1, "measles_case");
    CU_ASSERT_FATAL(ck != NULL);
    CU_ASSERT(vst_link_encrypt(ck, v, 1) == 0);
    vst_hex(v + VST_CV_LEN, VST_CV_LEN, hex);
    CU_ASSERT_STRING_EQUAL(hex, "fd5edcec92ffb2206212d43249a786b0");
    vst_version_key_free(ck);
}

int vst_register_tests(void)
{
    static const vst_test tests[] = {
        {"each key absorbs its variants, and only its own", test_variants},
        {"different persons and domains differ in every key", test_different_persons},
        {"collections differ until stripped; rekey = derive under the new version",
         test_collections_and_rekey},
        {"input bytes by hand, keys and values by the openssl CLI", test_against_openssl},
        {NULL, NULL},
    };
    CU_pSuite s = CU_add_suite("control values", setup, NULL);
    if (s == NULL)
        return CU_get_error();
    for (size_t i = 0; tests[i].name != NULL; i++)
        if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL)
            return CU_get_error();
    return CUE_SUCCESS;
}
