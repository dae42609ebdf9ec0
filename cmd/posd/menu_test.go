package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/menufile"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/seed"
)

const exampleMenu = "../../docs/menu.example.yaml"

// posdOK runs posd in process and requires it to succeed.
func posdOK(t *testing.T, dbURL string, args ...string) string {
	t.Helper()
	out, errOut, code := runPosd(t, dbURL, args...)
	require.Zero(t, code, "posd %s: %s%s", strings.Join(args, " "), out, errOut)
	return out
}

// exportCatalog is what posd menu export writes for venue, parsed.
func exportCatalog(t *testing.T, dbURL, venue string) (string, order.Catalog) {
	t.Helper()
	out := posdOK(t, dbURL, "menu", "export", "--venue", venue)
	c, err := menufile.Parse("export.yaml", []byte(out))
	require.NoError(t, err, out)
	return out, c
}

// TestMenuCLI: a venue added on a database, its menu imported, dry-run and
// a second import that change nothing, an export that is the file's
// catalog, and a change that says exactly what it changes.
func TestMenuCLI(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	url := db.AdminURL

	out := posdOK(t, url, "venue", "add", "--id", "acme", "--name", "Acme Grill", "--timezone", "Europe/Paris", "--currency", "EUR")
	require.Contains(t, out, `added venue acme ("Acme Grill", Europe/Paris, EUR)`)
	out = posdOK(t, url, "venue", "list", "--json")
	var listed struct{ Venues []order.Venue }
	require.NoError(t, json.Unmarshal([]byte(out), &listed), out)
	require.Contains(t, listed.Venues, order.Venue{ID: "acme", Name: "Acme Grill", TimeZone: "Europe/Paris", Currency: "EUR"})
	require.Regexp(t, `(?m)^acme +Acme Grill +Europe/Paris +EUR$`, posdOK(t, url, "venue", "list"))

	_, empty := exportCatalog(t, url, "acme")
	require.Empty(t, empty.Items, "a new venue has an empty menu")

	// The dry run prints the changes and writes none.
	out = posdOK(t, url, "menu", "import", "--venue", "acme", "--dry-run", exampleMenu)
	require.Contains(t, out, "add item steak: \"Steak frites\", mains, 2400 cents, station grill, tax class food\n")
	require.Contains(t, out, "dry run: ")
	require.Contains(t, out, "; nothing written\n")
	_, still := exportCatalog(t, url, "acme")
	require.Empty(t, menufile.Diff(empty, still), "the dry run wrote nothing")

	out = posdOK(t, url, "menu", "import", "--venue", "acme", exampleMenu)
	require.Contains(t, out, "add item steak: ")
	require.Contains(t, out, "add table T1: ")
	require.Contains(t, out, "imported "+exampleMenu+" into venue acme: ")

	data, err := os.ReadFile(exampleMenu)
	require.NoError(t, err)
	want, err := menufile.Parse(exampleMenu, data)
	require.NoError(t, err)
	exported, got := exportCatalog(t, url, "acme")
	require.Empty(t, menufile.Diff(want, got), "the export is the file's catalog:\n%s", exported)
	// The example's tables are in id order, the order the store keeps, so
	// the export is the file's catalog written out, byte for byte.
	written, err := menufile.Marshal(want)
	require.NoError(t, err)
	require.Equal(t, string(written), exported)

	// Idempotent: again, and its dry run, change nothing; so does the
	// export imported back, in YAML and in JSON.
	require.Equal(t, "no changes\n", posdOK(t, url, "menu", "import", "--venue", "acme", exampleMenu))
	require.Equal(t, "no changes\n", posdOK(t, url, "menu", "import", "--venue", "acme", "--dry-run", exampleMenu))
	dir := t.TempDir()
	jsonFile := filepath.Join(dir, "acme.json")
	require.Contains(t, posdOK(t, url, "menu", "export", "--venue", "acme", "-o", jsonFile), "wrote venue acme's menu to "+jsonFile)
	raw, err := os.ReadFile(jsonFile)
	require.NoError(t, err)
	require.True(t, json.Valid(raw), string(raw))
	require.Equal(t, "no changes\n", posdOK(t, url, "menu", "import", "--venue", "acme", jsonFile))
	yamlFile := filepath.Join(dir, "acme.yaml")
	require.NoError(t, os.WriteFile(yamlFile, []byte(exported), 0o644))
	require.Equal(t, "no changes\n", posdOK(t, url, "menu", "import", "--venue", "acme", yamlFile))

	// A change says what it changes, and only that.
	changed := strings.Replace(string(data), "    price_cents: 2400\n", "    price_cents: 2600\n", 1)
	changed = strings.Replace(changed, "  - sku: fries\n", "  - sku: frites\n", 1)
	require.NoError(t, os.WriteFile(yamlFile, []byte(changed), 0o644))
	out = posdOK(t, url, "menu", "import", "--venue", "acme", "--dry-run", yamlFile)
	require.Equal(t, "change item steak: price_cents 2400 → 2600\nadd item frites: \"Fries\", sides, 500 cents, station fry, tax class food\n"+
		"remove item fries\ndry run: 1 added, 1 changed, 1 removed; nothing written\n", out)
	out = posdOK(t, url, "menu", "import", "--venue", "acme", yamlFile)
	require.True(t, strings.HasPrefix(out, "change item steak: price_cents 2400 → 2600\n"), out)
	_, got = exportCatalog(t, url, "acme")
	require.EqualValues(t, 2600, got.Items[0].PriceCents)
	require.Equal(t, "no changes\n", posdOK(t, url, "menu", "import", "--venue", "acme", yamlFile))
}

// TestMenuImportRefusesABadFile: a file with mistakes names each one's
// line and field, exits 1 and writes nothing; so does a dry run.
func TestMenuImportRefusesABadFile(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	url := db.AdminURL
	posdOK(t, url, "venue", "add", "--id", "acme", "--name", "Acme Grill", "--timezone", "Europe/Paris", "--currency", "EUR")
	posdOK(t, url, "menu", "import", "--venue", "acme", exampleMenu)
	before, _ := exportCatalog(t, url, "acme")

	data, err := os.ReadFile(exampleMenu)
	require.NoError(t, err)
	bad := strings.Replace(string(data), "    tax_class: alcohol\n", "    tax_class: fod\n", 1)
	bad = strings.Replace(bad, "    price_cents: 2400\n", "    price_cents: 2600\n", 1) // a good change, not applied either
	bad = strings.Replace(bad, "    station: cold\n", "    station: cold kitchen\n", 1)
	lineOf := func(s string) int { return 1 + strings.Count(bad[:strings.Index(bad, s)], "\n") }
	file := filepath.Join(t.TempDir(), "menu.yaml")
	require.NoError(t, os.WriteFile(file, []byte(bad), 0o644))

	for _, dry := range []bool{false, true} {
		args := []string{"menu", "import", "--venue", "acme", file}
		if dry {
			args = []string{"menu", "import", "--venue", "acme", "--dry-run", file}
		}
		out, errOut, code := runPosd(t, url, args...)
		require.Equal(t, 1, code, out+errOut)
		require.Empty(t, out)
		require.Contains(t, errOut, fmt.Sprintf("posd: %s has 2 problems; nothing was imported:\n", file))
		require.Contains(t, errOut, fmt.Sprintf("%s:%d: items[4].station: ", file, lineOf("station: cold kitchen")))
		require.Contains(t, errOut, fmt.Sprintf("%s:%d: items[6].tax_class: unknown tax class \"fod\"", file, lineOf("tax_class: fod")))
	}
	after, _ := exportCatalog(t, url, "acme")
	require.Equal(t, before, after, "nothing was written")
}

// TestVenueAndMenuRefusals: each refusal says what to do, and exits 1.
func TestVenueAndMenuRefusals(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	url := db.AdminURL
	add := func(args ...string) []string { return append([]string{"venue", "add"}, args...) }
	good := []string{"--id", "acme", "--name", "Acme Grill", "--timezone", "Europe/Paris", "--currency", "EUR"}
	with := func(flag, value string) []string {
		out := append([]string{}, good...)
		for i := range out {
			if out[i] == flag {
				out[i+1] = value
			}
		}
		return out
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{add(with("--timezone", "Europe/Pariss")...), "--timezone "},
		{add(with("--timezone", "Local")...), "--timezone "},
		{add(with("--currency", "eur")...), "--currency "},
		{add(with("--currency", "EURO")...), "--currency "},
		{add(with("--id", "Acme")...), "--id "},
		{add(with("--id", "-acme")...), "--id "},
		{add("--id", "acme", "--name", "Acme"), "--timezone is required"},
		{[]string{"menu", "import", "--venue", "nowhere", exampleMenu}, "posd venue list shows the venues"},
		{[]string{"menu", "export", "--venue", "nowhere"}, "posd venue list shows the venues"},
		{[]string{"menu", "import", "--venue", "acme"}, "give one menu file"},
		{[]string{"menu", "import", exampleMenu}, "--venue is required"},
		{[]string{"menu", "import", "--venue", "acme", "no-such-file.yaml"}, "no-such-file.yaml"},
		{[]string{"menu", "export", "--venue", "acme", "--format", "xml"}, "--format must be yaml or json"},
		{[]string{"venue"}, "venue needs a subcommand: add or list"},
		{[]string{"menu", "publish"}, `unknown menu subcommand "publish": use export or import`},
	} {
		out, errOut, code := runPosd(t, url, tc.args...)
		require.Equal(t, 1, code, "%v: %s%s", tc.args, out, errOut)
		require.Contains(t, errOut, tc.want, tc.args)
	}
	posdOK(t, url, add(good...)...)
	out, errOut, code := runPosd(t, url, add(good...)...)
	require.Equal(t, 1, code, out+errOut)
	require.Contains(t, errOut, "already exists")

	_, errOut, code = runPosd(t, "", "venue", "list")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "DATABASE_URL (or --database-url) is required")

	for _, help := range [][]string{{"venue", "--help"}, {"menu", "--help"}, {"venue", "add", "--help"}, {"venue", "list", "--help"},
		{"menu", "import", "--help"}, {"menu", "export", "--help"}} {
		out, errOut, code := runPosd(t, "", help...)
		require.Zero(t, code, help)
		require.NotEmpty(t, out+errOut, help)
	}
}

// TestReadmeOnboarding runs README's "Onboarding a restaurant" as written
// on a fresh cluster, as its table owner under row-level security: an
// empty database, a venue, its menu, a waiter's token and a first order
// over HTTP with posd serve running as posd's own role.
func TestReadmeOnboarding(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	script := "set -eu\nposd() { \"$POSD_BIN\" \"$@\"; }\n" + readmeShell(t, "## Onboarding a restaurant") +
		"curl -sf $API/v1/orders/$ORDER -H \"Authorization: Bearer $TOKEN\"\n"

	port := documentedCluster(t)
	owner := fmt.Sprintf("postgres://posd_owner@127.0.0.1:%d/posd?sslmode=disable", port)
	// posd serve needs the schema before it starts; README's own migrate
	// then has nothing left to do.
	out, err := posdCmd(t, []string{"DATABASE_URL=" + owner}, "migrate")
	require.NoError(t, err, out)
	ns := startNATS(t)
	p := startOpsServe(t, []string{"DATABASE_URL=" + fmt.Sprintf("postgres://posd@127.0.0.1:%d/posd?sslmode=disable", port),
		"NATS_URL=" + ns.ClientURL()})

	body := script
	for old, repl := range map[string]string{
		"export DATABASE_URL=postgres://posd_owner@db.example/posd": "export DATABASE_URL=" + owner,
		"API=http://127.0.0.1:8080":                                 "API=http://" + p.addr,
		"docs/menu.example.yaml":                                    mustAbs(t, exampleMenu),
	} {
		require.Contains(t, body, old, "the section has %q", old)
		body = strings.ReplaceAll(body, old, repl)
	}
	cmd := exec.CommandContext(context.Background(), "bash", "-c", body)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "POSD_BIN="+posdBin)
	raw, err := cmd.CombinedOutput()
	text := string(raw)
	require.NoError(t, err, text)
	require.Contains(t, text, "schema at version")
	require.Contains(t, text, `added venue acme ("Acme Grill", Europe/Paris, EUR)`)
	require.Contains(t, text, "dry run: ")
	require.Contains(t, text, "imported "+mustAbs(t, exampleMenu)+" into venue acme")
	require.Contains(t, text, "\nno changes\n", "the second import changes nothing")
	require.Contains(t, text, `"sku":"fries"`, "the first order has its fries")
	require.NotContains(t, text, "posd_", "the token stays in $TOKEN")
	exported, err := os.ReadFile(filepath.Join(cmd.Dir, "acme-menu.yaml"))
	require.NoError(t, err)
	got, err := menufile.Parse("acme-menu.yaml", exported)
	require.NoError(t, err)
	data, err := os.ReadFile(exampleMenu)
	require.NoError(t, err)
	want, err := menufile.Parse(exampleMenu, data)
	require.NoError(t, err)
	require.Empty(t, menufile.Diff(want, got))
}

func mustAbs(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	require.NoError(t, err)
	return abs
}

// TestMenuImportRefusesWhatOpenOrdersUse: an import that would remove an
// item on an open order's live line, or a table with an open order, is
// refused with the reason and writes nothing; its dry run says the same.
func TestMenuImportRefusesWhatOpenOrdersUse(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t)
	url := s.DB.AdminURL
	w := s.As(t, seed.TokenWaiter1)
	o := w.Open("T3", 2)
	w.Apply(o.ID, apitest.AddItem("fries", 1))

	before, cat := exportCatalog(t, url, "demo")
	var items []order.MenuItem
	for _, it := range cat.Items {
		if it.SKU != "fries" {
			items = append(items, it)
		}
	}
	var tables []order.Table
	for _, tb := range cat.Tables {
		if tb.ID != "T3" {
			tables = append(tables, tb)
		}
	}
	cat.Items, cat.Tables = items, tables
	data, err := menufile.Marshal(cat)
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "demo.yaml")
	require.NoError(t, os.WriteFile(file, data, 0o644))

	for _, args := range [][]string{{"menu", "import", "--venue", "demo", file}, {"menu", "import", "--venue", "demo", "--dry-run", file}} {
		out, errOut, code := runPosd(t, url, args...)
		require.Equal(t, 1, code, out+errOut)
		require.Empty(t, out)
		require.Contains(t, errOut, "; nothing was imported:\n")
		require.Contains(t, errOut, file+`: items: item "fries" is on an open order`)
		require.Contains(t, errOut, file+`: tables: table "T3" has an open order`)
	}
	after, _ := exportCatalog(t, url, "demo")
	require.Equal(t, before, after, "nothing was written")
}

// TestMenuImportIsLogged: an import that changes the menu is one row of the
// venue's menu log in the operator's name (--staff), signed when given the
// seal key (--seal-key-file); a dry run and an import that changes nothing
// log nothing; posd audit verify checks the rows, counting the unsigned
// one, and names a row edited behind its back.
func TestMenuImportIsLogged(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	url := db.AdminURL
	rows := func() int64 { return db.Count(t, "SELECT count(*) FROM menu_log WHERE venue_id = 'acme'") }
	posdOK(t, url, "venue", "add", "--id", "acme", "--name", "Acme Grill", "--timezone", "Europe/Paris", "--currency", "EUR")
	posdOK(t, url, "menu", "import", "--venue", "acme", "--dry-run", exampleMenu)
	require.Zero(t, rows(), "a dry run logs nothing")
	posdOK(t, url, "menu", "import", "--venue", "acme", "--staff", "Olivia", exampleMenu)
	require.EqualValues(t, 1, rows())
	require.EqualValues(t, 1, db.Count(t, `SELECT count(*) FROM menu_log WHERE venue_id = 'acme' AND seq = 1 AND actor_staff = 'Olivia'
		AND actor_role = 'operator' AND kind = 'catalog' AND entity_id = 'acme' AND signature IS NULL
		AND menu_version = (SELECT menu_version FROM venues WHERE id = 'acme')`))
	posdOK(t, url, "menu", "import", "--venue", "acme", exampleMenu)
	require.EqualValues(t, 1, rows(), "an import that changes nothing logs nothing")

	dir := t.TempDir()
	keyFile := filepath.Join(dir, "seal.key")
	key, err := audit.WriteSealKey(keyFile)
	require.NoError(t, err)
	data, err := os.ReadFile(exampleMenu)
	require.NoError(t, err)
	changed := filepath.Join(dir, "menu.yaml")
	require.NoError(t, os.WriteFile(changed, []byte(strings.Replace(string(data), "    price_cents: 2400\n", "    price_cents: 2600\n", 1)), 0o644))
	posdOK(t, url, "menu", "import", "--venue", "acme", "--staff", "Olivia", "--seal-key-file", keyFile, changed)
	require.EqualValues(t, 2, rows())
	require.EqualValues(t, 1, db.Count(t, "SELECT count(*) FROM menu_log WHERE venue_id = 'acme' AND seq = 2 AND signature IS NOT NULL"))

	out := posdOK(t, url, "audit", "verify", "--venue", "acme", "--public-key", audit.PublicKeyHex(key))
	require.Contains(t, out, "menu log: 2 changes, 1 of them the operator's unsigned")

	tx, err := db.Admin.Begin(context.Background())
	require.NoError(t, err)
	_, err = tx.Exec(context.Background(), "SET LOCAL session_replication_role = replica")
	require.NoError(t, err)
	_, err = tx.Exec(context.Background(), `UPDATE menu_log SET after = replace(after::text, '"price_cents":2600', '"price_cents":1')::json
		WHERE venue_id = 'acme' AND seq = 2`)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(context.Background()))
	out, _, code := runPosd(t, url, "audit", "verify", "--venue", "acme", "--public-key", audit.PublicKeyHex(key))
	require.NotZero(t, code)
	require.Contains(t, out, "BROKEN: venue acme: menu log row 2: ")
}
