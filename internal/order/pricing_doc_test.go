package order_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
)

// docExample is one worked example of docs/PRICING.md: a fenced block
// tagged "json pricing-example" holding the input and what it prices to.
type docExample struct {
	Name  string             `json:"name"`
	Input order.PricingInput `json:"input"`
	Want  struct {
		Totals order.PriceTotals  `json:"totals"`
		Taxes  []order.TaxPricing `json:"taxes"`
		Lines  []struct {
			ID       uuid.UUID `json:"id"`
			NetCents int64     `json:"net_cents"`
		} `json:"lines"`
	} `json:"want"`
}

// TestPricingDocExamples runs the worked examples of docs/PRICING.md, so the
// numbers the document quotes are the engine's.
func TestPricingDocExamples(t *testing.T) {
	raw, err := os.ReadFile("../../docs/PRICING.md")
	require.NoError(t, err)
	var blocks []string
	var cur *strings.Builder
	lines := bufio.NewScanner(bytes.NewReader(raw))
	for lines.Scan() {
		line := lines.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```json pricing-example":
			cur = &strings.Builder{}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, cur.String())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	require.NoError(t, lines.Err())
	require.Nil(t, cur, "an example block is not closed")
	require.GreaterOrEqual(t, len(blocks), 3, "docs/PRICING.md must keep its worked examples")
	for i, b := range blocks {
		var ex docExample
		dec := json.NewDecoder(strings.NewReader(b))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&ex), "example %d", i)
		require.False(t, dec.More(), "example %d holds more than one value", i)
		t.Run(ex.Name, func(t *testing.T) {
			p, err := order.Price(ex.Input)
			require.NoError(t, err)
			require.Equal(t, ex.Want.Totals, p.Totals)
			require.Equal(t, ex.Want.Taxes, p.Taxes)
			require.Len(t, ex.Want.Lines, len(p.Lines), "an example states every line's net amount")
			for j, l := range ex.Want.Lines {
				require.Equal(t, l.ID, p.Lines[j].ID)
				require.Equal(t, l.NetCents, p.Lines[j].NetCents, "line %d", j)
			}
			requireAddsUp(t, ex.Input, p)
		})
	}
}
