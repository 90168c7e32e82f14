-- Read-only role for log search (Grafana's PostgreSQL datasource, ad-hoc psql): it may read the
-- log tables and nothing else, and every session it opens is read-only with a statement timeout.
--
-- Idempotent; run as the database owner after the migrations (the Grafana component's
-- role Job does; proposed to become migration 0004_readonly_role). Roles are cluster-wide, so
-- the role is created only when missing and only if the current user may create roles (dev: the
-- image's superuser). Under CloudNativePG the Cluster's `managed.roles` creates it (with its
-- password Secret) and this script only grants.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'logagg_readonly') THEN
        IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
            RAISE EXCEPTION 'role logagg_readonly does not exist and % may not create it '
                            '(declare it in the CloudNativePG Cluster managed.roles)', current_user;
        END IF;
        -- LOGIN without a password: nobody can log in until the deployment sets one.
        CREATE ROLE logagg_readonly LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE CONNECTION LIMIT 10;
    END IF;
    -- Settings need CREATEROLE too; CNPG stacks set them via managed.roles / the Cluster instead.
    IF (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
        ALTER ROLE logagg_readonly SET default_transaction_read_only = on;
        ALTER ROLE logagg_readonly SET statement_timeout = '30s';
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO logagg_readonly', current_database());
END
$$;

GRANT USAGE ON SCHEMA public TO logagg_readonly;
-- The partitioned parent is enough: partitions are read through it.
GRANT SELECT ON logs, log_counts TO logagg_readonly;
