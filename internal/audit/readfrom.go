package audit

import (
	"fmt"
	"time"
)

// ReadFrom says where a report or a verification was read when posd reads
// the journal off the primary (posd serve --replica-url, posd audit
// --replica-url): a standby's answer is as old as what it has replayed.
type ReadFrom struct {
	// Standby is false when the database read was a primary after all (a
	// replica URL with target_session_attrs=prefer-standby falls back to
	// the primary when no standby answers).
	Standby bool `json:"standby"`
	// Streaming says the standby was receiving WAL from a primary when it
	// was read; a standby cut off from its primary answers with what it
	// had.
	Streaming bool `json:"streaming"`
	// ReplayedAt is the commit time of the newest transaction the standby
	// had replayed (null: none since it started, or a primary).
	ReplayedAt *time.Time `json:"replayed_at"`
	// LagSeconds is how far behind the primary the answer may be: 0 when
	// the standby had replayed all the WAL it had received while
	// streaming, else the age of ReplayedAt; null when it cannot be told
	// (no transaction replayed since the standby started). 0 on a primary.
	LagSeconds *float64 `json:"lag_seconds"`
}

// String is the one line posd audit prints above a report read off the
// primary.
func (r ReadFrom) String() string {
	if !r.Standby {
		return "read from the primary (no standby answered the replica URL)"
	}
	var s string
	if r.LagSeconds == nil {
		s = "read from a standby; how far behind the primary it was is unknown (nothing replayed since it started)"
	} else {
		s = fmt.Sprintf("read from a standby %.1f s behind the primary", *r.LagSeconds)
	}
	if r.ReplayedAt != nil {
		s += ", replayed up to " + r.ReplayedAt.UTC().Format(time.RFC3339)
	}
	if !r.Streaming {
		s += "; WARNING: the standby was not streaming from a primary"
	}
	return s
}

// Header is r as the Posd-Read-From header of an audit answer states it:
// "primary", or "standby" with lag-seconds (when known), replayed-at (when
// known) and streaming, e.g. "standby; lag-seconds=0.000;
// replayed-at=2026-12-04T18:00:00Z; streaming=true".
func (r ReadFrom) Header() string {
	if !r.Standby {
		return "primary"
	}
	h := "standby"
	if r.LagSeconds != nil {
		h += fmt.Sprintf("; lag-seconds=%.3f", *r.LagSeconds)
	}
	if r.ReplayedAt != nil {
		h += "; replayed-at=" + r.ReplayedAt.UTC().Format(time.RFC3339Nano)
	}
	return h + fmt.Sprintf("; streaming=%t", r.Streaming)
}
