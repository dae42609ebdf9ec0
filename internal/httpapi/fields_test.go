package httpapi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRequestFields: the members the strict check names come from the
// request types' json tags, exactly the documented body members.
func TestRequestFields(t *testing.T) {
	require.Equal(t, []string{"table", "guests"}, openFields)
	require.Equal(t, []string{"expected_version", "ops", "force"}, patchFields)
}
