package natsq_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/syndicate-media/syndicate/internal/consumer"
	"github.com/syndicate-media/syndicate/internal/consumer/consumertest"
	"github.com/syndicate-media/syndicate/internal/consumer/natsq"
	"github.com/syndicate-media/syndicate/internal/secret"
)

// childURL carries the consumer's ParseURL form to a child process.
const childURL = "SYNDICATE_NATSQ_TEST_URL"

func TestMain(m *testing.M) {
	consumertest.Child(func(ctx context.Context, sink consumer.Sink) (*consumer.Runner, error) {
		cfg, err := natsq.ParseURL(os.Getenv(childURL))
		if err != nil {
			return nil, err
		}
		return natsq.Open(ctx, cfg, sink, slog.New(slog.NewTextHandler(os.Stderr, nil)), nil)
	})
	os.Exit(m.Run())
}

// startNATS runs an in-process NATS server with JetStream on a free port.
func startNATS(t *testing.T, opts *natsserver.Options) *natsserver.Server {
	t.Helper()
	if opts == nil {
		opts = &natsserver.Options{}
	}
	opts.Host, opts.Port, opts.JetStream, opts.StoreDir, opts.NoLog, opts.NoSigs = "127.0.0.1", -1, true, t.TempDir(), true, true
	ns, err := natsserver.NewServer(opts)
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

// realNATS is the project machines' JetStream (SYNDICATE_TEST_NATS, or
// 127.0.0.1:4222 in the full suite).
func realNATS(t *testing.T) string {
	u := os.Getenv("SYNDICATE_TEST_NATS")
	if u == "" && os.Getenv("SYNDICATE_FULL") == "1" {
		u = "nats://127.0.0.1:4222"
	}
	if u == "" {
		t.Skip("no NATS server: set SYNDICATE_TEST_NATS=nats://host:port (the full suite uses 127.0.0.1:4222)")
	}
	return u
}

type queue struct {
	url, stream, subject, dead, durable, idPrefix string
	js                                            jetstream.JetStream
}

func newQueue(t *testing.T, serverURL string) *queue {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	q := &queue{url: serverURL, stream: "SYNTEST_" + strings.ToUpper(id), subject: "syntest." + id + ".notify",
		dead: "syntest." + id + ".dead", durable: "syndicate"}
	nc, err := nats.Connect(serverURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if q.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := q.js.CreateStream(ctx, jetstream.StreamConfig{Name: q.stream, Subjects: []string{q.subject}})
	if err != nil {
		t.Fatal(err)
	}
	q.idPrefix = natsq.StreamIDPrefix(q.stream, st.CachedInfo().Created)
	t.Cleanup(func() {
		// On a shared server the streams must not outlive the test.
		for _, s := range []string{q.stream, q.stream + "_DEAD_LETTER"} {
			if err := q.js.DeleteStream(context.Background(), s); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Errorf("delete stream %s: %v", s, err)
			}
		}
	})
	return q
}

func (q *queue) configURL() string {
	v := url.Values{"stream": {q.stream}, "subject": {q.subject}, "durable": {q.durable}, "dead_letter_subject": {q.dead},
		"ack_wait": {q.Lease().String()}, "retry_base": {"50ms"}}
	return q.url + "?" + v.Encode()
}

func (q *queue) Publish(t *testing.T, body []byte) string {
	t.Helper()
	ack, err := q.js.Publish(context.Background(), q.subject, body)
	if err != nil {
		t.Fatal(err)
	}
	return q.idPrefix + strconv.FormatUint(ack.Sequence, 10)
}

func (q *queue) Runner(t *testing.T, sink consumer.Sink, o consumertest.Options) *consumer.Runner {
	t.Helper()
	cfg, err := natsq.ParseURL(q.configURL())
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxAttempts > 0 {
		cfg.MaxDeliver = o.MaxAttempts
	}
	if o.Concurrency > 0 {
		cfg.Batch = o.Concurrency
	}
	cfg.StopGrace = o.StopGrace
	r, err := natsq.Open(context.Background(), cfg, sink, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (q *queue) DeadLetters(t *testing.T) []consumertest.DeadLetter {
	t.Helper()
	ctx := context.Background()
	s, err := q.js.Stream(ctx, q.stream+"_DEAD_LETTER")
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []consumertest.DeadLetter
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(m.Header.Get(natsq.HeaderDeliveries))
		if m.Header.Get(natsq.HeaderSubject) != q.subject {
			t.Errorf("dead letter %d: original subject %q, want %q", seq, m.Header.Get(natsq.HeaderSubject), q.subject)
		}
		out = append(out, consumertest.DeadLetter{Body: m.Data, Reason: m.Header.Get(natsq.HeaderReason), Deliveries: n})
	}
	return out
}

func (q *queue) Pending(t *testing.T) int {
	t.Helper()
	ctx := context.Background()
	c, err := q.js.Consumer(ctx, q.stream, q.durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		s, err := q.js.Stream(ctx, q.stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return int(info.State.Msgs)
	}
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return int(info.NumPending) + info.NumAckPending
}

func (q *queue) Lease() time.Duration { return time.Second }

func (q *queue) ChildEnv(*testing.T) []string { return []string{childURL + "=" + q.configURL()} }

// TestSuite runs the consumer suite against an in-process JetStream.
func TestSuite(t *testing.T) {
	ns := startNATS(t, nil)
	consumertest.Run(t, consumertest.Features{GivesUp: true}, func(t *testing.T) consumertest.Queue {
		return newQueue(t, ns.ClientURL())
	})
}

// TestSuiteRealNATS runs it against the real nats-server of the project's
// machines, on streams of unique names that it deletes afterwards.
func TestSuiteRealNATS(t *testing.T) {
	u := realNATS(t)
	consumertest.Run(t, consumertest.Features{GivesUp: true}, func(t *testing.T) consumertest.Queue {
		return newQueue(t, u)
	})
}

// TestTokenAuth: the token comes from a secret reference; a wrong one, or
// a reference that resolves to nothing, fails Open with a clear error that
// does not contain the secret.
func TestTokenAuth(t *testing.T) {
	ns := startNATS(t, &natsserver.Options{Authorization: "s3cret-token-value"})
	u, _ := url.Parse(ns.ClientURL())
	base := "nats://" + u.Host + "?stream=AUTHS&subject=auth.notify&durable=d"
	t.Setenv("SYN_NATSQ_TOKEN", "s3cret-token-value")
	t.Setenv("SYN_NATSQ_WRONG", "wrong-token-value")
	sink := consumer.SinkFunc(func(context.Context, []byte) error { return nil })
	open := func(ref string) error {
		cfg, err := natsq.ParseURL(base + "&credentials=" + url.QueryEscape(ref))
		if err != nil {
			return err
		}
		r, err := natsq.Open(context.Background(), cfg, sink, nil, nil)
		if err == nil {
			_ = r.Source.Close()
		}
		return err
	}
	if err := open("env:SYN_NATSQ_TOKEN"); err != nil {
		t.Fatalf("right token: %v", err)
	}
	err := open("env:SYN_NATSQ_WRONG")
	if err == nil || !strings.Contains(err.Error(), "uthorization") || strings.Contains(err.Error(), "wrong-token-value") {
		t.Errorf("wrong token: %v, want an authorization error without the token", err)
	}
	err = open("env:SYN_NATSQ_UNSET_XYZ")
	if !errors.Is(err, secret.ErrNotFound) {
		t.Errorf("unset reference: %v, want secret.ErrNotFound", err)
	}
}

// TestOpenUnreachable: a server that is not there fails Open, naming it.
func TestOpenUnreachable(t *testing.T) {
	ns := startNATS(t, nil)
	addr := ns.ClientURL()
	ns.Shutdown()
	ns.WaitForShutdown()
	cfg, err := natsq.ParseURL(addr + "?stream=S&subject=s.in&durable=d")
	if err != nil {
		t.Fatal(err)
	}
	_, err = natsq.Open(context.Background(), cfg, nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "connect "+addr) {
		t.Errorf("Open on a stopped server: %v", err)
	}
}

// TestParseURL: every bad setting is refused with what was expected.
func TestParseURL(t *testing.T) {
	good := "nats://127.0.0.1:4222?stream=NOTIFY&subject=notify.in&durable=syndicate&credentials=env:NATS_TOKEN&batch=20&max_deliver=7&ack_wait=30s&retry_base=2s"
	c, err := natsq.ParseURL(good)
	if err != nil {
		t.Fatal(err)
	}
	want := natsq.Config{URL: "nats://127.0.0.1:4222", Stream: "NOTIFY", Subject: "notify.in", Durable: "syndicate",
		DeadLetterSubject: "notify.in.dead", Batch: 20, MaxDeliver: 7, AckWait: 30 * time.Second, Credentials: "env:NATS_TOKEN",
		RetryBase: 2 * time.Second}
	if c != want {
		t.Errorf("ParseURL = %+v\nwant %+v", c, want)
	}
	c, err = natsq.ParseURL("nats://h:4222?stream=S&subject=notify.>&durable=d")
	if err != nil || c.DeadLetterSubject != "S.dead" || c.Batch != 10 || c.MaxDeliver != 5 || c.AckWait != time.Minute {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	for raw, wantErr := range map[string]string{
		"":                                      "url is required",
		"http://h?stream=S&subject=s&durable=d": "want nats://host:port",
		"nats://u:p@h?stream=S&subject=s&durable=d":                          "must not contain credentials",
		"nats://h?subject=s&durable=d":                                       "stream",
		"nats://h?stream=S&subject=s":                                        "durable",
		"nats://h?stream=S&durable=d":                                        "subject: required",
		"nats://h?stream=S&subject=a..b&durable=d":                           "dot-separated",
		"nats://h?stream=S&subject=a.>.b&durable=d":                          "last token",
		"nats://h?stream=S&subject=a.>&durable=d&dead_letter_subject=a.dead": "matches subject",
		"nats://h?stream=S&subject=a.b&durable=d&dead_letter_subject=x.*":    "wildcards are not allowed",
		"nats://h?stream=S&subject=s&durable=d&batch=x":                      "want a number",
		"nats://h?stream=S&subject=s&durable=d&batch=1000":                   "batch 1000",
		"nats://h?stream=S&subject=s&durable=d&ack_wait=10ms":                "at least 1s",
		"nats://h?stream=S&subject=s&durable=d&ack_wait=soon":                "want a duration",
		"nats://h?stream=S&subject=s&durable=d&credentials=hunter2":          "secret reference",
		"nats://h?stream=S&subject=s&durable=d&colour=blue":                  "unknown parameter",
	} {
		_, err := natsq.ParseURL(raw)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("ParseURL(%q) = %v, want an error containing %q", raw, err, wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseURL(%q): the error repeats the literal secret: %v", raw, err)
		}
	}
}

// TestRecreatedStreamNewKeys: the first message of a stream deleted and
// made again does not get the idempotency key of the old stream's first
// message (intake would answer it from the old commit and do nothing).
func TestRecreatedStreamNewKeys(t *testing.T) {
	ns := startNATS(t, nil)
	q := newQueue(t, ns.ClientURL())
	ctx := context.Background()
	var ids []string
	for i := range 2 {
		if i > 0 {
			if err := q.js.DeleteStream(ctx, q.stream); err != nil {
				t.Fatal(err)
			}
			st, err := q.js.CreateStream(ctx, jetstream.StreamConfig{Name: q.stream, Subjects: []string{q.subject}})
			if err != nil {
				t.Fatal(err)
			}
			q.idPrefix = natsq.StreamIDPrefix(q.stream, st.CachedInfo().Created)
		}
		want := q.Publish(t, consumertest.Notification("a", ""))
		got := make(chan string, 1)
		r := q.Runner(t, consumer.SinkFunc(func(ctx context.Context, _ []byte) error {
			got <- consumer.MessageID(ctx)
			return nil
		}), consumertest.Options{})
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.Run(runCtx) }()
		id := <-got
		stop()
		<-done
		if id != want {
			t.Errorf("message id %q, want %q", id, want)
		}
		ids = append(ids, id)
	}
	if ids[0] == ids[1] || !strings.HasSuffix(ids[0], ":1") || !strings.HasSuffix(ids[1], ":1") {
		t.Errorf("first message ids of the old and the new stream: %q, %q; want different, both sequence 1", ids[0], ids[1])
	}
}

// TestPublisherMsgIDIsKey: a publisher's Nats-Msg-Id names the message.
func TestPublisherMsgIDIsKey(t *testing.T) {
	ns := startNATS(t, nil)
	q := newQueue(t, ns.ClientURL())
	ctx := context.Background()
	if _, err := q.js.Publish(ctx, q.subject, consumertest.Notification("a", ""), jetstream.WithMsgID("ext-7")); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	r := q.Runner(t, consumer.SinkFunc(func(ctx context.Context, _ []byte) error {
		got <- consumer.MessageID(ctx)
		return nil
	}), consumertest.Options{})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	defer func() { stop(); <-done }()
	if id := <-got; id != "nats:"+q.stream+":ext-7" {
		t.Errorf("message id %q, want nats:%s:ext-7", id, q.stream)
	}
}
