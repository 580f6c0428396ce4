-- 0006_receipt_signing: the receipt is signed after the decision, not under
-- the audit appenders' lock (issue 8, finding 4).
--
-- A delivery's receipt row and its delivery.stored audit event commit in one
-- trust-DB transaction: that commit is the decision (DESIGN.md §7). The
-- receipt's signature covers the event's sequence number, which is known
-- only once vst.audit_append holds the appenders' lock — and that lock is
-- held to the end of the transaction. Asking vst-keyd for the signature
-- inside that transaction made every audit writer wait for keyd (a stopped
-- keyd stopped them all). So the receipt is committed unsigned, keyd signs
-- it afterwards, and the signature is attached here, once. Until then the
-- receipt is not handed out: a replay, a GET or vst-httpd's background
-- thread signs it first.

SET LOCAL ROLE vst_owner;

ALTER TABLE vst.receipts ALTER COLUMN signature DROP NOT NULL;
COMMENT ON COLUMN vst.receipts.signature IS
    'vst-keyd''s Ed25519 signature over the receipt; NULL only between the commit of the '
    'receipt and the signing right after it (vst.receipt_attach_signature)';
CREATE INDEX receipts_unsigned ON vst.receipts (delivery_ref) WHERE signature IS NULL;

-- Receipts never change, except that an unsigned one gets its signature
-- (and the signing key's id) exactly once. Enforced for every role,
-- the owner's functions included.
CREATE FUNCTION vst.receipts_forbid_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.signature IS NULL AND NEW.signature IS NOT NULL
       AND (NEW.client_id, NEW.delivery_id, NEW.delivery_ref, NEW.profile, NEW.record_count,
            NEW.body_bytes, NEW.body_sha256, NEW.key_version, NEW.received_at, NEW.stored_at,
            NEW.audit_seq)
           IS NOT DISTINCT FROM
           (OLD.client_id, OLD.delivery_id, OLD.delivery_ref, OLD.profile, OLD.record_count,
            OLD.body_bytes, OLD.body_sha256, OLD.key_version, OLD.received_at, OLD.stored_at,
            OLD.audit_seq) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'receipts are immutable (only a missing signature may be attached)'
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER receipts_immutable BEFORE UPDATE ON vst.receipts
    FOR EACH ROW EXECUTE FUNCTION vst.receipts_forbid_change();

-- Attaches keyd's signature to an unsigned receipt; false when the receipt
-- is unknown or already signed (a concurrent signer was first).
CREATE FUNCTION vst.receipt_attach_signature(p_ref uuid, p_signature bytea, p_key_id bytea)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE vst.receipts SET signature = p_signature, sign_key_id = p_key_id
     WHERE delivery_ref = p_ref AND signature IS NULL;
    RETURN FOUND;
END
$$;
REVOKE ALL ON FUNCTION vst.receipts_forbid_change() FROM PUBLIC;
REVOKE ALL ON FUNCTION vst.receipt_attach_signature(uuid, bytea, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vst.receipt_attach_signature(uuid, bytea, bytea) TO vst_httpd;
