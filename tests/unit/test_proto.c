/* keyd wire protocol (server/wire/: message table, frames, codecs), its
 * codes in the error registry (server/core/vst_error.def) and the signed
 * structures (server/core/signed.c): round trips of every message,
 * rejection of every truncation, extension and out-of-range field, the
 * permission table, vst-httpd's answer to every keyd result, the blocking
 * frame I/O, and the separation of receipt, checkpoint, usage and report
 * signatures.
 * Decoders are always run on an exactly sized heap copy so that ASan
 * reports any read past the payload. */
#include "cunit_main.h"

#include <errno.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/signed.h"
#include "core/usage.h"
#include "wire/proto.h"
#include "keystore.h"
#include "test_person.h"

/* The protocol carries the keystore's numbers and sizes unchanged. */
_Static_assert(VST_KEYSTORE_ID_LEN == VST_KS_ID_LEN, "keystore id");
_Static_assert(VST_ED25519_PUB_LEN == VST_ED25519_LEN && VST_SHARE_LEN == VST_KEY_LEN, "sizes");

/* Every type in the protocol: requests, responses, error. */
static const uint8_t all_types[] = {
    VST_MSG_STATUS,
    VST_MSG_UNSEAL,
    VST_MSG_PUBKEY,
    VST_MSG_PSEUDONYMIZE,
    VST_MSG_REKEY,
    VST_MSG_ROTATE,
    VST_MSG_RETIRE,
    VST_MSG_RELEASE_OPEN,
    VST_MSG_RELEASE_MAP,
    VST_MSG_DISCLOSE,
    VST_MSG_OBJECT,
    VST_MSG_CV_DERIVE,
    VST_MSG_CV_REKEY,
    VST_MSG_OVERLAP_OPEN,
    VST_MSG_OVERLAP_FEED,
    VST_MSG_OVERLAP_RUN,
    VST_MSG_OVERLAP_SIGN,
    VST_MSG_SIGN_RECEIPT,
    VST_MSG_SIGN_CHECKPOINT,
    VST_MSG_SIGN_REPORT,
    VST_MSG_SIGN_RECEIPTS,
    VST_MSG_EVENTS,
    VST_MSG_RESP(VST_MSG_STATUS),
    VST_MSG_RESP(VST_MSG_UNSEAL),
    VST_MSG_RESP(VST_MSG_PUBKEY),
    VST_MSG_RESP(VST_MSG_PSEUDONYMIZE),
    VST_MSG_RESP(VST_MSG_REKEY),
    VST_MSG_RESP(VST_MSG_ROTATE),
    VST_MSG_RESP(VST_MSG_RETIRE),
    VST_MSG_RESP(VST_MSG_RELEASE_OPEN),
    VST_MSG_RESP(VST_MSG_RELEASE_MAP),
    VST_MSG_RESP(VST_MSG_DISCLOSE),
    VST_MSG_RESP(VST_MSG_OBJECT),
    VST_MSG_RESP(VST_MSG_CV_DERIVE),
    VST_MSG_RESP(VST_MSG_CV_REKEY),
    VST_MSG_RESP(VST_MSG_OVERLAP_OPEN),
    VST_MSG_RESP(VST_MSG_OVERLAP_FEED),
    VST_MSG_RESP(VST_MSG_OVERLAP_RUN),
    VST_MSG_RESP(VST_MSG_OVERLAP_SIGN),
    VST_MSG_RESP(VST_MSG_SIGN_RECEIPT),
    VST_MSG_RESP(VST_MSG_SIGN_CHECKPOINT),
    VST_MSG_RESP(VST_MSG_SIGN_REPORT),
    VST_MSG_RESP(VST_MSG_SIGN_RECEIPTS),
    VST_MSG_RESP(VST_MSG_EVENTS),
    VST_MSG_ERROR,
};
#define NTYPES (sizeof all_types / sizeof all_types[0])

static const char kvnrs[] = "A123456780B987654328C000000017";
static const char lanrs[] = "123456601987654302";
static uint8_t blocks[3 * VST_PSEUDONYM_LEN];
static uint8_t cv_records[2 * VST_CV_RECORD_LEN];
static uint8_t sig3[3 * VST_ED25519_SIG_LEN];

/* A normalized person: given tokens, family tokens, birth tokens
 * (space-separated, "" for none), date, sex. */
/* A CV_DERIVE request of two persons, into w. */
static void sample_cv_req(vst_wr *w)
{
    vst_person p[2];
    mkperson(&p[0], "MIA SOPHIE", "MUELLER LUEDENSCHEIDT", "SCHMIDT", "20190304", 'W');
    mkperson(&p[1], "NOAH", "OEZTUERK", "", "20181231", 'M');
    CU_ASSERT_FATAL(vst_cv_req_encode(w, "ph/child", "measles_case", p, 2) == 0);
}

static void wr_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8),
    p[3] = (uint8_t)v;
}
static const uint8_t share[VST_SHARE_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

static void fill_receipt(vst_receipt_fields *r)
{
    memset(r, 0, sizeof *r);
    strcpy(r->delivery_id, "2024Q1-AOK.part_1");
    strcpy(r->client, "AOK Nordost (IK 109519005)");
    strcpy(r->profile, "sgb5");
    r->record_count = 123456;
    for (size_t i = 0; i < sizeof r->body_sha256; i++)
        r->body_sha256[i] = (uint8_t)(0xa0 + i);
    r->key_version = 3;
    r->received_at_us = 1717000000000000;
    r->stored_at_us = 1717000000123456;
    r->audit_seq = 4711;
    r->withheld_count = 7;
    r->version = VST_RECEIPT_V2;
}

/* Three receipts that differ in every field's length or value (the
 * second with the longest strings there are). */
static void fill_receipts(vst_receipt_fields r[3])
{
    fill_receipt(&r[0]);
    fill_receipt(&r[1]);
    memset(r[1].delivery_id, 'd', VST_DELIVERY_ID_MAX), r[1].delivery_id[VST_DELIVERY_ID_MAX] = 0;
    memset(r[1].client, 'c', VST_CLIENT_NAME_MAX), r[1].client[VST_CLIENT_NAME_MAX] = 0;
    memset(r[1].profile, 'p', VST_PROFILE_NAME_MAX), r[1].profile[VST_PROFILE_NAME_MAX] = 0;
    r[1].audit_seq = 4712;
    fill_receipt(&r[2]);
    strcpy(r[2].delivery_id, "x");
    strcpy(r[2].client, "K");
    strcpy(r[2].profile, "p");
    r[2].withheld_count = 0;
    r[2].key_version = 1;
}

static void sample_receipts_req(vst_wr *w)
{
    vst_receipt_fields r[3];
    fill_receipts(r);
    CU_ASSERT_FATAL(vst_receipts_req_encode(w, r, 3) == 0);
}

static void fill_pseud_req(vst_pseud_req *m)
{
    memset(m, 0, sizeof *m);
    m->nsections = 2;
    strcpy(m->sec[0].domain, "sgb5/insured");
    m->sec[0].id_len = 10;
    m->sec[0].count = 3;
    m->sec[0].ids = (const uint8_t *)kvnrs;
    strcpy(m->sec[1].domain, "sgb5/lanr");
    m->sec[1].id_len = 9;
    m->sec[1].count = 2;
    m->sec[1].ids = (const uint8_t *)lanrs;
}

static void sample_status(vst_wr *w)
{
    vst_status_ok m = {.sealed = 0, .dev_master = 1, .shares_have = 2, .shares_need = 3};
    m.current_version = 2;
    m.minute_used = 10, m.minute_limit = 100000, m.day_used = 20, m.day_limit = 10000000;
    memset(m.signing_pubkey, 0x5a, sizeof m.signing_pubkey);
    vst_list_builder b;
    vst_version_info v1 = {1, VST_KEY_ACTIVE}, v2 = {2, VST_KEY_CURRENT};
    CU_ASSERT_FATAL(vst_status_ok_begin(&b, w, &m) == 0);
    CU_ASSERT_FATAL(vst_status_ok_add(&b, &v1) == 0);
    CU_ASSERT_FATAL(vst_status_ok_add(&b, &v2) == 0);
}

static vst_event mkevent(uint64_t seq, const char *action, const char *details)
{
    vst_event ev = {seq,
                    1717000000000000 + (int64_t)seq,
                    998,
                    action,
                    strlen(action),
                    details,
                    strlen(details)};
    return ev;
}

static void sample_events(vst_wr *w)
{
    vst_list_builder b;
    vst_event e1 = mkevent(7, "keyd.unseal", "{\"have\":3,\"need\":3}");
    vst_event e2 = mkevent(8, "budget_alarm", "{\"window\":\"minute\",\"used\":100001}");
    CU_ASSERT_FATAL(vst_events_ok_begin(&b, w) == 0);
    CU_ASSERT_FATAL(vst_events_ok_add(&b, &e1) == 0);
    CU_ASSERT_FATAL(vst_events_ok_add(&b, &e2) == 0);
}

/* A DISCLOSE or OBJECT answer: case 0xc0.., existed, versions 2 and 5. */
static void sample_case_ok(uint8_t type, vst_wr *w)
{
    vst_case_ok m = {.existed = 1, .with_star = type == VST_MSG_RESP(VST_MSG_DISCLOSE)};
    for (int i = 0; i < VST_CASE_ID_LEN; i++)
        m.case_id[i] = (uint8_t)(0xc0 + i);
    vst_list_builder b;
    vst_case_entry e2 = {2, blocks, m.with_star ? blocks + 16 : NULL};
    vst_case_entry e5 = {5, blocks + 16, m.with_star ? blocks + 32 : NULL};
    CU_ASSERT_FATAL(vst_case_ok_begin(&b, w, &m) == 0);
    CU_ASSERT_FATAL(vst_case_ok_add(&b, &m, &e2) == 0);
    CU_ASSERT_FATAL(vst_case_ok_add(&b, &m, &e5) == 0);
}

/* A valid payload of the given type, written to w. */
static void sample(uint8_t type, vst_wr *w)
{
    vst_msg m;
    memset(&m, 0, sizeof m);
    switch (type) {
    case VST_MSG_UNSEAL:
        m.unseal_req.index = 2;
        memset(m.unseal_req.keystore_id, 0x11, VST_KEYSTORE_ID_LEN);
        m.unseal_req.share = share;
        break;
    case VST_MSG_PSEUDONYMIZE:
        fill_pseud_req(&m.pseud_req);
        break;
    case VST_MSG_REKEY:
        m.rekey_req = (vst_rekey_req){1, 2, 3, blocks};
        break;
    case VST_MSG_RETIRE:
    case VST_MSG_RESP(VST_MSG_ROTATE):
    case VST_MSG_RESP(VST_MSG_RETIRE):
        m.keyver.version = 7;
        break;
    case VST_MSG_SIGN_RECEIPT:
        fill_receipt(&m.receipt_req);
        break;
    case VST_MSG_SIGN_RECEIPTS:
        sample_receipts_req(w);
        return;
    case VST_MSG_RESP(VST_MSG_SIGN_RECEIPTS):
        m.sigs_ok = (vst_sigs_ok){3, sig3};
        break;
    case VST_MSG_SIGN_CHECKPOINT:
        m.checkpoint_req.seq = 99;
        memset(m.checkpoint_req.head, 0xcc, sizeof m.checkpoint_req.head);
        m.checkpoint_req.time_us = -5; /* before 1970 is representable */
        break;
    case VST_MSG_EVENTS:
        m.events_req = (vst_events_req){41, 500};
        break;
    case VST_MSG_RELEASE_MAP:
        m.release_map_req = (vst_release_map_req){2, 3, blocks};
        break;
    case VST_MSG_SIGN_REPORT:
        m.report_req.kind = VST_REPORT_KIND_CELLS;
        memset(m.report_req.digest, 0xd1, sizeof m.report_req.digest);
        break;
    case VST_MSG_RESP(VST_MSG_RELEASE_OPEN):
        memset(m.release_open_ok.id, 0x5e, sizeof m.release_open_ok.id);
        break;
    case VST_MSG_RESP(VST_MSG_RELEASE_MAP):
        m.release_map_ok = (vst_release_map_ok){3, blocks, 2, (const uint8_t *)"\0\0\0\0\0\0\0\2"};
        break;
    case VST_MSG_DISCLOSE:
        strcpy(m.disclose_req.domain, "sgb5/insured");
        m.disclose_req.key_version = 3;
        memset(m.disclose_req.pseudonym, 0xd5, VST_PSEUDONYM_LEN);
        break;
    case VST_MSG_OBJECT:
        m.object_req = (vst_object_req){"sgb5/insured", 10, (const uint8_t *)kvnrs};
        break;
    case VST_MSG_RESP(VST_MSG_DISCLOSE):
    case VST_MSG_RESP(VST_MSG_OBJECT):
        sample_case_ok(type, w);
        return;
    case VST_MSG_CV_DERIVE:
        sample_cv_req(w);
        return;
    case VST_MSG_RESP(VST_MSG_CV_DERIVE):
        m.cv_ok = (vst_cv_ok){3, 2, cv_records};
        break;
    case VST_MSG_CV_REKEY:
        m.cv_rekey_req = (vst_cv_rekey_req){"school_entry", 1, 2, 2, cv_records};
        break;
    case VST_MSG_RESP(VST_MSG_CV_REKEY):
        m.cv_rekey_ok = (vst_cv_rekey_ok){2, cv_records};
        break;
    case VST_MSG_OVERLAP_OPEN:
        m.overlap_open_req = (vst_overlap_open_req){
            "ph/child", "measles_case", "district=06412", "school_entry", "", 5};
        break;
    case VST_MSG_RESP(VST_MSG_OVERLAP_OPEN):
        m.overlap_open_ok.budget_left = 9;
        break;
    case VST_MSG_OVERLAP_FEED:
        m.overlap_feed_req = (vst_overlap_feed_req){1, 4, 2, cv_records};
        break;
    case VST_MSG_RESP(VST_MSG_OVERLAP_FEED):
        m.overlap_feed_ok.held = 123456789;
        break;
    case VST_MSG_RESP(VST_MSG_OVERLAP_RUN):
        m.overlap_result = (vst_overlap_result){1000, 800, 0, 60, 5, {40, 10, 4, 3, 2, 1}, 0};
        break;
    case VST_MSG_OVERLAP_SIGN:
        m.overlap_sign_seq = 4242;
        break;
    case VST_MSG_RESP(VST_MSG_STATUS):
        sample_status(w);
        return;
    case VST_MSG_RESP(VST_MSG_UNSEAL):
        m.unseal_ok = (vst_unseal_ok){0, 2, 3};
        break;
    case VST_MSG_RESP(VST_MSG_PUBKEY):
        memset(m.pubkey_ok.key, 0x33, 32);
        break;
    case VST_MSG_RESP(VST_MSG_PSEUDONYMIZE):
        m.pseud_ok.key_version = 2;
        m.pseud_ok.nsections = 2;
        m.pseud_ok.sec[0] = (vst_pseud_out){2, blocks, 0, NULL};
        m.pseud_ok.sec[1] = (vst_pseud_out){1, blocks + 32, 1, (const uint8_t *)"\0\0\0\0"};
        break;
    case VST_MSG_RESP(VST_MSG_REKEY):
        m.rekey_ok = (vst_rekey_ok){3, blocks};
        break;
    case VST_MSG_RESP(VST_MSG_SIGN_RECEIPT):
    case VST_MSG_RESP(VST_MSG_SIGN_CHECKPOINT):
    case VST_MSG_RESP(VST_MSG_SIGN_REPORT):
    case VST_MSG_RESP(VST_MSG_OVERLAP_SIGN):
        memset(m.sig_ok.sig, 0x44, 64);
        break;
    case VST_MSG_RESP(VST_MSG_EVENTS):
        sample_events(w);
        return;
    case VST_MSG_ERROR:
        m.error.code = VST_KERR_SEALED;
        break;
    default:
        break;
    }
    CU_ASSERT_FATAL(vst_msg_encode(w, type, &m) == 0);
}

/* Decodes p[0..len) from an exactly sized heap copy. */
static int decode_copy(uint8_t type, const uint8_t *p, size_t len, vst_msg *m)
{
    uint8_t *c = malloc(len > 0 ? len : 1);
    CU_ASSERT_FATAL(c != NULL);
    if (len > 0)
        memcpy(c, p, len);
    int rc = vst_msg_decode(type, c, len, m);
    free(c);
    return rc;
}

/* decode -> encode gives the same bytes; the header accepts the length. */
static void check_roundtrip(uint8_t type, const uint8_t *p, size_t len)
{
    vst_msg m;
    vst_wr w = VST_WR_INIT;
    uint8_t hdr[VST_FRAME_HDR_LEN];
    vst_frame_hdr h;
    CU_ASSERT_FATAL(vst_msg_decode(type, p, len, &m) == 0);
    CU_ASSERT_FATAL(vst_msg_encode(&w, type, &m) == 0);
    CU_ASSERT(vst_wr_len(&w) == len && memcmp(vst_wr_data(&w), p, len) == 0);
    CU_ASSERT(vst_frame_hdr_encode(type, (uint32_t)len, hdr) == 0);
    CU_ASSERT(vst_frame_hdr_decode(hdr, VST_FRAME_MAX, &h) == 0);
    CU_ASSERT(h.type == type && h.len == len && h.version == 1);
    vst_wr_free(&w);
}

static void test_roundtrip_every_type(void)
{
    for (size_t i = 0; i < NTYPES; i++) {
        vst_wr w = VST_WR_INIT;
        sample(all_types[i], &w);
        check_roundtrip(all_types[i], vst_wr_data(&w), vst_wr_len(&w));
        vst_wr_free(&w);
    }
}

static void test_roundtrip_fields(void)
{
    vst_wr w = VST_WR_INIT;
    vst_msg m;
    sample(VST_MSG_PSEUDONYMIZE, &w);
    CU_ASSERT_FATAL(vst_msg_decode(VST_MSG_PSEUDONYMIZE, vst_wr_data(&w), vst_wr_len(&w), &m) == 0);
    CU_ASSERT(m.pseud_req.nsections == 2);
    CU_ASSERT(strcmp(m.pseud_req.sec[0].domain, "sgb5/insured") == 0);
    CU_ASSERT(m.pseud_req.sec[0].count == 3 && m.pseud_req.sec[0].id_len == 10);
    CU_ASSERT(memcmp(m.pseud_req.sec[0].ids, "A123456780", 10) == 0);
    CU_ASSERT(memcmp(m.pseud_req.sec[1].ids + 9, "987654302", 9) == 0);
    /* zero copy: the identifiers point into the payload */
    CU_ASSERT(m.pseud_req.sec[0].ids >= vst_wr_data(&w) &&
              m.pseud_req.sec[0].ids < vst_wr_data(&w) + vst_wr_len(&w));
    CU_ASSERT(vst_pseud_req_total(&m.pseud_req) == 5);
    CU_ASSERT(vst_wr_len(&w) == 2 + (1 + 12 + 1 + 4 + 30) + (1 + 9 + 1 + 4 + 18));
    vst_wr_free(&w);

    vst_receipt_fields want, *got = &m.receipt_req;
    fill_receipt(&want);
    sample(VST_MSG_SIGN_RECEIPT, &w);
    CU_ASSERT_FATAL(vst_msg_decode(VST_MSG_SIGN_RECEIPT, vst_wr_data(&w), vst_wr_len(&w), &m) == 0);
    CU_ASSERT(strcmp(got->client, want.client) == 0 && strcmp(got->profile, "sgb5") == 0);
    CU_ASSERT(got->received_at_us == want.received_at_us && got->audit_seq == 4711);
    CU_ASSERT(memcmp(got->body_sha256, want.body_sha256, 32) == 0);
    vst_wr_free(&w);

    sample(VST_MSG_SIGN_CHECKPOINT, &w);
    CU_ASSERT_FATAL(vst_msg_decode(VST_MSG_SIGN_CHECKPOINT, vst_wr_data(&w), 48, &m) == 0);
    CU_ASSERT(m.checkpoint_req.seq == 99 && m.checkpoint_req.time_us == -5);
    vst_wr_free(&w);

    sample(VST_MSG_UNSEAL, &w);
    CU_ASSERT_FATAL(vst_msg_decode(VST_MSG_UNSEAL, vst_wr_data(&w), 49, &m) == 0);
    CU_ASSERT(m.unseal_req.index == 2 && memcmp(m.unseal_req.share, share, 32) == 0);
    CU_ASSERT(m.unseal_req.share == vst_wr_data(&w) + 17);
    vst_wr_free(&w);
}

static void test_roundtrip_lists(void)
{
    vst_wr w = VST_WR_INIT;
    vst_msg m;
    vst_version_info v;
    sample(VST_MSG_RESP(VST_MSG_STATUS), &w);
    CU_ASSERT(vst_wr_len(&w) == VST_STATUS_FIXED_LEN + 2 * VST_VERSION_ENTRY_LEN);
    CU_ASSERT_FATAL(vst_status_ok_decode(vst_wr_data(&w), vst_wr_len(&w), &m.status_ok) == 0);
    CU_ASSERT(m.status_ok.dev_master == 1 && m.status_ok.shares_need == 3);
    CU_ASSERT(m.status_ok.day_limit == 10000000 && m.status_ok.nversions == 2);
    CU_ASSERT(vst_status_version(&m.status_ok, 1, &v) == 0 && v.version == 2 &&
              v.state == VST_KEY_CURRENT);
    CU_ASSERT(vst_status_version(&m.status_ok, 2, &v) == VST_PROTO_E_RANGE);
    vst_wr_free(&w);

    vst_events_iter it;
    vst_event ev;
    sample(VST_MSG_RESP(VST_MSG_EVENTS), &w);
    CU_ASSERT_FATAL(vst_events_ok_decode(vst_wr_data(&w), vst_wr_len(&w), &m.events_ok) == 0);
    CU_ASSERT(m.events_ok.n == 2);
    vst_events_iter_init(&it, &m.events_ok);
    CU_ASSERT(vst_events_next(&it, &ev) == 1 && ev.seq == 7 && ev.actor_uid == 998);
    CU_ASSERT(ev.action_len == 11 && memcmp(ev.action, "keyd.unseal", 11) == 0);
    CU_ASSERT(vst_events_next(&it, &ev) == 1 && ev.seq == 8);
    CU_ASSERT(ev.details_len == strlen("{\"window\":\"minute\",\"used\":100001}"));
    CU_ASSERT(vst_events_next(&it, &ev) == 0);
    vst_wr_free(&w);

    /* An empty event list is a valid response. */
    vst_list_builder b;
    CU_ASSERT(vst_events_ok_begin(&b, &w) == 0 && vst_wr_len(&w) == 2);
    check_roundtrip(VST_MSG_RESP(VST_MSG_EVENTS), vst_wr_data(&w), vst_wr_len(&w));
    vst_wr_free(&w);
}

/* Every proper prefix of every sample is rejected, without reading past it. */
static void test_every_truncation_rejected(void)
{
    vst_msg m;
    for (size_t i = 0; i < NTYPES; i++) {
        vst_wr w = VST_WR_INIT;
        sample(all_types[i], &w);
        for (size_t k = 0; k < vst_wr_len(&w); k++) {
            int rc = decode_copy(all_types[i], vst_wr_data(&w), k, &m);
            CU_ASSERT(rc < 0);
            if (rc == 0)
                fprintf(stderr, "\n  %s accepted truncated to %zu bytes\n",
                        vst_msg_name(all_types[i]), k);
        }
        vst_wr_free(&w);
    }
}

/* Every sample with one more byte (of any value) is rejected. */
static void test_extra_byte_rejected(void)
{
    vst_msg m;
    for (size_t i = 0; i < NTYPES; i++) {
        vst_wr w = VST_WR_INIT;
        sample(all_types[i], &w);
        for (unsigned extra = 0; extra < 256; extra += 85) {
            CU_ASSERT_FATAL(vst_wr_u8(&w, (uint8_t)extra) == 0);
            CU_ASSERT(decode_copy(all_types[i], vst_wr_data(&w), vst_wr_len(&w), &m) < 0);
            w.len--; /* test-only: drop the byte again */
        }
        vst_wr_free(&w);
    }
}

static void mkhdr(uint8_t *h, uint8_t ver, uint8_t type, uint16_t res, uint32_t len)
{
    h[0] = ver, h[1] = type, h[2] = (uint8_t)(res >> 8), h[3] = (uint8_t)res;
    h[4] = (uint8_t)(len >> 24), h[5] = (uint8_t)(len >> 16), h[6] = (uint8_t)(len >> 8);
    h[7] = (uint8_t)len;
}

static void test_header(void)
{
    uint8_t h[8];
    vst_frame_hdr f = {0, 0, 0};
    mkhdr(h, 1, VST_MSG_PSEUDONYMIZE, 0, 1000);
    CU_ASSERT(vst_frame_hdr_decode(h, VST_FRAME_MAX, &f) == 0 && f.len == 1000);
    mkhdr(h, 0, VST_MSG_STATUS, 0, 0);
    CU_ASSERT(vst_frame_hdr_decode(h, VST_FRAME_MAX, &f) == VST_PROTO_E_VERSION);
    mkhdr(h, 2, VST_MSG_STATUS, 0, 0);
    CU_ASSERT(vst_frame_hdr_decode(h, VST_FRAME_MAX, &f) == VST_PROTO_E_VERSION);
    mkhdr(h, 1, VST_MSG_STATUS, 0x0100, 0);
    CU_ASSERT(vst_frame_hdr_decode(h, VST_FRAME_MAX, &f) == VST_PROTO_E_RESERVED);
    mkhdr(h, 1, VST_MSG_STATUS, 0x0001, 0);
    CU_ASSERT(vst_frame_hdr_decode(h, VST_FRAME_MAX, &f) == VST_PROTO_E_RESERVED);
    /* Every type byte: accepted exactly when it is in the table. */
    for (unsigned t = 0; t < 256; t++) {
        const vst_msg_info *mi = vst_msg_lookup((uint8_t)t);
        mkhdr(h, 1, (uint8_t)t, 0, mi ? mi->min_len : 0);
        int rc = vst_frame_hdr_decode(h, VST_FRAME_MAX, &f);
        CU_ASSERT(mi ? rc == 0 : rc == VST_PROTO_E_TYPE);
    }
    CU_ASSERT(vst_msg_lookup(0x00) == NULL && vst_msg_lookup(0x04) == NULL);
    CU_ASSERT(vst_msg_lookup(0x80) == NULL && vst_msg_lookup(0xff) == NULL);
    /* Lengths: above the frame maximum, above the caller's maximum, and
     * impossible for the type. */
    mkhdr(h, 1, VST_MSG_RESP(VST_MSG_EVENTS), 0, VST_FRAME_MAX);
    CU_ASSERT(vst_frame_hdr_decode(h, UINT32_MAX, &f) == 0);
    mkhdr(h, 1, VST_MSG_RESP(VST_MSG_EVENTS), 0, VST_FRAME_MAX + 1);
    CU_ASSERT(vst_frame_hdr_decode(h, UINT32_MAX, &f) == VST_PROTO_E_LENGTH);
    mkhdr(h, 1, VST_MSG_RESP(VST_MSG_EVENTS), 0, UINT32_MAX);
    CU_ASSERT(vst_frame_hdr_decode(h, UINT32_MAX, &f) == VST_PROTO_E_LENGTH);
    mkhdr(h, 1, VST_MSG_PSEUDONYMIZE, 0, 5000);
    CU_ASSERT(vst_frame_hdr_decode(h, 4999, &f) == VST_PROTO_E_LENGTH);
    mkhdr(h, 1, VST_MSG_STATUS, 0, 1);
    CU_ASSERT(vst_frame_hdr_decode(h, VST_FRAME_MAX, &f) == VST_PROTO_E_LENGTH);
    mkhdr(h, 1, VST_MSG_UNSEAL, 0, 48);
    CU_ASSERT(vst_frame_hdr_decode(h, VST_FRAME_MAX, &f) == VST_PROTO_E_LENGTH);
    mkhdr(h, 1, VST_MSG_UNSEAL, 0, 50);
    CU_ASSERT(vst_frame_hdr_decode(h, VST_FRAME_MAX, &f) == VST_PROTO_E_LENGTH);
    mkhdr(h, 1, VST_MSG_PSEUDONYMIZE, 0, 3 * 1024 * 1024); /* above the batch bound */
    CU_ASSERT(vst_frame_hdr_decode(h, VST_FRAME_MAX, &f) == VST_PROTO_E_LENGTH);
    mkhdr(h, 1, VST_MSG_ERROR, 0, 3);
    CU_ASSERT(vst_frame_hdr_decode(h, VST_FRAME_MAX, &f) == VST_PROTO_E_LENGTH);
    CU_ASSERT(vst_frame_hdr_encode(0x04, 0, h) == VST_PROTO_E_TYPE);
    CU_ASSERT(vst_frame_hdr_encode(VST_MSG_STATUS, 1, h) == VST_PROTO_E_LENGTH);
}

/* Raw PSEUDONYMIZE payloads, built by hand to say what encoders refuse. */
static size_t raw_section(uint8_t *p, const char *dom, uint8_t id_len, uint32_t count)
{
    size_t dl = strlen(dom), o = 0;
    p[o++] = (uint8_t)dl;
    memcpy(p + o, dom, dl);
    o += dl;
    p[o++] = id_len;
    p[o++] = (uint8_t)(count >> 24), p[o++] = (uint8_t)(count >> 16);
    p[o++] = (uint8_t)(count >> 8), p[o++] = (uint8_t)count;
    return o;
}

static int pseud_raw(uint16_t nsec, const char *dom, uint8_t id_len, uint32_t count,
                     size_t id_bytes)
{
    size_t cap = 2 + (size_t)nsec * (7 + 255) + id_bytes * (nsec ? nsec : 1);
    uint8_t *p = calloc(1, cap);
    CU_ASSERT_FATAL(p != NULL);
    size_t o = 2;
    p[0] = (uint8_t)(nsec >> 8), p[1] = (uint8_t)nsec;
    for (uint16_t i = 0; i < nsec; i++) {
        o += raw_section(p + o, dom, id_len, count);
        memset(p + o, 'A', id_bytes);
        o += id_bytes;
    }
    vst_msg m;
    int rc = decode_copy(VST_MSG_PSEUDONYMIZE, p, o, &m);
    free(p);
    return rc;
}

static void test_pseudonymize_limits(void)
{
    CU_ASSERT(pseud_raw(1, "d", 1, 1, 1) == 0);
    CU_ASSERT(pseud_raw(16, "d", 1, 1, 1) == 0);
    CU_ASSERT(pseud_raw(0, "d", 1, 1, 1) == VST_PROTO_E_RANGE);
    CU_ASSERT(pseud_raw(17, "d", 1, 1, 1) == VST_PROTO_E_RANGE);
    CU_ASSERT(pseud_raw(1, "d", 1, 0, 0) == VST_PROTO_E_RANGE);   /* empty section */
    CU_ASSERT(pseud_raw(1, "d", 0, 1, 0) == VST_PROTO_E_RANGE);   /* id_len 0 */
    CU_ASSERT(pseud_raw(1, "d", 17, 1, 17) == VST_PROTO_E_RANGE); /* id_len 17 */
    CU_ASSERT(pseud_raw(1, "d", 16, 1, 16) == 0);
    /* count * id_len = 0x10000001 * 16 wraps to 16 in 32 bits: must not be
     * taken for a 16-byte batch. */
    CU_ASSERT(pseud_raw(1, "d", 16, 0x10000001u, 16) == VST_PROTO_E_RANGE);
    CU_ASSERT(pseud_raw(1, "d", 1, UINT32_MAX, 0) == VST_PROTO_E_RANGE);
    /* Total over sections: 65536 is the limit. */
    CU_ASSERT(pseud_raw(1, "d", 1, VST_BATCH_MAX, VST_BATCH_MAX) == 0);
    CU_ASSERT(pseud_raw(1, "d", 1, VST_BATCH_MAX + 1, VST_BATCH_MAX + 1) == VST_PROTO_E_RANGE);
    CU_ASSERT(pseud_raw(2, "d", 1, VST_BATCH_MAX / 2, VST_BATCH_MAX / 2) == 0);
    CU_ASSERT(pseud_raw(2, "d", 1, VST_BATCH_MAX / 2 + 1, VST_BATCH_MAX / 2 + 1) ==
              VST_PROTO_E_RANGE);
    CU_ASSERT(pseud_raw(16, "d", 16, 4096, 4096 * 16) == 0); /* the largest batch */
    /* The counts must describe the length exactly. */
    CU_ASSERT(pseud_raw(1, "d", 10, 2, 19) == VST_PROTO_E_SHORT);
    CU_ASSERT(pseud_raw(1, "d", 10, 2, 21) == VST_PROTO_E_TRAILING);
}

static void test_domain_charset(void)
{
    for (unsigned c = 0; c < 256; c++) {
        char dom[2] = {(char)c, 0};
        uint8_t p[2 + 1 + 1 + 1 + 4 + 1];
        size_t o = 2;
        p[0] = 0, p[1] = 1;
        o += raw_section(p + o, "x", 1, 1);
        p[3] = (uint8_t)c; /* the domain byte, NUL and all */
        p[o++] = 'A';
        vst_msg m;
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                 c == '/' || c == '-';
        int rc = decode_copy(VST_MSG_PSEUDONYMIZE, p, o, &m);
        CU_ASSERT(ok ? rc == 0 : rc == VST_PROTO_E_CHARSET);
        (void)dom;
    }
    char d64[65], d65[66];
    memset(d64, 'a', 64), d64[64] = 0;
    memset(d65, 'a', 65), d65[65] = 0;
    CU_ASSERT(pseud_raw(1, d64, 1, 1, 1) == 0);
    CU_ASSERT(pseud_raw(1, d65, 1, 1, 1) == VST_PROTO_E_RANGE);
    CU_ASSERT(pseud_raw(1, "", 1, 1, 1) == VST_PROTO_E_RANGE);
    CU_ASSERT(pseud_raw(1, "sgb5/Insured", 1, 1, 1) == VST_PROTO_E_CHARSET);
    CU_ASSERT(pseud_raw(1, "sgb5 insured", 1, 1, 1) == VST_PROTO_E_CHARSET);
    CU_ASSERT(pseud_raw(1, "a/b.c-d_0", 1, 1, 1) == 0);
    /* The encoder refuses the same. */
    vst_pseud_req m;
    vst_wr w = VST_WR_INIT;
    fill_pseud_req(&m);
    strcpy(m.sec[1].domain, "SGB5");
    CU_ASSERT(vst_pseud_req_encode(&w, &m) == VST_PROTO_E_CHARSET && vst_wr_len(&w) == 0);
    fill_pseud_req(&m);
    memset(m.sec[0].domain, 'a', sizeof m.sec[0].domain); /* unterminated */
    CU_ASSERT(vst_pseud_req_encode(&w, &m) == VST_PROTO_E_RANGE && vst_wr_len(&w) == 0);
    fill_pseud_req(&m);
    m.sec[0].count = VST_BATCH_MAX;
    CU_ASSERT(vst_pseud_req_encode(&w, &m) == VST_PROTO_E_RANGE && vst_wr_len(&w) == 0);
    vst_wr_free(&w);
}

static int u32_payload(uint8_t type, const uint32_t *v, size_t n, size_t extra)
{
    uint8_t *p = calloc(1, 4 * n + extra + 1);
    CU_ASSERT_FATAL(p != NULL);
    for (size_t i = 0; i < n; i++)
        p[4 * i] = (uint8_t)(v[i] >> 24), p[4 * i + 1] = (uint8_t)(v[i] >> 16),
              p[4 * i + 2] = (uint8_t)(v[i] >> 8), p[4 * i + 3] = (uint8_t)v[i];
    vst_msg m;
    int rc = decode_copy(type, p, 4 * n + extra, &m);
    free(p);
    return rc;
}

static void test_rekey_and_version_limits(void)
{
    uint32_t ok[] = {1, 2, 1}, c0[] = {1, 2, 0}, big[] = {1, 2, VST_BATCH_MAX + 1};
    uint32_t wrap[] = {1, 2, 0x10000001u}, v0[] = {0, 2, 1}, max[] = {1, 2, VST_BATCH_MAX};
    CU_ASSERT(u32_payload(VST_MSG_REKEY, ok, 3, 16) == 0);
    CU_ASSERT(u32_payload(VST_MSG_REKEY, max, 3, 16 * VST_BATCH_MAX) == 0);
    CU_ASSERT(u32_payload(VST_MSG_REKEY, c0, 3, 0) == VST_PROTO_E_RANGE);
    CU_ASSERT(u32_payload(VST_MSG_REKEY, big, 3, 16 * (VST_BATCH_MAX + 1)) == VST_PROTO_E_RANGE);
    CU_ASSERT(u32_payload(VST_MSG_REKEY, wrap, 3, 16) == VST_PROTO_E_RANGE); /* 16 * count wraps */
    CU_ASSERT(u32_payload(VST_MSG_REKEY, v0, 3, 16) == VST_PROTO_E_RANGE);
    CU_ASSERT(u32_payload(VST_MSG_REKEY, ok, 3, 17) == VST_PROTO_E_TRAILING);
    CU_ASSERT(u32_payload(VST_MSG_RESP(VST_MSG_REKEY), c0 + 2, 1, 0) == VST_PROTO_E_RANGE);
    CU_ASSERT(u32_payload(VST_MSG_RESP(VST_MSG_REKEY), wrap + 2, 1, 16) == VST_PROTO_E_RANGE);
    CU_ASSERT(u32_payload(VST_MSG_RETIRE, v0, 1, 0) == VST_PROTO_E_RANGE);
    CU_ASSERT(u32_payload(VST_MSG_RESP(VST_MSG_ROTATE), ok, 1, 0) == 0);
    /* PSEUDONYMIZE response: key version, sections and totals. */
    uint32_t kv0[] = {0}, kv1[] = {1};
    CU_ASSERT(u32_payload(VST_MSG_RESP(VST_MSG_PSEUDONYMIZE), kv0, 1, 2 + 4 + 16 + 4) < 0);
    uint8_t *p = calloc(1, 6 + 4 + 16 + 4); /* ends in nwithheld 0 */
    p[3] = 1, p[5] = 1, p[9] = 1;
    vst_msg m;
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_PSEUDONYMIZE), p, 30, &m) == 0);
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_PSEUDONYMIZE), p, 26, &m) == VST_PROTO_E_SHORT);
    p[5] = 0; /* nsections 0 */
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_PSEUDONYMIZE), p, 30, &m) == VST_PROTO_E_RANGE);
    p[5] = 1, p[6] = 0x10, p[9] = 1; /* count 0x10000001: 16 * count wraps to 16 */
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_PSEUDONYMIZE), p, 30, &m) == VST_PROTO_E_RANGE);
    free(p);
    (void)kv1;
    /* Unseal: share index 0 does not exist. */
    uint8_t u[49] = {0};
    CU_ASSERT(decode_copy(VST_MSG_UNSEAL, u, 49, &m) == VST_PROTO_E_RANGE);
    u[0] = 255;
    CU_ASSERT(decode_copy(VST_MSG_UNSEAL, u, 49, &m) == 0);
    uint8_t r[3] = {5, 0, 0};
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_UNSEAL), r, 3, &m) == VST_PROTO_E_RANGE);
    r[0] = VST_UNSEAL_ROLLBACK;
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_UNSEAL), r, 3, &m) == 0);
    r[0] = VST_UNSEAL_REJECTED;
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_UNSEAL), r, 3, &m) == 0);
    uint8_t e[10] = {0};
    CU_ASSERT(decode_copy(VST_MSG_EVENTS, e, 10, &m) == VST_PROTO_E_RANGE); /* max 0 */
}

/* RELEASE_OPEN, RELEASE_MAP and SIGN_REPORT: exact sizes, the count and
 * the version, at the header and in the decoders. */
static void test_release_and_report_limits(void)
{
    uint32_t ok[] = {1, 1}, c0[] = {1, 0}, big[] = {1, VST_BATCH_MAX + 1};
    uint32_t wrap[] = {1, 0x10000001u}, v0[] = {0, 1}, max[] = {7, VST_BATCH_MAX};
    CU_ASSERT(u32_payload(VST_MSG_RELEASE_MAP, ok, 2, 16) == 0);
    CU_ASSERT(u32_payload(VST_MSG_RELEASE_MAP, max, 2, 16 * VST_BATCH_MAX) == 0);
    CU_ASSERT(u32_payload(VST_MSG_RELEASE_MAP, c0, 2, 0) == VST_PROTO_E_RANGE);
    CU_ASSERT(u32_payload(VST_MSG_RELEASE_MAP, big, 2, 16 * (VST_BATCH_MAX + 1)) ==
              VST_PROTO_E_RANGE);
    CU_ASSERT(u32_payload(VST_MSG_RELEASE_MAP, wrap, 2, 16) == VST_PROTO_E_RANGE);
    CU_ASSERT(u32_payload(VST_MSG_RELEASE_MAP, v0, 2, 16) == VST_PROTO_E_RANGE);
    CU_ASSERT(u32_payload(VST_MSG_RELEASE_MAP, ok, 2, 15) == VST_PROTO_E_SHORT);
    CU_ASSERT(u32_payload(VST_MSG_RELEASE_MAP, ok, 2, 17) == VST_PROTO_E_TRAILING);
    CU_ASSERT(u32_payload(VST_MSG_RELEASE_MAP, ok, 2, 32) == VST_PROTO_E_TRAILING);
    /* The answer: count, pseudonyms, nexcluded (here 0), indices. */
    CU_ASSERT(u32_payload(VST_MSG_RESP(VST_MSG_RELEASE_MAP), ok + 1, 1, 16 + 4) == 0);
    CU_ASSERT(u32_payload(VST_MSG_RESP(VST_MSG_RELEASE_MAP), ok + 1, 1, 16) == VST_PROTO_E_SHORT);
    CU_ASSERT(u32_payload(VST_MSG_RESP(VST_MSG_RELEASE_MAP), c0 + 1, 1, 0) == VST_PROTO_E_RANGE);
    CU_ASSERT(u32_payload(VST_MSG_RESP(VST_MSG_RELEASE_MAP), wrap + 1, 1, 16) == VST_PROTO_E_RANGE);
    CU_ASSERT(u32_payload(VST_MSG_RESP(VST_MSG_RELEASE_MAP), ok + 1, 1, 21) ==
              VST_PROTO_E_TRAILING);
    /* The encoders refuse the same and write nothing. */
    vst_wr w = VST_WR_INIT;
    vst_release_map_req rq = {0, 1, blocks};
    CU_ASSERT(vst_release_map_req_encode(&w, &rq) == VST_PROTO_E_RANGE && vst_wr_len(&w) == 0);
    rq = (vst_release_map_req){1, VST_BATCH_MAX + 1, blocks};
    CU_ASSERT(vst_release_map_req_encode(&w, &rq) == VST_PROTO_E_RANGE && vst_wr_len(&w) == 0);
    rq = (vst_release_map_req){1, 1, NULL};
    CU_ASSERT(vst_release_map_req_encode(&w, &rq) == VST_PROTO_E_ARG && vst_wr_len(&w) == 0);
    vst_release_map_ok rs = {0, blocks, 0, NULL};
    CU_ASSERT(vst_release_map_ok_encode(&w, &rs) == VST_PROTO_E_RANGE && vst_wr_len(&w) == 0);
    vst_wr_free(&w);

    uint8_t p[VST_REPORT_REQ_LEN + 1] = {0};
    vst_msg m;
    CU_ASSERT(VST_REPORT_REQ_LEN == 33);
    /* Any kind byte decodes: which kinds keyd signs is its answer
     * (invalid_argument), not a malformed frame. */
    for (unsigned k = 0; k < 256; k += 51) {
        p[0] = (uint8_t)k;
        CU_ASSERT(decode_copy(VST_MSG_SIGN_REPORT, p, 33, &m) == 0 && m.report_req.kind == k);
    }
    CU_ASSERT(decode_copy(VST_MSG_SIGN_REPORT, p, 32, &m) == VST_PROTO_E_SHORT);
    CU_ASSERT(decode_copy(VST_MSG_SIGN_REPORT, p, 34, &m) == VST_PROTO_E_TRAILING);
    CU_ASSERT(decode_copy(VST_MSG_SIGN_REPORT, p, 0, &m) == VST_PROTO_E_SHORT);
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_SIGN_REPORT), p, 33, &m) == VST_PROTO_E_SHORT);
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_RELEASE_OPEN), p, 7, &m) == VST_PROTO_E_SHORT);
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_RELEASE_OPEN), p, 9, &m) == VST_PROTO_E_TRAILING);
    CU_ASSERT(decode_copy(VST_MSG_RELEASE_OPEN, p, 1, &m) == VST_PROTO_E_TRAILING);

    /* The header refuses lengths no such frame can have, before a payload
     * byte is read. */
    static const struct {
        uint8_t type;
        uint32_t len;
        int ok;
    } hl[] = {
        {VST_MSG_SIGN_REPORT, 33, 1},
        {VST_MSG_SIGN_REPORT, 32, 0},
        {VST_MSG_SIGN_REPORT, 34, 0},
        {VST_MSG_RELEASE_OPEN, 0, 1},
        {VST_MSG_RELEASE_OPEN, 1, 0},
        {VST_MSG_RELEASE_MAP, 24, 1},
        {VST_MSG_RELEASE_MAP, 23, 0},
        {VST_MSG_RELEASE_MAP, 8 + 16 * VST_BATCH_MAX, 1},
        {VST_MSG_RELEASE_MAP, 8 + 16 * VST_BATCH_MAX + 1, 0},
        {VST_MSG_RESP(VST_MSG_RELEASE_OPEN), 8, 1},
        {VST_MSG_RESP(VST_MSG_RELEASE_OPEN), 9, 0},
        {VST_MSG_RESP(VST_MSG_RELEASE_MAP), 23, 0},
        {VST_MSG_RESP(VST_MSG_RELEASE_MAP), 24, 1},
        {VST_MSG_RESP(VST_MSG_RELEASE_MAP), 8 + 20 * VST_BATCH_MAX, 1},
        {VST_MSG_RESP(VST_MSG_RELEASE_MAP), 8 + 20 * VST_BATCH_MAX + 1, 0},
        {VST_MSG_RESP(VST_MSG_SIGN_REPORT), 64, 1},
        {VST_MSG_RESP(VST_MSG_SIGN_REPORT), 65, 0},
    };
    for (size_t i = 0; i < sizeof hl / sizeof hl[0]; i++) {
        uint8_t h[8];
        vst_frame_hdr f;
        mkhdr(h, 1, hl[i].type, 0, hl[i].len);
        int rc = vst_frame_hdr_decode(h, VST_FRAME_MAX, &f);
        CU_ASSERT(hl[i].ok ? rc == 0 : rc == VST_PROTO_E_LENGTH);
    }
    CU_ASSERT(strcmp(vst_msg_name(VST_MSG_SIGN_REPORT), "sign_report") == 0);
    CU_ASSERT(strcmp(vst_msg_name(VST_MSG_RESP(VST_MSG_RELEASE_MAP)), "release_map_ok") == 0);
    CU_ASSERT(VST_MSG_SIGN_REPORT == 0x22 && VST_MSG_RELEASE_OPEN == 0x14 &&
              VST_MSG_RELEASE_MAP == 0x15);
}

/* DISCLOSE and OBJECT requests: the domain's grammar, key version >= 1,
 * id_len 1..16, exact sizes; encoders refuse the same. */
static void test_case_requests(void)
{
    uint8_t p[1 + 12 + 4 + 16 + 1] = {12,  's', 'g', 'b', '5', '/', 'i',
                                      'n', 's', 'u', 'r', 'e', 'd'};
    p[16] = 3;
    memset(p + 17, 0xd5, 16);
    vst_msg m;
    CU_ASSERT(decode_copy(VST_MSG_DISCLOSE, p, 33, &m) == 0 && m.disclose_req.key_version == 3);
    CU_ASSERT(strcmp(m.disclose_req.domain, "sgb5/insured") == 0 &&
              m.disclose_req.pseudonym[15] == 0xd5);
    CU_ASSERT(decode_copy(VST_MSG_DISCLOSE, p, 32, &m) == VST_PROTO_E_SHORT);
    CU_ASSERT(decode_copy(VST_MSG_DISCLOSE, p, 34, &m) == VST_PROTO_E_TRAILING);
    p[16] = 0; /* key version 0 */
    CU_ASSERT(decode_copy(VST_MSG_DISCLOSE, p, 33, &m) == VST_PROTO_E_RANGE);
    p[16] = 3, p[5] = 'I';
    CU_ASSERT(decode_copy(VST_MSG_DISCLOSE, p, 33, &m) == VST_PROTO_E_CHARSET);
    p[5] = '/', p[0] = 0; /* an empty domain */
    CU_ASSERT(decode_copy(VST_MSG_DISCLOSE, p, 33, &m) == VST_PROTO_E_RANGE);
    /* OBJECT: str8 domain, u8 id_len, the identifier. */
    uint8_t o[1 + 1 + 1 + 17] = {1, 'd', 10, 'A', '1', '2', '3', '4', '5', '6', '7', '8', '0'};
    CU_ASSERT(decode_copy(VST_MSG_OBJECT, o, 13, &m) == 0 && m.object_req.id_len == 10);
    CU_ASSERT(decode_copy(VST_MSG_OBJECT, o, 12, &m) == VST_PROTO_E_SHORT);
    CU_ASSERT(decode_copy(VST_MSG_OBJECT, o, 14, &m) == VST_PROTO_E_TRAILING);
    o[2] = 0;
    CU_ASSERT(decode_copy(VST_MSG_OBJECT, o, 3, &m) == VST_PROTO_E_RANGE);
    o[2] = 17;
    CU_ASSERT(decode_copy(VST_MSG_OBJECT, o, 20, &m) == VST_PROTO_E_RANGE);
    o[2] = 16;
    CU_ASSERT(decode_copy(VST_MSG_OBJECT, o, 19, &m) == 0);
    vst_wr w = VST_WR_INIT;
    vst_object_req orq = {"sgb5/insured", 0, (const uint8_t *)kvnrs};
    CU_ASSERT(vst_object_req_encode(&w, &orq) == VST_PROTO_E_RANGE && vst_wr_len(&w) == 0);
    orq = (vst_object_req){"sgb5/insured", 10, NULL};
    CU_ASSERT(vst_object_req_encode(&w, &orq) == VST_PROTO_E_ARG && vst_wr_len(&w) == 0);
    orq = (vst_object_req){"SGB5", 10, (const uint8_t *)kvnrs};
    CU_ASSERT(vst_object_req_encode(&w, &orq) == VST_PROTO_E_CHARSET && vst_wr_len(&w) == 0);
    vst_disclose_req drq = {"", 1, {0}};
    CU_ASSERT(vst_disclose_req_encode(&w, &drq) == VST_PROTO_E_RANGE && vst_wr_len(&w) == 0);
    drq = (vst_disclose_req){"d", 0, {0}};
    CU_ASSERT(vst_disclose_req_encode(&w, &drq) == VST_PROTO_E_RANGE && vst_wr_len(&w) == 0);
    vst_wr_free(&w);
}

/* DISCLOSE and OBJECT answers: case id, existed 0/1, n >= 1, entries of
 * 36 (DISCLOSE) or 20 (OBJECT) bytes, versions strictly ascending. */
static void test_case_answers(void)
{
    vst_wr w = VST_WR_INIT;
    vst_msg m;
    sample(VST_MSG_RESP(VST_MSG_DISCLOSE), &w);
    uint8_t *p = w.buf; /* test-only: patch fields in place */
    size_t n = vst_wr_len(&w);
    CU_ASSERT_FATAL(n == 11 + 2 * 36);
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_DISCLOSE), p, n, &m) == 0);
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_OBJECT), p, n, &m) == VST_PROTO_E_TRAILING);
    vst_case_entry e;
    CU_ASSERT_FATAL(vst_disclose_ok_decode(p, n, &m.case_ok) == 0);
    vst_case_ok_at(&m.case_ok, 1, &e);
    CU_ASSERT(e.version == 5 && e.p == p + 11 + 36 + 4 && e.p_star == e.p + 16);
    CU_ASSERT(m.case_ok.existed == 1 && m.case_ok.case_id[7] == 0xc7 && m.case_ok.n == 2);
    p[8] = 2; /* existed is a flag */
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_DISCLOSE), p, n, &m) == VST_PROTO_E_RANGE);
    p[8] = 0, p[10] = 3; /* n 3, two entries present */
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_DISCLOSE), p, n, &m) == VST_PROTO_E_SHORT);
    p[10] = 0; /* n 0 */
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_DISCLOSE), p, 11, &m) == VST_PROTO_E_RANGE);
    p[10] = 2, p[11 + 36 + 3] = 2; /* versions 2, 2 */
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_DISCLOSE), p, n, &m) == VST_PROTO_E_RANGE);
    p[11 + 36 + 3] = 1; /* 2, 1 */
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_DISCLOSE), p, n, &m) == VST_PROTO_E_RANGE);
    p[11 + 3] = 0, p[11 + 36 + 3] = 5; /* 0, 5 */
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_DISCLOSE), p, n, &m) == VST_PROTO_E_RANGE);
    vst_wr_reset(&w);
    sample(VST_MSG_RESP(VST_MSG_OBJECT), &w);
    CU_ASSERT(vst_wr_len(&w) == 11 + 2 * 20);
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_OBJECT), w.buf, vst_wr_len(&w), &m) == 0);
    CU_ASSERT(m.case_ok.with_star == 0);
    /* The builder refuses what the decoder would: a version not above the
     * one before, the other layout's entry. */
    vst_wr_reset(&w);
    vst_list_builder b;
    vst_case_ok c = {.with_star = 1};
    vst_case_entry e3 = {3, blocks, blocks + 16}, e1 = {1, blocks, blocks + 16};
    vst_case_entry bare = {4, blocks, NULL};
    CU_ASSERT_FATAL(vst_case_ok_begin(&b, &w, &c) == 0 && vst_case_ok_add(&b, &c, &e3) == 0);
    size_t len = vst_wr_len(&w);
    CU_ASSERT(vst_case_ok_add(&b, &c, &e3) == VST_PROTO_E_RANGE && vst_wr_len(&w) == len);
    CU_ASSERT(vst_case_ok_add(&b, &c, &e1) == VST_PROTO_E_RANGE && vst_wr_len(&w) == len);
    CU_ASSERT(vst_case_ok_add(&b, &c, &bare) == VST_PROTO_E_ARG && vst_wr_len(&w) == len);
    c.existed = 2;
    CU_ASSERT(vst_case_ok_begin(&b, &w, &c) == VST_PROTO_E_RANGE && vst_wr_len(&w) == len);
    vst_wr_free(&w);
    CU_ASSERT(VST_MSG_DISCLOSE == 0x16 && VST_MSG_OBJECT == 0x17);
    CU_ASSERT(strcmp(vst_msg_name(VST_MSG_RESP(VST_MSG_OBJECT)), "object_ok") == 0);
    /* Bounds at the header. */
    static const struct {
        uint8_t type;
        uint32_t len;
        int ok;
    } hl[] = {{VST_MSG_DISCLOSE, 22, 1},
              {VST_MSG_DISCLOSE, 21, 0},
              {VST_MSG_DISCLOSE, 85, 1},
              {VST_MSG_DISCLOSE, 86, 0},
              {VST_MSG_OBJECT, 4, 1},
              {VST_MSG_OBJECT, 3, 0},
              {VST_MSG_OBJECT, 82, 1},
              {VST_MSG_OBJECT, 83, 0},
              {VST_MSG_RESP(VST_MSG_DISCLOSE), 47, 1},
              {VST_MSG_RESP(VST_MSG_DISCLOSE), 46, 0},
              {VST_MSG_RESP(VST_MSG_OBJECT), 31, 1},
              {VST_MSG_RESP(VST_MSG_OBJECT), 30, 0}};
    for (size_t i = 0; i < sizeof hl / sizeof hl[0]; i++) {
        uint8_t h[8];
        vst_frame_hdr f;
        mkhdr(h, 1, hl[i].type, 0, hl[i].len);
        CU_ASSERT(hl[i].ok ? vst_frame_hdr_decode(h, VST_FRAME_MAX, &f) == 0
                           : vst_frame_hdr_decode(h, VST_FRAME_MAX, &f) == VST_PROTO_E_LENGTH);
    }
}

/* RELEASE_MAP's excluded list: as the withheld list (ascending, < count). */
static void test_release_map_excluded(void)
{
    uint8_t p[4 + 48 + 4 + 12] = {0, 0, 0, 3};
    p[55] = 2, p[59] = 0, p[63] = 2; /* nexcluded 2: 0, 2 */
    vst_msg m;
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_RELEASE_MAP), p, 64, &m) == 0);
    CU_ASSERT_FATAL(vst_release_map_ok_decode(p, 64, &m.release_map_ok) == 0);
    CU_ASSERT(m.release_map_ok.nexcluded == 2 && vst_index_at(m.release_map_ok.excluded, 1) == 2);
    p[63] = 0; /* 0, 0 */
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_RELEASE_MAP), p, 64, &m) == VST_PROTO_E_RANGE);
    p[63] = 3; /* index == count */
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_RELEASE_MAP), p, 64, &m) == VST_PROTO_E_RANGE);
    p[55] = 4, p[63] = 2; /* nexcluded > count */
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_RELEASE_MAP), p, 64, &m) == VST_PROTO_E_RANGE);
    p[55] = 3; /* three indices, two present */
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_RELEASE_MAP), p, 64, &m) == VST_PROTO_E_SHORT);
    p[55] = 1;
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_RELEASE_MAP), p, 64, &m) == VST_PROTO_E_TRAILING);
    vst_wr w = VST_WR_INIT;
    vst_release_map_ok rs = {3, blocks, 2, (const uint8_t *)"\0\0\0\2\0\0\0\1"};
    CU_ASSERT(vst_release_map_ok_encode(&w, &rs) == VST_PROTO_E_RANGE && vst_wr_len(&w) == 0);
    rs.excluded = NULL;
    CU_ASSERT(vst_release_map_ok_encode(&w, &rs) == VST_PROTO_E_ARG && vst_wr_len(&w) == 0);
    vst_wr_free(&w);
}

static void test_status_limits(void)
{
    vst_wr w = VST_WR_INIT;
    vst_msg m;
    sample(VST_MSG_RESP(VST_MSG_STATUS), &w);
    uint8_t *p = w.buf; /* test-only: patch fields in place */
    size_t n = vst_wr_len(&w);
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_STATUS), p, n, &m) == 0);
    p[0] = 2; /* sealed is a flag */
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_STATUS), p, n, &m) == VST_PROTO_E_RANGE);
    p[0] = 0;
    p[VST_STATUS_FIXED_LEN - 1] = 3; /* nversions 3, two entries present */
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_STATUS), p, n, &m) == VST_PROTO_E_SHORT);
    p[VST_STATUS_FIXED_LEN - 1] = 1;
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_STATUS), p, n, &m) == VST_PROTO_E_TRAILING);
    p[VST_STATUS_FIXED_LEN - 1] = 2;
    p[n - 1] = 1; /* reserved_zero of the last entry */
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_STATUS), p, n, &m) == VST_PROTO_E_RESERVED);
    p[n - 1] = 0;
    p[n - 9] = 4; /* state */
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_STATUS), p, n, &m) == VST_PROTO_E_RANGE);
    p[n - 9] = VST_KEY_RETIRED;
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_STATUS), p, n, &m) == 0);
    p[n - 10] = 0; /* version 2 -> 0 */
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_STATUS), p, n, &m) == VST_PROTO_E_RANGE);
    vst_wr_free(&w);
}

static int receipt_rc(const vst_receipt_fields *r)
{
    /* Encode by hand (bypassing the encoder's check) and decode. */
    uint8_t p[3 + 3 * 255 + VST_RECEIPT_FIXED_LEN_V2];
    size_t o = 0;
    const char *s[3] = {r->delivery_id, r->client, r->profile};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(s[i]);
        p[o++] = (uint8_t)n;
        memcpy(p + o, s[i], n);
        o += n;
    }
    memset(p + o, 0, VST_RECEIPT_FIXED_LEN_V2);
    p[o + 8 + 32 + 3] = (uint8_t)r->key_version;
    o += VST_RECEIPT_FIXED_LEN_V2;
    vst_msg m;
    return decode_copy(VST_MSG_SIGN_RECEIPT, p, o, &m);
}

static void test_receipt_grammar(void)
{
    vst_receipt_fields r;
    fill_receipt(&r);
    CU_ASSERT(receipt_rc(&r) == 0);
    strcpy(r.delivery_id, "a/b");
    CU_ASSERT(receipt_rc(&r) == VST_PROTO_E_CHARSET);
    strcpy(r.delivery_id, "");
    CU_ASSERT(receipt_rc(&r) == VST_PROTO_E_RANGE);
    memset(r.delivery_id, 'x', 128), r.delivery_id[128] = 0;
    CU_ASSERT(receipt_rc(&r) == 0);
    fill_receipt(&r);
    strcpy(r.client, "tab\there");
    CU_ASSERT(receipt_rc(&r) == VST_PROTO_E_CHARSET);
    /* Client names are UTF-8 (issue 8, finding 7); Latin-1 bytes, a blank
     * at either end and invisible formatting are not. */
    strcpy(r.client, "caf\xc3\xa9");
    CU_ASSERT(receipt_rc(&r) == 0);
    strcpy(r.client, "caf\xe9");
    CU_ASSERT(receipt_rc(&r) == VST_PROTO_E_CHARSET);
    strcpy(r.client, " ~");
    CU_ASSERT(receipt_rc(&r) == VST_PROTO_E_CHARSET);
    strcpy(r.client, "a\xe2\x80\xae"
                     "b");
    CU_ASSERT(receipt_rc(&r) == VST_PROTO_E_CHARSET);
    strcpy(r.client, "~ x");
    CU_ASSERT(receipt_rc(&r) == 0);
    fill_receipt(&r);
    strcpy(r.profile, "SGB5");
    CU_ASSERT(receipt_rc(&r) == VST_PROTO_E_CHARSET);
    memset(r.profile, 'p', 32), r.profile[32] = 0;
    CU_ASSERT(receipt_rc(&r) == 0);
    fill_receipt(&r);
    r.key_version = 0;
    CU_ASSERT(receipt_rc(&r) == VST_PROTO_E_RANGE);
    vst_wr w = VST_WR_INIT;
    CU_ASSERT(vst_receipt_req_encode(&w, &r) < 0 && vst_wr_len(&w) == 0);
    fill_receipt(&r);
    memset(r.profile, 'p', sizeof r.profile); /* unterminated */
    CU_ASSERT(vst_receipt_req_encode(&w, &r) < 0 && vst_wr_len(&w) == 0);
    vst_wr_free(&w);
    /* Longer than a field allows, with the length byte saying so. */
    uint8_t p[VST_RECEIPT_ENC_MAX] = {0};
    p[0] = 129;
    vst_msg m;
    CU_ASSERT(decode_copy(VST_MSG_SIGN_RECEIPT, p, sizeof p, &m) == VST_PROTO_E_RANGE);
}

/* keyd signs v2 receipts only (issue 12): the payload is the v2 encoding,
 * the withheld count last; the v1 encoding (8 bytes shorter) is a
 * truncated request, and v1 fields are not encoded. */
static void test_receipt_v2_only(void)
{
    vst_receipt_fields r;
    fill_receipt(&r);
    r.withheld_count = 0x0102030405060708ULL;
    vst_wr w = VST_WR_INIT;
    CU_ASSERT_FATAL(vst_receipt_req_encode(&w, &r) == 0);
    size_t n = vst_wr_len(&w);
    CU_ASSERT(n == 3 + strlen(r.delivery_id) + strlen(r.client) + strlen(r.profile) +
                       VST_RECEIPT_FIXED_LEN_V2);
    CU_ASSERT(memcmp(vst_wr_data(&w) + n - 8, "\x01\x02\x03\x04\x05\x06\x07\x08", 8) == 0);
    vst_msg m;
    memset(&m, 0, sizeof m);
    CU_ASSERT_FATAL(decode_copy(VST_MSG_SIGN_RECEIPT, vst_wr_data(&w), n, &m) == 0);
    CU_ASSERT(m.receipt_req.version == VST_RECEIPT_V2 &&
              m.receipt_req.withheld_count == 0x0102030405060708ULL);
    CU_ASSERT(decode_copy(VST_MSG_SIGN_RECEIPT, vst_wr_data(&w), n - 8, &m) == VST_PROTO_E_SHORT);
    vst_wr_free(&w);
    r.version = VST_RECEIPT_V1;
    r.withheld_count = 0;
    CU_ASSERT(vst_receipt_req_encode(&w, &r) == VST_PROTO_E_RANGE && vst_wr_len(&w) == 0);
    r.version = 0;
    CU_ASSERT(vst_receipt_req_encode(&w, &r) == VST_PROTO_E_RANGE && vst_wr_len(&w) == 0);
    vst_wr_free(&w);
}

/* SIGN_RECEIPTS (issue 14): every receipt of the batch is, after its
 * length, exactly SIGN_RECEIPT's payload for it, in order; the largest
 * batch fills the header's bound exactly and fits a frame. */
static void test_receipts_roundtrip(void)
{
    vst_receipt_fields want[3], got;
    vst_wr w = VST_WR_INIT, one = VST_WR_INIT;
    vst_msg m;
    fill_receipts(want);
    sample(VST_MSG_SIGN_RECEIPTS, &w);
    CU_ASSERT_FATAL(vst_msg_decode(VST_MSG_SIGN_RECEIPTS, vst_wr_data(&w), vst_wr_len(&w), &m) ==
                    0);
    CU_ASSERT(m.receipts_req.count == 3);
    CU_ASSERT(m.receipts_req.items == vst_wr_data(&w) + 2); /* zero copy */
    const uint8_t *at = m.receipts_req.items, *end = at + m.receipts_req.items_len;
    CU_ASSERT(end == vst_wr_data(&w) + vst_wr_len(&w));
    for (int i = 0; i < 3; i++) {
        uint8_t a[VST_RECEIPT_TBS_MAX], b[VST_RECEIPT_TBS_MAX];
        CU_ASSERT_FATAL(vst_receipt_req_encode(&one, &want[i]) == 0);
        CU_ASSERT(vst_be_get(at, 2) == vst_wr_len(&one));
        CU_ASSERT(memcmp(at + 2, vst_wr_data(&one), vst_wr_len(&one)) == 0);
        vst_wr_free(&one);
        memset(&got, 0xee, sizeof got);
        CU_ASSERT_FATAL(vst_receipts_item_decode(&at, end, &got) == 0);
        size_t n = vst_receipt_tbs(&want[i], a);
        CU_ASSERT(n > 0 && vst_receipt_tbs(&got, b) == n && memcmp(a, b, n) == 0);
    }
    CU_ASSERT(at == end && vst_receipts_item_decode(&at, end, &got) == VST_PROTO_E_SHORT);
    vst_wr_free(&w);

    const vst_msg_info *mi = vst_msg_lookup(VST_MSG_SIGN_RECEIPTS);
    CU_ASSERT_FATAL(mi != NULL);
    CU_ASSERT(mi->min_len == 2 + 2 + VST_RECEIPT_ENC_MIN);
    CU_ASSERT(mi->max_len == 2 + VST_SIGN_RECEIPTS_MAX * (2 + VST_RECEIPT_ENC_MAX));
    CU_ASSERT(mi->max_len <= VST_FRAME_MAX && VST_SIGN_RECEIPTS_MAX == 1024);
    vst_receipt_fields *big = calloc(VST_SIGN_RECEIPTS_MAX + 1, sizeof *big);
    CU_ASSERT_FATAL(big != NULL);
    for (size_t i = 0; i <= VST_SIGN_RECEIPTS_MAX; i++)
        big[i] = want[1]; /* the longest strings */
    CU_ASSERT_FATAL(vst_receipts_req_encode(&w, big, VST_SIGN_RECEIPTS_MAX) == 0);
    CU_ASSERT(vst_wr_len(&w) == mi->max_len);
    check_roundtrip(VST_MSG_SIGN_RECEIPTS, vst_wr_data(&w), vst_wr_len(&w));
    vst_wr_free(&w);
    uint8_t hdr[VST_FRAME_HDR_LEN];
    CU_ASSERT(vst_frame_hdr_encode(VST_MSG_SIGN_RECEIPTS, mi->max_len + 1, hdr) ==
              VST_PROTO_E_LENGTH);
    CU_ASSERT(vst_frame_hdr_encode(VST_MSG_SIGN_RECEIPTS, mi->min_len - 1, hdr) ==
              VST_PROTO_E_LENGTH);
    /* n = 0 and n over the maximum are refused, and nothing is written. */
    CU_ASSERT(vst_receipts_req_encode(&w, big, VST_SIGN_RECEIPTS_MAX + 1) == VST_PROTO_E_RANGE);
    CU_ASSERT(vst_receipts_req_encode(&w, big, 0) == VST_PROTO_E_RANGE);
    CU_ASSERT(vst_receipts_req_encode(&w, NULL, 1) == VST_PROTO_E_ARG);
    CU_ASSERT(vst_wr_len(&w) == 0);
    /* 1025 short receipts by hand: the header lets the length through,
     * the decoder refuses the count. */
    CU_ASSERT_FATAL(vst_wr_u16(&w, VST_SIGN_RECEIPTS_MAX + 1) == 0);
    for (size_t i = 0; i <= VST_SIGN_RECEIPTS_MAX; i++)
        CU_ASSERT_FATAL(vst_receipts_item_encode(&w, &want[2]) == 0);
    CU_ASSERT(vst_wr_len(&w) <= mi->max_len);
    CU_ASSERT(decode_copy(VST_MSG_SIGN_RECEIPTS, vst_wr_data(&w), vst_wr_len(&w), &m) ==
              VST_PROTO_E_RANGE);
    vst_wr_free(&w);
    free(big);
}

/* A SIGN_RECEIPTS payload by hand: the count field, then n receipts. */
static int receipts_rc(uint16_t count, const vst_receipt_fields *r, size_t n, vst_wr *w)
{
    vst_msg m;
    vst_wr_free(w);
    CU_ASSERT_FATAL(vst_wr_u16(w, count) == 0);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_FATAL(vst_receipts_item_encode(w, &r[i]) == 0);
    return decode_copy(VST_MSG_SIGN_RECEIPTS, vst_wr_data(w), vst_wr_len(w), &m);
}

/* r[0], the bytes enc[0..len) as the second receipt and r[2]: the batch's
 * answer, which is SIGN_RECEIPT's answer for enc alone. */
static int middle_rc(const vst_receipt_fields r[3], const uint8_t *enc, size_t len)
{
    vst_wr w = VST_WR_INIT;
    vst_msg m;
    CU_ASSERT_FATAL(vst_wr_u16(&w, 3) == 0 && vst_receipts_item_encode(&w, &r[0]) == 0);
    CU_ASSERT_FATAL(vst_wr_u16(&w, (uint16_t)len) == 0 && vst_wr_put(&w, enc, len) == 0);
    CU_ASSERT_FATAL(vst_receipts_item_encode(&w, &r[2]) == 0);
    int rc = decode_copy(VST_MSG_SIGN_RECEIPTS, vst_wr_data(&w), vst_wr_len(&w), &m);
    CU_ASSERT(rc == decode_copy(VST_MSG_SIGN_RECEIPT, enc, len, &m));
    vst_wr_free(&w);
    return rc;
}

static void test_receipts_limits(void)
{
    vst_receipt_fields r[3];
    vst_wr w = VST_WR_INIT;
    vst_msg m;
    fill_receipts(r);
    CU_ASSERT(receipts_rc(3, r, 3, &w) == 0);
    /* The count: 0, more than there are, fewer than there are. */
    CU_ASSERT(receipts_rc(0, r, 0, &w) == VST_PROTO_E_RANGE);
    CU_ASSERT(receipts_rc(0, r, 1, &w) == VST_PROTO_E_RANGE);
    CU_ASSERT(receipts_rc(3, r, 2, &w) == VST_PROTO_E_SHORT);
    CU_ASSERT(receipts_rc(2, r, 3, &w) == VST_PROTO_E_TRAILING);
    /* The last receipt cut short; a byte after it. */
    CU_ASSERT(receipts_rc(3, r, 3, &w) == 0);
    CU_ASSERT(decode_copy(VST_MSG_SIGN_RECEIPTS, vst_wr_data(&w), vst_wr_len(&w) - 1, &m) ==
              VST_PROTO_E_SHORT);
    CU_ASSERT_FATAL(vst_wr_u8(&w, 0) == 0);
    CU_ASSERT(decode_copy(VST_MSG_SIGN_RECEIPTS, vst_wr_data(&w), vst_wr_len(&w), &m) ==
              VST_PROTO_E_TRAILING);
    /* A length prefix one off: the receipt decoder sees a byte too many
     * (the next item's) or too few. */
    CU_ASSERT(receipts_rc(3, r, 3, &w) == 0);
    uint8_t *p = w.buf; /* test-only: patch the first item's length */
    size_t len0 = vst_be_get(p + 2, 2);
    vst_be_put(p + 2, len0 + 1, 2);
    CU_ASSERT(decode_copy(VST_MSG_SIGN_RECEIPTS, p, vst_wr_len(&w), &m) == VST_PROTO_E_TRAILING);
    vst_be_put(p + 2, len0 - 1, 2);
    CU_ASSERT(decode_copy(VST_MSG_SIGN_RECEIPTS, p, vst_wr_len(&w), &m) == VST_PROTO_E_SHORT);
    vst_wr_free(&w);

    /* One bad receipt in the middle refuses the batch, with SIGN_RECEIPT's
     * answer for that receipt. */
    uint8_t enc[VST_RECEIPT_ENC_MAX + 1];
    size_t n = vst_receipt_encode(&r[1], enc);
    CU_ASSERT_FATAL(n == VST_RECEIPT_ENC_MAX);
    CU_ASSERT(middle_rc(r, enc, n) == 0);
    enc[1] = '/'; /* delivery id */
    CU_ASSERT(middle_rc(r, enc, n) == VST_PROTO_E_CHARSET);
    enc[1] = 'd';
    enc[1 + VST_DELIVERY_ID_MAX + 1] = 0x7f; /* client: DEL */
    CU_ASSERT(middle_rc(r, enc, n) == VST_PROTO_E_CHARSET);
    enc[1 + VST_DELIVERY_ID_MAX + 1] = 'c';
    size_t kv = 3 + VST_DELIVERY_ID_MAX + VST_CLIENT_NAME_MAX + VST_PROFILE_NAME_MAX + 8 + 32;
    CU_ASSERT(vst_be_get(enc + kv, 4) == 3);
    vst_be_put(enc + kv, 0, 4); /* key version 0 */
    CU_ASSERT(middle_rc(r, enc, n) == VST_PROTO_E_RANGE);
    vst_be_put(enc + kv, 3, 4);
    CU_ASSERT(middle_rc(r, enc, n - 8) == VST_PROTO_E_SHORT); /* the v1 layout */
    enc[n] = 0;
    CU_ASSERT(middle_rc(r, enc, n + 1) == VST_PROTO_E_TRAILING);
    CU_ASSERT(middle_rc(r, enc, 0) == VST_PROTO_E_SHORT);
    CU_ASSERT(middle_rc(r, enc, n) == 0);
    /* The encoder refuses the batch for one such receipt, writes nothing. */
    r[1].version = VST_RECEIPT_V1;
    r[1].withheld_count = 0;
    CU_ASSERT(vst_receipts_req_encode(&w, r, 3) == VST_PROTO_E_RANGE && vst_wr_len(&w) == 0);
    fill_receipts(r);
    strcpy(r[1].profile, "SGB5");
    CU_ASSERT(vst_receipts_req_encode(&w, r, 3) == VST_PROTO_E_RANGE && vst_wr_len(&w) == 0);
    vst_wr_free(&w);
}

/* The answer: the count, then 1..1024 whole signatures. */
static int sigs_rc(uint16_t count, size_t nsig, int extra)
{
    static uint8_t p[2 + (VST_SIGN_RECEIPTS_MAX + 1) * VST_ED25519_SIG_LEN + 1];
    vst_msg m;
    vst_be_put(p, count, 2);
    int rc = decode_copy(VST_MSG_RESP(VST_MSG_SIGN_RECEIPTS), p,
                         2 + nsig * VST_ED25519_SIG_LEN + (size_t)extra, &m);
    CU_ASSERT(rc != 0 || (m.sigs_ok.count == count && m.sigs_ok.sigs != NULL));
    return rc;
}

static void test_receipts_answer(void)
{
    CU_ASSERT(sigs_rc(1, 1, 0) == 0);
    CU_ASSERT(sigs_rc(1024, 1024, 0) == 0);
    CU_ASSERT(sigs_rc(0, 0, 0) == VST_PROTO_E_RANGE);
    CU_ASSERT(sigs_rc(1025, 1025, 0) == VST_PROTO_E_RANGE);
    CU_ASSERT(sigs_rc(3, 2, 0) == VST_PROTO_E_SHORT);
    CU_ASSERT(sigs_rc(3, 3, -1) == VST_PROTO_E_SHORT);
    CU_ASSERT(sigs_rc(2, 3, 0) == VST_PROTO_E_TRAILING);
    CU_ASSERT(sigs_rc(3, 3, 1) == VST_PROTO_E_TRAILING);
    const vst_msg_info *mi = vst_msg_lookup(VST_MSG_RESP(VST_MSG_SIGN_RECEIPTS));
    CU_ASSERT(mi != NULL && mi->min_len == 2 + 64 && mi->max_len == 2 + 1024 * 64);
    vst_wr w = VST_WR_INIT;
    vst_sigs_ok rs = {0, sig3};
    CU_ASSERT(vst_sigs_ok_encode(&w, &rs) == VST_PROTO_E_RANGE);
    rs.count = VST_SIGN_RECEIPTS_MAX + 1;
    CU_ASSERT(vst_sigs_ok_encode(&w, &rs) == VST_PROTO_E_RANGE);
    rs = (vst_sigs_ok){1, NULL};
    CU_ASSERT(vst_sigs_ok_encode(&w, &rs) == VST_PROTO_E_ARG);
    CU_ASSERT(vst_wr_len(&w) == 0);
    vst_wr_free(&w);
}

static int one_event_rc(const char *action, const char *details, size_t dlen)
{
    vst_wr w = VST_WR_INIT;
    size_t alen = strlen(action);
    CU_ASSERT_FATAL(vst_wr_u16(&w, 1) == 0 && vst_wr_u64(&w, 1) == 0 && vst_wr_i64(&w, 2) == 0);
    CU_ASSERT_FATAL(vst_wr_u32(&w, 3) == 0 && vst_wr_u8(&w, (uint8_t)alen) == 0);
    CU_ASSERT_FATAL(vst_wr_put(&w, action, alen) == 0 && vst_wr_u16(&w, (uint16_t)dlen) == 0);
    CU_ASSERT_FATAL(vst_wr_put(&w, details, dlen) == 0);
    vst_msg m;
    int rc = decode_copy(VST_MSG_RESP(VST_MSG_EVENTS), vst_wr_data(&w), vst_wr_len(&w), &m);
    vst_wr_free(&w);
    return rc;
}

static void test_events_grammar(void)
{
    CU_ASSERT(one_event_rc("key.rotate", "{}", 2) == 0);
    CU_ASSERT(one_event_rc("key.rotate", "42", 2) == 0);
    CU_ASSERT(one_event_rc("key.Rotate", "{}", 2) == VST_PROTO_E_CHARSET);
    CU_ASSERT(one_event_rc("key-rotate", "{}", 2) == VST_PROTO_E_CHARSET);
    CU_ASSERT(one_event_rc("", "{}", 2) == VST_PROTO_E_RANGE);
    CU_ASSERT(one_event_rc("a", "", 0) < 0);
    CU_ASSERT(one_event_rc("a", "{", 1) == VST_PROTO_E_CHARSET);
    CU_ASSERT(one_event_rc("a", "{} x", 4) == VST_PROTO_E_CHARSET);
    CU_ASSERT(one_event_rc("a", "{\"a\":1,\"a\":2}", 13) == VST_PROTO_E_CHARSET);
    CU_ASSERT(one_event_rc("a", "\"\xff\"", 3) == VST_PROTO_E_CHARSET);
    CU_ASSERT(one_event_rc("a", "{}\0", 3) == VST_PROTO_E_CHARSET);
    char *big = malloc(VST_DETAILS_LEN_MAX + 2);
    CU_ASSERT_FATAL(big != NULL);
    memset(big, ' ', VST_DETAILS_LEN_MAX + 1);
    big[0] = '1';
    CU_ASSERT(one_event_rc("a", big, VST_DETAILS_LEN_MAX) == 0);
    CU_ASSERT(one_event_rc("a", big, VST_DETAILS_LEN_MAX + 1) == VST_PROTO_E_RANGE);
    free(big);
    /* A count larger than the entries present. */
    uint8_t p[2] = {0xff, 0xff};
    vst_msg m;
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_EVENTS), p, 2, &m) == VST_PROTO_E_SHORT);
}

/* The events builder stops cleanly at the frame limit. */
static void test_events_builder_fills_frame(void)
{
    vst_wr w = VST_WR_INIT;
    vst_list_builder b;
    char *details = malloc(VST_DETAILS_LEN_MAX);
    CU_ASSERT_FATAL(details != NULL);
    memset(details, ' ', VST_DETAILS_LEN_MAX);
    details[0] = '0';
    vst_event ev = mkevent(1, "filler", "0");
    ev.details = details, ev.details_len = VST_DETAILS_LEN_MAX;
    CU_ASSERT_FATAL(vst_events_ok_begin(&b, &w) == 0);
    int rc;
    while ((rc = vst_events_ok_add(&b, &ev)) == 0)
        ev.seq++;
    CU_ASSERT(rc == VST_PROTO_E_LENGTH);
    size_t per = 8 + 8 + 4 + 1 + 6 + 2 + VST_DETAILS_LEN_MAX;
    CU_ASSERT(b.n == (VST_FRAME_MAX - 2) / per);
    CU_ASSERT(vst_wr_len(&w) == 2 + b.n * per);
    vst_msg m;
    CU_ASSERT(vst_events_ok_decode(vst_wr_data(&w), vst_wr_len(&w), &m.events_ok) == 0);
    CU_ASSERT(m.events_ok.n == b.n);
    vst_wr_free(&w);
    free(details);
}

static void test_error_codes(void)
{
    static const char *const names[] = {NULL,
                                        "bad_frame",
                                        "forbidden",
                                        "sealed",
                                        "budget_exceeded",
                                        "unknown_version",
                                        "retired_version",
                                        "invalid_argument",
                                        "internal",
                                        "not_current",
                                        "unseal_rejected",
                                        "busy",
                                        "checkpoint_regression",
                                        "checkpoint_fork",
                                        "no_release",
                                        "withheld",
                                        "case_limit",
                                        "overlap_budget",
                                        "overlap_limit",
                                        "overlap_state"};
    for (unsigned c = 1; c <= 19; c++)
        CU_ASSERT(vst_keyd_err_name(c) != NULL && strcmp(vst_keyd_err_name(c), names[c]) == 0);
    CU_ASSERT(vst_keyd_err_name(0) == NULL && vst_keyd_err_name(20) == NULL);
    CU_ASSERT(VST_KERR_OVERLAP_BUDGET == 17 && VST_KERR_OVERLAP_LIMIT == 18 &&
              VST_KERR_OVERLAP_STATE == 19);
    CU_ASSERT(VST_KERR_WITHHELD == 15 && VST_KERR_CASE_LIMIT == 16);
    CU_ASSERT(VST_KERR_UNSEAL_REJECTED == 10 && VST_KERR_BAD_FRAME == 1 && VST_KERR_BUSY == 11);
    CU_ASSERT(VST_KERR_CHECKPOINT_REGRESSION == 12 && VST_KERR_CHECKPOINT_FORK == 13);
    CU_ASSERT(VST_KERR_NO_RELEASE == 14);
    uint8_t p[2] = {0, 0};
    vst_msg m;
    CU_ASSERT(decode_copy(VST_MSG_ERROR, p, 2, &m) == VST_PROTO_E_RANGE);
    p[1] = 20;
    CU_ASSERT(decode_copy(VST_MSG_ERROR, p, 2, &m) == VST_PROTO_E_RANGE);
    p[1] = 19;
    CU_ASSERT(decode_copy(VST_MSG_ERROR, p, 2, &m) == 0 && m.error.code == VST_KERR_OVERLAP_STATE);
    p[1] = 14;
    CU_ASSERT(decode_copy(VST_MSG_ERROR, p, 2, &m) == 0 && m.error.code == VST_KERR_NO_RELEASE);
    p[1] = 9;
    CU_ASSERT(decode_copy(VST_MSG_ERROR, p, 2, &m) == 0 && m.error.code == VST_KERR_NOT_CURRENT);
    CU_ASSERT(strcmp(vst_proto_strerror(VST_PROTO_E_TRAILING), "trailing bytes after message") ==
              0);
    CU_ASSERT(strcmp(vst_msg_name(VST_MSG_RESP(VST_MSG_REKEY)), "rekey_ok") == 0);
    CU_ASSERT(strcmp(vst_msg_name(0x55), "unknown") == 0);
}

/* vst-httpd's answer to a failed keyd call, as it was written out by hand
 * (httpd_delivery.c, before the registry held the mapping). */
static vst_err old_keyd_answer(int rc, const char **detail)
{
    *detail = rc == VST_KERR_SEALED            ? "the key service is sealed"
              : rc == VST_KERR_BUDGET_EXCEEDED ? "the pseudonymization budget is exhausted"
              : rc == VST_KERR_BUSY            ? "the key service is busy"
              : rc == VST_PROTO_E_TIMEOUT      ? "the key service does not answer"
                                               : "the key service failed";
    return rc == VST_KERR_INVALID_ARGUMENT ? VST_E_INTERNAL : VST_E_UNAVAILABLE;
}

static void test_keyd_http_answers(void)
{
    /* Every keyd code and local result, and some outside both. */
    for (int rc = -40; rc <= 40; rc++) {
        if (rc == 0)
            continue;
        const char *want, *got = NULL;
        vst_err we = old_keyd_answer(rc, &want);
        CU_ASSERT_EQUAL(vst_keyd_http_err(rc, &got), we);
        CU_ASSERT(got != NULL && strcmp(got, want) == 0);
    }
    const char *d = "x";
    CU_ASSERT(vst_keyd_http_err(0, &d) == VST_E_OK && d == NULL);
    CU_ASSERT(vst_err_status(vst_keyd_http_err(VST_KERR_SEALED, &d)) == 503);
    CU_ASSERT(vst_err_status(vst_keyd_http_err(VST_KERR_INVALID_ARGUMENT, &d)) == 500);
    /* The local results are exactly -1..-14 (keyd's codes are 1..19). */
    for (int rc = -14; rc <= -1; rc++)
        CU_ASSERT(strcmp(vst_proto_strerror(rc), "unknown error") != 0);
    CU_ASSERT(strcmp(vst_proto_strerror(-15), "unknown error") == 0);
    CU_ASSERT(strcmp(vst_proto_strerror(1), "unknown error") == 0);
    CU_ASSERT(strcmp(vst_proto_strerror(VST_PROTO_OK), "ok") == 0);
    CU_ASSERT(VST_PROTO_E_TIMEOUT == -13 && VST_PROTO_E_SHORT == -1 && VST_KERR_MAX == 19);
    CU_ASSERT(VST_PROTO_E_FIELD == -14);
}

static void test_permissions(void)
{
    const uint8_t data_ok[] = {VST_MSG_STATUS,       VST_MSG_PUBKEY,          VST_MSG_PSEUDONYMIZE,
                               VST_MSG_SIGN_RECEIPT, VST_MSG_SIGN_CHECKPOINT, VST_MSG_EVENTS,
                               VST_MSG_CV_DERIVE,    VST_MSG_SIGN_RECEIPTS};
    /* Pseudonyms and control values only for the data socket: an operator
     * who can ask keyd for the pseudonym of a KVNR, or the control values
     * of a name, they know could re-identify anyone. */
    const uint8_t data_only[] = {VST_MSG_PSEUDONYMIZE, VST_MSG_CV_DERIVE};
    for (size_t i = 0; i < NTYPES; i++) {
        uint8_t t = all_types[i];
        int is_req = t < VST_MSG_ERROR;
        int on_data = memchr(data_ok, t, sizeof data_ok) != NULL;
        int on_admin = memchr(data_only, t, sizeof data_only) == NULL;
        int sealed_ok = t == VST_MSG_STATUS || t == VST_MSG_UNSEAL;
        unsigned want_data = !is_req ? VST_KERR_BAD_FRAME : !on_data ? VST_KERR_FORBIDDEN : 0;
        unsigned want_admin = !is_req ? VST_KERR_BAD_FRAME : !on_admin ? VST_KERR_FORBIDDEN : 0;
        CU_ASSERT(vst_msg_permit(VST_SOCK_DATA, 0, t) == want_data);
        CU_ASSERT(vst_msg_permit(VST_SOCK_ADMIN, 0, t) == want_admin);
        CU_ASSERT(vst_msg_permit(VST_SOCK_DATA, 1, t) == (want_data   ? want_data
                                                          : sealed_ok ? 0
                                                                      : VST_KERR_SEALED));
        CU_ASSERT(vst_msg_permit(VST_SOCK_ADMIN, 1, t) == (want_admin  ? want_admin
                                                           : sealed_ok ? 0
                                                                       : VST_KERR_SEALED));
    }
    CU_ASSERT(vst_msg_permit(VST_SOCK_DATA, 1, VST_MSG_UNSEAL) == VST_KERR_FORBIDDEN);
    CU_ASSERT(vst_msg_permit(VST_SOCK_DATA, 1, VST_MSG_ROTATE) == VST_KERR_FORBIDDEN);
    CU_ASSERT(vst_msg_permit(VST_SOCK_DATA | VST_SOCK_ADMIN, 0, VST_MSG_ROTATE) ==
              VST_KERR_FORBIDDEN);
    CU_ASSERT(vst_msg_permit(VST_SOCK_ADMIN, 0, 0x42) == VST_KERR_BAD_FRAME);
    CU_ASSERT(vst_msg_permit(VST_SOCK_ADMIN, 0, VST_MSG_PSEUDONYMIZE) == VST_KERR_FORBIDDEN);
    CU_ASSERT(vst_msg_permit(VST_SOCK_DATA, 0, VST_MSG_PSEUDONYMIZE) == 0);
    /* Release pseudonyms and report signatures: the operator's alone (a
     * compromised vst-httpd must not map the store nor sign a report). */
    const uint8_t admin_only[] = {VST_MSG_RELEASE_OPEN, VST_MSG_RELEASE_MAP,  VST_MSG_SIGN_REPORT,
                                  VST_MSG_DISCLOSE,     VST_MSG_OBJECT,       VST_MSG_CV_REKEY,
                                  VST_MSG_OVERLAP_OPEN, VST_MSG_OVERLAP_FEED, VST_MSG_OVERLAP_RUN,
                                  VST_MSG_OVERLAP_SIGN};
    for (size_t i = 0; i < sizeof admin_only; i++) {
        CU_ASSERT(vst_msg_permit(VST_SOCK_DATA, 0, admin_only[i]) == VST_KERR_FORBIDDEN);
        CU_ASSERT(vst_msg_permit(VST_SOCK_ADMIN, 0, admin_only[i]) == 0);
        CU_ASSERT(vst_msg_permit(VST_SOCK_ADMIN, 1, admin_only[i]) == VST_KERR_SEALED);
    }
}

static void test_reader_writer(void)
{
    const uint8_t b[5] = {1, 2, 3, 4, 5};
    vst_rd r;
    uint32_t v32 = 77;
    uint64_t v64 = 77;
    const uint8_t *view = NULL;
    vst_rd_init(&r, b, sizeof b);
    CU_ASSERT(vst_rd_u64(&r, &v64) == VST_PROTO_E_SHORT && v64 == 77 && vst_rd_left(&r) == 5);
    CU_ASSERT(vst_rd_u32(&r, &v32) == 0 && v32 == 0x01020304);
    CU_ASSERT(vst_rd_u32(&r, &v32) == VST_PROTO_E_SHORT && v32 == 0x01020304);
    CU_ASSERT(vst_rd_end(&r) == VST_PROTO_E_TRAILING);
    CU_ASSERT(vst_rd_view(&r, 2, &view) == VST_PROTO_E_SHORT && view == NULL);
    CU_ASSERT(vst_rd_view(&r, 1, &view) == 0 && view == b + 4 && vst_rd_end(&r) == 0);
    CU_ASSERT(vst_rd_view(&r, SIZE_MAX, &view) == VST_PROTO_E_SHORT);
    vst_rd_init(&r, NULL, 10);
    CU_ASSERT(vst_rd_left(&r) == 0);

    vst_wr w;
    uint8_t *dst;
    vst_wr_init(&w);
    CU_ASSERT(vst_wr_len(&w) == 0 && vst_wr_data(&w) != NULL);
    CU_ASSERT(vst_wr_i64(&w, -2) == 0 && vst_wr_len(&w) == 8 && vst_wr_data(&w)[7] == 0xfe);
    CU_ASSERT(vst_wr_reserve(&w, VST_FRAME_MAX - 8, &dst) == 0);
    dst[0] = 0x99;
    CU_ASSERT(vst_wr_u8(&w, 1) == VST_PROTO_E_LENGTH && vst_wr_len(&w) == VST_FRAME_MAX);
    CU_ASSERT(vst_wr_data(&w)[8] == 0x99 && vst_wr_data(&w)[0] == 0xff);
    CU_ASSERT(vst_wr_put(&w, NULL, 1) == VST_PROTO_E_ARG);
    vst_wr_reset(&w);
    CU_ASSERT(vst_wr_len(&w) == 0 && vst_wr_u16(&w, 0x1234) == 0 && vst_wr_data(&w)[1] == 0x34);
    vst_wr_free(&w);
    CU_ASSERT(vst_wr_len(&w) == 0);

    /* Helpers for the keyd and httpd sides of a PSEUDONYMIZE exchange. */
    vst_pseud_req rq;
    vst_pseud_ok rs = {.key_version = 1, .nsections = 2};
    fill_pseud_req(&rq);
    rs.sec[0] = (vst_pseud_out){3, blocks, 0, NULL},
    rs.sec[1] = (vst_pseud_out){2, blocks, 0, NULL};
    CU_ASSERT(vst_pseud_ok_matches(&rq, &rs) == 1);
    rs.sec[1].count = 1;
    CU_ASSERT(vst_pseud_ok_matches(&rq, &rs) == 0);
    /* A withheld list that a decoder would refuse does not match either. */
    rs.sec[1].count = 2;
    rs.sec[1].nwithheld = 1, rs.sec[1].withheld = (const uint8_t *)"\0\0\0\1";
    CU_ASSERT(vst_pseud_ok_matches(&rq, &rs) == 1);
    rs.sec[1].withheld = (const uint8_t *)"\0\0\0\2"; /* index == count */
    CU_ASSERT(vst_pseud_ok_matches(&rq, &rs) == 0);
    rs.sec[1].nwithheld = 3; /* more than count */
    CU_ASSERT(vst_pseud_ok_matches(&rq, &rs) == 0);
}

/* A PSEUDONYMIZE answer of one section: count pseudonyms (zero where an
 * index lists them, 0x5a elsewhere), nw indices as given, extra bytes
 * appended (negative: cut). */
static int pseud_ok_raw(uint32_t count, uint32_t nw, const uint32_t *idx, long extra)
{
    size_t n = 6 + 4 + (size_t)count * 16 + 4 + (size_t)nw * 4;
    uint8_t *p = calloc(1, n + 8);
    CU_ASSERT_FATAL(p != NULL);
    p[3] = 2, p[5] = 1; /* key version 2, one section */
    wr_be32(p + 6, count);
    memset(p + 10, 0x5a, (size_t)count * 16);
    for (uint32_t j = 0; j < nw; j++)
        if (idx[j] < count)
            memset(p + 10 + (size_t)idx[j] * 16, 0, 16);
    wr_be32(p + 10 + (size_t)count * 16, nw);
    for (uint32_t j = 0; j < nw; j++)
        wr_be32(p + 14 + (size_t)count * 16 + 4 * j, idx[j]);
    vst_msg m;
    int rc = decode_copy(VST_MSG_RESP(VST_MSG_PSEUDONYMIZE), p, (size_t)((long)n + extra), &m);
    if (rc == 0) { /* decode_copy's copy is gone: read p itself */
        CU_ASSERT_FATAL(vst_pseud_ok_decode(p, n, &m.pseud_ok) == 0);
        CU_ASSERT(m.pseud_ok.sec[0].nwithheld == nw);
        for (uint32_t j = 0; j < nw; j++)
            CU_ASSERT(vst_pseud_withheld_at(&m.pseud_ok.sec[0], j) == idx[j]);
    }
    free(p);
    return rc;
}

static void test_pseudonymize_withheld(void)
{
    const uint32_t none[1] = {0}, ends[] = {0, 4}, all[] = {0, 1, 2, 3, 4};
    const uint32_t same[] = {1, 1}, down[] = {3, 2}, past[] = {5}, six[] = {0, 1, 2, 3, 4, 5};
    CU_ASSERT(pseud_ok_raw(5, 0, none, 0) == 0);
    CU_ASSERT(pseud_ok_raw(5, 2, ends, 0) == 0);
    CU_ASSERT(pseud_ok_raw(5, 5, all, 0) == 0);                     /* every one withheld */
    CU_ASSERT(pseud_ok_raw(5, 2, same, 0) == VST_PROTO_E_RANGE);    /* not strictly ascending */
    CU_ASSERT(pseud_ok_raw(5, 2, down, 0) == VST_PROTO_E_RANGE);    /* descending */
    CU_ASSERT(pseud_ok_raw(5, 1, past, 0) == VST_PROTO_E_RANGE);    /* index == count */
    CU_ASSERT(pseud_ok_raw(5, 6, six, 0) == VST_PROTO_E_RANGE);     /* nwithheld > count */
    CU_ASSERT(pseud_ok_raw(5, 2, ends, -1) == VST_PROTO_E_SHORT);   /* an index cut */
    CU_ASSERT(pseud_ok_raw(5, 2, ends, -4) == VST_PROTO_E_SHORT);   /* an index missing */
    CU_ASSERT(pseud_ok_raw(5, 2, ends, 1) == VST_PROTO_E_TRAILING); /* a byte extra */
    CU_ASSERT(pseud_ok_raw(5, 0, none, -4) == VST_PROTO_E_SHORT);   /* no nwithheld at all */
    /* A withheld slot carries no value: a pseudonym there is refused. */
    uint8_t p[6 + 4 + 32 + 4 + 4] = {0, 0, 0, 1, 0, 1, 0, 0, 0, 2};
    memset(p + 10, 0x5a, 32);
    p[45] = 1, p[49] = 1; /* nwithheld 1, index 1: whose bytes are 0x5a */
    vst_msg m;
    /* nwithheld 0x40000001 (4 * n wraps to 4): refused before the bytes it
     * describes are viewed. */
    p[42] = 0x40;
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_PSEUDONYMIZE), p, sizeof p, &m) ==
              VST_PROTO_E_RANGE);
    p[42] = 0;
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_PSEUDONYMIZE), p, sizeof p, &m) ==
              VST_PROTO_E_RESERVED);
    memset(p + 26, 0, 16);
    CU_ASSERT(decode_copy(VST_MSG_RESP(VST_MSG_PSEUDONYMIZE), p, sizeof p, &m) == 0);
    /* The encoder refuses the same lists and leaves the writer as it was. */
    vst_wr w = VST_WR_INIT;
    static const uint8_t zeros[5 * 16];
    vst_pseud_ok o = {.key_version = 1, .nsections = 1};
    o.sec[0] = (vst_pseud_out){5, zeros, 2, (const uint8_t *)"\0\0\0\3\0\0\0\3"};
    CU_ASSERT(vst_pseud_ok_encode(&w, &o) == VST_PROTO_E_RANGE && vst_wr_len(&w) == 0);
    o.sec[0].withheld = (const uint8_t *)"\0\0\0\3\0\0\0\5";
    CU_ASSERT(vst_pseud_ok_encode(&w, &o) == VST_PROTO_E_RANGE && vst_wr_len(&w) == 0);
    o.sec[0].withheld = NULL;
    CU_ASSERT(vst_pseud_ok_encode(&w, &o) == VST_PROTO_E_ARG && vst_wr_len(&w) == 0);
    uint8_t ff[5 * 16];
    memset(ff, 0xff, sizeof ff);
    o.sec[0].pseudonyms = ff;
    o.sec[0].withheld = (const uint8_t *)"\0\0\0\3\0\0\0\4";
    CU_ASSERT(vst_pseud_ok_encode(&w, &o) == VST_PROTO_E_RESERVED && vst_wr_len(&w) == 0);
    o.sec[0].pseudonyms = zeros;
    CU_ASSERT_FATAL(vst_pseud_ok_encode(&w, &o) == 0);
    /* key version, nsections, count, 80 bytes, nwithheld 2, indices 3, 4 */
    CU_ASSERT(vst_wr_len(&w) == 4 + 2 + 4 + 80 + 4 + 8);
    CU_ASSERT(memcmp(vst_wr_data(&w) + 90, "\0\0\0\2\0\0\0\3\0\0\0\4", 12) == 0);
    vst_wr_free(&w);
}

/* ------------------------------------------------------------ signatures */

static EVP_PKEY *ed25519_key(uint8_t pub[32])
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    size_t n = 32;
    CU_ASSERT_FATAL(pk != NULL);
    CU_ASSERT_FATAL(EVP_PKEY_get_raw_public_key(pk, pub, &n) == 1 && n == 32);
    return pk;
}

static void sign(EVP_PKEY *pk, const uint8_t *msg, size_t len, uint8_t sig[64])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t n = 64;
    CU_ASSERT_FATAL(md != NULL && EVP_DigestSignInit(md, NULL, NULL, NULL, pk) == 1);
    CU_ASSERT_FATAL(EVP_DigestSign(md, sig, &n, msg, len) == 1 && n == 64);
    EVP_MD_CTX_free(md);
}

static void test_tbs_layout(void)
{
    vst_receipt_fields r;
    uint8_t tbs[VST_RECEIPT_TBS_MAX], ctbs[VST_CHECKPOINT_TBS_LEN], head[32];
    fill_receipt(&r);
    size_t n = vst_receipt_tbs(&r, tbs);
    CU_ASSERT_FATAL(n > 0);
    CU_ASSERT(memcmp(tbs, "vst-receipt-v2\0", 15) == 0);
    /* TBS = prefix || the exact SIGN_RECEIPT payload. */
    vst_wr w = VST_WR_INIT;
    sample(VST_MSG_SIGN_RECEIPT, &w);
    CU_ASSERT(n == 15 + vst_wr_len(&w) && memcmp(tbs + 15, vst_wr_data(&w), n - 15) == 0);
    vst_wr_free(&w);

    memset(head, 0xcc, sizeof head);
    vst_checkpoint_tbs(99, head, -5, ctbs);
    CU_ASSERT(sizeof ctbs == 18 + 48 && memcmp(ctbs, "vst-checkpoint-v1\0", 18) == 0);
    sample(VST_MSG_SIGN_CHECKPOINT, &w);
    CU_ASSERT(memcmp(ctbs + 18, vst_wr_data(&w), 48) == 0);
    vst_wr_free(&w);

    /* Distinct at byte 4, and neither prefix is a prefix of the other. */
    CU_ASSERT(memcmp(tbs, ctbs, 4) == 0 && tbs[4] != ctbs[4]);
    CU_ASSERT(memcmp(VST_RECEIPT_PREFIX, VST_CHECKPOINT_PREFIX, sizeof VST_RECEIPT_PREFIX) != 0);
    r.key_version = 0;
    CU_ASSERT(vst_receipt_tbs(&r, tbs) == 0);

    /* Report TBS = the kind's context, its NUL, the digest; the context
     * comes from the kind alone, and only kind 1 has one. */
    uint8_t rtbs[VST_REPORT_TBS_MAX], digest[32];
    memset(digest, 0xd1, sizeof digest);
    CU_ASSERT(vst_report_tbs(VST_REPORT_KIND_CELLS, digest, rtbs) == 12 + 32);
    CU_ASSERT(memcmp(rtbs, "vst/cells/1\0", 12) == 0 && memcmp(rtbs + 12, digest, 32) == 0);
    CU_ASSERT(strcmp(vst_report_context(VST_REPORT_KIND_CELLS), "vst/cells/1") == 0);
    for (unsigned k = 0; k < 256; k++)
        if (k != VST_REPORT_KIND_CELLS)
            CU_ASSERT(vst_report_tbs((uint8_t)k, digest, rtbs) == 0 &&
                      vst_report_context((uint8_t)k) == NULL);
    /* Its context differs from receipts' and checkpoints' at byte 3 and
     * from usage reports' at byte 4: no report TBS is any other TBS. */
    CU_ASSERT(vst_report_tbs(VST_REPORT_KIND_CELLS, digest, rtbs) == 44);
    CU_ASSERT(memcmp(rtbs, tbs, 3) == 0 && rtbs[3] != tbs[3] && rtbs[3] != ctbs[3]);
    CU_ASSERT(memcmp(rtbs, VST_USAGE_PREFIX, 4) == 0 && rtbs[4] != VST_USAGE_PREFIX[4]);
}

static void test_signatures_do_not_cross(void)
{
    uint8_t pub[32], pub2[32], sig[64], csig[64];
    uint8_t tbs[VST_RECEIPT_TBS_MAX], ctbs[VST_CHECKPOINT_TBS_LEN];
    EVP_PKEY *pk = ed25519_key(pub), *pk2 = ed25519_key(pub2);
    vst_receipt_fields r;
    fill_receipt(&r);
    size_t n = vst_receipt_tbs(&r, tbs);
    sign(pk, tbs, n, sig);
    CU_ASSERT(vst_ed25519_verify(pub, tbs, n, sig) == 1);
    CU_ASSERT(vst_receipt_verify(pub, &r, sig) == 1);
    CU_ASSERT(vst_receipt_verify(pub2, &r, sig) == 0);
    /* The receipt's signature is no checkpoint's, not even one made of the
     * receipt's own numbers. */
    CU_ASSERT(vst_checkpoint_verify(pub, r.audit_seq, r.body_sha256, r.stored_at_us, sig) == 0);
    CU_ASSERT(vst_checkpoint_verify(pub, r.record_count, r.body_sha256, r.received_at_us, sig) ==
              0);

    uint8_t head[32];
    memset(head, 0x17, sizeof head);
    vst_checkpoint_tbs(4711, head, 1717000000000000, ctbs);
    sign(pk, ctbs, sizeof ctbs, csig);
    CU_ASSERT(vst_checkpoint_verify(pub, 4711, head, 1717000000000000, csig) == 1);
    CU_ASSERT(vst_checkpoint_verify(pub, 4712, head, 1717000000000000, csig) == 0);
    CU_ASSERT(vst_receipt_verify(pub, &r, csig) == 0);
    /* A signature over the bare payload (no context) verifies as neither. */
    sign(pk, tbs + sizeof VST_RECEIPT_PREFIX, n - sizeof VST_RECEIPT_PREFIX, sig);
    CU_ASSERT(vst_receipt_verify(pub, &r, sig) == 0);
    sign(pk, ctbs + sizeof VST_CHECKPOINT_PREFIX, VST_CHECKPOINT_ENC_LEN, csig);
    CU_ASSERT(vst_checkpoint_verify(pub, 4711, head, 1717000000000000, csig) == 0);

    /* Every field is covered. */
    n = vst_receipt_tbs(&r, tbs);
    sign(pk, tbs, n, sig);
    vst_receipt_fields t = r;
    t.record_count++;
    CU_ASSERT(vst_receipt_verify(pub, &t, sig) == 0);
    t = r, t.client[0] = 'B';
    CU_ASSERT(vst_receipt_verify(pub, &t, sig) == 0);
    t = r, t.stored_at_us++;
    CU_ASSERT(vst_receipt_verify(pub, &t, sig) == 0);
    t = r, t.withheld_count++;
    CU_ASSERT(vst_receipt_verify(pub, &t, sig) == 0);
    t = r, t.key_version = 0; /* invalid fields never verify */
    CU_ASSERT(vst_receipt_verify(pub, &t, sig) == 0);
    /* The version is signed: a v2 receipt with nothing withheld does not
     * verify as the v1 receipt of the same fields, nor the other way. */
    r.withheld_count = 0;
    n = vst_receipt_tbs(&r, tbs);
    sign(pk, tbs, n, sig);
    t = r, t.version = VST_RECEIPT_V1;
    CU_ASSERT(vst_receipt_verify(pub, &r, sig) == 1 && vst_receipt_verify(pub, &t, sig) == 0);
    n = vst_receipt_tbs(&t, tbs);
    CU_ASSERT(n > 0 && memcmp(tbs, "vst-receipt-v1\0", 15) == 0);
    sign(pk, tbs, n, sig);
    CU_ASSERT(vst_receipt_verify(pub, &t, sig) == 1 && vst_receipt_verify(pub, &r, sig) == 0);
    r.withheld_count = 7;
    n = vst_receipt_tbs(&r, tbs);
    sign(pk, tbs, n, sig);
    CU_ASSERT(vst_receipt_verify(pub, &r, sig) == 1);
    sig[63] ^= 1;
    CU_ASSERT(vst_receipt_verify(pub, &r, sig) == 0);
    EVP_PKEY_free(pk);
    EVP_PKEY_free(pk2);
}

/* A report's signature verifies for its kind and digest alone, and no
 * receipt, checkpoint or usage signature verifies as a report's. */
static void test_report_signatures(void)
{
    uint8_t pub[32], pub2[32], sig[64], digest[32], tbs[VST_REPORT_TBS_MAX];
    EVP_PKEY *pk = ed25519_key(pub), *pk2 = ed25519_key(pub2);
    for (int i = 0; i < 32; i++)
        digest[i] = (uint8_t)(3 * i + 1);
    size_t n = vst_report_tbs(VST_REPORT_KIND_CELLS, digest, tbs);
    CU_ASSERT_FATAL(n == 44);
    sign(pk, tbs, n, sig);
    CU_ASSERT(vst_report_verify(VST_REPORT_KIND_CELLS, digest, sig, pub) == 1);
    CU_ASSERT(vst_report_verify(VST_REPORT_KIND_CELLS, digest, sig, pub2) == 0);
    CU_ASSERT(vst_report_verify(2, digest, sig, pub) == 0);
    CU_ASSERT(vst_report_verify(0, digest, sig, pub) == 0);
    uint8_t d2[32];
    memcpy(d2, digest, 32);
    d2[31] ^= 1;
    CU_ASSERT(vst_report_verify(VST_REPORT_KIND_CELLS, d2, sig, pub) == 0);
    /* The bare digest (no context) is not a report's TBS. */
    sign(pk, digest, 32, sig);
    CU_ASSERT(vst_report_verify(VST_REPORT_KIND_CELLS, digest, sig, pub) == 0);
    /* A checkpoint whose head is the digest is not a report. */
    uint8_t ctbs[VST_CHECKPOINT_TBS_LEN];
    vst_checkpoint_tbs(1, digest, 0, ctbs);
    sign(pk, ctbs, sizeof ctbs, sig);
    CU_ASSERT(vst_checkpoint_verify(pub, 1, digest, 0, sig) == 1);
    CU_ASSERT(vst_report_verify(VST_REPORT_KIND_CELLS, digest, sig, pub) == 0);
    /* ... nor is a report a checkpoint, receipt or usage report. */
    sign(pk, tbs, n, sig);
    CU_ASSERT(vst_checkpoint_verify(pub, 1, digest, 0, sig) == 0);
    vst_receipt_fields r;
    fill_receipt(&r);
    memcpy(r.body_sha256, digest, 32);
    CU_ASSERT(vst_receipt_verify(pub, &r, sig) == 0);
    vst_usage u = {.seq = 1, .from_us = 0, .to_us = 1, .n = 1};
    u.e[0] = (vst_usage_entry){
        .sock = VST_USAGE_SOCK_ADMIN, .op = VST_USAGE_OP_SIGN_REPORT, .count = 1, .total = 1};
    CU_ASSERT(vst_usage_verify(pub, &u, sig) == 0);
    EVP_PKEY_free(pk);
    EVP_PKEY_free(pk2);
}

/* ------------------------------------------------------------- frame I/O */

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

/* Child: writes the frames byte by byte, slowly enough for the parent's
 * interval timer to interrupt its reads. */
static void child_send(int fd)
{
    vst_wr w = VST_WR_INIT, f = VST_WR_INIT;
    uint8_t h[8];
    sample(VST_MSG_PSEUDONYMIZE, &w);
    vst_frame_hdr_encode(VST_MSG_PSEUDONYMIZE, (uint32_t)vst_wr_len(&w), h);
    vst_wr_put(&f, h, 8);
    vst_wr_put(&f, vst_wr_data(&w), vst_wr_len(&w));
    for (size_t i = 0; i < vst_wr_len(&f); i++) {
        if (write(fd, vst_wr_data(&f) + i, 1) != 1)
            _exit(1);
        if (i % 16 == 0)
            usleep(2000);
    }
    /* A large frame in one call: the socket buffer forces short writes. */
    uint8_t *big = calloc(1, 12 + 16 * VST_BATCH_MAX);
    big[3] = 1, big[7] = 2, big[9] = 1; /* from 1, to 2, count 65536 */
    int rc = vst_frame_send(fd, VST_MSG_REKEY, big, 12 + 16 * VST_BATCH_MAX);
    free(big);
    /* Then a frame cut short by the close. */
    if (rc == 0 && write(fd, h, 8) == 8 && write(fd, "x", 1) == 1)
        _exit(0);
    _exit(1);
}

static void test_frame_io(void)
{
    int sv[2];
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        child_send(sv[1]);
    }
    close(sv[1]);
    struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART: reads see EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 1000}, {0, 1000}};
    alarms = 0;
    setitimer(ITIMER_REAL, &it, NULL);

    vst_frame_hdr h;
    uint8_t *buf;
    vst_msg m;
    CU_ASSERT(vst_frame_recv(sv[0], VST_FRAME_MAX, &h, &buf) == 0);
    CU_ASSERT(h.type == VST_MSG_PSEUDONYMIZE);
    CU_ASSERT(vst_msg_decode(h.type, buf, h.len, &m) == 0 && m.pseud_req.sec[1].count == 2);
    vst_frame_free(buf, h.len);
    CU_ASSERT(vst_frame_recv(sv[0], VST_FRAME_MAX, &h, &buf) == 0);
    CU_ASSERT(h.type == VST_MSG_REKEY && h.len == 12 + 16 * VST_BATCH_MAX);
    CU_ASSERT(vst_msg_decode(h.type, buf, h.len, &m) == 0 && m.rekey_req.count == VST_BATCH_MAX);
    vst_frame_free(buf, h.len);
    CU_ASSERT(vst_frame_recv(sv[0], VST_FRAME_MAX, &h, &buf) == VST_PROTO_E_SHORT && !buf);
    CU_ASSERT(vst_frame_recv(sv[0], VST_FRAME_MAX, &h, &buf) == VST_PROTO_E_EOF && !buf);

    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    signal(SIGALRM, SIG_DFL);
    CU_ASSERT(alarms > 0);
    int st;
    CU_ASSERT(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(sv[0]);
}

static void test_frame_io_limits(void)
{
    int sv[2];
    vst_frame_hdr h;
    uint8_t *buf = (uint8_t *)1;
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    /* The receiver's own maximum refuses the frame before its payload. */
    CU_ASSERT(vst_frame_send(sv[1], VST_MSG_RESP(VST_MSG_PUBKEY), blocks, 32) == 0);
    CU_ASSERT(vst_frame_recv(sv[0], 31, &h, &buf) == VST_PROTO_E_LENGTH && buf == NULL);
    /* The refused payload is still in the stream: the connection is out of
     * step and must be closed, as keyd does after any bad frame. */
    CU_ASSERT(vst_frame_send(sv[1], VST_MSG_STATUS, NULL, 0) == 0);
    CU_ASSERT(vst_frame_recv(sv[0], VST_FRAME_MAX, &h, &buf) == VST_PROTO_E_VERSION);
    close(sv[0]);
    close(sv[1]);
    /* Empty payloads; a length impossible for the type is not sent. */
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CU_ASSERT(vst_frame_send(sv[1], VST_MSG_STATUS, NULL, 0) == 0);
    CU_ASSERT(vst_frame_recv(sv[0], VST_FRAME_MAX, &h, &buf) == 0 && buf != NULL && h.len == 0);
    vst_frame_free(buf, 0);
    CU_ASSERT(vst_frame_send(sv[1], VST_MSG_STATUS, blocks, 1) == VST_PROTO_E_LENGTH);
    CU_ASSERT(vst_frame_send(sv[1], 0x42, NULL, 0) == VST_PROTO_E_TYPE);
    /* A vanished peer is an error, not a SIGPIPE. */
    close(sv[0]);
    CU_ASSERT(vst_frame_send(sv[1], VST_MSG_STATUS, NULL, 0) == VST_PROTO_E_IO && errno == EPIPE);
    close(sv[1]);
}

int vst_register_tests(void)
{
    static const vst_test codec[] = {
        {"round trip of every message type", test_roundtrip_every_type},
        {"round trip keeps every field", test_roundtrip_fields},
        {"status and events lists", test_roundtrip_lists},
        {"every truncation is rejected", test_every_truncation_rejected},
        {"one byte extra is rejected", test_extra_byte_rejected},
        {"header: version, reserved, type, length", test_header},
        {"pseudonymize: counts, overflow, exact size", test_pseudonymize_limits},
        {"pseudonymize: domain charset and length", test_domain_charset},
        {"pseudonymize answer: the withheld index list", test_pseudonymize_withheld},
        {"rekey, versions, unseal, events limits", test_rekey_and_version_limits},
        {"release_open, release_map, sign_report: sizes, counts", test_release_and_report_limits},
        {"disclose, object: requests", test_case_requests},
        {"disclose, object: answers", test_case_answers},
        {"release_map answer: the excluded index list", test_release_map_excluded},
        {"status: flags, entries, reserved", test_status_limits},
        {"sign_receipt: field grammars", test_receipt_grammar},
        {"sign_receipt: v2 receipts only", test_receipt_v2_only},
        {"sign_receipts: every receipt in order, the largest batch", test_receipts_roundtrip},
        {"sign_receipts: counts, cut and extra bytes, one bad receipt", test_receipts_limits},
        {"sign_receipts answer: count and whole signatures", test_receipts_answer},
        {"events: action and JSON details", test_events_grammar},
        {"events builder stops at the frame limit", test_events_builder_fills_frame},
        {"error codes and names", test_error_codes},
        {"keyd results map to vst-httpd's answers", test_keyd_http_answers},
        {"permission table", test_permissions},
        {"checked reader and writer", test_reader_writer},
        {NULL, NULL},
    };
    static const vst_test sig[] = {
        {"TBS layout and prefixes", test_tbs_layout},
        {"receipt and checkpoint signatures do not cross", test_signatures_do_not_cross},
        {"report signatures: kind, digest, no other TBS", test_report_signatures},
        {NULL, NULL},
    };
    static const vst_test io[] = {
        {"send/recv with short reads, EINTR and a cut frame", test_frame_io},
        {"send/recv limits, empty payloads, EPIPE", test_frame_io_limits},
        {NULL, NULL},
    };
    VST_ADD_SUITE("keyd protocol codec", codec);
    VST_ADD_SUITE("signed structures", sig);
    VST_ADD_SUITE("frame I/O", io);
    return CUE_SUCCESS;
}
