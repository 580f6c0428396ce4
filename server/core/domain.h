/* Pseudonym domain names (DESIGN.md §3): one grammar for profiles, the keyd
 * protocol and the derivation. */
#ifndef VST_DOMAIN_H
#define VST_DOMAIN_H

#define VST_DOMAIN_MAXLEN 64

/* 1..64 characters of [a-z0-9_./-]. */
int vst_domain_name_ok(const char *domain);

#endif
