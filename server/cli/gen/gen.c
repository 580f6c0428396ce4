/* Synthetic sgb5 records; see gen.h.
 *
 * Speed matters (benchmarks produce millions of records), so the line is
 * written by hand into the caller's buffer, without stdio or allocation.
 *
 * Randomness: the record stream is xoshiro256** seeded by splitmix64. The
 * insured person of a record and the provider are drawn as an index; all of
 * that person's (provider's) attributes then come from a splitmix64 stream
 * keyed by (seed, index), so a person keeps the same name, birth date and
 * address in every record without any table in memory. The person's KVNR is
 * a keyed pseudo-random permutation of the index over the 26 x 10^8 possible
 * KVNR bodies (a 4-round Feistel network on 32 bits with cycle walking), so
 * distinct persons have distinct KVNRs.
 *
 * Names are composed from syllables (three for a surname, two or three for a
 * given name) so that they look like names but are not drawn from any list of
 * real names; the surname syllables are chosen so that the combinations are
 * not common German surnames. */
#include "cli/gen/gen.h"

#include <stdlib.h>
#include <string.h>

/* ---- PRNG ----------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

typedef struct {
    uint64_t s[4];
} xoshiro;

static uint64_t xo_next(xoshiro *x)
{
    uint64_t *s = x->s;
    uint64_t r = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* A uniform-enough integer in [0, n) for n <= 2^32 (multiply-shift; the bias
 * is below 2^-32 and irrelevant for test data). */
static uint32_t below(uint64_t r, uint32_t n)
{
    return (uint32_t)(((r >> 32) * (uint64_t)n) >> 32);
}

/* A stream for the attributes of one person or provider. */
typedef struct {
    uint64_t s;
} stream;

static uint32_t st_below(stream *st, uint32_t n)
{
    return below(splitmix64(&st->s), n);
}

#define PERSON_SPACE 2600000000U /* KVNR bodies: letter (26) x 8 digits */
#define PROVIDERS 25000U         /* size of the provider pool */

struct vst_gen {
    xoshiro x;
    uint64_t persons;      /* 0: a new person per record */
    uint64_t next_person;  /* next fresh person when persons == 0 */
    uint64_t person_key;   /* keys the person streams */
    uint64_t provider_key; /* keys the provider streams */
    uint32_t feistel[4];   /* round keys of the KVNR permutation */
    char scratch[VST_GEN_MAX_LINE + 512];
};

vst_gen *vst_gen_new(uint64_t seed)
{
    vst_gen *g = calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    uint64_t sm = seed;
    for (int i = 0; i < 4; i++)
        g->x.s[i] = splitmix64(&sm);
    g->person_key = splitmix64(&sm);
    g->provider_key = splitmix64(&sm);
    for (int i = 0; i < 4; i++)
        g->feistel[i] = (uint32_t)splitmix64(&sm);
    return g;
}

void vst_gen_free(vst_gen *g)
{
    free(g);
}

int vst_gen_set_persons(vst_gen *g, uint64_t n)
{
    if (n > VST_GEN_MAX_PERSONS)
        return -1;
    g->persons = n;
    return 0;
}

uint64_t vst_gen_u64(vst_gen *g)
{
    return xo_next(&g->x);
}

static uint32_t rnd(vst_gen *g, uint32_t n)
{
    return below(xo_next(&g->x), n);
}

/* ---- writing -------------------------------------------------------------- */

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define PUT(p, lit) ((p) = put((p), (lit), sizeof(lit) - 1))

/* v as exactly w decimal digits (leading zeros). */
static char *put_fixed(char *p, uint32_t v, int w)
{
    for (int i = w - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + w;
}

static char *put_uint(char *p, uint64_t v)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

/* ---- identifiers ---------------------------------------------------------- */

static uint32_t mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7FEB352DU;
    x ^= x >> 15;
    x *= 0x846CA68BU;
    x ^= x >> 16;
    return x;
}

/* A keyed permutation of [0, 2^32). */
static uint32_t feistel32(const uint32_t k[4], uint32_t v)
{
    uint32_t l = v >> 16, r = v & 0xFFFFU;
    for (int i = 0; i < 4; i++) {
        uint32_t f = mix32(r ^ k[i]) & 0xFFFFU;
        uint32_t t = l ^ f;
        l = r;
        r = t;
    }
    return (l << 16) | r;
}

/* KVNR body for a value in [0, PERSON_SPACE): letter, 8 digits, check. */
static void kvnr_from_value(uint32_t v, char out[VST_ID_MAXLEN + 1])
{
    out[0] = (char)('A' + v / 100000000U);
    put_fixed(out + 1, v % 100000000U, 8);
    out[9] = (char)('0' + vst_id_check_digit(VST_ID_KVNR, out));
    out[10] = '\0';
}

static void person_kvnr(const vst_gen *g, uint64_t i, char out[VST_ID_MAXLEN + 1])
{
    /* cycle walking: a permutation of [0, 2^32) restricted to [0, N) by
     * re-applying it until the value falls inside is a permutation of
     * [0, N); about 1.65 rounds on average. */
    uint32_t v = (uint32_t)i;
    do
        v = feistel32(g->feistel, v);
    while (v >= PERSON_SPACE);
    kvnr_from_value(v, out);
}

size_t vst_gen_person_kvnr(const vst_gen *g, uint64_t i, char out[VST_ID_MAXLEN + 1])
{
    if (i >= PERSON_SPACE)
        return 0;
    person_kvnr(g, i, out);
    return 10;
}

/* Specialty groups (LANR digits 8-9), KV regions (BSNR digits 1-2),
 * institution classes (IK digits 1-2): plausible values, not a registry. */
static const uint8_t lanr_groups[] = {1,  2,  3,  4,  8,  9,  10, 13, 15, 23, 25,
                                      34, 38, 47, 50, 51, 58, 60, 70, 71, 99};
static const uint8_t kv_regions[] = {1,  2,  3,  17, 20, 38, 46, 51, 52,
                                     71, 72, 73, 78, 83, 88, 93, 98};
static const uint8_t ik_classes[] = {26, 26, 26, 26, 30, 33, 45, 51, 59, 60, 77};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void make_lanr(uint64_t r, char out[VST_ID_MAXLEN + 1])
{
    put_fixed(out, below(r, 1000000U), 6);
    out[6] = (char)('0' + vst_id_check_digit(VST_ID_LANR, out));
    put_fixed(out + 7, lanr_groups[(r & 0xFFFF) % NELEM(lanr_groups)], 2);
    out[9] = '\0';
}

static void make_bsnr(uint64_t r, char out[VST_ID_MAXLEN + 1])
{
    put_fixed(out, kv_regions[(r & 0xFFFF) % NELEM(kv_regions)], 2);
    put_fixed(out + 2, below(r, 10000000U), 7);
    out[9] = '\0';
}

static void make_ik(uint64_t r, char out[VST_ID_MAXLEN + 1])
{
    put_fixed(out, ik_classes[(r & 0xFFFF) % NELEM(ik_classes)], 2);
    put_fixed(out + 2, 1 + ((r >> 16) & 0xFFFF) % 16, 2); /* region 01-16 */
    put_fixed(out + 4, below(r, 10000U), 4);
    out[8] = (char)('0' + vst_id_check_digit(VST_ID_IK, out));
    out[9] = '\0';
}

size_t vst_gen_id(vst_gen *g, vst_id_kind kind, char out[VST_ID_MAXLEN + 1])
{
    uint64_t r = xo_next(&g->x);
    switch (kind) {
    case VST_ID_KVNR:
        kvnr_from_value(below(r, PERSON_SPACE), out);
        return 10;
    case VST_ID_LANR:
        make_lanr(r, out);
        return 9;
    case VST_ID_BSNR:
        make_bsnr(r, out);
        return 9;
    case VST_ID_IK:
        make_ik(r, out);
        return 9;
    default:
        out[0] = '\0';
        return 0;
    }
}

/* ---- names ---------------------------------------------------------------- */

typedef struct {
    const char *s;
    unsigned char n;
} syl;

#define S(x)                                                                                       \
    {                                                                                              \
        x, sizeof(x) - 1                                                                           \
    }

/* Onsets start with an ASCII lower-case letter (capitalized in place). */
static const syl last_on[] = {
    S("bor"), S("ven"), S("tal"), S("mir"), S("kas"), S("lod"), S("dre"), S("sem"),
    S("wal"), S("rup"), S("fen"), S("gol"), S("hin"), S("jor"), S("nev"), S("pas"),
    S("tre"), S("ul"),  S("zan"), S("ob"),  S("el"),  S("ar"),  S("is"),  S("qua"),
    S("vel"), S("kor"), S("dim"), S("sol"), S("yer"), S("hab"), S("mun"), S("tev"),
};
static const syl last_mid[] = {
    S("en"), S("a"),  S("i"),  S("o"),  S("u"),  S("ri"), S("la"), S("me"),
    S("no"), S("ta"), S("ve"), S("li"), S("ro"), S("ke"), S("ö"),  S("ü"),
    S("sa"), S("de"), S("mo"), S("ni"), S("pe"), S("tu"), S("wi"), S("zo"),
};
static const syl last_end[] = {
    S("tak"),  S("vok"),  S("rix"),  S("dul"), S("mek"), S("zon"),  S("pask"), S("quin"),
    S("lett"), S("brum"), S("gast"), S("nol"), S("ris"), S("vant"), S("lix"),  S("dorp"),
    S("mos"),  S("teck"), S("wurz"), S("fal"), S("gin"), S("sker"), S("bolt"), S("rach"),
};
static const syl first_on[] = {
    S("li"), S("ma"), S("so"), S("ve"), S("ta"), S("ne"), S("ki"), S("ro"),
    S("a"),  S("e"),  S("jo"), S("fa"), S("da"), S("mi"), S("lu"), S("be"),
    S("ze"), S("no"), S("ca"), S("te"), S("ha"), S("ya"), S("o"),  S("wi"),
};
static const syl first_mid[] = {
    S("ra"), S("le"), S("mi"), S("no"), S("ri"), S("va"), S("lo"), S("se"),
    S("dä"), S("ny"), S("ki"), S("lu"), S("be"), S("to"), S("ma"), S("je"),
};
static const syl first_end[] = {
    S("ra"), S("ne"),  S("vo"), S("lin"), S("mar"), S("tis"),  S("nea"),  S("rik"),
    S("sa"), S("dor"), S("la"), S("ven"), S("mo"),  S("riel"), S("thea"), S("mun"),
};
static const syl street_end[] = {
    S("weg"),    S("gasse"), S("ring"), S("allee"), S("pfad"),  S("steig"),
    S("straße"), S("damm"),  S("ufer"), S("platz"), S("zeile"), S("hof"),
};
static const syl city_end[] = {
    S("hausen"), S("dorf"), S("feld"), S("burg"), S("stedt"), S("lingen"),
    S("bach"),   S("au"),   S("heim"), S("rode"), S("born"),  S("wald"),
};
static const syl prov_kind[] = {S("Praxis "), S("Praxis Dr. "), S("MVZ "),
                                S("Gemeinschaftspraxis ")};
static const syl inst_kind[] = {S("Klinikum "), S("Krankenhaus "), S("Reha-Zentrum "),
                                S("Fachklinik ")};

static char *put_syl(char *p, stream *st, const syl *t, uint32_t n)
{
    const syl *s = &t[st_below(st, n)];
    return put(p, s->s, s->n);
}

#define PUT_SYL(p, st, t) ((p) = put_syl((p), (st), (t), (uint32_t)NELEM(t)))

static char *put_last_name(char *p, stream *st)
{
    char *start = p;
    PUT_SYL(p, st, last_on);
    PUT_SYL(p, st, last_mid);
    PUT_SYL(p, st, last_end);
    start[0] = (char)(start[0] - 'a' + 'A');
    return p;
}

static char *put_first_name(char *p, stream *st)
{
    char *start = p;
    PUT_SYL(p, st, first_on);
    if (st_below(st, 3) != 0)
        PUT_SYL(p, st, first_mid);
    PUT_SYL(p, st, first_end);
    start[0] = (char)(start[0] - 'a' + 'A');
    return p;
}

/* A place-name stem: onset + middle syllable, capitalized. */
static char *put_stem(char *p, stream *st)
{
    char *start = p;
    PUT_SYL(p, st, last_on);
    PUT_SYL(p, st, last_mid);
    start[0] = (char)(start[0] - 'a' + 'A');
    return p;
}

static char *put_postal(char *p, uint32_t r)
{
    return put_fixed(p, 1001U + r % (99998U - 1001U + 1U), 5);
}

/* ---- sections ------------------------------------------------------------- */

static int leap(uint32_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Writes the insured section of person `person`; *birth_year receives the
 * year of birth (a record's period never lies before it). */
static char *put_insured(const vst_gen *g, char *p, uint64_t person, uint32_t *birth_year)
{
    static const uint8_t mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    stream st = {g->person_key ^ (person * 0xD1B54A32D192ED03ULL)};
    splitmix64(&st.s);

    PUT(p, "{\"insured\":{\"kvnr\":\"");
    person_kvnr(g, person, p);
    p += 10;
    PUT(p, "\",\"last_name\":\"");
    p = put_last_name(p, &st);
    if (st_below(&st, 20) == 0) { /* double-barrelled */
        *p++ = '-';
        p = put_last_name(p, &st);
    }
    PUT(p, "\",\"first_name\":\"");
    p = put_first_name(p, &st);
    PUT(p, "\",\"birth_date\":\"");
    uint32_t y = 1920 + st_below(&st, 2024 - 1920 + 1);
    uint32_t m = st_below(&st, 12);
    uint32_t dim = mdays[m] + (m == 1 && leap(y));
    *birth_year = y;
    p = put_fixed(p, y, 4);
    *p++ = '-';
    p = put_fixed(p, m + 1, 2);
    *p++ = '-';
    p = put_fixed(p, 1 + st_below(&st, dim), 2);
    PUT(p, "\",\"sex\":\"");
    uint32_t s = st_below(&st, 100);
    *p++ = s < 49 ? 'W' : s < 97 ? 'M' : s < 99 ? 'D' : 'X';
    PUT(p, "\",\"insurance_status\":\"");
    s = st_below(&st, 100);
    *p++ = s < 62 ? '1' : s < 85 ? '3' : '5';
    PUT(p, "\",\"postal_code\":\"");
    p = put_postal(p, (uint32_t)splitmix64(&st.s));
    PUT(p, "\",\"street\":\"");
    p = put_stem(p, &st);
    PUT_SYL(p, &st, street_end);
    *p++ = ' ';
    p = put_uint(p, 1 + st_below(&st, 180));
    if (st_below(&st, 10) == 0)
        *p++ = (char)('a' + st_below(&st, 3));
    PUT(p, "\",\"city\":\"");
    if (st_below(&st, 8) == 0)
        PUT(p, "Bad ");
    p = put_stem(p, &st);
    PUT_SYL(p, &st, city_end);
    PUT(p, "\"}");
    return p;
}

static char *put_provider(const vst_gen *g, char *p, uint32_t idx)
{
    stream st = {g->provider_key ^ ((uint64_t)idx * 0x9FB21C651E98DF25ULL)};
    splitmix64(&st.s);
    char id[VST_ID_MAXLEN + 1];
    int institution = st_below(&st, 4) == 0;

    PUT(p, ",\"provider\":{");
    if (institution) {
        make_ik(splitmix64(&st.s), id);
        PUT(p, "\"ik\":\"");
        p = put(p, id, 9);
    } else {
        make_lanr(splitmix64(&st.s), id);
        PUT(p, "\"lanr\":\"");
        p = put(p, id, 9);
        if (st_below(&st, 5) != 0) {
            make_bsnr(splitmix64(&st.s), id);
            PUT(p, "\",\"bsnr\":\"");
            p = put(p, id, 9);
        }
    }
    PUT(p, "\",\"postal_code\":\"");
    p = put_postal(p, (uint32_t)splitmix64(&st.s));
    PUT(p, "\",\"name\":\"");
    if (institution) {
        PUT_SYL(p, &st, inst_kind);
        p = put_stem(p, &st);
        PUT_SYL(p, &st, city_end);
    } else {
        PUT_SYL(p, &st, prov_kind);
        p = put_last_name(p, &st);
    }
    PUT(p, "\"}");
    return p;
}

/* Frequent ICD-10-GM codes, mixed with synthetic ones of the same shape. */
static const syl icd_common[] = {
    S("J06.9"), S("I10.-"), S("I10.90"), S("E11.90"), S("Z00.0"), S("M54.5"), S("E78.0"),
    S("K21.9"), S("F32.9"), S("J45.9"),  S("E03.9"),  S("N39.0"), S("R51"),   S("Z25.8"),
};

static char *put_icd(vst_gen *g, char *p)
{
    uint64_t r = xo_next(&g->x);
    if ((r & 3) == 0) {
        const syl *s = &icd_common[below(r, NELEM(icd_common))];
        return put(p, s->s, s->n);
    }
    static const char letters[] = "ABCDEFGHIJKLMNOPQRSTVWXYZ"; /* U is reserved */
    *p++ = letters[((r >> 2) & 0xFF) % (sizeof letters - 1)];
    p = put_fixed(p, below(r, 100), 2);
    uint32_t form = (uint32_t)((r >> 10) & 0xF);
    if (form < 5)
        return p;
    *p++ = '.';
    if (form < 10)
        return put_fixed(p, (uint32_t)((r >> 14) & 0xFF) % 10, 1);
    if (form < 14)
        return put_fixed(p, (uint32_t)((r >> 14) & 0xFF) % 100, 2);
    *p++ = '-';
    return p;
}

static char *put_ops(vst_gen *g, char *p)
{
    static const char chapters[] = "135689";
    uint64_t r = xo_next(&g->x);
    *p++ = chapters[(r & 0xFF) % 6];
    *p++ = '-';
    p = put_fixed(p, below(r, 1000), 3);
    uint32_t form = (uint32_t)((r >> 8) & 3);
    if (form == 0)
        return p;
    *p++ = '.';
    return put_fixed(p, (uint32_t)((r >> 10) & 0xFF) % (form == 1 ? 10 : 100), form == 1 ? 1 : 2);
}

static char *put_ebm(vst_gen *g, char *p)
{
    uint64_t r = xo_next(&g->x);
    p = put_fixed(p, below(r, 100000), 5);
    if ((r & 0xF) < 2)
        *p++ = (char)('A' + ((r >> 4) & 0xFF) % 26);
    return p;
}

static char *put_atc(vst_gen *g, char *p)
{
    static const char groups[] = "ABCDGHJLMNPRSV";
    uint64_t r = xo_next(&g->x);
    *p++ = groups[(r & 0xFF) % (sizeof groups - 1)];
    p = put_fixed(p, (uint32_t)((r >> 8) & 0xFF) % 100, 2);
    *p++ = (char)('A' + ((r >> 16) & 0xFF) % 26);
    *p++ = (char)('A' + ((r >> 24) & 0xFF) % 26);
    return put_fixed(p, below(r, 100), 2);
}

typedef char *(*code_fn)(vst_gen *, char *);

static char *put_list(vst_gen *g, char *p, uint32_t n, code_fn fn)
{
    *p++ = '[';
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0)
            *p++ = ',';
        *p++ = '"';
        p = fn(g, p);
        *p++ = '"';
    }
    *p++ = ']';
    return p;
}

static uint64_t cost(vst_gen *g)
{
    uint64_t r = xo_next(&g->x);
    uint32_t k = (uint32_t)(r & 0xFF);
    if (k < 3)
        return 0;
    if (k < 5)
        return 10000000; /* the maximum, so consumers see the edge */
    static const uint32_t mag[] = {1000, 10000, 10000, 100000, 100000, 100000, 1000000, 10000001};
    return below(r, mag[(r >> 8) & 7]);
}

static char *put_service(vst_gen *g, char *p, uint32_t birth_year)
{
    uint32_t r = (uint32_t)(xo_next(&g->x) >> 32);
    uint32_t year = 2018 + (r & 7); /* 2018..2025, not before the birth */
    if (year < birth_year)
        year = birth_year;
    PUT(p, ",\"service\":{\"period\":\"");
    p = put_uint(p, year);
    *p++ = 'Q';
    *p++ = (char)('1' + ((r >> 3) & 3));
    PUT(p, "\",\"icd10\":");
    p = put_list(g, p, 1 + ((r >> 5) & 3), put_icd);
    PUT(p, ",\"ops\":");
    uint32_t k = (r >> 7) & 7; /* 0: 5/8, 1: 2/8, 2: 1/8 */
    p = put_list(g, p, k < 5 ? 0 : k < 7 ? 1 : 2, put_ops);
    PUT(p, ",\"ebm\":");
    p = put_list(g, p, ((r >> 10) & 3), put_ebm);
    PUT(p, ",\"atc\":");
    p = put_list(g, p, ((r >> 12) & 3), put_atc);
    PUT(p, ",\"cost_cents\":");
    p = put_uint(p, cost(g));
    PUT(p, ",\"days\":");
    k = (r >> 14) & 0xFF;
    p = put_uint(p, k < 40 ? 0 : k < 190 ? 1 : rnd(g, 366));
    PUT(p, "}}");
    return p;
}

static size_t write_record(vst_gen *g, char *buf)
{
    uint64_t person;
    if (g->persons == 0)
        person = g->next_person++ % PERSON_SPACE;
    else
        person = rnd(g, (uint32_t)g->persons);
    uint32_t birth_year;
    char *p = put_insured(g, buf, person, &birth_year);
    if (rnd(g, 10) != 0)
        p = put_provider(g, p, rnd(g, PROVIDERS));
    p = put_service(g, p, birth_year);
    *p = '\0';
    size_t len = (size_t)(p - buf);
    if (len > VST_GEN_MAX_LINE) /* cannot happen: every part is bounded */
        abort();
    return len;
}

size_t vst_gen_record(vst_gen *g, char *buf, size_t cap)
{
    if (cap > VST_GEN_MAX_LINE)
        return write_record(g, buf);
    xoshiro saved = g->x;
    uint64_t saved_next = g->next_person;
    size_t len = write_record(g, g->scratch);
    if (len + 1 > cap) {
        g->x = saved;
        g->next_person = saved_next;
        return 0;
    }
    memcpy(buf, g->scratch, len + 1);
    return len;
}
