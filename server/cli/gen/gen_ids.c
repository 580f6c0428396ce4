/* The generator's identifiers (gen_internal.h): every one with a valid
 * check digit (DESIGN.md §4, docs/identifiers.md). A person's KVNR is a
 * keyed pseudo-random permutation of the person's index over the 26 x 10^8
 * KVNR bodies (a 4-round Feistel network on 32 bits with cycle walking), so
 * distinct persons have distinct KVNRs. */
#include "cli/gen/gen_internal.h"

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

void gen_person_kvnr(const vst_gen *g, uint64_t i, char out[VST_ID_MAXLEN + 1])
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
    gen_person_kvnr(g, i, out);
    return 10;
}

/* Specialty groups (LANR digits 8-9), KV regions (BSNR digits 1-2),
 * institution classes (IK digits 1-2): plausible values, not a registry. */
static const uint8_t lanr_groups[] = {1,  2,  3,  4,  8,  9,  10, 13, 15, 23, 25,
                                      34, 38, 47, 50, 51, 58, 60, 70, 71, 99};
static const uint8_t kv_regions[] = {1,  2,  3,  17, 20, 38, 46, 51, 52,
                                     71, 72, 73, 78, 83, 88, 93, 98};
static const uint8_t ik_classes[] = {26, 26, 26, 26, 30, 33, 45, 51, 59, 60, 77};

void gen_make_lanr(uint64_t r, char out[VST_ID_MAXLEN + 1])
{
    put_fixed(out, below(r, 1000000U), 6);
    out[6] = (char)('0' + vst_id_check_digit(VST_ID_LANR, out));
    gen_set_lanr_group(out, r & 0xFFFF);
}

void gen_set_lanr_group(char lanr[VST_ID_MAXLEN + 1], uint32_t r)
{
    put_fixed(lanr + 7, lanr_groups[r % NELEM(lanr_groups)], 2);
    lanr[9] = '\0';
}

/* The placeholder numbers of DESIGN.md §5 (docs/profiles.md): they pass
 * their check digits but name no physician or practice. */
void gen_make_placeholder_lanr(uint32_t r, char out[VST_ID_MAXLEN + 1])
{
    switch (r % 4) {
    case 0: /* dentists, midwives, Bundeswehr */
        memcpy(out, "999999900", 10);
        break;
    case 1:
        memcpy(out, "999999991", 10);
        break;
    default: /* hospital discharge prescriptions: 4444444 + any group */
        memcpy(out, "4444444", 7);
        gen_set_lanr_group(out, r / 4);
        break;
    }
}

void gen_make_bsnr(uint64_t r, char out[VST_ID_MAXLEN + 1])
{
    put_fixed(out, kv_regions[(r & 0xFFFF) % NELEM(kv_regions)], 2);
    put_fixed(out + 2, below(r, 10000000U), 7);
    out[9] = '\0';
}

void gen_make_ik(uint64_t r, char out[VST_ID_MAXLEN + 1])
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
        gen_make_lanr(r, out);
        return 9;
    case VST_ID_BSNR:
        gen_make_bsnr(r, out);
        return 9;
    case VST_ID_IK:
        gen_make_ik(r, out);
        return 9;
    default:
        out[0] = '\0';
        return 0;
    }
}
