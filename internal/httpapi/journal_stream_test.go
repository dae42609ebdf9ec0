package httpapi_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/audit"
	kitchenpkg "github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/outbox"
	"github.com/posd/posd/internal/pgscope"
)

// TestVerifyAgainstJetStream: posd's own database role moves the relay's
// cursor past rows not yet published, so a committed change never reaches
// NATS (the same as deleting them): GET /v1/audit/verify, comparing each
// order's version with the last message on its JetStream subject, fails
// naming the order and the version that is missing; before the tampering,
// with the relay stopped and the change in flight, it is ok.
func TestVerifyAgainstJetStream(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{NoRelay: true, VerifyStream: true, StreamGrace: time.Millisecond})
	f := fixture{Stack: s, t: t}
	ctx := context.Background()
	stop, _ := s.StartRelay(t, outbox.Options{})
	id := f.open("T1")
	f.mustPatch(waiter, id, 1, map[string]any{"op": "set_note", "note": "window"})
	oid := uuid.MustParse(id)
	stream, err := s.JS.Stream(ctx, outbox.StreamName)
	require.NoError(t, err)
	lastVersion := func() string {
		m, err := stream.GetLastMsgForSubject(ctx, kitchenpkg.OrderSubject("demo", oid))
		if err != nil {
			return err.Error()
		}
		return m.Header.Get(outbox.HeaderOrderVersion)
	}
	require.Eventually(t, func() bool { return lastVersion() == "2" }, 30*time.Second, 10*time.Millisecond)

	verify := func() audit.Result {
		t.Helper()
		r := f.Do(t, apitest.Req{Method: "GET", Path: "/v1/audit/verify", Token: manager})
		require.Equal(t, 200, r.Status, string(r.Body))
		var res audit.Result
		r.JSON(t, &res)
		require.True(t, res.StreamChecked, string(r.Body))
		require.Empty(t, res.StreamError)
		return res
	}
	// The relay saves its cursor just after publishing (asynchronously):
	// until then the order counts as in flight and is not compared.
	res := verify()
	for deadline := time.Now().Add(10 * time.Second); *res.StreamOrdersChecked == 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		res = verify()
	}
	require.True(t, res.OK, "%+v", res.Broken)
	require.EqualValues(t, 1, *res.StreamOrdersChecked, "the published order is compared with JetStream")

	// The relay stops; a change is committed and waits in the outbox.
	stop()
	f.mustPatch(waiter, id, 2, map[string]any{"op": "set_guests", "guests": 4})
	res = verify()
	require.True(t, res.OK, "a change in flight is no broken link: %+v", res.Broken)
	require.EqualValues(t, 0, *res.StreamOrdersChecked)

	// The app role moves the cursor past it: the relay will never publish it.
	_, err = pgscope.System(s.DB.Pool).Exec(ctx, `UPDATE outbox_cursor c SET txid = o.txid, id = o.id
		FROM (SELECT txid, id FROM outbox ORDER BY txid DESC, id DESC LIMIT 1) o WHERE c.name = 'relay'`)
	require.NoError(t, err)
	s.StartRelay(t, outbox.Options{})
	res = verify()
	require.False(t, res.OK, "events that never reached NATS went unnoticed")
	require.Equal(t, oid, *res.Broken.OrderID)
	require.EqualValues(t, 3, res.Broken.Version)
	require.Contains(t, res.Broken.Reason, "carries version \"2\"")
	require.Equal(t, "2", lastVersion(), "the relay did not publish the skipped change: "+strconv.Quote(lastVersion()))
}
