/* Group commit (DESIGN.md §14, docs/architecture.md "Commit groups"):
 * small deliveries that are complete — body read and validated, their
 * identifiers pseudonymized — are committed together, on the connections
 * of a committer (commit-threads of them), by the thread of the delivery
 * that found it free (the leader; the others wait for their group):
 *
 *   store   the lock on "vst:<commit_ref>" and the trust transaction's
 *           BEGIN sent, then BEGIN and one COPY per profile with the rows
 *           of every delivery of the group
 *   decide  one statement in that trust transaction (vst.deliveries_stored,
 *           sql/trust/0012, 0013): each delivery's delivery.received (if
 *           not yet logged) and delivery.stored event, chained in order,
 *           and its receipt naming commit_ref. It runs while the COPY ends
 *           and PREPARE TRANSACTION 'vst:<commit_ref>' flushes; its COMMIT,
 *           sent once PREPARE succeeded, is the decision of all of them
 *   sign    while that COMMIT flushes, one keyd round trip signs every
 *           receipt of the group (dropped if the COMMIT fails)
 *   commit  COMMIT PREPARED (PostgreSQL flushes it whatever
 *           synchronous_commit says; should vst-httpd die before it,
 *           recovery commits a prepared transaction whose receipts exist);
 *           then the deliveries answer, their rows visible. The lock's
 *           release and the signatures' attachment are sent without
 *           waiting (sql_post; asynchronous commit too: Ed25519 is
 *           deterministic, so a lost attachment is re-signed to the same
 *           bytes by receipt_sign_pending)
 *
 * A group is whatever is queued when a committer is free: a lone
 * delivery commits at once, and under load the group grows by itself —
 * there is no timer. A committer counts as free only while no other group
 * is before its decision: decisions pass the audit chain's lock one at a
 * time anyway, and the deliveries that queue meanwhile join one group
 * instead of two. A group that fails in the store (one delivery's rows
 * refused) is retried one delivery at a time, so one bad delivery never
 * costs the others their commit. Large deliveries never join a group: they
 * keep their own transaction (delivery_put.c), so their COPY delays no
 * small one and no small one waits for it. */
#ifndef VST_HTTPD_GROUP_COMMIT_H
#define VST_HTTPD_GROUP_COMMIT_H

#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#include "httpd/httpd.h"
#include "httpd/receipt.h"

typedef struct gc_entry {
    /* In: set by the delivery before it is submitted. */
    const vst_profile *p;
    const char *copy; /* its rows, COPY text (delivery_ref first) */
    size_t copy_len;
    stored_receipt rc; /* the receipt; audit_seq and stored_at are set here */
    int client_id;
    uint64_t body_bytes;
    char *received_details; /* delivery.received details, or NULL: logged already */
    char *stored_details;   /* delivery.stored details */
    /* Out: set by the committer before done. */
    vst_err result;      /* VST_E_OK: decided (stored) */
    const char *detail;  /* the 503's detail otherwise */
    int decided_unknown; /* the decision's outcome is unknown (left to recovery) */
    uint8_t pub[32];     /* the key that signed (rc.have_sig) */
    uint64_t group_size; /* deliveries decided together with this one */
    struct gc_entry *next;
    int done;
    pthread_cond_t decided; /* signalled when done is set */
} gc_entry;

/* Makes the committers (commit-threads): while one group waits for a WAL
 * flush, another leader gathers and prepares the next. 0, or -1. */
int group_commit_start(size_t committers);
/* Closes the committers' connections; once no delivery can be submitted. */
void group_commit_stop(void);
/* Queues e and waits until its group is decided (e->done) — leading a
 * group itself (its own in it) whenever it finds a committer free. */
void group_commit_submit(gc_entry *e);

#endif
