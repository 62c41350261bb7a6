package event

import (
	"encoding/json"
	"fmt"
	"strconv"

	ce "github.com/cloudevents/sdk-go/v2/event"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
)

// Source is the CloudEvents source attribute of every published event.
const Source = "syndicate"

// ContentType is the media type of a structured-mode CloudEvents JSON body.
const ContentType = "application/cloudevents+json"

// TestType is the type of the event POST /v1/webhooks/{id}/test sends; it
// is never written to the outbox.
const TestType = "syndicate.webhook.test"

// The extension attributes Syndicate adds. Sequence is the publication
// cursor (a decimal string, as the CloudEvents sequence extension asks):
// a pull consumer resumes from it with GET /v1/events?after=.
const (
	ExtPartnerID   = "partnerid"
	ExtTraceParent = "traceparent"
	ExtSequence    = "sequence"
)

// Types lists every event type the outbox writes: one per delivery status,
// one per partner acknowledgement, and the partner rollout outcomes
// (internal/store/rollout.go). A writer of a new type adds it here, so
// that sinks can filter on it.
func Types() []string {
	var out []string
	for _, s := range domain.Statuses {
		out = append(out, store.EventType(string(s)))
	}
	for _, a := range []domain.Ack{domain.AckReceived, domain.AckProcessed, domain.AckRejected, domain.AckUnacknowledged} {
		out = append(out, store.EventType(string(a)))
	}
	return append(out, "syndicate.partner.promoted", "syndicate.partner.rolled_back")
}

// CloudEvent encodes an outbox event as CloudEvents 1.0 structured-mode
// JSON: id = the event id (stable across retries, the key to drop
// duplicates by), subject = what it is about (the delivery id, or the
// partner id for partner events), data = that delivery (or record) as JSON.
func CloudEvent(e store.Event) ([]byte, error) {
	c := ce.New()
	c.SetID(e.ID)
	c.SetSource(Source)
	c.SetType(e.Type)
	c.SetSubject(e.Subject)
	c.SetTime(e.Time)
	// A json.RawMessage (not a []byte, which would be base64) is written
	// into "data" as is.
	if err := c.SetData("application/json", json.RawMessage(e.Data)); err != nil {
		return nil, fmt.Errorf("event %s: data: %w", e.ID, err)
	}
	if e.PartnerID != "" {
		c.SetExtension(ExtPartnerID, e.PartnerID)
	}
	if e.TraceParent != "" {
		c.SetExtension(ExtTraceParent, e.TraceParent)
	}
	if e.PubSeq > 0 {
		c.SetExtension(ExtSequence, strconv.FormatInt(e.PubSeq, 10))
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("event %s: %w", e.ID, err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("event %s: %w", e.ID, err)
	}
	return b, nil
}
