/* vst-httpd: options, start-up and shutdown (DESIGN.md §2, §6).
 *
 * Start-up: read options and TLS material (as root if started so), load
 * every profile, drop to the vst-data user, resolve prepared store
 * transactions left by a crash (before serving anything), start the
 * background thread (background.c), the watchdog and libmicrohttpd (thread
 * per connection, TLS only; a plain-HTTP monitoring listener on loopback
 * if asked for), then wait for SIGTERM/SIGINT. */
#define _GNU_SOURCE /* setresuid */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "core/config.h"
#include "core/pidfile.h"
#include "core/privdrop.h"
#include "core/secmem.h"
#include "httpd/group_commit.h"
#include "httpd/httpd.h"
#include "httpd/registry.h"
#include "httpd/store.h"
#include "httpd/tls_policy.h"

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
    .workers = 32,
    .max_connections = 1024,
    .connection_timeout = 60,
    .per_ip_connections = 64,
    .rate_limit = 600,
    .client_slots = 4,
    .header_timeout = 15,
    .min_transfer_rate = 16384,
    .min_rate_grace = 30,
    /* Counted over all domains, against vst-keyd's day budget of 2e8 per
     * domain: one insurer at its limit leaves at least half of keyd's
     * budget to everyone else (docs/operations.md). */
    .client_identifiers_day = 100000000,
    .keyd_timeout_ms = 5000,
    .db_lock_timeout_ms = 5000,
    .max_delivery_bytes = 4ull << 30,
    .batch_records = 4096,
    .group_max_records = 100,
    .commit_threads = 2,
    .max_errors = 1000,
    .checkpoint_events = 1000,
    .checkpoint_seconds = 300,
    .monitor_address = "127.0.0.1",
    .monitor_port = 0,
    .monitor_fingerprints = "",
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
    {"max-connections", VST_CFG_U64, &g_hcfg.max_connections, "open connections at most"},
    {"connection-timeout", VST_CFG_U64, &g_hcfg.connection_timeout, "idle seconds per connection"},
    {"per-ip-connections", VST_CFG_U64, &g_hcfg.per_ip_connections, "connections per client IP"},
    {"rate-limit", VST_CFG_U64, &g_hcfg.rate_limit,
     "requests per minute per client, unless its registration sets one (0 = off)"},
    {"client-slots", VST_CFG_U64, &g_hcfg.client_slots, "requests in progress per client"},
    {"header-timeout", VST_CFG_U64, &g_hcfg.header_timeout,
     "seconds for a request's headers to arrive"},
    {"min-transfer-rate", VST_CFG_U64, &g_hcfg.min_transfer_rate,
     "slowest accepted body, bytes/s after the grace (0 = off)"},
    {"min-rate-grace", VST_CFG_U64, &g_hcfg.min_rate_grace, "seconds before the rate counts"},
    {"client-identifiers-day", VST_CFG_U64, &g_hcfg.client_identifiers_day,
     "identifiers per client per 24 h sent to keyd (0 = off)"},
    {"keyd-timeout", VST_CFG_U64, &g_hcfg.keyd_timeout_ms, "milliseconds per keyd call"},
    {"db-lock-timeout", VST_CFG_U64, &g_hcfg.db_lock_timeout_ms,
     "milliseconds a database lock is waited for"},
    {"max-delivery-bytes", VST_CFG_U64, &g_hcfg.max_delivery_bytes, "largest accepted body"},
    {"batch-records", VST_CFG_U64, &g_hcfg.batch_records, "records per keyd round trip"},
    {"group-max-records", VST_CFG_U64, &g_hcfg.group_max_records,
     "a delivery of at most this many records (and one batch) is committed in a group"},
    {"commit-threads", VST_CFG_U64, &g_hcfg.commit_threads,
     "groups of small deliveries committed at once (each on its own connections)"},
    {"max-errors", VST_CFG_U64, &g_hcfg.max_errors, "record errors listed in a 422"},
    {"checkpoint-events", VST_CFG_U64, &g_hcfg.checkpoint_events, "audit events per checkpoint"},
    {"checkpoint-seconds", VST_CFG_U64, &g_hcfg.checkpoint_seconds, "seconds per checkpoint"},
    {"monitor-address", VST_CFG_STR, &g_hcfg.monitor_address,
     "loopback address of the monitoring listener"},
    {"monitor-port", VST_CFG_U64, &g_hcfg.monitor_port,
     "plain-HTTP /healthz /readyz /metrics on loopback (0 = off)"},
    {"monitor-fingerprints", VST_CFG_STR, &g_hcfg.monitor_fingerprints,
     "certificate key fingerprints that may read /metrics"},
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
        if (vst_profile_load(path, &profiles[nprofiles], err, errlen) != VST_E_OK) {
            rc = -1;
            continue;
        }
        /* The load log line names the risks the profile takes. */
        const char *warn = vst_profile_warning(profiles[nprofiles]);
        hlog(warn[0] ? "warning" : "info", "profile %s loaded from %s%s%s",
             vst_profile_name(profiles[nprofiles]), path, warn[0] ? ": " : "", warn);
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
    /* vst-httpd keeps no capability. The prctl calls after this hold for
     * a daemon that was never root too. */
    const vst_privdrop d = {.user = g_hcfg.user, .keep_caps = 0, .chown = NULL};
    int rc = vst_privdrop_to(&d, err, errlen);
    if (rc == VST_PRIVDROP_STAYED_ROOT)
        hlog("warning", "running as root: set `user` to vst-httpd's own account");
    return rc < 0 ? -1 : 0;
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

/* Every connection gets its socket context (httpd.h, peer_cache) and is
 * watched (watchdog.c). Small TLS handshake records must not wait
 * for the peer's delayed ACK (a 40 ms stall after a HelloRetryRequest
 * otherwise). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (*socket_ctx != NULL)
            watchdog_remove(*socket_ctx);
        free(*socket_ctx);
        *socket_ctx = NULL;
        return;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    peer_cache *pc = calloc(1, sizeof *pc);
    *socket_ctx = pc;
    if (ci == NULL || pc == NULL)
        return;
    int one = 1;
    setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pc->fd = ci->connect_fd;
    pc->headers_due_ms = mono_ms() + (int64_t)g_hcfg.header_timeout * 1000;
    watchdog_add(pc);
}

static void free_tls(char *cert, char *key, char *ca)
{
    if (key != NULL)
        vst_wipe(key, strlen(key));
    free(key);
    free(cert);
    free(ca);
}

/* A listening TCP socket on addr, for MHD_OPTION_LISTEN_SOCKET. */
static int listen_on(const struct sockaddr_in *addr, char *err, size_t errlen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (const struct sockaddr *)addr, sizeof *addr) != 0 || listen(fd, 128) != 0) {
        char a[INET_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET, &addr->sin_addr, a, sizeof a);
        snprintf(err, errlen, "cannot listen on %s:%u: %s", a, ntohs(addr->sin_port),
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int fatal(const char *msg)
{
    hlog("fatal", "%s", msg);
    fprintf(stderr, "vst-httpd: %s\n", msg);
    return 1;
}

/* The listener addresses from the options; NULL, or what is wrong. */
static const char *listen_addresses(struct sockaddr_in *addr, struct sockaddr_in *maddr)
{
    *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)g_hcfg.port)};
    if (g_hcfg.port == 0 || g_hcfg.port > 65535 ||
        inet_pton(AF_INET, g_hcfg.listen_address, &addr->sin_addr) != 1)
        return "listen-address must be an IPv4 address and port 1..65535";
    *maddr = (struct sockaddr_in){.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)g_hcfg.monitor_port)};
    if (g_hcfg.monitor_port > 65535 ||
        (g_hcfg.monitor_port > 0 &&
         (inet_pton(AF_INET, g_hcfg.monitor_address, &maddr->sin_addr) != 1 ||
          (ntohl(maddr->sin_addr.s_addr) >> 24) != 127)))
        return "monitor-address must be a loopback IPv4 address (127.x.x.x) and "
               "monitor-port 0..65535: the monitoring listener is plain HTTP";
    if (g_hcfg.workers == 0 || g_hcfg.batch_records == 0 || g_hcfg.max_errors == 0 ||
        g_hcfg.client_slots == 0 || g_hcfg.keyd_timeout_ms == 0 || g_hcfg.commit_threads == 0)
        return "workers, client-slots, keyd-timeout, batch-records, max-errors and "
               "commit-threads must be positive";
    if (g_hcfg.commit_threads > 16)
        return "commit-threads must be at most 16";
    return NULL;
}

/* The HTTPS listener on lfd (thread per connection, TLS only). */
static struct MHD_Daemon *start_https(int lfd, const char *cert, const char *key, const char *ca)
{
    return MHD_start_daemon(
        MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
            MHD_USE_POLL | MHD_USE_ERROR_LOG,
        0, NULL, NULL, httpd_dispatch, NULL, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, lfd, MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_MEM_KEY,
        key, MHD_OPTION_HTTPS_MEM_TRUST, ca, MHD_OPTION_HTTPS_PRIORITIES, g_hcfg.tls_priorities,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)g_hcfg.connection_timeout,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)g_hcfg.per_ip_connections,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)g_hcfg.max_connections,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024), MHD_OPTION_URI_LOG_CALLBACK,
        httpd_request_new, NULL, MHD_OPTION_NOTIFY_COMPLETED, httpd_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_END);
}

/* The monitoring listener on mfd: /healthz, /readyz and /metrics in plain
 * HTTP on loopback, for a local agent or load-balancer check; nothing
 * else (routes.c tells it by its non-NULL cls). */
static struct MHD_Daemon *start_monitor(int mfd)
{
    static int monitor_marker;
    return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                                MHD_USE_POLL | MHD_USE_ERROR_LOG,
                            0, NULL, NULL, httpd_dispatch, &monitor_marker,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET,
                            mfd, MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_CONNECTION_TIMEOUT,
                            10u, MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_URI_LOG_CALLBACK,
                            httpd_request_new, NULL, MHD_OPTION_NOTIFY_COMPLETED, httpd_completed,
                            NULL, MHD_OPTION_END);
}

/* Crash recovery before the first delivery can race it; postponed to the
 * background thread while the databases are unreachable. */
static void recover_at_start(void)
{
    int busy;
    slot *s = pool_acquire(0, 1000, &busy);
    int recovered = s ? store_recover(s, 0) : -1;
    pool_release(s);
    if (recovered < 0)
        hlog("warning", "crash recovery postponed: the databases are unreachable");
    else
        g_recovered = 1;
}

static void stop_all(struct MHD_Daemon *mhd, struct MHD_Daemon *mon)
{
    hlog("info", "stopping");
    if (mon != NULL)
        MHD_stop_daemon(mon);
    MHD_stop_daemon(mhd);
    group_commit_stop(); /* no delivery is left to submit */
    watchdog_stop();
    background_stop();
    registry_stop();
    auth_free();
    pool_free();
    for (size_t i = 0; i < nprofiles; i++)
        vst_profile_free(profiles[i]);
    hlog("info", "stopped");
}

int main(int argc, char **argv)
{
    char err[512] = "";
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

    struct sockaddr_in addr, maddr;
    const char *wrong = listen_addresses(&addr, &maddr);
    if (wrong != NULL)
        return fatal(wrong);
    if (auth_monitor_init(g_hcfg.monitor_fingerprints, err, sizeof err) != 0)
        return fatal(err);
    /* The listening sockets are bound while still root (ports < 1024) and
     * the TLS material is read; then privileges are dropped, and only then
     * does libmicrohttpd start: it never serves a request as root. */
    int lfd = listen_on(&addr, err, sizeof err);
    int mfd = lfd >= 0 && g_hcfg.monitor_port > 0 ? listen_on(&maddr, err, sizeof err) : -1;
    if (lfd < 0 || (g_hcfg.monitor_port > 0 && mfd < 0))
        return fatal(err);
    char *cert = read_file(g_hcfg.tls_cert, err, sizeof err);
    char *key = cert ? read_file(g_hcfg.tls_key, err, sizeof err) : NULL;
    char *ca = key ? read_file(g_hcfg.client_ca, err, sizeof err) : NULL;
    if (ca == NULL || load_profiles(err, sizeof err) != 0 || pool_init(g_hcfg.workers) != 0 ||
        drop_privileges(err, sizeof err) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 ||
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        free_tls(cert, key, ca);
        return fatal(err[0] ? err : "out of memory, or prctl failed");
    }
    struct MHD_Daemon *mhd = start_https(lfd, cert, key, ca);
    free_tls(cert, key, ca); /* the private key is no longer needed in our memory */
    if (mhd == NULL)
        return fatal("cannot start the HTTPS listener (bad TLS material or priorities)");
    struct MHD_Daemon *mon = mfd >= 0 ? start_monitor(mfd) : NULL;
    if (mfd >= 0 && mon == NULL) {
        MHD_stop_daemon(mhd);
        return fatal("cannot start the monitoring listener");
    }
    if (vst_pidfile_write(g_hcfg.pid_file) != 0)
        return fatal("cannot write the pid file");
    recover_at_start();
    if (group_commit_start(g_hcfg.commit_threads) != 0 || background_start() != 0 ||
        watchdog_start() != 0 || registry_start() != 0)
        return fatal("cannot start the background threads");
    hlog("info", "serving https://%s:%llu (%zu profiles, %llu workers)", g_hcfg.listen_address,
         (unsigned long long)g_hcfg.port, nprofiles, (unsigned long long)g_hcfg.workers);
    while (!stop_requested)
        sleep(1); /* returns early on SIGTERM */
    stop_all(mhd, mon);
    return 0;
}
