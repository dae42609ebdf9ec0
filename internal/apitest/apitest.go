// Package apitest runs the whole posd HTTP stack for tests: a fresh Postgres
// database from pgtest, an embedded NATS server, the real Fiber server on a
// loopback port, and a small HTTP client speaking to it over TCP.
package apitest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/posd/posd/internal/app"
	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/httpapi"
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

// Options tune Start; each maps onto a field of app.Config (zero: posd's
// default).
type Options struct {
	// NoRelay leaves the outbox relay off (tests start their own).
	NoRelay bool
	// Heartbeat is the kitchen stream's heartbeat interval.
	Heartbeat time.Duration
	// StreamAuthCheck is how often a kitchen stream re-checks its device.
	StreamAuthCheck time.Duration
	// TLSCert and TLSKey, given, make posd serve HTTPS (BaseURL https://;
	// the test's client must trust the certificate).
	TLSCert, TLSKey string
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
	// Pprof serves Go's runtime profiles on a free loopback port
	// (App.PprofAddr names it).
	Pprof bool
	// ReplicaURL is the standby the audit routes read (posd serve
	// --replica-url); empty: none.
	ReplicaURL string
	// Pool, when set, adjusts the configuration of the pool the server
	// uses (not the test's DB handles, nor the relay's connection), e.g. to
	// point it at a dead port; posd then starts without pinging Postgres.
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
	// seals against its public half. posd's sealer runs with it every
	// app.Defaults().SealInterval; a test that needs a seal now seals with
	// audit.Sealer{Key: SealKey}.
	SealKey ed25519.PrivateKey
	// App is the running posd.
	App *app.App
}

// Start runs posd for one test, built by internal/app exactly as posd serve
// builds it (relay, sealer and sweeper included), and stops it when the
// test ends. Options map onto app.Config; zero fields keep posd's defaults.
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
	if s.SealKey, err = audit.NewSealKey(); err != nil {
		t.Fatalf("apitest: %v", err)
	}
	s.run(t, o)
	return s
}

// Replica runs a second posd over the stack's database and NATS server
// (another replica behind the load balancer, DESIGN.md section 8), with
// the same seal key and no relay of its own (one relay publishes), and
// stops it when the test ends. It has its own store, menu cache, pool and
// HTTP address.
func (s *Stack) Replica(t testing.TB) *Stack {
	t.Helper()
	r := &Stack{DB: s.DB, NATS: s.NATS, NATSDir: s.NATSDir, Logs: &bytes.Buffer{}, logMu: &sync.Mutex{}, SealKey: s.SealKey}
	r.run(t, Options{NoRelay: true})
	return r
}

// run starts posd over s's database and NATS with s's seal key, waits
// until it has sealed once and listens for menu changes, and stops it when
// the test ends.
func (s *Stack) run(t testing.TB, o Options) {
	t.Helper()
	a, err := app.New(context.Background(), o.config(s.DB.AppURL, s.NATS.ClientURL(), s.SealKey), app.Options{
		Log:     zerolog.New(lockedWriter{w: s.Logs, mu: s.logMu}),
		Version: "apitest", AdjustPool: o.Pool, SkipStartPing: o.Pool != nil,
	})
	if err != nil {
		t.Fatalf("apitest: %v", err)
	}
	s.App, s.Store, s.Metrics, s.Server, s.NC, s.JS = a, a.Store, a.Metrics, a.Server, a.NC, a.JS
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	// Wait for the sealer's round at start, so no test write races it and a
	// test's seals are the ones it makes, and for the menu listener, so a
	// test's menu change reaches this replica's cache.
	for _, ready := range []<-chan struct{}{a.Sealed(), a.MenuListening()} {
		select {
		case <-ready:
		case err := <-done:
			cancel()
			t.Fatalf("apitest: posd stopped at start: %v", err)
		}
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("apitest: posd stopped with: %v", err)
		}
	})
	s.BaseURL = "http://" + a.Addr()
	if o.TLSCert != "" {
		s.BaseURL = "https://" + a.Addr()
	}
	s.Client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: 64, ExpectContinueTimeout: 5 * time.Second}}
}

// config is the app configuration these options ask for.
func (o Options) config(dbURL, natsURL string, key ed25519.PrivateKey) app.Config {
	c := app.Defaults()
	c.Addr, c.DatabaseURL, c.NATSURL, c.SealKey = "127.0.0.1:0", dbURL, natsURL, key
	// The test's NATS server is stopped and started again by some tests;
	// reconnect quickly.
	c.NATSReconnectWait = 50 * time.Millisecond
	c.Relay = !o.NoRelay
	c.VerifyStream = o.VerifyStream
	c.ReplicaURL = o.ReplicaURL
	c.TLSCert, c.TLSKey = o.TLSCert, o.TLSKey
	if o.Pprof {
		c.PprofAddr = "127.0.0.1:0"
	}
	setIf(&c.Heartbeat, o.Heartbeat)
	setIf(&c.StreamAuthCheck, o.StreamAuthCheck)
	setIf(&c.RequestTimeout, o.RequestTimeout)
	setIf(&c.StatementTimeout, o.StatementTimeout)
	setIf(&c.VerifyStreamGrace, o.StreamGrace)
	setIf(&c.MaxConns, o.MaxConns)
	setIf(&c.MaxConnsPerIP, o.MaxConnsPerIP)
	l := &c.StreamLimits
	setIf(&l.PerDevice, o.StreamLimits.PerDevice)
	setIf(&l.PerVenue, o.StreamLimits.PerVenue)
	setIf(&l.OpensPerDevice, o.StreamLimits.OpensPerDevice)
	setIf(&l.OpensPerVenue, o.StreamLimits.OpensPerVenue)
	setIf(&l.Window, o.StreamLimits.Window)
	setIf(&l.WriteTimeout, o.StreamLimits.WriteTimeout)
	setIf(&l.AuthFresh, o.StreamLimits.AuthFresh)
	setIf(&l.MaxReplay, o.StreamLimits.MaxReplay)
	return c
}

// setIf sets *p to v unless v is zero (an option left out).
func setIf[T comparable](p *T, v T) {
	var zero T
	if v != zero {
		*p = v
	}
}

// Remote is a Stack for a posd the test runs itself at baseURL (a posd
// subprocess): only its HTTP side is set, so Do, As and the typed client
// work and nothing else does.
func Remote(baseURL string) *Stack {
	return &Stack{BaseURL: baseURL, Client: &http.Client{Timeout: 30 * time.Second}}
}

// StartRelay runs an outbox relay over the stack's database and NATS until
// the returned stop function is called (or the test ends). Its Run error, if
// any, is delivered on the returned channel once it stops.
func (s *Stack) StartRelay(t testing.TB, o outbox.Options) (stop func(), done <-chan error) {
	t.Helper()
	return s.StartRelayOn(t, s.JS, o)
}

// StartRelayOn is StartRelay publishing through js instead of the stack's
// own JetStream context (a test wraps it to lose or delay a publish).
func (s *Stack) StartRelayOn(t testing.TB, js jetstream.JetStream, o outbox.Options) (stop func(), done <-chan error) {
	t.Helper()
	cfg, err := pgx.ParseConfig(s.DB.AppURL)
	if err != nil {
		t.Fatalf("apitest: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	r := outbox.New(cfg, js, o)
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

// Map decodes the body as a JSON object, for tests about the exact shape
// of an answer (which members are there, [] rather than null); everything
// else reads the typed value (Order, Problem, List, JSON).
func (r Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// Req describes one request. Body may be a string or []byte (sent as is:
// the raw bytes a test about malformed or hostile input needs) or any other
// value (JSON-encoded without HTML escaping). ContentType defaults to
// application/json when there is a body.
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
			raw, err := clientJSON(b)
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

// clientJSON encodes v as a handheld sends it: encoding/json's encoding
// (the members MarshalJSON methods choose, in their order) with <, > and &
// as they are rather than \u003c…, so a body carries as many characters
// as the size bound allows. encoding/json escapes them even inside
// MarshalJSON output, so the tokens are written again by jsontext, which
// escapes only what JSON requires.
func clientJSON(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	dec, enc := jsontext.NewDecoder(bytes.NewReader(raw)), jsontext.NewEncoder(&out)
	for {
		tok, err := dec.ReadToken()
		if err == io.EOF {
			return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
		}
		if err != nil {
			return nil, err
		}
		if err := enc.WriteToken(tok); err != nil {
			return nil, err
		}
	}
}
