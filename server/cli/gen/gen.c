/* Synthetic sgb5 records; see gen.h.
 *
 * Speed matters (benchmarks produce millions of records), so the line is
 * written by hand into the caller's buffer, without stdio or allocation.
 *
 * Randomness: the record stream is xoshiro256** seeded by splitmix64. The
 * insured person of a record and the provider are drawn as an index; all of
 * that person's (provider's) attributes then come from a splitmix64 stream
 * keyed by (seed, index), so a person keeps the same name, birth date and
 * address in every record without any table in memory. Identifiers are
 * gen_ids.c's, names gen_names.c's (gen_internal.h). */
#include "cli/gen/gen_internal.h"

#include <stdlib.h>
#include <string.h>

#include "core/civil_time.h"

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
    g->providers = VST_GEN_PROVIDERS;
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

int vst_gen_set_providers(vst_gen *g, uint32_t n)
{
    if (n == 0)
        return -1;
    g->providers = n;
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

/* ---- sections ------------------------------------------------------------- */

/* YYYY-MM-DD */
static char *put_date(char *p, uint32_t y, uint32_t m, uint32_t d)
{
    p = put_fixed(p, y, 4);
    *p++ = '-';
    p = put_fixed(p, m, 2);
    *p++ = '-';
    return put_fixed(p, d, 2);
}

/* Writes the insured section of person `person`; *birth_year receives the
 * year of birth (a record's period never lies before it). */
static char *put_insured(const vst_gen *g, char *p, uint64_t person, uint32_t *birth_year)
{
    stream st = {g->person_key ^ (person * 0xD1B54A32D192ED03ULL)};
    splitmix64(&st.s);

    PUT(p, "{\"insured\":{\"kvnr\":\"");
    gen_person_kvnr(g, person, p);
    p += 10;
    PUT(p, "\",\"last_name\":\"");
    p = gen_put_last_name(p, &st);
    if (st_below(&st, 20) == 0) { /* double-barrelled */
        *p++ = '-';
        p = gen_put_last_name(p, &st);
    }
    PUT(p, "\",\"first_name\":\"");
    p = gen_put_first_name(p, &st);
    PUT(p, "\",\"birth_date\":\"");
    uint32_t y = 1920 + st_below(&st, 2024 - 1920 + 1);
    uint32_t m = st_below(&st, 12);
    uint32_t dim = vst_days_in_month(y, m + 1);
    *birth_year = y;
    uint32_t d = 1 + st_below(&st, dim);
    p = put_date(p, y, m + 1, d);
    PUT(p, "\",\"sex\":\"");
    uint32_t s = st_below(&st, 100);
    *p++ = s < 49 ? 'W' : s < 97 ? 'M' : s < 99 ? 'D' : 'X';
    PUT(p, "\",\"insurance_status\":\"");
    s = st_below(&st, 100);
    *p++ = s < 62 ? '1' : s < 85 ? '3' : '5';
    PUT(p, "\",\"postal_code\":\"");
    p = gen_put_postal(p, (uint32_t)splitmix64(&st.s));
    PUT(p, "\",\"street\":\"");
    p = gen_put_street(p, &st);
    *p++ = ' ';
    p = put_uint(p, 1 + st_below(&st, 180));
    if (st_below(&st, 10) == 0)
        *p++ = (char)('a' + st_below(&st, 3));
    PUT(p, "\",\"city\":\"");
    if (st_below(&st, 8) == 0)
        PUT(p, "Bad ");
    p = gen_put_city(p, &st);
    /* About 2% of persons have died: on or after the birth date, before
     * 2026 (never in the future). */
    if (st_below(&st, 50) == 0) {
        int64_t born = vst_days_from_civil(y, m + 1, d);
        int64_t last = vst_days_from_civil(2025, 12, 31);
        int64_t died = born + (int64_t)st_below(&st, (uint32_t)(last - born + 1));
        int64_t dy;
        unsigned dm, dd;
        vst_civil_from_days(died, &dy, &dm, &dd);
        PUT(p, "\",\"death_date\":\"");
        p = put_date(p, (uint32_t)dy, dm, dd);
    }
    PUT(p, "\"}");
    return p;
}

/* A physician: one lifelong number (LANR digits 1-7) and one to three
 * specialty groups (digits 8-9) to bill under, so the same physician
 * appears with several LANRs; the record's group is drawn per record (rec).
 * About 3% of physician records carry a placeholder LANR instead, about 1%
 * of their practice numbers the substitute BSNR (DESIGN.md §5). */
static char *put_physician(char *p, stream *st, uint64_t rec)
{
    char id[VST_ID_MAXLEN + 1];
    gen_make_lanr(splitmix64(&st->s), id);
    uint32_t ngroups = st_below(st, 4) == 0 ? 2 + st_below(st, 2) : 1;
    uint32_t group[3];
    for (int i = 0; i < 3; i++)
        group[i] = (uint32_t)splitmix64(&st->s) & 0xFFFF;
    gen_set_lanr_group(id, group[(rec >> 8) % ngroups]);
    if ((rec & 0xFF) < 8)
        gen_make_placeholder_lanr((uint32_t)(rec >> 16), id);
    PUT(p, "\"lanr\":\"");
    p = put(p, id, 9);
    if (st_below(st, 5) != 0) {
        gen_make_bsnr(splitmix64(&st->s), id);
        if (((rec >> 48) & 0xFF) < 3)
            memcpy(id, GEN_PLACEHOLDER_BSNR, 10);
        PUT(p, "\",\"bsnr\":\"");
        p = put(p, id, 9);
    }
    return p;
}

static char *put_provider(const vst_gen *g, char *p, uint32_t idx, uint64_t rec)
{
    stream st = {g->provider_key ^ ((uint64_t)idx * 0x9FB21C651E98DF25ULL)};
    splitmix64(&st.s);
    char id[VST_ID_MAXLEN + 1];
    int institution = st_below(&st, 4) == 0;

    PUT(p, ",\"provider\":{");
    if (institution) {
        gen_make_ik(splitmix64(&st.s), id);
        PUT(p, "\"ik\":\"");
        p = put(p, id, 9);
    } else {
        p = put_physician(p, &st, rec);
    }
    PUT(p, "\",\"postal_code\":\"");
    p = gen_put_postal(p, (uint32_t)splitmix64(&st.s));
    PUT(p, "\",\"name\":\"");
    if (institution) {
        p = gen_put_institution(p, &st);
    } else {
        p = gen_put_practice(p, &st);
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
    if (rnd(g, 10) != 0) {
        uint32_t idx = rnd(g, g->providers);
        p = put_provider(g, p, idx, xo_next(&g->x));
    }
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
