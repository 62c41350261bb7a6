package intake

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/syndicate-media/syndicate/internal/store"
)

// job is one notification on its way through the group commit.
type job struct {
	n    store.NewNotification
	done chan struct{}
	// Set by the committer before done closes.
	existing *store.Notification // the key was taken by this row
	dupOf    *job                // the same key earlier in the same batch
	err      error
}

// ErrStopped is returned by Accept once the service is stopping.
var ErrStopped = errors.New("intake: stopping")

// Accept validates req and stores it as accepted, answering once it is
// committed: status "accepted" with the new notification's id, or, for a
// key seen before with the same request, that notification's answer
// (Replayed). traceParent, if set, is the caller's span, which the
// decision continues.
func (s *Service) Accept(ctx context.Context, req Request, traceParent string) (Response, error) {
	if err := validate(&req); err != nil {
		return Response{}, err
	}
	return s.AcceptValid(ctx, req, traceParent)
}

// AcceptValid is Accept for a request ParseNotification already validated.
func (s *Service) AcceptValid(ctx context.Context, req Request, traceParent string) (Response, error) {
	if err := s.admit(1); err != nil {
		return Response{}, err
	}
	j := s.newJob(req, traceParent)
	if err := s.submit(ctx, []*job{j}); err != nil {
		return Response{}, err
	}
	return s.answer(j)
}

// Result is one notification's outcome in a batch: Response, or Err.
type Result struct {
	Response Response
	Err      error
}

// AcceptBatch accepts validated requests together (one group commit when
// they fit in one batch) and returns one result per request, in order.
// The whole batch is refused with backlog_full when it does not fit.
func (s *Service) AcceptBatch(ctx context.Context, reqs []Request, traceParent string) ([]Result, error) {
	if err := s.admit(len(reqs)); err != nil {
		return nil, err
	}
	jobs := make([]*job, len(reqs))
	for i, r := range reqs {
		jobs[i] = s.newJob(r, traceParent)
	}
	if err := s.submit(ctx, jobs); err != nil {
		return nil, err
	}
	out := make([]Result, len(jobs))
	for i, j := range jobs {
		out[i].Response, out[i].Err = s.answer(j)
	}
	return out, nil
}

func (s *Service) newJob(req Request, traceParent string) *job {
	body, hash := req.canonical()
	id := uuid.Must(uuid.NewV7()).String()
	key := req.IdempotencyKey
	if key == "" {
		key = id
	}
	return &job{n: store.NewNotification{Key: key, ID: id, RequestHash: hash, Request: body, TraceParent: traceParent},
		done: make(chan struct{})}
}

// submit hands jobs to the group committer (or, when the service was not
// started, commits them itself) and waits until they are committed.
func (s *Service) submit(ctx context.Context, jobs []*job) error {
	s.init()
	if !s.started.Load() {
		s.commit(jobs)
		return nil
	}
	for _, j := range jobs {
		select {
		case s.queue <- j:
		case <-s.stop:
			return ErrStopped
		case <-ctx.Done():
			// What was queued still commits; the caller just stops waiting.
			return ctx.Err()
		}
	}
	for _, j := range jobs {
		select {
		case <-j.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// answer is a committed job's response.
func (s *Service) answer(j *job) (Response, error) {
	if j.dupOf != nil {
		first := j.dupOf
		if first.err != nil {
			return Response{}, first.err
		}
		if first.existing != nil {
			// The key was stored before this batch: the stored row, not
			// the entry before this one, is what this request must match.
			return s.answer(&job{n: j.n, existing: first.existing})
		}
		if first.n.RequestHash != j.n.RequestHash {
			return Response{}, keyReused(j.n.Key)
		}
		if first.existing == nil {
			return Response{NotificationID: first.n.ID, IdempotencyKey: first.n.Key, Status: store.NotificationAccepted, Replayed: true}, nil
		}
		j = first
	}
	if j.err != nil {
		return Response{}, j.err
	}
	if j.existing == nil {
		return Response{NotificationID: j.n.ID, IdempotencyKey: j.n.Key, Status: store.NotificationAccepted}, nil
	}
	if j.existing.RequestHash != j.n.RequestHash {
		return Response{}, keyReused(j.n.Key)
	}
	r, err := responseOf(*j.existing)
	r.Replayed = true
	return r, err
}

func keyReused(key string) error {
	return refuse(CodeKeyReused, "idempotency key %q was already used for a different notification", key)
}

// commit writes one batch in one transaction and releases its waiters.
func (s *Service) commit(batch []*job) {
	defer func() {
		for _, j := range batch {
			close(j.done)
		}
	}()
	first := make(map[string]*job, len(batch))
	ns := make([]store.NewNotification, 0, len(batch))
	owners := make([]*job, 0, len(batch))
	for _, j := range batch {
		if f, ok := first[j.n.Key]; ok {
			j.dupOf = f
			continue
		}
		first[j.n.Key] = j
		ns = append(ns, j.n)
		owners = append(owners, j)
	}
	// Not the requests' contexts: one caller giving up must not fail the
	// others' commit.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	existing, err := s.Store.AcceptNotifications(ctx, ns)
	if err != nil {
		s.Log.Error("intake: group commit failed", "notifications", len(ns), "error", err)
		err = fmt.Errorf("intake: accept: %w", err)
		for _, j := range owners {
			j.err = err
		}
		return
	}
	stored := 0
	for i, j := range owners {
		j.existing = existing[i]
		if j.existing == nil {
			stored++
		}
	}
	s.acceptedTotal.Add(int64(stored))
	s.lastCommit.Store(time.Now().UnixNano())
	if stored > 0 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// startCommitter runs the collector, which forms batches, and the
// committers, which write them: a batch closes when a committer is free to
// take it (after MaxWait, if set) or when it holds MaxBatch notifications,
// so while one batch commits the next one collects.
func (s *Service) startCommitter() {
	s.queue = make(chan *job, 4*s.Config.MaxBatch)
	s.batches = make(chan []*job)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(s.batches)
		s.collect()
	}()
	for range s.Config.Committers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for b := range s.batches {
				s.commit(b)
			}
		}()
	}
}

func (s *Service) collect() {
	var linger *time.Timer
	if s.Config.MaxWait > 0 {
		linger = time.NewTimer(time.Hour)
		linger.Stop()
	}
	for {
		var batch []*job
		select {
		case j := <-s.queue:
			batch = append(make([]*job, 0, 64), j)
		case <-s.stop:
			s.drain()
			return
		}
		if linger != nil {
			linger.Reset(s.Config.MaxWait)
		fill:
			for len(batch) < s.Config.MaxBatch {
				select {
				case j := <-s.queue:
					batch = append(batch, j)
				case <-linger.C:
					break fill
				}
			}
			linger.Stop()
		}
	offer:
		for len(batch) < s.Config.MaxBatch {
			select {
			case j := <-s.queue:
				batch = append(batch, j)
				continue
			default:
			}
			select {
			case j := <-s.queue:
				batch = append(batch, j)
			case s.batches <- batch:
				batch = nil
				break offer
			}
		}
		if batch != nil {
			s.batches <- batch
		}
	}
}

// drain commits what is still queued at stop.
func (s *Service) drain() {
	for {
		var batch []*job
	more:
		for len(batch) < s.Config.MaxBatch {
			select {
			case j := <-s.queue:
				batch = append(batch, j)
			default:
				break more
			}
		}
		if len(batch) == 0 {
			return
		}
		s.batches <- batch
	}
}

// admit refuses n more notifications when the backlog is full.
func (s *Service) admit(n int) error {
	s.init()
	max := s.Config.MaxBacklog
	if max < 0 {
		return nil
	}
	backlog := s.Backlog()
	if backlog+int64(n) <= int64(max) {
		return nil
	}
	return &Error{Code: CodeBacklogFull, RetryAfter: s.retryAfter(backlog - int64(max) + int64(n)),
		Message: fmt.Sprintf("%d notifications are waiting for a decision (at most %d): try again later", backlog, max)}
}

// Backlog is about how many accepted notifications wait for a decision:
// the last count from the database plus what this process accepted since.
func (s *Service) Backlog() int64 {
	return s.pendingBase.Load() + s.acceptedTotal.Load() - s.acceptedAtB.Load()
}

// refreshBacklog counts the backlog in the database again (other
// processes accept and decide too).
func (s *Service) refreshBacklog(ctx context.Context) error {
	before := s.acceptedTotal.Load()
	n, err := s.Store.CountPendingNotifications(ctx)
	if err != nil {
		return err
	}
	s.pendingBase.Store(int64(n))
	s.acceptedAtB.Store(before)
	return nil
}

// retryAfter estimates when over notifications will have been decided,
// from the decider's recent pace: 1 s to 1 min.
func (s *Service) retryAfter(over int64) time.Duration {
	rate := s.decideRate()
	if rate <= 0 {
		return 5 * time.Second
	}
	d := time.Duration(float64(over) / rate * float64(time.Second))
	return min(max(d, time.Second), time.Minute)
}
