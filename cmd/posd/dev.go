package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/posd/posd/internal/app"
	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/migrate"
	"github.com/posd/posd/internal/natsembed"
	"github.com/posd/posd/internal/pgcluster"
	"github.com/posd/posd/internal/seed"
)

// devDatabase and devAppRole are the database and login role posd dev creates.
const (
	devDatabase = "posd"
	devAppRole  = "posd"
	// devSealKeyFile is where posd dev keeps the journal's seal signing key,
	// under --data-dir; created on first start, reused after.
	devSealKeyFile = "seal.key"
)

func runDev(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("dev", "Run a throwaway local stack: a Postgres cluster under --data-dir (started with the\n"+
		"machine's initdb/pg_ctl, as the postgres user when run as root), an embedded NATS\n"+
		"server with JetStream, migrations, demo data and the HTTP API. Both servers listen\n"+
		"on 127.0.0.1 only. Ctrl-C stops everything; a second start reuses the data.", stderr)
	cfg := app.Defaults()
	cfg.Log.Format = "console"
	binder{fs}.str(&cfg.Addr, "addr", "POSD_ADDR", "HTTP listen address")
	listenFlags(binder{fs}, &cfg)
	dataDir := fs.String("data-dir", envString("POSD_DATA_DIR", ".data"), "directory for the Postgres cluster and the JetStream store (POSD_DATA_DIR)")
	natsPort := fs.Int("nats-port", envInt("POSD_NATS_PORT", 4222), "embedded NATS client port on 127.0.0.1 (POSD_NATS_PORT)")
	pgPort := fs.Int("pg-port", envInt("POSD_PG_PORT", 5433), "local Postgres port on 127.0.0.1 (POSD_PG_PORT)")
	logFlags(fs, &cfg.Log)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.CheckTLS(); err != nil {
		return err
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"--nats-port", *natsPort}, {"--pg-port", *pgPort}} {
		if err := validPort(p.name, p.v); err != nil {
			return err
		}
	}
	log, err := app.NewLogger(stderr, cfg.Log)
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	// Every port is checked before anything is created, and every conflict
	// is named at once with the flag that moves it.
	if err := checkDevPorts(cfg.Addr, *pgPort, *natsPort, filepath.Join(dir, "postgres")); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create --data-dir: %w", err)
	}

	log.Info().Str("data_dir", dir).Int("pg_port", *pgPort).Msg("starting local Postgres")
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{
		DataDir: filepath.Join(dir, "postgres"), Port: *pgPort, Durable: true,
		Log: log.With().Str("component", "postgres").Logger(),
	})
	if err != nil {
		return fmt.Errorf("start Postgres: %w", err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cluster.Stop(stopCtx); err != nil {
			log.Error().Err(err).Msg("stop Postgres")
		} else {
			log.Info().Msg("Postgres stopped")
		}
	}()
	if err := cluster.EnsureDatabase(ctx, devDatabase); err != nil {
		return err
	}
	adminURL := cluster.URL(devDatabase)
	v, err := migrate.Up(ctx, adminURL)
	if err != nil {
		return err
	}
	if err := migrate.EnsureLoginRole(ctx, adminURL, devAppRole); err != nil {
		return err
	}
	if err := seedDemo(ctx, adminURL); err != nil {
		return err
	}
	log.Info().Int64("schema_version", v).Msg("database migrated and demo data seeded")

	ns, err := natsembed.Start(natsembed.Options{
		Port: *natsPort, StoreDir: filepath.Join(dir, "nats"),
		Log: log.With().Str("component", "nats").Logger(),
	})
	if err != nil {
		return fmt.Errorf("start NATS: %w", err)
	}
	defer func() {
		ns.Shutdown()
		log.Info().Msg("NATS stopped")
	}()

	keyPath := filepath.Join(dir, devSealKeyFile)
	sealKey, created, err := audit.LoadOrCreateSealKey(keyPath)
	if err != nil {
		return err
	}
	log.Info().Str("seal_key_file", keyPath).Bool("created", created).Str("seal_public_key", audit.PublicKeyHex(sealKey)).
		Msg("journal seal key (verify with: posd audit verify --public-key <seal_public_key>)")

	appURL := (&url.URL{Scheme: "postgres", User: url.User(devAppRole), Host: "127.0.0.1:" + strconv.Itoa(cluster.Port()),
		Path: devDatabase, RawQuery: "sslmode=disable"}).String()
	cfg.DatabaseURL, cfg.NATSURL, cfg.StreamReplicas = appURL, ns.ClientURL(), 1
	cfg.SealKey, cfg.SealKeyFile = sealKey, keyPath
	return runApp(ctx, cfg, app.Options{Log: log, Version: buildVersion(),
		OnListening: func(bound string) { devBanner(log, scheme(cfg)+"://"+bound, adminURL, ns.ClientURL()) }})
}

// checkDevPorts reports every listen address of posd dev that is taken, each
// with its flag. The Postgres port is not a conflict when the server holding
// it is one an earlier posd dev left running on this data directory (it is
// taken over).
func checkDevPorts(addr string, pgPort, natsPort int, pgDataDir string) error {
	type want struct{ flag, env, addr string }
	wants := []want{
		{"--addr", "POSD_ADDR", addr},
		{"--pg-port", "POSD_PG_PORT", net.JoinHostPort("127.0.0.1", strconv.Itoa(pgPort))},
		{"--nats-port", "POSD_NATS_PORT", net.JoinHostPort("127.0.0.1", strconv.Itoa(natsPort))},
	}
	var problems []string
	if pgPort == natsPort {
		problems = append(problems, fmt.Sprintf("--pg-port and --nats-port are both %d", pgPort))
	}
	for _, w := range wants {
		if w.flag == "--pg-port" && pgcluster.LeftoverServer(pgDataDir) {
			continue
		}
		if _, p, err := net.SplitHostPort(w.addr); err == nil && p == "0" {
			continue
		}
		l, err := net.Listen("tcp", w.addr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s %s is not available (%v); choose another with %s or %s",
				w.flag, w.addr, errors.Unwrap(err), w.flag, w.env))
			continue
		}
		_ = l.Close()
	}
	if len(problems) > 0 {
		return errors.New("cannot start: " + strings.Join(problems, "; "))
	}
	return nil
}

func seedDemo(ctx context.Context, url string) error {
	return withConn(ctx, url, func(c *pgx.Conn) error { return seed.Demo(ctx, c) })
}

// devBanner logs where everything is and the demo tokens (public by design,
// valid only for the demo venues).
func devBanner(log zerolog.Logger, api, pgURL, natsURL string) {
	log.Info().Str("api", api).Str("handheld", api+"/pos").Str("kds", api+"/kds?station=grill").
		Str("postgres", pgURL).Str("nats", natsURL).
		Msg("posd dev is up (psql: local superuser postgres, database posd)")
	for _, d := range seed.DemoDevices {
		log.Info().Str("token", d.Token).Str("venue", d.Venue).Str("role", d.Role).Str("staff", d.Staff).Msg("demo token")
	}
	log.Info().Str("try", "curl -H 'Authorization: Bearer demo-waiter-1' "+api+"/v1/tables").Msg("ready; Ctrl-C stops everything")
}

// scheme is what posd serves: https with --tls-cert, else http.
func scheme(cfg app.Config) string {
	if cfg.TLSCert != "" {
		return "https"
	}
	return "http"
}
