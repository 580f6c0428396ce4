/* Blocking keyd client; see keyd_client.h. */
#include "wire/keyd_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/hex.h"

struct vst_keyd {
    int fd;
};

static int set_timeouts(int fd, unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 &&
                   setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0
               ? 0
               : -1;
}

vst_keyd *vst_keyd_connect_timeout(const char *path, unsigned ms, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(err, errlen, "keyd socket path too long: %s", path);
        return NULL;
    }
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    /* A UNIX-socket connect() to a listener whose queue is full (a stopped
     * keyd) waits, bounded by the send timeout: set it first. */
    if (fd < 0 || (ms > 0 && set_timeouts(fd, ms) != 0) ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        snprintf(err, errlen, "cannot reach vst-keyd at %s: %s", path,
                 errno == EAGAIN ? "no answer within the timeout" : strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    vst_keyd *k = malloc(sizeof *k);
    if (k == NULL) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    k->fd = fd;
    return k;
}

vst_keyd *vst_keyd_connect(const char *path, char *err, size_t errlen)
{
    return vst_keyd_connect_timeout(path, 0, err, errlen);
}

void vst_keyd_close(vst_keyd *k)
{
    if (k == NULL)
        return;
    close(k->fd);
    free(k);
}

int vst_keyd_set_timeout(vst_keyd *k, unsigned ms)
{
    return set_timeouts(k->fd, ms);
}

int vst_keyd_fd(const vst_keyd *k)
{
    return k->fd;
}

const char *vst_keyd_strerror(int rc)
{
    if (rc > 0) {
        const char *n = vst_keyd_err_name((unsigned)rc);
        return n ? n : "unknown keyd error";
    }
    return vst_proto_strerror(rc);
}

int vst_keyd_call(vst_keyd *k, uint8_t type, const void *req, size_t req_len, uint8_t **resp,
                  size_t *resp_len)
{
    vst_frame_hdr h;
    uint8_t *buf = NULL;
    *resp = NULL;
    *resp_len = 0;
    int rc = vst_frame_send(k->fd, type, req, req_len);
    if (rc == 0)
        rc = vst_frame_recv(k->fd, VST_FRAME_MAX, &h, &buf);
    if (rc != 0)
        return rc;
    if (h.type == VST_MSG_ERROR) {
        vst_error_msg e;
        rc = vst_error_decode(buf, h.len, &e);
        vst_frame_free(buf, h.len);
        return rc == 0 ? e.code : rc;
    }
    if (h.type != VST_MSG_RESP(type)) {
        vst_frame_free(buf, h.len);
        return VST_PROTO_E_TYPE;
    }
    *resp = buf;
    *resp_len = h.len;
    return 0;
}

/* Calls with an encoded request and decodes the response with dec. */
static int call_wr(vst_keyd *k, uint8_t type, vst_wr *w, uint8_t **resp, size_t *len)
{
    int rc = vst_keyd_call(k, type, vst_wr_data(w), vst_wr_len(w), resp, len);
    vst_wr_free(w);
    return rc;
}

int vst_keyd_status(vst_keyd *k, vst_status_ok *out, uint8_t **buf, size_t *len)
{
    int rc = vst_keyd_call(k, VST_MSG_STATUS, NULL, 0, buf, len);
    if (rc == 0 && (rc = vst_status_ok_decode(*buf, *len, out)) != 0) {
        vst_frame_free(*buf, *len);
        *buf = NULL;
    }
    return rc;
}

int vst_keyd_unseal(vst_keyd *k, const vst_unseal_req *rq, vst_unseal_ok *out)
{
    vst_wr w = VST_WR_INIT;
    uint8_t *buf;
    size_t len;
    int rc = vst_unseal_req_encode(&w, rq);
    if (rc != 0)
        return rc;
    if ((rc = call_wr(k, VST_MSG_UNSEAL, &w, &buf, &len)) != 0)
        return rc;
    rc = vst_unseal_ok_decode(buf, len, out);
    vst_frame_free(buf, len);
    return rc;
}

int vst_keyd_pubkey(vst_keyd *k, uint8_t pub[VST_ED25519_PUB_LEN])
{
    uint8_t *buf;
    size_t len;
    vst_pubkey_ok m;
    int rc = vst_keyd_call(k, VST_MSG_PUBKEY, NULL, 0, &buf, &len);
    if (rc != 0)
        return rc;
    if ((rc = vst_pubkey_ok_decode(buf, len, &m)) == 0)
        memcpy(pub, m.key, VST_ED25519_PUB_LEN);
    vst_frame_free(buf, len);
    return rc;
}

int vst_keyd_rotate(vst_keyd *k, uint32_t *new_version)
{
    uint8_t *buf;
    size_t len;
    vst_keyver_msg m;
    int rc = vst_keyd_call(k, VST_MSG_ROTATE, NULL, 0, &buf, &len);
    if (rc != 0)
        return rc;
    if ((rc = vst_keyver_decode(buf, len, &m)) == 0)
        *new_version = m.version;
    vst_frame_free(buf, len);
    return rc;
}

int vst_keyd_retire(vst_keyd *k, uint32_t version)
{
    vst_wr w = VST_WR_INIT;
    vst_keyver_msg m = {version};
    uint8_t *buf;
    size_t len;
    int rc = vst_keyver_encode(&w, &m);
    if (rc != 0)
        return rc;
    if ((rc = call_wr(k, VST_MSG_RETIRE, &w, &buf, &len)) != 0)
        return rc;
    rc = vst_keyver_decode(buf, len, &m);
    vst_frame_free(buf, len);
    return rc == 0 && m.version != version ? VST_PROTO_E_RANGE : rc;
}

/* Copies each section's pseudonyms to out and, if withheld is given,
 * marks the withheld identifiers there (request order across sections). */
static int pseud_copy(const vst_pseud_ok *rs, uint8_t *out, size_t out_cap, uint8_t *withheld)
{
    size_t off = 0, at = 0;
    for (size_t s = 0; s < rs->nsections; s++) {
        const vst_pseud_out *o = &rs->sec[s];
        size_t n = (size_t)o->count * VST_PSEUDONYM_LEN;
        if (out_cap - off < n || (withheld == NULL && o->nwithheld > 0))
            return VST_PROTO_E_ARG;
        memcpy(out + off, o->pseudonyms, n);
        if (withheld != NULL) {
            memset(withheld + at, 0, o->count);
            for (uint32_t j = 0; j < o->nwithheld; j++)
                withheld[at + vst_pseud_withheld_at(o, j)] = 1;
        }
        off += n;
        at += o->count;
    }
    return 0;
}

int vst_keyd_pseudonymize_withheld(vst_keyd *k, const vst_pseud_req *rq, uint32_t *key_version,
                                   uint8_t *out, size_t out_cap, uint8_t *withheld)
{
    vst_wr w = VST_WR_INIT;
    uint8_t *buf;
    size_t len;
    vst_pseud_ok rs;
    int rc = vst_pseud_req_encode(&w, rq);
    if (rc != 0)
        return rc;
    if ((rc = call_wr(k, VST_MSG_PSEUDONYMIZE, &w, &buf, &len)) != 0)
        return rc;
    rc = vst_pseud_ok_decode(buf, len, &rs);
    if (rc == 0 && !vst_pseud_ok_matches(rq, &rs))
        rc = VST_PROTO_E_RANGE;
    if (rc == 0)
        rc = pseud_copy(&rs, out, out_cap, withheld);
    if (rc == 0)
        *key_version = rs.key_version;
    vst_frame_free(buf, len);
    return rc;
}

int vst_keyd_pseudonymize(vst_keyd *k, const vst_pseud_req *rq, uint32_t *key_version, uint8_t *out,
                          size_t out_cap)
{
    return vst_keyd_pseudonymize_withheld(k, rq, key_version, out, out_cap, NULL);
}

int vst_keyd_rekey(vst_keyd *k, uint32_t from, uint32_t to, uint8_t *pbuf, uint32_t n)
{
    vst_wr w = VST_WR_INIT;
    vst_rekey_req rq = {from, to, n, pbuf};
    vst_rekey_ok rs;
    uint8_t *buf;
    size_t len;
    int rc = vst_rekey_req_encode(&w, &rq);
    if (rc != 0)
        return rc;
    if ((rc = call_wr(k, VST_MSG_REKEY, &w, &buf, &len)) != 0)
        return rc;
    rc = vst_rekey_ok_decode(buf, len, &rs);
    if (rc == 0 && rs.count != n)
        rc = VST_PROTO_E_RANGE;
    if (rc == 0)
        memcpy(pbuf, rs.pseudonyms, (size_t)n * VST_PSEUDONYM_LEN);
    vst_frame_free(buf, len);
    return rc;
}

static int signature(vst_keyd *k, uint8_t type, vst_wr *w, uint8_t sig[VST_ED25519_SIG_LEN])
{
    uint8_t *buf;
    size_t len;
    vst_sig_ok m;
    int rc = call_wr(k, type, w, &buf, &len);
    if (rc != 0)
        return rc;
    if ((rc = vst_sig_ok_decode(buf, len, &m)) == 0)
        memcpy(sig, m.sig, VST_ED25519_SIG_LEN);
    vst_frame_free(buf, len);
    return rc;
}

int vst_keyd_sign_receipt(vst_keyd *k, const vst_receipt_fields *f,
                          uint8_t sig[VST_ED25519_SIG_LEN])
{
    vst_wr w = VST_WR_INIT;
    int rc = vst_receipt_req_encode(&w, f);
    return rc != 0 ? rc : signature(k, VST_MSG_SIGN_RECEIPT, &w, sig);
}

int vst_keyd_sign_receipts(vst_keyd *k, const vst_receipt_fields *f, size_t n,
                           uint8_t (*sigs)[VST_ED25519_SIG_LEN])
{
    vst_wr w = VST_WR_INIT;
    uint8_t *buf;
    size_t len;
    vst_sigs_ok m;
    if (sigs == NULL)
        return VST_PROTO_E_ARG;
    int rc = vst_receipts_req_encode(&w, f, n);
    if (rc != 0) {
        vst_wr_free(&w); /* the receipts before a refused one */
        return rc;
    }
    if ((rc = call_wr(k, VST_MSG_SIGN_RECEIPTS, &w, &buf, &len)) != 0)
        return rc;
    rc = vst_sigs_ok_decode(buf, len, &m);
    if (rc == 0 && m.count != n)
        rc = VST_PROTO_E_RANGE;
    if (rc == 0)
        memcpy(sigs, m.sigs, n * VST_ED25519_SIG_LEN);
    vst_frame_free(buf, len);
    return rc;
}

int vst_keyd_sign_checkpoint(vst_keyd *k, uint64_t seq, const uint8_t head[VST_SHA256_LEN],
                             int64_t time_us, uint8_t sig[VST_ED25519_SIG_LEN])
{
    vst_wr w = VST_WR_INIT;
    vst_checkpoint_req rq = {.seq = seq, .time_us = time_us};
    memcpy(rq.head, head, VST_SHA256_LEN);
    int rc = vst_checkpoint_req_encode(&w, &rq);
    return rc != 0 ? rc : signature(k, VST_MSG_SIGN_CHECKPOINT, &w, sig);
}

int vst_keyd_sign_report(vst_keyd *k, uint8_t kind, const uint8_t digest[VST_SHA256_LEN],
                         uint8_t sig[VST_ED25519_SIG_LEN])
{
    vst_wr w = VST_WR_INIT;
    vst_report_req rq = {.kind = kind};
    memcpy(rq.digest, digest, VST_SHA256_LEN);
    int rc = vst_report_req_encode(&w, &rq);
    return rc != 0 ? rc : signature(k, VST_MSG_SIGN_REPORT, &w, sig);
}

int vst_keyd_release_open(vst_keyd *k, uint8_t id[VST_RELEASE_ID_LEN])
{
    uint8_t *buf;
    size_t len;
    vst_release_open_ok m;
    int rc = vst_keyd_call(k, VST_MSG_RELEASE_OPEN, NULL, 0, &buf, &len);
    if (rc != 0)
        return rc;
    if ((rc = vst_release_open_ok_decode(buf, len, &m)) == 0)
        memcpy(id, m.id, VST_RELEASE_ID_LEN);
    vst_frame_free(buf, len);
    return rc;
}

int vst_keyd_release_map_excluded(vst_keyd *k, uint32_t from_version, const uint8_t *in, uint32_t n,
                                  uint8_t *out, uint8_t *excluded)
{
    vst_wr w = VST_WR_INIT;
    vst_release_map_req rq = {from_version, n, in};
    vst_release_map_ok rs;
    uint8_t *buf;
    size_t len;
    int rc = vst_release_map_req_encode(&w, &rq);
    if (rc != 0)
        return rc;
    if ((rc = call_wr(k, VST_MSG_RELEASE_MAP, &w, &buf, &len)) != 0)
        return rc;
    rc = vst_release_map_ok_decode(buf, len, &rs);
    if (rc == 0 && rs.count != n)
        rc = VST_PROTO_E_RANGE;
    if (rc == 0 && excluded == NULL && rs.nexcluded > 0)
        rc = VST_PROTO_E_ARG;
    if (rc == 0) {
        memcpy(out, rs.pseudonyms, (size_t)n * VST_PSEUDONYM_LEN);
        if (excluded != NULL) {
            memset(excluded, 0, n);
            for (uint32_t j = 0; j < rs.nexcluded; j++)
                excluded[vst_index_at(rs.excluded, j)] = 1;
        }
    }
    vst_frame_free(buf, len);
    return rc;
}

int vst_keyd_release_map(vst_keyd *k, uint32_t from_version, const uint8_t *in, uint32_t n,
                         uint8_t *out)
{
    return vst_keyd_release_map_excluded(k, from_version, in, n, out, NULL);
}

void vst_case_answer_free(vst_case_answer *out)
{
    if (out->v != NULL) {
        OPENSSL_cleanse(out->v, out->n * sizeof *out->v);
        free(out->v);
    }
    memset(out, 0, sizeof *out);
}

/* A decoded DISCLOSE or OBJECT answer into out. */
static int case_answer(const vst_case_ok *m, vst_case_answer *out)
{
    memset(out, 0, sizeof *out);
    out->v = calloc(m->n, sizeof *out->v);
    if (out->v == NULL)
        return VST_PROTO_E_NOMEM;
    memcpy(out->case_id, m->case_id, VST_CASE_ID_LEN);
    vst_hex(m->case_id, VST_CASE_ID_LEN, out->case_hex);
    out->existed = m->existed;
    out->n = m->n;
    for (uint16_t i = 0; i < m->n; i++) {
        vst_case_entry e;
        vst_case_ok_at(m, i, &e);
        out->v[i].version = e.version;
        memcpy(out->v[i].p, e.p, VST_PSEUDONYM_LEN);
        if (e.p_star != NULL)
            memcpy(out->v[i].p_star, e.p_star, VST_PSEUDONYM_LEN);
    }
    return 0;
}

/* Sends an encoded DISCLOSE or OBJECT and decodes its answer into out. */
static int case_call(vst_keyd *k, uint8_t type, vst_wr *w, vst_case_answer *out)
{
    uint8_t *buf;
    size_t len;
    vst_case_ok m;
    memset(out, 0, sizeof *out);
    int rc = call_wr(k, type, w, &buf, &len);
    if (rc != 0)
        return rc;
    rc = type == VST_MSG_DISCLOSE ? vst_disclose_ok_decode(buf, len, &m)
                                  : vst_object_ok_decode(buf, len, &m);
    if (rc == 0)
        rc = case_answer(&m, out);
    vst_frame_free(buf, len);
    return rc;
}

int vst_keyd_disclose(vst_keyd *k, const char *domain, uint32_t version,
                      const uint8_t p[VST_PSEUDONYM_LEN], vst_case_answer *out)
{
    vst_wr w = VST_WR_INIT;
    vst_disclose_req rq = {.key_version = version};
    memset(out, 0, sizeof *out);
    if (domain == NULL || p == NULL || strlen(domain) > VST_DOMAIN_MAXLEN)
        return VST_PROTO_E_ARG;
    strcpy(rq.domain, domain);
    memcpy(rq.pseudonym, p, VST_PSEUDONYM_LEN);
    int rc = vst_disclose_req_encode(&w, &rq);
    OPENSSL_cleanse(rq.pseudonym, sizeof rq.pseudonym);
    return rc != 0 ? rc : case_call(k, VST_MSG_DISCLOSE, &w, out);
}

int vst_keyd_object(vst_keyd *k, const char *domain, const uint8_t *id, uint8_t id_len,
                    vst_case_answer *out)
{
    vst_wr w = VST_WR_INIT;
    vst_object_req rq = {.id_len = id_len, .id = id};
    memset(out, 0, sizeof *out);
    if (domain == NULL || strlen(domain) > VST_DOMAIN_MAXLEN)
        return VST_PROTO_E_ARG;
    strcpy(rq.domain, domain);
    int rc = vst_object_req_encode(&w, &rq);
    return rc != 0 ? rc : case_call(k, VST_MSG_OBJECT, &w, out);
}

int vst_keyd_events(vst_keyd *k, uint64_t after, uint16_t max, vst_events_ok *out, uint8_t **buf,
                    size_t *len)
{
    vst_wr w = VST_WR_INIT;
    vst_events_req rq = {after, max};
    int rc = vst_events_req_encode(&w, &rq);
    if (rc != 0)
        return rc;
    if ((rc = call_wr(k, VST_MSG_EVENTS, &w, buf, len)) != 0)
        return rc;
    if ((rc = vst_events_ok_decode(*buf, *len, out)) != 0) {
        vst_frame_free(*buf, *len);
        *buf = NULL;
    }
    return rc;
}

/* ---- linkage */

int vst_keyd_cv_derive(vst_keyd *k, const char *domain, const char *collection,
                       const vst_person *persons, uint32_t n, uint32_t *key_version, uint8_t *out,
                       size_t out_cap)
{
    vst_wr w = VST_WR_INIT;
    vst_cv_ok rs;
    uint8_t *buf;
    size_t len;
    if (out == NULL || out_cap / VST_CV_RECORD_LEN < n)
        return VST_PROTO_E_ARG;
    int rc = vst_cv_req_encode(&w, domain, collection, persons, n);
    if (rc != 0) {
        vst_wr_free(&w);
        return rc;
    }
    if ((rc = call_wr(k, VST_MSG_CV_DERIVE, &w, &buf, &len)) != 0)
        return rc;
    rc = vst_cv_ok_decode(buf, len, &rs);
    if (rc == 0 && rs.count != n)
        rc = VST_PROTO_E_RANGE;
    if (rc == 0) {
        memcpy(out, rs.values, (size_t)n * VST_CV_RECORD_LEN);
        *key_version = rs.key_version;
    }
    vst_frame_free(buf, len);
    return rc;
}

int vst_keyd_cv_rekey(vst_keyd *k, const char *collection, uint32_t from, uint32_t to,
                      uint8_t *pbuf, uint32_t n)
{
    vst_wr w = VST_WR_INIT;
    vst_cv_rekey_req rq = {.from_version = from, .to_version = to, .count = n, .values = pbuf};
    vst_cv_rekey_ok rs;
    uint8_t *buf;
    size_t len;
    if (collection == NULL || strlen(collection) > VST_COLLECTION_MAXLEN)
        return VST_PROTO_E_ARG;
    strcpy(rq.collection, collection);
    int rc = vst_cv_rekey_req_encode(&w, &rq);
    if (rc != 0)
        return rc;
    if ((rc = call_wr(k, VST_MSG_CV_REKEY, &w, &buf, &len)) != 0)
        return rc;
    rc = vst_cv_rekey_ok_decode(buf, len, &rs);
    if (rc == 0 && rs.count != n)
        rc = VST_PROTO_E_RANGE;
    if (rc == 0)
        memcpy(pbuf, rs.values, (size_t)n * VST_CV_RECORD_LEN);
    vst_frame_free(buf, len);
    return rc;
}

int vst_keyd_overlap_open(vst_keyd *k, const vst_overlap_open_req *rq, uint32_t *budget_left)
{
    vst_wr w = VST_WR_INIT;
    vst_overlap_open_ok rs;
    uint8_t *buf;
    size_t len;
    int rc = vst_overlap_open_req_encode(&w, rq);
    if (rc != 0)
        return rc;
    if ((rc = call_wr(k, VST_MSG_OVERLAP_OPEN, &w, &buf, &len)) != 0)
        return rc;
    if ((rc = vst_overlap_open_ok_decode(buf, len, &rs)) == 0 && budget_left != NULL)
        *budget_left = rs.budget_left;
    vst_frame_free(buf, len);
    return rc;
}

int vst_keyd_overlap_feed(vst_keyd *k, uint8_t side, uint32_t key_version, const uint8_t *values,
                          uint32_t n, uint64_t *held)
{
    vst_wr w = VST_WR_INIT;
    vst_overlap_feed_req rq = {side, key_version, n, values};
    vst_overlap_feed_ok rs;
    uint8_t *buf;
    size_t len;
    int rc = vst_overlap_feed_req_encode(&w, &rq);
    if (rc != 0)
        return rc;
    if ((rc = call_wr(k, VST_MSG_OVERLAP_FEED, &w, &buf, &len)) != 0)
        return rc;
    if ((rc = vst_overlap_feed_ok_decode(buf, len, &rs)) == 0 && held != NULL)
        *held = rs.held;
    vst_frame_free(buf, len);
    return rc;
}

int vst_keyd_overlap_run(vst_keyd *k, vst_overlap_result *out)
{
    uint8_t *buf;
    size_t len;
    int rc = vst_keyd_call(k, VST_MSG_OVERLAP_RUN, NULL, 0, &buf, &len);
    if (rc != 0)
        return rc;
    rc = vst_overlap_result_decode(buf, len, out);
    vst_frame_free(buf, len);
    return rc;
}

int vst_keyd_overlap_sign(vst_keyd *k, uint64_t audit_seq, uint8_t sig[VST_ED25519_SIG_LEN])
{
    vst_wr w = VST_WR_INIT;
    int rc = vst_overlap_sign_req_encode(&w, audit_seq);
    return rc != 0 ? rc : signature(k, VST_MSG_OVERLAP_SIGN, &w, sig);
}
