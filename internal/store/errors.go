package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/posd/posd/internal/device"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/outbox"
)

// Names of the schema objects whose violations posd translates. Postgres
// reports each as a constraint name, but not each is a constraint:
// TestConstraintNamesExist checks every one in the catalog it lives in.
const (
	// Unique indexes (pg_class).
	ConstraintOneOpenPerTable = "orders_one_open_per_table"
	ConstraintDeviceName      = "devices_active_name"
	// Constraints (pg_constraint).
	ConstraintLineID           = "order_lines_pkey"
	ConstraintOrderTable       = "orders_venue_id_table_id_fkey"
	ConstraintDeviceVenue      = "devices_venue_id_fkey"
	ConstraintLinePrice        = "order_lines_price_bound"
	ConstraintPaymentAmount    = "order_payments_amount_bound"
	ConstraintPaymentTip       = "order_payments_tip_bound"
	ConstraintPaymentsPerOrder = "order_payments_per_order"
	// A kitchen ticket records at most kitchen.MaxTicketMoves moves
	// (0010_ticket_moves.sql).
	ConstraintTicketMoves = "kitchen_tickets_moves"
	// A payment is amount ≥ 0 and tip ≥ 0; a refund names an earlier
	// payment, amount ≤ 0 and tip ≤ 0 (0004_pricing.sql, 0008_tips.sql).
	ConstraintPaymentRefund = "order_payments_refund"
	// A trigger that raises check_violation under its own name (pg_trigger).
	ConstraintLinesPerOrder = "order_lines_per_order"
	// The catalog's bounds (0002_catalog.sql; constraints).
	ConstraintItemPrice          = "menu_items_price_bound"
	ConstraintItemRemaining      = "menu_items_remaining_bound"
	ConstraintItemsPerVenue      = "menu_items_per_venue"
	ConstraintItemCategory       = "menu_items_category_len"
	ConstraintGroupsPerItem      = "menu_item_groups_per_item"
	ConstraintGroupsPerVenue     = "modifier_groups_per_venue"
	ConstraintGroupChoices       = "modifier_groups_choices_bound"
	ConstraintOptionsPerGroup    = "modifier_options_per_group"
	ConstraintOptionPrice        = "modifier_options_price_bound"
	ConstraintTaxRate            = "tax_classes_rate_bound"
	ConstraintTaxClassesPerVenue = "tax_classes_per_venue"
	ConstraintVenueTimeZone      = "venues_timezone_token"
	ConstraintVenueCurrency      = "venues_currency_token"
	ConstraintVenueTenders       = "venues_tenders_bound"
	ConstraintVenueTenderToken   = "venues_tenders_token"
	ConstraintVenueServiceCharge = "venues_service_charge_bound"
)

// constraintCatalogs says where each name above lives: a unique index in
// pg_class, a constraint in pg_constraint, a trigger in pg_trigger.
var constraintCatalogs = map[string]string{
	ConstraintOneOpenPerTable:  "index",
	ConstraintDeviceName:       "index",
	ConstraintLineID:           "constraint",
	ConstraintOrderTable:       "constraint",
	ConstraintDeviceVenue:      "constraint",
	ConstraintLinePrice:        "constraint",
	ConstraintPaymentAmount:    "constraint",
	ConstraintPaymentTip:       "constraint",
	ConstraintPaymentsPerOrder: "constraint",
	ConstraintTicketMoves:      "constraint",
	ConstraintPaymentRefund:    "constraint",
	ConstraintLinesPerOrder:    "trigger",

	ConstraintItemPrice:          "constraint",
	ConstraintItemRemaining:      "constraint",
	ConstraintItemsPerVenue:      "constraint",
	ConstraintItemCategory:       "constraint",
	ConstraintGroupsPerItem:      "constraint",
	ConstraintGroupsPerVenue:     "constraint",
	ConstraintGroupChoices:       "constraint",
	ConstraintOptionsPerGroup:    "constraint",
	ConstraintOptionPrice:        "constraint",
	ConstraintTaxRate:            "constraint",
	ConstraintTaxClassesPerVenue: "constraint",
	ConstraintVenueTimeZone:      "constraint",
	ConstraintVenueCurrency:      "constraint",
	ConstraintVenueTenders:       "constraint",
	ConstraintVenueTenderToken:   "constraint",
	ConstraintVenueServiceCharge: "constraint",
}

// catalogFields maps the catalog's bound constraints to the catalog field
// (order.Catalog's json names) that breaks them. order.Catalog.Validate
// and order.Venue.Validate refuse these first; the schema is the backstop.
var catalogFields = map[string]string{
	ConstraintItemPrice:          "items.price_cents",
	ConstraintItemRemaining:      "items.remaining",
	ConstraintItemsPerVenue:      "items",
	ConstraintItemCategory:       "items.category",
	ConstraintGroupsPerItem:      "items.modifier_groups",
	ConstraintGroupsPerVenue:     "modifier_groups",
	ConstraintGroupChoices:       "modifier_groups.min",
	ConstraintOptionsPerGroup:    "modifier_groups.options",
	ConstraintOptionPrice:        "modifier_groups.options.price_cents",
	ConstraintTaxRate:            "tax_classes.rate_bps",
	ConstraintTaxClassesPerVenue: "tax_classes",
	ConstraintVenueTimeZone:      "timezone",
	ConstraintVenueCurrency:      "currency",
	ConstraintVenueTenders:       "tenders",
	ConstraintVenueTenderToken:   "tenders",
	ConstraintVenueServiceCharge: "service_charge",
}

// Messages ClaimIdempotency raises (P0001) when a keyed change must not run.
const (
	msgKeyInFlight = "idempotency-in-flight"
	msgKeyAnswered = "idempotency-answered"
)

// boundFields maps the schema's bound constraints (0010_delivery_bounds.sql)
// to the field of the request that breaks them.
var boundFields = map[string]string{
	ConstraintLinesPerOrder:    "lines",
	ConstraintLinePrice:        "sku",
	ConstraintPaymentAmount:    "amount_cents",
	ConstraintPaymentTip:       "tip_cents",
	ConstraintPaymentsPerOrder: "payments",
	ConstraintTicketMoves:      "lines",
}

// errUnavailable marks a Postgres error that means Postgres did not answer
// (see Unavailable).
var errUnavailable = errors.New("postgres unavailable")

// errContext is what translate needs to know about the request that failed.
type errContext struct {
	// table is the table an order write names.
	table string
	// ops are a PATCH's ops, to point at the op that broke a constraint.
	ops []order.Op
	// device is the device being added (device administration).
	device *device.Spec
	// admin is device administration: a refused privilege means the
	// connection is not the table owner's.
	admin bool
}

// translate is the one place a Postgres error becomes a domain error: no row
// is order.ErrNotFound, a constraint violation the refusal of what broke it,
// the idempotency claim's assertions ErrInFlight and ErrAnswered, and the
// codes of a Postgres that did not answer wrap errUnavailable. Other Postgres
// errors are wrapped; any other error comes back as it is.
func translate(err error, c errContext) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return order.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch code, name := pgErr.Code, pgErr.ConstraintName; {
	case code == "P0001" && pgErr.Message == msgKeyInFlight:
		return ErrInFlight
	case code == "P0001" && pgErr.Message == msgKeyAnswered:
		return ErrAnswered
	case code == "P0001" && pgErr.Message == msgDeviceChanged:
		return ErrDeviceChanged
	case code == "P0001" && pgErr.Message == msgMenuStale:
		return errMenuStale
	case code == "P0001" && pgErr.Message == msgItemUnavailable:
		return &order.UnavailableError{OpIndex: -1}
	case code == "23514" && name == ConstraintItemRemaining && c.ops != nil:
		return &order.SoldOutError{OpIndex: -1}
	case code == "23505" && name == ConstraintOneOpenPerTable:
		return &order.TableOccupiedError{Table: c.table}
	case code == "23505" && name == ConstraintLineID:
		idx := -1
		for i, op := range c.ops {
			if op.Op == order.OpAddItem && op.LineID != nil {
				idx = i
				break
			}
		}
		return &order.ValidationError{Problems: []order.FieldProblem{order.OpProblem(idx, "line_id", "already used by another line")}}
	case code == "23514" && boundFields[name] != "":
		// posd's validation refuses these first; the schema is the backstop.
		return &order.ValidationError{Problems: []order.FieldProblem{{Field: boundFields[name],
			Detail: "outside the bound the database enforces (" + name + ")"}}}
	case code == "23503" && name == ConstraintOrderTable:
		return &order.ValidationError{Problems: []order.FieldProblem{{Field: "table", Detail: fmt.Sprintf("unknown table %q", c.table)}}}
	case code == "23505" && name == ConstraintDeviceName && c.device != nil:
		return &device.DuplicateError{Venue: c.device.Venue, Name: c.device.Name}
	case code == "23503" && name == ConstraintDeviceVenue && c.device != nil:
		return fmt.Errorf("%w: %q", device.ErrUnknownVenue, c.device.Venue)
	case code == "42501" && c.admin:
		return device.ErrNotOwner
	case unavailableCode(code):
		return fmt.Errorf("%w: %w", errUnavailable, err)
	case code == "0A000" && strings.Contains(pgErr.Message, "cached plan must not change result type"):
		// A migration changed a view's columns under statements this
		// replica had prepared; pgx has dropped them, so a retry works.
		return fmt.Errorf("%w: the schema changed under a prepared statement: %w", errUnavailable, err)
	}
	return fmt.Errorf("postgres: %w", err)
}

// unavailableCode reports whether a Postgres error code means that Postgres
// did not answer the request.
func unavailableCode(code string) bool {
	switch code {
	case "57014", // query_canceled (statement_timeout)
		"55P03",                   // lock_not_available (lock_timeout)
		"57P01", "57P02", "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
		"53300", // too_many_connections
		"25P03": // idle_in_transaction_session_timeout
		return true
	}
	return len(code) == 5 && code[:2] == "08" // connection exception
}

// Unavailable reports whether err means Postgres did not answer: it is
// down, refused or dropped the connection, is shutting down, or a statement
// or the request ran out of time (statement_timeout, lock_timeout, the
// request deadline), or a write found the menu moved under each of its
// attempts. The HTTP edge answers these 503 with Retry-After.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errUnavailable) || errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return errors.Is(translate(pgErr, errContext{}), errUnavailable)
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}

// tooLarge refuses a change whose NATS message would pass
// outbox.MaxMessageBytes: nothing is written.
func tooLarge(n int) error {
	return &order.ValidationError{Problems: []order.FieldProblem{{Field: "ops", Detail: fmt.Sprintf(
		"this change makes a %d-byte message; a message is at most %d bytes (MaxMessageBytes): send it in smaller PATCHes", n, outbox.MaxMessageBytes)}}}
}
