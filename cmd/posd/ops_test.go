package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/natsembed"
	"github.com/posd/posd/internal/outbox"
	"github.com/posd/posd/internal/pgcluster"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/seed"
)

// posdCmd runs the posd binary with env added to this process's and returns
// its combined output and error.
func posdCmd(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, posdRaceBin, args...)
	// Every posd serve needs a seal key; env may name another.
	cmd.Env = append(append(os.Environ(), "POSD_SEAL_KEY_FILE="+testSealKeyFile(t)), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// opsServe is a running "posd serve" subprocess.
type opsServe struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	logs bytes.Buffer
	done chan error
}

func (p *opsServe) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// startServe runs posd serve with env and waits for /healthz; it fails the
// test if posd exits first.
func startOpsServe(t *testing.T, env []string, args ...string) *opsServe {
	t.Helper()
	port, err := pgcluster.FreePort()
	require.NoError(t, err)
	return startOpsServeAt(t, "127.0.0.1:"+strconv.Itoa(port), env, args...)
}

// startOpsServeAt is startOpsServe listening on addr.
func startOpsServeAt(t *testing.T, addr string, env []string, args ...string) *opsServe {
	t.Helper()
	p := &opsServe{addr: addr, done: make(chan error, 1)}
	p.cmd = exec.Command(posdRaceBin, append([]string{"serve"}, args...)...)
	p.cmd.Env = append(append(os.Environ(), "POSD_ADDR="+p.addr, "POSD_SEAL_KEY_FILE="+testSealKeyFile(t)), env...)
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + p.addr + "/healthz"); err == nil {
			resp.Body.Close()
			return p
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("posd serve exited early: %v\n%s", err, p.logText())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("posd serve not up in time\n%s", p.logText())
	return nil
}

// as is a typed client of this posd sending token (empty: none).
func (p *opsServe) as(t *testing.T, token string) *apitest.Client {
	return apitest.Remote("http://"+p.addr).As(t, token)
}

// startNATS runs an embedded NATS server for one test.
func startNATS(t *testing.T) *natsembed.Server {
	t.Helper()
	ns, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(ns.Shutdown)
	return ns
}

func connectJS(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// keyValueDSN turns a pgtest URL into libpq's key=value form with a password.
func keyValueDSN(t *testing.T, rawURL, password string) string {
	t.Helper()
	cfg, err := pgconn.ParseConfig(rawURL)
	require.NoError(t, err)
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable password='%s'",
		cfg.Host, cfg.Port, cfg.User, cfg.Database, password)
}

func TestVersionCommandAndBuildFlag(t *testing.T) {
	out, err := posdCmd(t, nil, "version")
	require.NoError(t, err, out)
	require.Regexp(t, `^posd devel\S* \(go1\.\d+`, out)

	bin := filepath.Join(t.TempDir(), "posd")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7-test", "-o", bin, ".")
	b, err := build.CombinedOutput()
	require.NoError(t, err, string(b))
	b, err = exec.Command(bin, "version").CombinedOutput()
	require.NoError(t, err, string(b))
	require.True(t, strings.HasPrefix(string(b), "posd v9.8.7-test ("), string(b))
}

// TestDevPortConflictsAllAtOnceBeforeInitdb: every taken port is named, each
// with its flag, and nothing was created under --data-dir.
func TestDevPortConflictsAllAtOnceBeforeInitdb(t *testing.T) {
	var ports []int
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	out, err := posdCmd(t, nil, "dev", "--data-dir", dataDir, "--addr", "127.0.0.1:"+strconv.Itoa(ports[0]),
		"--pg-port", strconv.Itoa(ports[1]), "--nats-port", strconv.Itoa(ports[2]))
	require.Error(t, err, out)
	for _, want := range []string{"--addr 127.0.0.1:" + strconv.Itoa(ports[0]), "--pg-port", "--nats-port", "POSD_PG_PORT"} {
		require.Contains(t, out, want)
	}
	require.NoDirExists(t, filepath.Join(dataDir, "postgres"), "initdb must not run when a port is taken")
	require.NotContains(t, out, "\x1b[", "console logs to a pipe carry no ANSI colours")
}

// TestDocumentedOperatorSteps follows deploy/README.md on a fresh cluster:
// deploy/postgres/roles.sql as the superuser, posd migrate and seed as
// posd_owner (no CREATEROLE), posd serve as posd with a key=value
// DATABASE_URL. The password is never logged, the version is in the log and
// /healthz, and /readyz stays 200 while NATS is away.
func TestDocumentedOperatorSteps(t *testing.T) {
	port := documentedCluster(t)
	owner := fmt.Sprintf("postgres://posd_owner@127.0.0.1:%d/posd?sslmode=disable", port)
	out, err := posdCmd(t, []string{"DATABASE_URL=" + owner}, "migrate")
	require.NoError(t, err, out)
	require.Contains(t, out, "schema at version")
	out, err = posdCmd(t, []string{"DATABASE_URL=" + owner}, "seed", "--demo")
	require.NoError(t, err, out)

	ns := startNATS(t)
	const password = "hunter2 with spaces"
	dsn := keyValueDSN(t, fmt.Sprintf("postgres://posd@127.0.0.1:%d/posd", port), password)
	p := startOpsServe(t, []string{"DATABASE_URL=" + dsn, "NATS_URL=" + ns.ClientURL()})

	out, err = posdCmd(t, nil, "version")
	require.NoError(t, err)
	version := strings.Fields(out)[1]
	anyone, waiter := p.as(t, ""), p.as(t, seed.TokenWaiter1)
	require.Equal(t, version, anyone.Health().Version)
	status, ready := anyone.Readiness()
	require.Equal(t, 200, status, ready)
	require.Equal(t, map[string]string{"postgres": "ok", "nats": "ok"}, ready.Checks)
	waiter.Open("T1", 2)

	// NATS goes away: posd still takes orders, so it stays ready and says
	// what is missing.
	ns.Shutdown()
	apitest.Eventually(t, 10*time.Second, func() bool {
		_, r := anyone.Readiness()
		return r.Checks["nats"] != "ok"
	}, "/readyz to see NATS gone")
	status, ready = anyone.Readiness()
	require.Equal(t, 200, status, ready)
	require.Equal(t, "ready", ready.Status)
	waiter.Open("T2", 2)

	logs := p.logText()
	require.NotContains(t, logs, "hunter2")
	var start struct {
		Version     string `json:"version"`
		DatabaseURL string `json:"database_url"`
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"starting posd"`) {
			require.NoError(t, json.Unmarshal([]byte(line), &start))
		}
	}
	require.Equal(t, version, start.Version, logs)
	require.Contains(t, start.DatabaseURL, "password=xxxxx")
	require.Contains(t, start.DatabaseURL, "user=posd")
}

// documentedCluster starts a fresh Postgres cluster, runs
// deploy/postgres/roles.sql on it as the superuser and returns its port:
// the database posd, owned by posd_owner, empty until posd migrate.
func documentedCluster(t *testing.T) int {
	t.Helper()
	port, err := pgcluster.FreePort()
	require.NoError(t, err)
	documentedClusterAt(t, port)
	return port
}

// documentedClusterAt is documentedCluster on port.
func documentedClusterAt(t *testing.T, port int) {
	t.Helper()
	ctx := context.Background()
	var clusterLog bytes.Buffer
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: filepath.Join(t.TempDir(), "pg"), Port: port,
		Log: zerolog.New(&clusterLog).With().Str("component", "postgres").Logger()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cluster.Stop(context.Background()) })
	for _, line := range strings.Split(strings.TrimSpace(clusterLog.String()), "\n") {
		require.Equal(t, 1, strings.Count(line, `"component":`), line)
	}

	applyRoles(t, cluster.URL("postgres"))
}

// TestMigrateWaitsForTheDatabase: at boot posd-migrate.service may start
// before Postgres does; posd migrate --wait goes on trying, saying so, and
// migrates once the database is there. Without --wait it tries once.
func TestMigrateWaitsForTheDatabase(t *testing.T) {
	port, err := pgcluster.FreePort()
	require.NoError(t, err)
	owner := fmt.Sprintf("postgres://posd_owner@127.0.0.1:%d/posd?sslmode=disable", port)
	out, err := posdCmd(t, []string{"DATABASE_URL=" + owner}, "migrate")
	require.Error(t, err)
	require.NotContains(t, out, "trying again")

	cmd := exec.Command(posdRaceBin, "migrate", "--wait", "2m")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+owner)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	time.Sleep(3 * time.Second)
	documentedClusterAt(t, port)
	select {
	case err := <-done:
		require.NoError(t, err, logs.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("posd migrate --wait did not finish once the database was up:\n%s", logs.String())
	}
	require.Contains(t, logs.String(), "trying again in 2s (--wait)")
	require.Contains(t, logs.String(), "schema at version")
}

// applyRoles runs deploy/postgres/roles.sql, statement by statement, on the
// cluster at superURL (a superuser's URL).
func applyRoles(t *testing.T, superURL string) {
	t.Helper()
	ctx := context.Background()
	sql, err := os.ReadFile("../../deploy/postgres/roles.sql")
	require.NoError(t, err)
	super, err := pgx.Connect(ctx, superURL)
	require.NoError(t, err)
	defer super.Close(ctx)
	for _, stmt := range strings.Split(string(sql), ";\n") {
		if body := stripSQLComments(stmt); body != "" {
			_, err := super.Exec(ctx, body)
			require.NoError(t, err, body)
		}
	}
}

func stripSQLComments(stmt string) string {
	var keep []string
	for _, l := range strings.Split(stmt, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
			keep = append(keep, l)
		}
	}
	return strings.TrimSuffix(strings.TrimSpace(strings.Join(keep, "\n")), ";")
}

// TestServeRefusesAnIncompatibleStream: an operator's POS stream whose
// settings break delivery stops posd at start with the reason; one that only
// differs in the operator's choices (replicas, retention age) is kept as it
// is, with a warning, never re-created with posd's settings.
func TestServeRefusesAnIncompatibleStream(t *testing.T) {
	db := pgtest.NewDB(t)
	ns := startNATS(t)
	js := connectJS(t, ns.ClientURL())
	ctx := context.Background()
	cfg := outbox.StreamConfig(1)
	cfg.Storage = jetstream.MemoryStorage
	cfg.Duplicates = time.Minute
	_, err := js.CreateStream(ctx, cfg)
	require.NoError(t, err)

	out, err := posdCmd(t, []string{"DATABASE_URL=" + db.AppURL, "NATS_URL=" + ns.ClientURL(),
		"POSD_ADDR=127.0.0.1:0"}, "serve", "--log-format", "console")
	require.Error(t, err, out)
	require.Contains(t, out, "storage is Memory")
	require.Contains(t, out, "duplicate window is 1m0s, posd needs at least 24h0m0s")
	require.NotContains(t, out, "\x1b[", "console logs to a pipe carry no ANSI colours")
	s, err := js.Stream(ctx, outbox.StreamName)
	require.NoError(t, err)
	require.Equal(t, jetstream.MemoryStorage, s.CachedInfo().Config.Storage, "posd must not rewrite the stream")
}

func TestServeKeepsTheOperatorsStreamSettings(t *testing.T) {
	db := pgtest.NewDB(t)
	ns := startNATS(t)
	js := connectJS(t, ns.ClientURL())
	ctx := context.Background()
	cfg := outbox.StreamConfig(1)
	cfg.MaxAge = 30 * 24 * time.Hour
	cfg.Duplicates = 48 * time.Hour
	_, err := js.CreateStream(ctx, cfg)
	require.NoError(t, err)

	p := startOpsServe(t, []string{"DATABASE_URL=" + db.AppURL, "NATS_URL=" + ns.ClientURL()}, "--stream-replicas", "1")
	apitest.Eventually(t, 10*time.Second, func() bool { return strings.Contains(p.logText(), "max age is 720h0m0s") }, "the stream warning")
	p.as(t, seed.TokenWaiter1).Open("T3", 2)
	s, err := js.Stream(ctx, outbox.StreamName)
	require.NoError(t, err)
	require.Equal(t, 30*24*time.Hour, s.CachedInfo().Config.MaxAge)
	require.Equal(t, 48*time.Hour, s.CachedInfo().Config.Duplicates)
	// And it is delivering: the opened order reached the stream.
	apitest.Eventually(t, 10*time.Second, func() bool {
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs > 0
	}, "the opened order in the stream")

	out, err := posdCmd(t, []string{"DATABASE_URL=" + db.AppURL}, "serve", "--stream-replicas", "0")
	require.Error(t, err)
	require.Contains(t, out, "--stream-replicas must be between 1 and 5")
}

// TestServeStreamLimitFlags: the kitchen stream bounds are posd serve
// flags; a venue at --stream-per-venue refuses one more stream with 429
// too-many-streams, and a bound below 1 is refused at start.
func TestServeStreamLimitFlags(t *testing.T) {
	db := pgtest.NewDB(t)
	ns := startNATS(t)
	p := startOpsServe(t, []string{"DATABASE_URL=" + db.AppURL, "NATS_URL=" + ns.ClientURL()}, "--stream-per-venue", "1")
	open := func(token string) *http.Response {
		req, err := http.NewRequest("GET", "http://"+p.addr+"/v1/kitchen/stream?station=grill", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	first := open(seed.TokenKitchen)
	require.Equal(t, 200, first.StatusCode)
	second := open(seed.TokenManager)
	require.Equal(t, 429, second.StatusCode)
	body, err := io.ReadAll(second.Body)
	require.NoError(t, err)
	require.Contains(t, string(body), "too-many-streams")
	require.NotEmpty(t, second.Header.Get("Retry-After"))

	out, err := posdCmd(t, []string{"DATABASE_URL=" + db.AppURL}, "serve", "--stream-opens-per-device", "0")
	require.Error(t, err)
	require.Contains(t, out, "--stream-opens-per-device must be at least 1")
}

// readmeShell is the README section under heading's sh blocks, one after
// the other, as a shell script.
func readmeShell(t *testing.T, heading string) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	section := string(readme)
	at := strings.Index(section, heading)
	require.GreaterOrEqual(t, at, 0, "README has %q", heading)
	section = section[at:]
	section = section[:strings.Index(section[3:], "\n## ")+3]
	var script strings.Builder
	for _, block := range strings.Split(section, "```sh\n")[1:] {
		script.WriteString(block[:strings.Index(block, "```")])
	}
	return script.String()
}

// TestReadmeCurlWalkThroughRunsTwice runs the README's two-tab conflict, as
// written, twice against the same data: the second run opens another free
// table instead of tripping over the first run's order.
func TestReadmeCurlWalkThroughRunsTwice(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	script := "set -eu\n" + readmeShell(t, "## The two-tab conflict")
	s := apitest.Start(t)
	body := strings.Replace(script, "API=http://127.0.0.1:8080", "API="+s.BaseURL, 1)
	require.NotEqual(t, script, body, "the walk-through sets API")
	var tables []string
	for run := range 2 {
		out, err := exec.Command("bash", "-c", body).CombinedOutput()
		require.NoError(t, err, "run %d:\n%s", run+1, out)
		text := string(out)
		require.Contains(t, text, "HTTP/1.1 409 Conflict", "run %d: Bruno's stale save is refused", run+1)
		require.Contains(t, text, `"type":"https://posd.dev/problems/version-conflict"`)
		require.Contains(t, text, `"version":3`, "run %d: both lines on version 3", run+1)
		first := strings.SplitN(text, "\n", 2)[0]
		require.Regexp(t, `^table T\d+, order [0-9a-f-]{36}$`, first)
		tables = append(tables, strings.Fields(first)[1])
	}
	require.NotEqual(t, tables[0], tables[1])
}
