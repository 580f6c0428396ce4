-- 0011_client_rate: the per-client request rate belongs to the client's
-- registration (issue 14; DESIGN.md §14). vst-httpd reads it with the
-- registration it already looks up on every request, so a change made by
-- `vst-admin client set NAME --rate-limit N` applies to the next request,
-- without a restart.
--
--   rate_limit  requests per minute; 0 = unlimited; NULL = vst-httpd's
--               configured default (--rate-limit), which is what every
--               client registered before this migration keeps.

SET LOCAL ROLE vst_owner;

ALTER TABLE vst.clients
    ADD COLUMN rate_limit integer CHECK (rate_limit BETWEEN 0 AND 1000000);
COMMENT ON COLUMN vst.clients.rate_limit IS
    'requests per minute; 0 = unlimited; NULL = vst-httpd''s configured default';

-- vst-admin sets it (client add inserts it, client set changes it); still
-- no rename and no re-key of a client. vst-httpd reads every column of
-- vst.clients already (0002) and changes none.
GRANT UPDATE (rate_limit) ON vst.clients TO vst_admin;
