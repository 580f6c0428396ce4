/* Per-client fairness limits of vst-httpd, free of I/O so that they can be
 * tested with a clock of the test's choosing (tests/unit/test_limits.c).
 *
 *   rate         a token bucket per client: `per_minute` requests, refilled
 *                continuously;
 *   identifiers  a sliding 24-hour window per client (1440 one-minute
 *                buckets) of identifiers sent to vst-keyd, so that one
 *                insurer cannot spend keyd's global budget for everybody.
 *
 * Both keep one entry per client in a fixed table; a full table evicts the
 * entry idle the longest (for the rate: a bucket idle for a minute is full
 * again, the same as a new one; for identifiers: only when every entry has
 * been used within the day, then the oldest), so that two clients never
 * share an entry. Thread-safe. */
#ifndef VST_HTTPD_CLIENT_LIMITS_H
#define VST_HTTPD_CLIENT_LIMITS_H

#include <stdint.h>

#define LIMITS_CLIENTS 1024

/* The rate that applies to a client: its registration's (vst.clients.
 * rate_limit, 0 = unlimited) when it has one, else (registered < 0, NULL
 * there) the configured default. */
uint64_t limits_rate_of(int64_t registered, uint64_t configured);
/* 0 if the request is allowed (and counted), else seconds to wait.
 * per_minute 0 = unlimited. A client's rate may change between calls (its
 * registration was changed): the bucket keeps its tokens, capped at the new
 * rate, and refills at the new rate from then on. */
unsigned limits_rate(int client_id, uint64_t per_minute, int64_t now_ms);
/* 0 if n more identifiers fit the client's last 24 hours (and are charged),
 * else seconds until they would. per_day 0 = unlimited. */
unsigned limits_identifiers(int client_id, uint64_t n, uint64_t per_day, int64_t now_ms);
/* Identifiers charged to the client within the last 24 hours. */
uint64_t limits_identifiers_used(int client_id, int64_t now_ms);
/* Forgets everything (tests). */
void limits_reset(void);

#endif
