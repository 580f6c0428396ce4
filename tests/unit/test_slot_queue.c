/* Who gets a worker slot (server/httpd/slot_queue.c, issue 14): one
 * waiter woken per release, a bounded wait by hand-off, the per-client
 * cap, timeouts, and no wake-up lost under contention. Real threads; the
 * assertions run on the main thread (CUnit's are not thread-safe). */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "cunit_main.h"
#include "httpd/slot_queue.h"

static void sleep_ms(int ms)
{
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Waits until n requests are queued (a thread's start may take a while on
 * a loaded machine), for at most 5 s. */
static void until_waiting(slot_queue *q, size_t n)
{
    for (int i = 0; i < 5000; i++) {
        pthread_mutex_lock(&q->mu);
        size_t k = q->waiting;
        pthread_mutex_unlock(&q->mu);
        if (k >= n)
            return;
        sleep_ms(1);
    }
    CU_FAIL("the waiters did not queue");
}

static void test_free_then_timeout(void)
{
    slot_queue q;
    CU_ASSERT_FATAL(sq_init(&q, 2, 8, 100) == 0);
    int busy = -1;
    long a = sq_acquire(&q, 1, 1000, &busy), b = sq_acquire(&q, 2, 1000, &busy);
    CU_ASSERT(a >= 0 && b >= 0 && a != b);
    CU_ASSERT_EQUAL(busy, 0);
    /* Both taken: a third request waits its timeout and gets none, and it
     * is not "busy" — it was not at its cap, the workers were. */
    CU_ASSERT_EQUAL(sq_acquire(&q, 3, 50, &busy), -1);
    CU_ASSERT_EQUAL(busy, 0);
    sq_release(&q, (size_t)a);
    CU_ASSERT_EQUAL(sq_acquire(&q, 3, 50, &busy), a);
    sq_release(&q, (size_t)a);
    sq_release(&q, (size_t)b);
    CU_ASSERT_PTR_NULL(q.head);
    sq_free(&q);
}

static void test_cap(void)
{
    slot_queue q;
    CU_ASSERT_FATAL(sq_init(&q, 3, 1, 100) == 0);
    int busy = 0;
    long a = sq_acquire(&q, 7, 1000, &busy);
    CU_ASSERT(a >= 0);
    /* At its cap, client 7 waits for its own slot; it is told so. */
    CU_ASSERT_EQUAL(sq_acquire(&q, 7, 50, &busy), -1);
    CU_ASSERT_EQUAL(busy, 1);
    /* Others are not held up by it. */
    long b = sq_acquire(&q, 8, 50, &busy);
    CU_ASSERT(b >= 0 && busy == 0);
    /* Client 0 (vst-httpd's own probes) is never capped. */
    long c = sq_acquire(&q, 0, 50, &busy);
    CU_ASSERT(c >= 0);
    sq_release(&q, (size_t)b);
    sq_release(&q, (size_t)c);
    sq_release(&q, (size_t)a);
    sq_free(&q);
}

typedef struct {
    slot_queue *q;
    int client;
    int timeout_ms;
    int hold_ms;
    long got;
    int busy;
    atomic_int *order; /* the next position to record */
    int position;      /* where this one got its slot */
} waiter_arg;

static void *wait_for_slot(void *p)
{
    waiter_arg *a = p;
    a->got = sq_acquire(a->q, a->client, a->timeout_ms, &a->busy);
    if (a->got >= 0) {
        a->position = atomic_fetch_add(a->order, 1);
        sleep_ms(a->hold_ms);
        sq_release(a->q, (size_t)a->got);
    }
    return NULL;
}

/* A holder's slot, one waiter queued for wait_ms (still waiting then,
 * whatever else is free), the holder's release; *w as the waiter ended. */
static void holder_then_waiter(slot_queue *q, int holder, waiter_arg *w, int wait_ms)
{
    int busy = 0;
    long a = sq_acquire(q, holder, 1000, &busy);
    CU_ASSERT(a >= 0);
    atomic_int order = 0;
    w->q = q;
    w->order = &order;
    w->timeout_ms = 5000;
    pthread_t t;
    pthread_create(&t, NULL, wait_for_slot, w);
    until_waiting(q, 1);
    sleep_ms(wait_ms);
    CU_ASSERT_EQUAL(atomic_load(&order), 0);
    sq_release(q, (size_t)a);
    pthread_join(t, NULL);
}

/* A capped client's waiter gets the slot its own client releases, though
 * another slot is free: it queued behind itself only. */
static void test_capped_waiter_gets_own_release(void)
{
    slot_queue q;
    CU_ASSERT_FATAL(sq_init(&q, 2, 1, 1000) == 0);
    waiter_arg w = {.client = 7};
    holder_then_waiter(&q, 7, &w, 50);
    CU_ASSERT(w.got >= 0);
    CU_ASSERT_EQUAL(w.busy, 0);
    sq_free(&q);
}

/* Waiters that waited starve_ms get the slots in the order they came,
 * each handed over by a release — whoever else asks meanwhile. Before
 * slot_queue, a release woke every waiter and whichever ran first won. */
static void test_fifo_when_starving(void)
{
    enum { N = 6 };
    slot_queue q;
    CU_ASSERT_FATAL(sq_init(&q, 1, 8, 0) == 0); /* every waiter starves at once */
    int busy = 0;
    long a = sq_acquire(&q, 100, 1000, &busy);
    atomic_int order = 0;
    waiter_arg w[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        w[i] = (waiter_arg){.q = &q,
                            .client = i + 1,
                            .timeout_ms = 5000,
                            .hold_ms = 5,
                            .order = &order,
                            .position = -1};
        pthread_create(&t[i], NULL, wait_for_slot, &w[i]);
        until_waiting(&q, (size_t)i + 1); /* queued in this order */
    }
    /* A newcomer while they wait: not served before them. */
    CU_ASSERT_EQUAL(sq_acquire(&q, 99, 10, &busy), -1);
    sq_release(&q, (size_t)a);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++) {
        CU_ASSERT_EQUAL(w[i].got, 0);
        CU_ASSERT_EQUAL(w[i].position, i);
    }
    CU_ASSERT_EQUAL(q.handed, N);
    sq_free(&q);
}

/* Below starve_ms nothing is handed over: a free slot goes to whoever
 * asks first, so that no slot stays idle while a waiter wakes up. */
static void test_no_handoff_before_starving(void)
{
    slot_queue q;
    CU_ASSERT_FATAL(sq_init(&q, 1, 8, 60000) == 0);
    waiter_arg w = {.client = 2};
    holder_then_waiter(&q, 1, &w, 20);
    CU_ASSERT_EQUAL(w.got, 0); /* woken, and it took the free slot itself */
    CU_ASSERT_EQUAL(q.handed, 0);
    sq_free(&q);
}

/* Many threads, few slots, a cap, both paths (starve_ms 1): nobody times
 * out (a lost wake-up would leave a waiter asleep next to a free slot),
 * never more holders than slots nor a client above its cap. */
enum { S_SLOTS = 3, S_CAP = 2, S_THREADS = 12, S_ROUNDS = 1500, S_CLIENTS = 4 };
static slot_queue stress_q;
static atomic_int holders, over_slots, over_cap, timeouts, per_client[S_CLIENTS + 1];

static void *stress(void *p)
{
    int client = 1 + (int)(long)p % S_CLIENTS;
    for (int r = 0; r < S_ROUNDS; r++) {
        int busy = 0;
        long i = sq_acquire(&stress_q, client, 10000, &busy);
        if (i < 0) {
            atomic_fetch_add(&timeouts, 1);
            continue;
        }
        if (atomic_fetch_add(&holders, 1) + 1 > S_SLOTS)
            atomic_fetch_add(&over_slots, 1);
        if (atomic_fetch_add(&per_client[client], 1) + 1 > S_CAP)
            atomic_fetch_add(&over_cap, 1);
        if (r % 7 == 0)
            usleep(200);
        atomic_fetch_sub(&per_client[client], 1);
        atomic_fetch_sub(&holders, 1);
        sq_release(&stress_q, (size_t)i);
    }
    return NULL;
}

static void test_stress(void)
{
    CU_ASSERT_FATAL(sq_init(&stress_q, S_SLOTS, S_CAP, 1) == 0);
    pthread_t t[S_THREADS];
    for (long i = 0; i < S_THREADS; i++)
        pthread_create(&t[i], NULL, stress, (void *)i);
    for (int i = 0; i < S_THREADS; i++)
        pthread_join(t[i], NULL);
    CU_ASSERT_EQUAL(atomic_load(&timeouts), 0);
    CU_ASSERT_EQUAL(atomic_load(&over_slots), 0);
    CU_ASSERT_EQUAL(atomic_load(&over_cap), 0);
    CU_ASSERT(stress_q.handed > 0); /* the hand-off path ran too */
    CU_ASSERT_PTR_NULL(stress_q.head);
    CU_ASSERT_EQUAL(stress_q.waiting, 0);
    for (size_t i = 0; i < S_SLOTS; i++)
        CU_ASSERT_EQUAL(stress_q.in_use[i], 0);
    sq_free(&stress_q);
}

static const vst_test tests[] = {
    {"free slots, then a timeout", test_free_then_timeout},
    {"the per-client cap", test_cap},
    {"a capped waiter gets its own client's release", test_capped_waiter_gets_own_release},
    {"waiters that starve are served in order", test_fifo_when_starving},
    {"no hand-off before starve_ms", test_no_handoff_before_starving},
    {"contention: no lost wake-up, no slot or cap overrun", test_stress},
    {NULL, NULL},
};

int vst_register_tests(void)
{
    VST_ADD_SUITE("slot queue", tests);
    return 0;
}
