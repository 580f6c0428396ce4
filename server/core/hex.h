/* Hex encoding and decoding, shared by every component: the one place
 * bytes become hex digits and back. */
#ifndef VST_HEX_H
#define VST_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Lower-case hex; out must hold 2n+1 bytes (NUL-terminated). */
void vst_hex(const uint8_t *in, size_t n, char *out);
/* Parses the first 2n characters of in as hex digits (either case); 0 on
 * success, -1 (out untouched) if any of them is not a hex digit. Reads no
 * further than the first non-hex character. */
int vst_unhex(const char *in, size_t n, uint8_t *out);
/* Exactly 2n lower-case hex digits s[0..slen) into out[0..n): the strict
 * form of documents that have one spelling per value (receipts, the audit
 * log's hashes). 0, or -1 (out may be partly written). */
int vst_unhex_lower(const char *s, size_t slen, uint8_t *out, size_t n);

#endif
