-- 0007_providers: providers as the law pseudonymizes them (issue 10;
-- DESIGN.md §5; docs/identifiers.md, docs/profiles.md).
--
-- Placeholder provider numbers (a LANR for dentists and midwives, the
-- hospital discharge prefix, the substitute practice number) pass every
-- check digit but name no provider. vst-httpd no longer pseudonymizes them:
-- the pseudonym column stays NULL and the placeholder's name is kept, one
-- column per pseudonym column, so that a record with a placeholder LANR and
-- a real BSNR (or the other way round) says which one was a placeholder.
-- The names are the profile's placeholder table; a name outside it, or a
-- placeholder next to a pseudonym of the same column, is refused here too.
--
-- The insured person's year of death (optional) is kept as death_year.
--
-- No grant changes: vst_httpd inserts whole rows (its INSERT is on the
-- table), vst_admin reads only the columns 0005 granted it, so it sees none
-- of these.

SET LOCAL ROLE vst_owner;

ALTER TABLE sgb5.records
    ADD COLUMN provider_placeholder text
        CONSTRAINT records_provider_placeholder_check
        CHECK (provider_placeholder IN ('non_physician', 'unassigned_physician',
                                        'hospital_discharge')),
    ADD COLUMN practice_placeholder text
        CONSTRAINT records_practice_placeholder_check
        CHECK (practice_placeholder IN ('substitute_practice')),
    ADD COLUMN death_year smallint
        CONSTRAINT records_death_year_check
        CHECK (death_year BETWEEN 1000 AND 9999 AND death_year >= birth_year),
    ADD CONSTRAINT records_provider_placeholder_alone
        CHECK (provider_placeholder IS NULL OR provider_pseudonym IS NULL),
    ADD CONSTRAINT records_practice_placeholder_alone
        CHECK (practice_placeholder IS NULL OR practice_pseudonym IS NULL);

COMMENT ON COLUMN sgb5.records.provider_placeholder IS
    'name of the placeholder LANR (profile sgb5 "placeholders"); provider_pseudonym is then NULL';
COMMENT ON COLUMN sgb5.records.practice_placeholder IS
    'name of the placeholder BSNR (profile sgb5 "placeholders"); practice_pseudonym is then NULL';
COMMENT ON COLUMN sgb5.records.death_year IS 'year of the insured person''s death, if any';
