/* The receipt JSON document; see receipt_json.h and docs/audit.md. */
#include "audit/receipt_json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hex.h"
#include "core/civil_time.h"

/* ---- build ---------------------------------------------------------------- */

char *vst_receipt_json_build(const vst_receipt_fields *f, const uint8_t sig[VST_ED25519_SIG_LEN],
                             const uint8_t *public_key)
{
    char recv[VST_TIME_TEXT_LEN + 1], stor[VST_TIME_TEXT_LEN + 1];
    if (f == NULL || sig == NULL || !vst_receipt_fields_ok(f) || f->record_count > INT64_MAX ||
        f->withheld_count > INT64_MAX || f->audit_seq == 0 || f->audit_seq > INT64_MAX ||
        f->stored_at_us < f->received_at_us || vst_time_format_us(f->received_at_us, recv) != 0 ||
        vst_time_format_us(f->stored_at_us, stor) != 0)
        return NULL;
    char body[2 * VST_SHA256_LEN + 1], sg[2 * VST_ED25519_SIG_LEN + 1],
        pk[2 * VST_ED25519_PUB_LEN + 1];
    vst_hex(f->body_sha256, VST_SHA256_LEN, body);
    vst_hex(sig, VST_ED25519_SIG_LEN, sg);
    /* "withheld_count" right after "record_count", in v2 only ("o*": a
     * NULL value leaves the member out). */
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:I, s:o*, s:s, s:I, s:s, s:s, s:I, s:s}", "delivery_id",
                  f->delivery_id, "client", f->client, "profile", f->profile, "record_count",
                  (json_int_t)f->record_count, "withheld_count",
                  f->version == VST_RECEIPT_V2 ? json_integer((json_int_t)f->withheld_count) : NULL,
                  "body_sha256", body, "key_version", (json_int_t)f->key_version, "received_at",
                  recv, "stored_at", stor, "audit_seq", (json_int_t)f->audit_seq, "signature", sg);
    if (o != NULL && public_key != NULL) {
        vst_hex(public_key, VST_ED25519_PUB_LEN, pk);
        if (json_object_set_new(o, "public_key", json_string(pk)) != 0) {
            json_decref(o);
            o = NULL;
        }
    }
    /* The members in the documented order, compact, on one line; in a
     * plain malloc'd buffer (the caller frees it with free(), while
     * jansson's own strings come from vstcore's wiping allocator). */
    char *out = o ? malloc(VST_RECEIPT_JSON_MAX) : NULL;
    size_t n =
        out ? json_dumpb(o, out, VST_RECEIPT_JSON_MAX - 1, JSON_COMPACT | JSON_PRESERVE_ORDER) : 0;
    json_decref(o);
    if (n == 0 || n > VST_RECEIPT_JSON_MAX - 1) {
        free(out);
        return NULL;
    }
    out[n] = '\0';
    return out;
}

/* ---- parse ---------------------------------------------------------------- */

enum {
    M_DELIVERY_ID,
    M_CLIENT,
    M_PROFILE,
    M_RECORD_COUNT,
    M_WITHHELD_COUNT,
    M_BODY_SHA256,
    M_KEY_VERSION,
    M_RECEIVED_AT,
    M_STORED_AT,
    M_AUDIT_SEQ,
    M_SIGNATURE,
    M_PUBLIC_KEY,
    M__COUNT
};
static const char *const member_names[M__COUNT] = {
    "delivery_id", "client",      "profile",   "record_count", "withheld_count", "body_sha256",
    "key_version", "received_at", "stored_at", "audit_seq",    "signature",      "public_key",
};

static int fail(char *err, size_t errlen, const char *fmt, const char *name)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, name);
    return -1;
}

static int get_str(json_t *v, const char **s, size_t *n)
{
    if (!json_is_string(v))
        return -1;
    *s = json_string_value(v);
    *n = json_string_length(v);
    return 0;
}

static int get_uint(json_t *v, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!json_is_integer(v))
        return -1;
    json_int_t i = json_integer_value(v);
    if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
        return -1;
    *out = (uint64_t)i;
    return 0;
}

static int copy_name(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap || memchr(s, '\0', n) != NULL)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

/* The members of root into m[] by name: every one known, all but
 * public_key and withheld_count (absent in a v1 receipt) present. 0, or
 * -1 with a message. */
static int collect_members(json_t *root, json_t *m[M__COUNT], char *err, size_t errlen)
{
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        size_t i = 0;
        while (i < M__COUNT && strcmp(key, member_names[i]) != 0)
            i++;
        if (i == M__COUNT) /* The key itself may be anything: do not echo it. */
            return fail(err, errlen, "%s", "receipt has a member that is not part of the format");
        m[i] = val;
    }
    for (size_t i = 0; i < M__COUNT; i++)
        if (m[i] == NULL && i != M_PUBLIC_KEY && i != M_WITHHELD_COUNT)
            return fail(err, errlen, "receipt lacks \"%s\"", member_names[i]);
    return 0;
}

static int read_names(json_t *const m[M__COUNT], vst_receipt_fields *f, char *err, size_t errlen)
{
    const char *s;
    size_t n;
    if (get_str(m[M_DELIVERY_ID], &s, &n) || !vst_delivery_id_ok(s, n) ||
        copy_name(f->delivery_id, sizeof f->delivery_id, s, n))
        return fail(err, errlen, "receipt: \"%s\" is not a valid delivery id", "delivery_id");
    if (get_str(m[M_CLIENT], &s, &n) || !vst_client_name_ok(s, n) ||
        copy_name(f->client, sizeof f->client, s, n))
        return fail(err, errlen, "receipt: \"%s\" is not a valid client name", "client");
    if (get_str(m[M_PROFILE], &s, &n) || !vst_profile_name_ok(s, n) ||
        copy_name(f->profile, sizeof f->profile, s, n))
        return fail(err, errlen, "receipt: \"%s\" is not a valid profile name", "profile");
    return 0;
}

static int read_values(json_t *const m[M__COUNT], vst_receipt_fields *f, char *err, size_t errlen)
{
    const char *s;
    size_t n;
    uint64_t u;
    if (get_uint(m[M_RECORD_COUNT], 0, INT64_MAX, &f->record_count))
        return fail(err, errlen, "receipt: \"%s\" is not an integer 0..2^63-1", "record_count");
    f->version = m[M_WITHHELD_COUNT] != NULL ? VST_RECEIPT_V2 : VST_RECEIPT_V1;
    f->withheld_count = 0;
    if (m[M_WITHHELD_COUNT] != NULL &&
        get_uint(m[M_WITHHELD_COUNT], 0, INT64_MAX, &f->withheld_count))
        return fail(err, errlen, "receipt: \"%s\" is not an integer 0..2^63-1", "withheld_count");
    if (get_str(m[M_BODY_SHA256], &s, &n) || vst_unhex_lower(s, n, f->body_sha256, VST_SHA256_LEN))
        return fail(err, errlen, "receipt: \"%s\" is not 64 lower-case hex digits", "body_sha256");
    if (get_uint(m[M_KEY_VERSION], 1, UINT32_MAX, &u))
        return fail(err, errlen, "receipt: \"%s\" is not an integer 1..2^32-1", "key_version");
    f->key_version = (uint32_t)u;
    if (get_str(m[M_RECEIVED_AT], &s, &n) || vst_time_parse_us(s, n, &f->received_at_us))
        return fail(err, errlen, "receipt: \"%s\" is not a time YYYY-MM-DDTHH:MM:SS.ffffffZ",
                    "received_at");
    if (get_str(m[M_STORED_AT], &s, &n) || vst_time_parse_us(s, n, &f->stored_at_us))
        return fail(err, errlen, "receipt: \"%s\" is not a time YYYY-MM-DDTHH:MM:SS.ffffffZ",
                    "stored_at");
    if (f->stored_at_us < f->received_at_us)
        return fail(err, errlen, "receipt: \"%s\" is earlier than \"received_at\"", "stored_at");
    if (get_uint(m[M_AUDIT_SEQ], 1, INT64_MAX, &f->audit_seq))
        return fail(err, errlen, "receipt: \"%s\" is not an integer 1..2^63-1", "audit_seq");
    return 0;
}

static int read_keys(json_t *const m[M__COUNT], vst_receipt *out, char *err, size_t errlen)
{
    const char *s;
    size_t n;
    if (get_str(m[M_SIGNATURE], &s, &n) ||
        vst_unhex_lower(s, n, out->signature, VST_ED25519_SIG_LEN))
        return fail(err, errlen, "receipt: \"%s\" is not 128 lower-case hex digits", "signature");
    if (m[M_PUBLIC_KEY] != NULL) {
        if (get_str(m[M_PUBLIC_KEY], &s, &n) ||
            vst_unhex_lower(s, n, out->public_key, VST_ED25519_PUB_LEN))
            return fail(err, errlen, "receipt: \"%s\" is not 64 lower-case hex digits",
                        "public_key");
        out->has_public_key = 1;
    }
    return 0;
}

int vst_receipt_json_parse(const char *text, size_t len, vst_receipt *out, char *err, size_t errlen)
{
    if (text == NULL || out == NULL)
        return fail(err, errlen, "%s", "no receipt");
    if (len > VST_RECEIPT_JSON_MAX)
        return fail(err, errlen, "receipt longer than %s bytes", "4096");
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        if (err && errlen)
            snprintf(err, errlen, "receipt is not valid JSON (line %d: %s)", je.line, je.text);
        return -1;
    }
    json_t *m[M__COUNT] = {0};
    int rc = !json_is_object(root) ? fail(err, errlen, "%s", "receipt is not a JSON object")
             : collect_members(root, m, err, errlen) || read_names(m, &out->f, err, errlen) ||
                     read_values(m, &out->f, err, errlen) || read_keys(m, out, err, errlen)
                 ? -1
                 : 0;
    json_decref(root);
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}
