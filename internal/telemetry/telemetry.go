// Package telemetry gives Syndicate its traces, metrics and log context.
//
// Traces: one OpenTelemetry TracerProvider per server, always on
// (AlwaysSample unless OTEL_TRACES_SAMPLER says otherwise). Finished spans
// go to the built-in trace store — the syn_spans table in Syndicate's own
// database, written in batches and kept 7 days — so `syndicate trace` and
// GET /v1/deliveries/{id}/trace work without any tracing backend; when
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set
// they are also exported over OTLP/HTTP (the other OTEL_EXPORTER_OTLP_*
// variables apply). A delivery keeps one trace across every asynchronous
// hop by carrying a W3C traceparent: the API request's span → the
// delivery row → each workflow step (restored from the row, so a restart
// or another process continues the trace) → transport operations →
// partner feedback → outbox events.
//
// Metrics: Prometheus collectors on a registry of the server's own
// (Metrics). Logs: a slog handler that adds trace_id and span_id.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
)

// ScopeName is the instrumentation scope of Syndicate's spans.
const ScopeName = "github.com/syndicate-media/syndicate"

// Attribute keys shared by the spans, the trace view and the logs.
const (
	AttrDeliveryID = "delivery.id"
	AttrPartner    = "partner.id"
	AttrStep       = "step"
)

// Config sets up telemetry for one server.
type Config struct {
	// Store receives the spans (syn_spans).
	Store *store.Store
	// Log receives telemetry's own failures (a batch it could not write).
	Log *slog.Logger
	// Process names this process in stored spans; the pid is appended, so
	// two runs of the same executor are told apart.
	Process string
	// Retention is how long stored spans are kept (default 7 days).
	Retention time.Duration
	// FlushInterval is how often buffered spans are written (default 500ms).
	FlushInterval time.Duration
	// Getenv reads the OTEL_* variables (default os.Getenv).
	Getenv func(string) string
}

// Telemetry is a server's tracer provider and metrics. A nil *Telemetry is
// valid and records nothing, so components work without one (tests).
type Telemetry struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	metrics  *Metrics
	stop     context.CancelFunc
	done     chan struct{}
}

// Start sets up the tracer provider (built-in store, OTLP if configured),
// the metrics, and the retention loop that deletes old spans.
func Start(ctx context.Context, cfg Config) (*Telemetry, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 500 * time.Millisecond
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	process := cfg.Process + "/" + strconv.Itoa(os.Getpid())
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "syndicate"), attribute.String("service.instance.id", process)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil && res == nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSpanProcessor(inheritDelivery{}),
		sdktrace.WithSpanProcessor(newStoreProcessor(cfg.Store, cfg.Log, process, cfg.FlushInterval)),
	}
	if cfg.Getenv("OTEL_TRACES_SAMPLER") == "" {
		opts = append(opts, sdktrace.WithSampler(sdktrace.AlwaysSample()))
	}
	if cfg.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || cfg.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		exp, err := otlptracehttp.New(ctx) // endpoint, headers, TLS, timeout: from the OTEL_EXPORTER_OTLP_* variables
		if err != nil {
			return nil, fmt.Errorf("telemetry: otlp exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	t := &Telemetry{provider: sdktrace.NewTracerProvider(opts...), metrics: newMetrics(cfg.Store), done: make(chan struct{})}
	t.tracer = t.provider.Tracer(ScopeName)
	var loopCtx context.Context
	loopCtx, t.stop = context.WithCancel(context.WithoutCancel(ctx))
	go t.retain(loopCtx, cfg.Store, cfg.Log, cfg.Retention)
	return t, nil
}

// retain deletes spans older than the retention now and every hour.
func (t *Telemetry) retain(ctx context.Context, st *store.Store, log *slog.Logger, keep time.Duration) {
	defer close(t.done)
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		if _, err := st.DeleteSpansBefore(ctx, time.Now().Add(-keep)); err != nil && ctx.Err() == nil {
			log.Warn("telemetry: deleting old spans", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Tracer returns the server's tracer (a no-op one for a nil Telemetry).
func (t *Telemetry) Tracer() trace.Tracer {
	if t == nil {
		return noop.NewTracerProvider().Tracer(ScopeName)
	}
	return t.tracer
}

// Metrics returns the server's metrics (nil, which records nothing, for a
// nil Telemetry).
func (t *Telemetry) Metrics() *Metrics {
	if t == nil {
		return nil
	}
	return t.metrics
}

// Shutdown writes the spans still buffered and stops. Call it after the
// last span ended and before the store closes.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	t.stop()
	<-t.done
	return t.provider.Shutdown(ctx)
}

// Close is Shutdown bounded to 10 seconds (an unreachable OTLP collector
// must not hold up a server's stop).
func (t *Telemetry) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return t.Shutdown(ctx)
}

// ForceFlush writes the spans ended so far.
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	if t == nil {
		return nil
	}
	return t.provider.ForceFlush(ctx)
}

var propagator = propagation.TraceContext{}

// TraceParent returns the W3C traceparent of ctx's span, or "" if ctx
// has none.
func TraceParent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c["traceparent"]
}

// WithTraceParent returns ctx with tp (a W3C traceparent) as the remote
// parent of the next span; an empty or malformed tp leaves ctx as is.
func WithTraceParent(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{"traceparent": tp})
}

// Extract returns ctx with the caller's trace context from carrier (e.g.
// HTTP headers), if it sent one.
func Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	return propagator.Extract(ctx, carrier)
}

// TraceID returns the trace id of a W3C traceparent, or "".
func TraceID(tp string) string {
	sc := trace.SpanContextFromContext(WithTraceParent(context.Background(), tp))
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}

// End ends span, marking it failed with err's text if err is not nil.
func End(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		if errors.Is(err, context.Canceled) {
			span.SetAttributes(attribute.Bool("canceled", true))
		}
	}
	span.End()
}

// StartDelivery opens the span that begins a new delivery's part of the
// trace — a child of ctx's span (the API request, or the partner feedback
// that asked for a redelivery) — and records its traceparent on d, for
// every later step to continue. End the span once d is recorded.
func (t *Telemetry) StartDelivery(ctx context.Context, name string, d *domain.Delivery) trace.Span {
	ctx, span := t.Tracer().Start(ctx, name, trace.WithAttributes(attribute.String(AttrDeliveryID, d.ID),
		attribute.String(AttrPartner, d.PartnerID), attribute.String("asset.id", d.AssetID),
		attribute.Int("asset.version", d.AssetVersion), attribute.String("action", string(d.Action))))
	d.TraceParent = TraceParent(ctx)
	return span
}
