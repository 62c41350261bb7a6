package consumer

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"
)

// Message is one received queue message.
type Message interface {
	// Body is the notification.
	Body() []byte
	// ID is stable across redeliveries of the same message.
	ID() string
	// Attempt is how many times the queue delivered it, this time
	// included (1 the first time).
	Attempt() int
	// Ack removes it from the queue: called only after a commit.
	Ack(ctx context.Context) error
	// Retry hands it back to be delivered again after delay (0: at once,
	// e.g. when stopping).
	Retry(ctx context.Context, delay time.Duration) error
	// DeadLetter stores it with reason where an operator finds it, then
	// removes it from the queue. An error means it is still in the queue.
	DeadLetter(ctx context.Context, reason string) error
	// Extend keeps it leased while Submit still runs.
	Extend(ctx context.Context) error
}

// Source is a queue.
type Source interface {
	// Fetch waits for up to max messages; it may return none (its long
	// poll ended) and returns ctx's error once ctx is done.
	Fetch(ctx context.Context, max int) ([]Message, error)
	// Close releases the connection.
	Close() error
}

const (
	// settleTimeout bounds one ack, retry or dead letter.
	settleTimeout = 15 * time.Second
	// maxFetchBackoff caps the wait after failed fetches.
	maxFetchBackoff = 30 * time.Second
)

// Runner moves messages from Source to Sink.
type Runner struct {
	// Name labels log lines and metrics (e.g. "nats", "sqs").
	Name   string
	Source Source
	Sink   Sink
	// Concurrency is how many messages are submitted at once (default 4).
	// Runner fetches only as many messages as it has free slots, so no
	// message waits leased in a buffer.
	Concurrency int
	// Batch caps one Fetch (default Concurrency).
	Batch int
	// MaxAttempts: a message that fails transiently on its MaxAttempts-th
	// delivery goes to the dead letter (0: never; the queue decides).
	MaxAttempts int
	// RetryBase is the first retry delay, doubled per attempt up to
	// RetryMax, with ±20% jitter (defaults 1s, 5m).
	RetryBase, RetryMax time.Duration
	// ExtendEvery is how often a message still being submitted is
	// extended (0: never).
	ExtendEvery time.Duration
	// StopGrace is how long submits running when Run's ctx ends may still
	// finish (default 10s); the rest are released, never acknowledged.
	StopGrace time.Duration
	Log       *slog.Logger
	Metrics   *Metrics
}

func (r *Runner) defaults() {
	if r.Concurrency <= 0 {
		r.Concurrency = 4
	}
	if r.Batch <= 0 || r.Batch > r.Concurrency {
		r.Batch = r.Concurrency
	}
	if r.RetryBase <= 0 {
		r.RetryBase = time.Second
	}
	if r.RetryMax <= 0 {
		r.RetryMax = 5 * time.Minute
	}
	if r.StopGrace <= 0 {
		r.StopGrace = 10 * time.Second
	}
	if r.Log == nil {
		r.Log = slog.Default()
	}
}

// Run consumes until ctx ends, then lets in-flight submits finish (up to
// StopGrace), releases those that did not, closes the Source and returns.
// A failed fetch is logged, counted and retried with backoff (at most
// 30 s apart), so Run returns nil today; the error is for Sources that may
// one day fail for good.
func (r *Runner) Run(ctx context.Context) error {
	r.defaults()
	log := r.Log.With("consumer", r.Name)
	// Submits run under work, which outlives ctx by StopGrace.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			t := time.NewTimer(r.StopGrace)
			defer t.Stop()
			select {
			case <-t.C:
				cancelWork()
			case <-stopped:
			}
		case <-stopped:
		}
	}()
	defer close(stopped)

	slots := make(chan struct{}, r.Concurrency)
	var wg sync.WaitGroup
	defer r.Source.Close() // after every message is settled
	defer wg.Wait()
	backoff := 0
	for {
		// Wait for at least one free slot, then take all that are free.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			log.Info("consumer stopping; finishing in-flight messages", "grace", r.StopGrace.String())
			return nil
		}
		free := 1
		for free < r.Batch {
			select {
			case slots <- struct{}{}:
				free++
				continue
			default:
			}
			break
		}
		msgs, err := r.Source.Fetch(ctx, free)
		for range free - len(msgs) {
			<-slots
		}
		// Messages that came with an error are handled all the same: each
		// holds a slot until settled.
		for _, m := range msgs {
			wg.Add(1)
			r.Metrics.inFlight(r.Name, 1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				defer r.Metrics.inFlight(r.Name, -1)
				r.handle(ctx, work, log, m)
			}()
		}
		if err == nil {
			backoff = 0
			continue
		}
		if ctx.Err() != nil {
			log.Info("consumer stopping; finishing in-flight messages", "grace", r.StopGrace.String())
			return nil
		}
		backoff++
		d := min(r.delay(backoff), maxFetchBackoff)
		log.Warn("consumer fetch failed; retrying", "error", err.Error(), "retry_in", d.String())
		r.Metrics.fetchError(r.Name)
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
}

// handle submits one message and settles it. stop is Run's ctx: once it is
// done, a failed submit is released for another process rather than
// retried with backoff.
func (r *Runner) handle(stop, work context.Context, log *slog.Logger, m Message) {
	log = log.With("message_id", m.ID(), "attempt", m.Attempt())
	r.Metrics.received(r.Name)
	sctx, cancel := context.WithCancel(WithMessageID(work, m.ID()))
	defer cancel()
	if r.ExtendEvery > 0 {
		go r.keepLeased(sctx, log, m)
	}
	start := time.Now()
	err := r.Sink.Submit(sctx, m.Body())
	cancel() // stops keepLeased
	// Settling outlives both contexts: a stop must not leave a committed
	// message unacked, or a released one leased, because a context ended.
	settle, cancelSettle := context.WithTimeout(context.WithoutCancel(work), settleTimeout)
	defer cancelSettle()
	work = settle
	switch {
	case err == nil:
		if aerr := m.Ack(work); aerr != nil {
			// Committed but still in the queue: it comes back, and the
			// Sink's idempotency key absorbs it.
			log.Warn("consumer: committed, ack failed; the message will be delivered again", "error", aerr.Error())
			r.Metrics.outcome(r.Name, "ack_failed")
			return
		}
		log.Info("consumer: notification committed", "duration", time.Since(start).String())
		r.Metrics.outcome(r.Name, "committed")
	case errors.Is(err, ErrPoison):
		r.deadLetter(work, log, m, "poison: "+err.Error())
	case stop.Err() != nil:
		r.release(work, log, m, err)
	case r.MaxAttempts > 0 && m.Attempt() >= r.MaxAttempts:
		r.deadLetter(work, log, m, "gave up after "+strconv.Itoa(m.Attempt())+" deliveries: "+err.Error())
	default:
		d := r.delay(m.Attempt())
		if rerr := m.Retry(work, d); rerr != nil {
			log.Warn("consumer: retry request failed; the queue redelivers after the lease", "error", rerr.Error())
		}
		log.Warn("consumer: submit failed; will be delivered again", "error", err.Error(), "retry_in", d.String())
		r.Metrics.outcome(r.Name, "retried")
	}
}

func (r *Runner) deadLetter(ctx context.Context, log *slog.Logger, m Message, reason string) {
	if err := m.DeadLetter(ctx, reason); err != nil {
		// Not stored anywhere else: keep it in the queue and try again.
		d := r.delay(m.Attempt())
		_ = m.Retry(ctx, d)
		log.Error("consumer: dead letter failed; the message stays in the queue", "reason", reason, "error", err.Error())
		r.Metrics.outcome(r.Name, "retried")
		return
	}
	log.Warn("consumer: message dead-lettered", "reason", reason)
	r.Metrics.outcome(r.Name, "dead_lettered")
}

// release hands a message back at once because this process is stopping.
func (r *Runner) release(ctx context.Context, log *slog.Logger, m Message, cause error) {
	if err := m.Retry(ctx, 0); err != nil {
		log.Warn("consumer: release failed; the queue redelivers after the lease", "error", err.Error())
	}
	log.Info("consumer: stopping; message released uncommitted", "error", cause.Error())
	r.Metrics.outcome(r.Name, "released")
}

func (r *Runner) keepLeased(ctx context.Context, log *slog.Logger, m Message) {
	t := time.NewTicker(r.ExtendEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Extend(ctx); err != nil && ctx.Err() == nil {
				log.Warn("consumer: extending the lease failed", "error", err.Error())
			}
		}
	}
}

// delay is RetryBase·2^(attempt-1), at most RetryMax, ±20%.
func (r *Runner) delay(attempt int) time.Duration {
	d := r.RetryBase
	for i := 1; i < attempt && d < r.RetryMax; i++ {
		d *= 2
	}
	d = min(d, r.RetryMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
