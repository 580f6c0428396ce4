/* The pseudonymization budget (DESIGN.md §2): a compromised vst-httpd must
 * not be able to build a dictionary of the KVNR space (2.6e9) unnoticed.
 * Sliding windows: 60 one-second buckets for the minute, 1440 one-minute
 * buckets for the day. Over budget, a batch is refused whole and an alarm
 * event is emitted (once per window and kind, not per refused batch). */
#include <time.h>

#include "keyd.h"

static uint64_t lim_min, lim_day;
static uint64_t sec_bucket[60], min_bucket[1440];
static int64_t sec_stamp[60], min_stamp[1440];
static int64_t alarm_min_at = -1, alarm_day_at = -1;

void keyd_budget_init(uint64_t per_minute, uint64_t per_day)
{
    lim_min = per_minute;
    lim_day = per_day;
}

static uint64_t window(uint64_t *b, int64_t *stamp, size_t n, int64_t now)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        if (stamp[i] > now - (int64_t)n)
            sum += b[i];
    return sum;
}

static void usage_at(int64_t now_s, uint64_t *m, uint64_t *d)
{
    *m = window(sec_bucket, sec_stamp, 60, now_s);
    *d = window(min_bucket, min_stamp, 1440, now_s / 60);
}

static int64_t now_s(void)
{
    return keyd_now_ms() / 1000;
}

int keyd_budget_charge(uint64_t n, uint32_t actor_uid)
{
    int64_t t = now_s();
    uint64_t m, d;
    usage_at(t, &m, &d);
    if (m + n > lim_min || d + n > lim_day) {
        int minute = m + n > lim_min;
        int64_t *last = minute ? &alarm_min_at : &alarm_day_at;
        int64_t slot = minute ? t / 60 : t / 86400;
        if (*last != slot) {
            *last = slot;
            keyd_event(actor_uid, "keyd.budget_alarm",
                       "{\"window\":\"%s\",\"limit\":%llu,\"used\":%llu,\"requested\":%llu}",
                       minute ? "minute" : "day", (unsigned long long)(minute ? lim_min : lim_day),
                       (unsigned long long)(minute ? m : d), (unsigned long long)n);
        }
        return -1;
    }
    size_t si = (size_t)(t % 60), mi = (size_t)((t / 60) % 1440);
    if (sec_stamp[si] != t) {
        sec_stamp[si] = t;
        sec_bucket[si] = 0;
    }
    if (min_stamp[mi] != t / 60) {
        min_stamp[mi] = t / 60;
        min_bucket[mi] = 0;
    }
    sec_bucket[si] += n;
    min_bucket[mi] += n;
    return 0;
}

void keyd_budget_usage(uint64_t *minute_used, uint64_t *minute_limit, uint64_t *day_used,
                       uint64_t *day_limit)
{
    usage_at(now_s(), minute_used, day_used);
    *minute_limit = lim_min;
    *day_limit = lim_day;
}
