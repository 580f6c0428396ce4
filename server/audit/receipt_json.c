/* The receipt JSON document; see receipt_json.h and docs/audit.md. */
#include "audit/receipt_json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hex.h"

/* ---- time ----------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z in seconds. */
#define MIN_S (-62135596800LL)
#define END_S (253402300800LL)

int vst_time_format_us(int64_t us, char out[VST_TIME_TEXT_LEN + 1])
{
    int64_t s = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        s -= 1;
    }
    if (s < MIN_S || s >= END_S)
        return -1;
    int64_t days = s / 86400, sod = s % 86400;
    if (sod < 0) {
        sod += 86400;
        days -= 1;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    /* The ranges above make this exactly 27 characters; the compiler
     * cannot see that, hence the roomy buffer. */
    char tmp[96];
    snprintf(tmp, sizeof tmp, "%04d-%02u-%02uT%02d:%02d:%02d.%06dZ", (int)y, m, d,
             (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (int)frac);
    memcpy(out, tmp, VST_TIME_TEXT_LEN);
    out[VST_TIME_TEXT_LEN] = '\0';
    return 0;
}

static int digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return 0;
}

int vst_time_parse_us(const char *s, size_t n, int64_t *us)
{
    /* 0123456789012345678901234567
     * YYYY-MM-DDTHH:MM:SS.ffffffZ */
    unsigned y, mo, d, h, mi, se, fr;
    if (s == NULL || n != VST_TIME_TEXT_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
        s[13] != ':' || s[16] != ':' || s[19] != '.' || s[26] != 'Z' || digits(s, 4, &y) ||
        digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) || digits(s + 11, 2, &h) ||
        digits(s + 14, 2, &mi) || digits(s + 17, 2, &se) || digits(s + 20, 6, &fr))
        return -1;
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || se > 59)
        return -1;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    *us = secs * 1000000 + fr;
    return 0;
}

/* ---- hex ------------------------------------------------------------------ */

void vst_receipt_hex_encode(const uint8_t *in, size_t n, char *out)
{
    vst_hex(in, n, out);
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int vst_receipt_hex_decode(const char *s, size_t slen, uint8_t *out, size_t n)
{
    if (s == NULL || slen != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = nibble(s[2 * i]), lo = nibble(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* ---- build ---------------------------------------------------------------- */

/* Appends s as a JSON string; client names are UTF-8 without control
 * characters (vst_client_name_ok), so only the quote and the backslash
 * need escaping. */
static char *put_jstr(char *p, const char *s)
{
    *p++ = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            *p++ = '\\';
        *p++ = *s;
    }
    *p++ = '"';
    return p;
}

char *vst_receipt_json_build(const vst_receipt_fields *f, const uint8_t sig[VST_ED25519_SIG_LEN],
                             const uint8_t *public_key)
{
    char recv[VST_TIME_TEXT_LEN + 1], stor[VST_TIME_TEXT_LEN + 1];
    if (f == NULL || sig == NULL || !vst_receipt_fields_ok(f) || f->record_count > INT64_MAX ||
        f->audit_seq == 0 || f->audit_seq > INT64_MAX || f->stored_at_us < f->received_at_us ||
        vst_time_format_us(f->received_at_us, recv) != 0 ||
        vst_time_format_us(f->stored_at_us, stor) != 0)
        return NULL;
    char body[2 * VST_SHA256_LEN + 1], sg[2 * VST_ED25519_SIG_LEN + 1],
        pk[2 * VST_ED25519_PUB_LEN + 1];
    vst_receipt_hex_encode(f->body_sha256, VST_SHA256_LEN, body);
    vst_receipt_hex_encode(sig, VST_ED25519_SIG_LEN, sg);
    if (public_key)
        vst_receipt_hex_encode(public_key, VST_ED25519_PUB_LEN, pk);
    char *out = malloc(VST_RECEIPT_JSON_MAX);
    if (out == NULL)
        return NULL;
    /* Worst case: 2 * 128 escaped client bytes + fixed text < 1 KiB. */
    char *p = out;
    p += sprintf(p, "{\"delivery_id\":");
    p = put_jstr(p, f->delivery_id);
    p += sprintf(p, ",\"client\":");
    p = put_jstr(p, f->client);
    p += sprintf(p, ",\"profile\":");
    p = put_jstr(p, f->profile);
    p += sprintf(p,
                 ",\"record_count\":%llu,\"body_sha256\":\"%s\",\"key_version\":%u,"
                 "\"received_at\":\"%s\",\"stored_at\":\"%s\",\"audit_seq\":%llu,"
                 "\"signature\":\"%s\"",
                 (unsigned long long)f->record_count, body, f->key_version, recv, stor,
                 (unsigned long long)f->audit_seq, sg);
    if (public_key)
        p += sprintf(p, ",\"public_key\":\"%s\"", pk);
    *p++ = '}';
    *p = '\0';
    return out;
}

/* ---- parse ---------------------------------------------------------------- */

enum {
    M_DELIVERY_ID,
    M_CLIENT,
    M_PROFILE,
    M_RECORD_COUNT,
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
    "delivery_id", "client",    "profile",   "record_count", "body_sha256", "key_version",
    "received_at", "stored_at", "audit_seq", "signature",    "public_key",
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
    int rc = -1;
    if (!json_is_object(root)) {
        fail(err, errlen, "%s", "receipt is not a JSON object");
        goto done;
    }
    json_t *m[M__COUNT] = {0};
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        size_t i = 0;
        while (i < M__COUNT && strcmp(key, member_names[i]) != 0)
            i++;
        if (i == M__COUNT) {
            /* The key itself may be anything: do not echo it. */
            fail(err, errlen, "%s", "receipt has a member that is not part of the format");
            goto done;
        }
        m[i] = val;
    }
    for (size_t i = 0; i < M__COUNT; i++)
        if (m[i] == NULL && i != M_PUBLIC_KEY) {
            fail(err, errlen, "receipt lacks \"%s\"", member_names[i]);
            goto done;
        }

    vst_receipt_fields *f = &out->f;
    const char *s;
    size_t n;
    uint64_t u;
    if (get_str(m[M_DELIVERY_ID], &s, &n) || !vst_delivery_id_ok(s, n) ||
        copy_name(f->delivery_id, sizeof f->delivery_id, s, n)) {
        fail(err, errlen, "receipt: \"%s\" is not a valid delivery id", "delivery_id");
        goto done;
    }
    if (get_str(m[M_CLIENT], &s, &n) || !vst_client_name_ok(s, n) ||
        copy_name(f->client, sizeof f->client, s, n)) {
        fail(err, errlen, "receipt: \"%s\" is not a valid client name", "client");
        goto done;
    }
    if (get_str(m[M_PROFILE], &s, &n) || !vst_profile_name_ok(s, n) ||
        copy_name(f->profile, sizeof f->profile, s, n)) {
        fail(err, errlen, "receipt: \"%s\" is not a valid profile name", "profile");
        goto done;
    }
    if (get_uint(m[M_RECORD_COUNT], 0, INT64_MAX, &f->record_count)) {
        fail(err, errlen, "receipt: \"%s\" is not an integer 0..2^63-1", "record_count");
        goto done;
    }
    if (get_str(m[M_BODY_SHA256], &s, &n) ||
        vst_receipt_hex_decode(s, n, f->body_sha256, VST_SHA256_LEN)) {
        fail(err, errlen, "receipt: \"%s\" is not 64 lower-case hex digits", "body_sha256");
        goto done;
    }
    if (get_uint(m[M_KEY_VERSION], 1, UINT32_MAX, &u)) {
        fail(err, errlen, "receipt: \"%s\" is not an integer 1..2^32-1", "key_version");
        goto done;
    }
    f->key_version = (uint32_t)u;
    if (get_str(m[M_RECEIVED_AT], &s, &n) || vst_time_parse_us(s, n, &f->received_at_us)) {
        fail(err, errlen, "receipt: \"%s\" is not a time YYYY-MM-DDTHH:MM:SS.ffffffZ",
             "received_at");
        goto done;
    }
    if (get_str(m[M_STORED_AT], &s, &n) || vst_time_parse_us(s, n, &f->stored_at_us)) {
        fail(err, errlen, "receipt: \"%s\" is not a time YYYY-MM-DDTHH:MM:SS.ffffffZ", "stored_at");
        goto done;
    }
    if (f->stored_at_us < f->received_at_us) {
        fail(err, errlen, "receipt: \"%s\" is earlier than \"received_at\"", "stored_at");
        goto done;
    }
    if (get_uint(m[M_AUDIT_SEQ], 1, INT64_MAX, &f->audit_seq)) {
        fail(err, errlen, "receipt: \"%s\" is not an integer 1..2^63-1", "audit_seq");
        goto done;
    }
    if (get_str(m[M_SIGNATURE], &s, &n) ||
        vst_receipt_hex_decode(s, n, out->signature, VST_ED25519_SIG_LEN)) {
        fail(err, errlen, "receipt: \"%s\" is not 128 lower-case hex digits", "signature");
        goto done;
    }
    if (m[M_PUBLIC_KEY] != NULL) {
        if (get_str(m[M_PUBLIC_KEY], &s, &n) ||
            vst_receipt_hex_decode(s, n, out->public_key, VST_ED25519_PUB_LEN)) {
            fail(err, errlen, "receipt: \"%s\" is not 64 lower-case hex digits", "public_key");
            goto done;
        }
        out->has_public_key = 1;
    }
    rc = 0;
done:
    json_decref(root);
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}
