package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/seed"
)

// TestAlertRulesNameServedMetrics keeps deploy/prometheus/posd-rules.yml true
// to the code: every posd_* metric an alert selects, and every label it
// selects on, is one a running posd serve exposes on /metrics (after an open,
// a write and a stale write, so that each labelled family has a series), or
// one the nightly posd audit verify --all-venues --textfile writes.
// promtool checks the rules' syntax and behaviour in CI.
func TestAlertRulesNameServedMetrics(t *testing.T) {
	rules, err := os.ReadFile("../../deploy/prometheus/posd-rules.yml")
	require.NoError(t, err)
	db := pgtest.NewDB(t)
	ns := startNATS(t)
	p := startOpsServe(t, []string{"DATABASE_URL=" + db.AppURL, "NATS_URL=" + ns.ClientURL()})
	waiter := p.as(t, seed.TokenWaiter1)
	o := waiter.Open("T4", 2)
	waiter.Patch(o.ID, o.Version, order.Op{Op: "add_item", SKU: "steak"})
	require.Equal(t, http.StatusConflict, waiter.TryPatch(o.ID, o.Version, order.Op{Op: "add_item", SKU: "steak"}).Status)

	resp, err := http.Get("http://" + p.addr + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	// The nightly check's series come from the file it leaves for the node
	// exporter.
	pub, err := posdCmd(t, nil, "audit", "public-key", "--seal-key-file", testSealKeyFile(t))
	require.NoError(t, err, pub)
	textfile := filepath.Join(t.TempDir(), "posd_audit_verify.prom")
	out, err := posdCmd(t, []string{"DATABASE_URL=" + db.AppURL}, "audit", "verify", "--all-venues",
		"--public-key", strings.TrimSpace(pub), "--textfile", textfile)
	require.NoError(t, err, out)
	verified, err := os.ReadFile(textfile)
	require.NoError(t, err)
	served := string(body) + string(verified)

	sel := regexp.MustCompile(`(posd_[a-z_]+)(\{([^}]*)\})?`)
	label := regexp.MustCompile(`([a-z_]+)\s*=~?`)
	found := 0
	for _, m := range sel.FindAllStringSubmatch(string(rules), -1) {
		name := m[1]
		require.Regexp(t, `(?m)^# TYPE `+name+` `, served, "the rules select %s, which posd does not serve", name)
		for _, l := range label.FindAllStringSubmatch(m[3], -1) {
			require.Regexp(t, `(?m)^`+name+`\{[^}]*\b`+l[1]+`="`, served, "the rules select %s by %s, a label it does not have", name, l[1])
		}
		found++
	}
	require.GreaterOrEqual(t, found, 7, "the rules name posd's metrics")
	require.True(t, strings.Contains(string(rules), `kind="version-conflict"`) && strings.Contains(served, `posd_order_conflicts_total{kind="version-conflict"}`),
		"the conflict alert counts the kind posd reports for a stale write")
}
