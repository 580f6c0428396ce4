/* HMAC-SHA256 with a precomputed key (RFC 2104), shared by the pseudonym
 * derivation (derive.c) and the control values (link_derive.c): the pad
 * states are computed once per key and copied for every message, which
 * allocates nothing. Internal to vstkeys. */
#ifndef VST_HMAC_PADS_H
#define VST_HMAC_PADS_H

#include <openssl/sha.h>
#include <stdint.h>

#include "derive.h" /* VST_KEY_LEN */

/* The states after absorbing key ^ ipad and key ^ opad (the 32-byte key
 * zero-padded to the 64-byte block). The caller wipes key. */
void vst_hmac_pads(const uint8_t key[VST_KEY_LEN], SHA256_CTX *inner, SHA256_CTX *outer);

#endif
