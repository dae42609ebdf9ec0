package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
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

// defaultStreamReplicas is the POS stream's replica count unless
// --stream-replicas says otherwise (1: one NATS server; posd dev always
// uses 1). maxStreamReplicas is JetStream's own limit.
const (
	defaultStreamReplicas = 1
	maxStreamReplicas     = 5
)

// streamCheckTimeout bounds the start-up check of the POS stream.
const streamCheckTimeout = 10 * time.Second

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("serve", "Serve the HTTP API against an existing Postgres and NATS.\n"+
		"Connect as posd's own role (a member of posd_app), not as the table owner;\n"+
		"run \"posd migrate\" first, as the owner.", stderr)
	addr := fs.String("addr", envString("POSD_ADDR", "127.0.0.1:8080"), "HTTP listen address (POSD_ADDR)")
	dbURL := fs.String("database-url", envString("DATABASE_URL", ""), "Postgres connection URL of posd's role (DATABASE_URL)")
	natsURL := fs.String("nats-url", envString("NATS_URL", nats.DefaultURL), "NATS server URL (NATS_URL)")
	logFormat := fs.String("log-format", envString("POSD_LOG_FORMAT", "json"), "log format: json or console (POSD_LOG_FORMAT)")
	logLevel := fs.String("log-level", envString("POSD_LOG_LEVEL", "info"), "log level: trace, debug, info, warn, error (POSD_LOG_LEVEL)")
	var lim limits
	lim.flags(fs)
	replicas := fs.Int("stream-replicas", envInt("POSD_STREAM_REPLICAS", defaultStreamReplicas),
		"replicas of the POS JetStream stream when posd creates it: 1 for one NATS server, 3 for a cluster (POSD_STREAM_REPLICAS)")
	sealKeyFile := fs.String("seal-key-file", envString("POSD_SEAL_KEY_FILE", ""),
		"file holding the Ed25519 seed that signs the journal's seals, mode 0600 (POSD_SEAL_KEY_FILE; create it with \"posd audit keygen\")")
	prevKeys := fs.String("seal-previous-public-keys", envString("POSD_SEAL_PREVIOUS_PUBLIC_KEYS", ""),
		"comma-separated public keys of rotated-out seal keys, whose seals posd still chains onto (POSD_SEAL_PREVIOUS_PUBLIC_KEYS)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := lim.validate(); err != nil {
		return err
	}
	previous, err := audit.ParsePublicKeys(*prevKeys)
	if err != nil {
		return fmt.Errorf("--seal-previous-public-keys: %w", err)
	}
	if *dbURL == "" {
		return errors.New("DATABASE_URL (or --database-url) is required")
	}
	if *replicas < 1 || *replicas > maxStreamReplicas {
		return fmt.Errorf("--stream-replicas must be between 1 and %d, got %d", maxStreamReplicas, *replicas)
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
	return serveStack(ctx, log, stack{addr: *addr, databaseURL: *dbURL, natsURL: *natsURL, limits: lim,
		streamReplicas: *replicas, sealKey: sealKey, previousKeys: previous})
}

// stack is what serveStack connects to.
type stack struct {
	addr        string
	databaseURL string
	natsURL     string
	// streamReplicas is the POS stream's replica count when posd creates it.
	streamReplicas int
	// sealKey signs the journal's events and seals; previousKeys are the
	// public halves of rotated-out keys.
	sealKey      ed25519.PrivateKey
	previousKeys []ed25519.PublicKey
	// onListening, if set, is called with the bound address once the HTTP
	// listener is up.
	onListening func(addr string)
	// limits are the deadlines and connection caps (zero: the defaults).
	limits limits
}

// limits are the deadlines and connection caps of posd serve.
type limits struct {
	requestTimeout   time.Duration
	statementTimeout time.Duration
	maxConns         int
	maxConnsPerIP    int
	// stream is the kitchen streams' bounds; zero fields (posd dev) take
	// httpapi.DefaultStreamLimits.
	stream httpapi.StreamLimits
}

func (l *limits) flags(fs *flag.FlagSet) {
	fs.DurationVar(&l.requestTimeout, "request-timeout", envDuration("POSD_REQUEST_TIMEOUT", httpapi.DefaultRequestTimeout),
		"deadline of every request but the kitchen stream; past it the request answers 503 (POSD_REQUEST_TIMEOUT)")
	fs.DurationVar(&l.statementTimeout, "statement-timeout", envDuration("POSD_STATEMENT_TIMEOUT", store.DefaultStatementTimeout),
		"Postgres statement_timeout of posd's connections, unless DATABASE_URL sets one (POSD_STATEMENT_TIMEOUT)")
	fs.IntVar(&l.maxConns, "max-conns", envInt("POSD_MAX_CONNS", httpapi.DefaultMaxConns),
		"most HTTP connections open at once; one more is answered 503 (POSD_MAX_CONNS)")
	fs.IntVar(&l.maxConnsPerIP, "max-conns-per-ip", envInt("POSD_MAX_CONNS_PER_IP", httpapi.DefaultMaxConnsPerIP),
		"most HTTP connections from one client address; one more is answered 429 (POSD_MAX_CONNS_PER_IP)")
	d := httpapi.DefaultStreamLimits
	fs.IntVar(&l.stream.PerDevice, "stream-per-device", envInt("POSD_STREAM_PER_DEVICE", d.PerDevice),
		"kitchen streams one device holds at once; one more ends its oldest (POSD_STREAM_PER_DEVICE)")
	fs.IntVar(&l.stream.PerVenue, "stream-per-venue", envInt("POSD_STREAM_PER_VENUE", d.PerVenue),
		"kitchen streams one venue holds at once; one more is answered 429 (POSD_STREAM_PER_VENUE)")
	fs.IntVar(&l.stream.OpensPerDevice, "stream-opens-per-device", envInt("POSD_STREAM_OPENS_PER_DEVICE", d.OpensPerDevice),
		"kitchen stream opens per device per minute; more are answered 429 (POSD_STREAM_OPENS_PER_DEVICE)")
	fs.IntVar(&l.stream.OpensPerVenue, "stream-opens-per-venue", envInt("POSD_STREAM_OPENS_PER_VENUE", d.OpensPerVenue),
		"kitchen stream opens per venue per minute; more are answered 429 (POSD_STREAM_OPENS_PER_VENUE)")
}

func (l *limits) validate() error {
	switch {
	case l.requestTimeout <= 0:
		return fmt.Errorf("--request-timeout must be positive, got %s", l.requestTimeout)
	case l.statementTimeout <= 0:
		return fmt.Errorf("--statement-timeout must be positive, got %s", l.statementTimeout)
	case l.maxConns < 1:
		return fmt.Errorf("--max-conns must be at least 1, got %d", l.maxConns)
	case l.maxConnsPerIP < 1:
		return fmt.Errorf("--max-conns-per-ip must be at least 1, got %d", l.maxConnsPerIP)
	}
	for _, f := range []struct {
		name string
		n    int
	}{{"stream-per-device", l.stream.PerDevice}, {"stream-per-venue", l.stream.PerVenue},
		{"stream-opens-per-device", l.stream.OpensPerDevice}, {"stream-opens-per-venue", l.stream.OpensPerVenue}} {
		if f.n < 1 {
			return fmt.Errorf("--%s must be at least 1, got %d", f.name, f.n)
		}
	}
	return nil
}

// envDuration is envString for durations; a malformed value falls back to
// def.
func envDuration(name string, def time.Duration) time.Duration {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

// serveStack runs the server until ctx is cancelled, then shuts down in
// reverse order: stop accepting and drain HTTP, close NATS, close the pool.
func serveStack(ctx context.Context, log zerolog.Logger, sc stack) error {
	log.Info().Str("version", buildVersion()).Str("addr", sc.addr).Str("database_url", redactDSN(sc.databaseURL)).
		Str("nats_url", redactURL(sc.natsURL)).Int("stream_replicas", sc.streamReplicas).
		Str("seal_public_key", audit.PublicKeyHex(sc.sealKey)).Msg("starting posd")

	poolCfg, err := pgxpool.ParseConfig(sc.databaseURL)
	if err != nil {
		return fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	if _, set := poolCfg.ConnConfig.RuntimeParams["pool_max_conns"]; !set && poolCfg.MaxConns < defaultMaxConns {
		poolCfg.MaxConns = defaultMaxConns
	}
	poolCfg.ConnConfig.RuntimeParams["application_name"] = "posd"
	store.ConfigurePool(poolCfg, sc.limits.statementTimeout)
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

	if err := checkStream(ctx, log, nc, js, sc.streamReplicas); err != nil {
		return err
	}

	m := metrics.New()
	st := store.New(pool)
	st.SignEvents(sc.sealKey)
	relayCtx, stopRelay := context.WithCancel(context.Background())
	relayDone := make(chan struct{})
	relay := outbox.New(poolCfg.ConnConfig.Copy(), js, outbox.Options{
		Log: log.With().Str("component", "outbox").Logger(), Metrics: outbox.NewMetrics(m.Registry),
		Replicas: sc.streamReplicas,
	})
	st.OnCommit(relay.Kick)
	go func() {
		defer close(relayDone)
		if err := relay.Run(relayCtx); err != nil {
			log.Error().Err(err).Msg("outbox relay stopped")
		}
	}()
	sealer := &audit.Sealer{Journal: st, Interval: sealInterval, Key: sc.sealKey, Previous: sc.previousKeys, Log: log.With().Str("component", "sealer").Logger()}
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
		Store:          st,
		KDS:            kds.NewGateway(js, st.OpenTickets, 15*time.Second),
		Auth:           auth.NewAuthenticator(st),
		Metrics:        m,
		Log:            log,
		Version:        buildVersion(),
		RequestTimeout: sc.limits.requestTimeout, MaxConns: sc.limits.maxConns, MaxConnsPerIP: sc.limits.maxConnsPerIP,
		StreamLimits: sc.limits.stream,
		Audit: audit.VerifyOptions{PublicKey: sc.sealKey.Public().(ed25519.PublicKey), PreviousKeys: sc.previousKeys,
			SealInterval: sealInterval, Stream: audit.JetStreamOf(js)},
		Ready: []httpapi.Check{
			{Name: "postgres", Run: pool.Ping},
			{Name: "nats", Reported: true, Run: func(context.Context) error {
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
	go func() { serveErr <- srv.Serve(ln) }()
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

// checkStream creates the POS stream, or checks the existing one, when NATS
// is reachable at start: settings posd cannot work with stop it here with the
// reason, other differences from posd's own settings are logged as warnings
// and left as the operator set them. When NATS is away the relay makes the
// same check once it can reach it (and publishes nothing until it passes).
func checkStream(ctx context.Context, log zerolog.Logger, nc *nats.Conn, js jetstream.JetStream, replicas int) error {
	if !nc.IsConnected() {
		log.Warn().Str("nats_status", nc.Status().String()).Msg("NATS unreachable at start: orders are taken, delivery waits in the outbox")
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, streamCheckTimeout)
	defer cancel()
	_, soft, err := outbox.CheckStream(ctx, js, replicas)
	for _, d := range soft {
		log.Warn().Str("stream", outbox.StreamName).Str("difference", d).
			Msg("the existing stream differs from posd's settings; left as it is")
	}
	var mismatch *outbox.StreamMismatchError
	if errors.As(err, &mismatch) {
		return err
	}
	if err != nil {
		log.Warn().Err(err).Msg("could not check the POS stream at start; the relay retries")
	}
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
