/* vst-keyd against real processes (issue 3, DESIGN.md §2, §3, §8): unseal
 * with Shamir shares and the dev master key, deterministic and separated
 * pseudonyms, rotation, the budget, hostile peers on the data socket, the
 * uid allowlists, signatures, the event stream and the sandbox.
 *
 * Every keyd here runs with --seccomp no --user "" and LeakSanitizer on,
 * except in the sandbox suite (seccomp refuses LSan's tracer); every stop
 * requires exit status 0 and scans keyd's events and log for every
 * identifier and pseudonym the test used (fixture.c). */
#include <errno.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/signed.h"
#include "core/usage.h"
#include "cunit_main.h"
#include "fixture.h"
#include "shamir.h"
#include "cli/gen/gen.h"

#define NOBODY 65534

/* keyd is built like this test: with ASan (gcc or clang) or without. */
#if defined(__SANITIZE_ADDRESS__)
#define KEYD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEYD_ASAN 1
#endif
#endif

/* ------------------------------------------------------------ helpers */

/* n identifiers of one kind, concatenated (each *id_len bytes). */
static char *make_ids(uint64_t seed, vst_id_kind kind, size_t n, size_t *id_len)
{
    vst_gen *g = vst_gen_new(seed);
    char *ids = NULL;
    size_t len = kind == VST_ID_KVNR ? 10 : 9;
    if (g != NULL && (ids = malloc(n * len + 1)) != NULL)
        for (size_t i = 0; i < n; i++) {
            char one[VST_ID_MAXLEN + 1];
            if (vst_gen_id(g, kind, one) != len) {
                free(ids);
                ids = NULL;
                break;
            }
            memcpy(ids + i * len, one, len);
        }
    vst_gen_free(g);
    *id_len = len;
    return ids;
}

/* PSEUDONYMIZE on a fresh data connection; returns malloc'd n*16 bytes. */
static uint8_t *pseud_fresh(const char *sock, const char *domain, const char *ids, size_t id_len,
                            size_t n, uint32_t *kv, int *rc)
{
    uint8_t *out = malloc(n * 16);
    vst_keyd *c = fx_connect(sock);
    *rc = c && out ? fx_pseud(c, domain, ids, id_len, n, out, kv) : -100;
    vst_keyd_close(c);
    if (*rc != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static int status_ok(const fx_keyd *k, fx_status_t *st)
{
    int rc = fx_status(k->data_sock, st);
    CU_ASSERT_EQUAL(rc, 0);
    return rc;
}

static int has_dup16(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (memcmp(p + 16 * i, p + 16 * j, 16) == 0)
                return 1;
    return 0;
}

/* Whether no pseudonym of a equals the one at the same index in b. */
static int all_differ(const uint8_t *a, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(a + 16 * i, b + 16 * i, 16) == 0)
            return 0;
    return 1;
}

/* vst-admin unseal FILE: exit status; *out / *err copied when not NULL. */
static int admin_unseal(const fx_keyd *k, const char *file, char **out, char **err)
{
    fx_result r;
    fx_admin(&r, k, "unseal", file, NULL);
    if (out != NULL)
        *out = r.out, r.out = NULL;
    if (err != NULL)
        *err = r.err, r.err = NULL;
    fx_result_free(&r);
    return r.status;
}

/* ------------------------------------------------------------ unseal */

static void test_unseal_shares(void)
{
    fx_store s;
    fx_keyd k = {0};
    fx_status_t st;
    CU_ASSERT_EQUAL_FATAL(fx_store_shamir(&s, 3, 2, NULL), 0);
    fx_keyd_opts o = {.store = &s};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);

    /* Sealed: STATUS tells how many shares it needs, PSEUDONYMIZE and
     * PUBKEY are refused with `sealed`, the connection stays usable. */
    CU_ASSERT_EQUAL_FATAL(status_ok(&k, &st), 0);
    CU_ASSERT_EQUAL(st.s.sealed, 1);
    CU_ASSERT_EQUAL(st.s.shares_need, 2);
    CU_ASSERT_EQUAL(st.s.shares_have, 0);
    CU_ASSERT_EQUAL(st.s.current_version, 0);
    size_t il;
    char *ids = make_ids(11, VST_ID_KVNR, 8, &il);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    uint8_t out[8 * 16], pub[32], p1[8 * 16];
    uint32_t kv = 0;
    vst_keyd *c = fx_connect(k.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids, il, 8, out, &kv), VST_KERR_SEALED);
    CU_ASSERT_EQUAL(vst_keyd_pubkey(c, pub), VST_KERR_SEALED);
    vst_status_ok sst;
    uint8_t *buf;
    size_t blen;
    CU_ASSERT_EQUAL(vst_keyd_status(c, &sst, &buf, &blen), 0);
    vst_frame_free(buf, blen);
    vst_keyd_close(c);

    /* One share: still sealed; the same share again: refused, and keyd
     * keeps the one it has. */
    char *o1 = NULL, *e1 = NULL;
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[0], &o1, NULL), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(o1, "1 of 2"));
    free(o1);
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[0], NULL, &e1), 1);
    CU_ASSERT(fx_one_line(e1));
    CU_ASSERT_PTR_NOT_NULL(strstr(e1, "unseal refused"));
    free(e1);
    status_ok(&k, &st);
    CU_ASSERT_EQUAL(st.s.sealed, 1);
    CU_ASSERT_EQUAL(st.s.shares_have, 1);

    /* The second share unseals; the signing key is the one key init made. */
    o1 = NULL;
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[1], &o1, NULL), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(o1, "unsealed"));
    free(o1);
    status_ok(&k, &st);
    CU_ASSERT_EQUAL(st.s.sealed, 0);
    CU_ASSERT_EQUAL(st.s.dev_master, 0);
    CU_ASSERT_EQUAL(st.s.current_version, 1);
    char hex[65];
    vst_hex(st.s.signing_pubkey, 32, hex);
    CU_ASSERT_STRING_EQUAL(hex, s.pubkey_hex);
    int rc;
    uint8_t *pa = pseud_fresh(k.data_sock, "sgb5/insured", ids, il, 8, &kv, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(kv, 1);
    memcpy(p1, pa, sizeof p1);
    free(pa);
    /* Unseal once more: keyd says it is unsealed and changes nothing. */
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[2], NULL, NULL), 0);
    json_t *ev = fx_event_last(&k, "keyd.unseal");
    CU_ASSERT_PTR_NOT_NULL(ev);
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "mode") ? fx_ev_str(ev, "mode") : "", "shamir");
    json_decref(ev);
    CU_ASSERT_EQUAL(fx_event_count(&k, "keyd.unseal_share"), 2);
    fx_keyd_stop(&k);

    /* A new keyd starts sealed again; M-1 shares leave it sealed. */
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[2], NULL, NULL), 0);
    status_ok(&k, &st);
    CU_ASSERT_EQUAL(st.s.sealed, 1);
    CU_ASSERT_EQUAL(st.s.shares_have, 1);
    pa = pseud_fresh(k.data_sock, "sgb5/insured", ids, il, 8, &kv, &rc);
    CU_ASSERT_EQUAL(rc, VST_KERR_SEALED);
    free(pa);
    /* Shares 3 and 1 rebuild the same keys: the same pseudonyms. */
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[0], NULL, NULL), 0);
    pa = pseud_fresh(k.data_sock, "sgb5/insured", ids, il, 8, &kv, &rc);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(pa != NULL && memcmp(pa, p1, sizeof p1) == 0);
    free(pa);
    free(ids);
    fx_keyd_stop(&k);
}

/* Rewrites the hex digit of the `share:` line at position pos. */
static int corrupt_share_file(const char *src, const char *dst, size_t pos)
{
    char *t = fx_read_file(src, NULL);
    char *p = t ? strstr(t, "\nshare: ") : NULL;
    int rc = -1;
    if (p != NULL) {
        char *d = p + strlen("\nshare: ") + pos;
        *d = *d == '0' ? '1' : '0';
        rc = fx_write_file(dst, t, 0600);
    }
    free(t);
    return rc;
}

static void test_unseal_bad_shares(void)
{
    fx_store s, other;
    fx_keyd k = {0};
    fx_status_t st;
    CU_ASSERT_EQUAL_FATAL(fx_store_shamir(&s, 3, 2, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(fx_store_shamir(&other, 3, 2, NULL), 0);
    fx_keyd_opts o = {.store = &s};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);

    /* One hex digit changed: vst-admin refuses it in one line (the check
     * value), keyd never sees it. */
    char bad[FX_PATH + 16];
    snprintf(bad, sizeof bad, "%s/corrupt.txt", s.dir);
    CU_ASSERT_EQUAL_FATAL(corrupt_share_file(s.share[0], bad, 7), 0);
    char *err = NULL;
    int rc = admin_unseal(&k, bad, NULL, &err);
    CU_ASSERT_NOT_EQUAL(rc, 0);
    CU_ASSERT(fx_one_line(err));
    CU_ASSERT(strncmp(err, "vst-admin: ", 11) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "corrupt.txt"));
    free(err);
    status_ok(&k, &st);
    CU_ASSERT_EQUAL(st.s.shares_have, 0);
    CU_ASSERT_EQUAL(fx_event_count(&k, "keyd.unseal_share"), 0);

    /* A good share, then one of another keystore: refused, keyd keeps the
     * good one and stays sealed; the message says so. */
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[0], NULL, NULL), 0);
    err = NULL;
    rc = admin_unseal(&k, other.share[1], NULL, &err);
    CU_ASSERT_EQUAL(rc, 1);
    CU_ASSERT(fx_one_line(err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "refused"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "keeps the 1 good share"));
    free(err);
    status_ok(&k, &st);
    CU_ASSERT_EQUAL(st.s.sealed, 1);
    CU_ASSERT_EQUAL(st.s.shares_have, 1);
    json_t *ev = fx_event_last(&k, "keyd.unseal_rejected");
    CU_ASSERT_PTR_NOT_NULL(ev);
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "reason") ? fx_ev_str(ev, "reason") : "", "foreign_share");
    json_decref(ev);
    /* The second good share completes it. */
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[2], NULL, NULL), 0);
    status_ok(&k, &st);
    CU_ASSERT_EQUAL(st.s.sealed, 0);
    fx_keyd_stop(&k);
}

/* A share that passes every check of its own file but is wrong for this
 * keystore (manipulated bytes, file check recomputed): keyd refuses that
 * share alone by the check value keystore.info records for it, keeps the
 * good share it has, and the next good share unseals (issue 8: one bad
 * share used to wipe every share collected). */
static void test_unseal_wrong_combination(void)
{
    fx_store s;
    fx_keyd k = {0};
    fx_status_t st;
    CU_ASSERT_EQUAL_FATAL(fx_store_shamir(&s, 3, 2, NULL), 0);
    fx_keyd_opts o = {.store = &s};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    char err[256];
    vst_share sh0, sh1;
    CU_ASSERT_EQUAL_FATAL(vst_share_file_read(s.share[0], NULL, &sh0, err, sizeof err), VST_KS_OK);
    CU_ASSERT_EQUAL_FATAL(vst_share_file_read(s.share[1], NULL, &sh1, err, sizeof err), VST_KS_OK);
    sh1.y[5] ^= 0x40;

    /* Straight through the protocol. */
    vst_keyd *c = fx_connect(k.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    vst_unseal_req rq = {.index = sh0.index, .share = sh0.y};
    memcpy(rq.keystore_id, sh0.keystore_id, sizeof rq.keystore_id);
    vst_unseal_ok rs;
    CU_ASSERT_EQUAL(vst_keyd_unseal(c, &rq, &rs), 0);
    CU_ASSERT_EQUAL(rs.result, VST_UNSEAL_NEED_MORE);
    rq.index = sh1.index;
    rq.share = sh1.y;
    CU_ASSERT_EQUAL(vst_keyd_unseal(c, &rq, &rs), 0);
    CU_ASSERT_EQUAL(rs.result, VST_UNSEAL_SHARE_REFUSED);
    CU_ASSERT_EQUAL(rs.have, 1); /* the good share stays */
    vst_keyd_close(c);
    status_ok(&k, &st);
    CU_ASSERT_EQUAL(st.s.sealed, 1);
    CU_ASSERT_EQUAL(st.s.shares_have, 1);
    json_t *ev = fx_event_last(&k, "keyd.unseal_rejected");
    CU_ASSERT_PTR_NOT_NULL(ev);
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "reason") ? fx_ev_str(ev, "reason") : "", "bad_share");
    CU_ASSERT_EQUAL(fx_ev_int(ev, "index"), sh1.index);
    json_decref(ev);

    /* Through vst-admin, with a share file whose check value fits the
     * manipulated bytes: one clear line, exit 1, the good share kept. */
    char text[VST_SHARE_TEXT_MAX], bad[FX_PATH + 16];
    CU_ASSERT_EQUAL_FATAL(vst_share_format(&sh1, text, sizeof text), VST_KS_OK);
    snprintf(bad, sizeof bad, "%s/manipulated.txt", s.dir);
    CU_ASSERT_EQUAL_FATAL(fx_write_file(bad, text, 0600), 0);
    vst_share_wipe(&sh0, 1);
    vst_share_wipe(&sh1, 1);
    char *e = NULL;
    CU_ASSERT_EQUAL(admin_unseal(&k, bad, NULL, &e), 1);
    CU_ASSERT(fx_one_line(e));
    CU_ASSERT_PTR_NOT_NULL(strstr(e, "keeps the 1 good share"));
    free(e);
    status_ok(&k, &st);
    CU_ASSERT_EQUAL(st.s.sealed, 1);
    CU_ASSERT_EQUAL(st.s.shares_have, 1);
    CU_ASSERT_EQUAL(fx_event_count(&k, "keyd.unseal_rejected"), 2);
    CU_ASSERT_EQUAL(fx_event_count(&k, "keyd.unseal"), 0);

    /* One more good share completes it. */
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[2], NULL, NULL), 0);
    status_ok(&k, &st);
    CU_ASSERT_EQUAL(st.s.sealed, 0);
    fx_keyd_stop(&k);
}

/* A Shamir keystore as made before keystore.info recorded share checks:
 * made with the library directly. */
static int legacy_store(fx_store *s, unsigned n, unsigned m)
{
    const char *d = fx_tmpdir();
    if (d == NULL)
        return -1;
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "%s", d);
    snprintf(s->keystore, sizeof s->keystore, "%s/ks", d);
    uint8_t master[VST_KEY_LEN];
    vst_ks_mode_info mode = {VST_KS_MODE_SHAMIR, m, n};
    vst_keystore *ks = NULL;
    char err[256];
    vst_share sh[8];
    if (n > 8 || vst_master_generate(master) != VST_KS_OK ||
        vst_keystore_create(s->keystore, master, &mode, &ks, err, sizeof err) != VST_KS_OK)
        return -1;
    int rc = vst_keystore_get_info(ks)->nshare_checks == 0 &&
                     vst_shamir_split(master, vst_keystore_get_info(ks)->id, m, n, sh, err,
                                      sizeof err) == VST_KS_OK
                 ? 0
                 : -1;
    vst_keystore_free(ks);
    OPENSSL_cleanse(master, sizeof master);
    for (unsigned i = 0; rc == 0 && i < n; i++) {
        snprintf(s->share[i], sizeof s->share[i], "%s/share-%u.txt", d, i + 1);
        rc = vst_share_file_write(s->share[i], &sh[i], err, sizeof err) == VST_KS_OK ? 0 : -1;
    }
    vst_share_wipe(sh, n);
    s->nshares = n;
    s->threshold = m;
    return rc;
}

/* That legacy keystore: a wrong share cannot be told from the others, so
 * keyd keeps what it has and tries every combination once more arrive. */
static void test_unseal_legacy_bad_share(void)
{
    fx_store s;
    fx_keyd k = {0};
    fx_status_t st;
    CU_ASSERT_EQUAL_FATAL(legacy_store(&s, 4, 2), 0);
    char info[FX_PATH + 32];
    snprintf(info, sizeof info, "%s/keystore.info", s.keystore);
    char *t = fx_read_file(info, NULL);
    CU_ASSERT(t != NULL && strstr(t, "share-checks") == NULL);
    free(t);
    fx_keyd_opts o = {.store = &s};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    char err[256], bad[FX_PATH + 16], text[VST_SHARE_TEXT_MAX];
    vst_share sh;
    CU_ASSERT_EQUAL_FATAL(vst_share_file_read(s.share[1], NULL, &sh, err, sizeof err), VST_KS_OK);
    sh.y[9] ^= 0x11;
    CU_ASSERT_EQUAL_FATAL(vst_share_format(&sh, text, sizeof text), VST_KS_OK);
    unsigned bad_index = sh.index;
    vst_share_wipe(&sh, 1);
    snprintf(bad, sizeof bad, "%s/manipulated.txt", s.dir);
    CU_ASSERT_EQUAL_FATAL(fx_write_file(bad, text, 0600), 0);

    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[0], NULL, NULL), 0);
    char *e = NULL;
    CU_ASSERT_EQUAL(admin_unseal(&k, bad, NULL, &e), 1);
    CU_ASSERT(fx_one_line(e));
    CU_ASSERT_PTR_NOT_NULL(strstr(e, "keeps them"));
    free(e);
    status_ok(&k, &st);
    CU_ASSERT_EQUAL(st.s.sealed, 1);
    CU_ASSERT_EQUAL(st.s.shares_have, 2);
    json_t *ev = fx_event_last(&k, "keyd.unseal_rejected");
    CU_ASSERT_EQUAL(fx_ev_int(ev, "kept"), 2);
    json_decref(ev);
    /* A third (good) share: shares 1 and 3 are found among the three. */
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[2], NULL, NULL), 0);
    status_ok(&k, &st);
    CU_ASSERT_EQUAL(st.s.sealed, 0);
    ev = fx_event_last(&k, "keyd.unseal");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    json_t *unused = json_object_get(json_object_get(ev, "details"), "unused_shares");
    CU_ASSERT(json_array_size(unused) == 1 &&
              json_integer_value(json_array_get(unused, 0)) == (json_int_t)bad_index);
    json_decref(ev);
    fx_keyd_stop(&k);
}

/* argv of a keyd run in k's dir (as fx_keyd_start builds it, dev key). */
static int keyd_run_once(const fx_store *s, const fx_keyd *k, fx_result *r)
{
    const char *argv[] = {fx_prog("VST_KEYD"),
                          "--keystore",
                          s->keystore,
                          "--data-socket",
                          k->data_sock,
                          "--admin-socket",
                          k->admin_sock,
                          "--events-file",
                          k->events,
                          "--data-uids",
                          "0",
                          "--admin-uids",
                          "0",
                          "--user",
                          "",
                          "--seccomp",
                          "no",
                          "--dev-master-key",
                          s->master,
                          NULL};
    return fx_run(r, argv, NULL);
}

static int copy_file(const char *from, const char *to)
{
    size_t len;
    char *t = fx_read_file(from, &len);
    FILE *f = t ? fopen(to, "wb") : NULL;
    int rc = f != NULL && fwrite(t, 1, len, f) == len ? 0 : -1;
    if (f != NULL && fclose(f) != 0)
        rc = -1;
    free(t);
    return rc;
}

/* A keystore put back from an older copy (here: from before a rotation) is
 * refused at unseal with one clear line and an event; the newest copy
 * unseals again. Shamir through vst-admin, and the dev key at start. */
static void test_unseal_rollback(void)
{
    fx_store s;
    fx_keyd k = {0};
    fx_status_t st;
    CU_ASSERT_EQUAL_FATAL(fx_store_shamir(&s, 3, 2, NULL), 0);
    char sealed[FX_PATH + 32], old[FX_PATH + 32], newest[FX_PATH + 32];
    snprintf(sealed, sizeof sealed, "%s/keystore.sealed", s.keystore);
    snprintf(old, sizeof old, "%s/sealed.gen1", s.dir);
    snprintf(newest, sizeof newest, "%s/sealed.newest", s.dir);
    CU_ASSERT_EQUAL_FATAL(copy_file(sealed, old), 0);
    fx_keyd_opts o = {.store = &s};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[0], NULL, NULL), 0);
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[1], NULL, NULL), 0);
    fx_result r;
    fx_admin(&r, &k, "key", "rotate", NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    fx_result_free(&r);
    fx_keyd_stop(&k);
    CU_ASSERT_EQUAL_FATAL(copy_file(sealed, newest), 0);
    CU_ASSERT_EQUAL_FATAL(copy_file(old, sealed), 0); /* the "restored backup" */

    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[0], NULL, NULL), 0);
    char *e = NULL;
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[1], NULL, &e), 1);
    CU_ASSERT(fx_one_line(e));
    CU_ASSERT_PTR_NOT_NULL(strstr(e, "older copy"));
    free(e);
    status_ok(&k, &st);
    CU_ASSERT_EQUAL(st.s.sealed, 1);
    json_t *ev = fx_event_last(&k, "keyd.unseal_rejected");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "reason") ? fx_ev_str(ev, "reason") : "", "rollback");
    CU_ASSERT_EQUAL(fx_ev_int(ev, "generation"), 1);
    CU_ASSERT_EQUAL(fx_ev_int(ev, "seen"), 2);
    json_decref(ev);
    char *log = fx_read_file(k.log, NULL);
    CU_ASSERT(log != NULL && strstr(log, "older than generation 2") != NULL);
    free(log);
    /* The newest copy back: it unseals, with version 2 current. */
    CU_ASSERT_EQUAL_FATAL(copy_file(newest, sealed), 0);
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[2], NULL, NULL), 0);
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[0], NULL, NULL), 0);
    status_ok(&k, &st);
    CU_ASSERT_EQUAL(st.s.sealed, 0);
    CU_ASSERT_EQUAL(st.s.current_version, 2);
    fx_keyd_stop(&k);

    /* Disaster recovery from the older copy is possible, deliberately:
     * --accept-generation 1, audited; from then on it is the record. */
    CU_ASSERT_EQUAL_FATAL(copy_file(old, sealed), 0);
    fx_keyd_opts oa = {.store = &s, .accept_generation = 1};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &oa), 0);
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[1], NULL, NULL), 0);
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[2], NULL, NULL), 0);
    status_ok(&k, &st);
    CU_ASSERT_EQUAL(st.s.sealed, 0);
    CU_ASSERT_EQUAL(st.s.current_version, 1);
    ev = fx_event_last(&k, "keyd.rollback_accepted");
    CU_ASSERT_PTR_NOT_NULL(ev);
    CU_ASSERT_EQUAL(fx_ev_int(ev, "generation"), 1);
    CU_ASSERT_EQUAL(fx_ev_int(ev, "seen"), 2);
    json_decref(ev);
    fx_keyd_stop(&k);
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[0], NULL, NULL), 0);
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[1], NULL, NULL), 0);
    status_ok(&k, &st);
    CU_ASSERT_EQUAL(st.s.sealed, 0);
    fx_keyd_stop(&k);

    /* Development key: an older copy makes keyd refuse to start. */
    fx_store d;
    fx_keyd kd = {0};
    CU_ASSERT_EQUAL_FATAL(fx_store_dev(&d, NULL), 0);
    snprintf(sealed, sizeof sealed, "%s/keystore.sealed", d.keystore);
    snprintf(old, sizeof old, "%s/sealed.gen1", d.dir);
    CU_ASSERT_EQUAL_FATAL(copy_file(sealed, old), 0);
    fx_keyd_opts od = {.store = &d, .dev = 1};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&kd, &od), 0);
    fx_admin(&r, &kd, "key", "rotate", NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    fx_result_free(&r);
    fx_keyd_stop(&kd);
    CU_ASSERT_EQUAL_FATAL(copy_file(old, sealed), 0);
    CU_ASSERT_EQUAL(keyd_run_once(&d, &kd, &r), 1);
    /* Its one line for the operator (after its JSON log lines). */
    const char *line = r.err ? strstr(r.err, "\nvst-keyd: keystore") : NULL;
    CU_ASSERT(line != NULL && strstr(line, "older than generation 2") != NULL &&
              fx_one_line(line + 1));
    fx_result_free(&r);
    CU_ASSERT_EQUAL(fx_event_count(&kd, "keyd.start"), 1);
}

static void test_unseal_3_of_5(void)
{
    static const int combos[3][3] = {{0, 1, 2}, {1, 3, 4}, {4, 2, 0}};
    fx_store s;
    fx_keyd k = {0};
    fx_status_t st;
    CU_ASSERT_EQUAL_FATAL(fx_store_shamir(&s, 5, 3, NULL), 0);
    fx_keyd_opts o = {.store = &s};
    size_t il;
    char *ids = make_ids(35, VST_ID_KVNR, 4, &il);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    uint8_t first[4 * 16];
    for (int c = 0; c < 3; c++) {
        CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
        for (int i = 0; i < 2; i++)
            CU_ASSERT_EQUAL(admin_unseal(&k, s.share[combos[c][i]], NULL, NULL), 0);
        status_ok(&k, &st);
        CU_ASSERT_EQUAL(st.s.sealed, 1); /* M-1 = 2 of 3 */
        CU_ASSERT_EQUAL(st.s.shares_need, 3);
        CU_ASSERT_EQUAL(admin_unseal(&k, s.share[combos[c][2]], NULL, NULL), 0);
        status_ok(&k, &st);
        CU_ASSERT_EQUAL(st.s.sealed, 0);
        int rc;
        uint32_t kv;
        uint8_t *p = pseud_fresh(k.data_sock, "sgb5/insured", ids, il, 4, &kv, &rc);
        CU_ASSERT_EQUAL(rc, 0);
        if (p != NULL && c == 0)
            memcpy(first, p, sizeof first);
        else
            CU_ASSERT(p != NULL && memcmp(p, first, sizeof first) == 0);
        free(p);
        fx_keyd_stop(&k);
    }
    free(ids);
}

static void test_dev_master(void)
{
    fx_store s;
    fx_keyd k = {0};
    fx_status_t st;
    CU_ASSERT_EQUAL_FATAL(fx_store_dev(&s, NULL), 0);
    fx_keyd_opts o = {.store = &s, .dev = 1};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    char *log = fx_read_file(k.log, NULL);
    CU_ASSERT(log != NULL && strstr(log, "DEVELOPMENT MASTER KEY") != NULL);
    free(log);
    status_ok(&k, &st);
    CU_ASSERT_EQUAL(st.s.sealed, 0);
    CU_ASSERT_EQUAL(st.s.dev_master, 1);
    CU_ASSERT_EQUAL(st.s.current_version, 1);
    json_t *ev = fx_event_last(&k, "keyd.start");
    CU_ASSERT(ev != NULL &&
              json_is_true(json_object_get(json_object_get(ev, "details"), "dev_master")));
    json_decref(ev);

    fx_result r;
    fx_admin(&r, &k, "key", "status", NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "WARNING"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, s.pubkey_hex));
    fx_result_free(&r);
    fx_admin(&r, &k, "--json", "key", "status", NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je);
    CU_ASSERT_PTR_NOT_NULL(j);
    CU_ASSERT(json_is_true(json_object_get(j, "dev_master")));
    CU_ASSERT(json_is_false(json_object_get(j, "sealed")));
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(j, "current_version")), 1);
    const char *pk = json_string_value(json_object_get(j, "signing_public_key"));
    CU_ASSERT(pk != NULL && strcmp(pk, s.pubkey_hex) == 0);
    CU_ASSERT_EQUAL(json_array_size(json_object_get(j, "versions")), 1);
    json_decref(j);
    fx_result_free(&r);

    /* key init never overwrites a keystore. */
    char sealed[FX_PATH + 32];
    snprintf(sealed, sizeof sealed, "%s/keystore.sealed", s.keystore);
    size_t l1, l2;
    char *b1 = fx_read_file(sealed, &l1);
    fx_admin(&r, NULL, "--keystore", s.keystore, "key", "init", "--dev-master-key", s.master, NULL);
    CU_ASSERT_NOT_EQUAL(r.status, 0);
    CU_ASSERT(fx_one_line(r.err));
    fx_result_free(&r);
    char *b2 = fx_read_file(sealed, &l2);
    CU_ASSERT(b1 != NULL && b2 != NULL && l1 == l2 && memcmp(b1, b2, l1) == 0);
    free(b1);
    free(b2);
    fx_keyd_stop(&k);
}

/* ------------------------------------------------------------ pseudonyms */

static void test_determinism(void)
{
    fx_store s;
    fx_keyd k = {0};
    CU_ASSERT_EQUAL_FATAL(fx_store_dev(&s, NULL), 0);
    fx_keyd_opts o = {.store = &s, .dev = 1};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    enum { N = 500 };
    size_t il, ll;
    char *ids = make_ids(7, VST_ID_KVNR, N, &il);
    char *lanr = make_ids(8, VST_ID_LANR, N, &ll);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lanr);
    uint32_t kv = 0;
    int rc;
    uint8_t *p1 = pseud_fresh(k.data_sock, "sgb5/insured", ids, il, N, &kv, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(kv, 1);
    CU_ASSERT_FALSE(has_dup16(p1, N));
    char hex[33];
    fx_hex16(p1, hex);
    CU_ASSERT_EQUAL(strspn(hex, "0123456789abcdef"), 32);

    /* Same connection twice, and in two halves: the same pseudonyms. */
    uint8_t *p2 = malloc(N * 16);
    vst_keyd *c = fx_connect(k.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids, il, N, p2, &kv), 0);
    CU_ASSERT_EQUAL(memcmp(p1, p2, N * 16), 0);
    memset(p2, 0, N * 16);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids, il, 123, p2, &kv), 0);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids + 123 * il, il, N - 123, p2 + 123 * 16, &kv),
                    0);
    CU_ASSERT_EQUAL(memcmp(p1, p2, N * 16), 0);

    /* Two sections in one frame equal the two separate requests. */
    uint8_t *pl = malloc(N * 16), *both = malloc(2 * N * 16);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/lanr-stem", lanr, ll, N, pl, &kv), 0);
    vst_pseud_req rq;
    memset(&rq, 0, sizeof rq);
    rq.nsections = 2;
    strcpy(rq.sec[0].domain, "sgb5/insured");
    rq.sec[0].id_len = (uint8_t)il;
    rq.sec[0].count = N;
    rq.sec[0].ids = (const uint8_t *)ids;
    strcpy(rq.sec[1].domain, "sgb5/lanr-stem");
    rq.sec[1].id_len = (uint8_t)ll;
    rq.sec[1].count = N;
    rq.sec[1].ids = (const uint8_t *)lanr;
    CU_ASSERT_EQUAL(vst_keyd_pseudonymize(c, &rq, &kv, both, 2 * N * 16), 0);
    CU_ASSERT_EQUAL(memcmp(both, p1, N * 16), 0);
    CU_ASSERT_EQUAL(memcmp(both + N * 16, pl, N * 16), 0);
    vst_keyd_close(c);
    fx_keyd_stop(&k);

    /* After a restart: the same pseudonyms. */
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    uint8_t *p3 = pseud_fresh(k.data_sock, "sgb5/insured", ids, il, N, &kv, &rc);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(p3 != NULL && memcmp(p1, p3, N * 16) == 0);
    uint8_t *p4 = pseud_fresh(k.data_sock, "sgb5/lanr-stem", lanr, ll, N, &kv, &rc);
    CU_ASSERT(p4 != NULL && memcmp(pl, p4, N * 16) == 0);
    fx_keyd_stop(&k);
    free(ids);
    free(lanr);
    free(p1);
    free(p2);
    free(p3);
    free(p4);
    free(pl);
    free(both);
}

static void test_domains(void)
{
    fx_store s;
    fx_keyd k = {0};
    CU_ASSERT_EQUAL_FATAL(fx_store_dev(&s, NULL), 0);
    fx_keyd_opts o = {.store = &s, .dev = 1};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    enum { N = 200 };
    size_t il;
    char *ids = make_ids(9, VST_ID_LANR, N, &il);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    static const char *const dom[] = {"sgb5/insured", "sgb5/lanr-stem", "sgb5/bsnr", "ph/measles"};
    uint8_t *p[4];
    uint32_t kv;
    int rc;
    for (int d = 0; d < 4; d++) {
        p[d] = pseud_fresh(k.data_sock, dom[d], ids, il, N, &kv, &rc);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
    }
    /* The same identifier in two domains never gives the same pseudonym. */
    for (int a = 0; a < 4; a++)
        for (int b = a + 1; b < 4; b++)
            CU_ASSERT(all_differ(p[a], p[b], N));

    /* A domain not on the allowlist: invalid_argument, connection usable. */
    vst_keyd *c = fx_connect(k.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    uint8_t out[N * 16];
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/unknown", ids, il, 3, out, &kv), VST_KERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/lanr-stem", ids, il, N, out, &kv), 0);
    CU_ASSERT_EQUAL(memcmp(out, p[1], N * 16), 0);
    vst_keyd_close(c);
    fx_keyd_stop(&k);

    /* A narrower allowlist: refused outside it, unchanged inside it (a
     * domain key depends on the root key and the name only). */
    o.domains = "sgb5/bsnr,ph/measles";
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    uint8_t *q = pseud_fresh(k.data_sock, "sgb5/lanr-stem", ids, il, 1, &kv, &rc);
    CU_ASSERT_EQUAL(rc, VST_KERR_INVALID_ARGUMENT);
    free(q);
    q = pseud_fresh(k.data_sock, "ph/measles", ids, il, N, &kv, &rc);
    CU_ASSERT(q != NULL && memcmp(q, p[3], N * 16) == 0);
    free(q);
    fx_keyd_stop(&k);
    for (int d = 0; d < 4; d++)
        free(p[d]);
    free(ids);
}

static void test_rotate(void)
{
    fx_store s;
    fx_keyd k = {0};
    fx_status_t st;
    CU_ASSERT_EQUAL_FATAL(fx_store_dev(&s, NULL), 0);
    fx_keyd_opts o = {.store = &s, .dev = 1};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    enum { N = 300 };
    size_t il;
    char *ids = make_ids(21, VST_ID_KVNR, N, &il);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    uint32_t kv;
    int rc;
    uint8_t *p1 = pseud_fresh(k.data_sock, "sgb5/insured", ids, il, N, &kv, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(kv, 1);

    fx_result r;
    fx_admin(&r, &k, "key", "rotate", NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "key version 2 is current"));
    fx_result_free(&r);
    uint8_t *p2 = pseud_fresh(k.data_sock, "sgb5/insured", ids, il, N, &kv, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(kv, 2);
    CU_ASSERT(all_differ(p1, p2, N));
    status_ok(&k, &st);
    CU_ASSERT_EQUAL(st.s.current_version, 2);
    CU_ASSERT_EQUAL(fx_version_state(&st, 1), VST_KEY_ACTIVE);
    CU_ASSERT_EQUAL(fx_version_state(&st, 2), VST_KEY_CURRENT);

    /* REKEY (admin socket) of the v1 pseudonyms gives exactly the fresh v2
     * ones: P' = AES_v2(AES^-1_v1(P)). */
    vst_keyd *a = fx_connect(k.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    uint8_t *rk = malloc(N * 16);
    memcpy(rk, p1, N * 16);
    CU_ASSERT_EQUAL(vst_keyd_rekey(a, 1, 2, rk, N), 0);
    CU_ASSERT_EQUAL(memcmp(rk, p2, N * 16), 0);
    /* Only forward to the current version. */
    CU_ASSERT_EQUAL(vst_keyd_rekey(a, 2, 2, rk, 1), VST_KERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(vst_keyd_rekey(a, 2, 1, rk, 1), VST_KERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(vst_keyd_rekey(a, 1, 3, rk, 1), VST_KERR_INVALID_ARGUMENT);
    vst_keyd_close(a);
    fx_keyd_stop(&k);

    /* The rotation is persistent. */
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    uint8_t *p3 = pseud_fresh(k.data_sock, "sgb5/insured", ids, il, N, &kv, &rc);
    CU_ASSERT_EQUAL(kv, 2);
    CU_ASSERT(p3 != NULL && memcmp(p2, p3, N * 16) == 0);

    /* Retire: not the current one, not an unknown one, once only; then
     * REKEY from it is refused with retired_version. */
    a = fx_connect(k.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(vst_keyd_retire(a, 2), VST_KERR_NOT_CURRENT);
    CU_ASSERT_EQUAL(vst_keyd_retire(a, 9), VST_KERR_UNKNOWN_VERSION);
    CU_ASSERT_EQUAL(vst_keyd_retire(a, 1), 0);
    CU_ASSERT_EQUAL(vst_keyd_retire(a, 1), VST_KERR_RETIRED_VERSION);
    memcpy(rk, p1, N * 16);
    CU_ASSERT_EQUAL(vst_keyd_rekey(a, 1, 2, rk, N), VST_KERR_RETIRED_VERSION);
    vst_keyd_close(a);
    status_ok(&k, &st);
    CU_ASSERT_EQUAL(fx_version_state(&st, 1), VST_KEY_RETIRED);
    fx_keyd_stop(&k);
    free(ids);
    free(p1);
    free(p2);
    free(p3);
    free(rk);
}

/* ------------------------------------------------------------ budget */

static void test_budget_minute(void)
{
    fx_store s;
    fx_keyd k = {0};
    CU_ASSERT_EQUAL_FATAL(fx_store_dev(&s, NULL), 0);
    fx_keyd_opts o = {.store = &s, .dev = 1, .budget_minute = 1000, .budget_day = 1000000};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    size_t il;
    char *ids = make_ids(5, VST_ID_KVNR, 1001, &il);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    uint8_t *out = malloc(1001 * 16);
    uint32_t kv;
    vst_keyd *c = fx_connect(k.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    vst_status_ok st;
    uint8_t *buf;
    size_t blen;

    /* A batch that alone is over the limit is refused whole. */
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids, il, 1001, out, &kv), VST_KERR_BUDGET_EXCEEDED);
    CU_ASSERT_EQUAL_FATAL(vst_keyd_status(c, &st, &buf, &blen), 0);
    CU_ASSERT_EQUAL(st.minute_used, 0);
    vst_frame_free(buf, blen);
    CU_ASSERT_EQUAL(fx_event_count(&k, "keyd.budget_alarm"), 1);

    /* 1000 in two batches are fine; the next one is not; the connection
     * stays usable and STATUS shows the counters. */
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids, il, 600, out, &kv), 0);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids + 600 * il, il, 400, out, &kv), 0);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids + 1000 * il, il, 1, out, &kv),
                    VST_KERR_BUDGET_EXCEEDED);
    CU_ASSERT_EQUAL_FATAL(vst_keyd_status(c, &st, &buf, &blen), 0);
    CU_ASSERT_EQUAL(st.minute_used, 1000);
    CU_ASSERT_EQUAL(st.minute_limit, 1000);
    CU_ASSERT_EQUAL(st.day_used, 1000);
    vst_frame_free(buf, blen);
    vst_keyd_close(c);
    size_t alarms = fx_event_count(&k, "keyd.budget_alarm");
    CU_ASSERT(alarms >= 1 && alarms <= 2); /* one per window, not per batch */
    json_t *ev = fx_event_last(&k, "keyd.budget_alarm");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "window") ? fx_ev_str(ev, "window") : "", "minute");
    CU_ASSERT_EQUAL(fx_ev_int(ev, "limit"), 1000);
    CU_ASSERT_EQUAL(fx_ev_actor(ev), 0);
    json_decref(ev);

    fx_result r;
    fx_admin(&r, &k, "key", "status", NULL);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "1000 / 1000 this minute"));
    fx_result_free(&r);
    fx_keyd_stop(&k);
    free(ids);
    free(out);
}

static void test_budget_day(void)
{
    fx_store s;
    fx_keyd k = {0};
    CU_ASSERT_EQUAL_FATAL(fx_store_dev(&s, NULL), 0);
    fx_keyd_opts o = {.store = &s, .dev = 1, .budget_minute = 100000, .budget_day = 500};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    size_t il;
    char *ids = make_ids(6, VST_ID_KVNR, 501, &il);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    uint8_t *out = malloc(501 * 16);
    uint32_t kv;
    vst_keyd *c = fx_connect(k.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids, il, 500, out, &kv), 0);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids + 500 * il, il, 1, out, &kv),
                    VST_KERR_BUDGET_EXCEEDED);
    vst_status_ok st;
    uint8_t *buf;
    size_t blen;
    CU_ASSERT_EQUAL_FATAL(vst_keyd_status(c, &st, &buf, &blen), 0);
    CU_ASSERT_EQUAL(st.day_used, 500);
    CU_ASSERT_EQUAL(st.day_limit, 500);
    CU_ASSERT_EQUAL(st.minute_used, 500);
    vst_frame_free(buf, blen);
    vst_keyd_close(c);
    json_t *ev = fx_event_last(&k, "keyd.budget_alarm");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "window") ? fx_ev_str(ev, "window") : "", "day");
    CU_ASSERT_EQUAL(fx_ev_int(ev, "limit"), 500);
    CU_ASSERT_EQUAL(fx_ev_int(ev, "used"), 500);
    json_decref(ev);
    fx_keyd_stop(&k);
    free(ids);
    free(out);
}

/* ------------------------------------------------------------ hostile peers */

/* A keyd for hostile tests and the pseudonyms of three reference
 * identifiers: "a good request" must keep giving exactly these. */
static struct {
    fx_store s;
    fx_keyd k;
    char *ids;
    size_t il;
    uint8_t ref[3 * 16];
    size_t rejected; /* rejections the test caused */
} H;

/* Starts H.k with o (its store and dev are filled in). */
static int hostile_start_with(fx_keyd_opts o)
{
    memset(&H.k, 0, sizeof H.k);
    H.rejected = 0;
    if (fx_store_dev(&H.s, NULL) != 0)
        return -1;
    o.store = &H.s;
    o.dev = 1;
    if (fx_keyd_start(&H.k, &o) != 0)
        return -1;
    free(H.ids);
    H.ids = make_ids(99, VST_ID_KVNR, 3, &H.il);
    uint32_t kv;
    int rc;
    uint8_t *p = pseud_fresh(H.k.data_sock, "sgb5/insured", H.ids, H.il, 3, &kv, &rc);
    if (p == NULL)
        return -1;
    memcpy(H.ref, p, sizeof H.ref);
    free(p);
    return 0;
}

static int hostile_start(unsigned frame_timeout, unsigned max_conn)
{
    fx_keyd_opts o = {.frame_timeout = frame_timeout, .max_connections = max_conn};
    return hostile_start_with(o);
}

/* A good request on a fresh connection: STATUS and the reference
 * pseudonyms. */
static int good_request(void)
{
    fx_status_t st;
    if (fx_status(H.k.data_sock, &st) != 0 || st.s.sealed != 0)
        return 0;
    uint32_t kv;
    int rc;
    uint8_t *p = pseud_fresh(H.k.data_sock, "sgb5/insured", H.ids, H.il, 3, &kv, &rc);
    int ok = p != NULL && memcmp(p, H.ref, sizeof H.ref) == 0;
    free(p);
    return ok;
}

/* The last frame_rejected event carries this reason and code, from the
 * data socket, for root; and there are exactly `count` of them. */
static void check_reject_event(const char *reason, const char *code)
{
    json_t *ev = fx_event_last(&H.k, "keyd.frame_rejected");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    const char *r = fx_ev_str(ev, "reason"), *c = fx_ev_str(ev, "code"),
               *s = fx_ev_str(ev, "socket");
    if (r == NULL || strcmp(r, reason) != 0)
        fprintf(stderr, "expected reason \"%s\", got \"%s\"\n", reason, r ? r : "(none)");
    CU_ASSERT(r != NULL && strcmp(r, reason) == 0);
    CU_ASSERT(c != NULL && strcmp(c, code) == 0);
    CU_ASSERT(s != NULL && strcmp(s, "data") == 0);
    CU_ASSERT_EQUAL(fx_ev_actor(ev), 0);
    json_decref(ev);
    CU_ASSERT_EQUAL(fx_event_count(&H.k, "keyd.frame_rejected"), H.rejected);
}

/* Sends bytes on a new data connection and expects an error frame with
 * want_code, then the close; afterwards keyd answers a good request and
 * has counted it. */
static void expect_rejected(const uint8_t *bytes, size_t n, unsigned want_code, const char *reason)
{
    int fd = fx_raw_connect(H.k.data_sock);
    CU_ASSERT_FATAL(fd >= 0);
    fx_raw_send(fd, bytes, n); /* may fail once keyd has closed */
    int code = fx_raw_rejected(fd, 10);
    close(fd);
    if (code != (int)want_code)
        fprintf(stderr, "case \"%s\": answer %d, expected %u\n", reason, code, want_code);
    CU_ASSERT_EQUAL(code, (int)want_code);
    H.rejected++;
    CU_ASSERT(good_request());
    check_reject_event(reason, vst_keyd_err_name(want_code));
}

/* Sends a frame's beginning and closes: a truncated frame. */
static void expect_truncated(const uint8_t *bytes, size_t n)
{
    int fd = fx_raw_connect(H.k.data_sock);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(fx_raw_send(fd, bytes, n), 0);
    usleep(50000); /* let keyd read the bytes before the close */
    close(fd);
    H.rejected++;
    CU_ASSERT(good_request());
    check_reject_event("truncated_frame", "bad_frame");
}

static void hostile_stop(void)
{
    fx_keyd_stop(&H.k);
    json_t *ev = fx_event_last(&H.k, "keyd.stop");
    CU_ASSERT_PTR_NOT_NULL(ev);
    CU_ASSERT_EQUAL(fx_ev_int(ev, "rejected_frames"), (long long)H.rejected);
    json_decref(ev);
    free(H.ids);
    H.ids = NULL;
}

static void test_hostile_headers(void)
{
    CU_ASSERT_EQUAL_FATAL(hostile_start(0, 0), 0);
    uint8_t f[64];
    const char *len_err = vst_proto_strerror(VST_PROTO_E_LENGTH);

    /* Truncated header, truncated payload, then close. */
    fx_frame(f, 1, VST_MSG_STATUS, 0, 0, NULL, 0);
    expect_truncated(f, 5);
    fx_frame(f, 1, VST_MSG_PSEUDONYMIZE, 0, 100, "\0\1\14sgb5/insured", 15);
    expect_truncated(f, 8 + 15);

    /* A length over the maximum, for the type and for any frame. */
    fx_frame(f, 1, VST_MSG_PSEUDONYMIZE, 0, 0xffffffffu, NULL, 0);
    expect_rejected(f, 8, VST_KERR_BAD_FRAME, len_err);
    fx_frame(f, 1, VST_MSG_EVENTS, 0, VST_FRAME_MAX + 1, NULL, 0);
    expect_rejected(f, 8, VST_KERR_BAD_FRAME, len_err);
    /* Unknown type, wrong version, nonzero reserved. */
    fx_frame(f, 1, 0x55, 0, 0, NULL, 0);
    expect_rejected(f, 8, VST_KERR_BAD_FRAME, vst_proto_strerror(VST_PROTO_E_TYPE));
    fx_frame(f, 2, VST_MSG_STATUS, 0, 0, NULL, 0);
    expect_rejected(f, 8, VST_KERR_BAD_FRAME, vst_proto_strerror(VST_PROTO_E_VERSION));
    fx_frame(f, 1, VST_MSG_STATUS, 0x0100, 0, NULL, 0);
    expect_rejected(f, 8, VST_KERR_BAD_FRAME, vst_proto_strerror(VST_PROTO_E_RESERVED));
    /* Wrong sizes for the type: STATUS with 1 byte, UNSEAL with 48. */
    fx_frame(f, 1, VST_MSG_STATUS, 0, 1, "x", 1);
    expect_rejected(f, 9, VST_KERR_BAD_FRAME, len_err);
    uint8_t u[8 + 48] = {0};
    fx_frame(u, 1, VST_MSG_UNSEAL, 0, 48, u + 8, 48);
    expect_rejected(u, sizeof u, VST_KERR_BAD_FRAME, len_err);
    /* A response type sent as a request. */
    uint8_t resp[8 + 74] = {0};
    fx_frame(resp, 1, VST_MSG_RESP(VST_MSG_STATUS), 0, 74, resp + 8, 74);
    expect_rejected(resp, sizeof resp, VST_KERR_BAD_FRAME, "not_a_request");
    hostile_stop();
}

/* A PSEUDONYMIZE payload with a given count field and nids identifiers. */
static size_t pseud_payload(uint8_t *p, const char *domain, uint8_t id_len, uint32_t count,
                            const char *ids, size_t nids)
{
    size_t n = 0, dl = strlen(domain);
    p[n++] = 0;
    p[n++] = 1;
    p[n++] = (uint8_t)dl;
    memcpy(p + n, domain, dl);
    n += dl;
    p[n++] = id_len;
    p[n++] = (uint8_t)(count >> 24);
    p[n++] = (uint8_t)(count >> 16);
    p[n++] = (uint8_t)(count >> 8);
    p[n++] = (uint8_t)count;
    memcpy(p + n, ids, nids * id_len);
    return n + nids * id_len;
}

/* A receipt keyd signs, "D1.old", and its encoding in enc. */
static size_t plain_receipt(vst_receipt_fields *rf, uint8_t enc[VST_RECEIPT_ENC_MAX])
{
    *rf = (vst_receipt_fields){.record_count = 1, .key_version = 1, .version = VST_RECEIPT_V2};
    strcpy(rf->delivery_id, "D1.old");
    strcpy(rf->client, "AOK");
    strcpy(rf->profile, "sgb5");
    size_t el = vst_receipt_encode(rf, enc);
    CU_ASSERT_FATAL(el > 0);
    return el;
}

/* A SIGN_RECEIPTS payload of count receipts: rf, the bytes mid[0..ml) as
 * the second, rf again. */
static size_t receipts_payload(uint8_t *p, uint16_t count, const vst_receipt_fields *rf,
                               const uint8_t *mid, size_t ml)
{
    uint8_t enc[VST_RECEIPT_ENC_MAX];
    size_t el = vst_receipt_encode(rf, enc), n = 0;
    CU_ASSERT_FATAL(el > 0);
    vst_be_put(p, count, 2);
    n += 2;
    for (int i = 0; i < 3; i++) {
        const uint8_t *r = i == 1 ? mid : enc;
        size_t rl = i == 1 ? ml : el;
        vst_be_put(p + n, rl, 2);
        memcpy(p + n + 2, r, rl);
        n += 2 + rl;
    }
    return n;
}

static void expect_payload_rejected(uint8_t type, const uint8_t *payload, size_t plen)
{
    static uint8_t f[8 + 4096];
    vst_msg m;
    int drc = vst_msg_decode(type, payload, plen, &m);
    CU_ASSERT_FATAL(drc < 0); /* the case really is malformed */
    size_t n = fx_frame(f, 1, type, 0, (uint32_t)plen, payload, plen);
    expect_rejected(f, n, VST_KERR_BAD_FRAME, vst_proto_strerror(drc));
}

static void test_hostile_payloads(void)
{
    CU_ASSERT_EQUAL_FATAL(hostile_start(0, 0), 0);
    uint8_t p[512];
    const char *ids = H.ids;
    /* Counts that do not match the length: more claimed, fewer claimed,
     * and a count that would wrap count * id_len in 32 bits. */
    size_t n = pseud_payload(p, "sgb5/insured", 10, 4, ids, 3);
    expect_payload_rejected(VST_MSG_PSEUDONYMIZE, p, n);
    n = pseud_payload(p, "sgb5/insured", 10, 2, ids, 3);
    expect_payload_rejected(VST_MSG_PSEUDONYMIZE, p, n);
    n = pseud_payload(p, "sgb5/insured", 16, 0x10000001u, ids, 1);
    expect_payload_rejected(VST_MSG_PSEUDONYMIZE, p, n);
    /* id_len 0, a domain outside its grammar, no sections. */
    n = pseud_payload(p, "sgb5/insured", 0, 1, ids, 0);
    expect_payload_rejected(VST_MSG_PSEUDONYMIZE, p, n);
    n = pseud_payload(p, "SGB5/Insured", 10, 1, ids, 1);
    expect_payload_rejected(VST_MSG_PSEUDONYMIZE, p, n);
    n = pseud_payload(p, "sgb5/insured", 10, 1, ids, 1);
    p[1] = 0; /* nsections 0 */
    expect_payload_rejected(VST_MSG_PSEUDONYMIZE, p, n);
    /* EVENTS asking for 0 events; a receipt with a bad delivery id. */
    uint8_t e[10] = {0};
    expect_payload_rejected(VST_MSG_EVENTS, e, sizeof e);
    vst_receipt_fields rf;
    uint8_t enc[VST_RECEIPT_ENC_MAX];
    size_t el = plain_receipt(&rf, enc);
    /* The v1 encoding (no withheld count; long enough to pass the header's
     * bound): keyd signs v2 receipts only. */
    CU_ASSERT_FATAL(el - 8 >= VST_RECEIPT_ENC_MIN);
    expect_payload_rejected(VST_MSG_SIGN_RECEIPT, enc, el - 8);
    enc[2] = '/'; /* "D/.old" */
    expect_payload_rejected(VST_MSG_SIGN_RECEIPT, enc, el);
    /* Nothing of this changed the keys: the reference still holds. */
    CU_ASSERT(good_request());
    hostile_stop();
}

/* SIGN_RECEIPTS whose receipts SIGN_RECEIPT would refuse: the one with
 * a bad delivery id between two good ones, a count of 0, more receipts
 * than the count. Each closes the connection as bad_frame (a test of its
 * own: keyd reports at most 10 rejected frames a minute). */
static void test_hostile_receipts(void)
{
    CU_ASSERT_EQUAL_FATAL(hostile_start(0, 0), 0);
    vst_receipt_fields rf;
    uint8_t enc[VST_RECEIPT_ENC_MAX];
    size_t el = plain_receipt(&rf, enc);
    uint8_t batch[2 + 3 * (2 + VST_RECEIPT_ENC_MAX)];
    size_t bl = receipts_payload(batch, 3, &rf, enc, el);
    vst_msg m;
    CU_ASSERT_FATAL(vst_msg_decode(VST_MSG_SIGN_RECEIPTS, batch, bl, &m) == 0);
    enc[2] = '/'; /* "D/.old" */
    expect_payload_rejected(VST_MSG_SIGN_RECEIPT, enc, el);
    bl = receipts_payload(batch, 3, &rf, enc, el);
    expect_payload_rejected(VST_MSG_SIGN_RECEIPTS, batch, bl);
    enc[2] = '1';
    bl = receipts_payload(batch, 3, &rf, enc, el);
    batch[1] = 0;
    expect_payload_rejected(VST_MSG_SIGN_RECEIPTS, batch, bl);
    batch[1] = 2;
    expect_payload_rejected(VST_MSG_SIGN_RECEIPTS, batch, bl);
    CU_ASSERT(good_request());
    hostile_stop();
}

/* Admin messages on the data socket are refused with `forbidden` from the
 * header alone (no payload is sent, none is waited for) and change
 * nothing. */
static void test_hostile_admin_on_data(void)
{
    CU_ASSERT_EQUAL_FATAL(hostile_start(0, 0), 0);
    uint8_t f[8];
    static const struct {
        uint8_t type;
        uint32_t len;
    } adm[] = {{VST_MSG_ROTATE, 0}, {VST_MSG_RETIRE, 4}, {VST_MSG_REKEY, 28}, {VST_MSG_UNSEAL, 49}};
    for (size_t i = 0; i < 4; i++) {
        fx_frame(f, 1, adm[i].type, 0, adm[i].len, NULL, 0);
        expect_rejected(f, 8, VST_KERR_FORBIDDEN, "forbidden");
    }
    /* A complete REKEY frame as well. */
    uint8_t rk[8 + 28] = {0};
    rk[8 + 3] = 1;  /* from 1 */
    rk[8 + 7] = 2;  /* to 2 */
    rk[8 + 11] = 1; /* count 1 */
    fx_frame(rk, 1, VST_MSG_REKEY, 0, 28, rk + 8, 28);
    expect_rejected(rk, sizeof rk, VST_KERR_FORBIDDEN, "forbidden");
    fx_status_t st;
    CU_ASSERT_EQUAL(status_ok(&H.k, &st), 0);
    CU_ASSERT_EQUAL(st.s.current_version, 1);
    CU_ASSERT_EQUAL(st.nv, 1);
    CU_ASSERT_EQUAL(fx_event_count(&H.k, "keyd.rotate"), 0);
    CU_ASSERT_EQUAL(fx_event_count(&H.k, "keyd.retire"), 0);
    CU_ASSERT_EQUAL(fx_event_count(&H.k, "keyd.rekey"), 0);
    hostile_stop();
}

/* A half frame, then silence: closed after --frame-timeout (1 s), while
 * other peers are served meanwhile. */
static void test_hostile_timeout(void)
{
    CU_ASSERT_EQUAL_FATAL(hostile_start(1, 0), 0);
    uint8_t f[64];
    for (int c = 0; c < 2; c++) {
        size_t n = c == 0 ? 5 : 8 + 10;
        fx_frame(f, 1, VST_MSG_PSEUDONYMIZE, 0, 40, "\0\1\14sgb5/ins", 10);
        int fd = fx_raw_connect(H.k.data_sock);
        CU_ASSERT_FATAL(fd >= 0);
        double t0 = fx_now();
        CU_ASSERT_EQUAL(fx_raw_send(fd, f, n), 0);
        usleep(200000);
        CU_ASSERT(good_request()); /* the stalled peer holds up nobody */
        int code = fx_raw_rejected(fd, 10);
        double dt = fx_now() - t0;
        close(fd);
        CU_ASSERT_EQUAL(code, VST_KERR_BAD_FRAME);
        CU_ASSERT(dt >= 0.9 && dt < 5.0);
        H.rejected++;
        CU_ASSERT(good_request());
        check_reject_event("frame_timeout", "bad_frame");
    }
    hostile_stop();
}

static uint64_t rng_state;
static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* Seeded random frames: pure noise, valid headers with random payloads,
 * and mutated good frames. keyd must answer or close every one, keep
 * serving, stay within its event rate limit and count what it refused. */
static void test_hostile_random(void)
{
    CU_ASSERT_EQUAL_FATAL(hostile_start(0, 0), 0);
    static const uint8_t types[] = {
        VST_MSG_STATUS,          VST_MSG_UNSEAL, VST_MSG_PUBKEY,       VST_MSG_PSEUDONYMIZE,
        VST_MSG_REKEY,           VST_MSG_ROTATE, VST_MSG_RETIRE,       VST_MSG_SIGN_RECEIPT,
        VST_MSG_SIGN_CHECKPOINT, VST_MSG_EVENTS, VST_MSG_SIGN_RECEIPTS};
    uint8_t good[256], f[8 + 1024], buf[4096];
    size_t gl = pseud_payload(good, "sgb5/insured", 10, 3, H.ids, 3);
    rng_state = 0x5eed5eed12345ULL;
    size_t sure = 0, answered = 0;
    enum { ITER = 1000 };
    double t0 = fx_now();
    for (int it = 0; it < ITER; it++) {
        size_t n;
        int mode = (int)(rnd() % 3);
        if (mode == 0) { /* noise: never a valid version byte */
            n = 1 + rnd() % 64;
            for (size_t i = 0; i < n; i++)
                f[i] = (uint8_t)rnd();
            if (f[0] == 1)
                f[0] = 0;
            sure++;
        } else if (mode == 1) { /* a plausible header, random payload */
            const vst_msg_info *mi = vst_msg_lookup(types[rnd() % sizeof types]);
            uint32_t span = (mi->max_len < 1000 ? mi->max_len : 1000) - mi->min_len;
            uint32_t pl = mi->min_len + (span ? (uint32_t)(rnd() % (span + 1)) : 0);
            if (pl > 1000)
                pl = 1000;
            uint8_t pay[1000];
            for (size_t i = 0; i < pl; i++)
                pay[i] = (uint8_t)rnd();
            n = fx_frame(f, 1, mi->type, 0, pl, pay, pl);
        } else { /* a good PSEUDONYMIZE with a few bytes changed */
            uint8_t m[256];
            memcpy(m, good, gl);
            size_t ml = gl;
            int edits = 1 + (int)(rnd() % 3);
            for (int e = 0; e < edits; e++)
                m[rnd() % ml] = (uint8_t)rnd();
            if (rnd() % 4 == 0)
                ml -= 1 + rnd() % 8; /* and maybe shortened */
            n = fx_frame(f, 1, VST_MSG_PSEUDONYMIZE, 0, (uint32_t)ml, m, ml);
        }
        int fd = fx_raw_connect(H.k.data_sock);
        CU_ASSERT_FATAL(fd >= 0);
        fx_raw_send(fd, f, n);
        shutdown(fd, SHUT_WR);
        size_t got;
        int rc = fx_raw_drain(fd, 10, buf, sizeof buf, &got);
        close(fd);
        CU_ASSERT_EQUAL_FATAL(rc, 0); /* answered or closed, never hung */
        if (got > 0)
            answered++;
        if (it % 50 == 49)
            CU_ASSERT_FATAL(good_request());
    }
    CU_ASSERT(good_request());
    double minutes = (fx_now() - t0) / 60.0;
    size_t events = fx_event_count(&H.k, "keyd.frame_rejected");
    fx_keyd_stop(&H.k);
    json_t *ev = fx_event_last(&H.k, "keyd.stop");
    long long rej = fx_ev_int(ev, "rejected_frames");
    json_decref(ev);
    fprintf(stderr, "random frames: %d sent, %zu answered, %lld rejected, %zu events\n", ITER,
            answered, rej, events);
    CU_ASSERT(rej >= (long long)sure && rej <= ITER);
    /* Rejections are counted always, their events rate-limited (10 a
     * minute): a peer cannot flood the audit log. */
    CU_ASSERT(events >= 1 && events <= 10 * (size_t)(minutes + 2));
    free(H.ids);
    H.ids = NULL;
}

/* Many connections at once: all served; beyond --max-connections the
 * extra ones are closed and keyd carries on. */
static void test_many_connections(void)
{
    CU_ASSERT_EQUAL_FATAL(hostile_start(0, 50), 0);
    enum { MANY = 40, FLOOD = 80 };
    int fds[FLOOD];
    uint8_t f[8 + 64];
    uint8_t p[64];
    size_t pl = pseud_payload(p, "sgb5/insured", 10, 3, H.ids, 3);
    size_t n = fx_frame(f, 1, VST_MSG_PSEUDONYMIZE, 0, (uint32_t)pl, p, pl);
    for (int i = 0; i < MANY; i++) {
        fds[i] = fx_raw_connect(H.k.data_sock);
        CU_ASSERT_FATAL(fds[i] >= 0);
    }
    for (int i = 0; i < MANY; i++)
        CU_ASSERT_EQUAL(fx_raw_send(fds[i], f, n), 0);
    int same = 0;
    for (int i = 0; i < MANY; i++) {
        vst_frame_hdr h;
        uint8_t *buf = NULL;
        if (vst_frame_recv(fds[i], VST_FRAME_MAX, &h, &buf) == 0 &&
            h.type == VST_MSG_RESP(VST_MSG_PSEUDONYMIZE) && h.len == 6 + 4 + 48 + 4 &&
            memcmp(buf + 10, H.ref, 48) == 0)
            same++;
        vst_frame_free(buf, buf ? h.len : 0);
        close(fds[i]);
    }
    CU_ASSERT_EQUAL(same, MANY);
    fx_keyd_stop(&H.k);

    /* A flood past the limit, all holding their connections open. */
    fx_keyd_opts o = {.store = &H.s, .dev = 1, .max_connections = 50};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&H.k, &o), 0);
    for (int i = 0; i < FLOOD; i++) {
        fds[i] = fx_raw_connect(H.k.data_sock);
        CU_ASSERT_FATAL(fds[i] >= 0);
    }
    uint8_t st[8];
    fx_frame(st, 1, VST_MSG_STATUS, 0, 0, NULL, 0);
    int served = 0, closed = 0;
    for (int i = 0; i < FLOOD; i++) {
        fx_raw_send(fds[i], st, 8);
        vst_frame_hdr h;
        uint8_t *buf = NULL;
        int rc = vst_frame_recv(fds[i], VST_FRAME_MAX, &h, &buf);
        if (rc == 0 && h.type == VST_MSG_RESP(VST_MSG_STATUS))
            served++;
        else if (rc == VST_PROTO_E_EOF || rc == VST_PROTO_E_IO)
            closed++;
        vst_frame_free(buf, buf ? h.len : 0);
    }
    CU_ASSERT_EQUAL(served, 50);
    CU_ASSERT_EQUAL(closed, FLOOD - 50);
    for (int i = 0; i < FLOOD; i++)
        close(fds[i]);
    usleep(100000);
    CU_ASSERT(good_request());
    hostile_stop();
}

static int child_status_ok(void *arg)
{
    const char *sock = arg;
    char err[256];
    vst_keyd *c = vst_keyd_connect(sock, err, sizeof err);
    if (c == NULL)
        return 2;
    vst_status_ok st;
    uint8_t *buf;
    size_t len;
    int rc = vst_keyd_status(c, &st, &buf, &len);
    if (rc == 0)
        vst_frame_free(buf, len);
    vst_keyd_close(c);
    return rc == 0 ? 0 : 1; /* 0: served, 1: refused */
}

/* Peers of a uid not on a socket's allowlist are closed at once and named
 * in a keyd.peer_refused event; allowed peers are served. */
static void test_peer_uids(void)
{
    if (!fx_is_root()) {
        fprintf(stderr, "test_peer_uids: needs root, skipped\n");
        return;
    }
    fx_store s;
    fx_keyd k = {0};
    CU_ASSERT_EQUAL_FATAL(fx_store_dev(&s, NULL), 0);
    fx_keyd_opts o = {.store = &s,
                      .dev = 1,
                      .data_uids = "0,65534",
                      .admin_uids = "0",
                      .socket_mode = "0666",
                      .traversable = 1};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    gid_t kg;
    uid_t ku = fx_user_uid("vst-key", &kg);
    if (ku == (uid_t)-1)
        ku = 12345, kg = 12345; /* any uid that is not on the lists */

    /* nobody: allowed on data, refused on admin. */
    CU_ASSERT_EQUAL(fx_as_uid(NOBODY, NOBODY, child_status_ok, k.data_sock), 0);
    CU_ASSERT_EQUAL(fx_as_uid(NOBODY, NOBODY, child_status_ok, k.admin_sock), 1);
    json_t *ev = fx_event_last(&k, "keyd.peer_refused");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    CU_ASSERT_EQUAL(fx_ev_int(ev, "uid"), NOBODY);
    CU_ASSERT_EQUAL(fx_ev_actor(ev), NOBODY);
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "socket") ? fx_ev_str(ev, "socket") : "", "admin");
    json_decref(ev);
    /* Another uid: refused on data. */
    CU_ASSERT_EQUAL(fx_as_uid(ku, kg, child_status_ok, k.data_sock), 1);
    ev = fx_event_last(&k, "keyd.peer_refused");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    CU_ASSERT_EQUAL(fx_ev_int(ev, "uid"), (long long)ku);
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "socket") ? fx_ev_str(ev, "socket") : "", "data");
    json_decref(ev);
    CU_ASSERT_EQUAL(fx_event_count(&k, "keyd.peer_refused"), 2);
    /* Root (allowed on both) is still served. */
    CU_ASSERT_EQUAL(child_status_ok(k.data_sock), 0);
    CU_ASSERT_EQUAL(child_status_ok(k.admin_sock), 0);
    fx_keyd_stop(&k);
    ev = fx_event_last(&k, "keyd.stop");
    CU_ASSERT_EQUAL(fx_ev_int(ev, "rejected_frames"), 2);
    json_decref(ev);
}

/* ------------------------------------------------------------ signing */

/* SIGN_RECEIPTS on connection c (data socket, key version 1 only): n
 * receipts like f, each different. */
static void batch_of(const vst_receipt_fields *f, vst_receipt_fields *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        b[i] = *f;
        snprintf(b[i].delivery_id, sizeof b[i].delivery_id, "2024Q1-AOK-b%zu", i);
        b[i].record_count = f->record_count + i;
        b[i].audit_seq = f->audit_seq + 1 + i;
        b[i].withheld_count = i % 3;
    }
}

/* A batch's signatures are SIGN_RECEIPT's for the same fields, byte for
 * byte (Ed25519 is deterministic), in order, and verify; one receipt keyd
 * refuses refuses the batch with SIGN_RECEIPT's answer and signs nothing. */
static void check_sign_receipts(vst_keyd *c, const uint8_t pub[32], const vst_receipt_fields *f)
{
    enum { N = VST_SIGN_RECEIPTS_MAX };
    vst_receipt_fields *b = calloc(N + 1, sizeof *b);
    uint8_t(*sigs)[64] = calloc(N + 1, 64);
    uint8_t one[64];
    CU_ASSERT_FATAL(b != NULL && sigs != NULL);
    batch_of(f, b, N + 1);
    CU_ASSERT_EQUAL_FATAL(vst_keyd_sign_receipts(c, b, 5, sigs), 0);
    for (size_t i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(vst_keyd_sign_receipt(c, &b[i], one), 0);
        CU_ASSERT_EQUAL(memcmp(one, sigs[i], 64), 0);
        CU_ASSERT_EQUAL(vst_receipt_verify(pub, &b[i], sigs[i]), 1);
        CU_ASSERT_EQUAL(vst_receipt_verify(pub, &b[(i + 1) % 5], sigs[i]), 0);
    }
    /* One receipt alone; then the largest batch. */
    CU_ASSERT_EQUAL(vst_keyd_sign_receipts(c, &b[3], 1, sigs + 3), 0);
    CU_ASSERT_EQUAL(vst_receipt_verify(pub, &b[3], sigs[3]), 1);
    memset(sigs, 0, (size_t)(N + 1) * 64);
    CU_ASSERT_EQUAL_FATAL(vst_keyd_sign_receipts(c, b, N, sigs), 0);
    size_t bad = 0;
    for (size_t i = 0; i < N; i++)
        bad += vst_receipt_verify(pub, &b[i], sigs[i]) != 1;
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(vst_keyd_sign_receipt(c, &b[N - 1], one), 0);
    CU_ASSERT_EQUAL(memcmp(one, sigs[N - 1], 64), 0);
    /* n = 0 and n over the maximum: refused before anything is sent. */
    CU_ASSERT_EQUAL(vst_keyd_sign_receipts(c, b, 0, sigs), VST_PROTO_E_RANGE);
    CU_ASSERT_EQUAL(vst_keyd_sign_receipts(c, b, N + 1, sigs), VST_PROTO_E_RANGE);
    /* A key version keyd does not have, in the middle: unknown_version for
     * the batch as for the receipt alone, no signature, connection usable. */
    memset(sigs, 0, 3 * 64);
    b[1].key_version = 2;
    CU_ASSERT_EQUAL(vst_keyd_sign_receipt(c, &b[1], one), VST_KERR_UNKNOWN_VERSION);
    CU_ASSERT_EQUAL(vst_keyd_sign_receipts(c, b, 3, sigs), VST_KERR_UNKNOWN_VERSION);
    uint8_t zero[3 * 64] = {0};
    CU_ASSERT_EQUAL(memcmp(sigs, zero, sizeof zero), 0);
    /* v1 fields: refused by the encoder, as vst_keyd_sign_receipt does. */
    b[1] = b[0];
    b[1].version = VST_RECEIPT_V1;
    b[1].withheld_count = 0;
    CU_ASSERT_EQUAL(vst_keyd_sign_receipt(c, &b[1], one), VST_PROTO_E_RANGE);
    CU_ASSERT_EQUAL(vst_keyd_sign_receipts(c, b, 3, sigs), VST_PROTO_E_RANGE);
    CU_ASSERT_EQUAL(vst_keyd_sign_receipts(c, b + 2, 1, sigs), 0);
    free(sigs);
    free(b);
}

static void test_signing(void)
{
    fx_store s;
    fx_keyd k = {0};
    fx_status_t st;
    CU_ASSERT_EQUAL_FATAL(fx_store_dev(&s, NULL), 0);
    fx_keyd_opts o = {.store = &s, .dev = 1};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    CU_ASSERT_EQUAL_FATAL(status_ok(&k, &st), 0);
    uint8_t pub[32];
    vst_keyd *c = fx_connect(k.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(vst_keyd_pubkey(c, pub), 0);
    CU_ASSERT_EQUAL(memcmp(pub, st.s.signing_pubkey, 32), 0);
    char hex[65];
    vst_hex(pub, 32, hex);
    CU_ASSERT_STRING_EQUAL(hex, s.pubkey_hex);

    vst_receipt_fields f = {.record_count = 12345,
                            .key_version = 1,
                            .received_at_us = 1700000000000000LL,
                            .stored_at_us = 1700000000500000LL,
                            .audit_seq = 42,
                            .withheld_count = 3,
                            .version = VST_RECEIPT_V2};
    strcpy(f.delivery_id, "2024Q1-AOK-0001");
    strcpy(f.client, "AOK Testkasse");
    strcpy(f.profile, "sgb5");
    for (int i = 0; i < 32; i++)
        f.body_sha256[i] = (uint8_t)(i * 7);
    uint8_t sig[64], sig2[64];
    CU_ASSERT_EQUAL_FATAL(vst_keyd_sign_receipt(c, &f, sig), 0);
    CU_ASSERT_EQUAL(vst_receipt_verify(pub, &f, sig), 1);
    vst_receipt_fields g = f;
    g.record_count++;
    CU_ASSERT_EQUAL(vst_receipt_verify(pub, &g, sig), 0);
    g = f;
    g.withheld_count--; /* the withheld count is signed (v2, issue 12) */
    CU_ASSERT_EQUAL(vst_receipt_verify(pub, &g, sig), 0);
    g = f;
    g.version = VST_RECEIPT_V1; /* keyd makes no v1 receipt any more */
    g.withheld_count = 0;
    CU_ASSERT_EQUAL(vst_keyd_sign_receipt(c, &g, sig2), VST_PROTO_E_RANGE);
    g = f;
    g.key_version = 2;
    /* A key version keyd does not have: unknown_version; connection usable. */
    CU_ASSERT_EQUAL(vst_keyd_sign_receipt(c, &g, sig2), VST_KERR_UNKNOWN_VERSION);
    CU_ASSERT_EQUAL(vst_keyd_sign_receipt(c, &f, sig2), 0);
    CU_ASSERT_EQUAL(memcmp(sig, sig2, 64), 0); /* Ed25519 is deterministic */
    check_sign_receipts(c, pub, &f);

    uint8_t head[32];
    for (int i = 0; i < 32; i++)
        head[i] = (uint8_t)(255 - i);
    CU_ASSERT_EQUAL_FATAL(vst_keyd_sign_checkpoint(c, 77, head, 1700000001000000LL, sig), 0);
    CU_ASSERT_EQUAL(vst_checkpoint_verify(pub, 77, head, 1700000001000000LL, sig), 1);
    CU_ASSERT_EQUAL(vst_checkpoint_verify(pub, 78, head, 1700000001000000LL, sig), 0);
    CU_ASSERT_EQUAL(vst_receipt_verify(pub, &f, sig), 0);
    vst_keyd_close(c);

    /* After a rotation, receipts under v2 are signed, with the same key. */
    fx_result r;
    fx_admin(&r, &k, "key", "rotate", NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    fx_result_free(&r);
    c = fx_connect(k.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(vst_keyd_sign_receipt(c, &g, sig2), 0);
    CU_ASSERT_EQUAL(vst_receipt_verify(pub, &g, sig2), 1);
    /* SIGN_RECEIPTS on the admin socket too, under either version. */
    vst_receipt_fields two[2] = {f, g};
    uint8_t sigs2[2][64];
    CU_ASSERT_EQUAL(vst_keyd_sign_receipts(c, two, 2, sigs2), 0);
    CU_ASSERT_EQUAL(memcmp(sigs2[1], sig2, 64), 0);
    CU_ASSERT_EQUAL(vst_receipt_verify(pub, &two[0], sigs2[0]), 1);
    g.key_version = 3;
    CU_ASSERT_EQUAL(vst_keyd_sign_receipt(c, &g, sig2), VST_KERR_UNKNOWN_VERSION);
    two[1] = g;
    CU_ASSERT_EQUAL(vst_keyd_sign_receipts(c, two, 2, sigs2), VST_KERR_UNKNOWN_VERSION);
    vst_keyd_close(c);
    fx_keyd_stop(&k);
}

/* ------------------------------------------------------------ events */

static int child_rotate(void *arg)
{
    const char *sock = arg;
    char err[256];
    vst_keyd *c = vst_keyd_connect(sock, err, sizeof err);
    if (c == NULL)
        return 2;
    uint32_t v = 0;
    int rc = vst_keyd_rotate(c, &v);
    vst_keyd_close(c);
    return rc == 0 ? 0 : 1;
}

static void check_event(const fx_keyd *k, const char *action, long long actor, const char *key,
                        long long value)
{
    json_t *ev = fx_event_last(k, action);
    if (ev == NULL)
        fprintf(stderr, "no %s event\n", action);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    CU_ASSERT_EQUAL(fx_ev_actor(ev), actor);
    if (key != NULL)
        CU_ASSERT_EQUAL(fx_ev_int(ev, key), value);
    json_decref(ev);
}

static void test_events(void)
{
    if (!fx_is_root()) {
        fprintf(stderr, "test_events: needs root, skipped\n");
        return;
    }
    fx_store s;
    fx_keyd k = {0};
    CU_ASSERT_EQUAL_FATAL(fx_store_shamir(&s, 3, 2, NULL), 0);
    fx_keyd_opts o = {
        .store = &s, .admin_uids = "0,65534", .socket_mode = "0666", .traversable = 1};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    check_event(&k, "keyd.start", 0, NULL, 0);
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[2], NULL, NULL), 0);
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[0], NULL, NULL), 0);
    CU_ASSERT_EQUAL(fx_event_count(&k, "keyd.unseal_share"), 2);
    check_event(&k, "keyd.unseal_share", 0, "have", 2);
    check_event(&k, "keyd.unseal", 0, "current_version", 1);

    enum { N = 64 };
    size_t il;
    char *ids = make_ids(77, VST_ID_KVNR, N, &il);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    uint32_t kv;
    int rc;
    uint8_t *p1 = pseud_fresh(k.data_sock, "sgb5/insured", ids, il, N, &kv, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);

    /* Rotations by root (vst-admin) and by nobody: each names its actor. */
    fx_result r;
    fx_admin(&r, &k, "key", "rotate", NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    fx_result_free(&r);
    check_event(&k, "keyd.rotate", 0, "new_version", 2);
    CU_ASSERT_EQUAL(fx_as_uid(NOBODY, NOBODY, child_rotate, k.admin_sock), 0);
    check_event(&k, "keyd.rotate", NOBODY, "new_version", 3);
    check_event(&k, "keyd.rotate", NOBODY, "previous_version", 2);

    /* A re-key connection: one keyd.rekey event with its total at close. */
    vst_keyd *a = fx_connect(k.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    uint8_t *rk = malloc(N * 16);
    memcpy(rk, p1, N * 16);
    CU_ASSERT_EQUAL(vst_keyd_rekey(a, 1, 3, rk, N / 2), 0);
    CU_ASSERT_EQUAL(vst_keyd_rekey(a, 1, 3, rk + N / 2 * 16, N / 2), 0);
    CU_ASSERT_EQUAL(fx_event_count(&k, "keyd.rekey"), 0);
    vst_keyd_close(a);
    uint8_t *p3 = pseud_fresh(k.data_sock, "sgb5/insured", ids, il, N, &kv, &rc);
    CU_ASSERT_EQUAL(kv, 3);
    CU_ASSERT(p3 != NULL && memcmp(p3, rk, N * 16) == 0);
    for (size_t i = 0; i < N; i++) {
        char hex[33];
        fx_hex16(rk + 16 * i, hex);
        fx_secret(hex, 32);
    }
    CU_ASSERT_EQUAL(fx_event_count(&k, "keyd.rekey"), 1);
    check_event(&k, "keyd.rekey", 0, "count", N);
    check_event(&k, "keyd.rekey", 0, "from_version", 1);
    check_event(&k, "keyd.rekey", 0, "to_version", 3);

    /* Retire by root. */
    a = fx_connect(k.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(vst_keyd_retire(a, 1), 0);
    check_event(&k, "keyd.retire", 0, "version", 1);

    /* EVENTS serves the same stream as the file. */
    vst_events_ok eo;
    uint8_t *buf;
    size_t blen;
    CU_ASSERT_EQUAL_FATAL(vst_keyd_events(a, 0, 1000, &eo, &buf, &blen), 0);
    json_t *all = fx_events(&k);
    CU_ASSERT_EQUAL(eo.n, json_array_size(all));
    vst_events_iter it;
    vst_event e;
    vst_events_iter_init(&it, &eo);
    size_t i = 0;
    while (vst_events_next(&it, &e) == 1) {
        json_t *fe = json_array_get(all, i++);
        const char *act = json_string_value(json_object_get(fe, "action"));
        CU_ASSERT_EQUAL(e.seq, (uint64_t)i);
        CU_ASSERT_EQUAL((long long)e.seq, json_integer_value(json_object_get(fe, "seq")));
        CU_ASSERT(act != NULL && strlen(act) == e.action_len &&
                  memcmp(act, e.action, e.action_len) == 0);
        CU_ASSERT_EQUAL((long long)e.actor_uid, fx_ev_actor(fe));
    }
    CU_ASSERT_EQUAL(i, json_array_size(all));
    vst_frame_free(buf, blen);
    uint64_t last = json_array_size(all);
    CU_ASSERT_EQUAL_FATAL(vst_keyd_events(a, last - 2, 1000, &eo, &buf, &blen), 0);
    CU_ASSERT_EQUAL(eo.n, 2);
    vst_frame_free(buf, blen);
    vst_keyd_close(a);
    /* Sequence numbers 1, 2, ... and times that never go back. */
    long long prev_t = 0;
    json_t *fe;
    json_array_foreach(all, i, fe)
    {
        CU_ASSERT_EQUAL(json_integer_value(json_object_get(fe, "seq")), (long long)i + 1);
        long long t = json_integer_value(json_object_get(fe, "time_us"));
        CU_ASSERT(t >= prev_t);
        prev_t = t;
    }
    json_decref(all);
    fx_keyd_stop(&k);
    check_event(&k, "keyd.stop", 0, "rejected_frames", 0);

    /* The scan that every stop runs finds a logged identifier or
     * pseudonym as a token, and only as a token. */
    char text[200];
    snprintf(text, sizeof text, "{\"x\":\"%.10s\"}\n", ids);
    CU_ASSERT_EQUAL(fx_secret_scan_text("probe", text, strlen(text), 0), 1);
    char hex[33];
    fx_hex16(p3, hex);
    snprintf(text, sizeof text, "pseudonym %s, and X%.10sX\n", hex, ids);
    CU_ASSERT_EQUAL(fx_secret_scan_text("probe", text, strlen(text), 0), 1);
    free(ids);
    free(p1);
    free(p3);
    free(rk);
}

/* ------------------------------------------------------------ sandbox */

static int proc_field(pid_t pid, const char *name, char *out, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    char *t = fx_read_file(path, NULL);
    char key[64];
    snprintf(key, sizeof key, "\n%s:", name);
    char *p = t ? strstr(t, key) : NULL;
    int rc = -1;
    if (p != NULL) {
        p += strlen(key);
        p += strspn(p, " \t");
        size_t n = strcspn(p, "\n");
        snprintf(out, cap, "%.*s", (int)n, p);
        rc = 0;
    }
    free(t);
    return rc;
}

/* keyd as root with --user vst-key --seccomp yes: dropped, locked down,
 * and still able to do everything it offers. */
static void test_sandbox(void)
{
    if (!fx_is_root()) {
        fprintf(stderr, "test_sandbox: needs root, skipped\n");
        return;
    }
    gid_t kg;
    uid_t ku = fx_user_uid("vst-key", &kg);
    CU_ASSERT_FATAL(ku != (uid_t)-1);
    fx_store s;
    fx_keyd k = {0};
    CU_ASSERT_EQUAL_FATAL(fx_store_dev(&s, "vst-key"), 0);
    fx_keyd_opts o = {.store = &s,
                      .dev = 1,
                      .user = "vst-key",
                      .seccomp = 1,
                      .no_leak_check = 1,
                      .socket_mode = "0666"};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);

    char v[128], want[64];
    snprintf(want, sizeof want, "%u\t%u\t%u\t%u", ku, ku, ku, ku);
    CU_ASSERT(proc_field(k.pid, "Uid", v, sizeof v) == 0 && strcmp(v, want) == 0);
    snprintf(want, sizeof want, "%u\t%u\t%u\t%u", kg, kg, kg, kg);
    CU_ASSERT(proc_field(k.pid, "Gid", v, sizeof v) == 0 && strcmp(v, want) == 0);
    CU_ASSERT(proc_field(k.pid, "Groups", v, sizeof v) == 0 && strcmp(v, "") == 0);
    CU_ASSERT(proc_field(k.pid, "NoNewPrivs", v, sizeof v) == 0 && strcmp(v, "1") == 0);
    CU_ASSERT(proc_field(k.pid, "Seccomp", v, sizeof v) == 0 && strcmp(v, "2") == 0);
    CU_ASSERT(proc_field(k.pid, "CapEff", v, sizeof v) == 0 && strcmp(v, "0000000000004000") == 0);
    CU_ASSERT(proc_field(k.pid, "CapPrm", v, sizeof v) == 0 && strcmp(v, "0000000000004000") == 0);
    CU_ASSERT(proc_field(k.pid, "CapInh", v, sizeof v) == 0 && strcmp(v, "0000000000000000") == 0);
    CU_ASSERT(proc_field(k.pid, "CapAmb", v, sizeof v) == 0 && strcmp(v, "0000000000000000") == 0);

    /* Memory locked: all of it (mlockall) in a normal build; ASan ignores
     * mlockall, so there only OpenSSL's secure heap (1 MiB, mlocked) is. */
    long lck = -1, size = -1;
    if (proc_field(k.pid, "VmLck", v, sizeof v) == 0)
        lck = strtol(v, NULL, 10);
    if (proc_field(k.pid, "VmSize", v, sizeof v) == 0)
        size = strtol(v, NULL, 10);
#ifdef KEYD_ASAN
    CU_ASSERT(lck >= 1024);
#else
    CU_ASSERT(lck > 0 && lck * 10 >= size * 9);
#endif
    fprintf(stderr, "VmLck %ld kB of VmSize %ld kB ", lck, size);

    /* status, pubkey, pseudonymize, rotate, rekey, retire, sign (one
     * receipt and a batch), events. */
    fx_status_t st;
    CU_ASSERT_EQUAL_FATAL(status_ok(&k, &st), 0);
    CU_ASSERT_EQUAL(st.s.sealed, 0);
    enum { N = 50 };
    size_t il;
    char *ids = make_ids(31, VST_ID_KVNR, N, &il);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    uint32_t kv;
    int rc;
    uint8_t *p1 = pseud_fresh(k.data_sock, "sgb5/insured", ids, il, N, &kv, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    fx_result r;
    fx_admin(&r, &k, "key", "rotate", NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    fx_result_free(&r);
    uint8_t *p2 = pseud_fresh(k.data_sock, "sgb5/insured", ids, il, N, &kv, &rc);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(kv, 2);
    vst_keyd *a = fx_connect(k.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    uint8_t pub[32], sig[64], head[32] = {1, 2, 3};
    CU_ASSERT_EQUAL(vst_keyd_pubkey(a, pub), 0);
    CU_ASSERT_EQUAL(vst_keyd_rekey(a, 1, 2, p1, N), 0);
    CU_ASSERT_EQUAL(memcmp(p1, p2, N * 16), 0);
    CU_ASSERT_EQUAL(vst_keyd_retire(a, 1), 0);
    vst_receipt_fields f = {
        .record_count = 1, .key_version = 2, .audit_seq = 3, .version = VST_RECEIPT_V2};
    strcpy(f.delivery_id, "sandbox-1");
    strcpy(f.client, "AOK");
    strcpy(f.profile, "sgb5");
    CU_ASSERT_EQUAL(vst_keyd_sign_receipt(a, &f, sig), 0);
    CU_ASSERT_EQUAL(vst_receipt_verify(pub, &f, sig), 1);
    uint8_t batch_sig[1][64];
    CU_ASSERT_EQUAL(vst_keyd_sign_receipts(a, &f, 1, batch_sig), 0);
    CU_ASSERT_EQUAL(memcmp(batch_sig[0], sig, 64), 0);
    CU_ASSERT_EQUAL(vst_keyd_sign_checkpoint(a, 9, head, 1, sig), 0);
    CU_ASSERT_EQUAL(vst_checkpoint_verify(pub, 9, head, 1, sig), 1);
    /* Issue 11 under seccomp: a report signature, a release key drawn
     * from OpenSSL's private DRBG (getrandom) and used. */
    CU_ASSERT_EQUAL(vst_keyd_sign_report(a, VST_REPORT_KIND_CELLS, head, sig), 0);
    CU_ASSERT_EQUAL(vst_report_verify(VST_REPORT_KIND_CELLS, head, sig, pub), 1);
    uint8_t rid[8], *rel = malloc(N * 16);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rel);
    CU_ASSERT_EQUAL(vst_keyd_release_open(a, rid), 0);
    CU_ASSERT_EQUAL(vst_keyd_release_map(a, 2, p2, N, rel), 0);
    CU_ASSERT(all_differ(p2, rel, N));
    for (size_t i = 0; i < N; i++) {
        char hex[33];
        fx_hex16(rel + 16 * i, hex);
        fx_secret(hex, 32);
    }
    free(rel);
    vst_events_ok eo = {0};
    uint8_t *buf = NULL;
    size_t blen = 0;
    CU_ASSERT_EQUAL(vst_keyd_events(a, 0, 100, &eo, &buf, &blen), 0);
    if (buf != NULL)
        vst_frame_free(buf, blen);
    CU_ASSERT(eo.n >= 3);
    vst_keyd_close(a); /* keyd.rekey and keyd.release_map events written at close */
    /* A rejected frame and a refused peer under seccomp. */
    uint8_t bad[8];
    fx_frame(bad, 9, VST_MSG_STATUS, 0, 0, NULL, 0);
    int fd = fx_raw_connect(k.data_sock);
    CU_ASSERT_FATAL(fd >= 0);
    fx_raw_send(fd, bad, 8);
    CU_ASSERT_EQUAL(fx_raw_rejected(fd, 10), VST_KERR_BAD_FRAME);
    close(fd);
    CU_ASSERT_EQUAL(fx_as_uid(NOBODY, NOBODY, child_status_ok, k.data_sock), 1);
    CU_ASSERT_EQUAL(fx_event_count(&k, "keyd.peer_refused"), 1);
    CU_ASSERT_EQUAL(fx_event_count(&k, "keyd.frame_rejected"), 1);
    CU_ASSERT_EQUAL(status_ok(&k, &st), 0);
    CU_ASSERT_EQUAL(st.s.current_version, 2);
    CU_ASSERT_EQUAL(fx_version_state(&st, 1), VST_KEY_RETIRED);
    CU_ASSERT_EQUAL(fx_event_count(&k, "keyd.rekey"), 1);
    CU_ASSERT_EQUAL(fx_event_count(&k, "keyd.release_map"), 1);
    fx_keyd_stop(&k); /* exit 0: no SIGSYS anywhere */

    /* The keystore that vst-key rewrote opens again. */
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    uint8_t *p3 = pseud_fresh(k.data_sock, "sgb5/insured", ids, il, N, &kv, &rc);
    CU_ASSERT_EQUAL(kv, 2);
    CU_ASSERT(p3 != NULL && memcmp(p3, p2, N * 16) == 0);
    free(p3);
    fx_keyd_stop(&k);

    /* Sealed start under the sandbox: Shamir unseal opens the keystore
     * after seccomp is in force. */
    fx_store sh;
    fx_keyd k2 = {0};
    CU_ASSERT_EQUAL_FATAL(fx_store_shamir(&sh, 3, 2, "vst-key"), 0);
    fx_keyd_opts o2 = {.store = &sh, .user = "vst-key", .seccomp = 1, .no_leak_check = 1};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k2, &o2), 0);
    CU_ASSERT(proc_field(k2.pid, "Seccomp", v, sizeof v) == 0 && strcmp(v, "2") == 0);
    CU_ASSERT_EQUAL(admin_unseal(&k2, sh.share[0], NULL, NULL), 0);
    CU_ASSERT_EQUAL(admin_unseal(&k2, sh.share[1], NULL, NULL), 0);
    CU_ASSERT_EQUAL(status_ok(&k2, &st), 0);
    CU_ASSERT_EQUAL(st.s.sealed, 0);
    p3 = pseud_fresh(k2.data_sock, "sgb5/insured", ids, il, N, &kv, &rc);
    CU_ASSERT_EQUAL(rc, 0);
    free(p3);
    fx_keyd_stop(&k2);
    free(ids);
    free(p1);
    free(p2);
}

/* keystore.info removed under a sealed keyd in the sandbox: unsealing must
 * fail with one clear line and an event, not kill keyd (the keystore's
 * faccessat was not on the seccomp list: SIGSYS). Put back, it unseals. */
static void test_sandbox_missing_info(void)
{
    if (!fx_is_root()) {
        fprintf(stderr, "test_sandbox_missing_info: needs root, skipped\n");
        return;
    }
    fx_store s;
    fx_keyd k = {0};
    CU_ASSERT_EQUAL_FATAL(fx_store_shamir(&s, 3, 2, "vst-key"), 0);
    fx_keyd_opts o = {.store = &s, .user = "vst-key", .seccomp = 1, .no_leak_check = 1};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    char info[FX_PATH + 32], moved[FX_PATH + 32];
    snprintf(info, sizeof info, "%s/keystore.info", s.keystore);
    snprintf(moved, sizeof moved, "%s/keystore.info.away", s.dir);
    CU_ASSERT_EQUAL_FATAL(rename(info, moved), 0);
    char *err = NULL;
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[0], NULL, NULL), 0);
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[1], NULL, &err), 1);
    CU_ASSERT(fx_one_line(err));
    free(err);
    json_t *ev = fx_event_last(&k, "keyd.unseal_rejected");
    CU_ASSERT_PTR_NOT_NULL(ev);
    const char *why = ev ? fx_ev_str(ev, "reason") : NULL;
    CU_ASSERT(why != NULL && strcmp(why, "corrupt") == 0);
    json_decref(ev);
    fx_status_t st;
    CU_ASSERT_EQUAL(fx_status(k.admin_sock, &st), 0); /* alive, still sealed */
    CU_ASSERT_EQUAL(st.s.sealed, 1);
    CU_ASSERT_EQUAL_FATAL(rename(moved, info), 0);
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[2], NULL, NULL), 0);
    CU_ASSERT_EQUAL(admin_unseal(&k, s.share[0], NULL, NULL), 0);
    CU_ASSERT_EQUAL(fx_status(k.admin_sock, &st), 0);
    CU_ASSERT_EQUAL(st.s.sealed, 0);
    fx_keyd_stop(&k); /* exit 0: no SIGSYS */
}

/* ------------------------------------------------------------ limits (issue 8, finding 8) */

/* What arrives on a raw connection within timeout_s: an error frame's code,
 * 0 if nothing came, -1 if the connection was closed (or other bytes). */
static int raw_answer(int fd, double timeout_s)
{
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, (int)(timeout_s * 1000)) <= 0)
        return 0;
    uint8_t b[10];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t k = read(fd, b + got, sizeof b - got);
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    static const uint8_t hdr[8] = {1, VST_MSG_ERROR, 0, 0, 0, 0, 0, 2};
    return memcmp(b, hdr, 8) == 0 ? b[8] << 8 | b[9] : -1;
}

/* STATUS on a raw connection: 1 served, 0 refused (closed). */
static int raw_status(int fd)
{
    uint8_t st[8];
    fx_frame(st, 1, VST_MSG_STATUS, 0, 0, NULL, 0);
    vst_frame_hdr h;
    uint8_t *buf = NULL;
    int rc = fx_raw_send(fd, st, 8) == 0 ? vst_frame_recv(fd, VST_FRAME_MAX, &h, &buf) : -1;
    int served = rc == 0 && h.type == VST_MSG_RESP(VST_MSG_STATUS);
    vst_frame_free(buf, buf ? h.len : 0);
    return served;
}

static long proc_kb(pid_t pid, const char *name)
{
    char v[128];
    return proc_field(pid, name, v, sizeof v) == 0 ? strtol(v, NULL, 10) : -1;
}

/* The data peer fills its connection limit; the admin socket keeps its own
 * slots: operators still get STATUS. The admin limit holds on its own, and
 * data peers are served again once they let go. */
static void test_admin_slots(void)
{
    enum { DATA = 20, ADMIN = 4, FLOOD = 40 };
    fx_keyd_opts o = {.max_connections = DATA, .max_admin_connections = ADMIN};
    CU_ASSERT_EQUAL_FATAL(hostile_start_with(o), 0);
    int fds[FLOOD], afds[ADMIN + 2];
    int served = 0;
    for (int i = 0; i < FLOOD; i++) {
        fds[i] = fx_raw_connect(H.k.data_sock);
        CU_ASSERT_FATAL(fds[i] >= 0);
        served += raw_status(fds[i]);
    }
    CU_ASSERT_EQUAL(served, DATA);
    /* Every data slot is taken (and held): the admin socket still serves. */
    fx_status_t st;
    CU_ASSERT_EQUAL(fx_status(H.k.admin_sock, &st), 0);
    CU_ASSERT_EQUAL(st.s.sealed, 0);
    served = 0;
    for (int i = 0; i < ADMIN + 2; i++) {
        afds[i] = fx_raw_connect(H.k.admin_sock);
        CU_ASSERT_FATAL(afds[i] >= 0);
        served += raw_status(afds[i]);
    }
    CU_ASSERT_EQUAL(served, ADMIN);
    for (int i = 0; i < ADMIN + 2; i++)
        close(afds[i]);
    for (int i = 0; i < FLOOD; i++)
        close(fds[i]);
    usleep(100000);
    CU_ASSERT(good_request());
    hostile_stop();
}

/* A connection that sits between frames is closed after --idle-timeout,
 * on both sockets, whether it never asked anything or asked and went
 * quiet; a busy one is not. A peer that does not take its reply is dropped
 * after --frame-timeout instead of holding it. */
static void test_idle_timeout(void)
{
    fx_keyd_opts o = {.idle_timeout = 1, .frame_timeout = 1};
    CU_ASSERT_EQUAL_FATAL(hostile_start_with(o), 0);
    int silent = fx_raw_connect(H.k.data_sock), admin = fx_raw_connect(H.k.admin_sock);
    vst_keyd *used = fx_connect(H.k.data_sock), *busy = fx_connect(H.k.data_sock);
    CU_ASSERT_FATAL(silent >= 0 && admin >= 0 && used != NULL && busy != NULL);
    fx_status_t st;
    uint8_t pub[32];
    CU_ASSERT_EQUAL(vst_keyd_pubkey(used, pub), 0);
    double t0 = fx_now();
    /* The busy client asks every 0.3 s for 3 s. */
    int busy_ok = 1;
    while (fx_now() - t0 < 3.0) {
        busy_ok &= vst_keyd_pubkey(busy, pub) == 0;
        usleep(300000);
    }
    CU_ASSERT(busy_ok);
    CU_ASSERT_EQUAL(vst_keyd_pubkey(busy, pub), 0);
    uint8_t b[16];
    size_t got;
    /* The silent ones were closed meanwhile, without an answer. */
    CU_ASSERT_EQUAL(fx_raw_drain(silent, 0.5, b, sizeof b, &got), 0);
    CU_ASSERT_EQUAL(got, 0);
    CU_ASSERT_EQUAL(fx_raw_drain(admin, 0.5, b, sizeof b, &got), 0);
    CU_ASSERT_EQUAL(got, 0);
    int rc = vst_keyd_pubkey(used, pub);
    CU_ASSERT(rc < 0); /* closed: a client sees EOF and reconnects */
    close(silent);
    close(admin);
    vst_keyd_close(used);
    vst_keyd_close(busy);
    CU_ASSERT_EQUAL(fx_status(H.k.admin_sock, &st), 0);
    CU_ASSERT(good_request());
    /* Idle closes are normal: not counted as rejections. */
    CU_ASSERT_EQUAL(fx_event_count(&H.k, "keyd.frame_rejected"), 0);

    /* A full batch whose 1 MiB reply is never read. */
    enum { N = VST_BATCH_MAX };
    static uint8_t f[8 + 32 + N * 10];
    char *ids = make_ids(7, VST_ID_KVNR, N, &got);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    for (size_t i = 0; i < N; i++)
        fx_secret(ids + i * 10, 10);
    size_t pl = pseud_payload(f + 8, "sgb5/insured", 10, N, ids, N);
    fx_frame(f, 1, VST_MSG_PSEUDONYMIZE, 0, (uint32_t)pl, NULL, 0);
    int lazy = fx_raw_connect(H.k.data_sock);
    CU_ASSERT_FATAL(lazy >= 0);
    CU_ASSERT_EQUAL(fx_raw_send(lazy, f, 8 + pl), 0);
    usleep(500000);
    CU_ASSERT(good_request()); /* meanwhile others are served */
    sleep(2);
    int sz = 0;
    socklen_t sl = sizeof sz;
    getsockopt(lazy, SOL_SOCKET, SO_RCVBUF, &sz, &sl);
    /* keyd has let go: reading now ends (well) before the whole reply. */
    size_t total = 0;
    uint8_t *sink = malloc(2 << 20);
    CU_ASSERT_EQUAL(fx_raw_drain(lazy, 5, sink, 2 << 20, &total), 0);
    fprintf(stderr, "unread reply: %zu of %zu bytes arrived (rcvbuf %d) ", total,
            (size_t)8 + 6 + 4 + (size_t)N * 16, sz);
    CU_ASSERT(total < (size_t)N * 16);
    free(sink);
    close(lazy);
    free(ids);
    H.rejected = 1;
    check_reject_event("reply_timeout", "bad_frame");
    hostile_stop();
}

/* Memory of keyd for data peers is capped: many data peers each start a
 * maximal PSEUDONYMIZE frame and send all of it but the last byte. Once
 * the cap is reached, frames are refused with `busy` at their header (their
 * bytes dropped, never held); keyd's resident and locked memory stay within
 * the cap; small requests still pass, a refused client keeps its connection,
 * and everything is usable again when the peers let go. */
static void cap_run(const char *prog)
{
    enum { PEERS = 40, CAP_MIB = 8, N = VST_BATCH_MAX, ID = 16 };
    fx_keyd_opts o = {.max_connections = 64, .max_buffered_mib = CAP_MIB, .prog = prog};
    CU_ASSERT_EQUAL_FATAL(hostile_start_with(o), 0);
    static uint8_t f[8 + 32 + N * ID];
    size_t pl = pseud_payload(f + 8, "sgb5/insured", ID, N, (const char *)f, 0) + (size_t)N * ID;
    fx_frame(f, 1, VST_MSG_PSEUDONYMIZE, 0, (uint32_t)pl, NULL, 0);
    memset(f + 8 + pl - (size_t)N * ID, 'x', (size_t)N * ID);
    long rss0 = proc_kb(H.k.pid, "VmRSS"), lck0 = proc_kb(H.k.pid, "VmLck");
    int fds[PEERS], busy = 0, quiet = 0;
    for (int i = 0; i < PEERS; i++) {
        fds[i] = fx_raw_connect(H.k.data_sock);
        CU_ASSERT_FATAL(fds[i] >= 0);
        CU_ASSERT_EQUAL(fx_raw_send(fds[i], f, 8 + pl - 1), 0);
        int a = raw_answer(fds[i], 0.2);
        busy += a == VST_KERR_BUSY;
        quiet += a == 0;
    }
    usleep(200000);
    long rss1 = proc_kb(H.k.pid, "VmRSS"), lck1 = proc_kb(H.k.pid, "VmLck");
    fprintf(stderr,
            "%s: %d half frames of %zu bytes: %d busy, %d held; VmRSS %ld -> %ld kB, "
            "VmLck %ld -> %ld kB ",
            prog ? "release keyd" : "keyd", PEERS, pl, busy, quiet, rss0, rss1, lck0, lck1);
    /* One held frame costs its payload and its reply's room (3.5 MiB). */
    CU_ASSERT_EQUAL(quiet, 2);
    CU_ASSERT_EQUAL(busy, PEERS - 2);
    CU_ASSERT(rss1 - rss0 < 2 * CAP_MIB * 1024);
    CU_ASSERT(lck1 - lck0 < 2 * CAP_MIB * 1024);
    /* Small requests fit beside them, the operator is served. */
    CU_ASSERT(good_request());
    fx_status_t st;
    CU_ASSERT_EQUAL(fx_status(H.k.admin_sock, &st), 0);
    /* An honest client's full batch does not fit now: `busy`, and its
     * connection stays usable. */
    size_t il;
    char *ids = make_ids(8, VST_ID_KVNR, N, &il);
    uint8_t *out = malloc((size_t)N * 16);
    CU_ASSERT_FATAL(ids != NULL && out != NULL);
    vst_keyd *c = fx_connect(H.k.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    uint32_t kv;
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids, il, N, out, &kv), VST_KERR_BUSY);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", H.ids, H.il, 3, out, &kv), 0);
    CU_ASSERT_EQUAL(memcmp(out, H.ref, sizeof H.ref), 0);
    for (int i = 0; i < PEERS; i++)
        close(fds[i]);
    usleep(300000);
    /* The peers are gone: the full batch passes on the same connection. */
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids, il, N, out, &kv), 0);
    vst_keyd_close(c);
    json_t *ev = fx_event_last(&H.k, "keyd.frame_rejected");
    int seen = 0;
    json_t *all = fx_events(&H.k);
    size_t i;
    json_t *e;
    json_array_foreach(all, i, e)
    {
        const char *r = fx_ev_str(e, "reason"), *code = fx_ev_str(e, "code");
        seen += r && code && strcmp(r, "buffer_limit") == 0 && strcmp(code, "busy") == 0;
    }
    CU_ASSERT(seen >= 1);
    json_decref(all);
    json_decref(ev);
    fx_keyd_stop(&H.k);
    ev = fx_event_last(&H.k, "keyd.stop");
    CU_ASSERT(fx_ev_int(ev, "rejected_frames") >= PEERS - 2 + 1);
    json_decref(ev);
    free(H.ids);
    H.ids = NULL;
    free(ids);
    free(out);
}

static void test_buffer_cap(void)
{
    cap_run(NULL);
    /* The release build locks its memory (ASan ignores mlockall): there
     * VmLck shows what the half frames would pin. */
    const char *rel = getenv("VST_RELEASE_DIR");
    char prog[FX_PATH];
    snprintf(prog, sizeof prog, "%s/keys/vst-keyd", rel ? rel : "");
    if (rel != NULL && access(prog, X_OK) == 0 && fx_is_root())
        cap_run(prog);
    else
        fprintf(stderr, "(no release vst-keyd: VmLck checked in this build only) ");
}

/* ------------------------------------------------------------ people */

/* Issue 8, finding 1: an operator (admin socket) must not be able to ask
 * keyd for the pseudonym of a KVNR they know. PSEUDONYMIZE is refused on
 * the admin socket with `forbidden`, recorded with the peer's uid, and
 * nothing is served; the data socket still pseudonymizes. */
static void test_admin_pseudonymize_refused(void)
{
    fx_store s;
    fx_keyd k = {0};
    CU_ASSERT_EQUAL_FATAL(fx_store_dev(&s, NULL), 0);
    fx_keyd_opts o = {.store = &s, .dev = 1};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    size_t il;
    char *ids = make_ids(41, VST_ID_KVNR, 3, &il);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    uint8_t out[3 * 16];
    uint32_t kv = 0;
    vst_keyd *a = fx_connect(k.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(fx_pseud(a, "sgb5/insured", ids, il, 3, out, &kv), VST_KERR_FORBIDDEN);
    vst_keyd_close(a);
    json_t *ev = fx_event_last(&k, "keyd.frame_rejected");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "socket") ? fx_ev_str(ev, "socket") : "", "admin");
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "code") ? fx_ev_str(ev, "code") : "", "forbidden");
    CU_ASSERT_EQUAL(fx_ev_actor(ev), 0);
    json_decref(ev);
    int rc;
    uint8_t *p = pseud_fresh(k.data_sock, "sgb5/insured", ids, il, 3, &kv, &rc);
    CU_ASSERT_EQUAL(rc, 0);
    free(p);
    fx_keyd_stop(&k);
    free(ids);
}

/* ------------------------------------------------------------ usage */

/* The store's public key. */
static void store_pub(const fx_store *s, uint8_t pub[32])
{
    CU_ASSERT_FATAL(vst_unhex(s->pubkey_hex, 32, pub) == 0);
}

typedef struct {
    long long total, slack; /* of the last report naming the counter; -1 never */
    size_t events;          /* keyd.usage events seen */
    size_t reports;         /* ... naming the counter */
} usage_seen;

/* Walks k's keyd.usage events: each must parse, carry the key's id and
 * verify with the store's key, and no total may go back. Returns what the
 * events say of one (socket, uid, op, domain). */
static usage_seen usage_of(const fx_keyd *k, const fx_store *s, const char *sock, long long uid,
                           const char *op, const char *domain)
{
    usage_seen u = {-1, -1, 0, 0};
    uint8_t pub[32], want_kid[32];
    store_pub(s, pub);
    EVP_Digest(pub, 32, want_kid, NULL, EVP_sha256(), NULL);
    json_t *all = fx_events(k);
    size_t i;
    json_t *ev;
    uint64_t last_seq = 0;
    json_array_foreach(all, i, ev)
    {
        const char *a = json_string_value(json_object_get(ev, "action"));
        if (a == NULL || strcmp(a, "keyd.usage") != 0)
            continue;
        u.events++;
        vst_usage r;
        uint8_t kid[32], sig[64];
        CU_ASSERT_FATAL(vst_usage_parse(json_object_get(ev, "details"), &r, kid, sig) == 0);
        CU_ASSERT(memcmp(kid, want_kid, 32) == 0);
        CU_ASSERT(vst_usage_verify(pub, &r, sig) == 1);
        CU_ASSERT(r.seq > last_seq); /* numbered, never reused */
        last_seq = r.seq;
        for (size_t e = 0; e < r.n; e++) {
            const vst_usage_entry *x = &r.e[e];
            if (strcmp(vst_usage_sock_name(x->sock), sock) != 0 || x->uid != (uint32_t)uid ||
                strcmp(vst_usage_op_name(x->op), op) != 0 || strcmp(x->domain, domain) != 0)
                continue;
            CU_ASSERT((long long)x->total >= u.total);
            u.total = (long long)x->total;
            u.slack = (long long)x->slack;
            u.reports++;
        }
    }
    json_decref(all);
    return u;
}

/* Every mapping operation is counted per peer and reported in signed
 * keyd.usage events: periodically (usage-interval) and at shutdown; the
 * totals continue across a restart; a changed count breaks the signature. */
static void test_usage_events(void)
{
    fx_store s;
    fx_keyd k = {0};
    CU_ASSERT_EQUAL_FATAL(fx_store_dev(&s, NULL), 0);
    static const char *const extra[] = {"--usage-interval", "1", NULL};
    fx_keyd_opts o = {.store = &s, .dev = 1, .extra = extra};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    size_t il, ll;
    char *ids = make_ids(51, VST_ID_KVNR, 100, &il);
    char *lanr = make_ids(52, VST_ID_LANR, 40, &ll);
    CU_ASSERT_FATAL(ids != NULL && lanr != NULL);
    uint8_t out[100 * 16], sig[64], head[32] = {7};
    uint32_t kv;
    vst_keyd *c = fx_connect(k.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids, il, 60, out, &kv), 0);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids + 60 * il, il, 40, out, &kv), 0);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/lanr-stem", lanr, ll, 40, out, &kv), 0);
    vst_receipt_fields f = {
        .record_count = 1, .key_version = 1, .audit_seq = 3, .version = VST_RECEIPT_V2};
    strcpy(f.delivery_id, "usage-1");
    strcpy(f.client, "AOK");
    strcpy(f.profile, "sgb5");
    CU_ASSERT_EQUAL(vst_keyd_sign_receipt(c, &f, sig), 0);
    CU_ASSERT_EQUAL(vst_keyd_sign_receipt(c, &f, sig), 0);
    /* A batch of 7 counts 7 receipts; a refused batch counts nothing. */
    vst_receipt_fields b[7];
    uint8_t bsig[7][64];
    batch_of(&f, b, 7);
    CU_ASSERT_EQUAL(vst_keyd_sign_receipts(c, b, 7, bsig), 0);
    b[6].key_version = 9;
    CU_ASSERT_EQUAL(vst_keyd_sign_receipts(c, b, 7, bsig), VST_KERR_UNKNOWN_VERSION);
    CU_ASSERT_EQUAL(vst_keyd_sign_checkpoint(c, 5, head, 1700000000000000LL, sig), 0);
    /* Refused requests are not counted as served. */
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/unknown", ids, il, 3, out, &kv), VST_KERR_INVALID_ARGUMENT);
    vst_keyd_close(c);
    fx_result r;
    fx_admin(&r, &k, "key", "rotate", NULL);
    CU_ASSERT_EQUAL(r.status, 0);
    fx_result_free(&r);
    vst_keyd *a = fx_connect(k.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(vst_keyd_rekey(a, 1, 2, out, 30), 0);
    vst_keyd_close(a);

    /* The periodic report (every second here), before any shutdown. */
    double end = fx_now() + 10;
    while (fx_now() < end && usage_of(&k, &s, "admin", 0, "rekey", "").total < 30)
        usleep(100000);
    CU_ASSERT_EQUAL(usage_of(&k, &s, "data", 0, "pseudonymize", "sgb5/insured").total, 100);
    CU_ASSERT_EQUAL(usage_of(&k, &s, "data", 0, "pseudonymize", "sgb5/lanr-stem").total, 40);
    CU_ASSERT_EQUAL(usage_of(&k, &s, "data", 0, "sign_receipt", "").total, 2 + 7);
    CU_ASSERT_EQUAL(usage_of(&k, &s, "admin", 0, "rekey", "").total, 30);
    CU_ASSERT_EQUAL(usage_of(&k, &s, "data", 0, "pseudonymize", "sgb5/unknown").total, -1);
    /* Checkpoint signatures alone wait for the next report or shutdown. */
    fx_keyd_stop(&k);
    usage_seen cp = usage_of(&k, &s, "data", 0, "sign_checkpoint", "");
    CU_ASSERT_EQUAL(cp.total, 1);
    CU_ASSERT_EQUAL(cp.slack, 0);

    /* Cumulative across a restart. */
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    c = fx_connect(k.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids, il, 10, out, &kv), 0);
    vst_keyd_close(c);
    fx_keyd_stop(&k);
    usage_seen ins = usage_of(&k, &s, "data", 0, "pseudonymize", "sgb5/insured");
    CU_ASSERT_EQUAL(ins.total, 110);
    CU_ASSERT_EQUAL(ins.slack, 0);
    CU_ASSERT(ins.events >= 2);
    CU_ASSERT_EQUAL(fx_event_count(&k, "keyd.state_reset"), 1); /* the first start only */

    /* The signature covers every number. */
    json_t *ev = fx_event_last(&k, "keyd.usage");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    vst_usage u;
    uint8_t kid[32], pub[32];
    store_pub(&s, pub);
    CU_ASSERT_FATAL(vst_usage_parse(json_object_get(ev, "details"), &u, kid, sig) == 0);
    CU_ASSERT(vst_usage_verify(pub, &u, sig) == 1);
    u.e[0].total++;
    CU_ASSERT(vst_usage_verify(pub, &u, sig) == 0);
    json_decref(ev);
    free(ids);
    free(lanr);
}

/* Per-domain budgets with soft alarms below the hard limits. */
static void test_budget_soft(void)
{
    fx_store s;
    fx_keyd k = {0};
    CU_ASSERT_EQUAL_FATAL(fx_store_dev(&s, NULL), 0);
    static const char *const extra[] = {"--budget-day-soft", "600", NULL};
    fx_keyd_opts o = {
        .store = &s, .dev = 1, .budget_minute = 1000, .budget_day = 100000, .extra = extra};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    size_t il, ll;
    char *ids = make_ids(61, VST_ID_KVNR, 1001, &il);
    char *lanr = make_ids(62, VST_ID_LANR, 500, &ll);
    CU_ASSERT_FATAL(ids != NULL && lanr != NULL);
    uint8_t *out = malloc(1001 * 16);
    uint32_t kv;
    vst_keyd *c = fx_connect(k.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    /* Below the soft minute limit (a quarter of 1000): quiet. */
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids, il, 250, out, &kv), 0);
    CU_ASSERT_EQUAL(fx_event_count(&k, "keyd.budget_soft_alarm"), 0);
    /* Above it: one soft alarm, naming the domain and both limits. */
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids + 250 * il, il, 50, out, &kv), 0);
    json_t *ev = fx_event_last(&k, "keyd.budget_soft_alarm");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "domain") ? fx_ev_str(ev, "domain") : "", "sgb5/insured");
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "window") ? fx_ev_str(ev, "window") : "", "minute");
    CU_ASSERT_EQUAL(fx_ev_int(ev, "soft_limit"), 250);
    CU_ASSERT_EQUAL(fx_ev_int(ev, "limit"), 1000);
    CU_ASSERT_EQUAL(fx_ev_int(ev, "used"), 300);
    json_decref(ev);
    /* Up to the hard limit: the day's soft alarm (600) once; the minute's
     * no more than once per minute. */
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids + 300 * il, il, 400, out, &kv), 0);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids + 700 * il, il, 300, out, &kv), 0);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids + 1000 * il, il, 1, out, &kv),
                    VST_KERR_BUDGET_EXCEEDED);
    size_t soft = fx_event_count(&k, "keyd.budget_soft_alarm");
    CU_ASSERT(soft >= 2 && soft <= 3);
    ev = fx_event_last(&k, "keyd.budget_alarm");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "domain") ? fx_ev_str(ev, "domain") : "", "sgb5/insured");
    json_decref(ev);
    /* Another domain has its own budget. */
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/lanr-stem", lanr, ll, 500, out, &kv), 0);
    vst_keyd_close(c);
    json_t *all = fx_events(&k);
    size_t i, day_soft = 0, lanr_soft = 0;
    json_array_foreach(all, i, ev)
    {
        const char *a = json_string_value(json_object_get(ev, "action"));
        if (a == NULL || strcmp(a, "keyd.budget_soft_alarm") != 0)
            continue;
        const char *w = fx_ev_str(ev, "window"), *d = fx_ev_str(ev, "domain");
        day_soft += w && strcmp(w, "day") == 0;
        lanr_soft += d && strcmp(d, "sgb5/lanr-stem") == 0;
        if (w && strcmp(w, "day") == 0) {
            CU_ASSERT_EQUAL(fx_ev_int(ev, "soft_limit"), 600);
            CU_ASSERT_EQUAL(fx_ev_int(ev, "used"), 700);
        }
    }
    json_decref(all);
    CU_ASSERT_EQUAL(day_soft, 1);
    CU_ASSERT(lanr_soft >= 1);
    fx_keyd_stop(&k);
    free(ids);
    free(lanr);
    free(out);
}

/* The counts survive a restart: after a clean stop exactly, after a crash
 * (SIGKILL) at or above what was served, with the overstatement reported
 * as slack. */
static void test_budget_restart(void)
{
    fx_store s;
    fx_keyd k = {0};
    CU_ASSERT_EQUAL_FATAL(fx_store_dev(&s, NULL), 0);
    fx_keyd_opts o = {.store = &s, .dev = 1, .budget_minute = 100000, .budget_day = 1000};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    size_t il;
    char *ids = make_ids(71, VST_ID_KVNR, 1000, &il);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ids);
    uint8_t *out = malloc(1000 * 16);
    uint32_t kv;
    vst_keyd *c = fx_connect(k.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids, il, 600, out, &kv), 0);
    vst_keyd_close(c);
    fx_keyd_stop(&k);

    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    fx_status_t st;
    CU_ASSERT_EQUAL(status_ok(&k, &st), 0);
    CU_ASSERT_EQUAL(st.s.day_used, 600);
    c = fx_connect(k.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids, il, 401, out, &kv), VST_KERR_BUDGET_EXCEEDED);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids, il, 300, out, &kv), 0);
    vst_keyd_close(c);
    /* A crash: keyd resumes at its reservation, never below the truth. */
    fx_keyd_kill(&k);
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    CU_ASSERT_EQUAL(status_ok(&k, &st), 0);
    CU_ASSERT(st.s.day_used >= 900);
    json_t *ev = fx_event_last(&k, "keyd.state_recovered");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    long long slack = fx_ev_int(ev, "slack_added");
    CU_ASSERT(slack > 0);
    json_decref(ev);
    c = fx_connect(k.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(fx_pseud(c, "sgb5/insured", ids, il, 101, out, &kv), VST_KERR_BUDGET_EXCEEDED);
    vst_keyd_close(c);
    fx_keyd_stop(&k);
    /* What was served lies between the signed total minus the slack and
     * the total: the reconciliation can bound it from both sides. */
    usage_seen u = usage_of(&k, &s, "data", 0, "pseudonymize", "sgb5/insured");
    CU_ASSERT(u.total >= 900);
    CU_ASSERT(u.total - u.slack <= 900 && u.total - u.slack >= 600);
    CU_ASSERT_EQUAL(u.slack, slack);

    /* A state file that does not verify is set aside and audited; keyd
     * starts counting from zero (and the log shows the totals going back). */
    char path[FX_PATH + 16];
    snprintf(path, sizeof path, "%s/usage", k.dir);
    size_t len;
    char *raw = fx_read_file(path, &len);
    CU_ASSERT_FATAL(raw != NULL && len > 40);
    raw[len - 1] ^= 1;
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL && fwrite(raw, 1, len, f) == len);
    fclose(f);
    free(raw);
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    ev = fx_event_last(&k, "keyd.state_reset");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "usage") ? fx_ev_str(ev, "usage") : "", "invalid");
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "checkpoint") ? fx_ev_str(ev, "checkpoint") : "",
                           "loaded");
    json_decref(ev);
    snprintf(path, sizeof path, "%s/usage.rejected", k.dir);
    CU_ASSERT(access(path, F_OK) == 0);
    CU_ASSERT_EQUAL(status_ok(&k, &st), 0);
    CU_ASSERT_EQUAL(st.s.day_used, 0);
    fx_keyd_stop(&k);
    free(ids);
    free(out);
}

/* ------------------------------------------------------------ checkpoints */

/* Issue 8 (low): keyd signs a chain head only if it moves forward, and
 * remembers the last one across restarts. */
static void test_checkpoint_rules(void)
{
    fx_store s;
    fx_keyd k = {0};
    CU_ASSERT_EQUAL_FATAL(fx_store_dev(&s, NULL), 0);
    fx_keyd_opts o = {.store = &s, .dev = 1};
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    uint8_t pub[32], sig[64], sig2[64], h1[32], h2[32], h3[32];
    store_pub(&s, pub);
    memset(h1, 1, 32);
    memset(h2, 2, 32);
    memset(h3, 3, 32);
    int64_t t = 1700000000000000LL;
    vst_keyd *c = fx_connect(k.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(vst_keyd_sign_checkpoint(c, 10, h1, t, sig), 0);
    CU_ASSERT_EQUAL(vst_checkpoint_verify(pub, 10, h1, t, sig), 1);
    /* The same head again (a retry after a failed commit): signed. */
    CU_ASSERT_EQUAL(vst_keyd_sign_checkpoint(c, 10, h1, t + 1, sig2), 0);
    CU_ASSERT_EQUAL(vst_checkpoint_verify(pub, 10, h1, t + 1, sig2), 1);
    /* Another head for seq 10: a fork; a lower seq: a regression. The
     * connection stays usable. */
    CU_ASSERT_EQUAL(vst_keyd_sign_checkpoint(c, 10, h2, t, sig), VST_KERR_CHECKPOINT_FORK);
    CU_ASSERT_EQUAL(vst_keyd_sign_checkpoint(c, 9, h3, t, sig), VST_KERR_CHECKPOINT_REGRESSION);
    CU_ASSERT_EQUAL(vst_keyd_sign_checkpoint(c, 0, h3, t, sig), VST_KERR_INVALID_ARGUMENT);
    CU_ASSERT_EQUAL(vst_keyd_sign_checkpoint(c, 11, h2, t, sig), 0);
    vst_keyd_close(c);
    fx_keyd_stop(&k);

    /* Remembered across a restart, on both sockets. */
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    c = fx_connect(k.admin_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(vst_keyd_sign_checkpoint(c, 10, h1, t, sig), VST_KERR_CHECKPOINT_REGRESSION);
    CU_ASSERT_EQUAL(vst_keyd_sign_checkpoint(c, 11, h3, t, sig), VST_KERR_CHECKPOINT_FORK);
    CU_ASSERT_EQUAL(vst_keyd_sign_checkpoint(c, 11, h2, t, sig), 0);
    CU_ASSERT_EQUAL(vst_keyd_sign_checkpoint(c, 12, h3, t, sig), 0);
    vst_keyd_close(c);
    fx_keyd_stop(&k);
    /* One event per forward signature, with seq and head. */
    json_t *all = fx_events(&k);
    size_t i, n = 0;
    json_t *ev;
    static const long long want_seq[] = {10, 11, 12};
    json_array_foreach(all, i, ev)
    {
        const char *a = json_string_value(json_object_get(ev, "action"));
        if (a == NULL || strcmp(a, "keyd.checkpoint_signed") != 0)
            continue;
        if (n < 3)
            CU_ASSERT_EQUAL(fx_ev_int(ev, "seq"), want_seq[n]);
        CU_ASSERT_EQUAL(fx_ev_int(ev, "skipped"), 0);
        const char *h = fx_ev_str(ev, "head");
        CU_ASSERT(h != NULL && strlen(h) == 64);
        n++;
    }
    json_decref(all);
    CU_ASSERT_EQUAL(n, 3);

    /* A checkpoint state that does not verify: audited, and forgotten. */
    char path[FX_PATH + 16];
    snprintf(path, sizeof path, "%s/checkpoint", k.dir);
    CU_ASSERT_EQUAL_FATAL(fx_write_file(path, "not a state file", 0600), 0);
    CU_ASSERT_EQUAL_FATAL(fx_keyd_start(&k, &o), 0);
    ev = fx_event_last(&k, "keyd.state_reset");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ev);
    CU_ASSERT_STRING_EQUAL(fx_ev_str(ev, "checkpoint") ? fx_ev_str(ev, "checkpoint") : "",
                           "invalid");
    json_decref(ev);
    c = fx_connect(k.data_sock);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(vst_keyd_sign_checkpoint(c, 10, h1, t, sig), 0);
    vst_keyd_close(c);
    fx_keyd_stop(&k);
}

/* ------------------------------------------------------------ registry */

static const vst_test unseal_tests[] = {
    {"M of N shares unseal, M-1 do not, duplicate refused", test_unseal_shares},
    {"corrupted and foreign shares are refused", test_unseal_bad_shares},
    {"a wrong share is refused alone; the good ones are kept", test_unseal_wrong_combination},
    {"legacy keystore: a wrong share is found among more shares", test_unseal_legacy_bad_share},
    {"keystore rolled back to an older copy: unseal refused", test_unseal_rollback},
    {"3 of 5: several combinations, same keys", test_unseal_3_of_5},
    {"dev master key: unsealed with a loud warning", test_dev_master},
    {NULL, NULL},
};
static const vst_test pseud_tests[] = {
    {"deterministic across requests and restarts", test_determinism},
    {"domain separation and the allowlist", test_domains},
    {"rotate: new version, rekey relation, retire", test_rotate},
    {"PSEUDONYMIZE on the admin socket is refused", test_admin_pseudonymize_refused},
    {NULL, NULL},
};
static const vst_test budget_tests[] = {
    {"minute budget", test_budget_minute},
    {"day budget", test_budget_day},
    {"per-domain budgets and soft alarms", test_budget_soft},
    {"counts survive a restart and a crash", test_budget_restart},
    {"signed usage events per peer, operation and domain", test_usage_events},
    {NULL, NULL},
};
static const vst_test hostile_tests[] = {
    {"bad headers, truncated frames", test_hostile_headers},
    {"bad payloads", test_hostile_payloads},
    {"bad SIGN_RECEIPTS payloads", test_hostile_receipts},
    {"admin messages on the data socket", test_hostile_admin_on_data},
    {"half frame then silence: frame timeout", test_hostile_timeout},
    {"seeded random frames", test_hostile_random},
    {"many connections, connection limit", test_many_connections},
    {"data peers fill their slots: the admin socket still serves", test_admin_slots},
    {"idle connections closed; unread replies dropped", test_idle_timeout},
    {"half frames: buffered bytes capped, `busy`, memory bounded", test_buffer_cap},
    {"peer uid allowlists", test_peer_uids},
    {NULL, NULL},
};
static const vst_test sign_tests[] = {
    {"receipt and checkpoint signatures verify", test_signing},
    {"checkpoints: no regression, no fork, remembered", test_checkpoint_rules},
    {NULL, NULL},
};
static const vst_test event_tests[] = {
    {"admin actions with actor uids; no identifiers", test_events},
    {NULL, NULL},
};
static const vst_test sandbox_tests[] = {
    {"dropped to vst-key, seccomp, serves everything", test_sandbox},
    {"keystore.info missing at unseal: refused, not SIGSYS", test_sandbox_missing_info},
    {NULL, NULL},
};

static int add_suite(const char *title, const vst_test *tests)
{
    CU_pSuite s = CU_add_suite(title, NULL, fx_suite_cleanup);
    if (s == NULL)
        return CU_get_error();
    for (size_t i = 0; tests[i].name != NULL; i++)
        if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL)
            return CU_get_error();
    return CUE_SUCCESS;
}

int vst_register_tests(void)
{
    int rc = CUE_SUCCESS;
    if (rc == CUE_SUCCESS)
        rc = add_suite("keyd unseal", unseal_tests);
    if (rc == CUE_SUCCESS)
        rc = add_suite("keyd pseudonyms", pseud_tests);
    if (rc == CUE_SUCCESS)
        rc = add_suite("keyd budget", budget_tests);
    if (rc == CUE_SUCCESS)
        rc = add_suite("keyd hostile peers", hostile_tests);
    if (rc == CUE_SUCCESS)
        rc = add_suite("keyd signing", sign_tests);
    if (rc == CUE_SUCCESS)
        rc = add_suite("keyd events", event_tests);
    if (rc == CUE_SUCCESS)
        rc = add_suite("keyd sandbox", sandbox_tests);
    return rc;
}
