/* The registration cache: what vst.clients says of a certificate's key,
 * kept in memory between requests, and the thread that keeps it true.
 *
 * Every request needs its client's registration (auth.c): state, id,
 * name, rate. Looking it up costs a round trip to the trust DB on the one
 * authentication connection, every request one after the other. Here a
 * lookup's answer (registered, revoked, unknown) is kept, and used only
 * while the watcher thread is LISTENing on the trust DB's channel
 * "vst_clients": every change of vst.clients notifies it
 * (sql/trust/0014), and a notification empties the cache. While the
 * watcher is not listening — not yet connected, its connection lost —
 * nothing is served from the cache: every request looks up as before.
 *
 * So a revocation, a new registration or a new rate applies as soon as
 * the watcher has read the notification, which PostgreSQL sends when the
 * change commits: milliseconds, not a restart. An entry is also never
 * older than REGISTRY_TTL_MS, whatever the watcher saw: a connection that
 * broke without either side noticing cannot keep a revoked client in. */
#ifndef VST_HTTPD_REGISTRY_H
#define VST_HTTPD_REGISTRY_H

#include <stdint.h>

#include "httpd/httpd.h"

#define REGISTRY_TTL_MS 10000

/* Starts and stops the watcher thread: 0, or -1. */
int registry_start(void);
void registry_stop(void);

/* The cached answer for a key fingerprint: 1 with *out and *e set, or 0
 * (look it up; registry_generation first, registry_put after). */
int registry_get(const uint8_t fp[32], client_info *out, vst_err *e);
/* The cache's generation, read before a lookup. */
uint64_t registry_generation(void);
/* Keeps a lookup's answer (VST_E_OK, CLIENT_REVOKED, CLIENT_UNKNOWN) —
 * unless the cache changed since generation was read: then the answer
 * may predate the change and is not kept. */
void registry_put(const uint8_t fp[32], const client_info *ci, vst_err e, uint64_t generation);

#endif
