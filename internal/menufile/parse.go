package menufile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/posd/posd/internal/order"
)

// The fields of each kind of mapping in the file, in the order Marshal
// writes them.
var (
	catalogFields       = []string{"tables", "tax_classes", "service_charge", "tenders", "modifier_groups", "items"}
	tableFields         = []string{"id", "label", "seats"}
	taxClassFields      = []string{"id", "name", "rate_bps", "inclusive"}
	serviceChargeFields = []string{"min_guests", "rate_bps", "tax_class"}
	groupFields         = []string{"id", "name", "min", "max", "options"}
	optionFields        = []string{"id", "name", "price_cents"}
	itemFields          = []string{"sku", "name", "category", "price_cents", "station", "tax_class", "modifier_groups"}
)

// Parse reads the menu file data, named name in its errors (the path the
// operator gave), and returns its catalog, or an *Error listing every
// problem with its line and field: the file's own (syntax, unknown or
// repeated fields, a value of the wrong type) and those of the catalog's
// rules, order.Catalog.Validate's, which posd menu import's store applies
// too. Lists left out of the file are empty (nil); a table's label left out
// is its id, an option's price_cents left out is 0, a tax class's inclusive
// left out is false. The catalog's running state (versions, availability)
// is zero: it is the running menu's, not the file's.
func Parse(name string, data []byte) (order.Catalog, error) {
	p := &parser{file: name, lines: map[string]int{}}
	c, ok := p.decode(data)
	if ok {
		var ve *order.ValidationError
		if err := c.Validate(); errors.As(err, &ve) {
			for _, pr := range ve.Problems {
				p.addAt(pr.Field, pr.Detail)
			}
		} else if err != nil {
			return order.Catalog{}, err
		}
	}
	if err := p.err(); err != nil {
		return order.Catalog{}, err
	}
	return c, nil
}

// parser collects the problems of one file and the line each field was
// found on, so that the checks made after decoding can name lines too.
type parser struct {
	file  string
	probs []Problem
	// reported holds the fields that have a problem: a field gets one,
	// the first found (a missing price is "required", not also "out of
	// range"), and the fields of an element that is wrong as a whole get
	// none.
	reported map[string]bool
	// lines maps a field path (items[3].tax_class) to its value's line,
	// and an element's path (items[3]) to the line it starts on.
	lines map[string]int
}

func (p *parser) add(line int, field, format string, args ...any) {
	if p.reported == nil {
		p.reported = map[string]bool{}
	}
	for f := field; f != ""; f = parent(f) {
		if p.reported[f] {
			return
		}
	}
	p.reported[field] = true
	p.probs = append(p.probs, Problem{Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

// addAt adds a problem on field at the line recorded for it, or for the
// nearest element or list that holds it (a missing field's problem is on
// the line its element starts).
func (p *parser) addAt(field, msg string) {
	p.add(p.lineOf(field), field, "%s", msg)
}

func (p *parser) lineOf(field string) int {
	for f := field; f != ""; f = parent(f) {
		if l, ok := p.lines[f]; ok {
			return l
		}
	}
	return 0
}

// parent is the path of the element or list that holds field:
// items[3].tax_class → items[3] → items → "".
func parent(field string) string {
	i := strings.LastIndexAny(field, ".[")
	if i < 0 {
		return ""
	}
	return field[:i]
}

func (p *parser) err() error {
	if len(p.probs) == 0 {
		return nil
	}
	// By line; problems of no line (of the whole catalog, "and 5 more")
	// last.
	sort.SliceStable(p.probs, func(i, j int) bool {
		a, b := p.probs[i].Line, p.probs[j].Line
		return a != b && b == 0 || a != 0 && a < b
	})
	e := &Error{File: p.file, Problems: p.probs}
	if len(e.Problems) > MaxProblems {
		e.More = len(e.Problems) - MaxProblems
		e.Problems = e.Problems[:MaxProblems]
	}
	return e
}

// yamlLine is the line yaml.v3 puts in a syntax error.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decode reads the YAML document into a catalog, reporting syntax, shape
// and type problems; ok is false when there is no document to check.
func (p *parser) decode(data []byte) (c order.Catalog, ok bool) {
	if len(data) > MaxFileBytes {
		p.add(0, "", "the file is %d bytes, more than the %d a menu file may have", len(data), MaxFileBytes)
		return c, false
	}
	dec := yaml.NewDecoder(bytes.NewReader(jsonSlashes(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.add(0, "", "the file is empty; docs/MENU.md describes what it holds")
			return c, false
		}
		p.syntax(err)
		return c, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.add(extra.Line, "", "a second YAML document (after ---): a menu file holds one")
	} else if !errors.Is(err, io.EOF) {
		p.syntax(err)
	}
	root := doc.Content[0]
	o := p.object(root, "", catalogFields)
	if o == nil {
		return c, false
	}
	for i, n := range o.list("tables") {
		c.Tables = append(c.Tables, p.table(n, fmt.Sprintf("tables[%d]", i)))
	}
	for i, n := range o.list("tax_classes") {
		c.TaxClasses = append(c.TaxClasses, p.taxClass(n, fmt.Sprintf("tax_classes[%d]", i)))
	}
	if n := o.value("service_charge"); n != nil {
		c.ServiceCharge = p.serviceCharge(n, "service_charge")
	}
	for i, n := range o.list("tenders") {
		c.Tenders = append(c.Tenders, p.scalarText(n, fmt.Sprintf("tenders[%d]", i)))
	}
	for i, n := range o.list("modifier_groups") {
		c.ModifierGroups = append(c.ModifierGroups, p.group(n, fmt.Sprintf("modifier_groups[%d]", i)))
	}
	for i, n := range o.list("items") {
		c.Items = append(c.Items, p.item(n, fmt.Sprintf("items[%d]", i)))
	}
	return c, true
}

// jsonSlashes rewrites JSON's escaped slash (\/), which YAML's double-quoted
// strings do not know, as a slash, in a file that is JSON (starts with "{").
// Lines stay where they are.
func jsonSlashes(data []byte) []byte {
	if t := bytes.TrimLeft(data, " \t\r\n\ufeff"); len(t) == 0 || t[0] != '{' || !bytes.Contains(data, []byte(`\/`)) {
		return data
	}
	out := make([]byte, 0, len(data))
	inString, escaped := false, false
	for _, b := range data {
		switch {
		case escaped:
			escaped = false
			if b == '/' {
				out[len(out)-1] = '/'
				continue
			}
		case inString && b == '\\':
			escaped = true
		case b == '"':
			inString = !inString
		}
		out = append(out, b)
	}
	return out
}

// syntax adds the YAML parser's error with its line.
func (p *parser) syntax(err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		p.add(line, "", "not valid YAML or JSON: %s", m[2])
		return
	}
	p.add(0, "", "not valid YAML or JSON: %s", strings.TrimPrefix(msg, "yaml: "))
}

func (p *parser) table(n *yaml.Node, path string) order.Table {
	var t order.Table
	o := p.object(n, path, tableFields)
	if o == nil {
		return t
	}
	t.ID = o.text("id")
	t.Label = o.text("label")
	if o.value("label") == nil {
		t.Label = t.ID
	}
	t.Seats = int(o.integer("seats", true))
	return t
}

func (p *parser) taxClass(n *yaml.Node, path string) order.TaxClass {
	var t order.TaxClass
	o := p.object(n, path, taxClassFields)
	if o == nil {
		return t
	}
	t.ID = o.text("id")
	t.Name = o.text("name")
	t.RateBps = o.integer("rate_bps", true)
	t.Inclusive = o.boolean("inclusive")
	return t
}

func (p *parser) serviceCharge(n *yaml.Node, path string) *order.ServiceCharge {
	o := p.object(n, path, serviceChargeFields)
	if o == nil {
		return nil
	}
	return &order.ServiceCharge{
		MinGuests: int(o.integer("min_guests", true)),
		RateBps:   o.integer("rate_bps", true),
		TaxClass:  o.text("tax_class"),
	}
}

func (p *parser) group(n *yaml.Node, path string) order.ModifierGroup {
	var g order.ModifierGroup
	o := p.object(n, path, groupFields)
	if o == nil {
		return g
	}
	g.ID = o.text("id")
	g.Name = o.text("name")
	g.Min = int(o.integer("min", true))
	g.Max = int(o.integer("max", true))
	for i, n := range o.list("options") {
		var opt order.ModifierOption
		if oo := p.object(n, fmt.Sprintf("%s.options[%d]", path, i), optionFields); oo != nil {
			opt = order.ModifierOption{ID: oo.text("id"), Name: oo.text("name"), PriceCents: oo.integer("price_cents", false)}
		}
		g.Options = append(g.Options, opt)
	}
	return g
}

func (p *parser) item(n *yaml.Node, path string) order.MenuItem {
	var it order.MenuItem
	o := p.object(n, path, itemFields)
	if o == nil {
		return it
	}
	it.SKU = o.text("sku")
	it.Name = o.text("name")
	it.Category = o.text("category")
	it.PriceCents = o.integer("price_cents", true)
	it.Station = o.text("station")
	it.TaxClass = o.text("tax_class")
	for i, n := range o.list("modifier_groups") {
		it.ModifierGroups = append(it.ModifierGroups, p.scalarText(n, fmt.Sprintf("%s.modifier_groups[%d]", path, i)))
	}
	return it
}

// object is one mapping of the file, its fields by name.
type object struct {
	p      *parser
	path   string
	fields map[string]*yaml.Node
}

// object reads n as a mapping of the known fields, reporting any other
// field, a field given twice and a value that is not a mapping (then it
// returns nil). It records the line of the element and of each field.
func (p *parser) object(n *yaml.Node, path string, known []string) *object {
	n = resolve(n)
	if path != "" {
		p.lines[path] = n.Line
	}
	if n.Kind != yaml.MappingNode {
		if path == "" {
			p.add(n.Line, "", "the file must be a mapping of %s, not %s", strings.Join(known, ", "), describe(n))
		} else {
			p.add(n.Line, path, "must be a mapping of %s, not %s", strings.Join(known, ", "), describe(n))
		}
		return nil
	}
	o := &object{p: p, path: path, fields: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		key := k.Value
		field := o.field(key)
		switch {
		case k.Kind != yaml.ScalarNode:
			p.add(k.Line, path, "a key must be a plain name, not %s", describe(k))
			continue
		case !contains(known, key):
			p.add(k.Line, field, "unknown field (%s has %s)", o.what(), strings.Join(known, ", "))
			continue
		case o.fields[key] != nil:
			p.add(k.Line, field, "given twice (first on line %d)", p.lines[field])
			continue
		}
		o.fields[key] = v
		p.lines[field] = resolve(v).Line
	}
	return o
}

func (o *object) what() string {
	if o.path == "" {
		return "the file"
	}
	return "this element"
}

func (o *object) field(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

// value is the field's value, or nil when it is missing or null.
func (o *object) value(key string) *yaml.Node {
	n := o.fields[key]
	if n == nil {
		return nil
	}
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	return n
}

// text is the field as text, "" when it is missing (the checks say whether
// it is required). A number or a boolean written unquoted is taken as the
// text it is written as: id: 12 is the id "12".
func (o *object) text(key string) string {
	n := o.value(key)
	if n == nil {
		return ""
	}
	return o.p.scalarText(n, o.field(key))
}

func (p *parser) scalarText(n *yaml.Node, field string) string {
	n = resolve(n)
	p.lines[field] = n.Line
	if n.Kind != yaml.ScalarNode {
		p.add(n.Line, field, "must be text, not %s", describe(n))
		return ""
	}
	if n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

// integer is the field as a whole number; a missing one is 0, and a problem
// when required.
func (o *object) integer(key string, required bool) int64 {
	n := o.value(key)
	if n == nil {
		if required {
			o.p.add(o.p.lineOf(o.field(key)), o.field(key), "required")
		}
		return 0
	}
	var v int64
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil {
		o.p.add(n.Line, o.field(key), "must be a whole number, not %s", describe(n))
		return 0
	}
	return v
}

// boolean is the field as true or false; a missing one is false.
func (o *object) boolean(key string) bool {
	n := o.value(key)
	if n == nil {
		return false
	}
	var v bool
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&v) != nil {
		o.p.add(n.Line, o.field(key), "must be true or false, not %s", describe(n))
		return false
	}
	return v
}

// list is the field's elements; a missing or null list is empty.
func (o *object) list(key string) []*yaml.Node {
	n := o.value(key)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		o.p.add(n.Line, o.field(key), "must be a list, not %s", describe(n))
		return nil
	}
	return n.Content
}

// resolve follows an alias (*name) to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// describe says what a node is, for a problem's message.
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "null"
		case "!!bool":
			return n.Value
		case "!!int", "!!float":
			return "the number " + n.Value
		}
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
