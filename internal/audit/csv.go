package audit

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"
)

// csvCell neutralises a cell a spreadsheet would run as a formula (one
// starting with =, +, -, @, a tab or a carriage return: a staff name, a
// reason) by prefixing a single quote, as OWASP advises. An integer (a
// figure posd wrote) is left as it is.
func csvCell(v string) string {
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return v
	}
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// CSVHeader is the one header of the CSV report; each row fills the columns
// of its section.
var CSVHeader = []string{"section", "staff", "orders_closed", "sales_cents", "tips_cents", "voids", "comps",
	"order_id", "version", "table", "line_id", "sku", "qty", "amount_cents", "reason", "by", "at",
	"overridden_version", "count",
	"gross_sales_cents", "discount_cents", "net_sales_cents", "service_charge_cents", "tax_cents", "total_cents",
	"paid_cents", "refund_cents", "refunds", "tax_class", "rate_bps", "inclusive", "taxable_cents", "tender", "payment_cents",
	"menu_version", "role", "kind", "id", "fields"}

// WriteCSV writes the report as CSV: CSVHeader, then one row per staff
// member; a voids row (count: the range's voids, Report.VoidsTotal) and
// one row per void listed; the same for comps (comps, comp) and forced
// overrides (forced_overrides, forced_override); a conflicts_total row
// (count: the refused writes, Conflicts.Total), a conflict_tables row
// (count: the tables they were on, Conflicts.ByTableTotal) and one
// conflicts row per table listed; one money row (the shift's takings; its
// tips in tips_cents, its orders in orders_closed), one row per tax class
// and rate (tax) and one per tender (tender: payments, refunds, tips), one
// menu_changes row (count: the range's menu changes,
// Report.MenuChangesTotal) and one row per menu change listed (its fields
// space-separated; before and after are in the JSON report only), the
// row's section in its first column. `posd audit shift --format csv` and
// GET /v1/audit/shift?format=csv both write it.
func WriteCSV(out io.Writer, r Report) error {
	w := csv.NewWriter(out)
	row := func(vals map[string]string) error {
		rec := make([]string, len(CSVHeader))
		for i, h := range CSVHeader {
			rec[i] = csvCell(vals[h])
		}
		return w.Write(rec)
	}
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	count := func(section string, n int64) error {
		return row(map[string]string{"section": section, "count": i64(n)})
	}
	if err := w.Write(CSVHeader); err != nil {
		return err
	}
	for _, s := range r.ByStaff {
		if err := row(map[string]string{"section": "staff", "staff": s.Staff, "orders_closed": i64(s.OrdersClosed),
			"sales_cents": i64(s.SalesCents), "tips_cents": i64(s.TipsCents), "voids": i64(s.Voids), "comps": i64(s.Comps)}); err != nil {
			return err
		}
	}
	for _, sec := range []struct {
		name, total string
		rows        []LineAction
		n           int64
	}{{"void", "voids", r.Voids, r.VoidsTotal}, {"comp", "comps", r.Comps, r.CompsTotal}} {
		if err := count(sec.total, sec.n); err != nil {
			return err
		}
		for _, a := range sec.rows {
			if err := row(map[string]string{"section": sec.name, "order_id": a.OrderID.String(), "version": i64(a.Version),
				"table": a.Table, "line_id": a.LineID, "sku": a.SKU, "qty": i64(a.Qty), "amount_cents": i64(a.AmountCents),
				"reason": a.Reason, "by": a.By, "at": a.At.Format(time.RFC3339Nano)}); err != nil {
				return err
			}
		}
	}
	if err := count("forced_overrides", r.ForcedOverridesTotal); err != nil {
		return err
	}
	for _, f := range r.ForcedOverrides {
		if err := row(map[string]string{"section": "forced_override", "order_id": f.OrderID.String(), "version": i64(f.Version),
			"table": f.Table, "by": f.By, "at": f.At.Format(time.RFC3339Nano), "overridden_version": i64(f.OverriddenVersion)}); err != nil {
			return err
		}
	}
	if err := count("conflicts_total", r.Conflicts.Total); err != nil {
		return err
	}
	if err := count("conflict_tables", r.Conflicts.ByTableTotal); err != nil {
		return err
	}
	for _, c := range r.Conflicts.ByTable {
		if err := row(map[string]string{"section": "conflicts", "table": c.Table, "count": i64(c.Count)}); err != nil {
			return err
		}
	}
	m := r.Money
	if err := row(map[string]string{"section": "money", "orders_closed": i64(m.OrdersClosed),
		"gross_sales_cents": i64(m.GrossSalesCents), "discount_cents": i64(m.DiscountCents), "net_sales_cents": i64(m.NetSalesCents),
		"service_charge_cents": i64(m.ServiceChargeCents), "tax_cents": i64(m.TaxCents), "total_cents": i64(m.TotalCents),
		"paid_cents": i64(m.PaidCents), "refund_cents": i64(m.RefundCents), "refunds": i64(m.Refunds), "tips_cents": i64(m.TipCents)}); err != nil {
		return err
	}
	for _, t := range m.Taxes {
		if err := row(map[string]string{"section": "tax", "tax_class": t.TaxClass, "rate_bps": i64(t.RateBps),
			"inclusive": strconv.FormatBool(t.Inclusive), "taxable_cents": i64(t.TaxableCents), "tax_cents": i64(t.TaxCents)}); err != nil {
			return err
		}
	}
	for _, t := range m.Tenders {
		if err := row(map[string]string{"section": "tender", "tender": t.Tender, "payment_cents": i64(t.PaymentCents),
			"refund_cents": i64(t.RefundCents), "tips_cents": i64(t.TipCents)}); err != nil {
			return err
		}
	}
	if err := count("menu_changes", r.MenuChangesTotal); err != nil {
		return err
	}
	for _, c := range r.MenuChanges {
		if err := row(map[string]string{"section": "menu_change", "menu_version": i64(c.MenuVersion), "by": c.By,
			"role": c.Role, "kind": c.Kind, "id": c.ID, "fields": strings.Join(c.Fields, " "),
			"at": c.At.Format(time.RFC3339Nano)}); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}
