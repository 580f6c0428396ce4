/* libFuzzer target: the readers of vst-keyd's key files (keys/keystore_*.c,
 * keys/shamir.c): keystore.info, keystore.sealed and its plaintext, Shamir
 * share files, the development master-key file.
 *
 * The keystore's parsers are reached through keys/keystore_internal.h
 * (vst_ks_info_parse, vst_ks_unseal) without a keystore directory; the
 * keystore's sources and shamir.c are linked as usual. Byte 0 picks the
 * reader:
 *   0  keystore.info text; what parses must format back and parse equal
 *   1  a sealed plaintext, sealed here with the keystore's own sealer under a
 *      fixed key (when bit 4 of byte 0 is set with the header's public key
 *      matching the plaintext's private key, so the whole plaintext parser
 *      is reachable) and opened with vst_ks_unseal(); what opens must hold
 *      exactly one current version, ascending versions, a key for every
 *      version not retired
 *   2  a raw keystore.sealed file, opened with vst_ks_unseal() under a fixed key
 *   3  share text (vst_share_parse), with or without an expected keystore
 *   4  shares built from the bytes: format -> parse must round-trip, and
 *      vst_shamir_combine must agree with vst_shamir_combine_raw
 *   5  the master-key file, written to a 0600 file and read back */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <unistd.h>

#include <openssl/crypto.h>

#include "core/hex.h"
#include "fuzz_util.h"
#include "keystore_internal.h"
#include "shamir.h"

static const uint8_t SEAL[VST_KEY_LEN] = {0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
                                          0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42};
static const char INFO_RAW[] = "vst-keystore-v1\nid: fuzz\n";
static char g_master_path[4096], g_dir[4096];

static void cleanup(void)
{
    unlink(g_master_path);
    rmdir(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/vst-fuzz-keyfiles.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    FZ_CHECK(mkdtemp(g_dir) != NULL, "mkdtemp");
    snprintf(g_master_path, sizeof g_master_path, "%s/master.key", g_dir);
    atexit(cleanup);
    return 0;
}

static void info_text(const uint8_t *data, size_t size)
{
    vst_keystore_info a, b;
    char err[256], again[VST_KS_INFO_MAX];
    char *text = fz_dup(data, size);
    if (vst_ks_info_parse(text, size, &a, "fuzz", err, sizeof err) == VST_KS_OK) {
        size_t n = vst_ks_info_format(&a, again, sizeof again);
        FZ_CHECK(n > 0, "a parsed header does not format");
        FZ_CHECK(vst_ks_info_parse(again, n, &b, "fuzz", err, sizeof err) == VST_KS_OK,
                 "a formatted header does not parse");
        FZ_CHECK(memcmp(&a, &b, sizeof a) == 0, "header round trip");
    }
    free(text);
}

static vst_keystore *fuzz_ks(void)
{
    vst_keystore *ks = vst_ks_new("fuzz");
    FZ_CHECK(ks != NULL, "out of memory");
    memcpy(VST_KS_SEAL_KEY(ks), SEAL, VST_KEY_LEN);
    ks->info_raw = OPENSSL_strdup(INFO_RAW);
    ks->info_len = sizeof INFO_RAW - 1;
    FZ_CHECK(ks->info_raw != NULL, "out of memory");
    return ks;
}

static void check_opened(const vst_keystore *ks)
{
    unsigned current = 0;
    for (size_t i = 0; i < ks->nv; i++) {
        const vst_ks_entry *v = &ks->v[i];
        FZ_CHECK(i == 0 || ks->v[i - 1].version < v->version, "versions not ascending");
        FZ_CHECK((v->key == NULL) == (v->state == VST_KEY_RETIRED), "key presence");
        current += v->state == VST_KEY_CURRENT;
        FZ_CHECK(vst_ks_find(ks, v->version) == v, "version lookup");
    }
    FZ_CHECK(current == 1 && vst_keystore_version_key(ks, ks->current) != NULL, "current");
    FZ_CHECK(vst_keystore_versions(ks, NULL, 0) == ks->nv, "version count");
}

/* Seals pt as vst_ks_seal_and_write does, then opens it with vst_ks_unseal(). */
static void sealed_plaintext(const uint8_t *data, size_t size)
{
    vst_keystore *ks = fuzz_ks();
    const uint8_t *pt = data + 1;
    size_t pt_len = size - 1;
    if ((data[0] & 16) && pt_len >= VST_KS_MAGIC_LEN + VST_KEY_LEN + VST_ED25519_LEN)
        FZ_CHECK(vst_ks_ed25519_public(pt + VST_KS_MAGIC_LEN + VST_KEY_LEN, ks->info.sign_public),
                 "ed25519");
    uint8_t *file = NULL;
    size_t file_len = 0;
    char err[256];
    FZ_CHECK(vst_ks_seal(ks, 7, pt, pt_len, &file, &file_len, err, sizeof err) == VST_KS_OK,
             "sealing");
    FZ_CHECK(file_len == VST_KS_SEALED_OVERHEAD + pt_len, "sealed length");
    vst_ks_status st = vst_ks_unseal(ks, file, file_len, err, sizeof err);
    if (st == VST_KS_OK) {
        FZ_CHECK(ks->generation == 7, "generation");
        check_opened(ks);
    } else {
        FZ_CHECK(st == VST_KS_CORRUPT, "a sealed plaintext refused with another status");
    }
    OPENSSL_free(file);
    vst_keystore_free(ks);
}

static void sealed_raw(const uint8_t *data, size_t size)
{
    vst_keystore *ks = fuzz_ks();
    uint8_t *file = (uint8_t *)fz_dup(data, size);
    char err[256];
    if (vst_ks_unseal(ks, file, size, err, sizeof err) == VST_KS_OK)
        check_opened(ks); /* a forged tag: should be out of reach */
    free(file);
    vst_keystore_free(ks);
}

static void share_text(const uint8_t *data, size_t size)
{
    static const uint8_t expect[VST_KS_ID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
    char *text = fz_dup(data + 1, size - 1);
    vst_share s;
    char err[256];
    memset(err, 0, sizeof err);
    vst_ks_status st =
        vst_share_parse(text, size - 1, (data[0] & 8) ? expect : NULL, &s, err, sizeof err);
    FZ_CHECK(st == VST_KS_OK || st == VST_KS_SHARE_CORRUPT || st == VST_KS_SHARE_FOREIGN,
             "share status");
    FZ_CHECK(memchr(err, '\0', sizeof err) != NULL, "message terminated");
    if (st == VST_KS_OK)
        vst_share_wipe(&s, 1);
    free(text);
}

#define SHARE_BYTES (VST_KS_ID_LEN + 3 + VST_KEY_LEN)

static void share_structs(const uint8_t *data, size_t size)
{
    vst_share sh[8];
    size_t k = 0;
    for (const uint8_t *p = data + 1; k < 8 && p + SHARE_BYTES <= data + size; p += SHARE_BYTES) {
        vst_share *s = &sh[k++];
        memcpy(s->keystore_id, p, VST_KS_ID_LEN);
        s->index = p[VST_KS_ID_LEN];
        s->threshold = p[VST_KS_ID_LEN + 1];
        s->shares = p[VST_KS_ID_LEN + 2];
        memcpy(s->y, p + VST_KS_ID_LEN + 3, VST_KEY_LEN);
        char text[VST_SHARE_TEXT_MAX], err[256];
        vst_share back;
        FZ_CHECK(vst_share_format(s, text, sizeof text) == VST_KS_OK, "format");
        vst_ks_status st =
            vst_share_parse(text, strlen(text), s->keystore_id, &back, err, sizeof err);
        int valid = s->index >= 1 && s->threshold >= 2 && s->shares >= s->threshold;
        FZ_CHECK((st == VST_KS_OK) == valid, "a formatted share does not parse");
        if (st == VST_KS_OK)
            FZ_CHECK(memcmp(&back, s, sizeof back) == 0, "share round trip");
    }
    if (k == 0)
        return;
    uint8_t m1[VST_KEY_LEN], m2[VST_KEY_LEN];
    char err[256];
    if (vst_shamir_combine(sh, k, (data[0] & 8) ? sh[0].keystore_id : NULL, m1, err, sizeof err) ==
        VST_KS_OK) {
        FZ_CHECK(vst_shamir_combine_raw(sh, k, m2, err, sizeof err) == VST_KS_OK &&
                     memcmp(m1, m2, VST_KEY_LEN) == 0,
                 "combine and combine_raw differ");
    }
    vst_share_wipe(sh, k);
}

static void master_file(const uint8_t *data, size_t size)
{
    FILE *f = fopen(g_master_path, "we");
    FZ_CHECK(f != NULL, "master file");
    FZ_CHECK(chmod(g_master_path, (data[0] & 8) ? 0644 : 0600) == 0, "chmod");
    FZ_CHECK(fwrite(data + 1, 1, size - 1, f) == size - 1 && fclose(f) == 0, "write");
    uint8_t master[VST_KEY_LEN], want[VST_KEY_LEN];
    char err[512];
    vst_ks_status st = vst_master_file_read(g_master_path, master, err, sizeof err);
    if (st == VST_KS_OK) {
        FZ_CHECK(!(data[0] & 8), "a group-readable master-key file was read");
        FZ_CHECK(size - 1 >= 64 && vst_unhex((const char *)data + 1, VST_KEY_LEN, want) == 0 &&
                     memcmp(master, want, VST_KEY_LEN) == 0,
                 "master key value");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 6) {
    case 0:
        info_text(data + 1, size - 1);
        break;
    case 1:
        sealed_plaintext(data, size);
        break;
    case 2:
        sealed_raw(data + 1, size - 1);
        break;
    case 3:
        share_text(data, size);
        break;
    case 4:
        share_structs(data, size);
        break;
    default:
        master_file(data, size);
        break;
    }
    return 0;
}
