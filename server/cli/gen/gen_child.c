/* A side of the linkage example (gen.h): which child a line holds, the
 * child, the profile's own fields and the record.
 *
 * Randomness: as in gen.c, every value comes from a splitmix64 stream keyed
 * by what it belongs to, never from a running state, so a record is a
 * function of its line alone:
 *
 *   the child    (shared_key, i) for shared child i, (unique_key, i) for
 *                the side's own child i; unique_key depends on the profile
 *   the record   (record_key, slot): the case/exam fields and the error,
 *                per profile, so the two sides err independently
 *   the line     a keyed permutation of [0, N) maps line to slot: a 6-round
 *                Feistel network on the smallest even number of bits that
 *                holds N, with cycle walking (as gen_ids.c does for KVNRs) */
#include "cli/gen/gen_child_internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/civil_time.h"

#define PERM_ROUNDS 6

struct vst_gen_child {
    gen_pools pools;
    vst_gen_profile profile;
    uint64_t records, overlap;
    uint64_t threshold; /* a record errs when a 32-bit draw is below it */
    uint64_t shared_key, unique_key, record_key;
    uint64_t perm_key[PERM_ROUNDS];
    unsigned half_bits;
    uint64_t half_mask;
    uint64_t counts[VST_GEN_ERR__COUNT];
    char scratch[VST_GEN_CHILD_MAX_LINE + 1];
};

/* Districts of the example (Hessian district keys) and the first postal
 * code of each one's range. */
static const char *const districts[] = {"06411", "06412", "06413", "06414",
                                        "06431", "06432", "06433", "06434"};
static const uint32_t postal_base[] = {64283, 60306, 63065, 65183, 64625, 64807, 63303, 64711};
#define NDISTRICTS ((uint32_t)NELEM(districts))

int vst_gen_profile_parse(const char *name, vst_gen_profile *out)
{
    static const char *const names[] = {"sgb5", "measles_case", "school_entry"};
    for (size_t i = 0; i < NELEM(names); i++)
        if (name != NULL && strcmp(name, names[i]) == 0) {
            *out = (vst_gen_profile)i;
            return 0;
        }
    return -1;
}

const char *vst_gen_error_name(vst_gen_error_kind k)
{
    static const char *const names[] = {"typo",     "umlaut",  "swap", "birthname",
                                        "daymonth", "daytypo", "case"};
    return (unsigned)k < NELEM(names) ? names[k] : "?";
}

vst_gen_child *vst_gen_child_new(uint64_t seed, vst_gen_profile profile, uint64_t records,
                                 uint64_t overlap, double errors)
{
    if (profile == VST_GEN_PROFILE_SGB5 || (unsigned)profile > VST_GEN_PROFILE_SCHOOL_ENTRY ||
        overlap > records || records > (1ULL << 62) || !(errors >= 0.0 && errors <= 1.0))
        return NULL;
    vst_gen_child *g = calloc(1, sizeof *g);
    if (g == NULL)
        return NULL;
    if (gen_pools_init(&g->pools) != 0) {
        free(g);
        return NULL;
    }
    g->profile = profile;
    g->records = records;
    g->overlap = overlap;
    g->threshold = (uint64_t)(errors * 4294967296.0);
    uint64_t sm = seed ^ 0x6368696C64ULL; /* "child": apart from the sgb5 streams */
    g->shared_key = splitmix64(&sm);
    uint64_t ps = splitmix64(&sm) ^ ((uint64_t)profile * 0x9E3779B97F4A7C15ULL);
    g->unique_key = splitmix64(&ps);
    g->record_key = splitmix64(&ps);
    for (int i = 0; i < PERM_ROUNDS; i++)
        g->perm_key[i] = splitmix64(&ps);
    unsigned bits = 2;
    while (bits < 64 && (1ULL << bits) < records)
        bits += 2;
    g->half_bits = bits / 2;
    g->half_mask = (1ULL << g->half_bits) - 1;
    return g;
}

void vst_gen_child_free(vst_gen_child *g)
{
    if (g == NULL)
        return;
    gen_pools_free(&g->pools);
    free(g);
}

const uint64_t *vst_gen_child_errors(const vst_gen_child *g)
{
    return g->counts;
}

static uint64_t feistel(const vst_gen_child *g, uint64_t v)
{
    uint64_t l = v >> g->half_bits, r = v & g->half_mask;
    for (int i = 0; i < PERM_ROUNDS; i++) {
        uint64_t x = r ^ g->perm_key[i];
        uint64_t t = l ^ (splitmix64(&x) & g->half_mask);
        l = r;
        r = t;
    }
    return (l << g->half_bits) | r;
}

static uint64_t slot_of_line(const vst_gen_child *g, uint64_t line)
{
    uint64_t v = line;
    do
        v = feistel(g, v);
    while (v >= g->records);
    return v;
}

/* The child of stream st; *home receives its district, *moved whether a
 * shared child is registered in *other on the school_entry side. */
static void make_child(const vst_gen_child *g, stream *st, gen_child *c, uint32_t *home,
                       uint32_t *other, int *moved)
{
    memset(c, 0, sizeof *c);
    uint32_t s = st_below(st, 10000);
    c->sex = s < 4870 ? 'W' : s < 9970 ? 'M' : s < 9985 ? 'D' : 'X';
    int boy = c->sex == 'M' || (c->sex != 'W' && st_below(st, 2) == 0);
    gen_child_given(&g->pools, st, boy, c->given);
    gen_child_family(&g->pools, st, c->family);
    int64_t first = vst_days_from_civil(2016, 1, 1);
    int64_t last = vst_days_from_civil(2020, 12, 31);
    int64_t y;
    unsigned m, d;
    vst_civil_from_days(first + st_below(st, (uint32_t)(last - first + 1)), &y, &m, &d);
    c->year = (uint32_t)y;
    c->month = m;
    c->day = d;
    *home = st_below(st, NDISTRICTS);
    *other = (*home + 1 + st_below(st, NDISTRICTS - 1)) % NDISTRICTS;
    *moved = st_below(st, 10) == 0;
    c->postal = postal_base[*home] + st_below(st, 40) * 2;
}

static char *put_str(char *p, const char *key, const char *v)
{
    *p++ = '"';
    p = put(p, key, strlen(key));
    PUT(p, "\":\"");
    p = put(p, v, strlen(v));
    *p++ = '"';
    return p;
}

static char *put_child(char *p, const gen_child *c)
{
    PUT(p, "{\"child\":{");
    p = put_str(p, "given_names", c->given);
    *p++ = ',';
    p = put_str(p, "family_names", c->family);
    if (c->birth[0] != '\0') {
        *p++ = ',';
        p = put_str(p, "birth_name", c->birth);
    }
    PUT(p, ",\"birth_date\":\"");
    p = put_fixed(p, c->year, 4);
    *p++ = '-';
    p = put_fixed(p, c->month, 2);
    *p++ = '-';
    p = put_fixed(p, c->day, 2);
    PUT(p, "\",\"sex\":\"");
    *p++ = c->sex;
    PUT(p, "\",\"postal_code\":\"");
    p = put_fixed(p, c->postal, 5);
    PUT(p, "\"}");
    return p;
}

/* The case (measles_case) or the examination (school_entry), drawn from
 * the record's stream; born is the child's true birth year. */
static char *put_section(const vst_gen_child *g, char *p, stream *rs, uint32_t district,
                         uint32_t born)
{
    if (g->profile == VST_GEN_PROFILE_MEASLES_CASE) {
        PUT(p, ",\"case\":{\"year\":");
        p = put_uint(p, 2023 + st_below(rs, 3));
        p = put_str(put(p, ",", 1), "district", districts[district]);
        PUT(p, ",\"follow_up\":");
        if (st_below(rs, 100) < 35)
            PUT(p, "true}}");
        else
            PUT(p, "false}}");
        return p;
    }
    /* school entry at six, a tenth a year later, within the example's years */
    uint32_t year = born + 6 + (st_below(rs, 10) == 0);
    year = year < 2023 ? 2023 : year > 2025 ? 2025 : year;
    uint32_t d = st_below(rs, 100);
    PUT(p, ",\"exam\":{\"school_year\":");
    p = put_uint(p, year);
    p = put_str(put(p, ",", 1), "district", districts[district]);
    PUT(p, ",\"measles_doses\":");
    *p++ = (char)('0' + (d < 4 ? 0 : d < 12 ? 1 : 2));
    PUT(p, "}}");
    return p;
}

/* Writes the record of line `line` into buf; *kind receives its error kind
 * or VST_GEN_ERR__COUNT. */
static size_t write_record(const vst_gen_child *g, uint64_t line, char *buf,
                           char id[VST_GEN_CHILD_ID_MAX], vst_gen_error_kind *kind)
{
    uint64_t slot = slot_of_line(g, line);
    int shared = slot < g->overlap;
    uint64_t i = shared ? slot : slot - g->overlap;
    stream cs = {(shared ? g->shared_key : g->unique_key) ^ (i * 0xD1B54A32D192ED03ULL)};
    splitmix64(&cs.s);
    gen_child c;
    uint32_t home, other;
    int moved;
    make_child(g, &cs, &c, &home, &other, &moved);
    uint32_t district =
        shared && moved && g->profile == VST_GEN_PROFILE_SCHOOL_ENTRY ? other : home;
    uint32_t born = c.year;

    stream rs = {g->record_key ^ (slot * 0x9FB21C651E98DF25ULL)};
    splitmix64(&rs.s);
    *kind = VST_GEN_ERR__COUNT;
    if ((splitmix64(&rs.s) >> 32) < g->threshold)
        *kind = gen_child_error(&g->pools, &rs, &c);

    char *p = put_child(buf, &c);
    p = put_section(g, p, &rs, district, born);
    *p = '\0';
    char tag = shared ? 's' : g->profile == VST_GEN_PROFILE_MEASLES_CASE ? 'a' : 'b';
    snprintf(id, VST_GEN_CHILD_ID_MAX, "%c%llu", tag, (unsigned long long)i);
    size_t len = (size_t)(p - buf);
    if (len > VST_GEN_CHILD_MAX_LINE) /* cannot happen: every part is bounded */
        abort();
    return len;
}

size_t vst_gen_child_record(vst_gen_child *g, uint64_t line, char *buf, size_t cap,
                            char id[VST_GEN_CHILD_ID_MAX])
{
    if (line >= g->records || cap == 0)
        return 0;
    vst_gen_error_kind kind;
    size_t len = write_record(g, line, g->scratch, id, &kind);
    if (len + 1 > cap)
        return 0;
    memcpy(buf, g->scratch, len + 1);
    if (kind < VST_GEN_ERR__COUNT)
        g->counts[kind]++;
    return len;
}
