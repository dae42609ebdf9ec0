package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/outbox"
	"github.com/posd/posd/internal/seed"
)

// chromiumPath is the machine's Chromium (Debian package chromium; .ci/run
// installs it).
const chromiumPath = "/usr/bin/chromium"

// screenshotPath is where POSD_UPDATE_SCREENSHOT=1 puts the screenshot of the
// page taken at the end of TestKDSBrowser.
const screenshotPath = "../../docs/kds-screenshot.png"

// TestKDSBrowser drives the /kds page in a real Chromium against the whole
// stack: a ticket fired through the API appears as a card, a tap bumps it
// (the API and the database show it ready), "Recall last" brings it back, a
// void shows as a void, a ticket fired while NATS is down shows once NATS is
// back, and after the page loses its stream it reconnects from its cursor
// and shows what happened meanwhile (new tickets, another screen's bump),
// ending with exactly the API's open tickets.
func TestKDSBrowser(t *testing.T) {
	needChromium(t)
	f := start(t, apitest.Options{Heartbeat: 500 * time.Millisecond})
	s := f.Stack
	// The browser talks to posd through a proxy the test can cut, like a
	// kitchen tablet losing its Wi-Fi.
	proxy := newTabletProxy(t, s.BaseURL)
	start := time.Now()
	phase := func(name string) { t.Logf("%6.2fs %s", time.Since(start).Seconds(), name) }
	p := openKDS(t, proxy.URL+"/kds?station=grill&token="+seed.TokenKitchen)
	phase("browser open")

	p.waitFor("the stream to be live", `document.querySelector('#conn').dataset.state === 'live'`)
	require.NotContains(t, p.eval(`location.href`), "token=", "the token stays off the address bar")
	require.Equal(t, seed.TokenKitchen, p.eval(`localStorage.getItem('posd.kds.token')`))

	phase("live")

	// A ticket fired through the API appears with its table and line.
	o4 := f.Fired("T4",
		apitest.AddItem("steak", 1, apitest.Seat(1), apitest.Course(2), apitest.Mods("no onions", "sauce on side"), apitest.LineNote("medium rare")),
		apitest.AddItem("fries", 1, apitest.Seat(1), apitest.Course(2)))
	steak4 := openTicket(f, o4, "fire")
	p.waitCard(steak4)
	c := p.card(steak4)
	require.Equal(t, "T4", c.Table)
	require.Equal(t, "fire", c.Kind)
	for _, want := range []string{"T4", "1 ×", "Steak frites", "seat 1", "course 2", "no onions", "sauce on side", "medium rare"} {
		require.Contains(t, c.Text, want)
	}
	require.NotContains(t, c.Text, "Fries", "the fry line is on the fry station's ticket")
	require.Len(t, p.cards(), 1, "only grill tickets on the grill screen")

	phase("first card")

	// A tap bumps it: the card goes, the API has no open ticket, the
	// database has it ready.
	p.tap(steak4)
	p.waitGone(steak4)
	p.waitFor("the bump to be acknowledged", fmt.Sprintf(`document.querySelector('#recall').dataset.ticketId === %q`, steak4))
	require.Empty(t, grillTickets(f))
	require.EqualValues(t, 1, s.DB.Count(t, "SELECT count(*) FROM kitchen_tickets WHERE id = $1 AND status = 'ready' AND bumped_at IS NOT NULL", steak4))

	phase("bumped")

	// "Recall last" puts it back on the rail and in the API's open tickets.
	p.press("#recall")
	p.waitCard(steak4)
	require.Equal(t, []string{steak4}, ticketIDStrings(grillTickets(f)))
	require.EqualValues(t, 1, s.DB.Count(t, "SELECT count(*) FROM kitchen_tickets WHERE id = $1 AND status = 'new'", steak4))
	p.tap(steak4)
	p.waitGone(steak4)
	apitest.Eventually(t, 5*time.Second, func() bool { return len(grillTickets(f)) == 0 }, "the grill to have no open tickets")

	phase("recalled and bumped again")

	// The manager voids the steak: a void card, struck through.
	f.Manager.Patch(o4.ID, 2, apitest.Void(apitest.LineOf(o4, "steak"), "guest left"))
	void4 := openTicket(f, o4, "void")
	p.waitCard(void4)
	c = p.card(void4)
	require.Equal(t, "void", c.Kind)
	require.Contains(t, c.Text, "VOID — STOP")
	require.Contains(t, c.Text, "Steak frites")
	require.Equal(t, "line-through", p.eval(fmt.Sprintf(
		`getComputedStyle(document.querySelector('[data-ticket-id=%q] .name')).textDecorationLine`, void4)))

	o7 := f.Fired("T7",
		apitest.AddItem("burger", 2, apitest.Seat(2), apitest.Course(1), apitest.Mods("no cheese")),
		apitest.AddItem("steak", 1, apitest.Seat(1), apitest.Course(1), apitest.LineNote("allergy: no salt")))
	t7 := openTicket(f, o7, "fire")
	p.waitCard(t7)

	phase("void shown")

	// NATS goes away: writes still succeed (the outbox keeps them) and the
	// page's stream rides it out (heartbeats keep it open) but hears
	// nothing. Another screen bumps T7, so the page's card is stale: a tap
	// gets 409 and the page takes the server's word for it, quietly. Tickets
	// fired meanwhile show once NATS is back.
	reconnects := p.reconnects()
	s.NATS.Shutdown()
	r := f.Kitchen.Post("/v1/kitchen/tickets/"+t7+"/bump", nil)
	require.Equal(t, 200, r.Status, string(r.Body))
	p.tap(t7)
	p.waitGone(t7)
	p.waitFor("the 409 to be reconciled", fmt.Sprintf(`document.querySelector('#recall').dataset.ticketId === %q`, t7))
	require.Equal(t, "true", p.eval(`String(document.querySelector('#toast').hidden)`), "no error for a ticket already bumped")
	o9 := f.Fired("T9", apitest.AddItem("steak", 2, apitest.Seat(3), apitest.Course(2), apitest.Mods("extra sauce")))
	o11 := f.Fired("T11", apitest.AddItem("burger", 1, apitest.Seat(1), apitest.Course(1)))
	t9, t11 := openTicket(f, o9, "fire"), openTicket(f, o11, "fire")
	s.RestartNATS(t)
	p.waitCard(t9)
	p.waitCard(t11)
	p.waitGone(t7)

	phase(fmt.Sprintf("NATS outage caught up (page reconnects: %d before, %d after)", reconnects, p.reconnects()))

	// The page loses its network. A tap on T11 fails: the card stays and
	// the page says why. Meanwhile another screen bumps T11 and two tables
	// fire. The page reconnects from its cursor and catches up.
	proxy.cut()
	p.waitFor("the page to notice the drop", `document.querySelector('#conn').dataset.state !== 'live'`)
	cursor := p.cursor()
	require.NotEmpty(t, cursor)
	p.tap(t11)
	p.waitFor("the failed bump to be reported", `!document.querySelector('#toast').hidden`)
	require.Contains(t, p.eval(`document.querySelector('#toast').textContent`), "Could not bump T11")
	p.waitCard(t11)
	r = f.Kitchen.Post("/v1/kitchen/tickets/"+t11+"/bump", nil)
	require.Equal(t, 200, r.Status, string(r.Body))
	o12 := f.Fired("T12", apitest.AddItem("steak", 3, apitest.Seat(1), apitest.Course(2), apitest.LineNote("one rare, two medium")))
	o2 := f.Fired("T2", apitest.AddItem("burger", 1, apitest.Seat(4), apitest.Course(1), apitest.Mods("gluten-free bun")))
	t12, t2 := openTicket(f, o12, "fire"), openTicket(f, o2, "fire")
	// Both ways back were tried from the cursor and refused: the browser's
	// own retry (Last-Event-ID) and the page's own reconnect (?after=).
	apitest.Eventually(t, 10*time.Second, func() bool {
		return proxy.saw(func(q streamReq) bool { return q.Refused && q.LastEventID == cursor }) &&
			proxy.saw(func(q streamReq) bool { return q.Refused && q.After == cursor })
	}, "stream requests: %+v", proxy.requests())
	proxy.restore()
	p.waitFor("the stream to be live again", fmt.Sprintf(
		`document.querySelector('#conn').dataset.state === 'live' && +document.querySelector('#conn').dataset.reconnects > %d`, reconnects))
	p.waitCard(t12)
	p.waitCard(t2)
	p.waitGone(t11)
	phase("reconnected and caught up")

	// The rail is exactly the station's open tickets, each once.
	want := ticketIDStrings(grillTickets(f))
	slices.Sort(want)
	require.Equal(t, sortedIDs(void4, t9, t12, t2), want)
	apitest.Eventually(t, 5*time.Second, func() bool {
		got := cardIDs(p.cards())
		slices.Sort(got)
		return slices.Equal(got, want)
	}, "cards %v, want %v", cardIDs(p.cards()), want)
	// It resumed from its cursor: after the first connection, no stream
	// request went without one (a fresh snapshot would not have removed T11).
	reqs := proxy.requests()
	for i, q := range reqs[1:] {
		require.True(t, q.After != "" || q.LastEventID != "", "stream request %d without a cursor: %+v", i+1, reqs)
	}
	last := reqs[len(reqs)-1]
	require.False(t, last.Refused)
	require.Equal(t, cursor, last.After, "the page resumed with ?after=<last id>: %+v", reqs)
	require.Equal(t, "↶ Recall T11", p.eval(`document.querySelector('#recall').textContent`))

	phase("checks done")

	// The failed bump's message is moot now; a tap dismisses it.
	p.press("#toast")
	p.waitFor("the message to go", `document.querySelector('#toast').hidden`)
	png := p.screenshot()
	shot := filepath.Join(t.TempDir(), "kds.png")
	require.NoError(t, os.WriteFile(shot, png, 0o644))
	if os.Getenv("POSD_UPDATE_SCREENSHOT") == "1" {
		require.NoError(t, os.WriteFile(screenshotPath, png, 0o644))
		t.Logf("wrote %s", screenshotPath)
	}
	p.noExceptions()
}

// ---- the API side ------------------------------------------------------

// grillTickets is GET /v1/kitchen/tickets?station=grill.
func grillTickets(f *apitest.Fixture) []kitchen.Ticket {
	f.T.Helper()
	return f.Kitchen.Tickets("grill")
}

// openTicket is the id (as the page names it) of the order's open grill
// ticket of kind.
func openTicket(f *apitest.Fixture, o order.Order, kind string) string {
	f.T.Helper()
	for _, tk := range grillTickets(f) {
		if tk.OrderID == o.ID && tk.Kind == kind {
			require.Equal(f.T, "new", tk.Status)
			require.Equal(f.T, o.Table, tk.Table)
			return tk.ID.String()
		}
	}
	f.T.Fatalf("no open %s ticket for order %v", kind, o.ID)
	return ""
}

func ticketIDStrings(list []kitchen.Ticket) []string {
	ids := []string{}
	for _, x := range list {
		ids = append(ids, x.ID.String())
	}
	return ids
}

func cardIDs(list []screenCard) []string {
	ids := []string{}
	for _, x := range list {
		ids = append(ids, x.ID)
	}
	return ids
}

func sortedIDs(ids ...string) []string {
	s := slices.Clone(ids)
	slices.Sort(s)
	return s
}

// ---- the network between the tablet and posd ----------------------------

// tabletProxy forwards the browser's requests to posd. cut closes every
// connection and answers 503 until restore, like a tablet that lost its
// network behind a reverse proxy. It records the kitchen stream requests.
type tabletProxy struct {
	*httptest.Server
	down atomic.Bool
	// dropAnswers is how many of the next writes (POST, PATCH) reach posd
	// but lose their answer: the connection is closed instead.
	dropAnswers atomic.Int32
	// venueStream, when set, answers GET /v1/stream in posd's place.
	venueStream http.Handler
	mu          sync.Mutex
	reqs        []streamReq
	urls        []string   // every request's path and query
	writes      []writeReq // every write that reached posd
}

// writeReq is a write the proxy passed on to posd.
type writeReq struct {
	Method, Path, Key string
}

type streamReq struct {
	After, LastEventID string
	Refused            bool
}

func newTabletProxy(t *testing.T, target string) *tabletProxy {
	u, err := url.Parse(target)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // cut streams are expected
	p := &tabletProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		down := p.down.Load()
		if r.URL.Path == "/v1/kitchen/stream" || r.URL.Path == "/v1/stream" {
			p.mu.Lock()
			p.reqs = append(p.reqs, streamReq{After: r.URL.Query().Get("after"), LastEventID: r.Header.Get("Last-Event-ID"), Refused: down})
			p.mu.Unlock()
		}
		write := r.Method == http.MethodPost || r.Method == http.MethodPatch
		p.mu.Lock()
		p.urls = append(p.urls, r.URL.String())
		if write && !down {
			p.writes = append(p.writes, writeReq{Method: r.Method, Path: r.URL.Path, Key: r.Header.Get("Idempotency-Key")})
		}
		p.mu.Unlock()
		if down {
			http.Error(w, "network down", http.StatusServiceUnavailable)
			return
		}
		if h := p.venueStream; h != nil && r.URL.Path == "/v1/stream" {
			h.ServeHTTP(w, r)
			return
		}
		if write && p.dropAnswers.Add(-1) >= 0 {
			// posd gets the write and answers; the answer never reaches
			// the tablet: the connection drops first.
			rp.ServeHTTP(httptest.NewRecorder(), r)
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		p.dropAnswers.Store(0)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		p.CloseClientConnections()
		p.Close()
	})
	return p
}

func (p *tabletProxy) cut() {
	p.down.Store(true)
	p.CloseClientConnections()
}

func (p *tabletProxy) restore() { p.down.Store(false) }

func (p *tabletProxy) requests() []streamReq {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.reqs)
}

// sent is every write that reached posd, in order.
func (p *tabletProxy) sent() []writeReq {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.writes)
}

// seenURLs is every request's path and query.
func (p *tabletProxy) seenURLs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.urls)
}

func (p *tabletProxy) saw(match func(streamReq) bool) bool {
	return slices.ContainsFunc(p.requests(), match)
}

// ---- the browser ----------------------------------------------------------

type screenCard struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	Table string `json:"table"`
	Text  string `json:"text"`
}

type browser struct {
	t   *testing.T
	ctx context.Context

	mu         sync.Mutex
	console    []string
	exceptions []string
	// onFail, when set, says what the page shows when a wait fails
	// (the kitchen display's connection and cards otherwise).
	onFail func() string
}

// needChromium skips the test when the machine has no Chromium, saying so,
// unless POSD_REQUIRE_CHROMIUM=1 (set by .ci/run): then a missing Chromium
// fails the test, so CI cannot pass without running the browser tests.
func needChromium(t *testing.T) {
	t.Helper()
	_, err := os.Stat(chromiumPath)
	if err == nil {
		return
	}
	msg := fmt.Sprintf("the KDS browser tests need Chromium at %s (apt-get install chromium; .ci/run installs it): %v", chromiumPath, err)
	if os.Getenv("POSD_REQUIRE_CHROMIUM") == "1" {
		t.Fatalf("%s; POSD_REQUIRE_CHROMIUM=1 makes that a failure", msg)
	}
	t.Skipf("%s; skipped (set POSD_REQUIRE_CHROMIUM=1 to make this a failure)", msg)
}

// browserSlots bounds how many tests drive browsers at once: Chromium is
// heavy, and on a small machine many at once starve the timing-sensitive
// tests running beside them.
var (
	browserSlots = make(chan struct{}, 2)
	slotHolders  sync.Map // *testing.T → holds a slot
)

// holdBrowserSlot takes a slot the first time t opens a browser and gives
// it back when t ends (after its browsers are closed).
func holdBrowserSlot(t *testing.T) {
	if _, held := slotHolders.LoadOrStore(t, true); held {
		return
	}
	browserSlots <- struct{}{}
	t.Cleanup(func() {
		slotHolders.Delete(t)
		<-browserSlots
	})
}

// openKDS starts a headless Chromium as a landscape touch tablet, opens
// pageURL, and closes the browser when the test ends.
func openKDS(t *testing.T, pageURL string) *browser {
	t.Helper()
	return openBrowser(t, pageURL, 1280, 800)
}

// openBrowser starts a headless Chromium of its own (its own profile, so
// its own storage) as a touch device with a width × height viewport, opens
// pageURL, and closes the browser when the test ends.
func openBrowser(t *testing.T, pageURL string, width, height int64) *browser {
	t.Helper()
	needChromium(t)
	holdBrowserSlot(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(int(width), int(height)),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b := &browser{t: t, ctx: ctx}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		wg.Wait()
		if t.Failed() {
			b.mu.Lock()
			t.Logf("browser console:\n%s", strings.Join(b.console, "\n"))
			b.mu.Unlock()
		}
	})
	start, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Start the browser with ctx (no timeout), then read its console.
	require.NoError(t, chromedp.Do(ctx), "start %s", chromiumPath)
	messages := chromedp.Console(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, fmt.Sprintf("%s %s:%d %s", m.Type, m.URL, m.Line+1, m))
			if m.IsException() {
				b.exceptions = append(b.exceptions, m.String())
			}
			b.mu.Unlock()
		}
	}()
	require.NoError(t, chromedp.Do(start,
		chromedp.EmulateViewport(width, height, chromedp.EmulateTouch),
		chromedp.Navigate(pageURL),
	))
	return b
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, actions...))
}

func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	require.NoError(b.t, err, "evaluate %s", expr)
	return v
}

// evalAwait evaluates expr, a promise, and answers what it resolves to.
func (b *browser) evalAwait(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	require.NoError(b.t, err, "evaluate %s", expr)
	return v
}

// waitFor polls the page until expr is true.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second)))
	if err != nil {
		if b.onFail != nil {
			b.t.Fatalf("waiting for %s (%s): %v\n%s", what, expr, err, b.onFail())
		}
		conn := b.eval(`JSON.stringify(document.querySelector('#conn').dataset)`)
		b.t.Fatalf("waiting for %s (%s): %v\nconnection %s\ncards %+v", what, expr, err, conn, b.cards())
	}
}

func (b *browser) waitCard(id string) {
	b.t.Helper()
	b.waitFor("card "+id, fmt.Sprintf(`!!document.querySelector('#rail [data-ticket-id=%q]')`, id))
}

func (b *browser) waitGone(id string) {
	b.t.Helper()
	b.waitFor("card "+id+" to go", fmt.Sprintf(`!document.querySelector('#rail [data-ticket-id=%q]')`, id))
}

func (b *browser) cards() []screenCard {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	cards, err := chromedp.Run(ctx, chromedp.Evaluate[[]screenCard](`[...document.querySelectorAll('#rail .card')].map(c => ({
		id: c.dataset.ticketId, kind: c.dataset.kind, table: c.dataset.table, text: c.innerText}))`))
	require.NoError(b.t, err)
	return cards
}

func (b *browser) card(id string) screenCard {
	b.t.Helper()
	for _, c := range b.cards() {
		if c.ID == id {
			return c
		}
	}
	b.t.Fatalf("no card %s", id)
	return screenCard{}
}

// tap touches a card, as a cook does.
func (b *browser) tap(id string) {
	b.t.Helper()
	b.press(fmt.Sprintf(`#rail [data-ticket-id=%q]`, id))
}

// press taps the element sel selects. The page re-renders its cards as
// messages arrive, so the node found can be replaced before the tap lands;
// the tap then fails without touching anything and is tried again on the
// new node.
func (b *browser) press(sel string) {
	b.t.Helper()
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
		// A person scrolls what they tap to the middle of the screen:
		// an element at an edge can sit under a fixed bar (the
		// handheld's Save bar), where the tap would land on the bar.
		_, _ = chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(
			`(e => { if (e) e.scrollIntoView({block: 'center', inline: 'center'}); return true; })(document.querySelector(%q))`, sel)))
		err = chromedp.Do(ctx, chromedp.Tap(chromedp.CSS(sel)))
		cancel()
		if err == nil || !strings.Contains(err.Error(), "Could not find node") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(b.t, err, "tap %s", sel)
}

// pressUntil taps sel until expr holds: a tap can land while the page is
// still laying itself out (a button that moves or is briefly disabled as
// the order renders) and touch nothing. Only for taps that are safe to
// repeat, such as opening a dialog.
func (b *browser) pressUntil(sel, what, expr string) {
	b.t.Helper()
	for attempt := 0; attempt < 4; attempt++ {
		b.waitFor(sel+" enabled", fmt.Sprintf(`(e => !!e && !e.disabled)(document.querySelector(%q))`, sel))
		b.press(sel)
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
			chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(3*time.Second)))
		cancel()
		if err == nil {
			return
		}
		b.t.Logf("tap %s touched nothing: %s", sel, b.eval(fmt.Sprintf(`(e => { const r = e.getBoundingClientRect();
			const at = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
			return JSON.stringify({rect: [r.x, r.y, r.width, r.height], at: at ? at.id || at.tagName : null, inner: innerHeight, scrollY}); })(document.querySelector(%q))`, sel)))
	}
	b.waitFor(what, expr)
}

func (b *browser) reconnects() int {
	b.t.Helper()
	var n int
	_, err := fmt.Sscan(b.eval(`document.querySelector('#conn').dataset.reconnects`), &n)
	require.NoError(b.t, err)
	return n
}

func (b *browser) cursor() string {
	b.t.Helper()
	return b.eval(`document.querySelector('#conn').dataset.cursor`)
}

func (b *browser) screenshot() []byte {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(b.t, err)
	require.True(b.t, len(png) > 8 && string(png[1:4]) == "PNG", "a PNG")
	return png
}

// noExceptions fails the test if the page threw.
func (b *browser) noExceptions() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.exceptions) > 0 {
		b.t.Errorf("the page threw: %s", strings.Join(b.exceptions, "\n"))
	}
}

// TestKDSBrowserNotLive proves that the page never shows an empty rail that
// is not true: with NATS stopped before the page loads, the stream is
// refused, yet the page shows the open tickets its own ticket request
// returned and says plainly that it is not live (never "All clear"); once
// the tickets are bumped elsewhere it says "No open tickets as of …, not
// live"; when NATS is back it goes live and the banner goes.
func TestKDSBrowserNotLive(t *testing.T) {
	needChromium(t)
	f := start(t, apitest.Options{Heartbeat: 500 * time.Millisecond})
	s := f.Stack
	o1 := f.Fired("T4", apitest.AddItem("steak", 1, apitest.LineNote("medium rare")))
	o2 := f.Fired("T6", apitest.AddItem("burger", 1))
	t1, t2 := openTicket(f, o1, "fire"), openTicket(f, o2, "fire")
	s.NATS.Shutdown()
	apitest.Eventually(t, 10*time.Second, func() bool { return !s.NC.IsConnected() }, "the client to notice NATS is gone")

	p := openKDS(t, s.BaseURL+"/kds?station=grill&token="+seed.TokenKitchen)
	p.waitCard(t1)
	p.waitCard(t2)
	p.waitFor("the not-live banner", `!document.querySelector('#notlive').hidden`)
	require.NotEqual(t, "live", p.eval(`document.querySelector('#conn').dataset.state`))
	require.Contains(t, p.eval(`document.querySelector('#notlive').textContent`), "NOT LIVE — tickets as of")
	require.NotContains(t, p.eval(`document.body.innerText`), "All clear")
	require.Equal(t, "true", p.eval(`String(document.querySelector('#empty').hidden)`))

	// Bumped elsewhere: on its next try the page reads the API again and
	// says there are none as of then, not live.
	for _, id := range []string{t1, t2} {
		r := f.Kitchen.Post("/v1/kitchen/tickets/"+id+"/bump", nil)
		require.Equal(t, 200, r.Status, string(r.Body))
	}
	p.waitGone(t1)
	p.waitGone(t2)
	p.waitFor("the honest empty rail", `!document.querySelector('#empty').hidden &&
		document.querySelector('#empty').textContent.includes('not live')`)
	require.NotContains(t, p.eval(`document.body.innerText`), "All clear")
	require.Contains(t, p.eval(`document.querySelector('#empty').textContent`), "No open tickets as of")

	s.RestartNATS(t)
	p.waitFor("the stream to be live", `document.querySelector('#conn').dataset.state === 'live'`)
	p.waitFor("the banner to go", `document.querySelector('#notlive').hidden`)
	p.waitFor("all clear, now that it is true", `document.querySelector('#empty').textContent === 'All clear — no open tickets'`)
	o3 := f.Fired("T8", apitest.AddItem("salmon", 1))
	p.waitCard(openTicket(f, o3, "fire"))
	p.noExceptions()
}

// TestKDSBrowserForTheCook proves what the cook sees: the order's note
// (allergies) and guest count on the ticket; a void ticket with its reason
// and who voided, and the voided line struck on the original card (also
// after a reload); recall of a ticket bumped before the page was loaded;
// and a cursor after the stream's end (the JetStream store lost) makes the
// page drop its cursor, take a fresh snapshot and go live again.
func TestKDSBrowserForTheCook(t *testing.T) {
	needChromium(t)
	f := start(t, apitest.Options{Heartbeat: 500 * time.Millisecond})
	s := f.Stack
	id := f.Open("T5").ID
	o := f.Waiter.Patch(id, 1,
		apitest.SetNote("ALLERGY: peanuts (seat 2)"),
		apitest.SetGuests(4),
		apitest.AddItem("steak", 1, apitest.Seat(1)), apitest.AddItem("burger", 1, apitest.Seat(2)),
		apitest.Fire())
	fire := openTicket(f, o, "fire")
	// A ticket bumped before the page loads.
	early := openTicket(f, f.Fired("T9", apitest.AddItem("chicken", 1)), "fire")
	r := f.Kitchen.Post("/v1/kitchen/tickets/"+early+"/bump", nil)
	require.Equal(t, 200, r.Status, string(r.Body))

	proxy := newTabletProxy(t, s.BaseURL)
	p := openKDS(t, proxy.URL+"/kds?station=grill&token="+seed.TokenKitchen)
	p.waitFor("the stream to be live", `document.querySelector('#conn').dataset.state === 'live'`)
	p.waitCard(fire)
	c := p.card(fire)
	require.Contains(t, c.Text, "ALLERGY: peanuts (seat 2)")
	require.Contains(t, c.Text, "4 guests")

	// Recall works for the ticket bumped before the page loaded.
	p.waitFor("the early bump to be recallable", fmt.Sprintf(`document.querySelector('#recall').dataset.ticketId === %q`, early))
	p.press("#recall")
	p.waitCard(early)
	require.EqualValues(t, 1, s.DB.Count(t, "SELECT count(*) FROM kitchen_tickets WHERE id = $1 AND status = 'new'", early))

	// The manager voids the burger.
	f.Manager.Patch(id, 2, apitest.Void(apitest.LineOf(o, "burger"), "guest allergic"))
	void := openTicket(f, o, "void")
	p.waitCard(void)
	require.Contains(t, p.card(void).Text, "guest allergic — voided by Maria")
	struck := fmt.Sprintf(`getComputedStyle(document.querySelector('[data-ticket-id=%q] .line[data-voided] .name')).textDecorationLine`, fire)
	p.waitFor("the voided line struck on the fire card", fmt.Sprintf(`!!document.querySelector('[data-ticket-id=%q] .line[data-voided]')`, fire))
	require.Equal(t, "line-through", p.eval(struck))
	require.Contains(t, p.card(fire).Text, "Steak frites")
	require.Equal(t, 1, strings.Count(p.eval(fmt.Sprintf(`document.querySelector('[data-ticket-id=%q]').innerText`, fire)), "VOIDED"))
	// Still struck after a reload, once the void ticket is acknowledged.
	p.tap(void)
	p.waitGone(void)
	p.do(chromedp.Reload())
	p.waitFor("the stream to be live after the reload", `document.querySelector('#conn').dataset.state === 'live'`)
	p.waitFor("the voided line struck after the reload", fmt.Sprintf(`!!document.querySelector('[data-ticket-id=%q] .line[data-voided]')`, fire))

	// The JetStream store is lost: the POS stream is made again, empty, so
	// the page's cursor is after its end. The page reconnects, is refused
	// with cursor-ahead, drops its cursor and takes a fresh snapshot.
	late := openTicket(f, f.Fired("T11", apitest.AddItem("salmon", 1)), "fire")
	p.waitCard(late)
	cursor := p.cursor()
	require.NotEmpty(t, cursor)
	ctx := context.Background()
	require.NoError(t, s.JS.DeleteStream(ctx, outbox.StreamName))
	// The server may still be removing the old stream's files ("error
	// creating store for stream"): make it again as an operator would,
	// until it is made.
	_, err := outbox.EnsureStream(ctx, s.JS, 1)
	for give := time.Now().Add(10 * time.Second); err != nil && time.Now().Before(give); {
		time.Sleep(100 * time.Millisecond)
		_, err = outbox.EnsureStream(ctx, s.JS, 1)
	}
	require.NoError(t, err, "the POS stream made again")
	reconnects := p.reconnects()
	proxy.cut()
	p.waitFor("the page to notice the drop", `document.querySelector('#conn').dataset.state !== 'live'`)
	proxy.restore()
	p.waitFor("live again", fmt.Sprintf(`document.querySelector('#conn').dataset.state === 'live' &&
		+document.querySelector('#conn').dataset.reconnects > %d`, reconnects))
	reqs := proxy.requests()
	require.True(t, slices.ContainsFunc(reqs, func(q streamReq) bool { return !q.Refused && q.After == "" && q.LastEventID == "" }),
		"a fresh stream without a cursor: %+v", reqs)
	want := ticketIDStrings(grillTickets(f))
	slices.Sort(want)
	apitest.Eventually(t, 10*time.Second, func() bool {
		got := cardIDs(p.cards())
		slices.Sort(got)
		return slices.Equal(got, want)
	}, "cards %v, want %v", cardIDs(p.cards()), want)
	// And it is live on the new stream.
	fresh := openTicket(f, f.Fired("T12", apitest.AddItem("steak", 1)), "fire")
	p.waitCard(fresh)
	p.noExceptions()
}

// TestKDSBrowserEightySix: a cook 86s an item from the kitchen display, as
// a person would (the "86 / portions" panel, one tap): the waiter's next
// add_item of it is refused, and the page shows it 86'd under the bar. A
// manager counts another item's portions on their handheld (the API): the
// screen shows "3 left" without a tap or a reload, over its stream; a sale
// shows as "2 left" once its ticket arrives; the cook stops counting and
// puts the 86'd item back on, and the waiter can order it again.
func TestKDSBrowserEightySix(t *testing.T) {
	needChromium(t)
	f := start(t, apitest.Options{Heartbeat: 500 * time.Millisecond})
	o := f.Open("T4")
	p := openKDS(t, f.Stack.BaseURL+"/kds?station=grill&token="+seed.TokenKitchen)
	p.waitFor("the stream to be live", `document.querySelector('#conn').dataset.state === 'live'`)
	require.Equal(t, "true", p.eval(`String(document.querySelector('#stock').hidden)`), "nothing of the grill is 86'd or counted")

	p.press("#stockbtn")
	p.waitFor("the grill's items in the panel", `!!document.querySelector('#stockitems [data-sku="steak"]')`)
	require.Equal(t, "false", p.eval(`String(!!document.querySelector('#stockitems [data-sku="fries"]'))`), "only the grill's items")
	p.press(`#stockitems [data-sku="steak"] [data-action="86"]`)
	p.waitFor("steak 86'd under the bar", `document.querySelector('#stock').dataset.unavailable === 'steak'`)
	require.Contains(t, p.eval(`document.querySelector('#stock').innerText`), "86 Steak frites")
	apitest.RequireFieldProblem(t, f.Waiter.TryPatch(o.ID, o.Version, apitest.AddItem("steak", 1)), 409, "item-unavailable", 0, "sku")

	r := f.Manager.Post("/v1/menu/items/burger/availability", map[string]any{"remaining": 3})
	require.Equal(t, 200, r.Status, string(r.Body))
	p.waitFor("the count on the screen, over the stream", `document.querySelector('#stock').dataset.counted === 'burger'`)
	require.Contains(t, p.eval(`document.querySelector('#stock').innerText`), "Bistro burger: 3 left")

	// A waiter sells one: no menu change, but the fired ticket tells the
	// screen its counts may have moved, and it shows 2 left.
	f.Waiter.Patch(o.ID, o.Version, apitest.AddItem("burger", 1), apitest.Fire())
	p.waitFor("2 left after the sale", `document.querySelector('#stock').innerText.includes('Bistro burger: 2 left')`)
	require.EqualValues(t, 2, f.DB.Count(t, "SELECT remaining FROM menu_items WHERE venue_id = 'demo' AND sku = 'burger'"))
	require.Equal(t, "false", p.eval(`String(!!document.querySelector('#stockitems [data-sku="burger"] [data-action="minus"]'))`),
		"no −1 computed from a figure the waiters' sales may have moved")
	p.press(`#stockitems [data-sku="burger"] [data-action="uncount"]`)
	p.waitFor("burger no longer counted", `document.querySelector('#stock').dataset.counted === ''`)
	require.EqualValues(t, 0, f.DB.Count(t, "SELECT count(*) FROM menu_items WHERE venue_id = 'demo' AND sku = 'burger' AND remaining IS NOT NULL"))

	p.press(`#stockitems [data-sku="steak"] [data-action="on"]`)
	p.waitFor("steak back on", `document.querySelector('#stock').dataset.unavailable === ''`)
	o = f.Waiter.Get("/v1/orders/" + o.ID.String()).Order(t)
	o = f.Waiter.Patch(o.ID, o.Version, apitest.AddItem("steak", 1))
	require.Equal(t, "steak", o.Lines[len(o.Lines)-1].SKU)
	p.press("#stockclose")
	require.Equal(t, "true", p.eval(`String(document.querySelector('#stockpanel').hidden)`))
	p.noExceptions()
}
