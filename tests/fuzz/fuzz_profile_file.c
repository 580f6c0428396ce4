/* libFuzzer target: profile files (server/profile/profile_load.c through
 * vst_profile_load_buffer), and whatever profile loads applied to a record.
 *
 * Input: a profile document, optionally followed by a NUL byte and one
 * record line. A profile is trusted configuration, but its loader must not
 * crash, leak or accept something the engine then trips over: a profile
 * that loads gets a row and the line is applied to it. Properties: a
 * refused profile has a message naming the file and no profile; a loaded
 * one has a valid name, table and column list, release keys whose every
 * ladder step parses (vst_gen_rule_parse), and applying a line either
 * fills a row with valid JSON columns or refuses it with a wiped row and
 * errors that are codes and paths only. */
#include <jansson.h>

#include "fuzz_util.h"
#include "profile/profile.h"

static void apply_line(const vst_profile *p, const char *line, size_t len)
{
    vst_row *r = vst_row_new(p);
    vst_errors errs;
    FZ_CHECK(r != NULL && vst_errors_init(&errs, 8) == 0, "out of memory");
    vst_err e = vst_profile_apply(p, line, len, 1, r, &errs);
    if (e != VST_E_OK) {
        FZ_CHECK(errs.total >= 1 && errs.items[0].code == e, "refused without an error");
        FZ_CHECK(r->nids == 0 && r->arena_used == 0 && r->scratch_used == 0 && !r->has_person,
                 "row not wiped");
    } else {
        FZ_CHECK(errs.total == 0, "accepted with errors");
        /* a composite profile's row always has its person, no other has one */
        FZ_CHECK(r->has_person == (vst_profile_link_domain(p) != NULL), "person of the row");
        for (size_t i = 0; i < vst_profile_ncolumns(p); i++) {
            const vst_value *v = &r->values[i];
            if (v->is_null || vst_profile_column(p, i)->type != VST_COL_JSON)
                continue;
            json_t *j = json_loadb(v->s, v->len, JSON_REJECT_DUPLICATES, NULL);
            FZ_CHECK(json_is_object(j), "JSON column is not a JSON object");
            json_decref(j);
        }
    }
    vst_errors_free(&errs);
    vst_row_free(r);
}

/* The release keys of a loaded profile: named columns and fields, ladders
 * of rules that parse, a rare column exactly when there are rare codes. */
static void check_release(const vst_profile *p)
{
    FZ_CHECK(vst_profile_nqi(p) <= 8 && vst_profile_qi(p, vst_profile_nqi(p)) == NULL, "nqi");
    for (size_t i = 0; i < vst_profile_nqi(p); i++) {
        const char *const *steps;
        size_t n = vst_profile_ladder(p, vst_profile_qi(p, i), &steps);
        FZ_CHECK(n <= 4 && (n == 0) == (steps == NULL), "ladder");
        for (size_t k = 0; k < n; k++) {
            vst_gen_kind kind;
            unsigned v;
            FZ_CHECK(vst_gen_rule_parse(steps[k], &kind, &v) == 0, "a ladder step parses");
        }
    }
    FZ_CHECK((vst_profile_nrare(p) > 0) == (vst_profile_rare_column(p) != NULL), "rare column");
    for (size_t i = 0; i < vst_profile_nrare(p); i++)
        FZ_CHECK(vst_profile_rare(p, i) != NULL, "rare code list");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t plen = nul ? (size_t)(nul - data) : size;
    char *doc = fz_dup(data, plen);
    vst_profile *p = (vst_profile *)(uintptr_t)1; /* must be reset */
    char msg[256];
    vst_err e = vst_profile_load_buffer("fuzz.json", doc, plen, &p, msg, sizeof msg);
    free(doc);
    if (e != VST_E_OK) {
        FZ_CHECK(p == NULL, "a refused profile");
        FZ_CHECK(strncmp(msg, "fuzz.json", 9) == 0 || e == VST_E_NOMEM, "message names the file");
        return 0;
    }
    /* It pseudonymizes, or it links (a composite), never both. */
    FZ_CHECK(p != NULL && vst_profile_ncolumns(p) >= 1 &&
                 (vst_profile_ndomains(p) >= 1) != (vst_profile_link_domain(p) != NULL),
             "a loaded profile");
    FZ_CHECK(vst_profile_max_line(p) >= 256 && vst_profile_max_line(p) <= (1u << 20), "max_line");
    FZ_CHECK(strchr(vst_profile_table(p), '.') != NULL, "table");
    check_release(p);
    if (nul != NULL) {
        size_t llen = size - plen - 1;
        char *line = fz_dup(nul + 1, llen);
        apply_line(p, line, llen);
        free(line);
    }
    vst_profile_free(p);
    return 0;
}
