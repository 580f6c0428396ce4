-- 0003_audit_log: the hash-chained, append-only audit log (DESIGN.md §8),
-- its signed checkpoints, and the only functions that write them.
--
-- Append-only is enforced twice: no role is granted UPDATE, DELETE or
-- TRUNCATE, and triggers raise on those operations for everyone, including
-- the owner and superusers. Only disabling triggers (e.g. a superuser's
-- session_replication_role = replica) gets past them; the hash chain and
-- the signed checkpoints are what make such tampering visible to
-- `vst-audit verify`. The canonical form hashed here is specified in
-- docs/database.md and must stay byte-for-byte in step with vst-audit.

SET LOCAL ROLE vst_owner;

CREATE TABLE vst.audit_log (
    -- Gapless: assigned by vst.audit_append under a lock, never by a
    -- sequence (a sequence skips values on rollback, and a gap would be
    -- indistinguishable from a deleted row).
    seq       bigint      PRIMARY KEY CHECK (seq > 0),
    at        timestamptz NOT NULL,
    -- The database login that appended the row (session_user), recorded by
    -- the function, not claimed by the caller.
    db_user   text        NOT NULL,
    actor     text        NOT NULL,   -- program/person as the caller names it
    action    text        NOT NULL,   -- e.g. delivery.stored, client.revoked
    client    text,                   -- client name the event concerns, if any
    details   jsonb       NOT NULL DEFAULT '{}',
    prev_hash bytea       NOT NULL CHECK (octet_length(prev_hash) = 32),
    hash      bytea       NOT NULL CHECK (octet_length(hash) = 32),
    -- The canonical form joins fields with newlines: no field but details
    -- may contain a control character, client is NULL rather than empty,
    -- so two different rows can never have the same canonical text.
    CHECK (length(db_user) BETWEEN 1 AND 64 AND db_user !~ '[[:cntrl:]]'),
    CHECK (length(actor) BETWEEN 1 AND 128 AND actor !~ '[[:cntrl:]]'),
    CHECK (length(action) BETWEEN 1 AND 64 AND action !~ '[[:cntrl:]]'),
    CHECK (client IS NULL OR (length(client) BETWEEN 1 AND 128 AND client !~ '[[:cntrl:]]')),
    CHECK (jsonb_typeof(details) = 'object')
);
COMMENT ON TABLE vst.audit_log IS
    'append-only, hash-chained audit log; never holds an identifier or pseudonym';
CREATE INDEX audit_log_at ON vst.audit_log (at);
CREATE INDEX audit_log_action ON vst.audit_log (action, at);

-- Chain heads signed by vst-keyd (DESIGN.md §8). The signature is checked by
-- vst-audit, not here: the database never holds the public key it trusts.
CREATE TABLE vst.audit_checkpoints (
    seq       bigint      PRIMARY KEY REFERENCES vst.audit_log (seq),
    head      bytea       NOT NULL CHECK (octet_length(head) = 32),   -- audit_log.hash at seq
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    signature bytea       NOT NULL CHECK (octet_length(signature) = 64), -- Ed25519
    key_id    bytea       NOT NULL CHECK (octet_length(key_id) = 32)  -- SHA-256 of the raw 32-byte public key
);
COMMENT ON TABLE vst.audit_checkpoints IS 'audit chain heads signed by vst-keyd; append-only';

-- Raised by the append-only triggers.
CREATE FUNCTION vst.audit_forbid_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only: % is not allowed', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON vst.audit_log
    FOR EACH ROW EXECUTE FUNCTION vst.audit_forbid_change();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON vst.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION vst.audit_forbid_change();
CREATE TRIGGER audit_checkpoints_no_update_delete
    BEFORE UPDATE OR DELETE ON vst.audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION vst.audit_forbid_change();
CREATE TRIGGER audit_checkpoints_no_truncate
    BEFORE TRUNCATE ON vst.audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION vst.audit_forbid_change();

-- The row hash, exactly as documented in docs/database.md ("Audit log").
-- vst-audit recomputes it in C from the columns it fetches; change it only
-- together with vst-audit, in a new migration, never by editing this one.
CREATE FUNCTION vst.audit_row_hash(prev_hash bytea, seq bigint, at timestamptz,
                                   db_user text, actor text, action text,
                                   client text, details jsonb)
RETURNS bytea
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT sha256(prev_hash || convert_to(
               seq::text || E'\n' ||
               to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || E'\n' ||
               db_user || E'\n' ||
               actor || E'\n' ||
               action || E'\n' ||
               coalesce(client, '') || E'\n' ||
               details::text,
               'UTF8'))
$$;

-- Appends one event and returns its seq. The only way into the log.
--
-- Appenders are serialised by a transaction-level advisory lock held until
-- the caller commits or rolls back, so seq is gapless (a rolled-back append
-- frees its number for the next one), the chain has no forks, and seq order
-- is commit order. Call it late in the transaction: the lock is held to the
-- end. READ COMMITTED is required: after the lock is granted each statement
-- takes a fresh snapshot that shows the previous appender's row; an older
-- snapshot would not.
CREATE FUNCTION vst.audit_append(p_actor text, p_action text, p_client text,
                                 p_details jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_seq     bigint;
    v_prev    bytea;
    v_at      timestamptz;
    v_details jsonb := coalesce(p_details, '{}'::jsonb);
BEGIN
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
    v_seq := v_seq + 1;
    -- Read after the lock so that `at` never goes backwards along the chain
    -- (unless the system clock does).
    v_at := clock_timestamp();

    INSERT INTO vst.audit_log (seq, at, db_user, actor, action, client, details, prev_hash, hash)
    VALUES (v_seq, v_at, session_user, p_actor, p_action, p_client, v_details, v_prev,
            vst.audit_row_hash(v_prev, v_seq, v_at, session_user, p_actor, p_action,
                               p_client, v_details));
    RETURN v_seq;
END
$$;

-- The chain head (last seq and its hash) for a checkpoint, to roles that
-- may not read the log itself. No row yet: both NULL.
CREATE FUNCTION vst.audit_head(OUT seq bigint, OUT hash bytea)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT l.seq, l.hash FROM vst.audit_log l ORDER BY l.seq DESC LIMIT 1
$$;

-- Stores a checkpoint signed by vst-keyd. Refuses a head that is not the
-- log's hash at that seq (a checkpoint must describe this chain); a second
-- checkpoint of the same seq is a no-op and returns false.
CREATE FUNCTION vst.audit_checkpoint(p_seq bigint, p_head bytea, p_signature bytea,
                                     p_key_id bytea)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM vst.audit_log WHERE seq = p_seq AND hash = p_head) THEN
        RAISE EXCEPTION 'checkpoint does not match the audit log at seq %', p_seq
            USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO vst.audit_checkpoints (seq, head, signature, key_id)
    VALUES (p_seq, p_head, p_signature, p_key_id)
    ON CONFLICT (seq) DO NOTHING;
    RETURN FOUND;
END
$$;

-- Functions are not executable by PUBLIC (0001 set the default; repeated
-- here so this file is correct on its own).
REVOKE ALL ON FUNCTION vst.audit_forbid_change(), vst.audit_row_hash(bytea, bigint, timestamptz,
    text, text, text, text, jsonb), vst.audit_append(text, text, text, jsonb), vst.audit_head(),
    vst.audit_checkpoint(bigint, bytea, bytea, bytea) FROM PUBLIC;
REVOKE ALL ON vst.audit_log, vst.audit_checkpoints FROM PUBLIC;

-- Writers go through the functions; nobody gets INSERT, UPDATE, DELETE or
-- TRUNCATE on the tables.
GRANT EXECUTE ON FUNCTION vst.audit_append(text, text, text, jsonb),
                          vst.audit_head(),
                          vst.audit_checkpoint(bigint, bytea, bytea, bytea)
    TO vst_httpd, vst_admin;
-- vst-audit reads the log and the checkpoints, and nothing else in vst.
GRANT SELECT ON vst.audit_log, vst.audit_checkpoints TO vst_auditor;
