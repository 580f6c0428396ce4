/* The errors of a child's record (gen_child_internal.h), the kinds that
 * real registrations show and that the linkage keys of DESIGN.md §13 are
 * meant to survive (or, for a typo in the birth date, not). A record gets
 * one kind, drawn with these weights among the kinds that apply to it:
 *
 *   typo 30, umlaut 14 (only with ä ö ü Ä Ö Ü ß in a name), swap 14,
 *   birthname 14, daymonth 14 (a day typo when the day or the month is
 *   above 12 or both are equal), case 14.
 *
 * Names are edited as code points (all of ours are below U+0800), so an
 * edit never splits a UTF-8 sequence. */
#include "cli/gen/gen_child_internal.h"

#include "core/civil_time.h"

typedef struct {
    uint32_t cp[CHILD_NAME_MAX];
    size_t n;
} cps;

static void decode(const char *s, cps *c)
{
    const unsigned char *u = (const unsigned char *)s;
    c->n = 0;
    while (*u != 0 && c->n < CHILD_NAME_MAX) {
        if (*u < 0x80) {
            c->cp[c->n++] = *u++;
        } else {
            c->cp[c->n++] = ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
            u += 2;
        }
    }
}

/* Writes c as UTF-8; stops short rather than overflow (never expected:
 * see CHILD_NAME_MAX). */
static void encode(const cps *c, char out[CHILD_NAME_MAX])
{
    size_t o = 0;
    for (size_t i = 0; i < c->n && o + 3 <= CHILD_NAME_MAX; i++) {
        uint32_t v = c->cp[i];
        if (v < 0x80) {
            out[o++] = (char)v;
        } else {
            out[o++] = (char)(0xC0 | (v >> 6));
            out[o++] = (char)(0x80 | (v & 0x3F));
        }
    }
    out[o] = '\0';
}

static int is_letter(uint32_t v)
{
    return v != ' ' && v != '-';
}

static int is_upper(uint32_t v)
{
    return (v >= 'A' && v <= 'Z') || (v >= 0xC0 && v <= 0xDE && v != 0xD7) || v == 0x15E;
}

static uint32_t to_upper(uint32_t v)
{
    if (v >= 'a' && v <= 'z')
        return v - 0x20;
    if (v >= 0xE0 && v <= 0xFE && v != 0xF7)
        return v - 0x20;
    return v == 0x15F ? 0x15E : v; /* ß stays: it has no one-letter capital here */
}

static uint32_t to_lower(uint32_t v)
{
    if (v >= 'A' && v <= 'Z')
        return v + 0x20;
    if (v >= 0xC0 && v <= 0xDE && v != 0xD7)
        return v + 0x20;
    return v == 0x15E ? 0x15F : v;
}

/* The base letter of ä ö ü Ä Ö Ü in lower case, else 0: a typo never
 * writes it, so that a typo is never an umlaut spelling (Müller -> Muller). */
static uint32_t umlaut_base(uint32_t v)
{
    switch (to_lower(v)) {
    case 0xE4:
        return 'a';
    case 0xF6:
        return 'o';
    case 0xFC:
        return 'u';
    }
    return 0;
}

static int starts_token(const cps *c, size_t i)
{
    return i == 0 || !is_letter(c->cp[i - 1]);
}

static size_t token_len(const cps *c, size_t i)
{
    size_t a = i, b = i;
    while (a > 0 && is_letter(c->cp[a - 1]))
        a--;
    while (b < c->n && is_letter(c->cp[b]))
        b++;
    return b - a;
}

/* Substitutes, drops or transposes one letter of the name. */
static void typo(stream *st, char *name)
{
    cps c;
    decode(name, &c);
    size_t pos[CHILD_NAME_MAX], np = 0;
    for (size_t i = 0; i < c.n; i++)
        if (is_letter(c.cp[i]))
            pos[np++] = i;
    if (np == 0)
        return;
    size_t i = pos[st_below(st, (uint32_t)np)];
    uint32_t op = st_below(st, 3);
    if (op == 1 && token_len(&c, i) >= 3) {
        memmove(&c.cp[i], &c.cp[i + 1], (c.n - i - 1) * sizeof c.cp[0]);
        c.n--;
    } else if (op == 2 && !starts_token(&c, i) && i + 1 < c.n && is_letter(c.cp[i + 1]) &&
               c.cp[i] != c.cp[i + 1]) {
        uint32_t t = c.cp[i];
        c.cp[i] = c.cp[i + 1];
        c.cp[i + 1] = t;
    } else {
        uint32_t v = 'a' + st_below(st, 26);
        while (v == to_lower(c.cp[i]) || v == umlaut_base(c.cp[i]))
            v = v == 'z' ? 'a' : v + 1;
        c.cp[i] = is_upper(c.cp[i]) ? to_upper(v) : v;
    }
    encode(&c, name);
}

static int has_umlaut(const char *s)
{
    cps c;
    decode(s, &c);
    for (size_t i = 0; i < c.n; i++)
        switch (c.cp[i]) {
        case 0xE4:
        case 0xF6:
        case 0xFC:
        case 0xC4:
        case 0xD6:
        case 0xDC:
        case 0xDF:
            return 1;
        }
    return 0;
}

/* Müller -> Mueller (e_form) or Muller; ß -> ss either way. */
static void umlaut(char *name, int e_form)
{
    cps c, o;
    decode(name, &c);
    o.n = 0;
    for (size_t i = 0; i < c.n && o.n + 2 < CHILD_NAME_MAX; i++) {
        uint32_t v = c.cp[i], base = 0;
        switch (v) {
        case 0xE4:
            base = 'a';
            break;
        case 0xF6:
            base = 'o';
            break;
        case 0xFC:
            base = 'u';
            break;
        case 0xC4:
            base = 'A';
            break;
        case 0xD6:
            base = 'O';
            break;
        case 0xDC:
            base = 'U';
            break;
        }
        if (v == 0xDF) {
            o.cp[o.n++] = 's';
            o.cp[o.n++] = 's';
        } else if (base != 0) {
            o.cp[o.n++] = base;
            if (e_form)
                o.cp[o.n++] = 'e';
        } else {
            o.cp[o.n++] = v;
        }
    }
    encode(&o, name);
}

/* Upper-cases (variant 0) or lower-cases (1) the name, or adds a space at
 * its start, its end or next to a space inside it (2). */
static void letter_case(stream *st, char *name)
{
    cps c;
    decode(name, &c);
    uint32_t variant = st_below(st, 3);
    if (variant < 2) {
        for (size_t i = 0; i < c.n; i++)
            c.cp[i] = variant == 0 ? to_upper(c.cp[i]) : to_lower(c.cp[i]);
    } else if (c.n + 1 < CHILD_NAME_MAX) {
        size_t at = st_below(st, 2) == 0 ? 0 : c.n;
        for (size_t i = 0; i < c.n; i++)
            if (c.cp[i] == ' ')
                at = i;
        memmove(&c.cp[at + 1], &c.cp[at], (c.n - at) * sizeof c.cp[0]);
        c.cp[at] = ' ';
        c.n++;
    }
    encode(&c, name);
}

/* The other days of the month that differ from day d in one digit. */
static void day_typo(stream *st, gen_child *c)
{
    uint32_t dim = vst_days_in_month(c->year, c->month), cand[31] = {0}, n = 0;
    for (uint32_t d = 1; d <= dim; d++)
        if (d != c->day && (d / 10 == c->day / 10 || d % 10 == c->day % 10))
            cand[n++] = d;
    c->day = cand[st_below(st, n)]; /* n > 0: 10 and 20 share the units of 30 */
}

static void birth_name(const gen_pools *pools, stream *st, gen_child *c)
{
    memcpy(c->birth, c->family, CHILD_NAME_MAX);
    for (int tries = 0; tries < 8 && strcmp(c->family, c->birth) == 0; tries++)
        gen_put_family_rank(c->family, gen_pool_draw(&pools->family, splitmix64(&st->s)), 1);
}

/* Draws the kind among those that apply (see the weights above). */
static vst_gen_error_kind draw_kind(stream *st, int umlaut_ok)
{
    static const struct {
        vst_gen_error_kind kind;
        uint32_t weight;
    } w[] = {
        {VST_GEN_ERR_TYPO, 30},      {VST_GEN_ERR_UMLAUT, 14},   {VST_GEN_ERR_SWAP, 14},
        {VST_GEN_ERR_BIRTHNAME, 14}, {VST_GEN_ERR_DAYMONTH, 14}, {VST_GEN_ERR_CASE, 14},
    };
    uint32_t total = 0;
    for (size_t i = 0; i < NELEM(w); i++)
        total += w[i].kind != VST_GEN_ERR_UMLAUT || umlaut_ok ? w[i].weight : 0;
    uint32_t r = st_below(st, total);
    for (size_t i = 0; i < NELEM(w); i++) {
        if (w[i].kind == VST_GEN_ERR_UMLAUT && !umlaut_ok)
            continue;
        if (r < w[i].weight)
            return w[i].kind;
        r -= w[i].weight;
    }
    return VST_GEN_ERR_TYPO; /* not reached */
}

vst_gen_error_kind gen_child_error(const gen_pools *pools, stream *st, gen_child *c)
{
    int ug = has_umlaut(c->given), uf = has_umlaut(c->family);
    vst_gen_error_kind kind = draw_kind(st, ug || uf);
    char *name = st_below(st, 2) == 0 ? c->given : c->family;
    switch (kind) {
    case VST_GEN_ERR_TYPO:
        typo(st, name);
        break;
    case VST_GEN_ERR_UMLAUT:
        umlaut(uf && (!ug || st_below(st, 2) == 0) ? c->family : c->given, st_below(st, 2) == 0);
        break;
    case VST_GEN_ERR_SWAP: {
        char t[CHILD_NAME_MAX];
        memcpy(t, c->given, CHILD_NAME_MAX);
        memcpy(c->given, c->family, CHILD_NAME_MAX);
        memcpy(c->family, t, CHILD_NAME_MAX);
        break;
    }
    case VST_GEN_ERR_BIRTHNAME:
        birth_name(pools, st, c);
        break;
    case VST_GEN_ERR_DAYMONTH:
        if (c->day <= 12 && c->month <= 12 && c->day != c->month) {
            uint32_t t = c->day;
            c->day = c->month;
            c->month = t;
        } else {
            day_typo(st, c);
            kind = VST_GEN_ERR_DAYTYPO;
        }
        break;
    default:
        letter_case(st, name);
        break;
    }
    return kind;
}
