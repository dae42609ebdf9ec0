package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/posd/posd/internal/app"
)

// This file declares the flags once: the flag-set constructor every
// subcommand uses, the flags several subcommands share (--database-url, the
// log flags), and a binder that takes a flag's default from the value it is
// bound to (app.Defaults for posd serve and dev) and the environment.

// envString returns the environment variable name, or def when it is unset.
func envString(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// envInt is envString for integers; a malformed value falls back to def
// (the configuration's validation reports an out-of-range one).
func envInt(name string, def int) int {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

// envDuration is envString for durations; a malformed value falls back to
// def.
func envDuration(name string, def time.Duration) time.Duration {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

// newFlagSet returns a flag set that prints help to out and returns errors
// instead of exiting.
func newFlagSet(name, summary string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: posd %s [flags]\n\n%s\n\nFlags (each also read from the environment variable shown):\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs, refusing an argument that is not a flag
// and a required flag left empty.
func parseFlags(fs *flag.FlagSet, args []string, required ...string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return requireFlags(fs, required...)
}

// requireFlags names the first of the flags that is empty.
func requireFlags(fs *flag.FlagSet, names ...string) error {
	for _, n := range names {
		if fs.Lookup(n).Value.String() == "" {
			return fmt.Errorf("--%s is required", n)
		}
	}
	return nil
}

// binder declares flags whose default is the bound value as it stands
// (overridden by the environment variable env), so each default is written
// once, in app.Defaults.
type binder struct{ fs *flag.FlagSet }

func (b binder) str(p *string, name, env, usage string) {
	b.fs.StringVar(p, name, envString(env, *p), usage+" ("+env+")")
}

func (b binder) int(p *int, name, env, usage string) {
	b.fs.IntVar(p, name, envInt(env, *p), usage+" ("+env+")")
}

func (b binder) dur(p *time.Duration, name, env, usage string) {
	b.fs.DurationVar(p, name, envDuration(env, *p), usage+" ("+env+")")
}

// databaseURLFlag declares --database-url (DATABASE_URL); whose says which
// role it should connect as.
func databaseURLFlag(fs *flag.FlagSet, whose string) *string {
	p := new(string)
	bindDatabaseURL(fs, p, whose)
	return p
}

// bindDatabaseURL is databaseURLFlag over p.
func bindDatabaseURL(fs *flag.FlagSet, p *string, whose string) {
	binder{fs}.str(p, "database-url", "DATABASE_URL", "Postgres connection URL"+whose)
}

// bindReplicaURL declares --replica-url (DATABASE_REPLICA_URL) over p: a
// standby's connection URL, and what reading there does.
func bindReplicaURL(fs *flag.FlagSet, p *string, what string) {
	binder{fs}.str(p, "replica-url", "DATABASE_REPLICA_URL", "Postgres connection URL of a standby: "+what+
		"; the answer says how far behind the primary the standby was (several hosts with target_session_attrs=prefer-standby fall back to the primary)")
}

// bindNATSCA declares --nats-ca (POSD_NATS_CA) over p.
func bindNATSCA(fs *flag.FlagSet, p *string) {
	binder{fs}.str(p, "nats-ca", "POSD_NATS_CA",
		"PEM file of the CA that signed the NATS servers' certificates (TLS to NATS; empty: the system's roots); user and password go in the NATS URL")
}

// ofOwner and ofApp are databaseURLFlag's whose for commands that need the
// table owner and for posd's own role.
const (
	ofOwner = " of the table owner"
	ofApp   = " of posd's role"
	ofAny   = ""
)

// errNoDatabaseURL is a command run without DATABASE_URL.
var errNoDatabaseURL = errors.New("DATABASE_URL (or --database-url) is required")

// requireDatabaseURL returns errNoDatabaseURL for an empty URL.
func requireDatabaseURL(url string) error {
	if url == "" {
		return errNoDatabaseURL
	}
	return nil
}

// logFlags declares --log-format and --log-level over c (its values are the
// defaults).
func logFlags(fs *flag.FlagSet, c *app.LogConfig) {
	b := binder{fs}
	b.str(&c.Format, "log-format", "POSD_LOG_FORMAT", "log format: json or console")
	b.str(&c.Level, "log-level", "POSD_LOG_LEVEL", "log level: trace, debug, info, warn, error")
}

func validPort(name string, p int) error {
	if p < 1 || p > 65535 {
		return fmt.Errorf("%s must be a TCP port between 1 and 65535, got %d", name, p)
	}
	return nil
}
