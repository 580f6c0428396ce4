-- 0001_roles: the cluster-wide vst roles and this database's defaults.
--
-- This file is identical in sql/trust and sql/store (tests/db checks that):
-- the two databases may live in different clusters and each needs the roles;
-- when they share a cluster the second run finds the roles and only
-- re-asserts their attributes. Roles get no passwords here: how they
-- authenticate (peer, cert, scram) is the operator's pg_hba.conf business.

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES
            -- Owns every vst schema, table and function. NOLOGIN, so no
            -- connection ever holds the owner's rights (ALTER, DROP, GRANT,
            -- disabling the audit log's triggers).
            ('vst_owner',   false),
            ('vst_httpd',   true),   -- vst-httpd: writes deliveries
            ('vst_admin',   true),   -- vst-admin: clients, key metadata, re-key
            ('vst_auditor', true)    -- vst-audit: reads the audit log only
        ) AS t(name, login)
    LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r.name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I', r.name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;   -- created meanwhile by a runner for the other database
            END;
        END IF;
        -- Re-asserted on every database so that a role created by hand with
        -- more power is brought back to exactly this.
        EXECUTE format('ALTER ROLE %I %s NOSUPERUSER NOCREATEDB NOCREATEROLE '
                       'NOREPLICATION NOBYPASSRLS INHERIT',
                       r.name, CASE WHEN r.login THEN 'LOGIN' ELSE 'NOLOGIN' END);
    END LOOP;

    -- A login role that is a member of vst_owner would hold its rights.
    IF EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles lr ON lr.oid = m.member
                WHERE m.roleid = 'vst_owner'::regrole AND lr.rolcanlogin
                  AND NOT lr.rolsuper) THEN
        RAISE WARNING 'a login role is a member of vst_owner; revoke that membership';
    END IF;
END
$$;

COMMENT ON ROLE vst_owner IS 'vst: owns all vst objects; NOLOGIN';
COMMENT ON ROLE vst_httpd IS 'vst: vst-httpd (deliveries: insert-only into the store)';
COMMENT ON ROLE vst_admin IS 'vst: vst-admin (clients, key metadata, re-keying)';
COMMENT ON ROLE vst_auditor IS 'vst: vst-audit (reads the audit log only)';

-- Nobody connects or creates temporary tables unless granted below per
-- database (trust: all three login roles; store: httpd and admin).
DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
END
$$;

-- PostgreSQL 15 already withholds CREATE on schema public; say so
-- explicitly for databases created from an older template.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_namespace WHERE nspname = 'public') THEN
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    END IF;
END
$$;

-- New functions are executable by PUBLIC by default; vst grants EXECUTE
-- explicitly instead, and this keeps later migrations from forgetting that.
ALTER DEFAULT PRIVILEGES FOR ROLE vst_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
