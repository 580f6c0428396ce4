/* libFuzzer target: one NDJSON record line through the strict scanner
 * (server/profile/json_scan.c) and the profile engine (profile_apply.c,
 * profile_rules.c, server/ident) with the shipped profiles.
 *
 * Input: byte 0 picks the profile (even: sgb5, odd: measles), the rest is
 * the line. Properties checked besides the sanitizers:
 *   - the scanner's tokens stay inside the line and nest properly; each
 *     decoded string is NUL-terminated and no longer than its raw span;
 *   - whatever the scanner accepts, jansson accepts too (except numbers
 *     jansson cannot represent);
 *   - apply's result and the error list agree; a refused line leaves the
 *     row wiped; error paths use only the path alphabet (never a value);
 *   - an accepted line gives a complete row: every NOT NULL column written
 *     or pending, pending identifiers canonical, text inside the arena, JSON
 *     columns valid JSON objects, years in their profile's range;
 *   - escaping does not matter: the same line with every ASCII character of
 *     every unescaped string value written as \u00XX gives exactly the same
 *     result (row, pending identifiers, errors), even when the row's scratch
 *     holds stale digits, as a reused heap buffer would (review finding 3:
 *     "\u0031" was once converted past its end). */
#include <jansson.h>

#include "fuzz_util.h"
#include "core/ident.h"
#include "profile/json_scan.h"
#include "profile/profile.h"

static vst_profile *g_prof[2];
static vst_row *g_row[2];
static vst_errors g_errs;

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static const char *const names[2] = {"sgb5", "measles"};
    for (int i = 0; i < 2; i++) {
        char path[4096], msg[512];
        snprintf(path, sizeof path, "%s/server/profiles/%s.json", fz_root(), names[i]);
        if (vst_profile_load(path, &g_prof[i], msg, sizeof msg) != VST_E_OK) {
            fprintf(stderr, "fuzz_profile_line: %s\n", msg);
            exit(1);
        }
        g_row[i] = vst_row_new(g_prof[i]);
        FZ_CHECK(g_row[i] != NULL, "out of memory");
    }
    FZ_CHECK(vst_errors_init(&g_errs, 64) == 0, "out of memory");
    return 0;
}

/* The scanner on its own, with its own token array. */
static void check_scan(const char *line, size_t len)
{
    size_t cap = JS_TOKENS(len);
    js_tok *tok = calloc(cap, sizeof *tok);
    char *out = malloc(len + 1);
    FZ_CHECK(tok != NULL && out != NULL, "out of memory");
    js_doc d = {.tok = tok, .cap = cap};
    vst_err e = js_scan(&d, line, len);
    if (e == VST_E_TOO_MANY_ITEMS) {
        /* The engine sizes its tokens as JS_TOKENS(n) for a line of n bytes:
         * that must never be what runs out (only the member and item
         * limits may). */
        js_tok *more = calloc(len + 2, sizeof *more);
        FZ_CHECK(more != NULL, "out of memory");
        js_doc big = {.tok = more, .cap = len + 2};
        FZ_CHECK(js_scan(&big, line, len) == VST_E_TOO_MANY_ITEMS, "JS_TOKENS(n) too few");
        free(more);
    }
    if (e == VST_E_OK) {
        FZ_CHECK(d.n >= 1 && d.n <= cap, "token count");
        for (size_t i = 0; i < d.n; i++) {
            const js_tok *t = &tok[i];
            FZ_CHECK(t->next > i && t->next <= d.n, "subtree end");
            FZ_CHECK((size_t)t->start + t->len <= len, "token outside the line");
            if (t->type == JT_OBJECT || t->type == JT_ARRAY)
                FZ_CHECK(t->next - i - 1 >= t->count, "container count");
            if (t->type == JT_STRING) {
                size_t n = 0;
                memset(out, 0x5a, len + 1);
                const char *s = js_string(line, t, out, len + 1, &n);
                FZ_CHECK(s != NULL, "decoded string does not fit");
                if (t->escaped) {
                    FZ_CHECK(s == out && n < t->len && out[n] == '\0', "decoded string");
                } else {
                    FZ_CHECK(s == line + t->start && n == t->len, "raw string");
                }
                FZ_CHECK(js_string_eq(line, t, s, n), "string_eq of its own value");
            }
            if (t->type == JT_INTEGER) {
                int64_t v;
                if (js_integer(line, t, &v) == 0 &&
                    memcmp(line + t->start, "-0", t->len < 2 ? t->len : 2) != 0) {
                    char buf[32];
                    int k = snprintf(buf, sizeof buf, "%lld", (long long)v);
                    FZ_CHECK((size_t)k == t->len && memcmp(buf, line + t->start, t->len) == 0,
                             "integer round trip");
                }
            }
        }
        /* Differential: jansson must take what the scanner took. */
        json_error_t jerr;
        json_t *j = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
        if (j == NULL && strstr(jerr.text, "too big") == NULL &&
            strstr(jerr.text, "overflow") == NULL) {
            fprintf(stderr, "jansson: %s\n", jerr.text);
            FZ_CHECK(0, "the scanner accepted what jansson refuses");
        }
        json_decref(j);
    }
    free(tok);
    free(out);
}

static int path_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("_.|<>#[] ", c) != NULL;
}

static void check_refused(const vst_row *r, vst_err e)
{
    FZ_CHECK(g_errs.total >= 1 && g_errs.n >= 1, "a refused line without an error");
    FZ_CHECK(g_errs.items[0].code == e, "first error is the result");
    for (size_t i = 0; i < g_errs.n; i++) {
        FZ_CHECK(g_errs.items[i].line == 7, "line number");
        FZ_CHECK(g_errs.items[i].code != VST_E_INTERNAL, "internal error on a record");
        for (const char *p = g_errs.items[i].path; *p; p++)
            FZ_CHECK(path_char_ok(*p), "error path outside the path alphabet");
    }
    FZ_CHECK(r->nids == 0 && r->arena_used == 0 && r->scratch_used == 0, "row not wiped");
    for (size_t i = 0; i < vst_profile_ncolumns(r->profile); i++)
        FZ_CHECK(r->values[i].is_null, "value left in a refused row");
}

static void check_row(const vst_profile *p, const vst_row *r)
{
    for (size_t k = 0; k < r->nids; k++) {
        const vst_pending_id *pid = &r->ids[k];
        vst_id again;
        FZ_CHECK(pid->column < vst_profile_ncolumns(p) && pid->domain < vst_profile_ndomains(p),
                 "pending id indices");
        FZ_CHECK(vst_profile_column(p, pid->column)->type == VST_COL_PSEUDONYM, "pending column");
        size_t full = pid->id.kind == VST_ID_KVNR ? 10 : 9;
        if (pid->id.len == full) {
            FZ_CHECK(vst_id_parse(pid->id.kind, pid->id.s, pid->id.len, &again) == VST_E_OK &&
                         again.len == pid->id.len && memcmp(again.s, pid->id.s, again.len) == 0,
                     "pending identifier not canonical");
            vst_id_wipe(&again);
        } else {
            /* An "identify" range: at least 5 digits of a validated identifier;
             * for the LANR's digits 1-7, the check digit still holds. */
            FZ_CHECK(pid->id.len >= 5 && pid->id.len < full &&
                         strspn(pid->id.s, "0123456789") == pid->id.len,
                     "pending identifier range not digits");
            if (pid->id.kind == VST_ID_LANR && pid->id.len == 7) {
                char six[7];
                memcpy(six, pid->id.s, 6);
                six[6] = '\0';
                FZ_CHECK(vst_id_check_digit(VST_ID_LANR, six) == pid->id.s[6] - '0',
                         "pending LANR digits 1-7 without their check digit");
            }
        }
    }
    for (size_t i = 0; i < vst_profile_ncolumns(p); i++) {
        const vst_column *col = vst_profile_column(p, i);
        const vst_value *v = &r->values[i];
        if (v->is_null)
            continue;
        if (col->type == VST_COL_TEXT || col->type == VST_COL_JSON)
            FZ_CHECK(v->s >= r->arena && v->s + v->len <= r->arena + r->arena_used,
                     "text outside the arena");
        if (col->type == VST_COL_JSON) {
            json_error_t jerr;
            json_t *j = json_loadb(v->s, v->len, JSON_REJECT_DUPLICATES, &jerr);
            FZ_CHECK(json_is_object(j), "JSON column is not a JSON object");
            json_decref(j);
        }
        if (col->type == VST_COL_INT && strcmp(col->name, "birth_year") == 0)
            FZ_CHECK(v->i >= 1880 && v->i <= 9999, "birth year");
        if (col->type == VST_COL_INT && strcmp(col->name, "insurance_status") == 0)
            FZ_CHECK(v->i == 1 || v->i == 3 || v->i == 5, "insurance status");
    }
}

/* Marks the object keys among the tokens below token i. */
static void mark_keys(const js_tok *tok, size_t i, uint8_t *is_key)
{
    size_t k = i + 1;
    for (unsigned m = 0; m < tok[i].count; m++) {
        if (tok[i].type == JT_OBJECT) {
            is_key[k] = 1;
            k++;
        }
        if (tok[k].type == JT_OBJECT || tok[k].type == JT_ARRAY)
            mark_keys(tok, k, is_key);
        k = tok[k].next;
    }
}

/* The line with every ASCII byte of every unescaped string value written
 * as \u00XX (keys stay as they are: unknown keys are reported by name only
 * when unescaped); NULL if the line does not scan. */
static char *escape_values(const char *line, size_t len, size_t *outlen)
{
    size_t cap = JS_TOKENS(len);
    js_tok *tok = calloc(cap, sizeof *tok);
    uint8_t *is_key = calloc(cap, 1);
    char *out = malloc(6 * len + 1);
    FZ_CHECK(tok != NULL && is_key != NULL && out != NULL, "out of memory");
    js_doc d = {.tok = tok, .cap = cap};
    size_t n = 0, at = 0;
    if (js_scan(&d, line, len) != VST_E_OK) {
        free(out);
        out = NULL;
        goto done;
    }
    if (tok[0].type == JT_OBJECT || tok[0].type == JT_ARRAY)
        mark_keys(tok, 0, is_key);
    for (size_t i = 0; i < d.n; i++) {
        const js_tok *t = &tok[i];
        if (t->type != JT_STRING || t->escaped || is_key[i])
            continue;
        memcpy(out + n, line + at, t->start - at);
        n += t->start - at;
        for (size_t j = 0; j < t->len; j++) {
            unsigned char c = (unsigned char)line[t->start + j];
            if (c < 0x80)
                n += (size_t)sprintf(out + n, "\\u%04x", c);
            else
                out[n++] = (char)c;
        }
        at = t->start + t->len;
    }
    memcpy(out + n, line + at, len - at);
    n += len - at;
    *outlen = n;
done:
    free(tok);
    free(is_key);
    return out;
}

/* Everything apply produced, as one comparable byte string. */
static char *snapshot(const vst_profile *p, const vst_row *r, vst_err e, size_t *n)
{
    size_t cap = r->arena_used + 4096 + 256 * g_errs.n, used = 0;
    char *s = malloc(cap);
    FZ_CHECK(s != NULL, "out of memory");
#define PUT(...) used += (size_t)snprintf(s + used, cap - used, __VA_ARGS__)
    PUT("rc=%d total=%llu\n", (int)e, (unsigned long long)g_errs.total);
    for (size_t i = 0; i < g_errs.n; i++)
        PUT("err %s %d\n", g_errs.items[i].path, (int)g_errs.items[i].code);
    for (size_t i = 0; i < vst_profile_ncolumns(p); i++) {
        const vst_value *v = &r->values[i];
        if (v->is_null)
            PUT("null\n");
        else if (vst_profile_column(p, i)->type == VST_COL_INT)
            PUT("int %lld\n", (long long)v->i);
        else {
            FZ_CHECK(cap - used > v->len + 16, "snapshot size");
            PUT("text %zu ", v->len);
            memcpy(s + used, v->s, v->len);
            used += v->len;
            PUT("\n");
        }
    }
    for (size_t k = 0; k < r->nids; k++)
        PUT("id %u %u %s\n", r->ids[k].column, r->ids[k].domain, r->ids[k].id.s);
#undef PUT
    FZ_CHECK(used < cap, "snapshot size");
    *n = used;
    return s;
}

static vst_err apply_checked(const vst_profile *p, vst_row *r, const char *line, size_t len)
{
    g_errs.n = 0;
    g_errs.total = 0;
    vst_err e = vst_profile_apply(p, line, len, 7, r, &g_errs);
    if (e != VST_E_OK)
        check_refused(r, e);
    else {
        FZ_CHECK(g_errs.total == 0, "an accepted line with errors");
        check_row(p, r);
    }
    return e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int which = data[0] & 1;
    size_t len = size - 1;
    char *line = fz_dup(data + 1, len);
    check_scan(line, len);

    const vst_profile *p = g_prof[which];
    vst_row *r = g_row[which];
    vst_err e = apply_checked(p, r, line, len);

    size_t elen = 0, na, nb;
    char *esc = escape_values(line, len, &elen);
    if (esc != NULL && elen <= vst_profile_max_line(p) && elen != len) {
        char *a = snapshot(p, r, e, &na);
        vst_row_clear(r);
        memset(r->scratch, '7', r->scratch_cap); /* stale digits */
        char *escaped = fz_dup((const uint8_t *)esc, elen);
        vst_err e2 = apply_checked(p, r, escaped, elen);
        char *b = snapshot(p, r, e2, &nb);
        if (na != nb || memcmp(a, b, na) != 0) {
            fprintf(stderr, "plain:\n%.*s\nescaped:\n%.*s\n", (int)na, a, (int)nb, b);
            FZ_CHECK(0, "escaping the values changed the result");
        }
        free(escaped);
        free(a);
        free(b);
    }
    free(esc);
    vst_row_clear(r);
    free(line);
    return 0;
}
