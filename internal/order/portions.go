package order

import "sort"

// PortionChange is how many portions of one SKU a change takes (Delta > 0)
// or gives back (Delta < 0).
type PortionChange struct {
	SKU   string
	Delta int
}

// Portions is what the change from cur to next does to each SKU's
// portions: the quantities of its live lines (voided lines give theirs
// back; a comped line was still served) in next minus those in cur, SKUs
// in order, zero changes left out. Whether a SKU's portions are counted at
// all is the menu's business (the store applies the changes to counted
// items only).
func Portions(cur, next Order) []PortionChange {
	delta := map[string]int{}
	for _, l := range cur.Lines {
		if l.Status != LineVoided {
			delta[l.SKU] -= l.Qty
		}
	}
	for _, l := range next.Lines {
		if l.Status != LineVoided {
			delta[l.SKU] += l.Qty
		}
	}
	out := make([]PortionChange, 0, len(delta))
	for sku, d := range delta {
		if d != 0 {
			out = append(out, PortionChange{SKU: sku, Delta: d})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SKU < out[j].SKU })
	return out
}

// AddedSKUs are the SKUs the applied ops add, in order, each once.
func AddedSKUs(applied []Op) []string {
	var skus []string
	seen := map[string]bool{}
	for _, a := range applied {
		if a.Op == OpAddItem && !seen[a.SKU] {
			seen[a.SKU] = true
			skus = append(skus, a.SKU)
		}
	}
	return skus
}
