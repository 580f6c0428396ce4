/* The vst-keyd wire protocol, see proto.h and docs/keyd-protocol.md.
 *
 * Every message has one check function that states its rules (ranges,
 * grammars, reserved zeros). Decoders read raw fields through vst_rd and
 * then apply that check; encoders apply it before writing. Batch decoders
 * check each count against its limit before the bytes it describes are
 * viewed, so the size a frame's counts describe is verified against its
 * length before any identifier or pseudonym is looked at. */
#include "wire/proto.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/secmem.h"
#include "core/domain.h"

_Static_assert(VST_DOMAIN_LEN_MAX == VST_DOMAIN_MAXLEN, "domain limits of proto.h and domain.h");

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ != 0)                                                                              \
            return rc_;                                                                            \
    } while (0)

/* ---------------------------------------------------------------- names */

const char *vst_proto_strerror(int rc)
{
    switch (rc) {
    case VST_PROTO_OK:
        return "ok";
    case VST_PROTO_E_SHORT:
        return "message truncated";
    case VST_PROTO_E_TRAILING:
        return "trailing bytes after message";
    case VST_PROTO_E_RANGE:
        return "count, length or value out of range";
    case VST_PROTO_E_CHARSET:
        return "string outside its grammar";
    case VST_PROTO_E_VERSION:
        return "unsupported protocol version";
    case VST_PROTO_E_RESERVED:
        return "reserved field not zero";
    case VST_PROTO_E_TYPE:
        return "unknown message type";
    case VST_PROTO_E_LENGTH:
        return "payload length impossible for the message type";
    case VST_PROTO_E_NOMEM:
        return "out of memory";
    case VST_PROTO_E_IO:
        return "I/O error";
    case VST_PROTO_E_TIMEOUT:
        return "no answer within the timeout";
    case VST_PROTO_E_EOF:
        return "connection closed";
    case VST_PROTO_E_ARG:
        return "invalid argument";
    default:
        return "unknown error";
    }
}

static const char *const kerr_names[VST_KERR_MAX + 1] = {
    [VST_KERR_BAD_FRAME] = "bad_frame",
    [VST_KERR_FORBIDDEN] = "forbidden",
    [VST_KERR_SEALED] = "sealed",
    [VST_KERR_BUDGET_EXCEEDED] = "budget_exceeded",
    [VST_KERR_UNKNOWN_VERSION] = "unknown_version",
    [VST_KERR_RETIRED_VERSION] = "retired_version",
    [VST_KERR_INVALID_ARGUMENT] = "invalid_argument",
    [VST_KERR_INTERNAL] = "internal",
    [VST_KERR_NOT_CURRENT] = "not_current",
    [VST_KERR_UNSEAL_REJECTED] = "unseal_rejected",
    [VST_KERR_BUSY] = "busy",
    [VST_KERR_CHECKPOINT_REGRESSION] = "checkpoint_regression",
    [VST_KERR_CHECKPOINT_FORK] = "checkpoint_fork",
};

const char *vst_keyd_err_name(unsigned code)
{
    return code <= VST_KERR_MAX ? kerr_names[code] : NULL;
}

/* ---------------------------------------------------------- message table */

#define PSEUD_REQ_MIN (2 + 1 + 1 + 1 + 4 + 1)
#define PSEUD_REQ_MAX                                                                              \
    (2 + VST_SECTIONS_MAX * (1 + VST_DOMAIN_LEN_MAX + 1 + 4) + VST_BATCH_MAX * VST_ID_LEN_MAX)
#define PSEUD_OK_MIN (4 + 2 + 4 + VST_PSEUDONYM_BYTES)
#define PSEUD_OK_MAX (4 + 2 + VST_SECTIONS_MAX * 4 + VST_BATCH_MAX * VST_PSEUDONYM_BYTES)
#define BLOCKS_MAX (VST_BATCH_MAX * VST_PSEUDONYM_BYTES)
#define STATUS_OK_MAX (VST_STATUS_FIXED_LEN + 0xffffu * VST_VERSION_ENTRY_LEN)
#define EVENT_MIN_LEN (8 + 8 + 4 + 1 + 1 + 2 + 1)

enum { ANY_SOCK = VST_SOCK_DATA | VST_SOCK_ADMIN, ADMIN = VST_SOCK_ADMIN, DATA = VST_SOCK_DATA };
enum { ANY_STATE = VST_STATE_SEALED | VST_STATE_UNSEALED, UNSEALED = VST_STATE_UNSEALED };

/* Requests, with who may send them; then responses and the error. The
 * data socket's peer (vst-httpd) is untrusted: it may pseudonymize, sign
 * what it delivered and read status, never touch key versions. Key
 * handling and data handling are separated for people too: PSEUDONYMIZE is
 * served on the data socket only, so an operator (admin socket) cannot
 * look up the pseudonym of a KVNR they know. A sealed keyd knows no key,
 * so it serves only STATUS and UNSEAL. */
static const vst_msg_info msg_table[] = {
    {VST_MSG_STATUS, "status", 0, 0, ANY_SOCK, ANY_STATE},
    {VST_MSG_UNSEAL, "unseal", 49, 49, ADMIN, ANY_STATE},
    {VST_MSG_PUBKEY, "pubkey", 0, 0, ANY_SOCK, UNSEALED},
    {VST_MSG_PSEUDONYMIZE, "pseudonymize", PSEUD_REQ_MIN, PSEUD_REQ_MAX, DATA, UNSEALED},
    {VST_MSG_REKEY, "rekey", 12 + 16, 12 + BLOCKS_MAX, ADMIN, UNSEALED},
    {VST_MSG_ROTATE, "rotate", 0, 0, ADMIN, UNSEALED},
    {VST_MSG_RETIRE, "retire", 4, 4, ADMIN, UNSEALED},
    {VST_MSG_SIGN_RECEIPT, "sign_receipt", VST_RECEIPT_ENC_MIN, VST_RECEIPT_ENC_MAX, ANY_SOCK,
     UNSEALED},
    {VST_MSG_SIGN_CHECKPOINT, "sign_checkpoint", 48, 48, ANY_SOCK, UNSEALED},
    {VST_MSG_EVENTS, "events", 10, 10, ANY_SOCK, UNSEALED},

    {VST_MSG_RESP(VST_MSG_STATUS), "status_ok", VST_STATUS_FIXED_LEN, STATUS_OK_MAX, 0, 0},
    {VST_MSG_RESP(VST_MSG_UNSEAL), "unseal_ok", 3, 3, 0, 0},
    {VST_MSG_RESP(VST_MSG_PUBKEY), "pubkey_ok", 32, 32, 0, 0},
    {VST_MSG_RESP(VST_MSG_PSEUDONYMIZE), "pseudonymize_ok", PSEUD_OK_MIN, PSEUD_OK_MAX, 0, 0},
    {VST_MSG_RESP(VST_MSG_REKEY), "rekey_ok", 4 + 16, 4 + BLOCKS_MAX, 0, 0},
    {VST_MSG_RESP(VST_MSG_ROTATE), "rotate_ok", 4, 4, 0, 0},
    {VST_MSG_RESP(VST_MSG_RETIRE), "retire_ok", 4, 4, 0, 0},
    {VST_MSG_RESP(VST_MSG_SIGN_RECEIPT), "sign_receipt_ok", 64, 64, 0, 0},
    {VST_MSG_RESP(VST_MSG_SIGN_CHECKPOINT), "sign_checkpoint_ok", 64, 64, 0, 0},
    {VST_MSG_RESP(VST_MSG_EVENTS), "events_ok", 2, VST_FRAME_MAX, 0, 0},
    {VST_MSG_ERROR, "error", 2, 2, 0, 0},
};

const vst_msg_info *vst_msg_lookup(uint8_t type)
{
    for (size_t i = 0; i < sizeof msg_table / sizeof msg_table[0]; i++)
        if (msg_table[i].type == type)
            return &msg_table[i];
    return NULL;
}

const char *vst_msg_name(uint8_t type)
{
    const vst_msg_info *mi = vst_msg_lookup(type);
    return mi ? mi->name : "unknown";
}

unsigned vst_msg_permit(unsigned sock, int sealed, uint8_t type)
{
    const vst_msg_info *mi = vst_msg_lookup(type);
    if (mi == NULL || mi->sockets == 0)
        return VST_KERR_BAD_FRAME;
    if ((mi->sockets & sock) == 0 || (sock != VST_SOCK_DATA && sock != VST_SOCK_ADMIN))
        return VST_KERR_FORBIDDEN;
    if ((mi->states & (sealed ? VST_STATE_SEALED : VST_STATE_UNSEALED)) == 0)
        return VST_KERR_SEALED;
    return 0;
}

/* ---------------------------------------------------------------- strings */

static int wr_str8(vst_wr *w, const char *s, size_t n)
{
    TRY(vst_wr_u8(w, (uint8_t)n));
    return vst_wr_put(w, s, n);
}

/* Drops whatever a failed multi-field put left behind. */
static int wr_rollback(vst_wr *w, size_t mark, int rc)
{
    if (rc != 0)
        vst_wr_truncate(w, mark);
    return rc;
}

/* Reads u8 len (1..max) + len bytes into a NUL-terminated buffer of max + 1
 * bytes; ok() judges the bytes (no grammar here admits a NUL). */
static int rd_str8(vst_rd *r, char *out, size_t max, int (*ok)(const char *, size_t))
{
    uint8_t n;
    TRY(vst_rd_u8(r, &n));
    if (n < 1 || n > max)
        return VST_PROTO_E_RANGE;
    TRY(vst_rd_copy(r, out, n));
    out[n] = '\0';
    return ok(out, n) ? 0 : VST_PROTO_E_CHARSET;
}

/* ---------------------------------------------------------------- header */

int vst_frame_hdr_decode(const uint8_t in[VST_FRAME_HDR_LEN], uint32_t max, vst_frame_hdr *out)
{
    if (in[0] != VST_PROTO_VERSION)
        return VST_PROTO_E_VERSION;
    if (in[2] != 0 || in[3] != 0)
        return VST_PROTO_E_RESERVED;
    const vst_msg_info *mi = vst_msg_lookup(in[1]);
    if (mi == NULL)
        return VST_PROTO_E_TYPE;
    uint32_t len = (uint32_t)vst_be_get(in + 4, 4);
    uint32_t lim = max < VST_FRAME_MAX ? max : VST_FRAME_MAX;
    if (len > lim || len < mi->min_len || len > mi->max_len)
        return VST_PROTO_E_LENGTH;
    out->version = in[0];
    out->type = in[1];
    out->len = len;
    return 0;
}

int vst_frame_hdr_encode(uint8_t type, uint32_t len, uint8_t out[VST_FRAME_HDR_LEN])
{
    const vst_msg_info *mi = vst_msg_lookup(type);
    if (mi == NULL)
        return VST_PROTO_E_TYPE;
    if (len < mi->min_len || len > mi->max_len)
        return VST_PROTO_E_LENGTH;
    out[0] = VST_PROTO_VERSION;
    out[1] = type;
    out[2] = 0;
    out[3] = 0;
    vst_be_put(out + 4, len, 4);
    return 0;
}

/* ------------------------------------------------------- shared grammars */

static int version_check(uint32_t v)
{
    return v >= 1 ? 0 : VST_PROTO_E_RANGE;
}

static int blocks_count_check(uint32_t count)
{
    return count >= 1 && count <= VST_BATCH_MAX ? 0 : VST_PROTO_E_RANGE;
}

static int flag_check(uint8_t v)
{
    return v <= 1 ? 0 : VST_PROTO_E_RANGE;
}

/* Adds count to *total, both within 1..VST_BATCH_MAX. */
static int batch_add(uint32_t *total, uint32_t count)
{
    if (count < 1 || count > VST_BATCH_MAX - *total)
        return VST_PROTO_E_RANGE;
    *total += count;
    return 0;
}

static int sections_check(uint16_t n)
{
    return n >= 1 && n <= VST_SECTIONS_MAX ? 0 : VST_PROTO_E_RANGE;
}

static int action_ok(const char *s, size_t n)
{
    if (n < 1 || n > VST_ACTION_LEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_' || s[i] == '.'))
            return 0;
    return 1;
}

/* One JSON text (any value), UTF-8, no duplicate object keys: what the
 * audit log can store as jsonb without losing anything. */
static int details_ok(const char *s, size_t n)
{
    if (n < 1 || n > VST_DETAILS_LEN_MAX)
        return 0;
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (j == NULL)
        return 0;
    json_decref(j);
    return 1;
}

/* ------------------------------------------------------------ empty/STATUS */

int vst_empty_decode(const uint8_t *p, size_t len)
{
    (void)p;
    return len == 0 ? 0 : VST_PROTO_E_TRAILING;
}

static int status_check(const vst_status_ok *m)
{
    TRY(flag_check(m->sealed));
    return flag_check(m->dev_master);
}

static int version_info_check(const vst_version_info *v)
{
    TRY(version_check(v->version));
    return v->state >= VST_KEYSTATE_CURRENT && v->state <= VST_KEYSTATE_RETIRED ? 0
                                                                                : VST_PROTO_E_RANGE;
}

static int rd_version_info(vst_rd *r, vst_version_info *v)
{
    uint64_t reserved;
    TRY(vst_rd_u32(r, &v->version));
    TRY(vst_rd_u8(r, &v->state));
    TRY(vst_rd_u64(r, &reserved));
    if (reserved != 0)
        return VST_PROTO_E_RESERVED;
    return version_info_check(v);
}

int vst_status_ok_decode(const uint8_t *p, size_t len, vst_status_ok *out)
{
    vst_rd r;
    if (len < VST_STATUS_FIXED_LEN)
        return VST_PROTO_E_SHORT;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u8(&r, &out->sealed));
    TRY(vst_rd_u8(&r, &out->dev_master));
    TRY(vst_rd_u8(&r, &out->shares_have));
    TRY(vst_rd_u8(&r, &out->shares_need));
    TRY(vst_rd_u32(&r, &out->current_version));
    TRY(vst_rd_u64(&r, &out->minute_used));
    TRY(vst_rd_u64(&r, &out->minute_limit));
    TRY(vst_rd_u64(&r, &out->day_used));
    TRY(vst_rd_u64(&r, &out->day_limit));
    TRY(vst_rd_copy(&r, out->signing_pubkey, sizeof out->signing_pubkey));
    TRY(vst_rd_u16(&r, &out->nversions));
    TRY(status_check(out));
    size_t want = (size_t)out->nversions * VST_VERSION_ENTRY_LEN;
    if (vst_rd_left(&r) != want)
        return vst_rd_left(&r) < want ? VST_PROTO_E_SHORT : VST_PROTO_E_TRAILING;
    TRY(vst_rd_view(&r, want, &out->versions));
    vst_version_info v;
    for (size_t i = 0; i < out->nversions; i++)
        TRY(vst_status_version(out, i, &v));
    return 0;
}

int vst_status_version(const vst_status_ok *m, size_t i, vst_version_info *out)
{
    if (i >= m->nversions)
        return VST_PROTO_E_RANGE;
    vst_rd r;
    vst_rd_init(&r, m->versions + i * VST_VERSION_ENTRY_LEN, VST_VERSION_ENTRY_LEN);
    return rd_version_info(&r, out);
}

static void builder_patch(vst_list_builder *b)
{
    vst_wr_patch_be(b->w, b->count_off, b->n, 2);
}

static int put_status_fixed(vst_wr *w, const vst_status_ok *m)
{
    TRY(vst_wr_u8(w, m->sealed));
    TRY(vst_wr_u8(w, m->dev_master));
    TRY(vst_wr_u8(w, m->shares_have));
    TRY(vst_wr_u8(w, m->shares_need));
    TRY(vst_wr_u32(w, m->current_version));
    TRY(vst_wr_u64(w, m->minute_used));
    TRY(vst_wr_u64(w, m->minute_limit));
    TRY(vst_wr_u64(w, m->day_used));
    TRY(vst_wr_u64(w, m->day_limit));
    TRY(vst_wr_put(w, m->signing_pubkey, sizeof m->signing_pubkey));
    return vst_wr_u16(w, 0); /* nversions, patched by every add */
}

int vst_status_ok_begin(vst_list_builder *b, vst_wr *w, const vst_status_ok *m)
{
    TRY(status_check(m));
    size_t mark = vst_wr_len(w);
    TRY(wr_rollback(w, mark, put_status_fixed(w, m)));
    b->w = w;
    b->count_off = vst_wr_len(w) - 2;
    b->n = 0;
    return 0;
}

static int put_version_info(vst_wr *w, const vst_version_info *v)
{
    TRY(vst_wr_u32(w, v->version));
    TRY(vst_wr_u8(w, v->state));
    return vst_wr_u64(w, 0);
}

int vst_status_ok_add(vst_list_builder *b, const vst_version_info *v)
{
    TRY(version_info_check(v));
    if (b->n >= 0xffffu)
        return VST_PROTO_E_RANGE;
    size_t mark = vst_wr_len(b->w);
    TRY(wr_rollback(b->w, mark, put_version_info(b->w, v)));
    b->n++;
    builder_patch(b);
    return 0;
}

/* ------------------------------------------------------------------ UNSEAL */

static int unseal_req_check(const vst_unseal_req *m)
{
    return m->index >= 1 ? 0 : VST_PROTO_E_RANGE;
}

int vst_unseal_req_decode(const uint8_t *p, size_t len, vst_unseal_req *out)
{
    vst_rd r;
    if (len != 1 + VST_KEYSTORE_ID_LEN + VST_SHARE_LEN)
        return len < 49 ? VST_PROTO_E_SHORT : VST_PROTO_E_TRAILING;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u8(&r, &out->index));
    TRY(vst_rd_copy(&r, out->keystore_id, VST_KEYSTORE_ID_LEN));
    TRY(vst_rd_view(&r, VST_SHARE_LEN, &out->share));
    TRY(unseal_req_check(out));
    return vst_rd_end(&r);
}

static int put_unseal_req(vst_wr *w, const vst_unseal_req *in)
{
    TRY(vst_wr_u8(w, in->index));
    TRY(vst_wr_put(w, in->keystore_id, VST_KEYSTORE_ID_LEN));
    return vst_wr_put(w, in->share, VST_SHARE_LEN);
}

int vst_unseal_req_encode(vst_wr *w, const vst_unseal_req *in)
{
    if (in->share == NULL)
        return VST_PROTO_E_ARG;
    TRY(unseal_req_check(in));
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_unseal_req(w, in));
}

static int unseal_ok_check(const vst_unseal_ok *m)
{
    return m->result <= VST_UNSEAL_ROLLBACK ? 0 : VST_PROTO_E_RANGE;
}

int vst_unseal_ok_decode(const uint8_t *p, size_t len, vst_unseal_ok *out)
{
    if (len != 3)
        return len < 3 ? VST_PROTO_E_SHORT : VST_PROTO_E_TRAILING;
    out->result = p[0];
    out->have = p[1];
    out->need = p[2];
    return unseal_ok_check(out);
}

int vst_unseal_ok_encode(vst_wr *w, const vst_unseal_ok *in)
{
    TRY(unseal_ok_check(in));
    uint8_t b[3] = {in->result, in->have, in->need};
    return vst_wr_put(w, b, sizeof b);
}

/* --------------------------------------------------- fixed-size byte blobs */

static int blob_decode(const uint8_t *p, size_t len, uint8_t *out, size_t n)
{
    if (len != n)
        return len < n ? VST_PROTO_E_SHORT : VST_PROTO_E_TRAILING;
    memcpy(out, p, n);
    return 0;
}

int vst_pubkey_ok_decode(const uint8_t *p, size_t len, vst_pubkey_ok *out)
{
    return blob_decode(p, len, out->key, sizeof out->key);
}

int vst_pubkey_ok_encode(vst_wr *w, const vst_pubkey_ok *in)
{
    return vst_wr_put(w, in->key, sizeof in->key);
}

int vst_sig_ok_decode(const uint8_t *p, size_t len, vst_sig_ok *out)
{
    return blob_decode(p, len, out->sig, sizeof out->sig);
}

int vst_sig_ok_encode(vst_wr *w, const vst_sig_ok *in)
{
    return vst_wr_put(w, in->sig, sizeof in->sig);
}

/* ------------------------------------------------------------ PSEUDONYMIZE */

/* Everything about a section but its identifier bytes. */
static int section_check(const vst_pseud_section *s, uint32_t *total)
{
    size_t dl = strnlen(s->domain, sizeof s->domain);
    if (dl == sizeof s->domain)
        return VST_PROTO_E_RANGE;
    if (!vst_domain_name_ok(s->domain))
        return dl == 0 ? VST_PROTO_E_RANGE : VST_PROTO_E_CHARSET;
    if (s->id_len < 1 || s->id_len > VST_ID_LEN_MAX)
        return VST_PROTO_E_RANGE;
    return batch_add(total, s->count);
}

/* The domain as read: no NUL inside, then domain.h's grammar. */
static int domain_ok(const char *s, size_t n)
{
    return strlen(s) == n && vst_domain_name_ok(s);
}

static int rd_section(vst_rd *r, vst_pseud_section *s, uint32_t *total)
{
    TRY(rd_str8(r, s->domain, VST_DOMAIN_LEN_MAX, domain_ok));
    TRY(vst_rd_u8(r, &s->id_len));
    TRY(vst_rd_u32(r, &s->count));
    TRY(section_check(s, total));
    /* count <= 65536 and id_len <= 16: at most 1 MiB, no overflow. */
    return vst_rd_view(r, (size_t)s->count * s->id_len, &s->ids);
}

int vst_pseud_req_decode(const uint8_t *p, size_t len, vst_pseud_req *out)
{
    vst_rd r;
    uint32_t total = 0;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u16(&r, &out->nsections));
    TRY(sections_check(out->nsections));
    for (size_t i = 0; i < out->nsections; i++)
        TRY(rd_section(&r, &out->sec[i], &total));
    return vst_rd_end(&r);
}

static int pseud_req_check(const vst_pseud_req *m)
{
    uint32_t total = 0;
    TRY(sections_check(m->nsections));
    for (size_t i = 0; i < m->nsections; i++) {
        TRY(section_check(&m->sec[i], &total));
        if (m->sec[i].ids == NULL)
            return VST_PROTO_E_ARG;
    }
    return 0;
}

static int wr_section(vst_wr *w, const vst_pseud_section *s)
{
    TRY(wr_str8(w, s->domain, strlen(s->domain)));
    TRY(vst_wr_u8(w, s->id_len));
    TRY(vst_wr_u32(w, s->count));
    return vst_wr_put(w, s->ids, (size_t)s->count * s->id_len);
}

static int put_pseud_req(vst_wr *w, const vst_pseud_req *in)
{
    TRY(vst_wr_u16(w, in->nsections));
    for (size_t i = 0; i < in->nsections; i++)
        TRY(wr_section(w, &in->sec[i]));
    return 0;
}

int vst_pseud_req_encode(vst_wr *w, const vst_pseud_req *in)
{
    TRY(pseud_req_check(in));
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_pseud_req(w, in));
}

uint32_t vst_pseud_req_total(const vst_pseud_req *m)
{
    uint32_t total = 0;
    for (size_t i = 0; i < m->nsections && i < VST_SECTIONS_MAX; i++)
        total += m->sec[i].count;
    return total;
}

int vst_pseud_ok_decode(const uint8_t *p, size_t len, vst_pseud_ok *out)
{
    vst_rd r;
    uint32_t total = 0;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u32(&r, &out->key_version));
    TRY(version_check(out->key_version));
    TRY(vst_rd_u16(&r, &out->nsections));
    TRY(sections_check(out->nsections));
    for (size_t i = 0; i < out->nsections; i++) {
        vst_pseud_out *s = &out->sec[i];
        TRY(vst_rd_u32(&r, &s->count));
        TRY(batch_add(&total, s->count));
        TRY(vst_rd_view(&r, (size_t)s->count * VST_PSEUDONYM_BYTES, &s->pseudonyms));
    }
    return vst_rd_end(&r);
}

static int pseud_ok_check(const vst_pseud_ok *m)
{
    uint32_t total = 0;
    TRY(version_check(m->key_version));
    TRY(sections_check(m->nsections));
    for (size_t i = 0; i < m->nsections; i++) {
        TRY(batch_add(&total, m->sec[i].count));
        if (m->sec[i].pseudonyms == NULL)
            return VST_PROTO_E_ARG;
    }
    return 0;
}

static int put_pseud_ok(vst_wr *w, const vst_pseud_ok *in)
{
    TRY(vst_wr_u32(w, in->key_version));
    TRY(vst_wr_u16(w, in->nsections));
    for (size_t i = 0; i < in->nsections; i++) {
        const vst_pseud_out *s = &in->sec[i];
        TRY(vst_wr_u32(w, s->count));
        TRY(vst_wr_put(w, s->pseudonyms, (size_t)s->count * VST_PSEUDONYM_BYTES));
    }
    return 0;
}

int vst_pseud_ok_encode(vst_wr *w, const vst_pseud_ok *in)
{
    TRY(pseud_ok_check(in));
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_pseud_ok(w, in));
}

int vst_pseud_ok_matches(const vst_pseud_req *rq, const vst_pseud_ok *rs)
{
    if (rq->nsections != rs->nsections || rq->nsections > VST_SECTIONS_MAX)
        return 0;
    for (size_t i = 0; i < rq->nsections; i++)
        if (rq->sec[i].count != rs->sec[i].count)
            return 0;
    return 1;
}

/* ------------------------------------------------------------------- REKEY */

static int rekey_req_check(const vst_rekey_req *m)
{
    TRY(version_check(m->from_version));
    TRY(version_check(m->to_version));
    return blocks_count_check(m->count);
}

int vst_rekey_req_decode(const uint8_t *p, size_t len, vst_rekey_req *out)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u32(&r, &out->from_version));
    TRY(vst_rd_u32(&r, &out->to_version));
    TRY(vst_rd_u32(&r, &out->count));
    TRY(rekey_req_check(out));
    TRY(vst_rd_view(&r, (size_t)out->count * VST_PSEUDONYM_BYTES, &out->pseudonyms));
    return vst_rd_end(&r);
}

static int put_rekey_req(vst_wr *w, const vst_rekey_req *in)
{
    TRY(vst_wr_u32(w, in->from_version));
    TRY(vst_wr_u32(w, in->to_version));
    TRY(vst_wr_u32(w, in->count));
    return vst_wr_put(w, in->pseudonyms, (size_t)in->count * VST_PSEUDONYM_BYTES);
}

int vst_rekey_req_encode(vst_wr *w, const vst_rekey_req *in)
{
    TRY(rekey_req_check(in));
    if (in->pseudonyms == NULL)
        return VST_PROTO_E_ARG;
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_rekey_req(w, in));
}

int vst_rekey_ok_decode(const uint8_t *p, size_t len, vst_rekey_ok *out)
{
    vst_rd r;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u32(&r, &out->count));
    TRY(blocks_count_check(out->count));
    TRY(vst_rd_view(&r, (size_t)out->count * VST_PSEUDONYM_BYTES, &out->pseudonyms));
    return vst_rd_end(&r);
}

static int put_rekey_ok(vst_wr *w, const vst_rekey_ok *in)
{
    TRY(vst_wr_u32(w, in->count));
    return vst_wr_put(w, in->pseudonyms, (size_t)in->count * VST_PSEUDONYM_BYTES);
}

int vst_rekey_ok_encode(vst_wr *w, const vst_rekey_ok *in)
{
    TRY(blocks_count_check(in->count));
    if (in->pseudonyms == NULL)
        return VST_PROTO_E_ARG;
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_rekey_ok(w, in));
}

/* ---------------------------------------------------------- ROTATE/RETIRE */

int vst_keyver_decode(const uint8_t *p, size_t len, vst_keyver_msg *out)
{
    if (len != 4)
        return len < 4 ? VST_PROTO_E_SHORT : VST_PROTO_E_TRAILING;
    out->version = (uint32_t)vst_be_get(p, 4);
    return version_check(out->version);
}

int vst_keyver_encode(vst_wr *w, const vst_keyver_msg *in)
{
    TRY(version_check(in->version));
    return vst_wr_u32(w, in->version);
}

/* ------------------------------------------------------------ SIGN_RECEIPT */

int vst_receipt_req_decode(const uint8_t *p, size_t len, vst_receipt_fields *out)
{
    vst_rd r;
    if (len < VST_RECEIPT_ENC_MIN)
        return VST_PROTO_E_SHORT;
    if (len > VST_RECEIPT_ENC_MAX)
        return VST_PROTO_E_TRAILING;
    vst_rd_init(&r, p, len);
    TRY(rd_str8(&r, out->delivery_id, VST_DELIVERY_ID_MAX, vst_delivery_id_ok));
    TRY(rd_str8(&r, out->client, VST_CLIENT_NAME_MAX, vst_client_name_ok));
    TRY(rd_str8(&r, out->profile, VST_PROFILE_NAME_MAX, vst_profile_name_ok));
    /* The three strings fix the length of the rest exactly. */
    if (vst_rd_left(&r) != VST_RECEIPT_FIXED_LEN)
        return vst_rd_left(&r) < VST_RECEIPT_FIXED_LEN ? VST_PROTO_E_SHORT : VST_PROTO_E_TRAILING;
    TRY(vst_rd_u64(&r, &out->record_count));
    TRY(vst_rd_copy(&r, out->body_sha256, sizeof out->body_sha256));
    TRY(vst_rd_u32(&r, &out->key_version));
    TRY(vst_rd_i64(&r, &out->received_at_us));
    TRY(vst_rd_i64(&r, &out->stored_at_us));
    TRY(vst_rd_u64(&r, &out->audit_seq));
    /* The encoder's own check, so both sides agree on every rule. */
    if (!vst_receipt_fields_ok(out))
        return VST_PROTO_E_RANGE;
    return vst_rd_end(&r);
}

int vst_receipt_req_encode(vst_wr *w, const vst_receipt_fields *in)
{
    uint8_t buf[VST_RECEIPT_ENC_MAX];
    size_t n = vst_receipt_encode(in, buf);
    int rc = n == 0 ? VST_PROTO_E_RANGE : vst_wr_put(w, buf, n);
    vst_wipe(buf, sizeof buf);
    return rc;
}

/* --------------------------------------------------------- SIGN_CHECKPOINT */

int vst_checkpoint_req_decode(const uint8_t *p, size_t len, vst_checkpoint_req *out)
{
    vst_rd r;
    if (len != VST_CHECKPOINT_ENC_LEN)
        return len < VST_CHECKPOINT_ENC_LEN ? VST_PROTO_E_SHORT : VST_PROTO_E_TRAILING;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u64(&r, &out->seq));
    TRY(vst_rd_copy(&r, out->head, sizeof out->head));
    TRY(vst_rd_i64(&r, &out->time_us));
    return vst_rd_end(&r);
}

int vst_checkpoint_req_encode(vst_wr *w, const vst_checkpoint_req *in)
{
    uint8_t buf[VST_CHECKPOINT_ENC_LEN];
    vst_checkpoint_encode(in->seq, in->head, in->time_us, buf);
    return vst_wr_put(w, buf, sizeof buf);
}

/* ------------------------------------------------------------------ EVENTS */

int vst_events_req_decode(const uint8_t *p, size_t len, vst_events_req *out)
{
    vst_rd r;
    if (len != 10)
        return len < 10 ? VST_PROTO_E_SHORT : VST_PROTO_E_TRAILING;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u64(&r, &out->after_seq));
    TRY(vst_rd_u16(&r, &out->max));
    return out->max >= 1 ? 0 : VST_PROTO_E_RANGE;
}

static int put_events_req(vst_wr *w, const vst_events_req *in)
{
    TRY(vst_wr_u64(w, in->after_seq));
    return vst_wr_u16(w, in->max);
}

int vst_events_req_encode(vst_wr *w, const vst_events_req *in)
{
    if (in->max < 1)
        return VST_PROTO_E_RANGE;
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_events_req(w, in));
}

static int event_check(const vst_event *ev)
{
    if (ev->action == NULL || ev->details == NULL)
        return VST_PROTO_E_ARG;
    if (ev->action_len < 1 || ev->action_len > VST_ACTION_LEN_MAX || ev->details_len < 1 ||
        ev->details_len > VST_DETAILS_LEN_MAX)
        return VST_PROTO_E_RANGE;
    if (!action_ok(ev->action, ev->action_len) || !details_ok(ev->details, ev->details_len))
        return VST_PROTO_E_CHARSET;
    return 0;
}

static int rd_event(vst_rd *r, vst_event *ev)
{
    uint8_t alen;
    uint16_t dlen;
    const uint8_t *a, *d;
    TRY(vst_rd_u64(r, &ev->seq));
    TRY(vst_rd_i64(r, &ev->time_us));
    TRY(vst_rd_u32(r, &ev->actor_uid));
    TRY(vst_rd_u8(r, &alen));
    TRY(vst_rd_view(r, alen, &a));
    TRY(vst_rd_u16(r, &dlen));
    if (dlen > VST_DETAILS_LEN_MAX)
        return VST_PROTO_E_RANGE;
    TRY(vst_rd_view(r, dlen, &d));
    ev->action = (const char *)a;
    ev->action_len = alen;
    ev->details = (const char *)d;
    ev->details_len = dlen;
    return event_check(ev);
}

int vst_events_ok_decode(const uint8_t *p, size_t len, vst_events_ok *out)
{
    vst_rd r;
    vst_event ev;
    vst_rd_init(&r, p, len);
    TRY(vst_rd_u16(&r, &out->n));
    /* Cheap bound before any entry is parsed. */
    if (vst_rd_left(&r) < (size_t)out->n * EVENT_MIN_LEN)
        return VST_PROTO_E_SHORT;
    out->entries = p + 2;
    out->entries_len = len - 2;
    for (size_t i = 0; i < out->n; i++)
        TRY(rd_event(&r, &ev));
    return vst_rd_end(&r);
}

void vst_events_iter_init(vst_events_iter *it, const vst_events_ok *m)
{
    vst_rd_init(&it->rd, m->entries, m->entries_len);
    it->left = m->n;
}

int vst_events_next(vst_events_iter *it, vst_event *ev)
{
    if (it->left == 0)
        return 0;
    TRY(rd_event(&it->rd, ev));
    it->left--;
    return 1;
}

int vst_events_ok_begin(vst_list_builder *b, vst_wr *w)
{
    b->w = w;
    b->count_off = vst_wr_len(w);
    b->n = 0;
    return vst_wr_u16(w, 0);
}

static int put_event(vst_wr *w, const vst_event *ev)
{
    TRY(vst_wr_u64(w, ev->seq));
    TRY(vst_wr_i64(w, ev->time_us));
    TRY(vst_wr_u32(w, ev->actor_uid));
    TRY(wr_str8(w, ev->action, ev->action_len));
    TRY(vst_wr_u16(w, (uint16_t)ev->details_len));
    return vst_wr_put(w, ev->details, ev->details_len);
}

int vst_events_ok_add(vst_list_builder *b, const vst_event *ev)
{
    TRY(event_check(ev));
    if (b->n >= 0xffffu)
        return VST_PROTO_E_RANGE;
    size_t need = 8 + 8 + 4 + 1 + ev->action_len + 2 + ev->details_len;
    if (need > VST_FRAME_MAX - vst_wr_len(b->w))
        return VST_PROTO_E_LENGTH;
    size_t mark = vst_wr_len(b->w);
    TRY(wr_rollback(b->w, mark, put_event(b->w, ev)));
    b->n++;
    builder_patch(b);
    return 0;
}

/* ------------------------------------------------------------------- ERROR */

int vst_error_decode(const uint8_t *p, size_t len, vst_error_msg *out)
{
    if (len != 2)
        return len < 2 ? VST_PROTO_E_SHORT : VST_PROTO_E_TRAILING;
    out->code = (uint16_t)vst_be_get(p, 2);
    return vst_keyd_err_name(out->code) != NULL ? 0 : VST_PROTO_E_RANGE;
}

int vst_error_encode(vst_wr *w, const vst_error_msg *in)
{
    if (vst_keyd_err_name(in->code) == NULL)
        return VST_PROTO_E_RANGE;
    return vst_wr_u16(w, in->code);
}

/* ------------------------------------------------------------ any message */

int vst_msg_decode(uint8_t type, const uint8_t *p, size_t len, vst_msg *out)
{
    switch (type) {
    case VST_MSG_STATUS:
    case VST_MSG_PUBKEY:
    case VST_MSG_ROTATE:
        return vst_empty_decode(p, len);
    case VST_MSG_UNSEAL:
        return vst_unseal_req_decode(p, len, &out->unseal_req);
    case VST_MSG_PSEUDONYMIZE:
        return vst_pseud_req_decode(p, len, &out->pseud_req);
    case VST_MSG_REKEY:
        return vst_rekey_req_decode(p, len, &out->rekey_req);
    case VST_MSG_RETIRE:
        return vst_keyver_decode(p, len, &out->keyver);
    case VST_MSG_SIGN_RECEIPT:
        return vst_receipt_req_decode(p, len, &out->receipt_req);
    case VST_MSG_SIGN_CHECKPOINT:
        return vst_checkpoint_req_decode(p, len, &out->checkpoint_req);
    case VST_MSG_EVENTS:
        return vst_events_req_decode(p, len, &out->events_req);
    case VST_MSG_RESP(VST_MSG_STATUS):
        return vst_status_ok_decode(p, len, &out->status_ok);
    case VST_MSG_RESP(VST_MSG_UNSEAL):
        return vst_unseal_ok_decode(p, len, &out->unseal_ok);
    case VST_MSG_RESP(VST_MSG_PUBKEY):
        return vst_pubkey_ok_decode(p, len, &out->pubkey_ok);
    case VST_MSG_RESP(VST_MSG_PSEUDONYMIZE):
        return vst_pseud_ok_decode(p, len, &out->pseud_ok);
    case VST_MSG_RESP(VST_MSG_REKEY):
        return vst_rekey_ok_decode(p, len, &out->rekey_ok);
    case VST_MSG_RESP(VST_MSG_ROTATE):
    case VST_MSG_RESP(VST_MSG_RETIRE):
        return vst_keyver_decode(p, len, &out->keyver);
    case VST_MSG_RESP(VST_MSG_SIGN_RECEIPT):
    case VST_MSG_RESP(VST_MSG_SIGN_CHECKPOINT):
        return vst_sig_ok_decode(p, len, &out->sig_ok);
    case VST_MSG_RESP(VST_MSG_EVENTS):
        return vst_events_ok_decode(p, len, &out->events_ok);
    case VST_MSG_ERROR:
        return vst_error_decode(p, len, &out->error);
    default:
        return VST_PROTO_E_TYPE;
    }
}

static int put_status_ok(vst_wr *w, const vst_status_ok *m)
{
    vst_list_builder b;
    vst_version_info v;
    TRY(vst_status_ok_begin(&b, w, m));
    for (size_t i = 0; i < m->nversions; i++) {
        TRY(vst_status_version(m, i, &v));
        TRY(vst_status_ok_add(&b, &v));
    }
    return 0;
}

static int put_events_ok(vst_wr *w, const vst_events_ok *m)
{
    vst_list_builder b;
    vst_events_iter it;
    vst_event ev;
    int rc;
    TRY(vst_events_ok_begin(&b, w));
    vst_events_iter_init(&it, m);
    while ((rc = vst_events_next(&it, &ev)) == 1)
        TRY(vst_events_ok_add(&b, &ev));
    return rc;
}

static int status_ok_reencode(vst_wr *w, const vst_status_ok *m)
{
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_status_ok(w, m));
}

static int events_ok_reencode(vst_wr *w, const vst_events_ok *m)
{
    size_t mark = vst_wr_len(w);
    return wr_rollback(w, mark, put_events_ok(w, m));
}

int vst_msg_encode(vst_wr *w, uint8_t type, const vst_msg *in)
{
    switch (type) {
    case VST_MSG_STATUS:
    case VST_MSG_PUBKEY:
    case VST_MSG_ROTATE:
        return 0;
    case VST_MSG_UNSEAL:
        return vst_unseal_req_encode(w, &in->unseal_req);
    case VST_MSG_PSEUDONYMIZE:
        return vst_pseud_req_encode(w, &in->pseud_req);
    case VST_MSG_REKEY:
        return vst_rekey_req_encode(w, &in->rekey_req);
    case VST_MSG_RETIRE:
        return vst_keyver_encode(w, &in->keyver);
    case VST_MSG_SIGN_RECEIPT:
        return vst_receipt_req_encode(w, &in->receipt_req);
    case VST_MSG_SIGN_CHECKPOINT:
        return vst_checkpoint_req_encode(w, &in->checkpoint_req);
    case VST_MSG_EVENTS:
        return vst_events_req_encode(w, &in->events_req);
    case VST_MSG_RESP(VST_MSG_STATUS):
        return status_ok_reencode(w, &in->status_ok);
    case VST_MSG_RESP(VST_MSG_UNSEAL):
        return vst_unseal_ok_encode(w, &in->unseal_ok);
    case VST_MSG_RESP(VST_MSG_PUBKEY):
        return vst_pubkey_ok_encode(w, &in->pubkey_ok);
    case VST_MSG_RESP(VST_MSG_PSEUDONYMIZE):
        return vst_pseud_ok_encode(w, &in->pseud_ok);
    case VST_MSG_RESP(VST_MSG_REKEY):
        return vst_rekey_ok_encode(w, &in->rekey_ok);
    case VST_MSG_RESP(VST_MSG_ROTATE):
    case VST_MSG_RESP(VST_MSG_RETIRE):
        return vst_keyver_encode(w, &in->keyver);
    case VST_MSG_RESP(VST_MSG_SIGN_RECEIPT):
    case VST_MSG_RESP(VST_MSG_SIGN_CHECKPOINT):
        return vst_sig_ok_encode(w, &in->sig_ok);
    case VST_MSG_RESP(VST_MSG_EVENTS):
        return events_ok_reencode(w, &in->events_ok);
    case VST_MSG_ERROR:
        return vst_error_encode(w, &in->error);
    default:
        return VST_PROTO_E_TYPE;
    }
}

/* ---------------------------------------------------------------- frame I/O */

/* Reads exactly n bytes. *got tells a clean EOF (0 bytes) from a cut one. */
static int read_full(int fd, uint8_t *p, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        ssize_t k = read(fd, p + *got, n - *got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? VST_PROTO_E_TIMEOUT : VST_PROTO_E_IO;
        if (k == 0)
            return *got == 0 ? VST_PROTO_E_EOF : VST_PROTO_E_SHORT;
        *got += (size_t)k;
    }
    return 0;
}

/* sendmsg(MSG_NOSIGNAL) so a vanished peer is an error, not a SIGPIPE;
 * writev for descriptors that are not sockets (pipes in tests). */
static ssize_t write_iov(int fd, struct iovec *iov, int n)
{
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    ssize_t k = sendmsg(fd, &mh, MSG_NOSIGNAL);
    if (k < 0 && errno == ENOTSOCK)
        k = writev(fd, iov, n);
    return k;
}

static int write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t k = write_iov(fd, iov, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return VST_PROTO_E_TIMEOUT;
        if (k <= 0)
            return VST_PROTO_E_IO;
        size_t done = (size_t)k;
        while (n > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

int vst_frame_send(int fd, uint8_t type, const void *payload, size_t len)
{
    uint8_t hdr[VST_FRAME_HDR_LEN];
    if (len > VST_FRAME_MAX || (payload == NULL && len > 0))
        return VST_PROTO_E_LENGTH;
    TRY(vst_frame_hdr_encode(type, (uint32_t)len, hdr));
    struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)payload, len}};
    return write_all(fd, iov, len > 0 ? 2 : 1);
}

int vst_frame_recv(int fd, uint32_t max, vst_frame_hdr *hdr, uint8_t **buf)
{
    uint8_t h[VST_FRAME_HDR_LEN];
    size_t got;
    *buf = NULL;
    TRY(read_full(fd, h, sizeof h, &got));
    TRY(vst_frame_hdr_decode(h, max, hdr));
    uint8_t *p = malloc(hdr->len > 0 ? hdr->len : 1);
    if (p == NULL)
        return VST_PROTO_E_NOMEM;
    int rc = read_full(fd, p, hdr->len, &got);
    if (rc != 0) {
        vst_frame_free(p, got);
        return rc == VST_PROTO_E_EOF ? VST_PROTO_E_SHORT : rc;
    }
    *buf = p;
    return 0;
}

void vst_frame_free(uint8_t *buf, size_t len)
{
    vst_wipe(buf, len);
    free(buf);
}
