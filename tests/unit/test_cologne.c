/* The Kölner Phonetik (server/linkage/cologne.c) against every vector of
 * Apache commons-codec's ColognePhoneticTest that the design notes list
 * (/work/shared/notes/linkage.md §3; docs/linkage.md "Kölner Phonetik").
 *
 * vst_cologne takes normalized tokens only, so the inputs here are upper
 * case and umlauts are written as normalization writes them (Ä Ö Ü ß ->
 * AE OE UE SS). Apache maps them to A O U S instead; for every vector with
 * an umlaut both spellings are coded and must give Apache's code (an E
 * after a vowel codes 0 like the vowel, and neither E nor the second S is
 * a context letter C or X look back at, so the extra letter never shows).
 * Apache skips a hyphen without breaking a run; the hyphenated vectors are
 * therefore coded as one concatenated token, and also token by token, the
 * way vst-keyd codes them. */
#include <string.h>

#include "cunit_main.h"
#include "linkage/cologne.h"

static const char *code(const char *s)
{
    static char out[128];
    if (vst_cologne(s, strlen(s), out, sizeof out) == (size_t)-1)
        return "(refused)";
    return out;
}

typedef struct {
    const char *in;       /* normalized: umlauts as AE OE UE, ß as SS */
    const char *apache;   /* Apache's preprocessing (A O U S), or NULL when the same */
    const char *expected; /* ColognePhoneticTest's code */
} vector;

static void check(const vector *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *got = code(v[i].in);
        if (strcmp(got, v[i].expected) != 0) {
            fprintf(stderr, "\n  %s: got %s, want %s", v[i].in, got, v[i].expected);
            CU_FAIL("Kölner Phonetik code differs from Apache's");
        }
        if (v[i].apache != NULL && strcmp(code(v[i].apache), v[i].expected) != 0) {
            fprintf(stderr, "\n  %s: got %s, want %s", v[i].apache, code(v[i].apache),
                    v[i].expected);
            CU_FAIL("Apache's umlaut spelling codes differently");
        }
    }
}

#define CHECK(v) check(v, sizeof v / sizeof v[0])

static void test_names(void)
{
    static const vector v[] = {
        {"MUELLER", "MULLER", "657"},
        {"SCHMIDT", NULL, "862"},
        {"SCHNEIDER", NULL, "8627"},
        {"FISCHER", NULL, "387"},
        {"WEBER", NULL, "317"},
        {"WAGNER", NULL, "3467"},
        {"BECKER", NULL, "147"},
        {"HOFFMANN", NULL, "0366"},
        {"SCHAEFER", "SCHAFER", "837"},
        {"BRESCHNEW", NULL, "17863"},
        {"PETER", NULL, "127"},
        {"EBERHARD", NULL, "01772"},
        {"EBERHARDT", NULL, "01772"},
        {"XANTHIPPE", NULL, "48621"},
        {"ZACHARIAS", NULL, "8478"},
        /* Müller-Lüdenscheidt: Apache skips the hyphen */
        {"MUELLERLUEDENSCHEIDT", "MULLERLUDENSCHEIDT", "65752682"},
        /* not one of Apache's vectors: Strauß, for the ß claim */
        {"STRAUSS", "STRAUS", "8278"},
    };
    CHECK(v);
    /* token by token, as keyd codes F1 and the other tokens */
    CU_ASSERT_STRING_EQUAL(code("MUELLER"), "657");
    CU_ASSERT_STRING_EQUAL(code("LUEDENSCHEIDT"), "52682");
}

static void test_places(void)
{
    static const vector v[] = {
        {"WIKIPEDIA", NULL, "3412"},
        {"PHARMA", NULL, "376"},
        {"MOENCHENGLADBACH", "MONCHENGLADBACH", "664645214"},
        {"BERGISCHGLADBACH", NULL, "174845214"}, /* bergisch-gladbach */
        {"HAMBURG", NULL, "06174"},
        {"HANNOVER", NULL, "0637"},
        {"DEUTSCH", NULL, "28"},
        {"DEUTZ", NULL, "28"},
        {"MATSCH", NULL, "68"},
        {"MATZ", NULL, "68"},
        {"CHRISTSTOLLEN", NULL, "478256"},
        {"HOLZBAU", NULL, "0581"},
        {"ARBEITSAMT", NULL, "071862"},
        {"HEITHABU", NULL, "021"},
    };
    CHECK(v);
    CU_ASSERT_STRING_EQUAL(code("BERGISCH"), "1748");
    CU_ASSERT_STRING_EQUAL(code("GLADBACH"), "45214");
}

static void test_odd_inputs(void)
{
    static const vector v[] = {
        {"AABJOE", NULL, "01"}, {"AACLAN", NULL, "0856"}, {"AYCHLMAJR", NULL, "04567"},
        {"H", NULL, ""},        {"X", NULL, "48"},        {"AX", NULL, "048"},
        {"CX", NULL, "48"},     {"CL", NULL, "45"},       {"ACL", NULL, "085"},
        {"PH", NULL, "3"},      {"", NULL, ""},
    };
    CHECK(v);
}

static void test_variant_groups(void)
{
    static const char *const g67[] = {"MEIER", "MAIER", "MAIR", "MEYER", "MEYR", "MEJER", "MAJOR"};
    static const char *const g65[] = {"MELLA", "MILAH", "MOULLA", "MELLAH", "MUEHLE", "MULE"};
    for (size_t i = 0; i < sizeof g67 / sizeof g67[0]; i++)
        CU_ASSERT_STRING_EQUAL(code(g67[i]), "67");
    for (size_t i = 0; i < sizeof g65 / sizeof g65[0]; i++)
        CU_ASSERT_STRING_EQUAL(code(g65[i]), "65");
}

/* The claim of the header beyond the vectors: writing an umlaut as AE OE
 * UE instead of A O U, and ß as SS instead of S, never changes the code.
 * Every string of up to 4 letters over the letters the context rules look
 * at, with each A O U followed by an E and each S doubled, against the
 * string itself. */
static void test_umlaut_spelling(void)
{
    static const char alphabet[] = "AOUESCXHKQZDTPL";
    const size_t k = sizeof alphabet - 1;
    size_t checked = 0, differ = 0;
    for (size_t len = 1; len <= 4; len++) {
        size_t total = 1;
        for (size_t i = 0; i < len; i++)
            total *= k;
        for (size_t x = 0; x < total; x++) {
            char plain[8], spelled[16], a[40], b[40];
            size_t m = 0;
            for (size_t i = 0, y = x; i < len; i++, y /= k) {
                plain[i] = alphabet[y % k];
                spelled[m++] = plain[i];
                if (plain[i] == 'A' || plain[i] == 'O' || plain[i] == 'U')
                    spelled[m++] = 'E';
                else if (plain[i] == 'S')
                    spelled[m++] = 'S';
            }
            if (vst_cologne(plain, len, a, sizeof a) == (size_t)-1 ||
                vst_cologne(spelled, m, b, sizeof b) == (size_t)-1 || strcmp(a, b) != 0)
                differ++;
            checked++;
        }
    }
    CU_ASSERT_EQUAL(checked, 15 + 225 + 3375 + 50625);
    CU_ASSERT_EQUAL(differ, 0);
}

/* Only A-Z: lower case, blanks, hyphens, digits, NUL, bytes >= 0x80 are
 * refused with an empty output, never coded or skipped. */
static void test_refuses_other_bytes(void)
{
    static const char *const bad[] = {
        "mueller", "MUE LLER", "MUELLER-LUEDENSCHEIDT", "M1", "M\xc3\x9c", "@", "[", "`", "{"};
    char out[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(out, "junk", 5);
        CU_ASSERT_EQUAL(vst_cologne(bad[i], strlen(bad[i]), out, sizeof out), (size_t)-1);
        CU_ASSERT_STRING_EQUAL(out, "");
    }
    /* an embedded NUL inside the given length */
    CU_ASSERT_EQUAL(vst_cologne("AB\0C", 4, out, sizeof out), (size_t)-1);
    CU_ASSERT_STRING_EQUAL(out, "");
    /* n bounds the input: no NUL needed, bytes after n are not read */
    CU_ASSERT_EQUAL(vst_cologne("PETER-", 5, out, sizeof out), 3);
    CU_ASSERT_STRING_EQUAL(out, "127");
}

static void test_buffer_size(void)
{
    char out[16];
    /* SCHNEIDER codes to 4 digits: 5 bytes with the NUL fit, 4 do not */
    CU_ASSERT_EQUAL(vst_cologne("SCHNEIDER", 9, out, 5), 4);
    CU_ASSERT_STRING_EQUAL(out, "8627");
    memcpy(out, "junk", 5);
    CU_ASSERT_EQUAL(vst_cologne("SCHNEIDER", 9, out, 4), (size_t)-1);
    CU_ASSERT_STRING_EQUAL(out, "");
    CU_ASSERT_EQUAL(vst_cologne("A", 1, out, 1), (size_t)-1);
    CU_ASSERT_EQUAL(vst_cologne("", 0, out, 1), 0);
    CU_ASSERT_STRING_EQUAL(out, "");
    CU_ASSERT_EQUAL(vst_cologne("A", 1, out, 0), (size_t)-1);
    CU_ASSERT_EQUAL(vst_cologne("A", 1, NULL, 8), (size_t)-1);
    /* the header's bound: 2 * n + 1 always suffices (X codes to 48) */
    CU_ASSERT_EQUAL(vst_cologne("XAXAX", 5, out, 11), 6);
    CU_ASSERT_STRING_EQUAL(out, "484848");
}

static const vst_test tests[] = {
    {"names", test_names},
    {"places and words", test_places},
    {"odd inputs", test_odd_inputs},
    {"variant groups", test_variant_groups},
    {"AE OE UE SS code like A O U S", test_umlaut_spelling},
    {"refuses bytes outside A-Z", test_refuses_other_bytes},
    {"buffer too small", test_buffer_size},
    {NULL, NULL},
};

int vst_register_tests(void)
{
    VST_ADD_SUITE("cologne", tests);
    return 0;
}
