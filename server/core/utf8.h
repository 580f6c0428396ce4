/* UTF-8 for names (client names) and log text: strict decoding (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF). The record
 * scanner has its own, allocation-free validator in server/profile. */
#ifndef VST_UTF8_H
#define VST_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes one code point from s[0..n): returns its length in bytes (1-4)
 * and stores it in *cp, or 0 when s does not start with a well-formed
 * sequence (or n == 0). */
size_t vst_utf8_next(const char *s, size_t n, uint32_t *cp);
/* 1 if s[0..n) is well-formed UTF-8, else 0. */
int vst_utf8_valid(const char *s, size_t n);
/* The length of the longest prefix of s[0..n) that does not end inside a
 * multi-byte sequence (for cutting text to a buffer). */
size_t vst_utf8_cut(const char *s, size_t n);

#endif
