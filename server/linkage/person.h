/* A person without a number (DESIGN.md §13, docs/linkage.md): the
 * normalized name tokens, birth date and sex that vst-httpd sends to
 * vst-keyd for control values. This header is the one definition both
 * sides share; it holds no code.
 *
 * The normalized alphabet: a token is 1..VST_NAME_TOKEN_MAX letters A-Z;
 * the date is 8 ASCII digits YYYYMMDD of a valid calendar date; sex is one
 * of 'M' 'W' 'D' 'X'. vst-keyd rejects anything else (codec_link.c). */
#ifndef VST_LINK_PERSON_H
#define VST_LINK_PERSON_H

#include <stdint.h>

#define VST_NAME_TOKENS_MAX 8 /* tokens of one name field */
#define VST_NAME_TOKEN_MAX 40 /* letters of one token */

typedef struct {
    uint8_t n;                                             /* 0..VST_NAME_TOKENS_MAX */
    uint8_t len[VST_NAME_TOKENS_MAX];                      /* 1..VST_NAME_TOKEN_MAX each */
    char tok[VST_NAME_TOKENS_MAX][VST_NAME_TOKEN_MAX + 1]; /* NUL-terminated, [A-Z]+ */
} vst_name_tokens;

typedef struct {
    vst_name_tokens given;  /* n >= 1 */
    vst_name_tokens family; /* n >= 1 */
    vst_name_tokens birth;  /* n == 0: no birth name given */
    char date[9];           /* "YYYYMMDD" + NUL */
    char sex;               /* 'M' 'W' 'D' 'X' */
} vst_person;

#endif
