/* The count-only linkage of two collections, see link_match.h.
 *
 * One pass per key over one open-addressing table (linear probing, load
 * <= 1/2) that holds every distinct key-k value of both sides: a slot keeps
 * the value's first 8 bytes, the index of the first record of a and of b
 * that carries it, and a MULTI bit per side once a second record of that
 * side carries it too. The slot's position comes from the first 8 bytes
 * (uniformly random inner values, mixed once more so that structured test
 * values spread as well); equality is decided on all 16 bytes against the
 * record the slot points to. A slot with exactly one record on each side
 * whose records are both unlinked links them. Every record of both sides
 * is entered in every pass, linked or not: the uniqueness rule counts ALL
 * records. Within one pass a record holds one value, so it sits in one slot
 * and the order of the scan cannot change the result.
 *
 * The table is the cost: for n = na + nb records it has the smallest power
 * of two >= 2n slots of 16 bytes. Its inserts are random accesses, so the
 * insert loop prefetches the slot of the record PREFETCH_AHEAD places on.
 * The table holds prefixes of inner values: it is wiped before it is freed. */
#include "link_match.h"

#include <stdlib.h>
#include <string.h>

#include "core/secmem.h"

#define IDX_NONE UINT32_C(0xFFFFFFFF)
#define IDX_MULTI UINT32_C(0x80000000) /* a second record of that side */
#define IDX_MAX UINT32_C(0x7FFFFFFF)   /* records per side, exclusive */
#define PREFETCH_AHEAD 16

typedef struct {
    uint64_t h;  /* the value's first 8 bytes */
    uint32_t ia; /* first record of a with the value | IDX_MULTI, or IDX_NONE */
    uint32_t ib; /* likewise for b */
} slot;

typedef struct {
    slot *t;
    size_t mask;
    unsigned shift; /* 64 - log2(slots) */
    const uint8_t *a, *b;
    size_t off; /* byte offset of key k's value within a record */
} table;

/* Slots for n records: the smallest power of two >= 2n (at least 2), or 0
 * when that does not fit. */
static size_t table_slots(size_t n)
{
    size_t s = 2;
    while (s < n || s - n < n) {
        if (s > SIZE_MAX / 2 / sizeof(slot))
            return 0;
        s *= 2;
    }
    return s;
}

size_t vst_link_match_bytes(size_t na, size_t nb)
{
    if (na >= IDX_MAX || nb >= IDX_MAX)
        return SIZE_MAX;
    size_t slots = table_slots(na + nb);
    if (slots == 0 || slots * sizeof(slot) > SIZE_MAX - na - nb)
        return SIZE_MAX;
    return slots * sizeof(slot) + na + nb; /* table, then a linked flag per record */
}

static uint64_t load64(const uint8_t *v)
{
    uint64_t h;
    memcpy(&h, v, sizeof h);
    return h;
}

static size_t slot_of(const table *tb, uint64_t h)
{
    return (size_t)((h * UINT64_C(0x9E3779B97F4A7C15)) >> tb->shift);
}

static const uint8_t *value_of(const table *tb, const slot *e)
{
    if (e->ia != IDX_NONE)
        return tb->a + (size_t)(e->ia & IDX_MAX) * VST_CV_RECORD_LEN + tb->off;
    return tb->b + (size_t)(e->ib & IDX_MAX) * VST_CV_RECORD_LEN + tb->off;
}

static void insert(const table *tb, const uint8_t *v, uint32_t idx, int side_b)
{
    uint64_t h = load64(v);
    size_t pos = slot_of(tb, h);
    for (;;) {
        slot *e = &tb->t[pos];
        if (e->ia == IDX_NONE && e->ib == IDX_NONE) {
            e->h = h;
            *(side_b ? &e->ib : &e->ia) = idx;
            return;
        }
        if (e->h == h && memcmp(value_of(tb, e), v, VST_CV_LEN) == 0) {
            uint32_t *f = side_b ? &e->ib : &e->ia;
            *f = *f == IDX_NONE ? idx : (*f | IDX_MULTI);
            return;
        }
        pos = (pos + 1) & tb->mask;
    }
}

static void insert_side(const table *tb, const uint8_t *recs, size_t n, int side_b)
{
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n) {
            const uint8_t *ahead = recs + (i + PREFETCH_AHEAD) * VST_CV_RECORD_LEN + tb->off;
            __builtin_prefetch(&tb->t[slot_of(tb, load64(ahead))], 1);
        }
        insert(tb, recs + i * VST_CV_RECORD_LEN + tb->off, (uint32_t)i, side_b);
    }
}

/* Links the slots with one unlinked record on each side; returns the count. */
static uint64_t link_slots(const table *tb, uint8_t *la, uint8_t *lb, size_t *pair_a,
                           size_t *pair_b)
{
    uint64_t links = 0;
    for (size_t s = 0; s <= tb->mask; s++) {
        uint32_t ia = tb->t[s].ia, ib = tb->t[s].ib;
        if ((ia & IDX_MULTI) || (ib & IDX_MULTI) || la[ia] || lb[ib])
            continue; /* missing or ambiguous on a side (NONE has the bit), or taken */
        la[ia] = lb[ib] = 1;
        if (pair_a != NULL)
            pair_a[ia] = ib;
        if (pair_b != NULL)
            pair_b[ib] = ia;
        links++;
    }
    return links;
}

static void unpaired(size_t *pair, size_t n)
{
    for (size_t i = 0; pair != NULL && i < n; i++)
        pair[i] = SIZE_MAX;
}

int vst_link_match(const uint8_t *a, size_t na, const uint8_t *b, size_t nb, vst_link_counts *out,
                   size_t *pair_a, size_t *pair_b)
{
    memset(out, 0, sizeof *out);
    unpaired(pair_a, na);
    unpaired(pair_b, nb);
    if (na == 0 || nb == 0)
        return 0;
    size_t bytes = vst_link_match_bytes(na, nb);
    uint8_t *mem = bytes == SIZE_MAX ? NULL : malloc(bytes);
    if (mem == NULL)
        return -1;
    size_t slots = table_slots(na + nb);
    table tb = {.t = (slot *)(void *)mem, .mask = slots - 1, .a = a, .b = b};
    tb.shift = 64;
    for (size_t s = slots; s > 1; s /= 2)
        tb.shift--;
    uint8_t *la = mem + slots * sizeof(slot), *lb = la + na;
    memset(la, 0, na + nb);
    for (unsigned k = 0; k < VST_LINK_NKEYS; k++) {
        memset(tb.t, 0xFF, slots * sizeof(slot)); /* every slot IDX_NONE on both sides */
        tb.off = (size_t)k * VST_CV_LEN;
        insert_side(&tb, a, na, 0);
        insert_side(&tb, b, nb, 1);
        out->links[k] = link_slots(&tb, la, lb, pair_a, pair_b);
        out->overlap += out->links[k];
    }
    vst_wipe(mem, bytes);
    free(mem);
    return 0;
}
