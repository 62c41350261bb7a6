package domain

import (
	"fmt"
	"slices"
	"time"
)

// Ack is what the partner has said about a delivered package. It is kept
// apart from Status: Status is Syndicate's work, Ack the partner's answer.
type Ack string

// The acknowledgement states. AckNone means no feedback yet.
const (
	AckNone           Ack = ""
	AckReceived       Ack = "received"
	AckProcessed      Ack = "processed"
	AckRejected       Ack = "rejected"
	AckUnacknowledged Ack = "unacknowledged" // the partner's ack timeout passed in silence
)

// ackTransitions: feedback moves forward; late feedback after a timeout
// still counts; processed and rejected are final.
var ackTransitions = map[Ack][]Ack{
	AckNone:           {AckReceived, AckProcessed, AckRejected, AckUnacknowledged},
	AckUnacknowledged: {AckReceived, AckProcessed, AckRejected},
	AckReceived:       {AckProcessed, AckRejected},
	AckProcessed:      {},
	AckRejected:       {},
}

// FeedbackKinds are the acks a partner may report.
var FeedbackKinds = []Ack{AckReceived, AckProcessed, AckRejected}

// AckError is returned for feedback the state machine refuses.
type AckError struct {
	From, To Ack
	Status   Status
}

func (e *AckError) Error() string {
	if e.Status != StatusDelivered {
		return fmt.Sprintf("delivery is %s: feedback is accepted only once it is delivered", e.Status)
	}
	from := e.From
	if from == AckNone {
		from = "none"
	}
	return fmt.Sprintf("delivery is already %s: cannot become %s", from, e.To)
}

// SetAck records the partner's answer. Only a delivered package can be
// acknowledged; moving backwards (processed → received) is refused.
func (d *Delivery) SetAck(to Ack, reason string, now time.Time) error {
	if d.Status != StatusDelivered || !slices.Contains(ackTransitions[d.Ack], to) {
		return &AckError{From: d.Ack, To: to, Status: d.Status}
	}
	d.Ack, d.AckReason, d.AckAt, d.UpdatedAt = to, reason, &now, now
	return nil
}
