package benchkit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Process is a server under test: started in its own process group (so a
// Ctrl-C on the terminal reaches the benchmark only), its output in a log
// file, stopped with SIGTERM.
type Process struct {
	Cmd     *exec.Cmd
	LogPath string
	log     *os.File
	exited  chan struct{}
	waitErr error
}

// StartProcess starts cmd with its output in logPath and waits until
// readyURL answers 200 (or the process exits, or timeout passes; it is then
// stopped).
func StartProcess(ctx context.Context, cmd *exec.Cmd, logPath, readyURL string, timeout time.Duration) (*Process, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &Process{Cmd: cmd, LogPath: logPath, log: f, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, readyURL, nil)
		if resp, err := hc.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%s exited before it was ready (%v); log:\n%s", cmd.Path, p.waitErr, p.LogTail(4096))
		case <-ctx.Done():
			_ = p.Stop(time.Minute)
			return nil, fmt.Errorf("%s not ready after %s: %w; log:\n%s", cmd.Path, timeout, ctx.Err(), p.LogTail(4096))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// PID is the process id.
func (p *Process) PID() int { return p.Cmd.Process.Pid }

// Stop sends SIGTERM and waits for the exit, killing the process after
// timeout.
func (p *Process) Stop(timeout time.Duration) error {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.waitErr != nil {
			return fmt.Errorf("%s exited with %v", p.Cmd.Path, p.waitErr)
		}
		return nil
	case <-time.After(timeout):
		_ = p.Cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not exit within %s of SIGTERM; killed", p.Cmd.Path, timeout)
	}
}

// ErrorLines counts the log lines of a JSON log at level error or worse
// (and Go panics) and returns the first.
func (p *Process) ErrorLines() (n int, first string) {
	b, _ := os.ReadFile(p.LogPath)
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

// LogTail returns the last n bytes of the log.
func (p *Process) LogTail(n int) string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b[max(len(b)-n, 0):])
}

// FreePorts returns n distinct TCP ports that were free on 127.0.0.1 a
// moment ago.
func FreePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close() // held until all are found, so they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Alive reports whether pid runs (and is not a zombie).
func Alive(pid int) bool {
	_, _, err := ReadStat(pid)
	return err == nil
}

// WaitQuiet measures how busy the machine is and waits up to maxWait for
// samples one-second readings in a row under load. It returns the mean of
// the last samples readings and whether they were all under load.
func WaitQuiet(ctx context.Context, maxWait time.Duration, load float64, samples int, logf func(string, ...any)) (mean float64, quiet bool, err error) {
	var recent []float64
	deadline := time.Now().Add(maxWait)
	for {
		recent = append(recent, MachineLoad(time.Second))
		if len(recent) > samples {
			recent = recent[1:]
		}
		if ctx.Err() != nil {
			return 0, false, ctx.Err()
		}
		if len(recent) < samples {
			continue
		}
		quiet, sum := true, 0.0
		for _, l := range recent {
			quiet, sum = quiet && l <= load, sum+l
		}
		if quiet || !time.Now().Before(deadline) {
			return sum / float64(samples), quiet, nil
		}
		if last := recent[len(recent)-1]; last > load {
			logf("machine %.0f%% busy; waiting for it to stay under %.0f%% for %ds", 100*last, 100*load, samples)
			if err := Sleep(ctx, 3*time.Second); err != nil {
				return 0, false, err
			}
		}
	}
}
