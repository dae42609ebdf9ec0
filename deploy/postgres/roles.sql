-- Run as a superuser once per cluster, after "posd migrate" created posd_app.
-- The server's login role: a member of posd_app, nothing more.
CREATE ROLE posd LOGIN PASSWORD 'change-me' NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS IN ROLE posd_app;
