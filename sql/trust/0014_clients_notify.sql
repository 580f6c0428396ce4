-- 0014_clients_notify: every change of the client registry is announced on
-- the channel "vst_clients" (issue 14).
--
-- vst-httpd keeps the registrations it has looked up in memory (its
-- registration cache, server/httpd/registry.h) while one of its sessions
-- LISTENs on this channel, and empties the cache at each notification: a
-- revocation, a new client or a new rate applies to the next request, as
-- when every request looked its client up. PostgreSQL sends the
-- notification when the changing transaction commits, and only then. The
-- payload is empty: a listener learns that something changed, not what —
-- nothing of a client travels on the channel.
--
-- A statement-level trigger, after every kind of change, for every role
-- (vst-admin's functions and a superuser's hand alike).

SET LOCAL ROLE vst_owner;

CREATE FUNCTION vst.clients_notify() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_notify('vst_clients', '');
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION vst.clients_notify() FROM PUBLIC;

CREATE TRIGGER clients_notify AFTER INSERT OR UPDATE OR DELETE ON vst.clients
    FOR EACH STATEMENT EXECUTE FUNCTION vst.clients_notify();
CREATE TRIGGER clients_notify_truncate AFTER TRUNCATE ON vst.clients
    FOR EACH STATEMENT EXECUTE FUNCTION vst.clients_notify();
