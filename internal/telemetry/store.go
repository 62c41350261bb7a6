package telemetry

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/syndicate-media/syndicate/internal/store"
)

const (
	// batchSize spans written at once; more wake the writer early.
	batchSize = 256
	// maxBuffered spans wait at most; beyond it spans are dropped (and
	// counted) rather than slow the delivery down.
	maxBuffered = 8192
)

// storeProcessor is the span processor behind the built-in trace store:
// it buffers spans and writes them to syn_spans in batches. Workflow
// steps (spans with a "step" attribute) are written when they start as
// well, so a step its process never finished still appears, as
// unfinished, in the delivery's trace.
//
// GET and HEAD requests' server spans are not stored: reads do not belong
// to a delivery's trace and an operator's polling would fill the table
// (they still go to an OTLP collector when one is configured).
type storeProcessor struct {
	st       *store.Store
	log      *slog.Logger
	process  string
	interval time.Duration

	mu      sync.Mutex
	buf     []store.Span
	dropped int

	kick     chan struct{}
	flushReq chan chan struct{}
	quit     chan struct{}
	done     chan struct{}
	once     sync.Once
}

func newStoreProcessor(st *store.Store, log *slog.Logger, process string, interval time.Duration) *storeProcessor {
	p := &storeProcessor{st: st, log: log, process: process, interval: interval,
		kick: make(chan struct{}, 1), flushReq: make(chan chan struct{}), quit: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p
}

func (p *storeProcessor) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	if s.SpanContext().IsSampled() && hasAttr(s.Attributes(), AttrStep) {
		p.add(p.convert(s))
	}
}

func (p *storeProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() || isRead(s) {
		return
	}
	p.add(p.convert(s))
}

func (p *storeProcessor) add(sp store.Span) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) >= maxBuffered {
		p.dropped++
		return
	}
	p.buf = append(p.buf, sp)
	if len(p.buf) >= batchSize {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

func (p *storeProcessor) loop() {
	defer close(p.done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.write()
		case <-p.kick:
			p.write()
		case ack := <-p.flushReq:
			p.write()
			close(ack)
		case <-p.quit:
			p.write()
			return
		}
	}
}

// write stores what is buffered. A batch that fails is logged and
// dropped: tracing must not hold up deliveries.
func (p *storeProcessor) write() {
	p.mu.Lock()
	batch, dropped := p.buf, p.dropped
	p.buf, p.dropped = nil, 0
	p.mu.Unlock()
	if dropped > 0 {
		p.log.Warn("telemetry: span buffer full, spans dropped", "dropped", dropped)
	}
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.st.UpsertSpans(ctx, batch); err != nil {
		p.log.Warn("telemetry: writing spans", "spans", len(batch), "error", err)
	}
}

func (p *storeProcessor) ForceFlush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case p.flushReq <- ack:
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *storeProcessor) Shutdown(ctx context.Context) error {
	p.once.Do(func() { close(p.quit) })
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// convert turns a span (ended or just started) into its stored form.
func (p *storeProcessor) convert(s sdktrace.ReadOnlySpan) store.Span {
	sp := store.Span{TraceID: s.SpanContext().TraceID().String(), SpanID: s.SpanContext().SpanID().String(),
		Name: s.Name(), Kind: s.SpanKind().String(), Start: s.StartTime().UTC(), Status: "unset", Process: p.process}
	if s.Parent().IsValid() {
		sp.ParentID = s.Parent().SpanID().String()
	}
	if end := s.EndTime(); !end.IsZero() {
		end = end.UTC()
		sp.End = &end
	}
	switch st := s.Status(); st.Code {
	case codes.Error:
		sp.Status, sp.StatusMessage = "error", st.Description
	case codes.Ok:
		sp.Status = "ok"
	}
	sp.Attributes, _ = json.Marshal(attrMap(s.Attributes()))
	type event struct {
		Name       string         `json:"name"`
		Time       time.Time      `json:"time"`
		Attributes map[string]any `json:"attributes,omitempty"`
	}
	events := []event{}
	for _, e := range s.Events() {
		events = append(events, event{Name: e.Name, Time: e.Time.UTC(), Attributes: attrMap(e.Attributes)})
	}
	sp.Events, _ = json.Marshal(events)
	return sp
}

func attrMap(kvs []attribute.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

func hasAttr(kvs []attribute.KeyValue, key string) bool {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return true
		}
	}
	return false
}

// isRead reports whether s is the server span of a GET or HEAD request.
func isRead(s sdktrace.ReadOnlySpan) bool {
	if s.SpanKind() != trace.SpanKindServer {
		return false
	}
	for _, kv := range s.Attributes() {
		if kv.Key == "http.request.method" {
			m := strings.ToUpper(kv.Value.AsString())
			return m == "GET" || m == "HEAD"
		}
	}
	return false
}

// inheritDelivery gives every span started under a delivery's span the
// delivery's id and partner, so the trace view can tell a delivery's
// spans (transport operations included) from those of other deliveries
// the same request started.
type inheritDelivery struct{}

func (inheritDelivery) OnStart(parent context.Context, s sdktrace.ReadWriteSpan) {
	if hasAttr(s.Attributes(), AttrDeliveryID) {
		return
	}
	ps, ok := trace.SpanFromContext(parent).(sdktrace.ReadOnlySpan)
	if !ok {
		return
	}
	for _, kv := range ps.Attributes() {
		if kv.Key == AttrDeliveryID || kv.Key == AttrPartner {
			s.SetAttributes(kv)
		}
	}
}

func (inheritDelivery) OnEnd(sdktrace.ReadOnlySpan)      {}
func (inheritDelivery) Shutdown(context.Context) error   { return nil }
func (inheritDelivery) ForceFlush(context.Context) error { return nil }

var (
	_ sdktrace.SpanProcessor = (*storeProcessor)(nil)
	_ sdktrace.SpanProcessor = inheritDelivery{}
)
