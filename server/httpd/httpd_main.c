/* vst-httpd: options, start-up and shutdown (DESIGN.md §2, §6).
 *
 * Start-up: read options and TLS material (as root if started so), load
 * every profile, drop to the vst-data user, resolve prepared store
 * transactions left by a crash (before serving anything), start the
 * background audit thread and libmicrohttpd (thread per connection, TLS
 * only), then wait for SIGTERM/SIGINT. */
#define _GNU_SOURCE /* setresuid */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "common/config.h"
#include "common/secmem.h"
#include "httpd.h"
#include "httpd_tls.h"

volatile int g_recovered;

httpd_config g_hcfg = {
    .listen_address = "127.0.0.1",
    .port = 8443,
    .tls_cert = "/etc/vst/tls/server.pem",
    .tls_key = "/etc/vst/tls/server.key",
    .client_ca = "/etc/vst/tls/client-ca.pem",
    .tls_priorities = BSI_PRIORITIES,
    .trust_dsn = "dbname=vst_trust user=vst_httpd",
    .store_dsn = "dbname=vst_store user=vst_httpd",
    .keyd_socket = "/run/vst-keyd/data.sock",
    .profiles = VST_PROFILE_DIR,
    .default_profile = "sgb5",
    .workers = 16,
    .connection_timeout = 60,
    .per_ip_connections = 64,
    .rate_limit = 600,
    .max_delivery_bytes = 4ull << 30,
    .batch_records = 4096,
    .max_errors = 1000,
    .checkpoint_events = 1000,
    .checkpoint_seconds = 300,
    .user = "vst-data",
    .pid_file = "",
};

static const vst_cfg_opt options[] = {
    {"listen-address", VST_CFG_STR, &g_hcfg.listen_address, "IPv4 address to listen on"},
    {"port", VST_CFG_U64, &g_hcfg.port, "HTTPS port"},
    {"tls-cert", VST_CFG_STR, &g_hcfg.tls_cert, "server certificate chain (PEM)"},
    {"tls-key", VST_CFG_STR, &g_hcfg.tls_key, "server private key (PEM)"},
    {"client-ca", VST_CFG_STR, &g_hcfg.client_ca, "CAs that issue insurer certificates (PEM)"},
    {"tls-priorities", VST_CFG_STR, &g_hcfg.tls_priorities, "GnuTLS priority string (BSI)"},
    {"trust-dsn", VST_CFG_STR, &g_hcfg.trust_dsn, "libpq connection string of the trust DB"},
    {"store-dsn", VST_CFG_STR, &g_hcfg.store_dsn, "libpq connection string of the store"},
    {"keyd-socket", VST_CFG_STR, &g_hcfg.keyd_socket, "vst-keyd's data socket"},
    {"profiles", VST_CFG_STR, &g_hcfg.profiles, "directory of profile files"},
    {"default-profile", VST_CFG_STR, &g_hcfg.default_profile, "profile without ?profile="},
    {"workers", VST_CFG_U64, &g_hcfg.workers, "concurrent requests (DB + keyd connections)"},
    {"connection-timeout", VST_CFG_U64, &g_hcfg.connection_timeout, "idle seconds per connection"},
    {"per-ip-connections", VST_CFG_U64, &g_hcfg.per_ip_connections, "connections per client IP"},
    {"rate-limit", VST_CFG_U64, &g_hcfg.rate_limit, "requests per minute per client (0 = off)"},
    {"max-delivery-bytes", VST_CFG_U64, &g_hcfg.max_delivery_bytes, "largest accepted body"},
    {"batch-records", VST_CFG_U64, &g_hcfg.batch_records, "records per keyd round trip"},
    {"max-errors", VST_CFG_U64, &g_hcfg.max_errors, "record errors listed in a 422"},
    {"checkpoint-events", VST_CFG_U64, &g_hcfg.checkpoint_events, "audit events per checkpoint"},
    {"checkpoint-seconds", VST_CFG_U64, &g_hcfg.checkpoint_seconds, "seconds per checkpoint"},
    {"user", VST_CFG_STR, &g_hcfg.user, "when started as root, drop to this user (\"\" = stay)"},
    {"pid-file", VST_CFG_STR, &g_hcfg.pid_file, "write the process id here"},
    {NULL, 0, NULL, NULL},
};

/* ---- profiles */

#define MAX_PROFILES 32
static vst_profile *profiles[MAX_PROFILES];
static size_t nprofiles;

const vst_profile *httpd_profile(const char *name)
{
    for (size_t i = 0; i < nprofiles; i++)
        if (strcmp(vst_profile_name(profiles[i]), name) == 0)
            return profiles[i];
    return NULL;
}

static int load_profiles(char *err, size_t errlen)
{
    DIR *d = opendir(g_hcfg.profiles);
    if (d == NULL) {
        snprintf(err, errlen, "profiles %s: %s", g_hcfg.profiles, strerror(errno));
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0 || nprofiles == MAX_PROFILES)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", g_hcfg.profiles, e->d_name);
        if (vst_profile_load(path, &profiles[nprofiles], err, errlen) != VST_E_OK)
            rc = -1;
        else
            nprofiles++;
    }
    closedir(d);
    if (rc == 0 && httpd_profile(g_hcfg.default_profile) == NULL) {
        snprintf(err, errlen, "default profile \"%s\" not found in %s", g_hcfg.default_profile,
                 g_hcfg.profiles);
        rc = -1;
    }
    return rc;
}

/* ---- files and privileges */

static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf == NULL || n == 0) {
        free(buf);
        snprintf(err, errlen, "%s: empty or unreadable", path);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static int drop_privileges(char *err, size_t errlen)
{
    if (geteuid() != 0)
        return 0;
    if (g_hcfg.user[0] == '\0') {
        hlog("warning", "running as root: set `user` to vst-httpd's own account");
        return 0;
    }
    struct passwd *pw = getpwnam(g_hcfg.user);
    if (pw == NULL) {
        snprintf(err, errlen, "user \"%s\" does not exist (create it, or set `user`)", g_hcfg.user);
        return -1;
    }
    if (setgroups(0, NULL) != 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
        setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0 || setuid(0) == 0) {
        snprintf(err, errlen, "dropping to user %s: %s", g_hcfg.user, strerror(errno));
        return -1;
    }
    return 0;
}

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    hlog("debug", "libmicrohttpd: %s", msg);
}

/* Small TLS handshake records must not wait for the peer's delayed ACK
 * (a 40 ms stall after a HelloRetryRequest otherwise). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        free(*socket_ctx);
        *socket_ctx = NULL;
        return;
    }
    /* Per-connection cache of the verified client certificate (httpd_auth.c). */
    *socket_ctx = calloc(1, sizeof(peer_cache));
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int one = 1;
    if (ci != NULL)
        setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int fatal(const char *msg)
{
    hlog("fatal", "%s", msg);
    fprintf(stderr, "vst-httpd: %s\n", msg);
    return 1;
}

int main(int argc, char **argv)
{
    char err[512];
    int rc = vst_config_args(options, argc, argv,
                             "usage: vst-httpd [--config FILE] [--option value ...]\n\n"
                             "The HTTPS delivery service of vst: insurers PUT NDJSON deliveries,\n"
                             "which are pseudonymized by vst-keyd and written to the store.",
                             err, sizeof err);
    if (rc == 1)
        return 0;
    if (rc != 0)
        return fatal(err);
    vst_secmem_install_json();
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_hcfg.port)};
    if (g_hcfg.port == 0 || g_hcfg.port > 65535 ||
        inet_pton(AF_INET, g_hcfg.listen_address, &addr.sin_addr) != 1)
        return fatal("listen-address must be an IPv4 address and port 1..65535");
    if (g_hcfg.workers == 0 || g_hcfg.batch_records == 0 || g_hcfg.max_errors == 0)
        return fatal("workers, batch-records and max-errors must be positive");
    char *cert = read_file(g_hcfg.tls_cert, err, sizeof err);
    char *key = cert ? read_file(g_hcfg.tls_key, err, sizeof err) : NULL;
    char *ca = key ? read_file(g_hcfg.client_ca, err, sizeof err) : NULL;
    if (ca == NULL)
        return fatal(err);
    if (load_profiles(err, sizeof err) != 0)
        return fatal(err);
    if (pool_init(g_hcfg.workers + 1) != 0) /* + 1 for the background thread */
        return fatal("out of memory");

    /* Listening socket and TLS credentials are set up by MHD as root when
     * started so (ports < 1024); then everything else runs as vst-data. */
    struct MHD_Daemon *mhd = MHD_start_daemon(
        MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
            MHD_USE_POLL | MHD_USE_ERROR_LOG,
        (uint16_t)g_hcfg.port, NULL, NULL, httpd_dispatch, NULL, MHD_OPTION_SOCK_ADDR, &addr,
        MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_MEM_TRUST,
        ca, MHD_OPTION_HTTPS_PRIORITIES, g_hcfg.tls_priorities, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)g_hcfg.connection_timeout, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)g_hcfg.per_ip_connections, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(256 * 1024), MHD_OPTION_NOTIFY_COMPLETED, httpd_completed, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        NULL, MHD_OPTION_END);
    /* The private key is no longer needed in our memory. */
    vst_wipe(key, strlen(key));
    free(key);
    free(cert);
    free(ca);
    if (mhd == NULL)
        return fatal("cannot start the HTTPS listener (address in use, or bad TLS material)");
    if (drop_privileges(err, sizeof err) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 ||
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        MHD_stop_daemon(mhd);
        return fatal(err[0] ? err : "prctl failed");
    }
    if (g_hcfg.pid_file[0] != '\0') {
        FILE *f = fopen(g_hcfg.pid_file, "we");
        if (f == NULL || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0)
            return fatal("cannot write the pid file");
    }
    /* Crash recovery before the first delivery can race it. */
    slot *s = pool_acquire(1000);
    int recovered = s ? store_recover(s, 0) : -1;
    pool_release(s);
    if (recovered < 0)
        hlog("warning", "crash recovery postponed: the databases are unreachable");
    else
        g_recovered = 1;
    if (audit_thread_start() != 0)
        return fatal("cannot start the background thread");
    hlog("info", "serving https://%s:%llu (%zu profiles, %llu workers)", g_hcfg.listen_address,
         (unsigned long long)g_hcfg.port, nprofiles, (unsigned long long)g_hcfg.workers);
    while (!stop_requested)
        sleep(1); /* returns early on SIGTERM */
    hlog("info", "stopping");
    MHD_stop_daemon(mhd);
    audit_thread_stop();
    pool_free();
    for (size_t i = 0; i < nprofiles; i++)
        vst_profile_free(profiles[i]);
    hlog("info", "stopped");
    return 0;
}
