package order

import "sort"

// PortionChange is how many portions of one SKU a change takes (Delta > 0)
// or gives back (Delta < 0).
type PortionChange struct {
	SKU   string
	Delta int
}

// Portions is what the change from cur to next does to each SKU's count:
// the portions its lines hold (Line.Portions) in next minus those in cur,
// SKUs in order, zero changes left out. A line takes portions only while
// its item is counted, and gives back only what it took, so every portion
// taken from a count belongs to a live line (DESIGN.md invariant 10).
func Portions(cur, next Order) []PortionChange {
	return perSKU(cur, next, func(l Line) int { return l.Portions })
}

// SoldMore are the SKUs of which the change from cur to next sells more:
// whose live lines' quantity (voided lines sell none; a comped line was
// still served) grows, in order. These are the SKUs an 86 refuses.
func SoldMore(cur, next Order) []string {
	var skus []string
	for _, c := range perSKU(cur, next, func(l Line) int {
		if l.Status == LineVoided {
			return 0
		}
		return l.Qty
	}) {
		if c.Delta > 0 {
			skus = append(skus, c.SKU)
		}
	}
	return skus
}

// perSKU sums n over the lines of next less the lines of cur, per SKU.
func perSKU(cur, next Order, n func(Line) int) []PortionChange {
	delta := map[string]int{}
	for _, l := range cur.Lines {
		delta[l.SKU] -= n(l)
	}
	for _, l := range next.Lines {
		delta[l.SKU] += n(l)
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
