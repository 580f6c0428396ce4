/* vst-send's command line (docs/vst-send.md): the options, their
 * environment variables and checks, the exit statuses, the error line. */
#ifndef VST_SEND_OPTIONS_H
#define VST_SEND_OPTIONS_H

#include <stdint.h>

#include "core/signed.h"
#include "cli/send/send_util.h"

enum {
    EXIT_OK = 0,
    EXIT_ERROR = 1,   /* local or protocol trouble */
    EXIT_REFUSED = 2, /* the server refused the delivery (4xx, 409) */
    EXIT_RECEIPT = 3, /* the receipt does not verify */
    EXIT_RETRIES = 4, /* gave up retrying */
    EXIT_USAGE = 64,  /* EX_USAGE */
};

typedef struct {
    const char *url_arg, *ca, *cert, *key, *profile, *pubkey_arg, *receipt_out;
    const char *id, *file;
    unsigned retries, timeout_s;
    int quiet, json, resume;
    vst_url url;
    uint8_t pinned[VST_ED25519_PUB_LEN];
    int have_pinned;
} vst_send_options;

/* Fills o from argv and the environment. 0 to go on, or the exit status
 * (EXIT_OK with *done set after --help; EXIT_USAGE after a message). */
int vst_send_parse_options(int argc, char **argv, vst_send_options *o, int *done);

/* "vst-send: <message>" on stderr. */
__attribute__((format(printf, 1, 2))) void vst_send_fail_line(const char *fmt, ...);

#endif
