/* vst-httpd's background thread, on a slot of its own (never a worker's):
 *   every second  probes the databases and keyd for /readyz (health.c);
 *   every 5 s     resolves prepared store transactions that an interruption
 *                 left behind (older than a minute, so that deliveries in
 *                 flight are never touched), signs receipts whose signing
 *                 failed after their commit (receipt.c), pulls
 *                 vst-keyd's events into the audit log and has keyd sign a
 *                 checkpoint when enough events or time have passed;
 *   at shutdown   one last pull and checkpoint. */
#include <pthread.h>

#include "audit/audit.h"
#include "httpd/httpd.h"
#include "httpd/receipt.h"
#include "httpd/store.h"

static pthread_t thread;
static volatile int stopping;

static void housekeeping(slot *s, int final)
{
    /* Until start-up recovery succeeded, resolve everything not locked by
     * a delivery in flight; afterwards only what is older than a minute. */
    int r = store_recover(s, g_recovered ? 60 : 0);
    if (r >= 0 && !g_recovered) {
        g_recovered = 1;
        hlog("info", "crash recovery done; accepting deliveries");
    }
    if (slot_trust(s) == 0 && slot_keyd(s) == 0) {
        receipt_sign_pending(s);
        if (vst_audit_pull_keyd_events(s->trust, s->keyd) < 0) {
            slot_drop_keyd(s);
            slot_drop_trust(s);
        } else {
            uint64_t seq;
            int rc = final ? vst_audit_checkpoint(s->trust, s->keyd, &seq)
                           : vst_audit_checkpoint_due(s->trust, s->keyd, g_hcfg.checkpoint_events,
                                                      g_hcfg.checkpoint_seconds, &seq);
            if (rc < 0) {
                hlog("warning", "audit checkpoint failed");
                slot_drop_keyd(s);
            }
        }
    }
}

static void *run(void *arg)
{
    (void)arg;
    slot *s = pool_background();
    int64_t last_housekeeping = mono_ms();
    while (!stopping) {
        health_wait_tick(1000);
        if (stopping)
            break;
        health_probe(s);
        if (mono_ms() - last_housekeeping >= 5000) {
            housekeeping(s, 0);
            last_housekeeping = mono_ms();
        }
    }
    return NULL;
}

int background_start(void)
{
    health_probe(pool_background());
    return pthread_create(&thread, NULL, run, NULL) == 0 ? 0 : -1;
}

void background_stop(void)
{
    stopping = 1;
    health_wake();
    pthread_join(thread, NULL);
    housekeeping(pool_background(), 1); /* final checkpoint */
}
