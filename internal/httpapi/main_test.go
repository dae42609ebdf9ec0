package httpapi_test

import (
	"testing"

	"github.com/posd/posd/internal/apitest"
)

func TestMain(m *testing.M) { apitest.Main(m) }
