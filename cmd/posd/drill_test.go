//go:build ha

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/pgcluster"
	"github.com/posd/posd/internal/seed"
)

// TestHARestoreDrill backs posd's database up with pgBackRest, configured by
// deploy/pgbackrest's files, goes on writing, and runs
// deploy/pgbackrest/restore-drill.sh: the restored cluster must hold the
// writes made after the backup (replayed from the WAL archive), and every
// venue must verify with the seal key. With the wrong public key the drill
// fails with 1, naming the venue; with no backup to restore, with 2.
func TestHARestoreDrill(t *testing.T) {
	if _, err := exec.LookPath("pgbackrest"); err != nil {
		require.Empty(t, os.Getenv("POSD_REQUIRE_PGBACKREST"), "pgbackrest not found; .ci/run installs Debian's pgbackrest")
		t.Skip("pgbackrest not installed (Debian: apt-get install pgbackrest)")
	}
	pgCtl, err := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	require.NoError(t, err)
	require.NotEmpty(t, pgCtl, "PostgreSQL server binaries not found")
	ctx := context.Background()

	work, err := os.MkdirTemp("", "posd-drill-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(work) })
	require.NoError(t, os.Chmod(work, 0o755))
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		cred, err = pgcluster.LookupCredential("postgres")
		require.NoError(t, err)
	}
	mkdir := func(name string) string {
		dir := filepath.Join(work, name)
		require.NoError(t, os.Mkdir(dir, 0o700))
		if cred != nil {
			require.NoError(t, os.Chown(dir, int(cred.Uid), int(cred.Gid)))
		}
		return dir
	}
	repo, logDir, lockDir := mkdir("repo"), mkdir("log"), mkdir("lock")
	dataDir := filepath.Join(work, "pg")
	port, err := pgcluster.FreePort()
	require.NoError(t, err)

	// pgbackrest.conf as deploy/ has it, on this test's paths and port.
	conf := filepath.Join(work, "pgbackrest.conf")
	b, err := os.ReadFile("../../deploy/pgbackrest/pgbackrest.conf")
	require.NoError(t, err)
	text := string(b)
	for _, r := range [][2]string{
		{"repo1-path=/var/lib/pgbackrest", "repo1-path=" + repo},
		{"repo1-cipher-pass=REPLACE-WITH-A-LONG-RANDOM-PASSPHRASE", "repo1-cipher-pass=" + randomHex(t)},
		{"log-path=/var/log/pgbackrest", "log-path=" + logDir},
		{"lock-path=/tmp/pgbackrest", "lock-path=" + lockDir},
		{"pg1-path=/var/lib/postgresql/15/main", "pg1-path=" + dataDir},
		{"pg1-port=5432", "pg1-port=" + strconv.Itoa(port)},
		{"pg1-socket-path=/var/run/postgresql", "pg1-socket-path=" + dataDir},
	} {
		text = replaceEach(t, "pgbackrest.conf", text, r[0], r[1])
	}
	require.NoError(t, os.WriteFile(conf, []byte(text), 0o600))
	if cred != nil {
		require.NoError(t, os.Chown(conf, int(cred.Uid), int(cred.Gid)))
	}

	// The cluster archives its WAL with deploy/pgbackrest/archive.conf.
	settings := archiveSettings(t, conf)
	var clusterLog bytes.Buffer
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: dataDir, Port: port, Durable: true,
		Settings: settings, Log: zerolog.New(&clusterLog)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cluster.Stop(context.Background()) })
	applyRoles(t, cluster.URL("postgres"))
	owner := fmt.Sprintf("postgres://posd_owner@127.0.0.1:%d/posd?sslmode=disable", port)
	for _, args := range [][]string{{"migrate"}, {"seed", "--demo"}} {
		out, err := posdCmd(t, []string{"DATABASE_URL=" + owner}, args...)
		require.NoError(t, err, out)
	}
	ns := startNATS(t)
	p := startOpsServe(t, []string{"DATABASE_URL=" + fmt.Sprintf("postgres://posd@127.0.0.1:%d/posd?sslmode=disable", port),
		"NATS_URL=" + ns.ClientURL(), "POSD_SEAL_INTERVAL=1s"})
	waiter := p.as(t, seed.TokenWaiter1)
	pub, err := posdCmd(t, nil, "audit", "public-key", "--seal-key-file", testSealKeyFile(t))
	require.NoError(t, err, pub)
	pub = strings.TrimSpace(pub)

	pgbackrest := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("pgbackrest", append([]string{"--config=" + conf, "--stanza=posd"}, args...)...)
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "pgbackrest %s: %s", strings.Join(args, " "), out)
		return string(out)
	}
	// write takes n orders on the tables from T<first>, each with a fired
	// steak, and waits until every event is sealed.
	write := func(first, n int) audit.Result {
		t.Helper()
		for i := first; i < first+n; i++ {
			o := waiter.Open(fmt.Sprintf("T%d", i), 2)
			waiter.Apply(o.ID, apitest.AddItem("steak", 1), apitest.Fire())
		}
		var r audit.Result
		apitest.Eventually(t, 20*time.Second, func() bool {
			r = verifyJSON(t, []string{"DATABASE_URL=" + owner}, []string{"audit", "verify", "--venue", "demo", "--public-key", pub})
			return r.OK && r.UnsealedEvents == 0
		}, "every event sealed")
		return r
	}

	pgbackrest("stanza-create")
	pgbackrest("check")
	atBackup := write(1, 3)
	t0 := time.Now()
	pgbackrest("--type=full", "backup")
	backupTook := time.Since(t0)
	// A moment after the backup and before the next orders, to restore to.
	time.Sleep(time.Second)
	between := time.Now().UTC()
	time.Sleep(time.Second)
	write(4, 4)
	// posd stops (it would go on sealing), and the journal as it stands is
	// what the restore must hold.
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	err = <-p.done
	p.done <- err
	require.NoError(t, err, p.logText())
	final := verifyJSON(t, []string{"DATABASE_URL=" + owner}, []string{"audit", "verify", "--venue", "demo", "--public-key", pub})
	require.Greater(t, final.EventsChecked, atBackup.EventsChecked)
	// check switches to a new WAL segment and waits until the old one is
	// archived: every write above is then in the repository.
	pgbackrest("check")

	drillDir := func(name string) string { return filepath.Join(work, name) }
	env := []string{"PGBACKREST_CONFIG=" + conf, "POSD=" + posdBin, "PG_BINDIR=" + filepath.Dir(pgCtl[0])}
	drillPort, err := pgcluster.FreePort()
	require.NoError(t, err)

	t0 = time.Now()
	out, code := runDrill(t, append(env, "POSD_SEAL_PUBLIC_KEY="+pub, "DRILL_DIR="+drillDir("d1"), "DRILL_PORT="+strconv.Itoa(drillPort)))
	require.Equal(t, 0, code, out)
	t.Logf("full backup %.1f s; the drill (restore, WAL replay, verify of every venue, clean-up) %.1f s; %d events at the backup, %d restored",
		backupTook.Seconds(), time.Since(t0).Seconds(), atBackup.EventsChecked, final.EventsChecked)
	require.Contains(t, out, fmt.Sprintf("ok: venue demo verifies (%d events, %d orders, %d seals)",
		final.EventsChecked, final.OrdersChecked, final.SealsChecked), "the restore holds the writes after the backup")
	require.Contains(t, out, "ok: restored and verified")
	require.NoDirExists(t, drillDir("d1"), "the drill removes its cluster")

	// To a point in time: the orders after it are not there.
	out, code = runDrill(t, append(env, "POSD_SEAL_PUBLIC_KEY="+pub, "DRILL_DIR="+drillDir("d0"), "DRILL_PORT="+strconv.Itoa(drillPort),
		"DRILL_TARGET_TIME="+between.Format("2006-01-02 15:04:05.000000+00")))
	require.Equal(t, 0, code, out)
	require.Contains(t, out, fmt.Sprintf("ok: venue demo verifies (%d events, %d orders,", atBackup.EventsChecked, atBackup.OrdersChecked))

	other := filepath.Join(t.TempDir(), "other.key")
	otherKey, err := audit.WriteSealKey(other)
	require.NoError(t, err)
	otherPub := otherKey.Public().(ed25519.PublicKey)
	out, code = runDrill(t, append(env, "POSD_SEAL_PUBLIC_KEY="+hex.EncodeToString(otherPub), "DRILL_DIR="+drillDir("d2"), "DRILL_PORT="+strconv.Itoa(drillPort)))
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "venue demo does NOT verify")
	require.Contains(t, out, "FAILED: the restored journal does not verify")

	// The drill failing is 2, never the 1 of a journal that does not verify:
	// no backup to restore, no key, a directory that is there already.
	for _, c := range []struct {
		env  []string
		says string
	}{
		{[]string{"POSD_SEAL_PUBLIC_KEY=" + pub, "PGBACKREST_STANZA=nothing-here", "DRILL_DIR=" + drillDir("d3")}, "FAILED: pgbackrest restore"},
		{[]string{"DRILL_DIR=" + drillDir("d4")}, "FAILED: set POSD_SEAL_PUBLIC_KEY"},
		{[]string{"POSD_SEAL_PUBLIC_KEY=" + pub, "DRILL_DIR=" + repo}, "FAILED: cannot create " + repo},
	} {
		out, code = runDrill(t, append(append(env, "DRILL_PORT="+strconv.Itoa(drillPort)), c.env...))
		require.Equal(t, 2, code, out)
		require.Contains(t, out, c.says)
	}
	require.DirExists(t, repo, "the drill never removes a directory it did not make")
}

// runDrill runs deploy/pgbackrest/restore-drill.sh with env and returns its
// output and exit status.
func runDrill(t *testing.T, env []string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "../../deploy/pgbackrest/restore-drill.sh")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode()
	}
	require.NoError(t, err, "%s", out)
	return string(out), 0
}

// archiveSettings reads deploy/pgbackrest/archive.conf's "name = value"
// lines, with pgbackrest told to use conf.
func archiveSettings(t *testing.T, conf string) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../deploy/pgbackrest/archive.conf")
	require.NoError(t, err)
	text := replaceEach(t, "archive.conf", string(b), "'pgbackrest --stanza=posd", "'pgbackrest --config="+conf+" --stanza=posd")
	settings := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		require.True(t, ok, "archive.conf: %q is not name = value", line)
		settings[strings.TrimSpace(name)] = strings.Trim(strings.TrimSpace(value), "'")
	}
	require.Equal(t, "on", settings["archive_mode"])
	return settings
}

func randomHex(t *testing.T) string {
	b := make([]byte, 24)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}
