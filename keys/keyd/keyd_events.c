/* keyd's event stream: admin actions, unseal, rotation, budget alarms,
 * rejected frames and peers. keyd has no database, so each event is
 * appended (and fsynced) to a JSON-lines file and kept in a ring from which
 * peers pull it with the EVENTS message to write it into the audit log.
 * Events carry counts, versions, uids and codes — never an identifier,
 * pseudonym or key (callers build `details` from those only). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyd/keyd.h"

#define RING 4096
#define ACTION_MAX 64
/* An EVENTS entry may carry 4096 bytes of details (a signed usage report
 * needs up to ~3 KiB); most events are far shorter, so the ring keeps each
 * one's details on the heap. */
#define DETAILS_MAX 4096

typedef struct {
    uint64_t seq;
    int64_t time_us;
    uint32_t actor;
    char action[ACTION_MAX];
    char *details; /* heap, owned by the ring once remembered */
} event;

static event ring[RING];
static uint64_t last_seq;
static int fd = -1;

/* Keeps e with a heap copy of details (NULL on no memory: served as "{}"). */
static void remember(const event *e, const char *details)
{
    event *slot = &ring[e->seq % RING];
    free(slot->details);
    *slot = *e;
    slot->details = strdup(details);
    last_seq = e->seq;
}

static void note_generation(const char *action, json_t *details)
{
    static const char *const writes[] = {"keyd.unseal",    "keyd.rotate",
                                         "keyd.retire",    "keyd.rollback_accepted",
                                         "keyd.disclosed", "keyd.objection"};
    json_t *ks = json_object_get(details, "keystore"),
           *gen = json_object_get(details, "generation");
    if (!json_is_string(ks) || !json_is_integer(gen) || json_integer_value(gen) <= 0)
        return;
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++)
        if (strcmp(action, writes[i]) == 0)
            keyd_keys_note_generation(json_string_value(ks), (uint64_t)json_integer_value(gen));
}

/* Reloads the tail of an existing file so that seq continues and recent
 * events can still be pulled after a restart. */
static int reload(FILE *f, char *err, size_t errlen)
{
    /* json_dumps allocates with jansson's allocator (vst_secure_malloc once
     * vst_secmem_install_json ran): release its text with the matching free. */
    json_free_t jfree;
    json_get_alloc_funcs(NULL, &jfree);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        json_error_t je;
        json_t *j = json_loadb(line, (size_t)n, 0, &je);
        json_t *details = j ? json_object_get(j, "details") : NULL;
        char *dtext = details ? json_dumps(details, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        event e = {0};
        const char *action = j ? json_string_value(json_object_get(j, "action")) : NULL;
        if (j == NULL || dtext == NULL || action == NULL ||
            !json_is_integer(json_object_get(j, "seq")) ||
            (uint64_t)json_integer_value(json_object_get(j, "seq")) != last_seq + 1) {
            snprintf(err, errlen, "%s:%d: not a valid event line (or out of sequence)",
                     g_cfg.events_file, lineno);
            jfree(dtext);
            json_decref(j);
            free(line);
            return -1;
        }
        /* The keystore's generation as of this event (unseal, rotate,
         * retire, an accepted rollback, a change of the exception list): a
         * later unseal refuses an older copy of it. */
        note_generation(action, details);
        e.seq = last_seq + 1;
        e.time_us = json_integer_value(json_object_get(j, "time_us"));
        e.actor = (uint32_t)json_integer_value(json_object_get(j, "actor_uid"));
        snprintf(e.action, sizeof e.action, "%s", action);
        remember(&e, strlen(dtext) < DETAILS_MAX ? dtext : "{\"truncated\":true}");
        jfree(dtext);
        json_decref(j);
    }
    free(line);
    return 0;
}

int keyd_events_open(const char *path, char *err, size_t errlen)
{
    fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "events file %s: %s", path, strerror(errno));
        return -1;
    }
    int dfd = dup(fd);
    FILE *f = dfd >= 0 ? fdopen(dfd, "r") : NULL;
    if (f == NULL) {
        snprintf(err, errlen, "events file %s: %s", path, strerror(errno));
        return -1;
    }
    rewind(f);
    int rc = reload(f, err, errlen);
    fclose(f);
    return rc;
}

void keyd_events_close(void)
{
    if (fd >= 0)
        close(fd);
    fd = -1;
    for (size_t i = 0; i < RING; i++) {
        free(ring[i].details);
        ring[i].details = NULL;
    }
}

void keyd_event(uint32_t actor_uid, const char *action, const char *details_fmt, ...)
{
    event e = {.seq = last_seq + 1, .time_us = keyd_wall_us(), .actor = actor_uid};
    snprintf(e.action, sizeof e.action, "%s", action);
    static char details[DETAILS_MAX];
    va_list ap;
    va_start(ap, details_fmt);
    int dn = vsnprintf(details, sizeof details, details_fmt, ap);
    va_end(ap);
    if (dn < 0 || (size_t)dn >= sizeof details) {
        keyd_log("error", "event %s: details too long", action);
        snprintf(details, sizeof details, "{\"truncated\":true}");
    }
    remember(&e, details);
    if (fd >= 0) {
        static char line[ACTION_MAX + DETAILS_MAX + 160];
        int n =
            snprintf(line, sizeof line,
                     "{\"seq\":%llu,\"time_us\":%lld,\"actor_uid\":%u,\"action\":\"%s\","
                     "\"details\":%s}\n",
                     (unsigned long long)e.seq, (long long)e.time_us, e.actor, e.action, details);
        /* One write per line: O_APPEND keeps lines whole. */
        if (n < 0 || (size_t)n >= sizeof line || write(fd, line, (size_t)n) != n ||
            fdatasync(fd) != 0)
            keyd_log("error", "cannot append event %s to the events file", e.action);
    }
    keyd_log("info", "event %s seq %llu", e.action, (unsigned long long)e.seq);
}

int keyd_events_serve(uint64_t after, uint16_t max, vst_wr *w)
{
    vst_list_builder b;
    if (vst_events_ok_begin(&b, w) != 0)
        return -1;
    uint64_t first = last_seq >= RING ? last_seq - RING + 1 : 1;
    if (after + 1 > first)
        first = after + 1;
    for (uint64_t s = first; s <= last_seq && max > 0; s++, max--) {
        const event *e = &ring[s % RING];
        const char *d = e->details ? e->details : "{}";
        vst_event ev = {.seq = e->seq,
                        .time_us = e->time_us,
                        .actor_uid = e->actor,
                        .action = e->action,
                        .action_len = strlen(e->action),
                        .details = d,
                        .details_len = strlen(d)};
        if (vst_events_ok_add(&b, &ev) != 0)
            break; /* frame full: the peer asks again */
    }
    return 0;
}

uint64_t keyd_events_last_seq(void)
{
    return last_seq;
}
