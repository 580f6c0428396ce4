/* The exception list in vst-keyd (DESIGN.md §12, docs/crypto.md
 * "Disclosed pseudonyms and objections"): lookup tables built from the
 * keystore's sealed list at unseal and after every change, the hot-path
 * substitution of PSEUDONYMIZE, RELEASE_MAP's exclusion and the logic of
 * DISCLOSE and OBJECT.
 *
 * Every entry is keyed by a person's inner value I in one domain. Per
 * domain an open-addressing table (linear probing, load <= 1/2) maps the
 * first 8 bytes of I to the entry; a full compare decides. In front of it
 * a one-hash bitmap of at least 16 bits per entry (32 KiB for 10,000
 * entries: it stays in the L1/L2 cache) answers almost every miss — and
 * nearly every identifier is a miss — without touching the table, whose
 * random slots would cost a cache miss each. A domain without an entry has
 * neither, and PSEUDONYMIZE skips the lookup entirely. The reverse table
 * has such a filter too. A substitute's I* = vst_substitute(secret,
 * I) is computed once per entry (append-only list: kept across rebuilds). A substitute may have
 * been disclosed again (its P* linked to the person): its I* then has an
 * entry of its own, and the person's value is the end of that chain
 * (`current`, at most CHAIN_MAX links). A reverse table holds every I and
 * I* of every domain: RELEASE_MAP excludes those, DISCLOSE walks a chain
 * up with it.
 *
 * Fail closed: if a rebuild fails (out of memory), the tables are empty and
 * `broken` makes PSEUDONYMIZE, RELEASE_MAP, DISCLOSE and OBJECT answer
 * `internal` until a rebuild succeeds — never a pseudonym for a withheld
 * person. Inner values, I* and secrets live in secure (or, beyond it,
 * mlocked) memory and are wiped when freed; nothing here is logged. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "keyd/keyd.h"

#define CHAIN_MAX 8 /* a substitute disclosed again, and again: links at most */

typedef struct {
    uint64_t key8; /* the first 8 bytes of the value */
    uint32_t ent;  /* entry index + 1; 0: an empty slot */
} slot;

struct keyd_case_table {
    slot *s;
    size_t mask;    /* capacity - 1; the capacity is a power of 2 >= 2n */
    uint64_t *bits; /* the filter: bit (key8 >> 32) & bmask set for each I */
    size_t bmask;   /* bits - 1; a power of 2 >= 16n */
};

typedef struct {
    uint8_t inner[VST_INNER_LEN];   /* I */
    uint8_t star[VST_INNER_LEN];    /* I*, when has_star */
    uint8_t current[VST_INNER_LEN]; /* the value the person's rows carry */
    uint8_t has_star;
    uint8_t withhold;
    uint8_t domain; /* the keystore's domain index */
} xent;

static struct {
    xent *e; /* parallel to the keystore's list */
    size_t n;
    keyd_case_table dom[VST_KS_MAX_CASE_DOMAINS];
    char name[VST_KS_MAX_CASE_DOMAINS][VST_DOMAIN_MAXLEN + 1];
    size_t ndom;
    keyd_case_table rev; /* every I and I* -> its entry */
    int broken;
} X;

static void *sec_zalloc(size_t n)
{
    void *p = CRYPTO_secure_malloc_initialized() ? OPENSSL_secure_zalloc(n) : NULL;
    return p != NULL ? p : OPENSSL_zalloc(n);
}

static void sec_free(void *p, size_t n)
{
    if (p == NULL)
        return;
    if (CRYPTO_secure_allocated(p))
        OPENSSL_secure_clear_free(p, n);
    else
        OPENSSL_clear_free(p, n);
}

static uint64_t key8(const uint8_t v[VST_INNER_LEN])
{
    uint64_t k;
    memcpy(&k, v, sizeof k);
    return k;
}

/* ---- tables */

static int table_init(keyd_case_table *t, size_t n)
{
    size_t cap = 16, bits = 512;
    while (cap < 2 * n)
        cap <<= 1;
    while (bits < 16 * n)
        bits <<= 1;
    if ((t->s = sec_zalloc(cap * sizeof *t->s)) == NULL)
        return -1;
    t->mask = cap - 1;
    if ((t->bits = sec_zalloc(bits / 8)) == NULL)
        return -1;
    t->bmask = bits - 1;
    return 0;
}

static void table_free(keyd_case_table *t)
{
    if (t->s != NULL)
        sec_free(t->s, (t->mask + 1) * sizeof *t->s);
    if (t->bits != NULL)
        sec_free(t->bits, (t->bmask + 1) / 8);
    memset(t, 0, sizeof *t);
}

static void table_put(keyd_case_table *t, const uint8_t v[VST_INNER_LEN], size_t ent)
{
    uint64_t k = key8(v);
    size_t i = (size_t)k & t->mask;
    while (t->s[i].ent != 0)
        i = (i + 1) & t->mask;
    t->s[i] = (slot){k, (uint32_t)ent + 1};
    size_t b = (size_t)(k >> 32) & t->bmask;
    t->bits[b / 64] |= (uint64_t)1 << (b % 64);
}

/* 0 if t certainly has no entry for v (the filter's bit is clear). */
static inline int maybe(const keyd_case_table *t, const uint8_t v[VST_INNER_LEN])
{
    size_t b = (size_t)(key8(v) >> 32) & t->bmask;
    return (int)(t->bits[b / 64] >> (b % 64) & 1);
}

/* The entry whose I is v in t's domain, or NULL. */
static const xent *find_inner(const keyd_case_table *t, const uint8_t v[VST_INNER_LEN])
{
    uint64_t k = key8(v);
    if (!maybe(t, v))
        return NULL; /* certainly none */
    for (size_t i = (size_t)k & t->mask;; i = (i + 1) & t->mask) {
        const slot *s = &t->s[i];
        if (s->ent == 0)
            return NULL;
        if (s->key8 == k && memcmp(X.e[s->ent - 1].inner + 8, v + 8, VST_INNER_LEN - 8) == 0)
            return &X.e[s->ent - 1];
    }
}

/* The entry whose I or I* is v (in domain d, or any when d < 0); *is_star
 * says which. NULL when none. */
static const xent *find_rev(const uint8_t v[VST_INNER_LEN], int d, int *is_star)
{
    if (X.rev.s == NULL)
        return NULL;
    uint64_t k = key8(v);
    size_t b = (size_t)(k >> 32) & X.rev.bmask;
    if (!(X.rev.bits[b / 64] >> (b % 64) & 1))
        return NULL;
    for (size_t i = (size_t)k & X.rev.mask;; i = (i + 1) & X.rev.mask) {
        const slot *s = &X.rev.s[i];
        if (s->ent == 0)
            return NULL;
        const xent *e = &X.e[s->ent - 1];
        if (s->key8 != k || (d >= 0 && e->domain != d))
            continue;
        if (memcmp(e->inner, v, VST_INNER_LEN) == 0 ||
            (e->has_star && memcmp(e->star, v, VST_INNER_LEN) == 0)) {
            *is_star = memcmp(e->inner, v, VST_INNER_LEN) != 0;
            return e;
        }
    }
}

static void drop(void)
{
    for (size_t i = 0; i < X.ndom; i++)
        table_free(&X.dom[i]);
    table_free(&X.rev);
    sec_free(X.e, X.n * sizeof *X.e);
    X.e = NULL;
    X.n = X.ndom = 0;
}

void keyd_cases_free(void)
{
    drop();
    X.broken = 0;
}

/* ---- building */

/* The entries from the keystore's list; I* computed for new ones only. */
static xent *entries(const vst_ks_case *c, size_t n)
{
    xent *e = sec_zalloc(n * sizeof *e);
    for (size_t i = 0; e != NULL && i < n; i++) {
        memcpy(e[i].inner, c[i].inner, VST_INNER_LEN);
        e[i].domain = c[i].domain;
        e[i].withhold = c[i].action == VST_CASE_WITHHOLD;
        e[i].has_star = c[i].has_secret;
        if (!e[i].has_star)
            continue;
        if (i < X.n && X.e[i].has_star && memcmp(X.e[i].inner, c[i].inner, VST_INNER_LEN) == 0)
            memcpy(e[i].star, X.e[i].star, VST_INNER_LEN);
        else if (vst_substitute(c[i].secret, c[i].inner, e[i].star) != 0) {
            sec_free(e, n * sizeof *e);
            return NULL;
        }
    }
    return e;
}

/* Per-domain and reverse tables over X.e; -1 on a duplicate (domain, I)
 * or out of memory. */
static int index_entries(void)
{
    size_t per[VST_KS_MAX_CASE_DOMAINS] = {0}, values = 0;
    for (size_t i = 0; i < X.n; i++) {
        per[X.e[i].domain]++;
        values += 1 + X.e[i].has_star;
        if (X.e[i].domain >= X.ndom)
            X.ndom = X.e[i].domain + 1u;
    }
    for (size_t d = 0; d < X.ndom; d++)
        if (per[d] > 0 && table_init(&X.dom[d], per[d]) != 0)
            return -1;
    if (X.n > 0 && table_init(&X.rev, values) != 0)
        return -1;
    for (size_t i = 0; i < X.n; i++) {
        const xent *e = &X.e[i];
        if (find_inner(&X.dom[e->domain], e->inner) != NULL) {
            keyd_log("error", "the exception list has two entries for one person and domain");
            return -1;
        }
        table_put(&X.dom[e->domain], e->inner, i);
        table_put(&X.rev, e->inner, i);
        if (e->has_star)
            table_put(&X.rev, e->star, i);
    }
    return 0;
}

/* What each person's rows carry: I, or the end of the substitute chain
 * that starts at I*. */
static void follow_chains(void)
{
    for (size_t i = 0; i < X.n; i++) {
        xent *e = &X.e[i];
        const uint8_t *v = e->has_star ? e->star : e->inner;
        for (int depth = 1; e->has_star && depth < CHAIN_MAX; depth++) {
            const xent *f = find_inner(&X.dom[e->domain], v);
            if (f == NULL || !f->has_star)
                break;
            v = f->star;
        }
        memcpy(e->current, v, VST_INNER_LEN);
    }
}

int keyd_cases_load(const vst_keystore *ks)
{
    const vst_ks_case *c;
    size_t n = vst_keystore_cases(ks, &c);
    xent *e = n > 0 ? entries(c, n) : NULL;
    drop();
    X.broken = 1;
    if (n > 0 && e == NULL)
        return -1;
    X.e = e;
    X.n = n;
    for (size_t d = 0; d < VST_KS_MAX_CASE_DOMAINS; d++) {
        vst_ks_case probe = {.domain = (uint8_t)d};
        snprintf(X.name[d], sizeof X.name[d], "%s", vst_keystore_case_domain(ks, &probe));
    }
    if (index_entries() != 0) {
        drop();
        return -1;
    }
    follow_chains();
    X.broken = 0;
    return 0;
}

/* ---- the hot path, RELEASE_MAP */

int keyd_cases_broken(void)
{
    return X.broken;
}

const keyd_case_table *keyd_cases_table(const char *domain)
{
    for (size_t d = 0; d < X.ndom; d++)
        if (X.dom[d].s != NULL && strcmp(X.name[d], domain) == 0)
            return &X.dom[d];
    return NULL;
}

/* The list on n inner values (in place); indices from base. */
static uint32_t apply(const keyd_case_table *t, uint8_t *vals, uint32_t n, uint32_t base,
                      uint32_t *withheld)
{
    uint32_t nw = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *v = vals + (size_t)i * VST_INNER_LEN;
        if (!maybe(t, v)) /* nearly every identifier: no call, no table */
            continue;
        const xent *e = find_inner(t, v);
        if (e == NULL)
            continue;
        if (e->withhold)
            withheld[nw++] = base + i;
        else
            memcpy(v, e->current, VST_INNER_LEN);
    }
    return nw;
}

/* Identifiers per chunk: their inner values are looked up while they are
 * still in the L1 cache (a batch's 1 MiB of them would not be). */
#define CHUNK 256

uint32_t keyd_cases_derive(const vst_domain_key *dk, const keyd_case_table *t, const uint8_t *ids,
                           uint8_t id_len, uint32_t n, uint8_t *out, uint32_t *withheld)
{
    uint32_t nw = 0;
    for (uint32_t lo = 0; lo < n; lo += CHUNK) {
        uint32_t m = n - lo < CHUNK ? n - lo : CHUNK;
        for (uint32_t i = lo; i < lo + m; i++)
            vst_inner_value(dk, (const char *)ids + (size_t)i * id_len, id_len,
                            out + (size_t)i * VST_INNER_LEN);
        if (t != NULL)
            nw += apply(t, out + (size_t)lo * VST_INNER_LEN, m, lo, withheld + nw);
    }
    return nw;
}

int keyd_cases_any(void)
{
    return X.n > 0;
}

int keyd_cases_excluded(const uint8_t v[VST_INNER_LEN])
{
    int is_star;
    return find_rev(v, -1, &is_star) != NULL;
}

/* ---- DISCLOSE, OBJECT */

/* After a change of the list was tried: memory follows the file (a write
 * that failed before its rename changed nothing), so the tables are
 * rebuilt either way. 0, case_limit or internal. */
static unsigned written(vst_ks_status st, const char *err)
{
    if (st != VST_KS_OK)
        keyd_log("error", "exception list: %s", err);
    keyd_keys_written();
    if (keyd_cases_load(keyd_keystore()) != 0) {
        keyd_log("error", "exception list: rebuilding the lookup tables failed; serving no "
                          "pseudonyms until the next change or a restart");
        return VST_KERR_INTERNAL;
    }
    if (st == VST_KS_REFUSED)
        return VST_KERR_CASE_LIMIT;
    return st == VST_KS_OK ? 0 : VST_KERR_INTERNAL;
}

static unsigned store_add(const char *domain, const vst_ks_case *c)
{
    char err[256] = "";
    return written(vst_keystore_case_add(keyd_keystore(), domain, c, err, sizeof err), err);
}

static unsigned store_withhold(size_t i, const uint8_t id[VST_CASE_ID_LEN], int64_t us)
{
    char err[256] = "";
    return written(vst_keystore_case_withhold(keyd_keystore(), i, id, us, err, sizeof err), err);
}

static int domain_index(const char *domain)
{
    for (size_t d = 0; d < X.ndom; d++)
        if (X.dom[d].s != NULL && strcmp(X.name[d], domain) == 0)
            return (int)d;
    return -1;
}

/* An entry's case as an answer. */
static void answer(const xent *e, int existed, int object, keyd_case_result *out)
{
    const vst_ks_case *c;
    vst_keystore_cases(keyd_keystore(), &c);
    memcpy(out->case_id, c[e - X.e].case_id, VST_CASE_ID_LEN);
    out->existed = existed;
    memcpy(out->p_inner, object ? e->current : e->inner, VST_INNER_LEN);
    memcpy(out->star_inner, object ? e->current : e->star, VST_INNER_LEN);
}

/* A new substitute below inner's chain: refused when an ancestor is
 * withheld or the chain would grow beyond CHAIN_MAX. */
static unsigned chain_check(int d, const uint8_t inner[VST_INNER_LEN])
{
    const uint8_t *v = inner;
    int depth = 1, is_star = 0;
    const xent *p;
    while (d >= 0 && (p = find_rev(v, d, &is_star)) != NULL && is_star) {
        if (p->withhold)
            return VST_KERR_WITHHELD;
        if (++depth > CHAIN_MAX)
            return VST_KERR_CASE_LIMIT;
        v = p->inner;
    }
    return 0;
}

unsigned keyd_case_disclose(const char *domain, const uint8_t inner[VST_INNER_LEN],
                            keyd_case_result *out)
{
    if (X.broken)
        return VST_KERR_INTERNAL;
    int d = domain_index(domain);
    const xent *e = d >= 0 ? find_inner(&X.dom[d], inner) : NULL;
    if (e != NULL && e->withhold)
        return VST_KERR_WITHHELD;
    if (e != NULL) {
        answer(e, 1, 0, out); /* a re-run: the same case */
        return 0;
    }
    unsigned rc = chain_check(d, inner);
    if (rc != 0)
        return rc;
    vst_ks_case c = {.action = VST_CASE_SUBSTITUTE, .has_secret = 1, .created_us = keyd_wall_us()};
    memcpy(c.inner, inner, VST_INNER_LEN);
    if (RAND_bytes(c.case_id, VST_CASE_ID_LEN) != 1 ||
        RAND_priv_bytes(c.secret, VST_CASE_SECRET_LEN) != 1)
        rc = VST_KERR_INTERNAL;
    if (rc == 0)
        rc = store_add(domain, &c);
    if (rc == 0 && (d = domain_index(domain)) >= 0 && (e = find_inner(&X.dom[d], inner)) != NULL)
        answer(e, 0, 0, out);
    else if (rc == 0)
        rc = VST_KERR_INTERNAL;
    OPENSSL_cleanse(&c, sizeof c);
    return rc;
}

unsigned keyd_case_object(const char *domain, const uint8_t inner[VST_INNER_LEN],
                          keyd_case_result *out)
{
    if (X.broken)
        return VST_KERR_INTERNAL;
    int d = domain_index(domain);
    const xent *e = d >= 0 ? find_inner(&X.dom[d], inner) : NULL;
    if (e != NULL && e->withhold) {
        answer(e, 1, 1, out); /* a re-run: the same case */
        return 0;
    }
    uint8_t id[VST_CASE_ID_LEN];
    if (RAND_bytes(id, sizeof id) != 1)
        return VST_KERR_INTERNAL;
    unsigned rc;
    if (e != NULL) { /* a disclosed person objects: the substitute becomes a withhold */
        rc = store_withhold((size_t)(e - X.e), id, keyd_wall_us());
    } else {
        vst_ks_case c = {.action = VST_CASE_WITHHOLD, .created_us = keyd_wall_us()};
        memcpy(c.inner, inner, VST_INNER_LEN);
        memcpy(c.case_id, id, sizeof id);
        rc = store_add(domain, &c);
        OPENSSL_cleanse(&c, sizeof c);
    }
    if (rc == 0 && (d = domain_index(domain)) >= 0 && (e = find_inner(&X.dom[d], inner)) != NULL)
        answer(e, 0, 1, out);
    else if (rc == 0)
        rc = VST_KERR_INTERNAL;
    return rc;
}
