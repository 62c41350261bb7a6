package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/consumer/natsq"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/server"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

const consumerToken = "consumer-test-token-0123456789"

func startNATS(t *testing.T) string {
	t.Helper()
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns.ClientURL()
}

// TestNATSConsumerIntoIntake: `serve` with a NATS consumer turns queue
// messages into deliveries through intake: a message without a key is
// keyed by its stream sequence, a repeated key is answered from the first
// commit, and what intake refuses (unknown asset, malformed JSON, unknown
// fields) is dead-lettered with intake's code as the reason. The metrics
// count each outcome.
func TestNATSConsumerIntoIntake(t *testing.T) {
	natsURL := startNATS(t)
	cfg := storetest.SQLite(t)
	consumerURL := natsURL + "?" + url.Values{"stream": {"NOTIFY"}, "subject": {"notify.in"}, "durable": {"syndicate"},
		"dead_letter_subject": {"notify.dead"}, "ack_wait": {"5s"}}.Encode()
	srv, err := server.Start(context.Background(), server.Config{DataDir: cfg.DataDir, Addr: "127.0.0.1:0", Token: consumerToken,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), NATSConsumer: consumerURL})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(5 * time.Second)
	c := client.New(srv.URL, consumerToken)
	ctx := context.Background()
	p, _ := json.Marshal(domain.Partner{ID: "archive", Name: "Archive", Format: "json",
		Destination: domain.Destination{URL: "file://" + t.TempDir()}})
	if _, err := c.PutPartner(ctx, "archive", p, "application/json"); err != nil {
		t.Fatal(err)
	}
	media := filepath.Join(t.TempDir(), "m.mp4")
	if err := os.WriteFile(media, []byte("media"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ep-1", "ep-2"} {
		if _, err := c.PutAsset(ctx, domain.Asset{ID: id, Type: "clip", Title: id, Media: []domain.MediaFile{{Role: "main", URI: media}}}); err != nil {
			t.Fatal(err)
		}
	}

	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	publish := func(body string) {
		t.Helper()
		if _, err := js.Publish(ctx, "notify.in", []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	publish(`{"asset_id":"ep-1","partners":["archive"]}`)
	publish(`{"asset_id":"ep-2","partners":"all","idempotency_key":"k-2"}`)
	publish(`{"asset_id":"ep-2","partners":"all","idempotency_key":"k-2"}`) // a resend: the same answer, no new work
	publish(`{"asset_id":"nope","partners":"all"}`)                         // accepted: it fails at its decision, visible on the notification
	publish(`{"asset_id":"ep-1","partners":"all","colour":"blue"}`)
	publish(`not json`)

	deadline := time.Now().Add(time.Minute)
	var letters []*jetstream.RawStreamMsg
	for {
		letters = deadLetters(t, js, "NOTIFY_DEAD_LETTER")
		ds, _ := c.Deliveries(ctx, url.Values{"partner": {"archive"}})
		cons, _ := js.Consumer(ctx, "NOTIFY", "syndicate")
		info, _ := cons.Info(ctx)
		if len(letters) == 2 && len(ds) == 2 && info != nil && info.NumPending == 0 && info.NumAckPending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead letters %d, deliveries %d, consumer %+v", len(letters), len(ds), info)
		}
		time.Sleep(50 * time.Millisecond)
	}
	reasons := map[string]string{}
	for _, m := range letters {
		reasons[string(m.Data)] = m.Header.Get(natsq.HeaderReason)
	}
	for body, want := range map[string]string{
		`{"asset_id":"ep-1","partners":"all","colour":"blue"}`: `malformed_json: json: unknown field "colour"`,
		`not json`: "malformed_json",
	} {
		if !strings.Contains(reasons[body], want) {
			t.Errorf("dead letter %s: reason %q, want %q", body, reasons[body], want)
		}
	}
	stream, err := js.Stream(ctx, "NOTIFY")
	if err != nil {
		t.Fatal(err)
	}
	key := natsq.StreamIDPrefix("NOTIFY", stream.CachedInfo().Created) + "1"
	n, err := srv.Store.GetNotification(ctx, key)
	if err != nil || !strings.Contains(string(n.Response), "ep-1") {
		t.Errorf("the keyless message's notification under %s: %+v %v", key, n, err)
	}

	code, metrics := get(t, srv.URL+"/metrics", consumerToken)
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`syndicate_consumer_messages_total{consumer="nats:NOTIFY/syndicate",outcome="committed"} 4`,
		`syndicate_consumer_messages_total{consumer="nats:NOTIFY/syndicate",outcome="dead_lettered"} 2`,
		`syndicate_consumer_messages_total{consumer="nats:NOTIFY/syndicate",outcome="received"} 6`,
		"syndicate_notifications_accepted_total 3", // ep-1, ep-2 (its resend replays), nope
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func deadLetters(t *testing.T, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// TestConsumerSettingsCheckedAtStart: a bad consumer setting or an
// unreachable queue stops the server from starting, with the reason.
func TestConsumerSettingsCheckedAtStart(t *testing.T) {
	natsURL := startNATS(t)
	for name, tc := range map[string]struct {
		cfg  server.Config
		want string
	}{
		"nats unknown parameter": {server.Config{NATSConsumer: natsURL + "?stream=S&subject=s&durable=d&colour=blue"}, `unknown parameter "colour"`},
		"nats unreachable":       {server.Config{NATSConsumer: "nats://127.0.0.1:1?stream=S&subject=s&durable=d"}, "connect nats://127.0.0.1:1"},
		"nats literal secret":    {server.Config{NATSConsumer: natsURL + "?stream=S&subject=s&durable=d&credentials=hunter2"}, "secret reference"},
		"sqs without dlq":        {server.Config{SQSConsumer: "https://sqs.eu-west-1.amazonaws.com/1/q"}, "dead-letter queue URL is required"},
		"sqs bad batch": {server.Config{SQSConsumer: "https://sqs.eu-west-1.amazonaws.com/1/q?dead_letter=https://sqs.eu-west-1.amazonaws.com/1/d&batch=50"},
			"want 1-10"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.DataDir, cfg.Addr, cfg.Token = storetest.SQLite(t).DataDir, "127.0.0.1:0", consumerToken
			cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			srv, err := server.Start(context.Background(), cfg)
			if err == nil {
				srv.Close(time.Second)
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q, want it to contain %q (and no secret)", err, tc.want)
			}
		})
	}
}
