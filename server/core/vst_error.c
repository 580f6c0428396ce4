/* Lookup tables for the error registry in vst_error.def, and the checks
 * that keep keyd's codes and the protocol's local results dense. */
#include "core/vst_error.h"

#include <stddef.h>

static const struct {
    const char *code;
    int status;
    const char *hint;
} registry[] = {
#define VST_ERR(sym, code, status, hint) {code, status, hint},
#include "core/vst_error.def"
};

static int valid(vst_err e)
{
    return (unsigned)e < (unsigned)VST_E__COUNT;
}

const char *vst_err_code(vst_err e)
{
    return valid(e) ? registry[e].code : "internal";
}

int vst_err_status(vst_err e)
{
    return valid(e) ? registry[e].status : 500;
}

const char *vst_err_hint(vst_err e)
{
    return valid(e) ? registry[e].hint : "internal error";
}

/* ---- keyd's codes and the protocol's local results */

/* One row of either kind: a name or description, and the HTTP answer. */
typedef struct {
    const char *text;
    vst_err http;
    const char *detail;
} keyd_row;

/* keyd's numbers are exactly 1..VST_KERR_MAX, each once: every row lies in
 * the range (below), there are VST_KERR_MAX rows, and two rows with one
 * number override each other in keyd_rows[], which -Werror refuses
 * (-Woverride-init). The local results likewise are exactly -1..-N. */
enum {
#define VST_KEYD_ERR(sym, number, name, http, detail) KEYD_ROW_##sym,
#include "core/vst_error.def"
    KEYD_ROWS
};
enum {
#define VST_PROTO_ERR(sym, number, description, http, detail) PROTO_ROW_##sym,
#include "core/vst_error.def"
    PROTO_ROWS
};
_Static_assert(KEYD_ROWS == VST_KERR_MAX, "VST_KERR_MAX is the number of keyd codes");
#define VST_KEYD_ERR(sym, number, name, http, detail)                                              \
    _Static_assert((number) >= 1 && (number) <= VST_KERR_MAX, "keyd code " #sym " out of range");
#define VST_PROTO_ERR(sym, number, description, http, detail)                                      \
    _Static_assert((number) <= -1 && (number) >= -PROTO_ROWS, "result " #sym " out of range");
#include "core/vst_error.def"

static const keyd_row keyd_rows[VST_KERR_MAX + 1] = {
#define VST_KEYD_ERR(sym, number, name, http, detail) [number] = {name, VST_E_##http, detail},
#include "core/vst_error.def"
};

static const keyd_row proto_rows[PROTO_ROWS + 1] = {
#define VST_PROTO_ERR(sym, number, description, http, detail)                                      \
    [-(number)] = {description, VST_E_##http, detail},
#include "core/vst_error.def"
};

/* The row of a keyd call's result; NULL for 0 or a code outside both. */
static const keyd_row *row_of(int rc)
{
    if (rc > 0 && rc <= VST_KERR_MAX)
        return &keyd_rows[rc];
    if (rc < 0 && rc >= -PROTO_ROWS)
        return &proto_rows[-rc];
    return NULL;
}

const char *vst_keyd_err_name(unsigned code)
{
    return code >= 1 && code <= VST_KERR_MAX ? keyd_rows[code].text : NULL;
}

const char *vst_proto_strerror(int rc)
{
    if (rc == VST_PROTO_OK)
        return "ok";
    const keyd_row *r = rc < 0 ? row_of(rc) : NULL;
    return r != NULL ? r->text : "unknown error";
}

vst_err vst_keyd_http_err(int rc, const char **detail)
{
    if (rc == 0) {
        *detail = NULL;
        return VST_E_OK;
    }
    const keyd_row *r = row_of(rc);
    *detail = r != NULL ? r->detail : "the key service failed";
    return r != NULL ? r->http : VST_E_UNAVAILABLE;
}
