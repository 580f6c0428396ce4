/* keyd's usage report (DESIGN.md §2, §8; docs/keyd-protocol.md "Usage
 * events"): how many identifiers, pseudonyms and signatures vst-keyd served,
 * per peer (socket and uid), operation and pseudonym domain. keyd emits it
 * as the `keyd.usage` event, signed with its Ed25519 key over a structure it
 * builds itself; vst-audit verify checks the signature and reconciles the
 * counts with the delivery events (server/audit/audit_usage*.c).
 *
 *   TBS = "vst/usage/1" 0x00 || u64 usage_seq || i64 from_us || i64 to_us
 *         || u16 n || n x ( u8 socket, u32 uid, u8 op, str8 domain,
 *                           u64 count, u64 total, u64 slack )
 *
 * All integers big-endian; str8 is a u8 length and that many bytes. The
 * prefix differs from "vst-receipt-v1"/"-v2" and "vst-checkpoint-v1" at byte 3
 * and from the report context "vst/cells/1" at byte 4, so no usage TBS is
 * ever a receipt, checkpoint or report TBS (core/signed.h). Lives in
 * vstcore so that verifiers need no keyd code. */
#ifndef VST_USAGE_H
#define VST_USAGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/domain.h"
#include "core/signed.h"

#define VST_USAGE_PREFIX "vst/usage/1" /* signed with its NUL */
/* Entries per event: keeps one event's details well below the 4096 bytes
 * an EVENTS entry may carry; keyd splits a longer report into several
 * events, each signed on its own. */
#define VST_USAGE_MAX_ENTRIES 16
#define VST_USAGE_ENTRY_MAX (1 + 4 + 1 + 1 + VST_DOMAIN_MAXLEN + 3 * 8)
#define VST_USAGE_TBS_MAX                                                                          \
    (sizeof VST_USAGE_PREFIX + 8 + 8 + 8 + 2 + VST_USAGE_MAX_ENTRIES * VST_USAGE_ENTRY_MAX)
/* The JSON details of one event fit in this many bytes (NUL included). */
#define VST_USAGE_JSON_MAX 4096

enum { VST_USAGE_SOCK_DATA = 1, VST_USAGE_SOCK_ADMIN = 2 };
enum {
    VST_USAGE_OP_PSEUDONYMIZE = 1,    /* identifiers -> pseudonyms, per domain */
    VST_USAGE_OP_REKEY = 2,           /* pseudonyms re-keyed */
    VST_USAGE_OP_SIGN_RECEIPT = 3,    /* receipts signed */
    VST_USAGE_OP_SIGN_CHECKPOINT = 4, /* checkpoints signed */
    VST_USAGE_OP_SIGN_REPORT = 5,     /* reports signed (admin socket) */
    VST_USAGE_OP_RELEASE_MAP = 6,     /* pseudonyms mapped to release pseudonyms */
    VST_USAGE_OP_DISCLOSE = 7,        /* disclosed pseudonyms answered (admin socket) */
    VST_USAGE_OP_OBJECT = 8,          /* objections answered (admin socket) */
    VST_USAGE_OP_DERIVE_CV = 9,       /* persons -> control values, per link domain (data) */
    VST_USAGE_OP_OVERLAP = 10,        /* records fed to overlap queries (admin socket) */
    VST_USAGE_OP_CV_REKEY = 11        /* stored control-value records re-keyed (admin) */
};

typedef struct {
    uint8_t sock; /* VST_USAGE_SOCK_* */
    uint32_t uid; /* the peer's uid (SO_PEERCRED) */
    uint8_t op;   /* VST_USAGE_OP_* */
    /* The pseudonym domain for PSEUDONYMIZE, the link domain for
     * DERIVE_CV, "" for the other operations. */
    char domain[VST_DOMAIN_MAXLEN + 1];
    uint64_t count; /* in this report's period */
    uint64_t total; /* since keyd's state began (survives restarts) */
    /* Of total, how many may be overstated: after a crash keyd resumes at
     * the counts it had reserved on disk ahead of serving (never below the
     * true count), and adds the difference here. Cumulative. */
    uint64_t slack;
} vst_usage_entry;

typedef struct {
    uint64_t seq;    /* 1, 2, ... per keyd state, never reused */
    int64_t from_us; /* the period (wall clock, microseconds) */
    int64_t to_us;   /* ... and its end: the time of the report */
    size_t n;        /* 1..VST_USAGE_MAX_ENTRIES */
    vst_usage_entry e[VST_USAGE_MAX_ENTRIES];
} vst_usage;

const char *vst_usage_sock_name(uint8_t sock); /* "data", "admin", NULL */
const char *vst_usage_op_name(uint8_t op);     /* "pseudonymize", ..., NULL */

/* 1 if every field is in range: n 1..MAX, known socket and op, a valid
 * domain for PSEUDONYMIZE and DERIVE_CV and "" otherwise, count <= total, slack <= total,
 * every number <= INT64_MAX (JSON integers), from_us <= to_us. */
int vst_usage_ok(const vst_usage *u);

/* prefix || encoding; returns its length, 0 if !vst_usage_ok. */
size_t vst_usage_tbs(const vst_usage *u, uint8_t out[VST_USAGE_TBS_MAX]);

/* 1 if sig is pub's Ed25519 signature over vst_usage_tbs(u), else 0. */
int vst_usage_verify(const uint8_t pub[VST_ED25519_PUB_LEN], const vst_usage *u,
                     const uint8_t sig[VST_ED25519_SIG_LEN]);

/* The event's details, one compact JSON object:
 *   {"usage_seq":N,"from_us":T,"to_us":T,"entries":[{"socket":"data",
 *    "uid":N,"op":"pseudonymize","domain":"sgb5/insured","count":N,
 *    "total":N,"slack":N},...],"key_id":"<64 hex>","signature":"<128 hex>"}
 * key_id is SHA-256 of the raw public key (as for checkpoints). Returns the
 * length written (NUL-terminated), 0 if u is invalid or cap too small
 * (VST_USAGE_JSON_MAX always suffices). */
size_t vst_usage_json(const vst_usage *u, const uint8_t key_id[VST_SHA256_LEN],
                      const uint8_t sig[VST_ED25519_SIG_LEN], char *out, size_t cap);

/* The inverse: 0 and *u, key_id, sig filled, or -1 if j is not exactly
 * such an object (unknown or missing members, wrong types, out of range). */
int vst_usage_parse(const json_t *j, vst_usage *u, uint8_t key_id[VST_SHA256_LEN],
                    uint8_t sig[VST_ED25519_SIG_LEN]);

#endif
