-- 0004_receipts: one receipt per accepted delivery.
--
-- Committing the receipt (together with its audit event) is the decision
-- point of the delivery commit protocol (DESIGN.md §7): a prepared store
-- transaction whose receipt exists is committed, one without is rolled back.
-- The link between the two is delivery_ref, never the client's delivery_id.

SET LOCAL ROLE vst_owner;

CREATE TABLE vst.receipts (
    client_id    integer     NOT NULL REFERENCES vst.clients (id),
    -- Chosen by the client, unique per client; the strict alphabet keeps it
    -- safe in URLs, logs and file names.
    delivery_id  text        NOT NULL CHECK (delivery_id ~ '^[A-Za-z0-9._-]{1,128}$'),
    -- Opaque random id: the only delivery reference the store ever sees, so
    -- the store cannot tell which insurer delivered a row.
    delivery_ref uuid        NOT NULL UNIQUE,
    profile      text        NOT NULL CHECK (profile ~ '^[a-z][a-z0-9_]{0,31}$'),
    record_count bigint      NOT NULL CHECK (record_count >= 0),
    -- Size of the request body, for operators' capacity reports (optional).
    body_bytes   bigint      CHECK (body_bytes >= 0),
    body_sha256  bytea       NOT NULL CHECK (octet_length(body_sha256) = 32),
    -- Pseudonym key version the rows were written with. Not a foreign key:
    -- vst-keyd is the authority on keys, key_versions only mirrors it.
    key_version  integer     NOT NULL CHECK (key_version > 0),
    received_at  timestamptz NOT NULL,
    stored_at    timestamptz NOT NULL,
    -- The delivery's audit event, appended in the same transaction.
    audit_seq    bigint      NOT NULL UNIQUE REFERENCES vst.audit_log (seq),
    -- vst-keyd's Ed25519 signature over the receipt.
    signature    bytea       NOT NULL CHECK (octet_length(signature) = 64),
    -- Fingerprint (SHA-256 of the raw 32-byte public key) of the signing key,
    -- so that receipts stay attributable after that key is replaced; NULL
    -- when the writer does not know it.
    sign_key_id  bytea       CHECK (octet_length(sign_key_id) = 32),
    PRIMARY KEY (client_id, delivery_id),
    CHECK (stored_at >= received_at)
);
COMMENT ON TABLE vst.receipts IS 'one signed receipt per accepted delivery; the commit decision';
CREATE INDEX receipts_received_at ON vst.receipts (received_at);

REVOKE ALL ON vst.receipts FROM PUBLIC;
-- vst-httpd writes receipts, reads them back for replays and GET, and looks
-- them up by delivery_ref when it resolves prepared store transactions.
-- Receipts are never changed or deleted.
GRANT SELECT, INSERT ON vst.receipts TO vst_httpd;
-- vst-admin reports on deliveries.
GRANT SELECT ON vst.receipts TO vst_admin;
