// Command posd is the restaurant order backend: versioned table orders over
// HTTP, an append-only event log in Postgres, delivery to kitchens over NATS.
//
//	posd dev       local Postgres + embedded NATS + demo data, for trying it out
//	posd serve     production server (DATABASE_URL, NATS_URL)
//	posd migrate   bring the database schema up to date (DATABASE_URL)
//	posd seed      write the demo venues, menu and tokens (DATABASE_URL)
//	posd venue     add and list venues (DATABASE_URL)
//	posd menu      import and export a venue's tables and menu (DATABASE_URL)
//	posd device    add, list and revoke devices and their tokens (DATABASE_URL)
//	posd audit     the post-shift report and the journal check (DATABASE_URL)
//	posd outbox    list and replay messages NATS refused for good (DATABASE_URL)
//	posd version   print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `posd — restaurant order backend

Usage:
  posd <command> [flags]

Commands:
  dev       run a throwaway local stack: Postgres under --data-dir, embedded NATS
            with JetStream, migrations, demo data, and the HTTP API
  serve     run the HTTP API against DATABASE_URL and NATS_URL (production)
  migrate   apply pending schema migrations to DATABASE_URL (table owner)
  seed      write demo data to DATABASE_URL (seed --demo)
  venue     venue add (a new venue: id, name, time zone, currency), venue list
  menu      menu import (load a venue's tables and menu from a file; --dry-run)
            and menu export (write them as that file)
  device    device add (print a new token), device list, device revoke
  audit     audit shift (post-shift report) and audit verify (check the hash chains)
  outbox    outbox dead-letters (messages NATS refused for good) and outbox replay
  version   print posd's version

Run "posd <command> --help" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// runMain is the whole command but the process: it runs args and returns
// the exit status, having printed a failure to stderr. The tests call it in
// process.
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := run(ctx, args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "posd:", err)
		return 1
	}
	return 0
}

// run dispatches to a command; it returns when the command is done or ctx is
// cancelled (Ctrl-C, SIGTERM) and the command has shut down.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "dev":
		return runDev(ctx, rest, stderr)
	case "serve":
		return runServe(ctx, rest, stderr)
	case "migrate":
		return runMigrate(ctx, rest, stdout, stderr)
	case "seed":
		return runSeed(ctx, rest, stdout, stderr)
	case "venue":
		return runVenue(ctx, rest, stdout, stderr)
	case "menu":
		return runMenu(ctx, rest, stdout, stderr)
	case "device":
		return runDevice(ctx, rest, stdout, stderr)
	case "audit":
		return runAudit(ctx, rest, stdout, stderr)
	case "outbox":
		return runOutbox(ctx, rest, stdout, stderr)
	case "version", "--version":
		return runVersion(rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
