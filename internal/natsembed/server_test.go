package natsembed

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
}

// connectJS connects a client to s and returns its JetStream context; the
// connection is closed when the test ends.
func connectJS(t *testing.T, s *Server) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

func TestJetStreamSurvivesRestart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := Options{StoreDir: t.TempDir(), Log: testLogger(t)}

	s, err := Start(o)
	require.NoError(t, err)
	t.Cleanup(s.Shutdown)
	require.NotZero(t, s.Port())
	require.Equal(t, fmt.Sprintf("nats://127.0.0.1:%d", s.Port()), s.ClientURL())

	js := connectJS(t, s)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     "T",
		Subjects: []string{"t.>"},
		Storage:  jetstream.FileStorage,
	})
	require.NoError(t, err)

	ack, err := js.Publish(ctx, "t.one", []byte("hello"), jetstream.WithMsgID("msg-1"))
	require.NoError(t, err)
	require.False(t, ack.Duplicate)
	ack, err = js.Publish(ctx, "t.one", []byte("hello"), jetstream.WithMsgID("msg-1"))
	require.NoError(t, err)
	require.True(t, ack.Duplicate, "same Nats-Msg-Id within the window is a duplicate")

	s.Shutdown()
	s.Shutdown() // idempotent

	// Restart on the same store and port: the stream and its message are back.
	o.Port = s.Port()
	s2, err := Start(o)
	require.NoError(t, err)
	t.Cleanup(s2.Shutdown)
	require.Equal(t, o.Port, s2.Port())

	js2 := connectJS(t, s2)
	stream, err := js2.Stream(ctx, "T")
	require.NoError(t, err)
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(1), info.State.Msgs)

	msg, err := stream.GetMsg(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, "hello", string(msg.Data))
	require.Equal(t, "msg-1", msg.Header.Get(jetstream.MsgIDHeader))

	// The deduplication window is rebuilt from the stored messages.
	ack, err = js2.Publish(ctx, "t.one", []byte("hello"), jetstream.WithMsgID("msg-1"))
	require.NoError(t, err)
	require.True(t, ack.Duplicate, "dedup survives a restart")
}

func TestStartFailsWhenPortTaken(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	start := time.Now()
	_, err = Start(Options{Port: port, StoreDir: t.TempDir(), Log: testLogger(t)})
	require.Error(t, err)
	t.Log(err)
	require.Contains(t, err.Error(), fmt.Sprintf("%d", port))
	require.Less(t, time.Since(start), readyTimeout, "a listen failure is reported without waiting for the timeout")
}

func TestStartValidatesOptions(t *testing.T) {
	t.Parallel()
	_, err := Start(Options{})
	require.Error(t, err)
	_, err = Start(Options{StoreDir: t.TempDir(), Port: -5})
	require.Error(t, err)
}

// TestStreamTakesMoreThanAThousandConsumers: nats-server caps a stream at
// 1,000 consumers unless told otherwise, and posd's POS stream carries every
// venue's kitchen streams (one ordered consumer each, bounded per device and
// per venue by posd itself): the embedded server must not stop the
// 1,001st screen of the house.
func TestStreamTakesMoreThanAThousandConsumers(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Start(Options{StoreDir: t.TempDir(), Log: testLogger(t)})
	require.NoError(t, err)
	t.Cleanup(s.Shutdown)
	js := connectJS(t, s)
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage})
	require.NoError(t, err)
	for i := range 1100 {
		_, err := stream.CreateConsumer(ctx, jetstream.ConsumerConfig{FilterSubject: fmt.Sprintf("t.%d", i), InactiveThreshold: time.Minute})
		require.NoError(t, err, "consumer %d", i+1)
	}
}
