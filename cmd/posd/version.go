package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// version is set at build time with
//
//	go build -ldflags "-X main.version=v1.2.3" ./cmd/posd
//
// (the Makefile passes `git describe`). Without it, buildVersion falls back
// to what the Go toolchain recorded in the binary.
var version = ""

// buildVersion is the version posd reports in `posd version`, in /healthz
// and in its start-up log line: the -ldflags value, else the module version
// (set by `go install …@v1.2.3`), else the VCS revision the toolchain
// stamped, else "devel".
func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		rev += "-dirty"
	}
	return "devel-" + rev
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "Print posd's version and the Go version it was built with.", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	goVersion := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		goVersion = info.GoVersion
	}
	fmt.Fprintf(stdout, "posd %s (%s)\n", buildVersion(), goVersion)
	return nil
}
