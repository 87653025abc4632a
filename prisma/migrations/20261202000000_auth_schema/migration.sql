-- The product's tables live in their own schema, so that a host's tables and migrations in the
-- same database never meet them. The migrator runs every migration with search_path auth, public:
-- a new database gets them in auth from its first migration, and this moves the tables of a
-- database created before, with their indexes and constraints.
-- The schema exists already (the migrator makes it first); created here only if missing, since
-- a role that owns it may lack the right to create schemas at all.
DO $$
BEGIN
  IF to_regnamespace('auth') IS NULL THEN
    CREATE SCHEMA auth;
  END IF;
END $$;

DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['users', 'token_families', 'refresh_tokens', 'login_attempts', 'audit_events', 'rate_limit_counters'] LOOP
    IF to_regclass(format('public.%I', t)) IS NOT NULL AND to_regclass(format('auth.%I', t)) IS NULL THEN
      EXECUTE format('ALTER TABLE public.%I SET SCHEMA auth', t);
    END IF;
  END LOOP;
END $$;
