// Package intake takes notifications ("asset X should go to partners Y")
// in two stages. Accept validates a notification and stores it durably:
// concurrent notifications are group-committed, many in one transaction,
// and each is answered only after its commit. The decider then takes
// accepted notifications from the database (the durable queue), looks the
// asset up in the catalog, decides per partner what to do (create, update,
// or nothing when no field the partner's package uses changed; takedown when
// the rights window ended; later, at the window's start), and records each
// delivery together with its workflow start and the notification's
// decisions in one transaction. Replaying a notification with the same
// idempotency key returns the first answer and starts no new work; keys
// hold across restarts (they are the table's primary key). When too many
// notifications wait for a decision, new ones are refused (back-pressure)
// instead of piling up.
package intake

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/syndicate-media/syndicate/internal/catalog"
	"github.com/syndicate-media/syndicate/internal/change"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/telemetry"
)

// Enqueuer starts a delivery's workflow inside the caller's transaction.
type Enqueuer interface {
	Enqueue(ctx context.Context, tx *sql.Tx, d domain.Delivery) error
}

// Config tunes the two stages; zero values take the defaults.
type Config struct {
	// MaxBacklog is how many accepted, undecided notifications may wait
	// before new ones are refused with backlog_full (default 100,000;
	// negative: no bound).
	MaxBacklog int
	// MaxBatch is the most notifications one group commit writes (1000).
	MaxBatch int
	// MaxWait is how long a batch waits for more notifications once the
	// committer is free (default 0: a batch closes as soon as the
	// committer can take it; while one batch commits, the next collects).
	MaxWait time.Duration
	// Committers write batches in parallel (SQLite 1: one writer at a
	// time anyway; PostgreSQL 4).
	Committers int
	// Deciders run in this process (1 on SQLite, 2 on PostgreSQL;
	// negative: none, the process only accepts — and decides what a
	// caller waits for);
	// DecideBatch is how many notifications one of them claims and
	// decides in one transaction (100).
	Deciders, DecideBatch int
	// DecideAttempts bounds the tries of a notification whose catalog
	// lookup fails on a passing error (default 6); RetryBase is the first
	// pause, doubled after each try up to a minute (default 1s).
	DecideAttempts int
	RetryBase      time.Duration
	// Lease is how long a claimed notification is its decider's before
	// another process may take it (default 2 minutes).
	Lease time.Duration
	// LookupTimeout bounds one catalog lookup (default 10s).
	LookupTimeout time.Duration
	// Owner names this process's claims (the executor id).
	Owner string
}

func (c *Config) defaults(d store.Dialect) {
	if c.MaxBacklog == 0 {
		c.MaxBacklog = 100_000
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 1000
	}
	if c.Committers <= 0 {
		c.Committers = map[bool]int{true: 4, false: 1}[d == store.Postgres]
	}
	if c.Deciders == 0 {
		c.Deciders = map[bool]int{true: 2, false: 1}[d == store.Postgres]
	}
	if c.DecideBatch <= 0 {
		c.DecideBatch = 100
	}
	if c.DecideAttempts <= 0 {
		c.DecideAttempts = 6
	}
	if c.RetryBase <= 0 {
		c.RetryBase = time.Second
	}
	if c.Lease <= 0 {
		c.Lease = 2 * time.Minute
	}
	if c.LookupTimeout <= 0 {
		c.LookupTimeout = 10 * time.Second
	}
	if c.Owner == "" {
		c.Owner = "local"
	}
}

// Service handles notifications. Start runs the group committer and the
// decider; without Start, Accept commits each notification on its own and
// Notify decides it in the caller.
type Service struct {
	Store   *store.Store
	Catalog catalog.Catalog
	Engine  Enqueuer
	// Telemetry starts each delivery's trace (nil: none).
	Telemetry *telemetry.Telemetry
	Log       *slog.Logger
	Config    Config

	initOnce sync.Once
	started  atomic.Bool
	queue    chan *job
	batches  chan []*job
	stop     chan struct{}
	wake     chan struct{}
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	// The backlog: the last count from the database plus what this
	// process accepted since (see backlog).
	pendingBase   atomic.Int64
	acceptedAtB   atomic.Int64
	acceptedTotal atomic.Int64
	decidedTotal  atomic.Int64
	rate          atomic.Uint64 // decisions per second (float64 bits)
	lastCommit    atomic.Int64  // unix ns of the last group commit

	sigMu sync.Mutex
	sig   chan struct{}
}

func (s *Service) init() {
	s.initOnce.Do(func() {
		s.Config.defaults(s.Store.Dialect)
		if s.Log == nil {
			s.Log = slog.New(slog.DiscardHandler)
		}
		s.wake = make(chan struct{}, 1)
	})
}

// Request is a notification.
type Request struct {
	AssetID string `json:"asset_id"`
	// Partners is a list of partner ids, or the string "all".
	Partners       Partners `json:"partners"`
	IdempotencyKey string   `json:"idempotency_key,omitempty"`
	// Priority, when set, overrides the partners' queue priority: 0 is the
	// most urgent, 1000 the least.
	Priority *int `json:"priority,omitempty"`
}

// Partners is either a list of partner ids or All.
type Partners struct {
	All bool
	IDs []string
}

// UnmarshalJSON accepts ["a","b"] or "all".
func (p *Partners) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil || s != "all" {
			return fmt.Errorf(`partners: want a list of partner ids or "all", got %s`, b)
		}
		p.All = true
		return nil
	}
	if err := json.Unmarshal(b, &p.IDs); err != nil {
		return errors.New(`partners: want a list of partner ids or "all"`)
	}
	return nil
}

// MarshalJSON writes the form UnmarshalJSON reads.
func (p Partners) MarshalJSON() ([]byte, error) {
	if p.All {
		return json.Marshal("all")
	}
	return json.Marshal(p.IDs)
}

// Response is where a notification stands: accepted (waiting for its
// decision), decided (one decision per partner) or failed (Error says why).
type Response struct {
	NotificationID string `json:"notification_id"`
	IdempotencyKey string `json:"idempotency_key"`
	Status         string `json:"status"`
	AssetID        string `json:"asset_id,omitempty"`
	// AssetVersion is the catalog version the decisions were made on.
	AssetVersion int        `json:"asset_version,omitempty"`
	Decisions    []Decision `json:"decisions,omitempty"`
	// Error is why the notification failed, or the last passing error of
	// one still being retried (Attempts says how many tries failed).
	Error    *ErrorBody `json:"error,omitempty"`
	Attempts int        `json:"attempts,omitempty"`
	// Replayed is true when this answers an earlier notification with the
	// same key.
	Replayed bool `json:"replayed,omitempty"`
	// DryRun is true when nothing was recorded (DryRun).
	DryRun bool `json:"dry_run,omitempty"`
}

// ErrorBody is a machine-readable code and a message for people.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Decision is what happens for one partner.
type Decision struct {
	PartnerID string `json:"partner_id"`
	// Action is create, update, takedown, noop, skip (the partner's rules
	// refuse the asset) or scheduled (its rights window opens at At).
	Action     string `json:"action"`
	DeliveryID string `json:"delivery_id"`
	// Scope is full or metadata for an update (full for a create).
	Scope string `json:"scope,omitempty"`
	// Changes names the changed fields the partner's package uses.
	Changes []string   `json:"changes,omitempty"`
	At      *time.Time `json:"at,omitempty"`
	Reason  string     `json:"reason,omitempty"`
}

// Error is a refused or failed notification; Code is stable and
// machine-readable.
type Error struct {
	Code    string
	Message string
	// RetryAfter is when to try again (backlog_full).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// The error codes.
const (
	CodeMalformed      = "malformed_json"
	CodeInvalid        = "invalid_request"
	CodeUnknownAsset   = "unknown_asset"
	CodeUnknownPartner = "unknown_partner"
	CodeKeyReused      = "idempotency_key_reused"
	CodeBacklogFull    = "backlog_full"
	// CodeCatalog: the catalog kept failing (timeouts, 5xx) until the
	// attempts ran out; while they last it is the notification's error.
	CodeCatalog = "catalog_unavailable"
	// CodeDecide: recording the decision failed (a database error).
	CodeDecide = "decide_failed"
)

func refuse(code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Notify accepts one notification and waits until it is decided (bounded
// by ctx), deciding it in the caller if no decider has taken it. A
// notification that failed returns its *Error.
func (s *Service) Notify(ctx context.Context, req Request) (Response, error) {
	resp, err := s.Accept(ctx, req, telemetry.TraceParent(ctx))
	if err != nil {
		return resp, err
	}
	replayed := resp.Replayed
	resp, err = s.Wait(ctx, resp.IdempotencyKey)
	resp.Replayed = replayed
	return resp, err
}

// decide picks the action for one partner and, if there is work, records
// the delivery and enqueues its workflow in tx.
func (s *Service) decide(ctx context.Context, tx *sql.Tx, asset domain.Asset, version int, p domain.Partner, priority *int) (Decision, error) {
	return s.decideAt(ctx, tx, asset, version, p, priority, s.Store.Now())
}

// decideAt is decide as of now: field-level change detection against
// what the partner last received (internal/change), the rights window
// (scheduling a wake-up at its start or end), then the delivery, if any.
func (s *Service) decideAt(ctx context.Context, tx *sql.Tx, asset domain.Asset, version int, p domain.Partner, priority *int, now time.Time) (Decision, error) {
	assetID, partnerID := asset.ID, p.ID
	v, err := s.judge(ctx, tx, asset, version, p, now)
	dec := v.decision(partnerID)
	if err != nil || v.skip {
		return dec, err
	}
	if err := s.scheduleEdges(ctx, tx, asset, version, partnerID, v); err != nil {
		return dec, err
	}
	if dec.Action == string(change.Noop) || dec.Action == ActionScheduled {
		return dec, nil
	}
	d := domain.Delivery{ID: uuid.Must(uuid.NewV7()).String(), AssetID: assetID, AssetVersion: version, PartnerID: partnerID,
		PartnerVersion: v.partnerVersion, Action: v.res.Action, Scope: v.res.Scope, Changes: v.res.Changes, Status: domain.StatusQueued,
		Priority: p.Priority, CreatedAt: now, UpdatedAt: now}
	if priority != nil {
		d.Priority = *priority
	}
	span := s.Telemetry.StartDelivery(ctx, "decide", &d)
	defer span.End()
	if err := s.Store.InsertDelivery(ctx, tx, d); err != nil {
		return dec, err
	}
	if err := s.Engine.Enqueue(ctx, tx, d); err != nil {
		return dec, err
	}
	dec.DeliveryID = d.ID
	return dec, nil
}

// Get returns where the notification with this id stands.
func (s *Service) Get(ctx context.Context, id string) (Response, error) {
	n, err := s.Store.GetNotificationByID(ctx, id)
	if err != nil {
		return Response{}, err
	}
	return responseOf(n)
}

// responseOf is the answer a stored notification gives.
func responseOf(n store.Notification) (Response, error) {
	var r Response
	if len(n.Response) > 0 {
		if err := json.Unmarshal(n.Response, &r); err != nil {
			return Response{}, fmt.Errorf("intake: stored response of %s: %w", n.ID, err)
		}
	}
	if r.AssetID == "" && len(n.Request) > 0 {
		if req, err := parseStored(n.Request); err == nil {
			r.AssetID = req.AssetID
		}
	}
	r.NotificationID, r.IdempotencyKey, r.Status, r.Attempts, r.Replayed = n.ID, n.Key, n.Status, n.Attempts, false
	if n.ErrorCode != "" {
		r.Error = &ErrorBody{Code: n.ErrorCode, Message: n.Error}
	}
	return r, nil
}

// failure is the *Error of a failed notification's answer, else nil.
func failure(r Response) error {
	if r.Status == store.NotificationFailed && r.Error != nil {
		return &Error{Code: r.Error.Code, Message: r.Error.Message}
	}
	return nil
}

func (s *Service) partners(ctx context.Context, want Partners) ([]domain.Partner, error) {
	if want.All {
		all, err := s.Store.ListPartners(ctx)
		if err == nil && len(all) == 0 {
			return nil, refuse(CodeUnknownPartner, `partners "all": no partner is configured`)
		}
		return all, err
	}
	var out []domain.Partner
	var unknown []string
	for _, id := range want.IDs {
		p, err := s.Store.GetPartner(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			unknown = append(unknown, id)
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if len(unknown) > 0 {
		return nil, refuse(CodeUnknownPartner, "unknown partner(s): %s", strings.Join(unknown, ", "))
	}
	return out, nil
}

func validate(req *Request) error {
	if !domain.ValidID(req.AssetID) {
		return refuse(CodeInvalid, "asset_id: %q is not a valid id", req.AssetID)
	}
	if !req.Partners.All && len(req.Partners.IDs) == 0 {
		return refuse(CodeInvalid, `partners: required, a list of partner ids or "all"`)
	}
	if len(req.Partners.IDs) > 1000 {
		return refuse(CodeInvalid, "partners: at most 1000")
	}
	for _, id := range req.Partners.IDs {
		if !domain.ValidID(id) {
			return refuse(CodeInvalid, "partners: %q is not a valid id", id)
		}
	}
	slices.Sort(req.Partners.IDs)
	req.Partners.IDs = slices.Compact(req.Partners.IDs)
	if req.Priority != nil && (*req.Priority < 0 || *req.Priority > 1000) {
		return refuse(CodeInvalid, "priority: want 0 (most urgent) to 1000")
	}
	if len(req.IdempotencyKey) > 200 {
		return refuse(CodeInvalid, "idempotency_key: at most 200 characters")
	}
	return nil
}

// stored is what the decider reads back: the request without its key. Its
// JSON is also what the fingerprint hashes (the same form as before
// notifications were stored, so old keys still replay).
type stored struct {
	A string   `json:"a"`
	P Partners `json:"p"`
	Q *int     `json:"q,omitempty"`
}

// canonical returns the stored form of a validated request and its
// fingerprint, which identifies what was asked independent of partner
// order.
func (r Request) canonical() ([]byte, string) {
	b, _ := json.Marshal(stored{r.AssetID, r.Partners, r.Priority})
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

func parseStored(b []byte) (Request, error) {
	var st stored
	if err := json.Unmarshal(b, &st); err != nil {
		return Request{}, fmt.Errorf("intake: stored request: %w", err)
	}
	return Request{AssetID: st.A, Partners: st.P, Priority: st.Q}, nil
}
