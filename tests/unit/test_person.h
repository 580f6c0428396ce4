/* A normalized person for the linkage tests (DESIGN.md §13): names as
 * space-separated tokens of A-Z, "" for none. Header-only, so the test
 * library needs nothing of linkage. */
#ifndef VST_TEST_PERSON_H
#define VST_TEST_PERSON_H

#include <stdint.h>
#include <string.h>

#include "linkage/person.h"

static inline void mkperson(vst_person *p, const char *given, const char *family, const char *birth,
                            const char *date, char sex)
{
    const char *src[3] = {given, family, birth};
    vst_name_tokens *dst[3] = {&p->given, &p->family, &p->birth};
    memset(p, 0, sizeof *p);
    for (int f = 0; f < 3; f++)
        for (const char *t = src[f]; *t != '\0';) {
            size_t n = strcspn(t, " ");
            vst_name_tokens *d = dst[f];
            memcpy(d->tok[d->n], t, n);
            d->len[d->n++] = (uint8_t)n;
            t += n + (t[n] == ' ');
        }
    strcpy(p->date, date);
    p->sex = sex;
}

#endif
