/* Fixture of the vst-keyd suites; see fixture.h. */
#include "fixture.h"

#include <CUnit/CUnit.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "derive.h"

#define MAX_TMP 128
#define MAX_CHILDREN 64

static pid_t owner_pid;
static char *tmpdirs[MAX_TMP];
static size_t ntmp;
static pid_t children[MAX_CHILDREN];
static size_t nchildren;
static char scratch[FX_PATH]; /* captured output of fx_run */
static unsigned scratch_seq;
static const char *store_dsn;

static void secrets_free(void);

/* ------------------------------------------------------------ life cycle */

static void fx_init(void)
{
    if (owner_pid != 0)
        return;
    owner_pid = getpid();
    signal(SIGPIPE, SIG_IGN);
    atexit(fx_cleanup);
}

static void rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d != NULL) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                char sub[2 * FX_PATH];
                snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void child_add(pid_t pid)
{
    if (nchildren < MAX_CHILDREN)
        children[nchildren++] = pid;
}

static void child_forget(pid_t pid)
{
    for (size_t i = 0; i < nchildren; i++)
        if (children[i] == pid) {
            children[i] = children[--nchildren];
            return;
        }
}

void fx_cleanup(void)
{
    if (owner_pid == 0 || getpid() != owner_pid)
        return; /* a forked child: nothing here is its to clean */
    for (size_t i = 0; i < nchildren; i++) {
        kill(children[i], SIGKILL);
        waitpid(children[i], NULL, 0);
    }
    nchildren = 0;
    for (size_t i = 0; i < ntmp; i++) {
        rm_rf(tmpdirs[i]);
        free(tmpdirs[i]);
    }
    ntmp = 0;
    scratch[0] = '\0';
    secrets_free();
}

int fx_suite_cleanup(void)
{
    fx_cleanup();
    return 0;
}

const char *fx_tmpdir(void)
{
    fx_init();
    if (ntmp == MAX_TMP) {
        CU_FAIL("too many temp dirs");
        return NULL;
    }
    char *d = strdup("/tmp/vst-keyd-test-XXXXXX");
    if (d == NULL || mkdtemp(d) == NULL) {
        free(d);
        CU_FAIL("mkdtemp failed");
        return NULL;
    }
    tmpdirs[ntmp++] = d;
    return d;
}

const char *fx_prog(const char *var)
{
    const char *p = getenv(var);
    if (p == NULL || *p == '\0') {
        fprintf(stderr, "fixture: %s is not set (run through ctest)\n", var);
        CU_FAIL(var);
        return "/nonexistent";
    }
    return p;
}

/* ------------------------------------------------------------ files */

char *fx_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t k;
    while (buf != NULL && (k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (cap - n - 1 == 0) {
            char *p = realloc(buf, cap * 2);
            if (p == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = p;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf != NULL)
        buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

int fx_write_file(const char *path, const char *text, unsigned mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    int rc = write(fd, text, n) == (ssize_t)n ? 0 : -1;
    close(fd);
    return rc;
}

int fx_one_line(const char *s)
{
    if (s == NULL || s[0] == '\0' || s[0] == '\n')
        return 0;
    const char *nl = strchr(s, '\n');
    return nl != NULL && nl[1] == '\0';
}

double fx_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int fx_is_root(void)
{
    return geteuid() == 0;
}

uid_t fx_user_uid(const char *name, gid_t *gid)
{
    struct passwd *pw = getpwnam(name);
    if (pw == NULL)
        return (uid_t)-1;
    if (gid != NULL)
        *gid = pw->pw_gid;
    return pw->pw_uid;
}

/* ------------------------------------------------------------ processes */

pid_t fx_spawn(const char *const argv[], const char *out_path, const char *err_path,
               const char *const env[])
{
    fx_init();
    pid_t pid = fork();
    if (pid < 0) {
        CU_FAIL("fork failed");
        return -1;
    }
    if (pid == 0) {
        /* Dies with the test process even if that one is killed (cleared
         * again when keyd changes its uid: the sandbox test's keyd relies
         * on fx_cleanup alone). */
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        if (getppid() != owner_pid)
            _exit(127);
        int in = open("/dev/null", O_RDONLY);
        int out = out_path ? open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600)
                           : open("/dev/null", O_WRONLY);
        int err = err_path ? open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0600)
                           : open("/dev/null", O_WRONLY);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
            _exit(127);
        for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
            char *e = strdup(env[i]);
            if (e == NULL || putenv(e) != 0)
                _exit(127);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    child_add(pid);
    return pid;
}

static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return -1;
}

int fx_wait(pid_t pid, double timeout_s)
{
    double end = fx_now() + timeout_s;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (r < 0) {
            child_forget(pid);
            return -1;
        }
        if (fx_now() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            child_forget(pid);
            return -2;
        }
        usleep(2000);
    }
    child_forget(pid);
    return decode_status(st);
}

int fx_run(fx_result *r, const char *const argv[], const char *const env[])
{
    memset(r, 0, sizeof *r);
    if (scratch[0] == '\0') {
        const char *d = fx_tmpdir();
        if (d == NULL)
            return r->status = -1;
        snprintf(scratch, sizeof scratch, "%s", d);
    }
    char out[2 * FX_PATH], err[2 * FX_PATH];
    unsigned seq = scratch_seq++;
    snprintf(out, sizeof out, "%s/out.%u", scratch, seq);
    snprintf(err, sizeof err, "%s/err.%u", scratch, seq);
    pid_t pid = fx_spawn(argv, out, err, env);
    r->status = pid > 0 ? fx_wait(pid, 120) : -1;
    r->out = fx_read_file(out, NULL);
    r->err = fx_read_file(err, NULL);
    if (r->out == NULL)
        r->out = strdup("");
    if (r->err == NULL)
        r->err = strdup("");
    unlink(out);
    unlink(err);
    return r->status;
}

void fx_result_free(fx_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

void fx_set_store_dsn(const char *dsn)
{
    store_dsn = dsn;
}

int fx_admin(fx_result *r, const fx_keyd *k, ...)
{
    const char *argv[48];
    size_t n = 0;
    argv[n++] = fx_prog("VST_ADMIN");
    if (k != NULL) {
        argv[n++] = "--admin-socket";
        argv[n++] = k->admin_sock;
    }
    if (store_dsn != NULL) {
        argv[n++] = "--store-dsn";
        argv[n++] = store_dsn;
    }
    va_list ap;
    va_start(ap, k);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < 47)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    fx_run(r, argv, NULL);
    /* vst-admin prints no identifier or pseudonym either. */
    CU_ASSERT_EQUAL(fx_secret_scan_text("vst-admin stdout", r->out, strlen(r->out), 1), 0);
    CU_ASSERT_EQUAL(fx_secret_scan_text("vst-admin stderr", r->err, strlen(r->err), 1), 0);
    return r->status;
}

/* ------------------------------------------------------------ keystores */

static int store_init(fx_store *s, const char *owner, const char *mode_args[])
{
    memset(s, 0, sizeof *s);
    const char *d = fx_tmpdir();
    if (d == NULL)
        return -1;
    snprintf(s->dir, sizeof s->dir, "%s", d);
    snprintf(s->keystore, sizeof s->keystore, "%s/ks", d);
    const char *argv[24];
    size_t n = 0;
    argv[n++] = fx_prog("VST_ADMIN");
    argv[n++] = "--keystore";
    argv[n++] = s->keystore;
    argv[n++] = "key";
    argv[n++] = "init";
    for (size_t i = 0; mode_args[i] != NULL; i++)
        argv[n++] = mode_args[i];
    if (owner != NULL) {
        argv[n++] = "--owner";
        argv[n++] = owner;
    }
    argv[n] = NULL;
    fx_result r;
    fx_run(&r, argv, NULL);
    const char *p = strstr(r.out, "signing public key: ");
    int ok = r.status == 0 && p != NULL;
    if (ok)
        snprintf(s->pubkey_hex, sizeof s->pubkey_hex, "%.64s", p + strlen("signing public key: "));
    else
        fprintf(stderr, "key init failed (%d): %s%s", r.status, r.out, r.err);
    fx_result_free(&r);
    CU_ASSERT(ok);
    if (!ok)
        return -1;
    if (owner != NULL) {
        /* The keyd user must reach the keystore through the temp dir. */
        chmod(s->dir, 0711);
    }
    return 0;
}

int fx_store_dev(fx_store *s, const char *owner)
{
    char master[FX_PATH];
    const char *d = fx_tmpdir();
    if (d == NULL)
        return -1;
    snprintf(master, sizeof master, "%s/master.key", d);
    const char *args[] = {"--dev-master-key", master, NULL};
    if (store_init(s, owner, args) != 0)
        return -1;
    snprintf(s->master, sizeof s->master, "%s", master);
    if (owner != NULL) {
        gid_t gid;
        uid_t uid = fx_user_uid(owner, &gid);
        if (uid == (uid_t)-1 || chown(master, uid, gid) != 0 || chmod(d, 0711) != 0) {
            CU_FAIL("cannot hand the master-key file to its owner");
            return -1;
        }
    }
    return 0;
}

int fx_store_shamir(fx_store *s, unsigned n, unsigned m, const char *owner)
{
    char sdir[FX_PATH - 32], ns[8], ms[8];
    const char *d = fx_tmpdir();
    if (d == NULL || n > 8)
        return -1;
    snprintf(sdir, sizeof sdir, "%s", d);
    snprintf(ns, sizeof ns, "%u", n);
    snprintf(ms, sizeof ms, "%u", m);
    const char *args[] = {"--shares", ns, "--threshold", ms, "--share-dir", sdir, NULL};
    if (store_init(s, owner, args) != 0)
        return -1;
    s->nshares = n;
    s->threshold = m;
    for (unsigned i = 0; i < n; i++) {
        snprintf(s->share[i], sizeof s->share[i], "%s/share-%u-of-%u.txt", sdir, i + 1, n);
        if (access(s->share[i], R_OK) != 0) {
            CU_FAIL("key init did not write every share file");
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ vst-keyd */

static int log_has_after(const char *path, size_t off, const char *needle)
{
    size_t len;
    char *t = fx_read_file(path, &len);
    int found = t != NULL && len >= off && strstr(t + off, needle) != NULL;
    free(t);
    return found;
}

static void log_dump(const fx_keyd *k, const char *why)
{
    size_t len;
    char *t = fx_read_file(k->log, &len);
    fprintf(stderr, "---- vst-keyd %s; its log (%s):\n%s----\n", why, k->log,
            t && len > 6000 ? t + len - 6000
            : t             ? t
                            : "(none)");
    free(t);
}

int fx_keyd_start(fx_keyd *k, const fx_keyd_opts *o)
{
    if (k->dir[0] == '\0') {
        const char *d = fx_tmpdir();
        if (d == NULL)
            return -1;
        snprintf(k->dir, sizeof k->dir, "%s", d);
        snprintf(k->data_sock, sizeof k->data_sock, "%s/data.sock", d);
        snprintf(k->admin_sock, sizeof k->admin_sock, "%s/admin.sock", d);
        snprintf(k->events, sizeof k->events, "%s/events.jsonl", d);
        snprintf(k->log, sizeof k->log, "%s/keyd.log", d);
    }
    if (o->traversable || o->user != NULL)
        chmod(k->dir, 0711);
    if (o->user != NULL) {
        /* keyd, once dropped, removes its sockets from this dir at exit. */
        gid_t gid;
        uid_t uid = fx_user_uid(o->user, &gid);
        if (uid == (uid_t)-1 || chown(k->dir, uid, gid) != 0) {
            CU_FAIL("cannot hand the run dir to the keyd user");
            return -1;
        }
    }
    char bm[24], bd[24], ft[24], mc[24], ma[24], it[24], mb[24], ag[24];
    const char *argv[64];
    size_t n = 0;
    argv[n++] = o->prog ? o->prog : fx_prog("VST_KEYD");
    argv[n++] = "--keystore";
    argv[n++] = o->store->keystore;
    argv[n++] = "--data-socket";
    argv[n++] = k->data_sock;
    argv[n++] = "--admin-socket";
    argv[n++] = k->admin_sock;
    argv[n++] = "--events-file";
    argv[n++] = k->events;
    argv[n++] = "--data-uids";
    argv[n++] = o->data_uids ? o->data_uids : "0";
    argv[n++] = "--admin-uids";
    argv[n++] = o->admin_uids ? o->admin_uids : "0";
    argv[n++] = "--socket-mode";
    argv[n++] = o->socket_mode ? o->socket_mode : "0660";
    argv[n++] = "--user";
    argv[n++] = o->user ? o->user : "";
    argv[n++] = "--seccomp";
    argv[n++] = o->seccomp ? "yes" : "no";
    if (o->dev) {
        argv[n++] = "--dev-master-key";
        argv[n++] = o->store->master;
    }
    if (o->budget_minute) {
        snprintf(bm, sizeof bm, "%llu", (unsigned long long)o->budget_minute);
        argv[n++] = "--budget-minute";
        argv[n++] = bm;
    }
    if (o->budget_day) {
        snprintf(bd, sizeof bd, "%llu", (unsigned long long)o->budget_day);
        argv[n++] = "--budget-day";
        argv[n++] = bd;
    }
    if (o->frame_timeout) {
        snprintf(ft, sizeof ft, "%u", o->frame_timeout);
        argv[n++] = "--frame-timeout";
        argv[n++] = ft;
    }
    if (o->max_connections) {
        snprintf(mc, sizeof mc, "%u", o->max_connections);
        argv[n++] = "--max-data-connections";
        argv[n++] = mc;
    }
    if (o->max_admin_connections) {
        snprintf(ma, sizeof ma, "%u", o->max_admin_connections);
        argv[n++] = "--max-admin-connections";
        argv[n++] = ma;
    }
    if (o->idle_timeout) {
        snprintf(it, sizeof it, "%u", o->idle_timeout);
        argv[n++] = "--idle-timeout";
        argv[n++] = it;
    }
    if (o->max_buffered_mib) {
        snprintf(mb, sizeof mb, "%u", o->max_buffered_mib);
        argv[n++] = "--max-buffered-mib";
        argv[n++] = mb;
    }
    if (o->accept_generation) {
        snprintf(ag, sizeof ag, "%u", o->accept_generation);
        argv[n++] = "--accept-generation";
        argv[n++] = ag;
    }
    if (o->domains) {
        argv[n++] = "--domains";
        argv[n++] = o->domains;
    }
    for (size_t i = 0; o->extra != NULL && o->extra[i] != NULL && n < 62; i++)
        argv[n++] = o->extra[i];
    argv[n] = NULL;

    char asan[512];
    const char *env[2] = {NULL, NULL};
    if (o->no_leak_check) {
        const char *cur = getenv("ASAN_OPTIONS");
        snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sdetect_leaks=0", cur ? cur : "",
                 cur && *cur ? ":" : "");
        env[0] = asan;
    }
    struct stat st;
    size_t off = stat(k->log, &st) == 0 ? (size_t)st.st_size : 0;
    k->pid = fx_spawn(argv, NULL, k->log, env);
    if (k->pid <= 0)
        return -1;
    double end = fx_now() + 30;
    while (fx_now() < end) {
        if (log_has_after(k->log, off, "serving on"))
            return 0;
        int wst;
        if (waitpid(k->pid, &wst, WNOHANG) == k->pid) {
            child_forget(k->pid);
            k->pid = 0;
            log_dump(k, "exited at start-up");
            CU_FAIL("vst-keyd exited at start-up");
            return -1;
        }
        usleep(5000);
    }
    log_dump(k, "did not start in 30 s");
    fx_keyd_kill(k);
    CU_FAIL("vst-keyd did not start");
    return -1;
}

int fx_keyd_stop(fx_keyd *k)
{
    if (k->pid <= 0) {
        CU_FAIL("fx_keyd_stop: keyd is not running");
        return -1;
    }
    kill(k->pid, SIGTERM);
    int status = fx_wait(k->pid, 30);
    k->pid = 0;
    if (status != 0)
        log_dump(k, status > 128 ? "was killed by a signal" : "did not exit 0");
    CU_ASSERT_EQUAL(status, 0);
    CU_ASSERT_EQUAL(fx_secret_scan(k->events), 0);
    CU_ASSERT_EQUAL(fx_secret_scan(k->log), 0);
    return status;
}

void fx_keyd_kill(fx_keyd *k)
{
    if (k->pid > 0) {
        kill(k->pid, SIGKILL);
        fx_wait(k->pid, 10);
    }
    k->pid = 0;
}

/* ------------------------------------------------------------ events */

json_t *fx_events(const fx_keyd *k)
{
    json_t *all = json_array();
    FILE *f = fopen(k->events, "r");
    if (f == NULL)
        return all;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *ev = json_loadb(line, (size_t)n, 0, &je);
        if (ev == NULL || !json_is_object(ev)) {
            fprintf(stderr, "events file: not JSON: %s", line);
            CU_FAIL("an events line is not a JSON object");
            json_decref(ev);
            continue;
        }
        json_array_append_new(all, ev);
    }
    free(line);
    fclose(f);
    return all;
}

static const char *ev_action(const json_t *ev)
{
    return json_string_value(json_object_get(ev, "action"));
}

size_t fx_event_count(const fx_keyd *k, const char *action)
{
    json_t *all = fx_events(k);
    size_t i, c = 0;
    json_t *ev;
    json_array_foreach(all, i, ev)
    {
        const char *a = ev_action(ev);
        if (a != NULL && strcmp(a, action) == 0)
            c++;
    }
    json_decref(all);
    return c;
}

json_t *fx_event_last(const fx_keyd *k, const char *action)
{
    json_t *all = fx_events(k), *last = NULL, *ev;
    size_t i;
    json_array_foreach(all, i, ev)
    {
        const char *a = ev_action(ev);
        if (a != NULL && strcmp(a, action) == 0)
            last = ev;
    }
    if (last != NULL)
        json_incref(last);
    json_decref(all);
    return last;
}

long long fx_ev_int(const json_t *ev, const char *key)
{
    json_t *v = json_object_get(json_object_get(ev, "details"), key);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

const char *fx_ev_str(const json_t *ev, const char *key)
{
    return json_string_value(json_object_get(json_object_get(ev, "details"), key));
}

long long fx_ev_actor(const json_t *ev)
{
    json_t *v = json_object_get(ev, "actor_uid");
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* ------------------------------------------------------------ secrets */

/* An open-addressing set of strings, and which lengths occur in it. */
static struct {
    char **slot;
    size_t cap, n;
    uint64_t lengths; /* bit L set: a secret of length L (< 64) exists */
} S;

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
    return h;
}

static void secrets_free(void)
{
    for (size_t i = 0; i < S.cap; i++)
        free(S.slot[i]);
    free(S.slot);
    memset(&S, 0, sizeof S);
}

static int secret_has(const char *s, size_t len)
{
    if (S.cap == 0)
        return 0;
    for (size_t i = fnv(s, len) & (S.cap - 1);; i = (i + 1) & (S.cap - 1)) {
        if (S.slot[i] == NULL)
            return 0;
        if (strlen(S.slot[i]) == len && memcmp(S.slot[i], s, len) == 0)
            return 1;
    }
}

static void secret_put(char *copy, size_t len)
{
    for (size_t i = fnv(copy, len) & (S.cap - 1);; i = (i + 1) & (S.cap - 1))
        if (S.slot[i] == NULL) {
            S.slot[i] = copy;
            return;
        }
}

void fx_secret(const char *s, size_t len)
{
    if (len == 0 || len >= 64 || secret_has(s, len))
        return;
    if (2 * (S.n + 1) > S.cap) {
        size_t old = S.cap;
        char **prev = S.slot;
        S.cap = old ? old * 2 : 1024;
        S.slot = calloc(S.cap, sizeof *S.slot);
        if (S.slot == NULL)
            abort();
        for (size_t i = 0; i < old; i++)
            if (prev[i] != NULL)
                secret_put(prev[i], strlen(prev[i]));
        free(prev);
    }
    char *copy = strndup(s, len);
    if (copy == NULL)
        abort();
    secret_put(copy, len);
    S.n++;
    S.lengths |= 1ULL << len;
}

static int alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

size_t fx_secret_scan_text(const char *what, const char *t, size_t len, int report)
{
    size_t hits = 0;
    for (size_t i = 0; i < len;) {
        if (!alnum(t[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && alnum(t[j]))
            j++;
        size_t n = j - i;
        if (n < 64 && (S.lengths >> n & 1) && secret_has(t + i, n)) {
            if (report && hits < 5)
                fprintf(stderr, "%s: holds the identifier or pseudonym \"%.*s\"\n", what, (int)n,
                        t + i);
            hits++;
        }
        i = j;
    }
    return hits;
}

size_t fx_secret_scan(const char *path)
{
    size_t len;
    char *t = fx_read_file(path, &len);
    if (t == NULL)
        return 0;
    size_t hits = fx_secret_scan_text(path, t, len, 1);
    free(t);
    return hits;
}

/* ------------------------------------------------------------ clients */

static void set_timeouts(int fd, int seconds)
{
    struct timeval tv = {seconds, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

vst_keyd *fx_connect(const char *sock)
{
    char err[256];
    fx_init();
    vst_keyd *c = vst_keyd_connect(sock, err, sizeof err);
    if (c == NULL) {
        fprintf(stderr, "fx_connect: %s\n", err);
        CU_FAIL("cannot connect to keyd");
        return NULL;
    }
    set_timeouts(vst_keyd_fd(c), 30);
    return c;
}

void fx_hex16(const uint8_t p[16], char out[33])
{
    vst_hex(p, 16, out);
}

int fx_pseud(vst_keyd *c, const char *domain, const char *ids, size_t id_len, size_t n,
             uint8_t *out, uint32_t *key_version)
{
    for (size_t i = 0; i < n; i++)
        fx_secret(ids + i * id_len, id_len);
    for (size_t off = 0; off < n;) {
        size_t cnt = n - off < VST_BATCH_MAX ? n - off : VST_BATCH_MAX;
        vst_pseud_req rq;
        memset(&rq, 0, sizeof rq);
        rq.nsections = 1;
        snprintf(rq.sec[0].domain, sizeof rq.sec[0].domain, "%s", domain);
        rq.sec[0].id_len = (uint8_t)id_len;
        rq.sec[0].count = (uint32_t)cnt;
        rq.sec[0].ids = (const uint8_t *)ids + off * id_len;
        int rc = vst_keyd_pseudonymize(c, &rq, key_version, out + off * 16, cnt * 16);
        if (rc != 0)
            return rc;
        off += cnt;
    }
    for (size_t i = 0; i < n; i++) {
        char hex[33];
        fx_hex16(out + i * 16, hex);
        fx_secret(hex, 32);
    }
    return 0;
}

int fx_status(const char *sock, fx_status_t *out)
{
    memset(out, 0, sizeof *out);
    vst_keyd *c = fx_connect(sock);
    if (c == NULL)
        return VST_PROTO_E_IO;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = vst_keyd_status(c, &out->s, &buf, &len);
    if (rc == 0) {
        for (size_t i = 0; i < out->s.nversions && out->nv < 32; i++)
            if (vst_status_version(&out->s, i, &out->v[out->nv]) == 0)
                out->nv++;
        out->s.versions = NULL;
        vst_frame_free(buf, len);
    }
    vst_keyd_close(c);
    return rc;
}

int fx_version_state(const fx_status_t *st, uint32_t v)
{
    for (size_t i = 0; i < st->nv; i++)
        if (st->v[i].version == v)
            return st->v[i].state;
    return 0;
}

/* ------------------------------------------------------------ raw peers */

int fx_raw_connect(const char *sock)
{
    fx_init();
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    set_timeouts(fd, 10);
    return fd;
}

int fx_raw_send(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

size_t fx_frame(uint8_t *out, uint8_t version, uint8_t type, uint16_t reserved, uint32_t len,
                const void *payload, size_t plen)
{
    out[0] = version;
    out[1] = type;
    out[2] = (uint8_t)(reserved >> 8);
    out[3] = (uint8_t)reserved;
    out[4] = (uint8_t)(len >> 24);
    out[5] = (uint8_t)(len >> 16);
    out[6] = (uint8_t)(len >> 8);
    out[7] = (uint8_t)len;
    if (plen > 0)
        memcpy(out + 8, payload, plen);
    return 8 + plen;
}

int fx_raw_drain(int fd, double timeout_s, uint8_t *buf, size_t cap, size_t *got)
{
    double end = fx_now() + timeout_s;
    *got = 0;
    for (;;) {
        double left = end - fx_now();
        if (left <= 0)
            return -1;
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue; /* re-check the deadline */
        uint8_t tmp[4096];
        ssize_t k = read(fd, tmp, sizeof tmp);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k == 0 || (k < 0 && errno == ECONNRESET))
            return 0;
        if (k < 0)
            return 0; /* any other error: the connection is gone */
        size_t take = (size_t)k < cap - *got ? (size_t)k : cap - *got;
        memcpy(buf + *got, tmp, take);
        *got += take;
    }
}

int fx_raw_rejected(int fd, double timeout_s)
{
    uint8_t buf[256];
    size_t got;
    if (fx_raw_drain(fd, timeout_s, buf, sizeof buf, &got) != 0)
        return -1;
    if (got == 0)
        return 0;
    static const uint8_t hdr[8] = {1, VST_MSG_ERROR, 0, 0, 0, 0, 0, 2};
    if (got != 10 || memcmp(buf, hdr, 8) != 0)
        return -1;
    return buf[8] << 8 | buf[9];
}

/* ------------------------------------------------------------ other uids */

int fx_as_uid(uid_t uid, gid_t gid, int (*fn)(void *), void *arg)
{
    fx_init();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0 || getuid() != uid ||
            geteuid() != uid)
            _exit(126);
        int rc = fn(arg);
        fflush(NULL);
        _exit(rc < 0 ? 125 : rc > 125 ? 125 : rc);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return decode_status(st);
}
