/* A strict, allocation-free JSON scanner for record lines (RFC 8259).
 *
 * This is where the untrusted bytes of a delivery are parsed. It turns one
 * line into a flat array of tokens pointing into the caller's buffer (no
 * copy of any value is made), rejecting invalid UTF-8, control characters
 * in strings, \u0000, lone surrogates, duplicate object keys (compared after
 * unescaping), trailing bytes and nesting deeper than JS_MAX_DEPTH. Errors
 * are codes only; the scanner never quotes its input. jansson remains the
 * parser for configuration (profile files); records go through here because
 * it is several times faster and leaves no heap copies of identifiers. */
#ifndef VST_JSON_SCAN_H
#define VST_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "core/vst_error.h"

#define JS_MAX_DEPTH 16
#define JS_MAX_MEMBERS 128 /* per object: keeps duplicate detection cheap */

typedef enum {
    JT_OBJECT = 1,
    JT_ARRAY,
    JT_STRING,
    JT_INTEGER, /* a number without fraction or exponent */
    JT_REAL,
    JT_TRUE,
    JT_FALSE,
    JT_NULL,
} js_type;

typedef struct {
    uint8_t type;
    uint8_t escaped; /* JT_STRING: contains backslash escapes */
    uint16_t count;  /* JT_OBJECT: members; JT_ARRAY: items */
    uint32_t start;  /* offset of the token; for strings, after the quote */
    uint32_t len;    /* bytes; for strings, between the quotes */
    uint32_t next;   /* index of the first token after this subtree */
} js_tok;

/* Tokens are laid out in document order: an object is followed by its
 * members as (key string, value subtree) pairs, an array by its items.
 * A valid line of n bytes has at most n/2 + 1 tokens (a value and its
 * separator take two bytes or more). An invalid one may open up to
 * JS_MAX_DEPTH + 1 containers, one byte each, that it never closes: with
 * JS_TOKENS(n) tokens the scanner always gets as far as the error and
 * reports it, instead of running out of tokens first (too_many_items). */
#define JS_TOKENS(n) ((n) / 2 + JS_MAX_DEPTH + 4)
typedef struct {
    js_tok *tok;
    size_t cap, n;
} js_doc;

/* Scans buf[0..len). Returns VST_E_OK, VST_E_INVALID_JSON, VST_E_INVALID_UTF8,
 * VST_E_DUPLICATE_KEY or VST_E_TOO_MANY_ITEMS (tokens or members over the
 * limits). */
vst_err js_scan(js_doc *d, const char *buf, size_t len);

/* Decoded string value, *len bytes. If the token has no escapes, points
 * into buf and is NOT NUL-terminated (the closing quote follows); otherwise
 * decodes into out and NUL-terminates it there, using *len + 1 bytes of out
 * (at most t->len: an escaped string is at least one byte shorter decoded).
 * NULL if outcap is too small. Either way, read only *len bytes: convert
 * with length-given parsers, never strtoll and friends. */
const char *js_string(const char *buf, const js_tok *t, char *out, size_t outcap, size_t *len);

/* Whether a string token equals lit after unescaping. */
int js_string_eq(const char *buf, const js_tok *t, const char *lit, size_t litlen);

/* Integer value of a JT_INTEGER token; -1 if it does not fit in int64. */
int js_integer(const char *buf, const js_tok *t, int64_t *out);

#endif
