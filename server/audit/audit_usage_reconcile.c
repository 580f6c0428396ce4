/* The end of the usage check (audit_usage_internal.h): keyd's served totals
 * against what the delivery events account for, per domain; the signed
 * checkpoints against the log's row hashes; the summary verify prints. */
#include "audit/audit_usage_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/civil_time.h"

static int64_t wall_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static void fmt_time(int64_t us, char out[VST_TIME_TEXT_LEN + 1])
{
    if (vst_time_format_us(us, out) != 0)
        snprintf(out, VST_TIME_TEXT_LEN + 1, "(time out of range)");
}

static void reconcile(vst_audit_usage *u)
{
    au_current(u, u->served, u->slack);
    for (size_t d = 0; d < u->ndom; d++)
        for (int c = 0; c < NCAT; c++)
            u->accounted[d][c] = u->acc[d][c];
    /* Outcomes after T: not yet in keyd's report. Their deliveries were in
     * flight at T if received by then. */
    for (size_t i = 0; i < u->npend; i++) {
        const pend_t *p = &u->pend[i];
        if (p->at <= u->T)
            continue;
        for (size_t k = 0; k < p->n; k++) {
            u->accounted[p->d[k]][p->cat] -= p->c[k];
            if (p->r <= u->T)
                u->in_flight[p->d[k]] += p->c[k];
        }
    }
    /* Received, no outcome at all. */
    int64_t r_min = INT64_MAX;
    for (size_t b = 0; b < RCV_BUCKETS; b++)
        for (const rcv_t *r = u->rcv[b]; r != NULL; r = r->next) {
            if (r->r > u->T)
                continue;
            if (r->r >= u->T - u->o.in_flight_window_us) {
                u->inflight_deliveries++;
                r_min = r->r < r_min ? r->r : r_min;
            } else {
                u->abandoned_deliveries++;
            }
        }
    if (r_min != INT64_MAX) {
        /* keyd's totals at its last report before r_min (0 before any). */
        const snap_t *before = NULL;
        for (size_t i = 0; i < u->nsnap && u->snap[i].t <= r_min; i++)
            before = &u->snap[i];
        for (size_t d = 0; d < u->ndom; d++)
            u->in_flight[d] += u->served[d] - (before ? before->served[d] : 0);
    }
    for (size_t d = 0; d < u->ndom; d++) {
        uint64_t acc = 0, rej = 0;
        for (int c = 0; c < NCAT; c++)
            acc += u->accounted[d][c];
        rej = acc - u->accounted[d][CAT_STORED];
        uint64_t lower = u->served[d] - u->slack[d];
        if (lower > acc + u->in_flight[d])
            au_finding(u,
                       "keyd usage: domain %s: keyd served %" PRIu64
                       " identifiers that no delivery event accounts for (served %" PRIu64
                       ", crash slack %" PRIu64 "; deliveries %" PRIu64 ", of them %" PRIu64
                       " rejected/failed/aborted; in flight up to %" PRIu64 ")",
                       u->dom[d], lower - acc - u->in_flight[d], u->served[d], u->slack[d], acc,
                       rej, u->in_flight[d]);
        if (acc > u->served[d])
            au_finding(u,
                       "keyd usage: domain %s: delivery events claim %" PRIu64
                       " identifiers more than keyd served (claimed %" PRIu64 ", served %" PRIu64
                       ")",
                       u->dom[d], acc - u->served[d], acc, u->served[d]);
    }
}

int vst_audit_usage_finish(vst_audit_usage *u, vst_audit_row_hash_fn fn, void *ctx)
{
    if (u == NULL || u->finished)
        return -1;
    u->finished = 1;
    char t1[VST_TIME_TEXT_LEN + 1], t2[VST_TIME_TEXT_LEN + 1];
    if (u->last_row == 0) {
        /* keyd reports every usage-interval seconds: deliveries younger than
         * the allowed age may simply not be reported yet (a fresh system, a
         * verify right after the first delivery). */
        if (u->claimed_total > 0 && wall_us() - u->first_claim_at > u->o.max_usage_age_us)
            au_finding(u,
                       "keyd usage: no verified keyd.usage event in the log, while delivery events "
                       "name %" PRIu64 " identifiers, the first more than %" PRId64 " s ago",
                       u->claimed_total, u->o.max_usage_age_us / 1000000);
    } else {
        if (u->last_delivery_row > 0 && u->last_delivery_at - u->T > u->o.max_usage_age_us) {
            fmt_time(u->T, t1);
            fmt_time(u->last_delivery_at, t2);
            au_finding(u,
                       "keyd usage: the last keyd.usage event (row %" PRIu64 ", %s) is older than "
                       "the last delivery event (row %" PRIu64 ", %s) by more than %" PRId64
                       " s: keyd's counts are not reaching the log",
                       u->last_row, t1, u->last_delivery_row, t2, u->o.max_usage_age_us / 1000000);
        }
        if (u->pend_overflow)
            au_finding(u, "keyd usage: more than %u delivery outcomes after one keyd.usage event",
                       PENDING_MAX);
        reconcile(u);
    }
    for (size_t i = 0; i < u->ncps; i++) {
        uint8_t h[VST_AUDIT_HASH_LEN];
        int got = fn ? fn(ctx, u->cps[i].seq, h) : 0;
        if (got < 0)
            return -1;
        if (got == 0)
            au_finding(u,
                       "row %" PRIu64 ": keyd signed a checkpoint for seq %" PRIu64
                       ", which is not in the log (rows were removed, or a head was forged)",
                       u->cps[i].log_seq, u->cps[i].seq);
        else if (memcmp(h, u->cps[i].head, sizeof h) != 0)
            au_finding(u,
                       "row %" PRIu64 ": keyd signed a head for seq %" PRIu64
                       " that is not that row's hash (the log was rewritten, or a head was forged)",
                       u->cps[i].log_seq, u->cps[i].seq);
    }
    return 0;
}

uint64_t vst_audit_usage_findings(const vst_audit_usage *u)
{
    return u ? u->findings : 0;
}

const char *vst_audit_usage_first(const vst_audit_usage *u)
{
    return u && u->findings ? u->first : "";
}

void vst_audit_usage_print(const vst_audit_usage *u, FILE *out)
{
    char t[VST_TIME_TEXT_LEN + 1];
    if (u->last_row == 0) {
        fprintf(out, "keyd usage: no verified usage event (%" PRIu64 " in the log)\n", u->events);
    } else {
        fmt_time(u->T, t);
        fprintf(out,
                "keyd usage: %" PRIu64 " events (%" PRIu64 " verified), last at row %" PRIu64
                " (%s); deliveries naming identifiers: %" PRIu64 " stored, %" PRIu64
                " rejected, %" PRIu64 " failed, %" PRIu64 " aborted; %" PRIu64
                " received without an outcome (%" PRIu64 " of them in flight)\n",
                u->events, u->verified, u->last_row, t, u->outcomes[CAT_STORED],
                u->outcomes[CAT_REJECTED], u->outcomes[CAT_FAILED], u->outcomes[CAT_ABORTED],
                u->inflight_deliveries + u->abandoned_deliveries, u->inflight_deliveries);
        for (size_t d = 0; d < u->ndom; d++) {
            uint64_t acc = 0;
            for (int c = 0; c < NCAT; c++)
                acc += u->accounted[d][c];
            fprintf(out,
                    "  %s: keyd served %" PRIu64 " (crash slack %" PRIu64 "); deliveries %" PRIu64,
                    u->dom[d], u->served[d], u->slack[d], acc);
            for (int c = 0; c < NCAT; c++)
                fprintf(out, "%s%s %" PRIu64, c == 0 ? " (" : ", ", au_cat_name[c],
                        u->accounted[d][c]);
            fprintf(out, "); in flight up to %" PRIu64 "\n", u->in_flight[d]);
        }
    }
    for (uint64_t i = 0; i < u->findings && i < SHOW; i++)
        fprintf(out, "  problem: %s\n", u->shown[i]);
    if (u->findings > SHOW)
        fprintf(out, "  ... and %" PRIu64 " more usage problems\n", u->findings - SHOW);
}
