package order_test

import (
	"encoding/json"
	"errors"
	"math/rand"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
)

var menu = map[string]order.MenuItem{
	"steak": {SKU: "steak", Name: "Steak", PriceCents: 2400, Station: "grill"},
	"fries": {SKU: "fries", Name: "Fries", PriceCents: 500, Station: "fry"},
	"beer":  {SKU: "beer", Name: "Beer", PriceCents: 700, Station: "bar", TaxClass: "drinks"},
	"burger": {SKU: "burger", Name: "Burger", PriceCents: 1500, Station: "grill", TaxClass: "food",
		ModifierGroups: []string{"temp", "sides"}},
}

// groups: a required temperature and up to two priced sides (the burger's).
var groups = map[string]order.ModifierGroup{
	"temp": {ID: "temp", Name: "Temperature", Min: 1, Max: 1, Options: []order.ModifierOption{
		{ID: "rare", Name: "Rare"}, {ID: "mr", Name: "Medium rare"}}},
	"sides": {ID: "sides", Name: "Extra sides", Min: 0, Max: 2, Options: []order.ModifierOption{
		{ID: "truffle", Name: "Truffle fries", PriceCents: 450}, {ID: "salad", Name: "Side salad", PriceCents: 300}}},
}

func env() order.Env {
	return order.Env{Menu: menu, Groups: groups, Tables: map[string]bool{"T1": true, "T2": true, "T3": true}, Tenders: order.Tenders,
		NewID: func() uuid.UUID { return uuid.Must(uuid.NewV7()) }}
}

// randomOptions picks burger options that are often, but not always,
// within the groups' rules.
func randomOptions(r *rand.Rand) []order.LineOption {
	var opts []order.LineOption
	if r.Intn(6) > 0 {
		opts = append(opts, order.LineOption{Group: "temp", Option: []string{"rare", "mr"}[r.Intn(2)]})
	}
	for _, side := range []string{"truffle", "salad"} {
		if r.Intn(2) == 0 {
			opts = append(opts, order.LineOption{Group: "sides", Option: side})
		}
	}
	r.Shuffle(len(opts), func(i, j int) { opts[i], opts[j] = opts[j], opts[i] })
	return opts
}

func intp(v int) *int       { return &v }
func i64p(v int64) *int64   { return &v }
func strp(v string) *string { return &v }

// randomOp picks an op that is often, but not always, valid for o.
func randomOp(r *rand.Rand, o order.Order) order.Op {
	var line *uuid.UUID
	if len(o.Lines) > 0 && r.Intn(5) > 0 {
		id := o.Lines[r.Intn(len(o.Lines))].ID
		line = &id
	} else {
		id := uuid.New()
		line = &id
	}
	skus := []string{"steak", "fries", "beer", "burger"}
	switch r.Intn(11) {
	case 0, 1, 2:
		op := order.Op{Op: order.OpAddItem, SKU: skus[r.Intn(4)], Qty: intp(1 + r.Intn(3)), Course: intp(1 + r.Intn(2))}
		if op.SKU == "burger" {
			op.Options = randomOptions(r)
		}
		if r.Intn(3) == 0 {
			op.LineID = line
		}
		return op
	case 3:
		return order.Op{Op: order.OpSetQty, LineID: line, Qty: intp(1 + r.Intn(4))}
	case 4:
		return order.Op{Op: order.OpRemoveItem, LineID: line}
	case 5:
		return order.Op{Op: order.OpVoidItem, LineID: line, Reason: "r"}
	case 6:
		return order.Op{Op: order.OpCompItem, LineID: line, Reason: "r"}
	case 7:
		if r.Intn(2) == 0 {
			return order.Op{Op: order.OpSend}
		}
		return order.Op{Op: order.OpSend, Course: intp(1 + r.Intn(2))}
	case 8:
		return order.Op{Op: order.OpSetGuests, Guests: intp(1 + r.Intn(4))}
	case 9:
		return order.Op{Op: order.OpMoveTable, Table: []string{"T1", "T2", "T3"}[r.Intn(3)]}
	default:
		if r.Intn(3) == 0 {
			return order.Op{Op: order.OpClose}
		}
		return order.Op{Op: order.OpAddPayment, Tender: "card", AmountCents: i64p(int64(100 * (1 + r.Intn(50)))), TipCents: i64p(0)}
	}
}

// TestFoldReproducesPlan drives random PATCHes through Plan, keeps the events
// they would write, and checks that folding the events gives exactly the
// planned order after every step (invariant 3), that a planned change bumps
// the version by one, and that a refused PATCH leaves the order untouched.
func TestFoldReproducesPlan(t *testing.T) {
	for seed := int64(0); seed < 200; seed++ {
		r := rand.New(rand.NewSource(seed))
		at := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
		actor := order.Actor{Device: "d", Staff: "s", Role: order.RoleManager}
		id := uuid.New()
		open := order.Event{OrderID: id, Venue: "demo", Version: 1, Type: order.EventOpened, At: at, Actor: actor,
			Ops: []order.Op{order.OpenOp("T1", 2, nil)}}
		events := []order.Event{open}
		cur, err := order.Fold(events)
		require.NoError(t, err)
		for step := 0; step < 40 && cur.Status == order.StatusOpen; step++ {
			at = at.Add(time.Minute)
			ops := make([]order.Op, 1+r.Intn(3))
			for i := range ops {
				ops[i] = randomOp(r, cur)
			}
			before := cur.Clone()
			next, applied, err := order.Plan(cur, ops, at, env())
			require.Equal(t, before, cur, "Plan must not modify its input")
			if err != nil {
				var ve *order.ValidationError
				var ce *order.ClosedError
				var oe *order.OverpaymentError
				require.True(t, errors.As(err, &ve) || errors.As(err, &ce) || errors.As(err, &oe), "seed %d step %d: %v", seed, step, err)
				continue
			}
			if len(applied) == 0 {
				require.Equal(t, cur, next)
				continue
			}
			require.Equal(t, cur.Version+1, next.Version)
			// Round-trip the applied ops through JSON, as the log stores them.
			raw, err := json.Marshal(applied)
			require.NoError(t, err)
			var stored []order.Op
			require.NoError(t, json.Unmarshal(raw, &stored))
			events = append(events, order.Event{OrderID: id, Venue: "demo", Version: next.Version, Type: order.EventPatched,
				At: at, Actor: actor, Ops: stored})
			folded, err := order.Fold(events)
			require.NoError(t, err)
			require.Equal(t, next, folded, "seed %d step %d", seed, step)
			cur = next
		}
	}
}

func TestFoldRejectsGaps(t *testing.T) {
	id := uuid.New()
	evs := []order.Event{
		{OrderID: id, Version: 1, Ops: []order.Op{order.OpenOp("T1", 2, nil)}},
		{OrderID: id, Version: 3, Ops: []order.Op{{Op: order.OpSetGuests, Guests: intp(3)}}},
	}
	_, err := order.Fold(evs)
	require.Error(t, err)
	_, err = order.Fold(nil)
	require.ErrorIs(t, err, order.ErrNotFound)
}

func TestPlanRules(t *testing.T) {
	at := time.Now().UTC()
	o, err := order.Fold([]order.Event{{OrderID: uuid.New(), Version: 1, At: at, Ops: []order.Op{order.OpenOp("T1", 2, nil)}}})
	require.NoError(t, err)
	line := uuid.New()
	o, _, err = order.Plan(o, []order.Op{{Op: order.OpAddItem, SKU: "steak", LineID: &line}}, at, env())
	require.NoError(t, err)
	require.Equal(t, 1, o.Lines[0].Qty, "qty defaults to 1")
	require.Equal(t, 1, o.Lines[0].Course, "course defaults to 1")
	require.Equal(t, int64(2400), o.Totals.DueCents)

	_, _, err = order.Plan(o, []order.Op{{Op: order.OpClose}}, at, env())
	requireProblem(t, err, 0, "op")
	_, _, err = order.Plan(o, []order.Op{{Op: order.OpVoidItem, LineID: &line, Reason: "x"}}, at, env())
	requireProblem(t, err, 0, "line_id")
	_, _, err = order.Plan(o, []order.Op{{Op: order.OpSetGuests, Guests: intp(3)}, {Op: order.OpMoveTable, Table: "T9"}}, at, env())
	requireProblem(t, err, 1, "table")

	o, _, err = order.Plan(o, []order.Op{{Op: order.OpSend}, {Op: order.OpAddPayment, Tender: "cash", AmountCents: i64p(2400)}, {Op: order.OpClose}}, at, env())
	require.NoError(t, err)
	require.Equal(t, order.StatusClosed, o.Status)
	_, _, err = order.Plan(o, []order.Op{{Op: order.OpSetNote, Note: strp("x")}}, at, env())
	var closed *order.ClosedError
	require.ErrorAs(t, err, &closed)
}

func requireProblem(t *testing.T, err error, idx int, field string) {
	t.Helper()
	var ve *order.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Len(t, ve.Problems, 1)
	require.NotNil(t, ve.Problems[0].OpIndex)
	require.Equal(t, idx, *ve.Problems[0].OpIndex)
	require.Equal(t, field, ve.Problems[0].Field)
}

func TestDecodeAndValidate(t *testing.T) {
	raw := []json.RawMessage{
		json.RawMessage(`{"op":"add_item","sku":"steak","qty":2,"modifiers":["no onions"],"line_id":"0190b6a0-0000-7000-8000-000000000001"}`),
		json.RawMessage(`{"op":"send","course":2}`),
	}
	ops, err := order.DecodeOps(raw)
	require.NoError(t, err)
	require.Equal(t, 2, *ops[0].Qty)
	require.NoError(t, order.Validate(ops, order.RoleWaiter))

	_, err = order.DecodeOps([]json.RawMessage{json.RawMessage(`{"op":"add_item","sku":5,"color":"red"}`)})
	var ve *order.ValidationError
	require.ErrorAs(t, err, &ve)
	fields := []string{ve.Problems[0].Field, ve.Problems[1].Field}
	require.ElementsMatch(t, []string{"sku", "color"}, fields)

	ops, err = order.DecodeOps([]json.RawMessage{json.RawMessage(`{"op":"void_item","line_id":"0190b6a0-0000-7000-8000-000000000001","reason":"x"}`)})
	require.NoError(t, err)
	var fe *order.ForbiddenOpError
	require.ErrorAs(t, order.Validate(ops, order.RoleWaiter), &fe)
	require.NoError(t, order.Validate(ops, order.RoleManager))
}

func TestAddItemOpAlwaysCarriesModifiers(t *testing.T) {
	raw, err := json.Marshal(order.Op{Op: order.OpAddItem, SKU: "steak"})
	require.NoError(t, err)
	require.JSONEq(t, `{"op":"add_item","sku":"steak","modifiers":[]}`, string(raw))
	raw, err = json.Marshal(order.Op{Op: order.OpAddItem, SKU: "steak", Modifiers: []string{"rare"}})
	require.NoError(t, err)
	require.JSONEq(t, `{"op":"add_item","sku":"steak","modifiers":["rare"]}`, string(raw))
	raw, err = json.Marshal(order.Op{Op: order.OpSend})
	require.NoError(t, err)
	require.JSONEq(t, `{"op":"send"}`, string(raw))
}

func TestSendOfACourseWithNothingPendingNamesTheCourse(t *testing.T) {
	at := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
	o, err := order.Fold([]order.Event{{OrderID: uuid.New(), Venue: "demo", Version: 1, Type: order.EventOpened, At: at,
		Actor: order.Actor{Device: "d", Staff: "s", Role: order.RoleWaiter}, Ops: []order.Op{order.OpenOp("T1", 2, nil)}}})
	require.NoError(t, err)
	o, _, err = order.Plan(o, []order.Op{{Op: order.OpAddItem, SKU: "steak", Course: intp(1)}}, at, env())
	require.NoError(t, err)
	_, _, err = order.Plan(o, []order.Op{{Op: order.OpSend, Course: intp(2)}}, at, env())
	var ve *order.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "course", ve.Problems[0].Field)
	require.Contains(t, ve.Problems[0].Detail, "course 2 has no pending lines")
	// Without a course, a send with nothing pending changes nothing (200).
	o, _, err = order.Plan(o, []order.Op{{Op: order.OpSend}}, at, env())
	require.NoError(t, err)
	next, applied, err := order.Plan(o, []order.Op{{Op: order.OpSend}}, at, env())
	require.NoError(t, err)
	require.Empty(t, applied)
	require.Equal(t, o, next)
}
