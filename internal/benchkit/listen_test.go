package benchkit

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posd/posd/internal/natsembed"
)

func TestListenSSE(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "text/event-stream" {
			http.Error(w, "no", http.StatusNotAcceptable)
			return
		}
		fmt.Fprint(w, "event: a\ndata: 1\n\n: ping\n\nevent: b\ndata: 2\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()
	l, err := ListenSSE(context.Background(), srv.URL, func(typ, data string, at time.Time) []Message {
		return []Message{{Key: typ + data, Got: at}}
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	got, err := l.Close()
	if err != nil || len(got) != 2 || got[0].Key != "a1" || got[1].Key != "b2" {
		t.Fatalf("Close = %+v, %v", got, err)
	}
	gone := httptest.NewServer(http.NotFoundHandler())
	defer gone.Close()
	if _, err := ListenSSE(context.Background(), gone.URL, nil); err == nil {
		t.Fatal("no error for a stream answered 404")
	}
}

func TestListenNATSAndStreamMessages(t *testing.T) {
	ns, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	ctx := context.Background()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	l, err := ListenNATS(ns.ClientURL(), "s.>", func(data []byte, at time.Time) (Message, bool) {
		return Message{Key: string(data), Got: at}, string(data) != "skip"
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ subj, data string }{{"s.a", "1"}, {"s.a", "skip"}, {"s.b", "2"}} {
		if _, err := js.Publish(ctx, m.subj, []byte(m.data)); err != nil {
			t.Fatal(err)
		}
	}
	total, bySubject, err := StreamMessages(ctx, ns.ClientURL(), "S", "s.>")
	if err != nil || total != 3 || bySubject["s.a"] != 2 || bySubject["s.b"] != 1 {
		t.Fatalf("StreamMessages = %d, %v, %v", total, bySubject, err)
	}
	if total, _, err := StreamMessages(ctx, ns.ClientURL(), "S", ""); err != nil || total != 3 {
		t.Fatalf("StreamMessages without filter = %d, %v", total, err)
	}
	if _, _, err := StreamMessages(ctx, ns.ClientURL(), "NONE", ""); err == nil {
		t.Fatal("no error for a missing stream")
	}
	if st, err := StreamState(ctx, ns.ClientURL(), "S"); err != nil || st.LastSeq != 3 || st.Consumers != 0 {
		t.Fatalf("StreamState = %+v, %v", st, err)
	}
	time.Sleep(100 * time.Millisecond)
	if stopped, err := l.Stopped(); stopped || err != nil {
		t.Fatalf("Stopped before Close = %v, %v", stopped, err)
	}
	if taken := l.Take(); len(taken) != 2 || taken[0].Key != "1" || len(l.Take()) != 0 {
		t.Fatalf("Take = %+v", taken)
	}
	if _, err := js.Publish(ctx, "s.b", []byte("3")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	got, err := l.Close()
	if err != nil || len(got) != 1 || got[0].Key != "3" {
		t.Fatalf("Close after Take = %+v, %v", got, err)
	}
	if stopped, _ := l.Stopped(); !stopped {
		t.Fatal("not stopped after Close")
	}
}
