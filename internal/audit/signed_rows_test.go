package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgscope"
)

// TestForgedKitchenAndConflicts: with posd's own database role, a ticket
// bumped or recalled together with its log row (so status and log agree), a
// plausible refused write (an existing order, versions it reached), a copy
// of a real one, a ticket event signed with another key, and an outbox row
// naming no event are each reported by Verify naming the order; the
// ticket events and refused writes posd itself wrote (created, bumped,
// recalled; a stale write) verify. Each case fails on the verifier that
// only checked a ticket's status against its log and a conflict's versions
// against its order.
func TestForgedKitchenAndConflicts(t *testing.T) {
	t.Parallel()
	j := newJournal(t)
	ctx := context.Background()
	// Genuine kitchen progress: A's first ticket bumped, recalled, bumped.
	var aTicket uuid.UUID
	require.NoError(t, j.db.Admin.QueryRow(ctx,
		"SELECT id FROM kitchen_tickets WHERE order_id = $1 ORDER BY id LIMIT 1", j.A).Scan(&aTicket))
	for _, move := range []string{"bump", "recall", "bump"} {
		_, err := j.st.MoveTicket(ctx, "demo", aTicket, move, order.Actor{Device: "kitchen", Staff: "Kitchen", Role: order.RoleKitchen})
		require.NoError(t, err, move)
	}
	j.seal("demo")
	require.NotZero(t, j.db.Count(t, "SELECT count(*) FROM kitchen_ticket_events WHERE signature IS NOT NULL AND action = 'recalled'"))
	require.NotZero(t, j.db.Count(t, "SELECT count(*) FROM order_conflicts WHERE signature IS NOT NULL"))
	j.requireOK("demo")

	other := mustKey()
	var bTicket uuid.UUID
	require.NoError(t, j.db.Admin.QueryRow(ctx,
		"SELECT id FROM kitchen_tickets WHERE order_id = $1 ORDER BY id LIMIT 1", j.B).Scan(&bTicket))
	cases := []struct {
		name   string
		tamper func(x tx) audit.Broken
	}{
		{"a bump with its log row", func(x tx) audit.Broken {
			x.exec("UPDATE kitchen_tickets SET status = 'ready', bumped_at = now() WHERE id = $1", bTicket)
			x.exec(`INSERT INTO kitchen_ticket_events (venue_id, id, ticket_id, action, at, actor_device, actor_staff)
				VALUES ('demo', $1, $2, 'bumped', now(), 'kds-grill', 'Cook')`, uuid.Must(uuid.NewV7()), bTicket)
			return audit.Broken{OrderID: &j.B, Version: 3, Reason: "bumped event"}
		}},
		{"a recall with its log row", func(x tx) audit.Broken {
			x.exec("UPDATE kitchen_tickets SET status = 'new', bumped_at = NULL WHERE id = $1", aTicket)
			x.exec(`INSERT INTO kitchen_ticket_events (venue_id, id, ticket_id, action, at, actor_device, actor_staff)
				VALUES ('demo', $1, $2, 'recalled', now(), 'kds-grill', 'Cook')`, uuid.Must(uuid.NewV7()), aTicket)
			return audit.Broken{OrderID: &j.A, Version: 3, Reason: "recalled event"}
		}},
		{"a bump signed with another key", func(x tx) audit.Broken {
			e := audit.TicketEvent{ID: uuid.Must(uuid.NewV7()), TicketID: bTicket, Action: "bumped",
				At: time.Now().UTC().Truncate(time.Microsecond), ActorDevice: "kds-grill", Staff: "Cook"}
			x.exec("UPDATE kitchen_tickets SET status = 'ready', bumped_at = $2 WHERE id = $1", bTicket, e.At)
			x.exec(`INSERT INTO kitchen_ticket_events (venue_id, id, ticket_id, action, at, actor_device, actor_staff, signature)
				VALUES ('demo', $1, $2, 'bumped', $3, 'kds-grill', 'Cook', $4)`, e.ID, bTicket, e.At, audit.SignTicketEvent(other, "demo", e))
			return audit.Broken{OrderID: &j.B, Version: 3, Reason: "signature that does not verify"}
		}},
		{"a plausible refused write", func(x tx) audit.Broken {
			x.exec(`INSERT INTO order_conflicts (venue_id, id, order_id, table_id, device, staff, role, expected_version, current_version, via, at)
				VALUES ('demo', $1, $2, 'T5', 'waiter-2', 'Bruno', 'waiter', 1, 2, 'if-match', now())`, uuid.Must(uuid.NewV7()), j.D)
			return audit.Broken{OrderID: &j.D, Version: 2, Reason: "is not signed"}
		}},
		{"a real refused write copied under a new id", func(x tx) audit.Broken {
			x.exec(`INSERT INTO order_conflicts (venue_id, id, order_id, table_id, device, staff, role, expected_version, current_version, via, at, signature)
				SELECT venue_id, $1, order_id, table_id, device, staff, role, expected_version, current_version, via, at, signature
				FROM order_conflicts WHERE order_id = $2`, uuid.Must(uuid.NewV7()), j.D)
			return audit.Broken{OrderID: &j.D, Version: 2, Reason: "signature that does not verify"}
		}},
		{"an outbox row the log does not hold", func(x tx) audit.Broken {
			x.exec(`INSERT INTO outbox (venue_id, subject, msg_id, msg_type, order_id, order_version, payload)
				VALUES ('demo', $1, $2, 'order.patched', $3, 4, '{}')`,
				kitchen.OrderSubject("demo", j.C), uuid.Must(uuid.NewV7()).String(), j.C)
			return audit.Broken{OrderID: &j.C, Version: 4, Reason: "names no event or ticket event"}
		}},
		{"an outbox row repeating an event's id under another order", func(x tx) audit.Broken {
			x.exec(`INSERT INTO outbox (venue_id, subject, msg_id, msg_type, order_id, order_version, payload)
				SELECT venue_id, subject, msg_id, msg_type, $2, order_version, payload FROM outbox WHERE order_id = $1 AND order_version = 2 AND msg_type = 'order.patched'`,
				j.A, j.C)
			return audit.Broken{OrderID: &j.C, Version: 2, Reason: "names no event or ticket event"}
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
	// What signing cannot reach: a row dated before signing began (an older
	// posd wrote such rows unsigned) is accepted, as docs/AUDIT.md says.
	ptx, err := j.db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = ptx.Rollback(ctx) }()
	_, err = ptx.Exec(ctx, pgscope.SetVenue, "demo")
	require.NoError(t, err)
	x := tx{t: t, tx: ptx}
	x.exec(`INSERT INTO order_conflicts (venue_id, id, order_id, table_id, device, staff, role, expected_version, current_version, via, at)
		VALUES ('demo', $1, $2, 'T5', 'waiter-2', 'Bruno', 'waiter', 1, 2, 'if-match', (SELECT at - interval '1 second' FROM journal_signed_since))`,
		uuid.Must(uuid.NewV7()), j.D)
	x.requireOK("demo")
	require.NoError(t, ptx.Rollback(ctx))
	j.requireOK("demo")
}
