-- 0010_linkage: linkage across collections without a KVNR (issue 13;
-- DESIGN.md §13; docs/linkage.md).
--
-- Two collections of a health office, measles-protection cases and
-- school-entry examinations, identify a child by names, birth date and sex
-- only. vst-httpd stores no name and no pseudonym for them: six control
-- values per record (cv_<key>, one per linkage key, 16 bytes as 32
-- lower-case hex), each encrypted under a key of its collection, so that
-- values of two collections never compare equal here. Only vst-keyd, fed by
-- `vst-admin overlap`, removes that layer and counts the children in common.
--
-- vst_admin reads the values through vst.link_values only, and never a
-- table: besides EXECUTE on it, it may read the re-key columns id and
-- key_version (`vst-admin key list/retire` count the rows of each key
-- version in every profile table), nothing else. A stratum filter is
-- limited to the keys of vst.link_strata, the profile's "strata"
-- (server/profiles/*.json).

CREATE SCHEMA measles_case AUTHORIZATION vst_owner;
COMMENT ON SCHEMA measles_case IS 'vst store: records of profile measles_case (control values, no identifiers)';
REVOKE ALL ON SCHEMA measles_case FROM PUBLIC;
GRANT USAGE ON SCHEMA measles_case TO vst_httpd, vst_admin;

CREATE SCHEMA school_entry AUTHORIZATION vst_owner;
COMMENT ON SCHEMA school_entry IS 'vst store: records of profile school_entry (control values, no identifiers)';
REVOKE ALL ON SCHEMA school_entry FROM PUBLIC;
GRANT USAGE ON SCHEMA school_entry TO vst_httpd, vst_admin;

SET LOCAL ROLE vst_owner;

-- Shaped like measles.records (0003, with 0004's cheaper checks), the
-- pseudonym replaced by the six control values.
CREATE TABLE measles_case.records (
    id            bigint   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_ref  uuid     NOT NULL,
    key_version   integer  NOT NULL CHECK (key_version > 0),
    birth_year    smallint NOT NULL CHECK (birth_year BETWEEN 1000 AND 9999),
    sex           char(1)  NOT NULL CHECK (sex IN ('M', 'W', 'D', 'X')),
    postal_prefix char(2)  NOT NULL CHECK (length(postal_prefix) = 2 AND postal_prefix !~ '[^0-9]'),
    "case"        jsonb    NOT NULL CHECK (jsonb_typeof("case") = 'object'),
    cv_exact      char(32) NOT NULL CHECK (length(cv_exact) = 32 AND cv_exact !~ '[^0-9a-f]'),
    cv_phonetic   char(32) NOT NULL CHECK (length(cv_phonetic) = 32 AND cv_phonetic !~ '[^0-9a-f]'),
    cv_swapped    char(32) NOT NULL CHECK (length(cv_swapped) = 32 AND cv_swapped !~ '[^0-9a-f]'),
    cv_daymonth   char(32) NOT NULL CHECK (length(cv_daymonth) = 32 AND cv_daymonth !~ '[^0-9a-f]'),
    cv_year       char(32) NOT NULL CHECK (length(cv_year) = 32 AND cv_year !~ '[^0-9a-f]'),
    cv_birthname  char(32) NOT NULL CHECK (length(cv_birthname) = 32 AND cv_birthname !~ '[^0-9a-f]')
);
COMMENT ON TABLE measles_case.records IS 'records of profile measles_case: control values, no identifiers';
CREATE INDEX records_delivery_ref ON measles_case.records (delivery_ref);

CREATE TABLE school_entry.records (
    id            bigint   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_ref  uuid     NOT NULL,
    key_version   integer  NOT NULL CHECK (key_version > 0),
    birth_year    smallint NOT NULL CHECK (birth_year BETWEEN 1000 AND 9999),
    sex           char(1)  NOT NULL CHECK (sex IN ('M', 'W', 'D', 'X')),
    postal_prefix char(2)  NOT NULL CHECK (length(postal_prefix) = 2 AND postal_prefix !~ '[^0-9]'),
    exam          jsonb    NOT NULL CHECK (jsonb_typeof(exam) = 'object'),
    cv_exact      char(32) NOT NULL CHECK (length(cv_exact) = 32 AND cv_exact !~ '[^0-9a-f]'),
    cv_phonetic   char(32) NOT NULL CHECK (length(cv_phonetic) = 32 AND cv_phonetic !~ '[^0-9a-f]'),
    cv_swapped    char(32) NOT NULL CHECK (length(cv_swapped) = 32 AND cv_swapped !~ '[^0-9a-f]'),
    cv_daymonth   char(32) NOT NULL CHECK (length(cv_daymonth) = 32 AND cv_daymonth !~ '[^0-9a-f]'),
    cv_year       char(32) NOT NULL CHECK (length(cv_year) = 32 AND cv_year !~ '[^0-9a-f]'),
    cv_birthname  char(32) NOT NULL CHECK (length(cv_birthname) = 32 AND cv_birthname !~ '[^0-9a-f]')
);
COMMENT ON TABLE school_entry.records IS 'records of profile school_entry: control values, no identifiers';
CREATE INDEX records_delivery_ref ON school_entry.records (delivery_ref);

-- vst-httpd inserts (COPY); vst_admin reads the re-key columns only (0005).
REVOKE ALL ON measles_case.records FROM PUBLIC;
GRANT INSERT ON measles_case.records TO vst_httpd;
GRANT SELECT (id, key_version, cv_exact, cv_phonetic, cv_swapped, cv_daymonth, cv_year,
               cv_birthname) ON measles_case.records TO vst_admin;
GRANT UPDATE (key_version, cv_exact, cv_phonetic, cv_swapped, cv_daymonth, cv_year,
               cv_birthname) ON measles_case.records TO vst_admin;
REVOKE ALL ON school_entry.records FROM PUBLIC;
GRANT INSERT ON school_entry.records TO vst_httpd;
GRANT SELECT (id, key_version, cv_exact, cv_phonetic, cv_swapped, cv_daymonth, cv_year,
               cv_birthname) ON school_entry.records TO vst_admin;
GRANT UPDATE (key_version, cv_exact, cv_phonetic, cv_swapped, cv_daymonth, cv_year,
               cv_birthname) ON school_entry.records TO vst_admin;

-- The strata an overlap query may filter on: keys of the profile's JSON
-- column, as its profile file declares them ("strata"). The allowlist is
-- data, so that no caller's text becomes a column or a key unchecked.
CREATE TABLE vst.link_strata (
    profile     text     NOT NULL CHECK (profile ~ '^[a-z0-9_]{1,32}$'),
    tbl         regclass NOT NULL,
    json_column text     NOT NULL,
    stratum     text     NOT NULL CHECK (stratum ~ '^[a-z0-9_]{1,32}$'),
    PRIMARY KEY (profile, stratum)
);
COMMENT ON TABLE vst.link_strata IS
    'vst: per linkage profile, its table, JSON column and the keys overlap filters may use';
REVOKE ALL ON vst.link_strata FROM PUBLIC;
INSERT INTO vst.link_strata (profile, tbl, json_column, stratum) VALUES
    ('measles_case', 'measles_case.records', 'case', 'year'),
    ('measles_case', 'measles_case.records', 'case', 'district'),
    ('school_entry', 'school_entry.records', 'exam', 'school_year'),
    ('school_entry', 'school_entry.records', 'exam', 'district'),
    ('school_entry', 'school_entry.records', 'exam', 'measles_doses');

-- The control values of one profile's records, all of them (p_stratum
-- NULL) or those whose JSON key p_stratum equals p_value (as text: the
-- year 2025 is '2025', the district '06412'). cv holds the six values
-- decoded, 96 bytes in key order (exact, phonetic, swapped, daymonth,
-- year, birthname: wire/codec_link.h), what OVERLAP_FEED sends. Nothing
-- else of a record leaves: no id, no payload.
CREATE FUNCTION vst.link_values(p_profile text, p_stratum text, p_value text)
RETURNS TABLE(key_version integer, cv bytea)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_tbl regclass;
    v_col text;
    v_known text;
BEGIN
    SELECT s.tbl, s.json_column INTO v_tbl, v_col
      FROM vst.link_strata s
     WHERE s.profile = p_profile AND (p_stratum IS NULL OR s.stratum = p_stratum)
     LIMIT 1;
    IF v_tbl IS NULL THEN
        SELECT string_agg(s.stratum, ', ' ORDER BY s.stratum) INTO v_known
          FROM vst.link_strata s WHERE s.profile = p_profile;
        IF v_known IS NULL THEN
            RAISE EXCEPTION 'profile % stores no control values (not in vst.link_strata)',
                quote_literal(coalesce(p_profile, '')) USING ERRCODE = '22023';
        END IF;
        RAISE EXCEPTION '% is not a stratum of profile %; its strata: %',
            quote_literal(p_stratum), p_profile, v_known USING ERRCODE = '22023';
    END IF;
    IF p_stratum IS NOT NULL AND p_value IS NULL THEN
        RAISE EXCEPTION 'a filter on stratum % needs a value', p_stratum USING ERRCODE = '22023';
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT t.key_version, decode(t.cv_exact || t.cv_phonetic || t.cv_swapped'
        ' || t.cv_daymonth || t.cv_year || t.cv_birthname, ''hex'') FROM %s t%s',
        v_tbl,
        CASE WHEN p_stratum IS NULL THEN ''
             ELSE format(' WHERE t.%I ->> %L = $1', v_col, p_stratum) END)
        USING p_value;
END
$$;
COMMENT ON FUNCTION vst.link_values(text, text, text) IS
    'vst-admin overlap: key version and the 96 bytes of control values of each record of a linkage profile, optionally filtered on one stratum';
REVOKE ALL ON FUNCTION vst.link_values(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vst.link_values(text, text, text) TO vst_admin;
