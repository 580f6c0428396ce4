/* Wiping memory that held identifiers, inner values or keys (DESIGN.md §3, §7). */
#ifndef VST_SECMEM_H
#define VST_SECMEM_H

#include <stddef.h>

/* Overwrite n bytes in a way the compiler cannot elide. */
void vst_wipe(void *p, size_t n);

/* realloc that never leaves a copy behind: a new block, the old contents
 * copied, the old block wiped (old_size bytes) and freed. For buffers that
 * hold identifiers and grow (plain realloc may move them and leave the old
 * bytes in freed memory). NULL on failure, the old block left as it was. */
void *vst_wiping_realloc(void *p, size_t old_size, size_t new_size);

/* malloc/free pair whose free wipes the whole allocation first. Used as
 * jansson's allocator so that parsed record strings (names, KVNRs) are
 * wiped when the JSON tree is released. */
void *vst_secure_malloc(size_t n);
void vst_secure_free(void *p);

/* Install vst_secure_malloc/free as jansson's allocator. Call once at
 * start-up, before any JSON is parsed; idempotent. */
void vst_secmem_install_json(void);

#endif
