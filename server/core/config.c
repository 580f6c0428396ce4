/* Option table parsing for config files and command lines; see config.h. */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const vst_cfg_opt *find(const vst_cfg_opt *opts, const char *key)
{
    for (; opts->key != NULL; opts++)
        if (strcmp(opts->key, key) == 0)
            return opts;
    return NULL;
}

static int parse_u64(const char *v, uint64_t *out, int base)
{
    char *end;
    errno = 0;
    if (*v == '-' || *v == '\0')
        return -1;
    unsigned long long x = strtoull(v, &end, base);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = x;
    return 0;
}

static int parse_uid(const char *name, uint32_t *out)
{
    uint64_t n;
    if (parse_u64(name, &n, 10) == 0 && n < UINT32_MAX) {
        *out = (uint32_t)n;
        return 0;
    }
    struct passwd *pw = getpwnam(name);
    if (pw == NULL)
        return -1;
    *out = pw->pw_uid;
    return 0;
}

int vst_config_set(const vst_cfg_opt *opts, const char *key, const char *value, char *err,
                   size_t errlen)
{
    const vst_cfg_opt *o = find(opts, key);
    if (o == NULL) {
        snprintf(err, errlen, "unknown option \"%s\"", key);
        return -1;
    }
    switch (o->type) {
    case VST_CFG_STR: {
        char *s = strdup(value);
        if (s == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        *(char **)o->dst = s; /* the previous value may be a literal default: not freed */
        return 0;
    }
    case VST_CFG_U64: {
        /* At most 2^63-1: every such value is also a JSON integer (status
         * and usage reports) and a PostgreSQL bigint. */
        uint64_t n;
        if (parse_u64(value, &n, 10) == 0 && n <= INT64_MAX) {
            *(uint64_t *)o->dst = n;
            return 0;
        }
        snprintf(err, errlen, "option \"%s\" needs an integer from 0 to 2^63-1", key);
        return -1;
    }
    case VST_CFG_MODE: {
        uint64_t m;
        if (parse_u64(value, &m, 8) == 0 && m <= 07777) {
            *(unsigned *)o->dst = (unsigned)m;
            return 0;
        }
        snprintf(err, errlen, "option \"%s\" needs an octal file mode such as 0660", key);
        return -1;
    }
    case VST_CFG_BOOL: {
        static const char *const yes[] = {"yes", "on", "true", "1"};
        static const char *const no[] = {"no", "off", "false", "0"};
        for (int i = 0; i < 4; i++) {
            if (strcmp(value, yes[i]) == 0) {
                *(int *)o->dst = 1;
                return 0;
            }
            if (strcmp(value, no[i]) == 0) {
                *(int *)o->dst = 0;
                return 0;
            }
        }
        snprintf(err, errlen, "option \"%s\" needs yes or no", key);
        return -1;
    }
    case VST_CFG_UIDS: {
        vst_uid_list *l = o->dst;
        char buf[1024];
        snprintf(buf, sizeof buf, "%s", value);
        l->n = 0;
        for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t;
             t = strtok_r(NULL, ", ", &save)) {
            if (l->n == VST_MAX_UIDS) {
                snprintf(err, errlen, "option \"%s\": at most %d users", key, VST_MAX_UIDS);
                return -1;
            }
            if (parse_uid(t, &l->uid[l->n]) != 0) {
                snprintf(err, errlen, "option \"%s\": no such user \"%.64s\"", key, t);
                return -1;
            }
            l->n++;
        }
        return 0;
    }
    }
    return -1;
}

int vst_config_file(const vst_cfg_opt *opts, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[2048], msg[512];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        lineno++;
        char *p = line, *key, *val, *end;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '#' || *p == '\0')
            continue;
        key = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (*p)
            *p++ = '\0';
        while (isspace((unsigned char)*p))
            p++;
        val = p;
        end = val + strlen(val);
        while (end > val && isspace((unsigned char)end[-1]))
            *--end = '\0';
        if (strcmp(val, "\"\"") == 0)
            *val = '\0'; /* `user ""`: an explicitly empty value */
        else if (*val == '\0') {
            snprintf(err, errlen, "%s:%d: option \"%s\" has no value (write \"\" for empty)", path,
                     lineno, key);
            rc = -1;
            break;
        }
        if (vst_config_set(opts, key, val, msg, sizeof msg) != 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

void vst_config_usage(const vst_cfg_opt *opts, const char *usage)
{
    printf("%s\n\nOptions (also valid as `key value` lines in the --config file):\n", usage);
    printf("  %-24s %s\n", "--config FILE", "read options from FILE first");
    for (; opts->key != NULL; opts++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", opts->key);
        printf("  %-24s %s\n", flag, opts->help);
    }
    printf("  %-24s %s\n", "--help", "show this help");
}

int vst_config_args(const vst_cfg_opt *opts, int argc, char **argv, const char *usage, char *err,
                    size_t errlen)
{
    char msg[512];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            vst_config_usage(opts, usage);
            return 1;
        }
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "--config needs a file");
                return -1;
            }
            if (vst_config_file(opts, argv[i + 1], err, errlen) != 0)
                return -1;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%.64s\" (see --help)", a);
            return -1;
        }
        char key[64];
        const char *val, *eq = strchr(a + 2, '=');
        if (eq != NULL) {
            snprintf(key, sizeof key, "%.*s", (int)(eq - a - 2), a + 2);
            val = eq + 1;
        } else {
            snprintf(key, sizeof key, "%s", a + 2);
            const vst_cfg_opt *o = find(opts, key);
            if (o != NULL && o->type == VST_CFG_BOOL && (i + 1 >= argc || argv[i + 1][0] == '-'))
                val = "yes"; /* a bare boolean flag */
            else if (i + 1 < argc)
                val = argv[++i];
            else {
                snprintf(err, errlen, "--%s needs a value", key);
                return -1;
            }
        }
        if (vst_config_set(opts, key, val, msg, sizeof msg) != 0) {
            snprintf(err, errlen, "%s", msg);
            return -1;
        }
    }
    return 0;
}

int vst_uid_allowed(const vst_uid_list *l, uint32_t uid)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->uid[i] == uid)
            return 1;
    return 0;
}
