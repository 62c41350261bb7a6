package domain

import (
	"hash/fnv"
	"time"
)

// RolloutPolicy says when a new profile version under gradual rollout is
// rolled back by itself.
type RolloutPolicy struct {
	// Window is how many of the new version's latest finished deliveries
	// are judged; no judgement before that many (default 20).
	Window int `json:"window,omitempty"`
	// MaxFailureRate is the share of failed or rejected deliveries in the
	// window above which the new version is rolled back (default 0.5).
	MaxFailureRate float64 `json:"max_failure_rate,omitempty"`
}

// Rollout is a partner's state: the active profile version and, during a
// gradual rollout, the candidate that serves a stable share of assets.
type Rollout struct {
	Active    int          `json:"active"`
	Candidate int          `json:"candidate,omitempty"`
	Percent   int          `json:"percent,omitempty"`
	StartedAt *time.Time   `json:"started_at,omitempty"`
	Log       []RolloutLog `json:"log,omitempty"`
}

// RolloutLog is one entry of a partner's rollout history.
type RolloutLog struct {
	At      time.Time `json:"at"`
	Action  string    `json:"action"` // applied, started, promoted, rolled_back
	Version int       `json:"version"`
	Detail  string    `json:"detail,omitempty"`
}

// VersionFor picks the profile version that serves an asset: the
// candidate for a stable Percent share of assets (by a hash of partner and
// asset id, so an asset always lands on the same side), else the active one.
func (r Rollout) VersionFor(partnerID, assetID string) int {
	if r.Candidate == 0 || r.Percent <= 0 {
		return r.Active
	}
	h := fnv.New32a()
	h.Write([]byte(partnerID + "/" + assetID))
	if int(h.Sum32()%100) < r.Percent {
		return r.Candidate
	}
	return r.Active
}

// ShouldRollBack judges a candidate from its latest finished deliveries,
// newest first: true once the window is full and the share of failures
// passes the policy's maximum.
func (p RolloutPolicy) ShouldRollBack(failed []bool) bool {
	window, maxRate := p.Window, p.MaxFailureRate
	if window <= 0 {
		window = 20
	}
	if maxRate <= 0 {
		maxRate = 0.5
	}
	if len(failed) < window {
		return false
	}
	n := 0
	for _, f := range failed[:window] {
		if f {
			n++
		}
	}
	return float64(n)/float64(window) > maxRate
}
