package workflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"
)

const (
	// RightsQueue holds the rights-window wake-ups: no concurrency limit,
	// since each only sleeps, then decides once.
	RightsQueue = "rights"
	// rightsWorkflowName is the registered name of the wake-up workflow.
	rightsWorkflowName = "rights-window"
)

// Redecider runs intake's decision again for one asset and partner when
// a rights window opens or closes. It acts only if version is still the
// catalog's current version (a newer version supersedes the wake-up),
// deciding as of at or later (so a wake-up a moment early still sees the
// edge), and returns what it did, in words.
type Redecider interface {
	Redecide(ctx context.Context, assetID, partnerID string, version int, at time.Time) (string, error)
}

// Wake is a scheduled decision: at At (a rights window's start or end),
// decide again for asset version Version and one partner.
type Wake struct {
	AssetID   string    `json:"asset_id"`
	Version   int       `json:"version"`
	PartnerID string    `json:"partner_id"`
	Edge      string    `json:"edge"` // start or end
	At        time.Time `json:"at"`
}

// WakeID is the workflow of one wake-up: scheduling the same edge of the
// same version for the same partner again starts nothing new.
func WakeID(edge, partnerID, assetID string, version int) string {
	return fmt.Sprintf("rights-%s-%s-%s-v%d", edge, partnerID, assetID, version)
}

// Schedule enqueues, inside tx, a durable wake-up that decides again for
// the asset version and partner at the given edge of its rights window.
// It is idempotent per (edge, partner, asset, version).
func (e *Engine) Schedule(ctx context.Context, tx *sql.Tx, assetID, partnerID string, version int, edge string, at time.Time) error {
	w := Wake{AssetID: assetID, Version: version, PartnerID: partnerID, Edge: edge, At: at.UTC()}
	_, err := dbos.Enqueue[string](e.client, RightsQueue, rightsWorkflowName, w,
		dbos.WithEnqueueWorkflowID(WakeID(edge, partnerID, assetID, version)),
		dbos.WithEnqueueApplicationVersion(appVersion),
		dbos.WithEnqueueTransaction(tx))
	if err != nil {
		return fmt.Errorf("workflow: schedule rights %s of %s v%d for %s: %w", edge, assetID, version, partnerID, err)
	}
	return nil
}

// rights is the wake-up workflow: a durable sleep until the window edge
// (DBOS records the wake-up time, so a restart sleeps only what is left),
// then one decision. Sleep is always called, even with nothing left to
// wait, so the recorded steps are the same on every replay.
func (e *Engine) rights(ctx dbos.Context, w Wake) (string, error) {
	if _, err := dbos.Sleep(ctx, max(time.Until(w.At), 0)); err != nil {
		return "", err
	}
	out, err := dbos.RunAsStep(ctx, func(c context.Context) (string, error) {
		return e.redecider.Redecide(c, w.AssetID, w.PartnerID, w.Version, w.At)
		// A decision fails only when the database does: keep trying for
		// about an hour and a half rather than lose a takedown.
	}, dbos.WithStepName("decide"), dbos.WithStepMaxRetries(25), dbos.WithStepBaseInterval(time.Second),
		dbos.WithStepBackoffFactor(2), dbos.WithStepMaxInterval(5*time.Minute),
		dbos.WithStepRetryPredicate(func(err error) bool { return !errors.Is(err, errNoDecider) }))
	if err != nil {
		e.log.Error("rights window decision failed", "asset", w.AssetID, "partner", w.PartnerID, "version", w.Version, "edge", w.Edge, "error", err)
		return "", err
	}
	e.log.Info("rights window", "asset", w.AssetID, "partner", w.PartnerID, "version", w.Version, "edge", w.Edge, "outcome", out)
	return out, nil
}

// LateRedecider is a Redecider bound after the engine starts: intake
// needs the engine to enqueue, and the engine needs intake to decide. A
// wake-up recovered at launch waits for Bind.
type LateRedecider struct {
	ready chan struct{}
	r     Redecider
}

// NewLateRedecider returns an unbound LateRedecider.
func NewLateRedecider() *LateRedecider { return &LateRedecider{ready: make(chan struct{})} }

// Bind sets the decider; call it once.
func (l *LateRedecider) Bind(r Redecider) {
	l.r = r
	close(l.ready)
}

// Redecide waits for Bind (or ctx), then decides.
func (l *LateRedecider) Redecide(ctx context.Context, assetID, partnerID string, version int, at time.Time) (string, error) {
	select {
	case <-l.ready:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	return l.r.Redecide(ctx, assetID, partnerID, version, at)
}

// noRedecider refuses: an engine started without one cannot act on
// rights windows (tests that do not schedule).
type noRedecider struct{}

func (noRedecider) Redecide(context.Context, string, string, int, time.Time) (string, error) {
	return "", errNoDecider
}

var errNoDecider = errors.New("workflow: this engine has no decider for rights windows")
