/* /healthz (the process answers), /readyz (keyd unsealed and reachable,
 * both databases reachable), /metrics (Prometheus text).
 *
 * Readiness is not probed per request: the background thread probes every
 * second (health_probe) and /readyz answers from that cache, so that it
 * costs no worker slot and no query or keyd call of its own — however
 * many peers ask. A /readyz that finds "not ready" asks for an early probe
 * and waits for it briefly (single flight, at most four probes a second),
 * so that a recovery is seen at once, not a second later. A request that
 * finds a dependency down marks it (health_mark_down). A keyd that stopped
 * answering (a timeout, e.g. a stopped process) is remembered as stalled
 * until a probe gets an answer again: deliveries are then refused with 503
 * at once instead of each waiting out its own timeout. Who may call what
 * is decided by the route table (routes.c). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "httpd/httpd.h"
#include "httpd/sql.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t probe_wanted = PTHREAD_COND_INITIALIZER;
static pthread_cond_t probe_done = PTHREAD_COND_INITIALIZER;
static const char *not_ready = "not probed yet";
static int keyd_stalled;
static int64_t probed_ms;
static uint64_t probes;
static int wanted;

static void set_state(const char *why, int stalled)
{
    pthread_mutex_lock(&mu);
    not_ready = why;
    keyd_stalled = stalled;
    probed_ms = mono_ms();
    pthread_mutex_unlock(&mu);
}

const char *health_not_ready(void)
{
    pthread_mutex_lock(&mu);
    const char *why = not_ready;
    /* A probe older than 10 s means the background thread is stuck on a
     * dependency: not ready either. */
    if (why == NULL && mono_ms() - probed_ms > 10000)
        why = "readiness probe overdue";
    pthread_mutex_unlock(&mu);
    return why;
}

int health_keyd_stalled(void)
{
    pthread_mutex_lock(&mu);
    int s = keyd_stalled;
    pthread_mutex_unlock(&mu);
    return s;
}

void health_mark_down(const char *why)
{
    pthread_mutex_lock(&mu);
    not_ready = why;
    pthread_mutex_unlock(&mu);
}

void health_mark_keyd_stalled(void)
{
    pthread_mutex_lock(&mu);
    not_ready = "vst-keyd does not answer";
    keyd_stalled = 1;
    pthread_mutex_unlock(&mu);
}

void health_wait_tick(int ms)
{
    struct timespec until;
    deadline_in(ms, &until);
    pthread_mutex_lock(&mu);
    while (!wanted && pthread_cond_timedwait(&probe_wanted, &mu, &until) == 0)
        ;
    wanted = 0;
    pthread_mutex_unlock(&mu);
}

void health_wake(void)
{
    pthread_mutex_lock(&mu);
    wanted = 1;
    pthread_cond_signal(&probe_wanted);
    pthread_mutex_unlock(&mu);
}

/* Asks the background thread for a probe now and waits up to ms for it. */
static void probe_now(int ms)
{
    struct timespec until;
    deadline_in(ms, &until);
    pthread_mutex_lock(&mu);
    uint64_t seen = probes;
    if (mono_ms() - probed_ms >= 250) { /* at most four probes a second */
        wanted = 1;
        pthread_cond_signal(&probe_wanted);
        while (probes == seen && pthread_cond_timedwait(&probe_done, &mu, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&mu);
}

enum MHD_Result health_healthz(struct MHD_Connection *c, const http_call *call)
{
    (void)call;
    static const char ok[] = "{\"status\":\"ok\"}";
    return reply_body(c, 200, "application/json", ok, sizeof ok - 1);
}

static int db_ok(slot *s, sql_stmt ping)
{
    PGresult *r = sql_run(s, ping, NULL, NULL, NULL);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok;
}

void health_probe(slot *s)
{
    const char *why = NULL;
    if (slot_trust(s) != 0 || !db_ok(s, SQL_TRUST_PING)) {
        slot_drop_trust(s);
        why = "the trust DB is unreachable";
    } else if (slot_store(s) != 0 || !db_ok(s, SQL_STORE_PING)) {
        slot_drop_store(s);
        why = "the store is unreachable";
    } else if (slot_keyd(s) != 0) {
        why = "vst-keyd is unreachable";
    } else {
        vst_status_ok st;
        uint8_t *buf;
        size_t len;
        /* A probe must not take longer than its period. */
        unsigned t = g_hcfg.keyd_timeout_ms < 1000 ? (unsigned)g_hcfg.keyd_timeout_ms : 1000;
        vst_keyd_set_timeout(s->keyd, t);
        int rc = vst_keyd_status(s->keyd, &st, &buf, &len);
        vst_keyd_set_timeout(s->keyd, (unsigned)g_hcfg.keyd_timeout_ms);
        if (rc != 0) {
            slot_drop_keyd(s);
            why =
                rc == VST_PROTO_E_TIMEOUT ? "vst-keyd does not answer" : "vst-keyd is unreachable";
        } else {
            if (st.sealed)
                why = "vst-keyd is sealed";
            vst_frame_free(buf, len);
        }
    }
    set_state(why, why != NULL && strcmp(why, "vst-keyd does not answer") == 0);
    pthread_mutex_lock(&mu);
    probes++;
    pthread_cond_broadcast(&probe_done);
    pthread_mutex_unlock(&mu);
}

enum MHD_Result health_readyz(struct MHD_Connection *c, const http_call *call)
{
    (void)call;
    const char *why = health_not_ready();
    if (why != NULL) {
        probe_now(1500);
        why = health_not_ready();
    }
    if (why != NULL)
        return reply_problem(c, VST_E_UNAVAILABLE, why, 5);
    static const char ok[] = "{\"status\":\"ready\"}";
    return reply_body(c, 200, "application/json", ok, sizeof ok - 1);
}

enum MHD_Result health_metrics(struct MHD_Connection *c, const http_call *call)
{
    (void)call;
    char *text = metrics_render();
    if (text == NULL)
        return reply_problem(c, VST_E_INTERNAL, NULL, 0);
    enum MHD_Result rc =
        reply_body(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
    free(text);
    return rc;
}
