package outbox

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

// TestPermanentPublishErrors: only errors that recur for the same message
// set it aside; NATS being away, slow or without JetStream is retried.
func TestPermanentPublishErrors(t *testing.T) {
	for err, want := range map[error]bool{
		nats.ErrMaxPayload:                                                                       true,
		fmt.Errorf("send: %w", nats.ErrMaxPayload):                                               true,
		jetstream.ErrStreamMessageExceedsMaximum:                                                 true,
		&jetstream.APIError{Code: 400, ErrorCode: 10003, Description: "bad request"}:             true,
		&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "temporarily unavailable"}: false,
		nats.ErrTimeout:                  false,
		nats.ErrNoResponders:             false,
		nats.ErrConnectionClosed:         false,
		nats.ErrReconnectBufExceeded:     false,
		jetstream.ErrNoStreamResponse:    false,
		jetstream.ErrAsyncPublishTimeout: false,
		context.DeadlineExceeded:         false,
		errors.New("something else"):     false,
	} {
		require.Equal(t, want, permanent(err), "%v", err)
	}
	for subject, ok := range map[string]bool{
		"pos.demo.kitchen.grill": true, "pos.demo.order.0190": true,
		"": false, "pos..grill": false, "pos.demo.kitchen.hot grill": false, "pos.demo.kitchen.a\tb": false,
		"pos.demo.kitchen.*": false, "pos.demo.>": false, "pos.demo.kitchen.": false,
	} {
		require.Equal(t, ok, invalidSubject(subject) == nil, "%q", subject)
	}
}
