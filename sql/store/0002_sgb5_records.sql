-- 0002_sgb5_records: the data-preparation store's table for profile sgb5
-- (DESIGN.md §5 and §7).
--
-- Only pseudonyms and coarse attributes arrive here; the checks below are a
-- last line of defence that makes a mis-mapped identifier fail the delivery
-- instead of landing in the store (a KVNR, LANR or name matches none of them).

-- Connecting is granted per role (0001 revoked it from PUBLIC). vst_auditor
-- gets nothing at all on the store.
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO vst_httpd, vst_admin', current_database());
END
$$;

CREATE SCHEMA sgb5 AUTHORIZATION vst_owner;
COMMENT ON SCHEMA sgb5 IS 'vst store: records of profile sgb5 (statutory health insurance)';
REVOKE ALL ON SCHEMA sgb5 FROM PUBLIC;
GRANT USAGE ON SCHEMA sgb5 TO vst_httpd, vst_admin;

-- Created as vst_owner so that it owns everything; the runner resets the role.
SET LOCAL ROLE vst_owner;

CREATE TABLE sgb5.records (
    -- Walk order for re-keying (vst-admin rekey resumes after the last id);
    -- carries no meaning and is never shown to a sender.
    id                     bigint   GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Opaque per-delivery id from vst.receipts; not the insurer's delivery id.
    delivery_ref           uuid     NOT NULL,
    -- Insured person: AES-256(K_v, I), 32 lowercase hex, under key_version.
    pseudonym              char(32) NOT NULL CHECK (pseudonym ~ '^[0-9a-f]{32}$'),
    key_version            integer  NOT NULL CHECK (key_version > 0),
    birth_year             smallint NOT NULL CHECK (birth_year BETWEEN 1000 AND 9999),
    sex                    char(1)  NOT NULL CHECK (sex IN ('M', 'W', 'D', 'X')),
    insurance_status       smallint NOT NULL CHECK (insurance_status IN (1, 3, 5)),
    postal_prefix          char(2)  NOT NULL CHECK (postal_prefix ~ '^[0-9]{2}$'),
    -- Provider (optional): LANR or IK pseudonym, with the group and region
    -- digits the profile keeps; BSNR pseudonym for the practice.
    provider_pseudonym     char(32) CHECK (provider_pseudonym ~ '^[0-9a-f]{32}$'),
    provider_group         char(2)  CHECK (provider_group ~ '^[0-9]{2}$'),
    provider_region        char(2)  CHECK (provider_region ~ '^[0-9]{2}$'),
    practice_pseudonym     char(32) CHECK (practice_pseudonym ~ '^[0-9a-f]{32}$'),
    provider_postal_prefix char(2)  CHECK (provider_postal_prefix ~ '^[0-9]{2}$'),
    -- period, icd10, ops, ebm, atc, cost_cents, days (validated by the profile).
    service                jsonb    NOT NULL CHECK (jsonb_typeof(service) = 'object')
);
COMMENT ON TABLE sgb5.records IS 'pseudonymized records of profile sgb5; no identifiers';
-- Re-keying selects by version; recovery and reports select by delivery.
CREATE INDEX records_key_version ON sgb5.records (key_version);
CREATE INDEX records_delivery_ref ON sgb5.records (delivery_ref);

REVOKE ALL ON sgb5.records FROM PUBLIC;
-- vst-httpd may only add rows (INSERT or COPY, without RETURNING or ON
-- CONFLICT, which would need SELECT): a compromised front end cannot read
-- the store back. The identity column needs no sequence grant.
GRANT INSERT ON sgb5.records TO vst_httpd;
-- vst-admin re-keys: it reads rows and replaces pseudonyms and their key
-- version, nothing else. Analysts' read access is the operator's to grant
-- to their own roles (docs/database.md), never to these three.
GRANT SELECT ON sgb5.records TO vst_admin;
GRANT UPDATE (pseudonym, provider_pseudonym, practice_pseudonym, key_version)
    ON sgb5.records TO vst_admin;
