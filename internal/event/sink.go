package event

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/syndicate-media/syndicate/internal/store"
)

// Sender publishes events to one sink.
type Sender interface {
	// Send hands one event, encoded as CloudEvents JSON in body, to the
	// sink; nil means the sink took it.
	Send(ctx context.Context, e store.Event, body []byte) error
	Close() error
}

// opener makes the Sender for a sink of one kind; validate checks a target
// without connecting.
type opener struct {
	open     func(k store.Sink) (Sender, error)
	validate func(target string) error
}

var openers = map[string]opener{
	store.SinkWebhook: {openWebhook, func(t string) error { _, err := parseWebhookURL(t); return err }},
	store.SinkNATS:    {openNATS, func(t string) error { _, _, err := parseNATSTarget(t); return err }},
}

// Open returns the Sender for a sink.
func Open(k store.Sink) (Sender, error) {
	o, ok := openers[k.Kind]
	if !ok {
		return nil, fmt.Errorf("sink %s: unknown kind %q", k.ID, k.Kind)
	}
	return o.open(k)
}

// ValidateTarget checks a sink's kind and target quickly, without
// connecting to it.
func ValidateTarget(kind, target string) error {
	o, ok := openers[kind]
	if !ok {
		return fmt.Errorf("kind: %q is not one of webhook, nats", kind)
	}
	return o.validate(target)
}

// TestResult reports a test event sent to a sink.
type TestResult struct {
	OK      bool   `json:"ok"`
	EventID string `json:"event_id"`
	// Status is the webhook receiver's HTTP status (0 for NATS, or when no
	// answer came).
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
}

// SendTest sends one event of type TestType to a sink, now, outside the
// outbox: it is not retried and moves no cursor.
func SendTest(ctx context.Context, k store.Sink, now time.Time) TestResult {
	data, _ := json.Marshal(map[string]string{"sink_id": k.ID, "message": "test event from syndicate"})
	e := store.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: TestType, Subject: k.ID, Time: now, Data: data}
	res := TestResult{EventID: e.ID}
	body, err := CloudEvent(e)
	if err == nil {
		var s Sender
		if s, err = Open(k); err == nil {
			if w, ok := s.(*webhook); ok {
				res.Status, err = w.post(ctx, body)
			} else {
				err = s.Send(ctx, e, body)
			}
			s.Close()
		}
	}
	var se *StatusError
	if errors.As(err, &se) {
		res.Status = se.Code
	}
	res.OK = err == nil
	if err != nil {
		res.Error = err.Error()
	}
	return res
}
