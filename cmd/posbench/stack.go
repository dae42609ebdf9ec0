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
)

const (
	// readyTimeout bounds the wait for posd dev's /readyz (initdb included).
	readyTimeout = 90 * time.Second
	// stopTimeout bounds the wait for posd to exit after SIGTERM before it is
	// killed.
	stopTimeout = 60 * time.Second
	// dbName is the database posd dev creates.
	dbName = "posd"
)

// stack is a running "posd dev": the posd process, its Postgres cluster and
// embedded NATS, on ports chosen by posbench.
type stack struct {
	dir      string // temporary --data-dir
	addr     string // HTTP address, host:port
	pgPort   int
	natsPort int
	logPath  string

	cmd     *exec.Cmd
	logFile *os.File
	exited  chan struct{} // closed when the posd process has exited
	waitErr error
}

// startStack starts posdPath as "posd dev" on free ports with a fresh data
// directory under the system temp dir, logging JSON at warn level into a file
// in that directory, and waits until /readyz answers 200.
func startStack(ctx context.Context, posdPath string) (*stack, error) {
	abs, err := filepath.Abs(posdPath)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(abs); err != nil || st.IsDir() {
		return nil, fmt.Errorf("posd binary %s not found (build it: go build -o bin/posd ./cmd/posd)", posdPath)
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "posbench-")
	if err != nil {
		return nil, err
	}
	s := &stack{
		dir: dir, addr: "127.0.0.1:" + strconv.Itoa(ports[0]), pgPort: ports[1], natsPort: ports[2],
		logPath: filepath.Join(dir, "posd.log"), exited: make(chan struct{}),
	}
	if s.logFile, err = os.Create(s.logPath); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	// Not exec.CommandContext: posd must get SIGTERM and time to stop its
	// Postgres, never SIGKILL on cancellation.
	s.cmd = exec.Command(abs, "dev",
		"--addr", s.addr, "--data-dir", dir,
		"--pg-port", strconv.Itoa(s.pgPort), "--nats-port", strconv.Itoa(s.natsPort),
		"--log-level", "warn", "--log-format", "json")
	s.cmd.Stdout, s.cmd.Stderr = s.logFile, s.logFile
	// Its own process group, so a Ctrl-C on the terminal reaches posbench
	// only, and posbench stops posd in order.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		s.logFile.Close()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start posd: %w", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.stop()
		s.cleanup(false)
		return nil, err
	}
	return s, nil
}

// freePorts returns n distinct TCP ports that were free on 127.0.0.1 a moment
// ago.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitReady polls /readyz until it answers 200, posd exits, or the timeout.
func (s *stack) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.baseURL()+"/readyz", nil)
		if resp, err := hc.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("posd exited before it was ready (%v); log:\n%s", s.waitErr, s.logTail(4096))
		case <-ctx.Done():
			return fmt.Errorf("posd not ready after %s: %w; log:\n%s", readyTimeout, ctx.Err(), s.logTail(4096))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *stack) baseURL() string { return "http://" + s.addr }

// natsURL is the embedded NATS server's client URL (posd dev listens on
// 127.0.0.1:--nats-port, which posbench chose).
func (s *stack) natsURL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.natsPort) }

// pid is the posd process id.
func (s *stack) pid() int { return s.cmd.Process.Pid }

// superuserURL connects as the cluster's trust-authenticated superuser.
func (s *stack) superuserURL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.pgPort, dbName)
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

// stop sends SIGTERM to posd and waits for it to stop its servers and exit;
// after stopTimeout it is killed. If the Postgres server it started is still
// running afterwards (posd died), it is asked to shut down (fast) itself.
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
	if pmErr == nil && processAlive(pm) {
		if _, statErr := os.Stat(filepath.Join(s.dir, "postgres", "postmaster.pid")); statErr == nil {
			_ = syscall.Kill(pm, syscall.SIGINT) // fast shutdown
			for i := 0; i < 100 && processAlive(pm); i++ {
				time.Sleep(100 * time.Millisecond)
			}
			err = errors.Join(err, fmt.Errorf("postgres (pid %d) was still running after posd exited", pm))
		}
	}
	return err
}

// processAlive reports whether pid exists (and is not a zombie we could see).
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, ok := strings.Cut(string(b), ") ")
	return ok && !strings.HasPrefix(rest, "Z")
}

// errorLogLines counts posd log lines at level error or above (a 5xx is logged
// at error level).
func (s *stack) errorLogLines() (n int, sample string) {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return 0, ""
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if bytes.Contains(line, []byte(`"level":"error"`)) || bytes.Contains(line, []byte(`"level":"fatal"`)) ||
			bytes.Contains(line, []byte(`"level":"panic"`)) || bytes.HasPrefix(line, []byte("panic:")) {
			if n == 0 {
				sample = string(line)
			}
			n++
		}
	}
	return n, sample
}

// logTail returns the last n bytes of posd's log.
func (s *stack) logTail(n int64) string {
	f, err := os.Open(s.logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	b := make([]byte, st.Size()-off)
	_, _ = f.ReadAt(b, off)
	return string(b)
}

// cleanup closes the log and removes the data directory unless keep is set.
func (s *stack) cleanup(keep bool) {
	s.logFile.Close()
	if !keep {
		_ = os.RemoveAll(s.dir)
	}
}
