/* The registration cache and its watcher; see registry.h. */
#include "httpd/registry.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>

#include "httpd/sql.h"

/* Direct-mapped by the fingerprint's first bytes (a SHA-256: spread
 * evenly). A collision only evicts: the next request looks up again. */
#define REGISTRY_SLOTS 256

typedef struct {
    int used;
    uint8_t fp[32];
    client_info ci;
    vst_err e;
    uint64_t generation;
    int64_t at_ms;
} entry;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER; /* the watcher's pause, cut by stop */
static entry cache[REGISTRY_SLOTS];
static uint64_t generation = 1; /* bumped by every change: older entries are void */
static int listening;           /* entries are served only while the watcher listens */
static int stopping;
static pthread_t thread;
static int started;

static entry *slot_of(const uint8_t fp[32])
{
    return &cache[(fp[0] | (unsigned)fp[1] << 8) % REGISTRY_SLOTS];
}

int registry_get(const uint8_t fp[32], client_info *out, vst_err *e)
{
    int hit = 0;
    pthread_mutex_lock(&mu);
    const entry *c = slot_of(fp);
    if (listening && c->used && c->generation == generation &&
        mono_ms() - c->at_ms < REGISTRY_TTL_MS && memcmp(c->fp, fp, 32) == 0) {
        *out = c->ci;
        *e = c->e;
        hit = 1;
    }
    pthread_mutex_unlock(&mu);
    metrics_registration(hit);
    return hit;
}

uint64_t registry_generation(void)
{
    pthread_mutex_lock(&mu);
    uint64_t g = generation;
    pthread_mutex_unlock(&mu);
    return g;
}

void registry_put(const uint8_t fp[32], const client_info *ci, vst_err e, uint64_t gen)
{
    if (e != VST_E_OK && e != VST_E_CLIENT_REVOKED && e != VST_E_CLIENT_UNKNOWN)
        return; /* not an answer about the client */
    pthread_mutex_lock(&mu);
    if (listening && gen == generation) {
        entry *c = slot_of(fp);
        *c = (entry){.used = 1, .ci = *ci, .e = e, .generation = gen, .at_ms = mono_ms()};
        memcpy(c->fp, fp, 32);
    }
    pthread_mutex_unlock(&mu);
}

/* Voids every entry; on is whether the cache may serve from now on. */
static void invalidate(int on)
{
    pthread_mutex_lock(&mu);
    generation++;
    listening = on;
    pthread_mutex_unlock(&mu);
    metrics_registration_listening(on);
}

/* Waits ms unless stopped: 1 when stopping. */
static int pause_ms(int ms)
{
    struct timespec until;
    deadline_in(ms, &until);
    pthread_mutex_lock(&mu);
    while (!stopping && pthread_cond_timedwait(&wake, &mu, &until) == 0)
        ;
    int stop = stopping;
    pthread_mutex_unlock(&mu);
    return stop;
}

/* Reads notifications until the connection fails or vst-httpd stops. */
static void listen_loop(PGconn *db)
{
    while (!pause_ms(0)) {
        struct pollfd p = {.fd = PQsocket(db), .events = POLLIN};
        int rc = poll(&p, 1, 500);
        if (rc < 0 && errno != EINTR)
            return;
        if (rc <= 0)
            continue;
        if (PQconsumeInput(db) != 1 || PQstatus(db) != CONNECTION_OK)
            return;
        int changed = 0;
        for (PGnotify *n; (n = PQnotifies(db)) != NULL; PQfreemem(n))
            changed = 1;
        if (changed)
            invalidate(1);
    }
}

static void *watch(void *arg)
{
    (void)arg;
    slot s = {0}; /* only .trust is used */
    int warned = 0;
    do {
        PGresult *r =
            slot_trust(&s) == 0 ? sql_run(&s, SQL_LISTEN_CLIENTS, NULL, NULL, NULL) : NULL;
        int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (ok) {
            invalidate(1);
            hlog("info", "registration cache on: vst.clients is watched");
            warned = 0;
            listen_loop(s.trust);
            invalidate(0);
        }
        slot_drop_trust(&s);
        if (!warned && !pause_ms(0)) {
            hlog("warning", "registration cache off: every request looks its client up until "
                            "the trust DB can be watched again");
            warned = 1;
        }
    } while (!pause_ms(1000));
    return NULL;
}

int registry_start(void)
{
    if (pthread_create(&thread, NULL, watch, NULL) != 0)
        return -1;
    started = 1;
    return 0;
}

void registry_stop(void)
{
    pthread_mutex_lock(&mu);
    stopping = 1;
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&mu);
    if (started)
        pthread_join(thread, NULL);
    started = 0;
    invalidate(0);
}
