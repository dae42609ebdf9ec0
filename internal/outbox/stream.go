package outbox

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/posd/posd/internal/natscontract"
)

// StreamSubjects are the subjects the POS stream must capture.
const StreamSubjects = natscontract.StreamSubjects

// StreamConfig is the configuration posd gives the POS stream when it
// creates it. replicas is 1 for a single NATS server and 3 for a
// production cluster (posd serve --stream-replicas).
func StreamConfig(replicas int) jetstream.StreamConfig {
	if replicas < 1 {
		replicas = 1
	}
	return jetstream.StreamConfig{
		Name:        StreamName,
		Description: "posd order events and kitchen tickets",
		Subjects:    []string{StreamSubjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      StreamMaxAge,
		Duplicates:  DuplicateWindow,
		Replicas:    replicas,
	}
}

// StreamMismatchError is an existing POS stream whose settings break what
// posd relies on. posd never rewrites an existing stream: the operator fixes
// it (or deletes it so posd creates it afresh).
type StreamMismatchError struct {
	Problems []string
}

func (e *StreamMismatchError) Error() string {
	return fmt.Sprintf("JetStream stream %s exists with settings posd cannot work with: %s; "+
		"fix them with `nats stream edit %s` (or delete the stream and posd creates it)",
		StreamName, strings.Join(e.Problems, "; "), StreamName)
}

// EnsureStream creates the POS stream with StreamConfig(replicas) when it
// does not exist. An existing stream is checked, never changed: settings
// posd relies on (it captures pos.>, file storage, limits retention, a
// duplicate window of at least DuplicateWindow) that differ make it return
// a *StreamMismatchError; other differences (replicas, max age, limits) are
// the operator's choice and are left alone.
func EnsureStream(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.Stream, error) {
	s, _, err := CheckStream(ctx, js, replicas)
	return s, err
}

// CheckStream is EnsureStream that also returns, for an existing stream, how
// it differs from posd's own settings in ways posd accepts (for a warning
// at start-up).
func CheckStream(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.Stream, []string, error) {
	want := StreamConfig(replicas)
	s, err := js.Stream(ctx, StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, want)
		if err == nil {
			return s, nil, nil
		}
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return nil, nil, fmt.Errorf("create stream %s: %w", StreamName, err)
		}
		// Another posd created it meanwhile: check what it made.
		s, err = js.Stream(ctx, StreamName)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("look up stream %s: %w", StreamName, err)
	}
	fatal, soft := StreamDifferences(s.CachedInfo().Config, want)
	if len(fatal) > 0 {
		return nil, soft, &StreamMismatchError{Problems: fatal}
	}
	return s, soft, nil
}

// StreamDifferences compares an existing stream's configuration with
// posd's. fatal are the differences posd cannot work with; soft the ones it
// accepts.
func StreamDifferences(have, want jetstream.StreamConfig) (fatal, soft []string) {
	if !slices.Contains(have.Subjects, StreamSubjects) && !slices.Contains(have.Subjects, ">") {
		fatal = append(fatal, fmt.Sprintf("subjects %v do not include %q", have.Subjects, StreamSubjects))
	}
	if have.Storage != jetstream.FileStorage {
		fatal = append(fatal, fmt.Sprintf("storage is %s, posd needs file storage (messages must survive a NATS restart)", have.Storage))
	}
	if have.Retention != jetstream.LimitsPolicy {
		fatal = append(fatal, fmt.Sprintf("retention is %s, posd needs limits retention (kitchen screens replay from a cursor)", have.Retention))
	}
	if have.Duplicates < want.Duplicates {
		fatal = append(fatal, fmt.Sprintf("duplicate window is %s, posd needs at least %s (the relay's replays after an outage must be recognised)",
			have.Duplicates, want.Duplicates))
	}
	if have.Replicas != want.Replicas {
		soft = append(soft, fmt.Sprintf("replicas is %d, posd is configured for %d", have.Replicas, want.Replicas))
	}
	if have.MaxAge != want.MaxAge {
		soft = append(soft, fmt.Sprintf("max age is %s, posd creates it with %s", fmtAge(have.MaxAge), fmtAge(want.MaxAge)))
	}
	if have.Discard != want.Discard {
		soft = append(soft, fmt.Sprintf("discard policy is %s, posd creates it with %s", have.Discard, want.Discard))
	}
	if have.MaxBytes > 0 || have.MaxMsgs > 0 {
		soft = append(soft, fmt.Sprintf("size limits max_bytes=%d max_msgs=%d are set (old messages may be dropped before %s)",
			have.MaxBytes, have.MaxMsgs, fmtAge(want.MaxAge)))
	}
	return fatal, soft
}

func fmtAge(d time.Duration) string {
	if d == 0 {
		return "unlimited"
	}
	return d.String()
}
