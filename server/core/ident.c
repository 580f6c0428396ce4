/* Identifier validation (DESIGN.md §4). Pure functions, no allocation.
 *
 * What the check digits cannot catch is worked out and asserted in
 * tests/unit/test_ident.c; in short: KVNR (weights 1-2 with digit sums, as
 * Luhn) misses 0<->9 transpositions and letters with the same contribution;
 * LANR (weights 4-9, no digit sums) misses changes by 5 in a weight-4
 * position and some transpositions; IK leaves digits 1-2 unchecked; BSNR has
 * no check digit at all. */
#include "core/ident.h"

#include <string.h>

#include "core/secmem.h"

static const char *const kind_names[VST_ID__COUNT] = {"kvnr", "lanr", "bsnr", "ik"};

const char *vst_id_kind_name(vst_id_kind kind)
{
    return (unsigned)kind < VST_ID__COUNT ? kind_names[kind] : "?";
}

int vst_id_kind_from_name(const char *name)
{
    for (int k = 0; k < VST_ID__COUNT; k++)
        if (strcmp(name, kind_names[k]) == 0)
            return k;
    return -1;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i]))
            return 0;
    return 1;
}

static int digit_sum(int v)
{
    return v / 10 + v % 10;
}

/* KVNR: the letter becomes two digits (A=01 .. Z=26), then the ten digits are
 * weighted 1,2,1,2,... from the left, products reduced to their digit sum,
 * and the check digit is the total mod 10. */
static int kvnr_check(const char *p)
{
    if (p[0] < 'A' || p[0] > 'Z' || !all_digits(p + 1, 8))
        return -1;
    int n = p[0] - 'A' + 1;
    int d[10] = {n / 10, n % 10};
    for (int i = 0; i < 8; i++)
        d[2 + i] = p[1 + i] - '0';
    int sum = 0;
    for (int i = 0; i < 10; i++)
        sum += digit_sum(d[i] * (i % 2 == 0 ? 1 : 2));
    return sum % 10;
}

/* LANR: digits 1-6 weighted 4,9,4,9,4,9 (plain products), check digit
 * (10 - sum mod 10) mod 10. */
static int lanr_check(const char *p)
{
    if (!all_digits(p, 6))
        return -1;
    int sum = 0;
    for (int i = 0; i < 6; i++)
        sum += (p[i] - '0') * (i % 2 == 0 ? 4 : 9);
    return (10 - sum % 10) % 10;
}

/* IK: digits 3-8 weighted 2,1,2,1,2,1, digit sums, total mod 10. Digits 1-2
 * (the classification) are not covered by the check. */
static int ik_check(const char *p)
{
    if (!all_digits(p, 8))
        return -1;
    int sum = 0;
    for (int i = 2; i < 8; i++)
        sum += digit_sum((p[i] - '0') * (i % 2 == 0 ? 2 : 1));
    return sum % 10;
}

int vst_id_check_digit(vst_id_kind kind, const char *prefix)
{
    switch (kind) {
    case VST_ID_KVNR:
        return kvnr_check(prefix);
    case VST_ID_LANR:
        return lanr_check(prefix);
    case VST_ID_IK:
        return ik_check(prefix);
    default:
        return -1;
    }
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Validates the already trimmed and copied canonical candidate in id->s. */
static vst_err validate(vst_id *id)
{
    const char *s = id->s;
    switch (id->kind) {
    case VST_ID_KVNR:
        if (id->len != 10)
            return VST_E_ID_LENGTH;
        if (s[0] < 'A' || s[0] > 'Z' || !all_digits(s + 1, 9))
            return VST_E_ID_SYNTAX;
        return kvnr_check(s) == s[9] - '0' ? VST_E_OK : VST_E_ID_CHECK_DIGIT;
    case VST_ID_LANR:
        if (id->len != 9)
            return VST_E_ID_LENGTH;
        if (!all_digits(s, 9))
            return VST_E_ID_SYNTAX;
        return lanr_check(s) == s[6] - '0' ? VST_E_OK : VST_E_ID_CHECK_DIGIT;
    case VST_ID_BSNR:
        if (id->len != 9)
            return VST_E_ID_LENGTH;
        return all_digits(s, 9) ? VST_E_OK : VST_E_ID_SYNTAX;
    case VST_ID_IK:
        if (id->len != 9)
            return VST_E_ID_LENGTH;
        if (!all_digits(s, 9))
            return VST_E_ID_SYNTAX;
        return ik_check(s) == s[8] - '0' ? VST_E_OK : VST_E_ID_CHECK_DIGIT;
    default:
        return VST_E_INTERNAL;
    }
}

vst_err vst_id_parse(vst_id_kind kind, const char *in, size_t len, vst_id *out)
{
    vst_id_wipe(out);
    out->kind = kind;
    if ((unsigned)kind >= VST_ID__COUNT || in == NULL)
        return VST_E_INTERNAL;
    while (len > 0 && is_blank(in[0])) {
        in++;
        len--;
    }
    while (len > 0 && is_blank(in[len - 1]))
        len--;
    if (len != (kind == VST_ID_KVNR ? 10u : 9u)) {
        vst_id_wipe(out);
        return VST_E_ID_LENGTH;
    }
    memcpy(out->s, in, len);
    out->len = (unsigned char)len;
    if (kind == VST_ID_KVNR && out->s[0] >= 'a' && out->s[0] <= 'z')
        out->s[0] = (char)(out->s[0] - 'a' + 'A');
    vst_err e = validate(out);
    if (e != VST_E_OK)
        vst_id_wipe(out);
    out->kind = kind;
    return e;
}

void vst_id_wipe(vst_id *id)
{
    vst_wipe(id, sizeof *id);
}
