/* vst-send's command line; see send_options.h. */
#include "cli/send/send_options.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/signed.h"

static const char usage_text[] =
    "Usage: vst-send [OPTIONS] [--resume] DELIVERY_ID FILE\n"
    "\n"
    "Deliver FILE (NDJSON, one record per line) to the trust center as delivery\n"
    "DELIVERY_ID ([A-Za-z0-9._-]{1,128}) over HTTPS with a client certificate,\n"
    "verify the signed receipt against the file and print it.\n"
    "\n"
    "  --url URL             server, e.g. https://127.0.0.1:8443       (env VST_URL)\n"
    "  --ca FILE             CA bundle that verifies the server         (env VST_CA_CERT;\n"
    "                        default: the system's trust store)\n"
    "  --cert FILE           client certificate, PEM                    (env VST_CLIENT_CERT)\n"
    "  --key FILE            client private key, PEM                    (env VST_CLIENT_KEY;\n"
    "                        default: the --cert file)\n"
    "  --profile NAME        profile to apply (default: the server's)\n"
    "  --public-key HEX|FILE the trust center's Ed25519 receipt key: 64 hex digits, or a\n"
    "                        file with them or a PEM public key        (env VST_SIGNING_KEY;\n"
    "                        without it the receipt's own key is used, with a warning)\n"
    "  --receipt-out FILE    also write the verified receipt (JSON) to FILE\n"
    "  --resume              first ask the server whether DELIVERY_ID is already stored\n"
    "  --retries N           retries on network errors and 429/502/503/504 (default 8)\n"
    "  --timeout SECONDS     longest wait for the network (default 120)\n"
    "  --json                print the receipt as JSON instead of lines\n"
    "  --quiet               no progress and no notes; receipt and errors only\n"
    "  --help                this text\n"
    "\n"
    "Exit status: 0 stored (or already stored, same file), 1 other error, 2 refused\n"
    "by the server (including 409: id already used with a different body), 3 the\n"
    "receipt does not verify, 4 retries exhausted, 64 usage error.\n";

/* ---- output --------------------------------------------------------------- */

void vst_send_fail_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("vst-send: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int usage_error(const char *msg)
{
    fprintf(stderr, "vst-send: %s (see vst-send --help)\n", msg);
    return EXIT_USAGE;
}

/* ---- options -------------------------------------------------------------- */

static const char *env_or(const char *v, const char *name)
{
    if (v != NULL)
        return v;
    const char *e = getenv(name);
    return e != NULL && e[0] != '\0' ? e : NULL;
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

enum {
    O_URL = 256,
    O_CA,
    O_CERT,
    O_KEY,
    O_PROFILE,
    O_PUBKEY,
    O_RECEIPT,
    O_RETRIES,
    O_TIMEOUT,
    O_JSON,
    O_QUIET,
    O_RESUME,
    O_HELP
};

static const struct option longopts[] = {
    {"url", required_argument, NULL, O_URL},
    {"ca", required_argument, NULL, O_CA},
    {"cert", required_argument, NULL, O_CERT},
    {"key", required_argument, NULL, O_KEY},
    {"profile", required_argument, NULL, O_PROFILE},
    {"public-key", required_argument, NULL, O_PUBKEY},
    {"receipt-out", required_argument, NULL, O_RECEIPT},
    {"retries", required_argument, NULL, O_RETRIES},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"json", no_argument, NULL, O_JSON},
    {"quiet", no_argument, NULL, O_QUIET},
    {"resume", no_argument, NULL, O_RESUME},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

/* The string options: where each one's argument goes. */
static const char **string_option(vst_send_options *o, int c)
{
    switch (c) {
    case O_URL:
        return &o->url_arg;
    case O_CA:
        return &o->ca;
    case O_CERT:
        return &o->cert;
    case O_KEY:
        return &o->key;
    case O_PROFILE:
        return &o->profile;
    case O_PUBKEY:
        return &o->pubkey_arg;
    case O_RECEIPT:
        return &o->receipt_out;
    }
    return NULL;
}

/* One option c of getopt_long. 0 to go on, or the exit status. */
static int take_option(vst_send_options *o, int c, char **argv, int *done)
{
    const char **dst = string_option(o, c);
    if (dst != NULL) {
        *dst = optarg;
        return EXIT_OK;
    }
    switch (c) {
    case O_RETRIES:
        return parse_uint(optarg, 0, 100, &o->retries) != 0
                   ? usage_error("--retries wants a number 0..100")
                   : EXIT_OK;
    case O_TIMEOUT:
        return parse_uint(optarg, 1, 86400, &o->timeout_s) != 0
                   ? usage_error("--timeout wants seconds 1..86400")
                   : EXIT_OK;
    case O_JSON:
        o->json = 1;
        return EXIT_OK;
    case O_QUIET:
        o->quiet = 1;
        return EXIT_OK;
    case O_RESUME:
        o->resume = 1;
        return EXIT_OK;
    case O_HELP:
        fputs(usage_text, stdout);
        *done = 1;
        return EXIT_OK;
    }
    char m[160];
    snprintf(m, sizeof m, "unknown option or missing argument: %.100s", argv[optind - 1]);
    return usage_error(m);
}

/* The operands, the environment's defaults and what needs checking. */
static int check_arguments(int argc, char **argv, vst_send_options *o)
{
    if (argc - optind != 2)
        return usage_error("expected DELIVERY_ID and FILE");
    o->id = argv[optind];
    o->file = argv[optind + 1];
    if (!vst_delivery_id_ok(o->id, strlen(o->id)))
        return usage_error("DELIVERY_ID must match [A-Za-z0-9._-]{1,128}");
    if (o->profile != NULL && !vst_profile_name_ok(o->profile, strlen(o->profile)))
        return usage_error("--profile must match [a-z0-9_]{1,32}");
    o->url_arg = env_or(o->url_arg, "VST_URL");
    o->ca = env_or(o->ca, "VST_CA_CERT");
    o->cert = env_or(o->cert, "VST_CLIENT_CERT");
    o->key = env_or(o->key, "VST_CLIENT_KEY");
    o->pubkey_arg = env_or(o->pubkey_arg, "VST_SIGNING_KEY");
    char err[256];
    if (o->url_arg == NULL)
        return usage_error("no server: pass --url or set VST_URL");
    if (vst_url_parse(o->url_arg, &o->url, err, sizeof err) != 0)
        return usage_error(err);
    if (o->cert == NULL)
        return usage_error("no client certificate: pass --cert or set VST_CLIENT_CERT");
    if (o->pubkey_arg != NULL) {
        if (vst_pubkey_arg(o->pubkey_arg, o->pinned, err, sizeof err) != 0)
            return usage_error(err);
        o->have_pinned = 1;
    }
    return EXIT_OK;
}

int vst_send_parse_options(int argc, char **argv, vst_send_options *o, int *done)
{
    memset(o, 0, sizeof *o);
    o->retries = 8;
    o->timeout_s = 120;
    *done = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        int rc = take_option(o, c, argv, done);
        if (rc != EXIT_OK || *done)
            return rc;
    }
    return check_arguments(argc, argv, o);
}
