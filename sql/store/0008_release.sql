-- 0008_release: release protection (issue 11; DESIGN.md §11; docs/release.md).
--
-- Researchers never read a profile's table. They read releases: tables in
-- schema `release`, through the role vst_researcher, which may read those
-- and nothing else. A release holds a profile's rows with generalizations
-- applied and without any row of a person whose combination of
-- quasi-identifiers is held by fewer than k persons; by default its
-- pseudonyms are its own (vst-keyd maps every store pseudonym under a key
-- that exists only while the release is built).
--
-- vst_admin reads no payload (0005): everything that looks at payload
-- columns runs here, in SECURITY DEFINER functions owned by vst_owner with a
-- fixed search_path, and returns counts only (the small-cell report) or
-- writes into tables vst_admin cannot read (a release being built).
--
-- Column rules, enforced by vst.release_check for every function:
--   - a quasi-identifier or generalized column is a NOT NULL integer or text
--     column of the table; never id, delivery_ref, key_version, a pseudonym
--     column (`pseudonym`, `*_pseudonym`) or a json column: a report groups
--     by these columns and names small combinations, so a pseudonym there
--     would print pseudonyms;
--   - rules: band:N (integer columns, N 2..100: floor(v/N)*N, labelled
--     "1980-1984"), prefix:N (text columns, N 1..16), drop.

-- The researcher role, like the others in 0001: NOSUPERUSER and so on,
-- LOGIN (how it authenticates is pg_hba.conf's business). An institution
-- grants membership in it to each researcher's own role.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vst_researcher') THEN
        BEGIN
            CREATE ROLE vst_researcher;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    ALTER ROLE vst_researcher LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
        NOBYPASSRLS INHERIT;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO vst_researcher', current_database());
END
$$;
COMMENT ON ROLE vst_researcher IS 'vst: researchers (reads schema release only)';

CREATE SCHEMA release AUTHORIZATION vst_owner;
COMMENT ON SCHEMA release IS 'vst store: k-protected releases for researchers (DESIGN.md §11)';
REVOKE ALL ON SCHEMA release FROM PUBLIC;
GRANT USAGE ON SCHEMA release TO vst_researcher, vst_admin;

-- Releases being built: invisible to researchers (no USAGE). vst_admin
-- writes the pseudonym map of its own build into it (COPY), nothing else.
CREATE SCHEMA release_build AUTHORIZATION vst_owner;
COMMENT ON SCHEMA release_build IS 'vst store: releases being built; never readable by researchers';
REVOKE ALL ON SCHEMA release_build FROM PUBLIC;
GRANT USAGE ON SCHEMA release_build TO vst_admin;

SET LOCAL ROLE vst_owner;

CREATE TABLE release.catalog (
    name               text        PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,47}$'),
    profile            text        NOT NULL,
    source_table       text        NOT NULL,
    k                  integer     NOT NULL CHECK (k >= 2),
    quasi_identifiers  text[]      NOT NULL,
    generalizations    jsonb       NOT NULL CHECK (jsonb_typeof(generalizations) = 'object'),
    keep_pseudonyms    boolean     NOT NULL,
    rows               bigint      NOT NULL CHECK (rows >= 0),
    persons            bigint      NOT NULL CHECK (persons >= 0),
    suppressed_persons bigint      NOT NULL CHECK (suppressed_persons >= 0),
    suppressed_rows    bigint      NOT NULL CHECK (suppressed_rows >= 0),
    -- Checked after writing: the release's smallest class (persons).
    min_class          bigint,
    created            timestamptz NOT NULL DEFAULT now(),
    -- vst-keyd's id of the release key (16 hex), NULL with keep_pseudonyms.
    release_id         text        CHECK (release_id ~ '^[0-9a-f]{16}$'),
    -- The release.created event; NULL until vst-admin has appended it.
    audit_seq          bigint
);
COMMENT ON TABLE release.catalog IS 'vst: one row per published release (vst-admin release list)';
REVOKE ALL ON release.catalog FROM PUBLIC;
-- vst_admin reads it through vst.release_list (it reads no table of the
-- store beyond the re-key columns; tests/db checks that from the catalog).
-- Researchers see what a release is, not how it was made.
GRANT SELECT (name, profile, k, quasi_identifiers, generalizations, keep_pseudonyms, rows,
              persons, suppressed_persons, created)
    ON release.catalog TO vst_researcher;

CREATE TABLE release_build.builds (
    name            text        PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{0,47}$'),
    profile         text        NOT NULL,
    source_table    regclass    NOT NULL,
    k               integer     NOT NULL CHECK (k >= 2),
    quasi_identifiers text[]    NOT NULL,
    rules           jsonb       NOT NULL,
    keep_pseudonyms boolean     NOT NULL,
    release_id      text        CHECK (release_id ~ '^[0-9a-f]{16}$'),
    suppressed_persons bigint,
    suppressed_rows bigint,
    -- The source rows the release covers: ids up to id_hi as the plan saw
    -- them; filled_to: the next id to write. Publishing needs all of them
    -- written, so a release always covers the whole table (a build of a
    -- few chosen ids would turn its counts into facts about those rows).
    id_hi           bigint,
    filled_to       bigint,
    started         timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE release_build.builds IS 'vst: releases being built (or interrupted)';
REVOKE ALL ON release_build.builds FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- Column checks and SQL expressions of the rules (not callable by anyone
-- but the owner: they only build SQL text).

-- 'integer', 'text' or 'json' for a usable column, raises otherwise. A
-- quasi-identifier (p_qi) must be a NOT NULL integer or text column: NULL
-- would be a class of its own, and a report names its values. Any other
-- column a release generalizes or drops may be NULL, and a json column may
-- be dropped (release_rule_sql refuses the rest for it).
CREATE FUNCTION vst.release_column_kind(p_table regclass, p_col text, p_qi boolean)
RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t oid;
    nn boolean;
BEGIN
    SELECT a.atttypid, a.attnotnull INTO t, nn
      FROM pg_attribute a
     WHERE a.attrelid = p_table AND a.attname = p_col AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" does not exist in %', p_col, p_table
            USING ERRCODE = '22023';
    END IF;
    IF p_col IN ('id', 'delivery_ref', 'key_version') OR p_col = 'pseudonym'
       OR p_col LIKE '%\_pseudonym' THEN
        RAISE EXCEPTION 'column "%" identifies rows or persons and cannot be a quasi-identifier or be generalized',
            p_col USING ERRCODE = '22023';
    END IF;
    IF p_qi AND NOT nn THEN
        RAISE EXCEPTION 'column "%" may be NULL; only NOT NULL columns can be quasi-identifiers',
            p_col USING ERRCODE = '22023';
    END IF;
    IF t IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN
        RETURN 'integer';
    ELSIF t IN ('text'::regtype, 'bpchar'::regtype, 'varchar'::regtype) THEN
        RETURN 'text';
    ELSIF t = 'jsonb'::regtype AND NOT p_qi THEN
        RETURN 'json';
    END IF;
    RAISE EXCEPTION 'column "%" is neither integer nor text', p_col USING ERRCODE = '22023';
END
$$;

-- SQL of rule p_rule applied to the expression p_expr of kind p_kind.
-- label: a band as its text label ("1980-1984") instead of its lower bound.
-- NULL for drop.
CREATE FUNCTION vst.release_rule_sql(p_expr text, p_kind text, p_rule text, p_label boolean)
RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    IF p_rule IS NULL OR p_rule = '' THEN
        RETURN CASE WHEN p_label THEN format('(%s)::text', p_expr) ELSE p_expr END;
    ELSIF p_rule = 'drop' THEN
        RETURN NULL;
    ELSIF p_rule ~ '^band:[0-9]{1,3}$' AND p_kind = 'integer' THEN
        n := substr(p_rule, 6)::integer;
        IF n BETWEEN 2 AND 100 THEN
            IF p_label THEN
                RETURN format('((%1$s) / %2$s * %2$s)::text || ''-'' || ((%1$s) / %2$s * %2$s + %3$s)::text',
                              p_expr, n, n - 1);
            END IF;
            RETURN format('((%s) / %s * %s)', p_expr, n, n);
        END IF;
    ELSIF p_rule ~ '^prefix:[0-9]{1,2}$' AND p_kind = 'text' THEN
        n := substr(p_rule, 8)::integer;
        IF n BETWEEN 1 AND 16 THEN
            RETURN format('left((%s)::text, %s)', p_expr, n);
        END IF;
    END IF;
    RAISE EXCEPTION 'rule "%" does not apply to a % column', p_rule, p_kind
        USING ERRCODE = '22023';
END
$$;

-- Only vst's profile tables: owned by vst_owner, outside vst's own schemas,
-- with the re-key columns.
CREATE FUNCTION vst.release_table_check(p_table regclass) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE c.oid = p_table AND c.relkind = 'r'
                      AND c.relowner = 'vst_owner'::regrole
                      AND n.nspname NOT IN ('release', 'release_build', 'vst', 'vst_meta')
                      AND n.nspname NOT LIKE 'pg\_%')
       OR (SELECT count(*) FROM pg_attribute
            WHERE attrelid = p_table AND attname IN ('id', 'pseudonym', 'key_version')
              AND NOT attisdropped) <> 3 THEN
        RAISE EXCEPTION '% is not a profile table of the store', p_table USING ERRCODE = '22023';
    END IF;
END
$$;

-- Checks a profile table, its quasi-identifiers and their rules; returns
-- the kinds of the quasi-identifiers.
CREATE FUNCTION vst.release_check(p_table regclass, p_qi text[], p_rules text[], p_k integer)
RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kinds text[] := '{}';
    i integer;
BEGIN
    IF p_k IS NULL OR p_k < 2 THEN
        RAISE EXCEPTION 'k must be at least 2' USING ERRCODE = '22023';
    END IF;
    PERFORM vst.release_table_check(p_table);
    IF coalesce(cardinality(p_qi), 0) NOT BETWEEN 1 AND 16
       OR cardinality(p_rules) <> cardinality(p_qi) THEN
        RAISE EXCEPTION 'between 1 and 16 quasi-identifiers, each with a rule ('''' for none)'
            USING ERRCODE = '22023';
    END IF;
    IF (SELECT count(DISTINCT x) FROM unnest(p_qi) x) <> cardinality(p_qi) THEN
        RAISE EXCEPTION 'a quasi-identifier is named twice' USING ERRCODE = '22023';
    END IF;
    FOR i IN 1 .. cardinality(p_qi) LOOP
        kinds := kinds || vst.release_column_kind(p_table, p_qi[i], true);
        PERFORM vst.release_rule_sql('x', kinds[i], p_rules[i], false);
    END LOOP;
    RETURN kinds;
END
$$;

-- ---------------------------------------------------------------------------
-- The small-cell report (vst-admin cells). One scan of the profile table
-- builds pc, one row per (class, person, key version) with the person's
-- row count: about one row per person. Everything else comes from pc, and
-- only three more steps look at every pc row:
--   pp   the persons, each with the number of classes it is found in;
--   pcm  the pc rows of the persons found in several classes (a few: those
--        who moved or changed status);
--   cs   the classes: persons, rows and `single`, the persons found in this
--        class and no other.
-- The persons of any coarser key (a quasi-identifier alone, a suggestion's
-- next step) are the sum of `single` over the classes it merges plus the
-- distinct persons of pcm in it: the two sets are disjoint and only the
-- small one needs de-duplicating, so each of those entries is a pass over
-- cs (one row per class), not over every person (release_cells_coarser).
-- A constant class column g0 keeps every grouping list non-empty (a
-- suggestion may drop the only quasi-identifier).
--
-- p_next[i]: the next rule of quasi-identifier i's ladder, '' if none; it
-- is applied to pc's already generalized value (band:10 of a band:5 lower
-- bound is band:10 of the year; a shorter prefix of a prefix is that
-- prefix).
--
-- jit = off: compiling the query's hundreds of expressions took longer
-- (3 s at 10,000,000 rows) than it saved. parallel_tuple_cost = 0.01: with
-- the default (0.1) the planner builds pc on one core (it counts a million
-- groups to pass up from the workers); in parallel it takes about a third
-- less wall time even on 2 cores (docs/benchmarks.md, bench_release.sh).
CREATE FUNCTION vst.release_cells(p_table regclass, p_qi text[], p_rules text[],
                                  p_next text[], p_k integer, p_smallest integer DEFAULT 20)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET work_mem = '512MB'
SET jit = off
SET parallel_tuple_cost = 0.01
AS $$
DECLARE
    kinds text[];
    n integer := cardinality(p_qi);
    gsel text := '';
    gpos text := '';
    gcols text := 'g0';
    labels text := '';
    order_by text := 'persons';
    per_qi text := '';
    sugg text := '';
    scols text;
    snames text;
    e text;
    i integer;
    j integer;
    q text;
    result jsonb;
BEGIN
    kinds := vst.release_check(p_table, p_qi, p_rules, p_k);
    IF cardinality(p_next) <> n OR p_smallest NOT BETWEEN 0 AND 1000 THEN
        RAISE EXCEPTION 'one next rule per quasi-identifier; smallest 0..1000'
            USING ERRCODE = '22023';
    END IF;
    FOR i IN 1 .. n LOOP
        e := vst.release_rule_sql(format('%I', p_qi[i]), kinds[i], p_rules[i], false);
        IF e IS NULL THEN
            RAISE EXCEPTION 'a dropped column is not a quasi-identifier: leave "%" out',
                p_qi[i] USING ERRCODE = '22023';
        END IF;
        gsel := gsel || format('%s AS g%s, ', e, i);
        -- pc groups by output positions: a table column named like a class
        -- column (g1) cannot be taken for it.
        gpos := gpos || format('%s, ', i + 1);
        gcols := gcols || format(', g%s', i);
        order_by := order_by || format(', g%s', i);
        labels := labels || format('%s%L, %s', CASE WHEN i > 1 THEN ', ' END, p_qi[i],
                  vst.release_rule_sql(format('g%s', i), kinds[i],
                      CASE WHEN p_rules[i] LIKE 'band:%' THEN p_rules[i] END, true));
        -- This column alone as the class key.
        per_qi := per_qi || ', ' || vst.release_cells_coarser(format('g%s', i), format('g%s', i),
            format('''column'', %L, ''values'', (SELECT count(*) FROM c), '
                   '''persons_below_k'', %%persons_below_k%%', p_qi[i]), p_k);
        IF coalesce(p_next[i], '') <> '' THEN
            scols := 'g0';
            snames := 'g0';
            FOR j IN 1 .. n LOOP
                e := format('g%s', j);
                IF j = i THEN
                    e := vst.release_rule_sql(e, kinds[j], p_next[i], false);
                END IF;
                IF e IS NOT NULL THEN
                    scols := scols || format(', %s AS g%s', e, j);
                    snames := snames || format(', g%s', j);
                END IF;
            END LOOP;
            sugg := sugg || ', ' || vst.release_cells_coarser(scols, snames,
                format('''column'', %L, ''rule'', %L, '
                       '''classes_below_k'', (SELECT count(*) FROM c WHERE persons < %s), '
                       '''persons_below_k'', %%persons_below_k%%', p_qi[i], p_next[i], p_k),
                p_k);
        END IF;
    END LOOP;
    q := format($q$
WITH pc AS MATERIALIZED (
    SELECT 0 AS g0, %1$s pseudonym AS p, key_version AS v, count(*) AS n
      FROM %2$s GROUP BY %3$s pseudonym, key_version),
pp AS MATERIALIZED (SELECT p, count(*) AS nc FROM pc GROUP BY p),
pcm AS MATERIALIZED (SELECT * FROM pc WHERE p IN (SELECT p FROM pp WHERE nc > 1)),
cs AS MATERIALIZED (
    SELECT %4$s, c.persons, c.nrows, c.persons - coalesce(m.m, 0) AS single
      FROM (SELECT %4$s, count(*) AS persons, sum(n) AS nrows FROM pc GROUP BY %4$s) c
      LEFT JOIN (SELECT %4$s, count(*) AS m FROM pcm GROUP BY %4$s) m USING (%4$s)),
small AS MATERIALIZED (SELECT * FROM cs WHERE persons < %5$s),
hist AS (
    SELECT CASE WHEN persons < 5 THEN persons WHEN persons < 10 THEN 5
                WHEN persons < 50 THEN 10 ELSE 50 END AS lo,
           count(*) AS classes, sum(persons) AS persons
      FROM cs GROUP BY 1)
SELECT jsonb_build_object(
    'rows', (SELECT coalesce(sum(nrows), 0) FROM cs),
    'persons', (SELECT count(*) FROM pp),
    'key_versions', (SELECT count(*) FROM (SELECT DISTINCT v FROM pc) d),
    'classes', (SELECT count(*) FROM cs),
    'classes_below_k', (SELECT count(*) FROM small),
    'rows_below_k', (SELECT coalesce(sum(nrows), 0) FROM small),
    'persons_below_k', (SELECT coalesce(sum(single), 0) FROM small)::bigint
                       + (SELECT count(DISTINCT pcm.p) FROM pcm JOIN small USING (%4$s)),
    'histogram', (SELECT jsonb_agg(jsonb_build_object('size', b.label,
                                   'classes', coalesce(h.classes, 0),
                                   'persons', coalesce(h.persons, 0)) ORDER BY b.lo)
                    FROM (VALUES (1, '1'), (2, '2'), (3, '3'), (4, '4'), (5, '5-9'),
                                 (10, '10-49'), (50, '50+')) b(lo, label)
                    LEFT JOIN hist h ON h.lo = b.lo),
    'smallest', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                            'values', jsonb_build_object(%6$s), 'persons', persons)
                          ORDER BY %7$s), '[]')
                   FROM (SELECT * FROM small ORDER BY %7$s LIMIT %8$s) s),
    'per_quasi_identifier', jsonb_build_array(%9$s),
    'suggestions', jsonb_build_array(%10$s))
$q$, gsel, p_table, gpos, gcols, p_k, labels, order_by, p_smallest,
        substr(per_qi, 3), substr(sugg, 3));
    EXECUTE q INTO result;
    RETURN result;
END
$$;

-- One entry of per_quasi_identifier or suggestions, as a scalar subquery of
-- vst.release_cells' query: cs and pcm regrouped by a coarser key (p_cols:
-- its expressions over the g columns, named p_names) into c, one row per
-- new class with its persons (s: those found in one class only).
-- p_fields: the entry's jsonb_build_object arguments, in which
-- %persons_below_k% stands for the distinct persons in new classes below k.
CREATE FUNCTION vst.release_cells_coarser(p_cols text, p_names text, p_fields text,
                                          p_k integer)
RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN format($f$(WITH xm AS MATERIALIZED (SELECT DISTINCT %1$s, p FROM pcm),
     c AS MATERIALIZED (
         SELECT %2$s, a.s, a.s + coalesce(b.m, 0) AS persons
           FROM (SELECT %2$s, sum(single) AS s FROM (SELECT %1$s, single FROM cs) x
                  GROUP BY %2$s) a
           LEFT JOIN (SELECT %2$s, count(*) AS m FROM xm GROUP BY %2$s) b USING (%2$s))
    SELECT jsonb_build_object(%3$s))$f$,
        p_cols, p_names,
        replace(p_fields, '%persons_below_k%',
                format('(SELECT coalesce(sum(s), 0) FROM c WHERE persons < %1$s)::bigint '
                       '+ (SELECT count(DISTINCT xm.p) FROM xm JOIN c USING (%2$s) '
                       'WHERE c.persons < %1$s)', p_k, p_names)));
END
$$;

-- Distinct key versions of a table: one scan (0004 dropped the index on
-- key_version).
CREATE FUNCTION vst.release_key_versions(p_table regclass) RETURNS integer
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v integer;
BEGIN
    EXECUTE format('SELECT count(*) FROM (SELECT DISTINCT key_version FROM %s) d', p_table)
        INTO v;
    RETURN v;
END
$$;

-- Codes of the profile's code lists (arrays in the json column) held by
-- fewer than k persons: {"codes": [{list, code, persons}...], "total": n}.
CREATE FUNCTION vst.release_rare_codes(p_table regclass, p_column text, p_lists text[],
                                       p_k integer, p_limit integer)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET work_mem = '512MB'
AS $$
DECLARE
    result jsonb;
BEGIN
    IF p_k IS NULL OR p_k < 2 OR p_limit NOT BETWEEN 0 AND 10000
       OR coalesce(cardinality(p_lists), 0) NOT BETWEEN 1 AND 16 THEN
        RAISE EXCEPTION 'k >= 2, limit 0..10000, 1..16 lists' USING ERRCODE = '22023';
    END IF;
    PERFORM vst.release_table_check(p_table);
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = p_table AND attname = p_column
                      AND atttypid = 'jsonb'::regtype AND NOT attisdropped) THEN
        RAISE EXCEPTION 'column "%" of % is not a json column', p_column, p_table
            USING ERRCODE = '22023';
    END IF;
    EXECUTE format($q$
WITH d AS (
    SELECT DISTINCT l.list, c.code, t.pseudonym
      FROM %1$s t
     CROSS JOIN unnest($1) AS l(list)
     CROSS JOIN LATERAL jsonb_array_elements_text(
           CASE WHEN jsonb_typeof(t.%2$I -> l.list) = 'array'
                THEN t.%2$I -> l.list ELSE '[]' END) AS c(code)),
rare AS (
    SELECT list, code, count(*) AS persons FROM d GROUP BY 1, 2 HAVING count(*) < $2)
SELECT jsonb_build_object(
    'total', (SELECT count(*) FROM rare),
    'codes', (SELECT coalesce(jsonb_agg(jsonb_build_object('list', list, 'code', code,
                                                           'persons', persons)
                                        ORDER BY persons, list, code), '[]')
                FROM (SELECT * FROM rare ORDER BY persons, list, code LIMIT $3) r))
$q$, p_table, p_column) INTO result USING p_lists, p_k, p_limit;
    RETURN result;
END
$$;

-- ---------------------------------------------------------------------------
-- Building a release (vst-admin release create). Steps, each its own
-- transaction, so that vst-admin can show progress:
--   release_begin   registers the build, creates its pseudonym map;
--   (vst-admin)     copies (key_version, store pseudonym, release pseudonym)
--                   into release_build."<name>__map", mapped by vst-keyd;
--   release_plan    the persons to suppress (iterated to a fixpoint), and
--                   __mapo, the map of the pseudonym columns other than the
--                   person's;
--   release_fill    the rows of one id range, any number of times;
--   release_publish checks the result, moves it into schema release, grants
--                   it to vst_researcher, records it in release.catalog and
--                   drops the build's tables — all in one transaction, so a
--                   researcher sees a whole release or none.
-- An interrupted build stays in release_build, invisible to researchers;
-- release_begin of the same name (or release_drop) removes it.
--
-- The session that builds holds a session-level advisory lock on the name:
-- class 'vst\0' + 3 (1987277827; migrate.sh and the audit appender use class
-- 'vst\0' with keys 1 and 2), key hashtext(name). A second vst-admin building
-- or dropping the same name is refused; a killed one's lock ends with its
-- connection.

CREATE FUNCTION vst.release_name_check(p_name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_name IS NULL OR p_name !~ '^[a-z][a-z0-9_]{0,47}$' OR p_name = 'catalog' THEN
        RAISE EXCEPTION 'a release name is 1..48 characters of [a-z0-9_], starting with a letter, not "catalog"'
            USING ERRCODE = '22023';
    END IF;
END
$$;

-- Drops the tables of a build of p_name (if any) and its row.
CREATE FUNCTION vst.release_build_cleanup(p_name text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s text;
BEGIN
    FOREACH s IN ARRAY ARRAY['', '__map', '__mapo', '__pv', '__pc', '__supp'] LOOP
        EXECUTE format('DROP TABLE IF EXISTS release_build.%I', p_name || s);
    END LOOP;
    DELETE FROM release_build.builds WHERE name = p_name;
    RETURN FOUND;
END
$$;

CREATE FUNCTION vst.release_lock(p_name text) RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT pg_try_advisory_lock(1987277824 + 3, hashtext(p_name)) THEN
        RAISE EXCEPTION 'another session is building or dropping release "%"', p_name
            USING ERRCODE = '55P03';
    END IF;
END
$$;

-- p_rules: {"column": "rule", ...} for every generalized column (a
-- quasi-identifier or not); p_release_id: vst-keyd's id of the release key,
-- NULL with p_keep (store pseudonyms kept) or until vst.release_key_id
-- records it (vst-admin opens the key only when the first pseudonyms are
-- ready, so that keyd's idle timeout never ends it early).
CREATE FUNCTION vst.release_begin(p_name text, p_profile text, p_table regclass, p_k integer,
                                  p_qi text[], p_rules jsonb, p_keep boolean,
                                  p_release_id text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $$
DECLARE
    col text;
    qrules text[] := '{}';
    i integer;
BEGIN
    PERFORM vst.release_name_check(p_name);
    PERFORM vst.release_lock(p_name);
    IF EXISTS (SELECT FROM release.catalog WHERE name = p_name)
       OR to_regclass(format('release.%I', p_name)) IS NOT NULL THEN
        RAISE EXCEPTION 'release "%" exists; drop it first or choose another name', p_name
            USING ERRCODE = '42P07';
    END IF;
    IF jsonb_typeof(p_rules) <> 'object' OR p_keep IS NULL
       OR (p_keep AND p_release_id IS NOT NULL) THEN
        RAISE EXCEPTION 'rules are an object; no release id when store pseudonyms are kept'
            USING ERRCODE = '22023';
    END IF;
    FOR i IN 1 .. coalesce(cardinality(p_qi), 0) LOOP
        qrules := qrules || coalesce(p_rules ->> p_qi[i], '');
    END LOOP;
    PERFORM vst.release_check(p_table, p_qi, qrules, p_k);
    FOR col IN SELECT jsonb_object_keys(p_rules) LOOP
        IF NOT col = ANY (p_qi) THEN
            PERFORM vst.release_rule_sql('x', vst.release_column_kind(p_table, col, false),
                                         p_rules ->> col, false);
        END IF;
    END LOOP;
    -- With the store's pseudonyms, a person is one pseudonym only if every
    -- row is under one key version (a re-key in progress splits persons).
    IF p_keep AND vst.release_key_versions(p_table) > 1 THEN
        RAISE EXCEPTION 'the store holds rows of several key versions; finish vst-admin rekey before a release that keeps store pseudonyms'
            USING ERRCODE = '55000';
    END IF;
    PERFORM vst.release_build_cleanup(p_name);
    INSERT INTO release_build.builds (name, profile, source_table, k, quasi_identifiers, rules,
                                      keep_pseudonyms, release_id)
    VALUES (p_name, p_profile, p_table, p_k, p_qi, p_rules, p_keep, p_release_id);
    -- The map links store and release pseudonyms; it lives only while the
    -- release is built and is never written to the WAL (unlogged).
    -- x: keyd flags the person as one with a disclosure or objection case
    -- (DESIGN.md §12): never in a release. With p_keep the map still says
    -- who is flagged (its r is not used).
    EXECUTE format('CREATE UNLOGGED TABLE release_build.%I (v integer NOT NULL, '
                   'p char(32) NOT NULL, r char(32) NOT NULL, x boolean NOT NULL DEFAULT false)',
                   p_name || '__map');
    EXECUTE format('GRANT INSERT ON release_build.%I TO vst_admin', p_name || '__map');
END
$$;

-- Records vst-keyd's release id of a build (once; kept in the catalog only
-- when the release replaces pseudonyms).
CREATE FUNCTION vst.release_key_id(p_name text, p_release_id text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b release_build.builds := vst.release_build_get(p_name);
BEGIN
    IF b.release_id IS NOT NULL THEN
        RAISE EXCEPTION 'release "%" has its release id already', p_name USING ERRCODE = '55000';
    END IF;
    UPDATE release_build.builds SET release_id = p_release_id WHERE name = p_name;
END
$$;

-- Stops a build whose map lacks a pseudonym of a column other than the
-- person's (VOLATILE: evaluated only for such a row, never folded).
CREATE FUNCTION vst.release_unmapped(p_col text) RETURNS char(32)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'the pseudonym map of this release lacks a pseudonym of column %', p_col
        USING ERRCODE = '55000';
END
$$;

-- The expressions of a build: its person key (person, with the join pjoin
-- it needs), the SELECT list of the release table (sel, with joins) and the
-- quasi-identifiers (qsel: their generalized expressions; qcols: their names
-- in the release).
CREATE FUNCTION vst.release_build_sql(b release_build.builds, OUT person text, OUT pjoin text,
                                      OUT sel text, OUT joins text, OUT qsel text,
                                      OUT qcols text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    a record;
    e text;
    j text;
    alias text;
    m integer := 0;
    map text := format('release_build.%I', b.name || '__map');
    mapo text := format('release_build.%I', b.name || '__mapo');
BEGIN
    sel := '';
    joins := '';
    pjoin := '';
    qsel := '';
    qcols := '';
    FOR a IN SELECT attname::text AS name FROM pg_attribute
              WHERE attrelid = b.source_table AND attnum > 0 AND NOT attisdropped
              ORDER BY attnum LOOP
        IF a.name IN ('id', 'delivery_ref', 'key_version') THEN
            CONTINUE;
        ELSIF a.name = 'pseudonym' OR a.name LIKE '%\_pseudonym' THEN
            IF b.keep_pseudonyms THEN
                e := format('t.%I', a.name);
            ELSE
                m := m + 1;
                alias := CASE WHEN a.name = 'pseudonym' THEN 'mp' ELSE 'm' || m END;
                -- Other pseudonym columns (providers, practices) look up
                -- __mapo, the map without the persons (release_plan): a
                -- small hash per fill step instead of the whole map. A
                -- pseudonym missing there stops the build.
                j := format(' LEFT JOIN %1$s %2$s ON %2$s.v = t.key_version AND %2$s.p = t.%3$I',
                            CASE WHEN a.name = 'pseudonym' THEN map ELSE mapo END, alias, a.name);
                joins := joins || j;
                e := alias || '.r';
                IF a.name = 'pseudonym' THEN
                    pjoin := j;
                ELSE
                    e := format('(CASE WHEN t.%1$I IS NOT NULL AND %2$s.r IS NULL '
                                'THEN vst.release_unmapped(%1$L) ELSE %2$s.r END)::char(32)',
                                a.name, alias);
                END IF;
            END IF;
            IF a.name = 'pseudonym' THEN
                person := e;
            END IF;
        ELSIF b.rules ? a.name THEN
            e := vst.release_rule_sql(format('t.%I', a.name),
                                      vst.release_column_kind(b.source_table, a.name, false),
                                      b.rules ->> a.name, true);
        ELSE
            e := format('t.%I', a.name);
        END IF;
        IF e IS NOT NULL THEN
            sel := sel || format(', %s AS %I', e, a.name);
            IF a.name = ANY (b.quasi_identifiers) THEN
                qsel := qsel || format(', %s AS %I', e, a.name);
                qcols := qcols || format(', %I', a.name);
            END IF;
        END IF;
    END LOOP;
    sel := substr(sel, 3);
    -- No quasi-identifier left (all dropped): one class of everybody.
    qsel := coalesce(nullif(substr(qsel, 3), ''), '0 AS g0');
    qcols := coalesce(nullif(substr(qcols, 3), ''), 'g0');
END
$$;

CREATE FUNCTION vst.release_build_get(p_name text) RETURNS release_build.builds
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b release_build.builds;
BEGIN
    SELECT * INTO b FROM release_build.builds WHERE name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no release "%" is being built', p_name USING ERRCODE = '22023';
    END IF;
    PERFORM vst.release_lock(p_name);
    RETURN b;
END
$$;

-- The persons to suppress: those in a class (over the generalized
-- quasi-identifiers) of fewer than k persons. Suppressing a person removes
-- all their rows, which can shrink another class below k; the step repeats
-- until no class is below k. Returns {"suppressed_persons", "suppressed_rows",
-- "rounds"}.
CREATE FUNCTION vst.release_plan(p_name text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
SET work_mem = '512MB'
AS $$
DECLARE
    b release_build.builds := vst.release_build_get(p_name);
    x record;
    pc text := format('release_build.%I', p_name || '__pc');
    pv text := format('release_build.%I', p_name || '__pv');
    mapo text := format('release_build.%I', p_name || '__mapo');
    supp text := format('release_build.%I', p_name || '__supp');
    added bigint;
    rounds integer := 0;
    srows bigint;
    spersons bigint;
    excluded bigint;
    lo bigint;
    hi bigint;
BEGIN
    x := vst.release_build_sql(b);
    -- The rows the release will cover (read first: a row that arrives
    -- later is either beyond hi or checked at publish).
    EXECUTE format('SELECT coalesce(min(id), 1), coalesce(max(id), 0) FROM %s', b.source_table)
        INTO lo, hi;
    EXECUTE format('ANALYZE release_build.%I', p_name || '__map');
    EXECUTE format('DROP TABLE IF EXISTS %s; DROP TABLE IF EXISTS %s; DROP TABLE IF EXISTS %s; '
                   'DROP TABLE IF EXISTS %s', pc, supp, pv, mapo);
    -- pv: the one scan of the table, one row per (class, key version,
    -- store pseudonym) with its rows. Only pv (about one row per person)
    -- is joined to the map, not every row of the table.
    EXECUTE format('CREATE UNLOGGED TABLE %1$s AS SELECT %2$s, v, p, count(*) AS n FROM '
                   '(SELECT %3$s, t.key_version AS v, t.pseudonym AS p FROM %4$s t) r0 '
                   'GROUP BY %2$s, v, p', pv, x.qcols, x.qsel, b.source_table);
    -- One row per (class, person) with the person's rows in it. A row
    -- whose person has no release pseudonym (the map is incomplete) fails
    -- here rather than vanish.
    EXECUTE format('CREATE UNLOGGED TABLE %1$s AS SELECT %2$s, person, sum(n)::bigint AS n '
                   'FROM (SELECT r.*, %3$s AS person FROM %4$s r%5$s) r2 GROUP BY %2$s, person',
                   pc, x.qcols, CASE WHEN b.keep_pseudonyms THEN 'r.p' ELSE 'mp.r' END, pv,
                   CASE WHEN b.keep_pseudonyms THEN ''
                        ELSE format(' LEFT JOIN release_build.%I mp ON mp.v = r.v AND mp.p = r.p',
                                    p_name || '__map') END);
    -- __mapo: the map without the persons' pseudonyms, for the other
    -- pseudonym columns (release_build_sql).
    IF NOT b.keep_pseudonyms THEN
        EXECUTE format('CREATE UNLOGGED TABLE %1$s AS SELECT * FROM release_build.%2$I m '
                       'WHERE NOT EXISTS (SELECT FROM %3$s r WHERE r.v = m.v AND r.p = m.p)',
                       mapo, p_name || '__map', pv);
        EXECUTE format('ANALYZE %s', mapo);
    END IF;
    EXECUTE format('DROP TABLE %s', pv);
    EXECUTE format('SELECT count(*) FROM %s WHERE person IS NULL', pc) INTO added;
    IF added > 0 THEN
        RAISE EXCEPTION 'the pseudonym map of release "%" is incomplete', p_name
            USING ERRCODE = '55000';
    END IF;
    EXECUTE format('CREATE UNLOGGED TABLE %s (person char(32) PRIMARY KEY)', supp);
    -- Round 0: the persons keyd flagged (a disclosure or objection case);
    -- only person pseudonyms (a flagged provider is no person of pc).
    EXECUTE format('INSERT INTO %s SELECT DISTINCT pc.person FROM %s pc WHERE pc.person IN '
                   '(SELECT %s FROM release_build.%I WHERE x) ON CONFLICT DO NOTHING',
                   supp, pc, CASE WHEN b.keep_pseudonyms THEN 'p' ELSE 'r' END,
                   p_name || '__map');
    GET DIAGNOSTICS excluded = ROW_COUNT;
    -- pc holds each (class, person) once, so count(*) counts a class's
    -- persons: hashed, where count(DISTINCT) sorted every row of pc.
    LOOP
        rounds := rounds + 1;
        EXECUTE format($q$
INSERT INTO %1$s
SELECT DISTINCT pc.person
  FROM %2$s pc
  JOIN (SELECT %3$s FROM %2$s c
         WHERE NOT EXISTS (SELECT FROM %1$s s WHERE s.person = c.person)
         GROUP BY %3$s HAVING count(*) < %4$s) small USING (%3$s)
 WHERE NOT EXISTS (SELECT FROM %1$s s WHERE s.person = pc.person)$q$,
                       supp, pc, x.qcols, b.k);
        GET DIAGNOSTICS added = ROW_COUNT;
        EXIT WHEN added = 0 OR rounds >= 100;
    END LOOP;
    EXECUTE format('SELECT count(*), (SELECT coalesce(sum(n), 0) FROM %s pc WHERE EXISTS '
                   '(SELECT FROM %s s WHERE s.person = pc.person)) FROM %s',
                   pc, supp, supp) INTO spersons, srows;
    UPDATE release_build.builds SET suppressed_persons = spersons, suppressed_rows = srows,
                                    filled_to = lo, id_hi = hi
     WHERE name = p_name;
    -- rounds: those that suppressed someone (the last one found nobody).
    -- suppressed_persons includes the flagged ones (excluded_persons).
    RETURN jsonb_build_object('suppressed_persons', spersons, 'suppressed_rows', srows,
                              'excluded_persons', excluded, 'rounds', rounds - 1);
END
$$;

-- Writes the release rows of the next source ids, from the build's
-- filled_to up to (not including) p_to, never beyond the plan's id_hi;
-- returns the new filled_to. Only rows whose person the plan knows are
-- written (the inner join with the map: a row delivered or re-keyed during
-- the build is left out rather than written without a release pseudonym).
-- Returns no row counts: counts of chosen id ranges would be facts about
-- single rows.
CREATE FUNCTION vst.release_fill(p_name text, p_to bigint) RETURNS bigint
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

-- Checks the written release (no class below k over its own rows), then
-- publishes it. Returns the catalog row as JSON.
CREATE FUNCTION vst.release_publish(p_name text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
SET work_mem = '512MB'
AS $$
DECLARE
    b release_build.builds := vst.release_build_get(p_name);
    x record;
    tbl text := format('release_build.%I', p_name);
    nrows bigint;
    npersons bigint;
    minc bigint;
    below bigint;
    c release.catalog;
BEGIN
    IF NOT b.keep_pseudonyms AND b.release_id IS NULL THEN
        RAISE EXCEPTION 'release "%" has no release pseudonyms', p_name USING ERRCODE = '55000';
    END IF;
    IF b.filled_to IS NULL OR b.filled_to <= b.id_hi THEN
        RAISE EXCEPTION 'release "%" is not written to its end yet', p_name USING ERRCODE = '55000';
    END IF;
    IF NOT b.keep_pseudonyms THEN
        EXECUTE format('SELECT count(*) FROM release_build.%I WHERE r = p', p_name || '__map')
            INTO below;
        IF below > 0 THEN
            RAISE EXCEPTION 'release "%": its map keeps store pseudonyms; nothing published', p_name
                USING ERRCODE = '55000';
        END IF;
    END IF;
    x := vst.release_build_sql(b);
    IF to_regclass(tbl) IS NULL THEN
        -- Every row was suppressed, or the store is empty: an empty release.
        EXECUTE format('CREATE TABLE %s AS SELECT %s FROM %s t%s WITH NO DATA',
                       tbl, x.sel, b.source_table, x.joins);
    END IF;
    -- One pass: (class, person) pairs by hashing, then classes and persons
    -- from those (two sorts of every row for count(DISTINCT) took 6 times
    -- as long at 10,000,000 rows). No quasi-identifier left: one class.
    EXECUTE format($q$
WITH pc AS MATERIALIZED (SELECT %2$s pseudonym, count(*) AS n FROM %1$s GROUP BY %2$s pseudonym)
SELECT (SELECT coalesce(sum(n), 0) FROM pc)::bigint,
       (SELECT count(*) FROM (SELECT DISTINCT pseudonym FROM pc) d),
       min(persons), count(*) FILTER (WHERE persons < %4$s)
  FROM (SELECT count(*) AS persons FROM pc GROUP BY %3$s HAVING count(*) > 0) c$q$,
                   tbl, CASE WHEN x.qcols = 'g0' THEN '' ELSE x.qcols || ', ' END,
                   CASE WHEN x.qcols = 'g0' THEN '()' ELSE x.qcols END, b.k)
        INTO nrows, npersons, minc, below;
    IF below > 0 THEN
        RAISE EXCEPTION 'release "%" would hold % classes below k = %; nothing published',
            p_name, below, b.k USING ERRCODE = '55000';
    END IF;
    EXECUTE format('ALTER TABLE %s SET SCHEMA release', tbl);
    EXECUTE format('COMMENT ON TABLE release.%I IS %L', p_name,
                   format('vst release of profile %s, k = %s (release.catalog)', b.profile, b.k));
    EXECUTE format('REVOKE ALL ON release.%I FROM PUBLIC', p_name);
    EXECUTE format('GRANT SELECT ON release.%I TO vst_researcher', p_name);
    INSERT INTO release.catalog (name, profile, source_table, k, quasi_identifiers,
                                 generalizations, keep_pseudonyms, rows, persons,
                                 suppressed_persons, suppressed_rows, min_class, release_id)
    VALUES (p_name, b.profile, b.source_table::text, b.k, b.quasi_identifiers, b.rules,
            b.keep_pseudonyms, nrows, npersons, b.suppressed_persons, b.suppressed_rows, minc,
            CASE WHEN b.keep_pseudonyms THEN NULL ELSE b.release_id END)
    RETURNING * INTO c;
    PERFORM vst.release_build_cleanup(p_name);
    RETURN to_jsonb(c);
END
$$;

-- Records the audit sequence number of a release's release.created event.
CREATE FUNCTION vst.release_audited(p_name text, p_seq bigint) RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE release.catalog SET audit_seq = p_seq WHERE name = p_name AND audit_seq IS NULL;
$$;

-- vst-admin release list: the catalog and the interrupted builds, as JSON.
CREATE FUNCTION vst.release_list() RETURNS json
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
SELECT json_build_object(
    'releases', coalesce((SELECT json_agg(json_build_object(
        'name', name, 'profile', profile, 'k', k, 'rows', rows, 'persons', persons,
        'suppressed_persons', suppressed_persons, 'suppressed_rows', suppressed_rows,
        'keep_pseudonyms', keep_pseudonyms, 'quasi_identifiers', quasi_identifiers,
        'generalizations', generalizations,
        'created', to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'audit_seq', audit_seq) ORDER BY created, name) FROM release.catalog), '[]'),
    'interrupted', coalesce((SELECT json_agg(json_build_object(
        'name', name, 'profile', profile, 'k', k,
        'started', to_char(started AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
        ORDER BY name) FROM release_build.builds), '[]'));
$$;

-- Drops a release (or an interrupted build of that name). Returns
-- {"release": catalog row or null, "build": true if a build was removed}.
CREATE FUNCTION vst.release_drop(p_name text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $$
DECLARE
    c release.catalog;
    built boolean;
BEGIN
    PERFORM vst.release_name_check(p_name);
    PERFORM vst.release_lock(p_name);
    DELETE FROM release.catalog WHERE name = p_name RETURNING * INTO c;
    EXECUTE format('DROP TABLE IF EXISTS release.%I', p_name);
    built := vst.release_build_cleanup(p_name);
    RETURN jsonb_build_object('release', CASE WHEN c.name IS NULL THEN NULL ELSE to_jsonb(c) END,
                              'build', built);
END
$$;

REVOKE ALL ON FUNCTION vst.release_column_kind(regclass, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.release_rule_sql(text, text, text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.release_table_check(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.release_check(regclass, text[], text[], integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.release_key_versions(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.release_cells(regclass, text[], text[], text[], integer, integer)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.release_cells_coarser(text, text, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.release_rare_codes(regclass, text, text[], integer, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vst.release_cells(regclass, text[], text[], text[], integer, integer)
    TO vst_admin;
GRANT EXECUTE ON FUNCTION vst.release_rare_codes(regclass, text, text[], integer, integer)
    TO vst_admin;
REVOKE ALL ON FUNCTION vst.release_name_check(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.release_build_cleanup(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.release_lock(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.release_build_sql(release_build.builds) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.release_unmapped(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.release_build_get(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.release_begin(text, text, regclass, integer, text[], jsonb, boolean, text)
    FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.release_plan(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.release_key_id(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vst.release_key_id(text, text) TO vst_admin;
REVOKE ALL ON FUNCTION vst.release_fill(text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.release_publish(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.release_audited(text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.release_drop(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.release_list() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vst.release_list() TO vst_admin;
GRANT EXECUTE ON FUNCTION vst.release_begin(text, text, regclass, integer, text[], jsonb, boolean, text)
    TO vst_admin;
GRANT EXECUTE ON FUNCTION vst.release_plan(text) TO vst_admin;
GRANT EXECUTE ON FUNCTION vst.release_fill(text, bigint) TO vst_admin;
GRANT EXECUTE ON FUNCTION vst.release_publish(text) TO vst_admin;
GRANT EXECUTE ON FUNCTION vst.release_audited(text, bigint) TO vst_admin;
GRANT EXECUTE ON FUNCTION vst.release_drop(text) TO vst_admin;
