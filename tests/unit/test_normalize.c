/* Name normalization for linkage (server/linkage/normalize.c, issue 13):
 * every normalization vector of the design notes (notes/linkage.md §3,
 * docs/linkage.md "Normalization") with its Kölner Phonetik code, the GEB
 * split, the particle and title rules, other scripts, invalid UTF-8, the
 * token limits, and the date and sex of vst_person_normalize. All names
 * are invented or the textbook examples. */
#include <string.h>

#include "core/vst_error.h"
#include "cunit_main.h"
#include "linkage/cologne.h"
#include "linkage/normalize.h"

/* The tokens joined by blanks, or the error's wire code in brackets. */
static const char *joined(const vst_name_tokens *t)
{
    static char buf[VST_NAME_TOKENS_MAX * (VST_NAME_TOKEN_MAX + 1) + 1];
    buf[0] = '\0';
    for (unsigned i = 0; i < t->n; i++) {
        if (i > 0)
            strcat(buf, " ");
        strcat(buf, t->tok[i]);
        if (strlen(t->tok[i]) != t->len[i])
            return "(length field wrong)";
    }
    return buf;
}

static const char *norm_kind(vst_name_kind kind, const char *s)
{
    static char buf[400];
    vst_name_tokens t;
    memset(&t, 'J', sizeof t);
    vst_err e = vst_name_normalize(kind, s, strlen(s), &t, NULL, NULL);
    if (e != VST_E_OK) {
        static const vst_name_tokens zero;
        snprintf(buf, sizeof buf, "[%s]%s", vst_err_code(e),
                 memcmp(&t, &zero, sizeof t) == 0 ? "" : " (out not zeroed)");
        return buf;
    }
    snprintf(buf, sizeof buf, "%s", joined(&t));
    return buf;
}

#define FAMILY(s) norm_kind(VST_NAME_FAMILY, s)
#define GIVEN(s) norm_kind(VST_NAME_GIVEN, s)
#define BIRTH(s) norm_kind(VST_NAME_BIRTH, s)

/* The phonetic codes of the tokens of a family name, joined by blanks. */
static const char *phon(vst_name_kind kind, const char *s)
{
    static char buf[400];
    vst_name_tokens t;
    buf[0] = '\0';
    if (vst_name_normalize(kind, s, strlen(s), &t, NULL, NULL) != VST_E_OK)
        return "(error)";
    for (unsigned i = 0; i < t.n; i++) {
        char code[2 * VST_NAME_TOKEN_MAX + 1];
        if (vst_cologne(t.tok[i], t.len[i], code, sizeof code) == (size_t)-1)
            return "(not codable)";
        if (i > 0)
            strcat(buf, " ");
        strcat(buf, code);
    }
    return buf;
}

static void test_notes_vectors(void)
{
    CU_ASSERT_STRING_EQUAL(FAMILY("Müller-Lüdenscheidt"), "MUELLER LUEDENSCHEIDT");
    CU_ASSERT_STRING_EQUAL(phon(VST_NAME_FAMILY, "Müller-Lüdenscheidt"), "657 52682");
    CU_ASSERT_STRING_EQUAL(FAMILY("von Below"), "BELOW");
    CU_ASSERT_STRING_EQUAL(phon(VST_NAME_FAMILY, "von Below"), "153");
    CU_ASSERT_STRING_EQUAL(FAMILY("Schnorr von Carolsfeld"), "SCHNORR CAROLSFELD");
    CU_ASSERT_STRING_EQUAL(phon(VST_NAME_FAMILY, "Schnorr von Carolsfeld"), "867 4758352");
    CU_ASSERT_STRING_EQUAL(FAMILY("Meier-Weber"), "MEIER WEBER");
    CU_ASSERT_STRING_EQUAL(phon(VST_NAME_FAMILY, "Meier-Weber"), "67 317");
    CU_ASSERT_STRING_EQUAL(FAMILY("Ölmann"), "OELMANN");
    CU_ASSERT_STRING_EQUAL(phon(VST_NAME_FAMILY, "Ölmann"), "0566");
    CU_ASSERT_STRING_EQUAL(GIVEN("Prof. Dr. med. Hans-Peter"), "HANS PETER");
    CU_ASSERT_STRING_EQUAL(phon(VST_NAME_GIVEN, "Prof. Dr. med. Hans-Peter"), "068 127");
    /* ß, ẞ (U+1E9E) and ss all become SS */
    CU_ASSERT_STRING_EQUAL(FAMILY("Strauß"), "STRAUSS");
    CU_ASSERT_STRING_EQUAL(FAMILY("STRAU\xe1\xba\x9e"), "STRAUSS");
    CU_ASSERT_STRING_EQUAL(FAMILY("Strauss"), "STRAUSS");
    CU_ASSERT_STRING_EQUAL(phon(VST_NAME_FAMILY, "Strauß"), "8278");
    CU_ASSERT_STRING_EQUAL(FAMILY("Öztürk"), "OEZTUERK");
    CU_ASSERT_STRING_EQUAL(FAMILY("Ozturk"), "OZTURK");
    CU_ASSERT_STRING_EQUAL(phon(VST_NAME_FAMILY, "Öztürk"), "08274");
    CU_ASSERT_STRING_EQUAL(phon(VST_NAME_FAMILY, "Ozturk"), "08274");
    /* José precomposed (U+00E9) and decomposed (E + U+0301) */
    CU_ASSERT_STRING_EQUAL(GIVEN("Jos\xc3\xa9"), "JOSE");
    CU_ASSERT_STRING_EQUAL(GIVEN("Jose\xcc\x81"), "JOSE");
    CU_ASSERT_STRING_EQUAL(phon(VST_NAME_GIVEN, "Jos\xc3\xa9"), "08");
    CU_ASSERT_STRING_EQUAL(FAMILY("Çelik"), "CELIK");
    CU_ASSERT_STRING_EQUAL(phon(VST_NAME_FAMILY, "Çelik"), "854");
}

/* A base letter followed by U+0308 is the umlaut; other marks vanish. */
static void test_combining_marks(void)
{
    CU_ASSERT_STRING_EQUAL(FAMILY("Mu\xcc\x88ller"), "MUELLER");
    CU_ASSERT_STRING_EQUAL(FAMILY("MU\xcc\x88LLER"), "MUELLER");
    CU_ASSERT_STRING_EQUAL(FAMILY("O\xcc\x88lmann"), "OELMANN");
    CU_ASSERT_STRING_EQUAL(FAMILY("Ba\xcc\x88r"), "BAER");
    /* on other letters the diaeresis is a mark like any other: Ë, Ï */
    CU_ASSERT_STRING_EQUAL(FAMILY("Noe\xcc\x88l"), "NOEL");
    CU_ASSERT_STRING_EQUAL(FAMILY("Zoi\xcc\x88"), "ZOI");
    /* only right after the base letter (NFC does not compose A + U+0301
     * + U+0308 into Ä either), never twice, never at the start */
    CU_ASSERT_STRING_EQUAL(FAMILY("Ma\xcc\x81\xcc\x88rz"), "MARZ");
    CU_ASSERT_STRING_EQUAL(FAMILY("M\xc3\xa4\xcc\x88rz"), "MAERZ");
    CU_ASSERT_STRING_EQUAL(FAMILY("\xcc\x88"
                                  "Abel"),
                           "ABEL");
    /* precomposed letters with a further mark keep the umlaut: Ǟ Ȫ Ǖ */
    CU_ASSERT_STRING_EQUAL(FAMILY("\xc7\x9e\xc8\xaa\xc7\x95"), "AEOEUE");
    /* the header's examples of the Latin table: Ǎ Ș Ş Ț Ţ Ø Ł Æ Œ */
    CU_ASSERT_STRING_EQUAL(FAMILY("\xc7\x8d\xc8\x98\xc5\x9e\xc8\x9a\xc5\xa2"), "ASSTT");
    CU_ASSERT_STRING_EQUAL(FAMILY("Søren Łukasz Ærø Œuvre"), "SOREN LUKASZ AERO OEUVRE");
}

static void test_geb(void)
{
    vst_name_tokens fam, birth;
    const char *s = "Müller geb. Schmidt";
    CU_ASSERT_EQUAL(vst_name_normalize(VST_NAME_FAMILY, s, strlen(s), &fam, &birth, NULL),
                    VST_E_OK);
    CU_ASSERT_STRING_EQUAL(joined(&fam), "MUELLER");
    CU_ASSERT_STRING_EQUAL(joined(&birth), "SCHMIDT");
    s = "Müller geborene von Schmidt-Weber";
    CU_ASSERT_EQUAL(vst_name_normalize(VST_NAME_FAMILY, s, strlen(s), &fam, &birth, NULL),
                    VST_E_OK);
    CU_ASSERT_STRING_EQUAL(joined(&fam), "MUELLER");
    CU_ASSERT_STRING_EQUAL(joined(&birth), "SCHMIDT WEBER");
    /* no GEB: no birth name */
    s = "Müller";
    CU_ASSERT_EQUAL(vst_name_normalize(VST_NAME_FAMILY, s, strlen(s), &fam, &birth, NULL),
                    VST_E_OK);
    CU_ASSERT_EQUAL(birth.n, 0);
    /* GEB at the end: an empty birth name */
    s = "Müller geb.";
    CU_ASSERT_EQUAL(vst_name_normalize(VST_NAME_FAMILY, s, strlen(s), &fam, &birth, NULL),
                    VST_E_OK);
    CU_ASSERT_STRING_EQUAL(joined(&fam), "MUELLER");
    CU_ASSERT_EQUAL(birth.n, 0);
    /* without birth_out the tokens after GEB are not part of the family */
    CU_ASSERT_STRING_EQUAL(FAMILY("Müller geb. Schmidt"), "MUELLER");
    /* nothing before GEB: the family name is empty */
    CU_ASSERT_STRING_EQUAL(FAMILY("geb. Schmidt"), "[name_empty]");
    /* GEB means nothing in a given name */
    CU_ASSERT_STRING_EQUAL(GIVEN("Geb"), "GEB");
}

static void test_particles_and_titles(void)
{
    /* a name of particles only keeps them */
    CU_ASSERT_STRING_EQUAL(FAMILY("Van"), "VAN");
    CU_ASSERT_STRING_EQUAL(FAMILY("von und zu"), "VON UND ZU");
    CU_ASSERT_STRING_EQUAL(BIRTH("de la"), "DE LA");
    /* particles go from family and birth names, not from given names */
    CU_ASSERT_STRING_EQUAL(FAMILY("Freiherr von und zu Guttenberg"), "GUTTENBERG");
    CU_ASSERT_STRING_EQUAL(BIRTH("van der Berg"), "BERG");
    CU_ASSERT_STRING_EQUAL(FAMILY("O'Brien"), "BRIEN");
    /* the codes docs/linkage.md shows for these */
    CU_ASSERT_STRING_EQUAL(phon(VST_NAME_FAMILY, "Van"), "36");
    CU_ASSERT_STRING_EQUAL(phon(VST_NAME_FAMILY, "O'Brien"), "176");
    CU_ASSERT_STRING_EQUAL(phon(VST_NAME_FAMILY, "Smith"), "862");
    CU_ASSERT_STRING_EQUAL(FAMILY("d’Angelo"), "ANGELO"); /* U+2019 */
    CU_ASSERT_STRING_EQUAL(GIVEN("Van"), "VAN");
    CU_ASSERT_STRING_EQUAL(GIVEN("Maria de Jesus"), "MARIA DE JESUS");
    /* titles go from every field, also when nothing is left */
    CU_ASSERT_STRING_EQUAL(FAMILY("Dr. Dipl.-Ing. Meier"), "MEIER");
    CU_ASSERT_STRING_EQUAL(BIRTH("Prof. Schmidt"), "SCHMIDT");
    CU_ASSERT_STRING_EQUAL(GIVEN("Dr. Prof."), "[name_empty]");
    /* "h.c." after a title is the title HC; H. C. alone are initials */
    CU_ASSERT_STRING_EQUAL(GIVEN("Prof. Dr. h.c. Hans"), "HANS");
    CU_ASSERT_STRING_EQUAL(GIVEN("H. C."), "H C");
    CU_ASSERT_STRING_EQUAL(FAMILY("Dr. H. Meier"), "H MEIER");
    CU_ASSERT_STRING_EQUAL(GIVEN("Dr. H"), "H");
    CU_ASSERT_STRING_EQUAL(GIVEN("Dr. H H"), "H H");
}

static void test_other_scripts(void)
{
    vst_name_tokens t;
    unsigned dropped = 99;
    const char *s = "Иван Smith"; /* four Cyrillic letters */
    CU_ASSERT_EQUAL(vst_name_normalize(VST_NAME_GIVEN, s, strlen(s), &t, NULL, &dropped), VST_E_OK);
    CU_ASSERT_STRING_EQUAL(joined(&t), "SMITH");
    CU_ASSERT_EQUAL(dropped, 4);
    /* symbols, punctuation and invisible characters are not letters */
    s = "Anna\xe2\x80\x94Lena \xf0\x9f\x98\x80 Ma\xc2\xadria"; /* em dash, emoji, soft hyphen */
    CU_ASSERT_EQUAL(vst_name_normalize(VST_NAME_GIVEN, s, strlen(s), &t, NULL, &dropped), VST_E_OK);
    CU_ASSERT_STRING_EQUAL(joined(&t), "ANNA LENA MARIA");
    CU_ASSERT_EQUAL(dropped, 0);
    /* only other scripts: nothing left */
    s = "Γιώργος";
    CU_ASSERT_EQUAL(vst_name_normalize(VST_NAME_GIVEN, s, strlen(s), &t, NULL, &dropped),
                    VST_E_NAME_EMPTY);
    CU_ASSERT_EQUAL(t.n, 0);
    CU_ASSERT_STRING_EQUAL(GIVEN("李"), "[name_empty]");
}

static void test_invalid_utf8(void)
{
    static const char *const bad[] = {
        "M\xc0\xbcller",     /* overlong */
        "M\xe0\x80\xbcller", /* overlong, 3 bytes */
        "M\xed\xa0\x80ller", /* surrogate */
        "M\xf4\x90\x80\x80", /* above U+10FFFF */
        "M\xc3",             /* truncated */
        "M\xe1\xba",         /* truncated */
        "M\xfcller",         /* Latin-1 */
        "\x80",              /* stray continuation byte */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CU_ASSERT_STRING_EQUAL(FAMILY(bad[i]), "[invalid_utf8]");
    /* the error leaves birth_out zeroed as well */
    vst_name_tokens fam, birth;
    memset(&birth, 'J', sizeof birth);
    const char *s = "A geb. B \xc3";
    CU_ASSERT_EQUAL(vst_name_normalize(VST_NAME_FAMILY, s, strlen(s), &fam, &birth, NULL),
                    VST_E_INVALID_UTF8);
    static const vst_name_tokens zero;
    CU_ASSERT(memcmp(&birth, &zero, sizeof birth) == 0);
}

static void test_limits(void)
{
    CU_ASSERT_STRING_EQUAL(GIVEN("A B C E F G I J"), "A B C E F G I J");
    CU_ASSERT_STRING_EQUAL(GIVEN("A B C E F G I J K"), "[name_tokens]");
    /* titles and particles do not count, kept particles do */
    CU_ASSERT_STRING_EQUAL(FAMILY("von A B C E F G I J"), "A B C E F G I J");
    CU_ASSERT_STRING_EQUAL(FAMILY("de la de la de la de la"), "DE LA DE LA DE LA DE LA");
    CU_ASSERT_STRING_EQUAL(FAMILY("de la de la de la de la de"), "[name_tokens]");
    CU_ASSERT_STRING_EQUAL(FAMILY("de la de la de la de la de Meier"), "MEIER");
    /* 40 letters fit, 41 do not; ß counts as the two letters it becomes */
    char s[128];
    memset(s, 'A', 40);
    s[40] = '\0';
    CU_ASSERT_EQUAL(strlen(GIVEN(s)), 40);
    s[40] = 'A', s[41] = '\0';
    CU_ASSERT_STRING_EQUAL(GIVEN(s), "[name_token_length]");
    s[0] = '\0';
    for (int i = 0; i < 20; i++)
        strcat(s, "ß");
    CU_ASSERT_EQUAL(strlen(GIVEN(s)), 40);
    strcat(s, "ß");
    CU_ASSERT_STRING_EQUAL(GIVEN(s), "[name_token_length]");
    /* empty after normalization */
    CU_ASSERT_STRING_EQUAL(GIVEN(""), "[name_empty]");
    CU_ASSERT_STRING_EQUAL(GIVEN(" - . ' 1 2"), "[name_empty]");
    CU_ASSERT_STRING_EQUAL(FAMILY("\xcc\x88"), "[name_empty]");
}

static vst_person_raw raw_person(const char *given, const char *family, const char *birth,
                                 const char *date, const char *sex)
{
    vst_person_raw r = {
        given, strlen(given), family, strlen(family), birth, birth ? strlen(birth) : 0,
        date,  strlen(date),  sex,    strlen(sex)};
    return r;
}

static void test_person(void)
{
    vst_person p;
    const char *which = "junk";
    vst_person_raw r = raw_person("Hans-Peter", "Müller geb. Schmidt", NULL, "2017-03-15", "M");
    CU_ASSERT_EQUAL(vst_person_normalize(&r, &p, &which), VST_E_OK);
    CU_ASSERT_PTR_NULL(which);
    CU_ASSERT_STRING_EQUAL(joined(&p.given), "HANS PETER");
    CU_ASSERT_STRING_EQUAL(joined(&p.family), "MUELLER");
    CU_ASSERT_STRING_EQUAL(joined(&p.birth), "SCHMIDT");
    CU_ASSERT_STRING_EQUAL(p.date, "20170315");
    CU_ASSERT_EQUAL(p.sex, 'M');
    /* an explicit birth name wins over GEB */
    r = raw_person("Anna", "Müller geb. Schmidt", "von Weber", "2020-02-29", "F");
    CU_ASSERT_EQUAL(vst_person_normalize(&r, &p, &which), VST_E_OK);
    CU_ASSERT_STRING_EQUAL(joined(&p.family), "MUELLER");
    CU_ASSERT_STRING_EQUAL(joined(&p.birth), "WEBER");
    CU_ASSERT_STRING_EQUAL(p.date, "20200229");
    CU_ASSERT_EQUAL(p.sex, 'W');
    /* no birth name at all */
    r = raw_person("Anna", "Meier", NULL, "2016-12-31", "X");
    CU_ASSERT_EQUAL(vst_person_normalize(&r, &p, &which), VST_E_OK);
    CU_ASSERT_EQUAL(p.birth.n, 0);
    CU_ASSERT_EQUAL(p.sex, 'X');
    static const char *const sexes_ok[] = {"M", "W", "D", "X", "F"};
    static const char sexes_out[] = {'M', 'W', 'D', 'X', 'W'};
    for (size_t i = 0; i < 5; i++) {
        r = raw_person("Anna", "Meier", NULL, "2016-12-31", sexes_ok[i]);
        CU_ASSERT_EQUAL(vst_person_normalize(&r, &p, &which), VST_E_OK);
        CU_ASSERT_EQUAL(p.sex, sexes_out[i]);
    }
}

/* A refused person: the error, the field it names, and nothing left in
 * the output. */
static void refused(vst_person_raw r, vst_err want, const char *field)
{
    vst_person p;
    static const vst_person zero;
    const char *which = NULL;
    memset(&p, 'J', sizeof p);
    vst_err e = vst_person_normalize(&r, &p, &which);
    CU_ASSERT_EQUAL(e, want);
    CU_ASSERT_PTR_NOT_NULL_FATAL(which);
    CU_ASSERT_STRING_EQUAL(which, field);
    CU_ASSERT(memcmp(&p, &zero, sizeof p) == 0);
}

static void test_person_refused(void)
{
    refused(raw_person("", "Meier", NULL, "2017-03-15", "M"), VST_E_NAME_EMPTY, "given_names");
    refused(raw_person("Anna", "M\xc3", NULL, "2017-03-15", "M"), VST_E_INVALID_UTF8,
            "family_names");
    refused(raw_person("Anna", "Meier", "Dr.", "2017-03-15", "M"), VST_E_NAME_EMPTY, "birth_name");
    refused(raw_person("A B C E F G I J K", "Meier", NULL, "2017-03-15", "M"), VST_E_NAME_TOKENS,
            "given_names");
    static const char *const bad_dates[] = {"2019-02-30",
                                            "2017-13-01",
                                            "2017-00-10",
                                            "2017-04-31",
                                            "0000-01-01",
                                            "2019-02-29",
                                            "15.03.2017",
                                            "2017-3-15",
                                            "20170315",
                                            "2017-03-15 ",
                                            "2017/03/15",
                                            "2017-03-1x",
                                            ""};
    for (size_t i = 0; i < sizeof bad_dates / sizeof bad_dates[0]; i++)
        refused(raw_person("Anna", "Meier", NULL, bad_dates[i], "W"), VST_E_INVALID_DATE,
                "birth_date");
    static const char *const bad_sex[] = {"m", "w", "f", "U", "MW", "", " ", "Ä"};
    for (size_t i = 0; i < sizeof bad_sex / sizeof bad_sex[0]; i++)
        refused(raw_person("Anna", "Meier", NULL, "2017-03-15", bad_sex[i]), VST_E_NOT_ALLOWED,
                "sex");
    /* the first failing field in the order given, family, birth, date, sex */
    refused(raw_person("Anna", "", NULL, "bad", "?"), VST_E_NAME_EMPTY, "family_names");
}

/* The three codes of the registry: wire codes, 422, hints without values. */
static void test_error_codes(void)
{
    CU_ASSERT_STRING_EQUAL(vst_err_code(VST_E_NAME_EMPTY), "name_empty");
    CU_ASSERT_STRING_EQUAL(vst_err_code(VST_E_NAME_TOKENS), "name_tokens");
    CU_ASSERT_STRING_EQUAL(vst_err_code(VST_E_NAME_TOKEN_LENGTH), "name_token_length");
    CU_ASSERT_EQUAL(vst_err_status(VST_E_NAME_EMPTY), 422);
    CU_ASSERT_EQUAL(vst_err_status(VST_E_NAME_TOKENS), 422);
    CU_ASSERT_EQUAL(vst_err_status(VST_E_NAME_TOKEN_LENGTH), 422);
}

static const vst_test tests[] = {
    {"vectors of the notes", test_notes_vectors},
    {"combining marks and the Latin table", test_combining_marks},
    {"GEB starts the birth name", test_geb},
    {"particles and titles", test_particles_and_titles},
    {"other scripts dropped and counted", test_other_scripts},
    {"invalid UTF-8 refused", test_invalid_utf8},
    {"token count and length", test_limits},
    {"person: names, date, sex", test_person},
    {"person: refusals name the field", test_person_refused},
    {"error codes", test_error_codes},
    {NULL, NULL},
};

int vst_register_tests(void)
{
    VST_ADD_SUITE("normalize", tests);
    return 0;
}
