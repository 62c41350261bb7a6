package event_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/event"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

const secretEnv = "SYNDICATE_TEST_WEBHOOK_SECRET"
const secretValue = "whsec-test-0123456789"

func forEachDialect(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) { fn(t, storetest.Open(t, cfg)) })
	}
}

// lifecycle writes a delivery through the store as the workflow does:
// queued, packaging, transferring, delivered, one event each.
func lifecycle(t *testing.T, s *store.Store, id, partner string) {
	t.Helper()
	insert(t, s, id, partner)
	move(t, s, id, domain.StatusPackaging, domain.StatusTransferring, domain.StatusDelivered)
}

func insert(t *testing.T, s *store.Store, id, partner string) {
	t.Helper()
	ctx := context.Background()
	// The partner exists, as it would for a real delivery.
	p := domain.Partner{ID: partner, Name: partner, Format: "json", Destination: domain.Destination{URL: "file:///tmp/" + partner}}
	if _, err := s.PutPartner(ctx, p); err != nil {
		t.Fatal(err)
	}
	now := s.Now()
	d := domain.Delivery{ID: id, AssetID: "ep-1", AssetVersion: 1, PartnerID: partner, Action: domain.ActionCreate,
		Status: domain.StatusQueued, CreatedAt: now, UpdatedAt: now}
	if err := s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.InsertDelivery(ctx, tx, d) }); err != nil {
		t.Fatal(err)
	}
}

func move(t *testing.T, s *store.Store, id string, to ...domain.Status) {
	t.Helper()
	for _, st := range to {
		_, err := s.UpdateDelivery(context.Background(), id, func(d *domain.Delivery) error {
			if st == domain.StatusTransferring {
				d.Attempts++
			}
			return d.Transition(st, s.Now())
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// dispatch runs a Dispatcher on s with short intervals until the test ends.
func dispatch(t *testing.T, s *store.Store) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &event.Dispatcher{Store: s, Log: testLog(t), Interval: 10 * time.Millisecond,
		BackoffBase: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond}
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func addSink(t *testing.T, s *store.Store, k store.Sink) store.Sink {
	t.Helper()
	if k.Kind == "" {
		k.Kind, k.SecretRef = store.SinkWebhook, "env:"+secretEnv
	}
	k, err := s.AddSink(context.Background(), k)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// waitFor polls cond until it holds; the deadline is generous because the
// machine may be busy, and nothing here asserts on timing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// ce is the part of a CloudEvent the tests read.
type ce struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            domain.Delivery `json:"data"`
	PartnerID       string          `json:"partnerid"`
	Sequence        string          `json:"sequence"`
}

// request is one POST a receiver got.
type request struct {
	Event     ce
	Body      []byte
	Timestamp string
	Signature string
	Status    int
}

// receiver is a real HTTP webhook receiver. It checks every request's
// signature (a bad one is a test failure) and answers status(event).
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	all    []request
	status func(e ce) int
}

func newReceiver(t *testing.T) *receiver {
	t.Setenv(secretEnv, secretValue)
	r := &receiver{t: t, status: func(ce) int { return 200 }}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	ts, sig := req.Header.Get(event.HeaderTimestamp), req.Header.Get(event.HeaderSignature)
	if err := event.VerifySignature([]byte(secretValue), ts, string(body), sig, time.Now(), 5*time.Minute); err != nil {
		r.t.Errorf("receiver: %v", err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != event.ContentType {
		r.t.Errorf("receiver: Content-Type %q", ct)
	}
	var e ce
	if err := json.Unmarshal(body, &e); err != nil {
		r.t.Errorf("receiver: body is not a CloudEvent: %v\n%s", err, body)
	}
	r.mu.Lock()
	status := r.status(e)
	r.all = append(r.all, request{Event: e, Body: body, Timestamp: ts, Signature: sig, Status: status})
	r.mu.Unlock()
	w.WriteHeader(status)
}

func (r *receiver) setStatus(fn func(e ce) int) {
	r.mu.Lock()
	r.status = fn
	r.mu.Unlock()
}

// taken returns the events the receiver answered 2xx, in arrival order.
func (r *receiver) taken() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []request
	for _, q := range r.all {
		if q.Status/100 == 2 {
			out = append(out, q)
		}
	}
	return out
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.all...)
}

// distinct drops repeated deliveries of the same event id (what a
// consumer does), keeping the first.
func distinct(rs []request) []request {
	seen := map[string]bool{}
	var out []request
	for _, q := range rs {
		if !seen[q.Event.ID] {
			seen[q.Event.ID] = true
			out = append(out, q)
		}
	}
	return out
}

// outbox returns every published event, in publication order.
func outbox(t *testing.T, s *store.Store) []store.Event {
	t.Helper()
	evs, err := s.EventsAfter(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func getSink(t *testing.T, s *store.Store, id string) store.Sink {
	t.Helper()
	k, err := s.GetSink(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
