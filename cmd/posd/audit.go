package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/store"
)

// errBroken makes "posd audit verify" exit non-zero after printing the
// broken link.
var errBroken = errors.New("the journal does not verify")

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "shift" && args[0] != "verify") {
		fmt.Fprint(stderr, "Usage: posd audit shift|verify [flags]\n\n"+
			"  shift    the post-shift report of a venue for a time range\n"+
			"  verify   recompute a venue's hash chains; exit status 1 names the first broken link\n")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return errors.New("audit needs a subcommand: shift or verify")
	}
	if args[0] == "verify" {
		return runAuditVerify(ctx, args[1:], stdout, stderr)
	}
	return runAuditShift(ctx, args[1:], stdout, stderr)
}

func auditStore(ctx context.Context, url string) (*store.Store, func(), error) {
	if url == "" {
		return nil, nil, errors.New("DATABASE_URL (or --database-url) is required")
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	return store.New(pool), pool.Close, nil
}

func runAuditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit verify", "Recompute a venue's journal: every order's event hash chain, every order against\n"+
		"its chain's head, and the venue's seals. Exits 0 when it verifies, 1 naming the first\n"+
		"broken link when it does not.", stderr)
	dbURL := fs.String("database-url", envString("DATABASE_URL", ""), "Postgres connection URL (DATABASE_URL)")
	venue := fs.String("venue", "", "venue id, e.g. demo (required)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *venue == "" {
		return errors.New("--venue is required")
	}
	st, closeDB, err := auditStore(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer closeDB()
	r, err := st.Verify(ctx, *venue)
	if err != nil {
		return err
	}
	if *asJSON {
		if err := json.NewEncoder(stdout).Encode(r); err != nil {
			return err
		}
	} else if r.OK {
		fmt.Fprintf(stdout, "ok: venue %s verifies (%d events, %d orders, %d seals)\n", *venue, r.EventsChecked, r.OrdersChecked, r.SealsChecked)
	} else {
		fmt.Fprintf(stdout, "BROKEN: venue %s: %s (after %d good events)\n", *venue, r.Broken, r.EventsChecked)
	}
	if !r.OK {
		return errBroken
	}
	return nil
}

func runAuditShift(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit shift", "The post-shift report of a venue for [--from, --to): per staff orders closed,\n"+
		"sales, tips, voids and comps; every void and comp with its reason; forced overrides;\n"+
		"refused stale writes by table. Times are RFC 3339.", stderr)
	dbURL := fs.String("database-url", envString("DATABASE_URL", ""), "Postgres connection URL (DATABASE_URL)")
	venue := fs.String("venue", "", "venue id, e.g. demo (required)")
	fromS := fs.String("from", "", "start of the range, RFC 3339 (required)")
	toS := fs.String("to", "", "end of the range (exclusive), RFC 3339 (required)")
	format := fs.String("format", "table", "output format: table, json or csv")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *venue == "" {
		return errors.New("--venue is required")
	}
	from, err := time.Parse(time.RFC3339Nano, *fromS)
	if err != nil {
		return errors.New("--from must be an RFC 3339 time such as 2026-11-22T17:00:00Z")
	}
	to, err := time.Parse(time.RFC3339Nano, *toS)
	if err != nil {
		return errors.New("--to must be an RFC 3339 time such as 2026-11-23T02:00:00Z")
	}
	if err := audit.CheckRange(from, to); err != nil {
		return err
	}
	if *format != "table" && *format != "json" && *format != "csv" {
		return fmt.Errorf("--format must be table, json or csv; got %q", *format)
	}
	st, closeDB, err := auditStore(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer closeDB()
	r, err := st.Shift(ctx, *venue, from, to)
	if err != nil {
		return err
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "csv":
		return writeShiftCSV(stdout, r)
	}
	return writeShiftTable(stdout, *venue, r)
}

func cents(c int64) string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

func writeShiftTable(out io.Writer, venue string, r audit.Report) error {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "Shift report for %s, %s to %s\n\n", venue, r.From.Format(time.RFC3339), r.To.Format(time.RFC3339))
	fmt.Fprintln(w, "STAFF\tORDERS CLOSED\tSALES\tTIPS\tVOIDS\tCOMPS")
	for _, s := range r.ByStaff {
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%d\t%d\n", s.Staff, s.OrdersClosed, cents(s.SalesCents), cents(s.TipsCents), s.Voids, s.Comps)
	}
	for _, sec := range []struct {
		title string
		rows  []audit.LineAction
	}{{"VOIDS", r.Voids}, {"COMPS", r.Comps}} {
		fmt.Fprintf(w, "\n%s (%d)\nAT\tTABLE\tSKU\tQTY\tAMOUNT\tBY\tREASON\tORDER\tVERSION\n", sec.title, len(sec.rows))
		for _, a := range sec.rows {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\n", a.At.Format(time.RFC3339), a.Table, a.SKU, a.Qty,
				cents(a.AmountCents), a.By, a.Reason, a.OrderID, a.Version)
		}
	}
	fmt.Fprintf(w, "\nFORCED OVERRIDES (%d)\nAT\tTABLE\tVERSION\tOVERRODE\tBY\tORDER\n", len(r.ForcedOverrides))
	for _, f := range r.ForcedOverrides {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%s\n", f.At.Format(time.RFC3339), f.Table, f.Version, f.OverriddenVersion, f.By, f.OrderID)
	}
	fmt.Fprintf(w, "\nCONFLICTS (%d refused stale writes)\nTABLE\tCOUNT\n", r.Conflicts.Total)
	for _, c := range r.Conflicts.ByTable {
		fmt.Fprintf(w, "%s\t%d\n", c.Table, c.Count)
	}
	return w.Flush()
}

// writeShiftCSV writes the report as CSV with audit.WriteCSV, the writer
// GET /v1/audit/shift?format=csv uses too.
func writeShiftCSV(out io.Writer, r audit.Report) error { return audit.WriteCSV(out, r) }
