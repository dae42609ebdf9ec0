package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/outbox"
	"github.com/posd/posd/internal/pgtest"
)

// TestVerifyAgainstJetStream: posd's own database role moves the relay's
// cursor past rows not yet published, so a committed change never reaches
// NATS (the same as deleting them): GET /v1/audit/verify, comparing each
// order's version with the last message on its JetStream subject, fails
// naming the order and the version that is missing; before the tampering,
// with the relay stopped and the change in flight, it is ok.
func TestVerifyAgainstJetStream(t *testing.T) {
	f := start(t, apitest.Options{NoRelay: true, VerifyStream: true, StreamGrace: time.Millisecond})
	s := f.Stack
	ctx := context.Background()
	stop, _ := s.StartRelay(t, outbox.Options{})
	oid := f.Open("T1").ID
	f.Waiter.Patch(oid, 1, apitest.SetNote("window"))
	stream, err := s.JS.Stream(ctx, outbox.StreamName)
	require.NoError(t, err)
	lastVersion := func() string {
		m, err := stream.GetLastMsgForSubject(ctx, kitchen.OrderSubject("demo", oid))
		if err != nil {
			return err.Error()
		}
		return m.Header.Get(outbox.HeaderOrderVersion)
	}
	apitest.Eventually(t, apitest.Wait, func() bool { return lastVersion() == "2" }, "version 2 on the order's subject")

	verify := func() audit.Result {
		t.Helper()
		res := f.Manager.Verify()
		require.True(t, res.StreamChecked, "%+v", res)
		require.Empty(t, res.StreamError)
		return res
	}
	// The relay saves its cursor just after publishing (asynchronously):
	// until then the order counts as in flight and is not compared.
	var last apitest.Response
	apitest.Eventually(t, apitest.Wait, func() bool {
		last = f.Manager.Get("/v1/audit/verify")
		var res audit.Result
		return json.Unmarshal(last.Body, &res) == nil && res.StreamOrdersChecked != nil && *res.StreamOrdersChecked > 0
	}, "the relay to save its cursor past the order (last verify: %s)",
		apitest.Lazy(func() string { return fmt.Sprintf("%d %s", last.Status, last.Body) }))
	res := verify()
	require.True(t, res.OK, "%+v", res.Broken)
	require.EqualValues(t, 1, *res.StreamOrdersChecked, "the published order is compared with JetStream")

	// The relay stops; a change is committed and waits in the outbox.
	stop()
	f.Waiter.Patch(oid, 2, apitest.SetGuests(4))
	res = verify()
	require.True(t, res.OK, "a change in flight is no broken link: %+v", res.Broken)
	require.EqualValues(t, 0, *res.StreamOrdersChecked)

	// The app role moves the cursor past it: the relay will never publish it.
	_, err = pgtest.SystemScope(s.DB.Pool).Exec(ctx, `UPDATE outbox_cursor c SET txid = o.txid, id = o.id
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
