-- 0004_cheaper_checks: the same value checks as 0002/0003, without regular
-- expressions, and no index on key_version.
--
-- Why: every row of a delivery (COPY) and of a re-key (UPDATE) passes these
-- CHECKs. The anchored regexes cost ~2 µs each per row — about a third of
-- the PostgreSQL backend's time in `vst-admin rekey` (tests/bench,
-- docs/benchmarks.md). `length(x) = n AND x !~ '[^...]'` accepts exactly
-- the same values at a fraction of the cost. The key_version index served
-- nothing (re-keying walks the primary key; counts per version scan the
-- table once) but cost an index entry per insert and per re-keyed row.

SET LOCAL ROLE vst_owner;

ALTER TABLE sgb5.records
    DROP CONSTRAINT records_pseudonym_check,
    DROP CONSTRAINT records_provider_pseudonym_check,
    DROP CONSTRAINT records_practice_pseudonym_check,
    DROP CONSTRAINT records_postal_prefix_check,
    DROP CONSTRAINT records_provider_group_check,
    DROP CONSTRAINT records_provider_region_check,
    DROP CONSTRAINT records_provider_postal_prefix_check,
    ADD CONSTRAINT records_pseudonym_check
        CHECK (length(pseudonym) = 32 AND pseudonym !~ '[^0-9a-f]'),
    ADD CONSTRAINT records_provider_pseudonym_check
        CHECK (length(provider_pseudonym) = 32 AND provider_pseudonym !~ '[^0-9a-f]'),
    ADD CONSTRAINT records_practice_pseudonym_check
        CHECK (length(practice_pseudonym) = 32 AND practice_pseudonym !~ '[^0-9a-f]'),
    ADD CONSTRAINT records_postal_prefix_check
        CHECK (length(postal_prefix) = 2 AND postal_prefix !~ '[^0-9]'),
    ADD CONSTRAINT records_provider_group_check
        CHECK (length(provider_group) = 2 AND provider_group !~ '[^0-9]'),
    ADD CONSTRAINT records_provider_region_check
        CHECK (length(provider_region) = 2 AND provider_region !~ '[^0-9]'),
    ADD CONSTRAINT records_provider_postal_prefix_check
        CHECK (length(provider_postal_prefix) = 2 AND provider_postal_prefix !~ '[^0-9]');

ALTER TABLE measles.records
    DROP CONSTRAINT records_pseudonym_check,
    DROP CONSTRAINT records_postal_prefix_check,
    ADD CONSTRAINT records_pseudonym_check
        CHECK (length(pseudonym) = 32 AND pseudonym !~ '[^0-9a-f]'),
    ADD CONSTRAINT records_postal_prefix_check
        CHECK (length(postal_prefix) = 2 AND postal_prefix !~ '[^0-9]');

DROP INDEX sgb5.records_key_version;
DROP INDEX measles.records_key_version;
