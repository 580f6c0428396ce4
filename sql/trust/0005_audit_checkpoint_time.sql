-- 0005_audit_checkpoint_time: what vst-audit and the audit writers
-- (server/audit) need beyond 0003 (docs/audit.md).
--
-- 1. The time vst-keyd signs. A checkpoint signature covers
--    "vst-checkpoint-v1\0" || seq || head || time_us (server/common/signed.h),
--    so a verifier needs the signed time back. 0003 stored only `at`, the
--    moment of the INSERT, which is not the signed time. signed_at holds it;
--    the new 5-argument vst.audit_checkpoint writes it. Checkpoints stored
--    through the 4-argument function keep signed_at NULL and cannot be
--    verified (vst-audit reports them); that function stays only because
--    existing callers and tests use it.
-- 2. vst.audit_keyd_position(): where the log's copy of keyd's event
--    stream ends, for roles that may not read the log (vst_httpd,
--    vst_admin), under the appenders' lock so that two pullers never
--    append the same keyd event twice.
-- 3. vst.audit_checkpoint_state(): what the checkpoint policy needs
--    (head, last checkpoint, its age), again without read access.

SET LOCAL ROLE vst_owner;

ALTER TABLE vst.audit_checkpoints ADD COLUMN signed_at timestamptz;
COMMENT ON COLUMN vst.audit_checkpoints.signed_at IS
    'time_us of the signed checkpoint structure; NULL only for checkpoints stored by the '
    '4-argument vst.audit_checkpoint, which vst-audit cannot verify';

-- Rows that mirror keyd's event stream carry details.keyd_seq; the puller
-- asks for the latest of them on every pull.
CREATE INDEX audit_log_keyd ON vst.audit_log (seq) WHERE details ? 'keyd_seq';

-- Stores a checkpoint signed by vst-keyd together with the time it signed.
-- Same rules as the 4-argument form: the head must be the log's hash at seq,
-- a second checkpoint of a seq is a no-op returning false.
CREATE FUNCTION vst.audit_checkpoint(p_seq bigint, p_head bytea, p_signature bytea,
                                     p_key_id bytea, p_signed_at timestamptz)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_signed_at IS NULL THEN
        RAISE EXCEPTION 'a checkpoint needs the time it was signed at'
            USING ERRCODE = 'not_null_violation';
    END IF;
    IF NOT EXISTS (SELECT FROM vst.audit_log WHERE seq = p_seq AND hash = p_head) THEN
        RAISE EXCEPTION 'checkpoint does not match the audit log at seq %', p_seq
            USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO vst.audit_checkpoints (seq, head, signature, key_id, signed_at)
    VALUES (p_seq, p_head, p_signature, p_key_id, p_signed_at)
    ON CONFLICT (seq) DO NOTHING;
    RETURN FOUND;
END
$$;

-- The keyd sequence number (and keyd's time of that event, if it was an
-- event rather than a marker) of the latest row that mirrors keyd's event
-- stream; NULLs if there is none. Takes the appenders' advisory lock, held
-- to the end of the caller's transaction: call it first in the transaction
-- that appends the next keyd events, so that concurrent pullers serialise.
CREATE FUNCTION vst.audit_keyd_position(OUT keyd_seq bigint, OUT keyd_time_us bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'vst.audit_keyd_position needs a READ COMMITTED transaction, not %',
            current_setting('transaction_isolation');
    END IF;
    PERFORM pg_advisory_xact_lock(1987277824, 2);
    SELECT (l.details ->> 'keyd_seq')::bigint, (l.details ->> 'keyd_time_us')::bigint
      INTO keyd_seq, keyd_time_us
      FROM vst.audit_log l
     WHERE l.details ? 'keyd_seq'
     ORDER BY l.seq DESC LIMIT 1;
END
$$;

-- Head of the chain, the latest checkpoint and how long ago it was stored
-- (by the database clock). NULLs where there is nothing yet.
CREATE FUNCTION vst.audit_checkpoint_state(OUT head_seq bigint, OUT checkpoint_seq bigint,
                                           OUT seconds_since_checkpoint double precision)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (SELECT l.seq FROM vst.audit_log l ORDER BY l.seq DESC LIMIT 1),
           c.seq,
           extract(epoch FROM clock_timestamp() - c.at)::double precision
      FROM (SELECT NULL) AS one
      LEFT JOIN LATERAL (SELECT k.seq, k.at FROM vst.audit_checkpoints k
                          ORDER BY k.seq DESC LIMIT 1) c ON true
$$;

REVOKE ALL ON FUNCTION
    vst.audit_checkpoint(bigint, bytea, bytea, bytea, timestamptz),
    vst.audit_keyd_position(),
    vst.audit_checkpoint_state() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    vst.audit_checkpoint(bigint, bytea, bytea, bytea, timestamptz),
    vst.audit_keyd_position(),
    vst.audit_checkpoint_state()
    TO vst_httpd, vst_admin;
