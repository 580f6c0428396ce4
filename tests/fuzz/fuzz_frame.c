/* libFuzzer target for the keyd wire protocol (server/wire/: frame
 * header, message table, every codec).
 *
 * The input is one frame: its 8-byte header goes through
 * vst_frame_hdr_decode, and if that accepts it, the payload (exactly the
 * length the header names, copied to its own allocation so ASan sees its
 * end) goes through the decoder of that type. Whatever decodes must
 * re-encode to the identical bytes; a SIGN_* request must also give the TBS
 * prefix || payload (SIGN_RECEIPTS: prefix || each receipt), an OVERLAP_RUN answer a signable
 * overlap TBS, and every person of a CV_DERIVE request must be in the normalized form. Any
 * difference aborts. Bytes after the frame are ignored, as they would be the next frame.
 *
 * Built and run by tests/fuzz/run_all.sh. Compiled with
 * -DVST_FUZZ_MAKE_CORPUS instead, it is the program that writes the seed
 * corpus tests/fuzz/corpus/frame (run_all.sh --make-corpus). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/signed.h"
#include "wire/proto.h"

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_frame: %s\n", what);
        abort();
    }
}

/* The signed structures are exactly what the SIGN_* payloads carry. */
static void check_tbs(uint8_t type, const vst_msg *m, const uint8_t *p, size_t len)
{
    if (type == VST_MSG_SIGN_RECEIPT) {
        uint8_t tbs[VST_RECEIPT_TBS_MAX];
        size_t n = vst_receipt_tbs(&m->receipt_req, tbs);
        check(n == sizeof VST_RECEIPT_PREFIX + len, "receipt TBS length");
        check(memcmp(tbs + sizeof VST_RECEIPT_PREFIX, p, len) == 0, "receipt TBS bytes");
    } else if (type == VST_MSG_SIGN_RECEIPTS) {
        /* Each receipt, after its length, is exactly SIGN_RECEIPT's
         * payload: the TBS keyd signs for it ends with those bytes. */
        const uint8_t *at = m->receipts_req.items, *end = at + m->receipts_req.items_len;
        vst_receipt_fields f;
        uint8_t tbs[VST_RECEIPT_TBS_MAX];
        for (uint32_t i = 0; i < m->receipts_req.count; i++) {
            const uint8_t *item = at;
            check(vst_receipts_item_decode(&at, end, &f) == 0, "a receipt of a decoded batch");
            size_t n = vst_receipt_tbs(&f, tbs), il = (size_t)(at - item) - 2;
            check(n == sizeof VST_RECEIPT_PREFIX + il, "batch receipt TBS length");
            check(memcmp(tbs + sizeof VST_RECEIPT_PREFIX, item + 2, il) == 0,
                  "batch receipt TBS bytes");
        }
        check(at == end, "receipts fill the batch");
    } else if (type == VST_MSG_SIGN_CHECKPOINT) {
        uint8_t tbs[VST_CHECKPOINT_TBS_LEN];
        const vst_checkpoint_req *c = &m->checkpoint_req;
        vst_checkpoint_tbs(c->seq, c->head, c->time_us, tbs);
        check(memcmp(tbs + sizeof VST_CHECKPOINT_PREFIX, p, len) == 0, "checkpoint TBS bytes");
    } else if (type == VST_MSG_RESP(VST_MSG_OVERLAP_RUN)) {
        /* Every answer the codec lets through, keyd can sign. */
        uint8_t tbs[VST_OVERLAP_TBS_MAX];
        vst_overlap_signed s = {1, "d", "a", "", "b", "", m->overlap_result};
        check(vst_overlap_tbs(&s, tbs) > 0, "overlap TBS refused a decoded answer");
    } else if (type == VST_MSG_CV_DERIVE) {
        /* What keyd hashes: letters A-Z only. */
        const uint8_t *at = m->cv_req.persons, *end = at + m->cv_req.persons_len;
        vst_person q;
        for (uint32_t i = 0; i < m->cv_req.count; i++) {
            check(vst_person_decode(&at, end, &q) == 0, "a person of a decoded request");
            for (uint8_t t = 0; t < q.given.n; t++)
                for (uint8_t j = 0; j < q.given.len[t]; j++)
                    check(q.given.tok[t][j] >= 'A' && q.given.tok[t][j] <= 'Z', "given A-Z");
        }
        check(at == end, "persons fill the request");
    } else if (type == VST_MSG_SIGN_REPORT) {
        /* The digest follows the kind's context; a kind without one has
         * no TBS at all. */
        uint8_t tbs[VST_REPORT_TBS_MAX];
        const vst_report_req *r = &m->report_req;
        const char *ctx = vst_report_context(r->kind);
        size_t n = vst_report_tbs(r->kind, r->digest, tbs);
        check(ctx == NULL ? n == 0 : n == strlen(ctx) + 1 + VST_SHA256_LEN, "report TBS length");
        check(n == 0 || memcmp(tbs + n - VST_SHA256_LEN, p + 1, VST_SHA256_LEN) == 0,
              "report TBS bytes");
    }
}

static void roundtrip(uint8_t type, const uint8_t *p, size_t len)
{
    vst_msg m;
    if (vst_msg_decode(type, p, len, &m) != 0)
        return;
    vst_wr w = VST_WR_INIT;
    int rc = vst_msg_encode(&w, type, &m);
    if (rc != 0)
        fprintf(stderr, "re-encoding %s: %s\n", vst_msg_name(type), vst_proto_strerror(rc));
    check(rc == 0, "a decoded message does not re-encode");
    check(vst_wr_len(&w) == len, "re-encoded length differs");
    check(memcmp(vst_wr_data(&w), p, len) == 0, "re-encoded bytes differ");
    vst_wr_free(&w);
    check_tbs(type, &m, p, len);
    (void)vst_msg_permit(VST_SOCK_DATA, 0, type);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vst_frame_hdr h;
    if (size < VST_FRAME_HDR_LEN || vst_frame_hdr_decode(data, VST_FRAME_MAX, &h) != 0)
        return 0;
    check(vst_msg_lookup(h.type) != NULL && h.len <= VST_FRAME_MAX, "header let through");
    if (size - VST_FRAME_HDR_LEN < h.len)
        return 0;
    uint8_t *p = malloc(h.len > 0 ? h.len : 1);
    check(p != NULL, "out of memory");
    if (h.len > 0)
        memcpy(p, data + VST_FRAME_HDR_LEN, h.len);
    roundtrip(h.type, p, h.len);
    free(p);
    return 0;
}

#ifdef VST_FUZZ_MAKE_CORPUS
/* ---------------------------------------------------------- seed corpus */

static const char *outdir;
static const uint8_t zeros[16 * 4];
static const uint8_t cv_zeros[VST_CV_RECORD_LEN];

static void write_seed(const char *name, uint8_t type, const uint8_t *p, size_t len)
{
    char path[4096];
    uint8_t h[VST_FRAME_HDR_LEN];
    snprintf(path, sizeof path, "%s/%s", outdir, name);
    h[0] = VST_PROTO_VERSION, h[1] = type, h[2] = 0, h[3] = 0;
    h[4] = (uint8_t)(len >> 24), h[5] = (uint8_t)(len >> 16);
    h[6] = (uint8_t)(len >> 8), h[7] = (uint8_t)len;
    FILE *f = fopen(path, "wb");
    check(f != NULL, path);
    check(fwrite(h, 1, sizeof h, f) == sizeof h && (len == 0 || fwrite(p, 1, len, f) == len),
          "write");
    check(fclose(f) == 0, "close");
}

static void seed_msg(const char *name, uint8_t type, const vst_msg *m)
{
    vst_wr w = VST_WR_INIT;
    check(vst_msg_encode(&w, type, m) == 0, name);
    write_seed(name, type, vst_wr_data(&w), vst_wr_len(&w));
    vst_wr_free(&w);
}

static void seed_lists(void)
{
    vst_wr w = VST_WR_INIT;
    vst_list_builder b;
    vst_status_ok st = {.dev_master = 1, .shares_need = 3, .current_version = 2};
    vst_version_info v1 = {1, VST_KEY_ACTIVE}, v2 = {2, VST_KEY_CURRENT};
    check(vst_status_ok_begin(&b, &w, &st) == 0 && vst_status_ok_add(&b, &v1) == 0 &&
              vst_status_ok_add(&b, &v2) == 0,
          "status");
    write_seed("ok-status_ok", VST_MSG_RESP(VST_MSG_STATUS), vst_wr_data(&w), vst_wr_len(&w));
    vst_wr_free(&w);
    vst_event ev = {5, 1717000000000000, 998, "key.rotate", 10, "{\"version\":2}", 13};
    check(vst_events_ok_begin(&b, &w) == 0 && vst_events_ok_add(&b, &ev) == 0, "events");
    write_seed("ok-events_ok", VST_MSG_RESP(VST_MSG_EVENTS), vst_wr_data(&w), vst_wr_len(&w));
    vst_wr_free(&w);
}

/* The linkage messages (codec_link.h). */
static void seed_linkage_requests(void)
{
    vst_msg m;
    vst_wr w = VST_WR_INIT;
    vst_person p[2];
    memset(p, 0, sizeof p);
    p[0].given = (vst_name_tokens){2, {3, 6}, {"MIA", "SOPHIE"}};
    p[0].family = (vst_name_tokens){1, {7}, {"MUELLER"}};
    p[0].birth = (vst_name_tokens){1, {7}, {"SCHMIDT"}};
    strcpy(p[0].date, "20190304");
    p[0].sex = 'W';
    p[1].given = (vst_name_tokens){1, {4}, {"NOAH"}};
    p[1].family = (vst_name_tokens){1, {8}, {"OEZTUERK"}};
    strcpy(p[1].date, "20181231");
    p[1].sex = 'M';
    check(vst_cv_req_encode(&w, "ph/child", "measles_case", p, 2) == 0, "cv_derive");
    write_seed("ok-cv_derive", VST_MSG_CV_DERIVE, vst_wr_data(&w), vst_wr_len(&w));
    vst_wr_free(&w);
    memset(&m, 0, sizeof m);
    m.cv_rekey_req = (vst_cv_rekey_req){"school_entry", 1, 2, 1, cv_zeros};
    seed_msg("ok-cv_rekey", VST_MSG_CV_REKEY, &m);
    m.overlap_open_req =
        (vst_overlap_open_req){"ph/child", "measles_case", "year=2025", "school_entry", "", 5};
    seed_msg("ok-overlap_open", VST_MSG_OVERLAP_OPEN, &m);
    m.overlap_feed_req = (vst_overlap_feed_req){1, 2, 1, cv_zeros};
    seed_msg("ok-overlap_feed", VST_MSG_OVERLAP_FEED, &m);
    write_seed("ok-overlap_run", VST_MSG_OVERLAP_RUN, NULL, 0);
    m.overlap_sign_seq = 42;
    seed_msg("ok-overlap_sign", VST_MSG_OVERLAP_SIGN, &m);
}

static void seed_linkage_responses(void)
{
    vst_msg m;
    memset(&m, 0, sizeof m);
    m.cv_ok = (vst_cv_ok){2, 1, cv_zeros};
    seed_msg("ok-cv_derive_ok", VST_MSG_RESP(VST_MSG_CV_DERIVE), &m);
    m.cv_rekey_ok = (vst_cv_rekey_ok){1, cv_zeros};
    seed_msg("ok-cv_rekey_ok", VST_MSG_RESP(VST_MSG_CV_REKEY), &m);
    m.overlap_open_ok.budget_left = 9;
    seed_msg("ok-overlap_open_ok", VST_MSG_RESP(VST_MSG_OVERLAP_OPEN), &m);
    m.overlap_feed_ok.held = 16384;
    seed_msg("ok-overlap_feed_ok", VST_MSG_RESP(VST_MSG_OVERLAP_FEED), &m);
    m.overlap_result = (vst_overlap_result){1000, 800, 0, 60, 5, {40, 10, 4, 3, 2, 1}, 0};
    seed_msg("ok-overlap_run_ok", VST_MSG_RESP(VST_MSG_OVERLAP_RUN), &m);
    m.overlap_result = (vst_overlap_result){1000, 800, 1, 0, 5, {0}, 1};
    seed_msg("ok-overlap_run_ok-suppressed", VST_MSG_RESP(VST_MSG_OVERLAP_RUN), &m);
    memset(&m, 0, sizeof m);
    seed_msg("ok-overlap_sign_ok", VST_MSG_RESP(VST_MSG_OVERLAP_SIGN), &m);
}

/* SIGN_RECEIPTS: three receipts like r; the same with a count of 0, and
 * with the middle one outside its grammar (refused whole). */
static void seed_receipts(const vst_receipt_fields *r)
{
    vst_receipt_fields b[3] = {*r, *r, *r};
    vst_wr w = VST_WR_INIT;
    strcpy(b[1].delivery_id, "2024Q1-AOK.2");
    strcpy(b[1].client, "BKK Mitte");
    b[1].withheld_count = 0;
    b[2].audit_seq = 44;
    check(vst_receipts_req_encode(&w, b, 3) == 0, "sign_receipts");
    write_seed("ok-sign_receipts", VST_MSG_SIGN_RECEIPTS, vst_wr_data(&w), vst_wr_len(&w));
    uint8_t *p = w.buf; /* test-only: patched in place */
    p[1] = 0;           /* count 0 */
    write_seed("bad-sign_receipts-count", VST_MSG_SIGN_RECEIPTS, p, vst_wr_len(&w));
    p[1] = 3;
    p[2 + 2 + (size_t)(p[2] << 8 | p[3]) + 2 + 1] = '/'; /* the middle delivery id */
    write_seed("bad-sign_receipts-middle", VST_MSG_SIGN_RECEIPTS, p, vst_wr_len(&w));
    vst_wr_free(&w);
}

static void seed_requests(void)
{
    vst_msg m;
    memset(&m, 0, sizeof m);
    write_seed("ok-status", VST_MSG_STATUS, NULL, 0);
    write_seed("ok-pubkey", VST_MSG_PUBKEY, NULL, 0);
    write_seed("ok-rotate", VST_MSG_ROTATE, NULL, 0);
    write_seed("ok-release_open", VST_MSG_RELEASE_OPEN, NULL, 0);
    m.unseal_req = (vst_unseal_req){.index = 1, .share = zeros};
    seed_msg("ok-unseal", VST_MSG_UNSEAL, &m);
    m.pseud_req.nsections = 2;
    m.pseud_req.sec[0] =
        (vst_pseud_section){"sgb5/insured", 10, 2, (const uint8_t *)"A123456780B987654328"};
    m.pseud_req.sec[1] = (vst_pseud_section){"sgb5/lanr", 9, 1, (const uint8_t *)"123456601"};
    seed_msg("ok-pseudonymize", VST_MSG_PSEUDONYMIZE, &m);
    m.rekey_req = (vst_rekey_req){1, 2, 2, zeros};
    seed_msg("ok-rekey", VST_MSG_REKEY, &m);
    m.keyver.version = 1;
    seed_msg("ok-retire", VST_MSG_RETIRE, &m);
    m.release_map_req = (vst_release_map_req){2, 2, zeros};
    seed_msg("ok-release_map", VST_MSG_RELEASE_MAP, &m);
    memset(&m, 0, sizeof m);
    strcpy(m.disclose_req.domain, "sgb5/insured");
    m.disclose_req.key_version = 2;
    seed_msg("ok-disclose", VST_MSG_DISCLOSE, &m);
    memset(&m, 0, sizeof m);
    m.object_req = (vst_object_req){"sgb5/insured", 10, (const uint8_t *)"A123456780"};
    seed_msg("ok-object", VST_MSG_OBJECT, &m);
    memset(&m, 0, sizeof m);
    strcpy(m.receipt_req.delivery_id, "2024Q1-AOK.1");
    strcpy(m.receipt_req.client, "AOK Nordost");
    strcpy(m.receipt_req.profile, "sgb5");
    m.receipt_req.record_count = 1000;
    m.receipt_req.key_version = 2;
    m.receipt_req.received_at_us = 1717000000000000;
    m.receipt_req.stored_at_us = 1717000000500000;
    m.receipt_req.audit_seq = 42;
    m.receipt_req.withheld_count = 3;
    m.receipt_req.version = VST_RECEIPT_V2;
    seed_msg("ok-sign_receipt", VST_MSG_SIGN_RECEIPT, &m);
    seed_receipts(&m.receipt_req);
    m.checkpoint_req = (vst_checkpoint_req){.seq = 42, .time_us = 1717000000000000};
    seed_msg("ok-sign_checkpoint", VST_MSG_SIGN_CHECKPOINT, &m);
    m.report_req = (vst_report_req){.kind = VST_REPORT_KIND_CELLS};
    seed_msg("ok-sign_report", VST_MSG_SIGN_REPORT, &m);
    m.events_req = (vst_events_req){0, 100};
    seed_msg("ok-events", VST_MSG_EVENTS, &m);
    seed_linkage_requests();
}

static void seed_responses(void)
{
    vst_msg m;
    memset(&m, 0, sizeof m);
    m.unseal_ok = (vst_unseal_ok){VST_UNSEAL_DONE, 3, 3};
    seed_msg("ok-unseal_ok", VST_MSG_RESP(VST_MSG_UNSEAL), &m);
    seed_msg("ok-pubkey_ok", VST_MSG_RESP(VST_MSG_PUBKEY), &m);
    m.pseud_ok.key_version = 2;
    m.pseud_ok.nsections = 2;
    m.pseud_ok.sec[0] = (vst_pseud_out){2, zeros, 0, NULL};
    m.pseud_ok.sec[1] = (vst_pseud_out){1, zeros, 1, (const uint8_t *)"\0\0\0\0"};
    seed_msg("ok-pseudonymize_ok", VST_MSG_RESP(VST_MSG_PSEUDONYMIZE), &m);
    m.rekey_ok = (vst_rekey_ok){2, zeros};
    seed_msg("ok-rekey_ok", VST_MSG_RESP(VST_MSG_REKEY), &m);
    m.keyver.version = 3;
    seed_msg("ok-rotate_ok", VST_MSG_RESP(VST_MSG_ROTATE), &m);
    seed_msg("ok-retire_ok", VST_MSG_RESP(VST_MSG_RETIRE), &m);
    m.release_map_ok = (vst_release_map_ok){2, zeros, 1, (const uint8_t *)"\0\0\0\1"};
    seed_msg("ok-release_map_ok", VST_MSG_RESP(VST_MSG_RELEASE_MAP), &m);
    memset(&m, 0, sizeof m);
    seed_msg("ok-sign_receipt_ok", VST_MSG_RESP(VST_MSG_SIGN_RECEIPT), &m);
    seed_msg("ok-sign_checkpoint_ok", VST_MSG_RESP(VST_MSG_SIGN_CHECKPOINT), &m);
    seed_msg("ok-sign_report_ok", VST_MSG_RESP(VST_MSG_SIGN_REPORT), &m);
    m.sigs_ok = (vst_sigs_ok){1, zeros};
    seed_msg("ok-sign_receipts_ok", VST_MSG_RESP(VST_MSG_SIGN_RECEIPTS), &m);
    memset(&m, 0, sizeof m);
    seed_msg("ok-release_open_ok", VST_MSG_RESP(VST_MSG_RELEASE_OPEN), &m);
    m.error.code = VST_KERR_BUDGET_EXCEEDED;
    seed_msg("ok-error", VST_MSG_ERROR, &m);
    seed_lists();
    seed_linkage_responses();
}

/* Frames every decoder must refuse, one per kind of rule. */
static void seed_invalid(void)
{
    static const uint8_t overflow[] = {0,   1,   1,   'd', 16,  0x10, 0,   0,   1,
                                       'A', 'A', 'A', 'A', 'A', 'A',  'A', 'A', 'A',
                                       'A', 'A', 'A', 'A', 'A', 'A',  'A'};
    static const uint8_t bad_domain[] = {0, 1, 1, 'D', 1, 0, 0, 0, 1, 'A'};
    static const uint8_t trailing[] = {0, 0, 0, 1, 0};
    static const uint8_t short_id[] = {0, 1, 1, 'd', 2, 0, 0, 0, 1, 'A'};
    static const uint8_t rekey_extra[12 + 17] = {0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1};
    static const uint8_t nsec17[] = {0, 17, 1, 'd', 1, 0, 0, 0, 1, 'A'};
    write_seed("bad-pseud-overflow", VST_MSG_PSEUDONYMIZE, overflow, sizeof overflow);
    write_seed("bad-pseud-domain", VST_MSG_PSEUDONYMIZE, bad_domain, sizeof bad_domain);
    write_seed("bad-pseud-nsections", VST_MSG_PSEUDONYMIZE, nsec17, sizeof nsec17);
    write_seed("bad-pseud-truncated", VST_MSG_PSEUDONYMIZE, short_id, sizeof short_id);
    write_seed("bad-rekey-trailing", VST_MSG_REKEY, rekey_extra, sizeof rekey_extra);
    static const uint8_t map_count0[8 + 16] = {0, 0, 0, 1, 0, 0, 0, 0};
    write_seed("bad-release_map-count", VST_MSG_RELEASE_MAP, map_count0, sizeof map_count0);
    write_seed("bad-retire-trailing", VST_MSG_RETIRE, trailing, sizeof trailing);
    write_seed("bad-type", 0x42, NULL, 0);
    /* A person with a lowercase letter, and one with sex F. */
    static const uint8_t cv_lower[] = {1,   'd', 1,   'c', 0,   0, 0, 1,   'W', '2', '0', '1',
                                       '9', '0', '3', '0', '4', 1, 1, 'a', 1,   1,   'B', 0};
    static const uint8_t cv_sex_f[] = {1,   'd', 1,   'c', 0,   0, 0, 1,   'F', '2', '0', '1',
                                       '9', '0', '3', '0', '4', 1, 1, 'A', 1,   1,   'B', 0};
    static const uint8_t open_k2[] = {1, 'd', 1, 'a', 0, 1, 'b', 0, 0, 2};
    write_seed("bad-cv_derive-lowercase", VST_MSG_CV_DERIVE, cv_lower, sizeof cv_lower);
    write_seed("bad-cv_derive-sex", VST_MSG_CV_DERIVE, cv_sex_f, sizeof cv_sex_f);
    write_seed("bad-overlap_open-k", VST_MSG_OVERLAP_OPEN, open_k2, sizeof open_k2);
    static const uint8_t bad_version[] = {2, VST_MSG_STATUS, 0, 0, 0, 0, 0, 0};
    static const uint8_t bad_reserved[] = {1, VST_MSG_STATUS, 0, 1, 0, 0, 0, 0};
    FILE *f;
    char path[4096];
    snprintf(path, sizeof path, "%s/bad-version", outdir);
    check((f = fopen(path, "wb")) && fwrite(bad_version, 1, 8, f) == 8 && fclose(f) == 0, path);
    snprintf(path, sizeof path, "%s/bad-reserved", outdir);
    check((f = fopen(path, "wb")) && fwrite(bad_reserved, 1, 8, f) == 8 && fclose(f) == 0, path);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    seed_requests();
    seed_responses();
    seed_invalid();
    return 0;
}
#endif
