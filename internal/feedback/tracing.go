package feedback

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/telemetry"
)

// Record applies a report from partner p to one of p's deliveries. A
// delivery of another partner is reported as not found. The same report
// twice is recorded once.
//
// The report joins the delivery's trace as a "feedback" span (linked to
// the partner's request, which has a trace of its own), so the trace
// shows the partner's answer after the transfer, and a redelivery it
// starts continues the same trace.
func (s *Service) Record(ctx context.Context, p domain.Partner, deliveryID string, r Report, source string) (Result, error) {
	link := trace.LinkFromContext(ctx)
	if d, err := s.Store.GetDelivery(ctx, deliveryID); err == nil && d.PartnerID == p.ID {
		ctx = telemetry.WithTraceParent(ctx, d.TraceParent)
	}
	ctx, span := s.Telemetry.Tracer().Start(ctx, "feedback", trace.WithLinks(link), trace.WithAttributes(
		attribute.String(telemetry.AttrDeliveryID, deliveryID), attribute.String(telemetry.AttrPartner, p.ID),
		attribute.String("feedback.status", string(r.Status)), attribute.String("feedback.source", source)))
	res, err := s.record(ctx, p, deliveryID, r, source)
	span.SetAttributes(attribute.Bool("feedback.duplicate", res.Duplicate), attribute.String("feedback.redelivery", res.Redelivery))
	telemetry.End(span, err)
	return res, err
}
