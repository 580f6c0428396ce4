/* Configuration of the daemons: one table of options per program, read from
 * a `key value` file (Redis style: one option per line, '#' comments) and
 * overridable by `--key value` on the command line. The same table prints
 * --help, so every option is documented in one place; the commented sample
 * files in deploy/ list them all. */
#ifndef VST_CONFIG_H
#define VST_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    VST_CFG_STR,  /* char *, strdup'ed (the default may be a literal) */
    VST_CFG_U64,  /* uint64_t */
    VST_CFG_BOOL, /* int: yes/no, on/off, true/false, 1/0 */
    VST_CFG_UIDS, /* vst_uid_list: comma-separated user names or numeric uids */
    VST_CFG_MODE, /* unsigned: octal file mode */
} vst_cfg_type;

#define VST_MAX_UIDS 16
typedef struct {
    uint32_t uid[VST_MAX_UIDS];
    size_t n;
} vst_uid_list;

typedef struct {
    const char *key;
    vst_cfg_type type;
    void *dst;
    const char *help;
} vst_cfg_opt;

/* Sets one option from its text form; -1 with a message in err. */
int vst_config_set(const vst_cfg_opt *opts, const char *key, const char *value, char *err,
                   size_t errlen);
/* Reads a config file; errors name the file and line. */
int vst_config_file(const vst_cfg_opt *opts, const char *path, char *err, size_t errlen);
/* Parses argv: `--config FILE` first (wherever it is), then every
 * `--key value` / `--key=value`; `--help` prints usage and returns 1.
 * Returns 0 on success, 1 for --help, -1 on error (message in err). */
int vst_config_args(const vst_cfg_opt *opts, int argc, char **argv, const char *usage, char *err,
                    size_t errlen);
void vst_config_usage(const vst_cfg_opt *opts, const char *usage);
/* Whether uid is in the list. */
int vst_uid_allowed(const vst_uid_list *l, uint32_t uid);

#endif
