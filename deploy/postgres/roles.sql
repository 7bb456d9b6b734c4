-- Two roles for one database, so the API cannot change the schema: the
-- migrator owns the tables (DATABASE_MIGRATION_URL: `api migrate`, the
-- Kubernetes Job, compose's `migrate`), the API only reads and writes rows
-- (DATABASE_URL: the API and the workers). Run once as a superuser, on the
-- app's database, before the first migration, with passwords of your own:
--   psql -v ON_ERROR_STOP=1 -d app -f deploy/postgres/roles.sql
-- `tests/tests/api/hardening.rs` (the_api_role_has_no_ddl_rights) runs
-- these statements, with its own role names, and checks the result.

CREATE ROLE app_migrator LOGIN PASSWORD 'change-me-migrator';
CREATE ROLE app_api LOGIN PASSWORD 'change-me-api';

GRANT CONNECT ON DATABASE app TO app_migrator, app_api;
-- Postgres 15 and later grant no CREATE on `public` to everyone; 14 and
-- earlier do, which would give the API's role DDL after all.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO app_migrator;
GRANT USAGE ON SCHEMA public TO app_api;

-- Every table and sequence the migrator creates, now and in later
-- migrations (ours, River's, and the migrations table readiness reads):
-- rows for the API, nothing more.
ALTER DEFAULT PRIVILEGES FOR ROLE app_migrator IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO app_api;
ALTER DEFAULT PRIVILEGES FOR ROLE app_migrator IN SCHEMA public
  GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO app_api;

-- River's leader rebuilds its job indexes daily (REINDEX CONCURRENTLY),
-- which takes the indexes' owner: as app_api it logs a failure and skips
-- them. On Postgres 17 and later let it:
--   GRANT MAINTAIN ON ALL TABLES IN SCHEMA public TO app_api;
-- or rebuild them as app_migrator now and then.
