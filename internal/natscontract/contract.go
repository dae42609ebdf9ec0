// Package natscontract is posd's NATS contract in one file: the JetStream
// stream, the subjects messages are published on, and the headers every
// message carries. The relay (internal/outbox) publishes by it, the kitchen
// gateway (internal/kds) and audit verify read by it, the writers
// (internal/store, through internal/kitchen) address messages by it, and the
// README's "NATS" section documents it (contract_test.go checks that the
// README names these very subjects and headers). Change it here only.
package natscontract

import (
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamName is the JetStream stream that holds every posd message.
const StreamName = "POS"

// Prefix is the first token of every posd subject; StreamSubjects is what
// the POS stream captures.
const (
	Prefix         = "pos"
	StreamSubjects = Prefix + ".>"
)

// OrderSubject is the subject of an order's events:
// pos.<venue>.order.<order_id>.
func OrderSubject(venue string, orderID uuid.UUID) string {
	return orderSubject(venue, orderID.String())
}

func orderSubject(venue, orderID string) string { return Prefix + "." + venue + ".order." + orderID }

// OrdersSubject is the wildcard over a venue's order events:
// pos.<venue>.order.>.
func OrdersSubject(venue string) string { return Prefix + "." + venue + ".order.>" }

// KitchenSubject is the subject of a station's kitchen messages:
// pos.<venue>.kitchen.<station>.
func KitchenSubject(venue, station string) string {
	return Prefix + "." + venue + ".kitchen." + station
}

// MenuSubject is the subject of a venue's menu changes (one message per
// row of its menu log): pos.<venue>.menu.
func MenuSubject(venue string) string { return Prefix + "." + venue + ".menu" }

// Headers of every message. HeaderMsgID is JetStream's de-duplication
// header (the event id, the ticket-log id or the menu log row's id); the
// others are posd's. A menu message carries its log row's id as
// HeaderOrderID and the menu version as HeaderOrderVersion.
const (
	HeaderMsgID        = jetstream.MsgIDHeader // "Nats-Msg-Id"
	HeaderVenue        = "Posd-Venue"
	HeaderOrderID      = "Posd-Order-Id"
	HeaderOrderVersion = "Posd-Order-Version"
	HeaderType         = "Posd-Type"
	HeaderPosition     = "Posd-Outbox-Position"
)
