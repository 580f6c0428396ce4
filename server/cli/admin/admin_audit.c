/* vst-admin audit sync: copies vst-keyd's event stream into the audit log
 * and has keyd sign a checkpoint of the chain. vst-httpd does this every
 * few seconds while it runs; vst-admin also does it after each key action,
 * so that unseal, rotate, retire and re-key reach the log even while no
 * vst-httpd is running. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/admin/admin.h"
#include "audit/audit.h"

int admin_audit_sync(int quiet)
{
    if (g_opt.trust_dsn == NULL) {
        if (!quiet)
            return admin_fail("audit sync: no trust DB connection (--trust-dsn)");
        return 0;
    }
    PGconn *db = admin_db(g_opt.trust_dsn, "trust");
    vst_keyd *k = db ? admin_keyd() : NULL;
    int rc = 0;
    if (db == NULL || k == NULL) {
        rc = 1;
    } else {
        /* After a key action only the events are copied; checkpoints follow
         * vst-httpd's policy, or `audit sync` asks for one explicitly. */
        int n = vst_audit_pull_keyd_events(db, k);
        uint64_t seq = 0;
        if (n < 0 || (!quiet && vst_audit_checkpoint(db, k, &seq) != 0)) {
            rc = admin_fail("audit sync: %s", vst_audit_last_error());
        } else if (!quiet) {
            printf("audit: %d keyd event(s) appended; checkpoint at seq %" PRIu64 "\n", n, seq);
        }
    }
    vst_keyd_close(k);
    PQfinish(db);
    if (rc != 0 && quiet)
        fprintf(stderr, "vst-admin: warning: the audit log is not up to date; run `vst-admin "
                        "audit sync`\n");
    return quiet ? 0 : rc;
}

int cmd_audit_sync(int argc, char **argv)
{
    if (admin_is_help(argc, argv)) {
        printf("usage: vst-admin audit sync\n\nAppends vst-keyd's new events (unseal, rotate, "
               "retire, re-key, budget alarms,\nrefused peers) to the audit log in the trust DB "
               "and has keyd sign a\ncheckpoint of the chain. Needs --trust-dsn and the admin "
               "socket.\n");
        return 0;
    }
    if (argc > 1)
        return admin_fail("audit sync: unexpected argument %s", argv[1]);
    return admin_audit_sync(0);
}
