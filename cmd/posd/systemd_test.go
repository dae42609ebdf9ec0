package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSystemdUnits keeps deploy/systemd loadable and true to posd: every
// unit passes systemd-analyze verify without a warning (in a root holding
// this posd, the drill script, pgBackRest and the host's own system units),
// every posd command line in them parses with this posd's flags, and the
// user they run as is the one posd.sysusers creates.
func TestSystemdUnits(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		require.Empty(t, os.Getenv("POSD_REQUIRE_SYSTEMD"), "systemd-analyze not found; .ci/run installs Debian's systemd")
		t.Skip("systemd-analyze not installed (Debian: systemd)")
	}
	units, err := filepath.Glob("../../deploy/systemd/*.service")
	require.NoError(t, err)
	timers, err := filepath.Glob("../../deploy/systemd/*.timer")
	require.NoError(t, err)
	units = append(units, timers...)
	require.GreaterOrEqual(t, len(units), 9)

	root := t.TempDir()
	system := "/usr/lib/systemd/system"
	if _, err := os.Stat(filepath.Join(system, "sysinit.target")); err != nil {
		system = "/lib/systemd/system"
	}
	require.NoError(t, os.MkdirAll(filepath.Join(root, "usr/lib/systemd"), 0o755))
	out, err := exec.Command("cp", "-r", system, filepath.Join(root, "usr/lib/systemd/system")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	install := func(src, dst string, mode os.FileMode) {
		t.Helper()
		b, err := os.ReadFile(src)
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Join(root, filepath.Dir(dst)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, dst), b, mode))
	}
	install(posdBin, "usr/local/bin/posd", 0o755)
	install("../../deploy/pgbackrest/restore-drill.sh", "usr/local/bin/posd-restore-drill", 0o755)
	install("/bin/sh", "bin/sh", 0o755)
	if pgbr, err := exec.LookPath("pgbackrest"); err == nil {
		// Debian's pgbackrest is where the backup unit runs it.
		require.Equal(t, "/usr/bin/pgbackrest", pgbr)
		install(pgbr, "usr/bin/pgbackrest", 0o755)
	} else {
		require.Empty(t, os.Getenv("POSD_REQUIRE_SYSTEMD"), "pgbackrest not found")
		install("/bin/true", "usr/bin/pgbackrest", 0o755)
	}
	var names []string
	for _, u := range units {
		install(u, filepath.Join("etc/systemd/system", filepath.Base(u)), 0o644)
		name := filepath.Base(u)
		if strings.HasSuffix(name, "@.service") {
			name = strings.Replace(name, "@", "@full", 1)
		}
		names = append(names, name)
	}

	cmd := exec.Command(analyze, append([]string{"verify", "--man=no", "--root=" + root}, names...)...)
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify warns")

	// posd.sysusers, installed where it says, creates the user the posd
	// units run as.
	sysusers, err := exec.LookPath("systemd-sysusers")
	require.NoError(t, err)
	install("../../deploy/systemd/posd.sysusers", "usr/lib/sysusers.d/posd.conf", 0o644)
	// Run as root, systemd-sysusers makes the root's /etc itself; as
	// anyone else it needs it there.
	require.NoError(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	out, err = exec.Command(sysusers, "--root="+root).CombinedOutput()
	require.NoError(t, err, "%s", out)
	passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	require.NoError(t, err)
	require.Regexp(t, `(?m)^posd:x:\d+:\d+:`, string(passwd))

	help, err := exec.Command(posdBin, "serve", "--help").CombinedOutput()
	require.NoError(t, err, "%s", help)
	posdLine := regexp.MustCompile(`^Exec(Start|StartPre|StartPost)=/usr/local/bin/posd (.*)$`)
	users := map[string]bool{}
	commands := 0
	for _, u := range units {
		f, err := os.Open(u)
		require.NoError(t, err)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "User="); ok {
				users[v] = true
			}
			m := posdLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			// --help after the unit's arguments: posd parses them, then
			// prints its usage and exits 0; an unknown flag fails.
			args := append(strings.Fields(m[2]), "--help")
			out, err := exec.Command(posdBin, args...).CombinedOutput()
			require.NoError(t, err, "%s: posd %s: %s", filepath.Base(u), m[2], out)
			require.NotContains(t, string(out), "not defined", "%s: posd %s", filepath.Base(u), m[2])
			commands++
		}
		require.NoError(t, sc.Err())
		f.Close()
	}
	require.GreaterOrEqual(t, commands, 3, "posd serve, migrate and audit verify")
	require.Equal(t, map[string]bool{"posd": true, "postgres": true}, users)
}
