-- 0005_admin_reads_no_payload: the operator role reads no payload
-- (issue 8, finding 1; DESIGN.md §7).
--
-- vst_admin may ask vst-keyd's admin socket for key operations. Had it also
-- been able to SELECT a profile's whole table, one operator could have
-- turned a known identifier into its person's history. From here on
-- vst_admin sees exactly what re-keying needs — the row id (walk order),
-- the key version and the pseudonym columns — and nothing that a pseudonym
-- points to. Reports, releases and deletions that need more run through
-- narrow SECURITY DEFINER functions owned by vst_owner.

SET LOCAL ROLE vst_owner;

REVOKE SELECT ON sgb5.records FROM vst_admin;
GRANT SELECT (id, key_version, pseudonym, provider_pseudonym, practice_pseudonym)
    ON sgb5.records TO vst_admin;

REVOKE SELECT ON measles.records FROM vst_admin;
GRANT SELECT (id, key_version, pseudonym) ON measles.records TO vst_admin;
