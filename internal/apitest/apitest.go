// Package apitest runs the whole posd HTTP stack for tests: a fresh Postgres
// database from pgtest, an embedded NATS server, the real Fiber server on a
// loopback port, and a small HTTP client speaking to it over TCP.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/httpapi"
	"github.com/posd/posd/internal/metrics"
	"github.com/posd/posd/internal/natsembed"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/store"
)

// Main starts Postgres and NATS for the test binary. Use it from TestMain.
func Main(m *testing.M) {
	pgtest.Main(&natsM{m})
}

// natsM wraps the test run so NATS starts after Postgres and stops before it.
type natsM struct{ m *testing.M }

func (n *natsM) Run() int {
	dir, err := os.MkdirTemp("", "posd-natstest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "apitest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ns, err := natsembed.Start(natsembed.Options{StoreDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "apitest: start NATS:", err)
		return 1
	}
	defer ns.Shutdown()
	natsURL = ns.ClientURL()
	return n.m.Run()
}

var natsURL string

// NATSURL is the test binary's embedded NATS server.
func NATSURL() string { return natsURL }

// Stack is one running posd over its own database.
type Stack struct {
	DB      *pgtest.DB
	Store   *store.Store
	Metrics *metrics.Metrics
	BaseURL string
	Client  *http.Client
	Logs    *bytes.Buffer
	logMu   *sync.Mutex
}

// Start runs posd for one test and stops it when the test ends.
func Start(t testing.TB) *Stack {
	t.Helper()
	db := pgtest.NewDB(t)
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatalf("apitest: connect NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	logs := &bytes.Buffer{}
	mu := &sync.Mutex{}
	st := store.New(db.Pool)
	m := metrics.New()
	srv := httpapi.New(httpapi.Config{
		Store: st, Auth: auth.NewAuthenticator(db.Pool), Metrics: m,
		Log: zerolog.New(lockedWriter{w: logs, mu: mu}),
		Ready: []httpapi.Check{
			{Name: "postgres", Run: db.Pool.Ping},
			{Name: "nats", Run: func(context.Context) error {
				if !nc.IsConnected() {
					return fmt.Errorf("not connected")
				}
				return nil
			}},
		},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("apitest: listen: %v", err)
	}
	go func() { _ = srv.App().Listener(ln) }()
	t.Cleanup(func() { _ = srv.App().ShutdownWithTimeout(5 * time.Second) })
	return &Stack{
		DB: db, Store: st, Metrics: m, BaseURL: "http://" + ln.Addr().String(),
		Client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		Logs:   logs, logMu: mu,
	}
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
