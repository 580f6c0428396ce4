-- 0013_group_decision_cost: a commit group's decision, and the attachment
-- of its signatures, at a fraction of their cost (issue 14).
--
-- Measured on the 2-core machine, vst.deliveries_stored (0012) cost the
-- trust DB about 0.4 ms of CPU per delivery, all of it under the audit
-- chain's lock, the one point every commit group passes: per event a call
-- of vst.audit_append (its lock, the lookup of the head, an INSERT calling
-- vst.audit_row_hash, whose SET clause saves and restores the
-- configuration on every call), per receipt an INSERT. And attaching a
-- group's signatures cost another 0.13 ms per receipt, an UPDATE each.
--
-- Here the chain is extended by vst.audit_append_many: one lock, one
-- lookup of the head, the hashes computed in a loop of plain expressions,
-- one INSERT for all the events. vst.audit_append becomes a call of it, so
-- one function still extends the chain. The hashed text is the canonical
-- form of docs/database.md, byte for byte: vst.audit_row_hash stays its
-- reference, vst-audit its twin in C, and test_migrations checks that
-- every appended row's hash is vst.audit_row_hash's. The events of one
-- call share one `at`, the time after the lock was granted. The receipts
-- of a group are one INSERT, their signatures one UPDATE.

SET LOCAL ROLE vst_owner;

CREATE FUNCTION vst.audit_append_many(p_actor text, p_actions text[], p_clients text[],
                                      p_details jsonb[])
RETURNS bigint[]
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_n      integer := coalesce(cardinality(p_actions), 0);
    v_seq    bigint;
    v_prev   bytea;
    v_at     timestamptz;
    v_at_txt text;
    v_user   text := session_user;
    v_d      jsonb;
    v_seqs   bigint[] := '{}';
    v_prevs  bytea[] := '{}';
    v_hashes bytea[] := '{}';
    v_dets   jsonb[] := '{}';
BEGIN
    IF v_n = 0 OR cardinality(p_clients) IS DISTINCT FROM v_n
       OR cardinality(p_details) IS DISTINCT FROM v_n THEN
        RAISE EXCEPTION 'vst.audit_append_many needs one client and details per action'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'vst.audit_append needs a READ COMMITTED transaction, not %',
            current_setting('transaction_isolation');
    END IF;
    -- ('vst\0', 2); the migration runner uses ('vst\0', 1).
    PERFORM pg_advisory_xact_lock(1987277824, 2);

    SELECT l.seq, l.hash INTO v_seq, v_prev
      FROM vst.audit_log l ORDER BY l.seq DESC LIMIT 1;
    IF NOT FOUND THEN
        v_seq := 0;
        v_prev := decode(repeat('00', 32), 'hex');   -- the chain's genesis
    END IF;
    -- Read after the lock so that `at` never goes backwards along the chain
    -- (unless the system clock does).
    v_at := clock_timestamp();
    v_at_txt := to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    FOR i IN 1 .. v_n LOOP
        v_d := coalesce(p_details[i], '{}'::jsonb);
        v_seq := v_seq + 1;
        v_seqs[i] := v_seq;
        v_prevs[i] := v_prev;
        v_dets[i] := v_d;
        -- The canonical form of vst.audit_row_hash (0003), with `at` formatted once.
        v_prev := sha256(v_prev || convert_to(
                      v_seq::text || E'\n' || v_at_txt || E'\n' || v_user || E'\n' ||
                      p_actor || E'\n' || p_actions[i] || E'\n' ||
                      coalesce(p_clients[i], '') || E'\n' || v_d::text, 'UTF8'));
        v_hashes[i] := v_prev;
    END LOOP;

    INSERT INTO vst.audit_log (seq, at, db_user, actor, action, client, details, prev_hash, hash)
    SELECT u.seq, v_at, v_user, p_actor, u.action, u.client, u.details, u.prev, u.hash
      FROM unnest(v_seqs, p_actions, p_clients, v_dets, v_prevs, v_hashes)
           AS u(seq, action, client, details, prev, hash);
    RETURN v_seqs;
END
$$;

-- The one-event form (0003), for every other caller.
CREATE OR REPLACE FUNCTION vst.audit_append(p_actor text, p_action text, p_client text,
                                            p_details jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (vst.audit_append_many(p_actor, ARRAY[p_action], ARRAY[p_client], ARRAY[p_details]))[1]
$$;

-- The decision of a commit group, as 0012 defines it (the same argument,
-- result and refusals), with one call of vst.audit_append_many for all its
-- events and one INSERT for all its receipts.
CREATE OR REPLACE FUNCTION vst.deliveries_stored(p_commit_ref uuid, p_actor text, p_deliveries jsonb)
RETURNS bigint[]
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_actions text[] := '{}';
    v_clients text[] := '{}';
    v_details jsonb[] := '{}';
    v_stored  integer[] := '{}';   -- per delivery, the index of its stored event
    v_seqs    bigint[];
    v_d       jsonb;
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
            v_actions := v_actions || 'delivery.received'::text;
            v_clients := v_clients || (v_d ->> 'client');
            v_details := v_details || (v_d -> 'received');
        END IF;
        v_actions := v_actions || 'delivery.stored'::text;
        v_clients := v_clients || (v_d ->> 'client');
        v_details := v_details || (v_d -> 'stored');
        v_stored := v_stored || cardinality(v_actions);
    END LOOP;
    v_seqs := vst.audit_append_many(p_actor, v_actions, v_clients, v_details);

    INSERT INTO vst.receipts (client_id, delivery_id, delivery_ref, profile, record_count,
                              body_bytes, body_sha256, key_version, received_at, stored_at,
                              audit_seq, withheld_count, receipt_version, commit_ref)
    SELECT d.client_id, d.delivery_id, d.ref, d.profile, d.record_count, d.body_bytes,
           decode(d.body_sha256, 'hex'), d.key_version,
           'epoch'::timestamptz + d.received_us * interval '1 microsecond',
           'epoch'::timestamptz + d.stored_us * interval '1 microsecond',
           v_seqs[v_stored[d.i]], d.withheld_count, 2, p_commit_ref
      FROM ROWS FROM (jsonb_to_recordset(p_deliveries) AS (
               client_id integer, delivery_id text, ref uuid, profile text, record_count bigint,
               body_bytes bigint, body_sha256 text, key_version integer, received_us bigint,
               stored_us bigint, withheld_count bigint))
           WITH ORDINALITY AS d(client_id, delivery_id, ref, profile, record_count, body_bytes,
                                body_sha256, key_version, received_us, stored_us, withheld_count, i)
     ORDER BY d.i;
    RETURN ARRAY(SELECT v_seqs[k] FROM unnest(v_stored) WITH ORDINALITY AS u(k, i) ORDER BY u.i);
END
$$;

-- Attaches keyd's signatures to unsigned receipts (0006), many in one
-- statement; returns how many it attached (a receipt already signed, by a
-- concurrent signer, is left as it is). vst.receipt_attach_signature, the
-- one-receipt form, becomes a call of it.
CREATE FUNCTION vst.receipts_attach_signatures(p_refs uuid[], p_signatures bytea[],
                                               p_key_id bytea)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_n integer;
BEGIN
    IF cardinality(p_refs) IS DISTINCT FROM cardinality(p_signatures) THEN
        RAISE EXCEPTION 'vst.receipts_attach_signatures needs a signature per receipt'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE vst.receipts r SET signature = u.sig, sign_key_id = p_key_id
      FROM unnest(p_refs, p_signatures) AS u(ref, sig)
     WHERE r.delivery_ref = u.ref AND r.signature IS NULL;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;

CREATE OR REPLACE FUNCTION vst.receipt_attach_signature(p_ref uuid, p_signature bytea,
                                                        p_key_id bytea)
RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT vst.receipts_attach_signatures(ARRAY[p_ref], ARRAY[p_signature], p_key_id) = 1
$$;

-- Only the owner's functions call vst.audit_append_many; vst-httpd gets
-- the plural attachment as it has the singular one.
REVOKE ALL ON FUNCTION vst.audit_append_many(text, text[], text[], jsonb[]),
    vst.receipts_attach_signatures(uuid[], bytea[], bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vst.receipts_attach_signatures(uuid[], bytea[], bytea) TO vst_httpd;
