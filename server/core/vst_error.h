/* The error-code registry, generated from vst_error.def: the codes of the
 * HTTP API (vst_err), of vst-keyd's error frame (vst_keyd_err) and the
 * local results of the keyd protocol code (VST_PROTO_E_*), each with the
 * HTTP answer it leads to. */
#ifndef VST_ERROR_H
#define VST_ERROR_H

typedef enum {
#define VST_ERR(sym, code, status, hint) VST_E_##sym,
#include "core/vst_error.def"
    VST_E__COUNT
} vst_err;

/* The wire code, e.g. "id_check_digit". Never NULL. */
const char *vst_err_code(vst_err e);
/* The HTTP status this error maps to when reported to a client. */
int vst_err_status(vst_err e);
/* A human hint without any input value. */
const char *vst_err_hint(vst_err e);

/* Codes of vst-keyd's error frame (type 0x7f, payload u16 code). Stable
 * numbers: never renumber or reuse. */
typedef enum {
#define VST_KEYD_ERR(sym, number, name, http, detail) VST_KERR_##sym = number,
#include "core/vst_error.def"
} vst_keyd_err;
#define VST_KERR_MAX 19 /* the codes are exactly 1..VST_KERR_MAX */
/* "bad_frame", "forbidden", ...; NULL for a code outside 1..VST_KERR_MAX. */
const char *vst_keyd_err_name(unsigned code);

/* Local results of the keyd protocol code (never on the wire): 0 or one of
 * these. */
enum {
    VST_PROTO_OK = 0,
#define VST_PROTO_ERR(sym, number, description, http, detail) VST_PROTO_E_##sym = number,
#include "core/vst_error.def"
};
/* "message truncated", ...; "ok" for 0, "unknown error" outside the list. */
const char *vst_proto_strerror(int rc);

/* How vst-httpd answers a failed keyd call: rc is what the keyd client
 * returned (0, a vst_keyd_err > 0, or a VST_PROTO_E_* < 0). Returns the
 * error to answer with and sets *detail to the problem's detail text, both
 * from the code's line in vst_error.def; VST_E_OK and NULL for 0, and
 * VST_E_UNAVAILABLE with "the key service failed" for a code outside the
 * registry. */
vst_err vst_keyd_http_err(int rc, const char **detail);

#endif
