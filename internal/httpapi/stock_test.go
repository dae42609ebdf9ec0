package httpapi_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/seed"
)

// setStock sets an item's availability and remaining portions behind
// posd's back as the superuser, as a menu change does: the venue's menu
// version moves and the item takes it.
func setStock(t *testing.T, f *apitest.Fixture, sku string, available bool, until *time.Time, remaining *int) {
	t.Helper()
	menuChange(t, f, "available = $2, unavailable_until = $3, remaining = $4", sku, available, until, remaining)
}

// menuChange updates one demo item with set (its parameters from $2 on) as
// a menu change does: in one statement with the venue's menu version.
func menuChange(t *testing.T, f *apitest.Fixture, set, sku string, args ...any) {
	t.Helper()
	_, err := f.DB.Admin.Exec(context.Background(),
		`WITH v AS (UPDATE venues SET menu_version = menu_version + 1 WHERE id = 'demo' RETURNING menu_version)
		 UPDATE menu_items SET `+set+`, version = (SELECT menu_version FROM v) WHERE venue_id = 'demo' AND sku = $1`,
		append([]any{sku}, args...)...)
	require.NoError(t, err)
}

func remaining(t *testing.T, f *apitest.Fixture, sku string) int64 {
	t.Helper()
	return f.DB.Count(t, "SELECT remaining FROM menu_items WHERE venue_id = 'demo' AND sku = $1", sku)
}

// TestItemUnavailable: an add_item of an 86'd item is 409 item-unavailable
// naming the op and the sku, and writes nothing; an 86 with an end is
// orderable again from that time, and says when before it (DESIGN.md
// section 9). The database decides, in the write's transaction: the check
// does not depend on any replica's menu cache.
func TestItemUnavailable(t *testing.T) {
	f := start(t)
	o := f.Open("T4")
	before := f.Fingerprint()
	r := f.Waiter.TryPatch(o.ID, 1, apitest.AddItem("steak", 1), apitest.AddItem(seed.Demo86d, 1))
	p := apitest.RequireFieldProblem(t, r, 409, "item-unavailable", 1, "sku")
	require.Contains(t, p.Detail, seed.Demo86d)
	require.Nil(t, p.UnavailableUntil)
	require.Equal(t, before, f.Fingerprint(), "nothing written")

	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	setStock(t, f, seed.Demo86d, false, &until, nil)
	r = f.Waiter.TryPatch(o.ID, 1, apitest.AddItem(seed.Demo86d, 1))
	p = apitest.RequireFieldProblem(t, r, 409, "item-unavailable", 0, "sku")
	require.NotNil(t, p.UnavailableUntil)
	require.True(t, until.Equal(*p.UnavailableUntil))

	past := time.Now().Add(-time.Minute)
	setStock(t, f, seed.Demo86d, false, &past, nil)
	o = f.Waiter.Patch(o.ID, 1, apitest.AddItem(seed.Demo86d, 1))
	require.Equal(t, seed.Demo86d, o.Lines[0].SKU, "an 86 that has ended no longer refuses")

	// Back on the menu, then 86'd again: the very next write is refused,
	// whatever the menu cache still holds.
	setStock(t, f, seed.Demo86d, true, nil, nil)
	o = f.Waiter.Patch(o.ID, o.Version, apitest.AddItem(seed.Demo86d, 1))
	setStock(t, f, seed.Demo86d, false, nil, nil)
	apitest.RequireFieldProblem(t, f.Waiter.TryPatch(o.ID, o.Version, apitest.AddItem(seed.Demo86d, 1)), 409, "item-unavailable", 0, "sku")
	// Lines already on the order stay; other changes to it go on.
	o = f.Waiter.Patch(o.ID, o.Version, apitest.SetGuests(3))
	require.Len(t, o.Lines, 2)
}

// TestLastTwoFish: four waiters race for the last two portions of a
// counted item, many times over, with real goroutines behind a start
// barrier: every round exactly two get their line and two get 409 sold-out
// with remaining 0; remaining never goes below zero and every portion
// taken belongs to a live line (invariant 10). Removing a pending line and
// voiding a sent one give their portions back, and a set_qty takes or
// gives the difference.
func TestLastTwoFish(t *testing.T) {
	f := start(t)
	fish := seed.DemoCounted
	waiters := []*apitest.Client{f.Waiter, f.Waiter2, f.As(t, seed.TokenWaiter3), f.As(t, seed.TokenWaiter4)}
	orders := make([]order.Order, len(waiters))
	for i, w := range waiters {
		orders[i] = w.Open("T"+string(rune('5'+i)), 2)
	}
	const rounds = 25
	for round := 0; round < rounds; round++ {
		two := 2
		setStock(t, f, fish, true, nil, &two)
		var mu sync.Mutex
		won, sold := 0, 0
		apitest.Race(len(waiters), func(i int) {
			r := waiters[i].TryPatch(orders[i].ID, orders[i].Version, apitest.AddItem(fish, 1))
			mu.Lock()
			defer mu.Unlock()
			switch r.Status {
			case 200:
				won++
				orders[i] = r.Order(t)
			case 409:
				sold++
				p := r.Problem(t)
				require.Equal(t, "https://posd.dev/problems/sold-out", p.Type, string(r.Body))
				require.NotNil(t, p.Remaining)
				require.Zero(t, *p.Remaining)
			default:
				t.Errorf("round %d waiter %d: %d %s", round, i, r.Status, r.Body)
			}
		})
		require.Equal(t, 2, won, "round %d: exactly two fish sold", round)
		require.Equal(t, 2, sold, "round %d: two refusals", round)
		require.Zero(t, remaining(t, f, fish), "round %d", round)
	}
	require.EqualValues(t, 2*rounds, f.DB.Count(t,
		"SELECT coalesce(sum(qty), 0) FROM order_lines WHERE venue_id = 'demo' AND sku = $1 AND status <> 'voided'", fish),
		"every portion taken is on a live line")

	// Giving back: remove a pending fish, void a sent one, lower a line.
	zero := 0
	setStock(t, f, fish, true, nil, &zero)
	o := orders[0]
	var line order.Line
	for _, l := range o.Lines {
		if l.SKU == fish {
			line = l
		}
	}
	o = f.Waiter.Patch(o.ID, o.Version, apitest.Remove(line.ID))
	require.EqualValues(t, 1, remaining(t, f, fish), "remove_item gives the portion back")
	o = f.Waiter.Patch(o.ID, o.Version, apitest.AddItem(fish, 1))
	require.Zero(t, remaining(t, f, fish))
	r := f.Waiter.TryPatch(o.ID, o.Version, apitest.SetQty(o.Lines[len(o.Lines)-1].ID, 2))
	p := apitest.RequireFieldProblem(t, r, 409, "sold-out", 0, "sku")
	require.Zero(t, *p.Remaining)
	o = f.Waiter.Patch(o.ID, o.Version, apitest.Fire())
	var sent order.Line
	for _, l := range o.Lines {
		if l.SKU == fish {
			sent = l
		}
	}
	f.Manager.Patch(o.ID, o.Version, apitest.Void(sent.ID, "guest left"))
	require.EqualValues(t, 1, remaining(t, f, fish), "void_item gives the portion back")

	// An uncounted item is never limited.
	o2 := f.Waiter2.Patch(orders[1].ID, orders[1].Version, apitest.AddItem("steak", 99))
	require.Equal(t, 99, o2.Lines[len(o2.Lines)-1].Qty)
}

// TestMenuChangeReachesTheNextWrite: a write is planned on the replica's
// cached menu, but the database decides on the menu it has at commit (the
// write asserts the menu version it was planned on): right after a price
// change, an 86 or the start of counting, the very next add_item gets the
// new price, is refused, or takes a portion, however fresh the cache is.
func TestMenuChangeReachesTheNextWrite(t *testing.T) {
	f := start(t)
	o := f.Open("T4")
	o = f.Waiter.Patch(o.ID, o.Version, apitest.AddItem("caesar", 1)) // the menu is now cached
	price := o.Lines[0].UnitPriceCents

	menuChange(t, f, "price_cents = price_cents + 100", "caesar")
	o = f.Waiter.Patch(o.ID, o.Version, apitest.AddItem("caesar", 1))
	require.Equal(t, price+100, o.Lines[1].UnitPriceCents, "the new price, not the cached one")

	setStock(t, f, "caesar", false, nil, nil)
	apitest.RequireFieldProblem(t, f.Waiter.TryPatch(o.ID, o.Version, apitest.AddItem("caesar", 1)), 409, "item-unavailable", 0, "sku")

	one := 1
	setStock(t, f, "caesar", true, nil, &one)
	r := f.Waiter.TryPatch(o.ID, o.Version, apitest.AddItem("caesar", 2))
	apitest.RequireFieldProblem(t, r, 409, "sold-out", 0, "sku")
	o = f.Waiter.Patch(o.ID, o.Version, apitest.AddItem("caesar", 1))
	require.Zero(t, remaining(t, f, "caesar"), "the portion was taken")
	o = f.Waiter.Patch(o.ID, o.Version, apitest.Remove(o.Lines[2].ID))
	require.Equal(t, int64(1), remaining(t, f, "caesar"), "and given back")
}

// TestSetQtyOnAnEightySixedItem: raising a pending line of an item the
// kitchen has since 86'd sells more of it, and is refused as an add_item
// of it would be (409 item-unavailable naming the set_qty); lowering it is
// not.
func TestSetQtyOnAnEightySixedItem(t *testing.T) {
	f := start(t)
	o := f.Open("T5")
	o = f.Waiter.Patch(o.ID, o.Version, apitest.AddItem("steak", 2))
	line := apitest.LineOf(o, "steak")
	f.Kitchen.SetAvailability("steak", apitest.Raw{"available": false})
	before := f.Fingerprint()
	apitest.RequireFieldProblem(t, f.Waiter.TryPatch(o.ID, o.Version, apitest.SetNote("window"), apitest.SetQty(line, 9)),
		409, "item-unavailable", 1, "sku")
	require.Equal(t, before, f.Fingerprint(), "nothing written")
	o = f.Waiter.Patch(o.ID, o.Version, apitest.SetQty(line, 1))
	require.Equal(t, 1, o.Lines[0].Qty)
}

// TestPortionsOnlyFromTheLinesThatTookThem: a line gives back only the
// portions it took (DESIGN.md invariant 10: every taken portion belongs to
// a live line). A line added before the kitchen began counting took none;
// lowering or removing it must not add portions to the count, and raising
// it takes only the added quantity.
func TestPortionsOnlyFromTheLinesThatTookThem(t *testing.T) {
	f := start(t)
	o := f.Open("T5")
	o = f.Waiter.Patch(o.ID, o.Version, apitest.AddItem("steak", 2), apitest.AddItem("burger", 2))
	steak, burger := apitest.LineOf(o, "steak"), apitest.LineOf(o, "burger")
	three := 3
	f.Kitchen.SetAvailability("steak", apitest.Raw{"remaining": three})
	f.Kitchen.SetAvailability("burger", apitest.Raw{"remaining": three})

	o = f.Waiter.Patch(o.ID, o.Version, apitest.Remove(steak))
	require.EqualValues(t, 3, remaining(t, f, "steak"), "the steak line took no portion; removing it gave some back")

	o = f.Waiter.Patch(o.ID, o.Version, apitest.SetQty(burger, 4))
	require.EqualValues(t, 1, remaining(t, f, "burger"), "raising 2 → 4 takes the 2 added")
	require.Equal(t, 2, lineByID(t, o, burger).Portions)
	o = f.Waiter.Patch(o.ID, o.Version, apitest.SetQty(burger, 1))
	require.EqualValues(t, 2, remaining(t, f, "burger"), "lowering 4 → 1 keeps one of the two portions taken")
	require.Equal(t, 1, lineByID(t, o, burger).Portions)
	o = f.Waiter.Patch(o.ID, o.Version, apitest.Remove(burger))
	require.EqualValues(t, 3, remaining(t, f, "burger"), "the count is whole again")
	require.True(t, f.Manager.Verify().OK)
}

func lineByID(t *testing.T, o order.Order, id uuid.UUID) order.Line {
	t.Helper()
	for _, l := range o.Lines {
		if l.ID == id {
			return l
		}
	}
	t.Fatalf("no line %s on order %s", id, o.ID)
	return order.Line{}
}

// TestPortionsConservedUnderRace: four waiters add, raise, lower, remove
// and (through a manager) void lines of one counted item at once, on
// orders that also hold lines added before the kitchen began counting.
// Whatever the interleaving, a count is conserved (remaining plus the
// portions the live lines hold is what the kitchen counted), remaining
// never goes below zero, no line holds more portions than its quantity,
// and the lines the API answered with hold what the database says; audit
// verify replays every event. The model: a line holds what it took.
func TestPortionsConservedUnderRace(t *testing.T) {
	f := start(t)
	fish := seed.DemoCounted
	f.Kitchen.SetAvailability(fish, apitest.Raw{"remaining": nil}) // not counted: the first lines take nothing
	waiters := []*apitest.Client{f.Waiter, f.Waiter2, f.As(t, seed.TokenWaiter3), f.As(t, seed.TokenWaiter4)}
	orders := make([]order.Order, len(waiters))
	for i, w := range waiters {
		o := w.Open("T"+string(rune('5'+i)), 2)
		orders[i] = w.Patch(o.ID, o.Version, apitest.AddItem(fish, 2), apitest.AddItem(fish, 1))
	}
	const counted, rounds, steps = 12, 10, 12
	var mu sync.Mutex
	statuses := map[int]int{}
	seed0 := time.Now().UnixNano()
	t.Logf("seed %d", seed0)
	for round := 0; round < rounds; round++ {
		f.Kitchen.SetAvailability(fish, apitest.Raw{"remaining": counted}) // a recount: held portions stay held
		held := f.DB.Count(t, "SELECT coalesce(sum(portions), 0) FROM order_lines WHERE venue_id = 'demo' AND sku = $1", fish)
		apitest.Race(len(waiters), func(i int) {
			rng := rand.New(rand.NewPCG(uint64(seed0), uint64(round*len(waiters)+i)))
			for step := 0; step < steps; step++ {
				o := orders[i]
				var live []order.Line
				for _, l := range o.Lines {
					if l.Status != order.LineVoided {
						live = append(live, l)
					}
				}
				var r apitest.Response
				switch k := rng.IntN(5); {
				case k == 0 || len(live) == 0:
					r = waiters[i].TryPatch(o.ID, o.Version, apitest.AddItem(fish, 1+rng.IntN(3)))
				case k == 1:
					l := live[rng.IntN(len(live))]
					if l.Status != order.LinePending {
						continue
					}
					r = waiters[i].TryPatch(o.ID, o.Version, apitest.SetQty(l.ID, 1+rng.IntN(5)))
				case k == 2:
					l := live[rng.IntN(len(live))]
					if l.Status != order.LinePending {
						continue
					}
					r = waiters[i].TryPatch(o.ID, o.Version, apitest.Remove(l.ID))
				case k == 3:
					r = waiters[i].TryPatch(o.ID, o.Version, apitest.Fire())
				default:
					l := live[rng.IntN(len(live))]
					if l.Status != order.LineSent {
						continue
					}
					r = f.Manager.TryPatch(o.ID, o.Version, apitest.Void(l.ID, "spilled"))
				}
				mu.Lock()
				statuses[r.Status]++
				mu.Unlock()
				switch r.Status {
				case 200:
					orders[i] = r.Order(t)
				case 409:
					p := r.Problem(t)
					if p.Type != "https://posd.dev/problems/sold-out" {
						t.Errorf("waiter %d: %s", i, r.Body)
					}
				default:
					t.Errorf("waiter %d: %d %s", i, r.Status, r.Body)
				}
			}
		})
		left := remaining(t, f, fish)
		nowHeld := f.DB.Count(t, "SELECT coalesce(sum(portions), 0) FROM order_lines WHERE venue_id = 'demo' AND sku = $1", fish)
		require.GreaterOrEqual(t, left, int64(0))
		require.EqualValues(t, counted+held, left+nowHeld,
			"round %d: the kitchen counted %d with %d held; now %d left and %d held", round, counted, held, left, nowHeld)
		require.Zero(t, f.DB.Count(t, "SELECT count(*) FROM order_lines WHERE venue_id = 'demo' AND (portions > qty OR (status = 'voided' AND portions > 0))"))
		var answered int64
		for _, o := range orders {
			for _, l := range o.Lines {
				answered += int64(l.Portions)
			}
		}
		require.Equal(t, nowHeld, answered, "round %d: the answers hold what the database holds", round)
	}
	t.Logf("answers by status: %v", statuses)
	require.Greater(t, statuses[200], rounds*len(waiters)*steps/3, "most steps write")
	require.NotZero(t, statuses[409], "some adds find the count sold out")
	res := f.Manager.Verify()
	require.True(t, res.OK, "%+v", res)
}
