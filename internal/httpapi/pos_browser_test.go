package httpapi_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/seed"
)

// The waiter's handheld (/pos) driven in real Chromium processes against
// the whole stack, each browser a device of its own (its own profile, so
// its own localStorage), used as a waiter uses it: typing the token, tapping
// tables, menu items and buttons. What happened is checked through the API.

// Viewports: a small phone and a tablet.
const (
	phoneW, phoneH   = 360, 740
	tabletW, tabletH = 1024, 768
)

// handheld is one paired device showing /pos.
type handheld struct {
	*browser
	f *apitest.Fixture
}

// openPOS opens baseURL/pos in a fresh browser of the given viewport, types
// the device token and taps Pair, and waits for the floor.
func openPOS(t *testing.T, f *apitest.Fixture, baseURL, token string, width, height int64) *handheld {
	t.Helper()
	h := &handheld{browser: openBrowser(t, baseURL+"/pos", width, height), f: f}
	h.onFail = func() string {
		return h.eval(`JSON.stringify({screen: document.body.dataset.screen, net: document.querySelector('#net').dataset,
			toast: document.querySelector('#toast').hidden ? '' : document.querySelector('#toast').textContent,
			merge: document.querySelector('#merge').hidden ? '' : document.querySelector('#merge').innerText,
			queue: localStorage.getItem('posd.pos.queue'), drafts: localStorage.getItem('posd.pos.drafts'),
			order: document.querySelector('#order').dataset, lines: [...document.querySelectorAll('.line')].map(l => l.innerText)})`)
	}
	h.waitFor("the pairing screen", `document.body.dataset.screen === 'pair'`)
	h.do(chromedp.SendKeys(chromedp.CSS("#tokenin"), token))
	h.press("#pairbtn")
	h.waitFor("the floor", `document.body.dataset.screen === 'floor' && !!document.querySelector('#tables button[data-table="T1"]')`)
	return h
}

// tapTable taps a table on the floor and waits for its order screen.
func (h *handheld) tapTable(table string) {
	h.t.Helper()
	if h.eval(`document.body.dataset.screen`) != "floor" {
		h.press("#back")
	}
	h.press(fmt.Sprintf(`#tables button[data-table=%q]`, table))
	h.waitFor("table "+table+"'s order", fmt.Sprintf(`document.body.dataset.screen === 'order' && document.querySelector('#otitle').textContent.startsWith('Table %s')`, table))
}

// openOrder taps an occupied table and waits until its order is read at
// least at version.
func (h *handheld) openOrder(table string, version int64) {
	h.t.Helper()
	h.tapTable(table)
	h.waitFor(fmt.Sprintf("version %d of %s", version, table), fmt.Sprintf(
		`document.querySelector('#order').dataset.loaded === '1' && +document.querySelector('#order').dataset.version >= %d`, version))
}

// order taps an item: its category's tab, then the item; an item with
// modifier groups opens the options sheet, where qty is set with + and
// options are tapped before Add.
func (h *handheld) order(sku string, qty int, options ...string) {
	h.t.Helper()
	it := h.f.Waiter.MenuDoc().Item(h.t, sku)
	h.press(fmt.Sprintf(`#cats button[data-cat=%q]`, it.Category))
	h.press(fmt.Sprintf(`#menu button[data-sku=%q]`, sku))
	if len(it.ModifierGroups) == 0 {
		for range qty - 1 {
			h.press(fmt.Sprintf(`#menu button[data-sku=%q]`, sku))
		}
		return
	}
	h.waitFor("the options sheet", `!document.querySelector('#optsheet').hidden`)
	for _, o := range options {
		h.press(fmt.Sprintf(`#opt-groups button[data-option=%q]`, o))
	}
	for range qty - 1 {
		h.press("#opt-plus")
	}
	h.press("#opt-add")
	h.waitFor("the sheet to close", `document.querySelector('#optsheet').hidden`)
}

// save taps Save.
func (h *handheld) save() {
	h.t.Helper()
	h.waitFor("something to save", `!document.querySelector('#save').disabled`)
	h.press("#save")
}

// waitSent waits until nothing is queued and no merge is open.
func (h *handheld) waitSent() {
	h.t.Helper()
	h.waitFor("every write answered", `document.querySelector('#net').dataset.queue === '0' && document.querySelector('#merge').hidden`)
}

func (h *handheld) merges() string { return h.eval(`document.body.dataset.merges`) }

// linesOf is the order's live lines as "qty×sku".
func linesOf(o order.Order) []string {
	out := []string{}
	for _, l := range o.Lines {
		if l.Status != "voided" {
			out = append(out, fmt.Sprintf("%d×%s", l.Qty, l.SKU))
		}
	}
	slices.Sort(out)
	return out
}

// addedSKUs is every add_item of the order's events, in version order.
func addedSKUs(f *apitest.Fixture, id uuid.UUID) []string {
	f.T.Helper()
	out := []string{}
	for _, ev := range f.Waiter.Events(id, 0).Events {
		for _, op := range ev.Ops {
			if op.Op == "add_item" {
				out = append(out, op.SKU)
			}
		}
	}
	return out
}

// TestPOSTwoHandheldsMergeOnce: two waiters' handhelds on one table. Alice
// adds two steaks and saves; Bruno, still on the version before, adds fries
// and saves: his handheld shows the merge screen once, saying in words what
// Alice changed, and one tap on "Apply my changes to the latest" puts his
// fries on the order next to her steaks.
func TestPOSTwoHandheldsMergeOnce(t *testing.T) {
	needChromium(t)
	f := start(t)
	o := f.Open("T3")
	a := openPOS(t, f, f.BaseURL, seed.TokenWaiter1, phoneW, phoneH)
	b := openPOS(t, f, f.BaseURL, seed.TokenWaiter2, phoneW, phoneH)
	a.openOrder("T3", 1)
	b.openOrder("T3", 1)

	// Bruno has fries in his draft, on version 1, when Alice saves.
	b.order("fries", 1)
	a.order("steak", 2)
	a.save()
	a.waitSent()
	require.Equal(t, []string{"2×steak"}, linesOf(f.Waiter.Order(o.ID)))

	b.save()
	b.waitFor("the merge screen", `!document.querySelector('#merge').hidden`)
	theirs := b.eval(`document.querySelector('#merge-theirs').innerText`)
	require.Contains(t, theirs, "+2 Steak frites, seat 1 (Alice, ")
	require.Contains(t, b.eval(`document.querySelector('#merge-mine').innerText`), "+1 Fries, seat 1")
	result := b.eval(`document.querySelector('#merge-result').innerText`)
	require.Contains(t, result, "2 × Steak frites")
	require.Contains(t, result, "1 × Fries")
	require.Equal(t, []string{"2×steak"}, linesOf(f.Waiter.Order(o.ID)), "nothing of Bruno's is written before he taps")
	b.press("#merge-apply")
	b.waitSent()

	got := f.Waiter.Order(o.ID)
	require.Equal(t, []string{"1×fries", "2×steak"}, linesOf(got))
	require.EqualValues(t, 3, got.Version)
	require.Equal(t, "1", b.merges(), "the merge screen was shown exactly once")
	require.Equal(t, "0", a.merges())
	evs := f.Waiter.Events(o.ID, 1).Events
	require.Equal(t, "Alice", evs[0].Actor.Staff)
	require.Equal(t, "Bruno", evs[1].Actor.Staff)
	b.waitFor("Bruno's screen shows both", `document.querySelectorAll('.line').length === 2 && +document.querySelector('#order').dataset.version === 3`)
	a.noExceptions()
	b.noExceptions()
}

// TestPOSDraftReloadSoldOutAndOverwrite: a table opened on the handheld; a
// draft survives a reload and is then saved; a sold-out refusal says so in
// words and keeps the draft; a manager's "Overwrite anyway" asks first,
// naming the colleague's change it overwrites, and writes a forced event.
func TestPOSDraftReloadSoldOutAndOverwrite(t *testing.T) {
	needChromium(t)
	f := start(t)
	a := openPOS(t, f, f.BaseURL, seed.TokenWaiter1, phoneW, phoneH)

	// Open T5 on the handheld.
	a.tapTable5Open()
	open := f.Waiter.Orders("?status=open&table=T5").Orders
	require.Len(t, open, 1)
	id := open[0].ID

	// A draft survives a reload.
	a.order(seed.DemoRequiredOptions, 1, "mr")
	a.order("beer", 2)
	a.waitFor("two unsaved lines", `document.querySelectorAll('.line[data-draft="1"]').length === 2`)
	a.do(chromedp.Reload())
	a.waitFor("the order again after the reload", `document.body.dataset.screen === 'order' && document.querySelectorAll('.line[data-draft="1"]').length === 2`)
	require.Contains(t, a.eval(`document.querySelector('#lines').innerText`), "Medium rare")
	require.EqualValues(t, 1, f.Waiter.Order(id).Version, "nothing sent before Save")
	a.save()
	a.waitSent()
	require.Equal(t, []string{"1×ribeye", "2×beer"}, linesOf(f.Waiter.Order(id)))

	// Sold out: one portion of fries left, the waiter asks for two.
	f.Manager.SetAvailability("fries", map[string]any{"remaining": 1})
	a.order("fries", 2)
	a.save()
	a.waitFor("the sold-out message", `!document.querySelector('#toast').hidden && document.querySelector('#toast').dataset.kind === 'sold-out'`)
	require.Contains(t, a.eval(`document.querySelector('#toast').textContent`), "Fries is sold out: 1 left")
	require.NotContains(t, a.eval(`document.querySelector('#toast').textContent`), "409")
	a.waitFor("the fries kept in the draft", `!!document.querySelector('.line[data-draft="1"][data-sku="fries"]')`)
	require.EqualValues(t, 2, f.Waiter.Order(id).Version)
	a.press(`.line[data-sku="fries"] [data-action="minus"]`)
	a.save()
	a.waitSent()
	require.Equal(t, []string{"1×fries", "1×ribeye", "2×beer"}, linesOf(f.Waiter.Order(id)))

	// The manager's handheld is on version 3 and has an espresso in its
	// draft; Alice (through the API) adds a lemonade; the manager saves
	// and overwrites.
	m := openPOS(t, f, f.BaseURL, seed.TokenManager, phoneW, phoneH)
	m.openOrder("T5", 3)
	m.order("espresso", 1)
	f.Waiter.Patch(id, 3, apitest.AddItem("lemonade", 1, apitest.Seat(2)))
	m.save()
	m.waitFor("the merge screen", `!document.querySelector('#merge').hidden && !document.querySelector('#merge-force').hidden`)
	m.press("#merge-force")
	m.waitFor("the confirmation", `!document.querySelector('#confirm').hidden`)
	confirm := m.eval(`document.querySelector('#confirm').innerText`)
	require.Contains(t, confirm, "+1 Lemonade, seat 2 (Alice, ")
	require.Contains(t, confirm, "version 4")
	require.EqualValues(t, 4, f.Waiter.Order(id).Version, "nothing written before the confirmation")
	m.press("#confirm-ok")
	m.waitSent()
	evs := f.Manager.Events(id, 4).Events
	require.Len(t, evs, 1)
	require.True(t, evs[0].Forced, "the overwrite is a forced event")
	require.Equal(t, "Maria", evs[0].Actor.Staff)
	require.Equal(t, "espresso", evs[0].Ops[0].SKU)
	// A waiter has no overwrite.
	require.Equal(t, "true", a.eval(`String(document.querySelector('#merge-force').hidden)`))
	a.noExceptions()
	m.noExceptions()
}

// tapTable5Open opens the free table T5 for 2 from the floor.
func (h *handheld) tapTable5Open() {
	h.t.Helper()
	h.press(`#tables button[data-table="T5"][data-state="free"]`)
	h.waitFor("the open dialog", `!document.querySelector('#openbox').hidden`)
	h.press("#open-ok")
	h.waitFor("T5 opened", `document.body.dataset.screen === 'order' && +document.querySelector('#order').dataset.version === 1`)
}

// TestPOSOfflineEditsReplayInOrder: the handheld loses its network; three
// saves on two tables are kept and shown as waiting; when the network is
// back each reaches posd exactly once, in the order they were made, and the
// token never appears in a URL.
func TestPOSOfflineEditsReplayInOrder(t *testing.T) {
	needChromium(t)
	f := start(t)
	o1, o2 := f.Open("T1"), f.Open("T2")
	proxy := newTabletProxy(t, f.BaseURL)
	h := openPOS(t, f, proxy.URL, seed.TokenWaiter1, phoneW, phoneH)
	h.openOrder("T1", 1)
	h.press("#back")
	h.openOrder("T2", 1)
	h.press("#back")

	proxy.cut()
	h.openOrder("T1", 1)
	h.order("beer", 1)
	h.save()
	h.waitFor("offline shown", `document.querySelector('#net').dataset.state === 'offline'`)
	require.Contains(t, h.eval(`document.querySelector('#net').innerText`), "Offline")
	h.openOrder("T2", 1)
	h.order("espresso", 1)
	h.save()
	h.openOrder("T1", 1)
	h.order("lemonade", 1)
	h.save()
	h.waitFor("three writes waiting", `document.querySelector('#net').dataset.queue === '3'`)
	require.EqualValues(t, 1, f.Waiter.Order(o1.ID).Version)
	require.EqualValues(t, 1, f.Waiter.Order(o2.ID).Version)
	require.Len(t, proxy.sent(), 0)

	proxy.restore()
	h.waitFor("online again", `document.querySelector('#net').dataset.state === 'online'`)
	h.waitSent()
	require.Equal(t, []string{"beer", "lemonade"}, addedSKUs(f, o1.ID))
	require.Equal(t, []string{"espresso"}, addedSKUs(f, o2.ID))
	e1 := f.Waiter.Events(o1.ID, 1).Events
	e2 := f.Waiter.Events(o2.ID, 1).Events
	require.Len(t, e1, 2)
	require.Len(t, e2, 1)
	require.True(t, e1[0].At.Before(e2[0].At) && e2[0].At.Before(e1[1].At), "replayed in the order made: %v %v %v", e1[0].At, e2[0].At, e1[1].At)
	keys := map[string]int{}
	for _, w := range proxy.sent() {
		keys[w.Key]++
		require.NotEmpty(t, w.Key, "every write has an Idempotency-Key")
	}
	require.Len(t, keys, 3)
	for _, u := range proxy.seenURLs() {
		require.NotContains(t, u, seed.TokenWaiter1, "the token is never in a URL")
	}
	h.noExceptions()
}

// TestPOSLostAnswerRetriedOnce: posd commits the save but the answer is
// lost on the way (twice); the handheld sends the same request with the
// same Idempotency-Key again, the stored answer counts as success, and the
// order has one line, not two.
func TestPOSLostAnswerRetriedOnce(t *testing.T) {
	needChromium(t)
	f := start(t)
	o := f.Open("T6")
	proxy := newTabletProxy(t, f.BaseURL)
	h := openPOS(t, f, proxy.URL, seed.TokenWaiter1, phoneW, phoneH)
	h.openOrder("T6", 1)
	h.order("salmon", 1)
	proxy.dropAnswers.Store(2)
	h.save()
	h.waitSent()
	h.waitFor("the saved line shown", `document.querySelectorAll('.line').length === 1 && !document.querySelector('.line[data-draft], .line[data-queued]') && +document.querySelector('#order').dataset.version === 2`)
	require.Equal(t, "online", h.eval(`document.querySelector('#net').dataset.state`))
	got := f.Waiter.Order(o.ID)
	require.Equal(t, []string{"1×salmon"}, linesOf(got))
	require.EqualValues(t, 2, got.Version)
	w := proxy.sent()
	require.GreaterOrEqual(t, len(w), 3, "two lost answers, then the one that arrived: %+v", w)
	for _, x := range w {
		require.Equal(t, w[0].Key, x.Key, "every retry is the same request: %+v", w)
	}
	require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1 AND version = 2", o.ID))
	h.noExceptions()
}

// TestPOSBanquetFourHandhelds: four waiters add to one banquet table at
// once, twice; each conflict is resolved on the merge screen with one tap;
// every item tapped is on the order, none twice.
func TestPOSBanquetFourHandhelds(t *testing.T) {
	needChromium(t)
	f := start(t)
	o := f.Open("T20")
	tokens := []string{seed.TokenWaiter1, seed.TokenWaiter2, seed.TokenWaiter3, seed.TokenWaiter4}
	rounds := [][]string{{"salmon", "chicken", "calamari", "beer"}, {"caesar", "espresso", "mousse", "lemonade"}}
	hs := make([]*handheld, len(tokens))
	var wg sync.WaitGroup
	for i, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hs[i] = openPOS(t, f, f.BaseURL, tok, phoneW, phoneH)
		}()
	}
	wg.Wait()
	want := []string{}
	version := int64(1)
	for _, round := range rounds {
		for i, h := range hs {
			h.openOrder("T20", version)
			h.order(round[i], 1)
		}
		// All four tap Save at once.
		apitest.Race(len(hs), func(i int) { hs[i].press("#save") })
		// Each resolves what conflicts on the merge screen.
		deadline := time.Now().Add(45 * time.Second)
		for done := 0; done < len(hs); {
			require.True(t, time.Now().Before(deadline), "the handhelds did not settle")
			done = 0
			for _, h := range hs {
				switch h.eval(`document.querySelector('#merge').hidden ? (document.querySelector('#net').dataset.queue === '0' ? 'done' : 'busy') : 'merge'`) {
				case "merge":
					h.press("#merge-apply")
				case "done":
					done++
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		want = append(want, round...)
		version += int64(len(round))
		require.EqualValues(t, version, f.Waiter.Order(o.ID).Version)
		for _, h := range hs {
			h.press("#back")
		}
	}
	got := addedSKUs(f, o.ID)
	slices.Sort(got)
	slices.Sort(want)
	require.Equal(t, want, got, "every tapped item once")
	require.Len(t, linesOf(f.Waiter.Order(o.ID)), len(want))
	for _, h := range hs {
		h.noExceptions()
	}
}

// TestPOSPhoneAndTabletLayout: on a 360×740 phone nothing scrolls sideways
// and every control is at least 44 px square (floor, order screen, options
// sheet, merge screen); on a tablet the floor shows every table in several
// columns. The page is served with a strict CSP, loads no inline script or
// style, links its manifest and registers its service worker on this
// (localhost) origin, which serves the shell but never an API answer.
func TestPOSPhoneAndTabletLayout(t *testing.T) {
	needChromium(t)
	f := start(t)
	o := f.Open("T2")
	f.Waiter.Patch(o.ID, 1, apitest.AddItem("steak", 2, apitest.Seat(1)), apitest.AddItem("fries", 1, apitest.Seat(2), apitest.Course(2)), apitest.Fire())

	r := f.Waiter.Get("/pos")
	require.Equal(t, 200, r.Status)
	csp := r.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "script-src 'self'")
	require.Contains(t, csp, "style-src 'self'")
	require.NotContains(t, csp, "unsafe-inline")
	page := string(r.Body)
	require.NotContains(t, page, "style=")
	require.NotRegexp(t, `<script(?:\s[^>]*)?>[^<]`, page, "no inline script")
	require.Equal(t, "/pos", f.Waiter.Get("/pos/sw.js").Header.Get("Service-Worker-Allowed"))

	const fits = `(() => {
		const bad = [];
		if (document.documentElement.scrollWidth > window.innerWidth) bad.push('scrolls sideways: ' + document.documentElement.scrollWidth);
		for (const n of document.querySelectorAll('button, input')) {
			const r = n.getBoundingClientRect();
			if (r.width === 0 && r.height === 0) continue; // not shown
			if (r.width < 44 || r.height < 44) bad.push((n.id || n.dataset.sku || n.dataset.table || n.textContent) + ' ' + r.width + '×' + r.height);
			if (r.right > window.innerWidth + 0.5) bad.push((n.id || n.textContent) + ' off screen');
		}
		return bad.join('; ');
	})()`
	h := openPOS(t, f, f.BaseURL, seed.TokenManager, phoneW, phoneH)
	require.Empty(t, h.eval(fits), "floor")
	h.openOrder("T2", 2)
	h.waitFor("the lines", `document.querySelectorAll('.line').length === 2`)
	require.Empty(t, h.eval(fits), "order screen")
	require.Contains(t, h.eval(`document.querySelector('#lines').innerText`), "Course 2")
	h.press(`#cats button[data-cat="mains"]`)
	h.press(`#menu button[data-sku="ribeye"]`)
	h.waitFor("the options sheet", `!document.querySelector('#optsheet').hidden`)
	require.Empty(t, h.eval(fits), "options sheet")
	require.Equal(t, "true", h.eval(`String(document.querySelector('#opt-add').disabled)`), "the temperature is required")
	h.press(`#opt-groups button[data-option="rare"]`)
	require.Equal(t, "false", h.eval(`String(document.querySelector('#opt-add').disabled)`))
	h.press("#opt-add")
	f.Waiter.Patch(o.ID, 2, apitest.AddItem("beer", 1))
	h.save()
	h.waitFor("the merge screen", `!document.querySelector('#merge').hidden`)
	require.Empty(t, h.eval(fits), "merge screen")
	h.press("#merge-apply")
	h.waitSent()

	apitest.Eventually(t, 15*time.Second, func() bool {
		return h.evalAwait(`navigator.serviceWorker.getRegistration('/pos').then(r => String(!!r && !!r.active))`) == "true" &&
			h.evalAwait(`caches.open('posd-pos-shell-v1').then(c => c.match('/pos')).then(r => String(!!r))`) == "true"
	}, "the service worker active and the shell cached")
	require.Equal(t, "/pos/assets/manifest.json", h.eval(`document.querySelector('link[rel=manifest]').getAttribute('href')`))
	require.Equal(t, "true", h.evalAwait(`caches.keys().then(ks => Promise.all(ks.map(k => caches.open(k).then(c => c.keys())))).then(l => String(l.flat().every(r => !new URL(r.url).pathname.startsWith('/v1/'))))`),
		"no API answer in any cache")

	tab := openPOS(t, f, f.BaseURL, seed.TokenWaiter1, tabletW, tabletH)
	require.Equal(t, "30", tab.eval(`String(document.querySelectorAll('#tables button[data-table]').length)`))
	require.Equal(t, "occupied", tab.eval(`document.querySelector('#tables button[data-table="T2"]').dataset.state`))
	require.Contains(t, tab.eval(`document.querySelector('#tables button[data-table="T2"]').innerText`), "Alice")
	require.Equal(t, "true", tab.eval(`String(new Set([...document.querySelectorAll('#tables button')].slice(0, 8).map(b => b.getBoundingClientRect().top)).size < 8)`), "tables in several columns")
	require.Empty(t, tab.eval(fits), "tablet floor")
	tab.openOrder("T2", 3)
	require.Empty(t, tab.eval(fits), "tablet order screen")
	require.True(t, strings.Contains(tab.eval(`document.querySelector('#ometa').textContent`), "Alice"))
	h.noExceptions()
	tab.noExceptions()
}

// TestPOSCoursesPaymentAndClose: a whole table on the handheld. The waiter
// opens T9, orders on two courses, sends course 1 (only its lines go to the
// kitchen), then course 2, takes the payment of what is due and closes: the
// table is free again. A manager voids a sent line, with a reason.
func TestPOSCoursesPaymentAndClose(t *testing.T) {
	needChromium(t)
	f := start(t)
	h := openPOS(t, f, f.BaseURL, seed.TokenManager, phoneW, phoneH)
	h.press(`#tables button[data-table="T9"][data-state="free"]`)
	h.waitFor("the open dialog", `!document.querySelector('#openbox').hidden`)
	h.press("#guests-plus")
	h.press("#open-ok")
	h.waitFor("T9 opened", `document.body.dataset.screen === 'order' && +document.querySelector('#order').dataset.version === 1`)
	id := f.Waiter.Orders("?status=open&table=T9").Orders[0].ID
	require.Equal(t, 3, f.Waiter.Order(id).Guests)

	h.order("caesar", 1)
	h.press("#seat-plus")
	h.order("tartare", 1)
	h.press(`#courses button[data-course="2"]`)
	h.order("chicken", 2)
	h.save()
	h.waitSent()
	o := f.Waiter.Order(id)
	require.Len(t, o.Lines, 3)
	seats := map[string]int{}
	courses := map[string]int{}
	for _, l := range o.Lines {
		seats[l.SKU], courses[l.SKU] = l.Seat, l.Course
	}
	require.Equal(t, map[string]int{"caesar": 1, "tartare": 2, "chicken": 2}, seats)
	require.Equal(t, map[string]int{"caesar": 1, "tartare": 1, "chicken": 2}, courses)

	h.press(`#sends button[data-send="1"]`)
	h.waitSent()
	h.waitFor("course 1 sent", `document.querySelectorAll('.line[data-status="sent"]').length === 2`)
	for _, l := range f.Waiter.Order(id).Lines {
		require.Equal(t, map[bool]string{true: "sent", false: "pending"}[l.Course == 1], l.Status, l.SKU)
	}
	h.press(`#sends button[data-send="2"]`)
	h.waitSent()
	h.waitFor("course 2 sent", `document.querySelectorAll('.line[data-status="sent"]').length === 3`)

	// The manager voids the tartare.
	h.press(`.line[data-sku="tartare"] [data-action="void"]`)
	h.waitFor("the reason dialog", `!document.querySelector('#reasonbox').hidden`)
	h.do(chromedp.SendKeys(chromedp.CSS("#reason"), "dropped on the floor"))
	h.press("#reason-ok")
	h.save()
	h.waitSent()
	evs := f.Manager.Events(id, 4).Events
	require.Len(t, evs, 1)
	require.Equal(t, "void_item", evs[0].Ops[0].Op)
	require.Equal(t, "dropped on the floor", evs[0].Ops[0].Reason)

	due := f.Waiter.Order(id).Totals.DueCents
	require.Positive(t, due)
	h.press("#paybtn")
	h.waitFor("the payment dialog", `!document.querySelector('#paybox').hidden`)
	require.Equal(t, fmt.Sprintf("%d.%02d", due/100, due%100), h.eval(`document.querySelector('#pay-amount').value`), "what is due, offered")
	h.press(`#tenders button[data-tender="card"]`)
	h.press("#pay-ok")
	h.waitSent()
	require.Zero(t, f.Waiter.Order(id).Totals.DueCents)
	h.press("#closebtn")
	h.waitFor("back on the floor, T9 free", `document.body.dataset.screen === 'floor' && document.querySelector('#tables button[data-table="T9"]').dataset.state === 'free'`)
	require.Equal(t, "closed", f.Waiter.Order(id).Status)
	h.noExceptions()
}

// TestPOSMergeMarksWhatNoLongerApplies: Bruno raises a line's quantity and
// adds fries while Alice sends that line to the kitchen. On his merge
// screen the quantity change is marked as no longer applying (the line was
// sent) and "Apply" waits until he drops it; then his fries go on.
func TestPOSMergeMarksWhatNoLongerApplies(t *testing.T) {
	needChromium(t)
	f := start(t)
	o := f.Open("T11")
	o = f.Waiter.Patch(o.ID, 1, apitest.AddItem("burger", 1, apitest.Seat(1)))
	b := openPOS(t, f, f.BaseURL, seed.TokenWaiter2, phoneW, phoneH)
	b.openOrder("T11", 2)
	b.press(`.line[data-sku="burger"] [data-action="plus"]`)
	b.waitFor("two burgers in the draft", `document.querySelector('.line[data-sku="burger"][data-draft="1"] .name').textContent.startsWith('2 ×')`)
	b.order("fries", 1)
	f.Waiter.Patch(o.ID, 2, apitest.Fire())
	b.save()
	b.waitFor("the merge screen", `!document.querySelector('#merge').hidden`)
	require.Contains(t, b.eval(`document.querySelector('#merge-theirs').innerText`), "sent to the kitchen (Alice, ")
	require.Equal(t, "1", b.eval(`String(document.querySelectorAll('#merge-mine li[data-invalid="1"]').length)`))
	require.Contains(t, b.eval(`document.querySelector('#merge-mine li[data-invalid="1"]').innerText`), "sent to the kitchen meanwhile")
	require.Equal(t, "true", b.eval(`String(document.querySelector('#merge-apply').disabled)`))
	b.press(`#merge-mine li[data-invalid="1"] button[data-drop]`)
	b.waitFor("Apply possible", `!document.querySelector('#merge-apply').disabled`)
	b.press("#merge-apply")
	b.waitSent()
	got := f.Waiter.Order(o.ID)
	require.Equal(t, []string{"1×burger", "1×fries"}, linesOf(got))
	require.EqualValues(t, 4, got.Version)
	b.noExceptions()
}
