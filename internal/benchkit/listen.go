package benchkit

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Listener collects the messages a stream delivers until Close.
type Listener struct {
	Collector
	close func()
	once  sync.Once
}

// Close stops listening and returns what was received and the first error.
func (l *Listener) Close() ([]Message, error) {
	l.once.Do(l.close)
	return l.Wait()
}

// ListenSSE holds the text/event-stream at url and passes each event to
// parse, collecting the messages it returns. It returns once the stream is
// open.
func ListenSSE(ctx context.Context, url string, parse func(typ, data string, at time.Time) []Message) (*Listener, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := (&http.Client{}).Do(req) // no timeout: the stream lives until Close
	if err == nil && resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open the stream %s: %w", url, err)
	}
	l := &Listener{Collector: Collector{Done: make(chan struct{})}, close: cancel}
	go func() {
		defer close(l.Done)
		defer resp.Body.Close()
		err := ReadSSE(resp.Body, func(typ, data string, at time.Time) {
			for _, m := range parse(typ, data, at) {
				l.Add(m)
			}
		})
		if err != nil && ctx.Err() == nil {
			l.Fail(err)
		}
	}()
	return l, nil
}

// ListenNATS holds a core subscription on subject at the NATS server url
// and passes each message to parse.
func ListenNATS(url, subject string, parse func(data []byte, at time.Time) (Message, bool)) (*Listener, error) {
	l := &Listener{Collector: Collector{Done: make(chan struct{})}}
	nc, err := nats.Connect(url, nats.Name("benchkit"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { l.Fail(err) }))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", url, err)
	}
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		if msg, ok := parse(m.Data, time.Now()); ok {
			l.Add(msg)
		}
	})
	if err == nil {
		err = sub.SetPendingLimits(-1, -1) // a slow consumer would drop messages
	}
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("subscribe to %s: %w", subject, err)
	}
	l.close = func() {
		nc.Close()
		close(l.Done)
	}
	return l, nil
}

// StreamMessages returns the messages of a JetStream stream in total and,
// when filter is set, per subject matching it; opts are further options of
// the connection (a cluster's CA).
func StreamMessages(ctx context.Context, url, stream, filter string, opts ...nats.Option) (total uint64, bySubject map[string]uint64, err error) {
	info, err := streamInfo(ctx, url, stream, filter, opts)
	if err != nil {
		return 0, nil, err
	}
	return info.State.Msgs, info.State.Subjects, nil
}

// StreamState returns the state of a JetStream stream: its messages, last
// sequence and consumers.
func StreamState(ctx context.Context, url, stream string, opts ...nats.Option) (jetstream.StreamState, error) {
	info, err := streamInfo(ctx, url, stream, "", opts)
	if err != nil {
		return jetstream.StreamState{}, err
	}
	return info.State, nil
}

func streamInfo(ctx context.Context, url, stream, filter string, opts []nats.Option) (*jetstream.StreamInfo, error) {
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("benchkit")}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	var s jetstream.Stream
	if err == nil {
		s, err = js.Stream(ctx, stream)
	}
	var info *jetstream.StreamInfo
	if err == nil && filter != "" {
		info, err = s.Info(ctx, jetstream.WithSubjectFilter(filter))
	} else if err == nil {
		info, err = s.Info(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("JetStream stream %s: %w", stream, err)
	}
	return info, nil
}

// Poll calls cond every interval until it reports done, fails, ctx ends or
// timeout passes (ok false).
func Poll(ctx context.Context, interval, timeout time.Duration, cond func() (bool, error)) (ok bool, err error) {
	for deadline := time.Now().Add(timeout); ; {
		if done, err := cond(); done || err != nil {
			return done, err
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		if err := Sleep(ctx, interval); err != nil {
			return false, err
		}
	}
}
