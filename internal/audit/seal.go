package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
)

// sealMargin widens each seal's look-back so an order written by a
// transaction that committed just after the previous seal read is still
// sealed. Heads sealed twice are harmless.
const sealMargin = 5 * time.Minute

// DefaultSealInterval is how often posd seals each venue with changes
// (serve and dev); verify allows this plus a grace before it calls the last
// seal too old.
const DefaultSealInterval = time.Minute

// ErrNoSealKey is sealing without a signing key.
var ErrNoSealKey = errors.New("no seal signing key")

// ErrForeignSeal is a venue whose newest seal posd did not write (forged,
// or signed with another key), or whose seals went back since this process
// last sealed it (newer seals removed). The sealer then stops sealing the
// venue, so verify reports the unsealed events rather than posd signing
// over the tampering.
var ErrForeignSeal = errors.New("seal chain not written by this posd")

// Seal appends the venue's next seal over the heads of the orders that
// changed since (shortly before) the previous seal, signed with key. It
// reports whether a seal was written; nothing changed means no seal. j
// should be a transaction.
//
// The newest seal must be signed by key or by one of previous (the public
// halves of rotated-out keys); otherwise Seal refuses (ErrForeignSeal).
func Seal(ctx context.Context, j SealJournal, venue string, now time.Time, key ed25519.PrivateKey, previous ...ed25519.PublicKey) (bool, error) {
	if len(key) != ed25519.PrivateKeySize {
		return false, ErrNoSealKey
	}
	prev, seq, since := ZeroHash, int64(1), time.Time{}
	last, found, err := j.LastSeal(ctx, venue)
	switch {
	case err != nil:
		return false, fmt.Errorf("read last seal: %w", err)
	case !found:
	case last.Signature == nil:
		// Seals from before posd signed them: the first signed seal covers
		// every order, so everything is under a signature from then on.
		prev, seq = last.Hash, last.Seq+1
	case !checkSealSignature(append([]ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, previous...), venue, last.Hash, last.Signature):
		return false, fmt.Errorf("%w: seal %d of venue %s is not signed by this posd's key; refusing to chain onto it", ErrForeignSeal, last.Seq, venue)
	default:
		prev, seq, since = last.Hash, last.Seq+1, last.SealedAt.Add(-sealMargin)
	}
	rows, err := j.HeadsSince(ctx, venue, since)
	if err != nil {
		return false, fmt.Errorf("read order heads: %w", err)
	}
	if len(rows) == 0 {
		return false, nil
	}
	heads := make([]Head, len(rows))
	for i, r := range rows {
		heads[i] = Head{OrderID: r.OrderID, Version: r.Version, Hash: hex.EncodeToString(r.Hash)}
	}
	at := now.UTC().Truncate(time.Microsecond)
	raw, err := json.Marshal(heads)
	if err != nil {
		return false, fmt.Errorf("encode heads: %w", err)
	}
	h := SealHash(prev, venue, seq, at, heads)
	if err := j.InsertSeal(ctx, venue, StoredSeal{
		Seq: seq, SealedAt: at, Heads: string(raw), Hash: h, Signature: SignSeal(key, venue, h),
	}); err != nil {
		return false, fmt.Errorf("insert seal: %w", err)
	}
	return true, nil
}

// Sealer seals every venue periodically. Several processes may run one; a
// lock (SealStore.SealTx) lets one seal at a time.
type Sealer struct {
	Journal  SealStore
	Interval time.Duration
	// Key signs the seals; no database role holds it (docs/AUDIT.md).
	Key ed25519.PrivateKey
	// Previous are the public halves of rotated-out keys, whose seals the
	// sealer still chains onto.
	Previous []ed25519.PublicKey
	Log      zerolog.Logger
	// FirstPass, if set, is called once the sealing round at start is
	// done (posd's test harness waits for it, so a test's writes never
	// race the start-up round).
	FirstPass func()
	// Observe, if set, is told how each sealing round ended: nil, or the
	// error SealAll returns (ErrForeignSeal when a venue's seals were
	// tampered with). A round cut short by ctx ending is not reported.
	Observe func(err error)

	// lastSeq is, per venue, the newest seal this process has seen; the
	// chain going back from it means seals were removed.
	lastSeq map[string]int64
}

// finalSealTimeout bounds the last sealing round when the sealer stops.
const finalSealTimeout = 5 * time.Second

// Run seals once at start (events a previous process left unsealed), then
// every Interval until ctx ends, then once more so a clean stop leaves
// nothing unsealed.
func (s *Sealer) Run(ctx context.Context) {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	first := s.FirstPass
	for {
		if err := s.SealAll(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn().Err(err).Msg("seal venues")
		}
		if first != nil {
			first()
			first = nil
		}
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), finalSealTimeout)
			defer cancel()
			if err := s.SealAll(final); err != nil {
				s.Log.Warn().Err(err).Msg("seal venues on stop")
			}
			return
		case <-t.C:
		}
	}
}

// SealAll seals each venue in its own transaction, if this process holds
// the sealing lock. A venue whose seals were tampered with is skipped with
// an error log line (and the error returned after the other venues).
func (s *Sealer) SealAll(ctx context.Context) (err error) {
	if s.Observe != nil {
		defer func() {
			if ctx.Err() == nil {
				s.Observe(err)
			}
		}()
	}
	venues, err := s.Journal.Venues(ctx)
	if err != nil {
		return fmt.Errorf("list venues: %w", err)
	}
	if s.lastSeq == nil {
		s.lastSeq = map[string]int64{}
	}
	var foreign error
	for _, v := range venues {
		newest := int64(-1)
		err := s.Journal.SealTx(ctx, v, func(j SealJournal) error {
			last, _, err := j.LastSeal(ctx, v)
			if err != nil {
				return fmt.Errorf("read last seal: %w", err)
			}
			if last.Seq < s.lastSeq[v] {
				return fmt.Errorf("%w: venue %s had seal %d, now its newest is %d", ErrForeignSeal, v, s.lastSeq[v], last.Seq)
			}
			newest = last.Seq
			sealed, err := Seal(ctx, j, v, time.Now(), s.Key, s.Previous...)
			if sealed {
				newest++
			}
			return err
		})
		if err == nil && newest >= 0 {
			s.lastSeq[v] = newest
		}
		if errors.Is(err, ErrForeignSeal) {
			s.Log.Error().Err(err).Str("venue", v).Msg("journal tampering suspected: not sealing this venue; run posd audit verify")
			foreign = err
			continue
		}
		if err != nil {
			return fmt.Errorf("seal %s: %w", v, err)
		}
	}
	return foreign
}
