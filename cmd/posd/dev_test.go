package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/pgcluster"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/seed"
)

// posdRaceBin is posd built with -race: the dev and ops tests, which need
// a process of their own (signals, the environment), run it, so a data race
// in posd fails them. posdBin, built without, is the crash test's: its load
// thresholds assume posd's real speed.
var posdBin, posdRaceBin string

// TestMain runs the tests with a Postgres cluster up (pgtest) and the posd
// binary built into a temporary directory.
func TestMain(m *testing.M) { pgtest.Main(binRunner{m}) }

// binRunner builds the binary, runs the tests and removes the binary again;
// pgtest.Main exits the process after Run returns, so the clean-up lives here.
type binRunner struct{ m *testing.M }

func (r binRunner) Run() int {
	dir, err := os.MkdirTemp("", "posd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	posdBin, posdRaceBin = filepath.Join(dir, "posd"), filepath.Join(dir, "posd-race")
	for _, b := range [][]string{{"-o", posdBin}, {"-race", "-o", posdRaceBin}} {
		if out, err := exec.Command("go", append(append([]string{"build"}, b...), ".")...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build posd: %v\n%s", err, out)
			return 1
		}
	}
	return r.m.Run()
}

// devProc is a running "posd dev" subprocess.
type devProc struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	logs bytes.Buffer
	done chan error
}

func freePorts(t *testing.T, n int) []int {
	ports := make([]int, n)
	for i := range ports {
		p, err := pgcluster.FreePort()
		require.NoError(t, err)
		ports[i] = p
	}
	return ports
}

// startDev runs posd dev on dataDir and waits until it serves /readyz.
func startDev(t *testing.T, dataDir string, ports []int) *devProc {
	t.Helper()
	p := &devProc{addr: "127.0.0.1:" + strconv.Itoa(ports[0]), done: make(chan error, 1)}
	p.cmd = exec.Command(posdRaceBin, "dev", "--log-format", "json")
	// Flags through the environment, as the --help text promises.
	p.cmd.Env = append(os.Environ(), "POSD_ADDR="+p.addr, "POSD_DATA_DIR="+dataDir,
		"POSD_PG_PORT="+strconv.Itoa(ports[1]), "POSD_NATS_PORT="+strconv.Itoa(ports[2]))
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
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("posd dev exited early: %v\n%s", err, p.logText())
		case <-time.After(200 * time.Millisecond):
		}
	}
	_ = p.cmd.Process.Kill()
	t.Fatalf("posd dev not ready in time\n%s", p.logText())
	return nil
}

func (p *devProc) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// as is a typed client of this posd sending token.
func (p *devProc) as(t *testing.T, token string) *apitest.Client {
	return apitest.Remote("http://"+p.addr).As(t, token)
}

// TestDevLifecycle runs the posd binary as "make run" does: first start on an
// empty data dir, a clean stop on SIGTERM (Postgres stopped too), a second
// start that keeps the data, and a start after posd was SIGKILLed with its
// Postgres still running.
func TestDevLifecycle(t *testing.T) {
	dataDir := t.TempDir()
	ports := freePorts(t, 3)

	p := startDev(t, dataDir, ports)
	// The banner is logged once the listener is up; /readyz can answer
	// before the log pipe has been read that far.
	apitest.Eventually(t, 10*time.Second, func() bool { return strings.Contains(p.logText(), seed.TokenDemo2Waiter) }, "the banner")
	logs := p.logText()
	for _, want := range []string{seed.TokenWaiter1, seed.TokenManager, seed.TokenDemo2Waiter, "nats://127.0.0.1:" + strconv.Itoa(ports[2]),
		"postgres://postgres@127.0.0.1:" + strconv.Itoa(ports[1])} {
		require.Contains(t, logs, want)
	}
	// JSON lines name their component once (nats, postgres, outbox, sealer).
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		require.LessOrEqual(t, strings.Count(line, `"component":`), 1, line)
	}
	require.Contains(t, logs, `"component":"nats"`)
	require.Contains(t, logs, `"component":"postgres"`)
	id := p.as(t, seed.TokenWaiter1).Open("T4", 2).ID

	// The first start created the seal key in the data dir, readable by
	// its owner only, and logged its public half.
	keyFile := filepath.Join(dataDir, "seal.key")
	fi, err := os.Stat(keyFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	key, err := audit.LoadSealKey(keyFile)
	require.NoError(t, err)
	require.Contains(t, logs, audit.PublicKeyHex(key))

	// posd connects as its own role, which is neither superuser nor owner.
	conn, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://postgres@127.0.0.1:%d/posd?sslmode=disable", ports[1]))
	require.NoError(t, err)
	var super, owner bool
	require.NoError(t, conn.QueryRow(context.Background(),
		`SELECT r.rolsuper, EXISTS (SELECT 1 FROM pg_tables WHERE tableowner = r.rolname)
		   FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename
		  WHERE a.application_name = 'posd' LIMIT 1`).Scan(&super, &owner))
	require.False(t, super)
	require.False(t, owner)
	conn.Close(context.Background())

	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.done:
		require.NoError(t, err, p.logText())
	case <-time.After(30 * time.Second):
		t.Fatal("posd dev did not stop on SIGTERM")
	}
	require.Contains(t, p.logText(), "Postgres stopped")
	require.NoFileExists(t, filepath.Join(dataDir, "postgres", "postmaster.pid"))

	// Second start: the order is still there, the key is the same, and the
	// seals (written on stop, and on start) check out with it.
	p = startDev(t, dataDir, ports)
	require.Equal(t, "T4", p.as(t, seed.TokenWaiter1).Order(id).Table)
	again, err := audit.LoadSealKey(keyFile)
	require.NoError(t, err)
	require.Equal(t, key, again)
	v := p.as(t, seed.TokenManager).Verify()
	require.True(t, v.OK, "%+v", v)
	require.True(t, v.SignaturesChecked)
	require.GreaterOrEqual(t, v.SealsChecked, int64(1), "the stop sealed the new order: %+v", v)
	require.Zero(t, v.UnsealedEvents, "%+v", v)

	// Crash: posd dies, its Postgres keeps running; the next start recovers.
	require.NoError(t, p.cmd.Process.Kill())
	<-p.done
	require.FileExists(t, filepath.Join(dataDir, "postgres", "postmaster.pid"))
	p = startDev(t, dataDir, ports)
	p.as(t, seed.TokenWaiter1).Order(id)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-p.done:
		require.NoError(t, err, p.logText())
	case <-time.After(30 * time.Second):
		t.Fatal("posd dev did not stop on SIGINT")
	}
}

func TestHelpIsTrue(t *testing.T) {
	for _, cmd := range []string{"dev", "serve", "migrate", "seed", "version"} {
		out, err := posdCombined(cmd, "--help")
		require.NoError(t, err, string(out))
		require.Contains(t, string(out), "Usage: posd "+cmd)
	}
	out, _ := posdCombined("dev", "--help")
	for _, flag := range []string{"-addr", "-data-dir", "-nats-port", "-pg-port", "POSD_ADDR", "POSD_DATA_DIR", "POSD_NATS_PORT", "POSD_PG_PORT"} {
		require.Contains(t, string(out), flag)
	}
	out, _ = posdCombined("serve", "--help")
	require.Contains(t, string(out), "DATABASE_URL")
	require.Contains(t, string(out), "NATS_URL")
	require.Contains(t, string(out), "POSD_STREAM_REPLICAS")

	out, err := posdCombined("serve")
	require.Error(t, err)
	require.Contains(t, string(out), "DATABASE_URL")
	out, err = posdCombined("bogus")
	require.Error(t, err)
	require.Contains(t, string(out), `unknown command "bogus"`)
	out, err = posdCombined("dev", "--pg-port", "0")
	require.Error(t, err)
	require.Contains(t, string(out), "--pg-port")
}

// posdCombined runs posd in process with stdout and stderr together, as
// exec's CombinedOutput does; a non-zero exit status is an error.
func posdCombined(args ...string) ([]byte, error) {
	var b bytes.Buffer
	if code := runMain(context.Background(), args, &b, &b); code != 0 {
		return b.Bytes(), fmt.Errorf("exit status %d", code)
	}
	return b.Bytes(), nil
}
