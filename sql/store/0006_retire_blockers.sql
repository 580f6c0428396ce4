-- 0006_retire_blockers: what `vst-admin key retire` must wait for (issue 8).
--
-- Retiring key version v destroys K_v; a row of v stored afterwards could
-- never be re-keyed. Counting the rows of v is not enough, because rows of v
-- may still be on their way, invisible to any other session:
--   - a delivery transaction of vst-httpd that began before v stopped being
--     current: vst-httpd opens its store transaction before it asks vst-keyd
--     for the first pseudonyms, so only such a transaction can hold rows of v;
--   - a prepared delivery transaction (gid 'vst:...'): its rows are hidden
--     until COMMIT PREPARED, whatever their version.
-- vst.retire_blockers(since) counts both; vst-admin retires only when both
-- are zero, and only then counts the rows of v (docs/operations.md).
--
-- Another role's xact_start is hidden from vst_admin in pg_stat_activity, so
-- the function runs with its owner's rights, and its owner may read those
-- statistics. It returns two counts and nothing else.

GRANT pg_read_all_stats TO vst_owner;

CREATE SCHEMA IF NOT EXISTS vst AUTHORIZATION vst_owner;
REVOKE ALL ON SCHEMA vst FROM PUBLIC;
GRANT USAGE ON SCHEMA vst TO vst_admin;

SET LOCAL ROLE vst_owner;

-- since: when v stopped being current (NULL: now, so every open delivery
-- counts). pg_stat_activity is read first: its snapshot is taken at first
-- use in the transaction, and a delivery that prepares after it is then
-- found in pg_prepared_xacts, read second.
CREATE FUNCTION vst.retire_blockers(since timestamptz, OUT in_flight bigint, OUT prepared bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT count(*) INTO in_flight
      FROM pg_stat_activity
     WHERE datname = current_database()
       AND usename = 'vst_httpd'
       AND xact_start IS NOT NULL
       AND xact_start < coalesce(since, clock_timestamp());
    SELECT count(*) INTO prepared
      FROM pg_prepared_xacts
     WHERE database = current_database()
       AND gid LIKE 'vst:%';
END
$$;
COMMENT ON FUNCTION vst.retire_blockers(timestamptz) IS
    'vst-admin key retire: open vst-httpd delivery transactions begun before since, and prepared delivery transactions';

REVOKE ALL ON FUNCTION vst.retire_blockers(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vst.retire_blockers(timestamptz) TO vst_admin;
