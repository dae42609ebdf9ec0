package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
)

// opKeys are the JSON member names of an applied op, exactly as posd writes
// them (encoding/json would also accept "OP" or "Op" for "op").
var opKeys = func() map[string]bool {
	keys := map[string]bool{}
	t := reflect.TypeOf(order.Op{})
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}()

// decodeStoredOps decodes an event's ops as posd's own decoder would read
// them, and refuses what two readers could read differently: a member name
// that is not exactly one of the op's (case variants included), a member
// given twice, anything but an array of objects.
func decodeStoredOps(raw []byte) ([]order.Op, error) {
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, errors.New("ops are not a JSON array")
	}
	ops := make([]order.Op, len(elems))
	for i, e := range elems {
		op, err := decodeStoredOp(e)
		if err != nil {
			return nil, fmt.Errorf("op %d %v", i, err)
		}
		ops[i] = op
	}
	return ops, nil
}

// decodeStoredOp decodes one op of an event as decodeStoredOps does; its
// error says what the op is or has ("has the member \"note\" twice").
func decodeStoredOp(raw []byte) (order.Op, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return order.Op{}, errors.New("is not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return order.Op{}, fmt.Errorf("is not valid JSON: %v", err)
		}
		key, _ := tok.(string)
		switch {
		case !opKeys[key]:
			return order.Op{}, fmt.Errorf("has a member %q that is not a field of an op", key)
		case seen[key]:
			return order.Op{}, fmt.Errorf("has the member %q twice", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return order.Op{}, fmt.Errorf("is not valid JSON: %v", err)
		}
	}
	var op order.Op
	if err := json.Unmarshal(raw, &op); err != nil {
		return order.Op{}, fmt.Errorf("does not decode: %v", err)
	}
	return op, nil
}

// request is the op a client would have sent for the applied op a, and the
// menu entry and table it relied on.
func request(a order.Op) (req order.Op, menu *order.MenuItem, table string) {
	req = order.Op{Op: a.Op}
	var groups []string
	switch a.Op {
	case order.OpAddItem:
		req.LineID, req.SKU, req.Qty, req.Seat, req.Course, req.Modifiers, req.Note = a.LineID, a.SKU, a.Qty, a.Seat, a.Course, a.Modifiers, a.Note
		req.Check = a.Check
		var price int64
		if a.UnitPriceCents != nil {
			price = *a.UnitPriceCents
		}
		for _, o := range a.Options {
			req.Options = append(req.Options, order.LineOption{Group: o.Group, Option: o.Option})
			price -= o.PriceCents
			if !slices.Contains(groups, o.Group) {
				groups = append(groups, o.Group)
			}
		}
		// The item was orderable when the event was written: replay checks
		// the event's rules, not today's availability.
		menu = &order.MenuItem{SKU: a.SKU, Name: a.Name, PriceCents: price, Station: a.Station, TaxClass: a.TaxClass,
			ModifierGroups: groups, Available: true}
		if a.Portions != nil && *a.Portions > 0 {
			menu.Remaining = a.Portions // counted then: the line took its portions
		}
	case order.OpSetQty:
		req.LineID, req.Qty = a.LineID, a.Qty
	case order.OpRemoveItem:
		req.LineID = a.LineID
	case order.OpVoidItem, order.OpCompItem:
		req.LineID, req.Reason = a.LineID, a.Reason
	case order.OpSetGuests:
		req.Guests = a.Guests
	case order.OpSetNote:
		req.Note = a.Note
	case order.OpMoveTable:
		req.Table, table = a.Table, a.Table
	case order.OpSend:
		req.Course = a.Course
	case order.OpAddPayment:
		req.Tender, req.AmountCents, req.TipCents, req.PaymentID, req.Check = a.Tender, a.AmountCents, a.TipCents, a.PaymentID, a.Check
	case order.OpMoveToCheck:
		req.LineID, req.Check, req.Qty, req.NewLineID = a.LineID, a.Check, a.Qty, a.NewLineID
	case order.OpShareLine:
		req.LineID, req.Checks = a.LineID, a.Checks
	case order.OpSplitEven:
		req.Split = len(a.Checks) // applied as the checks 1..N
	case order.OpMergeChecks:
		req.From, req.Into = a.From, a.Into
	case order.OpRefundPayment:
		// The log names the payment both ways; the index is what the
		// rules resolve, the id must then be the payment's own.
		req.PaymentIndex, req.AmountCents, req.TipCents, req.Reason, req.RefundID = a.PaymentIndex, a.AmountCents, a.TipCents, a.Reason, a.RefundID
	case order.OpAddDiscount:
		req.ID, req.LineID, req.PercentBps, req.AmountCents, req.Reason = a.ID, a.LineID, a.PercentBps, a.AmountCents, a.Reason
	case order.OpRemoveDiscount:
		req.DiscountID = a.DiscountID
	case order.OpWaiveServiceCharge:
		req.Reason = a.Reason
	}
	return req, menu, table
}

// sameLineSource reports whether two menu entries an event relied on give a
// line the same name, price and station (all that an applied op records of
// the menu).
func sameLineSource(a, b order.MenuItem) bool {
	return a.SKU == b.SKU && a.Name == b.Name && a.PriceCents == b.PriceCents && a.Station == b.Station && a.TaxClass == b.TaxClass &&
		(a.Remaining == nil) == (b.Remaining == nil)
}

// replay holds an order's state while its events are checked one by one
// against the rules posd enforces when it writes them.
type replay struct {
	cur  order.Order
	last time.Time
	// notAfter bounds event times (verify's clock plus a skew); zero when
	// not checked.
	notAfter time.Time
	// devices are the venue's devices (name, staff, role), the only actors
	// posd writes.
	devices map[order.Actor]bool
	// pub checks event signatures (nil: not checked); sealedTo is the
	// order's version covered by a valid seal, below which an unsigned
	// event may be one from before posd signed events.
	pub      []ed25519.PublicKey
	sealedTo int64
	// signedSince is when posd began signing (journal_signed_since): an
	// unsigned event from then on is refused whatever covers it, since
	// posd's own sealer would seal a forged head within a minute. sawSigned
	// is set once the order has a signed event: none after it may be
	// unsigned either (its time is the writer's to choose).
	signedSince time.Time
	sawSigned   bool
	// pairs collects the halves of changes between two orders, shared by
	// every order of a verify run (pairLinks.broken checks them after);
	// moves the moves of sent lines they made (checkTicketMoves checks
	// them against the kitchen tickets after).
	pairs *pairLinks
	moves ticketMoves
}

// signature says why ev's signature does not show posd wrote it, or "".
func (r *replay) signature(venue string, version int64, at time.Time, hash, sig []byte) string {
	switch {
	case r.pub == nil:
		return ""
	case sig == nil && version > r.sealedTo:
		return "the event is not signed and no signed seal covers it: not written by posd"
	case sig == nil && (r.sawSigned || !at.Before(r.signedSince)):
		return "the event is not signed, though posd signed every event by then: not written by posd"
	case sig != nil && !checkEventSignature(r.pub, venue, hash, sig):
		return "the event's signature does not verify with the public key: not written by posd (or another key)"
	case sig != nil:
		r.sawSigned = true
	}
	return ""
}

// step checks event ev (its ops decoded from raw) against the order's state
// and rules, and moves the state on. It returns the decoded ops, and why ev
// could not have been written by posd (or "").
func (r *replay) step(ev order.Event, raw []byte) ([]order.Op, string) {
	ops, err := decodeStoredOps(raw)
	if err != nil {
		return nil, err.Error()
	}
	reason := r.check(ev, ops)
	return ops, reason
}

// check is step on decoded ops.
func (r *replay) check(ev order.Event, ops []order.Op) string {
	ev.Ops = ops
	switch role := ev.Actor.Role; {
	case role != order.RoleWaiter && role != order.RoleManager:
		return fmt.Sprintf("the actor's role %q may not change orders", role)
	case !r.devices[ev.Actor]:
		return fmt.Sprintf("the actor (device %q, staff %q, role %s) is not a device of the venue", ev.Actor.Device, ev.Actor.Staff, role)
	case ev.Forced && role != order.RoleManager:
		return "a forced write by a " + role + "; force is for managers only"
	case ev.Forced && (ev.OverriddenVersion == nil || *ev.OverriddenVersion < 1 || *ev.OverriddenVersion >= ev.Version):
		return "a forced write that names no earlier version it overrode"
	case !ev.Forced && ev.OverriddenVersion != nil:
		return "an overridden version on a write that was not forced"
	case ev.At.Before(r.last):
		return fmt.Sprintf("time goes backwards: at %s, before the previous event (%s)",
			ev.At.UTC().Format(time.RFC3339Nano), r.last.UTC().Format(time.RFC3339Nano))
	case !r.notAfter.IsZero() && ev.At.After(r.notAfter):
		return fmt.Sprintf("the event is dated in the future (%s)", ev.At.UTC().Format(time.RFC3339Nano))
	}
	r.last = ev.At

	if ev.Version == 1 {
		switch {
		case ev.Type != order.EventOpened:
			return "version 1 is not order.opened"
		case len(ops) == 2 && ops[1].Op == order.OpTransferIn:
			// A transfer to a free table opens its order with the lines.
		case len(ops) != 1 || ops[0].Op != order.OpOpen || ops[0].Guests == nil:
			return "order.opened must hold exactly one open op with a table and guests"
		case ev.Forced:
			return "an order.opened event cannot be forced"
		}
		if err := order.ValidateOpen(ops[0].Table, *ops[0].Guests); err != nil {
			return "the open op breaks the rules: " + err.Error()
		}
		if rules := ops[0].Rules; rules != nil {
			if err := order.CheckPricingCatalog(rules.TaxClasses, rules.ServiceCharge); err != nil {
				return "the open op's pricing rules break the rules: " + err.Error()
			}
			if len(rules.TaxClasses) > order.MaxTaxClasses {
				return fmt.Sprintf("the open op's pricing rules have %d tax classes; a venue has at most %d", len(rules.TaxClasses), order.MaxTaxClasses)
			}
		}
		if ops[0].Op != order.OpOpen || ops[0].Guests == nil {
			return "order.opened must begin with an open op with a table and guests"
		}
		if !bytes.Equal(marshal(ops[:1]), marshal([]order.Op{order.OpenOp(ops[0].Table, *ops[0].Guests, ops[0].Rules)})) {
			return "the open op carries more than a table, guests and pricing rules"
		}
		opened := ev
		opened.Ops = ops[:1]
		o, err := order.Fold([]order.Event{opened})
		if err != nil {
			return "the open op does not apply: " + err.Error()
		}
		r.cur = o
		if len(ops) == 2 {
			r.cur.Version = 0
			return r.checkPair(ev, ops[1])
		}
		return ""
	}

	switch {
	case ev.Type != order.EventPatched:
		return fmt.Sprintf("version %d is %s, not order.patched", ev.Version, ev.Type)
	case r.cur.Status == order.StatusClosed:
		return "an op after the order was closed"
	case len(ops) == 0:
		return "an event with no ops"
	case slices.ContainsFunc(ops, func(a order.Op) bool { return pairOp(a.Op) }):
		if len(ops) != 1 || ev.Forced {
			return "a transfer or merge is the one op of an event that is not forced"
		}
		return r.checkPair(ev, ops[0])
	}
	reqs := make([]order.Op, len(ops))
	// No NewID: every id comes from the log. Replay: the rules posd added
	// after it had written logs that break them bind new writes only.
	env := order.Env{Menu: map[string]order.MenuItem{}, Groups: map[string]order.ModifierGroup{}, Tables: map[string]bool{},
		Actor: ev.Actor, Replay: true}
	for i, a := range ops {
		if a.Op == order.OpOpen {
			return fmt.Sprintf("op %d: open is only the op of order.opened", i)
		}
		req, item, table := request(a)
		if item != nil {
			if problem := menuOf(env, *item, a.Options); problem != "" {
				return fmt.Sprintf("op %d: %s", i, problem)
			}
		}
		if table != "" {
			env.Tables[table] = true
		}
		// The tender was the venue's when the event was written: replay
		// checks its shape (Validate), not today's list.
		if a.Op == order.OpAddPayment && !slices.Contains(env.Tenders, a.Tender) {
			env.Tenders = append(env.Tenders, a.Tender)
		}
		reqs[i] = req
	}
	for _, a := range ops {
		countedBy(env, r.cur, a)
	}
	if err := order.Validate(reqs, ev.Actor.Role); err != nil {
		var fe *order.ForbiddenOpError
		if errors.As(err, &fe) {
			return fmt.Sprintf("an op the actor's role (%s) may not do: %s", ev.Actor.Role, err.Error())
		}
		return "the ops break the rules: " + err.Error()
	}
	next, applied, err := order.Plan(r.cur, reqs, ev.At, env)
	if err != nil {
		return "the ops break the order's rules: " + err.Error()
	}
	if !bytes.Equal(marshal(applied), marshal(ops)) {
		return "the ops are not what posd applies for them (a change that changes nothing, a wrong price, line or table)"
	}
	next.Version, next.UpdatedAt = ev.Version, ev.At
	r.cur = next
	return ""
}

// countedBy adds to env, for a set_qty raising a line that took portions
// by it, the line's item as counted then (the log records the portions the
// line holds, not the count). An item an add_item of the change names is
// left as that add_item says.
func countedBy(env order.Env, cur order.Order, a order.Op) {
	if a.Op != order.OpSetQty || a.LineID == nil || a.Portions == nil || a.Qty == nil {
		return
	}
	for _, l := range cur.Lines {
		if l.ID != *a.LineID || *a.Qty <= l.Qty || *a.Portions <= l.Portions {
			continue
		}
		if _, ok := env.Menu[l.SKU]; !ok {
			env.Menu[l.SKU] = order.MenuItem{SKU: l.SKU, Available: true, Remaining: a.Portions}
		}
	}
}

// menuOf adds to env the menu an applied add_item relied on: its item (the
// unit price less its options' prices) and, for its options, groups that
// offer them and allow any count (the menu's real min and max are not in
// the log). Two add_items of one change must agree on the item's name,
// price, station and tax class and on each option's name and price.
func menuOf(env order.Env, item order.MenuItem, opts []order.LineOption) string {
	if prev, ok := env.Menu[item.SKU]; ok {
		if !sameLineSource(prev, item) {
			return fmt.Sprintf("sku %q has two prices or names in one change", item.SKU)
		}
		for _, g := range prev.ModifierGroups {
			if !slices.Contains(item.ModifierGroups, g) {
				item.ModifierGroups = append(item.ModifierGroups, g)
			}
		}
	}
	env.Menu[item.SKU] = item
	for _, o := range opts {
		g := env.Groups[o.Group]
		g.ID = o.Group
		k := slices.IndexFunc(g.Options, func(x order.ModifierOption) bool { return x.ID == o.Option })
		switch {
		case k < 0:
			g.Options = append(g.Options, order.ModifierOption{ID: o.Option, Name: o.Name, PriceCents: o.PriceCents})
		case g.Options[k].Name != o.Name || g.Options[k].PriceCents != o.PriceCents:
			return fmt.Sprintf("option %q of group %q has two prices or names in one change", o.Option, o.Group)
		}
		g.Max = max(g.Max, order.MaxOptions)
		env.Groups[o.Group] = g
	}
	return ""
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(err.Error())
	}
	return b
}

// ticketKey is what must agree between a stored ticket and the ticket posd
// creates for the change (its id aside).
func ticketKey(table, station, kind, server string, at time.Time, lines []kitchen.Line) string {
	return strings.Join([]string{table, station, kind, server, at.UTC().Format(TimeLayout), string(marshal(lines))}, "\x00")
}

// expectedTickets are the tickets posd creates for one change, by key.
func expectedTickets(next order.Order, ev order.Event) []string {
	var keys []string
	for _, t := range kitchen.TicketsFor(next, ev.Ops, ev.Actor.Staff, ev.At, func() uuid.UUID { return uuid.Nil }) {
		keys = append(keys, ticketKey(t.Table, t.Station, t.Kind, t.Server, t.CreatedAt, t.Lines))
	}
	sort.Strings(keys)
	return keys
}

// checkTicketStates checks that each stored ticket's status is what its own
// log of actions says (created first, then bumped and recalled in turn).
func checkTicketState(t StoredTicket) string {
	if len(t.Actions) == 0 || t.Actions[0] != "created" {
		return fmt.Sprintf("ticket %s: its log does not start with its creation", t.ID)
	}
	status := kitchen.StatusNew
	moved := 0
	for _, a := range t.Actions[1:] {
		switch {
		case a == "moved":
			// Lines of the ticket moved to another table, whatever
			// the kitchen had done with it.
			moved++
		case a == "bumped" && status == kitchen.StatusNew:
			status = kitchen.StatusReady
		case a == "recalled" && status == kitchen.StatusReady:
			status = kitchen.StatusNew
		default:
			return fmt.Sprintf("ticket %s: its log has %s while it was %s", t.ID, a, status)
		}
	}
	if t.Status != status || (t.BumpedAt != nil) != (status == kitchen.StatusReady) {
		return fmt.Sprintf("ticket %s is %s but its log says %s", t.ID, t.Status, status)
	}
	// Each 'moved' row of the log appended one or more moves.
	var moves []json.RawMessage
	if t.Moves != "" && json.Unmarshal([]byte(t.Moves), &moves) != nil {
		return fmt.Sprintf("ticket %s: its moves are not valid JSON", t.ID)
	}
	if (moved == 0) != (len(moves) == 0) || moved > len(moves) {
		return fmt.Sprintf("ticket %s records %d moves of its lines but its log %d appends of them", t.ID, len(moves), moved)
	}
	return ""
}

// storedTicketKey is ticketKey of a stored ticket.
func storedTicketKey(t StoredTicket) (string, error) {
	var lines []kitchen.Line
	if err := json.Unmarshal([]byte(t.Lines), &lines); err != nil {
		return "", err
	}
	return ticketKey(t.Table, t.Station, t.Kind, t.Server, t.CreatedAt, lines), nil
}
