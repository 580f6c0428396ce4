-- 0002_clients_keys: schema vst of the trust DB, the client registry, the
-- key-version metadata and the re-key bookkeeping.

-- Connecting is granted per role (0001 revoked it from PUBLIC).
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO vst_httpd, vst_admin, vst_auditor',
                   current_database());
END
$$;

CREATE SCHEMA vst AUTHORIZATION vst_owner;
COMMENT ON SCHEMA vst IS 'vst trust DB: clients, receipts, key metadata, audit log';
REVOKE ALL ON SCHEMA vst FROM PUBLIC;
GRANT USAGE ON SCHEMA vst TO vst_httpd, vst_admin, vst_auditor;

-- From here on objects are created as vst_owner, so it owns them without a
-- single ALTER ... OWNER that could be forgotten. The runner resets the role.
SET LOCAL ROLE vst_owner;

-- Insurers (and other senders) allowed to deliver. A client is identified by
-- its TLS certificate's public key, not by a name it sends.
CREATE TABLE vst.clients (
    id               integer     GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Operator-chosen label; no control characters so it cannot break a log
    -- line or the audit log's line-based canonical form.
    name             text        NOT NULL UNIQUE
                     CHECK (length(name) BETWEEN 1 AND 128 AND name !~ '[[:cntrl:]]'),
    -- Institutionskennzeichen of the insurer; its check digit is validated by
    -- vst-admin (DESIGN.md §4), the table only guards the shape.
    ik               char(9)     NOT NULL CHECK (ik ~ '^[0-9]{9}$'),
    -- SHA-256 of the client certificate's DER SubjectPublicKeyInfo: a renewed
    -- certificate for the same key keeps working, a new key needs a new entry.
    cert_fingerprint bytea       NOT NULL UNIQUE CHECK (octet_length(cert_fingerprint) = 32),
    state            text        NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'revoked')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    revoked_at       timestamptz,
    CHECK ((state = 'revoked') = (revoked_at IS NOT NULL))
);
COMMENT ON TABLE vst.clients IS 'senders allowed to deliver, identified by certificate key fingerprint';
CREATE INDEX clients_ik ON vst.clients (ik);

-- Which pseudonym key versions exist and what state each is in. Metadata
-- only: the keys themselves never leave vst-keyd's keystore.
--   current  used for new deliveries (at most one)
--   active   still present in the store, being re-keyed away from
--   retired  destroyed in vst-keyd; no store row may carry it
CREATE TABLE vst.key_versions (
    version    integer     PRIMARY KEY CHECK (version > 0),
    state      text        NOT NULL CHECK (state IN ('current', 'active', 'retired')),
    created_at timestamptz NOT NULL DEFAULT now(),
    retired_at timestamptz,
    CHECK ((state = 'retired') = (retired_at IS NOT NULL))
);
COMMENT ON TABLE vst.key_versions IS 'pseudonym key versions: metadata only, never key material';
-- Rotation demotes the old current version before promoting the new one, in
-- one transaction; this index makes two current versions impossible.
CREATE UNIQUE INDEX key_versions_one_current ON vst.key_versions ((true)) WHERE state = 'current';

-- One row per `vst-admin rekey` run. The run walks each store table in id
-- order; cursor_table/cursor_id say how far it got, so an interrupted run can
-- resume (rows already re-keyed carry to_version anyway, so resuming is safe
-- even from an older cursor).
CREATE TABLE vst.rekey_runs (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_version integer     NOT NULL CHECK (from_version > 0),
    to_version   integer     NOT NULL CHECK (to_version > from_version),
    state        text        NOT NULL DEFAULT 'running'
                 CHECK (state IN ('running', 'done', 'failed', 'aborted')),
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    rows_done    bigint      NOT NULL DEFAULT 0 CHECK (rows_done >= 0),
    cursor_table text,                              -- e.g. 'sgb5.records'
    cursor_id    bigint,                            -- last store id re-keyed there
    error        text,                              -- why it failed, for the operator
    CHECK ((state = 'running') = (finished_at IS NULL))
);
COMMENT ON TABLE vst.rekey_runs IS 'resumable re-key runs of the store and their progress';
-- Two concurrent re-key runs would fight over the same rows.
CREATE UNIQUE INDEX rekey_runs_one_running ON vst.rekey_runs ((true)) WHERE state = 'running';

REVOKE ALL ON vst.clients, vst.key_versions, vst.rekey_runs FROM PUBLIC;

-- vst-httpd looks a client up by certificate fingerprint and reads the
-- current key version; it changes neither.
GRANT SELECT ON vst.clients, vst.key_versions TO vst_httpd;

-- vst-admin registers and revokes clients (never renames or re-keys one:
-- a new certificate key is a new client row), and keeps key metadata and
-- re-key runs. No DELETE anywhere: history stays.
GRANT SELECT, INSERT ON vst.clients TO vst_admin;
GRANT UPDATE (state, revoked_at) ON vst.clients TO vst_admin;
GRANT SELECT, INSERT ON vst.key_versions TO vst_admin;
GRANT UPDATE (state, retired_at) ON vst.key_versions TO vst_admin;
GRANT SELECT, INSERT ON vst.rekey_runs TO vst_admin;
GRANT UPDATE (state, finished_at, rows_done, cursor_table, cursor_id, error)
    ON vst.rekey_runs TO vst_admin;
