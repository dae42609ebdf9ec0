// Package pgcluster manages a throwaway local PostgreSQL cluster for tests and
// development.
//
// A Cluster is a single postmaster bound to 127.0.0.1 on a caller-chosen port,
// with trust authentication for the superuser "postgres". The data directory
// is initialised with initdb on first use and reused on later starts. Start is
// robust against the leftovers of a previous process that died without
// stopping its server: a postmaster still running on the data directory is
// stopped and restarted with the current options, and a stale postmaster.pid
// is removed.
//
// When the calling process runs as root, every PostgreSQL binary is executed
// as the "postgres" operating-system user (PostgreSQL refuses to run as root),
// the data directory is chowned to that user, and any ancestor directory that
// user could not traverse gets the minimal execute bit added.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rs/zerolog"
)

const (
	// superuser is the name of the cluster's superuser role (initdb -U).
	superuser = "postgres"
	// osUser is the operating-system account the server runs as when we are root.
	osUser = "postgres"
	// logFileName is the server log, kept inside the data directory.
	logFileName = "postgres.log"
	// pidFileName is the postmaster lock file inside the data directory.
	pidFileName = "postmaster.pid"

	// pgCtlTimeout bounds pg_ctl's own waiting (-t) for start and stop.
	pgCtlTimeout = 60 * time.Second
	// connectTimeout bounds the wait for the first successful connection.
	connectTimeout = 30 * time.Second
	// logTailBytes is how much of the server log is quoted in errors.
	logTailBytes = 4096
	// maxSocketPath is a conservative limit for a Unix socket path
	// (sun_path is 108 bytes on Linux, including the terminating NUL).
	maxSocketPath = 100
)

// Options configures Start.
type Options struct {
	// DataDir is the cluster directory. It is created if missing and
	// initialised with initdb if it holds no PG_VERSION file.
	DataDir string
	// Port is the TCP port the server listens on, on 127.0.0.1 only.
	Port int
	// Durable selects crash-safe settings. When true (development)
	// PostgreSQL's defaults are kept. When false (tests) fsync,
	// synchronous_commit and full_page_writes are turned off: a clean Stop
	// keeps all data, but if the server process is killed the most recent
	// commits (those not yet written by the WAL writer, typically well under
	// a second's worth) can be lost, and an OS crash can corrupt the cluster.
	Durable bool
	// Log receives progress messages. The zero value discards them.
	Log zerolog.Logger
	// Settings holds extra server settings passed as "-c name=value". They
	// override the package defaults for the same name.
	Settings map[string]string
}

// Cluster is a running PostgreSQL server started by Start. Its methods are
// safe for concurrent use.
type Cluster struct {
	dataDir string
	port    int
	bins    binaries
	runAs   *syscall.Credential // nil when not running as root
	log     zerolog.Logger

	mu      sync.Mutex
	stopped bool
}

// binaries holds the absolute paths of the PostgreSQL programs we run.
type binaries struct {
	initdb string
	pgCtl  string
}

// Start makes sure a PostgreSQL server is running on o.DataDir and o.Port with
// the requested settings and returns once a superuser connection to the
// "postgres" database succeeds.
//
// Start runs initdb when the data directory is new, stops (fast, then
// immediate) a server left running on the directory by a previous process so
// that the current options apply, removes a stale postmaster.pid, and refuses
// with an error naming the port when the port is held by something else. On a
// failed start the error includes the tail of the server log.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.DataDir == "" {
		return nil, errors.New("pgcluster: Options.DataDir is required")
	}
	if o.Port <= 0 || o.Port > 65535 {
		return nil, fmt.Errorf("pgcluster: invalid port %d", o.Port)
	}
	dir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: resolve data dir %q: %w", o.DataDir, err)
	}
	bins, err := findBinaries()
	if err != nil {
		return nil, err
	}
	c := &Cluster{dataDir: dir, port: o.Port, bins: bins, log: o.Log}
	if os.Geteuid() == 0 {
		if c.runAs, err = LookupCredential(osUser); err != nil {
			return nil, err
		}
	}

	if err := c.prepareDataDir(); err != nil {
		return nil, err
	}
	if err := c.initIfNeeded(ctx); err != nil {
		return nil, err
	}
	crashed, err := c.recoverLeftovers(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.waitPortFree(ctx, o.Port, crashed); err != nil {
		return nil, err
	}
	settings, err := c.serverSettings(o)
	if err != nil {
		return nil, err
	}
	if err := c.start(ctx, settings); err != nil {
		return nil, err
	}
	if err := c.waitForConnection(ctx); err != nil {
		// Do not leave a half-working server behind.
		_ = c.Stop(context.WithoutCancel(ctx))
		return nil, err
	}
	c.log.Info().Str("data_dir", dir).Int("port", o.Port).Bool("durable", o.Durable).Msg("postgres started")
	return c, nil
}

// URL returns a connection URL for database as the trust-authenticated
// superuser over TCP, e.g.
// postgres://postgres@127.0.0.1:5432/app?sslmode=disable. It contains no
// secret.
func (c *Cluster) URL(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port the server listens on (on 127.0.0.1).
func (c *Cluster) Port() int { return c.port }

// DataDir returns the absolute path of the cluster's data directory.
func (c *Cluster) DataDir() string { return c.dataDir }

// EnsureDatabase creates database name if it does not exist yet. It is
// idempotent and tolerates a concurrent creation of the same database.
func (c *Cluster) EnsureDatabase(ctx context.Context, name string) error {
	if name == "" {
		return errors.New("pgcluster: empty database name")
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("pgcluster: connect to create database %q: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("pgcluster: look up database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: lost a race, fine
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgcluster: create database %q: %w", name, err)
	}
	c.log.Info().Str("database", name).Msg("database created")
	return nil
}

// Stop shuts the server running on the cluster's data directory down with
// "pg_ctl stop -m fast" and waits until it has exited, falling back to
// "-m immediate" if the fast shutdown fails. A server that is already gone
// (no postmaster.pid) counts as stopped, and calling Stop again after a
// successful Stop is a no-op. Note that a Cluster is identified by its data
// directory: Stop on a stale Cluster value stops whatever server a later
// Start launched on the same directory.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	if err := c.stopServer(ctx); err != nil {
		return err
	}
	c.stopped = true
	c.log.Info().Str("data_dir", c.dataDir).Msg("postgres stopped")
	return nil
}

// Crash ends the server the way a power cut or an OOM kill of PostgreSQL
// would, for crash tests: "pg_ctl stop -m immediate" ends every server
// process at once, with no checkpoint and nothing flushed, so the next Start
// on the data directory runs crash recovery from the WAL. What survives is
// what PostgreSQL had made durable before: with Options.Durable every
// acknowledged COMMIT; without it (synchronous_commit off) the latest
// acknowledged commits may be gone. (The operating system does not crash,
// so what reached its page cache survives even with fsync off.) After Crash
// the Cluster counts as stopped; Start again to use the data.
func (c *Cluster) Crash(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	timeout := strconv.Itoa(int(pgCtlTimeout / time.Second))
	if out, err := c.run(ctx, c.bins.pgCtl, "stop", "-D", c.dataDir, "-m", "immediate", "-w", "-t", timeout); err != nil {
		return fmt.Errorf("pgcluster: pg_ctl stop -m immediate %s: %w (%s)", c.dataDir, err, bytes.TrimSpace(out))
	}
	c.stopped = true
	c.log.Info().Str("data_dir", c.dataDir).Msg("postgres crashed (immediate stop)")
	return nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. It is
// meant for tests; another process may still grab the port before it is used.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgcluster: find free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("pgcluster: release free port %d: %w", port, err)
	}
	return port, nil
}

// findBinaries locates initdb and pg_ctl, preferring $PATH and falling back to
// the newest Debian-style /usr/lib/postgresql/<version>/bin directory.
func findBinaries() (binaries, error) {
	if pgCtl, err := exec.LookPath("pg_ctl"); err == nil {
		if initdb, err := exec.LookPath("initdb"); err == nil {
			return binaries{initdb: initdb, pgCtl: pgCtl}, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { // newest major version first
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		b := binaries{initdb: filepath.Join(d, "initdb"), pgCtl: filepath.Join(d, "pg_ctl")}
		if isExecutable(b.initdb) && isExecutable(b.pgCtl) {
			return b, nil
		}
	}
	return binaries{}, errors.New("pgcluster: PostgreSQL binaries (initdb, pg_ctl) not found in PATH or /usr/lib/postgresql/*/bin")
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// LookupCredential returns the uid/gid of the named OS user, for running
// PostgreSQL programs as it when the caller is root.
func LookupCredential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: running as root requires OS user %q to run PostgreSQL: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: parse uid %q of user %q: %w", u.Uid, name, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: parse gid %q of user %q: %w", u.Gid, name, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// prepareDataDir creates the data directory and, when running as root, hands
// it to the postgres user and makes its ancestors traversable by that user.
// PostgreSQL insists on 0700 (or 0750) permissions for the data directory.
func (c *Cluster) prepareDataDir() error {
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("pgcluster: create data dir %s: %w", c.dataDir, err)
	}
	fi, err := os.Stat(c.dataDir)
	if err != nil {
		return fmt.Errorf("pgcluster: stat data dir %s: %w", c.dataDir, err)
	}
	if fi.Mode().Perm()&0o027 != 0 {
		if err := os.Chmod(c.dataDir, 0o700); err != nil {
			return fmt.Errorf("pgcluster: restrict permissions of data dir %s: %w", c.dataDir, err)
		}
	}
	if c.runAs == nil {
		return nil
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != c.runAs.Uid || st.Gid != c.runAs.Gid {
		if err := chownTree(c.dataDir, int(c.runAs.Uid), int(c.runAs.Gid)); err != nil {
			return err
		}
	}
	return c.makeAncestorsTraversable()
}

// chownTree changes the owner of dir and everything below it (without
// following symbolic links).
func chownTree(dir string, uid, gid int) error {
	err := filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
	if err != nil {
		return fmt.Errorf("pgcluster: chown data dir %s to uid %d: %w", dir, uid, err)
	}
	return nil
}

// makeAncestorsTraversable adds the execute (search) bit that the postgres
// user needs on every ancestor of the data directory: the owner bit if it owns
// the directory, the group bit if it is in the directory's group, the "other"
// bit otherwise. Read permission is never added. Each change is logged.
func (c *Cluster) makeAncestorsTraversable() error {
	for dir := filepath.Dir(c.dataDir); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("pgcluster: stat %s: %w", dir, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("pgcluster: no ownership information for %s", dir)
		}
		var bit os.FileMode
		switch {
		case st.Uid == c.runAs.Uid:
			bit = 0o100
		case st.Gid == c.runAs.Gid:
			bit = 0o010
		default:
			bit = 0o001
		}
		if perm := fi.Mode().Perm(); perm&bit == 0 {
			if err := os.Chmod(dir, fi.Mode()|bit); err != nil {
				return fmt.Errorf("pgcluster: make %s traversable for user %s: %w", dir, osUser, err)
			}
			c.log.Info().Str("dir", dir).Stringer("old_mode", perm).Stringer("new_mode", perm|bit).
				Msg("added search permission so the postgres user can reach the data dir")
		}
		if parent := filepath.Dir(dir); parent == dir {
			return nil
		}
	}
}

// initIfNeeded runs initdb unless the data directory already holds a cluster.
func (c *Cluster) initIfNeeded(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION")); err == nil {
		c.log.Debug().Str("data_dir", c.dataDir).Msg("reusing existing cluster")
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pgcluster: check for existing cluster in %s: %w", c.dataDir, err)
	}
	c.log.Info().Str("data_dir", c.dataDir).Msg("initialising new cluster")
	out, err := c.run(ctx, c.bins.initdb,
		"-D", c.dataDir, "-U", superuser, "--auth=trust", "--encoding=UTF8", "--locale=C")
	if err != nil {
		return fmt.Errorf("pgcluster: initdb %s: %w\n%s", c.dataDir, err, bytes.TrimSpace(out))
	}
	return nil
}

// recoverLeftovers deals with the lock files left by an earlier run: a
// server still running on the data directory is stopped (so that our options
// apply when we start it again), and lock files naming no live process are
// removed.
// crashed reports a stale postmaster.pid: a server of this data directory
// died without cleaning up.
func (c *Cluster) recoverLeftovers(ctx context.Context) (crashed bool, err error) {
	if crashed, err = c.stopLeftoverServer(ctx); err != nil {
		return crashed, err
	}
	return crashed, c.removeStaleSocketLocks()
}

// crashedPortWait is how long Start waits for the port of a server that
// died (killed, crashed) to be released: the kernel closes a killed
// process's listening socket as it tears the process down, which can end
// after the process is already gone from kill(pid, 0)'s view.
const crashedPortWait = 10 * time.Second

// waitPortFree checks that nothing listens on port; after a crash it
// waits up to crashedPortWait for the dead server's socket to go first.
func (c *Cluster) waitPortFree(ctx context.Context, port int, crashed bool) error {
	deadline := time.Now().Add(crashedPortWait)
	for {
		err := checkPortFree(port)
		if err == nil || !crashed || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stopLeftoverServer stops a server recorded in postmaster.pid if it is still
// running on our data directory, and otherwise removes the stale pid file.
// It reports whether the pid file was stale (the server died).
func (c *Cluster) stopLeftoverServer(ctx context.Context) (stale bool, err error) {
	pidPath := filepath.Join(c.dataDir, pidFileName)
	pid, err := readPostmasterPID(pidPath)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		c.log.Warn().Err(err).Msg("unreadable postmaster.pid, treating it as stale")
		return true, removeStalePIDFile(pidPath)
	}
	if c.serverRunning(ctx) && c.pidServesDataDir(pid) {
		c.log.Warn().Int("pid", pid).Str("data_dir", c.dataDir).
			Msg("found a server left running by a previous process; restarting it")
		return false, c.stopServer(ctx)
	}
	c.log.Warn().Int("pid", pid).Msg("removing stale postmaster.pid")
	return true, removeStalePIDFile(pidPath)
}

// removeStaleSocketLocks removes Unix socket lock files (and their sockets)
// in the data directory, our socket directory, whose PID is no live process.
// PostgreSQL clears such files itself when the PID is gone entirely, but
// refuses to start while it names a zombie: a killed postmaster that init has
// not reaped yet still passes PostgreSQL's kill(pid, 0) test.
func (c *Cluster) removeStaleSocketLocks() error {
	locks, err := filepath.Glob(filepath.Join(c.dataDir, ".s.PGSQL.*.lock"))
	if err != nil {
		return fmt.Errorf("pgcluster: list socket lock files: %w", err)
	}
	for _, lock := range locks {
		if pid, err := readPostmasterPID(lock); err == nil && processAlive(pid) {
			continue // someone's live socket: leave it for PostgreSQL to report
		}
		c.log.Warn().Str("file", lock).Msg("removing stale socket lock file")
		for _, f := range []string{lock, strings.TrimSuffix(lock, ".lock")} {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("pgcluster: remove stale %s: %w", f, err)
			}
		}
	}
	return nil
}

// readPostmasterPID returns the PID on the first line of postmaster.pid (or
// of a socket lock file, which has the same layout).
func readPostmasterPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pgcluster: malformed %s: first line %q", path, first)
	}
	return pid, nil
}

func removeStalePIDFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pgcluster: remove stale %s: %w", path, err)
	}
	return nil
}

// serverRunning reports whether pg_ctl considers a server running on the data
// directory (exit status 0 of "pg_ctl status"; 3 means not running).
func (c *Cluster) serverRunning(ctx context.Context) bool {
	_, err := c.run(ctx, c.bins.pgCtl, "status", "-D", c.dataDir)
	return err == nil
}

// pidServesDataDir guards against PID reuse: pg_ctl status only checks that
// some process with the recorded PID exists. A postmaster's working directory
// is its data directory, so when /proc tells us the process's cwd we require
// it to match. If /proc is unavailable we trust pg_ctl.
// A zombie does not count either.
func (c *Cluster) pidServesDataDir(pid int) bool {
	if isZombie(pid) {
		return false
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return true
	}
	want, err := filepath.EvalSymlinks(c.dataDir)
	if err != nil {
		want = c.dataDir
	}
	return filepath.Clean(cwd) == filepath.Clean(want)
}

// LeftoverServer reports whether a PostgreSQL server that an earlier process
// started on dataDir is still running (its postmaster.pid names a live
// process working in that directory). Start takes such a server over, so
// the port it holds is not a conflict.
func LeftoverServer(dataDir string) bool {
	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return false
	}
	pid, err := readPostmasterPID(filepath.Join(dir, pidFileName))
	if err != nil || !processAlive(pid) {
		return false
	}
	return (&Cluster{dataDir: dir}).pidServesDataDir(pid)
}

// checkPortFree fails with an error naming the port if something already
// listens on 127.0.0.1:port.
func checkPortFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("pgcluster: port %d on 127.0.0.1 is not available (already in use by another process?): %w", port, err)
	}
	if err := l.Close(); err != nil {
		return fmt.Errorf("pgcluster: release probe listener on port %d: %w", port, err)
	}
	return nil
}

// settingName restricts Options.Settings keys to PostgreSQL GUC syntax.
var settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// serverSettings returns the postgres -c settings for this start, sorted by
// name for a stable command line.
func (c *Cluster) serverSettings(o Options) ([][2]string, error) {
	socketDir := c.dataDir
	if len(filepath.Join(socketDir, fmt.Sprintf(".s.PGSQL.%d.lock", c.port))) > maxSocketPath {
		// A socket path this long cannot be bound; we connect over TCP
		// anyway, so go without a Unix socket.
		socketDir = ""
	}
	m := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"port":                    strconv.Itoa(c.port),
		"unix_socket_directories": socketDir,
		"max_connections":         "200",
		"shared_buffers":          "128MB",
	}
	if !o.Durable {
		m["fsync"] = "off"
		m["synchronous_commit"] = "off"
		m["full_page_writes"] = "off"
	}
	for k, v := range o.Settings {
		if !settingName.MatchString(k) {
			return nil, fmt.Errorf("pgcluster: invalid setting name %q", k)
		}
		m[k] = v
	}
	out := make([][2]string, 0, len(m))
	for k, v := range m {
		out = append(out, [2]string{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out, nil
}

// start runs "pg_ctl start -w" with the given settings. pg_ctl hands the -o
// string to /bin/sh, so every "-c name=value" argument is single-quoted.
func (c *Cluster) start(ctx context.Context, settings [][2]string) error {
	var opts []string
	for _, kv := range settings {
		opts = append(opts, "-c", shellQuote(kv[0]+"="+kv[1]))
	}
	logPath := filepath.Join(c.dataDir, logFileName)
	c.log.Debug().Str("options", strings.Join(opts, " ")).Msg("starting postgres")
	out, err := c.run(ctx, c.bins.pgCtl, "start", "-D", c.dataDir, "-l", logPath, "-w",
		"-t", strconv.Itoa(int(pgCtlTimeout/time.Second)), "-o", strings.Join(opts, " "))
	if err != nil {
		tail := logTail(logPath)
		if strings.Contains(tail, "could not bind") || strings.Contains(tail, "Address already in use") {
			return fmt.Errorf("pgcluster: port %d on 127.0.0.1 is already in use: %w\n%s\nserver log tail:\n%s",
				c.port, err, bytes.TrimSpace(out), tail)
		}
		return fmt.Errorf("pgcluster: pg_ctl start on port %d: %w\n%s\nserver log tail:\n%s",
			c.port, err, bytes.TrimSpace(out), tail)
	}
	return nil
}

// waitForConnection polls until a superuser connection succeeds, for at most
// connectTimeout.
func (c *Cluster) waitForConnection(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	var lastErr error
	for {
		attemptCtx, attemptCancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(attemptCtx, c.URL("postgres"))
		if err == nil {
			err = conn.Ping(attemptCtx)
			_ = conn.Close(attemptCtx)
		}
		attemptCancel()
		if err == nil {
			return nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: server on port %d did not accept connections: %w (last error: %v)\nserver log tail:\n%s",
				c.port, ctx.Err(), lastErr, logTail(filepath.Join(c.dataDir, logFileName)))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stopServer runs "pg_ctl stop -m fast" and, if that fails, "-m immediate".
// Like pg_ctl, it takes a missing postmaster.pid to mean that no server is
// running, which counts as success; so does a postmaster that died on its own
// (e.g. killed) while we were stopping it, whose pid file is then removed.
func (c *Cluster) stopServer(ctx context.Context) error {
	pidPath := filepath.Join(c.dataDir, pidFileName)
	if !fileExists(pidPath) {
		c.log.Debug().Str("data_dir", c.dataDir).Msg("no postmaster.pid, server already stopped")
		return nil
	}
	timeout := strconv.Itoa(int(pgCtlTimeout / time.Second))
	out, err := c.run(ctx, c.bins.pgCtl, "stop", "-D", c.dataDir, "-m", "fast", "-w", "-t", timeout)
	if err == nil {
		return nil
	}
	if gone, rmErr := c.serverGone(pidPath); gone || rmErr != nil {
		return rmErr
	}
	c.log.Warn().Err(err).Str("output", string(bytes.TrimSpace(out))).Msg("fast shutdown failed, trying immediate")
	out2, err2 := c.run(ctx, c.bins.pgCtl, "stop", "-D", c.dataDir, "-m", "immediate", "-w", "-t", timeout)
	if err2 == nil {
		return nil
	}
	if gone, rmErr := c.serverGone(pidPath); gone || rmErr != nil {
		return rmErr
	}
	return fmt.Errorf("pgcluster: pg_ctl stop %s: fast: %v (%s); immediate: %w (%s)",
		c.dataDir, err, bytes.TrimSpace(out), err2, bytes.TrimSpace(out2))
}

// serverGone reports whether no postmaster is alive for the data directory:
// either postmaster.pid is missing, or the process it names no longer exists
// (or is a zombie), in which case the stale pid file is removed.
func (c *Cluster) serverGone(pidPath string) (bool, error) {
	pid, err := readPostmasterPID(pidPath)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil || processAlive(pid) {
		return false, nil
	}
	c.log.Warn().Int("pid", pid).Msg("postmaster died without removing postmaster.pid; removing it")
	if err := removeStalePIDFile(pidPath); err != nil {
		return false, err
	}
	return true, nil
}

// processAlive reports whether pid names a live process we may signal. As in
// pg_ctl, EPERM counts as not alive: such a process belongs to another user
// and so cannot be the postmaster of a data directory we own.
func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil && !isZombie(pid)
}

// isZombie reports whether /proc says pid has exited but not been reaped
// yet. A postmaster reparented to an init that reaps lazily can linger in
// this state; it still passes kill(pid, 0) but is no server.
func isZombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// Format: "pid (comm) state ...". comm may contain spaces and
	// parentheses, so look after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// run executes a PostgreSQL program (as the postgres user when we are root)
// with the data directory as working directory and returns its combined
// output.
func (c *Cluster) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	// A working directory the postgres user can enter; PostgreSQL programs
	// complain if they cannot resolve their current directory.
	cmd.Dir = c.dataDir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.runAs != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.runAs}
		if u, err := user.LookupId(strconv.FormatUint(uint64(c.runAs.Uid), 10)); err == nil && u.HomeDir != "" {
			cmd.Env = append(cmd.Env, "HOME="+u.HomeDir, "USER="+u.Username, "LOGNAME="+u.Username)
		}
	}
	// The postmaster that pg_ctl launches redirects its output to the log
	// file, but guard against a descendant holding our pipes open.
	cmd.WaitDelay = 5 * time.Second
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err := cmd.Run()
	if err != nil {
		return buf.Bytes(), fmt.Errorf("%s %s: %w", filepath.Base(prog), strings.Join(args[:1], " "), err)
	}
	return buf.Bytes(), nil
}

// fileExists reports whether path exists (errors other than "not found" count
// as existing, so that callers go on and report them).
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// logTail returns the last logTailBytes of the file at path, or a note saying
// why it could not be read.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(server log unavailable: %v)", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > logTailBytes {
		if _, err := f.Seek(-logTailBytes, io.SeekEnd); err != nil {
			return fmt.Sprintf("(server log unreadable: %v)", err)
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(server log unreadable: %v)", err)
	}
	return strings.TrimSpace(string(b))
}
