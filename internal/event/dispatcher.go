package event

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/syndicate-media/syndicate/internal/store"
)

// Defaults for the Dispatcher's zero fields.
const (
	DefaultInterval    = 200 * time.Millisecond
	DefaultBackoffBase = time.Second
	DefaultBackoffMax  = 5 * time.Minute
	DefaultBatch       = 100
)

// Dispatcher publishes the outbox to every sink. Each sink gets the events
// after its cursor that match its filters, in publication order; the
// cursor moves after each event the sink took, so an event is sent at
// least once and a crash at most re-sends the last one. Sinks are served
// concurrently: a slow or failing sink does not hold up the others.
type Dispatcher struct {
	Store *store.Store
	Log   *slog.Logger
	// Interval is how often new events are looked for (DefaultInterval).
	Interval time.Duration
	// BackoffBase is the wait after a sink's first failure, doubled after
	// each further one up to BackoffMax, with jitter.
	BackoffBase, BackoffMax time.Duration
	// Batch is how many events are read at once (DefaultBatch).
	Batch int

	mu      sync.Mutex
	busy    map[string]bool   // sinks with a pass running
	senders map[string]Sender // open senders by sink id
	passes  sync.WaitGroup
}

// Run dispatches until ctx is done, then waits for sends in flight to end
// and closes its connections. On PostgreSQL it dispatches only while it
// holds the dispatch lock, so one process of many sends.
func (d *Dispatcher) Run(ctx context.Context) {
	d.defaults()
	lead := &leadership{st: d.Store, log: d.Log}
	// The passes started while leading run under scope; it ends when the
	// lead is lost or Run returns.
	var scope struct {
		ctx    context.Context
		cancel context.CancelFunc
	}
	end := func() {
		if scope.cancel != nil {
			scope.cancel()
			scope.ctx, scope.cancel = nil, nil
		}
		d.passes.Wait()
		d.closeSenders(nil)
	}
	defer lead.release()
	defer end()
	tick := time.NewTicker(d.Interval)
	defer tick.Stop()
	for {
		if lead.hold(ctx) {
			if scope.ctx == nil {
				scope.ctx, scope.cancel = context.WithCancel(ctx)
			}
			d.dispatch(ctx, scope.ctx)
		} else if scope.ctx != nil {
			end()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (d *Dispatcher) defaults() {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Interval <= 0 {
		d.Interval = DefaultInterval
	}
	if d.BackoffBase <= 0 {
		d.BackoffBase = DefaultBackoffBase
	}
	if d.BackoffMax <= 0 {
		d.BackoffMax = DefaultBackoffMax
	}
	if d.Batch <= 0 {
		d.Batch = DefaultBatch
	}
	d.busy, d.senders = map[string]bool{}, map[string]Sender{}
}

// dispatch stamps new events and starts a pass for every sink that is due
// and not already in one.
func (d *Dispatcher) dispatch(ctx, passCtx context.Context) {
	if err := d.stamp(ctx); err != nil {
		if ctx.Err() == nil {
			d.Log.Error("event dispatcher: stamping events", "error", err)
		}
		return
	}
	sinks, err := d.Store.ListSinks(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.Log.Error("event dispatcher: listing sinks", "error", err)
		}
		return
	}
	d.closeSenders(sinks)
	now := d.Store.Now()
	for _, k := range sinks {
		if k.NextAttemptAt != nil && now.Before(*k.NextAttemptAt) {
			continue
		}
		d.mu.Lock()
		if d.busy[k.ID] {
			d.mu.Unlock()
			continue
		}
		d.busy[k.ID] = true
		d.mu.Unlock()
		d.passes.Add(1)
		go func() {
			defer d.passes.Done()
			defer func() {
				d.mu.Lock()
				delete(d.busy, k.ID)
				d.mu.Unlock()
			}()
			// Read the sink again now that this pass owns it: the list was
			// read before, maybe while the previous pass still moved the
			// cursor, and a stale cursor would send events twice.
			fresh, err := d.Store.GetSink(passCtx, k.ID)
			if err != nil {
				d.logErr(passCtx, d.Log, "reading the sink", err)
				return
			}
			if fresh.NextAttemptAt != nil && d.Store.Now().Before(*fresh.NextAttemptAt) {
				return
			}
			d.pass(passCtx, fresh)
		}()
	}
}

// stamp gives every committed event its publication number.
func (d *Dispatcher) stamp(ctx context.Context) error {
	const limit = 1000
	for {
		if has, err := d.Store.HasUnstampedEvents(ctx); err != nil || !has {
			return err
		}
		n, err := d.Store.StampEvents(ctx, limit)
		if err != nil || n < limit {
			return err
		}
	}
}

// pass sends a sink its replayed dead letters, then its new events, until
// none is left or one fails.
func (d *Dispatcher) pass(ctx context.Context, k store.Sink) {
	log := d.Log.With("sink_id", k.ID, "sink_kind", k.Kind)
	for {
		dls, err := d.Store.PendingReplays(ctx, k.ID, d.Batch)
		if err != nil {
			d.logErr(ctx, log, "reading replays", err)
			return
		}
		for _, dl := range dls {
			if err := d.send(ctx, k, *dl.Event); err != nil {
				d.fail(ctx, log, k, *dl.Event, err, &dl)
				return
			}
			if err := d.Store.ReplayDone(ctx, dl); err != nil {
				d.logErr(ctx, log, "recording a replay", err)
				return
			}
			k.Attempts = 0
			log.Info("dead letter replayed", "event_id", dl.EventID, "cursor", dl.PubSeq)
		}
		if len(dls) < d.Batch {
			break
		}
	}
	for {
		evs, next, err := d.Store.MatchingEvents(ctx, store.EventFilter{After: k.Cursor, Limit: d.Batch, Types: k.Types, Partners: k.Partners})
		if err != nil {
			d.logErr(ctx, log, "reading events", err)
			return
		}
		for _, e := range evs {
			if err := d.send(ctx, k, e); err != nil {
				d.fail(ctx, log, k, e, err, nil)
				return
			}
			if err := d.Store.AdvanceSink(ctx, k.ID, e.PubSeq); err != nil {
				d.logErr(ctx, log, "moving the cursor", err)
				return
			}
			k.Cursor, k.Attempts = e.PubSeq, 0
		}
		// Step over the events the filters left out.
		if next > k.Cursor {
			if err := d.Store.AdvanceSink(ctx, k.ID, next); err != nil {
				d.logErr(ctx, log, "moving the cursor", err)
				return
			}
			k.Cursor = next
		}
		if len(evs) < d.Batch {
			return
		}
	}
}

func (d *Dispatcher) send(ctx context.Context, k store.Sink, e store.Event) error {
	body, err := CloudEvent(e)
	if err != nil {
		return err
	}
	d.mu.Lock()
	s := d.senders[k.ID]
	d.mu.Unlock()
	if s == nil {
		if s, err = Open(k); err != nil {
			return err
		}
		d.mu.Lock()
		d.senders[k.ID] = s
		d.mu.Unlock()
	}
	if err := s.Send(ctx, e, body); err != nil {
		// The next attempt starts from a fresh connection.
		d.mu.Lock()
		delete(d.senders, k.ID)
		d.mu.Unlock()
		s.Close()
		return err
	}
	return nil
}

// closeSenders closes the senders of sinks not in keep (all if keep is
// nil) that no pass is using.
func (d *Dispatcher) closeSenders(keep []store.Sink) {
	live := map[string]bool{}
	for _, k := range keep {
		live[k.ID] = true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, s := range d.senders {
		if !live[id] && !d.busy[id] {
			s.Close()
			delete(d.senders, id)
		}
	}
}

func (d *Dispatcher) logErr(ctx context.Context, log *slog.Logger, what string, err error) {
	if ctx.Err() != nil || errors.Is(err, store.ErrNotFound) {
		return // shutting down, or the sink was removed meanwhile
	}
	log.Error("event dispatcher: "+what, "error", err)
}
