/* Request checks of vst-httpd that need no worker, database or keyd;
 * see request.c. */
#ifndef VST_HTTPD_REQUEST_H
#define VST_HTTPD_REQUEST_H

#include <microhttpd.h>
#include <stdint.h>

/* The delivery id of a request: the decoded url's segment after prefix,
 * accepted only when the raw (undecoded) path has the very same bytes
 * there and they are within the id alphabet — no percent-encoding, no
 * NUL hidden behind %00. NULL otherwise. Points into url. */
const char *httpd_delivery_id(const char *raw_path, const char *url, const char *prefix);
/* 1 if the id could carry an identifier or a birth date (also glued to
 * other characters): a KVNR, nine or more digits in a row, 32 hex digits
 * in a row, a calendar date with its day. */
int httpd_id_carries_identifier(const char *id);
/* NULL when the headers are sane, else why not (a constant string):
 * field names that are not tokens, no or several Host fields on HTTP/1.1,
 * several Content-Length or Content-Type fields, Transfer-Encoding with
 * Content-Length, a coding other than a single "chunked". */
const char *httpd_headers_wrong(struct MHD_Connection *c, const char *version);
/* 1 if the Content-Type is application/x-ndjson (parameters allowed). */
int httpd_content_type_ok(struct MHD_Connection *c);
/* Content-Length as sent: digits only; -1 when absent, -2 when malformed. */
int64_t httpd_content_length(struct MHD_Connection *c);

#endif
