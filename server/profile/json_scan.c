/* Strict JSON scanner for record lines; see json_scan.h. Recursive descent
 * with the depth bounded by JS_MAX_DEPTH, so recursion is bounded too. */
#include "profile/json_scan.h"

#include <string.h>

typedef struct {
    const unsigned char *b;
    size_t len, pos;
    js_doc *d;
    vst_err err;
} scanner;

static int fail(scanner *s, vst_err e)
{
    if (s->err == VST_E_OK)
        s->err = e;
    return -1;
}

static void skip_ws(scanner *s)
{
    while (s->pos < s->len) {
        unsigned char c = s->b[s->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        s->pos++;
    }
}

static int new_tok(scanner *s, js_type type, size_t start)
{
    if (s->d->n == s->d->cap)
        return fail(s, VST_E_TOO_MANY_ITEMS);
    js_tok *t = &s->d->tok[s->d->n];
    *t = (js_tok){.type = (uint8_t)type, .start = (uint32_t)start};
    return (int)s->d->n++;
}

static int hex4(const unsigned char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], n;
        if (c >= '0' && c <= '9')
            n = c - '0';
        else if (c >= 'a' && c <= 'f')
            n = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            n = c - 'A' + 10;
        else
            return -1;
        v = v << 4 | n;
    }
    *out = v;
    return 0;
}

/* Length of the valid UTF-8 sequence at p (max n bytes), 0 if invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))
            return 0; /* overlong, or a UTF-16 surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
            return 0; /* overlong, or above U+10FFFF */
        return 4;
    }
    return 0;
}

static int scan_string(scanner *s)
{
    int t = new_tok(s, JT_STRING, ++s->pos); /* past the opening quote */
    if (t < 0)
        return -1;
    int escaped = 0;
    while (s->pos < s->len) {
        unsigned char c = s->b[s->pos];
        if (c == '"') {
            js_tok *tk = &s->d->tok[t];
            tk->len = (uint32_t)(s->pos - tk->start);
            tk->escaped = (uint8_t)escaped;
            tk->next = (uint32_t)s->d->n;
            s->pos++;
            return 0;
        }
        if (c < 0x20)
            return fail(s, VST_E_INVALID_JSON); /* raw control character */
        if (c == '\\') {
            escaped = 1;
            if (s->pos + 1 >= s->len)
                return fail(s, VST_E_INVALID_JSON);
            c = s->b[s->pos + 1];
            if (strchr("\"\\/bfnrt", c) != NULL && c != '\0') {
                s->pos += 2;
                continue;
            }
            unsigned u, lo;
            if (c != 'u' || s->pos + 6 > s->len || hex4(s->b + s->pos + 2, &u))
                return fail(s, VST_E_INVALID_JSON);
            s->pos += 6;
            if (u == 0)
                return fail(s, VST_E_INVALID_JSON); /* NUL would truncate C strings */
            if (u >= 0xDC00 && u <= 0xDFFF)
                return fail(s, VST_E_INVALID_UTF8); /* lone low surrogate */
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (s->pos + 6 > s->len || s->b[s->pos] != '\\' || s->b[s->pos + 1] != 'u' ||
                    hex4(s->b + s->pos + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return fail(s, VST_E_INVALID_UTF8); /* lone high surrogate */
                s->pos += 6;
            }
            continue;
        }
        size_t n = utf8_seq(s->b + s->pos, s->len - s->pos);
        if (n == 0)
            return fail(s, VST_E_INVALID_UTF8);
        s->pos += n;
    }
    return fail(s, VST_E_INVALID_JSON); /* unterminated */
}

static int digits(scanner *s)
{
    size_t p0 = s->pos;
    while (s->pos < s->len && s->b[s->pos] >= '0' && s->b[s->pos] <= '9')
        s->pos++;
    return s->pos > p0 ? 0 : -1;
}

static int scan_number(scanner *s)
{
    size_t start = s->pos;
    js_type type = JT_INTEGER;
    if (s->b[s->pos] == '-')
        s->pos++;
    if (s->pos < s->len && s->b[s->pos] == '0')
        s->pos++; /* no leading zeros: "01" fails at the trailing-bytes check */
    else if (digits(s))
        return fail(s, VST_E_INVALID_JSON);
    if (s->pos < s->len && s->b[s->pos] == '.') {
        s->pos++;
        type = JT_REAL;
        if (digits(s))
            return fail(s, VST_E_INVALID_JSON);
    }
    if (s->pos < s->len && (s->b[s->pos] == 'e' || s->b[s->pos] == 'E')) {
        s->pos++;
        type = JT_REAL;
        if (s->pos < s->len && (s->b[s->pos] == '+' || s->b[s->pos] == '-'))
            s->pos++;
        if (digits(s))
            return fail(s, VST_E_INVALID_JSON);
    }
    int t = new_tok(s, type, start);
    if (t < 0)
        return -1;
    s->d->tok[t].len = (uint32_t)(s->pos - start);
    s->d->tok[t].next = (uint32_t)s->d->n;
    return 0;
}

static int scan_literal(scanner *s, const char *lit, js_type type)
{
    size_t n = strlen(lit);
    if (s->len - s->pos < n || memcmp(s->b + s->pos, lit, n) != 0)
        return fail(s, VST_E_INVALID_JSON);
    int t = new_tok(s, type, s->pos);
    if (t < 0)
        return -1;
    s->d->tok[t].len = (uint32_t)n;
    s->d->tok[t].next = (uint32_t)s->d->n;
    s->pos += n;
    return 0;
}

/* Decoded byte stream of a string token, for comparisons. */
typedef struct {
    const unsigned char *p, *end;
    unsigned char pend[4];
    int npend, ipend;
} dec;

static void dec_init(dec *d, const char *buf, const js_tok *t)
{
    d->p = (const unsigned char *)buf + t->start;
    d->end = d->p + t->len;
    d->npend = d->ipend = 0;
}

static int utf8_put(unsigned cp, unsigned char *o)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Next decoded byte, or -1 at the end. Input was validated by the scanner. */
static int dec_next(dec *d)
{
    if (d->ipend < d->npend)
        return d->pend[d->ipend++];
    if (d->p >= d->end)
        return -1;
    if (*d->p != '\\')
        return *d->p++;
    unsigned char c = d->p[1];
    d->p += 2;
    switch (c) {
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'u': {
        unsigned cp = 0, lo = 0; /* validated by the scanner; 0 for -O3's flow analysis */
        hex4(d->p, &cp);
        d->p += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            hex4(d->p + 2, &lo);
            d->p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        d->npend = utf8_put(cp, d->pend);
        d->ipend = 1;
        return d->pend[0];
    }
    default:
        return c; /* " \ / */
    }
}

static int tok_eq(const char *buf, const js_tok *a, const js_tok *b)
{
    if (!a->escaped && !b->escaped)
        return a->len == b->len && memcmp(buf + a->start, buf + b->start, a->len) == 0;
    dec x, y;
    dec_init(&x, buf, a);
    dec_init(&y, buf, b);
    for (;;) {
        int cx = dec_next(&x), cy = dec_next(&y);
        if (cx != cy)
            return 0;
        if (cx < 0)
            return 1;
    }
}

static int scan_value(scanner *s, int depth);

static int scan_object(scanner *s, int depth)
{
    int t = new_tok(s, JT_OBJECT, s->pos++);
    if (t < 0)
        return -1;
    uint32_t keys[JS_MAX_MEMBERS];
    unsigned n = 0;
    skip_ws(s);
    if (s->pos < s->len && s->b[s->pos] == '}') {
        s->pos++;
    } else {
        for (;;) {
            skip_ws(s);
            if (s->pos >= s->len || s->b[s->pos] != '"')
                return fail(s, VST_E_INVALID_JSON);
            if (n == JS_MAX_MEMBERS)
                return fail(s, VST_E_TOO_MANY_ITEMS);
            keys[n] = (uint32_t)s->d->n;
            if (scan_string(s))
                return -1;
            for (unsigned i = 0; i < n; i++)
                if (tok_eq((const char *)s->b, &s->d->tok[keys[i]], &s->d->tok[keys[n]]))
                    return fail(s, VST_E_DUPLICATE_KEY);
            n++;
            skip_ws(s);
            if (s->pos >= s->len || s->b[s->pos] != ':')
                return fail(s, VST_E_INVALID_JSON);
            s->pos++;
            if (scan_value(s, depth + 1))
                return -1;
            skip_ws(s);
            if (s->pos < s->len && s->b[s->pos] == ',') {
                s->pos++;
                continue;
            }
            if (s->pos < s->len && s->b[s->pos] == '}') {
                s->pos++;
                break;
            }
            return fail(s, VST_E_INVALID_JSON);
        }
    }
    js_tok *tk = &s->d->tok[t];
    tk->count = (uint16_t)n;
    tk->len = (uint32_t)(s->pos - tk->start);
    tk->next = (uint32_t)s->d->n;
    return 0;
}

static int scan_array(scanner *s, int depth)
{
    int t = new_tok(s, JT_ARRAY, s->pos++);
    if (t < 0)
        return -1;
    unsigned n = 0;
    skip_ws(s);
    if (s->pos < s->len && s->b[s->pos] == ']') {
        s->pos++;
    } else {
        for (;;) {
            if (n == UINT16_MAX)
                return fail(s, VST_E_TOO_MANY_ITEMS);
            if (scan_value(s, depth + 1))
                return -1;
            n++;
            skip_ws(s);
            if (s->pos < s->len && s->b[s->pos] == ',') {
                s->pos++;
                continue;
            }
            if (s->pos < s->len && s->b[s->pos] == ']') {
                s->pos++;
                break;
            }
            return fail(s, VST_E_INVALID_JSON);
        }
    }
    js_tok *tk = &s->d->tok[t];
    tk->count = (uint16_t)n;
    tk->len = (uint32_t)(s->pos - tk->start);
    tk->next = (uint32_t)s->d->n;
    return 0;
}

static int scan_value(scanner *s, int depth)
{
    if (depth > JS_MAX_DEPTH)
        return fail(s, VST_E_INVALID_JSON);
    skip_ws(s);
    if (s->pos >= s->len)
        return fail(s, VST_E_INVALID_JSON);
    unsigned char c = s->b[s->pos];
    switch (c) {
    case '{':
        return scan_object(s, depth);
    case '[':
        return scan_array(s, depth);
    case '"':
        return scan_string(s);
    case 't':
        return scan_literal(s, "true", JT_TRUE);
    case 'f':
        return scan_literal(s, "false", JT_FALSE);
    case 'n':
        return scan_literal(s, "null", JT_NULL);
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return scan_number(s);
        /* Invalid UTF-8 outside strings is reported as such. */
        if (c >= 0x80 && utf8_seq(s->b + s->pos, s->len - s->pos) == 0)
            return fail(s, VST_E_INVALID_UTF8);
        return fail(s, VST_E_INVALID_JSON);
    }
}

vst_err js_scan(js_doc *d, const char *buf, size_t len)
{
    scanner s = {.b = (const unsigned char *)buf, .len = len, .d = d, .err = VST_E_OK};
    d->n = 0;
    if (len > UINT32_MAX)
        return VST_E_LINE_TOO_LONG;
    if (scan_value(&s, 0) == 0) {
        skip_ws(&s);
        if (s.pos != s.len) {
            if (s.b[s.pos] >= 0x80 && utf8_seq(s.b + s.pos, s.len - s.pos) == 0)
                fail(&s, VST_E_INVALID_UTF8);
            else
                fail(&s, VST_E_INVALID_JSON);
        }
    }
    return s.err;
}

const char *js_string(const char *buf, const js_tok *t, char *out, size_t outcap, size_t *len)
{
    if (!t->escaped) {
        *len = t->len;
        return buf + t->start;
    }
    dec d;
    dec_init(&d, buf, t);
    size_t n = 0;
    int c;
    while ((c = dec_next(&d)) >= 0) {
        if (n + 1 >= outcap)
            return NULL;
        out[n++] = (char)c;
    }
    if (n >= outcap)
        return NULL;
    out[n] = '\0';
    *len = n;
    return out;
}

int js_string_eq(const char *buf, const js_tok *t, const char *lit, size_t litlen)
{
    if (!t->escaped)
        return t->len == litlen && memcmp(buf + t->start, lit, litlen) == 0;
    dec d;
    dec_init(&d, buf, t);
    for (size_t i = 0; i < litlen; i++)
        if (dec_next(&d) != (unsigned char)lit[i])
            return 0;
    return dec_next(&d) < 0;
}

int js_integer(const char *buf, const js_tok *t, int64_t *out)
{
    const char *p = buf + t->start, *end = p + t->len;
    int neg = *p == '-';
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (p += neg; p < end; p++) {
        unsigned dgt = (unsigned)(*p - '0');
        if (v > (lim - dgt) / 10)
            return -1;
        v = v * 10 + dgt;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}
