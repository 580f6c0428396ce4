/* Lookup tables for the error registry in vst_error.def. */
#include "core/vst_error.h"

static const struct {
    const char *code;
    int status;
    const char *hint;
} registry[] = {
#define VST_ERR(sym, code, status, hint) {code, status, hint},
#include "core/vst_error.def"
#undef VST_ERR
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
