package httpapi_test

// Deadlines and caps (issue 8): a database that does not answer gets a 503
// with Retry-After, never a hang or a 500; connections are capped per
// client address and in total; the kitchen stream outlives the deadline.
//
//   - TestDatabaseDownAnswers503: the server's pool points at a dead port.
//   - TestLockWaitAnswers503: a statement blocked on a lock past the request
//     deadline (the stand-in for a frozen Postgres) is cancelled in
//     Postgres too: 503, and nothing is written after the lock is released.
//   - TestStatementTimeoutAnswers503: the same through statement_timeout.
//   - TestKitchenStreamOutlivesRequestTimeout.
//   - TestConnectionCaps: per address 429, in total 503, both with
//     Retry-After and a problem body; a freed slot is usable again.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgcluster"
	"github.com/posd/posd/internal/seed"
)

func requireUnavailable(t *testing.T, r apitest.Response) {
	t.Helper()
	p := apitest.RequireProblem(t, r, 503, "database-unavailable")
	require.Equal(t, "2", r.Header.Get("Retry-After"))
	require.NotEmpty(t, p.RequestID)
}

func TestDatabaseDownAnswers503(t *testing.T) {
	t.Parallel()
	port, err := pgcluster.FreePort()
	require.NoError(t, err)
	f := apitest.NewFixture(t, apitest.Options{RequestTimeout: 5 * time.Second, Pool: func(c *pgxpool.Config) {
		c.ConnConfig.Port = uint16(port)
		c.ConnConfig.ConnectTimeout = time.Second
	}})
	requireUnavailable(t, f.Waiter.Get("/v1/menu"))
	requireUnavailable(t, f.Waiter.TryOpen("T1", 2))
	requireUnavailable(t, f.Manager.Get("/v1/audit/shift?from=2026-11-22T17:00:00Z&to=2026-11-23T03:00:00Z"))
	require.EqualValues(t, 0, f.DB.Count(t, "SELECT count(*) FROM orders"))
}

// lockOrder holds a row lock on the order until the returned func is called.
func lockOrder(t *testing.T, f *apitest.Fixture, id uuid.UUID) (release func()) {
	t.Helper()
	tx, err := f.DB.Admin.Begin(context.Background())
	require.NoError(t, err)
	_, err = tx.Exec(context.Background(), "SELECT 1 FROM orders WHERE id = $1 FOR UPDATE", id)
	require.NoError(t, err)
	done := false
	release = func() {
		if !done {
			done = true
			require.NoError(t, tx.Rollback(context.Background()))
		}
	}
	t.Cleanup(release)
	return release
}

// requireBlockedWriteRefused PATCHes a locked order, requires 503, releases
// the lock and requires that the write never lands.
func requireBlockedWriteRefused(t *testing.T, f *apitest.Fixture, within time.Duration) {
	id := f.Open("T1").ID
	release := lockOrder(t, f, id)
	start := time.Now()
	r := f.Waiter.TryPatch(id, 1, apitest.SetGuests(5))
	elapsed := time.Since(start)
	requireUnavailable(t, r)
	require.Less(t, elapsed, within, "the request was not bounded")
	t.Logf("blocked write answered 503 after %s", elapsed.Round(time.Millisecond))
	release()
	// Had Postgres kept the statement, it would commit now.
	time.Sleep(500 * time.Millisecond)
	require.EqualValues(t, 1, f.DB.Count(t, "SELECT version FROM orders WHERE id = $1", id))
	require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1", id))
	// And the server is fine afterwards.
	f.Waiter.Patch(id, 1, apitest.SetGuests(5))
}

func TestLockWaitAnswers503(t *testing.T) {
	f := start(t, apitest.Options{RequestTimeout: time.Second, StatementTimeout: time.Minute})
	requireBlockedWriteRefused(t, f, 20*time.Second)
}

func TestStatementTimeoutAnswers503(t *testing.T) {
	f := start(t, apitest.Options{StatementTimeout: 300 * time.Millisecond})
	requireBlockedWriteRefused(t, f, 9*time.Second)
}

func TestKitchenStreamOutlivesRequestTimeout(t *testing.T) {
	f := start(t, apitest.Options{RequestTimeout: 300 * time.Millisecond, Heartbeat: 100 * time.Millisecond})
	c := connectSSE(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + seed.TokenKitchen})
	time.Sleep(1500 * time.Millisecond) // five request deadlines
	c.quiet(t)
	f.Fired("T1", apitest.AddItem("steak", 1))
	ev := c.next(t, 10*time.Second)
	require.Equal(t, "ticket.created", ev.Type)
	c.close()
}

// keepAlive opens a connection and makes one request on it, leaving it open.
func keepAlive(t *testing.T, base string) (net.Conn, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: posd\r\n\r\n")
	require.NoError(t, err)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	resp.Body.Close()
	return c, resp
}

func TestConnectionCaps(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name           string
		total, perIP   int
		status         int
		detailContains string
	}{
		{"per address", 100, 3, 429, "from one address"},
		{"in total", 3, 100, 503, "connections at once"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := apitest.Start(t, apitest.Options{MaxConns: c.total, MaxConnsPerIP: c.perIP})
			var conns []net.Conn
			for i := 0; i < 3; i++ {
				conn, resp := keepAlive(t, s.BaseURL)
				require.Equal(t, 200, resp.StatusCode)
				conns = append(conns, conn)
			}
			_, resp := keepAlive(t, s.BaseURL)
			require.Equal(t, c.status, resp.StatusCode)
			require.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
			require.Equal(t, "2", resp.Header.Get("Retry-After"))
			require.NotEmpty(t, resp.Header.Get("X-Request-Id"))
			// A freed slot can be used again.
			conns[0].Close()
			apitest.Eventually(t, 10*time.Second, func() bool {
				conn, resp := keepAlive(t, s.BaseURL)
				defer conn.Close()
				return resp.StatusCode == 200
			}, "the freed slot to take a connection")
			// The server frees a slot when it sees the close; wait for one.
			for _, conn := range conns {
				conn.Close()
			}
			var metrics apitest.Response
			apitest.Eventually(t, 10*time.Second, func() bool {
				metrics = s.Do(t, apitest.Req{Method: "GET", Path: "/metrics"})
				return metrics.Status == 200
			}, "a slot for GET /metrics")
			require.Contains(t, string(metrics.Body), fmt.Sprintf(`posd_http_connections_refused_total{status="%d"}`, c.status))
		})
	}
}

// freezer is a TCP proxy in front of Postgres that can stop passing bytes
// either way while keeping every connection open: from posd's side exactly
// what a Postgres stopped with SIGSTOP looks like (the shared test cluster
// cannot itself be stopped). Thaw lets the held bytes through.
type freezer struct {
	ln     net.Listener
	frozen chan struct{} // closed: passing
	mu     sync.Mutex
}

func newFreezer(t *testing.T, upstream string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &freezer{ln: ln, frozen: make(chan struct{})}
	close(f.frozen)
	t.Cleanup(func() { ln.Close(); f.thaw() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			go f.pipe(c, u)
			go f.pipe(u, c)
		}
	}()
	return f
}

func (f *freezer) gate() chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.frozen
}

func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.frozen = make(chan struct{})
}

func (f *freezer) thaw() {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.frozen:
	default:
		close(f.frozen)
	}
}

// pipe copies src to dst, holding each chunk while frozen.
func (f *freezer) pipe(src, dst net.Conn) {
	defer src.Close()
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			<-f.gate()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestFrozenPostgresAnswers503: with Postgres frozen (connections open,
// nothing answered), reads and writes answer 503 database-unavailable
// within the request deadline plus pgx's cancel delay instead of hanging,
// /healthz keeps answering, and once Postgres is back a retry with the same
// Idempotency-Key never writes the change twice.
func TestFrozenPostgresAnswers503(t *testing.T) {
	var fz *freezer
	f := start(t, apitest.Options{RequestTimeout: time.Second, Pool: func(c *pgxpool.Config) {
		fz = newFreezer(t, net.JoinHostPort(c.ConnConfig.Host, strconv.Itoa(int(c.ConnConfig.Port))))
		_, port, _ := net.SplitHostPort(fz.ln.Addr().String())
		p, _ := strconv.Atoi(port)
		c.ConnConfig.Host, c.ConnConfig.Port = "127.0.0.1", uint16(p)
	}})
	id := f.Open("T4").ID

	fz.freeze()
	key := apitest.Keyed("frozen-1")
	body := apitest.Patch{ExpectedVersion: 1, Ops: []order.Op{apitest.SetGuests(7)}}
	for _, req := range []apitest.Req{
		{Method: "GET", Path: apitest.OrderPath(id)},
		{Method: "PATCH", Path: apitest.OrderPath(id), Body: body, Header: key},
	} {
		began := time.Now()
		r := f.Waiter.Do(req)
		elapsed := time.Since(began)
		requireUnavailable(t, r)
		require.Less(t, elapsed, 5*time.Second, "%s %s answered after %s", req.Method, req.Path, elapsed)
		t.Logf("%s with Postgres frozen: 503 after %s", req.Method, elapsed.Round(time.Millisecond))
	}
	h := f.As(t, "").Get("/healthz")
	require.Equal(t, 200, h.Status)

	fz.thaw()
	// The pipelined write may have reached Postgres before the freeze took
	// hold and commit when it resumes (the docs say so); the retry with the
	// same key then replays it. Either way the change is there once.
	var r apitest.Response
	apitest.Eventually(t, 20*time.Second, func() bool {
		r = f.Waiter.SendPatch(id, body, key)
		return r.Status != 503
	}, "the retry to be answered once Postgres thaws")
	require.Equal(t, 200, r.Status, string(r.Body))
	o := f.Waiter.Order(id)
	require.EqualValues(t, 2, o.Version, "the change once, never twice")
	require.EqualValues(t, 7, o.Guests)
	require.EqualValues(t, 2, f.DB.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1", id))
}
