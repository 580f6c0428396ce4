-- 0003_measles_records: a second collection in the store, a public-health
-- measles register keyed by the KVNR pseudonym. It shows how a profile other
-- than sgb5 gets its own schema and table; whether it is linkable with
-- another collection is decided by the pseudonym domain (DESIGN.md §3),
-- not here.

CREATE SCHEMA measles AUTHORIZATION vst_owner;
COMMENT ON SCHEMA measles IS 'vst store: records of profile measles (public-health register)';
REVOKE ALL ON SCHEMA measles FROM PUBLIC;
GRANT USAGE ON SCHEMA measles TO vst_httpd, vst_admin;

SET LOCAL ROLE vst_owner;

CREATE TABLE measles.records (
    id            bigint   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- re-key walk order
    delivery_ref  uuid     NOT NULL,
    pseudonym     char(32) NOT NULL CHECK (pseudonym ~ '^[0-9a-f]{32}$'),
    key_version   integer  NOT NULL CHECK (key_version > 0),
    birth_year    smallint NOT NULL CHECK (birth_year BETWEEN 1000 AND 9999),
    sex           char(1)  NOT NULL CHECK (sex IN ('M', 'W', 'D', 'X')),
    postal_prefix char(2)  NOT NULL CHECK (postal_prefix ~ '^[0-9]{2}$'),
    -- Vaccination/diagnosis data as the profile keeps it.
    report        jsonb    NOT NULL CHECK (jsonb_typeof(report) = 'object')
);
COMMENT ON TABLE measles.records IS 'pseudonymized records of profile measles; no identifiers';
CREATE INDEX records_key_version ON measles.records (key_version);
CREATE INDEX records_delivery_ref ON measles.records (delivery_ref);

-- Same privileges as sgb5.records, for the same reasons (see 0002).
REVOKE ALL ON measles.records FROM PUBLIC;
GRANT INSERT ON measles.records TO vst_httpd;
GRANT SELECT ON measles.records TO vst_admin;
GRANT UPDATE (pseudonym, key_version) ON measles.records TO vst_admin;
