package domain

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// VerifiedFile is one file a delivery left at the partner and how the
// partner was seen to hold it.
type VerifiedFile struct {
	// Name is the file's name in the package.
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Verified is how: "size" (the partner's size equals the manifest's),
	// "seam read back" (also the first block and the bytes around the
	// resume offset of a resumed upload were read back and match), or
	// "sha256 by server" (the server's own hash equals the manifest's).
	Verified string `json:"verified"`
}

// Status is where a delivery stands.
type Status string

// The delivery states. A delivery starts queued and ends delivered, failed
// or cancelled; failed and cancelled can be queued again (a retry).
const (
	StatusQueued       Status = "queued"
	StatusPackaging    Status = "packaging"
	StatusTransferring Status = "transferring"
	StatusDelivered    Status = "delivered"
	StatusFailed       Status = "failed"
	StatusCancelled    Status = "cancelled"
)

// transitions is the whole state machine. Packaging and transferring may
// follow themselves: a step that was interrupted (crash, retry) starts again.
var transitions = map[Status][]Status{
	StatusQueued:       {StatusPackaging, StatusFailed, StatusCancelled},
	StatusPackaging:    {StatusPackaging, StatusTransferring, StatusFailed, StatusCancelled},
	StatusTransferring: {StatusTransferring, StatusDelivered, StatusFailed, StatusCancelled},
	StatusFailed:       {StatusQueued},
	StatusDelivered:    {},
	StatusCancelled:    {StatusQueued},
}

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusQueued, StatusPackaging, StatusTransferring, StatusDelivered, StatusFailed, StatusCancelled}

// Terminal reports whether no work remains for a delivery in s (until an
// operator asks for a redelivery).
func (s Status) Terminal() bool {
	return s == StatusDelivered || s == StatusFailed || s == StatusCancelled
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool { _, ok := transitions[s]; return ok }

// ErrNotQueued is returned when a change that needs a queued delivery
// (a new priority) comes after it left the queue.
var ErrNotQueued = errors.New("delivery is no longer waiting in the queue")

// TransitionError is returned for a move the state machine forbids.
type TransitionError struct{ From, To Status }

func (e *TransitionError) Error() string {
	return fmt.Sprintf("delivery: illegal transition %s -> %s", e.From, e.To)
}

// CheckTransition returns a *TransitionError unless from -> to is allowed.
func CheckTransition(from, to Status) error {
	if !slices.Contains(transitions[from], to) {
		return &TransitionError{From: from, To: to}
	}
	return nil
}

// Action is what a delivery does at the partner.
type Action string

// The delivery actions.
const (
	ActionCreate   Action = "create"
	ActionUpdate   Action = "update"
	ActionTakedown Action = "takedown"
)

// Delivery is one package of one asset version going to one partner.
type Delivery struct {
	ID           string `json:"id"`
	AssetID      string `json:"asset_id"`
	AssetVersion int    `json:"asset_version"`
	PartnerID    string `json:"partner_id"`
	// PartnerVersion is the partner profile version this delivery uses.
	PartnerVersion int    `json:"partner_version,omitempty"`
	Action         Action `json:"action"`
	// Scope is full or metadata for an update (see MetadataOnly), full
	// for a create, empty for a takedown.
	Scope Scope `json:"scope,omitempty"`
	// Changes are the fields, used by the partner's package, that differ
	// from what it last received: why this delivery exists.
	Changes  []Change `json:"changes,omitempty"`
	Status   Status   `json:"status"`
	Attempts int      `json:"attempts"`
	Files    int      `json:"files"`
	Bytes    int64    `json:"bytes"`
	// TotalBytes is the package's planned size; with Bytes and Rate
	// (bytes/s over the last second) it gives progress and ETA.
	TotalBytes int64 `json:"total_bytes,omitempty"`
	Rate       int64 `json:"rate,omitempty"`
	// Priority is the delivery's place in the queue: lower goes first.
	Priority int `json:"priority"`
	// Run counts operator retries; each run is its own workflow.
	Run        int        `json:"run,omitempty"`
	Location   string     `json:"location,omitempty"`
	LastError  string     `json:"last_error,omitempty"`
	Ack        Ack        `json:"ack,omitempty"`
	AckReason  string     `json:"ack_reason,omitempty"`
	AckAt      *time.Time `json:"ack_at,omitempty"`
	PartnerRef string     `json:"partner_ref,omitempty"`
	// RedeliveryOf names the rejected delivery this one sends again.
	RedeliveryOf string     `json:"redelivery_of,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	StartedAt    *time.Time `json:"started_at,omitempty"`
	FinishedAt   *time.Time `json:"finished_at,omitempty"`
	// VerifiedFiles lists, once delivered, each file the partner holds
	// and how that was checked (VerifiedFile.Verified).
	VerifiedFiles []VerifiedFile `json:"verified_files,omitempty"`
	// ResumeRefused names the files (below the destination) whose resume
	// the partner refused or could not be trusted with: later attempts
	// and runs send them whole.
	ResumeRefused []string `json:"resume_refused,omitempty"`
	// TraceParent is the W3C traceparent of the span that created the
	// delivery: every later step, transfer and partner answer joins its
	// trace (GET /v1/deliveries/{id}/trace).
	TraceParent string `json:"traceparent,omitempty"`
}

// Transition moves d to status to at time now, or returns a
// *TransitionError and leaves d unchanged.
func (d *Delivery) Transition(to Status, now time.Time) error {
	if err := CheckTransition(d.Status, to); err != nil {
		return err
	}
	if to == StatusPackaging && d.StartedAt == nil {
		d.StartedAt = &now
	}
	if to.Terminal() {
		d.FinishedAt = &now
	}
	d.Status = to
	d.UpdatedAt = now
	return nil
}

// Seconds is how long the delivery ran, or 0 if it has not started.
func (d Delivery) Seconds() float64 {
	if d.StartedAt == nil {
		return 0
	}
	end := d.UpdatedAt
	if d.FinishedAt != nil {
		end = *d.FinishedAt
	}
	return end.Sub(*d.StartedAt).Seconds()
}

// ETA is the estimated time left for a transfer in progress, or 0.
func (d Delivery) ETA() time.Duration {
	if d.Status != StatusTransferring || d.Rate <= 0 || d.TotalBytes <= d.Bytes {
		return 0
	}
	return time.Duration(float64(d.TotalBytes-d.Bytes) / float64(d.Rate) * float64(time.Second))
}
