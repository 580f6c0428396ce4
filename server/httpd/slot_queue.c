/* Worker slots' queue; see slot_queue.h. */
#include "httpd/slot_queue.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "core/log.h"

struct sq_waiter {
    pthread_cond_t cv;
    int client;
    int64_t since_ms;
    long granted; /* the slot handed to it, or -1 */
    int woken;    /* a release woke it to try for a free slot */
    sq_waiter *next, *prev;
};

int sq_init(slot_queue *q, size_t n, size_t cap, unsigned starve_ms)
{
    *q = (slot_queue){.n = n, .cap = cap, .starve_ms = starve_ms};
    q->in_use = calloc(n ? n : 1, sizeof *q->in_use);
    q->client = calloc(n ? n : 1, sizeof *q->client);
    if (q->in_use == NULL || q->client == NULL || pthread_mutex_init(&q->mu, NULL) != 0) {
        free(q->in_use);
        free(q->client);
        return -1;
    }
    return 0;
}

void sq_free(slot_queue *q)
{
    pthread_mutex_destroy(&q->mu);
    free(q->in_use);
    free(q->client);
    q->in_use = q->client = NULL;
    q->n = 0;
}

/* Under mu, from here on. */

static int capped(const slot_queue *q, int client)
{
    if (client == 0)
        return 0;
    size_t held = 0;
    for (size_t i = 0; i < q->n; i++)
        held += q->in_use[i] && q->client[i] == client;
    return held >= q->cap;
}

static long free_slot(const slot_queue *q)
{
    for (size_t i = 0; i < q->n; i++)
        if (!q->in_use[i])
            return (long)i;
    return -1;
}

static void take(slot_queue *q, long i, int client)
{
    q->in_use[i] = 1;
    q->client[i] = client;
}

static void unlink_waiter(slot_queue *q, sq_waiter *w)
{
    *(w->prev ? &w->prev->next : &q->head) = w->next;
    *(w->next ? &w->next->prev : &q->tail) = w->prev;
    w->next = w->prev = NULL;
    q->waiting--;
}

/* The oldest waiter that could use a slot now: not capped, not already
 * woken for one. */
static sq_waiter *next_waiter(const slot_queue *q)
{
    for (sq_waiter *w = q->head; w != NULL; w = w->next)
        if (w->granted < 0 && !w->woken && !capped(q, w->client))
            return w;
    return NULL;
}

/* Someone waited starve_ms and could use a slot: free slots are handed
 * to such waiters, not taken by newcomers. */
static int starving(const slot_queue *q, int64_t now)
{
    for (sq_waiter *w = q->head; w != NULL && now - w->since_ms >= q->starve_ms; w = w->next)
        if (!capped(q, w->client))
            return 1;
    return 0;
}

/* A free slot i: handed to a starving waiter, or one waiter woken to
 * compete for it. */
static void dispatch(slot_queue *q, long i, int64_t now)
{
    sq_waiter *w = next_waiter(q);
    if (w == NULL)
        return;
    if (now - w->since_ms >= q->starve_ms) {
        take(q, i, w->client);
        w->granted = i;
        q->handed++;
        unlink_waiter(q, w);
    } else {
        w->woken = 1;
    }
    pthread_cond_signal(&w->cv);
}

long sq_acquire(slot_queue *q, int client_id, int timeout_ms, int *busy)
{
    *busy = 0;
    pthread_mutex_lock(&q->mu);
    int64_t now = vst_mono_ms();
    long i = -1;
    if (!capped(q, client_id) && !starving(q, now) && (i = free_slot(q)) >= 0) {
        take(q, i, client_id);
        pthread_mutex_unlock(&q->mu);
        return i;
    }
    sq_waiter w = {.client = client_id, .since_ms = now, .granted = -1};
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cv, &ca);
    pthread_condattr_destroy(&ca);
    w.prev = q->tail;
    *(q->tail ? &q->tail->next : &q->head) = &w;
    /* w lives in this frame while it is queued: every way out of this
     * function unlinks it first (granted: the release did). */
    /* cppcheck-suppress autoVariables */
    q->tail = &w;
    q->waiting++;
    /* On the condition's clock, CLOCK_MONOTONIC, like vst_mono_ms. */
    int64_t end_ms = now + timeout_ms;
    struct timespec until = {.tv_sec = end_ms / 1000, .tv_nsec = (long)(end_ms % 1000) * 1000000L};
    for (;;) {
        if (w.granted >= 0) { /* handed over, and unlinked, by a release */
            i = w.granted;
            break;
        }
        if (w.woken) {
            w.woken = 0;
            if (!capped(q, client_id) && (i = free_slot(q)) >= 0) {
                take(q, i, client_id);
                unlink_waiter(q, &w);
                break;
            }
        }
        if (pthread_cond_timedwait(&w.cv, &q->mu, &until) == ETIMEDOUT && w.granted < 0) {
            unlink_waiter(q, &w);
            *busy = capped(q, client_id);
            /* A release that woke this waiter woke nobody else. */
            long f = w.woken ? free_slot(q) : -1;
            if (f >= 0)
                dispatch(q, f, vst_mono_ms());
            i = -1;
            break;
        }
    }
    pthread_mutex_unlock(&q->mu);
    pthread_cond_destroy(&w.cv);
    return i;
}

void sq_release(slot_queue *q, size_t i)
{
    pthread_mutex_lock(&q->mu);
    q->in_use[i] = 0;
    q->client[i] = 0;
    dispatch(q, (long)i, vst_mono_ms());
    pthread_mutex_unlock(&q->mu);
}

void sq_stats(slot_queue *q, size_t *busy, size_t *waiting, uint64_t *handed)
{
    pthread_mutex_lock(&q->mu);
    size_t n = 0;
    for (size_t i = 0; i < q->n; i++)
        n += q->in_use[i] != 0;
    *busy = n;
    *waiting = q->waiting;
    *handed = q->handed;
    pthread_mutex_unlock(&q->mu);
}
