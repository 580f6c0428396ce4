/* vst-keyd: the key process of the trust center (DESIGN.md §2, §3).
 *
 * Start-up order matters: read the configuration and the keystore's public
 * header, open the events file, create the sockets, harden the process and
 * drop privileges, unseal from a development master-key file if one is
 * configured, install seccomp, then serve until SIGTERM. Every option is
 * documented in deploy/vst-keyd.conf.sample and by --help. */
#include <errno.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/pidfile.h"
#include "core/secmem.h"
#include "keyd/keyd.h"

keyd_config g_cfg = {
    .keystore = "/var/lib/vst-keyd/keystore",
    .data_socket = "/run/vst-keyd/data.sock",
    .admin_socket = "/run/vst-keyd/admin.sock",
    .socket_mode = 0660,
    .events_file = "/var/lib/vst-keyd/events.jsonl",
    .dev_master_key = "",
    .domains = "sgb5/insured,sgb5/lanr-stem,sgb5/bsnr,sgb5/ik,ph/measles,ph/child",
    /* Per domain, sized to real volumes (docs/operations.md "The
     * pseudonymization budget"): deliveries stream at ~1.2e5 records/s
     * (7.2e6 a minute) and a peak day brings ~1.6e8 records, each with at
     * most one identifier per domain. The soft limits (0) are a quarter of
     * the hard ones. */
    .budget_minute = 10000000,
    .budget_day = 200000000,
    .budget_minute_soft = 0,
    .budget_day_soft = 0,
    .usage_interval = 300,
    .state_dir = "",
    .max_data_connections = 128,
    .max_admin_connections = 16,
    .frame_timeout = 30,
    .idle_timeout = 300,
    .max_buffered_mib = 64,
    .user = "vst-key",
    .seccomp = 1,
    .pid_file = "",
    /* Overlap queries (DESIGN.md §13): ten a day per pair of collections
     * (each answer is a count of a chosen subgroup: few queries, few
     * differences to take); two million records a side are 192 MB of
     * locked memory each, plus the matcher's tables. */
    .overlap_budget = 10,
    .overlap_max_records = 2000000,
};

static const vst_cfg_opt options[] = {
    {"keystore", VST_CFG_STR, &g_cfg.keystore, "keystore directory (vst-admin key init)"},
    {"data-socket", VST_CFG_STR, &g_cfg.data_socket, "UNIX socket for vst-httpd"},
    {"admin-socket", VST_CFG_STR, &g_cfg.admin_socket, "UNIX socket for vst-admin"},
    {"data-uids", VST_CFG_UIDS, &g_cfg.data_uids, "users allowed on the data socket"},
    {"admin-uids", VST_CFG_UIDS, &g_cfg.admin_uids, "users allowed on the admin socket"},
    {"socket-mode", VST_CFG_MODE, &g_cfg.socket_mode, "file mode of both sockets (0660)"},
    {"events-file", VST_CFG_STR, &g_cfg.events_file, "append-only JSON-lines event file"},
    {"dev-master-key", VST_CFG_STR, &g_cfg.dev_master_key,
     "DEVELOPMENT ONLY: unseal at start from this master-key file"},
    {"domains", VST_CFG_STR, &g_cfg.domains, "comma-separated allowlist of pseudonym domains"},
    {"budget-minute", VST_CFG_U64, &g_cfg.budget_minute,
     "identifiers per domain per sliding minute"},
    {"budget-day", VST_CFG_U64, &g_cfg.budget_day, "identifiers per domain per sliding 24 hours"},
    {"budget-minute-soft", VST_CFG_U64, &g_cfg.budget_minute_soft,
     "soft alarm above this many per minute (0: budget-minute / 4)"},
    {"budget-day-soft", VST_CFG_U64, &g_cfg.budget_day_soft,
     "soft alarm above this many per 24 hours (0: budget-day / 4)"},
    {"usage-interval", VST_CFG_U64, &g_cfg.usage_interval,
     "seconds between signed usage events (0: only at shutdown)"},
    {"state-dir", VST_CFG_STR, &g_cfg.state_dir,
     "directory of the counters and last checkpoint (\"\": the events file's)"},
    {"max-data-connections", VST_CFG_U64, &g_cfg.max_data_connections,
     "open data-socket connections at most"},
    {"max-admin-connections", VST_CFG_U64, &g_cfg.max_admin_connections,
     "open admin-socket connections at most (kept apart from the data socket's)"},
    {"frame-timeout", VST_CFG_U64, &g_cfg.frame_timeout,
     "seconds to receive a started frame, or for the peer to take its reply"},
    {"idle-timeout", VST_CFG_U64, &g_cfg.idle_timeout,
     "seconds a connection may sit between frames (0 = for ever)"},
    {"max-buffered-mib", VST_CFG_U64, &g_cfg.max_buffered_mib,
     "MiB of data-socket frames and replies held at once"},
    {"accept-generation", VST_CFG_U64, &g_cfg.accept_generation,
     "DISASTER RECOVERY ONLY: unseal this older keystore generation (0 = none)"},
    {"user", VST_CFG_STR, &g_cfg.user, "when started as root, drop to this user (\"\" = stay)"},
    {"seccomp", VST_CFG_BOOL, &g_cfg.seccomp, "install the seccomp allowlist (yes)"},
    {"pid-file", VST_CFG_STR, &g_cfg.pid_file, "write the process id here"},
    {"overlap-budget", VST_CFG_U64, &g_cfg.overlap_budget,
     "overlap queries per pair of collections per UTC day (0 = none)"},
    {"overlap-max-records", VST_CFG_U64, &g_cfg.overlap_max_records,
     "records per side of one overlap query (1..50000000)"},
    {NULL, 0, NULL, NULL},
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

int64_t keyd_now_ms(void)
{
    return vst_mono_ms();
}

int64_t keyd_wall_us(void)
{
    return vst_wall_us();
}

void keyd_log(const char *level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vst_logv("vst-keyd", level, fmt, ap);
    va_end(ap);
}

/* The state directory: state-dir, or the events file's directory. */
static int open_state_dir(char *err, size_t errlen)
{
    char dir[512];
    if (g_cfg.state_dir[0] != '\0') {
        snprintf(dir, sizeof dir, "%s", g_cfg.state_dir);
    } else {
        const char *slash = strrchr(g_cfg.events_file, '/');
        if (slash == NULL)
            snprintf(dir, sizeof dir, ".");
        else if (slash == g_cfg.events_file)
            snprintf(dir, sizeof dir, "/");
        else
            snprintf(dir, sizeof dir, "%.*s", (int)(slash - g_cfg.events_file), g_cfg.events_file);
    }
    return keyd_state_open(dir, err, errlen);
}

static int fatal(const char *msg)
{
    keyd_log("fatal", "%s", msg);
    fprintf(stderr, "vst-keyd: %s\n", msg);
    return 1;
}

/* Everything between reading the options and serving, in the order given
 * at the top of this file. 0, or -1 with err. */
static int start_up(char *err, size_t errlen)
{
    /* Key material lives in OpenSSL's secure heap (mlocked, guard pages). */
    if (CRYPTO_secure_malloc_init(1 << 20, 16) == 0)
        keyd_log("warning", "OpenSSL secure heap unavailable; keys use the locked normal heap");

    if (g_cfg.overlap_max_records < 1 || g_cfg.overlap_max_records > 50000000 ||
        g_cfg.overlap_budget > UINT32_MAX) {
        snprintf(err, errlen, "overlap-max-records must be 1..50000000, overlap-budget at most %u",
                 UINT32_MAX);
        return -1;
    }
    if (keyd_keys_init(g_cfg.keystore, g_cfg.domains, err, errlen) != 0)
        return -1;
    if (keyd_events_open(g_cfg.events_file, err, errlen) != 0)
        return -1;
    if (open_state_dir(err, errlen) != 0)
        return -1;
    keyd_budget_init(g_cfg.budget_minute, g_cfg.budget_day, g_cfg.budget_minute_soft,
                     g_cfg.budget_day_soft);
    keyd_usage_init(g_cfg.usage_interval, g_cfg.budget_minute);
    if (keyd_net_listen(err, errlen) != 0)
        return -1;
    if (g_cfg.data_uids.n == 0)
        keyd_log("warning", "data-uids is empty: no vst-httpd can connect");
    if (keyd_harden_process(err, errlen) != 0 || keyd_drop_privileges(g_cfg.user, err, errlen) != 0)
        return -1;
    if (g_cfg.dev_master_key[0] != '\0') {
        for (int i = 0; i < 3; i++)
            keyd_log("warning",
                     "DEVELOPMENT MASTER KEY FILE IN USE (%s): this keyd is not fit "
                     "for real data; unseal with Shamir shares in production",
                     g_cfg.dev_master_key);
        if (keyd_unseal_dev(g_cfg.dev_master_key, err, errlen) != 0)
            return -1;
    }
    if (vst_pidfile_write(g_cfg.pid_file) != 0) {
        snprintf(err, errlen, "cannot write the pid file");
        return -1;
    }
    if (g_cfg.seccomp && keyd_seccomp(err, errlen) != 0)
        return -1;
    return 0;
}

/* Logs and records (keyd.start) how this keyd runs. */
static void announce_start(uid_t started_by)
{
    /* A uid on both allowlists can pseudonymize chosen input and run key
     * operations: the separation of vst-httpd from operators is gone.
     * Allowed (development stacks run everything as one user), but said
     * loudly and recorded, so that an auditor sees it. */
    int shared = 0;
    for (size_t i = 0; i < g_cfg.data_uids.n; i++)
        shared |= vst_uid_allowed(&g_cfg.admin_uids, g_cfg.data_uids.uid[i]);
    if (shared)
        keyd_log("warning", "a uid is allowed on both the data and the admin socket: "
                            "operators and vst-httpd are not separated (development only)");
    keyd_event((uint32_t)started_by, "keyd.start",
               "{\"sealed\":%s,\"dev_master\":%s,\"seccomp\":%s,\"shared_uid\":%s}",
               keyd_sealed() ? "true" : "false", keyd_dev_master() ? "true" : "false",
               g_cfg.seccomp ? "true" : "false", shared ? "true" : "false");
    if (!keyd_sealed())
        keyd_state_unsealed(); /* the development master key unsealed it */
    keyd_log("info", "serving on %s (data) and %s (admin), %s", g_cfg.data_socket,
             g_cfg.admin_socket, keyd_sealed() ? "sealed" : "unsealed");
}

static void shut_down(uid_t started_by)
{
    keyd_net_close_all();
    keyd_checkpoint_tick(1);
    keyd_usage_shutdown();
    keyd_event((uint32_t)started_by, "keyd.stop", "{\"rejected_frames\":%llu}",
               (unsigned long long)keyd_net_rejected());
    keyd_events_close();
    keyd_state_close();
    keyd_usage_free();
    keyd_keys_free();
}

int main(int argc, char **argv)
{
    char err[512];
    uid_t started_by = getuid(); /* the actor of keyd.start, before any drop */
    vst_config_set(options, "admin-uids", "0", err, sizeof err);
    if (vst_config_set(options, "data-uids", "vst-data", err, sizeof err) != 0)
        g_cfg.data_uids.n = 0; /* no such user yet: configure data-uids */
    int rc = vst_config_args(options, argc, argv,
                             "usage: vst-keyd [--config FILE] [--option value ...]\n\n"
                             "The key process of vst: holds every key, serves pseudonyms and\n"
                             "signatures on two UNIX sockets, starts sealed.",
                             err, sizeof err);
    if (rc == 1)
        return 0;
    if (rc != 0)
        return fatal(err);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    vst_secmem_install_json();
    if (start_up(err, sizeof err) != 0)
        return fatal(err);
    announce_start(started_by);
    while (!stop_requested) {
        keyd_net_poll(1000);
        keyd_usage_tick();
        keyd_checkpoint_tick(0);
    }
    shut_down(started_by);
    keyd_log("info", "stopped");
    return 0;
}
