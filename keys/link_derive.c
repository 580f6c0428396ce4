/* Control values, see link_derive.h. HMAC from precomputed SHA-256 pad
 * states, as derive.c does for pseudonyms (no allocation per value, no
 * key-derived state left in freed heap memory); the tests check it
 * against the openssl command line. Every buffer that held a name, a
 * phonetic code or an inner value is wiped before it is left. */
#define OPENSSL_API_COMPAT 10101
#include "link_derive.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmac_pads.h"
#include "linkage/cologne.h"

struct vst_link_key {
    SHA256_CTX inner; /* state after absorbing K_link,d ^ ipad */
    SHA256_CTX outer; /* state after absorbing K_link,d ^ opad */
};

int vst_hkdf_link(const uint8_t root[VST_KEY_LEN], const char *domain, uint8_t out[VST_KEY_LEN])
{
    return vst_hkdf_named(root, "vst/link/", domain, out);
}

int vst_hkdf_collection(const uint8_t version_key[VST_KEY_LEN], const char *collection,
                        uint8_t out[VST_KEY_LEN])
{
    return vst_hkdf_named(version_key, "vst/collection/", collection, out);
}

vst_link_key *vst_link_key_new(const uint8_t root[VST_KEY_LEN], const char *domain)
{
    uint8_t kl[VST_KEY_LEN];
    if (vst_hkdf_link(root, domain, kl) != 0)
        return NULL;
    vst_link_key *lk = calloc(1, sizeof *lk);
    if (lk != NULL)
        vst_hmac_pads(kl, &lk->inner, &lk->outer);
    OPENSSL_cleanse(kl, sizeof kl);
    return lk;
}

void vst_link_key_free(vst_link_key *lk)
{
    if (lk == NULL)
        return;
    OPENSSL_cleanse(lk, sizeof *lk);
    free(lk);
}

vst_version_key *vst_collection_key_new(uint32_t version, const uint8_t version_key[VST_KEY_LEN],
                                        const char *collection)
{
    uint8_t kc[VST_KEY_LEN];
    if (vst_hkdf_collection(version_key, collection, kc) != 0)
        return NULL;
    vst_version_key *ck = vst_version_key_new(version, kc);
    OPENSSL_cleanse(kc, sizeof kc);
    return ck;
}

/* ---- the HMAC input */

/* The fields of one person that the keys combine. */
typedef struct {
    char g_all[VST_NAME_TOKENS_MAX * VST_NAME_TOKEN_MAX + 1];
    char f_all[VST_NAME_TOKENS_MAX * VST_NAME_TOKEN_MAX + 1];
    char phi_g[2 * VST_NAME_TOKEN_MAX + 1], phi_f[2 * VST_NAME_TOKEN_MAX + 1];
    char phi_b[2 * VST_NAME_TOKEN_MAX + 1];
    char yyyy[5], mm[3], dd[3], sex[2];
} fields;

static int tokens_ok(const vst_name_tokens *t, uint8_t min)
{
    if (t->n < min || t->n > VST_NAME_TOKENS_MAX)
        return 0;
    for (uint8_t i = 0; i < t->n; i++) {
        if (t->len[i] < 1 || t->len[i] > VST_NAME_TOKEN_MAX ||
            strnlen(t->tok[i], VST_NAME_TOKEN_MAX + 1) != t->len[i])
            return 0;
        for (uint8_t j = 0; j < t->len[i]; j++)
            if (t->tok[i][j] < 'A' || t->tok[i][j] > 'Z')
                return 0;
    }
    return 1;
}

/* The person's form only (codec_link.c decided the date is a calendar
 * date): tokens of A-Z, eight digits, a known sex. */
static int person_ok(const vst_person *p)
{
    if (!tokens_ok(&p->given, 1) || !tokens_ok(&p->family, 1) || !tokens_ok(&p->birth, 0))
        return 0;
    if (strnlen(p->date, sizeof p->date) != 8)
        return 0;
    for (int i = 0; i < 8; i++)
        if (p->date[i] < '0' || p->date[i] > '9')
            return 0;
    return p->sex == 'M' || p->sex == 'W' || p->sex == 'D' || p->sex == 'X';
}

static void concat(const vst_name_tokens *t, char *out)
{
    size_t n = 0;
    for (uint8_t i = 0; i < t->n; i++) {
        memcpy(out + n, t->tok[i], t->len[i]);
        n += t->len[i];
    }
    out[n] = '\0';
}

static int fields_of(const vst_person *p, fields *f)
{
    if (!person_ok(p))
        return -1;
    concat(&p->given, f->g_all);
    concat(&p->family, f->f_all);
    const vst_name_tokens *b = p->birth.n > 0 ? &p->birth : &p->family;
    if (vst_cologne(p->given.tok[0], p->given.len[0], f->phi_g, sizeof f->phi_g) == (size_t)-1 ||
        vst_cologne(p->family.tok[0], p->family.len[0], f->phi_f, sizeof f->phi_f) == (size_t)-1 ||
        vst_cologne(b->tok[0], b->len[0], f->phi_b, sizeof f->phi_b) == (size_t)-1)
        return -1;
    memcpy(f->yyyy, p->date, 4);
    f->yyyy[4] = '\0';
    memcpy(f->mm, p->date + 4, 2);
    f->mm[2] = '\0';
    memcpy(f->dd, p->date + 6, 2);
    f->dd[2] = '\0';
    f->sex[0] = p->sex;
    f->sex[1] = '\0';
    return 0;
}

/* The field lists of the keys, NULL-terminated (at most 6 fields). */
static size_t key_fields(unsigned k, const fields *f, const char *date, const char *out[7])
{
    const char *lo_gf = strcmp(f->phi_g, f->phi_f) <= 0 ? f->phi_g : f->phi_f;
    const char *hi_gf = lo_gf == f->phi_g ? f->phi_f : f->phi_g;
    const char *lo_md = strcmp(f->mm, f->dd) <= 0 ? f->mm : f->dd;
    const char *hi_md = lo_md == f->mm ? f->dd : f->mm;
    const char *const lists[VST_LINK_NKEYS][7] = {
        {f->g_all, f->f_all, date, f->sex, NULL},
        {f->phi_g, f->phi_f, date, f->sex, NULL},
        {lo_gf, hi_gf, date, NULL},
        {f->phi_g, f->phi_f, f->yyyy, lo_md, hi_md, f->sex, NULL},
        {f->phi_g, f->phi_f, f->mm, f->dd, f->sex, NULL},
        {f->phi_g, f->phi_b, date, NULL},
    };
    size_t n = 0;
    while (lists[k][n] != NULL) {
        out[n] = lists[k][n];
        n++;
    }
    out[n] = NULL;
    return n;
}

/* "vst/cv/1" 0x1F name 0x1F f1 0x1F f2 ... into buf; 0 if it does not fit. */
static size_t build_input(unsigned k, const fields *f, const char *date, uint8_t *buf, size_t cap)
{
    const char *list[7];
    key_fields(k, f, date, list);
    size_t n = 0;
    const char *name = vst_link_key_name(k);
    size_t need = strlen(VST_LINK_LABEL) + 1 + strlen(name);
    for (size_t i = 0; list[i] != NULL; i++)
        need += 1 + strlen(list[i]);
    if (need > cap)
        return 0;
    memcpy(buf, VST_LINK_LABEL, strlen(VST_LINK_LABEL));
    n = strlen(VST_LINK_LABEL);
    buf[n++] = VST_LINK_SEP;
    memcpy(buf + n, name, strlen(name));
    n += strlen(name);
    for (size_t i = 0; list[i] != NULL; i++) {
        buf[n++] = VST_LINK_SEP;
        memcpy(buf + n, list[i], strlen(list[i]));
        n += strlen(list[i]);
    }
    return n;
}

size_t vst_link_input(unsigned k, const vst_person *p, uint8_t *buf, size_t cap)
{
    fields f;
    size_t n = 0;
    if (k < VST_LINK_NKEYS && p != NULL && buf != NULL && fields_of(p, &f) == 0)
        n = build_input(k, &f, p->date, buf, cap);
    OPENSSL_cleanse(&f, sizeof f);
    return n;
}

static void hmac16(const vst_link_key *lk, const uint8_t *msg, size_t len, uint8_t out[16])
{
    SHA256_CTX c = lk->inner;
    uint8_t h[SHA256_DIGEST_LENGTH];
    SHA256_Update(&c, msg, len);
    SHA256_Final(h, &c);
    c = lk->outer;
    SHA256_Update(&c, h, sizeof h);
    SHA256_Final(h, &c);
    memcpy(out, h, VST_CV_LEN);
    OPENSSL_cleanse(h, sizeof h);
    OPENSSL_cleanse(&c, sizeof c);
}

int vst_link_inner(const vst_link_key *lk, const vst_person *p, uint8_t out[VST_CV_RECORD_LEN])
{
    fields f;
    uint8_t in[VST_LINK_INPUT_MAX];
    int rc = lk != NULL && p != NULL && fields_of(p, &f) == 0 ? 0 : -1;
    for (unsigned k = 0; rc == 0 && k < VST_LINK_NKEYS; k++) {
        size_t n = build_input(k, &f, p->date, in, sizeof in);
        if (n == 0)
            rc = -1;
        else
            hmac16(lk, in, n, out + (size_t)k * VST_CV_LEN);
    }
    OPENSSL_cleanse(&f, sizeof f);
    OPENSSL_cleanse(in, sizeof in);
    if (rc != 0)
        OPENSSL_cleanse(out, VST_CV_RECORD_LEN);
    return rc;
}

/* n records are n * VST_LINK_NKEYS independent AES blocks. */
int vst_link_encrypt(vst_version_key *ck, uint8_t *buf, size_t n)
{
    if (vst_pseudonym_encrypt(ck, buf, buf, n * VST_LINK_NKEYS) == 0)
        return 0;
    OPENSSL_cleanse(buf, n * VST_CV_RECORD_LEN);
    return -1;
}

int vst_link_strip(vst_version_key *ck, uint8_t *buf, size_t n)
{
    if (vst_pseudonym_decrypt(ck, buf, buf, n * VST_LINK_NKEYS) == 0)
        return 0;
    OPENSSL_cleanse(buf, n * VST_CV_RECORD_LEN);
    return -1;
}

int vst_link_rekey(vst_version_key *from, vst_version_key *to, uint8_t *buf, size_t n)
{
    return vst_rekey(from, to, buf, n * VST_LINK_NKEYS);
}

_Static_assert(VST_CV_LEN == VST_PSEUDONYM_LEN, "a control value is one AES block");
