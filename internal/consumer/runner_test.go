package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/syndicate-media/syndicate/internal/consumer"
)

// memQueue is a queue in memory whose operations can be made to fail, for
// the Runner's own failure paths (the real queues run consumertest).
type memQueue struct {
	mu         sync.Mutex
	ready      []*memMsg
	fetchErrs  int // the next fetches that fail
	errWith    int // the next fetches that return messages and an error
	failAck    bool
	failDead   bool
	acked      []string
	dead       map[string]string
	retried    map[string]int
	fetchCalls int
}

type memMsg struct {
	q        *memQueue
	id, body string
	attempt  int
}

func (q *memQueue) add(id, body string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ready = append(q.ready, &memMsg{q: q, id: id, body: body})
}

func (q *memQueue) Fetch(ctx context.Context, n int) ([]consumer.Message, error) {
	q.mu.Lock()
	q.fetchCalls++
	if q.fetchErrs > 0 {
		q.fetchErrs--
		q.mu.Unlock()
		return nil, errors.New("connection refused")
	}
	var out []consumer.Message
	for len(q.ready) > 0 && len(out) < n {
		m := q.ready[0]
		q.ready = q.ready[1:]
		m.attempt++
		out = append(out, m)
	}
	if len(out) > 0 && q.errWith > 0 {
		q.errWith--
		q.mu.Unlock()
		return out, errors.New("batch cut short")
	}
	q.mu.Unlock()
	if len(out) == 0 {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return out, nil
}

func (q *memQueue) Close() error { return nil }

func (m *memMsg) Body() []byte { return []byte(m.body) }
func (m *memMsg) ID() string   { return m.id }
func (m *memMsg) Attempt() int { return m.attempt }
func (m *memMsg) Ack(context.Context) error {
	m.q.mu.Lock()
	defer m.q.mu.Unlock()
	if m.q.failAck {
		return errors.New("ack lost")
	}
	m.q.acked = append(m.q.acked, m.id)
	return nil
}

func (m *memMsg) Retry(_ context.Context, _ time.Duration) error {
	m.q.mu.Lock()
	defer m.q.mu.Unlock()
	m.q.retried[m.id]++
	m.q.ready = append(m.q.ready, m)
	return nil
}

func (m *memMsg) DeadLetter(_ context.Context, reason string) error {
	m.q.mu.Lock()
	defer m.q.mu.Unlock()
	if m.q.failDead {
		return errors.New("dead-letter stream unavailable")
	}
	m.q.dead[m.id] = reason
	return nil
}

func (m *memMsg) Extend(context.Context) error { return nil }

func newMem() *memQueue { return &memQueue{dead: map[string]string{}, retried: map[string]int{}} }

func (q *memQueue) snapshot() (acked []string, dead map[string]string, retried map[string]int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	d, r := map[string]string{}, map[string]int{}
	for k, v := range q.dead {
		d[k] = v
	}
	for k, v := range q.retried {
		r[k] = v
	}
	return append([]string(nil), q.acked...), d, r
}

func run(t *testing.T, r *consumer.Runner) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestFetchErrorsRetried: a queue that refuses fetches is retried with
// backoff (counted), and messages flow once it answers.
func TestFetchErrorsRetried(t *testing.T) {
	q := newMem()
	q.fetchErrs = 2
	q.add("m1", "b")
	m := consumer.NewMetrics()
	r := &consumer.Runner{Name: "mem", Source: q, Sink: consumer.SinkFunc(func(context.Context, []byte) error { return nil }),
		RetryBase: time.Millisecond, Metrics: m}
	stop := run(t, r)
	waitFor(t, "the ack", func() bool { a, _, _ := q.snapshot(); return len(a) == 1 })
	stop()
	if got := testutil.ToFloat64(m.Counter("mem", "committed")); got != 1 {
		t.Errorf("committed = %v", got)
	}
	if got := testutil.CollectAndCount(m, "syndicate_consumer_fetch_errors_total"); got != 1 {
		t.Errorf("fetch error series: %d", got)
	}
}

// TestDeadLetterFailureKeepsMessage: when the dead letter cannot be
// stored, the message is handed back to the queue, not acked or dropped.
func TestDeadLetterFailureKeepsMessage(t *testing.T) {
	q := newMem()
	q.failDead = true
	q.add("m1", "poison")
	r := &consumer.Runner{Name: "mem", Source: q, RetryBase: time.Millisecond,
		Sink: consumer.SinkFunc(func(context.Context, []byte) error { return consumer.Poisonf("bad") })}
	stop := run(t, r)
	waitFor(t, "two hand-backs", func() bool { _, _, rt := q.snapshot(); return rt["m1"] >= 2 })
	stop()
	acked, dead, _ := q.snapshot()
	if len(acked) != 0 || len(dead) != 0 {
		t.Errorf("acked %v, dead %v: want neither while the dead letter fails", acked, dead)
	}
}

// TestAckFailureCounted: a commit whose ack is lost is counted and left to
// come back (the Sink's key absorbs it); it is not retried as a failure.
func TestAckFailureCounted(t *testing.T) {
	q := newMem()
	q.failAck = true
	q.add("m1", "b")
	m := consumer.NewMetrics()
	r := &consumer.Runner{Name: "mem", Source: q, Metrics: m, Sink: consumer.SinkFunc(func(context.Context, []byte) error { return nil })}
	stop := run(t, r)
	waitFor(t, "the lost ack", func() bool { return testutil.ToFloat64(m.Counter("mem", "ack_failed")) == 1 })
	stop()
	if _, _, rt := q.snapshot(); rt["m1"] != 0 {
		t.Errorf("a committed message was handed back as failed: %v", rt)
	}
}

// TestBoundedConcurrency: no more than Concurrency submits run at once,
// and each sees its message id.
func TestBoundedConcurrency(t *testing.T) {
	q := newMem()
	for i := range 20 {
		q.add(fmt.Sprintf("m%d", i), "b")
	}
	var mu sync.Mutex
	running, peak := 0, 0
	ids := map[string]bool{}
	sink := consumer.SinkFunc(func(ctx context.Context, _ []byte) error {
		mu.Lock()
		running++
		peak = max(peak, running)
		ids[consumer.MessageID(ctx)] = true
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		return nil
	})
	stop := run(t, &consumer.Runner{Name: "mem", Source: q, Sink: sink, Concurrency: 3})
	waitFor(t, "20 acks", func() bool { a, _, _ := q.snapshot(); return len(a) == 20 })
	stop()
	if peak > 3 || len(ids) != 20 {
		t.Errorf("peak concurrency %d (limit 3), %d distinct message ids seen", peak, len(ids))
	}
}

func TestPoison(t *testing.T) {
	err := fmt.Errorf("submit: %w", consumer.Poisonf("asset_id: %s", "required"))
	if !errors.Is(err, consumer.ErrPoison) || !strings.Contains(err.Error(), "asset_id: required") {
		t.Errorf("Poisonf: %v", err)
	}
	var pe *consumer.PoisonError
	if !errors.As(err, &pe) || pe.Unwrap().Error() != "asset_id: required" {
		t.Errorf("PoisonError: %+v", pe)
	}
	if consumer.Poison(nil) != nil || errors.Is(errors.New("busy"), consumer.ErrPoison) {
		t.Error("Poison(nil) or a plain error counts as poison")
	}
	if id := consumer.MessageID(consumer.WithMessageID(context.Background(), "q:1")); id != "q:1" {
		t.Errorf("MessageID = %q", id)
	}
}

// TestMessagesWithFetchError: messages a fetch returned together with an
// error are still submitted and settled, and free their slots (with one
// slot, a leak would stop everything after the first).
func TestMessagesWithFetchError(t *testing.T) {
	q := newMem()
	q.errWith = 2
	for i := range 4 {
		q.add(fmt.Sprintf("m%d", i), "b")
	}
	r := &consumer.Runner{Name: "mem", Source: q, Concurrency: 1, RetryBase: time.Millisecond,
		Sink: consumer.SinkFunc(func(context.Context, []byte) error { return nil })}
	stop := run(t, r)
	waitFor(t, "four acks", func() bool { a, _, _ := q.snapshot(); return len(a) == 4 })
	stop()
}
