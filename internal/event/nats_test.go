package event_test

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/syndicate-media/syndicate/internal/event"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// startNATS runs an in-process NATS server with JetStream on a random
// port; project machines also run a real one on 127.0.0.1:4222.
func startNATS(t *testing.T) *natsserver.Server {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// TestNATS: each event lands on JetStream subject PREFIX.TYPE, in
// publication order, with Nats-Msg-Id = the event id; the sink creates the
// stream; a re-sent event is dropped by JetStream as a duplicate.
func TestNATS(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		ns := startNATS(t)
		k := addSink(t, s, store.Sink{Kind: store.SinkNATS, Target: ns.ClientURL() + "/syndicate.events"})
		dispatch(t, s)
		lifecycle(t, s, "d1", "p1")
		lifecycle(t, s, "d2", "p2")
		waitFor(t, "the NATS sink's cursor at the head", func() bool { return getSink(t, s, k.ID).Cursor == 8 })

		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		stream, err := js.Stream(ctx, event.StreamName)
		if err != nil {
			t.Fatalf("stream %s: %v", event.StreamName, err)
		}
		want := outbox(t, s)
		checkStream := func() {
			t.Helper()
			info, err := stream.Info(ctx)
			if err != nil || info.State.Msgs != uint64(len(want)) {
				t.Fatalf("stream holds %v messages (%v), want %d", info.State.Msgs, err, len(want))
			}
		}
		checkStream()
		for i, e := range want {
			m, err := stream.GetMsg(ctx, uint64(i+1))
			if err != nil {
				t.Fatal(err)
			}
			var got ce
			if err := json.Unmarshal(m.Data, &got); err != nil {
				t.Fatal(err)
			}
			if id := m.Header.Get(jetstream.MsgIDHeader); id != e.ID || got.ID != e.ID || got.Type != e.Type {
				t.Errorf("message %d: Nats-Msg-Id %q, event %s %s; want %s %s", i+1, id, got.ID, got.Type, e.ID, e.Type)
			}
			if m.Subject != "syndicate.events."+e.Type || m.Header.Get("Content-Type") != event.ContentType {
				t.Errorf("message %d: subject %q, content type %q", i+1, m.Subject, m.Header.Get("Content-Type"))
			}
		}

		// At least once: sending an event again (as after a crash) leaves
		// the stream unchanged.
		sender, err := event.Open(getSink(t, s, k.ID))
		if err != nil {
			t.Fatal(err)
		}
		defer sender.Close()
		body, _ := event.CloudEvent(want[0])
		if err := sender.Send(ctx, want[0], body); err != nil {
			t.Fatal(err)
		}
		checkStream()
	})
}

// TestNATSDown: a NATS sink whose server is gone records failures and
// does not hold up a webhook sink.
func TestNATSDown(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		ns := startNATS(t)
		url := ns.ClientURL()
		ns.Shutdown()
		ns.WaitForShutdown()
		r := newReceiver(t)
		dead := addSink(t, s, store.Sink{Kind: store.SinkNATS, Target: url + "/syndicate.events", MaxAttempts: 1000})
		addSink(t, s, store.Sink{Target: r.srv.URL})
		dispatch(t, s)
		lifecycle(t, s, "d1", "p1")
		waitFor(t, "the webhook to take every event", func() bool { return len(r.taken()) == 4 })
		waitFor(t, "the NATS sink's failures", func() bool { k := getSink(t, s, dead.ID); return k.Attempts >= 2 && k.LastError != "" })
		if k := getSink(t, s, dead.ID); k.Cursor != 0 {
			t.Fatalf("NATS sink cursor %d without a server", k.Cursor)
		}
	})
}

// TestNATSTwoPrefixes: a second NATS sink with another subject prefix
// gets a stream of its own (a shared stream would drop its messages as
// duplicates: the Nats-Msg-Id is the event id in both).
func TestNATSTwoPrefixes(t *testing.T) {
	ctx := context.Background()
	s := storetest.Open(t, storetest.SQLite(t))
	ns := startNATS(t)
	a := addSink(t, s, store.Sink{Kind: store.SinkNATS, Target: ns.ClientURL() + "/syndicate.events"})
	b := addSink(t, s, store.Sink{Kind: store.SinkNATS, Target: ns.ClientURL() + "/audit.v1", Types: []string{"syndicate.delivery.delivered"}})
	dispatch(t, s)
	lifecycle(t, s, "d1", "p1")
	waitFor(t, "both cursors at the head", func() bool {
		return getSink(t, s, a.ID).Cursor == 4 && getSink(t, s, b.ID).Cursor == 4
	})
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	// Which sink made SYNDICATE_EVENTS depends on which sent first.
	all := map[string]uint64{}
	var names []string
	streams := js.ListStreams(ctx, jetstream.WithStreamListSubject(">"))
	for info := range streams.Info() {
		names = append(names, info.Config.Name)
		stream, err := js.Stream(ctx, info.Config.Name)
		if err != nil {
			t.Fatal(err)
		}
		detail, err := stream.Info(ctx, jetstream.WithSubjectFilter(">"))
		if err != nil {
			t.Fatal(err)
		}
		maps.Copy(all, detail.State.Subjects)
	}
	if err := streams.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	if len(names) != 2 || names[0] != event.StreamName || !strings.HasPrefix(names[1], event.StreamName+"_") {
		t.Fatalf("streams %v, want %s and one of its kind for the second prefix", names, event.StreamName)
	}
	want := map[string]uint64{"audit.v1.syndicate.delivery.delivered": 1}
	for _, typ := range lifecycleTypes {
		want["syndicate.events."+typ] = 1
	}
	if !maps.Equal(all, want) {
		t.Fatalf("messages by subject %v, want %v", all, want)
	}
}

// TestNATSRealServer publishes to the NATS JetStream server of the
// project's machines (SYNDICATE_TEST_NATS, or nats://127.0.0.1:4222 in the
// full suite), into a stream of its own that it removes afterwards.
func TestNATSRealServer(t *testing.T) {
	url := os.Getenv("SYNDICATE_TEST_NATS")
	if url == "" && os.Getenv("SYNDICATE_FULL") == "1" {
		url = "nats://127.0.0.1:4222"
	}
	if url == "" {
		t.Skip("no NATS server: set SYNDICATE_TEST_NATS=nats://host:port (the full suite uses 127.0.0.1:4222)")
	}
	ctx := context.Background()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("NATS at %s: %v", url, err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	prefix := "syntest" + strconv.FormatInt(time.Now().UnixNano(), 36)
	name := strings.ToUpper(prefix)
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{prefix + ".>"}})
	if err != nil {
		t.Fatal(err)
	}
	defer js.DeleteStream(context.Background(), name) // before nc closes

	s := storetest.Open(t, storetest.SQLite(t))
	k := addSink(t, s, store.Sink{Kind: store.SinkNATS, Target: url + "/" + prefix + ".events"})
	dispatch(t, s)
	lifecycle(t, s, "d1", "p1")
	waitFor(t, "the cursor at the head", func() bool { return getSink(t, s, k.ID).Cursor == 4 })
	for i, e := range outbox(t, s) {
		m, err := stream.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if m.Header.Get(jetstream.MsgIDHeader) != e.ID || m.Subject != prefix+".events."+e.Type {
			t.Errorf("message %d: %s %s, want %s %s", i+1, m.Subject, m.Header.Get(jetstream.MsgIDHeader), e.Type, e.ID)
		}
	}
}
