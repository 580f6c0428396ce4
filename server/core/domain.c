/* Pseudonym domain name grammar; see domain.h. */
#include "core/domain.h"

#include <string.h>

int vst_domain_name_ok(const char *d)
{
    size_t n = d ? strlen(d) : 0;
    if (n == 0 || n > VST_DOMAIN_MAXLEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = d[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '/' || c == '-'))
            return 0;
    }
    return 1;
}
