package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/store"
)

// errBroken makes "posd audit verify" exit non-zero after printing the
// broken link.
var errBroken = errors.New("the journal does not verify")

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmds := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"shift": runAuditShift, "verify": runAuditVerify, "keygen": runAuditKeygen, "public-key": runAuditPublicKey,
	}
	run := cmds[""]
	if len(args) > 0 {
		run = cmds[args[0]]
	}
	if run == nil {
		fmt.Fprint(stderr, "Usage: posd audit shift|verify|keygen|public-key [flags]\n\n"+
			"  shift       the post-shift report of a venue for a time range\n"+
			"  verify      recompute a venue's journal; exit status 1 names the first broken link\n"+
			"  keygen      create the seal signing key file posd serve needs (POSD_SEAL_KEY_FILE)\n"+
			"  public-key  print the public key of a seal key file, for verify --public-key\n")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return errors.New("audit needs a subcommand: shift, verify, keygen or public-key")
	}
	return run(ctx, args[1:], stdout, stderr)
}

func runAuditKeygen(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit keygen", "Create a seal signing key: an Ed25519 seed in hex, in a new file of mode 0600\n"+
		"(never overwritten). posd serve signs the journal's seals with it (--seal-key-file,\n"+
		"POSD_SEAL_KEY_FILE); keep it off the database host. The public key printed is what\n"+
		"\"posd audit verify --public-key\" takes; give it to the auditor.", stderr)
	out := fs.String("out", "", "path of the key file to create (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required")
	}
	key, err := audit.WriteSealKey(*out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seal key written to %s\npublic key: %s\n", *out, audit.PublicKeyHex(key))
	return nil
}

func runAuditPublicKey(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit public-key", "Print the public key of a seal key file.", stderr)
	keyFile := fs.String("seal-key-file", envString("POSD_SEAL_KEY_FILE", ""), "the seal key file (POSD_SEAL_KEY_FILE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *keyFile == "" {
		return errors.New("--seal-key-file is required")
	}
	key, err := audit.LoadSealKey(*keyFile)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, audit.PublicKeyHex(key))
	return nil
}

// publicKeyArg reads --public-key: keys in hex (comma-separated: the
// current one first, then rotated-out ones), or a file holding them.
func publicKeyArg(v string) ([]ed25519.PublicKey, error) {
	if ks, err := audit.ParsePublicKeys(v); err == nil && len(ks) > 0 {
		return ks, nil
	}
	text, err := os.ReadFile(v)
	if err != nil {
		return nil, fmt.Errorf("--public-key: neither hexadecimal public keys nor a readable file: %w", err)
	}
	ks, err := audit.ParsePublicKeys(string(text))
	if err == nil && len(ks) == 0 {
		err = audit.ErrSealKey
	}
	if err != nil {
		return nil, fmt.Errorf("--public-key %s: %w", v, err)
	}
	return ks, nil
}

// auditFlags declares where posd audit shift and verify read: DATABASE_URL,
// or a standby (--replica-url), which then wins.
func auditFlags(fs *flag.FlagSet) (dbURL, replicaURL *string) {
	dbURL, replicaURL = databaseURLFlag(fs, ofAny), new(string)
	bindReplicaURL(fs, replicaURL, "read the journal there instead of DATABASE_URL, so a long report does not load the primary")
	return dbURL, replicaURL
}

// auditStore is the store posd audit reads: the standby's when replicaURL
// is given (its answers say how far behind it was), else dbURL's.
func auditStore(ctx context.Context, dbURL, replicaURL string) (*store.Store, func(), error) {
	url, open := dbURL, store.New
	if replicaURL != "" {
		url, open = replicaURL, store.NewReplica
	} else if err := requireDatabaseURL(url); err != nil {
		return nil, nil, err
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	return open(pool), pool.Close, nil
}

func runAuditVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit verify", "Recompute a venue's journal: every order's event hash chain, every event against\n"+
		"the order's rules, every order against its log, its kitchen tickets, and the venue's\n"+
		"seals, each signed with posd's seal key. Exits 0 when it verifies, 1 naming the first\n"+
		"broken link when it does not (also when events stayed unsealed longer than\n"+
		"--seal-interval + --seal-grace). --all-venues checks every venue in turn (the nightly\n"+
		"check; --textfile leaves its outcome for Prometheus' node exporter).", stderr)
	dbURL, replicaURL := auditFlags(fs)
	venue := fs.String("venue", "", "venue id, e.g. demo (this or --all-venues is required)")
	all := fs.Bool("all-venues", false, "verify every venue in turn; exits 1 if any does not verify or could not be checked (the others are still checked)")
	textfile := fs.String("textfile", "", "after the run, write its outcome to this file (name it *.prom) in Prometheus' text format for the node exporter's textfile collector: posd_audit_verify_ok per venue, posd_audit_verify_unchecked_venues and posd_audit_verify_finished_timestamp_seconds; left as it was when the venues could not be listed or the run was stopped")
	asJSON := fs.Bool("json", false, "print the result as JSON (with --all-venues, one line per venue with its \"venue\")")
	pubKey := fs.String("public-key", envString("POSD_SEAL_PUBLIC_KEY", ""),
		"the seal key's public half, 64 hex digits, or a file holding it; after a rotation the current key, a comma, the older ones (POSD_SEAL_PUBLIC_KEY; \"posd audit public-key\" prints it)")
	noSig := fs.Bool("no-signatures", false, "verify without a public key: seals are not checked against posd's key, so a forged tail may pass")
	interval := fs.Duration("seal-interval", audit.DefaultSealInterval, "how often posd seals (posd serve seals every minute)")
	grace := fs.Duration("seal-grace", audit.DefaultSealGrace, "how much longer than --seal-interval an event may stay unsealed; 0 does not check")
	natsURL := fs.String("nats-url", "", "also compare each order with posd's JetStream stream at this NATS URL: its last message must carry the order's version (events committed but never published are reported)")
	natsCA := new(string)
	bindNATSCA(fs, natsCA)
	streamGrace := fs.Duration("stream-grace", audit.DefaultStreamGrace, "with --nats-url: orders changed more recently than this are not compared (their message may be in flight)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*venue == "") == !*all {
		return errors.New("give --venue or --all-venues (one of them)")
	}
	opts := audit.VerifyOptions{SealInterval: *interval, SealGrace: *grace}
	if *grace == 0 {
		opts.SealInterval = 0
	}
	switch {
	case *pubKey != "":
		ks, err := publicKeyArg(*pubKey)
		if err != nil {
			return err
		}
		opts.PublicKey, opts.PreviousKeys = ks[0], ks[1:]
	case !*noSig:
		return errors.New("--public-key (or POSD_SEAL_PUBLIC_KEY) is required; --no-signatures verifies without it")
	}
	if *natsURL != "" {
		natsOpts := []nats.Option{nats.Name("posd audit verify"), nats.Timeout(audit.StreamLookupTimeout)}
		if *natsCA != "" {
			natsOpts = append(natsOpts, nats.RootCAs(*natsCA))
		}
		nc, err := nats.Connect(*natsURL, natsOpts...)
		if err != nil {
			return fmt.Errorf("connect to NATS (--nats-url): %w", err)
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return fmt.Errorf("JetStream: %w", err)
		}
		opts.Stream, opts.StreamGrace = audit.JetStreamOf(js), *streamGrace
	}
	st, closeDB, err := auditStore(ctx, *dbURL, *replicaURL)
	if err != nil {
		return err
	}
	defer closeDB()
	venues := []string{*venue}
	if *all {
		if venues, err = st.Venues(ctx); err != nil {
			return fmt.Errorf("list the venues: %w", err)
		}
	}
	out := verifyOutput{w: stdout, json: *asJSON, all: *all, streamAsked: *natsURL != ""}
	outcome := map[string]bool{}
	var failed []error
	for _, v := range venues {
		r, err := st.Verify(ctx, v, opts)
		if err != nil {
			if !*all || ctx.Err() != nil {
				// Stopped (a timeout, systemctl stop): no outcome to report.
				return err
			}
			fmt.Fprintf(stderr, "posd: venue %s could not be verified: %v\n", v, err)
			failed = append(failed, fmt.Errorf("venue %s: %w", v, err))
			continue
		}
		if *natsURL != "" && r.StreamError != "" {
			// Asked for explicitly: not checking it is no success.
			r.OK = false
			if r.Broken == nil {
				r.Broken = &audit.Broken{Reason: "JetStream could not be read (--nats-url): " + r.StreamError}
			}
		}
		if err := out.print(v, r); err != nil {
			return err
		}
		outcome[v] = r.OK
	}
	if *textfile != "" {
		if err := writeVerifyTextfile(*textfile, outcome, len(failed), time.Now()); err != nil {
			return fmt.Errorf("--textfile: %w", err)
		}
	}
	for _, ok := range outcome {
		if !ok {
			return errors.Join(append([]error{errBroken}, failed...)...)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d venues could not be checked: %w", len(failed), len(venues), errors.Join(failed...))
	}
	if *all && !*asJSON {
		fmt.Fprintf(stdout, "ok: %d venues verify\n", len(venues))
	}
	return nil
}

// verifyOutput prints posd audit verify's answer for each venue.
type verifyOutput struct {
	w           io.Writer
	json, all   bool
	streamAsked bool
}

func (o verifyOutput) print(venue string, r audit.Result) error {
	if o.json {
		if o.all {
			return json.NewEncoder(o.w).Encode(struct {
				Venue string `json:"venue"`
				audit.Result
			}{venue, r})
		}
		return json.NewEncoder(o.w).Encode(r)
	}
	if r.ReadFrom != nil {
		fmt.Fprintln(o.w, r.ReadFrom)
	}
	if !r.OK {
		fmt.Fprintf(o.w, "BROKEN: venue %s: %s (after %d good events)\n", venue, r.Broken, r.EventsChecked)
		return nil
	}
	fmt.Fprintf(o.w, "ok: venue %s verifies (%d events, %d orders, %d seals)\n", venue, r.EventsChecked, r.OrdersChecked, r.SealsChecked)
	if !r.SignaturesChecked {
		fmt.Fprintln(o.w, "warning: seal signatures NOT checked (--no-signatures)")
	}
	last := "no seal yet"
	if r.LastSealAgeSeconds != nil {
		last = fmt.Sprintf("last seal %s ago", (time.Duration(*r.LastSealAgeSeconds) * time.Second).String())
	}
	unsealed := ""
	if r.UnsealedAgeSeconds != nil {
		unsealed = fmt.Sprintf(", the oldest %s old", (time.Duration(*r.UnsealedAgeSeconds) * time.Second).String())
	}
	fmt.Fprintf(o.w, "%s; %d events not sealed yet%s\n", last, r.UnsealedEvents, unsealed)
	fmt.Fprintf(o.w, "menu log: %d changes, %d of them the operator's unsigned\n", r.MenuChangesChecked, r.UnsignedMenuChanges)
	if r.StreamChecked {
		fmt.Fprintf(o.w, "JetStream: %d orders match their last message (the others changed within --stream-grace, are in flight, or are older than the stream keeps)\n", *r.StreamOrdersChecked)
	}
	return nil
}

// writeVerifyTextfile leaves a verify run's outcome for the node exporter's
// textfile collector (deploy/prometheus/posd-rules.yml alerts on it): per
// venue checked 1 when it verified and 0 when it did not, how many venues
// could not be checked (an error, not a verdict), and when the run finished.
func writeVerifyTextfile(path string, ok map[string]bool, unchecked int, finished time.Time) error {
	reg := prometheus.NewRegistry()
	verified := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "posd_audit_verify_ok",
		Help: "1 when the venue's journal verified in the last posd audit verify run, 0 when it did not."}, []string{"venue"})
	missed := prometheus.NewGauge(prometheus.GaugeOpts{Name: "posd_audit_verify_unchecked_venues",
		Help: "Venues the last posd audit verify run could not check (the database failed it: see its log)."})
	done := prometheus.NewGauge(prometheus.GaugeOpts{Name: "posd_audit_verify_finished_timestamp_seconds",
		Help: "When the last posd audit verify run that listed the venues finished (Unix time)."})
	reg.MustRegister(verified, missed, done)
	for v, good := range ok {
		if good {
			verified.WithLabelValues(v).Set(1)
		} else {
			verified.WithLabelValues(v).Set(0)
		}
	}
	missed.Set(float64(unchecked))
	done.Set(float64(finished.UnixNano()) / 1e9)
	return prometheus.WriteToTextfile(path, reg)
}

func runAuditShift(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit shift", "The post-shift report of a venue for [--from, --to): per staff orders closed,\n"+
		"sales, tips, voids and comps; every void and comp with its reason; forced overrides;\n"+
		"refused stale writes by table; the takings; the menu changes. Each list holds the\n"+
		"first 1,000 of the range and says how many there are. Times are RFC 3339.", stderr)
	dbURL, replicaURL := auditFlags(fs)
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
	for _, end := range []struct {
		flag string
		t    time.Time
	}{{"--from", from}, {"--to", to}} {
		if err := audit.CheckTime(end.flag, end.t); err != nil {
			return err
		}
	}
	if err := audit.CheckRange(from, to); err != nil {
		return err
	}
	if *format != "table" && *format != "json" && *format != "csv" {
		return fmt.Errorf("--format must be table, json or csv; got %q", *format)
	}
	st, closeDB, err := auditStore(ctx, *dbURL, *replicaURL)
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
		if r.ReadFrom != nil {
			fmt.Fprintln(stderr, r.ReadFrom) // stdout is the CSV alone
		}
		return writeShiftCSV(stdout, r)
	}
	if r.ReadFrom != nil {
		fmt.Fprintf(stdout, "%s\n\n", r.ReadFrom)
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
		total int64
	}{{"VOIDS", r.Voids, r.VoidsTotal}, {"COMPS", r.Comps, r.CompsTotal}} {
		fmt.Fprintf(w, "\n%s\nAT\tTABLE\tSKU\tQTY\tAMOUNT\tBY\tREASON\tORDER\tVERSION\n", listHeading(sec.title, len(sec.rows), sec.total))
		for _, a := range sec.rows {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\n", a.At.Format(time.RFC3339), a.Table, a.SKU, a.Qty,
				cents(a.AmountCents), a.By, a.Reason, a.OrderID, a.Version)
		}
	}
	fmt.Fprintf(w, "\n%s\nAT\tTABLE\tVERSION\tOVERRODE\tBY\tORDER\n", listHeading("FORCED OVERRIDES", len(r.ForcedOverrides), r.ForcedOverridesTotal))
	for _, f := range r.ForcedOverrides {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%s\n", f.At.Format(time.RFC3339), f.Table, f.Version, f.OverriddenVersion, f.By, f.OrderID)
	}
	if n := int64(len(r.Conflicts.ByTable)); n < r.Conflicts.ByTableTotal {
		fmt.Fprintf(w, "\nCONFLICTS (%d refused stale writes on %d tables; the %d with the most)\nTABLE\tCOUNT\n",
			r.Conflicts.Total, r.Conflicts.ByTableTotal, n)
	} else {
		fmt.Fprintf(w, "\nCONFLICTS (%d refused stale writes)\nTABLE\tCOUNT\n", r.Conflicts.Total)
	}
	for _, c := range r.Conflicts.ByTable {
		fmt.Fprintf(w, "%s\t%d\n", c.Table, c.Count)
	}
	m := r.Money
	fmt.Fprintf(w, "\nTAKINGS (%d orders closed)\n", m.OrdersClosed)
	for _, f := range []struct {
		name  string
		cents int64
	}{{"gross sales", m.GrossSalesCents}, {"discounts", m.DiscountCents}, {"net sales", m.NetSalesCents},
		{"service charges", m.ServiceChargeCents}, {"tax", m.TaxCents}, {"total", m.TotalCents},
		{"paid (net of refunds)", m.PaidCents}, {"refunds", m.RefundCents}, {"tips", m.TipCents}} {
		fmt.Fprintf(w, "%s\t%s\n", f.name, cents(f.cents))
	}
	fmt.Fprintf(w, "refunds given\t%d\n", m.Refunds)
	fmt.Fprintln(w, "\nTAX CLASS\tRATE (BPS)\tINCLUSIVE\tTAXABLE\tTAX")
	for _, t := range m.Taxes {
		fmt.Fprintf(w, "%s\t%d\t%t\t%s\t%s\n", t.TaxClass, t.RateBps, t.Inclusive, cents(t.TaxableCents), cents(t.TaxCents))
	}
	fmt.Fprintln(w, "\nTENDER\tPAYMENTS\tREFUNDS\tTIPS")
	for _, t := range m.Tenders {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", t.Tender, cents(t.PaymentCents), cents(t.RefundCents), cents(t.TipCents))
	}
	fmt.Fprintf(w, "\n%s\n", listHeading("MENU CHANGES", len(r.MenuChanges), r.MenuChangesTotal))
	fmt.Fprintln(w, "AT\tBY\tROLE\tKIND\tID\tFIELDS\tMENU VERSION")
	for _, c := range r.MenuChanges {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", c.At.Format(time.RFC3339), c.By, c.Role, c.Kind, c.ID,
			strings.Join(c.Fields, " "), c.MenuVersion)
	}
	return w.Flush()
}

// listHeading heads a list of the table: its title and how many it lists,
// and when the report's bound cut it, of how many.
func listHeading(title string, listed int, total int64) string {
	if int64(listed) < total {
		return fmt.Sprintf("%s (%d of %d, the first of the range: a narrower range lists the rest)", title, listed, total)
	}
	return fmt.Sprintf("%s (%d)", title, listed)
}

// writeShiftCSV writes the report as CSV with audit.WriteCSV, the writer
// GET /v1/audit/shift?format=csv uses too.
func writeShiftCSV(out io.Writer, r audit.Report) error { return audit.WriteCSV(out, r) }
