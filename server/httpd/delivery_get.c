/* GET (and HEAD) /v1/deliveries/{id} (DESIGN.md §6): the receipt of one of
 * the client's own deliveries, signed first if it is not yet. Another
 * client's delivery is answered 404 like one that does not exist: no hint
 * that it does. */
#include "httpd/httpd.h"
#include "httpd/receipt.h"

enum MHD_Result delivery_get(struct MHD_Connection *c, const http_call *call)
{
    client_info ci;
    vst_err e = auth_client(c, &ci);
    if (e == VST_E_OK && ci.monitor)
        e = VST_E_CLIENT_UNKNOWN;
    if (e != VST_E_OK) {
        auth_audit_failure(e, &ci, "GET");
        return reply_problem(c, e, NULL, e == VST_E_UNAVAILABLE ? 5 : 0);
    }
    unsigned wait = limits_rate(ci.id, limits_rate_of(ci.rate_limit, g_hcfg.rate_limit), mono_ms());
    if (wait > 0)
        return reply_problem(c, VST_E_RATE_LIMITED, NULL, wait);
    int busy = 0;
    slot *s = pool_acquire(ci.id, 30000, &busy);
    if (s == NULL)
        return reply_problem(c, busy ? VST_E_CLIENT_BUSY : VST_E_UNAVAILABLE, NULL, busy ? 2 : 5);
    enum MHD_Result rc;
    stored_receipt r;
    int found = slot_trust(s) == 0 ? receipt_load(s, ci.id, call->id, &r) : -1;
    if (found < 0) {
        slot_drop_trust(s);
        rc = reply_problem(c, VST_E_UNAVAILABLE, NULL, 5);
    } else if (found == 0) {
        rc = reply_problem(c, VST_E_NOT_FOUND, NULL, 0);
    } else {
        rc = receipt_reply(c, s, 200, &r);
    }
    pool_release(s);
    return rc;
}
