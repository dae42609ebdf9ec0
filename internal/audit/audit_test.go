package audit_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/outbox"
	"github.com/posd/posd/internal/pgscope"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/store"
)

// sealKey signs the test journals' seals; verifyOpts checks them.
var (
	sealKey    = mustKey()
	verifyOpts = audit.VerifyOptions{PublicKey: sealKey.Public().(ed25519.PublicKey)}
)

func mustKey() ed25519.PrivateKey {
	k, err := audit.NewSealKey()
	if err != nil {
		panic(err)
	}
	return k
}

// counts is what a Result says was checked, without its ages.
type counts struct {
	OK                             bool
	Events, Orders, Seals, Tickets int64
}

func countsOf(r audit.Result) counts {
	return counts{OK: r.OK, Events: r.EventsChecked, Orders: r.OrdersChecked, Seals: r.SealsChecked, Tickets: r.TicketsChecked}
}

var (
	alice = order.Actor{Device: "waiter-1", Staff: "Alice", Role: order.RoleWaiter}
	bruno = order.Actor{Device: "waiter-2", Staff: "Bruno", Role: order.RoleWaiter}
	maria = order.Actor{Device: "manager", Staff: "Maria", Role: order.RoleManager}
	zoe   = order.Actor{Device: "waiter", Staff: "Zoe", Role: order.RoleWaiter}
)

// journal is a fresh database with orders written through the store, as
// posd writes them:
//
//	A  demo T1, Alice: 5 events (add with unicode and JSON escapes, send, comp, pay and close)
//	B  demo T2, Bruno: 6 events (add, send, void, note, a forced override)
//	C  demo T3: opened only (1 event)
//	D  demo T4, Alice: 3 events (add, a refused stale write, move to T5)
//	E  demo2 T1, Zoe: 2 events
type journal struct {
	t             *testing.T
	db            *pgtest.DB
	st            *store.Store
	A, B, C, D, E uuid.UUID
}

func newJournal(t *testing.T) *journal {
	t.Helper()
	db := pgtest.NewDB(t)
	j := &journal{t: t, db: db, st: store.New(db.Pool)}
	j.st.SignEvents(sealKey)

	j.A = j.open("demo", "T1", alice)
	o := j.patch("demo", j.A, 1, alice,
		`{"op":"add_item","sku":"steak","qty":2,"modifiers":["no onions","sauce à part"],"note":"He said \"no salt\" \\ café ☕\n"}`,
		`{"op":"add_item","sku":"beer"}`)
	j.patch("demo", j.A, 2, alice, `{"op":"send"}`)
	j.patch("demo", j.A, 3, maria, fmt.Sprintf(`{"op":"comp_item","line_id":%q,"reason":"anniversaire — 🎂"}`, lineID(t, o, "beer")))
	j.patch("demo", j.A, 4, alice, `{"op":"add_payment","tender":"card","amount_cents":4800,"tip_cents":500}`, `{"op":"close"}`)

	j.B = j.open("demo", "T2", bruno)
	o = j.patch("demo", j.B, 1, bruno, `{"op":"add_item","sku":"burger"}`, `{"op":"add_item","sku":"fries"}`)
	j.patch("demo", j.B, 2, bruno, `{"op":"send"}`)
	j.patch("demo", j.B, 3, maria, fmt.Sprintf(`{"op":"void_item","line_id":%q,"reason":"dropped"}`, lineID(t, o, "fries")))
	j.patch("demo", j.B, 4, bruno, `{"op":"set_note","note":"window"}`)
	j.patch("demo", j.B, 0, maria, `{"op":"set_guests","guests":6}`)

	j.C = j.open("demo", "T3", bruno)

	j.D = j.open("demo", "T4", alice)
	j.patch("demo", j.D, 1, alice, `{"op":"add_item","sku":"caesar"}`)
	j.stale("demo", j.D, 1, bruno, `{"op":"set_guests","guests":3}`)
	j.patch("demo", j.D, 2, alice, `{"op":"move_table","table":"T5"}`)

	j.E = j.open("demo2", "T1", zoe)
	j.patch("demo2", j.E, 1, zoe, `{"op":"add_item","sku":"steak"}`)
	return j
}

func lineID(t *testing.T, o order.Order, sku string) string {
	t.Helper()
	for _, l := range o.Lines {
		if l.SKU == sku {
			return l.ID.String()
		}
	}
	t.Fatalf("no %s line in %v", sku, o.Lines)
	return ""
}

func (j *journal) open(venue, table string, actor order.Actor) uuid.UUID {
	j.t.Helper()
	o, err := j.st.Open(context.Background(), venue, table, 2, actor, nil)
	require.NoError(j.t, err)
	return o.ID
}

func (j *journal) ops(actor order.Actor, ops []string) []order.Op {
	j.t.Helper()
	raws := make([]json.RawMessage, len(ops))
	for i, o := range ops {
		raws[i] = json.RawMessage(o)
	}
	parsed, err := order.DecodeOps(raws)
	require.NoError(j.t, err)
	require.NoError(j.t, order.Validate(parsed, actor.Role))
	return parsed
}

// patch applies ops made against expected, or forced when expected is 0.
func (j *journal) patch(venue string, id uuid.UUID, expected int64, actor order.Actor, ops ...string) order.Order {
	j.t.Helper()
	p := store.Patch{Ops: j.ops(actor, ops)}
	if expected == 0 {
		p.Force = true
	} else {
		p.Expected = &expected
	}
	o, changed, err := j.st.Patch(context.Background(), venue, id, p, actor)
	require.NoError(j.t, err)
	require.True(j.t, changed)
	return o
}

// stale makes a write against an old version, which must be refused.
func (j *journal) stale(venue string, id uuid.UUID, expected int64, actor order.Actor, ops ...string) {
	j.t.Helper()
	_, _, err := j.st.Patch(context.Background(), venue, id, store.Patch{Expected: &expected, Ops: j.ops(actor, ops)}, actor)
	var ce *order.ConflictError
	require.ErrorAs(j.t, err, &ce)
	require.NoError(j.t, ce.RecordErr)
}

// seal appends the venue's next seal, as the sealer does, as the app role.
func (j *journal) seal(venue string) {
	j.t.Helper()
	err := pgx.BeginFunc(context.Background(), j.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), pgscope.SetVenue, venue); err != nil {
			return err
		}
		ok, err := audit.Seal(context.Background(), store.JournalOn(tx), venue, time.Now(), sealKey)
		if err == nil && !ok {
			err = errors.New("nothing to seal")
		}
		return err
	})
	require.NoError(j.t, err)
}

// tx is one tampering attempt: a transaction in which a case changes the
// journal and Verify looks at the result; it is rolled back afterwards, so
// every case starts from the same journal.
type tx struct {
	t  *testing.T
	tx pgx.Tx
}

// exec runs one statement that must change something.
func (x tx) exec(sql string, args ...any) {
	x.t.Helper()
	tag, err := x.tx.Exec(context.Background(), sql, args...)
	require.NoError(x.t, err, sql)
	require.NotZero(x.t, tag.RowsAffected(), "%s changed nothing", sql)
}

func (x tx) eventID(id uuid.UUID, version int64) *uuid.UUID {
	x.t.Helper()
	var eid uuid.UUID
	require.NoError(x.t, x.tx.QueryRow(context.Background(),
		"SELECT id FROM order_events WHERE order_id = $1 AND version = $2", id, version).Scan(&eid))
	return &eid
}

func (x tx) count(sql string, args ...any) int64 {
	x.t.Helper()
	var n int64
	require.NoError(x.t, x.tx.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

func (x tx) verify(venue string) audit.Result {
	x.t.Helper()
	_, err := x.tx.Exec(context.Background(), pgscope.SetVenue, venue)
	require.NoError(x.t, err)
	res, err := audit.Verify(context.Background(), store.JournalOn(x.tx), venue, verifyOpts)
	require.NoError(x.t, err)
	return res
}

func (x tx) requireOK(venue string) {
	x.t.Helper()
	res := x.verify(venue)
	require.True(x.t, res.OK, "verify %s: %+v", venue, res.Broken)
}

func (j *journal) verify(venue string) audit.Result {
	j.t.Helper()
	res, err := j.st.Verify(context.Background(), venue, verifyOpts)
	require.NoError(j.t, err)
	return res
}

func (j *journal) requireOK(venue string) audit.Result {
	j.t.Helper()
	res := j.verify(venue)
	require.True(j.t, res.OK, "verify %s: %+v", venue, res.Broken)
	require.Nil(j.t, res.Broken)
	return res
}

func requireBroken(t *testing.T, res audit.Result, want audit.Broken) {
	t.Helper()
	require.False(t, res.OK, "tampering went unnoticed: %+v", res)
	require.NotNil(t, res.Broken)
	got := *res.Broken
	require.Equal(t, want.OrderID, got.OrderID, "broken order (%s)", got)
	require.Equal(t, want.Version, got.Version, "broken version (%s)", got)
	require.Equal(t, want.EventID, got.EventID, "broken event (%s)", got)
	require.Equal(t, want.Seal, got.Seal, "broken seal (%s)", got)
	require.Contains(t, got.Reason, want.Reason)
	if want.OrderID != nil && want.Seal == 0 {
		// (Broken.String drops the order and version of a broken seal
		// head: "seal 1: a sealed event is missing from the log".)
		require.Contains(t, got.String(), fmt.Sprintf("order %s version %d", want.OrderID, want.Version))
	}
}

func pgErr(t *testing.T, err error) *pgconn.PgError {
	t.Helper()
	var pe *pgconn.PgError
	require.ErrorAs(t, err, &pe)
	return pe
}

// journalTables are the tables that refuse UPDATE, DELETE and TRUNCATE.
var journalTables = []string{"order_events", "kitchen_ticket_events", "order_conflicts", "venue_seals", "menu_log"}

// fingerprint is a digest of every row of the journal tables.
func fingerprint(t *testing.T, j *journal) string {
	t.Helper()
	var b strings.Builder
	for _, tbl := range journalTables {
		var n int64
		var sum string
		require.NoError(t, j.db.Admin.QueryRow(context.Background(),
			"SELECT count(*), coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM "+tbl+" x").Scan(&n, &sum))
		require.NotZero(t, n, "%s must have rows for the test to mean anything", tbl)
		fmt.Fprintf(&b, "%s=%d/%s ", tbl, n, sum)
	}
	return b.String()
}

// TestAppendOnly: the journal tables refuse UPDATE, DELETE and TRUNCATE to
// the owner (a superuser here) through the triggers, and to posd's own role
// already through its privileges; the app role can neither switch the
// triggers off nor disable them. Nothing changes and the journal verifies.
func TestAppendOnly(t *testing.T) {
	t.Parallel()
	j := newJournal(t)
	j.seal("demo")
	ctx := context.Background()
	before := fingerprint(t, j)

	for _, tbl := range journalTables {
		for _, st := range []struct{ op, sql string }{
			{"UPDATE", "UPDATE " + tbl + " SET venue_id = venue_id"},
			{"DELETE", "DELETE FROM " + tbl},
			{"TRUNCATE", "TRUNCATE " + tbl},
		} {
			_, err := j.db.Admin.Exec(ctx, st.sql)
			pe := pgErr(t, err)
			require.Equal(t, "42501", pe.Code, "owner: %s: %v", st.sql, err)
			require.Equal(t, tbl+" is append-only: "+st.op+" refused", pe.Message, st.sql)

			_, err = j.db.Pool.Exec(ctx, st.sql)
			pe = pgErr(t, err)
			require.Equal(t, "42501", pe.Code, "app: %s: %v", st.sql, err)
			require.Equal(t, "permission denied for table "+tbl, pe.Message, "the privilege, not the trigger, stops the app role: %s", st.sql)
		}
	}
	// Also inside a transaction and through a CTE, the owner gets nowhere.
	_, err := j.db.Admin.Exec(ctx, "WITH d AS (DELETE FROM order_events WHERE order_id = $1 RETURNING 1) SELECT count(*) FROM d", j.A)
	require.Contains(t, pgErr(t, err).Message, "append-only")

	// The app role cannot take the triggers out of the way.
	_, err = j.db.Pool.Exec(ctx, "SET session_replication_role = replica")
	require.Equal(t, "42501", pgErr(t, err).Code, "%v", err)
	_, err = j.db.Pool.Exec(ctx, "ALTER TABLE order_events DISABLE TRIGGER append_only_rows")
	require.Equal(t, "42501", pgErr(t, err).Code, "%v", err)
	require.Contains(t, pgErr(t, err).Message, "must be owner")
	_, err = j.db.Pool.Exec(ctx, "DROP TRIGGER append_only_rows ON order_events")
	require.Equal(t, "42501", pgErr(t, err).Code, "%v", err)

	require.Equal(t, before, fingerprint(t, j))
	j.requireOK("demo")
}

// docHash is the chain link exactly as docs/AUDIT.md specifies it, written
// from the document rather than from the code.
func docHash(prev []byte, fields ...string) []byte {
	var b strings.Builder
	b.Write(prev)
	for _, f := range fields {
		fmt.Fprintf(&b, "%d:%s,", len(f), f)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return sum[:]
}

type eventRow struct {
	venue                         string
	OrderID                       uuid.UUID
	Version                       int64
	ID                            uuid.UUID
	Type, ActorDevice, ActorStaff string
	ActorRole, Ops                string
	At                            time.Time
	Forced                        bool
	OverriddenVersion             *int64
	Hash                          []byte
}

func allEvents(t *testing.T, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) []eventRow {
	t.Helper()
	rows, err := q.Query(context.Background(), `SELECT venue_id, order_id, version, id, type, at, actor_device, actor_staff,
		actor_role, ops::text, forced, overridden_version, hash FROM order_events ORDER BY venue_id, order_id, version`)
	require.NoError(t, err)
	var out []eventRow
	for rows.Next() {
		var r eventRow
		require.NoError(t, rows.Scan(&r.venue, &r.OrderID, &r.Version, &r.ID, &r.Type, &r.At, &r.ActorDevice, &r.ActorStaff,
			&r.ActorRole, &r.Ops, &r.Forced, &r.OverriddenVersion, &r.Hash))
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

// requireChainsAgree walks every order's chain and checks, per event, that
// the stored hash, the Go implementation, the SQL implementation
// (posd_event_hash, called as the app role) and the documented encoding
// agree, and that each order's last_hash is its chain's head.
func requireChainsAgree(t *testing.T, j *journal, sqlDB store.JournalDB) int {
	t.Helper()
	ctx := context.Background()
	evs := allEvents(t, j.db.Admin)
	heads := map[uuid.UUID][]byte{}
	var prev []byte
	for i, e := range evs {
		if i == 0 || e.OrderID != evs[i-1].OrderID {
			prev = audit.ZeroHash
			require.EqualValues(t, 1, e.Version)
		} else {
			require.Equal(t, evs[i-1].Version+1, e.Version)
		}
		ev := order.Event{ID: e.ID, Venue: e.venue, OrderID: e.OrderID, Version: e.Version, Type: e.Type, At: e.At,
			Actor: order.Actor{Device: e.ActorDevice, Staff: e.ActorStaff, Role: e.ActorRole}, Forced: e.Forced,
			OverriddenVersion: e.OverriddenVersion}
		goHash := audit.EventHash(prev, ev, []byte(e.Ops))
		sqlHash, err := store.JournalOn(sqlDB).SQLEventHash(ctx, prev, e.venue, e.OrderID, e.Version)
		require.NoError(t, err)
		overridden := ""
		if e.OverriddenVersion != nil {
			overridden = strconv.FormatInt(*e.OverriddenVersion, 10)
		}
		doc := docHash(prev, "posd.event.v1", e.venue, e.OrderID.String(), strconv.FormatInt(e.Version, 10), e.ID.String(), e.Type,
			e.At.UTC().Format("2006-01-02T15:04:05.000000Z"), e.ActorDevice, e.ActorStaff, e.ActorRole, strconv.FormatBool(e.Forced),
			overridden, e.Ops)
		where := fmt.Sprintf("%s order %s version %d", e.venue, e.OrderID, e.Version)
		require.Equal(t, hex.EncodeToString(e.Hash), hex.EncodeToString(goHash), "Go, %s", where)
		require.Equal(t, hex.EncodeToString(e.Hash), hex.EncodeToString(sqlHash), "SQL, %s", where)
		require.Equal(t, hex.EncodeToString(e.Hash), hex.EncodeToString(doc), "docs/AUDIT.md, %s", where)
		prev = e.Hash
		heads[e.OrderID] = e.Hash
	}
	rows, err := j.db.Admin.Query(ctx, "SELECT id, last_hash FROM orders")
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		var id uuid.UUID
		var h []byte
		require.NoError(t, rows.Scan(&id, &h))
		require.Equal(t, hex.EncodeToString(heads[id]), hex.EncodeToString(h), "order %s head", id)
		n++
	}
	require.NoError(t, rows.Err())
	require.Len(t, heads, n)
	return len(evs)
}

// TestChainGoEqualsSQL: for every event posd wrote (unicode, escapes,
// voids, comps, a forced override, two venues) the Go link, the SQL link
// and the documented encoding are the same bytes.
func TestChainGoEqualsSQL(t *testing.T) {
	t.Parallel()
	j := newJournal(t)
	n := requireChainsAgree(t, j, j.db.Admin)
	require.Equal(t, 5+6+1+3+2, n)
	// The multi-byte text really is in the hashed ops, so byte and
	// character lengths differ and the netstrings must count bytes.
	require.EqualValues(t, 2, j.db.Count(t, `SELECT count(*) FROM order_events WHERE ops::text LIKE '%☕%' OR ops::text LIKE '%🎂%'`))
	var ns string
	require.NoError(t, j.db.Pool.QueryRow(context.Background(), "SELECT convert_from(posd_netstring('café ☕'), 'UTF8')").Scan(&ns))
	require.Equal(t, "9:café ☕,", ns) // 6 characters, 9 bytes
}

// TestChainGoEqualsSQLEdgeTimes: events with awkward times (no fraction, one
// microsecond, just before a second boundary, another century), a forced
// override and verbatim JSON whitespace, hashed by Go, agree with the SQL
// link computed in a session whose time zone is not UTC, and verify.
func TestChainGoEqualsSQLEdgeTimes(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	ctx := context.Background()
	id := uuid.Must(uuid.NewV7())
	times := []time.Time{
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 29, 1, 0, 0, 1000, time.UTC),
		time.Date(2026, 6, 30, 23, 59, 59, 999999000, time.UTC),
		time.Date(2100, 12, 31, 23, 59, 59, 500000000, time.FixedZone("x", 5*3600+45*60)),
	}
	ops := []string{`[{"op":"open","table":"T9","guests":2}]`, `[ {"op":"set_note", "note":"naïve 🍷"} ]`,
		`[{"op":"set_guests","guests":3}]`, "[{\"op\":\"set_note\",\"note\":\"\\u00e9\\n\"}]\n"}
	// The actor is a device of the venue (revoked since: its events stay
	// valid), and the order row is what its log folds to (Verify compares
	// them).
	_, err := db.Admin.Exec(ctx, `INSERT INTO devices (venue_id, id, name, role, staff, token_hash, revoked_at)
		VALUES ('demo', $1, 'waiter-1', 'waiter', 'Ålice "A"', sha256('edge'), now())`, uuid.Must(uuid.NewV7()))
	require.NoError(t, err)
	_, err = db.Admin.Exec(ctx, `INSERT INTO orders (venue_id, id, table_id, status, guests, note, version, server_staff, opened_at, updated_at, last_hash)
		VALUES ('demo', $1, 'T9', 'open', 3, E'\u00e9\n', 4, 'Ålice "A"', $2, $3, $4)`, id, times[0], times[3], make([]byte, 32))
	require.NoError(t, err)
	prev := audit.ZeroHash
	for i, at := range times {
		v := int64(i + 1)
		ev := order.Event{ID: uuid.Must(uuid.NewV7()), Venue: "demo", OrderID: id, Version: v, Type: order.EventPatched, At: at,
			Actor: order.Actor{Device: "waiter-1", Staff: "Ålice \"A\"", Role: order.RoleWaiter}}
		if i == 0 {
			ev.Type = order.EventOpened
		}
		if i == 2 {
			two := int64(2)
			ev.Forced, ev.OverriddenVersion, ev.Actor = true, &two, maria
		}
		h := audit.EventHash(prev, ev, []byte(ops[i]))
		_, err := db.Admin.Exec(ctx, `INSERT INTO order_events (venue_id, order_id, version, id, type, at, actor_device, actor_staff,
			actor_role, ops, forced, overridden_version, hash) VALUES ('demo', $1, $2, $3, $4, $5, $6, $7, $8, $9::text::json, $10, $11, $12)`,
			id, v, ev.ID, ev.Type, at, ev.Actor.Device, ev.Actor.Staff, ev.Actor.Role, ops[i], ev.Forced, ev.OverriddenVersion, h)
		require.NoError(t, err)
		prev = h
	}
	_, err = db.Admin.Exec(ctx, "UPDATE orders SET last_hash = $2 WHERE id = $1", id, prev)
	require.NoError(t, err)
	// The stored ops are the text written, byte for byte.
	var stored string
	require.NoError(t, db.Admin.QueryRow(ctx, "SELECT ops::text FROM order_events WHERE order_id = $1 AND version = 4", id).Scan(&stored))
	require.Equal(t, ops[3], stored)

	cfg, err := pgx.ParseConfig(db.AdminURL)
	require.NoError(t, err)
	cfg.RuntimeParams["TimeZone"] = "Pacific/Chatham"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	defer conn.Close(ctx)
	j := &journal{t: t, db: db, st: store.New(db.Pool)}
	_, err = conn.Exec(ctx, pgscope.SystemSession)
	require.NoError(t, err)
	require.Equal(t, 4, requireChainsAgree(t, j, conn))
	res, err := audit.Verify(ctx, store.JournalOn(conn), "demo", audit.VerifyOptions{})
	require.NoError(t, err)
	require.True(t, res.OK, "%+v", res.Broken)
	require.EqualValues(t, 4, res.EventsChecked)
}

// TestVerifyClean: a venue with several orders and two seals verifies, with
// every event, order and seal counted, and only its own.
func TestVerifyClean(t *testing.T) {
	t.Parallel()
	j := newJournal(t)
	res := j.requireOK("demo")
	demoTickets := j.db.Count(t, "SELECT count(*) FROM kitchen_tickets WHERE venue_id = 'demo'")
	require.NotZero(t, demoTickets)
	require.Equal(t, counts{OK: true, Events: 15, Orders: 4, Tickets: demoTickets}, countsOf(res))
	require.True(t, res.SignaturesChecked)
	require.Nil(t, res.LastSealAt, "no seal yet")
	require.EqualValues(t, 15, res.UnsealedEvents)

	j.seal("demo")
	j.patch("demo", j.D, 3, alice, `{"op":"set_note","note":"after the first seal"}`)
	j.patch("demo", j.C, 1, bruno, `{"op":"add_item","sku":"espresso"}`)
	// The periodic sealer seals every venue with changes: demo's second
	// seal and demo2's first.
	require.NoError(t, (&audit.Sealer{Journal: j.st, Key: sealKey}).SealAll(context.Background()))
	require.EqualValues(t, 2, j.db.Count(t, "SELECT count(*) FROM venue_seals WHERE venue_id = 'demo'"))

	res = j.requireOK("demo")
	require.Equal(t, counts{OK: true, Events: 17, Orders: 4, Seals: 2, Tickets: demoTickets}, countsOf(res))
	require.Zero(t, res.UnsealedEvents, "every event is under a signed seal")
	require.NotNil(t, res.LastSealAgeSeconds)
	require.Equal(t, j.db.Count(t, "SELECT count(*) FROM order_events WHERE venue_id = 'demo'"), res.EventsChecked)
	res = j.requireOK("demo2")
	require.Equal(t, counts{OK: true, Events: 2, Orders: 1, Seals: 1}, countsOf(res))
	// The second seal holds every order's head as it is now.
	var heads string
	require.NoError(t, j.db.Admin.QueryRow(context.Background(), "SELECT heads::text FROM venue_seals WHERE venue_id = 'demo' AND seq = 2").Scan(&heads))
	var hs []audit.Head
	require.NoError(t, json.Unmarshal([]byte(heads), &hs))
	want := map[uuid.UUID]int64{j.A: 5, j.B: 6, j.C: 2, j.D: 4}
	require.Len(t, hs, len(want))
	for _, h := range hs {
		require.Equal(t, want[h.OrderID], h.Version, "head of %s", h.OrderID)
	}
}

// TestTamperDetected: each change made behind posd's back (as a superuser
// with every trigger off, or through the app role's own privileges on the
// order rows) is reported by Verify, naming the first bad link. All cases
// share one sealed journal: each tampers in a transaction that it rolls back,
// and checks first that the journal verifies in that transaction.
func TestTamperDetected(t *testing.T) {
	t.Parallel()
	j := newJournal(t)
	j.seal("demo")
	j.patch("demo", j.D, 3, alice, `{"op":"set_note","note":"after the first seal"}`)
	j.seal("demo")
	j.seal("demo2")
	cases := []struct {
		name  string
		venue string
		// app runs the case as posd's own role; otherwise it runs as the
		// superuser with session_replication_role = replica.
		app    bool
		tamper func(x tx) audit.Broken
	}{
		{"edit an event's actor", "demo", false, func(x tx) audit.Broken {
			x.exec("UPDATE order_events SET actor_staff = 'Bruno' WHERE order_id = $1 AND version = 4", j.B)
			return audit.Broken{OrderID: &j.B, Version: 4, EventID: x.eventID(j.B, 4), Reason: "hash does not match"}
		}},
		{"edit an event's ops", "demo", false, func(x tx) audit.Broken {
			x.exec("UPDATE order_events SET ops = replace(ops::text, 'anniversaire', 'staff meal')::json WHERE order_id = $1 AND version = 4", j.A)
			return audit.Broken{OrderID: &j.A, Version: 4, EventID: x.eventID(j.A, 4), Reason: "hash does not match"}
		}},
		{"reformat an event's ops", "demo", false, func(x tx) audit.Broken {
			// The same JSON value with one more space: the bytes are hashed.
			x.exec("UPDATE order_events SET ops = (' ' || ops::text)::json WHERE order_id = $1 AND version = 2", j.A)
			return audit.Broken{OrderID: &j.A, Version: 2, EventID: x.eventID(j.A, 2), Reason: "hash does not match"}
		}},
		{"move an event's time by a microsecond", "demo", false, func(x tx) audit.Broken {
			x.exec("UPDATE order_events SET at = at + interval '1 microsecond' WHERE order_id = $1 AND version = 2", j.B)
			return audit.Broken{OrderID: &j.B, Version: 2, EventID: x.eventID(j.B, 2), Reason: "hash does not match"}
		}},
		{"hide a forced override", "demo", false, func(x tx) audit.Broken {
			x.exec("UPDATE order_events SET forced = false, overridden_version = NULL WHERE order_id = $1 AND version = 6", j.B)
			return audit.Broken{OrderID: &j.B, Version: 6, EventID: x.eventID(j.B, 6), Reason: "hash does not match"}
		}},
		{"edit an event and recompute its hash", "demo", false, func(x tx) audit.Broken {
			x.exec("UPDATE order_events SET actor_staff = 'Alice' WHERE order_id = $1 AND version = 3", j.B)
			x.exec(`UPDATE order_events e SET hash = posd_event_hash(
				(SELECT p.hash FROM order_events p WHERE p.order_id = e.order_id AND p.version = 2), e)
				WHERE e.order_id = $1 AND e.version = 3`, j.B)
			// Version 3's hash checks out, but posd's signature was over the
			// old hash (and Alice is not the staff of device waiter-2).
			return audit.Broken{OrderID: &j.B, Version: 3, EventID: x.eventID(j.B, 3), Reason: "signature does not verify"}
		}},
		{"rewrite a sealed order's whole chain consistently", "demo", false, func(x tx) audit.Broken {
			// A rule-abiding edit: another reason for the void.
			x.exec("UPDATE order_events SET ops = replace(ops::text, 'dropped', 'spilled')::json WHERE order_id = $1 AND version = 4", j.B)
			for v := 4; v <= 6; v++ {
				x.exec(`UPDATE order_events e SET hash = posd_event_hash(
					(SELECT p.hash FROM order_events p WHERE p.order_id = e.order_id AND p.version = e.version - 1), e)
					WHERE e.order_id = $1 AND e.version = $2`, j.B, v)
			}
			x.exec("UPDATE orders o SET last_hash = e.hash FROM order_events e WHERE e.order_id = o.id AND o.id = $1 AND e.version = 6", j.B)
			// Every chain is consistent again, but the events' signatures
			// were over the old hashes (and the seal still has the old head).
			return audit.Broken{OrderID: &j.B, Version: 4, EventID: x.eventID(j.B, 4), Reason: "signature does not verify"}
		}},
		{"delete an event in the middle", "demo", false, func(x tx) audit.Broken {
			want := x.eventID(j.A, 4)
			x.exec("DELETE FROM order_events WHERE order_id = $1 AND version = 3", j.A)
			return audit.Broken{OrderID: &j.A, Version: 4, EventID: want, Reason: "version 4 follows version 2"}
		}},
		{"delete the last event", "demo", false, func(x tx) audit.Broken {
			x.exec("DELETE FROM order_events WHERE order_id = $1 AND version = 5", j.A)
			return audit.Broken{OrderID: &j.A, Version: 5, Reason: "at version 5 but its log ends at version 4"}
		}},
		{"roll an order back one change consistently", "demo", false, func(x tx) audit.Broken {
			// D's version 4 was written after the first seal and sealed by
			// the second; the attacker removes it and rewinds the order row.
			x.exec("DELETE FROM order_events WHERE order_id = $1 AND version = 4", j.D)
			x.exec(`UPDATE orders o SET version = 3, last_hash = e.hash, note = '', updated_at = e.at
				FROM order_events e WHERE e.order_id = o.id AND o.id = $1 AND e.version = 3`, j.D)
			return audit.Broken{OrderID: &j.D, Version: 4, Seal: 2, Reason: "sealed event is missing"}
		}},
		{"lower a tip through the app role", "demo", true, func(x tx) audit.Broken {
			x.exec("UPDATE order_payments SET tip_cents = 0 WHERE order_id = $1", j.A)
			return audit.Broken{OrderID: &j.A, Version: 5, Reason: "differs from its log: payments"}
		}},
		{"credit another server through the app role", "demo", true, func(x tx) audit.Broken {
			x.exec("UPDATE orders SET server_staff = 'Chloe' WHERE id = $1", j.D)
			return audit.Broken{OrderID: &j.D, Version: 4, Reason: "differs from its log: server"}
		}},
		{"change a line's quantity through the app role", "demo", true, func(x tx) audit.Broken {
			x.exec("UPDATE order_lines SET qty = qty + 1 WHERE order_id = $1", j.D)
			return audit.Broken{OrderID: &j.D, Version: 4, Reason: "differs from its log: line"}
		}},
		{"give a line portions it never took through the app role", "demo", true, func(x tx) audit.Broken {
			// A line holding portions gives them back when removed: a way
			// to conjure portions of a counted item.
			x.exec("UPDATE order_lines SET portions = qty WHERE order_id = $1", j.D)
			return audit.Broken{OrderID: &j.D, Version: 4, Reason: "differs from its log: line"}
		}},
		{"delete all of an order's events", "demo", false, func(x tx) audit.Broken {
			x.exec("DELETE FROM order_events WHERE order_id = $1", j.D)
			return audit.Broken{OrderID: &j.D, Version: 1, Reason: "no events"}
		}},
		{"delete an order row but not its events", "demo", false, func(x tx) audit.Broken {
			x.exec("DELETE FROM orders WHERE id = $1", j.C)
			return audit.Broken{OrderID: &j.C, Version: 1, Reason: "events exist for an order that does not"}
		}},
		{"delete a sealed order entirely", "demo", false, func(x tx) audit.Broken {
			for _, sql := range []string{
				"DELETE FROM order_events WHERE order_id = $1",
				"DELETE FROM order_lines WHERE order_id = $1",
				"DELETE FROM order_payments WHERE order_id = $1",
				"DELETE FROM kitchen_ticket_events WHERE ticket_id IN (SELECT id FROM kitchen_tickets WHERE order_id = $1)",
				"DELETE FROM kitchen_tickets WHERE order_id = $1",
				"DELETE FROM outbox WHERE order_id = $1",
				"DELETE FROM orders WHERE id = $1",
			} {
				x.exec(sql, j.A)
			}
			require.Zero(x.t, x.count("SELECT count(*) FROM order_conflicts WHERE order_id = $1", j.A))
			// Every remaining chain is intact; only the seal remembers A.
			return audit.Broken{OrderID: &j.A, Version: 5, Seal: 1, Reason: "sealed event is missing"}
		}},
		{"swap two events", "demo", false, func(x tx) audit.Broken {
			v3 := x.eventID(j.A, 3)
			for _, st := range [][2]int{{2, 1000}, {3, 2}, {1000, 3}} {
				x.exec("UPDATE order_events SET version = $3 WHERE order_id = $1 AND version = $2", j.A, st[0], st[1])
			}
			return audit.Broken{OrderID: &j.A, Version: 2, EventID: v3, Reason: "hash does not match"}
		}},
		{"app role rewrites an order's head hash", "demo", true, func(x tx) audit.Broken {
			x.exec("UPDATE orders SET last_hash = sha256('forged') WHERE id = $1", j.A)
			return audit.Broken{OrderID: &j.A, Version: 5, Reason: "recorded head hash does not match"}
		}},
		{"app role moves an order's version ahead of its log", "demo", true, func(x tx) audit.Broken {
			x.exec("UPDATE orders SET version = version + 1 WHERE id = $1", j.B)
			return audit.Broken{OrderID: &j.B, Version: 7, Reason: "at version 7 but its log ends at version 6"}
		}},
		{"drop a head from a seal", "demo", false, func(x tx) audit.Broken {
			x.exec(`UPDATE venue_seals SET heads = (SELECT json_agg(h) FROM json_array_elements(heads) h WHERE h->>'order_id' <> $1)
				WHERE venue_id = 'demo' AND seq = 1`, j.A.String())
			return audit.Broken{Seal: 1, Reason: "seal hash does not match"}
		}},
		{"forge a seal and recompute its hash", "demo", false, func(x tx) audit.Broken {
			var at time.Time
			var raw string
			require.NoError(x.t, x.tx.QueryRow(context.Background(),
				"SELECT sealed_at, heads::text FROM venue_seals WHERE venue_id = 'demo' AND seq = 1").Scan(&at, &raw))
			var heads, kept []audit.Head
			require.NoError(x.t, json.Unmarshal([]byte(raw), &heads))
			for _, h := range heads {
				if h.OrderID != j.A {
					kept = append(kept, h)
				}
			}
			require.Len(x.t, kept, len(heads)-1)
			forged, err := json.Marshal(kept)
			require.NoError(x.t, err)
			x.exec("UPDATE venue_seals SET heads = $1::text::json, hash = $2 WHERE venue_id = 'demo' AND seq = 1",
				string(forged), audit.SealHash(audit.ZeroHash, "demo", 1, at, kept))
			// Seal 1's hash checks out by itself, but the app role cannot
			// sign it with posd's key.
			return audit.Broken{Seal: 1, Reason: "seal signature does not verify"}
		}},
		{"delete the first seal", "demo", false, func(x tx) audit.Broken {
			x.exec("DELETE FROM venue_seals WHERE venue_id = 'demo' AND seq = 1")
			return audit.Broken{Seal: 2, Reason: "seal 2 follows seal 0"}
		}},
		{"edit another venue's event", "demo2", false, func(x tx) audit.Broken {
			x.exec("UPDATE order_events SET actor_staff = 'Mallory' WHERE order_id = $1 AND version = 2", j.E)
			// The venue tampered with is broken; the other is not affected.
			x.requireOK("demo")
			return audit.Broken{OrderID: &j.E, Version: 2, EventID: x.eventID(j.E, 2), Reason: "hash does not match"}
		}},
	}
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pool := j.db.Admin
			if c.app {
				pool = j.db.Pool
			}
			ptx, err := pool.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = ptx.Rollback(ctx) }()
			x := tx{t: t, tx: ptx}
			if !c.app {
				_, err := ptx.Exec(ctx, "SET LOCAL session_replication_role = replica")
				require.NoError(t, err)
			}
			x.requireOK("demo")
			x.requireOK("demo2")
			_, err = ptx.Exec(ctx, pgscope.SetVenue, c.venue)
			require.NoError(t, err)
			want := c.tamper(x)
			requireBroken(t, x.verify(c.venue), want)
		})
	}
	// Every case was rolled back: the journal verifies as it did.
	require.Equal(t, counts{OK: true, Events: 16, Orders: 4, Seals: 2,
		Tickets: j.db.Count(t, "SELECT count(*) FROM kitchen_tickets WHERE venue_id = 'demo'")}, countsOf(j.requireOK("demo")))
	j.requireOK("demo2")
}

// appendEvent appends the next event of order id as posd's own role could:
// a valid chain link (SHA-256 needs no secret) and the order's version,
// head hash and time moved to match — and signed with posd's key, as if the
// attacker also held it (a stolen posd host), so the cases show that the
// order's rules are checked on their own. It returns the event's id.
func (x tx) appendEvent(id uuid.UUID, actor order.Actor, at time.Time, ops string) *uuid.UUID {
	x.t.Helper()
	return x.appendEventSigned(id, actor, at, ops, sealKey)
}

// appendUnsigned is appendEvent with what the app role alone has: no key.
func (x tx) appendUnsigned(id uuid.UUID, actor order.Actor, at time.Time, ops string) *uuid.UUID {
	x.t.Helper()
	return x.appendEventSigned(id, actor, at, ops, nil)
}

func (x tx) appendEventSigned(id uuid.UUID, actor order.Actor, at time.Time, ops string, key ed25519.PrivateKey) *uuid.UUID {
	x.t.Helper()
	ctx := context.Background()
	var version int64
	var prev []byte
	require.NoError(x.t, x.tx.QueryRow(ctx, "SELECT version, last_hash FROM orders WHERE id = $1", id).Scan(&version, &prev))
	ev := order.Event{ID: uuid.Must(uuid.NewV7()), Venue: "demo", OrderID: id, Version: version + 1, Type: order.EventPatched,
		At: at.UTC().Truncate(time.Microsecond), Actor: actor}
	h := audit.EventHash(prev, ev, []byte(ops))
	var sig []byte
	if key != nil {
		sig = audit.SignEvent(key, "demo", h)
	}
	x.exec(`INSERT INTO order_events (venue_id, order_id, version, id, type, at, actor_device, actor_staff, actor_role, ops, hash, signature)
		VALUES ('demo', $1, $2, $3, $4, $5, $6, $7, $8, $9::text::json, $10, $11)`,
		id, ev.Version, ev.ID, ev.Type, ev.At, actor.Device, actor.Staff, actor.Role, ops, h, sig)
	x.exec("UPDATE orders SET version = $2, last_hash = $3, updated_at = $4 WHERE id = $1", id, ev.Version, h, ev.At)
	return &ev.ID
}

// lineOf reads what a comp or void records of an order's line.
func (x tx) lineOf(id uuid.UUID, sku string) (lineID, name, station string, qty int, price int64) {
	x.t.Helper()
	require.NoError(x.t, x.tx.QueryRow(context.Background(),
		"SELECT id::text, name, station, qty, unit_price_cents FROM order_lines WHERE order_id = $1 AND sku = $2", id, sku).
		Scan(&lineID, &name, &station, &qty, &price))
	return
}

// TestForgedByAppRole: events appended with posd's own database role, with
// valid chain hashes and the order rows updated to match, that posd would
// never have written, are reported by Verify naming the event: without
// posd's signature at once, and with it (a stolen key) by the order's
// rules; the shift report decodes ops, so a comp written with other spacing
// is still listed. Every case fails on the verifier that only recomputed
// hashes.
func TestForgedByAppRole(t *testing.T) {
	t.Parallel()
	j := newJournal(t)
	j.seal("demo")
	ctx := context.Background()
	cases := []struct {
		name   string
		tamper func(x tx) audit.Broken
	}{
		{"a manager's comp appended to a closed order", func(x tx) audit.Broken {
			line, name, station, qty, price := x.lineOf(j.A, "steak")
			// Spaces after the colons: the old report matched "op":"comp_item" as text.
			ops := fmt.Sprintf(`[{"op": "comp_item", "line_id": %q, "sku": "steak", "name": %q, "unit_price_cents": %d, "station": %q, "qty": %d, "reason": "regular", "table": "T1"}]`,
				line, name, price, station, qty)
			eid := x.appendEvent(j.A, maria, time.Now(), ops)
			x.exec("UPDATE order_lines SET comped = true WHERE id = $1", line)
			// The report is not fooled: the comp is listed, with its amount.
			r, err := audit.Shift(ctx, store.JournalOn(x.tx), "demo", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
			require.NoError(x.t, err)
			found := false
			for _, c := range r.Comps {
				if c.OrderID == j.A && c.Version == 6 {
					found = true
					require.Equal(x.t, "steak", c.SKU)
					require.EqualValues(x.t, int64(qty)*price, c.AmountCents)
					require.Equal(x.t, "Maria", c.By)
				}
			}
			require.True(x.t, found, "the forged comp is missing from the report: %+v", r.Comps)
			return audit.Broken{OrderID: &j.A, Version: 6, EventID: eid, Reason: "an op after the order was closed"}
		}},
		{"a rule-abiding comp without posd's signature", func(x tx) audit.Broken {
			line, name, station, qty, price := x.lineOf(j.D, "caesar")
			ops := fmt.Sprintf(`[{"op":"comp_item","line_id":%q,"sku":"caesar","name":%q,"unit_price_cents":%d,"station":%q,"qty":%d,"table":"T5","reason":"x"}]`,
				line, name, price, station, qty)
			eid := x.appendUnsigned(j.D, maria, time.Now(), ops)
			x.exec("UPDATE order_lines SET comped = true WHERE id = $1", line)
			return audit.Broken{OrderID: &j.D, Version: 4, EventID: eid, Reason: "not signed and no signed seal covers it"}
		}},
		{"a backdated tip", func(x tx) audit.Broken {
			var last time.Time
			require.NoError(x.t, x.tx.QueryRow(ctx, "SELECT updated_at FROM orders WHERE id = $1", j.B).Scan(&last))
			eid := x.appendEvent(j.B, bruno, last.Add(-2*time.Hour), `[{"op":"add_payment","tender":"cash","amount_cents":100,"tip_cents":5000}]`)
			x.exec("INSERT INTO order_payments (venue_id, order_id, position, tender, amount_cents, tip_cents) VALUES ('demo', $1, 1, 'cash', 100, 5000)", j.B)
			return audit.Broken{OrderID: &j.B, Version: 7, EventID: eid, Reason: "time goes backwards"}
		}},
		{"a waiter's comp", func(x tx) audit.Broken {
			line, name, station, qty, price := x.lineOf(j.D, "caesar")
			ops := fmt.Sprintf(`[{"op":"comp_item","line_id":%q,"sku":"caesar","name":%q,"unit_price_cents":%d,"station":%q,"qty":%d,"table":"T5","reason":"x"}]`,
				line, name, price, station, qty)
			eid := x.appendEvent(j.D, alice, time.Now(), ops)
			x.exec("UPDATE order_lines SET comped = true WHERE id = $1", line)
			return audit.Broken{OrderID: &j.D, Version: 4, EventID: eid, Reason: "an op the actor's role (waiter) may not do"}
		}},
		{"a comp by a waiter's device claiming the manager role", func(x tx) audit.Broken {
			line, name, station, qty, price := x.lineOf(j.D, "caesar")
			ops := fmt.Sprintf(`[{"op":"comp_item","line_id":%q,"sku":"caesar","name":%q,"unit_price_cents":%d,"station":%q,"qty":%d,"table":"T5","reason":"x"}]`,
				line, name, price, station, qty)
			fake := order.Actor{Device: alice.Device, Staff: alice.Staff, Role: order.RoleManager}
			eid := x.appendEvent(j.D, fake, time.Now(), ops)
			x.exec("UPDATE order_lines SET comped = true WHERE id = $1", line)
			return audit.Broken{OrderID: &j.D, Version: 4, EventID: eid, Reason: "is not a device of the venue"}
		}},
		{"a comp that records another price", func(x tx) audit.Broken {
			line, name, station, qty, _ := x.lineOf(j.D, "caesar")
			ops := fmt.Sprintf(`[{"op":"comp_item","line_id":%q,"sku":"caesar","name":%q,"unit_price_cents":1,"station":%q,"qty":%d,"table":"T5","reason":"x"}]`,
				line, name, station, qty)
			eid := x.appendEvent(j.D, maria, time.Now(), ops)
			x.exec("UPDATE order_lines SET comped = true WHERE id = $1", line)
			return audit.Broken{OrderID: &j.D, Version: 4, EventID: eid, Reason: "not what posd applies"}
		}},
		{"a waiter's discount", func(x tx) audit.Broken {
			eid := x.appendEvent(j.D, alice, time.Now(), `[{"op":"add_discount","id":"pals","amount_cents":1200,"reason":"friends"}]`)
			x.exec(`UPDATE orders SET discounts = '[{"id":"pals","amount_cents":1200,"reason":"friends","by":"Alice"}]' WHERE id = $1`, j.D)
			return audit.Broken{OrderID: &j.D, Version: 4, EventID: eid, Reason: "an op the actor's role (waiter) may not do"}
		}},
		{"a payment over what is due", func(x tx) audit.Broken {
			pid := uuid.Must(uuid.NewV7())
			eid := x.appendEvent(j.D, alice, time.Now(), fmt.Sprintf(`[{"op":"add_payment","payment_id":%q,"tender":"card","amount_cents":5000,"tip_cents":0}]`, pid))
			x.exec("INSERT INTO order_payments (venue_id, order_id, position, id, tender, amount_cents, tip_cents) VALUES ('demo', $1, 0, $2, 'card', 5000, 0)", j.D, pid)
			return audit.Broken{OrderID: &j.D, Version: 4, EventID: eid, Reason: "exceeds the 1200 cents due"}
		}},
		{"a payment in a tender that is no tender", func(x tx) audit.Broken {
			pid := uuid.Must(uuid.NewV7())
			eid := x.appendEvent(j.D, alice, time.Now(), fmt.Sprintf(`[{"op":"add_payment","payment_id":%q,"tender":"Gift Card","amount_cents":100,"tip_cents":0}]`, pid))
			x.exec("INSERT INTO order_payments (venue_id, order_id, position, id, tender, amount_cents, tip_cents) VALUES ('demo', $1, 0, $2, 'Gift Card', 100, 0)", j.D, pid)
			return audit.Broken{OrderID: &j.D, Version: 4, EventID: eid, Reason: "tender"}
		}},
		{"a refund of more than was paid", func(x tx) audit.Broken {
			pid, rid := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
			eid := x.appendEvent(j.D, maria, time.Now(), fmt.Sprintf(`[{"op":"add_payment","payment_id":%[1]q,"tender":"card","amount_cents":1200,"tip_cents":0},`+
				`{"op":"refund_payment","payment_index":0,"payment_id":%[1]q,"refund_id":%[2]q,"tender":"card","amount_cents":2000,"reason":"x"}]`, pid, rid))
			return audit.Broken{OrderID: &j.D, Version: 4, EventID: eid, Reason: "at most 1200 cents of payment 0 are left to refund"}
		}},
		{"a refund that names another tender", func(x tx) audit.Broken {
			pid, rid := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
			eid := x.appendEvent(j.D, maria, time.Now(), fmt.Sprintf(`[{"op":"add_payment","payment_id":%[1]q,"tender":"card","amount_cents":1200,"tip_cents":0},`+
				`{"op":"refund_payment","payment_index":0,"payment_id":%[1]q,"refund_id":%[2]q,"tender":"cash","amount_cents":200,"reason":"x"}]`, pid, rid))
			return audit.Broken{OrderID: &j.D, Version: 4, EventID: eid, Reason: "not what posd applies"}
		}},
		{"an op spelled in another case", func(x tx) audit.Broken {
			eid := x.appendEvent(j.D, alice, time.Now(), `[{"Op":"set_note","note":"hidden"}]`)
			x.exec("UPDATE orders SET note = 'hidden' WHERE id = $1", j.D)
			return audit.Broken{OrderID: &j.D, Version: 4, EventID: eid, Reason: `member "Op" that is not a field`}
		}},
		{"a member given twice", func(x tx) audit.Broken {
			eid := x.appendEvent(j.D, alice, time.Now(), `[{"op":"set_note","note":"a","note":"b"}]`)
			x.exec("UPDATE orders SET note = 'b' WHERE id = $1", j.D)
			return audit.Broken{OrderID: &j.D, Version: 4, EventID: eid, Reason: `the member "note" twice`}
		}},
		{"a kitchen ticket for a change that sent nothing", func(x tx) audit.Broken {
			tid := uuid.Must(uuid.NewV7())
			x.exec(`INSERT INTO kitchen_tickets (venue_id, id, order_id, table_id, station, kind, lines, status, server, order_version, created_at)
				SELECT 'demo', $2, id, table_id, 'grill', 'fire', '[]', 'new', server_staff, 2, updated_at FROM orders WHERE id = $1`, j.D, tid)
			x.exec(`INSERT INTO kitchen_ticket_events (venue_id, id, ticket_id, action, at, actor_device, actor_staff)
				VALUES ('demo', $1, $2, 'created', now(), 'waiter-1', 'Alice')`, uuid.Must(uuid.NewV7()), tid)
			return audit.Broken{OrderID: &j.D, Version: 2, EventID: x.eventID(j.D, 2), Reason: "kitchen tickets of this change are not the ones it creates"}
		}},
		{"a ticket marked ready behind its log's back", func(x tx) audit.Broken {
			x.exec("UPDATE kitchen_tickets SET status = 'ready', bumped_at = now() WHERE order_id = $1", j.B)
			return audit.Broken{OrderID: &j.B, Version: 3, Reason: "is ready but its log says new"}
		}},
		{"a refused write that never happened", func(x tx) audit.Broken {
			x.exec(`INSERT INTO order_conflicts (venue_id, id, order_id, table_id, device, staff, role, expected_version, current_version, via, at)
				VALUES ('demo', $1, $2, 'T3', 'waiter-2', 'Bruno', 'waiter', 1, 9, 'if-match', now())`, uuid.Must(uuid.NewV7()), j.C)
			return audit.Broken{OrderID: &j.C, Version: 9, Reason: "does not match its order"}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ptx, err := j.db.Pool.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = ptx.Rollback(ctx) }()
			x := tx{t: t, tx: ptx}
			x.requireOK("demo")
			_, err = ptx.Exec(ctx, pgscope.SetVenue, "demo")
			require.NoError(t, err)
			want := c.tamper(x)
			requireBroken(t, x.verify("demo"), want)
		})
	}
	j.requireOK("demo")
}

// TestForgedTailNotSigned: posd's own role appends an event that obeys
// every rule, with a valid hash, and tries to seal it: a seal signed with
// any other key, or not signed, is refused; without a seal the event is
// reported as unsealed, and fails verification once it is older than the
// seal interval and grace allow. An event dated in the future to stay
// "fresh" is refused too.
func TestForgedTailNotSigned(t *testing.T) {
	t.Parallel()
	j := newJournal(t)
	j.seal("demo")
	ctx := context.Background()
	strict := func(now time.Time) audit.VerifyOptions {
		o := verifyOpts
		o.SealInterval, o.Now = time.Minute, now
		return o
	}
	// forge appends the rule-abiding event and, if sign is set, a seal
	// over it signed by sign (or unsigned when sign returns nil).
	forge := func(x tx, sign func(h []byte) []byte) *uuid.UUID {
		eid := x.appendUnsigned(j.D, alice, time.Now(), `[{"op":"set_note","note":"forged"}]`)
		x.exec("UPDATE orders SET note = 'forged' WHERE id = $1", j.D)
		if sign == nil {
			return eid
		}
		var prev, head []byte
		require.NoError(x.t, x.tx.QueryRow(ctx, "SELECT hash FROM venue_seals WHERE venue_id = 'demo' AND seq = 1").Scan(&prev))
		require.NoError(x.t, x.tx.QueryRow(ctx, "SELECT last_hash FROM orders WHERE id = $1", j.D).Scan(&head))
		heads := []audit.Head{{OrderID: j.D, Version: 4, Hash: hex.EncodeToString(head)}}
		raw, err := json.Marshal(heads)
		require.NoError(x.t, err)
		at := time.Now().UTC().Truncate(time.Microsecond)
		h := audit.SealHash(prev, "demo", 2, at, heads)
		x.exec("INSERT INTO venue_seals (venue_id, seq, sealed_at, heads, hash, signature) VALUES ('demo', 2, $1, $2::text::json, $3, $4)",
			at, string(raw), h, sign(h))
		return eid
	}
	run := func(name string, f func(x tx)) {
		t.Run(name, func(t *testing.T) {
			ptx, err := j.db.Pool.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = ptx.Rollback(ctx) }()
			_, err = ptx.Exec(ctx, pgscope.SetVenue, "demo")
			require.NoError(t, err)
			f(tx{t: t, tx: ptx})
		})
	}
	run("sealed with another key", func(x tx) {
		other := mustKey()
		forge(x, func(h []byte) []byte { return audit.SignSeal(other, "demo", h) })
		requireBroken(t, x.verify("demo"), audit.Broken{Seal: 2, Reason: "seal signature does not verify"})
	})
	run("sealed without a signature", func(x tx) {
		forge(x, func([]byte) []byte { return nil })
		requireBroken(t, x.verify("demo"), audit.Broken{Seal: 2, Reason: "not signed, after signed seals"})
	})
	run("unsigned, then sealed by posd's own sealer", func(x tx) {
		// The app role appends a rule-abiding event without a signature;
		// within a minute posd's sealer signs a seal over the order's head.
		// The seal vouches for the chain, not for who wrote the event.
		eid := x.appendUnsigned(j.D, alice, time.Now(), `[{"op":"set_note","note":"forged"}]`)
		x.exec("UPDATE orders SET note = 'forged' WHERE id = $1", j.D)
		ok, err := audit.Seal(ctx, store.JournalOn(x.tx), "demo", time.Now(), sealKey)
		require.NoError(t, err)
		require.True(t, ok, "posd sealed the forged head")
		requireBroken(t, x.verify("demo"), audit.Broken{OrderID: &j.D, Version: 4, EventID: eid, Reason: "not signed"})
	})
	run("not sealed, not signed", func(x tx) {
		eid := forge(x, nil)
		// No signature and no seal over it: posd did not write it, at once.
		requireBroken(t, x.verify("demo"), audit.Broken{OrderID: &j.D, Version: 4, EventID: eid, Reason: "not signed and no signed seal covers it"})
	})
	run("signed with another key", func(x tx) {
		eid := x.appendEventSigned(j.D, alice, time.Now(), `[{"op":"set_note","note":"forged"}]`, mustKey())
		x.exec("UPDATE orders SET note = 'forged' WHERE id = $1", j.D)
		requireBroken(t, x.verify("demo"), audit.Broken{OrderID: &j.D, Version: 4, EventID: eid, Reason: "signature does not verify"})
	})
	run("signed, not sealed", func(x tx) {
		// An event signed with the key (posd's own, or a stolen host's)
		// that no seal covers: fresh, it is what every new event is, so it
		// is reported, not yet a failure; past the interval and the grace
		// it fails (a seal was removed or the sealer is stopped).
		eid := x.appendEvent(j.D, alice, time.Now(), `[{"op":"set_note","note":"signed"}]`)
		x.exec("UPDATE orders SET note = 'signed' WHERE id = $1", j.D)
		res, err := audit.Verify(ctx, store.JournalOn(x.tx), "demo", strict(time.Now()))
		require.NoError(t, err)
		require.True(t, res.OK, "%+v", res.Broken)
		require.EqualValues(t, 1, res.UnsealedEvents)
		require.NotNil(t, res.OldestUnsealedAt)
		require.NotNil(t, res.LastSealAgeSeconds)
		res, err = audit.Verify(ctx, store.JournalOn(x.tx), "demo", strict(time.Now().Add(time.Minute+audit.DefaultSealGrace+time.Minute)))
		require.NoError(t, err)
		requireBroken(t, res, audit.Broken{OrderID: &j.D, Version: 4, EventID: eid, Reason: "1 events are not sealed"})
	})
	run("dated in the future", func(x tx) {
		eid := x.appendEvent(j.D, alice, time.Now().Add(24*time.Hour), `[{"op":"set_note","note":"tomorrow"}]`)
		x.exec("UPDATE orders SET note = 'tomorrow' WHERE id = $1", j.D)
		res, err := audit.Verify(ctx, store.JournalOn(x.tx), "demo", strict(time.Now()))
		require.NoError(t, err)
		requireBroken(t, res, audit.Broken{OrderID: &j.D, Version: 4, EventID: eid, Reason: "dated in the future"})
	})
	j.requireOK("demo")
}

// TestDeletedNewestSeals: a venue whose last seal is old verifies while
// nothing happened after it; once the newest seal is removed (by a
// superuser with the triggers off), the events it covered are unsealed and
// verify fails naming the oldest, with the last seal's age; and the
// sealer that wrote the removed seal refuses to seal over the gap.
func TestDeletedNewestSeals(t *testing.T) {
	t.Parallel()
	j := newJournal(t)
	ctx := context.Background()
	var rounds []error
	sealer := &audit.Sealer{Journal: j.st, Key: sealKey, Observe: func(err error) { rounds = append(rounds, err) }}
	require.NoError(t, sealer.SealAll(ctx))
	j.patch("demo", j.D, 3, alice, `{"op":"set_note","note":"sealed by seal 2"}`)
	require.NoError(t, sealer.SealAll(ctx))
	require.EqualValues(t, 2, j.db.Count(t, "SELECT count(*) FROM venue_seals WHERE venue_id = 'demo'"))
	later := verifyOpts
	later.SealInterval, later.Now = audit.DefaultSealInterval, time.Now().Add(20*time.Minute)

	// 20 minutes on, nothing new: an old last seal is no failure.
	res, err := j.st.Verify(ctx, "demo", later)
	require.NoError(t, err)
	require.True(t, res.OK, "%+v", res.Broken)
	require.Zero(t, res.UnsealedEvents)
	require.GreaterOrEqual(t, *res.LastSealAgeSeconds, 20*60.0-1)

	require.NoError(t, pgx.BeginFunc(ctx, j.db.Admin, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM venue_seals WHERE venue_id = 'demo' AND seq = 2")
		return err
	}))
	res, err = j.st.Verify(ctx, "demo", later)
	require.NoError(t, err)
	var eid uuid.UUID
	require.NoError(t, j.db.Admin.QueryRow(ctx, "SELECT id FROM order_events WHERE order_id = $1 AND version = 4", j.D).Scan(&eid))
	requireBroken(t, res, audit.Broken{OrderID: &j.D, Version: 4, EventID: &eid, Reason: "the last valid seal is 20m"})

	// The sealer knows it wrote seal 2 and does not sign over its removal.
	require.ErrorIs(t, sealer.SealAll(ctx), audit.ErrForeignSeal)
	require.EqualValues(t, 1, j.db.Count(t, "SELECT count(*) FROM venue_seals WHERE venue_id = 'demo'"))
	// Every round was reported to Observe (posd's seal metrics), the
	// refused one with its reason.
	require.Len(t, rounds, 3)
	require.NoError(t, rounds[0])
	require.NoError(t, rounds[1])
	require.ErrorIs(t, rounds[2], audit.ErrForeignSeal)
}

// TestKeyRotation: after the seal key is rotated, the new posd chains onto
// the seals of the old key only when told its public half, and verify
// accepts the rows of both only when given both; a key it was not told
// about is still refused.
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	j := newJournal(t)
	ctx := context.Background()
	j.seal("demo")
	newKey := mustKey()
	oldPub := sealKey.Public().(ed25519.PublicKey)
	newPub := newKey.Public().(ed25519.PublicKey)
	j.st.SignEvents(newKey)
	j.patch("demo", j.D, 3, alice, `{"op":"set_note","note":"after the rotation"}`)

	require.ErrorIs(t, (&audit.Sealer{Journal: j.st, Key: newKey}).SealAll(ctx), audit.ErrForeignSeal,
		"an unknown key's seal is not chained onto")
	require.NoError(t, (&audit.Sealer{Journal: j.st, Key: newKey, Previous: []ed25519.PublicKey{oldPub}}).SealAll(ctx))
	require.EqualValues(t, 2, j.db.Count(t, "SELECT count(*) FROM venue_seals WHERE venue_id = 'demo'"))

	res, err := j.st.Verify(ctx, "demo", audit.VerifyOptions{PublicKey: newPub, PreviousKeys: []ed25519.PublicKey{oldPub}})
	require.NoError(t, err)
	require.True(t, res.OK, "%+v", res.Broken)
	require.Zero(t, res.UnsealedEvents)
	res, err = j.st.Verify(ctx, "demo", audit.VerifyOptions{PublicKey: newPub})
	require.NoError(t, err)
	requireBroken(t, res, audit.Broken{Seal: 1, Reason: "seal signature does not verify"})
}

// TestStreamContract: the stream and header the JetStream cross-check reads
// are the ones the relay writes.
func TestStreamContract(t *testing.T) {
	require.Equal(t, outbox.StreamName, audit.StreamName)
	require.Equal(t, outbox.HeaderOrderVersion, audit.HeaderOrderVersion)
}
