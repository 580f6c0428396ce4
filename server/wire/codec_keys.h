/* Key-state messages: STATUS, UNSEAL, PUBKEY, and the lone key version of
 * ROTATE and RETIRE (docs/keyd-protocol.md). Conventions: codec.h. */
#ifndef VST_WIRE_CODEC_KEYS_H
#define VST_WIRE_CODEC_KEYS_H

#include "core/signed.h"
#include "core/key_state.h" /* VST_KEY_* states */
#include "wire/codec.h"

#define VST_KEYSTORE_ID_LEN 16
#define VST_SHARE_LEN 32
#define VST_VERSION_ENTRY_LEN 13 /* u32 version, u8 state, u64 reserved */
#define VST_STATUS_FIXED_LEN 74  /* up to and including u16 nversions */

/* STATUS, PUBKEY and ROTATE requests carry no payload. */
int vst_empty_decode(const uint8_t *p, size_t len);

typedef struct {
    uint32_t version; /* >= 1 */
    uint8_t state;    /* VST_KEY_* */
} vst_version_info;

/* STATUS response. sealed, dev_master in {0,1}; a sealed keyd reports
 * current_version 0 and no versions. */
typedef struct {
    uint8_t sealed, dev_master, shares_have, shares_need;
    uint32_t current_version;
    uint64_t minute_used, minute_limit, day_used, day_limit;
    uint8_t signing_pubkey[VST_ED25519_PUB_LEN];
    /* Set by decode; read entries with vst_status_version. The encoder
     * ignores both and counts what vst_status_ok_add appends. */
    uint16_t nversions;
    const uint8_t *versions;
} vst_status_ok;

int vst_status_ok_decode(const uint8_t *p, size_t len, vst_status_ok *out);
int vst_status_version(const vst_status_ok *m, size_t i, vst_version_info *out);
/* The response is built with the list builder (codec.h). */
int vst_status_ok_begin(vst_list_builder *b, vst_wr *w, const vst_status_ok *m);
int vst_status_ok_add(vst_list_builder *b, const vst_version_info *v);

/* UNSEAL */
typedef struct {
    uint8_t index; /* Shamir share number, 1..255 */
    uint8_t keystore_id[VST_KEYSTORE_ID_LEN];
    const uint8_t *share; /* VST_SHARE_LEN bytes: points into the payload */
} vst_unseal_req;
enum {
    VST_UNSEAL_NEED_MORE = 0,
    VST_UNSEAL_DONE = 1,
    VST_UNSEAL_REJECTED = 2,      /* the shares do not rebuild the key (have: kept) */
    VST_UNSEAL_SHARE_REFUSED = 3, /* this share alone: bad, duplicate or foreign */
    VST_UNSEAL_ROLLBACK = 4,      /* the keystore is older than one keyd has used */
};
typedef struct {
    uint8_t result; /* VST_UNSEAL_* */
    uint8_t have, need;
} vst_unseal_ok;

int vst_unseal_req_decode(const uint8_t *p, size_t len, vst_unseal_req *out);
int vst_unseal_req_encode(vst_wr *w, const vst_unseal_req *in);
int vst_unseal_ok_decode(const uint8_t *p, size_t len, vst_unseal_ok *out);
int vst_unseal_ok_encode(vst_wr *w, const vst_unseal_ok *in);

/* PUBKEY response: keyd's Ed25519 signing key. */
typedef struct {
    uint8_t key[VST_ED25519_PUB_LEN];
} vst_pubkey_ok;

int vst_pubkey_ok_decode(const uint8_t *p, size_t len, vst_pubkey_ok *out);
int vst_pubkey_ok_encode(vst_wr *w, const vst_pubkey_ok *in);

/* A lone u32 key version >= 1: ROTATE response, RETIRE request and
 * response. */
typedef struct {
    uint32_t version;
} vst_keyver_msg;

int vst_keyver_decode(const uint8_t *p, size_t len, vst_keyver_msg *out);
int vst_keyver_encode(vst_wr *w, const vst_keyver_msg *in);

#endif
