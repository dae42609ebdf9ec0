package main

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
)

// machine describes where the benchmark ran.
type machine struct {
	CPU       string
	Cores     int
	MemTotal  int64 // bytes
	Kernel    string
	GoPosd    string // Go version posd was built with
	PosdVCS   string // revision posd was built from, "+dirty" if modified
	GoBench   string // Go version of posbench
	Postgres  string
	DataDirFS string // filesystem type and device holding the data directory
}

// describeMachine reads /proc and the posd binary's build info.
func describeMachine(posdPath, dataDir string) machine {
	m := machine{Cores: runtime.NumCPU(), GoBench: runtime.Version(), CPU: "unknown", Kernel: "unknown", GoPosd: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fields := strings.Fields(sc.Text()); len(fields) >= 2 && fields[0] == "MemTotal:" {
				kb, _ := strconv.ParseInt(fields[1], 10, 64)
				m.MemTotal = kb * 1024
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if bi, err := buildinfo.ReadFile(posdPath); err == nil {
		m.GoPosd = bi.GoVersion
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
			m.PosdVCS = rev + dirty
		}
	}
	if m.PosdVCS == "" {
		m.PosdVCS = gitRevision()
	}
	m.DataDirFS = mountOf(dataDir)
	return m
}

// gitRevision describes the git checkout in the working directory (where
// "make bench" builds posd): its HEAD and whether tracked files differ.
func gitRevision() string {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return ""
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		rev += " with uncommitted changes"
	} else if err == nil {
		if un, err := exec.Command("git", "status", "--porcelain").Output(); err == nil && len(bytes.TrimSpace(un)) > 0 {
			rev += " with untracked files"
		}
	}
	return rev
}

// mountOf names the filesystem type and source of the mount holding path
// (the longest mount point that is a prefix of it).
func mountOf(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "unknown"
	}
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	best, desc := "", "unknown"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		mp := fields[1]
		if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best, desc = mp, fmt.Sprintf("%s (%s on %s)", fields[2], fields[0], mp)
		}
	}
	return desc
}
