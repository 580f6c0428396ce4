/* Wipe-on-free allocator. Each block carries its size in a header so that
 * free can clear exactly what was handed out; jansson only knows free(p). */
#include "core/secmem.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Header padded to max_align_t so the payload keeps malloc's alignment. */
typedef union {
    size_t n;
    max_align_t align;
} hdr;

void vst_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        OPENSSL_cleanse(p, n);
}

void *vst_wiping_realloc(void *p, size_t old_size, size_t new_size)
{
    void *q = malloc(new_size ? new_size : 1);
    if (q == NULL)
        return NULL;
    if (p != NULL) {
        memcpy(q, p, old_size < new_size ? old_size : new_size);
        OPENSSL_cleanse(p, old_size);
        free(p);
    }
    return q;
}

void *vst_secure_malloc(size_t n)
{
    if (n > SIZE_MAX - sizeof(hdr))
        return NULL;
    hdr *h = malloc(sizeof(hdr) + n);
    if (h == NULL)
        return NULL;
    h->n = n;
    return h + 1;
}

void vst_secure_free(void *p)
{
    if (p == NULL)
        return;
    hdr *h = (hdr *)p - 1;
    OPENSSL_cleanse(p, h->n);
    free(h);
}

void vst_secmem_install_json(void)
{
    json_set_alloc_funcs(vst_secure_malloc, vst_secure_free);
}
