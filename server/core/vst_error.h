/* Stable error codes shared by every component; generated from vst_error.def. */
#ifndef VST_ERROR_H
#define VST_ERROR_H

typedef enum {
#define VST_ERR(sym, code, status, hint) VST_E_##sym,
#include "core/vst_error.def"
#undef VST_ERR
    VST_E__COUNT
} vst_err;

/* The wire code, e.g. "id_check_digit". Never NULL. */
const char *vst_err_code(vst_err e);
/* The HTTP status this error maps to when reported to a client. */
int vst_err_status(vst_err e);
/* A human hint without any input value. */
const char *vst_err_hint(vst_err e);

#endif
