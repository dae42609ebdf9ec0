// Package apitest runs the whole posd HTTP stack for tests: a fresh Postgres
// database from pgtest, an embedded NATS server, the real Fiber server on a
// loopback port, and a small HTTP client speaking to it over TCP.
package apitest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/httpapi"
	"github.com/posd/posd/internal/kds"
	"github.com/posd/posd/internal/metrics"
	"github.com/posd/posd/internal/natsembed"
	"github.com/posd/posd/internal/outbox"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/store"
)

// Main starts Postgres for the test binary. Use it from TestMain.
func Main(m *testing.M) {
	pgtest.Main(m)
}

// Options tune Start.
type Options struct {
	// NoRelay leaves the outbox relay off (tests start their own).
	NoRelay bool
	// Heartbeat is the kitchen stream's heartbeat interval.
	Heartbeat time.Duration
	// StreamAuthCheck is how often a kitchen stream re-checks its device.
	StreamAuthCheck time.Duration
	// StreamLimits bound kitchen streams (zero fields: the defaults).
	StreamLimits httpapi.StreamLimits
	// RequestTimeout, StatementTimeout, MaxConns and MaxConnsPerIP are
	// the server's bounds (0: posd's defaults).
	RequestTimeout   time.Duration
	StatementTimeout time.Duration
	MaxConns         int
	MaxConnsPerIP    int
	// VerifyStream makes GET /v1/audit/verify compare each order with
	// JetStream (as posd serve does), with StreamGrace (0: the default).
	VerifyStream bool
	StreamGrace  time.Duration
	// Pool, when set, adjusts the configuration of the pool the server
	// uses (not the test's DB handles), e.g. to point it at a dead port.
	Pool func(*pgxpool.Config)
}

// Stack is one running posd over its own database and its own NATS server.
type Stack struct {
	DB      *pgtest.DB
	Store   *store.Store
	Metrics *metrics.Metrics
	BaseURL string
	Client  *http.Client
	Logs    *bytes.Buffer
	logMu   *sync.Mutex

	// NATS is this test's server; NATSDir its JetStream store, so a test can
	// stop it and start it again (RestartNATS) on the same port.
	NATS    *natsembed.Server
	NATSDir string
	NC      *nats.Conn
	JS      jetstream.JetStream
	// Server is the running HTTP edge (its Fiber app lists the routes).
	Server *httpapi.Server

	// SealKey is the server's seal signing key: GET /v1/audit/verify checks
	// seals against its public half. No sealer runs; a test seals with
	// audit.Sealer{Key: SealKey}.
	SealKey ed25519.PrivateKey
}

// Start runs posd for one test and stops it when the test ends.
func Start(t testing.TB, opts ...Options) *Stack {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	db := pgtest.NewDB(t)
	dir := t.TempDir()
	ns, err := natsembed.Start(natsembed.Options{StoreDir: dir})
	if err != nil {
		t.Fatalf("apitest: start NATS: %v", err)
	}
	s := &Stack{DB: db, NATS: ns, NATSDir: dir, Logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	t.Cleanup(func() { s.NATS.Shutdown() })
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("apitest: connect NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	s.NC = nc
	s.JS, err = jetstream.New(nc, jetstream.WithPublishAsyncTimeout(5*time.Second))
	if err != nil {
		t.Fatalf("apitest: JetStream: %v", err)
	}
	if _, err := outbox.EnsureStream(context.Background(), s.JS, 1); err != nil {
		t.Fatalf("apitest: %v", err)
	}
	// The server's pool is configured as posd serve configures its own.
	poolCfg, err := pgxpool.ParseConfig(db.AppURL)
	if err != nil {
		t.Fatalf("apitest: %v", err)
	}
	poolCfg.MaxConns = 16
	store.ConfigurePool(poolCfg, o.StatementTimeout)
	if o.Pool != nil {
		o.Pool(poolCfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), poolCfg)
	if err != nil {
		t.Fatalf("apitest: pool: %v", err)
	}
	t.Cleanup(pool.Close)
	s.Store = store.New(pool)
	s.Metrics = metrics.New()
	if s.SealKey, err = audit.NewSealKey(); err != nil {
		t.Fatalf("apitest: %v", err)
	}
	s.Store.SignEvents(s.SealKey)
	verify := audit.VerifyOptions{PublicKey: s.SealKey.Public().(ed25519.PublicKey), SealInterval: audit.DefaultSealInterval}
	if o.VerifyStream {
		verify.Stream, verify.StreamGrace = audit.JetStreamOf(s.JS), o.StreamGrace
	}
	srv := httpapi.New(httpapi.Config{
		Store: s.Store, Auth: auth.NewAuthenticator(s.Store), Metrics: s.Metrics,
		KDS:             kds.NewGateway(s.JS, s.Store.OpenTickets, o.Heartbeat),
		Log:             zerolog.New(lockedWriter{w: s.Logs, mu: s.logMu}),
		StreamAuthCheck: o.StreamAuthCheck,
		StreamLimits:    o.StreamLimits,
		RequestTimeout:  o.RequestTimeout, MaxConns: o.MaxConns, MaxConnsPerIP: o.MaxConnsPerIP,
		Version: "apitest",
		Audit:   verify,
		Ready: []httpapi.Check{
			{Name: "postgres", Run: pool.Ping},
			{Name: "nats", Reported: true, Run: func(context.Context) error {
				if !nc.IsConnected() {
					return fmt.Errorf("not connected")
				}
				return nil
			}},
		},
	})
	s.Server = srv
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("apitest: listen: %v", err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.CloseStreams()
		_ = srv.App().ShutdownWithTimeout(5 * time.Second)
	})
	s.BaseURL = "http://" + ln.Addr().String()
	s.Client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: 64, ExpectContinueTimeout: 5 * time.Second}}
	if !o.NoRelay {
		s.StartRelay(t, outbox.Options{})
	}
	return s
}

// StartRelay runs an outbox relay over the stack's database and NATS until
// the returned stop function is called (or the test ends). Its Run error, if
// any, is delivered on the returned channel once it stops.
func (s *Stack) StartRelay(t testing.TB, o outbox.Options) (stop func(), done <-chan error) {
	t.Helper()
	cfg, err := pgx.ParseConfig(s.DB.AppURL)
	if err != nil {
		t.Fatalf("apitest: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	r := outbox.New(cfg, s.JS, o)
	s.Store.OnCommit(r.Kick)
	go func() { ch <- r.Run(ctx) }()
	var once sync.Once
	stopped := make(chan error, 1)
	stop = func() {
		once.Do(func() {
			cancel()
			stopped <- <-ch
		})
	}
	t.Cleanup(stop)
	return stop, stopped
}

// RestartNATS starts the stack's NATS server again on the same port and
// store after a test shut it down.
func (s *Stack) RestartNATS(t testing.TB) {
	t.Helper()
	ns, err := natsembed.Start(natsembed.Options{Port: s.NATS.Port(), StoreDir: s.NATSDir})
	if err != nil {
		t.Fatalf("apitest: restart NATS: %v", err)
	}
	s.NATS = ns
}

// LogText returns what the server logged so far.
func (s *Stack) LogText() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.Logs.String()
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Response is a finished HTTP exchange.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v and fails the test if it cannot.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %d body %q: %v", r.Status, r.Body, err)
	}
}

// Map decodes the body as a JSON object.
func (r Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// Req describes one request. Body may be a string or []byte (sent as is) or
// any other value (JSON-encoded). ContentType defaults to application/json
// when there is a body.
type Req struct {
	Method      string
	Path        string
	Token       string
	Body        any
	ContentType string
	Header      map[string]string
}

// Do sends the request and reads the whole response. Transport errors fail
// the test (from any goroutine: it uses t.Errorf and returns Status 0).
func (s *Stack) Do(t testing.TB, r Req) Response {
	var body io.Reader
	if r.Body != nil {
		switch b := r.Body.(type) {
		case string:
			body = bytes.NewBufferString(b)
		case []byte:
			body = bytes.NewBuffer(b)
		default:
			raw, err := json.Marshal(b)
			if err != nil {
				t.Errorf("encode body: %v", err)
				return Response{}
			}
			body = bytes.NewBuffer(raw)
		}
	}
	req, err := http.NewRequest(r.Method, s.BaseURL+r.Path, body)
	if err != nil {
		t.Errorf("new request: %v", err)
		return Response{}
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	if r.Body != nil {
		ct := r.ContentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range r.Header {
		req.Header.Set(k, v)
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", r.Method, r.Path, err)
		return Response{}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Errorf("read body: %v", err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}
