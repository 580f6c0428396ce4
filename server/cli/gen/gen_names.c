/* Names from syllables (gen_internal.h): surnames of three syllables, given
 * names of two or three, street, city and practice names. They look like
 * names but are drawn from no list of real names; the surname syllables
 * are chosen so that the combinations are not common German surnames. */
#include "cli/gen/gen_internal.h"

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

char *gen_put_last_name(char *p, stream *st)
{
    char *start = p;
    PUT_SYL(p, st, last_on);
    PUT_SYL(p, st, last_mid);
    PUT_SYL(p, st, last_end);
    start[0] = (char)(start[0] - 'a' + 'A');
    return p;
}

char *gen_put_first_name(char *p, stream *st)
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

char *gen_put_postal(char *p, uint32_t r)
{
    return put_fixed(p, 1001U + r % (99998U - 1001U + 1U), 5);
}

char *gen_put_street(char *p, stream *st)
{
    p = put_stem(p, st);
    PUT_SYL(p, st, street_end);
    return p;
}

char *gen_put_city(char *p, stream *st)
{
    p = put_stem(p, st);
    PUT_SYL(p, st, city_end);
    return p;
}

char *gen_put_practice(char *p, stream *st)
{
    PUT_SYL(p, st, prov_kind);
    return gen_put_last_name(p, st);
}

char *gen_put_institution(char *p, stream *st)
{
    PUT_SYL(p, st, inst_kind);
    return gen_put_city(p, st);
}
