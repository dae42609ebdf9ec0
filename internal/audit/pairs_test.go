package audit_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgscope"
	"github.com/posd/posd/internal/store"
)

// TestTransferHalvesVerified: a transfer and a merge written by posd
// verify, each half against its order's rules and the two halves against
// each other; one half appended alone with posd's role and key — lines
// that vanish from one table, or appear on another from nowhere — is
// reported, naming its event.
func TestTransferHalvesVerified(t *testing.T) {
	t.Parallel()
	j := newJournal(t)
	ctx := context.Background()
	x1 := j.open("demo", "T6", alice)
	o := j.patch("demo", x1, 1, alice, `{"op":"add_item","sku":"steak","qty":2}`, `{"op":"add_item","sku":"beer"}`, `{"op":"send"}`)
	x2 := j.open("demo", "T7", bruno)
	steak := uuid.MustParse(lineID(t, o, "steak"))
	part := uuid.New()
	from, to, err := j.st.Transfer(ctx, "demo", store.Transfer{From: x1, Expected: 2, To: store.OrderRef{OrderID: &x2, Expected: 1},
		Lines: []order.LineMove{{LineID: steak, Qty: ptrInt(1), NewLineID: &part}}, ToCheck: 2}, alice)
	require.NoError(t, err)
	_, opened, err := j.st.Transfer(ctx, "demo", store.Transfer{From: x1, Expected: from.Version, To: store.OrderRef{Table: "T8", Guests: 1},
		Lines: []order.LineMove{{LineID: steak}}}, alice)
	require.NoError(t, err)
	_, _, err = j.st.Merge(ctx, "demo", store.Merge{Into: to.ID, Expected: to.Version, From: store.OrderRef{OrderID: &opened.ID, Expected: opened.Version}}, bruno)
	require.NoError(t, err)
	j.requireOK("demo")

	cases := []tamperCase{
		{"lines sent away to an order whose log never got them", func(x tx) audit.Broken {
			beer, _, _, _, _ := x.lineOf(x1, "beer")
			ops := `[{"op":"transfer_out","table":"T7","order_id":"` + x2.String() + `","moves":[{"line_id":"` + beer + `","qty":1}]}]`
			eid := x.appendEvent(x1, alice, time.Now(), ops)
			x.exec("DELETE FROM order_lines WHERE id = $1", beer)
			return audit.Broken{OrderID: &x1, Version: 5, EventID: eid, Reason: "no matching event in that order's log"}
		}},
		{"lines arriving from an order that never sent them", func(x tx) audit.Broken {
			cur, err := j.st.Get(ctx, "demo", x2)
			require.NoError(t, err)
			l := cur.Lines[0]
			copied := l.ID
			l.ID, l.Position, l.Check = uuid.New(), len(cur.Lines), 1
			items, err := json.Marshal([]order.Line{l})
			require.NoError(t, err)
			ops := `[{"op":"transfer_in","table":"T6","order_id":"` + x1.String() + `","items":` + string(items) + `}]`
			eid := x.appendEvent(x2, bruno, time.Now(), ops)
			x.exec(`INSERT INTO order_lines (venue_id, order_id, id, position, sku, name, qty, unit_price_cents, seat, course,
				modifiers, note, station, status, comped, options, tax_class, portions, check_no)
				SELECT venue_id, order_id, $2, $3, sku, name, qty, unit_price_cents, seat, course, modifiers, note, station,
				       status, comped, options, tax_class, portions, 1 FROM order_lines WHERE id = $1`, copied, l.ID, l.Position)
			return audit.Broken{OrderID: &x2, Version: cur.Version + 1, EventID: eid, Reason: "no matching event in that order's log"}
		}},
	}
	requireEachCaught(t, j, cases)
	j.requireOK("demo")
}

func ptrInt(v int) *int { return &v }

// tamperCase is one tampering of a verified venue "demo": tamper changes
// the database inside a transaction and says what verify must report.
type tamperCase struct {
	name   string
	tamper func(x tx) audit.Broken
}

// requireEachCaught runs each case in a transaction of its own, rolled
// back after: verify is ok before the tampering and reports it after.
func requireEachCaught(t *testing.T, j *journal, cases []tamperCase) {
	t.Helper()
	ctx := context.Background()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ptx, err := j.db.Pool.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = ptx.Rollback(ctx) }()
			x := tx{t: t, tx: ptx}
			_, err = ptx.Exec(ctx, pgscope.SetVenue, "demo")
			require.NoError(t, err)
			x.requireOK("demo")
			want := c.tamper(x)
			requireBroken(t, x.verify("demo"), want)
		})
	}
}
