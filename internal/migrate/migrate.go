// Package migrate brings a database's schema up to date with the migrations
// embedded in the binary (db/schema). Migrations run as the table owner, never
// as the server's own role.
package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/posd/posd/db"
)

// Up applies every pending migration to the database at url and returns the
// resulting schema version. It is safe to run concurrently from several
// processes: goose serialises them with a session advisory lock.
func Up(ctx context.Context, url string) (int64, error) {
	conn, err := sql.Open("pgx", url)
	if err != nil {
		return 0, fmt.Errorf("open database: %w", err)
	}
	defer conn.Close()
	_ = stdlib.GetDefaultDriver() // registers the "pgx" driver name
	schema, err := fs.Sub(db.Schema, "schema")
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return 0, fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, conn, schema, goose.WithSessionLocker(locker))
	if err != nil {
		return 0, fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("migrate up: %w", err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// AppRole is the NOLOGIN role the migrations grant the server's privileges to.
const AppRole = "posd_app"

// EnsureLoginRole creates the LOGIN role name as a member of AppRole if it does
// not exist yet. It is for local clusters with trust authentication (posd dev
// and tests); production operators create their login role themselves.
func EnsureLoginRole(ctx context.Context, url, name string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up role %s: %w", name, err)
	}
	if exists {
		return nil
	}
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE ROLE "+ident+" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE IN ROLE "+AppRole); err != nil {
		return fmt.Errorf("create role %s: %w", name, err)
	}
	return nil
}
