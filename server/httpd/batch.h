/* A batch of transformed records on their way to the store: their COPY
 * text with 32-character holes where pseudonyms go, and the identifiers to
 * pseudonymize, grouped in keyd sections by (domain, length). One keyd
 * round trip fills every hole of the batch. */
#ifndef VST_HTTPD_BATCH_H
#define VST_HTTPD_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "httpd/httpd.h"

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
} batch;

void batch_init(batch *b);
void batch_free(batch *b);
/* Wipes identifiers and text, keeps the memory. */
void batch_reset(batch *b);
/* Appends one transformed row (delivery_ref and key version first, then
 * the profile's columns). 0, or -1 on out of memory / too many sections. */
int batch_add_row(batch *b, const vst_profile *p, const vst_row *row, const char ref[37]);
/* Pseudonymizes every identifier of the batch with one keyd call and
 * fills the holes; returns 0, > 0 a keyd error, < 0 transport error. */
int batch_resolve(batch *b, const vst_profile *p, vst_keyd *k, uint32_t *key_version);

#endif
