/* /healthz (the process answers), /readyz (keyd unsealed and reachable,
 * both databases reachable), /metrics (Prometheus text). None needs a
 * client certificate: they reveal no data, only counts. */
#include <stdlib.h>
#include <string.h>

#include "httpd.h"

enum MHD_Result health_healthz(struct MHD_Connection *c)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    return reply_body(c, 200, "application/json", ok, sizeof ok - 1);
}

static int db_ok(PGconn *db)
{
    PGresult *r = PQexec(db, "SELECT 1");
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return ok;
}

enum MHD_Result health_readyz(struct MHD_Connection *c)
{
    slot *s = pool_acquire(5000);
    if (s == NULL)
        return reply_problem(c, VST_E_UNAVAILABLE, "all workers are busy", 5);
    const char *why = NULL;
    if (slot_trust(s) != 0 || !db_ok(s->trust)) {
        slot_drop_trust(s);
        why = "the trust DB is unreachable";
    } else if (slot_store(s) != 0 || !db_ok(s->store)) {
        slot_drop_store(s);
        why = "the store is unreachable";
    } else if (slot_keyd(s) != 0) {
        why = "vst-keyd is unreachable";
    } else {
        vst_status_ok st;
        uint8_t *buf;
        size_t len;
        int rc = vst_keyd_status(s->keyd, &st, &buf, &len);
        if (rc != 0) {
            slot_drop_keyd(s);
            why = "vst-keyd is unreachable";
        } else {
            if (st.sealed)
                why = "vst-keyd is sealed";
            vst_frame_free(buf, len);
        }
    }
    pool_release(s);
    if (why != NULL)
        return reply_problem(c, VST_E_UNAVAILABLE, why, 5);
    static const char ok[] = "{\"status\":\"ready\"}";
    return reply_body(c, 200, "application/json", ok, sizeof ok - 1);
}

enum MHD_Result health_metrics(struct MHD_Connection *c)
{
    char *text = metrics_render();
    if (text == NULL)
        return reply_problem(c, VST_E_INTERNAL, NULL, 0);
    enum MHD_Result rc =
        reply_body(c, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
    free(text);
    return rc;
}
