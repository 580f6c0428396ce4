-- 0012_commit_groups: many small deliveries decided together (issue 14,
-- DESIGN.md §14).
--
-- vst-httpd commits deliveries that fit one batch in groups: one store
-- transaction holds the rows of every delivery of the group and is
-- prepared once as "vst:<commit_ref>"; one trust-DB transaction — this
-- function, one statement — appends each delivery's events and inserts its
-- receipt; then one COMMIT PREPARED. Recovery decides a prepared store
-- transaction by the receipts that name it: a receipt whose delivery_ref
-- or commit_ref is the transaction's uuid means committed, none means
-- rolled back (docs/architecture.md, "Commit groups and exactly once"). All
-- receipts of a group commit in one transaction, so either all of them
-- exist or none.

SET LOCAL ROLE vst_owner;

ALTER TABLE vst.receipts ADD COLUMN commit_ref uuid;
COMMENT ON COLUMN vst.receipts.commit_ref IS
    'the commit group whose prepared store transaction ("vst:<commit_ref>") holds the rows; '
    'NULL: the delivery was committed alone, as "vst:<delivery_ref>"';
CREATE INDEX receipts_commit_ref ON vst.receipts (commit_ref) WHERE commit_ref IS NOT NULL;

-- The immutability trigger (0006, 0009) covers the new column too.
CREATE OR REPLACE FUNCTION vst.receipts_forbid_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.signature IS NULL AND NEW.signature IS NOT NULL
       AND (NEW.client_id, NEW.delivery_id, NEW.delivery_ref, NEW.profile, NEW.record_count,
            NEW.body_bytes, NEW.body_sha256, NEW.key_version, NEW.received_at, NEW.stored_at,
            NEW.audit_seq, NEW.withheld_count, NEW.receipt_version, NEW.commit_ref)
           IS NOT DISTINCT FROM
           (OLD.client_id, OLD.delivery_id, OLD.delivery_ref, OLD.profile, OLD.record_count,
            OLD.body_bytes, OLD.body_sha256, OLD.key_version, OLD.received_at, OLD.stored_at,
            OLD.audit_seq, OLD.withheld_count, OLD.receipt_version, OLD.commit_ref) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'receipts are immutable (only a missing signature may be attached)'
        USING ERRCODE = 'insufficient_privilege';
END
$$;
REVOKE ALL ON FUNCTION vst.receipts_forbid_change() FROM PUBLIC;

-- The decision of a commit group, in one statement: for each delivery of
-- p_deliveries (a JSON array, in order) its delivery.received event (when
-- the member "received" holds its details; vst-httpd defers it for a
-- delivery that fits one batch), its delivery.stored event (member
-- "stored"), and its receipt (v2) naming p_commit_ref and the stored
-- event's seq. Returns the stored events' seqs in the order of the array.
--
-- The events go through vst.audit_append, the one function that extends
-- the chain (0003): its lock is taken by the first and held by the
-- transaction, so the group's events form one run of the chain. A
-- delivery member:
--   {"client_id": 1, "client": "name", "delivery_id": "...", "ref": "<uuid>",
--    "profile": "sgb5", "record_count": 1, "withheld_count": 0,
--    "body_bytes": 454, "body_sha256": "<64 hex>", "key_version": 1,
--    "received_us": ..., "stored_us": ..., "received": {...} | null,
--    "stored": {...}}
-- vst-httpd screens every details object for identifier-shaped values
-- before it calls this (vst_audit_screen), as vst_audit_append does.
CREATE FUNCTION vst.deliveries_stored(p_commit_ref uuid, p_actor text, p_deliveries jsonb)
RETURNS bigint[]
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_seq bigint;
    v_out bigint[] := '{}';
    v_d   jsonb;
BEGIN
    IF jsonb_typeof(p_deliveries) IS DISTINCT FROM 'array' OR jsonb_array_length(p_deliveries) = 0
    THEN
        RAISE EXCEPTION 'vst.deliveries_stored needs a non-empty array of deliveries'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR v_d IN SELECT e.value FROM jsonb_array_elements(p_deliveries) AS e LOOP
        IF jsonb_typeof(v_d -> 'stored') IS DISTINCT FROM 'object' THEN
            RAISE EXCEPTION 'a delivery of the group has no delivery.stored details'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF jsonb_typeof(v_d -> 'received') = 'object' THEN
            PERFORM vst.audit_append(p_actor, 'delivery.received', v_d ->> 'client',
                                     v_d -> 'received');
        END IF;
        v_seq := vst.audit_append(p_actor, 'delivery.stored', v_d ->> 'client', v_d -> 'stored');
        INSERT INTO vst.receipts (client_id, delivery_id, delivery_ref, profile, record_count,
                                  body_bytes, body_sha256, key_version, received_at, stored_at,
                                  audit_seq, withheld_count, receipt_version, commit_ref)
        VALUES ((v_d ->> 'client_id')::integer, v_d ->> 'delivery_id', (v_d ->> 'ref')::uuid,
                v_d ->> 'profile', (v_d ->> 'record_count')::bigint,
                (v_d ->> 'body_bytes')::bigint, decode(v_d ->> 'body_sha256', 'hex'),
                (v_d ->> 'key_version')::integer,
                'epoch'::timestamptz + (v_d ->> 'received_us')::bigint * interval '1 microsecond',
                'epoch'::timestamptz + (v_d ->> 'stored_us')::bigint * interval '1 microsecond',
                v_seq, (v_d ->> 'withheld_count')::bigint, 2, p_commit_ref);
        v_out := v_out || v_seq;
    END LOOP;
    RETURN v_out;
END
$$;
REVOKE ALL ON FUNCTION vst.deliveries_stored(uuid, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vst.deliveries_stored(uuid, text, jsonb) TO vst_httpd;
