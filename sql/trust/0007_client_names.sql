-- 0007_client_names: one grammar for client names (issue 8, finding 7).
--
-- German insurers have names such as "AOK Baden-Württemberg". The receipt
-- encoding signed by vst-keyd gives a name at most 128 *bytes*
-- (server/common/signed.h), while 0002 counted characters: a name of 128
-- characters with umlauts was accepted here and then refused by the
-- receipt encoder after the delivery was pseudonymized. The full grammar
-- (well-formed UTF-8, no control, zero-width or bidirectional formatting
-- characters, no blank at either end) is vst_client_name_ok(), applied by
-- vst-admin before a name reaches this table; the database enforces the
-- parts it can say in SQL, so that no name can be stored that a receipt
-- cannot carry.

SET LOCAL ROLE vst_owner;

ALTER TABLE vst.clients
    ADD CONSTRAINT clients_name_bytes CHECK (octet_length(name) BETWEEN 1 AND 128),
    ADD CONSTRAINT clients_name_trimmed CHECK (name !~ '^ ' AND name !~ ' $'),
    ADD CONSTRAINT clients_name_visible
        CHECK (name !~ '[\u0080-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]');
