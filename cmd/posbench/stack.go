package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
// ports chosen by posbench.
type stack struct {
	dir, addr, logPath string
	pgPort, natsPort   int
	cmd                *exec.Cmd
	logFile            *os.File
	exited             chan struct{}
	waitErr            error
}

// startStack starts posdPath as "posd dev" with a fresh data directory,
// logging JSON at warn level into it, and waits until /readyz answers 200.
func startStack(ctx context.Context, posdPath string) (*stack, error) {
	abs, err := filepath.Abs(posdPath)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(abs); err != nil || st.IsDir() {
		return nil, fmt.Errorf("posd binary %s not found (build it: go build -o bin/posd ./cmd/posd)", posdPath)
	}
	var ports []int
	var ls []net.Listener // held open together so the ports differ
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls, ports = append(ls, l), append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return startOn(ctx, abs, ports)
}

func startOn(ctx context.Context, abs string, ports []int) (*stack, error) {
	dir, err := os.MkdirTemp("", "posbench-")
	if err != nil {
		return nil, err
	}
	s := &stack{dir: dir, addr: "127.0.0.1:" + strconv.Itoa(ports[0]), pgPort: ports[1], natsPort: ports[2],
		logPath: filepath.Join(dir, "posd.log"), exited: make(chan struct{})}
	if s.logFile, err = os.Create(s.logPath); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	// Not CommandContext: posd must get SIGTERM and time to stop its
	// Postgres; its own process group keeps a Ctrl-C on the terminal away.
	s.cmd = exec.Command(abs, "dev", "--addr", s.addr, "--data-dir", dir,
		"--pg-port", strconv.Itoa(s.pgPort), "--nats-port", strconv.Itoa(s.natsPort), "--log-level", "warn", "--log-format", "json")
	s.cmd.Stdout, s.cmd.Stderr = s.logFile, s.logFile
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return s, s.start(ctx)
}

func (s *stack) start(ctx context.Context) error {
	if err := s.cmd.Start(); err != nil {
		s.cleanup(false)
		return fmt.Errorf("start posd: %w", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.baseURL()+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		var err error
		select {
		case <-s.exited:
			err = fmt.Errorf("posd exited before it was ready (%v); log:\n%s", s.waitErr, s.logTail(4096))
		case <-ctx.Done():
			err = fmt.Errorf("posd not ready after %s: %w; log:\n%s", readyTimeout, ctx.Err(), s.logTail(4096))
		case <-time.After(100 * time.Millisecond):
			continue
		}
		_ = s.stop()
		s.cleanup(false)
		return err
	}
}

func (s *stack) baseURL() string { return "http://" + s.addr }
func (s *stack) natsURL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.natsPort) }
func (s *stack) pid() int        { return s.cmd.Process.Pid }

// superuserURL connects as the cluster's trust-authenticated superuser,
// appURL as posd's role.
func (s *stack) superuserURL() string { return s.url("postgres") }
func (s *stack) appURL() string       { return s.url(dbName) }
func (s *stack) url(user string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", user, s.pgPort, dbName)
}

// postmasterPID reads the Postgres server's pid from its lock file.
func (s *stack) postmasterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, "postgres", "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// stop sends SIGTERM to posd and waits for it to exit (killing it after
// stopTimeout). A Postgres it left running (posd died) is shut down.
func (s *stack) stop() error {
	pm, pmErr := s.postmasterPID()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case <-s.exited:
		if s.waitErr != nil {
			err = fmt.Errorf("posd exited with %v", s.waitErr)
		}
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
		err = fmt.Errorf("posd did not exit within %s of SIGTERM; killed", stopTimeout)
	}
	alive := func() bool { _, _, err := benchkit.ReadStat(pm); return err == nil }
	if _, statErr := os.Stat(filepath.Join(s.dir, "postgres", "postmaster.pid")); pmErr == nil && statErr == nil && alive() {
		_ = syscall.Kill(pm, syscall.SIGINT) // fast shutdown
		for i := 0; i < 100 && alive(); i++ {
			time.Sleep(100 * time.Millisecond)
		}
		err = errors.Join(err, fmt.Errorf("postgres (pid %d) was still running after posd exited", pm))
	}
	return err
}

// errorLogLines counts posd log lines at level error or worse (a 5xx is
// logged at error level) and returns the first.
func (s *stack) errorLogLines() (n int, first string) {
	b, _ := os.ReadFile(s.logPath)
	for _, line := range bytes.Split(b, []byte("\n")) {
		for _, mark := range []string{`"level":"error"`, `"level":"fatal"`, `"level":"panic"`, "panic:"} {
			if bytes.Contains(line, []byte(mark)) {
				if n == 0 {
					first = string(line)
				}
				n++
				break
			}
		}
	}
	return n, first
}

// logTail returns the last n bytes of posd's log.
func (s *stack) logTail(n int) string {
	b, _ := os.ReadFile(s.logPath)
	return string(b[max(len(b)-n, 0):])
}

// cleanup closes the log and removes the data directory unless keep is set.
func (s *stack) cleanup(keep bool) {
	s.logFile.Close()
	if !keep {
		_ = os.RemoveAll(s.dir)
	}
}
