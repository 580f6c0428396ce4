/* Per-client fairness limits; see client_limits.h. */
#include "httpd/client_limits.h"

#include <pthread.h>
#include <string.h>

#define UNIT_MS 300000 /* identifier buckets of five minutes ... */
#define UNITS 288      /* ... 24 hours of them */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

/* Every entry starts with this header. */
typedef struct {
    int id;        /* 0: free */
    int64_t at_ms; /* last use */
} entry_hdr;

typedef struct {
    entry_hdr h;
    double tokens;
} rate_entry;

typedef struct {
    entry_hdr h;
    uint64_t used[UNITS]; /* identifiers per unit ... */
    int64_t stamp[UNITS]; /* ... and the unit number each bucket holds */
} ids_entry;

static rate_entry rate_tab[LIMITS_CLIENTS];
static ids_entry ids_tab[LIMITS_CLIENTS];

/* Open addressing: the client's entry in tab (elements of elem bytes), or a
 * new one, the longest idle evicted when the table is full. Entries are
 * only replaced, never removed, so probe paths stay intact. *fresh tells a
 * new (zeroed) entry. Under mu. */
static void *entry_for(void *tab, size_t elem, int client_id, int *fresh)
{
    size_t i = (size_t)(unsigned)client_id % LIMITS_CLIENTS, oldest = i;
#define AT(k) ((entry_hdr *)((char *)tab + (k)*elem))
    for (size_t k = 0; k < LIMITS_CLIENTS; k++, i = (i + 1) % LIMITS_CLIENTS) {
        if (AT(i)->id == client_id) {
            *fresh = 0;
            return AT(i);
        }
        if (AT(i)->id == 0)
            break;
        if (AT(i)->at_ms < AT(oldest)->at_ms)
            oldest = i;
    }
    if (AT(i)->id != 0)
        i = oldest;
    memset(AT(i), 0, elem);
    AT(i)->id = client_id;
    *fresh = 1;
    return AT(i);
#undef AT
}

uint64_t limits_rate_of(int64_t registered, uint64_t configured)
{
    return registered >= 0 ? (uint64_t)registered : configured;
}

unsigned limits_rate(int client_id, uint64_t per_minute, int64_t now_ms)
{
    if (per_minute == 0)
        return 0;
    double cap = (double)per_minute, per_ms = cap / 60000.0;
    unsigned wait = 0;
    int fresh;
    pthread_mutex_lock(&mu);
    rate_entry *e = entry_for(rate_tab, sizeof *rate_tab, client_id, &fresh);
    if (fresh) {
        e->tokens = cap;
        e->h.at_ms = now_ms;
    }
    e->tokens += (double)(now_ms - e->h.at_ms) * per_ms;
    if (e->tokens > cap)
        e->tokens = cap;
    e->h.at_ms = now_ms;
    if (e->tokens >= 1.0)
        e->tokens -= 1.0;
    else
        wait = (unsigned)((1.0 - e->tokens) / per_ms / 1000.0) + 1;
    pthread_mutex_unlock(&mu);
    return wait;
}

static int in_window(const ids_entry *e, size_t i, int64_t unit)
{
    return e->stamp[i] > unit - UNITS && e->stamp[i] <= unit;
}

static uint64_t window_sum(const ids_entry *e, int64_t unit)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < UNITS; i++)
        if (in_window(e, i, unit))
            sum += e->used[i];
    return sum;
}

unsigned limits_identifiers(int client_id, uint64_t n, uint64_t per_day, int64_t now_ms)
{
    if (per_day == 0)
        return 0;
    int64_t unit = now_ms / UNIT_MS;
    unsigned wait = 0;
    int fresh;
    pthread_mutex_lock(&mu);
    ids_entry *e = entry_for(ids_tab, sizeof *ids_tab, client_id, &fresh);
    e->h.at_ms = now_ms;
    uint64_t used = window_sum(e, unit);
    if (n > per_day) {
        wait = 86400; /* never fits: say so with the longest wait */
    } else if (used + n > per_day) {
        /* Until enough of the oldest units have left the window. */
        uint64_t need = used + n - per_day, freed = 0;
        int64_t m = unit - UNITS + 1;
        for (; m <= unit; m++) {
            size_t i = (size_t)(m % UNITS);
            if (e->stamp[i] == m && (freed += e->used[i]) >= need)
                break;
        }
        int64_t leaves_ms = (m + UNITS) * (int64_t)UNIT_MS;
        wait = (unsigned)((leaves_ms - now_ms + 999) / 1000);
    } else {
        size_t i = (size_t)(unit % UNITS);
        if (e->stamp[i] != unit) {
            e->stamp[i] = unit;
            e->used[i] = 0;
        }
        e->used[i] += n;
    }
    pthread_mutex_unlock(&mu);
    return wait;
}

uint64_t limits_identifiers_used(int client_id, int64_t now_ms)
{
    uint64_t used = 0;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < LIMITS_CLIENTS; i++)
        if (ids_tab[i].h.id == client_id)
            used = window_sum(&ids_tab[i], now_ms / UNIT_MS);
    pthread_mutex_unlock(&mu);
    return used;
}

void limits_reset(void)
{
    pthread_mutex_lock(&mu);
    memset(rate_tab, 0, sizeof rate_tab);
    memset(ids_tab, 0, sizeof ids_tab);
    pthread_mutex_unlock(&mu);
}
