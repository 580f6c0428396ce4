/* keyd's requests: one handler per request type (the signatures' in
 * keyd_sign.c, linkage's in keyd_link.c and keyd_overlap.c), and the
 * dispatch table generated from wire/messages.def. keyd_net.c has already checked the
 * header and that the type may be sent on this socket (vst_msg_permit);
 * each handler decodes its payload with its codec's exact checks
 * (server/wire/codec_*.c) — a payload that fails them closes the
 * connection — does its work and writes one response frame. Refusals that
 * are not the peer's protocol fault (sealed, over budget, unknown version)
 * are answered with an error and the connection stays open.
 *
 * Every operation that maps a chosen input to an output (PSEUDONYMIZE,
 * REKEY, RELEASE_MAP, DISCLOSE, OBJECT, SIGN_RECEIPT(S), SIGN_CHECKPOINT,
 * SIGN_REPORT) is admitted by keyd_usage.c before it runs (budget,
 * write-ahead counts) and counted for its peer after. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hex.h"
#include "core/usage.h"
#include "keyd/keyd.h"

/* ---- response framing: header reserved first, patched when done */

static int begin(keyd_conn *c)
{
    uint8_t *h;
    vst_wr_reset(&c->out);
    return vst_wr_reserve(&c->out, VST_FRAME_HDR_LEN, &h);
}

static void finish(keyd_conn *c, uint8_t type)
{
    size_t len = vst_wr_len(&c->out) - VST_FRAME_HDR_LEN;
    vst_frame_hdr_encode(type, (uint32_t)len, c->out.buf);
}

void keyd_reply_error(keyd_conn *c, unsigned code)
{
    vst_error_msg m = {.code = (uint16_t)code};
    if (begin(c) != 0 || vst_error_encode(&c->out, &m) != 0) {
        vst_wr_reset(&c->out);
        c->closing = 1;
        return;
    }
    finish(c, VST_MSG_ERROR);
}

static void bad_payload(keyd_conn *c, int rc)
{
    keyd_conn_reject(c, VST_KERR_BAD_FRAME, vst_proto_strerror(rc));
}

void keyd_bad_payload(keyd_conn *c, int rc)
{
    bad_payload(c, rc);
}

int keyd_reply_begin(keyd_conn *c)
{
    return begin(c);
}

void keyd_reply_finish(keyd_conn *c, uint8_t type)
{
    finish(c, type);
}

static void internal(keyd_conn *c)
{
    keyd_reply_error(c, VST_KERR_INTERNAL);
}

/* ---- handlers */

static void h_status(keyd_conn *c)
{
    vst_status_ok m = {.sealed = (uint8_t)keyd_sealed(),
                       .dev_master = (uint8_t)keyd_dev_master(),
                       .current_version = keyd_current_version()};
    keyd_share_counts(&m.shares_have, &m.shares_need);
    keyd_budget_usage(&m.minute_used, &m.minute_limit, &m.day_used, &m.day_limit);
    if (!m.sealed)
        memcpy(m.signing_pubkey, keyd_sign_public(), VST_ED25519_PUB_LEN);
    vst_list_builder b;
    if (begin(c) != 0 || vst_status_ok_begin(&b, &c->out, &m) != 0)
        return internal(c);
    /* Every version, however many (the list fits a frame up to 65535). */
    size_t n = keyd_versions(NULL, 0);
    vst_key_version *v = n ? calloc(n, sizeof *v) : NULL;
    if (n > 0 && v == NULL)
        return internal(c);
    n = keyd_versions(v, n);
    for (size_t i = 0; i < n; i++) {
        vst_version_info vi = {v[i].version, (uint8_t)v[i].state};
        if (vst_status_ok_add(&b, &vi) != 0)
            break;
    }
    free(v);
    finish(c, VST_MSG_RESP(VST_MSG_STATUS));
}

static void h_unseal(keyd_conn *c)
{
    vst_unseal_req rq;
    vst_unseal_ok rs;
    int rc = vst_unseal_req_decode(c->payload, c->h.len, &rq);
    if (rc != 0)
        return bad_payload(c, rc);
    int was_sealed = keyd_sealed();
    keyd_unseal_share(&rq, c->uid, &rs);
    if (was_sealed && !keyd_sealed())
        keyd_state_unsealed();
    if (begin(c) != 0 || vst_unseal_ok_encode(&c->out, &rs) != 0)
        return internal(c);
    finish(c, VST_MSG_RESP(VST_MSG_UNSEAL));
}

static void h_pubkey(keyd_conn *c)
{
    vst_pubkey_ok m;
    memcpy(m.key, keyd_sign_public(), sizeof m.key);
    if (begin(c) != 0 || vst_pubkey_ok_encode(&c->out, &m) != 0)
        return internal(c);
    finish(c, VST_MSG_RESP(VST_MSG_PUBKEY));
}

/* Counted per domain: two sections of one domain are one charge. */
static void pseud_charge(const vst_pseud_req *rq, keyd_charge *ch)
{
    for (size_t s = 0; s < rq->nsections; s++) {
        size_t j = 0;
        while (j < ch->n && strcmp(ch->domain[j], rq->sec[s].domain) != 0)
            j++;
        if (j == ch->n) {
            ch->domain[ch->n] = rq->sec[s].domain;
            ch->count[ch->n++] = 0;
        }
        ch->count[j] += rq->sec[s].count;
    }
}

/* One section of the answer: inner values computed straight into the
 * response buffer, the exception list applied (skipped for a domain
 * without an entry), encrypted in place, withheld slots zeroed, then the
 * withheld list. The inner values exist nowhere else. 0 or -1. */
static int pseud_section(keyd_conn *c, const vst_domain_key *dk, vst_version_key *vk,
                         const vst_pseud_section *sec)
{
    static uint32_t withheld[VST_BATCH_MAX]; /* keyd is single-threaded */
    uint8_t *out;
    if (vst_wr_u32(&c->out, sec->count) != 0 ||
        vst_wr_reserve(&c->out, (size_t)sec->count * VST_PSEUDONYM_LEN, &out) != 0)
        return -1;
    uint32_t nw = keyd_cases_derive(dk, keyd_cases_table(sec->domain), sec->ids, sec->id_len,
                                    sec->count, out, withheld);
    if (vst_pseudonym_encrypt(vk, out, out, sec->count) != 0)
        return -1;
    for (uint32_t j = 0; j < nw; j++)
        memset(out + (size_t)withheld[j] * VST_PSEUDONYM_LEN, 0, VST_PSEUDONYM_LEN);
    if (vst_wr_u32(&c->out, nw) != 0)
        return -1;
    for (uint32_t j = 0; j < nw; j++)
        if (vst_wr_u32(&c->out, withheld[j]) != 0)
            return -1;
    return 0;
}

static void h_pseudonymize(keyd_conn *c)
{
    static vst_pseud_req rq; /* large; keyd is single-threaded */
    int rc = vst_pseud_req_decode(c->payload, c->h.len, &rq);
    if (rc != 0)
        return bad_payload(c, rc);
    const vst_domain_key *dk[VST_SECTIONS_MAX];
    for (size_t s = 0; s < rq.nsections; s++)
        if ((dk[s] = keyd_domain(rq.sec[s].domain)) == NULL)
            return keyd_reply_error(c, VST_KERR_INVALID_ARGUMENT); /* domain not allowed */
    unsigned kerr = 0;
    uint32_t v = keyd_current_version();
    vst_version_key *vk = keyd_version(v, &kerr);
    if (vk == NULL || keyd_cases_broken()) /* never a pseudonym for a withheld person */
        return internal(c);
    keyd_charge ch = {0};
    pseud_charge(&rq, &ch);
    unsigned deny = keyd_usage_admit(c, VST_USAGE_OP_PSEUDONYMIZE, &ch);
    if (deny != 0)
        return keyd_reply_error(c, deny);
    if (begin(c) != 0 || vst_wr_u32(&c->out, v) != 0 || vst_wr_u16(&c->out, rq.nsections) != 0)
        return internal(c);
    for (size_t s = 0; s < rq.nsections; s++)
        if (pseud_section(c, dk[s], vk, &rq.sec[s]) != 0)
            return internal(c); /* begin() wipes what was written */
    finish(c, VST_MSG_RESP(VST_MSG_PSEUDONYMIZE));
    keyd_usage_done(c, VST_USAGE_OP_PSEUDONYMIZE, &ch);
}

void keyd_conn_rekey_flush(keyd_conn *c)
{
    if (c->rekeyed == 0)
        return;
    keyd_event(c->uid, "keyd.rekey", "{\"from_version\":%u,\"to_version\":%u,\"count\":%llu}",
               c->rekey_from, c->rekey_to, (unsigned long long)c->rekeyed);
    c->rekeyed = 0;
}

static void h_rekey(keyd_conn *c)
{
    vst_rekey_req rq;
    int rc = vst_rekey_req_decode(c->payload, c->h.len, &rq);
    if (rc != 0)
        return bad_payload(c, rc);
    /* Re-keying only ever moves rows forward to the current version. */
    if (rq.to_version != keyd_current_version() || rq.from_version >= rq.to_version)
        return keyd_reply_error(c, VST_KERR_INVALID_ARGUMENT);
    unsigned kerr = 0;
    vst_version_key *from = keyd_version(rq.from_version, &kerr);
    if (from == NULL)
        return keyd_reply_error(c, kerr);
    vst_version_key *to = keyd_version(rq.to_version, &kerr);
    if (to == NULL)
        return keyd_reply_error(c, kerr);
    keyd_charge ch = {.n = 1, .domain = {""}, .count = {rq.count}};
    unsigned deny = keyd_usage_admit(c, VST_USAGE_OP_REKEY, &ch);
    if (deny != 0)
        return keyd_reply_error(c, deny);
    uint8_t *out;
    if (begin(c) != 0 || vst_wr_u32(&c->out, rq.count) != 0 ||
        vst_wr_reserve(&c->out, (size_t)rq.count * VST_PSEUDONYM_LEN, &out) != 0)
        return internal(c);
    memcpy(out, rq.pseudonyms, (size_t)rq.count * VST_PSEUDONYM_LEN);
    if (vst_rekey(from, to, out, rq.count) != 0) {
        vst_wr_reset(&c->out);
        return internal(c);
    }
    if (c->rekeyed > 0 && (c->rekey_from != rq.from_version || c->rekey_to != rq.to_version))
        keyd_conn_rekey_flush(c);
    c->rekey_from = rq.from_version;
    c->rekey_to = rq.to_version;
    c->rekeyed += rq.count;
    finish(c, VST_MSG_RESP(VST_MSG_REKEY));
    keyd_usage_done(c, VST_USAGE_OP_REKEY, &ch);
}

static void h_rotate(keyd_conn *c)
{
    int rc = vst_empty_decode(c->payload, c->h.len);
    if (rc != 0)
        return bad_payload(c, rc);
    uint32_t prev = keyd_current_version();
    vst_keyver_msg m;
    unsigned e = keyd_rotate(&m.version);
    if (e != 0)
        return keyd_reply_error(c, e);
    keyd_event(
        c->uid, "keyd.rotate",
        "{\"previous_version\":%u,\"new_version\":%u,\"keystore\":\"%s\",\"generation\":%llu}",
        prev, m.version, keyd_keystore_id(), (unsigned long long)keyd_keystore_generation());
    if (begin(c) != 0 || vst_keyver_encode(&c->out, &m) != 0)
        return internal(c);
    finish(c, VST_MSG_RESP(VST_MSG_ROTATE));
}

static void h_retire(keyd_conn *c)
{
    vst_keyver_msg m;
    int rc = vst_keyver_decode(c->payload, c->h.len, &m);
    if (rc != 0)
        return bad_payload(c, rc);
    unsigned e = keyd_retire(m.version);
    if (e != 0)
        return keyd_reply_error(c, e);
    keyd_event(c->uid, "keyd.retire", "{\"version\":%u,\"keystore\":\"%s\",\"generation\":%llu}",
               m.version, keyd_keystore_id(), (unsigned long long)keyd_keystore_generation());
    if (begin(c) != 0 || vst_keyver_encode(&c->out, &m) != 0)
        return internal(c);
    finish(c, VST_MSG_RESP(VST_MSG_RETIRE));
}

/* A fresh release key for this connection (keyd_release.c); the one
 * opened before on it, if any, is wiped first. */
static void h_release_open(keyd_conn *c)
{
    int rc = vst_empty_decode(c->payload, c->h.len);
    if (rc != 0)
        return bad_payload(c, rc);
    vst_release_open_ok m;
    if (keyd_release_open(c) != 0)
        return internal(c);
    memcpy(m.id, c->release_id, sizeof m.id);
    if (begin(c) != 0 || vst_release_open_ok_encode(&c->out, &m) != 0)
        return internal(c);
    finish(c, VST_MSG_RESP(VST_MSG_RELEASE_OPEN));
}

/* The excluded list of a RELEASE_MAP answer: the indices of pseudonyms
 * whose inner value is a person's with a case (keyd_cases_excluded). The
 * inner values are recomputed in a scratch buffer, wiped after; a list
 * without entries costs nothing. 0 or -1. */
static int release_excluded(keyd_conn *c, vst_version_key *from, const vst_release_map_req *rq)
{
    static uint8_t inner[VST_BATCH_MAX * VST_PSEUDONYM_LEN];
    static uint32_t idx[VST_BATCH_MAX];
    uint32_t n = 0;
    if (keyd_cases_any()) {
        size_t len = (size_t)rq->count * VST_PSEUDONYM_LEN;
        int rc = vst_pseudonym_decrypt(from, rq->pseudonyms, inner, rq->count);
        for (uint32_t i = 0; rc == 0 && i < rq->count; i++)
            if (keyd_cases_excluded(inner + (size_t)i * VST_PSEUDONYM_LEN))
                idx[n++] = i;
        OPENSSL_cleanse(inner, len);
        if (rc != 0)
            return -1;
    }
    if (vst_wr_u32(&c->out, n) != 0)
        return -1;
    for (uint32_t j = 0; j < n; j++)
        if (vst_wr_u32(&c->out, idx[j]) != 0)
            return -1;
    return 0;
}

/* Store pseudonyms of any live version to the open release's pseudonyms:
 * versions need not be current (a store mid-rotation maps both), and two
 * versions of one person give one release pseudonym. Persons with a
 * disclosure or objection case are listed as excluded. */
static void h_release_map(keyd_conn *c)
{
    vst_release_map_req rq;
    int rc = vst_release_map_req_decode(c->payload, c->h.len, &rq);
    if (rc != 0)
        return bad_payload(c, rc);
    if (c->release_key == NULL)
        return keyd_reply_error(c, VST_KERR_NO_RELEASE);
    unsigned kerr = 0;
    vst_version_key *from = keyd_version(rq.from_version, &kerr);
    if (from == NULL)
        return keyd_reply_error(c, kerr);
    if (keyd_cases_broken())
        return internal(c);
    keyd_charge ch = {.n = 1, .domain = {""}, .count = {rq.count}};
    unsigned deny = keyd_usage_admit(c, VST_USAGE_OP_RELEASE_MAP, &ch);
    if (deny != 0)
        return keyd_reply_error(c, deny);
    uint8_t *out;
    if (begin(c) != 0 || vst_wr_u32(&c->out, rq.count) != 0 ||
        vst_wr_reserve(&c->out, (size_t)rq.count * VST_PSEUDONYM_LEN, &out) != 0)
        return internal(c);
    memcpy(out, rq.pseudonyms, (size_t)rq.count * VST_PSEUDONYM_LEN);
    if (keyd_release_map(c, from, out, rq.count) != 0 || release_excluded(c, from, &rq) != 0) {
        vst_wr_reset(&c->out);
        return internal(c);
    }
    finish(c, VST_MSG_RESP(VST_MSG_RELEASE_MAP));
    keyd_usage_done(c, VST_USAGE_OP_RELEASE_MAP, &ch);
}

/* ---- the exception list (DESIGN.md §12; keyd_cases.c) */

/* The answer of DISCLOSE (with_star) or OBJECT: the case, and for every
 * live version the person's pseudonyms, encrypted from r's inner values
 * here. 0 or -1. */
static int reply_case(keyd_conn *c, uint8_t type, const keyd_case_result *r)
{
    vst_case_ok m = {.existed = (uint8_t)r->existed, .with_star = type == VST_MSG_DISCLOSE};
    memcpy(m.case_id, r->case_id, VST_CASE_ID_LEN);
    vst_list_builder b;
    if (begin(c) != 0 || vst_case_ok_begin(&b, &c->out, &m) != 0)
        return -1;
    size_t n = keyd_versions(NULL, 0);
    vst_key_version *v = calloc(n ? n : 1, sizeof *v);
    int rc = v != NULL ? 0 : -1;
    n = v != NULL ? keyd_versions(v, n) : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        unsigned kerr;
        vst_version_key *vk = keyd_version(v[i].version, &kerr);
        uint8_t p[2][VST_PSEUDONYM_LEN];
        if (vk == NULL)
            continue; /* retired */
        vst_case_entry e = {v[i].version, p[0], m.with_star ? p[1] : NULL};
        rc = vst_pseudonym_encrypt(vk, r->p_inner, p[0], 1) != 0 ||
                     vst_pseudonym_encrypt(vk, r->star_inner, p[1], 1) != 0 ||
                     vst_case_ok_add(&b, &m, &e) != 0
                 ? -1
                 : 0;
        OPENSSL_cleanse(p, sizeof p);
    }
    free(v);
    if (rc != 0)
        return -1;
    finish(c, VST_MSG_RESP(type));
    return 0;
}

/* Admitted, done, answered and audited alike: keyd_case_* has recorded
 * (or found) the case before anything is answered. */
static void case_request(keyd_conn *c, uint8_t type, const char *domain, uint8_t inner[16])
{
    uint8_t op = type == VST_MSG_DISCLOSE ? VST_USAGE_OP_DISCLOSE : VST_USAGE_OP_OBJECT;
    keyd_charge ch = {.n = 1, .domain = {""}, .count = {1}};
    keyd_case_result r;
    unsigned e = keyd_usage_admit(c, op, &ch);
    if (e == 0)
        e = type == VST_MSG_DISCLOSE ? keyd_case_disclose(domain, inner, &r)
                                     : keyd_case_object(domain, inner, &r);
    OPENSSL_cleanse(inner, VST_INNER_LEN);
    if (e != 0)
        return keyd_reply_error(c, e);
    int rc = reply_case(c, type, &r);
    OPENSSL_cleanse(&r.p_inner, 2 * VST_INNER_LEN);
    if (rc != 0) {
        vst_wr_reset(&c->out);
        return internal(c);
    }
    keyd_usage_done(c, op, &ch);
    char id[VST_CASE_ID_HEX + 1];
    vst_hex(r.case_id, VST_CASE_ID_LEN, id);
    keyd_event(c->uid, type == VST_MSG_DISCLOSE ? "keyd.disclosed" : "keyd.objection",
               "{\"case_id\":\"%s\",\"domain\":\"%s\",\"keystore\":\"%s\",\"generation\":%llu}", id,
               domain, keyd_keystore_id(), (unsigned long long)keyd_keystore_generation());
}

/* I = AES^-1_v(P): the person behind a disclosed pseudonym. */
static void h_disclose(keyd_conn *c)
{
    vst_disclose_req rq;
    int rc = vst_disclose_req_decode(c->payload, c->h.len, &rq);
    if (rc != 0)
        return bad_payload(c, rc);
    unsigned kerr = 0;
    vst_version_key *vk = keyd_version(rq.key_version, &kerr);
    uint8_t inner[VST_INNER_LEN];
    if (keyd_domain(rq.domain) == NULL)
        kerr = VST_KERR_INVALID_ARGUMENT; /* a domain keyd does not serve */
    else if (vk != NULL && vst_pseudonym_decrypt(vk, rq.pseudonym, inner, 1) != 0)
        kerr = VST_KERR_INTERNAL;
    else if (vk != NULL)
        kerr = 0;
    OPENSSL_cleanse(rq.pseudonym, sizeof rq.pseudonym);
    if (kerr != 0)
        return keyd_reply_error(c, kerr);
    case_request(c, VST_MSG_DISCLOSE, rq.domain, inner);
}

/* I = HMAC(K_d, id); the identifier is wiped at once. */
static void h_object(keyd_conn *c)
{
    vst_object_req rq;
    int rc = vst_object_req_decode(c->payload, c->h.len, &rq);
    if (rc != 0)
        return bad_payload(c, rc);
    const vst_domain_key *dk = keyd_domain(rq.domain);
    uint8_t inner[VST_INNER_LEN];
    if (dk != NULL)
        vst_inner_value(dk, (const char *)rq.id, rq.id_len, inner);
    OPENSSL_cleanse((uint8_t *)rq.id, rq.id_len); /* the payload is ours to wipe */
    if (dk == NULL)
        return keyd_reply_error(c, VST_KERR_INVALID_ARGUMENT);
    case_request(c, VST_MSG_OBJECT, rq.domain, inner);
}

/* Signs tbs and answers with the signature; 0 if it did (keyd_sign.c,
 * keyd_overlap.c). */
int keyd_reply_signature(keyd_conn *c, uint8_t type, const uint8_t *tbs, size_t len)
{
    vst_sig_ok m;
    if (keyd_sign(tbs, len, m.sig) != 0 || begin(c) != 0 || vst_sig_ok_encode(&c->out, &m) != 0) {
        internal(c);
        return -1;
    }
    finish(c, VST_MSG_RESP(type));
    return 0;
}

static void h_events(keyd_conn *c)
{
    vst_events_req rq;
    int rc = vst_events_req_decode(c->payload, c->h.len, &rq);
    if (rc != 0)
        return bad_payload(c, rc);
    if (begin(c) != 0 || keyd_events_serve(rq.after_seq, rq.max, &c->out) != 0)
        return internal(c);
    finish(c, VST_MSG_RESP(VST_MSG_EVENTS));
}

/* The handler of every request, indexed by type, generated from
 * wire/messages.def: a request line whose handler is missing here does not
 * compile, and a handler that no line names is an unused static function,
 * which -Werror refuses too. */
typedef void keyd_handler(keyd_conn *c);
static keyd_handler *const handlers[VST_MSG_RESPONSE] = {
#define VST_WIRE_REQUEST(sym, code, name, min_len, max_len, sockets, states, handler)              \
    [VST_MSG_##sym] = handler,
#include "wire/messages.def"
};

void keyd_dispatch(keyd_conn *c)
{
    /* The socket was checked at the header; the state may have changed
     * since (a concurrent unseal), so check both again. */
    unsigned deny = vst_msg_permit(c->sock, keyd_sealed(), c->h.type);
    if (deny == VST_KERR_SEALED)
        return keyd_reply_error(c, deny);
    if (deny != 0)
        return keyd_conn_reject(c, deny, "not_permitted");
    keyd_handler *h = c->h.type < VST_MSG_RESPONSE ? handlers[c->h.type] : NULL;
    if (h == NULL)
        return keyd_conn_reject(c, VST_KERR_BAD_FRAME, "no_handler");
    h(c);
}
