package order

import "encoding/json"

// MarshalJSON writes an op with its omitempty fields left out, except that an
// add_item always carries "modifiers" (as [] when there are none), as the
// line it creates does.
func (op Op) MarshalJSON() ([]byte, error) {
	type plain Op
	if op.Op != OpAddItem {
		return json.Marshal(plain(op))
	}
	mods := op.Modifiers
	if mods == nil {
		mods = []string{}
	}
	return json.Marshal(struct {
		plain
		Modifiers []string `json:"modifiers"`
	}{plain(op), mods})
}
