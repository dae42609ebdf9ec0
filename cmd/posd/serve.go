package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/posd/posd/internal/app"
	"github.com/posd/posd/internal/audit"
)

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("serve", "Serve the HTTP API against an existing Postgres and NATS.\n"+
		"Connect as posd's own role (a member of posd_app), not as the table owner;\n"+
		"run \"posd migrate\" first, as the owner.", stderr)
	cfg := app.Defaults()
	serveFlags(fs, &cfg)
	prevKeys := fs.String("seal-previous-public-keys", envString("POSD_SEAL_PREVIOUS_PUBLIC_KEYS", ""),
		"comma-separated public keys of rotated-out seal keys, whose seals posd still chains onto (POSD_SEAL_PREVIOUS_PUBLIC_KEYS)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	previous, err := audit.ParsePublicKeys(*prevKeys)
	if err != nil {
		return fmt.Errorf("--seal-previous-public-keys: %w", err)
	}
	cfg.SealPreviousKeys = previous
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, err := app.NewLogger(stderr, cfg.Log)
	if err != nil {
		return err
	}
	return runApp(ctx, cfg, app.Options{Log: log, Version: buildVersion()})
}

// serveFlags declares posd serve's flags over cfg; each default is cfg's
// value (app.Defaults), each flag also read from the environment.
func serveFlags(fs *flag.FlagSet, cfg *app.Config) {
	b := binder{fs}
	b.str(&cfg.Addr, "addr", "POSD_ADDR", "HTTP listen address")
	listenFlags(b, cfg)
	bindDatabaseURL(fs, &cfg.DatabaseURL, ofApp)
	bindReplicaURL(fs, &cfg.ReplicaURL, "GET /v1/audit/shift and /v1/audit/verify read the journal there, so a long report does not load the primary")
	b.int(&cfg.ReplicaPoolMaxConns, "replica-pool-max-conns", "POSD_REPLICA_POOL_MAX_CONNS",
		"Postgres connections in the standby's pool, unless DATABASE_REPLICA_URL sets pool_max_conns")
	b.str(&cfg.NATSURL, "nats-url", "NATS_URL", "NATS server URL")
	bindNATSCA(fs, &cfg.NATSCA)
	logFlags(fs, &cfg.Log)
	b.int(&cfg.PoolMaxConns, "pool-max-conns", "POSD_POOL_MAX_CONNS",
		"Postgres connections in posd's pool, unless DATABASE_URL sets pool_max_conns")
	b.dur(&cfg.RequestTimeout, "request-timeout", "POSD_REQUEST_TIMEOUT",
		"deadline of every request but the kitchen stream; past it the request answers 503")
	b.dur(&cfg.StatementTimeout, "statement-timeout", "POSD_STATEMENT_TIMEOUT",
		"Postgres statement_timeout of posd's connections, unless DATABASE_URL sets one")
	b.dur(&cfg.ShutdownTimeout, "shutdown-timeout", "POSD_SHUTDOWN_TIMEOUT",
		"how long in-flight requests may take to finish after SIGTERM or Ctrl-C")
	b.int(&cfg.OrderCache, "order-cache", "POSD_ORDER_CACHE",
		"orders kept in memory so a write that follows its own answer skips reading the order (0: none)")
	b.int(&cfg.MaxConns, "max-conns", "POSD_MAX_CONNS",
		"most HTTP connections open at once; one more is answered 503")
	b.int(&cfg.MaxConnsPerIP, "max-conns-per-ip", "POSD_MAX_CONNS_PER_IP",
		"most HTTP connections from one client address; one more is answered 429")
	b.int(&cfg.StreamLimits.PerDevice, "stream-per-device", "POSD_STREAM_PER_DEVICE",
		"kitchen streams one device holds at once; one more ends its oldest")
	b.int(&cfg.StreamLimits.PerVenue, "stream-per-venue", "POSD_STREAM_PER_VENUE",
		"kitchen streams one venue holds at once; one more is answered 429")
	b.int(&cfg.StreamLimits.OpensPerDevice, "stream-opens-per-device", "POSD_STREAM_OPENS_PER_DEVICE",
		"kitchen stream opens per device per minute; more are answered 429")
	b.int(&cfg.StreamLimits.OpensPerVenue, "stream-opens-per-venue", "POSD_STREAM_OPENS_PER_VENUE",
		"kitchen stream opens per venue per minute; more are answered 429")
	b.int(&cfg.StreamLimits.MaxReplay, "stream-max-replay", "POSD_STREAM_MAX_REPLAY",
		"most messages the venue stream (GET /v1/stream) replays after a cursor; more is a reset event")
	b.dur(&cfg.Heartbeat, "heartbeat", "POSD_HEARTBEAT",
		"longest a kitchen stream stays silent before a heartbeat")
	b.dur(&cfg.StreamAuthCheck, "stream-auth-check", "POSD_STREAM_AUTH_CHECK",
		"how often an open kitchen stream re-checks that its device is not revoked")
	b.int(&cfg.StreamReplicas, "stream-replicas", "POSD_STREAM_REPLICAS",
		"replicas of the POS JetStream stream when posd creates it: 1 for one NATS server, 3 for a cluster")
	b.str(&cfg.SealKeyFile, "seal-key-file", "POSD_SEAL_KEY_FILE",
		"file holding the Ed25519 seed that signs the journal's seals, mode 0600; create it with \"posd audit keygen\"")
	b.dur(&cfg.SealInterval, "seal-interval", "POSD_SEAL_INTERVAL",
		"how often each venue's order heads are sealed (give posd audit verify the same --seal-interval)")
	b.dur(&cfg.SweepInterval, "sweep-interval", "POSD_SWEEP_INTERVAL",
		"how often expired Idempotency-Key records are deleted")
}

// runApp builds posd from cfg and runs it until ctx ends.
func runApp(ctx context.Context, cfg app.Config, o app.Options) error {
	a, err := app.New(ctx, cfg, o)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// listenFlags declares --pprof-addr, --tls-cert and --tls-key (posd serve
// and posd dev).
func listenFlags(b binder, cfg *app.Config) {
	b.str(&cfg.PprofAddr, "pprof-addr", "POSD_PPROF_ADDR",
		"loopback host:port where posd serves Go's runtime profiles (/debug/pprof/), for measuring; off when empty")
	b.str(&cfg.TLSCert, "tls-cert", "POSD_TLS_CERT",
		"PEM certificate (chain) file: with --tls-key, posd serves HTTPS on --addr")
	b.str(&cfg.TLSKey, "tls-key", "POSD_TLS_KEY",
		"PEM private key file of --tls-cert")
}
