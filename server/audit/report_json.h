/* Signed reports (DESIGN.md §11; docs/audit.md "Signed reports"): the
 * small-cell report of `vst-admin cells` (and later the overlap report)
 * is a JSON object that vst-keyd signs as a digest of a structure whose
 * type it is told (core/signed.h vst_report_tbs), never as arbitrary bytes.
 *
 * The digest is SHA-256 of the report's canonical form: the object without
 * its "signature" member, written by jansson with JSON_COMPACT |
 * JSON_SORT_KEYS | JSON_ENSURE_ASCII. Reports hold integers and strings
 * only (no floats, whose text forms differ between writers), so any
 * verifier that sorts keys and escapes non-ASCII as \uXXXX recomputes it.
 * Part of vstreceipt (vstcore and jansson only). */
#ifndef VST_REPORT_JSON_H
#define VST_REPORT_JSON_H

#include <jansson.h>
#include <stdint.h>

/* 0 and the digest, or -1 (not an object, a float inside, no memory). */
int vst_report_digest(const json_t *report, uint8_t out[32]);

#endif
