/* The canonical digest of a signed report (report_json.h). */
#include "audit/report_json.h"

#include <openssl/evp.h>
#include <string.h>

#include "core/secmem.h"

/* Floats are refused: their text form is not canonical across writers. */
static int has_real(const json_t *v)
{
    if (json_is_real(v))
        return 1;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (has_real(json_array_get(v, i)))
                return 1;
    } else if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            if (has_real(m))
                return 1;
        }
    }
    return 0;
}

int vst_report_digest(const json_t *report, uint8_t out[32])
{
    if (!json_is_object(report) || has_real(report))
        return -1;
    json_t *copy = json_copy((json_t *)report); /* shallow: members shared */
    if (copy == NULL)
        return -1;
    json_object_del(copy, "signature");
    char *text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    json_decref(copy);
    if (text == NULL)
        return -1;
    unsigned int n = 0;
    int ok = EVP_Digest(text, strlen(text), out, &n, EVP_sha256(), NULL) == 1 && n == 32;
    vst_secure_free(text);
    return ok ? 0 : -1;
}
