package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat. It is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// sampleEvery is how often the sampler reads /proc.
const sampleEvery = 100 * time.Millisecond

// procSample is one reading of the processes under observation.
type procSample struct {
	at time.Time
	// posdRSS is posd's VmRSS in bytes.
	posdRSS int64
	// cpu is cumulative user+system CPU ticks per pid, for posd, posbench
	// itself and every Postgres process (the postmaster and its children).
	cpu map[int]int64
	// machine is the machine-wide busy and steal time from /proc/stat.
	machine machineTicks
}

// machineTicks are cumulative machine-wide CPU ticks (all CPUs) from the
// "cpu" line of /proc/stat.
type machineTicks struct {
	busy  int64 // user, nice, system, irq, softirq
	steal int64 // time the hypervisor gave this machine's CPUs to others
	total int64 // busy, steal, idle and iowait
}

// cpuUse is the CPU time each process group spent in a window.
type cpuUse struct {
	Posd, Postgres, Posbench time.Duration
	// MachineBusy is all CPU time used on the machine in the window (every
	// process and interrupts), Steal the time the hypervisor ran something
	// else on our CPUs, MachineTotal the CPU time of the window (× CPUs).
	MachineBusy, MachineTotal, Steal time.Duration
	// MaxRSS is the largest posd VmRSS sampled in the window, in bytes.
	MaxRSS int64
}

// sampler periodically records posd's RSS and the CPU time of posd, Postgres
// and posbench, so that any time window can be charged afterwards.
type sampler struct {
	posd, postmaster, self int

	mu      sync.Mutex
	samples []procSample
	stop    chan struct{}
	done    chan struct{}
}

// startSampler begins sampling every sampleEvery until close is called.
func startSampler(posdPID, postmasterPID int) *sampler {
	s := &sampler{posd: posdPID, postmaster: postmasterPID, self: os.Getpid(),
		stop: make(chan struct{}), done: make(chan struct{})}
	s.sample()
	go func() {
		defer close(s.done)
		t := time.NewTicker(sampleEvery)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

// close stops sampling after one last sample.
func (s *sampler) close() {
	close(s.stop)
	<-s.done
	s.sample()
}

func (s *sampler) sample() {
	ps := procSample{at: time.Now(), cpu: map[int]int64{}}
	ps.machine, _ = readMachineTicks()
	if st, err := readStatus(s.posd); err == nil {
		ps.posdRSS = st.rss
	}
	for _, pid := range []int{s.posd, s.self, s.postmaster} {
		if t, _, err := readStat(pid); err == nil {
			ps.cpu[pid] = t
		}
	}
	// Postgres backends and auxiliary processes are children of the
	// postmaster.
	if ents, err := os.ReadDir("/proc"); err == nil {
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == s.posd || pid == s.self || pid == s.postmaster {
				continue
			}
			t, ppid, err := readStat(pid)
			if err == nil && ppid == s.postmaster {
				ps.cpu[pid] = t
			}
		}
	}
	s.mu.Lock()
	s.samples = append(s.samples, ps)
	s.mu.Unlock()
}

// window charges the CPU time spent between from and to to posd, Postgres and
// posbench. Processes born inside the window count from zero; processes that
// exit inside it count up to their last sample.
func (s *sampler) window(from, to time.Time) cpuUse {
	s.mu.Lock()
	defer s.mu.Unlock()
	var u cpuUse
	// base is the last sample at or before from; the window's samples follow
	// it up to the first sample at or after to.
	base := -1
	for i, ps := range s.samples {
		if !ps.at.After(from) {
			base = i
		}
	}
	if base < 0 {
		base = 0
	}
	last := map[int]int64{}
	var lastMachine machineTicks
	for i := base + 1; i < len(s.samples); i++ {
		ps := s.samples[i]
		lastMachine = ps.machine
		for pid, t := range ps.cpu {
			last[pid] = t
		}
		u.MaxRSS = max(u.MaxRSS, ps.posdRSS)
		if !ps.at.Before(to) {
			break
		}
	}
	tick := time.Second / clockTicks
	if lastMachine.total > 0 {
		b := s.samples[base].machine
		u.MachineBusy = time.Duration(lastMachine.busy-b.busy) * tick
		u.Steal = time.Duration(lastMachine.steal-b.steal) * tick
		u.MachineTotal = time.Duration(lastMachine.total-b.total) * tick
	}
	for pid, t := range last {
		d := time.Duration(t-s.samples[base].cpu[pid]) * tick
		switch {
		case pid == s.posd:
			u.Posd += d
		case pid == s.self:
			u.Posbench += d
		default:
			u.Postgres += d
		}
	}
	return u
}

// add accumulates o (another window) into u.
func (u *cpuUse) add(o cpuUse) {
	u.Posd += o.Posd
	u.Postgres += o.Postgres
	u.Posbench += o.Posbench
	u.MachineBusy += o.MachineBusy
	u.MachineTotal += o.MachineTotal
	u.Steal += o.Steal
	u.MaxRSS = max(u.MaxRSS, o.MaxRSS)
}

// Others is the CPU time used in the window by everything but posd,
// Postgres and posbench; add loadgen for a load generator outside them
// (pgbench).
func (u cpuUse) Others(loadgen time.Duration) time.Duration {
	return max(u.MachineBusy-u.Posd-u.Postgres-u.Posbench-loadgen, 0)
}

// readMachineTicks reads the aggregate "cpu" line of /proc/stat.
func readMachineTicks() (machineTicks, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return machineTicks{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return machineTicks{}, fmt.Errorf("empty /proc/stat")
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 9 || fields[0] != "cpu" {
		return machineTicks{}, fmt.Errorf("unexpected /proc/stat line %q", sc.Text())
	}
	var v [8]int64 // user nice system idle iowait irq softirq steal
	for i := range v {
		v[i], _ = strconv.ParseInt(fields[i+1], 10, 64)
	}
	busy := v[0] + v[1] + v[2] + v[5] + v[6]
	return machineTicks{busy: busy, steal: v[7], total: busy + v[7] + v[3] + v[4]}, nil
}

// machineLoad measures the machine-wide busy share over d, before posbench
// starts anything.
func machineLoad(d time.Duration) float64 {
	a, err := readMachineTicks()
	if err != nil {
		return 0
	}
	time.Sleep(d)
	b, err := readMachineTicks()
	if err != nil || b.total == a.total {
		return 0
	}
	return float64(b.busy-a.busy) / float64(b.total-a.total)
}

// procStatus is what posbench reads from /proc/<pid>/status.
type procStatus struct {
	rss, hwm int64 // VmRSS and VmHWM (peak RSS), bytes
}

// readStatus reads VmRSS and VmHWM of pid.
func readStatus(pid int) (procStatus, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStatus{}, err
	}
	defer f.Close()
	var st procStatus
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var dst *int64
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			dst = &st.rss
		case strings.HasPrefix(line, "VmHWM:"):
			dst = &st.hwm
		default:
			continue
		}
		fields := strings.Fields(line)
		if len(fields) >= 2 {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			*dst = kb * 1024
		}
	}
	return st, sc.Err()
}

// readStat returns the cumulative user+system CPU ticks and the parent pid of
// pid from /proc/<pid>/stat.
func readStat(pid int) (ticks int64, ppid int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name may contain spaces and parentheses; fields resume
	// after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ppid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st, ppid, nil
}
