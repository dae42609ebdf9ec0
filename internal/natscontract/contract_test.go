package natscontract

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeDocumentsTheContract: the README's NATS section names the
// stream's subjects, each subject form as the builders make it, and every
// header, so the documentation cannot drift from the constants.
func TestReadmeDocumentsTheContract(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	readme := string(raw)
	for _, want := range []string{
		"`" + StreamSubjects + "`",
		"`" + orderSubject("<venue>", "<order_id>") + "`",
		"`" + KitchenSubject("<venue>", "<station>") + "`",
		"`" + MenuSubject("<venue>") + "`",
		"`" + HeaderMsgID + "`", "`" + HeaderVenue + "`", "`" + HeaderOrderID + "`",
		"`" + HeaderOrderVersion + "`", "`" + HeaderType + "`", "`" + HeaderPosition + "`",
	} {
		require.Contains(t, readme, want)
	}
	require.Equal(t, "Nats-Msg-Id", HeaderMsgID)
}
