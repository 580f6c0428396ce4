/* Who gets a free worker slot, and when (pool.c). Pure bookkeeping — no
 * connections — so that the discipline is tested on its own
 * (tests/unit/test_slot_queue.c).
 *
 * A released slot wakes one waiter, the oldest one whose client is below
 * its cap — not every waiter: with 128 senders on 32 workers, waking all
 * of them on every release cost vst-httpd twice its CPU per delivery, and
 * whichever woke first won, so that a delivery could wait a second while
 * others went through in milliseconds. A request that finds a slot free
 * takes it at once even when others wait (their wake-up takes a CPU the
 * machine may not have free: handing every slot to a sleeping thread left
 * slots idle and cost a third of the throughput). Only a waiter that has
 * waited starve_ms or more gets the next slot handed to it, reserved, and
 * nobody takes a free slot before it: the wait is bounded whatever the
 * load. */
#ifndef VST_HTTPD_SLOT_QUEUE_H
#define VST_HTTPD_SLOT_QUEUE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sq_waiter sq_waiter;

typedef struct {
    pthread_mutex_t mu;
    size_t n;
    int *in_use;
    int *client; /* the client whose request holds the slot; 0 for none */
    size_t cap;  /* slots one client may hold at once (client 0: no cap) */
    int64_t starve_ms;
    sq_waiter *head; /* waiters, oldest first */
    sq_waiter *tail;
    size_t waiting;  /* waiters queued now */
    uint64_t handed; /* slots handed to a waiter that waited starve_ms */
} slot_queue;

/* n slots, cap per client, hand-off after starve_ms: 0, or -1. */
int sq_init(slot_queue *q, size_t n, size_t cap, unsigned starve_ms);
void sq_free(slot_queue *q);
/* A slot's index, waiting up to timeout_ms; -1 when none came, with *busy
 * set when the client was at its cap then (it queued behind itself). */
long sq_acquire(slot_queue *q, int client_id, int timeout_ms, int *busy);
void sq_release(slot_queue *q, size_t i);
/* For /metrics: slots taken, requests waiting, hand-offs so far. */
void sq_stats(slot_queue *q, size_t *busy, size_t *waiting, uint64_t *handed);

#endif
