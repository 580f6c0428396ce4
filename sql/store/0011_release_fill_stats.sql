-- 0011_release_fill_stats: vst.release_fill (0008) plans its INSERT ... SELECT
-- over the build's working tables with statistics and an index (issue 11
-- follow-up).
--
-- vst.release_plan creates the unlogged tables __pc (one row per class and
-- person, about one row per person and class) and __supp (the suppressed
-- persons) and analyzes neither. The fill's first statements were then
-- planned on whatever autovacuum had or had not analyzed yet, and one CI
-- run got a plan that rescanned a materialized __pc for every row: a fill
-- of 100,000 rows ran for minutes instead of a second. release_fill now,
-- when it creates the build table (once per plan, in the same transaction),
-- indexes __pc by person and analyzes the map tables, __pc and __supp, so
-- that every later batch is planned on real statistics and a nested loop,
-- should the planner choose one, probes an index. Everything else is as in
-- 0008; CREATE OR REPLACE keeps the owner and the grants.
SET LOCAL ROLE vst_owner;

CREATE OR REPLACE FUNCTION vst.release_fill(p_name text, p_to bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET work_mem = '512MB'
AS $$
DECLARE
    b release_build.builds := vst.release_build_get(p_name);
    x record;
    tbl text := format('release_build.%I', p_name);
    upto bigint;
BEGIN
    IF b.suppressed_persons IS NULL THEN
        RAISE EXCEPTION 'release "%" has no plan yet', p_name USING ERRCODE = '55000';
    END IF;
    upto := least(p_to, b.id_hi + 1);
    x := vst.release_build_sql(b);
    IF to_regclass(tbl) IS NULL THEN
        EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON release_build.%I (person)',
                       p_name || '__pc_person', p_name || '__pc');
        EXECUTE format('ANALYZE release_build.%I', p_name || '__pc');
        EXECUTE format('ANALYZE release_build.%I', p_name || '__supp');
        EXECUTE format('ANALYZE release_build.%I', p_name || '__map');
        IF NOT b.keep_pseudonyms THEN
            EXECUTE format('ANALYZE release_build.%I', p_name || '__mapo');
        END IF;
        EXECUTE format('CREATE TABLE %s AS SELECT %s FROM %s t%s WITH NO DATA',
                       tbl, x.sel, b.source_table, x.joins);
    END IF;
    IF upto > b.filled_to THEN
        EXECUTE format('INSERT INTO %s SELECT %s FROM %s t%s WHERE t.id >= $1 AND t.id < $2 '
                       'AND EXISTS (SELECT FROM release_build.%I pc WHERE pc.person = %s) '
                       'AND NOT EXISTS (SELECT FROM release_build.%I s WHERE s.person = %s)',
                       tbl, x.sel, b.source_table, x.joins, p_name || '__pc', x.person,
                       p_name || '__supp', x.person)
            USING b.filled_to, upto;
        UPDATE release_build.builds SET filled_to = upto WHERE name = p_name;
    END IF;
    RETURN greatest(upto, b.filled_to);
END
$$;
