package workflow

import (
	"context"
	"strings"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/syndicate-media/syndicate/internal/telemetry"
)

// traced runs one step of a delivery's workflow in a span of the
// delivery's trace and times it. The trace is read from the delivery's
// row rather than carried in the workflow's input (the delivery id), so a
// step run after a restart, or by another process that took the workflow
// over, joins the same trace. A step whose row cannot be read still runs,
// in a trace of its own.
func traced[T any](s *steps, ctx context.Context, deliveryID, name string, fn func(context.Context) (T, error)) (T, error) {
	attrs := []attribute.KeyValue{attribute.String(telemetry.AttrDeliveryID, deliveryID)}
	if d, err := s.store.GetDelivery(ctx, deliveryID); err == nil {
		ctx = telemetry.WithTraceParent(ctx, d.TraceParent)
		attrs = append(attrs, attribute.String(telemetry.AttrPartner, d.PartnerID))
	}
	step := stepSpan{parent: trace.SpanContextFromContext(ctx), attrs: attrs}
	return timed(s, ctx, name, attrs, func(c context.Context) (T, error) { return fn(context.WithValue(c, stepKey{}, step)) })
}

// stepKey is the context key of the step's stepSpan.
type stepKey struct{}

// stepSpan is what a step's span hangs under and carries, kept in the
// step's context for within.
type stepSpan struct {
	parent trace.SpanContext
	attrs  []attribute.KeyValue
}

// within runs part of a step in a span of its own beside the step's span
// (same parent, same delivery and partner), timed like a step: a plain
// delivery packs in its start step and finishes in its transfer step (see
// deliver), and its trace and step metrics still show package and finish
// as stages of their own.
func within[T any](s *steps, ctx context.Context, name string, fn func(context.Context) (T, error)) (T, error) {
	step, _ := ctx.Value(stepKey{}).(stepSpan)
	return timed(s, trace.ContextWithSpanContext(ctx, step.parent), name, step.attrs, fn)
}

// timed runs fn in a span named name and observes its duration as a step.
func timed[T any](s *steps, ctx context.Context, name string, attrs []attribute.KeyValue, fn func(context.Context) (T, error)) (T, error) {
	attrs = append([]attribute.KeyValue{attribute.String(telemetry.AttrStep, name)}, attrs...)
	ctx, span := s.telemetry.Tracer().Start(ctx, name, trace.WithAttributes(attrs...))
	start := time.Now()
	v, err := fn(ctx)
	s.telemetry.Metrics().ObserveStep(name, time.Since(start))
	telemetry.End(span, err)
	return v, err
}

// runStep is dbos.RunAsStep for a step of a delivery's workflow, named
// name, run by traced.
func runStep[T any](ctx dbos.Context, s *steps, deliveryID, name string, fn func(context.Context) (T, error), opts ...dbos.StepOption) (T, error) {
	return dbos.RunAsStep(ctx, func(c context.Context) (T, error) {
		return traced(s, c, deliveryID, name, fn)
	}, append(opts, dbos.WithStepName(name))...)
}

// annotateTransfer puts what one transfer attempt did on its span.
func annotateTransfer(ctx context.Context, j job, attempt, planned int, res Result, sent int64, took time.Duration) {
	files := planned
	if res.Files > 0 {
		files = res.Files
	}
	scheme, _, _ := strings.Cut(j.Partner.Target().URL, "://")
	var rate int64
	if took > 0 {
		rate = int64(float64(sent) / took.Seconds())
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.Int("attempt", attempt), attribute.Int("files", files),
		attribute.Int64("bytes", sent), attribute.Int64("rate_bytes_per_second", rate), attribute.String("transport.scheme", scheme))
}
