/* Prometheus metrics: deliveries by result, records stored and withheld,
 * rejections by code, a delivery latency histogram, keyd and database
 * errors, responses by status. Lock-free counters. */
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "httpd/httpd.h"

static const char *const result_names[M__RESULTS] = {"stored",   "replayed",    "rejected",
                                                     "conflict", "unavailable", "refused"};
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define NB (sizeof buckets / sizeof buckets[0])

static atomic_ullong deliveries[M__RESULTS], records, withheld, keyd_errors, db_errors;
static atomic_ullong rejections[VST_E__COUNT];
static atomic_ullong hist[NB + 1], hist_count, hist_sum_us;
static atomic_ullong status_counts[600];
static atomic_ullong phase_us[PHASE__COUNT];
static const char *const phase_names[PHASE__COUNT] = {"slot",   "keyd",   "copy", "prepare",
                                                      "decide", "commit", "sign", "group"};
static atomic_ullong registrations[2], registration_cache_on;
static atomic_ullong groups, group_deliveries, group_splits, group_phase_us[GPHASE__COUNT];
static const char *const group_phase_names[GPHASE__COUNT] = {"prepare", "decide", "commit", "sign"};

void metrics_group(size_t n)
{
    atomic_fetch_add(&groups, 1);
    atomic_fetch_add(&group_deliveries, n);
}

void metrics_group_split(void)
{
    atomic_fetch_add(&group_splits, 1);
}

void metrics_group_phase(group_phase ph, int64_t t0_us)
{
    atomic_fetch_add(&group_phase_us[ph], (unsigned long long)(mono_us() - t0_us));
}

void metrics_phases(const uint64_t us[PHASE__COUNT])
{
    for (size_t p = 0; p < PHASE__COUNT; p++)
        atomic_fetch_add(&phase_us[p], us[p]);
}

void metrics_delivery(metric_result r, uint64_t n, double seconds)
{
    atomic_fetch_add(&deliveries[r], 1);
    if (r == M_STORED)
        atomic_fetch_add(&records, n);
    size_t b = 0;
    while (b < NB && seconds > buckets[b])
        b++;
    atomic_fetch_add(&hist[b], 1);
    atomic_fetch_add(&hist_count, 1);
    atomic_fetch_add(&hist_sum_us, (unsigned long long)(seconds * 1e6));
}

void metrics_rejection(vst_err code, uint64_t n)
{
    if ((unsigned)code < VST_E__COUNT)
        atomic_fetch_add(&rejections[code], n);
}

void metrics_withheld(uint64_t n)
{
    atomic_fetch_add(&withheld, n);
}

void metrics_registration(int hit)
{
    atomic_fetch_add(&registrations[hit != 0], 1);
}

void metrics_registration_listening(int on)
{
    atomic_store(&registration_cache_on, on != 0);
}

void metrics_keyd_error(void)
{
    atomic_fetch_add(&keyd_errors, 1);
}

void metrics_db_error(void)
{
    atomic_fetch_add(&db_errors, 1);
}

void metrics_http(unsigned status)
{
    if (status < 600)
        atomic_fetch_add(&status_counts[status], 1);
}

/* The text of /metrics, built in a buffer of fixed size: an answer that
 * would not fit is no answer (NULL) rather than a truncated one. */
typedef struct {
    char *out;
    size_t n, cap;
} text;

__attribute__((format(printf, 2, 3))) static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->out + t->n, t->n < t->cap ? t->cap - t->n : 0, fmt, ap);
    va_end(ap);
    t->n += k > 0 ? (size_t)k : 0;
}

#define P(...) put(t, __VA_ARGS__)

/* Deliveries, records, their errors and their timing. */
static void render_deliveries(text *t)
{
    P("# HELP vst_deliveries_total Deliveries by result.\n# TYPE vst_deliveries_total counter\n");
    for (int r = 0; r < M__RESULTS; r++)
        P("vst_deliveries_total{result=\"%s\"} %llu\n", result_names[r],
          atomic_load(&deliveries[r]));
    P("# HELP vst_records_stored_total Records stored.\n# TYPE vst_records_stored_total counter\n"
      "vst_records_stored_total %llu\n",
      atomic_load(&records));
    P("# HELP vst_records_withheld_total Valid records not stored: their person objected.\n"
      "# TYPE vst_records_withheld_total counter\nvst_records_withheld_total %llu\n",
      atomic_load(&withheld));
    P("# HELP vst_record_rejections_total Record errors by code.\n"
      "# TYPE vst_record_rejections_total counter\n");
    for (int e = 0; e < VST_E__COUNT; e++)
        if (atomic_load(&rejections[e]) > 0)
            P("vst_record_rejections_total{code=\"%s\"} %llu\n", vst_err_code((vst_err)e),
              atomic_load(&rejections[e]));
    P("# HELP vst_delivery_duration_seconds Time from request to answer.\n"
      "# TYPE vst_delivery_duration_seconds histogram\n");
    unsigned long long cum = 0;
    for (size_t b = 0; b < NB; b++) {
        cum += atomic_load(&hist[b]);
        P("vst_delivery_duration_seconds_bucket{le=\"%g\"} %llu\n", buckets[b], cum);
    }
    cum += atomic_load(&hist[NB]);
    P("vst_delivery_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    P("vst_delivery_duration_seconds_sum %.6f\nvst_delivery_duration_seconds_count %llu\n",
      (double)atomic_load(&hist_sum_us) / 1e6, atomic_load(&hist_count));
    P("# HELP vst_delivery_phase_seconds_total Time of stored deliveries by phase: slot, keyd, "
      "copy, prepare, decide, commit, sign, group.\n# TYPE vst_delivery_phase_seconds_total "
      "counter\n");
    for (size_t p = 0; p < PHASE__COUNT; p++)
        P("vst_delivery_phase_seconds_total{phase=\"%s\"} %.6f\n", phase_names[p],
          (double)atomic_load(&phase_us[p]) / 1e6);
}

/* Commit groups (issue 14). */
static void render_groups(text *t)
{
    P("# HELP vst_commit_groups_total Commit groups of small deliveries.\n# TYPE "
      "vst_commit_groups_total counter\nvst_commit_groups_total %llu\n",
      atomic_load(&groups));
    P("# HELP vst_commit_group_deliveries_total Deliveries committed in groups.\n# TYPE "
      "vst_commit_group_deliveries_total counter\nvst_commit_group_deliveries_total %llu\n",
      atomic_load(&group_deliveries));
    P("# HELP vst_commit_group_splits_total Commit groups whose rows the store refused, retried "
      "one delivery at a time.\n# TYPE vst_commit_group_splits_total counter\n"
      "vst_commit_group_splits_total %llu\n",
      atomic_load(&group_splits));
    P("# HELP vst_commit_group_phase_seconds_total The committer's time by phase: prepare, "
      "decide, commit, sign.\n# TYPE vst_commit_group_phase_seconds_total counter\n");
    for (size_t p = 0; p < GPHASE__COUNT; p++)
        P("vst_commit_group_phase_seconds_total{phase=\"%s\"} %.6f\n", group_phase_names[p],
          (double)atomic_load(&group_phase_us[p]) / 1e6);
}

/* The registration cache, the workers, the dependencies' errors, HTTP. */
static void render_service(text *t)
{
    P("# HELP vst_registration_lookups_total Client registrations by source: the registration "
      "cache, or the trust DB.\n# TYPE vst_registration_lookups_total counter\n"
      "vst_registration_lookups_total{source=\"cache\"} %llu\n"
      "vst_registration_lookups_total{source=\"database\"} %llu\n",
      atomic_load(&registrations[1]), atomic_load(&registrations[0]));
    P("# HELP vst_registration_cache_on 1 while vst.clients is watched and the registration cache "
      "serves.\n# TYPE vst_registration_cache_on gauge\nvst_registration_cache_on %llu\n",
      atomic_load(&registration_cache_on));
    size_t workers, busy, waiting;
    uint64_t handed;
    pool_stats(&workers, &busy, &waiting, &handed);
    P("# HELP vst_workers Worker slots (workers).\n# TYPE vst_workers gauge\nvst_workers %zu\n"
      "# HELP vst_workers_busy Worker slots taken by a request.\n# TYPE vst_workers_busy gauge\n"
      "vst_workers_busy %zu\n# HELP vst_worker_waiting Requests waiting for a worker slot.\n"
      "# TYPE vst_worker_waiting gauge\nvst_worker_waiting %zu\n"
      "# HELP vst_worker_handoffs_total Worker slots handed to a request that had waited 100 ms "
      "or more.\n# TYPE vst_worker_handoffs_total counter\nvst_worker_handoffs_total %llu\n",
      workers, busy, waiting, (unsigned long long)handed);
    P("# HELP vst_keyd_errors_total Failed calls to vst-keyd.\n# TYPE vst_keyd_errors_total "
      "counter\nvst_keyd_errors_total %llu\n",
      atomic_load(&keyd_errors));
    P("# HELP vst_db_errors_total Failed database operations.\n# TYPE vst_db_errors_total "
      "counter\nvst_db_errors_total %llu\n",
      atomic_load(&db_errors));
    P("# HELP vst_http_responses_total Responses by status.\n# TYPE vst_http_responses_total "
      "counter\n");
    for (unsigned s = 100; s < 600; s++)
        if (atomic_load(&status_counts[s]) > 0)
            P("vst_http_responses_total{status=\"%u\"} %llu\n", s, atomic_load(&status_counts[s]));
}
#undef P

char *metrics_render(void)
{
    text t = {.out = malloc(16384), .cap = 16384};
    if (t.out == NULL)
        return NULL;
    render_deliveries(&t);
    render_groups(&t);
    render_service(&t);
    if (t.n >= t.cap) {
        free(t.out);
        return NULL;
    }
    return t.out;
}
