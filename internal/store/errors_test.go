package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/device"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/store"
)

// TestTranslate: each Postgres error the store translates maps to its
// domain error, also when wrapped, and everything else stays what it was.
func TestTranslate(t *testing.T) {
	pg := func(code, constraint string) error {
		return fmt.Errorf("batch: %w", &pgconn.PgError{Code: code, ConstraintName: constraint, Message: "m"})
	}
	lineID := uuid.New()
	ops := []order.Op{{Op: order.OpSetGuests, Guests: one(2)}, {Op: order.OpAddItem, SKU: "steak", LineID: &lineID}}

	require.ErrorIs(t, store.Translate(pgx.ErrNoRows, "", nil), order.ErrNotFound)
	require.ErrorIs(t, store.Translate(&pgconn.PgError{Code: "P0001", Message: "idempotency-in-flight"}, "", nil), store.ErrInFlight)
	require.ErrorIs(t, store.Translate(&pgconn.PgError{Code: "P0001", Message: "idempotency-answered"}, "", nil), store.ErrAnswered)

	var occ *order.TableOccupiedError
	require.True(t, errors.As(store.Translate(pg("23505", store.ConstraintOneOpenPerTable), "T4", nil), &occ))
	require.Equal(t, "T4", occ.Table)

	var verr *order.ValidationError
	require.True(t, errors.As(store.Translate(pg("23505", store.ConstraintLineID), "T1", ops), &verr))
	require.Equal(t, "line_id", verr.Problems[0].Field)
	require.Equal(t, 1, *verr.Problems[0].OpIndex)

	require.True(t, errors.As(store.Translate(pg("23503", store.ConstraintOrderTable), "T99", nil), &verr))
	require.Equal(t, "table", verr.Problems[0].Field)
	require.Contains(t, verr.Problems[0].Detail, `"T99"`)

	for name, field := range store.BoundFields {
		require.True(t, errors.As(store.Translate(pg("23514", name), "T1", nil), &verr), name)
		require.Equal(t, field, verr.Problems[0].Field)
		require.Contains(t, verr.Problems[0].Detail, name)
	}

	spec := &device.Spec{Venue: "demo", Name: "till"}
	var dup *device.DuplicateError
	require.True(t, errors.As(store.TranslateAdmin(pg("23505", store.ConstraintDeviceName), spec), &dup))
	require.Equal(t, device.DuplicateError{Venue: "demo", Name: "till"}, *dup)
	require.ErrorIs(t, store.TranslateAdmin(pg("23503", store.ConstraintDeviceVenue), spec), device.ErrUnknownVenue)
	require.ErrorIs(t, store.TranslateAdmin(pg("42501", ""), nil), device.ErrNotOwner)
	// A refused privilege outside device administration is not about the
	// owner, and a device constraint outside it is not a device refusal.
	require.NotErrorIs(t, store.Translate(pg("42501", ""), "", nil), device.ErrNotOwner)
	require.False(t, errors.As(store.Translate(pg("23505", store.ConstraintDeviceName), "", nil), &dup))

	// Unknown Postgres errors are wrapped, the rest kept.
	other := pg("23505", "some_other_key")
	require.ErrorIs(t, store.Translate(other, "", nil), other)
	require.Contains(t, store.Translate(other, "", nil).Error(), "postgres: ")
	plain := errors.New("plain")
	require.Equal(t, plain, store.Translate(plain, "", nil))

	for _, code := range []string{"57014", "55P03", "57P01", "57P02", "57P03", "53300", "25P03", "08006", "08001"} {
		require.True(t, store.Unavailable(pg(code, "")), code)
	}
	for _, err := range []error{nil, pg("23505", store.ConstraintOneOpenPerTable), pg("0800", ""), plain} {
		require.False(t, store.Unavailable(err), "%v", err)
	}
	require.True(t, store.Unavailable(context.DeadlineExceeded))
}

// TestTranslatedRefusals: the refusals as Postgres really raises them,
// through the store's writes.
func TestTranslatedRefusals(t *testing.T) {
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	ctx := context.Background()

	// An unknown table (orders_venue_id_table_id_fkey).
	_, err := s.Open(ctx, "demo", "T99", 2, alice, nil)
	var verr *order.ValidationError
	require.True(t, errors.As(err, &verr), "got %v", err)
	require.Equal(t, "table", verr.Problems[0].Field)

	// An occupied table (orders_one_open_per_table), named with its order.
	first, err := s.Open(ctx, "demo", "T1", 2, alice, nil)
	require.NoError(t, err)
	_, err = s.Open(ctx, "demo", "T1", 2, alice, nil)
	var occ *order.TableOccupiedError
	require.True(t, errors.As(err, &occ), "got %v", err)
	require.Equal(t, first.ID, *occ.OccupiedBy)
	require.Equal(t, first.ID, occ.Current.ID)

	// Moving onto it: the refusal shows the order addressed.
	second, err := s.Open(ctx, "demo", "T2", 2, alice, nil)
	require.NoError(t, err)
	_, _, err = s.Patch(ctx, "demo", second.ID, store.Patch{Expected: &second.Version, Ops: []order.Op{{Op: order.OpMoveTable, Table: "T1"}}}, alice)
	require.True(t, errors.As(err, &occ), "got %v", err)
	require.Equal(t, first.ID, *occ.OccupiedBy)
	require.Equal(t, second.ID, occ.Current.ID)

	// A line id another line has (order_lines_pkey).
	lineID := uuid.New()
	add := func(o order.Order) error {
		_, _, err := s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &o.Version, Ops: []order.Op{{Op: order.OpAddItem, SKU: "steak", LineID: &lineID}}}, alice)
		return err
	}
	require.NoError(t, add(first))
	err = add(second)
	require.True(t, errors.As(err, &verr), "got %v", err)
	require.Equal(t, "line_id", verr.Problems[0].Field)
	require.Zero(t, *verr.Problems[0].OpIndex)

	// A missing order.
	_, err = s.Get(ctx, "demo", uuid.New())
	require.ErrorIs(t, err, order.ErrNotFound)
	_, err = s.Events(ctx, "demo", uuid.New(), 0, 10)
	require.ErrorIs(t, err, order.ErrNotFound)
	_, err = s.At(ctx, "demo", uuid.New(), 1)
	require.ErrorIs(t, err, order.ErrNotFound)
	// Another venue's order is missing too.
	_, err = s.Get(ctx, "demo2", first.ID)
	require.ErrorIs(t, err, order.ErrNotFound)
}
