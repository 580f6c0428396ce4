/* Name normalization for linkage; see normalize.h and docs/linkage.md
 * "Normalization". One pass over the code points: each becomes letters
 * A-Z of the current token, a token boundary, or nothing (a mark, an
 * invisible character, a letter of another script, counted). Each
 * finished token then goes through the word rules (titles, the
 * particles, GEB). Everything lives on the stack and is wiped on return:
 * names are personal data. */
#include "linkage/normalize.h"

#include <string.h>

#include "core/civil_time.h"
#include "core/secmem.h"
#include "core/utf8.h"
#include "linkage/latin_fold.h"

/* Academic titles: dropped from every field (Mainzelliste's list). */
static const char *const titles[] = {"DR", "PROF", "PD", "MED", "DIPL", "ING", "HC"};

/* Name particles and noble titles (Mainzelliste's GermanLastNameDecomposer
 * list without its titles): dropped from family and birth names, kept
 * when they are all there is. */
static const char *const particles[] = {
    "AL",  "AM",  "AN",  "AUF",      "D",        "DA",      "DE",  "DEL", "DELA", "DEM",
    "DEN", "DER", "DI",  "DOS",      "DU",       "EL",      "EN",  "ET",  "LA",   "LE",
    "MC",  "O",   "SR",  "UND",      "V",        "VAN",     "VO",  "VOM", "VON",  "Y",
    "ZU",  "ZUM", "ZUR", "FREIFRAU", "FREIHERR", "GRAEFIN", "GRAF"};

static int in_list(const char *tok, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(tok, list[i]) == 0)
            return 1;
    return 0;
}

#define IN(tok, list) in_list(tok, list, sizeof list / sizeof list[0])

/* One destination of tokens: the field itself, or (family names only) the
 * birth name after GEB. Particles wait in their own list until the end
 * decides whether they are all there is. */
typedef struct {
    vst_name_tokens kept;
    vst_name_tokens particles;
    int particles_overflow;
} sink;

typedef struct {
    vst_name_kind kind;
    sink field;
    sink birth;
    sink *to; /* &field, or &birth after GEB */
    char cur[VST_NAME_TOKEN_MAX + 1];
    size_t cur_len;
    int umlaut_base; /* the previous code point was A O U (either case): U+0308 makes it AE OE UE */
    int after_title; /* the previous token was a title: H C is "h.c." */
    int held_h;      /* an H after a title, waiting to see whether C follows */
    unsigned dropped;
    vst_err err;
} state;

static void add(vst_name_tokens *t, const char *tok, size_t len, vst_err *err, int *overflow)
{
    if (t->n == VST_NAME_TOKENS_MAX) {
        if (overflow != NULL)
            *overflow = 1;
        else
            *err = VST_E_NAME_TOKENS;
        return;
    }
    memcpy(t->tok[t->n], tok, len + 1);
    t->len[t->n] = (uint8_t)len;
    t->n++;
}

/* A name token that is not a title: GEB, a particle, or a name part. */
static void word(state *st, const char *tok, size_t len)
{
    if (st->kind == VST_NAME_FAMILY && (strcmp(tok, "GEB") == 0 || strcmp(tok, "GEBORENE") == 0)) {
        st->to = &st->birth; /* a second GEB is dropped as well */
        return;
    }
    if (st->kind != VST_NAME_GIVEN && IN(tok, particles))
        add(&st->to->particles, tok, len, &st->err, &st->to->particles_overflow);
    else
        add(&st->to->kept, tok, len, &st->err, NULL);
}

/* A finished token. Titles go; "Dr. h.c." arrives as DR H C, so an H right
 * after a title waits for the next token: with C both are the title HC,
 * otherwise the H is a name part after all ("Dr. H. Meier"). An H C not
 * after a title stays (the initials of "H. C. Andersen"). */
static void token(state *st, const char *tok, size_t len)
{
    if (st->held_h) {
        st->held_h = 0;
        if (strcmp(tok, "C") == 0) {
            st->after_title = 1;
            return;
        }
        word(st, "H", 1);
        st->after_title = 0;
    }
    if (IN(tok, titles)) {
        st->after_title = 1;
        return;
    }
    if (st->after_title && strcmp(tok, "H") == 0) {
        st->held_h = 1;
        return;
    }
    st->after_title = 0;
    word(st, tok, len);
}

static void end_token(state *st)
{
    if (st->cur_len == 0)
        return;
    st->cur[st->cur_len] = '\0';
    token(st, st->cur, st->cur_len);
    st->cur_len = 0;
}

static void letter(state *st, char c)
{
    if (st->cur_len == VST_NAME_TOKEN_MAX) {
        st->err = VST_E_NAME_TOKEN_LENGTH;
        return;
    }
    st->cur[st->cur_len++] = c;
}

/* Code points that are neither letters nor separators: combining marks
 * (U+0300..U+036F is handled before) and invisible format characters
 * (soft hyphen, zero-width space and joiners, word joiner, BOM, variation
 * selectors). They vanish without splitting the token. */
static int invisible(uint32_t cp)
{
    return cp == 0xAD || (cp >= 0x1AB0 && cp <= 0x1AFF) || (cp >= 0x1DC0 && cp <= 0x1DFF) ||
           (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2060 && cp <= 0x2064) ||
           (cp >= 0x20D0 && cp <= 0x20FF) || (cp >= 0xFE00 && cp <= 0xFE0F) ||
           (cp >= 0xFE20 && cp <= 0xFE2F) || cp == 0xFEFF || (cp >= 0xE0100 && cp <= 0xE01EF);
}

/* Code points outside A-Z that are not letters: they separate tokens like
 * blanks, hyphens, dots and apostrophes do. ASCII and Latin-1 punctuation,
 * the spacing modifier letters (ʼ ʻ ˈ stand for apostrophes and accents),
 * general punctuation, symbols and arrows, CJK punctuation, fullwidth
 * punctuation, private use, emoji. Anything else that is not in the Latin
 * table counts as a letter of another script. */
static int separator(uint32_t cp)
{
    return cp <= 0xBF || cp == 0xD7 || cp == 0xF7 || (cp >= 0x2B0 && cp <= 0x2FF) ||
           (cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0x2E00 && cp <= 0x2E7F) ||
           (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xE000 && cp <= 0xF8FF) ||
           (cp >= 0xFE10 && cp <= 0xFE1F) || (cp >= 0xFE30 && cp <= 0xFE6F) ||
           (cp >= 0xFF00 && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) ||
           (cp >= 0xFF5B && cp <= 0xFF65) || (cp >= 0xFFF0 && cp <= 0xFFFF) ||
           (cp >= 0x1F000 && cp <= 0x1FBFF) || cp >= 0xF0000;
}

static void code_point(state *st, uint32_t cp)
{
    int base = 0;
    const char *fold;
    if (cp >= 'a' && cp <= 'z')
        cp -= 'a' - 'A';
    if (cp >= 'A' && cp <= 'Z') {
        letter(st, (char)cp);
        base = cp == 'A' || cp == 'O' || cp == 'U';
    } else if (cp == 0x308 && st->umlaut_base) {
        letter(st, 'E'); /* A + U+0308 is Ä: AE */
    } else if ((cp >= 0x300 && cp <= 0x36F) || invisible(cp)) {
        /* a mark decorates its base letter; dropped */
    } else if ((fold = vst_latin_fold(cp)) != NULL) {
        for (; *fold != '\0'; fold++)
            letter(st, *fold);
    } else if (separator(cp)) {
        end_token(st);
    } else {
        st->dropped++; /* a letter of another script */
    }
    st->umlaut_base = base;
}

/* The field's final tokens: the name parts, or the particles when there
 * is nothing else. */
static vst_err finish(sink *k, vst_name_tokens *out)
{
    if (k->kept.n > 0) {
        *out = k->kept;
        return VST_E_OK;
    }
    if (k->particles_overflow)
        return VST_E_NAME_TOKENS;
    *out = k->particles;
    return VST_E_OK;
}

vst_err vst_name_normalize(vst_name_kind kind, const char *s, size_t len, vst_name_tokens *out,
                           vst_name_tokens *birth_out, unsigned *dropped)
{
    state st;
    memset(&st, 0, sizeof st);
    st.kind = kind;
    st.to = &st.field;
    memset(out, 0, sizeof *out);
    if (birth_out != NULL)
        memset(birth_out, 0, sizeof *birth_out);
    if (dropped != NULL)
        *dropped = 0;
    vst_err e = VST_E_OK;
    if (s == NULL && len > 0)
        e = VST_E_INTERNAL;
    for (size_t i = 0, k; e == VST_E_OK && i < len; i += k) {
        uint32_t cp;
        if ((k = vst_utf8_next(s + i, len - i, &cp)) == 0)
            e = VST_E_INVALID_UTF8;
        else
            code_point(&st, cp);
        e = e != VST_E_OK ? e : st.err;
    }
    if (e == VST_E_OK) {
        end_token(&st);
        if (st.held_h) /* "Dr. H": the H was a name part */
            word(&st, "H", 1);
        e = st.err;
    }
    if (e == VST_E_OK && (e = finish(&st.field, out)) == VST_E_OK && out->n == 0)
        e = VST_E_NAME_EMPTY;
    if (e == VST_E_OK && birth_out != NULL)
        e = finish(&st.birth, birth_out);
    if (e != VST_E_OK) {
        vst_wipe(out, sizeof *out);
        if (birth_out != NULL)
            vst_wipe(birth_out, sizeof *birth_out);
    } else if (dropped != NULL) {
        *dropped = st.dropped;
    }
    vst_wipe(&st, sizeof st);
    return e;
}

/* "YYYY-MM-DD" of a calendar date (years 1..9999) to "YYYYMMDD". */
static vst_err date(const char *s, size_t len, char out[9])
{
    if (s == NULL || len != 10 || s[4] != '-' || s[7] != '-')
        return VST_E_INVALID_DATE;
    unsigned v[8];
    for (size_t i = 0, j = 0; i < 10; i++) {
        if (i == 4 || i == 7)
            continue;
        if (s[i] < '0' || s[i] > '9')
            return VST_E_INVALID_DATE;
        out[j] = s[i];
        v[j++] = (unsigned)(s[i] - '0');
    }
    unsigned y = v[0] * 1000 + v[1] * 100 + v[2] * 10 + v[3];
    if (!vst_date_valid(y, v[4] * 10 + v[5], v[6] * 10 + v[7]))
        return VST_E_INVALID_DATE;
    out[8] = '\0';
    return VST_E_OK;
}

/* "M" "W" "D" "X", and "F" for W. */
static vst_err sex(const char *s, size_t len, char *out)
{
    if (s == NULL || len != 1)
        return VST_E_NOT_ALLOWED;
    if (s[0] == 'M' || s[0] == 'W' || s[0] == 'D' || s[0] == 'X')
        *out = s[0];
    else if (s[0] == 'F')
        *out = 'W';
    else
        return VST_E_NOT_ALLOWED;
    return VST_E_OK;
}

vst_err vst_person_normalize(const vst_person_raw *raw, vst_person *out, const char **which)
{
    vst_name_tokens geb; /* the birth name after GEB in the family name */
    const char *w = NULL;
    memset(&geb, 0, sizeof geb);
    memset(out, 0, sizeof *out);
    vst_err e =
        vst_name_normalize(VST_NAME_GIVEN, raw->given, raw->given_len, &out->given, NULL, NULL);
    if (e != VST_E_OK)
        w = "given_names";
    if (e == VST_E_OK && (e = vst_name_normalize(VST_NAME_FAMILY, raw->family, raw->family_len,
                                                 &out->family, &geb, NULL)) != VST_E_OK)
        w = "family_names";
    if (e == VST_E_OK && raw->birth != NULL) { /* an explicit birth name wins over GEB */
        if ((e = vst_name_normalize(VST_NAME_BIRTH, raw->birth, raw->birth_len, &out->birth, NULL,
                                    NULL)) != VST_E_OK)
            w = "birth_name";
    } else if (e == VST_E_OK) {
        out->birth = geb;
    }
    if (e == VST_E_OK && (e = date(raw->date, raw->date_len, out->date)) != VST_E_OK)
        w = "birth_date";
    if (e == VST_E_OK && (e = sex(raw->sex, raw->sex_len, &out->sex)) != VST_E_OK)
        w = "sex";
    vst_wipe(&geb, sizeof geb);
    if (e != VST_E_OK)
        vst_wipe(out, sizeof *out);
    if (which != NULL)
        *which = w;
    return e;
}
