package benchkit

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Outcomes counts what the requests of one client inside a window came back
// with; clients' outcomes are merged after the run.
type Outcomes struct {
	OK        int
	Latencies []time.Duration
	Statuses  map[int]int // unexpected statuses
	Transport int         // no answer: outcome unknown
	FirstBad  string      // the first unexpected answer or error
}

func NewOutcomes() *Outcomes { return &Outcomes{Statuses: map[int]int{}} }

// Accepted records an accepted request's latency if in (the window).
func (o *Outcomes) Accepted(in bool, d time.Duration) {
	if in {
		o.OK++
		o.Latencies = append(o.Latencies, d)
	}
}

// Bad records an unexpected status if in, and notes body.
func (o *Outcomes) Bad(in bool, status int, body []byte) {
	if in {
		o.Statuses[status]++
	}
	o.Note(string(body))
}

// Lost records a request without an answer if in, and notes err.
func (o *Outcomes) Lost(in bool, err error) {
	if in {
		o.Transport++
	}
	o.Note(err.Error())
}

// Note keeps s if it is the first unexpected answer.
func (o *Outcomes) Note(s string) {
	if o.FirstBad == "" {
		o.FirstBad = Truncate(s, 300)
	}
}

// Merge folds others into o.
func (o *Outcomes) Merge(others ...*Outcomes) {
	for _, x := range others {
		o.OK += x.OK
		o.Latencies = append(o.Latencies, x.Latencies...)
		for k, v := range x.Statuses {
			o.Statuses[k] += v
		}
		o.Transport += x.Transport
		o.Note(x.FirstBad)
	}
}

// Errors is the number of requests that failed.
func (o *Outcomes) Errors() int {
	n := o.Transport
	for _, v := range o.Statuses {
		n += v
	}
	return n
}

// ErrorCell is Errors with the statuses, "3 (2×500, 1×404)".
func (o *Outcomes) ErrorCell() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(o.Statuses)) {
		parts = append(parts, fmt.Sprintf("%d×%d", o.Statuses[k], k))
	}
	if len(parts) == 0 {
		return strconv.Itoa(o.Errors())
	}
	return fmt.Sprintf("%d (%s)", o.Errors(), strings.Join(parts, ", "))
}

// Message is a message expected or received under a key: when it was
// stamped by its sender and when it was acknowledged or received.
type Message struct {
	Key          string
	Stamped, Got time.Time
}

// Deliveries counts expected messages received once, missing and received
// more than once, with the latency from the stamp to the first arrival.
type Deliveries struct {
	Expected, Received, Missing, Duplicate int
	FromStamp                              Summary
}

// Match pairs each expected message with the messages received under its
// key. It also returns the latency from each expected message's Got (its
// acknowledgement) to the first arrival.
func Match(expected, got []Message) (Deliveries, Summary) {
	byKey := map[string][]Message{}
	for _, r := range got {
		byKey[r.Key] = append(byKey[r.Key], r)
	}
	var c Deliveries
	var fromStamp, fromAck []time.Duration
	for _, e := range expected {
		c.Expected++
		rs := byKey[e.Key]
		switch {
		case len(rs) == 0:
			c.Missing++
			continue
		case len(rs) > 1:
			c.Duplicate++
		}
		c.Received++
		fromStamp, fromAck = append(fromStamp, rs[0].Got.Sub(rs[0].Stamped)), append(fromAck, rs[0].Got.Sub(e.Got))
	}
	c.FromStamp = Summarize(fromStamp)
	return c, Summarize(fromAck)
}

// Collector gathers messages from a listener goroutine.
type Collector struct {
	mu   sync.Mutex
	got  []Message
	err  error
	Done chan struct{} // closed by the listener when it has stopped
}

func (c *Collector) Add(m Message) {
	c.mu.Lock()
	c.got = append(c.got, m)
	c.mu.Unlock()
}

// Fail records the first error.
func (c *Collector) Fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
}

// Take returns the messages gathered since the last Take and forgets them;
// the listener goes on.
func (c *Collector) Take() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.got
	c.got = nil
	return got
}

// Stopped reports whether the listener has stopped, and its first error.
func (c *Collector) Stopped() (bool, error) {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	select {
	case <-c.Done:
		return true, err
	default:
		return false, err
	}
}

// Wait waits for Done and returns the messages and the first error.
func (c *Collector) Wait() ([]Message, error) {
	<-c.Done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got, c.err
}

// Pgbench runs a pgbench script.
type Pgbench struct {
	Bin, Script, URL, Dir string
	Vars                  map[string]string // -D variables
	Env                   []string          // added to the environment
}

// PgbenchRun is one run's (or merged runs') summary, per-transaction
// latencies (when logged), pgbench's CPU time and command line (without the
// -D variables and the URL).
type PgbenchRun struct {
	PgbenchSummary
	Duration   time.Duration
	Latencies  []time.Duration
	PgbenchCPU time.Duration
	Command    string
}

// Merge adds run o to r.
func (r *PgbenchRun) Merge(o PgbenchRun) {
	r.TPS = (r.TPS*r.Duration.Seconds() + o.TPS*o.Duration.Seconds()) / (r.Duration + o.Duration).Seconds()
	r.Duration, r.Transactions, r.Failed = r.Duration+o.Duration, r.Transactions+o.Transactions, r.Failed+o.Failed
	r.Latencies, r.PgbenchCPU, r.LatencyAvg = append(r.Latencies, o.Latencies...), r.PgbenchCPU+o.PgbenchCPU, 0
}

// Run runs the script with clients (one thread per CPU at most) for d in
// prepared mode, logging every transaction under logPrefix if it is set.
func (p Pgbench) Run(ctx context.Context, clients int, d time.Duration, logPrefix string) (PgbenchRun, error) {
	args := []string{"-n", "-M", "prepared", "-c", strconv.Itoa(clients), "-j", strconv.Itoa(min(clients, runtime.NumCPU())),
		"-T", strconv.Itoa(max(1, int(d.Round(time.Second).Seconds()))), "-f", p.Script}
	if logPrefix != "" {
		args = append(args, "-l", "--log-prefix", logPrefix)
	}
	r := PgbenchRun{Command: "pgbench " + strings.Join(args, " "), Duration: d}
	for k, v := range p.Vars {
		args = append(args, "-D", k+"="+v)
	}
	cmd := exec.CommandContext(ctx, p.Bin, append(args, p.URL)...)
	cmd.Dir, cmd.Env = p.Dir, append(os.Environ(), p.Env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return r, fmt.Errorf("%s: %w\n%s", r.Command, err, out)
	}
	r.PgbenchCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if r.PgbenchSummary, err = ParsePgbench(string(out)); err == nil && logPrefix != "" {
		r.Latencies, err = ReadPgbenchLogs(logPrefix)
	}
	return r, err
}

// WatchHistogram scrapes metric from url at the start and the end of w in
// the background; the returned function waits for the second scrape and
// returns the observations in between (nil if there are none to tell).
func WatchHistogram(ctx context.Context, url, metric string, w Window) func() *Histogram {
	done := make(chan *Histogram, 1)
	go func() {
		var res *Histogram
		defer func() { done <- res }()
		scrape := func(at time.Time) (Histogram, bool) {
			if Sleep(ctx, time.Until(at)) != nil {
				return Histogram{}, false
			}
			h, ok, err := ScrapeHistogram(ctx, httpClient, url, metric)
			return h, ok && err == nil
		}
		if before, ok := scrape(w.Start); ok {
			if after, ok := scrape(w.End); ok {
				d := after.Sub(before)
				res = &d
			}
		}
	}()
	return func() *Histogram { return <-done }
}
