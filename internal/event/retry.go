package event

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/syndicate-media/syndicate/internal/store"
)

// fail records a failed send: the sink waits a backoff before its next
// attempt, or, at its max attempts, the event becomes a dead letter and
// the cursor moves past it.
func (d *Dispatcher) fail(ctx context.Context, log *slog.Logger, k store.Sink, e store.Event, sendErr error, dl *store.DeadLetter) {
	if ctx.Err() != nil {
		return // shutting down: not the sink's fault
	}
	msg := sendErr.Error()
	if len(msg) > 500 {
		msg = strings.ToValidUTF8(msg[:500], "")
	}
	attempts := k.Attempts + 1
	log = log.With("event_id", e.ID, "cursor", e.PubSeq, "type", e.Type, "attempt", attempts, "max_attempts", k.MaxAttempts, "error", msg)
	if attempts >= k.MaxAttempts {
		var err error
		if dl != nil {
			err = d.Store.ReplayFailed(ctx, *dl, msg)
		} else {
			err = d.Store.DeadLetter(ctx, k.ID, e.PubSeq, msg)
		}
		if err != nil {
			d.logErr(ctx, log, "recording a dead letter", err)
			return
		}
		log.Error("event dead-lettered: the sink did not take it after its max attempts")
		return
	}
	next := d.Store.Now().Add(d.backoff(attempts))
	if err := d.Store.RecordSinkFailure(ctx, k.ID, attempts, next, msg); err != nil {
		d.logErr(ctx, log, "recording a failure", err)
		return
	}
	log.Warn("sink send failed; will retry", "next_attempt_at", next)
}

// backoff is BackoffBase·2^(attempts-1), at most BackoffMax; a random
// amount between half of it and all of it is waited, so that sinks that
// failed together do not retry together.
func (d *Dispatcher) backoff(attempts int) time.Duration {
	wait := d.BackoffBase
	for i := 1; i < attempts && wait < d.BackoffMax; i++ {
		wait *= 2
	}
	half := min(wait, d.BackoffMax) / 2
	return half + rand.N(half+1)
}
