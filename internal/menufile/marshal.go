package menufile

import (
	"bytes"
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/posd/posd/internal/order"
)

// The file's structure as Marshal writes it: the fields in the order of
// docs/MENU.md, empty lists and a missing service charge left out, short
// lists of ids on one line.
type (
	fileCatalog struct {
		Tables         []fileTable        `yaml:"tables,omitempty" json:"tables,omitempty"`
		TaxClasses     []fileTaxClass     `yaml:"tax_classes,omitempty" json:"tax_classes,omitempty"`
		ServiceCharge  *fileServiceCharge `yaml:"service_charge,omitempty" json:"service_charge,omitempty"`
		Tenders        []string           `yaml:"tenders,flow,omitempty" json:"tenders,omitempty"`
		ModifierGroups []fileGroup        `yaml:"modifier_groups,omitempty" json:"modifier_groups,omitempty"`
		Items          []fileItem         `yaml:"items,omitempty" json:"items,omitempty"`
	}
	fileTable struct {
		ID    string `yaml:"id" json:"id"`
		Label string `yaml:"label" json:"label"`
		Seats int    `yaml:"seats" json:"seats"`
	}
	fileTaxClass struct {
		ID        string `yaml:"id" json:"id"`
		Name      string `yaml:"name" json:"name"`
		RateBps   int64  `yaml:"rate_bps" json:"rate_bps"`
		Inclusive bool   `yaml:"inclusive" json:"inclusive"`
	}
	fileServiceCharge struct {
		MinGuests int    `yaml:"min_guests" json:"min_guests"`
		RateBps   int64  `yaml:"rate_bps" json:"rate_bps"`
		TaxClass  string `yaml:"tax_class" json:"tax_class"`
	}
	fileGroup struct {
		ID      string       `yaml:"id" json:"id"`
		Name    string       `yaml:"name" json:"name"`
		Min     int          `yaml:"min" json:"min"`
		Max     int          `yaml:"max" json:"max"`
		Options []fileOption `yaml:"options" json:"options"`
	}
	fileOption struct {
		ID         string `yaml:"id" json:"id"`
		Name       string `yaml:"name" json:"name"`
		PriceCents int64  `yaml:"price_cents" json:"price_cents"`
	}
	fileItem struct {
		SKU            string   `yaml:"sku" json:"sku"`
		Name           string   `yaml:"name" json:"name"`
		Category       string   `yaml:"category" json:"category"`
		PriceCents     int64    `yaml:"price_cents" json:"price_cents"`
		Station        string   `yaml:"station" json:"station"`
		TaxClass       string   `yaml:"tax_class" json:"tax_class"`
		ModifierGroups []string `yaml:"modifier_groups,flow,omitempty" json:"modifier_groups,omitempty"`
	}
)

// header opens every file Marshal writes.
const header = "# posd menu file: one venue's tables, tax classes, service charge, tenders,\n" +
	"# modifier groups and items. Format: docs/MENU.md. Load it with\n" +
	"#   posd menu import --venue VENUE FILE\n"

// Marshal writes c as a menu file in YAML. Parse reads it back as c: for
// every catalog Parse returns, Parse(Marshal(c)) equals c. Group versions
// are not written (they are the running menu's).
func Marshal(c order.Catalog) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(toFile(c)); err != nil {
		return nil, fmt.Errorf("write menu file: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("write menu file: %w", err)
	}
	return b.Bytes(), nil
}

// MarshalJSON writes c as a menu file in JSON, the same structure as
// Marshal's YAML; Parse reads it back as c.
func MarshalJSON(c order.Catalog) ([]byte, error) {
	out, err := json.MarshalIndent(toFile(c), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("write menu file: %w", err)
	}
	return append(out, '\n'), nil
}

func toFile(c order.Catalog) fileCatalog {
	var f fileCatalog
	for _, t := range c.Tables {
		f.Tables = append(f.Tables, fileTable(t))
	}
	for _, t := range c.TaxClasses {
		f.TaxClasses = append(f.TaxClasses, fileTaxClass(t))
	}
	if sc := c.ServiceCharge; sc != nil {
		f.ServiceCharge = &fileServiceCharge{MinGuests: sc.MinGuests, RateBps: sc.RateBps, TaxClass: sc.TaxClass}
	}
	f.Tenders = c.Tenders
	for _, g := range c.ModifierGroups {
		fg := fileGroup{ID: g.ID, Name: g.Name, Min: g.Min, Max: g.Max}
		for _, o := range g.Options {
			fg.Options = append(fg.Options, fileOption(o))
		}
		f.ModifierGroups = append(f.ModifierGroups, fg)
	}
	for _, it := range c.Items {
		f.Items = append(f.Items, fileItem{
			SKU: it.SKU, Name: it.Name, Category: it.Category, PriceCents: it.PriceCents,
			Station: it.Station, TaxClass: it.TaxClass, ModifierGroups: it.ModifierGroups,
		})
	}
	return f
}
