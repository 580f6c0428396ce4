/* The body line splitter; see lines.h. */
#include "httpd/lines.h"

#include <stdlib.h>
#include <string.h>

#include "core/secmem.h"

int httpd_lines_init(httpd_lines *l, size_t max, void (*on_line)(void *, const char *, size_t),
                     void (*on_too_long)(void *), void *ctx)
{
    /* calloc: no byte of an earlier body is in the buffer we hand out. */
    *l = (httpd_lines){.max = max, .on_line = on_line, .on_too_long = on_too_long, .ctx = ctx};
    if (max == 0 || (l->carry = calloc(1, max)) == NULL)
        return -1;
    return 0;
}

static void drop_carry(httpd_lines *l)
{
    vst_wipe(l->carry, l->carry_len);
    l->carry_len = 0;
}

void httpd_lines_feed(httpd_lines *l, const char *data, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t seg = nl ? (size_t)(nl - data) : n;
        if (l->skipping) {
            l->skipping = nl == NULL;
        } else if (l->carry_len == 0 && nl != NULL) {
            if (seg > l->max)
                l->on_too_long(l->ctx);
            else
                l->on_line(l->ctx, data, seg); /* the common case: no copy */
        } else if (l->carry_len + seg > l->max) {
            drop_carry(l);
            l->on_too_long(l->ctx);
            l->skipping = nl == NULL;
        } else {
            memcpy(l->carry + l->carry_len, data, seg);
            l->carry_len += seg;
            if (nl != NULL) {
                l->on_line(l->ctx, l->carry, l->carry_len);
                drop_carry(l);
            }
        }
        size_t adv = nl ? seg + 1 : seg;
        data += adv;
        n -= adv;
    }
}

void httpd_lines_finish(httpd_lines *l)
{
    if (l->carry_len > 0 && !l->skipping) {
        l->on_line(l->ctx, l->carry, l->carry_len);
        drop_carry(l);
    }
}

void httpd_lines_free(httpd_lines *l)
{
    if (l->carry != NULL) {
        vst_wipe(l->carry, l->max);
        free(l->carry);
    }
    l->carry = NULL;
    l->carry_len = 0;
}
