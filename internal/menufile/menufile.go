// Package menufile reads and writes a venue's menu file, the one documented
// format (docs/MENU.md) in which an operator loads a venue's tables, tax
// classes, service charge, tenders, modifier groups and items with posd menu
// import and reads them back with posd menu export. The file is YAML; a JSON
// file of the same structure is read the same way (JSON is YAML).
//
// Parse refuses a file that is not exactly right, and says every problem it
// found at once, each with the file, the line and the field
// ("menu.yaml:42: items[3].tax_class: unknown tax class \"fod\""). Marshal
// writes a catalog in the same format, so that Parse(Marshal(c)) is c. Diff
// says, in words, what importing one catalog over another would change.
//
// The package is pure: it reads and writes bytes and order.Catalog values,
// never a database.
package menufile

import (
	"fmt"
	"strings"
)

// Bounds of a menu file. The catalog's own bounds (items, groups, options,
// tables, …) are order's (order.MaxMenuItems and the others), checked by
// order.Catalog.Validate.
const (
	// MaxFileBytes bounds the size of a menu file.
	MaxFileBytes = 4 << 20
	// MaxProblems bounds the problems an error lists; past it the error
	// says how many more there were.
	MaxProblems = 100
)

// Problem is one thing wrong with a menu file: the line it is on (0 when
// not known, as for a catalog that came from no file), the field, as a path
// from the top of the file (items[3].tax_class, indexes from 0), and what is
// wrong with it.
type Problem struct {
	Line    int
	Field   string
	Message string
}

// Error is a menu file refused: every problem found in it, in the order of
// their lines. Error() is one line per problem,
// "menu.yaml:42: items[3].tax_class: unknown tax class \"fod\"".
type Error struct {
	File     string
	Problems []Problem
	// More counts the problems found past MaxProblems, which Problems
	// leaves out.
	More int
}

func (e *Error) Error() string {
	lines := make([]string, 0, len(e.Problems)+1)
	for _, p := range e.Problems {
		lines = append(lines, e.format(p))
	}
	if e.More > 0 {
		lines = append(lines, fmt.Sprintf("%s: and %d more problems", e.name(), e.More))
	}
	return strings.Join(lines, "\n")
}

func (e *Error) name() string {
	if e.File == "" {
		return "menu"
	}
	return e.File
}

func (e *Error) format(p Problem) string {
	var b strings.Builder
	b.WriteString(e.name())
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	if p.Field != "" {
		b.WriteString(": ")
		b.WriteString(p.Field)
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	return b.String()
}
