// Package audit makes the order journal tamper-evident and answers the
// post-shift questions. Each order's events form a hash chain; each venue's
// order heads are sealed periodically into a second chain; Verify recomputes
// both; Shift builds the post-shift report. docs/AUDIT.md specifies the
// encoding so an auditor can check the journal without posd.
//
// audit owns the pure parts: the hashes and signatures, the chain, rule,
// fold and ticket checks, the seal chain, the report's arithmetic and its
// CSV. It holds no SQL: it reads and writes the journal through the
// interfaces of journal.go, which the store implements.
package audit

import (
	"crypto/sha256"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/order"
)

// ZeroHash is the "previous hash" of an order's first event and of a venue's
// first seal.
var ZeroHash = make([]byte, sha256.Size)

// TimeLayout is how times enter a hash: UTC, always six fractional digits.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Tags that start each hashed record, naming the encoding version.
const (
	eventTag = "posd.event.v1"
	sealTag  = "posd.seal.v1"
)

// netstrings appends each field as <decimal byte length>:<bytes>, .
func netstrings(buf []byte, fields ...string) []byte {
	for _, f := range fields {
		buf = strconv.AppendInt(buf, int64(len(f)), 10)
		buf = append(buf, ':')
		buf = append(buf, f...)
		buf = append(buf, ',')
	}
	return buf
}

// EventHash is the chain link of ev: SHA-256 over prev (the previous event's
// hash, ZeroHash for version 1) followed by the event's fields as netstrings.
// ops must be the exact JSON text stored for the event.
func EventHash(prev []byte, ev order.Event, ops []byte) []byte {
	overridden := ""
	if ev.OverriddenVersion != nil {
		overridden = strconv.FormatInt(*ev.OverriddenVersion, 10)
	}
	forced := "false"
	if ev.Forced {
		forced = "true"
	}
	buf := make([]byte, 0, 256+len(ops))
	buf = append(buf, prev...)
	buf = netstrings(buf, eventTag, ev.Venue, ev.OrderID.String(), strconv.FormatInt(ev.Version, 10),
		ev.ID.String(), ev.Type, ev.At.UTC().Format(TimeLayout), ev.Actor.Device, ev.Actor.Staff,
		ev.Actor.Role, forced, overridden, string(ops))
	sum := sha256.Sum256(buf)
	return sum[:]
}

// Head is an order's latest version and its hash, as a seal records it.
type Head struct {
	OrderID uuid.UUID `json:"order_id"`
	Version int64     `json:"version"`
	Hash    string    `json:"hash"` // hex
}

// SealHash is the link of a venue seal: SHA-256 over the previous seal's hash
// and the seal's fields, the heads in the order given (sorted by order id).
func SealHash(prev []byte, venue string, seq int64, at time.Time, heads []Head) []byte {
	buf := make([]byte, 0, 128+len(heads)*120)
	buf = append(buf, prev...)
	buf = netstrings(buf, sealTag, venue, strconv.FormatInt(seq, 10), at.UTC().Format(TimeLayout),
		strconv.Itoa(len(heads)))
	for _, h := range heads {
		buf = netstrings(buf, h.OrderID.String(), strconv.FormatInt(h.Version, 10), h.Hash)
	}
	sum := sha256.Sum256(buf)
	return sum[:]
}
