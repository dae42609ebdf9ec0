package httpapi_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/order"
)

// menuVersion is the demo venue's menu version, read as the superuser.
func menuVersion(t *testing.T, f *apitest.Fixture) int64 {
	t.Helper()
	return f.DB.Count(t, "SELECT menu_version FROM venues WHERE id = 'demo'")
}

// menuLogRows counts the demo venue's menu log.
func menuLogRows(t *testing.T, f *apitest.Fixture) int64 {
	t.Helper()
	return f.DB.Count(t, "SELECT count(*) FROM menu_log WHERE venue_id = 'demo'")
}

// TestPutItem: a manager changes an item's price under its version; the
// answer is the item at the new menu version with that version as ETag,
// the menu says so, the very next add_item is charged the new price, and
// the change is one row of the menu log. The same PUT again changes
// nothing. If-None-Match: * creates an item (201, Location), and a second
// create is 412 with the item that exists (DESIGN.md section 9).
func TestPutItem(t *testing.T) {
	f := start(t)
	menu := f.Manager.MenuDoc()
	steak := menu.Item(t, "steak")
	rows := menuLogRows(t, f)

	body := apitest.ItemBodyOf(steak)
	body.PriceCents = 2650
	got := f.Manager.PutItem("steak", body, steak.Version)
	require.EqualValues(t, 2650, got.PriceCents)
	require.Equal(t, menu.Version+1, got.Version, "the item's version is the new menu version")
	require.Equal(t, menu.Version+1, menuVersion(t, f))
	require.Equal(t, rows+1, menuLogRows(t, f))
	after := f.Waiter.MenuDoc()
	require.Equal(t, got, after.Item(t, "steak"))
	require.Equal(t, menu.Version+1, after.Version)

	o := f.Open("T3")
	o = f.Waiter.Patch(o.ID, 1, apitest.AddItem("steak", 1))
	require.EqualValues(t, 2650, o.Lines[0].UnitPriceCents)

	again := f.Manager.PutItem("steak", body, got.Version)
	require.Equal(t, got, again, "the same definition changes nothing")
	require.Equal(t, menu.Version+1, menuVersion(t, f))
	require.Equal(t, rows+1, menuLogRows(t, f))

	soup := apitest.ItemBody{Name: "Onion soup", Category: "starters", PriceCents: 900, Station: "cold", TaxClass: "food"}
	r := f.Manager.TryPutItem("soup", soup, apitest.Create)
	require.Equal(t, 201, r.Status, string(r.Body))
	require.Equal(t, "/v1/menu/items/soup", r.Header.Get("Location"))
	var created order.MenuItem
	r.JSON(t, &created)
	require.Equal(t, menu.Version+2, created.Version)
	require.True(t, created.Available)
	require.Equal(t, []string{}, created.ModifierGroups)
	require.Equal(t, `"`+strconv.FormatInt(created.Version, 10)+`"`, r.Header.Get("ETag"))
	require.Equal(t, "soup", f.Waiter.Menu()[len(f.Waiter.Menu())-1].SKU, "a new item goes at the end of the menu")

	before := f.Fingerprint()
	var cur order.MenuItem
	apitest.RequireMenuConflict(t, f.Manager.TryPutItem("soup", soup, apitest.Create), &cur)
	require.Equal(t, created, cur)
	require.Equal(t, before, f.Fingerprint())
	res := f.Auditor.Verify()
	require.True(t, res.OK, "%+v", res.Broken)
	require.Equal(t, rows+2, res.MenuChangesChecked)
}

// TestPutModifierGroup: a manager changes a group's option prices under
// its version; the next add_item with that option is charged the new
// price; creating a group and offering it on an item work the same way.
func TestPutModifierGroup(t *testing.T) {
	f := start(t)
	menu := f.Manager.MenuDoc()
	sides := menu.Group(t, "sides")
	body := apitest.GroupBodyOf(sides)
	body.Options[0].PriceCents = 600
	r := f.Manager.TryPutGroup("sides", body, apitest.IfMatch(sides.Version))
	require.Equal(t, 200, r.Status, string(r.Body))
	var got order.ModifierGroup
	r.JSON(t, &got)
	require.EqualValues(t, 600, got.Options[0].PriceCents)
	require.Equal(t, menu.Version+1, got.Version)
	require.Equal(t, `"`+strconv.FormatInt(got.Version, 10)+`"`, r.Header.Get("ETag"))

	o := f.Open("T3")
	o = f.Waiter.Patch(o.ID, 1, apitest.AddItem("steak", 1, apitest.Choose("sides", body.Options[0].ID)))
	require.EqualValues(t, 2400+600, o.Lines[0].UnitPriceCents)

	sauces := apitest.GroupBody{Name: "Sauces", Min: 0, Max: 2, Options: []order.ModifierOption{{ID: "bearnaise", Name: "Béarnaise", PriceCents: 200}}}
	r = f.Manager.TryPutGroup("sauces", sauces, apitest.Create)
	require.Equal(t, 201, r.Status, string(r.Body))
	steak := f.Manager.MenuDoc().Item(t, "steak")
	ib := apitest.ItemBodyOf(steak)
	ib.ModifierGroups = append(ib.ModifierGroups, "sauces")
	steak = f.Manager.PutItem("steak", ib, steak.Version)
	require.Equal(t, []string{"sides", "sauces"}, steak.ModifierGroups)
	require.True(t, f.Manager.Verify().OK)
}

// TestMenuWriteRefusals: every refused menu write answers its exact status,
// problem type and field, and writes nothing: the menu, its version and
// the menu log are as they were (DESIGN.md section 9, invariant 7).
func TestMenuWriteRefusals(t *testing.T) {
	f := start(t)
	menu := f.Manager.MenuDoc()
	steak := menu.Item(t, "steak")
	sides := menu.Group(t, "sides")
	good := apitest.ItemBodyOf(steak)
	cur := apitest.IfMatch(steak.Version)
	with := func(change func(b apitest.Raw)) apitest.Raw {
		b := apitest.Raw{"name": good.Name, "category": good.Category, "price_cents": good.PriceCents,
			"station": good.Station, "tax_class": good.TaxClass, "modifier_groups": good.ModifierGroups}
		change(b)
		return b
	}
	group := func(change func(b apitest.Raw)) apitest.Raw {
		opts := []any{}
		for _, o := range sides.Options {
			opts = append(opts, map[string]any{"id": o.ID, "name": o.Name, "price_cents": o.PriceCents})
		}
		b := apitest.Raw{"name": sides.Name, "min": sides.Min, "max": sides.Max, "options": opts}
		change(b)
		return b
	}
	put := func(sku string, body any, h map[string]string) func() apitest.Response {
		return func() apitest.Response { return f.Manager.TryPutItem(sku, body, h) }
	}
	putGroup := func(id string, body any, h map[string]string) func() apitest.Response {
		return func() apitest.Response { return f.Manager.TryPutGroup(id, body, h) }
	}
	avail := func(c *apitest.Client, sku string, body any) func() apitest.Response {
		return func() apitest.Response { return c.TrySetAvailability(sku, body) }
	}
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	for _, tc := range []struct {
		name   string
		send   func() apitest.Response
		status int
		kind   string
		field  string
	}{
		{"no precondition", put("steak", good, nil), 428, "precondition-required", "If-Match"},
		{"If-Match star", put("steak", good, map[string]string{"If-Match": "*"}), 428, "precondition-required", "If-Match"},
		{"If-Match not a version", put("steak", good, map[string]string{"If-Match": `"07"`}), 400, "bad-request", "If-Match"},
		{"both preconditions", put("steak", good, map[string]string{"If-Match": `"1"`, "If-None-Match": "*"}), 400, "bad-request", "If-None-Match"},
		{"If-None-Match not star", put("steak", good, map[string]string{"If-None-Match": `"1"`}), 400, "bad-request", "If-None-Match"},
		{"stale version", put("steak", good, apitest.IfMatch(steak.Version+1)), 412, "menu-version-conflict", ""},
		{"unknown item", put("nope", good, apitest.IfMatch(1)), 412, "menu-version-conflict", ""},
		{"negative price", put("steak", with(func(b apitest.Raw) { b["price_cents"] = -1 }), cur), 422, "validation-failed", "price_cents"},
		{"price too high", put("steak", with(func(b apitest.Raw) { b["price_cents"] = order.MaxPriceCents + 1 }), cur), 422, "validation-failed", "price_cents"},
		{"fractional price", put("steak", with(func(b apitest.Raw) { b["price_cents"] = 24.5 }), cur), 422, "validation-failed", "price_cents"},
		{"price as text", put("steak", with(func(b apitest.Raw) { b["price_cents"] = "2400" }), cur), 422, "validation-failed", "price_cents"},
		{"no name", put("steak", with(func(b apitest.Raw) { delete(b, "name") }), cur), 422, "validation-failed", "name"},
		{"empty name", put("steak", with(func(b apitest.Raw) { b["name"] = "" }), cur), 422, "validation-failed", "name"},
		{"bad station", put("steak", with(func(b apitest.Raw) { b["station"] = "grill.hot" }), cur), 422, "validation-failed", "station"},
		{"unknown tax class", put("steak", with(func(b apitest.Raw) { b["tax_class"] = "luxury" }), cur), 422, "validation-failed", "tax_class"},
		{"unknown group", put("steak", with(func(b apitest.Raw) { b["modifier_groups"] = []string{"nope"} }), cur), 422, "validation-failed", "modifier_groups[0]"},
		{"unknown member", put("steak", with(func(b apitest.Raw) { b["colour"] = "red" }), cur), 422, "validation-failed", "colour"},
		{"bad sku", put("bad$sku", good, apitest.Create), 422, "validation-failed", "sku"},
		{"malformed JSON", put("steak", `{"name":`, cur), 400, "bad-request", ""},
		{"group stale version", putGroup("sides", group(func(apitest.Raw) {}), apitest.IfMatch(sides.Version+1)), 412, "menu-version-conflict", ""},
		{"group max zero", putGroup("sides", group(func(b apitest.Raw) { b["max"] = 0 }), apitest.IfMatch(sides.Version)), 422, "validation-failed", "max"},
		{"group no options", putGroup("sides", group(func(b apitest.Raw) { b["options"] = []any{} }), apitest.IfMatch(sides.Version)), 422, "validation-failed", "options"},
		{"group negative option price", putGroup("sides", group(func(b apitest.Raw) {
			b["options"] = []any{map[string]any{"id": "x", "name": "X", "price_cents": -5}}
		}), apitest.IfMatch(sides.Version)), 422, "validation-failed", "options[0].price_cents"},
		{"group option unknown member", putGroup("sides", group(func(b apitest.Raw) {
			b["options"] = []any{map[string]any{"id": "x", "name": "X", "price_cents": 5, "colour": "red"}}
		}), apitest.IfMatch(sides.Version)), 422, "validation-failed", "options[0].colour"},
		{"group min over max", putGroup("sides", group(func(b apitest.Raw) { b["min"] = 5 }), apitest.IfMatch(sides.Version)), 422, "validation-failed", "min"},
		{"group no precondition", putGroup("sides", group(func(apitest.Raw) {}), nil), 428, "precondition-required", "If-Match"},
		{"availability empty", avail(f.Manager, "steak", apitest.Raw{}), 422, "validation-failed", "available"},
		{"availability until without 86", avail(f.Manager, "steak", apitest.Raw{"available": true, "until": past}), 422, "validation-failed", "until"},
		{"availability until past", avail(f.Manager, "steak", apitest.Raw{"available": false, "until": past}), 422, "validation-failed", "until"},
		{"availability until not a time", avail(f.Manager, "steak", apitest.Raw{"available": false, "until": "tonight"}), 422, "validation-failed", "until"},
		{"availability until past year 9999 in UTC", avail(f.Manager, "steak", apitest.Raw{"available": false, "until": "9999-12-31T23:59:59-12:00"}), 422, "validation-failed", "until"},
		{"availability negative remaining", avail(f.Kitchen, "steak", apitest.Raw{"remaining": -1}), 422, "validation-failed", "remaining"},
		{"availability remaining too high", avail(f.Kitchen, "steak", apitest.Raw{"remaining": order.MaxRemaining + 1}), 422, "validation-failed", "remaining"},
		{"availability remaining text", avail(f.Kitchen, "steak", apitest.Raw{"remaining": "six"}), 422, "validation-failed", "remaining"},
		{"availability unknown member", avail(f.Kitchen, "steak", apitest.Raw{"available": false, "why": "x"}), 422, "validation-failed", "why"},
		{"availability unknown item", avail(f.Kitchen, "nope", apitest.Raw{"available": false}), 404, "not-found", ""},
		{"kitchen may not PUT", func() apitest.Response { return f.Kitchen.TryPutItem("steak", good, cur) }, 403, "forbidden", ""},
		{"waiter may not PUT", func() apitest.Response { return f.Waiter.TryPutItem("steak", good, cur) }, 403, "forbidden", ""},
		{"waiter may not PUT groups", func() apitest.Response {
			return f.Waiter.TryPutGroup("sides", group(func(apitest.Raw) {}), apitest.IfMatch(sides.Version))
		}, 403, "forbidden", ""},
		{"auditor may not PUT", func() apitest.Response { return f.Auditor.TryPutItem("steak", good, cur) }, 403, "forbidden", ""},
		{"waiter may not 86", avail(f.Waiter, "steak", apitest.Raw{"available": false}), 403, "forbidden", ""},
		{"auditor may not 86", avail(f.Auditor, "steak", apitest.Raw{"available": false}), 403, "forbidden", ""},
		{"no token", func() apitest.Response { return f.As(t, "").TryPutItem("steak", good, cur) }, 401, "unauthorized", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, version, rows := f.Fingerprint(), menuVersion(t, f), menuLogRows(t, f)
			r := tc.send()
			if tc.field == "" {
				apitest.RequireProblem(t, r, tc.status, tc.kind)
			} else {
				apitest.RequireFieldProblem(t, r, tc.status, tc.kind, apitest.TopLevel, tc.field)
			}
			require.Equal(t, version, menuVersion(t, f), "menu version unchanged")
			require.Equal(t, rows, menuLogRows(t, f), "nothing logged")
			require.Equal(t, before, f.Fingerprint(), "nothing written")
		})
	}
	// The conflicts carry the entity as it is (null when there is none).
	var now order.MenuItem
	mc := apitest.RequireMenuConflict(t, f.Manager.TryPutItem("steak", good, apitest.IfMatch(steak.Version+1)), &now)
	require.Equal(t, steak, now)
	require.Equal(t, steak.Version, mc.CurrentVersion)
	require.EqualValues(t, steak.Version+1, *mc.ExpectedVersion)
	mc = apitest.RequireMenuConflict(t, f.Manager.TryPutItem("nope", good, apitest.IfMatch(1)), nil)
	require.Zero(t, mc.CurrentVersion)
}

// TestAvailability: the kitchen 86es an item (until a time, or for good),
// counts its portions and stops counting; each change that changes
// something bumps the menu version and the item's version, is one menu log
// row, and the next add_item sees it.
func TestAvailability(t *testing.T) {
	f := start(t)
	v0, rows := menuVersion(t, f), menuLogRows(t, f)
	until := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	it := f.Kitchen.SetAvailability("steak", apitest.Raw{"available": false, "until": until.Format(time.RFC3339)})
	require.False(t, it.Available)
	require.NotNil(t, it.UnavailableUntil)
	require.True(t, until.Equal(*it.UnavailableUntil))
	require.Equal(t, v0+1, it.Version)
	require.Equal(t, v0+1, menuVersion(t, f))
	require.Equal(t, rows+1, menuLogRows(t, f))

	o := f.Open("T5")
	p := apitest.RequireFieldProblem(t, f.Waiter.TryPatch(o.ID, 1, apitest.AddItem("steak", 1)), 409, "item-unavailable", 0, "sku")
	require.NotNil(t, p.UnavailableUntil)

	// The same 86 again changes nothing.
	again := f.Kitchen.SetAvailability("steak", apitest.Raw{"available": false, "until": until.Format(time.RFC3339)})
	require.Equal(t, it, again)
	require.Equal(t, rows+1, menuLogRows(t, f))

	it = f.Manager.SetAvailability("steak", apitest.Raw{"available": true, "remaining": 1})
	require.True(t, it.Available)
	require.Nil(t, it.UnavailableUntil)
	require.Equal(t, 1, *it.Remaining)
	o = f.Waiter.Patch(o.ID, 1, apitest.AddItem("steak", 1))
	p = apitest.RequireProblem(t, f.Waiter.TryPatch(o.ID, o.Version, apitest.AddItem("steak", 1)), 409, "sold-out")
	require.Equal(t, 0, *p.Remaining)

	it = f.Kitchen.SetAvailability("steak", apitest.Raw{"remaining": nil})
	require.Nil(t, it.Remaining, "null stops counting")
	require.True(t, it.Available, "remaining alone leaves availability as it is")
	f.Waiter.Patch(o.ID, o.Version, apitest.AddItem("steak", 1))
	require.Equal(t, rows+3, menuLogRows(t, f))
	res := f.Manager.Verify()
	require.True(t, res.OK, "%+v", res.Broken)
}

// TestLapsed86AvailableAgainChangesNothing: an 86 whose until has passed
// reads as available, so {"available": true}, or the portions it already
// has, is a write of what the item already is: 200 with the item as it
// is and nothing written (docs/API.md): no row change (the stored row
// keeps its lapsed until), no menu version, no menu log row, no message;
// verify still passes. A write that does change it is one change, whose
// log row has the item available before and after.
func TestLapsed86AvailableAgainChangesNothing(t *testing.T) {
	f := start(t)
	f.Kitchen.SetAvailability("steak", apitest.Raw{"remaining": 4})
	until := time.Now().Add(500 * time.Millisecond)
	f.Kitchen.SetAvailability("steak", apitest.Raw{"available": false, "until": until.UTC().Format(time.RFC3339Nano)})
	time.Sleep(time.Until(until) + 100*time.Millisecond)
	before := f.Manager.MenuDoc().Item(t, "steak")
	require.True(t, before.Available, "the 86 lapsed")
	require.Nil(t, before.UnavailableUntil)
	v0, rows, print := menuVersion(t, f), menuLogRows(t, f), f.Fingerprint()

	for _, body := range []apitest.Raw{{"available": true}, {"remaining": 4}, {"available": true, "remaining": 4}} {
		r := f.Kitchen.TrySetAvailability("steak", body)
		require.Equal(t, 200, r.Status, "%v: %s", body, r.Body)
		var got order.MenuItem
		r.JSON(t, &got)
		require.Equal(t, before, got, "%v answers the item as it is", body)
		require.Equal(t, strconv.FormatInt(v0, 10), r.Header.Get("Posd-Menu-Version"))
		require.Equal(t, rows, menuLogRows(t, f), "%v: a write of what the item is appended a menu log row", body)
		require.Equal(t, v0, menuVersion(t, f), "%v: a write of what the item is bumped the menu version", body)
		require.Equal(t, print, f.Fingerprint(), "%v: a write of what the item is wrote something", body)
	}
	res := f.Manager.Verify()
	require.True(t, res.OK, "%+v", res.Broken)

	it := f.Kitchen.SetAvailability("steak", apitest.Raw{"remaining": 3})
	require.Equal(t, v0+1, it.Version)
	require.Equal(t, rows+1, menuLogRows(t, f))
	rep := f.Auditor.Shift(time.Now().Add(-time.Minute), time.Now().Add(time.Minute))
	last := rep.MenuChanges[len(rep.MenuChanges)-1]
	require.Equal(t, []string{"remaining"}, last.Fields, "only the portions changed: the item was available before and after")
	res = f.Manager.Verify()
	require.True(t, res.OK, "%+v", res.Broken)
}

// TestConcurrentMenuEdits: two managers edit one item at once, from the
// same version, many times over (real goroutines behind a start barrier):
// every round exactly one wins, the other gets 412 with the winner's item
// as current, and each round adds exactly one menu version and one menu
// log row (invariant 1 for the menu).
func TestConcurrentMenuEdits(t *testing.T) {
	f := start(t)
	managers := []*apitest.Client{f.Manager, f.As(t, f.AddDevice("demo", "manager-2", order.RoleManager, "Max"))}
	const rounds = 25
	v0, rows0 := menuVersion(t, f), menuLogRows(t, f)
	for round := range rounds {
		steak := f.Manager.MenuDoc().Item(t, "steak")
		answers := make([]apitest.Response, len(managers))
		apitest.Race(len(managers), func(i int) {
			b := apitest.ItemBodyOf(steak)
			b.PriceCents = int64(3000 + 10*round + i)
			answers[i] = managers[i].TryPutItem("steak", b, apitest.IfMatch(steak.Version))
		})
		winner := -1
		for i, r := range answers {
			if r.Status == 200 {
				require.Equal(t, -1, winner, "round %d: two writes won against one version", round)
				winner = i
			}
		}
		require.NotEqual(t, -1, winner, "round %d: nobody won: %d %s / %d %s", round,
			answers[0].Status, answers[0].Body, answers[1].Status, answers[1].Body)
		var won order.MenuItem
		answers[winner].JSON(t, &won)
		require.EqualValues(t, 3000+10*round+winner, won.PriceCents)
		loser := answers[1-winner]
		var cur order.MenuItem
		apitest.RequireMenuConflict(t, loser, &cur)
		require.Equal(t, won, cur, "round %d: the loser sees the winner's item", round)
		require.Equal(t, `"`+strconv.FormatInt(won.Version, 10)+`"`, loser.Header.Get("ETag"))
		require.Equal(t, v0+int64(round)+1, menuVersion(t, f))
		require.Equal(t, won, f.Waiter.MenuDoc().Item(t, "steak"))
	}
	require.Equal(t, rows0+rounds, menuLogRows(t, f))
	require.True(t, f.Manager.Verify().OK)
}

// TestMenuChangeOnAnotherReplica: two posd replicas on one database. A
// manager changes a price on replica A; the very next add_item on replica
// B, sent right after A's answer, is charged the new price. The same for
// an 86, and for an option's price. B had the old menu cached (it had just
// served an add_item with it) (invariant 11).
func TestMenuChangeOnAnotherReplica(t *testing.T) {
	f := start(t)
	b := apitest.FixtureOf(t, f.Replica(t))
	o := f.Open("T6")
	for round := range 10 {
		// B caches the menu by using it.
		o = b.Waiter.Patch(o.ID, o.Version, apitest.AddItem("burger", 1))
		burger := f.Manager.MenuDoc().Item(t, "burger")
		body := apitest.ItemBodyOf(burger)
		body.PriceCents = int64(1700 + round)
		f.Manager.PutItem("burger", body, burger.Version)
		o = b.Waiter.Patch(o.ID, o.Version, apitest.AddItem("burger", 1))
		require.EqualValues(t, 1700+round, o.Lines[len(o.Lines)-1].UnitPriceCents, "round %d: replica B charged a stale price", round)
	}

	o = b.Waiter.Patch(o.ID, o.Version, apitest.AddItem("calamari", 1))
	f.Kitchen.SetAvailability("calamari", apitest.Raw{"available": false})
	apitest.RequireFieldProblem(t, b.Waiter.TryPatch(o.ID, o.Version, apitest.AddItem("calamari", 1)), 409, "item-unavailable", 0, "sku")

	sides := f.Manager.MenuDoc().Group(t, "sides")
	gb := apitest.GroupBodyOf(sides)
	gb.Options[1].PriceCents = 990
	require.Equal(t, 200, f.Manager.TryPutGroup("sides", gb, apitest.IfMatch(sides.Version)).Status)
	o = b.Waiter.Patch(o.ID, o.Version, apitest.AddItem("steak", 1, apitest.Choose("sides", gb.Options[1].ID)))
	require.EqualValues(t, 2400+990, o.Lines[len(o.Lines)-1].UnitPriceCents)
}

// TestStaleMenuCacheIsReplanned: even when no notification reaches a
// replica (here the price changes behind posd's back, as the superuser,
// with the menu version bumped but nothing notified), a write planned with
// its cached menu does not commit the old price: the write's own
// transaction sees the menu moved, and the write is planned again from a
// fresh read, once, as one event.
func TestStaleMenuCacheIsReplanned(t *testing.T) {
	f := start(t)
	o := f.Open("T7")
	o = f.Waiter.Patch(o.ID, 1, apitest.AddItem("salmon", 1)) // cached
	_, err := f.DB.Admin.Exec(context.Background(),
		`UPDATE menu_items SET price_cents = 2345, version = v.menu_version + 1 FROM venues v
		 WHERE v.id = 'demo' AND menu_items.venue_id = 'demo' AND sku = 'salmon';
		 UPDATE venues SET menu_version = menu_version + 1 WHERE id = 'demo'`)
	require.NoError(t, err)
	o = f.Waiter.Patch(o.ID, o.Version, apitest.AddItem("salmon", 1))
	require.EqualValues(t, 2345, o.Lines[1].UnitPriceCents)
	require.EqualValues(t, 3, o.Version, "one event for the re-planned write")
	require.EqualValues(t, 3, f.DB.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1", o.ID))
}

// TestMenuMessages: every menu change is published on pos.<venue>.menu
// through the outbox, with its log row's id as Nats-Msg-Id and the menu
// version in its headers; a subscriber receives each (DESIGN.md section 5
// and 9).
func TestMenuMessages(t *testing.T) {
	f := start(t)
	var mu sync.Mutex
	var got []map[string]any
	var headers []map[string][]string
	sub, err := f.NC.Subscribe("pos.demo.menu", func(m *nats.Msg) {
		var body map[string]any
		if json.Unmarshal(m.Data, &body) == nil {
			mu.Lock()
			got, headers = append(got, body), append(headers, m.Header)
			mu.Unlock()
		}
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, f.NC.Flush())

	steak := f.Manager.MenuDoc().Item(t, "steak")
	body := apitest.ItemBodyOf(steak)
	body.PriceCents = 2500
	changed := f.Manager.PutItem("steak", body, steak.Version)
	f.Kitchen.SetAvailability("fries", apitest.Raw{"available": false})
	apitest.Eventually(t, apitest.Wait, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 2
	}, "two menu messages on pos.demo.menu")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 2)
	require.Equal(t, "menu.changed", got[0]["type"])
	require.Equal(t, "item", got[0]["kind"])
	require.Equal(t, "steak", got[0]["entity_id"])
	require.EqualValues(t, changed.Version, got[0]["menu_version"])
	require.EqualValues(t, 2500, got[0]["after"].(map[string]any)["price_cents"])
	require.Equal(t, "Maria", got[0]["actor"].(map[string]any)["staff"])
	require.Equal(t, "availability", got[1]["kind"])
	require.Equal(t, false, got[1]["after"].(map[string]any)["available"])
	require.Equal(t, got[0]["id"], headers[0]["Nats-Msg-Id"][0])
	require.Equal(t, fmt.Sprint(changed.Version), headers[0]["Posd-Order-Version"][0])
	require.Equal(t, "menu.changed", headers[0]["Posd-Type"][0])
}

// TestShiftListsMenuChanges: the shift report (JSON and CSV) lists the
// shift's menu changes: who changed which price or availability, when,
// before and after.
func TestShiftListsMenuChanges(t *testing.T) {
	f := start(t)
	from := time.Now() // after the seed's own menu log rows
	steak := f.Manager.MenuDoc().Item(t, "steak")
	body := apitest.ItemBodyOf(steak)
	body.PriceCents = 2550
	f.Manager.PutItem("steak", body, steak.Version)
	f.Kitchen.SetAvailability("fries", apitest.Raw{"available": false})
	to := time.Now().Add(time.Minute)

	rep := f.Auditor.Shift(from, to)
	require.Len(t, rep.MenuChanges, 2)
	price, fries := rep.MenuChanges[0], rep.MenuChanges[1]
	require.Equal(t, "Maria", price.By)
	require.Equal(t, order.RoleManager, price.Role)
	require.Equal(t, "item", price.Kind)
	require.Equal(t, "steak", price.ID)
	require.Equal(t, []string{"price_cents"}, price.Fields)
	require.Contains(t, string(price.Before), `"price_cents":2400`)
	require.Contains(t, string(price.After), `"price_cents":2550`)
	require.Equal(t, "Kitchen", fries.By)
	require.Equal(t, "availability", fries.Kind)
	require.Equal(t, []string{"available"}, fries.Fields)
	require.True(t, price.At.After(from) && price.At.Before(to))

	r := f.Auditor.Get(apitest.ShiftPath(from, to) + "&format=csv")
	require.Equal(t, 200, r.Status)
	require.Contains(t, string(r.Body), "menu_change,")
	require.Contains(t, string(r.Body), ",steak,price_cents")
}

// TestShiftMenuChangesBounded: a shift with more menu changes than the
// report lists (1,000) lists the first 1,000 in log order and says how
// many there are (menu_changes_total), in JSON and in CSV (a menu_changes
// row whose count is the total) alike (DESIGN.md invariant 12).
func TestShiftMenuChangesBounded(t *testing.T) {
	f := start(t)
	const bound = 1000
	from := time.Now()
	for i := range bound + 2 {
		f.Kitchen.SetAvailability("steak", apitest.Raw{"remaining": i})
	}
	to := time.Now().Add(time.Minute)

	r := f.Auditor.Get(apitest.ShiftPath(from, to))
	require.Equal(t, 200, r.Status, string(r.Body))
	var rep struct {
		MenuChanges []struct {
			Seq   int64           `json:"seq"`
			After json.RawMessage `json:"after"`
		} `json:"menu_changes"`
		Total *int64 `json:"menu_changes_total"`
	}
	r.JSON(t, &rep)
	require.Equal(t, bound, len(rep.MenuChanges), "the report lists at most %d menu changes", bound)
	require.NotNil(t, rep.Total, "menu_changes_total says how many the shift has")
	require.EqualValues(t, bound+2, *rep.Total)
	for i, c := range rep.MenuChanges {
		require.Equal(t, rep.MenuChanges[0].Seq+int64(i), c.Seq, "the first changes, in log order")
		require.Contains(t, string(c.After), fmt.Sprintf(`"remaining":%d,`, i))
	}

	r = f.Auditor.Get(apitest.ShiftPath(from, to) + "&format=csv")
	require.Equal(t, 200, r.Status)
	rows, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
	require.NoError(t, err)
	count := slices.Index(rows[0], "count")
	sections := map[string]int{}
	var total string
	for _, row := range rows[1:] {
		sections[row[0]]++
		if row[0] == "menu_changes" {
			total = row[count]
		}
	}
	require.Equal(t, bound, sections["menu_change"])
	require.Equal(t, 1, sections["menu_changes"])
	require.Equal(t, strconv.Itoa(bound+2), total)
}

// TestMenuThatKeepsMovingIsRetryable: a write that finds the menu moved
// under every attempt (here a trigger bumps the menu version inside each
// attempt's own transaction) is refused 503 database-unavailable with
// Retry-After after a bounded number of re-plans, and writes nothing: never
// a stale price, never a 500.
func TestMenuThatKeepsMovingIsRetryable(t *testing.T) {
	f := start(t)
	o := f.Open("T8")
	_, err := f.DB.Admin.Exec(context.Background(), `
		CREATE FUNCTION test_bump_menu() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN UPDATE venues SET menu_version = menu_version + 1 WHERE id = NEW.venue_id; RETURN NEW; END $$;
		CREATE TRIGGER test_bump_menu AFTER UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION test_bump_menu();`)
	require.NoError(t, err)
	before := f.Fingerprint()
	r := f.Waiter.TryPatch(o.ID, 1, apitest.AddItem("steak", 1))
	apitest.RequireProblem(t, r, 503, "database-unavailable")
	require.NotEmpty(t, r.Header.Get("Retry-After"))
	require.Equal(t, before, f.Fingerprint(), "nothing written")
}

// TestVerifyNamesTaxChangedBehindTheLog: a tax rate and the service
// charge's rate changed in the database behind the menu log's back (posd's
// role may UPDATE both) fail GET /v1/audit/verify, naming the tax class,
// the rate found and the rate the menu log says, at the seed's last row
// (the one that logged the catalog); the service charge alone is named
// the same way.
func TestVerifyNamesTaxChangedBehindTheLog(t *testing.T) {
	f := start(t)
	require.True(t, f.Manager.Verify().OK)
	last := menuLogRows(t, f)
	_, err := f.DB.Admin.Exec(context.Background(),
		`UPDATE tax_classes SET rate_bps = 0 WHERE venue_id = 'demo' AND id = 'food';
		 UPDATE venues SET service_charge_rate_bps = 9000 WHERE id = 'demo'`)
	require.NoError(t, err)
	res := f.Auditor.Verify()
	require.False(t, res.OK, "verify passed a tax rate and a service charge changed behind the menu log's back")
	require.Equal(t, last, res.Broken.MenuSeq)
	require.Equal(t, `tax class "food" has another rate_bps than its last menu log row (0; the row says 1000)`+
		`: the menu was changed behind the menu log's back`, res.Broken.Reason)

	_, err = f.DB.Admin.Exec(context.Background(), `UPDATE tax_classes SET rate_bps = 1000 WHERE venue_id = 'demo' AND id = 'food'`)
	require.NoError(t, err)
	res = f.Manager.Verify()
	require.False(t, res.OK)
	require.Equal(t, last, res.Broken.MenuSeq)
	require.Equal(t, `the service charge has another rate_bps than its last menu log row (9000; the row says 1800)`+
		`: the menu was changed behind the menu log's back`, res.Broken.Reason)
}
