-- posd's roles and database. Run once per cluster as a superuser, before the
-- first "posd migrate":
--
--   psql -v ON_ERROR_STOP=1 -U postgres -f deploy/postgres/roles.sql
--
-- Three roles, none superuser, none BYPASSRLS:
--   posd_owner  LOGIN: owns the database and posd's tables; "posd migrate",
--               "posd seed" and "posd device add|revoke" connect as it.
--   posd_app    NOLOGIN: the privileges the server needs and nothing more
--               (the baseline migration, db/schema/0001_baseline.sql, grants
--               them). Created here so that posd_owner needs no CREATEROLE:
--               the baseline creates posd_app only when it is missing, which
--               takes CREATEROLE.
--   posd        LOGIN, member of posd_app: what "posd serve" connects as.
-- Change both passwords (or use another authentication method in pg_hba.conf).
CREATE ROLE posd_owner LOGIN PASSWORD 'change-me-owner' NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
CREATE ROLE posd_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
CREATE ROLE posd LOGIN PASSWORD 'change-me' NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS IN ROLE posd_app;
-- The owner of the database owns its public schema (PostgreSQL 15+), so the
-- migrations can create posd's tables there.
CREATE DATABASE posd OWNER posd_owner;
