package intake

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/syndicate-media/syndicate/internal/catalog"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/telemetry"
)

// Start runs the group committer and the deciders until Stop. It first
// takes back the claims an earlier run of this process left (on SQLite,
// where one process owns the database, every claim) and counts the
// backlog, so notifications accepted before a restart are decided.
func (s *Service) Start(ctx context.Context) error {
	s.init()
	owner := s.Config.Owner
	if s.Store.Dialect == store.SQLite {
		owner = "" // one process: every lease is ours
	}
	if err := s.releaseLeases(ctx, owner); err != nil {
		return err
	}
	if err := s.refreshBacklog(ctx); err != nil {
		return err
	}
	s.stop = make(chan struct{})
	s.startCommitter()
	s.started.Store(true)
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for range s.Config.Deciders {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.runDecider(ctx)
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.runBacklog(ctx)
	}()
	return nil
}

// Stop commits what was submitted, stops the deciders (a decision in
// progress finishes) and gives back this process's claims.
func (s *Service) Stop() {
	if !s.started.Load() {
		return
	}
	close(s.stop)
	s.cancel()
	s.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.releaseLeases(ctx, s.Config.Owner); err != nil {
		s.Log.Warn("intake: releasing claims", "error", err)
	}
}

func (s *Service) releaseLeases(ctx context.Context, owner string) error {
	if owner == "" {
		return s.Store.ReleaseAllNotifications(ctx)
	}
	return s.Store.ReleaseNotifications(ctx, owner)
}

// runBacklog recounts the backlog and the deciding pace twice a second.
func (s *Service) runBacklog(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	last, lastAt := s.decidedTotal.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if err := s.refreshBacklog(ctx); err != nil && ctx.Err() == nil {
				s.Log.Warn("intake: counting the backlog", "error", err)
			}
			d := s.decidedTotal.Load()
			rate := float64(d-last) / now.Sub(lastAt).Seconds()
			old := math.Float64frombits(s.rate.Load())
			s.rate.Store(math.Float64bits(0.7*old + 0.3*rate))
			last, lastAt = d, now
		}
	}
}

func (s *Service) decideRate() float64 { return math.Float64frombits(s.rate.Load()) }

// runDecider claims due notifications and decides them, until ctx ends.
// It wakes when a batch was committed, and twice a second for retries
// that came due (and for other processes' notifications on PostgreSQL).
func (s *Service) runDecider(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		t0 := time.Now()
		n, err := s.decideDue(ctx, "")
		if err != nil && ctx.Err() == nil {
			s.Log.Warn("intake: claiming notifications", "error", err)
		}
		if n > 0 && err == nil {
			// During a spike accepting comes first: the decider takes
			// about a quarter of the time and catches up afterwards.
			if time.Since(time.Unix(0, s.lastCommit.Load())) < 200*time.Millisecond {
				select {
				case <-ctx.Done():
					return
				case <-time.After(min(3*time.Since(t0), time.Second)):
				}
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

// decideDue claims up to DecideBatch due notifications (only key's, if
// set) and decides them; it returns how many it claimed.
func (s *Service) decideDue(ctx context.Context, key string) (int, error) {
	claimed, err := s.Store.ClaimNotifications(ctx, s.Config.Owner, s.Store.Now().Add(s.Config.Lease), s.Config.DecideBatch, key)
	if err != nil || len(claimed) == 0 {
		return 0, err
	}
	s.decideClaimed(context.WithoutCancel(ctx), claimed)
	return len(claimed), nil
}

// pending is a claimed notification on its way to a decision.
type pending struct {
	n        store.Notification
	req      Request
	asset    domain.Asset
	version  int
	partners []domain.Partner
	fail     *Error // it fails with this
	retry    error  // a passing error: try again later
}

// decideClaimed decides claimed notifications: catalog lookups and
// partner loads first (no transaction open), then one transaction that
// records every decision, delivery and workflow start. If that
// transaction fails, each notification is tried in its own, so one bad
// notification cannot hold up the others.
func (s *Service) decideClaimed(ctx context.Context, claimed []store.Notification) {
	ps := s.prepare(ctx, claimed)
	err := s.record(ctx, ps)
	if err != nil && len(ps) > 1 {
		for _, p := range ps {
			if err := s.record(ctx, []*pending{p}); err != nil {
				s.recordError(ctx, p, err)
			}
		}
	} else if err != nil {
		s.recordError(ctx, ps[0], err)
	}
	s.signalDecided()
}

// prepare looks up each notification's asset (once per asset) and
// partners (once per list).
func (s *Service) prepare(ctx context.Context, claimed []store.Notification) []*pending {
	type lookup struct {
		a   domain.Asset
		v   int
		err error
	}
	assets := map[string]lookup{}
	partners := map[string][]domain.Partner{}
	partnerErrs := map[string]error{}
	out := make([]*pending, 0, len(claimed))
	for _, n := range claimed {
		p := &pending{n: n}
		out = append(out, p)
		req, err := parseStored(n.Request)
		if err != nil {
			p.fail = &Error{Code: CodeInvalid, Message: err.Error()}
			continue
		}
		req.IdempotencyKey, p.req = n.Key, req
		l, ok := assets[req.AssetID]
		if !ok {
			lctx, cancel := context.WithTimeout(ctx, s.Config.LookupTimeout)
			l.a, l.v, l.err = s.Catalog.Lookup(lctx, req.AssetID)
			cancel()
			assets[req.AssetID] = l
		}
		switch {
		case errors.Is(l.err, catalog.ErrUnknownAsset):
			p.fail = &Error{Code: CodeUnknownAsset, Message: fmt.Sprintf("asset %q is not in the catalog", req.AssetID)}
			continue
		case l.err != nil:
			p.retry = fmt.Errorf("catalog lookup of %q: %w", req.AssetID, l.err)
			continue
		}
		p.asset, p.version = l.a, l.v
		pk, _ := json.Marshal(req.Partners)
		list, ok := partners[string(pk)]
		err, failed := partnerErrs[string(pk)]
		if !ok && !failed {
			list, err = s.partners(ctx, req.Partners)
			if err != nil {
				partnerErrs[string(pk)] = err
			} else {
				partners[string(pk)] = list
			}
		}
		var ie *Error
		switch {
		case errors.As(err, &ie):
			p.fail = ie
		case err != nil:
			p.retry = fmt.Errorf("loading partners: %w", err)
		default:
			p.partners = list
		}
	}
	return out
}

// record writes the outcome of ps in one transaction.
func (s *Service) record(ctx context.Context, ps []*pending) error {
	keys := make([]string, 0, len(ps))
	for _, p := range ps {
		if p.retry == nil {
			keys = append(keys, p.n.Key)
		}
	}
	decided := 0
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		decided = 0
		open, err := s.Store.LockNotifications(ctx, tx, keys)
		if err != nil {
			return err
		}
		for _, p := range ps {
			switch {
			case p.retry != nil:
				if err := s.retryLater(ctx, tx, p, CodeCatalog, p.retry); err != nil {
					return err
				}
			case !open[p.n.Key]: // decided elsewhere meanwhile
			case p.fail != nil:
				if err := s.Store.FinishNotification(ctx, tx, p.n.Key, store.NotificationFailed, nil, p.fail.Code, p.fail.Message); err != nil {
					return err
				}
				decided++
			default:
				if err := s.decideOne(ctx, tx, p); err != nil {
					return err
				}
				decided++
			}
		}
		return nil
	})
	if err == nil {
		s.decidedTotal.Add(int64(decided))
	}
	return err
}

// decideOne decides one notification for each of its partners and stores
// the decisions, in tx.
func (s *Service) decideOne(ctx context.Context, tx *sql.Tx, p *pending) error {
	ctx = telemetry.WithTraceParent(ctx, p.n.TraceParent) // the decision continues the request's trace
	resp := Response{AssetID: p.asset.ID, AssetVersion: p.version, Decisions: make([]Decision, 0, len(p.partners))}
	for _, partner := range p.partners {
		dec, err := s.decide(ctx, tx, p.asset, p.version, partner, p.req.Priority)
		if err != nil {
			return err
		}
		resp.Decisions = append(resp.Decisions, dec)
	}
	body, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	return s.Store.FinishNotification(ctx, tx, p.n.Key, store.NotificationDecided, body, "", "")
}

// retryLater records a passing failure: the notification stays accepted,
// with its error visible, and is tried again after a backoff, or fails
// once the attempts are spent.
func (s *Service) retryLater(ctx context.Context, tx *sql.Tx, p *pending, code string, cause error) error {
	attempts := p.n.Attempts + 1
	if attempts >= s.Config.DecideAttempts {
		s.Log.Warn("intake: notification failed", "notification_id", p.n.ID, "attempts", attempts, "error", cause)
		return s.Store.FinishNotification(ctx, tx, p.n.Key, store.NotificationFailed, nil, code,
			fmt.Sprintf("gave up after %d attempts: %v", attempts, cause))
	}
	return s.Store.RetryNotification(ctx, tx, p.n.Key, attempts, s.Store.Now().Add(s.backoff(attempts)), code, cause.Error())
}

// recordError notes that recording p's decision failed (a database
// error), to be tried again like a catalog error.
func (s *Service) recordError(ctx context.Context, p *pending, cause error) {
	s.Log.Warn("intake: deciding a notification", "notification_id", p.n.ID, "error", cause)
	err := s.Store.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return s.retryLater(ctx, tx, p, CodeDecide, fmt.Errorf("recording the decision: %w", cause))
	})
	if err != nil {
		s.Log.Error("intake: recording a failed decision", "notification_id", p.n.ID, "error", err)
	}
}

// backoff is the pause before attempt+1: RetryBase doubled per attempt,
// at most a minute, ±10% jitter.
func (s *Service) backoff(attempt int) time.Duration {
	d := s.Config.RetryBase << min(attempt-1, 16)
	d = min(d, time.Minute)
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

// Wait returns the notification under key once it is decided or failed
// (a failure also as its *Error), or where it stands when ctx ends. If no
// decider has claimed it, Wait decides it itself.
func (s *Service) Wait(ctx context.Context, key string) (Response, error) {
	s.init()
	var last Response
	for {
		n, err := s.Store.GetNotification(context.WithoutCancel(ctx), key)
		if err != nil {
			return last, err
		}
		resp, err := responseOf(n)
		if err != nil || n.Status != store.NotificationAccepted {
			return resp, errors.Join(err, failure(resp))
		}
		last = resp
		signal := s.decidedSignal()
		if k, err := s.decideDue(ctx, key); err == nil && k > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return last, nil
		case <-signal:
		case <-time.After(100 * time.Millisecond): // another process may decide it
		}
	}
}

// decidedSignal is closed at the next decision made in this process.
func (s *Service) decidedSignal() <-chan struct{} {
	s.sigMu.Lock()
	defer s.sigMu.Unlock()
	if s.sig == nil {
		s.sig = make(chan struct{})
	}
	return s.sig
}

func (s *Service) signalDecided() {
	s.sigMu.Lock()
	defer s.sigMu.Unlock()
	if s.sig != nil {
		close(s.sig)
		s.sig = nil
	}
}
