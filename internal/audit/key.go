package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// sealSignatureTag starts the message a seal's signature covers: the tag as a
// netstring, then the seal's hash (which chains every earlier seal).
const sealSignatureTag = "posd.seal-signature.v1"

// eventSignatureTag starts the message an event's signature covers: the
// tag, the venue and the event's chain hash (which covers every field of
// the event and, through the chain, every earlier event of its order).
const eventSignatureTag = "posd.event-signature.v1"

// SignEvent is the signature of an event of venue whose chain hash is h.
func SignEvent(key ed25519.PrivateKey, venue string, h []byte) []byte {
	return ed25519.Sign(key, netstrings(nil, eventSignatureTag, venue, hex.EncodeToString(h)))
}

func checkEventSignature(keys []ed25519.PublicKey, venue string, h, sig []byte) bool {
	return anyKey(keys, netstrings(nil, eventSignatureTag, venue, hex.EncodeToString(h)), sig)
}

// anyKey reports whether sig is the signature of msg by one of keys.
func anyKey(keys []ed25519.PublicKey, msg, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize {
		return false
	}
	for _, k := range keys {
		if len(k) == ed25519.PublicKeySize && ed25519.Verify(k, msg, sig) {
			return true
		}
	}
	return false
}

// sealSignedMessage is what a seal's Ed25519 signature covers.
func sealSignedMessage(venue string, sealHash []byte) []byte {
	return netstrings(nil, sealSignatureTag, venue, hex.EncodeToString(sealHash))
}

// SignSeal is the signature of a venue's seal whose hash is sealHash.
func SignSeal(key ed25519.PrivateKey, venue string, sealHash []byte) []byte {
	return ed25519.Sign(key, sealSignedMessage(venue, sealHash))
}

// checkSealSignature reports whether sig is the signature of the seal by
// one of keys.
func checkSealSignature(keys []ed25519.PublicKey, venue string, sealHash, sig []byte) bool {
	return anyKey(keys, sealSignedMessage(venue, sealHash), sig)
}

// ParsePublicKeys reads a comma-separated list of public keys (empty: none).
func ParsePublicKeys(text string) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for _, f := range strings.Split(text, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		k, err := ParsePublicKey(f)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// ErrSealKey is a seal key or public key that cannot be used.
var ErrSealKey = errors.New("invalid seal key")

// ParseSealKey reads a seal signing key: the 32-byte Ed25519 seed as 64
// hexadecimal digits, surrounding white space ignored (the format of
// "posd audit keygen" and of the file posd dev creates).
func ParseSealKey(text []byte) (ed25519.PrivateKey, error) {
	seed, err := hex.DecodeString(strings.TrimSpace(string(text)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: want %d hexadecimal digits (an Ed25519 seed)", ErrSealKey, 2*ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// ParsePublicKey reads a seal public key: 64 hexadecimal digits.
func ParsePublicKey(text string) (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(strings.TrimSpace(text))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: want a public key of %d hexadecimal digits", ErrSealKey, 2*ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// PublicKeyHex is the public half of key as "posd audit verify
// --public-key" takes it.
func PublicKeyHex(key ed25519.PrivateKey) string {
	return hex.EncodeToString(key.Public().(ed25519.PublicKey))
}

// EncodeSealKey is the file form of key (its seed in hex, and a newline).
func EncodeSealKey(key ed25519.PrivateKey) []byte {
	return []byte(hex.EncodeToString(key.Seed()) + "\n")
}

// NewSealKey generates a signing key.
func NewSealKey() (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate seal key: %w", err)
	}
	return key, nil
}

// LoadSealKey reads the signing key from path. A file others may read is
// refused: the key is what makes a seal posd's.
func LoadSealKey(path string) (ed25519.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s is readable by others (mode %v); chmod 600 it", ErrSealKey, path, fi.Mode().Perm())
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	key, err := ParseSealKey(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, nil
}

// WriteSealKey creates path (mode 0600) holding a new signing key and
// returns it. It never overwrites an existing file.
func WriteSealKey(path string) (ed25519.PrivateKey, error) {
	key, err := NewSealKey()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	if _, err := f.Write(EncodeSealKey(key)); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	return key, nil
}

// LoadOrCreateSealKey reads path, creating it with a new key first if it
// does not exist (what posd dev does in its data directory). created says
// whether the key is new.
func LoadOrCreateSealKey(path string) (key ed25519.PrivateKey, created bool, err error) {
	key, err = LoadSealKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = WriteSealKey(path)
		return key, err == nil, err
	}
	return key, false, err
}

// ticketEventSignatureTag and conflictSignatureTag start the messages the
// signatures of a kitchen ticket event and of a recorded refused write
// cover (docs/AUDIT.md, "Signed ticket events and refused writes").
const (
	ticketEventSignatureTag = "posd.ticket-event-signature.v1"
	conflictSignatureTag    = "posd.conflict-signature.v1"
)

// TicketEvent is a kitchen ticket's log row, as signed.
type TicketEvent struct {
	ID, TicketID       uuid.UUID
	Action             string
	At                 time.Time
	ActorDevice, Staff string
}

func (e TicketEvent) message(venue string) []byte {
	return netstrings(nil, ticketEventSignatureTag, venue, e.ID.String(), e.TicketID.String(), e.Action,
		e.At.UTC().Format(TimeLayout), e.ActorDevice, e.Staff)
}

// SignTicketEvent is the signature of a ticket event of venue.
func SignTicketEvent(key ed25519.PrivateKey, venue string, e TicketEvent) []byte {
	return ed25519.Sign(key, e.message(venue))
}

// Conflict is a recorded refused write, as signed.
type Conflict struct {
	ID, OrderID                     uuid.UUID
	Table, Device, Staff, Role      string
	ExpectedVersion, CurrentVersion int64
	Via                             string
	At                              time.Time
}

func (c Conflict) message(venue string) []byte {
	return netstrings(nil, conflictSignatureTag, venue, c.ID.String(), c.OrderID.String(), c.Table, c.Device,
		c.Staff, c.Role, strconv.FormatInt(c.ExpectedVersion, 10), strconv.FormatInt(c.CurrentVersion, 10),
		c.Via, c.At.UTC().Format(TimeLayout))
}

// SignConflict is the signature of a refused write recorded for venue.
func SignConflict(key ed25519.PrivateKey, venue string, c Conflict) []byte {
	return ed25519.Sign(key, c.message(venue))
}
