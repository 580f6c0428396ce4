/* Commit groups; see group_commit.h. */
#include "httpd/group_commit.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "core/hex.h"
#include "httpd/sql.h"
#include "httpd/store.h"

/* A group is bounded so that one statement, one COPY and one keyd frame
 * hold it: by count, and by the bytes of its rows. */
#define GC_MAX_DELIVERIES 256
#define GC_MAX_BYTES (8u << 20)

/* A committer: connections of its own (never a worker's) and room for
 * one group; used by one leader at a time. */
typedef struct {
    int busy;     /* a leader commits a group with it */
    int deciding; /* ... and has not yet sent its decision's COMMIT */
    slot s;
    uint8_t pub[32]; /* keyd's signing key, as last asked */
    int have_pub;
    gc_entry *g[GC_MAX_DELIVERIES];
    vst_receipt_fields f[GC_MAX_DELIVERIES];
    uint8_t sig[GC_MAX_DELIVERIES][VST_ED25519_SIG_LEN];
    stored_receipt signed_rc[GC_MAX_DELIVERIES]; /* to attach once the group is answered */
} committer;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static gc_entry *head, **tail = &head;
static committer *committers;
static size_t ncommitters;

static void lead(committer *c, size_t n);
static size_t take(gc_entry **g);

/* Under mu: a committer a new group may take now, or NULL. None while
 * another group is still before its decision: every decision passes the
 * audit chain's lock (vst.audit_append_many holds it to the COMMIT), so a
 * second group taken then would only wait for that lock in PostgreSQL,
 * having split the deliveries that queue meanwhile into two groups that
 * each pay a group's fixed cost. Waiting here, they join one group, which
 * a committer takes as soon as the decision ahead is on its way — its
 * rows are copied while that one's COMMIT and COMMIT PREPARED flush. */
static committer *free_committer(void)
{
    committer *c = NULL;
    for (size_t i = 0; i < ncommitters; i++) {
        if (committers[i].deciding)
            return NULL;
        if (c == NULL && !committers[i].busy)
            c = &committers[i];
    }
    return c;
}

/* Under mu: wakes the first delivery still queued, to lead the next group
 * if a committer is free for it now. */
static void wake_next_leader(void)
{
    if (head != NULL && free_committer() != NULL)
        pthread_cond_signal(&head->decided);
}

/* The group of c has sent its decision's COMMIT (or failed before): the
 * next group may start on another committer. */
static void decision_sent(committer *c)
{
    pthread_mutex_lock(&mu);
    c->deciding = 0;
    wake_next_leader();
    pthread_mutex_unlock(&mu);
}

void group_commit_submit(gc_entry *e)
{
    e->next = NULL;
    e->done = 0;
    /* Its own condition: a decided group wakes its deliveries, not every
     * delivery waiting. */
    pthread_cond_init(&e->decided, NULL);
    pthread_mutex_lock(&mu);
    *tail = e;
    tail = &e->next;
    /* Leader and followers: a delivery that finds a committer free takes
     * everything queued (its own entry among it) and commits it on its
     * own thread; the others wait until their group is decided, or until
     * a committer comes free while they are still queued. No hand-over to
     * another thread when the load is low. */
    committer *c;
    while (!e->done) {
        if (head != NULL && (c = free_committer()) != NULL) {
            c->busy = c->deciding = 1;
            size_t n = take(c->g);
            pthread_mutex_unlock(&mu);
            lead(c, n);
            pthread_mutex_lock(&mu);
            c->busy = 0; /* deciding: cleared by commit_group (decision_sent) */
            wake_next_leader();
        } else {
            pthread_cond_wait(&e->decided, &mu);
        }
    }
    pthread_mutex_unlock(&mu);
    pthread_cond_destroy(&e->decided);
}

/* Everything queued, within the bounds, in arrival order. */
static size_t take(gc_entry **g)
{
    size_t n = 0, bytes = 0;
    while (head != NULL && n < GC_MAX_DELIVERIES &&
           (n == 0 || bytes + head->copy_len <= GC_MAX_BYTES)) {
        bytes += head->copy_len;
        g[n++] = head;
        head = head->next;
    }
    if (head == NULL)
        tail = &head;
    return n;
}

static void fail_all(gc_entry **g, size_t n, vst_err e, const char *detail, int unknown)
{
    for (size_t i = 0; i < n; i++) {
        g[i]->result = e;
        g[i]->detail = detail;
        g[i]->decided_unknown = unknown;
    }
}

/* The group's rows in one store transaction, a COPY per profile; the
 * last one stays open (store_group_decide ends it). */
static vst_err store_rows(slot *s, store_tx *tx, gc_entry **g, size_t n, const char **detail)
{
    vst_err e = VST_E_OK;
    for (size_t i = 0; i < n && e == VST_E_OK; i++) {
        int first = 1;
        for (size_t k = 0; k < i; k++)
            first = first && g[k]->p != g[i]->p;
        if (!first)
            continue; /* its profile's COPY carried it already */
        e = store_copy_next(s, tx, g[i]->p, detail);
        for (size_t k = i; k < n && e == VST_E_OK; k++)
            if (g[k]->p == g[i]->p && g[k]->copy_len > 0)
                e = store_copy_rows(s, g[k]->copy, g[k]->copy_len, detail);
    }
    return e;
}

/* The argument of vst.deliveries_stored: malloc'd JSON text, or NULL. */
static char *decision_json(gc_entry **g, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++) {
        const vst_receipt_fields *f = &g[i]->rc.f;
        char sha[65];
        vst_hex(f->body_sha256, 32, sha);
        json_t *rcv = g[i]->received_details ? json_loads(g[i]->received_details, 0, NULL) : NULL;
        json_t *sto = json_loads(g[i]->stored_details, 0, NULL);
        json_t *o =
            json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:I, s:I, s:I, s:o, s:o}",
                      "client_id", g[i]->client_id, "client", f->client, "delivery_id",
                      f->delivery_id, "ref", g[i]->rc.ref, "profile", f->profile, "record_count",
                      (json_int_t)f->record_count, "withheld_count", (json_int_t)f->withheld_count,
                      "body_bytes", (json_int_t)g[i]->body_bytes, "body_sha256", sha, "key_version",
                      (json_int_t)f->key_version, "received_us", (json_int_t)f->received_at_us,
                      "stored_us", (json_int_t)f->stored_at_us, "received", rcv ? rcv : json_null(),
                      "stored", sto ? sto : json_null());
        if (o == NULL || sto == NULL || json_array_append_new(a, o) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return text;
}

static void json_text_free(char *s)
{
    json_free_t jfree;
    json_get_alloc_funcs(NULL, &jfree);
    jfree(s);
}

/* keyd's signatures for the group, in one SIGN_RECEIPTS round trip: 0, or
 * -1 (the receipts stay unsigned: the answer says so, and the background
 * thread or the sender's retry signs them). One signature is checked
 * against keyd's public key — the group is signed by one keyd with one
 * key — which is asked for again only when the check fails: a keyd that
 * came back with another keystore. */
static int sign_group(committer *c, gc_entry **g, size_t n)
{
    slot *s = &c->s;
    if (slot_keyd(s) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        c->f[i] = g[i]->rc.f;
    int rc = vst_keyd_sign_receipts(s->keyd, c->f, n, c->sig);
    if (rc != 0) {
        if (rc < 0)
            slot_drop_keyd(s);
        hlog("error", "keyd did not sign a group's receipts: %s", vst_keyd_strerror(rc));
        return -1;
    }
    int ok = c->have_pub && vst_receipt_verify(c->pub, &c->f[0], c->sig[0]) == 1;
    if (!ok && receipt_public_key(s, c->pub) == 0) {
        c->have_pub = 1;
        ok = vst_receipt_verify(c->pub, &c->f[0], c->sig[0]) == 1;
    }
    if (!ok) {
        c->have_pub = 0;
        hlog("error", "keyd's receipt signature does not verify with its public key");
        return -1;
    }
    uint8_t kid[32];
    EVP_Digest(c->pub, 32, kid, NULL, EVP_sha256(), NULL);
    for (size_t i = 0; i < n; i++) {
        memcpy(g[i]->rc.sig, c->sig[i], VST_ED25519_SIG_LEN);
        memcpy(g[i]->rc.kid, kid, 32);
        memcpy(g[i]->pub, c->pub, 32);
        g[i]->rc.have_sig = g[i]->rc.have_kid = 1;
    }
    return 0;
}

/* Wakes the deliveries of g[0..n): from here on their entries are theirs
 * again, and the committer touches them no more. */
static void finish(gc_entry **g, size_t n)
{
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < n; i++) {
        g[i]->done = 1;
        pthread_cond_signal(&g[i]->decided);
    }
    pthread_mutex_unlock(&mu);
}

/* The rows, the decision and its PREPARE: VST_E_OK decided (seqs set),
 * else out says whether to split or whether the outcome is unknown. The
 * lock on the group's ref travels while the rows are copied. */
static vst_err decide(slot *s, store_tx *tx, gc_entry **g, size_t n, uint64_t *seqs,
                      store_group_outcome *out, const char **detail)
{
    memset(out, 0, sizeof *out);
    if (store_group_lock_send(s, tx) != 0) {
        slot_drop_trust(s);
        *detail = "the trust DB is unreachable";
        return VST_E_UNAVAILABLE;
    }
    int64_t t0 = mono_us();
    vst_err e = store_rows(s, tx, g, n, detail);
    char *json = NULL;
    if (e == VST_E_OK) {
        int64_t stored_us = now_us();
        for (size_t i = 0; i < n; i++)
            g[i]->rc.f.stored_at_us = stored_us;
        if ((json = decision_json(g, n)) == NULL) {
            e = VST_E_NOMEM;
            *detail = "out of memory";
        }
    }
    metrics_group_phase(GPHASE_PREPARE, t0);
    if (e != VST_E_OK) {
        out->store_refused = e != VST_E_INTERNAL && e != VST_E_NOMEM;
        store_group_lock_wait(s, tx); /* its answer, so that the lock can go */
        return e;
    }
    t0 = mono_us();
    e = store_group_decide(s, tx, json, seqs, n, out, detail);
    metrics_group_phase(GPHASE_DECIDE, t0);
    json_text_free(json);
    return e;
}

/* Commits the group g[0..n) and answers it (finish), unless the store
 * refused its rows and split is set: then nothing is decided or answered,
 * and 1 says to try its deliveries one by one. */
static int commit_group(committer *c, gc_entry **g, size_t n, int split)
{
    slot *s = &c->s;
    const char *detail = NULL;
    store_tx tx;
    store_tx_init(&tx); /* tx.ref: the group's commit_ref */
    uint64_t *seqs = calloc(n, sizeof *seqs);
    store_group_outcome out = {0};
    vst_err e = VST_E_NOMEM;
    detail = "out of memory";
    if (seqs != NULL && (slot_trust(s) != 0 || slot_store(s) != 0)) {
        e = VST_E_UNAVAILABLE;
        detail = "the databases are unreachable";
    } else if (seqs != NULL) {
        e = decide(s, &tx, g, n, seqs, &out, &detail);
    }
    decision_sent(c);
    /* keyd signs while the decision's COMMIT is flushed: the signatures
     * cover audit_seq, known from the decision's statement. Should the
     * commit fail they are dropped with the group. */
    int signed_ok = 0;
    if (e == VST_E_OK) {
        for (size_t i = 0; i < n; i++)
            g[i]->rc.f.audit_seq = seqs[i];
        int64_t t0 = mono_us();
        signed_ok = sign_group(c, g, n) == 0;
        metrics_group_phase(GPHASE_SIGN, t0);
        t0 = mono_us();
        e = store_group_decided(s, &out, &detail);
        metrics_group_phase(GPHASE_COMMIT, t0);
    }
    free(seqs);
    if (e != VST_E_OK) {
        store_copy_abort(s, &tx);
        if (!out.unknown)
            store_undo(s, &tx); /* the trust transaction, the prepared one */
        else
            hlog("warning", "a commit group's decision is unknown: left for recovery");
        store_unlock_ref(s, &tx);
        if (split && n > 1 && out.store_refused)
            return 1;
        fail_all(g, n, e, detail, out.unknown);
        finish(g, n);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        g[i]->result = VST_E_OK;
        g[i]->group_size = n;
        if (signed_ok)
            c->signed_rc[i] = g[i]->rc;
    }
    int64_t t0 = mono_us();
    store_commit_prepared(s, &tx, "of a commit group");
    metrics_group_phase(GPHASE_COMMIT, t0);
    finish(g, n);
    /* After the answers: the lock that kept recovery away (the prepared
     * transaction is committed), and the signatures' attachment. */
    store_unlock_ref(s, &tx);
    if (signed_ok) {
        stored_receipt *r[GC_MAX_DELIVERIES];
        for (size_t i = 0; i < n; i++)
            r[i] = &c->signed_rc[i];
        receipt_attach_group(s, r, n, r[0]->kid);
    }
    return 0;
}

/* A group taken by a leader, committed — or, when the store refused its
 * rows, committed one delivery at a time. */
static void lead(committer *c, size_t n)
{
    metrics_group(n);
    if (commit_group(c, c->g, n, 1)) {
        metrics_group_split();
        for (size_t i = 0; i < n; i++) /* one delivery's rows spoilt the group */
            commit_group(c, c->g + i, 1, 0);
    }
}

int group_commit_start(size_t threads)
{
    if (threads == 0 || (committers = calloc(threads, sizeof *committers)) == NULL)
        return -1;
    ncommitters = threads;
    return 0;
}

void group_commit_stop(void)
{
    /* After the listeners stopped: no delivery is left to lead. */
    for (size_t i = 0; i < ncommitters; i++) {
        slot_drop_trust(&committers[i].s);
        slot_drop_store(&committers[i].s);
        slot_drop_keyd(&committers[i].s);
    }
    free(committers);
    committers = NULL;
    ncommitters = 0;
}
