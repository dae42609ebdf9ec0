package main

import (
	"bytes"
	"encoding/csv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/audit"
)

// TestShiftCSVNeutralisesFormulas: a reason or a staff name a spreadsheet
// would run as a formula is written with a leading quote; figures are not.
func TestShiftCSVNeutralisesFormulas(t *testing.T) {
	r := audit.Report{
		ByStaff: []audit.StaffSummary{{Staff: "=HYPERLINK(\"http://x\")", OrdersClosed: 1, SalesCents: 2400}},
		Voids: []audit.LineAction{
			{OrderID: uuid.New(), Version: 3, Table: "@T1", SKU: "+steak", Qty: 1, AmountCents: 2400, Reason: "-1+1", By: "\tMaria", At: time.Now()},
			{OrderID: uuid.New(), Version: 4, Table: "T2", SKU: "beer", Qty: 1, AmountCents: 700, Reason: "\r=cmd", By: "Maria", At: time.Now()},
		},
	}
	var out bytes.Buffer
	require.NoError(t, writeShiftCSV(&out, r))
	recs, err := csv.NewReader(&out).ReadAll()
	require.NoError(t, err)
	cell := func(row int, col string) string {
		for i, h := range audit.CSVHeader {
			if h == col {
				return recs[row][i]
			}
		}
		t.Fatalf("no column %s", col)
		return ""
	}
	require.Equal(t, "'=HYPERLINK(\"http://x\")", cell(1, "staff"))
	require.Equal(t, "2400", cell(1, "sales_cents"))
	require.Equal(t, "voids", cell(2, "section"), "the voids' count, then the voids")
	require.Equal(t, "'@T1", cell(3, "table"))
	require.Equal(t, "'+steak", cell(3, "sku"))
	require.Equal(t, "'-1+1", cell(3, "reason"))
	require.Equal(t, "'\tMaria", cell(3, "by"))
	require.Equal(t, "'\r=cmd", cell(4, "reason"))
	require.Equal(t, "T2", cell(4, "table"))
}
