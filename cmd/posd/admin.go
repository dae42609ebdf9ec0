package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/posd/posd/internal/migrate"
	"github.com/posd/posd/internal/seed"
)

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "Apply pending schema migrations. Connect as the role that owns (or will own)\n"+
		"posd's tables; the migrations create the NOLOGIN role posd_app and grant it\n"+
		"what the server needs.", stderr)
	dbURL := databaseURLFlag(fs, ofOwner)
	wait := fs.Duration("wait", 0, "go on trying for this long while the database refuses the connection (at boot, during a failover), every 2 s; 0 tries once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireDatabaseURL(*dbURL); err != nil {
		return err
	}
	deadline := time.Now().Add(*wait)
	for {
		v, err := migrate.Up(ctx, *dbURL)
		var refused *pgconn.ConnectError
		if err != nil && errors.As(err, &refused) && time.Now().Add(migrateRetry).Before(deadline) {
			fmt.Fprintf(stderr, "posd migrate: %v; trying again in %s (--wait)\n", err, migrateRetry)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(migrateRetry):
			}
			continue
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "schema at version %d\n", v)
		return nil
	}
}

// migrateRetry is how often posd migrate --wait tries the database again.
const migrateRetry = 2 * time.Second

func runSeed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("seed", "Write demo data: venues demo (T1…T30) and demo2 (T1…T5), their menu, and the\n"+
		"demo device tokens. Idempotent; never touches orders. Connect as the table owner.", stderr)
	dbURL := databaseURLFlag(fs, ofOwner)
	demo := fs.Bool("demo", false, "write the demo venues, menu and tokens (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*demo {
		return errors.New("nothing to seed: pass --demo")
	}
	if err := requireDatabaseURL(*dbURL); err != nil {
		return err
	}
	if err := seedDemo(ctx, *dbURL); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "demo data written; tokens:")
	for _, d := range seed.DemoDevices {
		fmt.Fprintf(stdout, "  %-15s venue=%-6s role=%s\n", d.Token, d.Venue, d.Role)
	}
	return nil
}

// withConn runs f on a fresh connection to url and closes it.
func withConn(ctx context.Context, url string, f func(*pgx.Conn) error) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	return f(conn)
}
