package httpapi_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/seed"
)

// TestAddItemOptionsEndToEnd: through the API, add_item's options are
// checked against the demo menu's groups (a required temperature, priced
// sides), priced into the line, fixed on it with their names, shown on
// the kitchen ticket, kept through a reread and the event log, and a
// refusal names the op and the group and writes nothing (DESIGN.md
// section 9).
func TestAddItemOptionsEndToEnd(t *testing.T) {
	f := start(t)
	o := f.Open("T3")

	before := f.Fingerprint()
	for _, tc := range []struct {
		name   string
		op     order.Op
		detail string
	}{
		{"required group missing", apitest.AddItem(seed.DemoRequiredOptions, 1), `group "temp" (Temperature) takes exactly 1; 0 chosen`},
		{"two temperatures", apitest.AddItem(seed.DemoRequiredOptions, 1, apitest.Choose("temp", "rare", "temp", "mr")), `group "temp" (Temperature) takes exactly 1; 2 chosen`},
		{"not an option of the group", apitest.AddItem(seed.DemoRequiredOptions, 1, apitest.Choose("temp", "blue")), `group "temp" (Temperature) has no option "blue"`},
		{"a group the item does not offer", apitest.AddItem("beer", 1, apitest.Choose("temp", "mr")), `group "temp" is not offered with "beer"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.Waiter.TryPatch(o.ID, 1, apitest.SetGuests(3), tc.op)
			p := apitest.RequireFieldProblem(t, r, 422, "validation-failed", 1, "options")
			require.Equal(t, tc.detail, p.Errors[0].Detail)
		})
	}
	require.Equal(t, before, f.Fingerprint(), "a refused add_item writes nothing")

	o = f.Waiter.Patch(o.ID, 1,
		apitest.AddItem(seed.DemoRequiredOptions, 2, apitest.Choose("temp", "mr", "sides", "truffle-fries", "sides", "peppercorn")),
		apitest.AddItem("steak", 1), apitest.Fire())
	l := o.Lines[0]
	require.Equal(t, int64(3200+450+250), l.UnitPriceCents)
	require.Equal(t, "food", l.TaxClass)
	require.Equal(t, []order.LineOption{
		{Group: "temp", Option: "mr", Name: "Medium rare", PriceCents: 0},
		{Group: "sides", Option: "truffle-fries", Name: "Truffle fries", PriceCents: 450},
		{Group: "sides", Option: "peppercorn", Name: "Peppercorn sauce", PriceCents: 250},
	}, l.Options)
	require.Empty(t, o.Lines[1].Options, "an optional group may be left out")
	require.Equal(t, int64(2*3900+2400), o.Totals.SubtotalCents)
	require.Equal(t, o, f.Waiter.Order(o.ID), "the options are stored with the line")

	evs := f.Waiter.Events(o.ID, 1)
	require.Equal(t, l.Options, evs.Events[0].Ops[0].Options, "the log carries the options' names and prices")

	var options []string
	found := false
	for _, tk := range f.Kitchen.Tickets("grill") {
		for _, tl := range tk.Lines {
			if tl.LineID == l.ID {
				options, found = tl.Options, true
			}
		}
	}
	require.True(t, found, "the grill got the line")
	require.Equal(t, []string{"Medium rare", "Truffle fries", "Peppercorn sauce"}, options)

	require.True(t, f.Auditor.Verify().OK, "audit verify replays add_item with options")
}
