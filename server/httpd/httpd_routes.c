/* The route table: method + path → handler. Only PUT carries a body; it
 * keeps per-request state (a delivery) across libmicrohttpd's calls. */
#include <stdlib.h>
#include <string.h>

#include "httpd.h"

#define DELIVERIES "/v1/deliveries/"

typedef struct {
    delivery *d;
    int is_put;
} request;

enum MHD_Result httpd_dispatch(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls)
{
    (void)cls;
    (void)version;
    request *rq = *req_cls;
    if (rq != NULL && rq->is_put)
        return delivery_put(c, url + strlen(DELIVERIES), upload, upload_size, (void **)&rq->d);
    int get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
    int head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    int put = strcmp(method, MHD_HTTP_METHOD_PUT) == 0;
    if (strncmp(url, DELIVERIES, strlen(DELIVERIES)) == 0 && url[strlen(DELIVERIES)] != '\0' &&
        strchr(url + strlen(DELIVERIES), '/') == NULL) {
        if (!g_recovered)
            return reply_problem(c, VST_E_UNAVAILABLE, "crash recovery is still running", 2);
        if (put) {
            if ((rq = calloc(1, sizeof *rq)) == NULL)
                return MHD_NO;
            rq->is_put = 1;
            *req_cls = rq;
            return delivery_put(c, url + strlen(DELIVERIES), upload, upload_size, (void **)&rq->d);
        }
        if (get)
            return delivery_get(c, url + strlen(DELIVERIES));
        return reply_problem(c, VST_E_METHOD_NOT_ALLOWED, "use GET or PUT", 0);
    }
    static const struct {
        const char *path;
        enum MHD_Result (*fn)(struct MHD_Connection *);
    } gets[] = {
        {"/healthz", health_healthz},
        {"/readyz", health_readyz},
        {"/metrics", health_metrics},
    };
    for (size_t i = 0; i < sizeof gets / sizeof gets[0]; i++)
        if (strcmp(url, gets[i].path) == 0)
            return get || head ? gets[i].fn(c)
                               : reply_problem(c, VST_E_METHOD_NOT_ALLOWED, "use GET", 0);
    return reply_problem(c, VST_E_NOT_FOUND, NULL, 0);
}

void httpd_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                     enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    request *rq = *req_cls;
    if (rq == NULL)
        return;
    /* Also when the client went away mid-body: the store transaction is
     * rolled back and the slot returned. */
    delivery_free(rq->d);
    free(rq);
    *req_cls = NULL;
}
