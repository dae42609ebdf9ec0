package outbox_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/natsembed"
	"github.com/posd/posd/internal/outbox"
)

func streamJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	ns, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// TestEnsureStreamCreatesOnceAndNeverRewrites: several posd processes
// starting together make one stream with posd's settings; an operator's
// later change of a setting posd accepts survives every further start.
func TestEnsureStreamCreatesOnceAndNeverRewrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	js := streamJS(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = outbox.EnsureStream(ctx, js, 1)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	_, soft, err := outbox.CheckStream(ctx, js, 1)
	require.NoError(t, err)
	require.Empty(t, soft, "a stream posd made matches posd's settings")

	cfg := outbox.StreamConfig(1)
	cfg.MaxAge = 3 * 24 * time.Hour
	cfg.MaxBytes = 1 << 30
	_, err = js.UpdateStream(ctx, cfg)
	require.NoError(t, err)
	_, soft, err = outbox.CheckStream(ctx, js, 1)
	require.NoError(t, err)
	require.Len(t, soft, 2, "%v", soft)
	s, err := outbox.EnsureStream(ctx, js, 1)
	require.NoError(t, err)
	require.Equal(t, 3*24*time.Hour, s.CachedInfo().Config.MaxAge)
	require.Equal(t, int64(1<<30), s.CachedInfo().Config.MaxBytes)
}

func TestEnsureStreamRefusesSettingsPosdCannotWorkWith(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, edit := range map[string]func(*jetstream.StreamConfig){
		"subjects":         func(c *jetstream.StreamConfig) { c.Subjects = []string{"pos.*.order.>"} },
		"storage":          func(c *jetstream.StreamConfig) { c.Storage = jetstream.MemoryStorage },
		"retention":        func(c *jetstream.StreamConfig) { c.Retention = jetstream.InterestPolicy },
		"duplicate window": func(c *jetstream.StreamConfig) { c.Duplicates = time.Hour },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			js := streamJS(t)
			cfg := outbox.StreamConfig(1)
			edit(&cfg)
			_, err := js.CreateStream(ctx, cfg)
			require.NoError(t, err)
			_, err = outbox.EnsureStream(ctx, js, 1)
			var mismatch *outbox.StreamMismatchError
			require.ErrorAs(t, err, &mismatch)
			require.Contains(t, err.Error(), name)
			s, err := js.Stream(ctx, outbox.StreamName)
			require.NoError(t, err)
			require.Equal(t, cfg.Subjects, s.CachedInfo().Config.Subjects, "the stream is left as the operator made it")
			require.Equal(t, cfg.Duplicates, s.CachedInfo().Config.Duplicates)
		})
	}
}
