/* vst-send's small pure helpers: the server URL, the retry schedule, the
 * Retry-After header, the pinned signing key. No I/O
 * except reading a key file; all of it is unit-tested without a network. */
#ifndef VST_SEND_UTIL_H
#define VST_SEND_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/signed.h"

#define VST_URL_HOST_MAX 253
#define VST_URL_PATH_MAX 512

/* https://HOST[:PORT][/PREFIX] — HOST a DNS name, an IPv4 literal or a
 * bracketed IPv6 literal. No user info, query or fragment. */
typedef struct {
    char host[VST_URL_HOST_MAX + 1];        /* without brackets */
    char port[6];                           /* "443" if absent */
    int host_is_ip;                         /* 4 or 6 for literals, 0 for names */
    char prefix[VST_URL_PATH_MAX + 1];      /* "" or "/a/b", never a trailing '/' */
    char host_header[VST_URL_HOST_MAX + 9]; /* Host: value, e.g. "[::1]:8443" */
} vst_url;

/* 0 on success; -1 with a message in err. */
int vst_url_parse(const char *s, vst_url *u, char *err, size_t errlen);

/* Retry schedule: 0.5 s doubling to 30 s, with "equal jitter" (half the
 * delay fixed, half uniform from rnd). attempt counts retries from 0. */
#define VST_BACKOFF_BASE_MS 500u
#define VST_BACKOFF_CAP_MS 30000u
uint32_t vst_backoff_ms(unsigned attempt, uint32_t rnd);

/* Retry-After: delta-seconds or an IMF-fixdate (relative to now). Values
 * are capped at VST_RETRY_AFTER_CAP_S; a date in the past gives 0.
 * 0 on success, -1 if the value is neither. */
#define VST_RETRY_AFTER_CAP_S 300u
int vst_retry_after_parse(const char *v, time_t now, unsigned *secs);

/* The trust center's receipt key from --public-key / VST_SIGNING_KEY: 64 hex
 * digits, or the name of a file holding them (surrounding whitespace
 * allowed) or a PEM "PUBLIC KEY" of type Ed25519. 0 or -1 with err. */
int vst_pubkey_arg(const char *arg, uint8_t out[VST_ED25519_PUB_LEN], char *err, size_t errlen);

#endif
