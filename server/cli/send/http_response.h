/* The one place where vst-send parses what the server sends back: an
 * incremental (push) parser for an HTTP/1.1 response — status line, header
 * fields, and a body framed by Content-Length, by chunked transfer coding or
 * by the end of the connection.
 *
 * The server is not trusted to be well-behaved: every line, the header block
 * as a whole and the body have hard caps, every number is range-checked, and
 * anything the grammar does not allow is an error (never a guess). Interim
 * 1xx responses (e.g. "100 Continue") are recorded and skipped. Bytes that
 * arrive after a complete response are ignored: vst-send always sends
 * "Connection: close". */
#ifndef VST_SEND_HTTP_RESPONSE_H
#define VST_SEND_HTTP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#define VST_HR_LINE_MAX 8192     /* one status, header, chunk-size or trailer line */
#define VST_HR_HEADERS_MAX 32768 /* all header and trailer bytes of one response */
#define VST_HR_FIELDS_MAX 100    /* header plus trailer fields */
#define VST_HR_INTERIM_MAX 8     /* 1xx responses before the final one */
#define VST_HR_BODY_MAX_DEFAULT (1u << 20)
#define VST_HR_VALUE_MAX 128 /* kept header values (Content-Type, Retry-After) */

typedef enum {
    VST_HR_MORE = 0,  /* feed more bytes (or call _eof when the peer closed) */
    VST_HR_DONE = 1,  /* a complete final response is available */
    VST_HR_ERROR = -1 /* malformed or over a cap; see .error */
} vst_hr_result;

typedef enum {
    VST_HR_E_NONE = 0,
    VST_HR_E_STATUS_LINE,   /* not "HTTP/1.x NNN reason" */
    VST_HR_E_HEADER_SYNTAX, /* bad field name, value or line folding */
    VST_HR_E_LINE_TOO_LONG, /* a line over VST_HR_LINE_MAX */
    VST_HR_E_HEADERS_TOO_LARGE,
    VST_HR_E_TOO_MANY_FIELDS,
    VST_HR_E_CONTENT_LENGTH,  /* invalid, duplicate-conflicting or overflowing */
    VST_HR_E_TRANSFER_CODING, /* a coding other than a final "chunked" */
    VST_HR_E_CHUNK,           /* bad chunk size line or missing CRLF after data */
    VST_HR_E_BODY_TOO_LARGE,
    VST_HR_E_TRUNCATED,         /* the connection ended before the response did */
    VST_HR_E_UNEXPECTED_STATUS, /* 101 Switching Protocols or too many 1xx */
    VST_HR_E_NOMEM,
} vst_hr_error;

typedef struct {
    /* ---- results, valid once _feed returned VST_HR_DONE ---- */
    int status;        /* 200..599 (final responses only) */
    int minor_version; /* HTTP/1.<minor> */
    int interim_seen;  /* number of 1xx responses skipped */
    int has_content_type;
    char content_type[VST_HR_VALUE_MAX + 1]; /* raw value, only if it fit */
    int has_retry_after;
    char retry_after[VST_HR_VALUE_MAX + 1]; /* raw value, only if it fit */
    uint8_t *body; /* NUL-terminated (body[body_len] == 0), or NULL if empty */
    size_t body_len;
    vst_hr_error error;

    /* ---- parser state (private) ---- */
    int state;
    size_t body_max;
    char line[VST_HR_LINE_MAX];
    size_t line_len;
    size_t header_bytes; /* of the current message, incl. trailers */
    unsigned nfields;
    int have_cl;
    uint64_t content_length;
    int chunked;
    uint64_t remaining; /* of the Content-Length body or the current chunk */
    size_t body_cap;    /* allocated size of body */
} vst_http_resp;

/* body_max: largest body accepted (0 → VST_HR_BODY_MAX_DEFAULT). */
void vst_http_resp_init(vst_http_resp *r, size_t body_max);

/* Consume data[0..n). *used (may be NULL) receives how many bytes belonged
 * to the response; once DONE or ERROR the parser consumes nothing more and
 * keeps returning the same result. */
vst_hr_result vst_http_resp_feed(vst_http_resp *r, const void *data, size_t n, size_t *used);

/* The peer closed the connection. DONE if that completes the response (a
 * body delimited by the connection's end), else ERROR (truncated). */
vst_hr_result vst_http_resp_eof(vst_http_resp *r);

/* DONE, ERROR, or MORE while the response is incomplete. */
vst_hr_result vst_http_resp_result(const vst_http_resp *r);

/* 1 once any byte of a response has been received. */
int vst_http_resp_started(const vst_http_resp *r);

/* Frees (and wipes) the body and resets the parser to a fresh state. */
void vst_http_resp_free(vst_http_resp *r);

/* Short English text for an error, e.g. "response header block too large". */
const char *vst_http_resp_strerror(vst_hr_error e);

#endif
