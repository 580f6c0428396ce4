-- 0009_cases: disclosed pseudonyms and objections in the store (issue 12;
-- DESIGN.md §12; docs/operations.md "A disclosed pseudonym").
--
-- vst-admin moves the rows of a disclosed pseudonym P to the person's new
-- pseudonym P*, and deletes the rows of a person who objects. It does so
-- through these functions only: no vst role gains general UPDATE or
-- DELETE on a profile table (vst_admin's UPDATE of the pseudonym columns
-- for re-keying is unchanged, 0002/0005). Each function works on one
-- pseudonym under one key version, at most p_limit rows per call (so that a
-- person with many rows is moved in short transactions and a kill loses
-- nothing: the next call finds what is left), and notes what it did in
-- vst.case_actions — counts and times, never a pseudonym — so that the
-- store keeps its own trail to set beside the audit log's
-- pseudonym.disclosed and person.objection events.
--
-- Finding a person's rows scans the table (no index on the pseudonym
-- columns): an index would cost every delivery an index insert to speed up
-- a rare incident procedure; a scan of 10,000,000 rows takes about a second
-- (docs/benchmarks.md, issue 12).

SET LOCAL ROLE vst_owner;

CREATE TABLE vst.case_actions (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    db_user     text        NOT NULL DEFAULT session_user,
    case_id     text        NOT NULL CHECK (case_id ~ '^[0-9a-f]{16}$'),
    action      text        NOT NULL CHECK (action IN ('move', 'delete')),
    source_table text       NOT NULL,
    key_version integer     NOT NULL,
    rows        bigint      NOT NULL CHECK (rows >= 0)
);
COMMENT ON TABLE vst.case_actions IS
    'vst: rows moved (disclosed pseudonyms) or deleted (objections), counts only';
REVOKE ALL ON vst.case_actions FROM PUBLIC;

-- The pseudonym columns of a profile table (release_table_check: a vst
-- profile table, owned by vst_owner).
CREATE FUNCTION vst.case_columns(p_table regclass) RETURNS text[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM vst.release_table_check(p_table);
    RETURN ARRAY(SELECT attname::text FROM pg_attribute
                  WHERE attrelid = p_table AND attnum > 0 AND NOT attisdropped
                    AND (attname = 'pseudonym' OR attname LIKE '%\_pseudonym')
                  ORDER BY attnum);
END
$$;

CREATE FUNCTION vst.case_check_args(p_version integer, p_pseudonym text, p_limit integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_version IS NULL OR p_version < 1 OR p_pseudonym IS NULL
       OR p_pseudonym !~ '^[0-9a-f]{32}$' OR p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 1000000 THEN
        RAISE EXCEPTION 'a key version >= 1, a pseudonym of 32 lower-case hex digits, a limit 1..1000000'
            USING ERRCODE = '22023';
    END IF;
END
$$;

-- Rows carrying p_pseudonym under p_version, in any pseudonym column.
CREATE FUNCTION vst.case_rows(p_table regclass, p_version integer, p_pseudonym text)
RETURNS bigint
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols text[] := vst.case_columns(p_table);
    cond text;
    n bigint;
BEGIN
    PERFORM vst.case_check_args(p_version, p_pseudonym, 1);
    SELECT string_agg(format('%I = $2', c), ' OR ') INTO cond FROM unnest(cols) c;
    EXECUTE format('SELECT count(*) FROM %s WHERE key_version = $1 AND (%s)', p_table, cond)
        INTO n USING p_version, p_pseudonym;
    RETURN n;
END
$$;

-- Moves at most p_limit rows carrying p_from under p_version to p_to (in
-- each pseudonym column that holds it); returns how many rows changed.
CREATE FUNCTION vst.case_move(p_case text, p_table regclass, p_version integer, p_from text,
                              p_to text, p_limit integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols text[] := vst.case_columns(p_table);
    sets text;
    cond text;
    n bigint;
BEGIN
    PERFORM vst.case_check_args(p_version, p_from, p_limit);
    IF p_case IS NULL OR p_case !~ '^[0-9a-f]{16}$' THEN
        RAISE EXCEPTION 'a case id is 16 lower-case hex digits' USING ERRCODE = '22023';
    END IF;
    PERFORM vst.case_check_args(p_version, p_to, p_limit);
    IF p_from = p_to THEN
        RAISE EXCEPTION 'the new pseudonym equals the old one' USING ERRCODE = '22023';
    END IF;
    SELECT string_agg(format('%1$I = CASE WHEN %1$I = $2 THEN $3 ELSE %1$I END', c), ', '),
           string_agg(format('%I = $2', c), ' OR ')
      INTO sets, cond FROM unnest(cols) c;
    EXECUTE format('UPDATE %1$s SET %2$s WHERE id IN (SELECT id FROM %1$s WHERE key_version = $1 '
                   'AND (%3$s) LIMIT $4 FOR UPDATE)', p_table, sets, cond)
        USING p_version, p_from, p_to, p_limit;
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO vst.case_actions (case_id, action, source_table, key_version, rows)
    VALUES (p_case, 'move', p_table::text, p_version, n);
    RETURN n;
END
$$;

-- Deletes at most p_limit rows of the person p_pseudonym (the person
-- column, `pseudonym`) under p_version; returns how many.
CREATE FUNCTION vst.case_delete(p_case text, p_table regclass, p_version integer,
                                p_pseudonym text, p_limit integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM vst.case_columns(p_table);
    PERFORM vst.case_check_args(p_version, p_pseudonym, p_limit);
    IF p_case IS NULL OR p_case !~ '^[0-9a-f]{16}$' THEN
        RAISE EXCEPTION 'a case id is 16 lower-case hex digits' USING ERRCODE = '22023';
    END IF;
    EXECUTE format('DELETE FROM %1$s WHERE id IN (SELECT id FROM %1$s WHERE key_version = $1 '
                   'AND pseudonym = $2 LIMIT $3 FOR UPDATE)', p_table)
        USING p_version, p_pseudonym, p_limit;
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO vst.case_actions (case_id, action, source_table, key_version, rows)
    VALUES (p_case, 'delete', p_table::text, p_version, n);
    RETURN n;
END
$$;

-- Rows a case moved or deleted over all its runs (a killed run's batches
-- included: each batch notes itself in the transaction that changed them).
CREATE FUNCTION vst.case_total(p_case text) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(sum(rows), 0)::bigint FROM vst.case_actions WHERE case_id = p_case;
$$;

REVOKE ALL ON FUNCTION vst.case_columns(regclass) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.case_total(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vst.case_total(text) TO vst_admin;
REVOKE ALL ON FUNCTION vst.case_check_args(integer, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.case_rows(regclass, integer, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.case_move(text, regclass, integer, text, text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.case_delete(text, regclass, integer, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vst.case_rows(regclass, integer, text) TO vst_admin;
GRANT EXECUTE ON FUNCTION vst.case_move(text, regclass, integer, text, text, integer) TO vst_admin;
GRANT EXECUTE ON FUNCTION vst.case_delete(text, regclass, integer, text, integer) TO vst_admin;
