// Package consumer takes notifications from message queues (NATS
// JetStream in natsq, AWS SQS in sqsq) and hands each to a Sink, losing
// none: a message leaves its queue only after the Sink committed it, input
// that can never be accepted goes to a dead letter with the reason, and
// anything else is delivered again later.
//
// The queue-specific packages implement Source and Message; Runner is the
// loop they share: bounded concurrency, keeping slow messages leased,
// retries with backoff, dead letters, metrics, log lines and a graceful
// stop that never acknowledges a message it did not commit.
package consumer

import (
	"context"
	"errors"
	"fmt"
)

// Sink receives one notification body (the JSON of POST /v1/notifications).
//
// Submit returns nil only once the notification is durably committed. It
// returns an error wrapping ErrPoison (see Poison) for input that can never
// be accepted — malformed JSON, invalid fields — and any other error for
// trouble that may pass (database busy, backlog full).
//
// ctx carries MessageID: the queue's stable id for the message, the same on
// every redelivery. A Sink uses it as the idempotency key when the body has
// none, so a message delivered twice (a crash between commit and ack) is
// committed once.
type Sink interface {
	Submit(ctx context.Context, body []byte) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, body []byte) error

// Submit calls f.
func (f SinkFunc) Submit(ctx context.Context, body []byte) error { return f(ctx, body) }

// ErrPoison marks a message that can never be accepted: retrying it is
// pointless, it goes to the dead letter at once.
var ErrPoison = errors.New("poison message")

// PoisonError is a permanent refusal with its reason.
type PoisonError struct{ Err error }

func (e *PoisonError) Error() string { return e.Err.Error() }

// Unwrap returns the reason.
func (e *PoisonError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrPoison) true.
func (e *PoisonError) Is(target error) bool { return target == ErrPoison }

// Poison marks err as permanent (see ErrPoison).
func Poison(err error) error {
	if err == nil {
		return nil
	}
	return &PoisonError{Err: err}
}

// Poisonf is Poison(fmt.Errorf(format, args...)).
func Poisonf(format string, args ...any) error { return Poison(fmt.Errorf(format, args...)) }

type messageIDKey struct{}

// WithMessageID returns ctx carrying the queue message's stable id.
func WithMessageID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, messageIDKey{}, id)
}

// MessageID is the id WithMessageID stored, or "".
func MessageID(ctx context.Context) string {
	id, _ := ctx.Value(messageIDKey{}).(string)
	return id
}
