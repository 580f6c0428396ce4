/* What keyd remembers of the checkpoints it signed (DESIGN.md §8,
 * docs/keyd-protocol.md "0x21 SIGN_CHECKPOINT"). The audit log only grows,
 * so keyd signs a chain head only if it moves forward: a lower seq than the
 * last one signed is refused (checkpoint_regression), a different head for
 * the seq last signed is refused (checkpoint_fork) — either means the log
 * was rewritten, or the data-socket peer is forging heads. The same
 * (seq, head) again is signed again: the checkpoint may not have been
 * stored (a failed commit, a second vst-httpd), and the signature only
 * restates what keyd already vouched for.
 *
 * The last (seq, head) is written to the authenticated state file
 * "checkpoint" (keyd_state.c) before the signature leaves keyd. Each
 * signature that moves forward is recorded as a `keyd.checkpoint_signed`
 * event, at most EVENTS_PER_MINUTE a minute: further ones are counted into
 * the next event ("skipped"), so a peer asking for signatures in a loop
 * cannot flood the events file or the audit log.
 *
 * Payload of "checkpoint": u32 format = 1, u64 seq, u8[32] head,
 * u64 signatures (forward signatures so far). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hex.h"
#include "keyd/keyd.h"

#define STATE_NAME "checkpoint"
#define STATE_FORMAT 1
#define EVENTS_PER_MINUTE 12

static struct {
    int loaded, have;
    uint64_t seq, signatures;
    uint8_t head[VST_SHA256_LEN];
    /* rate limit: times (seconds) of the last events */
    int64_t ev_at[EVENTS_PER_MINUTE];
    size_t ev_next;
    /* the newest forward signature not yet recorded, and how many before
     * it were not recorded either */
    int pending;
    uint64_t p_seq, skipped;
    uint8_t p_head[VST_SHA256_LEN];
    int64_t p_time;
    uint32_t p_uid;
} CP;

static int save(void)
{
    uint8_t p[4 + 8 + VST_SHA256_LEN + 8];
    vst_wr w;
    vst_wr_init_fixed(&w, p, sizeof p);
    int rc = vst_wr_u32(&w, STATE_FORMAT) || vst_wr_u64(&w, CP.seq) ||
             vst_wr_put(&w, CP.head, VST_SHA256_LEN) || vst_wr_u64(&w, CP.signatures);
    return rc == 0 && vst_wr_len(&w) == sizeof p ? keyd_state_save(STATE_NAME, p, sizeof p) : -1;
}

const char *keyd_checkpoint_load(void)
{
    uint8_t *p = NULL;
    size_t len = 0;
    keyd_state_rc st = keyd_state_load(STATE_NAME, &p, &len);
    vst_rd r;
    vst_rd_init(&r, p, len);
    uint32_t fmt;
    const uint8_t *head;
    if (st == KEYD_STATE_OK && (vst_rd_u32(&r, &fmt) || fmt != STATE_FORMAT ||
                                vst_rd_u64(&r, &CP.seq) || vst_rd_view(&r, VST_SHA256_LEN, &head) ||
                                vst_rd_u64(&r, &CP.signatures) || vst_rd_left(&r) != 0))
        st = KEYD_STATE_INVALID;
    if (st == KEYD_STATE_OK)
        memcpy(CP.head, head, VST_SHA256_LEN);
    free(p);
    CP.loaded = 1;
    CP.have = st == KEYD_STATE_OK && CP.signatures > 0;
    if (st == KEYD_STATE_OK)
        return "loaded";
    CP.seq = CP.signatures = 0;
    memset(CP.head, 0, sizeof CP.head);
    if (st == KEYD_STATE_INVALID)
        keyd_state_set_aside(STATE_NAME);
    if (st != KEYD_STATE_ERROR)
        save(); /* a fresh file: the next start finds it */
    return st == KEYD_STATE_MISSING ? "missing" : st == KEYD_STATE_INVALID ? "invalid" : "error";
}

unsigned keyd_checkpoint_admit(uint64_t seq, const uint8_t head[VST_SHA256_LEN], int *repeat)
{
    *repeat = 0;
    if (!CP.loaded)
        return VST_KERR_INTERNAL;
    /* An audit log position is a bigint from 1. */
    if (seq == 0 || seq > INT64_MAX)
        return VST_KERR_INVALID_ARGUMENT;
    if (CP.have && seq < CP.seq)
        return VST_KERR_CHECKPOINT_REGRESSION;
    if (CP.have && seq == CP.seq) {
        if (memcmp(head, CP.head, VST_SHA256_LEN) != 0)
            return VST_KERR_CHECKPOINT_FORK;
        *repeat = 1;
        return 0;
    }
    uint64_t old_seq = CP.seq, old_sigs = CP.signatures;
    uint8_t old_head[VST_SHA256_LEN];
    memcpy(old_head, CP.head, sizeof old_head);
    CP.seq = seq;
    memcpy(CP.head, head, VST_SHA256_LEN);
    CP.signatures++;
    if (save() != 0) {
        CP.seq = old_seq;
        CP.signatures = old_sigs;
        memcpy(CP.head, old_head, sizeof old_head);
        return VST_KERR_INTERNAL;
    }
    CP.have = 1;
    return 0;
}

static int rate_ok(int64_t now_s)
{
    return CP.ev_at[CP.ev_next] == 0 || now_s - CP.ev_at[CP.ev_next] >= 60;
}

static void flush(int force)
{
    int64_t now = keyd_wall_us() / 1000000;
    if (!CP.pending || (!force && !rate_ok(now)))
        return;
    char hex[2 * VST_SHA256_LEN + 1];
    vst_hex(CP.p_head, VST_SHA256_LEN, hex);
    keyd_event(CP.p_uid, "keyd.checkpoint_signed",
               "{\"seq\":%llu,\"head\":\"%s\",\"time_us\":%lld,\"skipped\":%llu}",
               (unsigned long long)CP.p_seq, hex, (long long)CP.p_time,
               (unsigned long long)CP.skipped);
    CP.ev_at[CP.ev_next] = now;
    CP.ev_next = (CP.ev_next + 1) % EVENTS_PER_MINUTE;
    CP.pending = 0;
    CP.skipped = 0;
}

void keyd_checkpoint_signed(uint32_t uid, uint64_t seq, const uint8_t head[VST_SHA256_LEN],
                            int64_t time_us)
{
    if (CP.pending)
        CP.skipped++;
    CP.pending = 1;
    CP.p_seq = seq;
    CP.p_uid = uid;
    CP.p_time = time_us;
    memcpy(CP.p_head, head, VST_SHA256_LEN);
    flush(0);
}

void keyd_checkpoint_tick(int shutdown)
{
    flush(shutdown);
}
