/* The pseudonymization budget (DESIGN.md §2, docs/operations.md "The
 * pseudonymization budget"): a compromised vst-httpd must not be able to
 * build a dictionary of the KVNR space (2.6e9) quickly or quietly.
 *
 * Per pseudonym domain — a dictionary is always of one domain, and a record
 * carries at most one identifier per domain in the shipped profiles — two
 * sliding windows on the wall clock: 60 one-second buckets for the minute,
 * 1440 one-minute buckets for the day. A batch that would cross a hard
 * limit is refused whole, with a `keyd.budget_alarm`; crossing a soft limit
 * (by default a quarter of the hard one) raises `keyd.budget_soft_alarm`.
 * Each alarm is raised at most once per window and domain.
 *
 * The minute buckets survive restarts (keyd_usage.c keeps them in the
 * usage state file): each carries a reservation, the value last written to
 * disk, which is raised ahead of the count in chunks, so a keyd that
 * crashes resumes at or above what it really served. The one-second
 * buckets are not written; after a restart the minute window is seeded
 * with the day buckets of the last two minutes (conservative). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyd/keyd.h"

#define SECS 60
#define MINS 1440

typedef struct {
    char name[VST_DOMAIN_MAXLEN + 1];
    uint64_t sec[SECS];
    int64_t sec_at[SECS];
    uint64_t min[MINS], min_res[MINS];
    int64_t min_at[MINS];
    int64_t hard_at[2], soft_at[2]; /* window slot of the last alarm */
} dom_budget;

static dom_budget *dom[KEYD_MAX_DOMAINS];
static size_t ndom;
static uint64_t lim[2], soft[2]; /* [0] minute, [1] day */

static const char *const window_name[2] = {"minute", "day"};

void keyd_budget_init(uint64_t per_minute, uint64_t per_day, uint64_t soft_minute,
                      uint64_t soft_day)
{
    lim[0] = per_minute;
    lim[1] = per_day;
    soft[0] = soft_minute ? soft_minute : per_minute / 4;
    soft[1] = soft_day ? soft_day : per_day / 4;
}

uint64_t keyd_budget_limit(int day)
{
    return lim[day ? 1 : 0];
}

uint64_t keyd_budget_soft(int day)
{
    return soft[day ? 1 : 0];
}

void keyd_budget_free(void)
{
    for (size_t i = 0; i < ndom; i++)
        free(dom[i]);
    ndom = 0;
}

static int64_t now_s(void)
{
    return keyd_wall_us() / 1000000;
}

static dom_budget *find(const char *name, int create)
{
    for (size_t i = 0; i < ndom; i++)
        if (strcmp(dom[i]->name, name) == 0)
            return dom[i];
    if (!create || ndom == KEYD_MAX_DOMAINS)
        return NULL;
    dom_budget *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    snprintf(d->name, sizeof d->name, "%s", name);
    for (int w = 0; w < 2; w++)
        d->hard_at[w] = d->soft_at[w] = -1;
    for (size_t i = 0; i < SECS; i++)
        d->sec_at[i] = INT64_MIN;
    for (size_t i = 0; i < MINS; i++)
        d->min_at[i] = INT64_MIN;
    dom[ndom++] = d;
    return d;
}

/* A bucket stamped in the future (the clock went back) still counts. */
static uint64_t window(const uint64_t *b, const int64_t *at, size_t n, int64_t now)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        if (at[i] > now - (int64_t)n)
            sum += b[i];
    return sum;
}

static void used(const dom_budget *d, int64_t t, uint64_t u[2])
{
    u[0] = window(d->sec, d->sec_at, SECS, t);
    u[1] = window(d->min, d->min_at, MINS, t / 60);
}

static int64_t slot(int w, int64_t t)
{
    return w == 0 ? t / 60 : t / 86400;
}

int keyd_budget_check(const char *domain, uint64_t n, uint32_t actor_uid)
{
    dom_budget *d = find(domain, 1);
    if (d == NULL)
        return -1;
    int64_t t = now_s();
    uint64_t u[2];
    used(d, t, u);
    for (int w = 0; w < 2; w++) {
        if (u[w] + n <= lim[w])
            continue;
        if (d->hard_at[w] != slot(w, t)) {
            d->hard_at[w] = slot(w, t);
            keyd_event(actor_uid, "keyd.budget_alarm",
                       "{\"domain\":\"%s\",\"window\":\"%s\",\"limit\":%llu,\"used\":%llu,"
                       "\"requested\":%llu}",
                       d->name, window_name[w], (unsigned long long)lim[w],
                       (unsigned long long)u[w], (unsigned long long)n);
        }
        return -1;
    }
    return 0;
}

/* The current minute bucket of d at time t, emptied if it is stale. */
static size_t minute_bucket(dom_budget *d, int64_t t)
{
    size_t mi = (size_t)((t / 60) % MINS);
    if (d->min_at[mi] != t / 60) {
        d->min_at[mi] = t / 60;
        d->min[mi] = d->min_res[mi] = 0;
    }
    return mi;
}

int keyd_budget_reserve(const char *domain, uint64_t n, uint64_t chunk)
{
    dom_budget *d = find(domain, 1);
    if (d == NULL)
        return -1;
    size_t mi = minute_bucket(d, now_s());
    if (d->min[mi] + n <= d->min_res[mi])
        return 0;
    d->min_res[mi] = d->min[mi] + n + chunk;
    return 1;
}

void keyd_budget_charge(const char *domain, uint64_t n, uint32_t actor_uid)
{
    dom_budget *d = find(domain, 1);
    if (d == NULL)
        return;
    int64_t t = now_s();
    size_t si = (size_t)(t % SECS), mi = minute_bucket(d, t);
    if (d->sec_at[si] != t) {
        d->sec_at[si] = t;
        d->sec[si] = 0;
    }
    d->sec[si] += n;
    d->min[mi] += n;
    if (d->min_res[mi] < d->min[mi])
        d->min_res[mi] = d->min[mi]; /* never happens: keyd_usage reserves first */
    uint64_t u[2];
    used(d, t, u);
    for (int w = 0; w < 2; w++)
        if (u[w] > soft[w] && d->soft_at[w] != slot(w, t)) {
            d->soft_at[w] = slot(w, t);
            keyd_event(actor_uid, "keyd.budget_soft_alarm",
                       "{\"domain\":\"%s\",\"window\":\"%s\",\"soft_limit\":%llu,\"limit\":%llu,"
                       "\"used\":%llu}",
                       d->name, window_name[w], (unsigned long long)soft[w],
                       (unsigned long long)lim[w], (unsigned long long)u[w]);
        }
}

void keyd_budget_usage(uint64_t *minute_used, uint64_t *minute_limit, uint64_t *day_used,
                       uint64_t *day_limit)
{
    /* STATUS has one pair of counters: the most used domain's. */
    uint64_t m = 0, dd = 0, u[2];
    int64_t t = now_s();
    for (size_t i = 0; i < ndom; i++) {
        used(dom[i], t, u);
        m = u[0] > m ? u[0] : m;
        dd = u[1] > dd ? u[1] : dd;
    }
    *minute_used = m;
    *day_used = dd;
    *minute_limit = lim[0];
    *day_limit = lim[1];
}

/* ---- persistence: u16 ndomains, each str8 name, u16 nbuckets, each
 * (i64 minute, u64 value). exact: the counts (clean shutdown, after which
 * the reservations equal them), else the reservations. */

int keyd_budget_save(vst_wr *w, int exact)
{
    int64_t t = now_s();
    int rc = vst_wr_u16(w, (uint16_t)ndom);
    for (size_t i = 0; rc == 0 && i < ndom; i++) {
        dom_budget *d = dom[i];
        uint16_t nb = 0;
        for (size_t b = 0; b < MINS; b++)
            nb += d->min_at[b] > t / 60 - MINS && d->min_res[b] > 0;
        rc = vst_wr_str8(w, d->name, strlen(d->name)) || vst_wr_u16(w, nb);
        for (size_t b = 0; rc == 0 && b < MINS; b++) {
            if (!(d->min_at[b] > t / 60 - MINS && d->min_res[b] > 0))
                continue;
            if (exact)
                d->min_res[b] = d->min[b];
            rc = vst_wr_i64(w, d->min_at[b]) || vst_wr_u64(w, d->min_res[b]);
        }
    }
    return rc ? -1 : 0;
}

int keyd_budget_load(vst_rd *r)
{
    int64_t t = now_s();
    uint16_t nd;
    if (vst_rd_u16(r, &nd) != 0)
        return -1;
    for (uint16_t i = 0; i < nd; i++) {
        uint16_t nb;
        char buf[VST_DOMAIN_MAXLEN + 1];
        if (vst_rd_str8(r, buf, sizeof buf) || vst_rd_u16(r, &nb))
            return -1;
        dom_budget *d = vst_domain_name_ok(buf) ? find(buf, 1) : NULL;
        if (d == NULL)
            return -1;
        uint64_t recent = 0;
        for (uint16_t b = 0; b < nb; b++) {
            int64_t at;
            uint64_t v;
            if (vst_rd_i64(r, &at) || vst_rd_u64(r, &v))
                return -1;
            if (at <= t / 60 - MINS)
                continue; /* older than a day by now */
            size_t mi = (size_t)(((at % MINS) + MINS) % MINS);
            d->min_at[mi] = at;
            d->min[mi] = d->min_res[mi] = v;
            if (at >= t / 60 - 1)
                recent += v; /* may lie in the last 60 seconds */
        }
        if (recent > 0) {
            d->sec_at[t % SECS] = t;
            d->sec[t % SECS] = recent;
        }
    }
    return 0;
}
