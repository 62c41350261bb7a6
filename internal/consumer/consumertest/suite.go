package consumertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/consumer"
)

// Queue is one fresh queue on a real server, as a consumer package's test
// sets it up.
type Queue interface {
	// Publish sends body and returns the message id the consumer will
	// pass to the Sink (consumer.MessageID).
	Publish(t *testing.T, body []byte) string
	// Runner consumes this queue into sink.
	Runner(t *testing.T, sink consumer.Sink, o Options) *consumer.Runner
	// DeadLetters reads what reached the dead-letter destination so far.
	DeadLetters(t *testing.T) []DeadLetter
	// Pending counts messages still in the queue, leased ones included.
	Pending(t *testing.T) int
	// Lease is how long a received message stays hidden unless extended.
	Lease() time.Duration
	// ChildEnv is the environment that lets RunChild, in another process,
	// open a Runner on this queue (see Child).
	ChildEnv(t *testing.T) []string
}

// Options tune a Runner for a test.
type Options struct {
	// MaxAttempts, if set, is the deliveries after which a transiently
	// failing message is dead-lettered.
	MaxAttempts int
	// Concurrency is the batch / parallel submits (default 4).
	Concurrency int
	// StopGrace is the Runner's.
	StopGrace time.Duration
}

// DeadLetter is a message found at the dead-letter destination.
type DeadLetter struct {
	Body   []byte
	Reason string
	// Deliveries is the delivery count the consumer recorded (0: the
	// queue moved it itself and records none).
	Deliveries int
}

// Features says what a consumer does itself.
type Features struct {
	// GivesUp: the consumer dead-letters a message after Options.MaxAttempts
	// transient failures (else the queue's redrive policy does; the
	// package tests that itself).
	GivesUp bool
}

// Run runs the suite; newQueue makes a fresh queue for each test.
func Run(t *testing.T, f Features, newQueue func(t *testing.T) Queue) {
	t.Run("AckOnlyAfterCommit", func(t *testing.T) { testAckAfterCommit(t, newQueue(t)) })
	t.Run("PoisonToDeadLetter", func(t *testing.T) { testPoison(t, newQueue(t)) })
	if f.GivesUp {
		t.Run("GivesUpAfterMaxAttempts", func(t *testing.T) { testGivesUp(t, newQueue(t)) })
	}
	t.Run("SlowSubmitStaysLeased", func(t *testing.T) { testSlow(t, newQueue(t)) })
	t.Run("StopReleasesUncommitted", func(t *testing.T) { testStop(t, newQueue(t)) })
	t.Run("KillMidBatchLosesNothing", func(t *testing.T) { testKill(t, newQueue(t)) })
}

// Notification is a valid body for asset id (key "": none, so the message
// id becomes the key).
func Notification(asset, key string) []byte {
	b, _ := json.Marshal(Note{AssetID: asset, Partners: json.RawMessage(`"all"`), IdempotencyKey: key})
	return b
}

func newSink(t *testing.T) *SQLiteSink {
	t.Helper()
	s, err := OpenSQLite(filepath.Join(t.TempDir(), "sink.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.DB.Close() })
	return s
}

// start runs r until the test ends (or the returned stop is called).
func start(t *testing.T, r *consumer.Runner) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once atomic.Bool
	stop = func() {
		if once.Swap(true) {
			return
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// WaitFor polls cond until it holds, failing the test after two minutes
// (a hang, not a slow machine).
func WaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func rows(t *testing.T, s *SQLiteSink) map[string]Row {
	t.Helper()
	rs, err := Rows(s.DB)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Row{}
	for _, r := range rs {
		out[r.Key] = r
	}
	return out
}

// testAckAfterCommit: a message whose submit fails transiently stays in the
// queue and is delivered again until it commits, once.
func testAckAfterCommit(t *testing.T, q Queue) {
	sink := newSink(t)
	sink.Fail = func(key string, call int) error {
		if key == "k-flaky" && call <= 2 {
			return errors.New("database is busy")
		}
		return nil
	}
	q.Publish(t, Notification("a-ok", "k-ok"))
	q.Publish(t, Notification("a-flaky", "k-flaky"))
	noKey := q.Publish(t, Notification("a-nokey", ""))
	start(t, q.Runner(t, sink, Options{}))
	WaitFor(t, "three commits and an empty queue", func() bool { return len(rows(t, sink)) == 3 && q.Pending(t) == 0 })
	got := rows(t, sink)
	for key, asset := range map[string]string{"k-ok": "a-ok", "k-flaky": "a-flaky", noKey: "a-nokey"} {
		if r, ok := got[key]; !ok || r.AssetID != asset || r.Commits != 1 {
			t.Errorf("row %s = %+v (found %v), want asset %s committed once", key, r, ok, asset)
		}
	}
	if n := sink.Calls("k-flaky"); n != 3 {
		t.Errorf("the flaky message was submitted %d times, want 3 (two transient failures, then the commit)", n)
	}
	if dl := q.DeadLetters(t); len(dl) != 0 {
		t.Errorf("dead letters: %d, want none", len(dl))
	}
}

// testPoison: bodies that can never be accepted go to the dead letter with
// the reason after one submit, and the good one beside them commits.
func testPoison(t *testing.T, q Queue) {
	sink := newSink(t)
	bad := map[string]string{
		`{not json`: "malformed notification",
		`{"asset_id":"","partners":"all","idempotency_key":"k-empty"}`:           "asset_id: required",
		`{"asset_id":"a","partners":"all","idempotency_key":"k-x","bogus":true}`: `unknown field "bogus"`,
	}
	for body := range bad {
		q.Publish(t, []byte(body))
	}
	q.Publish(t, Notification("a-good", "k-good"))
	start(t, q.Runner(t, sink, Options{}))
	WaitFor(t, "three dead letters, one commit, an empty queue", func() bool {
		return len(q.DeadLetters(t)) >= 3 && len(rows(t, sink)) == 1 && q.Pending(t) == 0
	})
	dls := q.DeadLetters(t)
	if len(dls) != 3 {
		t.Fatalf("%d dead letters, want 3", len(dls))
	}
	for _, d := range dls {
		want, ok := bad[string(d.Body)]
		if !ok {
			t.Errorf("dead letter with unexpected body %q", d.Body)
			continue
		}
		if !strings.Contains(d.Reason, "poison") || !strings.Contains(d.Reason, want) {
			t.Errorf("dead letter %q: reason %q, want it to say poison and %q", d.Body, d.Reason, want)
		}
		if d.Deliveries != 1 {
			t.Errorf("dead letter %q: delivery count %d, want 1 (poison is not retried)", d.Body, d.Deliveries)
		}
	}
	if r := rows(t, sink)["k-good"]; r.Commits != 1 {
		t.Errorf("good message: %+v, want one commit", r)
	}
	if n := sink.Calls("k-empty") + sink.Calls("k-x"); n != 0 {
		t.Errorf("poison messages reached the commit %d times", n)
	}
}

// testGivesUp: a message that keeps failing transiently is dead-lettered
// after MaxAttempts deliveries with the last error, not retried forever.
func testGivesUp(t *testing.T, q Queue) {
	sink := newSink(t)
	sink.Fail = func(key string, call int) error {
		if key == "k-down" {
			return errors.New("database is down")
		}
		return nil
	}
	q.Publish(t, Notification("a-down", "k-down"))
	start(t, q.Runner(t, sink, Options{MaxAttempts: 3}))
	WaitFor(t, "a dead letter and an empty queue", func() bool { return len(q.DeadLetters(t)) == 1 && q.Pending(t) == 0 })
	d := q.DeadLetters(t)[0]
	if !strings.Contains(d.Reason, "gave up after 3 deliveries") || !strings.Contains(d.Reason, "database is down") || d.Deliveries != 3 {
		t.Errorf("dead letter: reason %q, deliveries %d; want gave up after 3 with the last error", d.Reason, d.Deliveries)
	}
	if n := sink.Calls("k-down"); n != 3 {
		t.Errorf("submitted %d times, want 3", n)
	}
}

// testSlow: a submit that takes several leases is not delivered to
// another worker meanwhile (the consumer extends the lease).
func testSlow(t *testing.T, q Queue) {
	sink := newSink(t)
	sink.Delay = 2 * q.Lease() // twice before the commit, twice after
	q.Publish(t, Notification("a-slow", "k-slow"))
	start(t, q.Runner(t, sink, Options{Concurrency: 4}))
	WaitFor(t, "the slow commit and an empty queue", func() bool { return len(rows(t, sink)) == 1 && q.Pending(t) == 0 })
	if n := sink.Calls("k-slow"); n != 1 {
		t.Errorf("the slow message was submitted %d times, want 1: its lease ran out while it was being committed", n)
	}
}

// testStop: submits cut by a stop are released, not acked; a new consumer
// commits every message.
func testStop(t *testing.T, q Queue) {
	blocked := newSink(t)
	var started atomic.Int32
	blocked.Fail = func(string, int) error { started.Add(1); return nil }
	blocked.Delay = time.Hour // until the stop grace cancels it
	const n = 6
	for i := range n {
		q.Publish(t, Notification(fmt.Sprintf("a-%d", i), fmt.Sprintf("k-%d", i)))
	}
	stop := start(t, q.Runner(t, blocked, Options{Concurrency: 3, StopGrace: 100 * time.Millisecond}))
	WaitFor(t, "three submits in flight", func() bool { return started.Load() == 3 })
	stop()
	if got := rows(t, blocked); len(got) != 0 {
		t.Fatalf("committed %d during the blocked run", len(got))
	}
	sink := newSink(t)
	start(t, q.Runner(t, sink, Options{}))
	WaitFor(t, "every message committed by the second consumer", func() bool { return len(rows(t, sink)) == n && q.Pending(t) == 0 })
	if dl := q.DeadLetters(t); len(dl) != 0 {
		t.Errorf("dead letters: %d, want none", len(dl))
	}
}

// Child environment variables.
const (
	childEnv      = "SYNDICATE_CONSUMERTEST_CHILD"
	childDBEnv    = "SYNDICATE_CONSUMERTEST_DB"
	childDelayEnv = "SYNDICATE_CONSUMERTEST_DELAY"
)

// Child runs, in a test binary started by the kill test, a Runner on the
// queue ChildEnv described, committing to the SQLite file it names, until
// SIGTERM. It returns at once in a normal test run. Call it first in
// TestMain; open builds the Runner from the environment.
func Child(open func(ctx context.Context, sink consumer.Sink) (*consumer.Runner, error)) {
	if os.Getenv(childEnv) != "1" {
		return
	}
	sink, err := OpenSQLite(os.Getenv(childDBEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	sink.Delay, _ = time.ParseDuration(os.Getenv(childDelayEnv))
	ctx, cancel := signalContext()
	defer cancel()
	r, err := open(ctx, sink)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	if err := r.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func child(t *testing.T, q Queue, db string, delay time.Duration) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", childDBEnv+"="+db, childDelayEnv+"="+delay.String())
	cmd.Env = append(cmd.Env, q.ChildEnv(t)...)
	logf, err := os.Create(filepath.Join(t.TempDir(), "child.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("child log:\n%s", b)
		}
	})
	return cmd
}

// testKill: a consumer process SIGKILLed while a batch is being committed
// loses nothing: a second process commits every message, each once by its
// idempotency key (a message committed but not acked before the kill comes
// back and is absorbed by its key).
func testKill(t *testing.T, q Queue) {
	const n = 60
	want := map[string]string{} // key → asset
	for i := range n {
		asset := fmt.Sprintf("a-%02d", i)
		key := ""
		if i%2 == 0 {
			key = fmt.Sprintf("k-%02d", i)
		}
		id := q.Publish(t, Notification(asset, key))
		if key == "" {
			key = id
		}
		want[key] = asset
	}
	dbPath := filepath.Join(t.TempDir(), "kill.db")
	sink, err := OpenSQLite(dbPath) // the parent's view of the file
	if err != nil {
		t.Fatal(err)
	}
	defer sink.DB.Close()

	first := child(t, q, dbPath, 20*time.Millisecond)
	WaitFor(t, "the first consumer to commit a third", func() bool { return len(rows(t, sink)) >= n/3 })
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	atKill := len(rows(t, sink))
	if atKill == n {
		t.Fatalf("the first consumer committed everything before the kill; the test proves nothing")
	}

	second := child(t, q, dbPath, 0)
	WaitFor(t, "every message committed and the queue empty", func() bool { return len(rows(t, sink)) == n && q.Pending(t) == 0 })
	if err := second.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := second.Wait(); err != nil {
		t.Errorf("second consumer after SIGTERM: %v", err)
	}

	got := rows(t, sink)
	dups := 0
	for key, asset := range want {
		r, ok := got[key]
		if !ok || r.AssetID != asset {
			t.Errorf("message %s (asset %s) lost: %+v", key, asset, r)
		}
		dups += r.Commits - 1
	}
	if len(got) != n {
		t.Errorf("%d rows, want %d", len(got), n)
	}
	if dl := q.DeadLetters(t); len(dl) != 0 {
		t.Errorf("dead letters: %d, want none", len(dl))
	}
	t.Logf("killed after %d of %d commits; %d redelivered commits absorbed by the idempotency key", atKill, n, dups)
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
}
