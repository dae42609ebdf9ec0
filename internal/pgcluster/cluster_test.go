package pgcluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// testOptions returns options for a fresh cluster in a per-test directory.
// The data directory lives below t.TempDir(), which is 0700 and owned by the
// test's user; Start must make it reachable for the postgres user when the
// tests run as root.
func testOptions(t *testing.T) Options {
	t.Helper()
	// posd needs the PostgreSQL server binaries; their absence is a failure,
	// not a reason to skip.
	_, err := findBinaries()
	require.NoError(t, err, "PostgreSQL server binaries not found")
	port, err := FreePort()
	require.NoError(t, err)
	return Options{
		DataDir: filepath.Join(t.TempDir(), "pgdata"),
		Port:    port,
		Log:     zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel),
	}
}

// startCluster starts a cluster and makes sure it is stopped when the test
// ends, whatever happens to the returned value.
func startCluster(t *testing.T, ctx context.Context, o Options) *Cluster {
	t.Helper()
	c, err := Start(ctx, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	return c
}

func connect(t *testing.T, ctx context.Context, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func queryString(t *testing.T, ctx context.Context, conn *pgx.Conn, sql string) string {
	t.Helper()
	var s string
	require.NoError(t, conn.QueryRow(ctx, sql).Scan(&s))
	return s
}

func TestStartStopRestartReusesData(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := testOptions(t)

	c := startCluster(t, ctx, o)
	require.Equal(t, o.Port, c.Port())
	require.Equal(t, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/app?sslmode=disable", o.Port), c.URL("app"))

	conn := connect(t, ctx, c.URL("postgres"))
	var one int
	require.NoError(t, conn.QueryRow(ctx, "select 1").Scan(&one))
	require.Equal(t, 1, one)
	require.Equal(t, "off", queryString(t, ctx, conn, "SHOW fsync"), "non-durable by default")
	require.Equal(t, "200", queryString(t, ctx, conn, "SHOW max_connections"))
	require.Equal(t, "128MB", queryString(t, ctx, conn, "SHOW shared_buffers"))
	require.Equal(t, "127.0.0.1", queryString(t, ctx, conn, "SHOW listen_addresses"))
	require.Equal(t, c.DataDir(), queryString(t, ctx, conn, "SHOW unix_socket_directories"))

	// EnsureDatabase is idempotent.
	require.NoError(t, c.EnsureDatabase(ctx, "app"))
	require.NoError(t, c.EnsureDatabase(ctx, "app"))
	appConn := connect(t, ctx, c.URL("app"))
	_, err := appConn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('hello')")
	require.NoError(t, err)
	require.NoError(t, appConn.Close(ctx))
	require.NoError(t, conn.Close(ctx))

	require.NoError(t, c.Stop(ctx))
	require.NoError(t, c.Stop(ctx), "second Stop is a no-op")
	require.NoFileExists(t, filepath.Join(o.DataDir, pidFileName))

	// Second start reuses the data directory: no initdb, table still there.
	o.Durable = true
	c2 := startCluster(t, ctx, o)
	appConn2 := connect(t, ctx, c2.URL("app"))
	require.Equal(t, "hello", queryString(t, ctx, appConn2, "SELECT v FROM kept"))
	require.Equal(t, "on", queryString(t, ctx, appConn2, "SHOW fsync"), "durable restart applies defaults")
}

func TestStartRecoversServerLeftRunning(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := testOptions(t)

	// Simulate our process dying: start a server and never stop it. The
	// postmaster is daemonised by pg_ctl, so it keeps running.
	first := startCluster(t, ctx, o)
	conn := connect(t, ctx, first.URL("postgres"))
	_, err := conn.Exec(ctx, "CREATE TABLE survivor (id int)")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	oldPID, err := readPostmasterPID(filepath.Join(o.DataDir, pidFileName))
	require.NoError(t, err)

	// A new Start on the same directory must stop the abandoned server and
	// start a fresh one with the new options.
	o.Settings = map[string]string{"work_mem": "8MB", "cluster_name": "it's quoted"}
	second := startCluster(t, ctx, o)
	newPID, err := readPostmasterPID(filepath.Join(o.DataDir, pidFileName))
	require.NoError(t, err)
	require.NotEqual(t, oldPID, newPID, "the abandoned postmaster must have been replaced")

	conn2 := connect(t, ctx, second.URL("postgres"))
	require.Equal(t, "8MB", queryString(t, ctx, conn2, "SHOW work_mem"))
	require.Equal(t, "it's quoted", queryString(t, ctx, conn2, "SHOW cluster_name"))
	var n int
	require.NoError(t, conn2.QueryRow(ctx, "SELECT count(*) FROM survivor").Scan(&n))
	require.Equal(t, 0, n)
}

func TestStartRemovesStalePIDFile(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := testOptions(t)

	c := startCluster(t, ctx, o)
	require.NoError(t, c.Stop(ctx))

	// A PID that certainly belongs to no running process: one of a child
	// that has already exited and been reaped.
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	deadPID := dead.Process.Pid
	pidFile := filepath.Join(o.DataDir, pidFileName)
	content := fmt.Sprintf("%d\n%s\n%d\n%d\n", deadPID, o.DataDir, time.Now().Unix(), o.Port)
	require.NoError(t, os.WriteFile(pidFile, []byte(content), 0o600))

	c2 := startCluster(t, ctx, o)
	conn := connect(t, ctx, c2.URL("postgres"))
	require.Equal(t, "1", queryString(t, ctx, conn, "SELECT 1::text"))
	pid, err := readPostmasterPID(pidFile)
	require.NoError(t, err)
	require.NotEqual(t, deadPID, pid)
}

func TestStartFailsWhenPortTaken(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := testOptions(t)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	o.Port = l.Addr().(*net.TCPAddr).Port

	_, err = Start(ctx, o)
	require.Error(t, err)
	t.Log(err)
	require.Contains(t, err.Error(), "port "+strconv.Itoa(o.Port))
}

func TestStartValidatesOptions(t *testing.T) {
	t.Parallel()
	_, err := Start(context.Background(), Options{Port: 5432})
	require.Error(t, err)
	_, err = Start(context.Background(), Options{DataDir: t.TempDir(), Port: 0})
	require.Error(t, err)
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	require.Equal(t, `'a=b'`, shellQuote("a=b"))
	require.Equal(t, `'x='\''y'\'''`, shellQuote("x='y'"))
}

func TestStartWithLongDataDirPath(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o := testOptions(t)
	// Too long for a Unix socket path: the server must run TCP-only.
	o.DataDir = filepath.Join(filepath.Dir(o.DataDir), strings.Repeat("d", 60), strings.Repeat("e", 60))

	c := startCluster(t, ctx, o)
	conn := connect(t, ctx, c.URL("postgres"))
	require.Equal(t, "", queryString(t, ctx, conn, "SHOW unix_socket_directories"))
}

func TestStartAfterPostmasterKilled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := testOptions(t)
	// With Durable false, synchronous_commit=off lets a commit return before
	// its WAL is written, so a killed server may lose the last commits.
	o.Durable = true

	c := startCluster(t, ctx, o)
	conn := connect(t, ctx, c.URL("postgres"))
	_, err := conn.Exec(ctx, "CREATE TABLE committed (id int); INSERT INTO committed VALUES (1)")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))

	// A hard crash of the server: postmaster.pid stays behind, and the
	// killed postmaster may linger as a zombie until init reaps it.
	pid, err := readPostmasterPID(filepath.Join(o.DataDir, pidFileName))
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))

	c2 := startCluster(t, ctx, o)
	conn2 := connect(t, ctx, c2.URL("postgres"))
	var n int
	require.NoError(t, conn2.QueryRow(ctx, "SELECT count(*) FROM committed").Scan(&n))
	require.Equal(t, 1, n, "crash recovery replays committed work")
}

// TestCrashKeepsDurableCommits crashes a durable cluster (immediate stop, no
// checkpoint) right after a COMMIT was acknowledged, starts it again (crash
// recovery from the WAL) and finds the row: with Durable, fsync and
// synchronous_commit keep their defaults, so an acknowledged commit is on
// disk.
func TestCrashKeepsDurableCommits(t *testing.T) {
	ctx := context.Background()
	o := testOptions(t)
	o.Durable = true
	c := startCluster(t, ctx, o)
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	require.NoError(t, err)
	require.Equal(t, "on", queryString(t, ctx, conn, "SHOW synchronous_commit"))
	require.Equal(t, "on", queryString(t, ctx, conn, "SHOW fsync"))
	_, err = conn.Exec(ctx, "CREATE TABLE t (v text); INSERT INTO t VALUES ('committed')")
	require.NoError(t, err)
	_ = conn.Close(ctx)

	require.NoError(t, c.Crash(ctx))
	require.NoError(t, c.Crash(ctx), "a second Crash is a no-op")
	log, err := os.ReadFile(filepath.Join(o.DataDir, logFileName))
	require.NoError(t, err)
	require.Contains(t, string(log), "immediate shutdown request")

	c2 := startCluster(t, ctx, o)
	conn2 := connect(t, ctx, c2.URL("postgres"))
	require.Equal(t, "committed", queryString(t, ctx, conn2, "SELECT v FROM t"))
	log, err = os.ReadFile(filepath.Join(o.DataDir, logFileName))
	require.NoError(t, err)
	require.Contains(t, string(log), "database system was interrupted", "the restart ran crash recovery")
}
