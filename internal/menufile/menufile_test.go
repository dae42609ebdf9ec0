package menufile_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/menufile"
	"github.com/posd/posd/internal/order"
)

// exampleFile is the example docs/MENU.md shows and README's onboarding
// imports.
const exampleFile = "../../docs/menu.example.yaml"

func readExample(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(exampleFile)
	require.NoError(t, err)
	return data
}

// parseErr parses data and returns its problems as the lines Error() prints.
func parseErr(t *testing.T, data string) []string {
	t.Helper()
	_, err := menufile.Parse("menu.yaml", []byte(data))
	require.Error(t, err)
	var fe *menufile.Error
	require.True(t, errors.As(err, &fe), "%T %v", err, err)
	return strings.Split(err.Error(), "\n")
}

// TestExampleFile: the example the documentation shows parses, says what
// the documentation says it says, and survives a round trip through both
// formats.
func TestExampleFile(t *testing.T) {
	c, err := menufile.Parse("menu.example.yaml", readExample(t))
	require.NoError(t, err)
	require.Len(t, c.Tables, 7)
	require.Equal(t, order.Table{ID: "BAR1", Label: "BAR1", Seats: 1}, c.Tables[6], "a label left out is the id")
	require.Equal(t, []string{"cash", "card", "gift"}, c.Tenders)
	require.Equal(t, &order.ServiceCharge{MinGuests: 8, RateBps: 1200, TaxClass: "food"}, c.ServiceCharge)
	require.Equal(t, order.TaxClass{ID: "alcohol", Name: "Alcohol (20 %)", RateBps: 2000, Inclusive: true}, c.TaxClasses[1])
	require.Equal(t, "temp", c.ModifierGroups[0].ID)
	require.Equal(t, order.ModifierOption{ID: "well", Name: "Well done"}, c.ModifierGroups[0].Options[3], "a price left out is 0")
	steak := c.Items[0]
	require.Equal(t, "steak", steak.SKU)
	require.Equal(t, "mains", steak.Category)
	require.EqualValues(t, 2400, steak.PriceCents)
	require.Equal(t, "grill", steak.Station)
	require.Equal(t, "food", steak.TaxClass)
	require.Equal(t, []string{"temp", "sides"}, steak.ModifierGroups)
	require.Nil(t, c.Items[3].ModifierGroups, "fries offer no groups")
	require.NoError(t, c.Validate())
	requireRoundTrip(t, c)
}

// requireRoundTrip: what Marshal and MarshalJSON write, Parse reads back as
// the same catalog, and Diff sees nothing between them.
func requireRoundTrip(t *testing.T, c order.Catalog) {
	t.Helper()
	y, err := menufile.Marshal(c)
	require.NoError(t, err)
	back, err := menufile.Parse("exported.yaml", y)
	require.NoError(t, err, string(y))
	require.Equal(t, c, back, string(y))
	require.Empty(t, menufile.Diff(c, back))

	j, err := menufile.MarshalJSON(c)
	require.NoError(t, err)
	back, err = menufile.Parse("exported.json", j)
	require.NoError(t, err, string(j))
	require.Equal(t, c, back, string(j))

	again, err := menufile.Marshal(back)
	require.NoError(t, err)
	require.Equal(t, string(y), string(again), "Marshal is stable")
}

// TestRoundTripAwkwardText: names that YAML would read as something else
// unquoted (numbers, booleans, null, comments, keys) come back as the text
// they were.
func TestRoundTripAwkwardText(t *testing.T) {
	awkward := []string{"123", "0012", "1e3", "0x1F", "true", "no", "yes", "null", "~", "a: b", "#hash", "- dash",
		"'single'", `"double"`, `back\slash`, " leading space", "trailing space ", "ünïcødé ☕", "[flow]", "{x}", "*alias",
		"&anchor", "!tag", "%directive", "@at", "`tick`", "…", "---", "..."}
	c := order.Catalog{
		TaxClasses: []order.TaxClass{{ID: "food", Name: "Food", RateBps: 1000}},
		Tenders:    []string{"cash"},
		ModifierGroups: []order.ModifierGroup{{ID: "g", Name: "G", Min: 0, Max: 1,
			Options: []order.ModifierOption{{ID: "o", Name: "O", PriceCents: order.MaxPriceCents}}}},
	}
	for i, s := range awkward {
		c.Tables = append(c.Tables, order.Table{ID: fmt.Sprintf("T%d", i), Label: s, Seats: 4})
		c.Items = append(c.Items, order.MenuItem{SKU: fmt.Sprintf("sku-%d", i), Name: s, Category: s,
			PriceCents: int64(i), Station: "grill", TaxClass: "food", ModifierGroups: []string{"g"}})
	}
	c.Tables = append(c.Tables, order.Table{ID: "123", Label: "numeric id", Seats: 2})
	require.NoError(t, c.Validate())
	requireRoundTrip(t, c)
}

// TestJSONFile: a JSON file (tab-indented, with escapes) is read as the same
// catalog as the YAML of the same structure, and its problems have lines.
func TestJSONFile(t *testing.T) {
	const yamlFile = `
tax_classes: [{id: food, name: "Café / bar", rate_bps: 550}]
tenders: [cash]
items:
  - {sku: a, name: A, category: c, price_cents: 1, station: s, tax_class: food}
`
	const jsonFile = "{\n\t\"tax_classes\": [{\"id\": \"food\", \"name\": \"Caf\\u00e9 \\/ bar\", \"rate_bps\": 550}],\n" +
		"\t\"tenders\": [\"cash\"],\n\t\"items\": [\n" +
		"\t\t{\"sku\": \"a\", \"name\": \"A\", \"category\": \"c\", \"price_cents\": 1, \"station\": \"s\", \"tax_class\": \"food\"}\n\t]\n}\n"
	y, err := menufile.Parse("menu.yaml", []byte(yamlFile))
	require.NoError(t, err)
	j, err := menufile.Parse("menu.json", []byte(jsonFile))
	require.NoError(t, err)
	require.Equal(t, y, j)

	bad := strings.Replace(jsonFile, `"tax_class": "food"`, `"tax_class": "fod"`, 1)
	_, err = menufile.Parse("menu.json", []byte(bad))
	require.EqualError(t, err, `menu.json:5: items[0].tax_class: unknown tax class "fod"`)
}

// TestProblemNamesFileLineAndField: the refusal the documentation promises,
// word for word.
func TestProblemNamesFileLineAndField(t *testing.T) {
	data := strings.Replace(string(readExample(t)), "    tax_class: alcohol\n", "    tax_class: fod\n", 1)
	line := 1 + strings.Count(data[:strings.Index(data, "tax_class: fod")], "\n")
	_, err := menufile.Parse("menu.yaml", []byte(data))
	require.EqualError(t, err, fmt.Sprintf(`menu.yaml:%d: items[6].tax_class: unknown tax class "fod"`, line))
}

// TestEveryProblemListed: one file with many mistakes gets one line for
// each, in line order, each naming its field.
func TestEveryProblemListed(t *testing.T) {
	got := parseErr(t, `tables:
  - {id: T1, label: Table 1, seats: 0}
  - {id: T1, seats: 2, colour: red}
  - [x]
tax_classes:
  - {id: food, name: Food, rate_bps: 1000}
  - {id: food, name: "", rate_bps: 20000, inclusive: maybe}
service_charge: {min_guests: 0, rate_bps: 100, tax_class: fud}
tenders: [cash, "ca sh", cash]
modifier_groups:
  - id: temp
    name: Temperature
    min: 2
    max: 3
    options:
      - {id: rare, name: Rare, price_cents: -1}
      - {id: rare, name: Rare 2, price_cents: 1.5}
items:
  - sku: steak
    name: Steak
    category: mains
    price_cents: 2400
    station: grill.x
    tax_class: fod
    modifier_groups: [temp, tmp, temp]
  - sku: steak
    name: Steak
    name: again
    category: mains
    station: grill
    tax_class: food
`)
	// The file's own problems word for word; the catalog's rules
	// (order.Catalog.Validate) by line and field.
	want := []string{
		`menu.yaml:2: tables[0].seats: `,
		`menu.yaml:3: tables[1].colour: unknown field (this element has id, label, seats)`,
		`menu.yaml:3: tables[1].id: `,
		`menu.yaml:4: tables[2]: must be a mapping of id, label, seats, not a list`,
		`menu.yaml:7: tax_classes[1].inclusive: must be true or false, not "maybe"`,
		`menu.yaml:7: tax_classes[1].id: `,
		`menu.yaml:7: tax_classes[1].name: required`,
		`menu.yaml:7: tax_classes[1].rate_bps: `,
		`menu.yaml:8: service_charge.min_guests: `,
		`menu.yaml:9: tenders[1]: `,
		`menu.yaml:9: tenders[2]: `,
		`menu.yaml:16: modifier_groups[0].options[0].price_cents: `,
		`menu.yaml:17: modifier_groups[0].options[1].price_cents: must be a whole number, not the number 1.5`,
		`menu.yaml:17: modifier_groups[0].options[1].id: `,
		`menu.yaml:23: items[0].station: `,
		`menu.yaml:24: items[0].tax_class: unknown tax class "fod"`,
		`menu.yaml:25: items[0].modifier_groups[1]: unknown modifier group "tmp"`,
		`menu.yaml:25: items[0].modifier_groups[2]: `,
		`menu.yaml:26: items[1].price_cents: required`,
		`menu.yaml:26: items[1].sku: `,
		`menu.yaml:28: items[1].name: given twice (first on line 27)`,
	}
	requirePrefixes(t, want, got)
}

// requirePrefixes: each got line starts with its want line (a want that
// ends in ": " names line and field only; the rest, word for word).
func requirePrefixes(t *testing.T, want, got []string) {
	t.Helper()
	require.Len(t, got, len(want), strings.Join(got, "\n"))
	for i := range want {
		if strings.HasSuffix(want[i], ": ") {
			require.True(t, strings.HasPrefix(got[i], want[i]), "line %d: %q does not start with %q", i, got[i], want[i])
		} else {
			require.Equal(t, want[i], got[i])
		}
	}
}

// TestFileProblems: problems with the file as a whole.
func TestFileProblems(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"empty", "", "menu.yaml: the file is empty; docs/MENU.md describes what it holds"},
		{"only a comment", "# nothing\n", "menu.yaml: the file is empty; docs/MENU.md describes what it holds"},
		{"not a mapping", "- a\n- b\n", "menu.yaml:1: the file must be a mapping of tables, tax_classes, service_charge, tenders, modifier_groups, items, not a list"},
		{"syntax", "tenders: [cash\nitems: x\n", "menu.yaml:1: not valid YAML or JSON: did not find expected ',' or ']'"},
		{"bad indentation", "tenders:\n  - cash\n - card\n", "menu.yaml:2: not valid YAML or JSON: did not find expected key"},
		{"unknown top-level field", "tenders: [cash]\nmenu: []\n", "menu.yaml:2: menu: unknown field (the file has tables, tax_classes, service_charge, tenders, modifier_groups, items)"},
		{"two documents", "tenders: [cash]\n---\ntenders: [card]\n", "menu.yaml:2: a second YAML document (after ---): a menu file holds one"},
		{"no tenders", "tables: []\n", "menu.yaml: tenders: at least one tender is required"},
		{"a list that is not one", "tenders: cash\n", "menu.yaml:1: tenders: must be a list, not \"cash\""},
		{"text that is a list", "tenders: [[cash]]\n", "menu.yaml:1: tenders[0]: must be text, not a list"},
		{"a number too large", "tenders: [cash]\ntables: [{id: T1, seats: 99999999999999999999}]\n",
			"menu.yaml:2: tables[0].seats: must be a whole number, not the number 99999999999999999999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := menufile.Parse("menu.yaml", []byte(tc.data))
			require.EqualError(t, err, tc.want)
		})
	}
	_, err := menufile.Parse("big.yaml", make([]byte, menufile.MaxFileBytes+1))
	require.ErrorContains(t, err, "big.yaml: the file is 4194305 bytes, more than the 4194304 a menu file may have")
}

// TestRules: each rule of docs/MENU.md refuses what it should, on the
// field's line.
func TestRules(t *testing.T) {
	const head = "tax_classes: [{id: food, name: Food, rate_bps: 1000}]\ntenders: [cash]\n"
	group := func(min, max int, options int) string {
		s := fmt.Sprintf("modifier_groups:\n  - {id: g, name: G, min: %d, max: %d, options: [", min, max)
		for i := 0; i < options; i++ {
			if i > 0 {
				s += ", "
			}
			s += fmt.Sprintf("{id: o%d, name: O}", i)
		}
		return s + "]}\n"
	}
	item := func(fields string) string {
		return "items:\n  - {sku: a, name: A, category: c, price_cents: 1, station: s, tax_class: food" + fields + "}\n"
	}
	long := strings.Repeat("é", order.MaxMenuNameLen+1)
	for _, tc := range []struct{ name, data, want string }{
		{"min above max", group(2, 1, 2), "menu.yaml:4: modifier_groups[0].min: "},
		{"max zero", group(0, 0, 2), "menu.yaml:4: modifier_groups[0].max: "},
		{"negative min", group(-1, 1, 2), "menu.yaml:4: modifier_groups[0].min: "},
		{"min above the options", group(3, 3, 2), "menu.yaml:4: modifier_groups[0].min: "},
		{"no options", group(0, 1, 0), "menu.yaml:4: modifier_groups[0].options: "},
		{"too many options", group(0, 1, order.MaxOptionsPerGroup+1), "menu.yaml:4: modifier_groups[0].options: "},
		{"price too high", strings.Replace(item(""), "price_cents: 1", "price_cents: 100000001", 1), "menu.yaml:4: items[0].price_cents: "},
		{"negative price", strings.Replace(item(""), "price_cents: 1", "price_cents: -5", 1), "menu.yaml:4: items[0].price_cents: "},
		{"price not whole", strings.Replace(item(""), "price_cents: 1", "price_cents: 24.00", 1), "menu.yaml:4: items[0].price_cents: must be a whole number, not the number 24.00"},
		{"price as text", strings.Replace(item(""), "price_cents: 1", `price_cents: "24"`, 1), `menu.yaml:4: items[0].price_cents: must be a whole number, not "24"`},
		{"name too long", strings.Replace(item(""), "name: A", "name: "+long, 1), "menu.yaml:4: items[0].name: "},
		{"blank name", strings.Replace(item(""), "name: A", `name: "  "`, 1), "menu.yaml:4: items[0].name: required"},
		{"control character", strings.Replace(item(""), "name: A", `name: "A\tB"`, 1), "menu.yaml:4: items[0].name: "},
		{"sku not an id", strings.Replace(item(""), "sku: a", "sku: a/b", 1), "menu.yaml:4: items[0].sku: "},
		{"sku too long", strings.Replace(item(""), "sku: a", "sku: "+strings.Repeat("a", 65), 1), "menu.yaml:4: items[0].sku: "},
		{"station with a space", strings.Replace(item(""), "station: s", `station: "hot line"`, 1), "menu.yaml:4: items[0].station: "},
		{"station with a dot", strings.Replace(item(""), "station: s", `station: hot.line`, 1), "menu.yaml:4: items[0].station: "},
		{"no tax class", strings.Replace(item(""), "tax_class: food", "tax_class: null", 1), "menu.yaml:4: items[0].tax_class: required"},
		{"unknown group", item(", modifier_groups: [g]"), `menu.yaml:4: items[0].modifier_groups[0]: unknown modifier group "g"`},
		{"category too long", strings.Replace(item(""), "category: c", "category: "+strings.Repeat("c", 65), 1), "menu.yaml:4: items[0].category: "},
		{"inclusive not a boolean", strings.Replace(head, "rate_bps: 1000", "rate_bps: 1000, inclusive: yes", 1) + item(""), `menu.yaml:1: tax_classes[0].inclusive: must be true or false, not "yes"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data
			if !strings.HasPrefix(data, "tax_classes") {
				data = head + data
			}
			_, err := menufile.Parse("menu.yaml", []byte(data))
			require.Error(t, err)
			requirePrefixes(t, []string{tc.want}, strings.Split(err.Error(), "\n"))
		})
	}
}

// TestCountBounds: a list longer than its bound is refused once, on the
// list, not once per element.
func TestCountBounds(t *testing.T) {
	var b strings.Builder
	b.WriteString("tax_classes: [{id: food, name: Food, rate_bps: 1000}]\ntenders: [cash]\nitems:\n")
	for i := 0; i <= order.MaxMenuItems; i++ {
		fmt.Fprintf(&b, "  - {sku: s%d, name: N, category: c, price_cents: 1, station: s, tax_class: food}\n", i)
	}
	_, err := menufile.Parse("menu.yaml", []byte(b.String()))
	require.Error(t, err)
	requirePrefixes(t, []string{"menu.yaml:4: items: "}, strings.Split(err.Error(), "\n"))

	b.Reset()
	b.WriteString("tenders: [cash]\ntables:\n")
	for i := 0; i <= order.MaxTables; i++ {
		fmt.Fprintf(&b, "  - {id: T%d, seats: 2}\n", i)
	}
	_, err = menufile.Parse("menu.yaml", []byte(b.String()))
	require.Error(t, err)
	requirePrefixes(t, []string{"menu.yaml:3: tables: "}, strings.Split(err.Error(), "\n"))
}

// TestProblemsAreBounded: a file with hundreds of mistakes lists the
// first hundred and counts the rest.
func TestProblemsAreBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("tenders: [cash]\ntables:\n")
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&b, "  - {id: T%d, seats: 2, colour: red}\n", i)
	}
	_, err := menufile.Parse("menu.yaml", []byte(b.String()))
	var fe *menufile.Error
	require.ErrorAs(t, err, &fe)
	require.Len(t, fe.Problems, menufile.MaxProblems)
	require.Equal(t, 300-menufile.MaxProblems, fe.More)
	require.Equal(t, "menu.yaml:3: tables[0].colour: unknown field (this element has id, label, seats)", strings.Split(err.Error(), "\n")[0])
	require.True(t, strings.HasSuffix(err.Error(), "\nmenu.yaml: and 200 more problems"), err.Error())

	// The catalog's rules list their first problems and count the rest,
	// after every problem that has a line.
	b.Reset()
	b.WriteString("tenders: [cash]\ntables:\n")
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&b, "  - {id: T%d, seats: 0}\n", i)
	}
	_, err = menufile.Parse("menu.yaml", []byte(b.String()))
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	require.True(t, strings.HasPrefix(lines[0], "menu.yaml:3: tables[0].seats: "), lines[0])
	require.Regexp(t, `^menu.yaml: catalog: and \d+ more problems$`, lines[len(lines)-1])
}

// TestAliases: YAML anchors and aliases may share a list between items.
func TestAliases(t *testing.T) {
	c, err := menufile.Parse("menu.yaml", []byte(`
tax_classes: [{id: food, name: Food, rate_bps: 1000}]
tenders: [cash]
modifier_groups:
  - {id: temp, name: T, min: 1, max: 1, options: [{id: r, name: R}]}
items:
  - {sku: a, name: A, category: c, price_cents: 1, station: s, tax_class: food, modifier_groups: &meat [temp]}
  - {sku: b, name: B, category: c, price_cents: 2, station: s, tax_class: food, modifier_groups: *meat}
`))
	require.NoError(t, err)
	require.Equal(t, []string{"temp"}, c.Items[1].ModifierGroups)
}
