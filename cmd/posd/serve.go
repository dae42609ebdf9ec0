package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/httpapi"
	"github.com/posd/posd/internal/kds"
	"github.com/posd/posd/internal/metrics"
	"github.com/posd/posd/internal/outbox"
	"github.com/posd/posd/internal/store"
)

// shutdownTimeout bounds how long in-flight requests may take to finish after
// a stop signal.
const shutdownTimeout = 10 * time.Second

// defaultMaxConns is the pool size when DATABASE_URL does not set
// pool_max_conns.
const defaultMaxConns = 16

// sealInterval is how often each venue's order heads are sealed.
const sealInterval = audit.DefaultSealInterval

// outboxAckTimeout bounds the wait for a JetStream acknowledgement.
const outboxAckTimeout = 5 * time.Second

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("serve", "Serve the HTTP API against an existing Postgres and NATS.\n"+
		"Connect as posd's own role (a member of posd_app), not as the table owner;\n"+
		"run \"posd migrate\" first, as the owner.", stderr)
	addr := fs.String("addr", envString("POSD_ADDR", "127.0.0.1:8080"), "HTTP listen address (POSD_ADDR)")
	dbURL := fs.String("database-url", envString("DATABASE_URL", ""), "Postgres connection URL of posd's role (DATABASE_URL)")
	natsURL := fs.String("nats-url", envString("NATS_URL", nats.DefaultURL), "NATS server URL (NATS_URL)")
	logFormat := fs.String("log-format", envString("POSD_LOG_FORMAT", "json"), "log format: json or console (POSD_LOG_FORMAT)")
	logLevel := fs.String("log-level", envString("POSD_LOG_LEVEL", "info"), "log level: trace, debug, info, warn, error (POSD_LOG_LEVEL)")
	sealKeyFile := fs.String("seal-key-file", envString("POSD_SEAL_KEY_FILE", ""),
		"file holding the Ed25519 seed that signs the journal's seals, mode 0600 (POSD_SEAL_KEY_FILE; create it with \"posd audit keygen\")")
	prevKeys := fs.String("seal-previous-public-keys", envString("POSD_SEAL_PREVIOUS_PUBLIC_KEYS", ""),
		"comma-separated public keys of rotated-out seal keys, whose seals posd still chains onto (POSD_SEAL_PREVIOUS_PUBLIC_KEYS)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	previous, err := audit.ParsePublicKeys(*prevKeys)
	if err != nil {
		return fmt.Errorf("--seal-previous-public-keys: %w", err)
	}
	if *dbURL == "" {
		return errors.New("DATABASE_URL (or --database-url) is required")
	}
	if *sealKeyFile == "" {
		return errors.New("POSD_SEAL_KEY_FILE (or --seal-key-file) is required: create one with \"posd audit keygen --out FILE\"")
	}
	sealKey, err := audit.LoadSealKey(*sealKeyFile)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	return serveStack(ctx, log, stack{addr: *addr, databaseURL: *dbURL, natsURL: *natsURL, sealKey: sealKey, previousKeys: previous})
}

// stack is what serveStack connects to.
type stack struct {
	addr        string
	databaseURL string
	natsURL     string
	// sealKey signs the journal's events and seals; previousKeys are the
	// public halves of rotated-out keys.
	sealKey      ed25519.PrivateKey
	previousKeys []ed25519.PublicKey
	// onListening, if set, is called with the bound address once the HTTP
	// listener is up.
	onListening func(addr string)
}

// serveStack runs the server until ctx is cancelled, then shuts down in
// reverse order: stop accepting and drain HTTP, close NATS, close the pool.
func serveStack(ctx context.Context, log zerolog.Logger, sc stack) error {
	log.Info().Str("addr", sc.addr).Str("database_url", redactURL(sc.databaseURL)).
		Str("nats_url", redactURL(sc.natsURL)).Str("seal_public_key", audit.PublicKeyHex(sc.sealKey)).Msg("starting posd")

	poolCfg, err := pgxpool.ParseConfig(sc.databaseURL)
	if err != nil {
		return fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if _, set := poolCfg.ConnConfig.RuntimeParams["pool_max_conns"]; !set && poolCfg.MaxConns < defaultMaxConns {
		poolCfg.MaxConns = defaultMaxConns
	}
	poolCfg.ConnConfig.RuntimeParams["application_name"] = "posd"
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return fmt.Errorf("connect to Postgres: %w", err)
	}
	defer pool.Close()
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = pool.Ping(pingCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("connect to Postgres: %w", err)
	}

	// posd keeps serving orders while NATS is away; delivery resumes when it
	// is back, so the first connection may fail and is retried forever.
	nc, err := nats.Connect(sc.natsURL, nats.Name("posd"), nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1), nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn().Err(err).Msg("NATS disconnected")
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info().Str("nats_url", c.ConnectedUrlRedacted()).Msg("NATS reconnected") }))
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	defer nc.Close()

	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(outboxAckTimeout))
	if err != nil {
		return fmt.Errorf("JetStream: %w", err)
	}

	m := metrics.New()
	st := store.New(pool)
	st.SignEvents(sc.sealKey)
	relayCtx, stopRelay := context.WithCancel(context.Background())
	relayDone := make(chan struct{})
	relay := outbox.New(poolCfg.ConnConfig.Copy(), js, outbox.Options{
		Log: log.With().Str("component", "outbox").Logger(), Metrics: outbox.NewMetrics(m.Registry),
	})
	st.OnCommit(relay.Kick)
	go func() {
		defer close(relayDone)
		if err := relay.Run(relayCtx); err != nil {
			log.Error().Err(err).Msg("outbox relay stopped")
		}
	}()
	sealer := &audit.Sealer{Pool: pool, Interval: sealInterval, Key: sc.sealKey, Previous: sc.previousKeys, Log: log.With().Str("component", "sealer").Logger()}
	sealerDone := make(chan struct{})
	go func() {
		defer close(sealerDone)
		sealer.Run(relayCtx)
	}()
	sweeperDone := make(chan struct{})
	go func() {
		defer close(sweeperDone)
		sweepIdempotencyKeys(relayCtx, st, log)
	}()
	stopRelayAndWait := func() {
		stopRelay()
		<-relayDone
		<-sealerDone
		<-sweeperDone
	}
	srv := httpapi.New(httpapi.Config{
		Store:   st,
		KDS:     kds.NewGateway(js, st.OpenTickets, 15*time.Second),
		Auth:    auth.NewAuthenticator(pool),
		Metrics: m,
		Log:     log,
		Audit: audit.VerifyOptions{PublicKey: sc.sealKey.Public().(ed25519.PublicKey), PreviousKeys: sc.previousKeys,
			SealInterval: sealInterval},
		Ready: []httpapi.Check{
			{Name: "postgres", Run: pool.Ping},
			{Name: "nats", Run: func(context.Context) error {
				if !nc.IsConnected() {
					return fmt.Errorf("not connected (%s)", nc.Status())
				}
				return nil
			}},
		},
	})

	ln, err := net.Listen("tcp", sc.addr)
	if err != nil {
		stopRelayAndWait()
		return fmt.Errorf("listen on %s: %w", sc.addr, err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.App().Listener(ln) }()
	log.Info().Str("url", "http://"+ln.Addr().String()).Msg("HTTP API listening")
	if sc.onListening != nil {
		sc.onListening(ln.Addr().String())
	}

	select {
	case err := <-serveErr:
		stopRelayAndWait()
		return fmt.Errorf("HTTP server: %w", err)
	case <-ctx.Done():
	}
	log.Info().Msg("shutting down: draining HTTP requests")
	srv.CloseStreams()
	if err := srv.App().ShutdownWithTimeout(shutdownTimeout); err != nil {
		log.Warn().Err(err).Msg("HTTP shutdown")
	}
	stopRelayAndWait()
	if err := nc.Drain(); err != nil {
		log.Warn().Err(err).Msg("NATS drain")
	}
	log.Info().Msg("posd stopped")
	return nil
}

// sweepIdempotencyKeys deletes expired Idempotency-Key records every ten
// minutes until ctx ends.
func sweepIdempotencyKeys(ctx context.Context, st *store.Store, log zerolog.Logger) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := st.SweepIdempotency(ctx); err != nil && ctx.Err() == nil {
			log.Warn().Err(err).Msg("sweep idempotency keys")
		} else if n > 0 {
			log.Debug().Int64("keys", n).Msg("swept expired idempotency keys")
		}
	}
}
