/* Lower-case hex encoding, shared by every component. */
#ifndef VST_HEX_H
#define VST_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Lower-case hex; out must hold 2n+1 bytes. */
void vst_hex(const uint8_t *in, size_t n, char *out);
/* Parses the first 2n characters of in as hex digits (either case); 0 on
 * success, -1 (out untouched) if any of them is not a hex digit. Reads no
 * further than the first non-hex character. */
int vst_unhex(const char *in, size_t n, uint8_t *out);

#endif
