package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgscope"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/store"
)

var kitchenActor = order.Actor{Device: "kitchen", Staff: "Kitchen", Role: order.RoleKitchen}

// menuJournal is a fresh database whose demo menu log holds, after the
// seed's own (unsigned operator) rows, four changes made through the
// store: steak's price twice, fries 86'd, a new item. It returns the
// database, the store and the seq of the first of the four.
func menuJournal(t *testing.T) (*pgtest.DB, *store.Store, int64) {
	t.Helper()
	ctx := context.Background()
	db := pgtest.NewDB(t)
	st := store.New(db.Pool)
	st.SignEvents(sealKey)
	first := db.Count(t, "SELECT count(*) FROM menu_log WHERE venue_id = 'demo'") + 1
	cat, err := st.Catalog(ctx, "demo")
	require.NoError(t, err)
	steak := cat.Catalog.Items[0]
	require.Equal(t, "steak", steak.SKU)
	for _, price := range []int64{2600, 2700} {
		steak.PriceCents = price
		got, w, err := st.PutItem(ctx, "demo", steak, store.MenuPrecondition{IfMatch: &steak.Version}, maria)
		require.NoError(t, err)
		require.True(t, w.Changed)
		steak = got
	}
	_, _, err = st.SetAvailability(ctx, "demo", "fries", store.AvailabilityChange{SetAvailable: true}, kitchenActor)
	require.NoError(t, err)
	soup := order.MenuItem{SKU: "soup", Name: "Soup", PriceCents: 700, Station: "cold", TaxClass: "food", ModifierGroups: []string{}}
	_, _, err = st.PutItem(ctx, "demo", soup, store.MenuPrecondition{Create: true}, maria)
	require.NoError(t, err)
	return db, st, first
}

func verifyMenu(t *testing.T, st *store.Store) audit.Result {
	t.Helper()
	res, err := st.Verify(context.Background(), "demo", verifyOpts)
	require.NoError(t, err)
	return res
}

// asSuperuser runs sql behind posd's back: as the superuser, with the
// append-only triggers out of the way (session_replication_role).
func asSuperuser(t *testing.T, db *pgtest.DB, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Admin.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, "SET LOCAL session_replication_role = replica")
	require.NoError(t, err)
	_, err = tx.Exec(ctx, sql, args...)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
}

// TestMenuLogVerifies: the menu log of changes made through posd verifies:
// every row chained, posd's rows signed, the seed's unsigned operator rows
// counted, the last row at the venue's menu version.
func TestMenuLogVerifies(t *testing.T) {
	t.Parallel()
	db, st, first := menuJournal(t)
	res := verifyMenu(t, st)
	require.True(t, res.OK, "%+v", res.Broken)
	require.Equal(t, first+3, res.MenuChangesChecked, "the seed's rows and the four changes")
	require.Equal(t, first-1, res.UnsignedMenuChanges, "the seed's rows are the operator's, unsigned")
	require.EqualValues(t, 4, db.Count(t, "SELECT count(*) FROM menu_log WHERE venue_id = 'demo' AND signature IS NOT NULL"))
	// The chain as docs/AUDIT.md specifies it, recomputed from the rows.
	rows, err := db.Admin.Query(context.Background(), `SELECT seq, id, at, actor_device, actor_staff, actor_role, kind, entity_id,
		before::text, after::text, menu_version, hash FROM menu_log WHERE venue_id = 'demo' ORDER BY seq`)
	require.NoError(t, err)
	prev := audit.ZeroHash
	for rows.Next() {
		var c audit.MenuChange
		var h []byte
		require.NoError(t, rows.Scan(&c.Seq, &c.ID, &c.At, &c.Actor.Device, &c.Actor.Staff, &c.Actor.Role, &c.Kind, &c.EntityID,
			&c.Before, &c.After, &c.MenuVersion, &h))
		want := docHash(prev, "posd.menu.v1", "demo", itoa(c.Seq), c.ID.String(), c.At.UTC().Format(audit.TimeLayout),
			c.Actor.Device, c.Actor.Staff, c.Actor.Role, c.Kind, c.EntityID, itoa(c.MenuVersion), c.Before, c.After)
		require.Equal(t, want, h, "row %d", c.Seq)
		prev = h
	}
	require.NoError(t, rows.Err())
}

// TestMenuLogTampering: a change of the menu log behind posd's back, as
// the superuser with the append-only triggers off, is named by verify: an
// edited price, a deleted row, the newest row deleted, two rows swapped.
func TestMenuLogTampering(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, db *pgtest.DB, first int64)
		seq    func(first int64) int64
		reason string
	}{
		{"price edited", func(t *testing.T, db *pgtest.DB, first int64) {
			asSuperuser(t, db, `UPDATE menu_log SET after = replace(after::text, '"price_cents":2600', '"price_cents":2000')::json
				WHERE venue_id = 'demo' AND seq = $1`, first)
		}, func(first int64) int64 { return first }, "hash does not match"},
		{"row deleted", func(t *testing.T, db *pgtest.DB, first int64) {
			asSuperuser(t, db, `DELETE FROM menu_log WHERE venue_id = 'demo' AND seq = $1`, first+1)
		}, func(first int64) int64 { return first + 2 }, "menu changes are missing"},
		{"newest row deleted", func(t *testing.T, db *pgtest.DB, first int64) {
			asSuperuser(t, db, `DELETE FROM menu_log WHERE venue_id = 'demo' AND seq = $1`, first+3)
		}, func(first int64) int64 { return first + 3 }, "missing from the log"},
		{"rows swapped", func(t *testing.T, db *pgtest.DB, first int64) {
			asSuperuser(t, db, fmt.Sprintf(`UPDATE menu_log SET seq = 1000000 WHERE venue_id = 'demo' AND seq = %[1]d;
				UPDATE menu_log SET seq = %[1]d WHERE venue_id = 'demo' AND seq = %[2]d;
				UPDATE menu_log SET seq = %[2]d WHERE venue_id = 'demo' AND seq = 1000000`, first, first+1))
		}, func(first int64) int64 { return first }, "hash does not match"},
		{"signature removed", func(t *testing.T, db *pgtest.DB, first int64) {
			asSuperuser(t, db, `UPDATE menu_log SET signature = NULL WHERE venue_id = 'demo' AND seq = $1`, first+2)
		}, func(first int64) int64 { return first + 2 }, "not signed"},
		{"made the operator's", func(t *testing.T, db *pgtest.DB, first int64) {
			asSuperuser(t, db, `UPDATE menu_log SET actor_role = 'operator', signature = NULL WHERE venue_id = 'demo' AND seq = $1`, first+2)
		}, func(first int64) int64 { return first + 2 }, "hash does not match"},
		{"price changed behind the log", func(t *testing.T, db *pgtest.DB, first int64) {
			asSuperuser(t, db, `UPDATE menu_items SET price_cents = 1 WHERE venue_id = 'demo' AND sku = 'steak'`)
		}, func(first int64) int64 { return first + 1 }, `item "steak" has another price_cents than its last menu log row`},
		{"item removed behind the log", func(t *testing.T, db *pgtest.DB, first int64) {
			asSuperuser(t, db, `DELETE FROM menu_items WHERE venue_id = 'demo' AND sku = 'soup'`)
		}, func(first int64) int64 { return first + 3 }, `item "soup" is in the menu log but not on the menu`},
		{"item added behind the log", func(t *testing.T, db *pgtest.DB, first int64) {
			asSuperuser(t, db, `INSERT INTO menu_items (venue_id, sku, name, price_cents, station, tax_class, position, version)
				VALUES ('demo', 'ghost', 'Ghost', 100, 'cold', 'food', 499, 1)`)
		}, func(first int64) int64 { return first + 3 }, `item "ghost" is on the menu but not in the menu log`},
		{"option price changed behind the log", func(t *testing.T, db *pgtest.DB, first int64) {
			asSuperuser(t, db, `UPDATE modifier_options SET price_cents = 1 WHERE venue_id = 'demo' AND group_id = 'sides' AND id = 'truffle-fries'`)
		}, func(first int64) int64 { return first - 1 }, `modifier group "sides" has other options than its last menu log row`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db, st, first := menuJournal(t)
			require.True(t, verifyMenu(t, st).OK)
			tc.tamper(t, db, first)
			res := verifyMenu(t, st)
			require.False(t, res.OK, "tampering went unnoticed: %+v", res)
			require.NotNil(t, res.Broken)
			require.Equal(t, tc.seq(first), res.Broken.MenuSeq, "%s", res.Broken)
			require.Contains(t, res.Broken.Reason, tc.reason)
			require.Contains(t, res.Broken.String(), "menu log row")
		})
	}
}

// TestMenuSettingsTampering: the venue's settings the menu log records
// with a whole catalog (tax classes, the service charge, the tenders),
// changed behind posd's back as the superuser, are named by verify with
// the field, the value found and the value of the last catalog row (the
// seed's, seq first-1): orders opened afterwards would be taxed and
// charged with them.
func TestMenuSettingsTampering(t *testing.T) {
	t.Parallel()
	const behind = ": the menu was changed behind the menu log's back"
	for _, tc := range []struct {
		name, sql, reason string
	}{
		{"tax rate", `UPDATE tax_classes SET rate_bps = 0 WHERE venue_id = 'demo' AND id = 'food'`,
			`tax class "food" has another rate_bps than its last menu log row (0; the row says 1000)`},
		{"tax made exclusive", `UPDATE tax_classes SET inclusive = false WHERE venue_id = 'demo' AND id = 'drinks'`,
			`tax class "drinks" has another inclusive than its last menu log row (false; the row says true)`},
		{"tax class renamed", `UPDATE tax_classes SET name = 'Fuel' WHERE venue_id = 'demo' AND id = 'food'`,
			`tax class "food" has another name than its last menu log row ("Fuel"; the row says "Food")`},
		{"tax class added", `INSERT INTO tax_classes (venue_id, id, position, name, rate_bps) VALUES ('demo', 'luxury', 9, 'Luxury', 3000)`,
			`tax class "luxury" is on the menu but not in the menu log`},
		{"tax class removed", `DELETE FROM tax_classes WHERE venue_id = 'demo' AND id = 'drinks'`,
			`tax class "drinks" is in the menu log but not on the menu`},
		{"service charge rate", `UPDATE venues SET service_charge_rate_bps = 9000 WHERE id = 'demo'`,
			`the service charge has another rate_bps than its last menu log row (9000; the row says 1800)`},
		{"service charge taxed otherwise", `UPDATE venues SET service_charge_tax_class = 'drinks' WHERE id = 'demo'`,
			`the service charge has another tax_class than its last menu log row ("drinks"; the row says "food")`},
		{"service charge removed", `UPDATE venues SET service_charge_min_guests = 0, service_charge_rate_bps = 0,
			service_charge_tax_class = NULL WHERE id = 'demo'`,
			`the service charge has another min_guests than its last menu log row (0; the row says 8)`},
		{"tender added", `UPDATE venues SET tenders = '{cash,card,voucher,other,crypto}' WHERE id = 'demo'`,
			`the venue has other tenders than its last menu log row (["cash","card","voucher","other","crypto"]; the row says ["cash","card","voucher","other"])`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db, st, first := menuJournal(t)
			require.True(t, verifyMenu(t, st).OK)
			asSuperuser(t, db, tc.sql)
			res := verifyMenu(t, st)
			require.False(t, res.OK, "tampering went unnoticed: %+v", res)
			require.NotNil(t, res.Broken)
			require.Equal(t, first-1, res.Broken.MenuSeq, "the seed's last row, the last one that logged the catalog: %s", res.Broken)
			require.Equal(t, tc.reason+behind, res.Broken.Reason)
		})
	}
}

// TestMenuAvailabilityTampering: an item 86'd or put back behind posd's
// back (posd's own role may UPDATE menu_items), or given another end, is
// named by verify with the field, the value stored and the value of the
// item's last menu log row: fries' 86 (first+2, an availability row),
// steak's price (first+1, an item row), the seed's 86'd oysters (first-1,
// its last catalog row). The row's values are compared with the stored
// ones, so an end that has passed (the item reads as available, the row
// keeps available false and the end) is named too.
func TestMenuAvailabilityTampering(t *testing.T) {
	t.Parallel()
	const behind = ": the menu was changed behind the menu log's back"
	for _, tc := range []struct {
		name, sql string
		seq       func(first int64) int64
		reason    string
	}{
		{"86'd by posd's own role", `UPDATE menu_items SET available = false WHERE venue_id = 'demo' AND sku = 'steak'`,
			func(first int64) int64 { return first + 1 },
			`item "steak" has another available than its last menu log row (false; the row says true)`},
		{"86'd until tomorrow", `UPDATE menu_items SET available = false, unavailable_until = now() + interval '1 day'
			WHERE venue_id = 'demo' AND sku = 'steak'`,
			func(first int64) int64 { return first + 1 },
			`item "steak" has another available than its last menu log row (false; the row says true)`},
		{"put back", `UPDATE menu_items SET available = true WHERE venue_id = 'demo' AND sku = 'fries'`,
			func(first int64) int64 { return first + 2 },
			`item "fries" has another available than its last menu log row (true; the row says false)`},
		{"an end given to an 86", `UPDATE menu_items SET unavailable_until = '2030-01-01T00:00:00Z' WHERE venue_id = 'demo' AND sku = 'fries'`,
			func(first int64) int64 { return first + 2 },
			`item "fries" has another unavailable_until than its last menu log row ("2030-01-01T00:00:00Z"; the row says null)`},
		{"an end that has passed given to an 86", `UPDATE menu_items SET unavailable_until = '2020-01-01T00:00:00Z' WHERE venue_id = 'demo' AND sku = 'fries'`,
			func(first int64) int64 { return first + 2 },
			`item "fries" has another unavailable_until than its last menu log row ("2020-01-01T00:00:00Z"; the row says null)`},
		{"the seed's 86 put back", `UPDATE menu_items SET available = true WHERE venue_id = 'demo' AND sku = 'oysters'`,
			func(first int64) int64 { return first - 1 },
			`item "oysters" has another available than its last menu log row (true; the row says false)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db, st, first := menuJournal(t)
			require.True(t, verifyMenu(t, st).OK)
			if strings.HasSuffix(tc.name, "by posd's own role") {
				asAppRole(t, db, tc.sql)
			} else {
				asSuperuser(t, db, tc.sql)
			}
			res := verifyMenu(t, st)
			require.False(t, res.OK, "tampering went unnoticed: %+v", res)
			require.NotNil(t, res.Broken)
			require.Equal(t, tc.seq(first), res.Broken.MenuSeq, "%s", res.Broken)
			require.Equal(t, tc.reason+behind, res.Broken.Reason)
		})
	}
}

// asAppRole runs sql as posd's own database role, scoped to the demo venue.
func asAppRole(t *testing.T, db *pgtest.DB, sql string) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, pgscope.SetVenue, "demo")
	require.NoError(t, err)
	tag, err := tx.Exec(ctx, sql)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected(), sql)
	require.NoError(t, tx.Commit(ctx))
}

// TestMenuAvailabilityVerifies: availability written through posd
// verifies, as the rows record it (the item as it read then) against the
// stored values: an 86 whose end has passed (it reads as available, its
// row keeps available false and the end, as its log row does), a change
// logged after such an 86 lapsed (the row says available: the item read
// so), an 86 the store was given with an end already past (likewise), and
// an item whose last row records no availability (a row written before
// availability was logged) is not held to one.
func TestMenuAvailabilityVerifies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, st, _ := menuJournal(t)
	until := time.Now().Add(1500 * time.Millisecond).UTC().Truncate(time.Microsecond)
	_, w, err := st.SetAvailability(ctx, "demo", "steak", store.AvailabilityChange{SetAvailable: true, Until: &until}, kitchenActor)
	require.NoError(t, err)
	require.True(t, w.Changed)
	require.True(t, verifyMenu(t, st).OK, "86'd until a time ahead")
	time.Sleep(time.Until(until) + 100*time.Millisecond)
	cat, err := st.Catalog(ctx, "demo")
	require.NoError(t, err)
	steak := cat.Catalog.Items[0]
	require.True(t, steak.Available, "the 86 has lapsed: steak reads as available")
	require.EqualValues(t, 1, db.Count(t, `SELECT count(*) FROM menu_items WHERE venue_id = 'demo' AND sku = 'steak'
		AND NOT available AND unavailable_until IS NOT NULL`), "its row keeps the 86 and its end")
	res := verifyMenu(t, st)
	require.True(t, res.OK, "a lapsed 86: %+v", res.Broken)

	steak.PriceCents = 2800
	_, w, err = st.PutItem(ctx, "demo", steak, store.MenuPrecondition{IfMatch: &steak.Version}, maria)
	require.NoError(t, err)
	require.True(t, w.Changed)
	res = verifyMenu(t, st)
	require.True(t, res.OK, "a row logged after the 86 lapsed says available: %+v", res.Broken)

	past := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	_, w, err = st.SetAvailability(ctx, "demo", "beer", store.AvailabilityChange{SetAvailable: true, Until: &past}, kitchenActor)
	require.NoError(t, err)
	require.True(t, w.Changed)
	res = verifyMenu(t, st)
	require.True(t, res.OK, "an 86 whose end had passed when it was written: %+v", res.Broken)

	// An operator's row (a posd menu import) for caesar as a posd that did
	// not log availability wrote it: its definition without available,
	// unavailable_until and remaining.
	var caesar order.MenuItem
	for _, it := range cat.Catalog.Items {
		if it.SKU == "caesar" {
			caesar = it
		}
	}
	require.Equal(t, "caesar", caesar.SKU)
	full, err := json.Marshal(caesar)
	require.NoError(t, err)
	var fields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(full, &fields))
	delete(fields, "available")
	delete(fields, "unavailable_until")
	delete(fields, "remaining")
	after, err := json.Marshal(fields)
	require.NoError(t, err)
	appendOperatorRow(t, db, audit.MenuKindItem, "caesar", string(full), string(after))
	require.True(t, caesar.Available)
	res = verifyMenu(t, st)
	require.True(t, res.OK, "a row that does not record availability (read as a Go value, it would say 86'd): %+v", res.Broken)
}

// appendOperatorRow appends to the demo menu log, as the table owner, an
// unsigned operator row chained to the newest one, at the next menu
// version, which the venue then has.
func appendOperatorRow(t *testing.T, db *pgtest.DB, kind, entity, before, after string) {
	t.Helper()
	ctx := context.Background()
	var head struct {
		seq, version int64
		hash         []byte
	}
	require.NoError(t, db.Admin.QueryRow(ctx, "SELECT seq, menu_version, hash FROM menu_log WHERE venue_id = 'demo' ORDER BY seq DESC LIMIT 1").
		Scan(&head.seq, &head.version, &head.hash))
	c := audit.MenuChange{Seq: head.seq + 1, ID: uuid.Must(uuid.NewV7()), At: time.Now().UTC().Truncate(time.Microsecond),
		Actor: order.Actor{Device: "posd menu import", Staff: "Ops", Role: audit.RoleOperator}, Kind: kind, EntityID: entity,
		Before: before, After: after, MenuVersion: head.version + 1}
	_, err := db.Admin.Exec(ctx, `INSERT INTO menu_log (venue_id, seq, id, at, actor_device, actor_staff, actor_role, kind, entity_id,
		before, after, menu_version, hash) VALUES ('demo', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		c.Seq, c.ID, c.At, c.Actor.Device, c.Actor.Staff, c.Actor.Role, c.Kind, c.EntityID, c.Before, c.After, c.MenuVersion,
		audit.MenuHash(head.hash, "demo", c))
	require.NoError(t, err)
	_, err = db.Admin.Exec(ctx, "UPDATE venues SET menu_version = $1 WHERE id = 'demo'", c.MenuVersion)
	require.NoError(t, err)
}

// TestMenuLogAppRole: posd's own database role may append to the menu log
// but not change, delete or truncate it, may not append an unsigned row or
// one in the operator's name, and a row it signs with a key that is not
// posd's is named by verify.
func TestMenuLogAppRole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, st, first := menuJournal(t)
	for _, sql := range []string{"UPDATE menu_log SET kind = kind", "DELETE FROM menu_log", "TRUNCATE menu_log"} {
		_, err := db.Pool.Exec(ctx, sql)
		require.Equal(t, "42501", pgErr(t, err).Code, sql)
		_, err = db.Admin.Exec(ctx, sql)
		require.Contains(t, pgErr(t, err).Message, "append-only", "the owner too: %s", sql)
	}

	var head struct {
		hash    []byte
		version int64
	}
	require.NoError(t, db.Admin.QueryRow(ctx, "SELECT hash, menu_version FROM menu_log WHERE venue_id = 'demo' AND seq = $1", first+3).
		Scan(&head.hash, &head.version))
	forge := func(role string, key []byte, sign bool) error {
		c := audit.MenuChange{Seq: first + 4, ID: uuid.Must(uuid.NewV7()), At: time.Now().UTC().Truncate(time.Microsecond),
			Actor: order.Actor{Device: "manager", Staff: "Maria", Role: role}, Kind: audit.MenuKindItem, EntityID: "steak",
			Before: "null", After: `{"sku":"steak","price_cents":1}`, MenuVersion: head.version + 1}
		h := audit.MenuHash(head.hash, "demo", c)
		var sig []byte
		if sign {
			sig = audit.SignMenuChange(key, "demo", h)
		}
		tx, err := db.Pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := tx.Exec(ctx, pgscope.SetVenue, "demo"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO menu_log (venue_id, seq, id, at, actor_device, actor_staff, actor_role, kind, entity_id,
			before, after, menu_version, hash, signature) VALUES ('demo', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			c.Seq, c.ID, c.At, c.Actor.Device, c.Actor.Staff, c.Actor.Role, c.Kind, c.EntityID, c.Before, c.After, c.MenuVersion, h, sig); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE venues SET menu_version = $1 WHERE id = 'demo'", c.MenuVersion); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	other := mustKey()
	require.Equal(t, "42501", pgErr(t, forge(order.RoleManager, nil, false)).Code, "an unsigned row")
	require.Equal(t, "42501", pgErr(t, forge(audit.RoleOperator, other, true)).Code, "a row in the operator's name")
	require.True(t, verifyMenu(t, st).OK)
	require.NoError(t, forge(order.RoleManager, other, true))
	res := verifyMenu(t, st)
	require.False(t, res.OK)
	require.Equal(t, first+4, res.Broken.MenuSeq)
	require.Contains(t, res.Broken.Reason, "does not verify with the public key")
}

// TestShiftMenuChanges: the report lists the menu changes of its range,
// with who, what, the fields that changed, before and after.
func TestShiftMenuChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	from := time.Now()
	_, st, _ := menuJournal(t)
	rep, err := st.Shift(ctx, "demo", from, time.Now().Add(time.Minute))
	require.NoError(t, err)
	require.Len(t, rep.MenuChanges, 4)
	first := rep.MenuChanges[0]
	require.Equal(t, "Maria", first.By)
	require.Equal(t, []string{"price_cents"}, first.Fields)
	var before, after order.MenuItem
	require.NoError(t, json.Unmarshal(first.Before, &before))
	require.NoError(t, json.Unmarshal(first.After, &after))
	require.EqualValues(t, 2400, before.PriceCents)
	require.EqualValues(t, 2600, after.PriceCents)
	require.Equal(t, "Kitchen", rep.MenuChanges[2].By)
	require.Equal(t, audit.MenuKindAvailability, rep.MenuChanges[2].Kind)
	require.Equal(t, "null", string(rep.MenuChanges[3].Before), "a created item had no before")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
