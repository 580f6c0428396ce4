-- 0010_cases: the cases of disclosed pseudonyms and objections (issue 12;
-- DESIGN.md §12). One row per case, written by vst-admin together with
-- the case's audit event: what `vst-admin disclosed list` and
-- `objection list` show. A case never names a pseudonym, an inner value
-- or an identifier: vst-keyd alone keeps the keyed value, sealed in its
-- keystore; the case id is keyd's (8 random bytes, 16 hex digits).

SET LOCAL ROLE vst_owner;

CREATE TABLE vst.cases (
    case_id     text        PRIMARY KEY CHECK (case_id ~ '^[0-9a-f]{16}$'),
    kind        text        NOT NULL CHECK (kind IN ('disclosed', 'objection')),
    profile     text        NOT NULL CHECK (profile ~ '^[a-z][a-z0-9_]{0,31}$'),
    -- The operator's words. A last line of defence against pasting the very
    -- pseudonym or KVNR the case is about (vst-admin screens it first).
    reason      text        NOT NULL CHECK (length(reason) BETWEEN 1 AND 500
                                            AND reason !~ '[0-9a-fA-F]{32}'
                                            AND reason !~ '[A-Za-z][0-9]{9}'),
    -- open: keyd holds the case, rows are being moved or deleted; done: all
    -- rows handled and the audit event appended.
    state       text        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'done')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    rows        bigint      NOT NULL DEFAULT 0 CHECK (rows >= 0),
    audit_seq   bigint,
    CHECK ((state = 'done') = (finished_at IS NOT NULL))
);
COMMENT ON TABLE vst.cases IS 'disclosed pseudonyms and objections (counts only, no pseudonym)';
REVOKE ALL ON vst.cases FROM PUBLIC;
-- No DELETE for anyone but the owner: history stays.
GRANT SELECT, INSERT ON vst.cases TO vst_admin;
GRANT UPDATE (state, finished_at, rows, audit_seq) ON vst.cases TO vst_admin;
