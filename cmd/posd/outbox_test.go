package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/outbox"
)

// TestOutboxDeadLettersCLI: a message NATS refuses for good shows up in
// "posd outbox dead-letters" with its error, and "posd outbox replay" puts
// it back into the outbox once (as posd's own role).
func TestOutboxDeadLettersCLI(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t)
	ctx := context.Background()
	id := uuid.New()
	var row int64
	require.NoError(t, s.DB.Admin.QueryRow(ctx, `
		INSERT INTO outbox (venue_id, subject, msg_id, msg_type, order_id, order_version, payload)
		VALUES ('demo', $1, $2, 'test.poison', $3, 1, $4) RETURNING id`,
		"pos.demo.order."+id.String(), "poison-"+id.String(), id, bytes.Repeat([]byte("x"), int(s.NC.MaxPayload())+1)).Scan(&row))
	deadline := time.Now().Add(20 * time.Second)
	for s.DB.Count(t, "SELECT count(*) FROM outbox_dead_letters") == 0 {
		require.True(t, time.Now().Before(deadline), "the relay never set the row aside")
		time.Sleep(20 * time.Millisecond)
	}

	out, errOut, code := runPosd(t, s.DB.AppURL, "outbox", "dead-letters", "--json")
	require.Zero(t, code, errOut)
	var d outbox.DeadLetter
	require.NoError(t, json.Unmarshal([]byte(out), &d), out)
	require.Equal(t, row, d.OutboxID)
	require.Equal(t, "demo", d.Venue)
	require.Contains(t, d.Error, "maximum payload exceeded")

	out, errOut, code = runPosd(t, s.DB.AppURL, "outbox", "dead-letters")
	require.Zero(t, code, errOut)
	require.Contains(t, out, strconv.FormatInt(row, 10))
	require.Contains(t, out, "maximum payload exceeded")

	out, errOut, code = runPosd(t, s.DB.AppURL, "outbox", "replay", "--id", strconv.FormatInt(row, 10))
	require.Zero(t, code, errOut)
	require.True(t, strings.HasPrefix(out, "dead letter "+strconv.FormatInt(row, 10)+" is back in the outbox"), out)
	_, errOut, code = runPosd(t, s.DB.AppURL, "outbox", "replay", "--id", strconv.FormatInt(row, 10))
	require.NotZero(t, code)
	require.Contains(t, errOut, outbox.ErrNoDeadLetter.Error())
}
