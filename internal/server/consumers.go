package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/syndicate-media/syndicate/internal/consumer"
	"github.com/syndicate-media/syndicate/internal/consumer/natsq"
	"github.com/syndicate-media/syndicate/internal/consumer/sqsq"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/telemetry"
)

// maxQueueBody is the largest notification a queue message may carry, as
// for POST /v1/notifications.
const maxQueueBody = 1 << 20

// intakeSink is the one adapter from queue messages to intake: it decodes
// a body as strictly as POST /v1/notifications does and accepts it. A
// message without idempotency_key gets the queue's message id, so a
// redelivery is answered from the first commit. Everything intake refuses
// is poison (its code is the reason); any other error is transient.
type intakeSink struct {
	in      *intake.Service
	metrics *telemetry.Metrics
}

func (s intakeSink) Submit(ctx context.Context, body []byte) error {
	if len(body) > maxQueueBody {
		return consumer.Poisonf("body is over %d bytes", maxQueueBody)
	}
	req, err := intake.ParseNotificationKeyed(body, consumer.MessageID(ctx))
	var ie *intake.Error
	if errors.As(err, &ie) {
		return consumer.Poisonf("%s: %s", ie.Code, ie.Message)
	}
	if err != nil {
		return consumer.Poisonf("malformed_json: %v", err)
	}
	// Accepted is committed: the decider takes it from there, as for the
	// API (an unknown asset then fails the notification, visible at
	// GET /v1/notifications/{id}).
	resp, err := s.in.AcceptValid(ctx, req, telemetry.TraceParent(ctx))
	if errors.As(err, &ie) {
		if ie.Code == intake.CodeBacklogFull {
			return err // transient: redelivered later
		}
		return consumer.Poisonf("%s: %s", ie.Code, ie.Message)
	}
	if err != nil {
		return err
	}
	if !resp.Replayed {
		s.metrics.NotificationAccepted()
	}
	return nil
}

// openConsumers validates and connects the configured queue consumers;
// a bad setting or an unreachable queue fails the start.
func openConsumers(ctx context.Context, cfg Config, sink consumer.Sink, log *slog.Logger, m *consumer.Metrics) ([]*consumer.Runner, error) {
	var runners []*consumer.Runner
	closeAll := func() {
		for _, r := range runners {
			_ = r.Source.Close()
		}
	}
	if cfg.NATSConsumer != "" {
		c, err := natsq.ParseURL(cfg.NATSConsumer)
		if err != nil {
			return nil, err
		}
		r, err := natsq.Open(ctx, c, sink, log, m)
		if err != nil {
			return nil, err
		}
		runners = append(runners, r)
	}
	if cfg.SQSConsumer != "" {
		c, err := sqsq.ParseURL(cfg.SQSConsumer)
		if err != nil {
			closeAll()
			return nil, err
		}
		r, err := sqsq.Open(ctx, c, sink, log, m)
		if err != nil {
			closeAll()
			return nil, err
		}
		runners = append(runners, r)
	}
	for _, r := range runners {
		log.Info("queue consumer started", "consumer", r.Name)
	}
	return runners, nil
}

// runConsumer runs r until the server closes; Run lets in-flight messages
// finish or releases them.
func runConsumer(r *consumer.Runner, log *slog.Logger) func(ctx context.Context) {
	return func(ctx context.Context) {
		if err := r.Run(ctx); err != nil {
			log.Error("queue consumer stopped", "consumer", r.Name, "error", fmt.Sprint(err))
		}
	}
}

var _ consumer.Sink = intakeSink{}
