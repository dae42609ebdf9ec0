package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/device"
	"github.com/posd/posd/internal/store"
)

const deviceUsage = `Usage: posd device add|list|revoke [flags]

  add      add a device to a venue and print its new token (the last line of
           standard output, shown this once; only its SHA-256 is stored)
  list     list a venue's devices, active and revoked (never their tokens)
  revoke   revoke a device; its token is refused from the next request on

Each connects to DATABASE_URL (or --database-url). add and revoke need the
table owner (the role posd migrate runs as); posd's own role may only read
devices. Run "posd device <subcommand> --help" for its flags.
`

func runDevice(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "add":
			return runDeviceAdd(ctx, args[1:], stdout, stderr)
		case "list":
			return runDeviceList(ctx, args[1:], stdout, stderr)
		case "revoke":
			return runDeviceRevoke(ctx, args[1:], stdout, stderr)
		case "-h", "-help", "--help", "help":
			fmt.Fprint(stdout, deviceUsage)
			return nil
		}
	}
	fmt.Fprint(stderr, deviceUsage)
	if len(args) > 0 {
		return fmt.Errorf("unknown device subcommand %q: use add, list or revoke", args[0])
	}
	return errors.New("device needs a subcommand: add, list or revoke")
}

// deviceConn runs f on a connection to url scoped to venue (row-level
// security shows the connection that venue's rows only), or says that the URL
// is missing.
func deviceConn(ctx context.Context, url, venue string, f func(*pgx.Conn) error) error {
	if err := requireDatabaseURL(url); err != nil {
		return err
	}
	return withConn(ctx, url, func(c *pgx.Conn) error {
		if _, err := c.Exec(ctx, "SELECT set_config('posd.venue', $1, false)", venue); err != nil {
			return fmt.Errorf("scope connection: %w", err)
		}
		return f(c)
	})
}

func runDeviceAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("device add", "Add a device to a venue and print its new bearer token. The token is the last\n"+
		"line of standard output and is shown only this once: posd stores its SHA-256,\n"+
		"so a lost token cannot be recovered, only revoked and replaced. A name that an\n"+
		"active device of the venue has is refused; revoke that device first.\n"+
		"Connect as the table owner.", stderr)
	dbURL := databaseURLFlag(fs, ofOwner)
	venue := fs.String("venue", "", "venue id, e.g. demo (required)")
	role := fs.String("role", "", "waiter, manager, kitchen or auditor (required)")
	name := fs.String("name", "", "device name, unique among the venue's active devices, 1-64 characters (required)")
	staff := fs.String("staff", "", "staff member recorded in events and reports (default: the name)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	spec := device.Spec{Venue: *venue, Name: *name, Role: *role, Staff: *staff}
	if err := spec.Validate(); err != nil {
		return deviceError(err, *venue)
	}
	return deviceError(deviceConn(ctx, *dbURL, *venue, func(c *pgx.Conn) error {
		d, token, err := store.AddDevice(ctx, c, spec)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added device %q to venue %s: role %s, staff %q\n", d.Name, d.Venue, d.Role, d.Staff)
		fmt.Fprintln(stdout, "its token follows; it is shown only this once:")
		fmt.Fprintln(stdout, token)
		return nil
	}), *venue)
}

func runDeviceList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("device list", "List a venue's devices, active and revoked: name, role, staff, when each was\n"+
		"added and revoked. Tokens are never shown (posd does not have them).", stderr)
	dbURL := databaseURLFlag(fs, ofAny)
	venue := fs.String("venue", "", "venue id, e.g. demo (required)")
	asJSON := fs.Bool("json", false, `print {"venue":…,"devices":[…]} as JSON`)
	if err := parseFlags(fs, args, "venue"); err != nil {
		return err
	}
	return deviceError(deviceConn(ctx, *dbURL, *venue, func(c *pgx.Conn) error {
		ds, err := store.ListDevices(ctx, c, *venue)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(struct {
				Venue   string          `json:"venue"`
				Devices []device.Device `json:"devices"`
			}{*venue, ds})
		}
		w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tROLE\tSTAFF\tCREATED\tREVOKED")
		for _, d := range ds {
			revoked := "-"
			if d.RevokedAt != nil {
				revoked = d.RevokedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", d.Name, d.Role, d.Staff, d.CreatedAt.UTC().Format(time.RFC3339), revoked)
		}
		return w.Flush()
	}), *venue)
}

func runDeviceRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("device revoke", "Revoke a venue's active device by name. Its token is refused from the very next\n"+
		"request on, and an open kitchen stream of it is closed within seconds. The\n"+
		"device stays listed as revoked; its name may be given to a new device.\n"+
		"Connect as the table owner.", stderr)
	dbURL := databaseURLFlag(fs, ofOwner)
	venue := fs.String("venue", "", "venue id, e.g. demo (required)")
	name := fs.String("name", "", "name of the device to revoke (required)")
	if err := parseFlags(fs, args, "venue", "name"); err != nil {
		return err
	}
	return deviceError(deviceConn(ctx, *dbURL, *venue, func(c *pgx.Conn) error {
		d, err := store.RevokeDevice(ctx, c, *venue, *name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked device %q of venue %s (role %s, staff %q) at %s\n",
			d.Name, d.Venue, d.Role, d.Staff, d.RevokedAt.UTC().Format(time.RFC3339))
		return nil
	}), *venue)
}

// deviceError says a device refusal in the CLI's terms: the flag that was
// wrong, or the command that gets past it.
func deviceError(err error, venue string) error {
	var inv *device.InvalidError
	var dup *device.DuplicateError
	switch {
	case errors.As(err, &inv):
		return fmt.Errorf("--%s %s", inv.Field, inv.Detail)
	case errors.As(err, &dup):
		return fmt.Errorf("%w; revoke it first with \"posd device revoke --venue %s --name %s\", or choose another name", err, dup.Venue, dup.Name)
	case errors.Is(err, device.ErrNotOwner):
		return fmt.Errorf("%w; use the table owner's DATABASE_URL (the one posd migrate runs with)", err)
	case errors.Is(err, device.ErrNotFound):
		return fmt.Errorf("%w (posd device list --venue %s shows them)", err, venue)
	}
	return err
}
