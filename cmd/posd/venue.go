package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/menufile"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store"
)

const venueUsage = `Usage: posd venue add|list [flags]

  add    create a venue: its id, name, IANA time zone and ISO 4217 currency,
         with no tables and an empty menu (load them with posd menu import)
  list   list the venues

Each connects to DATABASE_URL (or --database-url) as the table owner (the
role posd migrate runs as). Run "posd venue <subcommand> --help" for its flags.
`

const menuUsage = `Usage: posd menu import|export [flags]

  import   make a venue's tables and menu what a menu file says, and print
           what changed (--dry-run: print it and write nothing)
  export   write a venue's tables and menu as a menu file

The menu file is YAML or JSON; docs/MENU.md describes it and
docs/menu.example.yaml is a complete one. Each connects to DATABASE_URL (or
--database-url) as the table owner. Run "posd menu <subcommand> --help" for
its flags.
`

func runVenue(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand("venue", venueUsage, args, stdout, stderr, map[string]func() error{
		"add":  func() error { return runVenueAdd(ctx, args[1:], stdout, stderr) },
		"list": func() error { return runVenueList(ctx, args[1:], stdout, stderr) },
	})
}

func runMenu(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand("menu", menuUsage, args, stdout, stderr, map[string]func() error{
		"import": func() error { return runMenuImport(ctx, args[1:], stdout, stderr) },
		"export": func() error { return runMenuExport(ctx, args[1:], stdout, stderr) },
	})
}

// subcommand runs the subcommand args[0] names, or prints usage.
func subcommand(cmd, usage string, args []string, stdout, stderr io.Writer, subs map[string]func() error) error {
	names := make([]string, 0, len(subs))
	for n := range subs {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(args) > 0 {
		if f, ok := subs[args[0]]; ok {
			return f()
		}
		switch args[0] {
		case "-h", "-help", "--help", "help":
			fmt.Fprint(stdout, usage)
			return nil
		}
	}
	fmt.Fprint(stderr, usage)
	choices := strings.Join(names, " or ")
	if len(args) > 0 {
		return fmt.Errorf("unknown %s subcommand %q: use %s", cmd, args[0], choices)
	}
	return fmt.Errorf("%s needs a subcommand: %s", cmd, choices)
}

// ownerConn runs f on a connection to url. The store scopes each of its
// transactions to the venue itself, so the connection needs no setting.
func ownerConn(ctx context.Context, url string, f func(*pgx.Conn) error) error {
	if err := requireDatabaseURL(url); err != nil {
		return err
	}
	return withConn(ctx, url, f)
}

func runVenueAdd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("venue add", "Create a venue with no tables and an empty menu; load them next with\n"+
		"\"posd menu import --venue ID FILE\". Connect as the table owner.", stderr)
	dbURL := databaseURLFlag(fs, ofOwner)
	var v order.Venue
	fs.StringVar(&v.ID, "id", "", "venue id: 1-63 of a-z, 0-9, _ and -, starting with a letter or digit, e.g. acme (required)")
	fs.StringVar(&v.Name, "name", "", `venue name, e.g. "Acme Grill" (required)`)
	fs.StringVar(&v.TimeZone, "timezone", "", "IANA time zone, e.g. Europe/Paris (required)")
	fs.StringVar(&v.Currency, "currency", "", "ISO 4217 currency, three capital letters, e.g. EUR; amounts are in its minor unit (required)")
	if err := parseFlags(fs, args, "id", "name", "timezone", "currency"); err != nil {
		return err
	}
	if err := v.Validate(); err != nil {
		return flagError(err)
	}
	return ownerConn(ctx, *dbURL, func(c *pgx.Conn) error {
		added, err := store.AddVenue(ctx, c, v)
		if err != nil {
			return venueError(flagError(err), v.ID)
		}
		fmt.Fprintf(stdout, "added venue %s (%q, %s, %s)\n", added.ID, added.Name, added.TimeZone, added.Currency)
		fmt.Fprintf(stdout, "next: posd menu import --venue %s FILE (docs/MENU.md)\n", added.ID)
		return nil
	})
}

func runVenueList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("venue list", "List the venues: id, name, time zone and currency.", stderr)
	dbURL := databaseURLFlag(fs, ofOwner)
	asJSON := fs.Bool("json", false, `print {"venues":[…]} as JSON`)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return ownerConn(ctx, *dbURL, func(c *pgx.Conn) error {
		vs, err := store.ListVenues(ctx, c)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(struct {
				Venues []order.Venue `json:"venues"`
			}{append([]order.Venue{}, vs...)})
		}
		w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tNAME\tTIMEZONE\tCURRENCY")
		for _, v := range vs {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", v.ID, v.Name, v.TimeZone, v.Currency)
		}
		return w.Flush()
	})
}

func runMenuImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("menu import", "Make a venue's tables, tax classes, service charge, tenders, modifier groups\n"+
		"and items what FILE says (YAML or JSON, docs/MENU.md), in one transaction, and\n"+
		"print each change. Entries the file leaves out are removed. Importing the same\n"+
		"file again changes nothing and prints \"no changes\". A file with mistakes is\n"+
		"refused whole, with each mistake's line and field. Items' availability and\n"+
		"remaining portions are kept. Connect as the table owner. An import that changes\n"+
		"the menu is one row of the venue's menu log (posd audit verify checks it, the\n"+
		"shift report lists it), by --staff as the operator, signed with the seal key\n"+
		"when --seal-key-file is given (otherwise verify counts it as unsigned).\n\n"+
		"Usage: posd menu import --venue ID [--dry-run] [--staff NAME] [--seal-key-file FILE] FILE", stderr)
	dbURL := databaseURLFlag(fs, ofOwner)
	venue := fs.String("venue", "", "venue id, e.g. acme (required)")
	dryRun := fs.Bool("dry-run", false, "print what the import would change and write nothing")
	staff := fs.String("staff", envString("USER", "operator"), "who imports, as the menu log names them")
	keyFile := fs.String("seal-key-file", envString("POSD_SEAL_KEY_FILE", ""), "the seal key file that signs the menu log row (POSD_SEAL_KEY_FILE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireFlags(fs, "venue"); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("give one menu file: posd menu import --venue ID [--dry-run] FILE")
	}
	path := fs.Arg(0)
	cat, err := readMenuFile(path)
	if err != nil {
		return err
	}
	var key ed25519.PrivateKey
	if *keyFile != "" {
		if key, err = audit.LoadSealKey(*keyFile); err != nil {
			return err
		}
	}
	by := store.Operator("posd menu import", *staff, key)
	return ownerConn(ctx, *dbURL, func(c *pgx.Conn) error {
		before, err := store.ReadCatalog(ctx, c, *venue)
		if err != nil {
			return venueError(err, *venue)
		}
		diff := menufile.Diff(before.Catalog, cat)
		var res store.CatalogChanges
		if *dryRun {
			res, err = store.PlanCatalog(ctx, c, *venue, cat)
		} else {
			res, err = store.ApplyCatalog(ctx, c, *venue, cat, by)
		}
		if err != nil {
			return venueError(refusal(path, err), *venue)
		}
		for _, ch := range diff {
			fmt.Fprintln(stdout, ch)
		}
		for _, t := range res.KeptTables {
			fmt.Fprintf(stdout, "keep table %s: the file leaves it out, but closed orders name it\n", t)
		}
		switch {
		case len(diff) == 0 && !res.Changed():
			fmt.Fprintln(stdout, "no changes")
		case *dryRun:
			fmt.Fprintf(stdout, "dry run: %s; nothing written\n", menufile.Summary(diff))
		default:
			fmt.Fprintf(stdout, "imported %s into venue %s: %s; menu version %d\n", path, *venue, menufile.Summary(diff), res.MenuVersion)
		}
		return nil
	})
}

// readMenuFile reads and parses the menu file at path.
func readMenuFile(path string) (order.Catalog, error) {
	f, err := os.Open(path)
	if err != nil {
		return order.Catalog{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, menufile.MaxFileBytes+1))
	if err != nil {
		return order.Catalog{}, fmt.Errorf("read %s: %w", path, err)
	}
	cat, err := menufile.Parse(path, data)
	if err != nil {
		return order.Catalog{}, refusal(path, err)
	}
	return cat, nil
}

// refusal says that the file at path was refused and why, one problem a
// line.
func refusal(path string, err error) error {
	var fe *menufile.Error
	var ve *order.ValidationError
	var lines []string
	switch {
	case errors.As(err, &fe):
		lines = strings.Split(fe.Error(), "\n")
	case errors.As(err, &ve):
		for _, p := range ve.Problems {
			lines = append(lines, path+": "+p.String())
		}
	default:
		return err
	}
	n := len(lines)
	if fe != nil {
		n = len(fe.Problems) + fe.More
	}
	what := "a problem"
	if n > 1 {
		what = fmt.Sprintf("%d problems", n)
	}
	return fmt.Errorf("%s has %s; nothing was imported:\n%s", path, what, strings.Join(lines, "\n"))
}

func runMenuExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("menu export", "Write a venue's tables, tax classes, service charge, tenders, modifier\n"+
		"groups and items as a menu file (docs/MENU.md) that posd menu import reads\n"+
		"back unchanged: to standard output, or to -o FILE. Availability and remaining\n"+
		"portions are the running menu's and are not written.", stderr)
	dbURL := databaseURLFlag(fs, ofOwner)
	venue := fs.String("venue", "", "venue id, e.g. acme (required)")
	out := fs.String("o", "", "write to FILE instead of standard output")
	format := fs.String("format", "", "yaml or json (default: json for an -o FILE ending in .json, else yaml)")
	if err := parseFlags(fs, args, "venue"); err != nil {
		return err
	}
	if *format == "" {
		*format = "yaml"
		if strings.EqualFold(filepath.Ext(*out), ".json") {
			*format = "json"
		}
	}
	marshal := menufile.Marshal
	switch *format {
	case "yaml":
	case "json":
		marshal = menufile.MarshalJSON
	default:
		return fmt.Errorf("--format must be yaml or json, not %q", *format)
	}
	return ownerConn(ctx, *dbURL, func(c *pgx.Conn) error {
		vc, err := store.ReadCatalog(ctx, c, *venue)
		if err != nil {
			return venueError(err, *venue)
		}
		data, err := marshal(vc.Catalog)
		if err != nil {
			return err
		}
		if *out == "" {
			_, err = stdout.Write(data)
			return err
		}
		if err := os.WriteFile(*out, data, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote venue %s's menu to %s\n", *venue, *out)
		return nil
	})
}

// flagError says a venue's validation problems as the flags that were
// wrong.
func flagError(err error) error {
	var ve *order.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	parts := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		parts[i] = "--" + p.Field + " " + p.Detail
	}
	return errors.New(strings.Join(parts, "; "))
}

// venueError says a store refusal in the CLI's terms: the command that
// gets past it.
func venueError(err error, venue string) error {
	switch {
	case errors.Is(err, store.ErrUnknownVenue):
		return fmt.Errorf("%w; posd venue list shows the venues, posd venue add --id %s … creates it", err, venue)
	case errors.Is(err, store.ErrVenueExists):
		return fmt.Errorf("%w; posd venue list shows it", err)
	case errors.Is(err, store.ErrNotOwner):
		return fmt.Errorf("%w (the one posd migrate runs with)", err)
	}
	return err
}
