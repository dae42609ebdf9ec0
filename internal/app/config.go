package app

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/httpapi"
	"github.com/posd/posd/internal/kds"
	"github.com/posd/posd/internal/store"
)

// Config is every tunable of a running posd, in one typed struct. Defaults
// returns it filled with the values posd runs with unless told otherwise;
// Validate names each field that is out of range. Each field's key (the
// name Validate reports) is also the posd serve flag that sets it, where
// there is one.
type Config struct {
	// Addr is the HTTP listen address (addr).
	Addr string
	// TLSCert and TLSKey are PEM files of a certificate (chain) and its
	// key (tls-cert, tls-key): both given, posd serves HTTPS on Addr; both
	// empty, plain HTTP. A phone's browser runs the handheld's service
	// worker only over HTTPS.
	TLSCert, TLSKey string
	// PprofAddr, when set, is a loopback address where posd serves Go's
	// runtime profiles (net/http/pprof, pprof-addr): for measuring, off by
	// default.
	PprofAddr string
	// DatabaseURL is the Postgres connection string of posd's own role
	// (database-url; required). Its password is masked when logged.
	DatabaseURL string
	// ReplicaURL, when set, is a standby's connection string (replica-url):
	// GET /v1/audit/shift and /v1/audit/verify read the journal there, so a
	// month's report does not load the primary, and say how far behind it
	// was. Its password is masked when logged. ReplicaPoolMaxConns is its
	// pool's size unless it sets pool_max_conns.
	ReplicaURL          string
	ReplicaPoolMaxConns int
	// PoolMaxConns is the pool size unless DatabaseURL sets pool_max_conns
	// (pool-max-conns).
	PoolMaxConns int
	// ConnectTimeout bounds the first ping of Postgres at start
	// (connect-timeout).
	ConnectTimeout time.Duration
	// StatementTimeout is Postgres's statement_timeout on posd's
	// connections unless DatabaseURL sets one (statement-timeout).
	StatementTimeout time.Duration

	// NATSURL is the NATS server posd publishes to and reads kitchen
	// streams from (nats-url). posd dev points it at its embedded server.
	NATSURL string
	// NATSCA is a PEM file of the CA that signed the NATS servers'
	// certificates (nats-ca), for TLS to a cluster with its own CA; empty:
	// the system's roots (TLS is used when the servers ask for it or the
	// URL says tls://). User and password go in NATSURL.
	NATSCA string
	// NATSReconnectWait is the pause between NATS reconnect attempts
	// (nats-reconnect-wait); posd retries for ever.
	NATSReconnectWait time.Duration
	// PublishAckTimeout bounds the wait for a JetStream acknowledgement
	// (publish-ack-timeout).
	PublishAckTimeout time.Duration
	// StreamReplicas is the POS stream's replica count when posd creates it
	// (stream-replicas): 1 for one NATS server, 3 for a cluster.
	StreamReplicas int
	// StreamCheckTimeout bounds the start-up check of the POS stream
	// (stream-check-timeout).
	StreamCheckTimeout time.Duration

	// Log is the log format and level.
	Log LogConfig
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// after a stop signal (shutdown-timeout).
	ShutdownTimeout time.Duration

	// SealKeyFile holds the Ed25519 seed that signs events and seals
	// (seal-key-file). SealKey, when set, is used instead (posd dev and the
	// tests hold the key themselves); one of the two is required. The key
	// is never logged, only its public half.
	SealKeyFile string
	SealKey     ed25519.PrivateKey
	// SealPreviousKeys are the public halves of rotated-out seal keys
	// (seal-previous-public-keys).
	SealPreviousKeys []ed25519.PublicKey
	// SealInterval is how often each venue's order heads are sealed
	// (seal-interval).
	SealInterval time.Duration

	// SweepInterval is how often expired Idempotency-Key records are
	// deleted (sweep-interval).
	SweepInterval time.Duration

	// MenuTTL is how long a venue's menu is served from memory (no flag;
	// the menu moves to the catalog of DESIGN.md section 9).
	MenuTTL time.Duration
	// OrderCache is how many orders the store keeps in memory, each at its
	// latest version, so a write that follows its client's own answer is
	// planned without reading the order again (order-cache; 0: none).
	OrderCache int
	// MenuListenRetry is how long the menu notification listener waits
	// before reconnecting to Postgres (no flag).
	MenuListenRetry time.Duration

	// RequestTimeout is the deadline of every request but the kitchen
	// stream (request-timeout); AuditTimeout that of /v1/audit/*
	// (audit-timeout).
	RequestTimeout time.Duration
	AuditTimeout   time.Duration
	// MaxConns and MaxConnsPerIP cap open HTTP connections in total
	// (max-conns) and per client address (max-conns-per-ip).
	MaxConns      int
	MaxConnsPerIP int

	// Heartbeat is the longest a kitchen stream stays silent (heartbeat).
	Heartbeat time.Duration
	// StreamAuthCheck is how often an open kitchen stream re-checks that
	// its device is still active (stream-auth-check).
	StreamAuthCheck time.Duration
	// StreamLimits bound kitchen streams per device and per venue
	// (stream-per-device, stream-per-venue, stream-opens-per-device,
	// stream-opens-per-venue, stream-window, stream-write-timeout,
	// stream-auth-fresh).
	StreamLimits httpapi.StreamLimits

	// VerifyStream makes GET /v1/audit/verify compare each order with its
	// last JetStream message (verify-stream), leaving out orders changed
	// within VerifyStreamGrace (verify-stream-grace).
	VerifyStream      bool
	VerifyStreamGrace time.Duration

	// Relay runs the outbox relay (relay). Only tests that drive a relay
	// of their own turn it off; posd without a relay delivers nothing.
	Relay bool
}

// LogConfig is how posd logs.
type LogConfig struct {
	// Format is json (one JSON object per line) or console (log-format).
	Format string
	// Level is trace, debug, info, warn or error (log-level).
	Level string
}

// Defaults is the configuration posd runs with unless told otherwise; only
// DatabaseURL and the seal key have no default.
func Defaults() Config {
	return Config{
		Addr:                "127.0.0.1:8080",
		PoolMaxConns:        16,
		ReplicaPoolMaxConns: 4,
		ConnectTimeout:      10 * time.Second,
		StatementTimeout:    store.DefaultStatementTimeout,
		NATSURL:             nats.DefaultURL,
		NATSReconnectWait:   time.Second,
		PublishAckTimeout:   5 * time.Second,
		StreamReplicas:      1,
		StreamCheckTimeout:  10 * time.Second,
		Log:                 LogConfig{Format: "json", Level: "info"},
		ShutdownTimeout:     10 * time.Second,
		SealInterval:        audit.DefaultSealInterval,
		SweepInterval:       10 * time.Minute,
		MenuTTL:             store.DefaultMenuTTL,
		OrderCache:          store.DefaultOrderCache,
		MenuListenRetry:     store.DefaultMenuListenRetry,
		RequestTimeout:      httpapi.DefaultRequestTimeout,
		AuditTimeout:        httpapi.DefaultAuditTimeout,
		MaxConns:            httpapi.DefaultMaxConns,
		MaxConnsPerIP:       httpapi.DefaultMaxConnsPerIP,
		Heartbeat:           kds.DefaultHeartbeat,
		StreamAuthCheck:     httpapi.DefaultStreamAuthCheck,
		StreamLimits:        httpapi.DefaultStreamLimits,
		VerifyStream:        true,
		VerifyStreamGrace:   audit.DefaultStreamGrace,
		Relay:               true,
	}
}

// MaxStreamReplicas is JetStream's own limit on a stream's replicas.
const MaxStreamReplicas = 5

// MaxOrderCache bounds order-cache: at most store's 64 lines an order, a
// million orders is already tens of gigabytes.
const MaxOrderCache = 1_000_000

// FieldError is one configuration field out of range; Field is its key
// (also its posd serve flag).
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return "--" + e.Field + " " + e.Msg }

// ValidationError is every field out of range (errors.As finds each
// *FieldError).
type ValidationError []error

func (e ValidationError) Error() string {
	parts := make([]string, len(e))
	for i, err := range e {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; ")
}

func (e ValidationError) Unwrap() []error { return e }

// Validate reports every field out of range, each as a *FieldError naming
// it, in a ValidationError; or nil.
func (c Config) Validate() error {
	var errs ValidationError
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if c.DatabaseURL == "" {
		bad("database-url", "(DATABASE_URL) is required")
	}
	if c.Addr == "" {
		bad("addr", "(POSD_ADDR) is required")
	}
	if c.NATSURL == "" {
		bad("nats-url", "(NATS_URL) is required")
	}
	if err := c.checkTLS(); err != nil {
		errs = append(errs, err)
	}
	if err := CheckPprofAddr(c.PprofAddr); err != nil {
		errs = append(errs, err)
	}
	if c.SealKey == nil && c.SealKeyFile == "" {
		bad("seal-key-file", "(POSD_SEAL_KEY_FILE) is required: create one with \"posd audit keygen --out FILE\"")
	}
	if c.SealKey != nil && len(c.SealKey) != ed25519.PrivateKeySize {
		bad("seal-key-file", "holds no Ed25519 private key")
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > MaxStreamReplicas {
		bad("stream-replicas", "must be between 1 and %d, got %d", MaxStreamReplicas, c.StreamReplicas)
	}
	if c.OrderCache < 0 || c.OrderCache > MaxOrderCache {
		bad("order-cache", "must be between 0 and %d, got %d", MaxOrderCache, c.OrderCache)
	}
	if _, err := zerolog.ParseLevel(c.Log.Level); err != nil || c.Log.Level == "" {
		bad("log-level", "must be one of trace, debug, info, warn, error; got %q", c.Log.Level)
	}
	if c.Log.Format != "json" && c.Log.Format != "console" {
		bad("log-format", "must be json or console; got %q", c.Log.Format)
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"connect-timeout", c.ConnectTimeout}, {"statement-timeout", c.StatementTimeout},
		{"nats-reconnect-wait", c.NATSReconnectWait}, {"publish-ack-timeout", c.PublishAckTimeout},
		{"stream-check-timeout", c.StreamCheckTimeout}, {"shutdown-timeout", c.ShutdownTimeout},
		{"seal-interval", c.SealInterval}, {"sweep-interval", c.SweepInterval}, {"menu-ttl", c.MenuTTL},
		{"menu-listen-retry", c.MenuListenRetry},
		{"request-timeout", c.RequestTimeout}, {"audit-timeout", c.AuditTimeout},
		{"heartbeat", c.Heartbeat}, {"stream-auth-check", c.StreamAuthCheck},
		{"stream-window", c.StreamLimits.Window}, {"stream-write-timeout", c.StreamLimits.WriteTimeout},
		{"stream-auth-fresh", c.StreamLimits.AuthFresh}, {"verify-stream-grace", c.VerifyStreamGrace},
	} {
		if d.v <= 0 {
			bad(d.field, "must be positive, got %s", d.v)
		}
	}
	for _, n := range []struct {
		field string
		v     int
	}{
		{"pool-max-conns", c.PoolMaxConns}, {"replica-pool-max-conns", c.ReplicaPoolMaxConns}, {"max-conns", c.MaxConns}, {"max-conns-per-ip", c.MaxConnsPerIP},
		{"stream-per-device", c.StreamLimits.PerDevice}, {"stream-per-venue", c.StreamLimits.PerVenue},
		{"stream-opens-per-device", c.StreamLimits.OpensPerDevice}, {"stream-opens-per-venue", c.StreamLimits.OpensPerVenue},
		{"stream-max-replay", c.StreamLimits.MaxReplay},
	} {
		if n.v < 1 {
			bad(n.field, "must be at least 1, got %d", n.v)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// MarshalZerologObject writes the effective configuration as log fields,
// secrets masked: the database password (either DSN form) and NATS URL
// credentials are replaced by xxxxx; of the seal key only the public half
// and the file it came from are shown.
func (c Config) MarshalZerologObject(e *zerolog.Event) {
	e.Str("addr", c.Addr).Str("database_url", RedactDSN(c.DatabaseURL)).Int("pool_max_conns", c.PoolMaxConns).
		Str("replica_url", RedactDSN(c.ReplicaURL)).Int("replica_pool_max_conns", c.ReplicaPoolMaxConns).
		Stringer("connect_timeout", c.ConnectTimeout).Stringer("statement_timeout", c.StatementTimeout).
		Str("nats_url", RedactURL(c.NATSURL)).Str("nats_ca", c.NATSCA).Stringer("nats_reconnect_wait", c.NATSReconnectWait).
		Stringer("publish_ack_timeout", c.PublishAckTimeout).Int("stream_replicas", c.StreamReplicas).
		Stringer("stream_check_timeout", c.StreamCheckTimeout).
		Str("log_format", c.Log.Format).Str("log_level", c.Log.Level).Stringer("shutdown_timeout", c.ShutdownTimeout).
		Str("seal_key_file", c.SealKeyFile).Int("seal_previous_keys", len(c.SealPreviousKeys)).
		Stringer("seal_interval", c.SealInterval).Stringer("sweep_interval", c.SweepInterval).Stringer("menu_ttl", c.MenuTTL).Int("order_cache", c.OrderCache).
		Stringer("request_timeout", c.RequestTimeout).Stringer("audit_timeout", c.AuditTimeout).
		Int("max_conns", c.MaxConns).Int("max_conns_per_ip", c.MaxConnsPerIP).
		Stringer("heartbeat", c.Heartbeat).Stringer("stream_auth_check", c.StreamAuthCheck).
		Int("stream_per_device", c.StreamLimits.PerDevice).Int("stream_per_venue", c.StreamLimits.PerVenue).
		Int("stream_opens_per_device", c.StreamLimits.OpensPerDevice).Int("stream_opens_per_venue", c.StreamLimits.OpensPerVenue).
		Stringer("stream_window", c.StreamLimits.Window).Stringer("stream_write_timeout", c.StreamLimits.WriteTimeout).
		Stringer("stream_auth_fresh", c.StreamLimits.AuthFresh).Int("stream_max_replay", c.StreamLimits.MaxReplay).
		Str("tls_cert", c.TLSCert).Str("pprof_addr", c.PprofAddr).
		Bool("verify_stream", c.VerifyStream).Stringer("verify_stream_grace", c.VerifyStreamGrace).Bool("relay", c.Relay)
	if len(c.SealKey) == ed25519.PrivateKeySize {
		e.Str("seal_public_key", audit.PublicKeyHex(c.SealKey))
	}
}

// CheckPprofAddr refuses a profile address that is not host:port on a
// loopback host: the profiles show the server's insides (stacks, memory),
// so they are never served to the network.
func CheckPprofAddr(addr string) *FieldError {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err == nil && host != "localhost" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			err = errors.New("not a loopback host")
		}
	}
	if err != nil {
		return &FieldError{Field: "pprof-addr", Msg: fmt.Sprintf("(POSD_PPROF_ADDR) %q must be host:port on a loopback host (127.0.0.1, ::1, localhost): %v", addr, err)}
	}
	return nil
}

// checkTLS refuses one of TLSCert and TLSKey without the other.
func (c Config) checkTLS() *FieldError {
	switch {
	case c.TLSCert != "" && c.TLSKey == "":
		return &FieldError{Field: "tls-key", Msg: "(POSD_TLS_KEY) is required with --tls-cert: give both to serve HTTPS, or neither"}
	case c.TLSKey != "" && c.TLSCert == "":
		return &FieldError{Field: "tls-cert", Msg: "(POSD_TLS_CERT) is required with --tls-key: give both to serve HTTPS, or neither"}
	}
	return nil
}

// CheckTLS is Validate's check of TLSCert and TLSKey alone (for posd dev,
// whose other fields it sets itself).
func (c Config) CheckTLS() error {
	if err := c.checkTLS(); err != nil {
		return ValidationError{err}
	}
	return nil
}
