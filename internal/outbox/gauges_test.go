package outbox_test

import (
	"context"
	"encoding/json"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/outbox"
)

// queryLog records the statements a pgx connection runs, with their
// arguments, by the name sqlc gives them.
type queryLog struct {
	mu   sync.Mutex
	seen map[string]pgx.TraceQueryStartData
}

var sqlcName = regexp.MustCompile(`^-- name: (\w+)`)

func (l *queryLog) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if m := sqlcName.FindStringSubmatch(d.SQL); m != nil {
		l.mu.Lock()
		l.seen[m[1]] = d
		l.mu.Unlock()
	}
	return ctx
}

func (l *queryLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (l *queryLog) get(name string) (pgx.TraceQueryStartData, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d, ok := l.seen[name]
	return d, ok
}

// The relay polls its lag and dead-letter gauges every second and reads a
// batch at every commit, for as long as posd runs. Each of those statements
// must stay a probe of a few index pages however many published rows the
// outbox still holds (they are kept until pruned), and none may be compiled
// by JIT (tens of milliseconds of CPU for a query that returns one row).
// The test lets a relay poll over 20,000 published rows, then explains the
// very statements it ran, with their arguments, on a session set up as the
// relay's.
func TestRelayPollsStayIndexProbes(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	_, err := r.DB.Admin.Exec(ctx, `
		INSERT INTO outbox (venue_id, subject, msg_id, msg_type, order_id, order_version, payload)
		SELECT 'demo', 'pos.demo.order.x', 'published-' || g, $1, gen_random_uuid(), 1, '\x7b7d'
		FROM generate_series(1, 20000) g`, rawType)
	require.NoError(t, err)
	_, err = r.DB.Admin.Exec(ctx, `UPDATE outbox_cursor c SET txid = o.txid, id = o.id
		FROM (SELECT txid, id FROM outbox ORDER BY txid DESC, id DESC LIMIT 1) o WHERE c.name = 'relay'`)
	require.NoError(t, err)

	cfg, err := pgx.ParseConfig(r.DB.AppURL)
	require.NoError(t, err)
	log := &queryLog{seen: map[string]pgx.TraceQueryStartData{}}
	cfg.Tracer = log
	relay := outbox.New(cfg, r.JS, outbox.Options{Metrics: outbox.NewMetrics(prometheus.NewRegistry())})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(rctx) }()
	polls := []string{"OutboxBatch", "RelayLagSeconds", "CountDeadLetters"}
	apitest.Eventually(t, 20*time.Second, func() bool {
		for _, name := range polls {
			if _, ok := log.get(name); !ok {
				return false
			}
		}
		return true
	}, "the relay to read a batch and measure its gauges")
	cancel()
	<-done

	conn, err := relay.Connect(ctx)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, name := range polls {
		d, _ := log.get(name)
		var out []byte
		require.NoError(t, conn.QueryRow(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+d.SQL, d.Args...).Scan(&out), name)
		var plans []struct {
			Plan struct {
				Hit  int64 `json:"Shared Hit Blocks"`
				Read int64 `json:"Shared Read Blocks"`
			}
			JIT json.RawMessage
		}
		require.NoError(t, json.Unmarshal(out, &plans), name)
		require.Len(t, plans, 1, name)
		p := plans[0]
		t.Logf("%s: %d buffers, JIT %s", name, p.Plan.Hit+p.Plan.Read, p.JIT)
		require.Empty(t, p.JIT, "%s is compiled by JIT", name)
		require.Less(t, p.Plan.Hit+p.Plan.Read, int64(50), "%s reads the published rows: %s", name, out)
	}
}
