package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/order"
)

// The menu log (DESIGN.md section 9): one row per change of a venue's menu,
// numbered per venue (seq 1, 2, ...) and chained per venue like an order's
// events, signed like them. docs/AUDIT.md, "The menu log", specifies the
// encoding.

// Tags that start a menu log row's hashed record and its signed message.
const (
	menuTag          = "posd.menu.v1"
	menuSignatureTag = "posd.menu-signature.v1"
)

// Menu change kinds (menu_log.kind).
const (
	MenuKindItem          = "item"
	MenuKindModifierGroup = "modifier_group"
	MenuKindAvailability  = "availability"
	MenuKindCatalog       = "catalog"
)

// RoleOperator is the actor role of menu changes the table owner makes
// (posd menu import, posd seed): posd's own database role may not append
// them, and they may be unsigned.
const RoleOperator = "operator"

// MenuChange is one menu log row as hashed: Before and After are the exact
// JSON text stored (null: the entity did not exist).
type MenuChange struct {
	Seq         int64       `json:"seq"`
	ID          uuid.UUID   `json:"id"`
	At          time.Time   `json:"at"`
	Actor       order.Actor `json:"actor"`
	Kind        string      `json:"kind"`
	EntityID    string      `json:"entity_id"`
	Before      string      `json:"-"`
	After       string      `json:"-"`
	MenuVersion int64       `json:"menu_version"`
}

// StoredMenuChange is a menu log row as stored.
type StoredMenuChange struct {
	MenuChange
	Hash, Signature []byte
}

// MenuHash is the chain link of menu log row c of venue: SHA-256 over prev
// (the previous row's hash, ZeroHash for seq 1) followed by the row's
// fields as netstrings.
func MenuHash(prev []byte, venue string, c MenuChange) []byte {
	buf := make([]byte, 0, 256+len(c.Before)+len(c.After))
	buf = append(buf, prev...)
	buf = netstrings(buf, menuTag, venue, strconv.FormatInt(c.Seq, 10), c.ID.String(), c.At.UTC().Format(TimeLayout),
		c.Actor.Device, c.Actor.Staff, c.Actor.Role, c.Kind, c.EntityID, strconv.FormatInt(c.MenuVersion, 10),
		c.Before, c.After)
	sum := sha256.Sum256(buf)
	return sum[:]
}

func menuSignedMessage(venue string, h []byte) []byte {
	return netstrings(nil, menuSignatureTag, venue, hex.EncodeToString(h))
}

// SignMenuChange is the signature of venue's menu log row whose chain hash
// is h.
func SignMenuChange(key ed25519.PrivateKey, venue string, h []byte) []byte {
	return ed25519.Sign(key, menuSignedMessage(venue, h))
}

// MenuJournal is what Verify reads of a venue's menu log.
type MenuJournal interface {
	// MenuLogPage is a page of at most limit rows after seq after, by seq.
	MenuLogPage(ctx context.Context, venue string, after int64, limit int) ([]StoredMenuChange, error)
	// MenuVersion is the venue's current menu version.
	MenuVersion(ctx context.Context, venue string) (int64, error)
}

// checkMenuLog verifies venue's menu log: seq 1..n without gaps, each hash
// over the previous one and the row, each row signed by one of keys (when
// keys are given; an operator's row may be unsigned, and is counted),
// menu versions growing, and the last row at the venue's menu version (so
// a removed newest row is seen too). It returns the first broken link.
func checkMenuLog(ctx context.Context, j MenuJournal, venue string, keys []ed25519.PublicKey, res *Result) (*Broken, error) {
	prev := ZeroHash
	var seq, version int64
	for {
		rows, err := j.MenuLogPage(ctx, venue, seq, verifyPage)
		if err != nil {
			return nil, fmt.Errorf("read the menu log: %w", err)
		}
		for _, r := range rows {
			b := &Broken{MenuSeq: r.Seq}
			switch {
			case r.Seq != seq+1:
				b.Reason = fmt.Sprintf("menu log row %d follows row %d: menu changes are missing", r.Seq, seq)
				return b, nil
			case !bytes.Equal(MenuHash(prev, venue, r.MenuChange), r.Hash):
				b.Reason = fmt.Sprintf("menu log row %d (%s %s): hash does not match the row's content and the previous row", r.Seq, r.Kind, r.EntityID)
				return b, nil
			case r.MenuVersion <= version:
				b.Reason = fmt.Sprintf("menu log row %d is at menu version %d, not after the previous row's %d", r.Seq, r.MenuVersion, version)
				return b, nil
			}
			if len(keys) > 0 {
				switch {
				case r.Signature == nil && r.Actor.Role == RoleOperator:
					res.UnsignedMenuChanges++
				case r.Signature == nil:
					b.Reason = fmt.Sprintf("menu log row %d is not signed: not written by posd", r.Seq)
					return b, nil
				case !anyKey(keys, menuSignedMessage(venue, r.Hash), r.Signature):
					b.Reason = fmt.Sprintf("menu log row %d has a signature that does not verify with the public key: not written by posd (or another key)", r.Seq)
					return b, nil
				}
			}
			prev, seq, version = r.Hash, r.Seq, r.MenuVersion
			res.MenuChangesChecked++
		}
		if len(rows) < verifyPage {
			break
		}
	}
	if seq == 0 {
		return nil, nil // no change since the log began
	}
	cur, err := j.MenuVersion(ctx, venue)
	if err != nil {
		return nil, fmt.Errorf("read the menu version: %w", err)
	}
	if cur != version {
		return &Broken{MenuSeq: seq + 1, Reason: fmt.Sprintf(
			"the venue's menu is at version %d but its menu log ends at version %d (row %d): menu changes are missing from the log", cur, version, seq)}, nil
	}
	return nil, nil
}

// MenuChangeEntry is one menu change as the shift report lists it: who
// (staff, device, role), when, which entity, the fields that changed and
// the entity before and after (null: it did not exist).
type MenuChangeEntry struct {
	Seq         int64           `json:"seq"`
	MenuVersion int64           `json:"menu_version"`
	At          time.Time       `json:"at"`
	By          string          `json:"by"`
	Device      string          `json:"device"`
	Role        string          `json:"role"`
	Kind        string          `json:"kind"`
	ID          string          `json:"id"`
	Fields      []string        `json:"fields"`
	Before      json.RawMessage `json:"before"`
	After       json.RawMessage `json:"after"`
}

// menuEntry makes the report's entry of a stored change.
func menuEntry(c MenuChange) (MenuChangeEntry, error) {
	e := MenuChangeEntry{Seq: c.Seq, MenuVersion: c.MenuVersion, At: c.At.UTC(), By: c.Actor.Staff, Device: c.Actor.Device,
		Role: c.Actor.Role, Kind: c.Kind, ID: c.EntityID, Before: json.RawMessage(c.Before), After: json.RawMessage(c.After)}
	var before, after map[string]json.RawMessage
	if err := json.Unmarshal([]byte(c.Before), &before); err != nil {
		return e, fmt.Errorf("decode menu log row %d: %w", c.Seq, err)
	}
	if err := json.Unmarshal([]byte(c.After), &after); err != nil {
		return e, fmt.Errorf("decode menu log row %d: %w", c.Seq, err)
	}
	e.Fields = changedFields(before, after)
	return e, nil
}

// changedFields lists, sorted, the members whose values differ between a
// and b (either may be nil: every member of the other).
func changedFields(a, b map[string]json.RawMessage) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, m := range []map[string]json.RawMessage{a, b} {
		for k := range m {
			if seen[k] || k == "version" {
				continue
			}
			seen[k] = true
			x, okx := a[k]
			y, oky := b[k]
			if okx != oky || !jsonEqual(x, y) {
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}
