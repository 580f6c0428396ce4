-- 0008_receipt_insert: the receipt row through a function (issue 9).
--
-- The decision of the delivery commit (DESIGN.md §7) is one trust-DB
-- transaction: vst.audit_append('delivery.stored', ...) and the receipt row.
-- vst-httpd writes that row through this function, next to audit_append,
-- instead of an INSERT it spells out itself: the table's columns and the
-- conversion of the signed microsecond times stay here.
--
-- The times come as microseconds since the Unix epoch, the exact values
-- vst-keyd signs (server/core/signed.h); receipt.c reads them back the same
-- way, so a receipt rebuilt from its row is byte-identical.
--
-- vst_httpd keeps its INSERT grant on vst.receipts (0004):
-- tests/db/test_migrations.sh asserts it ("vst_httpd may store a receipt").

SET LOCAL ROLE vst_owner;

CREATE FUNCTION vst.receipt_insert(p_client_id integer, p_delivery_id text, p_ref uuid,
                                   p_profile text, p_record_count bigint, p_body_bytes bigint,
                                   p_body_sha256 bytea, p_key_version integer,
                                   p_received_us bigint, p_stored_us bigint, p_audit_seq bigint)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO vst.receipts (client_id, delivery_id, delivery_ref, profile, record_count,
                              body_bytes, body_sha256, key_version, received_at, stored_at,
                              audit_seq)
    VALUES (p_client_id, p_delivery_id, p_ref, p_profile, p_record_count, p_body_bytes,
            p_body_sha256, p_key_version,
            'epoch'::timestamptz + p_received_us * interval '1 microsecond',
            'epoch'::timestamptz + p_stored_us * interval '1 microsecond',
            p_audit_seq)
$$;
REVOKE ALL ON FUNCTION vst.receipt_insert(integer, text, uuid, text, bigint, bigint, bytea,
                                          integer, bigint, bigint, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION vst.receipt_insert(integer, text, uuid, text, bigint, bigint, bytea,
                                             integer, bigint, bigint, bigint) TO vst_httpd;
