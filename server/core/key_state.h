/* The states of a key version (DESIGN.md §3, docs/keystore.md), one
 * numbering for the keystore, the keyd protocol (STATUS responses carry the
 * number as a byte) and vst-admin. */
#ifndef VST_KEY_STATE_H
#define VST_KEY_STATE_H

typedef enum {
    VST_KEY_CURRENT = 1, /* used for new pseudonyms; exactly one */
    VST_KEY_ACTIVE = 2,  /* older version, still held for re-keying */
    VST_KEY_RETIRED = 3, /* destroyed: the key is gone, the number stays */
} vst_key_state;

#endif
