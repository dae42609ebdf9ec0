package order_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
)

// TestAddItemOptions: the server checks each option against the item's
// groups and each group's min..max, prices the line as item plus options,
// and fixes the options' names and prices and the item's tax class on the
// line and in the applied op (DESIGN.md section 9).
func TestAddItemOptions(t *testing.T) {
	at := time.Date(2026, 12, 2, 19, 0, 0, 0, time.UTC)
	open, err := order.Fold([]order.Event{{OrderID: uuid.New(), Venue: "demo", Version: 1, At: at, Ops: []order.Op{order.OpenOp("T1", 2, nil)}}})
	require.NoError(t, err)
	opt := func(g, o string) order.LineOption { return order.LineOption{Group: g, Option: o} }
	add := func(sku string, opts ...order.LineOption) []order.Op {
		return []order.Op{{Op: order.OpAddItem, SKU: sku, Options: opts}}
	}
	for _, tc := range []struct {
		name   string
		ops    []order.Op
		detail string // "" = accepted
		price  int64
	}{
		{"required group chosen", add("burger", opt("temp", "mr")), "", 1500},
		{"priced options add to the unit price", add("burger", opt("sides", "salad"), opt("temp", "rare"), opt("sides", "truffle")), "", 1500 + 300 + 450},
		{"required group missing", add("burger"), `group "temp" (Temperature) takes exactly 1; 0 chosen`, 0},
		{"required group missing with another group chosen", add("burger", opt("sides", "salad")), `group "temp" (Temperature) takes exactly 1; 0 chosen`, 0},
		{"two of a one-choice group", add("burger", opt("temp", "mr"), opt("temp", "rare")), `group "temp" (Temperature) takes exactly 1; 2 chosen`, 0},
		{"unknown option", add("burger", opt("temp", "blue")), `group "temp" (Temperature) has no option "blue"`, 0},
		{"group the item does not offer", add("steak", opt("temp", "mr")), `group "temp" is not offered with "steak"`, 0},
		{"unknown group", add("burger", opt("temp", "mr"), opt("sauce", "bbq")), `group "sauce" is not offered with "burger"`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, order.Validate(tc.ops, order.RoleWaiter))
			next, applied, err := order.Plan(open, tc.ops, at, env())
			if tc.detail != "" {
				requireProblem(t, err, 0, "options")
				var ve *order.ValidationError
				require.ErrorAs(t, err, &ve)
				require.Equal(t, tc.detail, ve.Problems[0].Detail)
				return
			}
			require.NoError(t, err)
			l := next.Lines[0]
			require.Equal(t, tc.price, l.UnitPriceCents)
			require.Equal(t, "food", l.TaxClass)
			require.Equal(t, tc.price, next.Totals.SubtotalCents)
			require.Len(t, l.Options, len(tc.ops[0].Options))
			for i, o := range l.Options {
				require.Equal(t, tc.ops[0].Options[i].Group, o.Group, "options keep the order they were sent in")
				require.Equal(t, tc.ops[0].Options[i].Option, o.Option)
				g := groups[o.Group]
				for _, mo := range g.Options {
					if mo.ID == o.Option {
						require.Equal(t, mo.Name, o.Name)
						require.Equal(t, mo.PriceCents, o.PriceCents)
					}
				}
			}
			require.Equal(t, l.Options, applied[0].Options, "the applied op carries names and prices")
			require.Equal(t, "food", applied[0].TaxClass)
		})
	}
}

// TestOptionsFixedOnTheLine: a later menu change (an option's price or
// name) does not alter a line already on the order, and folding the log
// gives the line as it was added.
func TestOptionsFixedOnTheLine(t *testing.T) {
	at := time.Date(2026, 12, 2, 19, 0, 0, 0, time.UTC)
	ev1 := order.Event{OrderID: uuid.New(), Venue: "demo", Version: 1, At: at, Ops: []order.Op{order.OpenOp("T1", 2, nil)}}
	open, err := order.Fold([]order.Event{ev1})
	require.NoError(t, err)
	next, applied, err := order.Plan(open, []order.Op{{Op: order.OpAddItem, SKU: "burger",
		Options: []order.LineOption{{Group: "temp", Option: "mr"}, {Group: "sides", Option: "truffle"}}}}, at, env())
	require.NoError(t, err)
	raw, err := json.Marshal(applied)
	require.NoError(t, err)
	require.Contains(t, string(raw), `"options":[{"group":"temp","option":"mr","name":"Medium rare","price_cents":0},{"group":"sides","option":"truffle","name":"Truffle fries","price_cents":450}]`)

	changed := env()
	changed.Groups = map[string]order.ModifierGroup{"temp": groups["temp"], "sides": {ID: "sides", Name: "Sides", Max: 2,
		Options: []order.ModifierOption{{ID: "truffle", Name: "Truffle chips", PriceCents: 900}}}}
	later, _, err := order.Plan(next, []order.Op{{Op: order.OpSetGuests, Guests: intp(3)}}, at, changed)
	require.NoError(t, err)
	require.Equal(t, next.Lines, later.Lines)
	require.Equal(t, int64(1950), later.Totals.SubtotalCents)

	var stored []order.Op
	require.NoError(t, json.Unmarshal(raw, &stored))
	folded, err := order.Fold([]order.Event{ev1, {OrderID: ev1.OrderID, Venue: "demo", Version: 2, At: at, Ops: stored}})
	require.NoError(t, err)
	require.Equal(t, next.Lines, folded.Lines)
}

// TestDecodeOptions: options are objects of group and option only; a
// client cannot send a name or a price, and the bounds hold.
func TestDecodeOptions(t *testing.T) {
	ops, err := order.DecodeOps([]json.RawMessage{json.RawMessage(`{"op":"add_item","sku":"burger","options":[{"group":"temp","option":"mr"}]}`)})
	require.NoError(t, err)
	require.Equal(t, []order.LineOption{{Group: "temp", Option: "mr"}}, ops[0].Options)
	for _, bad := range []string{
		`{"op":"add_item","sku":"burger","options":[{"group":"temp","option":"mr","price_cents":0}]}`,
		`{"op":"add_item","sku":"burger","options":["mr"]}`,
		`{"op":"add_item","sku":"burger","options":{"group":"temp"}}`,
		`{"op":"set_qty","line_id":"0190b6a0-0000-7000-8000-000000000001","qty":2,"options":[]}`,
	} {
		_, err := order.DecodeOps([]json.RawMessage{json.RawMessage(bad)})
		var ve *order.ValidationError
		require.ErrorAs(t, err, &ve, bad)
		require.Equal(t, "options", ve.Problems[0].Field, bad)
	}
	many := make([]order.LineOption, order.MaxOptions+1)
	for i := range many {
		many[i] = order.LineOption{Group: "sides", Option: string(rune('a' + i))}
	}
	for _, tc := range []struct {
		opts   []order.LineOption
		detail string
	}{
		{many, "at most 20 options"},
		{[]order.LineOption{{Group: "temp"}}, `each option names its "group" and "option"`},
		{[]order.LineOption{{Group: "temp", Option: "mr"}, {Group: "temp", Option: "mr"}}, `option "mr" of group "temp" is given twice`},
	} {
		err := order.Validate([]order.Op{{Op: order.OpAddItem, SKU: "burger", Options: tc.opts}}, order.RoleWaiter)
		var ve *order.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "options", ve.Problems[0].Field)
		require.Equal(t, tc.detail, ve.Problems[0].Detail)
	}
}
