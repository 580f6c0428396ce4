/* A connection's release key (DESIGN.md §11, docs/keyd-protocol.md
 * "RELEASE_OPEN", "RELEASE_MAP"). vst-admin release create opens a release
 * on its admin connection and maps the store's pseudonyms through it:
 * R = AES_{K_r}(AES^-1_{K_v}(P)), one R per person within the release.
 *
 * K_r is drawn from OpenSSL's private DRBG, kept in the secure heap (32
 * bytes, mlocked, never written anywhere) and belongs to that connection
 * alone: no other connection can use it, and it is wiped when the
 * connection closes or opens the next release. From then on nobody — keyd
 * included — can compute the mapping again: two releases cannot be joined
 * on their pseudonyms, and a release pseudonym leads back to no store
 * pseudonym. The 8-byte release id only names the release in keyd's
 * `keyd.release_map` event; it derives nothing. */
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "core/hex.h"
#include "keyd/keyd.h"

static uint8_t *key_alloc(void)
{
    return CRYPTO_secure_malloc_initialized() ? OPENSSL_secure_zalloc(VST_KEY_LEN)
                                              : OPENSSL_zalloc(VST_KEY_LEN);
}

static void key_free(uint8_t *k)
{
    if (k == NULL)
        return;
    if (CRYPTO_secure_allocated(k))
        OPENSSL_secure_clear_free(k, VST_KEY_LEN);
    else
        OPENSSL_clear_free(k, VST_KEY_LEN);
}

void keyd_release_close(keyd_conn *c)
{
    if (c->release_mapped > 0) {
        char id[2 * VST_RELEASE_ID_LEN + 1];
        vst_hex(c->release_id, VST_RELEASE_ID_LEN, id);
        keyd_event(c->uid, "keyd.release_map", "{\"release_id\":\"%s\",\"count\":%llu}", id,
                   (unsigned long long)c->release_mapped);
    }
    key_free(c->release_key);
    c->release_key = NULL;
    c->release_mapped = 0;
    memset(c->release_id, 0, sizeof c->release_id);
}

int keyd_release_open(keyd_conn *c)
{
    keyd_release_close(c);
    uint8_t *k = key_alloc();
    if (k == NULL || RAND_priv_bytes(k, VST_KEY_LEN) != 1 ||
        RAND_bytes(c->release_id, VST_RELEASE_ID_LEN) != 1) {
        key_free(k);
        memset(c->release_id, 0, sizeof c->release_id);
        return -1;
    }
    c->release_key = k;
    return 0;
}

int keyd_release_map(keyd_conn *c, vst_version_key *from, uint8_t *buf, uint32_t n)
{
    if (c->release_key == NULL) {
        OPENSSL_cleanse(buf, (size_t)n * VST_PSEUDONYM_LEN);
        return -1;
    }
    if (vst_release_map(from, c->release_key, buf, n) != 0)
        return -1; /* buf wiped */
    c->release_mapped += n;
    return 0;
}
