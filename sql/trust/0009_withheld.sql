-- 0009_withheld: receipts count withheld records (issue 12, DESIGN.md §12).
--
-- A person who objected has their keyed inner value recorded as withheld in
-- vst-keyd. Their later records are validated like any other but not
-- written; the delivery's receipt says how many (withheld_count), and
-- record_count counts what was stored. The receipt's signed bytes gain the
-- count: a receipt signed with it is a v2 receipt ("vst-receipt-v2",
-- server/core/signed.h). One signed before is v1, and it must keep
-- verifying as what it was signed as, so each row records its version:
--
--   - every receipt signed before this migration is v1, with no withheld
--     records (its signature covers no count);
--   - one committed before it but not signed yet (an interruption between
--     the decision and the signature) has never been handed out: it becomes
--     v2 with withheld_count 0 — true, nothing was withheld then — and is
--     signed as such (vst-keyd signs v2 receipts only);
--   - every later receipt is v2 (vst.receipt_insert below).
--
-- So a v1 row is always signed; the check below keeps it so.

SET LOCAL ROLE vst_owner;

ALTER TABLE vst.receipts
    ADD COLUMN withheld_count bigint NOT NULL DEFAULT 0 CHECK (withheld_count >= 0),
    ADD COLUMN receipt_version smallint NOT NULL DEFAULT 1 CHECK (receipt_version IN (1, 2));

-- The immutability trigger (0006) allows no other change; it is off for
-- this one statement of the migration's own transaction.
ALTER TABLE vst.receipts DISABLE TRIGGER receipts_immutable;
UPDATE vst.receipts SET receipt_version = 2 WHERE signature IS NULL;
ALTER TABLE vst.receipts ENABLE TRIGGER receipts_immutable;

ALTER TABLE vst.receipts
    ALTER COLUMN receipt_version SET DEFAULT 2,
    -- A v1 receipt's signed bytes have no withheld count, and no v1 receipt
    -- is signed any more: a v1 row is signed and states no withheld record.
    ADD CONSTRAINT receipts_v1_signed
        CHECK (receipt_version = 2 OR (signature IS NOT NULL AND withheld_count = 0));
COMMENT ON COLUMN vst.receipts.record_count IS 'records of the delivery stored';
COMMENT ON COLUMN vst.receipts.withheld_count IS
    'valid records of the delivery not stored because their person objected (DESIGN.md §12); '
    '0 in a v1 receipt';
COMMENT ON COLUMN vst.receipts.receipt_version IS
    'the receipt format its signature covers: 1 signed before issue 12, 2 (with withheld_count) '
    'since';

-- The trigger compared the columns it knew: it now covers the two new ones
-- too, so attaching a signature still changes nothing else.
CREATE OR REPLACE FUNCTION vst.receipts_forbid_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.signature IS NULL AND NEW.signature IS NOT NULL
       AND (NEW.client_id, NEW.delivery_id, NEW.delivery_ref, NEW.profile, NEW.record_count,
            NEW.body_bytes, NEW.body_sha256, NEW.key_version, NEW.received_at, NEW.stored_at,
            NEW.audit_seq, NEW.withheld_count, NEW.receipt_version)
           IS NOT DISTINCT FROM
           (OLD.client_id, OLD.delivery_id, OLD.delivery_ref, OLD.profile, OLD.record_count,
            OLD.body_bytes, OLD.body_sha256, OLD.key_version, OLD.received_at, OLD.stored_at,
            OLD.audit_seq, OLD.withheld_count, OLD.receipt_version) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'receipts are immutable (only a missing signature may be attached)'
        USING ERRCODE = 'insufficient_privilege';
END
$$;
REVOKE ALL ON FUNCTION vst.receipts_forbid_change() FROM PUBLIC;

-- vst-httpd's receipt row (0008) gains the withheld count and is v2. The
-- function of 0008 goes: vst-httpd calls this one, and no v1 receipt is
-- made any more. (A vst-httpd from before issue 12 that still ran against
-- this schema would fail its decision and store nothing: 503, never a row
-- without its receipt.)
DROP FUNCTION vst.receipt_insert(integer, text, uuid, text, bigint, bigint, bytea, integer,
                                 bigint, bigint, bigint);
CREATE FUNCTION vst.receipt_insert(p_client_id integer, p_delivery_id text, p_ref uuid,
                                   p_profile text, p_record_count bigint, p_body_bytes bigint,
                                   p_body_sha256 bytea, p_key_version integer,
                                   p_received_us bigint, p_stored_us bigint, p_audit_seq bigint,
                                   p_withheld_count bigint)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO vst.receipts (client_id, delivery_id, delivery_ref, profile, record_count,
                              body_bytes, body_sha256, key_version, received_at, stored_at,
                              audit_seq, withheld_count, receipt_version)
    VALUES (p_client_id, p_delivery_id, p_ref, p_profile, p_record_count, p_body_bytes,
            p_body_sha256, p_key_version,
            'epoch'::timestamptz + p_received_us * interval '1 microsecond',
            'epoch'::timestamptz + p_stored_us * interval '1 microsecond',
            p_audit_seq, p_withheld_count, 2)
$$;
REVOKE ALL ON FUNCTION vst.receipt_insert(integer, text, uuid, text, bigint, bigint, bytea,
                                          integer, bigint, bigint, bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vst.receipt_insert(integer, text, uuid, text, bigint, bigint, bytea,
                                             integer, bigint, bigint, bigint, bigint)
    TO vst_httpd;
