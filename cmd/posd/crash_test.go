package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/migrate"
	"github.com/posd/posd/internal/natsembed"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/outbox"
	"github.com/posd/posd/internal/pgcluster"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/seed"
	"github.com/posd/posd/internal/store"
)

// crashBin is posd built with -race and -tags posdcrash: the failpoint of
// internal/httpapi/crashpoint_posdcrash.go is compiled in, so a write can be
// held between its COMMIT and its response (POSD_CRASHPOINT_AFTER).
var (
	crashBinOnce sync.Once
	crashBin     string
	crashBinErr  error
)

func crashBinary(t *testing.T) string {
	t.Helper()
	crashBinOnce.Do(func() {
		crashBin = filepath.Join(filepath.Dir(posdBin), "posd-crash")
		out, err := exec.Command("go", "build", "-race", "-tags", "posdcrash", "-o", crashBin, ".").CombinedOutput()
		if err != nil {
			crashBinErr = fmt.Errorf("build posd -race -tags posdcrash: %v\n%s", err, out)
		}
	})
	require.NoError(t, crashBinErr)
	return crashBin
}

// seam is one write the failpoint held after its COMMIT: the crash test
// kills posd while it is there, so the write is committed but was never
// acknowledged.
type seam struct {
	key, order string
	version    int64
}

const seamMarker = "posd-crashpoint "

// parseSeam reads the failpoint's line: "posd-crashpoint key=K order=O version=V".
func parseSeam(line string) (seam, bool) {
	rest, ok := strings.CutPrefix(line, seamMarker)
	if !ok {
		return seam{}, false
	}
	var s seam
	for _, f := range strings.Fields(rest) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "key":
			s.key = v
		case "order":
			s.order = v
		case "version":
			s.version, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return s, s.key != "" && s.order != "" && s.version > 0
}

// serveProc is a "posd serve" subprocess of the crash binary.
type serveProc struct {
	cmd   *exec.Cmd
	addr  string
	seams chan seam
}

// startServe starts posd serve; with armAfter > 0 the armAfter-th write that
// commits is held at the seam and reported on seams.
func startServe(t *testing.T, dbURL, natsURL string, armAfter int) *serveProc {
	t.Helper()
	port, err := pgcluster.FreePort()
	require.NoError(t, err)
	p := &serveProc{addr: "127.0.0.1:" + strconv.Itoa(port), seams: make(chan seam, 1)}
	p.cmd = exec.Command(crashBinary(t), "serve", "--log-level", "warn")
	p.cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "NATS_URL="+natsURL, "POSD_ADDR="+p.addr,
		"POSD_SEAL_KEY_FILE="+testSealKeyFile(t), "POSD_CRASHPOINT_AFTER="+strconv.Itoa(armAfter))
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if s, ok := parseSeam(sc.Text()); ok {
				p.seams <- s
				continue
			}
			fmt.Fprintln(os.Stderr, sc.Text()) // the race detector's reports included
		}
	}()
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); _ = p.cmd.Wait() })
	apitest.Eventually(t, 60*time.Second, func() bool {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "posd serve to be ready")
	return p
}

// kill SIGKILLs posd and reaps it; its exit status must say it was killed,
// not that it had died before (a race report, a panic).
func (p *serveProc) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	err := p.cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	require.True(t, ok, "posd exited with %v before the kill", err)
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "posd ended with %v, not by the SIGKILL", err)
}

// sealKeyFiles holds each test's seal key file: every posd serve a test
// starts (restarts included) signs with the same key, as replicas do.
var sealKeyFiles sync.Map

// testSealKeyFile is the test's seal key file, created on first use.
func testSealKeyFile(t *testing.T) string {
	t.Helper()
	if p, ok := sealKeyFiles.Load(t); ok {
		return p.(string)
	}
	path := filepath.Join(t.TempDir(), "seal.key")
	_, err := audit.WriteSealKey(path)
	require.NoError(t, err)
	sealKeyFiles.Store(t, path)
	return path
}

// reply is one answer of the posd under test.
type reply struct {
	status int
	header http.Header
	body   []byte
	order  order.Order // the order the body holds (zero when it holds none)
}

// call sends one request (body, when not nil, JSON-encoded); key, when set,
// is its Idempotency-Key. It speaks to a posd that is killed and started
// again on another port, so a transport error is returned, not a failure:
// the outcome of that request is unknown.
func call(client *http.Client, method, url, token, key string, body any) (reply, error) {
	var in io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return reply{}, err
		}
		in = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, in)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode, header: resp.Header}
	if r.body, err = io.ReadAll(resp.Body); err != nil {
		return reply{}, err
	}
	_ = json.Unmarshal(r.body, &r.order)
	return r, nil
}

// crashDB is the database a crash case runs on.
type crashDB struct {
	appURL, adminURL string
	// crash, when set, crashes Postgres (immediate stop) and starts it
	// again, after posd was killed.
	crash func(t *testing.T)
}

// count runs a count query as the owner on a fresh connection (a pool would
// hold connections a Postgres crash broke).
func (d crashDB) count(t *testing.T, query string, args ...any) int64 {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.adminURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int64
	require.NoError(t, conn.QueryRow(ctx, query, args...).Scan(&n), query)
	return n
}

// TestCrashSIGKILLAtCommitSeam kills posd with SIGKILL while waiters are writing,
// each time at the seam of one write: after its COMMIT, before its
// response (the posdcrash failpoint holds it there). It restarts posd each
// time and checks that the held write is in the database, that its retry
// under the same Idempotency-Key replays it (same version, no second
// event), and at the end invariants 2, 3 and 4: every acknowledged line is
// on its order, every order verifies against its log (version = number of
// events, its row, lines and payments = the fold of its events, hash chain
// and signatures intact), and every committed event reaches JetStream
// exactly once. Any 5xx fails it. The test cluster runs with fsync and
// synchronous_commit off, which only a Postgres crash could notice;
// TestCrashSIGKILLAtCommitSeamDurable crashes Postgres too, on a durable cluster.
func TestCrashSIGKILLAtCommitSeam(t *testing.T) {
	db := pgtest.NewDB(t)
	runCrashCase(t, crashDB{appURL: db.AppURL, adminURL: db.AdminURL}, 3)
}

// TestCrashSIGKILLAtCommitSeamDurable is the crash case on a durable cluster
// (fsync and synchronous_commit on, PostgreSQL's defaults): at each seam it
// kills posd and then crashes Postgres (immediate stop, no checkpoint), so
// the held write and every acknowledged one survive only if their COMMIT
// was durable when it returned.
func TestCrashSIGKILLAtCommitSeamDurable(t *testing.T) {
	ctx := context.Background()
	port, err := pgcluster.FreePort()
	require.NoError(t, err)
	o := pgcluster.Options{DataDir: filepath.Join(t.TempDir(), "pg"), Port: port, Durable: true}
	c, err := pgcluster.Start(ctx, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	require.NoError(t, c.EnsureDatabase(ctx, "posd"))
	adminURL := c.URL("posd")
	_, err = migrate.Up(ctx, adminURL)
	require.NoError(t, err)
	const appRole = "posd_crash_app"
	require.NoError(t, migrate.EnsureLoginRole(ctx, adminURL, appRole))
	conn, err := pgx.Connect(ctx, adminURL)
	require.NoError(t, err)
	var syncCommit, fsync string
	require.NoError(t, conn.QueryRow(ctx, "SELECT current_setting('synchronous_commit'), current_setting('fsync')").Scan(&syncCommit, &fsync))
	require.Equal(t, []string{"on", "on"}, []string{syncCommit, fsync}, "the durable case needs a durable cluster")
	require.NoError(t, seed.Demo(ctx, conn))
	require.NoError(t, conn.Close(ctx))

	appURL := (&url.URL{Scheme: "postgres", User: url.User(appRole), Host: "127.0.0.1:" + strconv.Itoa(port),
		Path: "posd", RawQuery: "sslmode=disable"}).String()
	runCrashCase(t, crashDB{appURL: appURL, adminURL: adminURL, crash: func(t *testing.T) {
		require.NoError(t, c.Crash(ctx))
		c, err = pgcluster.Start(ctx, o)
		require.NoError(t, err, "restart after the crash (recovery from the WAL)")
	}}, 2)
}

// answer is the final answer a writer got for one idempotency key.
type answer struct {
	version  int64
	replayed bool
	attempts int
}

func runCrashCase(t *testing.T, db crashDB, rounds int) {
	ns, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	require.NoError(t, err)
	defer ns.Shutdown()

	const writers = 6
	client := &http.Client{Timeout: 10 * time.Second}
	arm := func() int { return 5 + rand.IntN(25) } // some writes commit and are answered first
	p := startServe(t, db.appURL, ns.ClientURL(), arm())
	orders := make([]uuid.UUID, writers)
	for i := range orders {
		r, err := call(client, "POST", "http://"+p.addr+"/v1/orders", seed.TokenWaiter1, "", apitest.OpenRequest{Table: fmt.Sprintf("T%d", i+1), Guests: 2})
		require.NoError(t, err)
		require.Equal(t, 201, r.status, "%s", r.body)
		orders[i] = r.order.ID
	}

	var addr atomic.Value
	addr.Store(p.addr)
	acked := make([]map[uuid.UUID]bool, writers)  // line ids acknowledged per order
	answers := make([]map[string]answer, writers) // final answer per idempotency key
	var stop, giveUp atomic.Bool
	var accepted, unknown atomic.Int64
	var wg sync.WaitGroup
	// On a failure below, the writers stop even with a write unanswered.
	defer func() { giveUp.Store(true); wg.Wait() }()
	for w := 0; w < writers; w++ {
		acked[w], answers[w] = map[uuid.UUID]bool{}, map[string]answer{}
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			version := int64(1)
			var key string // the write in progress: retried as it is until answered
			var line uuid.UUID
			attempts := 0
			for (!stop.Load() || key != "") && !giveUp.Load() {
				if key == "" {
					key, line, attempts = uuid.NewString(), uuid.New(), 0
				}
				attempts++
				body := apitest.Patch{ExpectedVersion: version, Ops: []order.Op{apitest.AddItem("steak", 1, apitest.LineID(line)), apitest.Fire()}}
				r, err := call(client, "PATCH", "http://"+addr.Load().(string)+apitest.OrderPath(orders[w]), seed.TokenWaiter1, key, body)
				switch {
				case err != nil:
					// posd is down or died mid-request: the outcome is
					// unknown; send the same request with the same key
					// again once it is back.
					unknown.Add(1)
					time.Sleep(20 * time.Millisecond)
				case r.status == 200:
					acked[w][line] = true
					version = r.order.Version
					answers[w][key] = answer{version: version, replayed: r.header.Get("Idempotent-Replayed") == "true", attempts: attempts}
					accepted.Add(1)
					key = ""
				default:
					// Each writer owns its order and retries under its key,
					// so nothing else is a right answer: not a 409 (a retry
					// applied twice would be one), and never a 5xx.
					t.Errorf("order %s: status %d to %+v: %s", orders[w], r.status, body, r.body)
					return
				}
			}
		}(w)
	}

	var seams []seam
	for round := 0; round < rounds; round++ {
		var s seam
		select {
		case s = <-p.seams:
		case <-time.After(2 * time.Minute):
			t.Fatalf("round %d: no write reached the commit seam", round)
		}
		p.kill(t)
		if db.crash != nil {
			db.crash(t)
		}
		seams = append(seams, s)
		// The held write committed before the kill (and before the crash):
		// its event, its version and its stored answer are there.
		require.EqualValues(t, 1, db.count(t, "SELECT count(*) FROM order_events WHERE order_id = $1 AND version = $2", s.order, s.version),
			"round %d: the write held at the seam (order %s version %d) is not in the database", round, s.order, s.version)
		require.EqualValues(t, 1, db.count(t, "SELECT count(*) FROM idempotency_keys WHERE key = $1", s.key),
			"round %d: the held write's idempotency record is missing", round)
		armed := 0
		if round < rounds-1 {
			armed = arm()
		}
		p = startServe(t, db.appURL, ns.ClientURL(), armed)
		addr.Store(p.addr)
	}
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("accepted %d writes, %d requests with unknown outcome, %d committed at the seam and unacknowledged",
		accepted.Load(), unknown.Load(), len(seams))
	require.Len(t, seams, rounds, "every round killed posd at the seam of a committed write")
	require.Greater(t, accepted.Load(), int64(20))

	// Each held write was retried under its key and replayed: the same
	// version, from the stored answer, not applied a second time.
	for _, s := range seams {
		var a answer
		var found bool
		for w := range answers {
			if a, found = answers[w][s.key]; found {
				break
			}
		}
		require.True(t, found, "the held write %s was never answered", s.key)
		require.Equal(t, s.version, a.version, "the retry of held write %s answered another version", s.key)
		require.True(t, a.replayed, "the retry of held write %s was not a replay", s.key)
		require.Greater(t, a.attempts, 1, "held write %s was answered without a retry", s.key)
	}

	ctx := context.Background()
	for w, id := range orders {
		r, err := call(client, "GET", "http://"+p.addr+apitest.OrderPath(id), seed.TokenWaiter1, "", nil)
		require.NoError(t, err)
		require.Equal(t, 200, r.status, "%s", r.body)
		have := map[uuid.UUID]bool{}
		for _, l := range r.order.Lines {
			have[l.ID] = true
		}
		for line := range acked[w] {
			require.True(t, have[line], "acknowledged line %s of order %s is missing", line, id)
		}
		require.Len(t, have, len(acked[w]), "order %s holds lines nobody was answered for (or lost some)", id)
		require.Equal(t, db.count(t, "SELECT count(*) FROM order_events WHERE order_id = $1", id), r.order.Version)
	}
	// The seals written across the kills verify with the one key.
	key, err := audit.LoadSealKey(testSealKeyFile(t))
	require.NoError(t, err)
	pool, err := pgxpool.New(ctx, db.appURL)
	require.NoError(t, err)
	defer pool.Close()
	res, err := store.New(pool).Verify(ctx, "demo", audit.VerifyOptions{
		PublicKey: key.Public().(ed25519.PublicKey), SealInterval: audit.DefaultSealInterval})
	require.NoError(t, err)
	require.True(t, res.OK, "%+v", res.Broken)
	require.NotZero(t, res.SealsChecked, "each restart seals what the killed process left unsealed")

	// Delivery survived the kills: every committed event is in the stream
	// once (JetStream dropped the relay's replays).
	nc, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	events := db.count(t, "SELECT count(*) FROM order_events")
	var ids map[string]int
	apitest.Eventually(t, 30*time.Second, func() bool {
		ids = map[string]int{}
		s, err := js.Stream(ctx, outbox.StreamName)
		if err != nil {
			return false
		}
		cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"pos.demo.order.>"}})
		if err != nil {
			return false
		}
		for {
			batch, err := cons.FetchNoWait(500)
			if err != nil {
				return false
			}
			n := 0
			for m := range batch.Messages() {
				ids[m.Headers().Get(jetstream.MsgIDHeader)]++
				n++
			}
			if n == 0 {
				break
			}
		}
		return int64(len(ids)) == events
	}, "stream has %d distinct order events, log has %d", len(ids), events)
	for id, n := range ids {
		require.Equal(t, 1, n, "event %s published %d times", id, n)
	}
}
