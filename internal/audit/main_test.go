package audit_test

import (
	"testing"

	"github.com/posd/posd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
