package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/posd/posd/internal/benchkit"
)

const (
	readyTimeout = 90 * time.Second // posd dev's /readyz, initdb included
	stopTimeout  = 60 * time.Second // from SIGTERM to a kill
	dbName       = "posd"           // the database and app role posd dev creates
)

// stack is a running "posd dev" (posd, its Postgres and embedded NATS) on
// ports chosen by posbench, with a fresh data directory.
type stack struct {
	*benchkit.Process
	dir, addr        string
	pgPort, natsPort int
}

// startStack starts posdPath as "posd dev", logging JSON at warn level into
// its data directory, and waits until /readyz answers 200.
func startStack(ctx context.Context, posdPath string) (*stack, error) {
	abs, err := filepath.Abs(posdPath)
	if st, serr := os.Stat(abs); err != nil || serr != nil || st.IsDir() {
		return nil, fmt.Errorf("posd binary %s not found (build it: go build -o bin/posd ./cmd/posd)", posdPath)
	}
	ports, err := benchkit.FreePorts(3)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "posbench-")
	if err != nil {
		return nil, err
	}
	s := &stack{dir: dir, addr: "127.0.0.1:" + strconv.Itoa(ports[0]), pgPort: ports[1], natsPort: ports[2]}
	// Not CommandContext: posd must get SIGTERM and time to stop its Postgres.
	cmd := exec.Command(abs, "dev", "--addr", s.addr, "--data-dir", dir, "--pg-port", strconv.Itoa(s.pgPort),
		"--nats-port", strconv.Itoa(s.natsPort), "--log-level", "warn", "--log-format", "json")
	if s.Process, err = benchkit.StartProcess(ctx, cmd, filepath.Join(dir, "posd.log"), s.baseURL()+"/readyz", readyTimeout); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// replica is a "posd serve" started beside the stack, on its Postgres and
// NATS, as another replica of the same posd would run.
type replica struct {
	*benchkit.Process
	addr  string
	flags []string // the flags beyond the connection and the log
}

func (r *replica) baseURL() string { return "http://" + r.addr }

// startReplica starts posdPath as "posd serve" on a free port against s's
// Postgres (as posd's role) and NATS, with posd dev's seal key and the given
// flags, logging into s's data directory as name.log; it waits for /readyz.
func (s *stack) startReplica(ctx context.Context, posdPath, name string, flags ...string) (*replica, error) {
	abs, err := filepath.Abs(posdPath)
	if err != nil {
		return nil, err
	}
	ports, err := benchkit.FreePorts(1)
	if err != nil {
		return nil, err
	}
	r := &replica{addr: "127.0.0.1:" + strconv.Itoa(ports[0]), flags: flags}
	args := append([]string{"serve", "--addr", r.addr, "--database-url", s.appURL(), "--nats-url", s.natsURL(),
		"--seal-key-file", filepath.Join(s.dir, "seal.key"), "--log-level", "warn", "--log-format", "json"}, flags...)
	cmd := exec.Command(abs, args...) // not CommandContext: SIGTERM, as for posd dev
	if r.Process, err = benchkit.StartProcess(ctx, cmd, filepath.Join(s.dir, name+".log"), r.baseURL()+"/readyz", readyTimeout); err != nil {
		return nil, err
	}
	return r, nil
}

func (s *stack) baseURL() string      { return "http://" + s.addr }
func (s *stack) natsURL() string      { return fmt.Sprintf("nats://127.0.0.1:%d", s.natsPort) }
func (s *stack) superuserURL() string { return s.url("postgres") } // trust-authenticated
func (s *stack) appURL() string       { return s.url(dbName) }
func (s *stack) url(user string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", user, s.pgPort, dbName)
}

// postmasterPID reads the Postgres server's pid from its lock file.
func (s *stack) postmasterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, "postgres", "postmaster.pid"))
	first, _, _ := strings.Cut(string(b), "\n")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(first))
}

// stop stops posd; a Postgres it left running (posd died) is shut down.
func (s *stack) stop() error {
	pm, pmErr := s.postmasterPID()
	err := s.Stop(stopTimeout)
	if _, statErr := os.Stat(filepath.Join(s.dir, "postgres", "postmaster.pid")); pmErr == nil && statErr == nil && benchkit.Alive(pm) {
		_ = syscall.Kill(pm, syscall.SIGINT) // fast shutdown
		for i := 0; i < 100 && benchkit.Alive(pm); i++ {
			time.Sleep(100 * time.Millisecond)
		}
		err = errors.Join(err, fmt.Errorf("postgres (pid %d) was still running after posd exited", pm))
	}
	return err
}

// cleanup removes the data directory unless keep is set.
func (s *stack) cleanup(keep bool) {
	if !keep {
		_ = os.RemoveAll(s.dir)
	}
}
