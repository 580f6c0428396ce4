/* Pseudonyms and their domains (DESIGN.md §3): one domain grammar and one
 * pseudonym size for profiles, the keyd protocol and the derivation. */
#ifndef VST_DOMAIN_H
#define VST_DOMAIN_H

#define VST_DOMAIN_MAXLEN 64
/* A pseudonym is one AES block; records carry it as 32 lower-case hex digits. */
#define VST_PSEUDONYM_LEN 16
#define VST_PSEUDONYM_HEX (2 * VST_PSEUDONYM_LEN)
/* A disclosure or objection case (DESIGN.md §12) is named by 8 random
 * bytes, shown as 16 lower-case hex digits. */
#define VST_CASE_ID_LEN 8
#define VST_CASE_ID_HEX (2 * VST_CASE_ID_LEN)

/* 1..64 characters of [a-z0-9_./-]. */
int vst_domain_name_ok(const char *domain);

#endif
