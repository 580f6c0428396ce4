/* "Key: value" text files; see kv_file.h. */
#include "core/kv_file.h"

#include <string.h>

int vst_kv_open(vst_kv_file *f, const char *text, size_t len, int flags)
{
    f->p = text;
    f->end = text + len;
    f->flags = flags;
    return len > 0 && memchr(text, '\0', len) != NULL ? -1 : 0;
}

int vst_kv_line(vst_kv_file *f, const char **line, size_t *len)
{
    if (f->p >= f->end)
        return 0;
    const char *nl = memchr(f->p, '\n', (size_t)(f->end - f->p));
    if (nl == NULL && f->flags != VST_KV_HAND_TYPED)
        return 0;
    const char *stop = nl != NULL ? nl : f->end;
    *line = f->p;
    *len = (size_t)(stop - f->p);
    if (f->flags == VST_KV_HAND_TYPED && *len > 0 && (*line)[*len - 1] == '\r')
        (*len)--;
    f->p = nl != NULL ? nl + 1 : f->end;
    return 1;
}

int vst_kv_split(const char *line, size_t len, const char *key, const char **val, size_t *vlen)
{
    size_t k = strlen(key);
    if (len < k + 2 || memcmp(line, key, k) != 0 || line[k] != ':' || line[k + 1] != ' ')
        return 0;
    *val = line + k + 2;
    *vlen = len - k - 2;
    return 1;
}

int vst_kv_at_end(const vst_kv_file *f)
{
    return f->p == f->end;
}
