package benchkit

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat (100
// on every Linux architecture Go supports).
const clockTicks = 100

// Use is the CPU time spent in a window by the process under test (Target),
// a process tree (Tree: a server and its children) and the sampling process
// itself (Self), and machine-wide.
type Use struct {
	Target, Tree, Self time.Duration
	// MachineBusy is all CPU time used on the machine, Steal the time the
	// hypervisor ran something else on its CPUs, MachineTotal the CPU time of
	// the window (× CPUs).
	MachineBusy, MachineTotal, Steal time.Duration
	// MaxRSS is the largest VmRSS of Target sampled in the window, bytes.
	MaxRSS int64
}

// Add accumulates o (another window) into u.
func (u *Use) Add(o Use) {
	u.Target, u.Tree, u.Self = u.Target+o.Target, u.Tree+o.Tree, u.Self+o.Self
	u.MachineBusy, u.MachineTotal, u.Steal = u.MachineBusy+o.MachineBusy, u.MachineTotal+o.MachineTotal, u.Steal+o.Steal
	u.MaxRSS = max(u.MaxRSS, o.MaxRSS)
}

// Others is the CPU time used by everything but Target, Tree and Self, and
// extra (a load generator outside them).
func (u Use) Others(extra time.Duration) time.Duration {
	return max(u.MachineBusy-u.Target-u.Tree-u.Self-extra, 0)
}

type ticks struct{ busy, steal, total int64 }

type sample struct {
	at      time.Time
	rss     int64
	cpu     map[int]int64 // cumulative ticks per pid
	machine ticks
}

// Sampler reads /proc every interval so that any window can be charged
// afterwards.
type Sampler struct {
	target, tree, self int
	mu                 sync.Mutex
	samples            []sample
	stop, done         chan struct{}
}

// StartSampler samples target, tree (and its children) and this process
// every interval until Close.
func StartSampler(target, tree int, interval time.Duration) *Sampler {
	s := &Sampler{target: target, tree: tree, self: os.Getpid(), stop: make(chan struct{}), done: make(chan struct{})}
	s.sample()
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
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

// Close stops sampling after one last sample.
func (s *Sampler) Close() {
	close(s.stop)
	<-s.done
	s.sample()
}

func (s *Sampler) sample() {
	ps := sample{at: time.Now(), cpu: map[int]int64{}}
	ps.machine, _ = machineTicks()
	if rss, _, err := ReadRSS(s.target); err == nil {
		ps.rss = rss
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if t, ppid, err := ReadStat(pid); err == nil && (pid == s.target || pid == s.self || pid == s.tree || ppid == s.tree) {
			ps.cpu[pid] = t
		}
	}
	s.mu.Lock()
	s.samples = append(s.samples, ps)
	s.mu.Unlock()
}

// Window charges the CPU time between from and to. Processes born inside
// it count from zero, processes that exit inside it up to their last sample.
func (s *Sampler) Window(from, to time.Time) Use {
	s.mu.Lock()
	defer s.mu.Unlock()
	var u Use
	base := 0
	for i, ps := range s.samples {
		if !ps.at.After(from) {
			base = i
		}
	}
	last := map[int]int64{}
	var m ticks
	for _, ps := range s.samples[base+1:] {
		m = ps.machine
		for pid, t := range ps.cpu {
			last[pid] = t
		}
		u.MaxRSS = max(u.MaxRSS, ps.rss)
		if !ps.at.Before(to) {
			break
		}
	}
	tick, b := time.Second/clockTicks, s.samples[base]
	if m.total > 0 {
		u.MachineBusy = time.Duration(m.busy-b.machine.busy) * tick
		u.Steal = time.Duration(m.steal-b.machine.steal) * tick
		u.MachineTotal = time.Duration(m.total-b.machine.total) * tick
	}
	for pid, t := range last {
		d := time.Duration(t-b.cpu[pid]) * tick
		switch pid {
		case s.target:
			u.Target += d
		case s.self:
			u.Self += d
		default:
			u.Tree += d
		}
	}
	return u
}

// machineTicks reads the aggregate "cpu" line of /proc/stat.
func machineTicks() (ticks, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return ticks{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return ticks{}, fmt.Errorf("unexpected /proc/stat line %q", line)
	}
	var v [8]int64 // user nice system idle iowait irq softirq steal
	for i := range v {
		v[i], _ = strconv.ParseInt(f[i+1], 10, 64)
	}
	busy := v[0] + v[1] + v[2] + v[5] + v[6]
	return ticks{busy: busy, steal: v[7], total: busy + v[7] + v[3] + v[4]}, nil
}

// MachineLoad is the machine-wide busy share over the next d.
func MachineLoad(d time.Duration) float64 {
	a, err := machineTicks()
	time.Sleep(d)
	b, err2 := machineTicks()
	if err != nil || err2 != nil || b.total == a.total {
		return 0
	}
	return float64(b.busy-a.busy) / float64(b.total-a.total)
}

// ReadRSS returns VmRSS and VmHWM (peak RSS) of pid in bytes.
func ReadRSS(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb * 1024
		case "VmHWM:":
			hwm = kb * 1024
		}
	}
	return rss, hwm, nil
}

// ReadStat returns the cumulative user+system CPU ticks and the parent pid of
// pid (an error for a zombie).
func ReadStat(pid int) (cpu int64, ppid int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command may contain spaces and parentheses: fields resume after
	// the last ')'. f[0] is field 3 (state), ppid field 4, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	if f[0] == "Z" {
		return 0, 0, fmt.Errorf("process %d is a zombie", pid)
	}
	ppid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st, ppid, nil
}

// CPUTime is the user+system CPU time pid has used so far.
func CPUTime(pid int) (time.Duration, error) {
	t, _, err := ReadStat(pid)
	return time.Duration(t) * (time.Second / clockTicks), err
}

// OpenFDs counts the file descriptors pid holds open.
func OpenFDs(pid int) (int, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents), err
}

// Machine describes where a benchmark ran.
type Machine struct {
	CPU       string
	Cores     int
	MemTotal  int64  // bytes
	Kernel    string // Linux release
	GoBinary  string // Go version the binary under test was built with
	VCS       string // its revision, noting uncommitted changes
	GoSelf    string // Go version of this process
	DataDirFS string // filesystem type and device holding the data directory
}

// DescribeMachine reads /proc, the build info of binary and the mount of
// dataDir.
func DescribeMachine(binary, dataDir string) Machine {
	m := Machine{Cores: runtime.NumCPU(), GoSelf: runtime.Version(), CPU: "unknown", Kernel: "unknown", GoBinary: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				m.MemTotal = kb * 1024
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if bi, err := buildinfo.ReadFile(binary); err == nil {
		m.GoBinary = bi.GoVersion
		var rev, dirty string
		for _, kv := range bi.Settings {
			switch {
			case kv.Key == "vcs.revision" && len(kv.Value) >= 12:
				rev = kv.Value[:12]
			case kv.Key == "vcs.modified" && kv.Value == "true":
				dirty = " with uncommitted changes"
			}
		}
		if rev != "" {
			m.VCS = rev + dirty
		}
	}
	if m.VCS == "" {
		m.VCS = gitRevision()
	}
	m.DataDirFS = mountOf(dataDir)
	return m
}

// gitRevision describes the git checkout in the working directory.
func gitRevision() string {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return ""
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		rev += " with uncommitted changes"
	}
	return rev
}

// mountOf names the filesystem type and source of the longest mount point
// holding path.
func mountOf(path string) string {
	abs, err := filepath.Abs(path)
	f, err2 := os.Open("/proc/self/mounts")
	if err != nil || err2 != nil {
		return "unknown"
	}
	defer f.Close()
	best, desc := "", "unknown"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 3 {
			continue
		}
		if mp := fl[1]; (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best, desc = mp, fmt.Sprintf("%s (%s on %s)", fl[2], fl[0], mp)
		}
	}
	return desc
}
