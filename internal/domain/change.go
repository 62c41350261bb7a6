package domain

import (
	"errors"
	"time"
)

// Scope says how much of a package an update sends again.
type Scope string

// The update scopes.
const (
	// ScopeFull sends every file: media or images changed (and every create).
	ScopeFull Scope = "full"
	// ScopeMetadata sends only the metadata document and the manifest; the
	// document still describes the files delivered earlier.
	ScopeMetadata Scope = "metadata"
)

// ChangeKind groups a changed field.
type ChangeKind string

// The kinds of change.
const (
	ChangeMetadata ChangeKind = "metadata" // id, type, title, metadata.<key>
	ChangeImages   ChangeKind = "images"
	ChangeMedia    ChangeKind = "media"
	ChangeRights   ChangeKind = "rights"
)

// Change is one field that differs from what the partner last received.
// Old and New are shortened for display.
type Change struct {
	Kind  ChangeKind `json:"kind"`
	Field string     `json:"field"` // e.g. title, metadata.synopsis, images.cover, media.main, rights.end
	Old   any        `json:"old,omitempty"`
	New   any        `json:"new,omitempty"`
}

// Rights is an asset's licensing window: it may be delivered from Start
// and must be taken down at End. Either may be unset (open-ended).
type Rights struct {
	Start *time.Time `json:"start,omitempty"`
	End   *time.Time `json:"end,omitempty"`
}

// Validate reports a window that is empty or ends before it starts.
func (r *Rights) Validate() error {
	if r == nil {
		return nil
	}
	var errs []error
	if r.Start == nil && r.End == nil {
		errs = append(errs, errors.New("rights: give start, end or both (RFC 3339), or leave rights out"))
	}
	if r.Start != nil && r.Start.IsZero() || r.End != nil && r.End.IsZero() {
		errs = append(errs, errors.New("rights: a zero time is not a window edge"))
	}
	if r.Start != nil && r.End != nil && !r.End.After(*r.Start) {
		errs = append(errs, errors.New("rights.end: must be after rights.start"))
	}
	return errors.Join(errs...)
}

// NotYet reports whether the window opens after now.
func (r *Rights) NotYet(now time.Time) bool {
	return r != nil && r.Start != nil && r.Start.After(now)
}

// Ended reports whether the window closed at or before now.
func (r *Rights) Ended(now time.Time) bool {
	return r != nil && r.End != nil && !r.End.After(now)
}

// MetadataOnly reports whether the delivery sends only the metadata
// document (and manifest): an update whose changes touch no file.
func (d Delivery) MetadataOnly() bool {
	return d.Action == ActionUpdate && d.Scope == ScopeMetadata
}
