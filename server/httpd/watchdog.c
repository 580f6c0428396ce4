/* The connection watchdog. libmicrohttpd closes a connection only after it
 * has been idle for connection-timeout seconds, so a peer that sends one
 * byte every few seconds could keep it for ever: with its headers (a
 * thread and a connection held) or with a delivery body (a worker slot
 * held, a store transaction open). Every connection is registered here
 * while it exists; four times a second its own thread closes (shutdown)
 * those whose headers are later than header-timeout, or whose delivery
 * body arrives slower than min-transfer-rate after min-rate-grace seconds.
 * It also closes a connection whose body was refused (413) and whose
 * sender stops sending before the body ends: libmicrohttpd would wait for
 * the rest until the idle timeout. libmicrohttpd then sees the socket fail
 * and ends the request as if the peer had gone away: the delivery is
 * rolled back and its slot returned.
 *
 * The registry lock is held while a socket is shut down, and a connection
 * leaves the registry (libmicrohttpd's "closed" notification) before its
 * descriptor is closed, so a descriptor is never used after it may have
 * been reused. */
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include "httpd/httpd.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static peer_cache *head;

void watchdog_add(peer_cache *pc)
{
    pthread_mutex_lock(&mu);
    pc->prev = NULL;
    pc->next = head;
    if (head != NULL)
        head->prev = pc;
    head = pc;
    pthread_mutex_unlock(&mu);
}

void watchdog_remove(peer_cache *pc)
{
    pthread_mutex_lock(&mu);
    if (pc->prev != NULL)
        pc->prev->next = pc->next;
    else if (head == pc)
        head = pc->next;
    if (pc->next != NULL)
        pc->next->prev = pc->prev;
    pc->prev = pc->next = NULL;
    pthread_mutex_unlock(&mu);
}

peer_cache *peer_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static int too_slow(const peer_cache *pc, int64_t now)
{
    int64_t t0 = pc->body_t0_ms;
    if (t0 == 0 || g_hcfg.min_transfer_rate == 0 ||
        now - t0 <= (int64_t)g_hcfg.min_rate_grace * 1000)
        return 0;
    return pc->body_bytes * 1000 / (uint64_t)(now - t0) < g_hcfg.min_transfer_rate;
}

static void watchdog_run(void)
{
    int64_t now = mono_ms();
    unsigned headers = 0, bodies = 0;
    pthread_mutex_lock(&mu);
    for (peer_cache *pc = head; pc != NULL; pc = pc->next) {
        int64_t due = pc->headers_due_ms, close_at = pc->close_at_ms;
        int late = (due != 0 && now > due) || (close_at != 0 && now > close_at);
        int slow = !late && too_slow(pc, now);
        if (!late && !slow)
            continue;
        pc->cut_slow = slow;
        shutdown(pc->fd, SHUT_RDWR);
        pc->headers_due_ms = 0;
        pc->body_t0_ms = 0;
        pc->close_at_ms = 0;
        headers += (unsigned)late;
        bodies += (unsigned)slow;
    }
    pthread_mutex_unlock(&mu);
    if (headers + bodies > 0)
        hlog("warning",
             "closed %u connection(s) whose headers were late and %u whose body was "
             "slower than min-transfer-rate",
             headers, bodies);
}

static pthread_t thread;
static volatile int stopping;

static void *run(void *arg)
{
    (void)arg;
    while (!stopping) {
        struct timespec t = {0, 250 * 1000000L};
        nanosleep(&t, NULL);
        watchdog_run();
    }
    return NULL;
}

int watchdog_start(void)
{
    return pthread_create(&thread, NULL, run, NULL) == 0 ? 0 : -1;
}

void watchdog_stop(void)
{
    stopping = 1;
    pthread_join(thread, NULL);
}
