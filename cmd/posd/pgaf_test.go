//go:build ha

package main

// A pg_auto_failover formation on loopback for the fault tests (make
// test-ha): a monitor and two Postgres nodes, each run by its own
// pg_autoctl, as the postgres user when the tests run as root (Postgres
// refuses root). The monitor promotes the standby when the primary dies;
// with one standby, pg_auto_failover's default makes it synchronous
// (synchronous_standby_names = 'ANY 1 (…)'), so a commit is acknowledged
// only once the standby has flushed it.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/pgcluster"
)

type formation struct {
	t       *testing.T
	dir     string
	env     []string
	cred    *syscall.Credential
	monitor *autoctl
	nodes   []*autoctl
}

// autoctl is one running pg_autoctl (the monitor or a node's keeper).
type autoctl struct {
	name, pgdata string
	port         int
	cmd          *exec.Cmd
	exited       chan struct{} // closed once cmd has exited, err set
	err          error
}

// startFormation creates and starts the monitor, then node1 (which becomes
// the primary) and node2 (its synchronous standby), and waits until the
// monitor reports them primary and secondary.
func startFormation(t *testing.T) *formation {
	t.Helper()
	pgBin, err := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	require.NoError(t, err)
	require.NotEmpty(t, pgBin, "PostgreSQL server binaries not found")
	_, err = exec.LookPath("pg_autoctl")
	require.NoError(t, err, "pg_autoctl not found: install Debian's pg-auto-failover-cli and postgresql-15-auto-failover (.ci/run does)")

	dir, err := os.MkdirTemp("", "posd-ha-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	f := &formation{t: t, dir: dir}
	t.Cleanup(f.stop)
	if os.Geteuid() == 0 {
		f.cred, err = pgcluster.LookupCredential("postgres")
		require.NoError(t, err)
		require.NoError(t, os.Chown(dir, int(f.cred.Uid), int(f.cred.Gid)))
	}
	f.env = append(os.Environ(), "PATH="+filepath.Dir(pgBin[0])+":"+os.Getenv("PATH"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "XDG_DATA_HOME="+filepath.Join(dir, "share"),
		"XDG_RUNTIME_DIR="+filepath.Join(dir, "run"), "PG_AUTOCTL_DEBUG=0")

	ports := make([]int, 3)
	for i := range ports {
		ports[i], err = pgcluster.FreePort()
		require.NoError(t, err)
	}
	f.monitor = f.start("monitor", ports[0], "create", "monitor", "--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl", "--run")
	f.waitMonitor()
	f.tuneMonitor()
	for i := 1; i <= 2; i++ {
		name := fmt.Sprintf("node%d", i)
		n := f.start(name, ports[i], "create", "postgres", "--hostname", "127.0.0.1", "--name", name,
			"--auth", "trust", "--no-ssl", "--monitor", f.monitorURI())
		<-n.exited
		require.NoError(t, n.err, "pg_autoctl create postgres %s\n%s", name, f.logTail(n))
		f.autoctl(n, "config", "set", "--pgdata", n.pgdata, "timeout.network_partition_timeout", strconv.Itoa(networkPartitionTimeout))
		f.restart(n)
		f.nodes = append(f.nodes, n)
		if i == 1 {
			f.waitStates(90*time.Second, map[string]string{"node1": "single"})
		}
	}
	f.waitStates(120*time.Second, map[string]string{"node1": "primary", "node2": "secondary"})
	return f
}

// The failover timings of deploy/postgres/pg_auto_failover.md, shorter than
// pg_auto_failover's defaults (a failover in about 50 s: 20 s to call the
// primary unhealthy, then a 30 s demote timeout). A primary that reaches
// neither the monitor nor its standby for networkPartitionTimeout seconds
// demotes itself; the monitor promotes the standby only after
// primaryDemoteTimeout, which must be longer, so that two primaries never
// take writes at once.
const (
	networkPartitionTimeout = 8 // seconds, keeper's timeout.network_partition_timeout
	primaryDemoteTimeout    = "12s"
)

var monitorSettings = map[string]string{
	"pgautofailover.health_check_period":               "2000", // ms
	"pgautofailover.health_check_timeout":              "2000", // ms
	"pgautofailover.health_check_retry_delay":          "1000", // ms
	"pgautofailover.node_considered_unhealthy_timeout": "6000", // ms
	"pgautofailover.primary_demote_timeout":            primaryDemoteTimeout,
}

// tuneMonitor applies monitorSettings to the running monitor.
func (f *formation) tuneMonitor() {
	f.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.superURL(f.monitor, "pg_auto_failover"))
	require.NoError(f.t, err)
	defer conn.Close(ctx)
	for k, v := range monitorSettings {
		_, err := conn.Exec(ctx, fmt.Sprintf("ALTER SYSTEM SET %s = '%s'", k, v))
		require.NoError(f.t, err, k)
	}
	_, err = conn.Exec(ctx, "SELECT pg_reload_conf()")
	require.NoError(f.t, err)
}

// autoctl runs one pg_autoctl command for node a to completion.
func (f *formation) autoctl(a *autoctl, args ...string) {
	f.t.Helper()
	cmd := exec.Command("pg_autoctl", args...)
	cmd.Dir, cmd.Env = f.dir, f.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: f.cred}
	out, err := cmd.CombinedOutput()
	require.NoError(f.t, err, "pg_autoctl %v (%s)\n%s", args, a.name, out)
}

// start runs pg_autoctl with args for the data directory of name, on port,
// in the background, logging to name.log.
func (f *formation) start(name string, port int, args ...string) *autoctl {
	f.t.Helper()
	a := &autoctl{name: name, pgdata: filepath.Join(f.dir, name), port: port}
	f.run(a, append(args, "--pgdata", a.pgdata, "--pgport", strconv.Itoa(port))...)
	return a
}

func (f *formation) run(a *autoctl, args ...string) {
	f.t.Helper()
	logf, err := os.OpenFile(filepath.Join(f.dir, a.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	require.NoError(f.t, err)
	cmd := exec.Command("pg_autoctl", args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = f.dir, f.env, logf, logf
	// Its own process group, so that a kill reaches all its services.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: f.cred}
	require.NoError(f.t, cmd.Start())
	exited := make(chan struct{})
	a.cmd, a.exited = cmd, exited
	go func() {
		a.err = cmd.Wait()
		logf.Close()
		close(exited)
	}()
}

func (f *formation) monitorURI() string {
	return fmt.Sprintf("postgres://autoctl_node@127.0.0.1:%d/pg_auto_failover?sslmode=disable", f.monitor.port)
}

// superURL is the postgres superuser's URL of database db on node n.
func (f *formation) superURL(n *autoctl, db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", n.port, db)
}

// hosts is the nodes' host:port list of a multi-host URL.
func (f *formation) hosts() string {
	var hs []string
	for _, n := range f.nodes {
		hs = append(hs, "127.0.0.1:"+strconv.Itoa(n.port))
	}
	return strings.Join(hs, ",")
}

// waitMonitor waits until the monitor answers for its nodes (pg_autoctl
// creates its database and extension after Postgres accepts connections).
func (f *formation) waitMonitor() {
	f.t.Helper()
	a := f.monitor
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := f.states(); err == nil {
			return
		}
		select {
		case <-a.exited:
			f.t.Fatalf("pg_autoctl %s exited: %v\n%s", a.name, a.err, f.logTail(a))
		case <-time.After(200 * time.Millisecond):
		}
	}
	f.t.Fatalf("the monitor did not answer in time\n%s", f.logTail(a))
}

// states reads every node's reported and assigned state off the monitor.
func (f *formation) states() (map[string][2]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, f.superURL(f.monitor, "pg_auto_failover"))
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT nodename, reportedstate::text, goalstate::text FROM pgautofailover.node")
	if err != nil {
		return nil, err
	}
	out := map[string][2]string{}
	for rows.Next() {
		var name, reported, goal string
		if err := rows.Scan(&name, &reported, &goal); err != nil {
			return nil, err
		}
		out[name] = [2]string{reported, goal}
	}
	return out, rows.Err()
}

// events are the monitor's events since t0, as "+12.3s node2 secondary→…: description".
func (f *formation) events(t0 time.Time) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, f.superURL(f.monitor, "pg_auto_failover"))
	if err != nil {
		return []string{err.Error()}
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT eventtime, nodename, reportedstate::text, goalstate::text, description
		FROM pgautofailover.event WHERE eventtime >= $1 ORDER BY eventid`, t0)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for rows.Next() {
		var at time.Time
		var node, reported, goal, desc string
		if err := rows.Scan(&at, &node, &reported, &goal, &desc); err != nil {
			return append(out, err.Error())
		}
		out = append(out, fmt.Sprintf("%+6.1fs %s %s→%s: %s", at.Sub(t0).Seconds(), node, reported, goal, desc))
	}
	return out
}

// waitStates waits until each named node has reported, and been assigned,
// the state given.
func (f *formation) waitStates(timeout time.Duration, want map[string]string) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	var last map[string][2]string
	for time.Now().Before(deadline) {
		st, err := f.states()
		if err == nil {
			last = st
			ok := true
			for name, s := range want {
				ok = ok && st[name] == [2]string{s, s}
			}
			if ok {
				return
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	f.t.Fatalf("formation not in %v after %s (last seen %v)\n%s", want, timeout, last, f.logTail(f.nodes...))
}

// primary is the node the monitor reports primary (or wait_primary: a
// primary whose standby is gone, taking writes alone).
func (f *formation) primary() *autoctl {
	f.t.Helper()
	st, err := f.states()
	require.NoError(f.t, err)
	for _, n := range f.nodes {
		if s := st[n.name]; s[0] == s[1] && (s[0] == "primary" || s[0] == "wait_primary") {
			return n
		}
	}
	f.t.Fatalf("no primary in %v", st)
	return nil
}

func (f *formation) other(n *autoctl) *autoctl {
	if f.nodes[0] == n {
		return f.nodes[1]
	}
	return f.nodes[0]
}

// kill stops node n as a power cut would: SIGKILL to its pg_autoctl's
// process group and to its postmaster, whose children then exit.
func (f *formation) kill(n *autoctl) {
	f.t.Helper()
	pm := postmasterPID(n.pgdata)
	_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
	if pm > 0 {
		_ = syscall.Kill(pm, syscall.SIGKILL)
	}
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		f.t.Fatalf("pg_autoctl %s still running after SIGKILL", n.name)
	}
	for i := 0; i < 100 && pm > 0 && syscall.Kill(pm, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
}

// restart runs node n's pg_autoctl again: it rejoins the formation.
func (f *formation) restart(n *autoctl) {
	f.t.Helper()
	f.run(n, "run", "--pgdata", n.pgdata)
}

func postmasterPID(pgdata string) int {
	b, err := os.ReadFile(filepath.Join(pgdata, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(first))
	return pid
}

// stop ends every pg_autoctl (SIGTERM, then SIGKILL) and removes the
// formation's directory.
func (f *formation) stop() {
	all := append([]*autoctl{}, f.nodes...)
	if f.monitor != nil {
		all = append(all, f.monitor)
	}
	for _, a := range all {
		if a.cmd != nil {
			_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGTERM)
		}
	}
	for _, a := range all {
		if a.cmd == nil {
			continue
		}
		select {
		case <-a.exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
		}
		if pm := postmasterPID(a.pgdata); pm > 0 {
			_ = syscall.Kill(pm, syscall.SIGKILL)
		}
	}
	if f.t.Failed() {
		f.t.Logf("formation logs kept in %s", f.dir)
		return
	}
	_ = os.RemoveAll(f.dir)
}

// logTail is the end of the named pg_autoctl logs, for a failure message.
func (f *formation) logTail(as ...*autoctl) string {
	var b strings.Builder
	for _, a := range as {
		out, _ := os.ReadFile(filepath.Join(f.dir, a.name+".log"))
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		fmt.Fprintf(&b, "--- %s.log (last lines)\n%s\n", a.name, strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
	return b.String()
}
