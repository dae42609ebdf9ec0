package order

import (
	"errors"
	"fmt"
)

// MenuConflictError is a menu write refused by its precondition (DESIGN.md
// section 9): If-Match named another version than the entity's (or an
// entity that does not exist), or If-None-Match: * named one that does.
// Current is the entity as it is now (nil: it does not exist), its version
// CurrentVersion (0 then).
type MenuConflictError struct {
	// Kind is "item" or "modifier_group"; ID its SKU or id.
	Kind, ID string
	// Expected is the If-Match version; nil for If-None-Match: *.
	Expected       *int64
	Current        any
	CurrentVersion int64
}

func (e *MenuConflictError) Error() string {
	switch {
	case e.Expected == nil:
		return fmt.Sprintf("%s %q already exists (version %d); send If-Match with its version to change it", e.Kind, e.ID, e.CurrentVersion)
	case e.Current == nil:
		return fmt.Sprintf("%s %q does not exist; send If-None-Match: * to create it", e.Kind, e.ID)
	}
	return fmt.Sprintf("%s %q is at version %d, not %d; review the current one and retry with If-Match: \"%d\"",
		e.Kind, e.ID, e.CurrentVersion, *e.Expected, e.CurrentVersion)
}

// ErrNoMenuItem is a menu write addressed to an item the venue's menu does
// not have.
var ErrNoMenuItem = errors.New("no such menu item")
