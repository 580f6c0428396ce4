/* The exception list of the keystore (keystore.h, keystore_internal.h has
 * its bytes): entries in secure memory, a table of their domains, the two
 * changes vst-keyd makes (add, turn into withhold) — each resealed as a
 * new generation and rolled back in memory unless the new file is in
 * place — and the list's part of the sealed plaintext. */
#include "keystore_internal.h"

#include <string.h>

#include <openssl/crypto.h>

static vst_ks_status corrupt(const vst_keystore *ks, const char *what, char *err, size_t errlen)
{
    return VST_KS_FAIL(VST_KS_CORRUPT,
                       "keystore %s: " VST_KS_SEALED_FILE
                       " decrypted but its exception list is inconsistent: %s",
                       ks->dir, what);
}

size_t vst_keystore_cases(const vst_keystore *ks, const vst_ks_case **list)
{
    if (list != NULL)
        *list = ks != NULL ? ks->cases : NULL;
    return ks != NULL ? ks->ncases : 0;
}

const char *vst_keystore_case_domain(const vst_keystore *ks, const vst_ks_case *c)
{
    return c->domain < ks->ncase_domains ? ks->case_domains[c->domain] : "";
}

void vst_ks_cases_free(vst_keystore *ks)
{
    vst_ks_sec_free(ks->cases, ks->capcases * sizeof *ks->cases);
    ks->cases = NULL;
    ks->ncases = ks->capcases = 0;
}

/* Room for n entries (a fresh secure block, the old one wiped): 0 when
 * out of memory, nothing changed. */
static int reserve(vst_keystore *ks, size_t n)
{
    if (n <= ks->capcases)
        return 1;
    size_t cap = ks->capcases ? ks->capcases * 2 : 16;
    while (cap < n)
        cap *= 2;
    vst_ks_case *c = vst_ks_sec_zalloc(cap * sizeof *c);
    if (c == NULL)
        return 0;
    if (ks->ncases > 0)
        memcpy(c, ks->cases, ks->ncases * sizeof *c);
    vst_ks_sec_free(ks->cases, ks->capcases * sizeof *ks->cases);
    ks->cases = c;
    ks->capcases = cap;
    return 1;
}

/* The index of domain in the table, added if new: -1 when full. */
static int domain_index(vst_keystore *ks, const char *domain)
{
    for (unsigned i = 0; i < ks->ncase_domains; i++)
        if (strcmp(ks->case_domains[i], domain) == 0)
            return (int)i;
    if (ks->ncase_domains == VST_KS_MAX_CASE_DOMAINS)
        return -1;
    strcpy(ks->case_domains[ks->ncase_domains], domain);
    return (int)ks->ncase_domains++;
}

static int action_ok(const vst_ks_case *c)
{
    return (c->action == VST_CASE_SUBSTITUTE || c->action == VST_CASE_WITHHOLD) &&
           (c->has_secret == 0 || c->has_secret == 1) &&
           (c->action != VST_CASE_SUBSTITUTE || c->has_secret);
}

vst_ks_status vst_keystore_case_add(vst_keystore *ks, const char *domain, const vst_ks_case *c,
                                    char *err, size_t errlen)
{
    if (ks == NULL || domain == NULL || c == NULL || !vst_domain_name_ok(domain) || !action_ok(c))
        return VST_KS_FAIL(VST_KS_INVALID, "keystore case add: invalid argument");
    if (ks->ncases >= VST_KS_MAX_CASES)
        return VST_KS_FAIL(VST_KS_REFUSED, "keystore %s: the exception list is full (%u entries)",
                           ks->dir, VST_KS_MAX_CASES);
    if (!reserve(ks, ks->ncases + 1))
        return VST_KS_FAIL(VST_KS_NOMEM, "keystore %s: out of memory", ks->dir);
    unsigned ndom = ks->ncase_domains;
    int d = domain_index(ks, domain);
    if (d < 0)
        return VST_KS_FAIL(VST_KS_REFUSED, "keystore %s: exceptions in too many domains", ks->dir);
    vst_ks_case *e = &ks->cases[ks->ncases++];
    *e = *c;
    e->domain = (uint8_t)d;
    if (!e->has_secret)
        OPENSSL_cleanse(e->secret, sizeof e->secret);
    int renamed = 0;
    vst_ks_status st = vst_ks_seal_and_write(ks, ks->generation + 1, &renamed, err, errlen);
    if (st != VST_KS_OK && !renamed) {
        OPENSSL_cleanse(e, sizeof *e);
        ks->ncases--;
        ks->ncase_domains = ndom;
        return st;
    }
    ks->generation++; /* in place: memory follows the file */
    return st;
}

vst_ks_status vst_keystore_case_withhold(vst_keystore *ks, size_t i,
                                         const uint8_t case_id[VST_CASE_ID_LEN], int64_t created_us,
                                         char *err, size_t errlen)
{
    if (ks == NULL || case_id == NULL || i >= ks->ncases)
        return VST_KS_FAIL(VST_KS_INVALID, "keystore case withhold: no such entry");
    vst_ks_case *e = &ks->cases[i], was = *e;
    e->action = VST_CASE_WITHHOLD;
    memcpy(e->case_id, case_id, VST_CASE_ID_LEN);
    e->created_us = created_us;
    int renamed = 0;
    vst_ks_status st = vst_ks_seal_and_write(ks, ks->generation + 1, &renamed, err, errlen);
    if (st != VST_KS_OK && !renamed)
        *e = was;
    else
        ks->generation++;
    OPENSSL_cleanse(&was, sizeof was);
    return st;
}

/* ---- the plaintext's part */

size_t vst_ks_cases_len(const vst_keystore *ks)
{
    if (ks->ncases == 0)
        return 0;
    size_t n = 1 + 4;
    for (unsigned i = 0; i < ks->ncase_domains; i++)
        n += 1 + strlen(ks->case_domains[i]);
    for (size_t i = 0; i < ks->ncases; i++)
        n += VST_KS_CASE_META_LEN + (ks->cases[i].has_secret ? VST_CASE_SECRET_LEN : 0);
    return n;
}

int vst_ks_cases_encode(const vst_keystore *ks, vst_wr *w)
{
    if (vst_wr_u8(w, (uint8_t)ks->ncase_domains) != 0)
        return -1;
    for (unsigned i = 0; i < ks->ncase_domains; i++) {
        size_t n = strlen(ks->case_domains[i]);
        if (vst_wr_u8(w, (uint8_t)n) != 0 || vst_wr_put(w, ks->case_domains[i], n) != 0)
            return -1;
    }
    if (vst_wr_u32(w, (uint32_t)ks->ncases) != 0)
        return -1;
    for (size_t i = 0; i < ks->ncases; i++) {
        const vst_ks_case *c = &ks->cases[i];
        uint8_t sl = c->has_secret ? VST_CASE_SECRET_LEN : 0;
        if (vst_wr_u8(w, c->domain) != 0 || vst_wr_put(w, c->inner, VST_INNER_LEN) != 0 ||
            vst_wr_u8(w, c->action) != 0 || vst_wr_put(w, c->case_id, VST_CASE_ID_LEN) != 0 ||
            vst_wr_i64(w, c->created_us) != 0 || vst_wr_u8(w, sl) != 0 ||
            (sl > 0 && vst_wr_put(w, c->secret, sl) != 0))
            return -1;
    }
    return 0;
}

static vst_ks_status parse_domains(vst_keystore *ks, vst_rd *r, char *err, size_t errlen)
{
    uint8_t n;
    if (vst_rd_u8(r, &n) != 0 || n == 0)
        return corrupt(ks, "bad number of domains", err, errlen);
    for (unsigned i = 0; i < n; i++) {
        uint8_t len;
        char name[VST_DOMAIN_MAXLEN + 1];
        if (vst_rd_u8(r, &len) != 0 || len == 0 || len > VST_DOMAIN_MAXLEN ||
            vst_rd_copy(r, name, len) != 0)
            return corrupt(ks, "truncated domain table", err, errlen);
        name[len] = '\0';
        if (strlen(name) != len || !vst_domain_name_ok(name))
            return corrupt(ks, "bad domain name", err, errlen);
        for (unsigned j = 0; j < ks->ncase_domains; j++)
            if (strcmp(ks->case_domains[j], name) == 0)
                return corrupt(ks, "a domain named twice", err, errlen);
        strcpy(ks->case_domains[ks->ncase_domains++], name);
    }
    return VST_KS_OK;
}

static vst_ks_status parse_case(vst_keystore *ks, vst_rd *r, vst_ks_case *c, char *err,
                                size_t errlen)
{
    uint8_t sl;
    if (vst_rd_u8(r, &c->domain) != 0 || vst_rd_copy(r, c->inner, VST_INNER_LEN) != 0 ||
        vst_rd_u8(r, &c->action) != 0 || vst_rd_copy(r, c->case_id, VST_CASE_ID_LEN) != 0 ||
        vst_rd_i64(r, &c->created_us) != 0 || vst_rd_u8(r, &sl) != 0)
        return corrupt(ks, "truncated entry", err, errlen);
    if (c->domain >= ks->ncase_domains)
        return corrupt(ks, "domain index out of range", err, errlen);
    if (sl != 0 && sl != VST_CASE_SECRET_LEN)
        return corrupt(ks, "bad secret length", err, errlen);
    c->has_secret = sl != 0;
    if (!action_ok(c))
        return corrupt(ks, "unknown action or a substitute without a secret", err, errlen);
    if (sl > 0 && vst_rd_copy(r, c->secret, sl) != 0)
        return corrupt(ks, "truncated secret", err, errlen);
    return VST_KS_OK;
}

vst_ks_status vst_ks_cases_parse(vst_keystore *ks, vst_rd *r, char *err, size_t errlen)
{
    vst_ks_status st = parse_domains(ks, r, err, errlen);
    uint32_t n;
    if (st != VST_KS_OK)
        return st;
    if (vst_rd_u32(r, &n) != 0 || n == 0 || n > VST_KS_MAX_CASES)
        return corrupt(ks, "bad number of entries", err, errlen);
    if (!reserve(ks, n))
        return VST_KS_FAIL(VST_KS_NOMEM, "keystore %s: out of memory", ks->dir);
    for (uint32_t i = 0; i < n; i++) {
        st = parse_case(ks, r, &ks->cases[i], err, errlen);
        if (st != VST_KS_OK)
            return st;
        ks->ncases++;
    }
    return VST_KS_OK;
}
