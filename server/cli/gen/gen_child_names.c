/* Children's names (gen_child_internal.h), composed from syllables, never
 * taken from a list of real names, but with the statistics that linkage
 * cares about:
 *
 * - Frequency: a name is a rank of a pool, drawn with weight 1/(rank + q)
 *   (Zipf-like), so a few names are very common and many are rare. Girls'
 *   and boys' given names: 3,000 each, q = 8 (the commonest ~2 % of
 *   children, sum of squared shares ~0.0037); family names: 45,000, q = 100
 *   (the commonest ~0.16 %, sum of squared shares ~0.00027). Among 10^6
 *   children born over five years, two with the same given name, family
 *   name, birth date and sex are then rare (about a hundred pairs) but occur.
 * - Spelling: syllables with ä, ö, ü and ß give a good share of names an
 *   umlaut or ß (about 40 % of family names); a few carry é, ç or ş; about
 *   2.5 % of family names come with a particle ("von", "van der", ...).
 * - A rank maps to a syllable combination by r -> (r * A + B) mod C with A
 *   prime to C, so distinct ranks of a pool spell distinct combinations. */
#include "cli/gen/gen_child_internal.h"

#include <stdlib.h>

static const syl fam_on[] = {
    S("bor"),  S("ven"), S("tal"),  S("mir"), S("kas"), S("lod"), S("dre"), S("sem"),
    S("wal"),  S("rup"), S("fen"),  S("gol"), S("hin"), S("jor"), S("nev"), S("pas"),
    S("tre"),  S("zan"), S("kor"),  S("dim"), S("sol"), S("hab"), S("mun"), S("tev"),
    S("brem"), S("grü"), S("schö"), S("mä"),  S("ku"),  S("lo"),  S("qua"), S("vel"),
    S("yer"),  S("dal"), S("ferm"), S("öl"),  S("ub"),  S("as"),  S("cel"), S("stro"),
};
static const syl fam_mid[] = {
    S(""),   S("en"), S("a"),  S("i"),  S("o"),  S("u"),  S("ri"), S("la"), S("me"),  S("no"),
    S("ta"), S("ve"), S("li"), S("ro"), S("ke"), S("ö"),  S("ü"),  S("e"),  S("sa"),  S("de"),
    S("mo"), S("ni"), S("pe"), S("tu"), S("wi"), S("zo"), S("ré"), S("su"), S("ber"), S("ling"),
};
static const syl fam_end[] = {
    S("tak"),  S("vok"),  S("rix"),   S("dul"),  S("mek"),  S("zon"),   S("pask"), S("quin"),
    S("lett"), S("brum"), S("gast"),  S("nol"),  S("ris"),  S("vant"),  S("lix"),  S("dorp"),
    S("mos"),  S("teck"), S("wurz"),  S("fal"),  S("gin"),  S("sker"),  S("bolt"), S("rach"),
    S("maß"),  S("hüt"),  S("rod"),   S("bäck"), S("luß"),  S("statt"), S("münd"), S("grot"),
    S("ner"),  S("meck"), S("tosch"), S("wirk"), S("lamp"), S("dusk"),  S("kop"),  S("şek"),
};
static const syl giv_on[] = {
    S("li"), S("ma"), S("so"), S("ve"), S("ta"), S("ne"), S("ki"), S("ro"), S("a"),  S("e"),
    S("jo"), S("fa"), S("da"), S("mi"), S("lu"), S("be"), S("ze"), S("no"), S("ca"), S("te"),
    S("ha"), S("ya"), S("o"),  S("wi"), S("jö"), S("le"), S("mä"), S("sa"), S("ça"), S("ri"),
};
static const syl giv_mid[] = {
    S(""),   S("ra"), S("le"), S("mi"), S("no"), S("ri"), S("va"),
    S("lo"), S("se"), S("dä"), S("ny"), S("ku"), S("be"),
};
static const syl giv_end[2][16] = {
    {S("ra"), S("ne"), S("la"), S("sa"), S("nea"), S("thea"), S("riel"), S("lina"), S("mia"),
     S("ja"), S("rea"), S("se"), S("na"), S("ka"), S("line"), S("le")},
    {S("vo"), S("lin"), S("mar"), S("tis"), S("rik"), S("dor"), S("ven"), S("mo"), S("mun"),
     S("tan"), S("ko"), S("jan"), S("bert"), S("ulf"), S("os"), S("kan")},
};
static const syl particles[] = {S("von "), S("van der "), S("de "),
                                S("zu "),  S("van "),     S("von der ")};

#define GIVEN_N 3000U
#define GIVEN_Q 8U
#define FAMILY_N 45000U
#define FAMILY_Q 100U
#define RANK_MUL 7919U /* prime, so prime to both combination counts */
#define RANK_ADD 1234U

static int pool_init(gen_pool *p, uint32_t n, uint32_t q)
{
    p->cum = malloc(n * sizeof *p->cum);
    if (p->cum == NULL)
        return -1;
    uint64_t sum = 0;
    for (uint32_t r = 0; r < n; r++) {
        sum += (1ULL << 40) / (r + q);
        p->cum[r] = sum;
    }
    p->n = n;
    return 0;
}

int gen_pools_init(gen_pools *p)
{
    memset(p, 0, sizeof *p);
    if (pool_init(&p->given[0], GIVEN_N, GIVEN_Q) != 0 ||
        pool_init(&p->given[1], GIVEN_N, GIVEN_Q) != 0 ||
        pool_init(&p->family, FAMILY_N, FAMILY_Q) != 0) {
        gen_pools_free(p);
        return -1;
    }
    return 0;
}

void gen_pools_free(gen_pools *p)
{
    free(p->given[0].cum);
    free(p->given[1].cum);
    free(p->family.cum);
    memset(p, 0, sizeof *p);
}

uint32_t gen_pool_draw(const gen_pool *p, uint64_t r)
{
    uint64_t u = r % p->cum[p->n - 1];
    uint32_t lo = 0, hi = p->n - 1; /* the first rank whose cum exceeds u */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (p->cum[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Upper-cases the first letter at p: ASCII, or a two-byte Latin-1 letter
 * (ä -> Ä, ç -> Ç), or ş -> Ş. */
static void capitalize(char *p)
{
    unsigned char *u = (unsigned char *)p;
    if (u[0] >= 'a' && u[0] <= 'z')
        u[0] = (unsigned char)(u[0] - 'a' + 'A');
    else if (u[0] == 0xC3 && u[1] >= 0xA0 && u[1] <= 0xBE && u[1] != 0xB7)
        u[1] = (unsigned char)(u[1] - 0x20);
    else if (u[0] == 0xC5 && u[1] == 0x9F)
        u[1] = 0x9E;
}

/* The three syllables of combination c of on x mid x end. */
static char *put_combo(char *p, uint32_t c, const syl *on, uint32_t non, const syl *mid,
                       uint32_t nmid, const syl *end)
{
    char *start = p;
    const syl *a = &on[c % non], *b = &mid[(c / non) % nmid], *e = &end[c / non / nmid];
    p = put(p, a->s, a->n);
    p = put(p, b->s, b->n);
    p = put(p, e->s, e->n);
    capitalize(start);
    *p = '\0';
    return p;
}

char *gen_put_given_rank(char *p, int boy, uint32_t rank)
{
    uint32_t n = (uint32_t)(NELEM(giv_on) * NELEM(giv_mid) * NELEM(giv_end[0]));
    uint32_t c = (uint32_t)(((uint64_t)rank * RANK_MUL + RANK_ADD) % n);
    return put_combo(p, c, giv_on, NELEM(giv_on), giv_mid, NELEM(giv_mid), giv_end[boy != 0]);
}

char *gen_put_family_rank(char *p, uint32_t rank, int with_particle)
{
    uint32_t n = (uint32_t)(NELEM(fam_on) * NELEM(fam_mid) * NELEM(fam_end));
    uint32_t c = (uint32_t)(((uint64_t)rank * RANK_MUL + RANK_ADD) % n);
    uint64_t h = rank;
    h = splitmix64(&h);
    if (with_particle && h % 40 == 0) {
        const syl *s = &particles[(h >> 8) % NELEM(particles)];
        p = put(p, s->s, s->n);
    }
    return put_combo(p, c, fam_on, NELEM(fam_on), fam_mid, NELEM(fam_mid), fam_end);
}

void gen_child_given(const gen_pools *pools, stream *st, int boy, char out[CHILD_NAME_MAX])
{
    const gen_pool *pool = &pools->given[boy != 0];
    uint32_t first = gen_pool_draw(pool, splitmix64(&st->s));
    char *p = gen_put_given_rank(out, boy, first);
    if (st_below(st, 100) < 15) {
        uint32_t second = gen_pool_draw(pool, splitmix64(&st->s));
        if (second == first)
            second = (second + 1) % pool->n;
        *p++ = ' ';
        gen_put_given_rank(p, boy, second);
    }
}

void gen_child_family(const gen_pools *pools, stream *st, char out[CHILD_NAME_MAX])
{
    uint32_t first = gen_pool_draw(&pools->family, splitmix64(&st->s));
    char *p = gen_put_family_rank(out, first, 1);
    if (st_below(st, 100) < 8) {
        uint32_t second = gen_pool_draw(&pools->family, splitmix64(&st->s));
        if (second == first)
            second = (second + 1) % pools->family.n;
        *p++ = '-';
        gen_put_family_rank(p, second, 0);
    }
}
