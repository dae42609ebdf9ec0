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
	"regexp"
	"strings"
)

// Bounds of a menu file, checked by Parse and Validate (docs/MENU.md lists
// them). A venue larger than these is not a restaurant a handheld can show.
const (
	// MaxFileBytes bounds the size of a menu file.
	MaxFileBytes = 4 << 20
	// MaxTables bounds a venue's dining tables.
	MaxTables = 500
	// MaxTaxClasses bounds a venue's tax classes.
	MaxTaxClasses = 20
	// MaxTenders bounds the tenders a venue accepts.
	MaxTenders = 20
	// MaxModifierGroups bounds a venue's modifier groups.
	MaxModifierGroups = 200
	// MaxOptionsPerGroup bounds the options of one modifier group.
	MaxOptionsPerGroup = 50
	// MaxItems bounds a venue's menu items.
	MaxItems = 2000
	// MaxGroupsPerItem bounds the modifier groups one item offers.
	MaxGroupsPerItem = 20
	// MaxIDLen bounds the id of a tax class, tender, modifier group or
	// option (a table id is at most order.MaxTableLen, a SKU
	// order.MaxSKULen).
	MaxIDLen = 32
	// MaxCategoryLen bounds an item's category.
	MaxCategoryLen = 64
	// MaxRateBps bounds a tax or service charge rate: 10000 basis points
	// are 100 %.
	MaxRateBps = 10_000
	// MaxProblems bounds the problems an error lists; past it the error
	// says how many more there were.
	MaxProblems = 100
)

// idPattern is what every id in the file is made of: letters, digits, "_"
// and "-", so that it fits in a URL path (PUT /v1/menu/items/{sku}) and in
// a NATS subject token without escaping.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// stationPattern is a kitchen station: one token of the NATS subject
// pos.<venue>.kitchen.<station> (the schema's menu_items_station_token).
var stationPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

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
