/* A batch of transformed records on their way to the store: their COPY
 * text with 32-character holes where pseudonyms go, and the identifiers to
 * pseudonymize, grouped in keyd sections by (domain, length). One keyd
 * round trip fills every hole of the batch. A record one of whose
 * identifiers keyd withholds (an objection, DESIGN.md §12) is taken out of
 * the text after that round trip: it was validated like any other, but
 * nothing of it is stored.
 *
 * A profile with a composite identifier (DESIGN.md §13) has no pseudonym
 * holes: each row has one person (its normalized names, birth date and
 * sex) and six 32-character holes for its control values, which keyd's
 * CV_DERIVE fills, VST_CV_BATCH_MAX persons per frame. Such a profile
 * pseudonymizes nothing, so person i is row i. */
#ifndef VST_HTTPD_BATCH_H
#define VST_HTTPD_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "httpd/httpd.h"
#include "linkage/person.h"

typedef struct {
    uint16_t domain; /* profile domain index */
    uint8_t id_len;
    uint32_t count;
    uint8_t *ids; /* count * id_len: identifiers, wiped after the round trip */
    size_t cap;
} batch_section;

typedef struct {
    size_t off;   /* in text */
    uint16_t sec; /* section */
    uint32_t idx; /* index within the section */
} batch_hole;

typedef struct {
    char *text; /* COPY text format lines */
    size_t len, cap;
    size_t rows;
    batch_hole *holes;
    size_t nholes, holes_cap;
    size_t *kv_off; /* per row: offset of the 10-digit key version hole */
    size_t kv_cap;
    batch_section sec[VST_SECTIONS_MAX];
    size_t nsec;
    uint32_t nids;
    uint8_t *out; /* keyd's answer */
    size_t out_cap;
    uint8_t *withheld; /* keyd's answer: 1 per withheld identifier, in out's order */
    size_t withheld_cap;
    size_t withheld_rows; /* rows batch_resolve took out of the text */
    /* Composite profiles: the persons (wiped after the round trip), per
     * person the offsets of its control-value holes in key order, and
     * keyd's answer (npersons * VST_CV_RECORD_LEN bytes, wiped too). */
    vst_person *persons;
    size_t npersons, persons_cap;
    /* Persons keyd derived control values for in the last batch_resolve,
     * frame by frame: counted even when a later frame failed, because keyd
     * served (and counted) them (the delivery's `identifiers`). */
    size_t persons_served;
    size_t *cv_off;
    size_t cv_off_cap;
    uint8_t *cv_out;
    size_t cv_out_cap;
} batch;

void batch_init(batch *b);
void batch_free(batch *b);
/* Wipes identifiers and text, keeps the memory. */
void batch_reset(batch *b);
/* Appends one transformed row (delivery_ref and key version first, then
 * the profile's columns). 0, or -1 on out of memory / too many sections. */
int batch_add_row(batch *b, const vst_profile *p, const vst_row *row, const char ref[37]);
/* Pseudonymizes every identifier of the batch with one keyd call and
 * fills the holes; the rows with a withheld identifier are then removed
 * from the text (rows and len shrink, the bytes freed are wiped) and
 * counted in withheld_rows. Returns 0, > 0 a keyd error, < 0 transport
 * error. */
int batch_resolve(batch *b, const vst_profile *p, vst_keyd *k, uint32_t *key_version);

/* The two halves of batch_resolve around its keyd call, on their own so
 * that tests/unit/test_batch.c runs them on an answer it writes itself.
 * batch_answer_room: out and withheld hold the batch's identifiers (0, or
 * -1 out of memory). batch_fill: with keyd's answer in out and withheld
 * (the identifiers in section order), fills the holes and the key
 * versions, then takes the withheld rows out (withheld_rows). */
int batch_answer_room(batch *b);
void batch_fill(batch *b, uint32_t key_version);
/* The same for control values: with keyd's answer for persons
 * [from, from + n) in cv_out (96 bytes each, from's first), fills their
 * holes and their rows' key versions. batch_cv_room: cv_out holds every
 * person of the batch (0, or -1 out of memory). */
int batch_cv_room(batch *b);
void batch_fill_persons(batch *b, size_t from, size_t n, uint32_t key_version);

#endif
