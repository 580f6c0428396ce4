/* keyd's usage report: its signed bytes (written with core/buf.h) and its
 * JSON form; see usage.h. keyd builds both from one struct and vst-audit
 * parses the JSON back into that struct and rebuilds the bytes, so the two
 * cannot drift apart. */
#include "core/usage.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/hex.h"

static const char *const sock_names[] = {
    [VST_USAGE_SOCK_DATA] = "data", [VST_USAGE_SOCK_ADMIN] = "admin"};
static const char *const op_names[] = {[VST_USAGE_OP_PSEUDONYMIZE] = "pseudonymize",
                                       [VST_USAGE_OP_REKEY] = "rekey",
                                       [VST_USAGE_OP_SIGN_RECEIPT] = "sign_receipt",
                                       [VST_USAGE_OP_SIGN_CHECKPOINT] = "sign_checkpoint",
                                       [VST_USAGE_OP_SIGN_REPORT] = "sign_report",
                                       [VST_USAGE_OP_RELEASE_MAP] = "release_map",
                                       [VST_USAGE_OP_DISCLOSE] = "disclose",
                                       [VST_USAGE_OP_OBJECT] = "object",
                                       [VST_USAGE_OP_DERIVE_CV] = "derive_cv",
                                       [VST_USAGE_OP_OVERLAP] = "overlap",
                                       [VST_USAGE_OP_CV_REKEY] = "cv_rekey"};

const char *vst_usage_sock_name(uint8_t sock)
{
    return sock >= 1 && sock <= VST_USAGE_SOCK_ADMIN ? sock_names[sock] : NULL;
}

const char *vst_usage_op_name(uint8_t op)
{
    return op >= 1 && op < sizeof op_names / sizeof op_names[0] ? op_names[op] : NULL;
}

static int entry_ok(const vst_usage_entry *e)
{
    size_t dl = strnlen(e->domain, sizeof e->domain);
    if (dl == sizeof e->domain || vst_usage_sock_name(e->sock) == NULL ||
        vst_usage_op_name(e->op) == NULL)
        return 0;
    int has_domain = e->op == VST_USAGE_OP_PSEUDONYMIZE || e->op == VST_USAGE_OP_DERIVE_CV;
    if (has_domain ? !vst_domain_name_ok(e->domain) : dl != 0)
        return 0;
    return e->total <= INT64_MAX && e->count <= e->total && e->slack <= e->total;
}

int vst_usage_ok(const vst_usage *u)
{
    if (u == NULL || u->n == 0 || u->n > VST_USAGE_MAX_ENTRIES || u->seq == 0 ||
        u->seq > INT64_MAX || u->from_us > u->to_us)
        return 0;
    for (size_t i = 0; i < u->n; i++)
        if (!entry_ok(&u->e[i]))
            return 0;
    return 1;
}

static int entry_put(vst_wr *w, const vst_usage_entry *e)
{
    return vst_wr_u8(w, e->sock) || vst_wr_u32(w, e->uid) || vst_wr_u8(w, e->op) ||
           vst_wr_str8(w, e->domain, strlen(e->domain)) || vst_wr_u64(w, e->count) ||
           vst_wr_u64(w, e->total) || vst_wr_u64(w, e->slack);
}

/* A fixed writer over out: an entry beyond VST_USAGE_ENTRY_MAX would fail
 * the encoding, not overrun out. */
size_t vst_usage_tbs(const vst_usage *u, uint8_t out[VST_USAGE_TBS_MAX])
{
    if (!vst_usage_ok(u))
        return 0;
    vst_wr w;
    vst_wr_init_fixed(&w, out, VST_USAGE_TBS_MAX);
    int rc = vst_wr_put(&w, VST_USAGE_PREFIX, sizeof VST_USAGE_PREFIX) || vst_wr_u64(&w, u->seq) ||
             vst_wr_i64(&w, u->from_us) || vst_wr_i64(&w, u->to_us) ||
             vst_wr_u16(&w, (uint16_t)u->n);
    for (size_t i = 0; rc == 0 && i < u->n; i++)
        rc = entry_put(&w, &u->e[i]);
    return rc == 0 ? vst_wr_len(&w) : 0;
}

int vst_usage_verify(const uint8_t pub[VST_ED25519_PUB_LEN], const vst_usage *u,
                     const uint8_t sig[VST_ED25519_SIG_LEN])
{
    uint8_t tbs[VST_USAGE_TBS_MAX];
    size_t n = vst_usage_tbs(u, tbs);
    return n != 0 && vst_ed25519_verify(pub, tbs, n, sig);
}

size_t vst_usage_json(const vst_usage *u, const uint8_t key_id[VST_SHA256_LEN],
                      const uint8_t sig[VST_ED25519_SIG_LEN], char *out, size_t cap)
{
    if (!vst_usage_ok(u) || out == NULL)
        return 0;
    char kid[2 * VST_SHA256_LEN + 1], sg[2 * VST_ED25519_SIG_LEN + 1];
    vst_hex(key_id, VST_SHA256_LEN, kid);
    vst_hex(sig, VST_ED25519_SIG_LEN, sg);
    json_t *entries = json_array();
    for (size_t i = 0; entries != NULL && i < u->n; i++) {
        const vst_usage_entry *e = &u->e[i];
        if (json_array_append_new(
                entries, json_pack("{s:s, s:I, s:s, s:s, s:I, s:I, s:I}", "socket",
                                   vst_usage_sock_name(e->sock), "uid", (json_int_t)e->uid, "op",
                                   vst_usage_op_name(e->op), "domain", e->domain, "count",
                                   (json_int_t)e->count, "total", (json_int_t)e->total, "slack",
                                   (json_int_t)e->slack)) != 0) {
            json_decref(entries);
            entries = NULL;
        }
    }
    if (entries == NULL)
        return 0;
    /* "o" steals entries, also when json_pack fails. */
    json_t *j = json_pack("{s:I, s:I, s:I, s:o, s:s, s:s}", "usage_seq", (json_int_t)u->seq,
                          "from_us", (json_int_t)u->from_us, "to_us", (json_int_t)u->to_us,
                          "entries", entries, "key_id", kid, "signature", sg);
    if (j == NULL)
        return 0;
    /* Compact and in insertion order: the same text vst-audit has always
     * read (and parses back with vst_usage_parse). */
    size_t need = json_dumpb(j, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t n =
        need != 0 && need < cap ? json_dumpb(j, out, cap, JSON_COMPACT | JSON_PRESERVE_ORDER) : 0;
    json_decref(j);
    if (n == 0 || n != need)
        return 0;
    out[n] = '\0';
    return n;
}

/* A JSON integer in 0..max. */
static int get_uint(const json_t *o, const char *key, uint64_t max, uint64_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_hex(const json_t *o, const char *key, uint8_t *out, size_t n)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL && strlen(s) == 2 * n ? vst_unhex(s, n, out) : -1;
}

static int name_index(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 1; s != NULL && i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}

static int parse_entry(const json_t *j, vst_usage_entry *e)
{
    if (!json_is_object(j) || json_object_size(j) != 7)
        return -1;
    int s = name_index(json_string_value(json_object_get(j, "socket")), sock_names,
                       sizeof sock_names / sizeof sock_names[0]);
    int op = name_index(json_string_value(json_object_get(j, "op")), op_names,
                        sizeof op_names / sizeof op_names[0]);
    const char *d = json_string_value(json_object_get(j, "domain"));
    uint64_t uid;
    if (s < 0 || op < 0 || d == NULL || strlen(d) > VST_DOMAIN_MAXLEN ||
        get_uint(j, "uid", UINT32_MAX, &uid) != 0 || get_uint(j, "count", INT64_MAX, &e->count) ||
        get_uint(j, "total", INT64_MAX, &e->total) || get_uint(j, "slack", INT64_MAX, &e->slack))
        return -1;
    e->sock = (uint8_t)s;
    e->op = (uint8_t)op;
    e->uid = (uint32_t)uid;
    snprintf(e->domain, sizeof e->domain, "%s", d);
    return 0;
}

int vst_usage_parse(const json_t *j, vst_usage *u, uint8_t key_id[VST_SHA256_LEN],
                    uint8_t sig[VST_ED25519_SIG_LEN])
{
    memset(u, 0, sizeof *u);
    const json_t *ent = json_object_get(j, "entries");
    uint64_t seq, from, to;
    if (!json_is_object(j) || json_object_size(j) != 6 || !json_is_array(ent) ||
        json_array_size(ent) == 0 || json_array_size(ent) > VST_USAGE_MAX_ENTRIES ||
        get_uint(j, "usage_seq", INT64_MAX, &seq) || get_uint(j, "from_us", INT64_MAX, &from) ||
        get_uint(j, "to_us", INT64_MAX, &to) || get_hex(j, "key_id", key_id, VST_SHA256_LEN) ||
        get_hex(j, "signature", sig, VST_ED25519_SIG_LEN))
        return -1;
    u->seq = seq;
    u->from_us = (int64_t)from;
    u->to_us = (int64_t)to;
    u->n = json_array_size(ent);
    for (size_t i = 0; i < u->n; i++)
        if (parse_entry(json_array_get(ent, i), &u->e[i]) != 0)
            return -1;
    return vst_usage_ok(u) ? 0 : -1;
}
