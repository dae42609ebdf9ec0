// Package app is posd's composition root: it builds the whole server (the
// Postgres pool, the NATS connection and the POS stream check, the store,
// the outbox relay, the journal's sealer, the Idempotency-Key sweeper, the
// kitchen gateway and the HTTP edge) from one validated Config, runs the
// components under one errgroup and stops them in reverse order of start.
// posd serve, posd dev and the test harness (internal/apitest) all build
// posd here, so the tests run what production runs.
package app

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/httpapi"
	"github.com/posd/posd/internal/kds"
	"github.com/posd/posd/internal/metrics"
	"github.com/posd/posd/internal/outbox"
	"github.com/posd/posd/internal/store"
)

// Options are what New needs besides the configuration: where to log, and
// seams for the callers that embed posd.
type Options struct {
	// Log is the process logger (see NewLogger).
	Log zerolog.Logger
	// Version is the build's version, logged and reported by /healthz.
	Version string
	// OnListening, if set, is called with the bound HTTP address once every
	// component runs.
	OnListening func(addr string)
	// AdjustPool, if set, changes the server pool's configuration after
	// posd's own settings (tests point it at a dead or frozen port). The
	// relay keeps its own connection from the unadjusted configuration.
	AdjustPool func(*pgxpool.Config)
	// SkipStartPing starts without checking that Postgres answers (tests
	// of a Postgres that is not there); posd serve always checks.
	SkipStartPing bool
}

// App is one built posd, ready to Run.
type App struct {
	cfg  Config
	log  zerolog.Logger
	opts Options

	Pool *pgxpool.Pool
	// ReplicaPool is the standby's (Config.ReplicaURL), nil without one.
	ReplicaPool *pgxpool.Pool
	NC          *nats.Conn
	JS          jetstream.JetStream
	Store       *store.Store
	Metrics     *metrics.Metrics
	Server      *httpapi.Server
	// Relay is the outbox relay (nil when Config.Relay is off).
	Relay *outbox.Relay

	ln         net.Listener
	pprofLn    net.Listener // --pprof-addr's, when set
	components []component
	// sealed is closed once the sealer's round at start is done.
	sealed chan struct{}
	// menuListening is closed once the menu listener first listens.
	menuListening chan struct{}
}

// MenuListening is closed once this posd first listens for other
// replicas' menu changes (store.ListenMenu).
func (a *App) MenuListening() <-chan struct{} { return a.menuListening }

// Sealed is closed once the journal's sealer has finished its sealing
// round at start (see audit.Sealer.Run).
func (a *App) Sealed() <-chan struct{} { return a.sealed }

// component is one long-running part of posd. run returns when ctx ends
// (or the component fails); stop, if set, makes run return for parts that
// do not watch ctx (the HTTP server).
type component struct {
	name string
	run  func(ctx context.Context) error
	stop func()
}

// New validates cfg, loads the seal key, connects to Postgres and NATS,
// checks the POS stream, builds every component and binds the HTTP
// listener. Nothing runs until Run. On error everything opened is closed.
func New(ctx context.Context, cfg Config, o Options) (a *App, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.SealKey == nil {
		if cfg.SealKey, err = audit.LoadSealKey(cfg.SealKeyFile); err != nil {
			return nil, err
		}
	}
	a = &App{cfg: cfg, log: o.Log, opts: o}
	o.Log.Info().Str("version", o.Version).EmbedObject(cfg).Msg("starting posd")
	defer func() {
		if err != nil {
			a.close()
		}
	}()

	poolCfg, err := poolConfig(cfg.DatabaseURL, "DATABASE_URL", "posd", cfg.PoolMaxConns, cfg.StatementTimeout)
	if err != nil {
		return a, err
	}
	relayConn := poolCfg.ConnConfig.Copy()
	menuConn := poolCfg.ConnConfig.Copy()
	if o.AdjustPool != nil {
		o.AdjustPool(poolCfg)
	}
	if a.Pool, err = pgxpool.NewWithConfig(ctx, poolCfg); err != nil {
		return a, fmt.Errorf("connect to Postgres: %w", err)
	}
	if !o.SkipStartPing {
		pingCtx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
		err = a.Pool.Ping(pingCtx)
		cancel()
		if err != nil {
			return a, fmt.Errorf("connect to Postgres: %w", err)
		}
	}
	if cfg.ReplicaURL != "" {
		if a.ReplicaPool, err = a.openReplica(ctx); err != nil {
			return a, err
		}
	}

	// posd keeps serving orders while NATS is away; delivery resumes when it
	// is back, so the first connection may fail and is retried for ever.
	log := o.Log
	natsOpts := []nats.Option{nats.Name("posd"), nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1), nats.ReconnectWait(cfg.NATSReconnectWait),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn().Err(err).Msg("NATS disconnected")
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info().Str("nats_url", c.ConnectedUrlRedacted()).Msg("NATS reconnected") })}
	if cfg.NATSCA != "" {
		natsOpts = append(natsOpts, nats.RootCAs(cfg.NATSCA))
	}
	if a.NC, err = nats.Connect(cfg.NATSURL, natsOpts...); err != nil {
		return a, fmt.Errorf("connect to NATS: %w", err)
	}
	if a.JS, err = jetstream.New(a.NC, jetstream.WithPublishAsyncTimeout(cfg.PublishAckTimeout)); err != nil {
		return a, fmt.Errorf("JetStream: %w", err)
	}
	if err := a.checkStream(ctx); err != nil {
		return a, err
	}

	a.Metrics = metrics.New()
	a.Store = store.New(a.Pool)
	a.Store.SignEvents(cfg.SealKey)
	a.Store.SetMenuTTL(cfg.MenuTTL)
	a.Store.SetOrderCache(cfg.OrderCache)
	a.Metrics.Registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "posd_order_cache_hits_total",
			Help: "Writes planned on the order the store kept (no read of the order)."},
			func() float64 { h, _ := a.Store.OrderCacheStats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "posd_order_cache_misses_total",
			Help: "Writes naming a version the store did not keep (they read the order first)."},
			func() float64 { _, m := a.Store.OrderCacheStats(); return float64(m) }))
	// Every replica drops a venue's cached menu when another changes it
	// (store.ListenMenu); the write path's own check covers what a lost
	// notification would leave stale.
	menuLog := log.With().Str("component", "menu listener").Logger()
	a.menuListening = make(chan struct{})
	var listening sync.Once
	a.components = append(a.components, component{name: "menu listener", run: func(ctx context.Context) error {
		a.Store.ListenMenu(ctx, menuConn, cfg.MenuListenRetry,
			func(err error) { menuLog.Warn().Err(err).Msg("menu notifications lost; reconnecting") },
			func() { listening.Do(func() { close(a.menuListening) }) })
		return nil
	}})
	if cfg.Relay {
		a.Relay = outbox.New(relayConn, a.JS, outbox.Options{
			Log: log.With().Str("component", "outbox").Logger(), Metrics: outbox.NewMetrics(a.Metrics.Registry),
			Replicas: cfg.StreamReplicas,
		})
		a.Store.OnCommit(a.Relay.Kick)
		a.components = append(a.components, component{name: "outbox relay", run: a.Relay.Run})
	}
	sealer := &audit.Sealer{Journal: a.Store, Interval: cfg.SealInterval, Key: cfg.SealKey, Previous: cfg.SealPreviousKeys,
		Log: log.With().Str("component", "sealer").Logger(), Observe: sealMetrics(a.Metrics.Registry)}
	a.sealed = make(chan struct{})
	sealer.FirstPass = func() { close(a.sealed) }
	a.components = append(a.components,
		component{name: "sealer", run: func(ctx context.Context) error { sealer.Run(ctx); return nil }},
		component{name: "idempotency sweeper", run: a.sweepIdempotencyKeys})

	verify := audit.VerifyOptions{PublicKey: cfg.SealKey.Public().(ed25519.PublicKey), PreviousKeys: cfg.SealPreviousKeys,
		SealInterval: cfg.SealInterval}
	if cfg.VerifyStream {
		verify.Stream, verify.StreamGrace = audit.JetStreamOf(a.JS), cfg.VerifyStreamGrace
	}
	nc := a.NC
	var auditStore *store.Store
	if a.ReplicaPool != nil {
		auditStore = store.NewReplica(a.ReplicaPool)
	}
	a.Server = httpapi.New(httpapi.Config{
		Store:           a.Store,
		AuditStore:      auditStore,
		KDS:             kds.NewGatewayWith(a.JS, a.Store.OpenTickets, kds.Options{Heartbeat: cfg.Heartbeat, OrderAt: a.Store.At}),
		Auth:            auth.NewAuthenticator(a.Store),
		Metrics:         a.Metrics,
		Log:             log,
		Version:         o.Version,
		StreamAuthCheck: cfg.StreamAuthCheck,
		StreamLimits:    cfg.StreamLimits,
		RequestTimeout:  cfg.RequestTimeout, AuditTimeout: cfg.AuditTimeout,
		MaxConns: cfg.MaxConns, MaxConnsPerIP: cfg.MaxConnsPerIP,
		Audit: verify,
		Ready: []httpapi.Check{
			{Name: "postgres", Run: a.Pool.Ping},
			{Name: "nats", Reported: true, Run: func(context.Context) error {
				if !nc.IsConnected() {
					return fmt.Errorf("not connected (%s)", nc.Status())
				}
				return nil
			}},
		},
	})
	var tlsConf *tls.Config
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return a, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if a.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return a, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if tlsConf != nil {
		a.ln = tls.NewListener(a.ln, tlsConf)
	}
	srv, ln := a.Server, a.ln
	if cfg.PprofAddr != "" {
		if err := a.servePprof(cfg.PprofAddr, log); err != nil {
			return nil, err
		}
	}
	a.components = append(a.components, component{name: "HTTP server",
		run: func(context.Context) error { return srv.Serve(ln) },
		stop: func() {
			log.Info().Msg("shutting down: draining HTTP requests")
			srv.CloseStreams()
			if err := srv.App().ShutdownWithTimeout(cfg.ShutdownTimeout); err != nil {
				log.Warn().Err(err).Msg("HTTP shutdown")
			}
		}})
	return a, nil
}

// Addr is the bound HTTP address (the port chosen when Config.Addr asks
// for port 0).
func (a *App) Addr() string { return a.ln.Addr().String() }

// Config is the effective configuration (the seal key loaded).
func (a *App) Config() Config { return a.cfg }

// Run runs every component until ctx ends or one of them fails, then stops
// them in reverse order of start (the HTTP server first, the relay last),
// drains NATS and closes the pool. It returns the first component's
// failure, or nil after a stop asked for by ctx.
func (a *App) Run(ctx context.Context) error {
	defer a.close()
	g, gctx := errgroup.WithContext(ctx)
	var stopping atomic.Bool
	type running struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	runs := make([]running, len(a.components))
	for i, c := range a.components {
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		runs[i] = running{cancel, done}
		g.Go(func() error {
			defer close(done)
			err := c.run(cctx)
			if stopping.Load() {
				if err != nil {
					a.log.Warn().Err(err).Str("component", c.name).Msg("stopped with an error")
				}
				return nil
			}
			if err == nil {
				err = errors.New("stopped unexpectedly")
			}
			a.log.Error().Err(err).Str("component", c.name).Msg("component failed; stopping posd")
			return fmt.Errorf("%s: %w", c.name, err)
		})
	}
	a.log.Info().Str("url", "http://"+a.Addr()).Msg("HTTP API listening")
	if a.opts.OnListening != nil {
		a.opts.OnListening(a.Addr())
	}
	<-gctx.Done()
	stopping.Store(true)
	for i := len(a.components) - 1; i >= 0; i-- {
		if stop := a.components[i].stop; stop != nil {
			stop()
		}
		runs[i].cancel()
		<-runs[i].done
	}
	err := g.Wait()
	if err == nil {
		a.log.Info().Msg("posd stopped")
	}
	return err
}

// close releases what New opened, last opened first: the listener (if Run
// never served it), NATS (drained, so acknowledged publishes are not cut
// off) and the pool.
func (a *App) close() {
	if a.ln != nil {
		_ = a.ln.Close()
	}
	if a.pprofLn != nil {
		_ = a.pprofLn.Close()
	}
	if a.NC != nil {
		if err := a.NC.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionReconnecting) && !errors.Is(err, nats.ErrConnectionClosed) {
			a.log.Warn().Err(err).Msg("NATS drain")
		}
		deadline := time.Now().Add(a.cfg.ShutdownTimeout)
		for !a.NC.IsClosed() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		a.NC.Close()
	}
	if a.ReplicaPool != nil {
		a.ReplicaPool.Close()
	}
	if a.Pool != nil {
		a.Pool.Close()
	}
}

// poolConfig parses the pool URL named env: maxConns connections unless
// the URL sets pool_max_conns, application_name app, and posd's statement
// timeout and cancellation (store.ConfigurePool).
func poolConfig(url, env, app string, maxConns int, statementTimeout time.Duration) (*pgxpool.Config, error) {
	c, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", env, err)
	}
	if _, set := c.ConnConfig.RuntimeParams["pool_max_conns"]; !set {
		c.MaxConns = int32(maxConns)
	}
	c.ConnConfig.RuntimeParams["application_name"] = app
	store.ConfigurePool(c, statementTimeout)
	return c, nil
}

// ReplicaConnLifetime is how long a connection to the standby the audit
// routes read is kept (the primary's pool keeps its connections for pgx's
// default hour).
const ReplicaConnLifetime = 2 * time.Minute

// openReplica opens the pool of the standby the audit routes read
// (Config.ReplicaURL). A standby that does not answer at start is logged,
// not fatal: orders do not need it, and the pool connects when it can (an
// audit read meanwhile answers 503 standby-unavailable).
func (a *App) openReplica(ctx context.Context) (*pgxpool.Pool, error) {
	cfg := a.cfg
	poolCfg, err := poolConfig(cfg.ReplicaURL, "DATABASE_REPLICA_URL", "posd audit", cfg.ReplicaPoolMaxConns, cfg.StatementTimeout)
	if err != nil {
		return nil, err
	}
	// After a failover the standby may be the primary now: connections
	// are renewed often, so a URL naming both nodes with
	// target_session_attrs=prefer-standby finds the standby again.
	poolCfg.MaxConnLifetime = ReplicaConnLifetime
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("connect to the standby (DATABASE_REPLICA_URL): %w", err)
	}
	if a.opts.SkipStartPing {
		return pool, nil
	}
	pingCtx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	log := a.log.With().Str("replica_url", RedactDSN(cfg.ReplicaURL)).Logger()
	switch from, err := store.NewReplica(pool).ReadFrom(pingCtx); {
	case err != nil:
		log.Warn().Err(err).Msg("the standby (DATABASE_REPLICA_URL) does not answer: the audit routes answer 503 until it does")
	case !from.Standby:
		log.Warn().Msg("DATABASE_REPLICA_URL is a primary, not a standby: the audit routes read there and say so (Posd-Read-From: primary)")
	default:
		log.Info().Str("read_from", from.String()).Msg("the audit routes read the standby")
	}
	// The first audit read connects afresh, to whichever node is the
	// standby then.
	pool.Reset()
	return pool, nil
}

// checkStream creates the POS stream, or checks the existing one, when NATS
// is reachable at start: settings posd cannot work with stop it here with the
// reason, other differences from posd's own settings are logged as warnings
// and left as the operator set them. When NATS is away the relay makes the
// same check once it can reach it (and publishes nothing until it passes).
func (a *App) checkStream(ctx context.Context) error {
	if !a.NC.IsConnected() {
		a.log.Warn().Str("nats_status", a.NC.Status().String()).Msg("NATS unreachable at start: orders are taken, delivery waits in the outbox")
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.StreamCheckTimeout)
	defer cancel()
	_, soft, err := outbox.CheckStream(ctx, a.JS, a.cfg.StreamReplicas)
	for _, d := range soft {
		a.log.Warn().Str("stream", outbox.StreamName).Str("difference", d).
			Msg("the existing stream differs from posd's settings; left as it is")
	}
	var mismatch *outbox.StreamMismatchError
	if errors.As(err, &mismatch) {
		return err
	}
	if err != nil {
		a.log.Warn().Err(err).Msg("could not check the POS stream at start; the relay retries")
	}
	return nil
}

// sweepIdempotencyKeys deletes expired Idempotency-Key records every
// SweepInterval until ctx ends.
func (a *App) sweepIdempotencyKeys(ctx context.Context) error {
	t := time.NewTicker(a.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if n, err := a.Store.SweepIdempotency(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn().Err(err).Msg("sweep idempotency keys")
		} else if n > 0 {
			a.log.Debug().Int64("keys", n).Msg("swept expired idempotency keys")
		}
	}
}

// PprofAddr is the address the runtime profiles are served on, "" when
// they are not (Config.PprofAddr).
func (a *App) PprofAddr() string {
	if a.pprofLn == nil {
		return ""
	}
	return a.pprofLn.Addr().String()
}

// servePprof adds a component serving Go's runtime profiles
// (net/http/pprof) on addr, a loopback address (Config.PprofAddr).
func (a *App) servePprof(addr string, log zerolog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof-addr: %w", err)
	}
	a.pprofLn = ln
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Warn().Str("url", "http://"+ln.Addr().String()+"/debug/pprof/").Msg("serving Go's runtime profiles (--pprof-addr)")
	a.components = append(a.components, component{name: "pprof server",
		run: func(context.Context) error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
		stop: func() { _ = srv.Close() }})
	return nil
}

// sealMetrics registers the sealer's instruments in reg and returns the
// sealer's Observe: the time of the last round that ended without an error
// (every venue sealed, or nothing new to seal, or another replica holding
// a venue's sealing lock), and refused rounds by reason.
func sealMetrics(reg prometheus.Registerer) func(error) {
	last := prometheus.NewGauge(prometheus.GaugeOpts{Name: "posd_seal_last_success_timestamp_seconds",
		Help: "Unix time of this process's last sealing round that ended without an error."})
	failed := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "posd_seal_failures_total",
		Help: "Sealing rounds that ended with an error, by reason: tampering (a venue's seals were removed or rewritten; run posd audit verify) or error (Postgres)."},
		[]string{"reason"})
	tampering, other := failed.WithLabelValues("tampering"), failed.WithLabelValues("error")
	reg.MustRegister(last, failed)
	return func(err error) {
		switch {
		case err == nil:
			last.SetToCurrentTime()
		case errors.Is(err, audit.ErrForeignSeal):
			tampering.Inc()
		default:
			other.Inc()
		}
	}
}
