/* vst-httpd's background thread: every few seconds it resolves prepared
 * store transactions that an interruption left behind (older than a
 * minute, so that deliveries in flight are never touched), pulls vst-keyd's
 * events into the audit log and has keyd sign a checkpoint of the chain
 * when enough events or time have passed — and once more at shutdown. */
#include <pthread.h>
#include <unistd.h>

#include "audit.h"
#include "httpd.h"

static pthread_t thread;
static volatile int stopping;

static void housekeeping(int final)
{
    slot *s = pool_acquire(final ? 10000 : 1000);
    if (s == NULL)
        return;
    /* Until start-up recovery succeeded, resolve everything not locked by
     * a delivery in flight; afterwards only what is older than a minute. */
    int r = store_recover(s, g_recovered ? 60 : 0);
    if (r >= 0 && !g_recovered) {
        g_recovered = 1;
        hlog("info", "crash recovery done; accepting deliveries");
    }
    if (slot_trust(s) == 0 && slot_keyd(s) == 0) {
        if (vst_audit_pull_keyd_events(s->trust, s->keyd) < 0) {
            slot_drop_keyd(s);
            slot_drop_trust(s);
        } else {
            uint64_t seq;
            int rc = final ? vst_audit_checkpoint(s->trust, s->keyd, &seq)
                           : vst_audit_checkpoint_due(s->trust, s->keyd, g_hcfg.checkpoint_events,
                                                      g_hcfg.checkpoint_seconds, &seq);
            if (rc < 0)
                hlog("warning", "audit checkpoint failed");
        }
    }
    pool_release(s);
}

static void *run(void *arg)
{
    (void)arg;
    while (!stopping) {
        for (int i = 0; i < 50 && !stopping; i++)
            usleep(100000);
        if (!stopping)
            housekeeping(0);
    }
    return NULL;
}

int audit_thread_start(void)
{
    return pthread_create(&thread, NULL, run, NULL) == 0 ? 0 : -1;
}

void audit_thread_stop(void)
{
    stopping = 1;
    pthread_join(thread, NULL);
    housekeeping(1); /* final checkpoint */
}
