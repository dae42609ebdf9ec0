// Package pgtest gives tests a real, isolated Postgres database. Main starts
// one throwaway cluster per test binary (fsync off), migrates and seeds a
// template database once, and NewDB clones the template for each test in a
// few tens of milliseconds. The server connects as the non-superuser app
// role, exactly as posd does in production.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/posd/posd/internal/migrate"
	"github.com/posd/posd/internal/pgcluster"
	"github.com/posd/posd/internal/pgtypes"
	"github.com/posd/posd/internal/seed"
)

const (
	templateDB = "posd_template"
	appRole    = "posd_test_app"
)

var (
	cluster *pgcluster.Cluster
	dbSeq   atomic.Int64
)

// Runner is what Main runs between starting and stopping the cluster; a
// *testing.M is one.
type Runner interface{ Run() int }

// Main starts the cluster, runs the tests and stops the cluster. Call it
// from TestMain: func TestMain(m *testing.M) { pgtest.Main(m) }.
func Main(m Runner) {
	os.Exit(run(m))
}

func run(m Runner) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	var stop func()
	var err error
	cluster, stop, err = start(ctx, false)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		return 1
	}
	code := m.Run()
	stopDurable()
	stop()
	return code
}

// start starts a cluster (durable: crash-safe settings, see
// pgcluster.Options.Durable) with a migrated and seeded template.
func start(ctx context.Context, durable bool) (*pgcluster.Cluster, func(), error) {
	dir, err := os.MkdirTemp("", "posd-pgtest-")
	if err != nil {
		return nil, nil, err
	}
	var c *pgcluster.Cluster
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := pgcluster.FreePort()
		if err != nil {
			return nil, nil, err
		}
		c, lastErr = pgcluster.Start(ctx, pgcluster.Options{
			DataDir: filepath.Join(dir, "pg"), Port: port, Durable: durable,
			Settings: map[string]string{"max_connections": "300"},
		})
		if lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		os.RemoveAll(dir)
		return nil, nil, lastErr
	}
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.Stop(sctx)
		os.RemoveAll(dir)
	}
	if err := prepareTemplate(ctx, c); err != nil {
		stop()
		return nil, nil, err
	}
	return c, stop, nil
}

func prepareTemplate(ctx context.Context, cluster *pgcluster.Cluster) error {
	if err := cluster.EnsureDatabase(ctx, templateDB); err != nil {
		return err
	}
	u := cluster.URL(templateDB)
	if _, err := migrate.Up(ctx, u); err != nil {
		return err
	}
	if err := migrate.EnsureLoginRole(ctx, u, appRole); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return seed.Demo(ctx, conn)
}

// DB is one test's database, migrated and seeded with the demo data.
type DB struct {
	Name string
	// AdminURL connects as the superuser (the table owner).
	AdminURL string
	// AppURL connects as the app role posd runs as.
	AppURL string
	// Pool is a pool over AppURL.
	Pool *pgxpool.Pool
	// Admin is a pool over AdminURL, for assertions and fixtures that the
	// app role may not do.
	Admin *pgxpool.Pool
}

// NewDB creates a fresh database from the template and drops it when the
// test ends.
func NewDB(t testing.TB) *DB {
	t.Helper()
	if cluster == nil {
		t.Fatal("pgtest: cluster not started; call pgtest.Main from TestMain")
	}
	return newDB(t, cluster)
}

func newDB(t testing.TB, cluster *pgcluster.Cluster) *DB {
	t.Helper()
	ctx := context.Background()
	name := "t_" + strconv.Itoa(os.Getpid()) + "_" + strconv.FormatInt(dbSeq.Add(1), 10)
	admin, err := pgx.Connect(ctx, cluster.URL("postgres"))
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+templateDB); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	db := &DB{Name: name, AdminURL: cluster.URL(name), AppURL: appURL(cluster, name)}
	db.Pool = newPool(t, db.AppURL)
	db.Admin = newPool(t, db.AdminURL)
	t.Cleanup(func() {
		db.Pool.Close()
		db.Admin.Close()
		c, err := pgx.Connect(context.Background(), cluster.URL("postgres"))
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return db
}

// URL is the superuser URL of database name on the test cluster.
func URL(name string) string { return cluster.URL(name) }

func appURL(cluster *pgcluster.Cluster, name string) string {
	return (&url.URL{Scheme: "postgres", User: url.User(appRole), Host: "127.0.0.1:" + strconv.Itoa(cluster.Port()),
		Path: name, RawQuery: "sslmode=disable"}).String()
}

func newPool(t testing.TB, u string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	cfg.MaxConns = 16
	cfg.AfterConnect = pgtypes.AfterConnect
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgtest: pool: %v", err)
	}
	return p
}

// Count runs a count query as the admin and returns the number.
func (db *DB) Count(t testing.TB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Admin.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("pgtest: %s: %v", query, err)
	}
	return n
}
