package workflow

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/packaging"
	"github.com/syndicate-media/syndicate/internal/secret"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/telemetry"
	"github.com/syndicate-media/syndicate/internal/transcoder"
	"github.com/syndicate-media/syndicate/internal/transport"
)

// callbackTopic is the DBOS message topic transcoder callbacks arrive on.
const callbackTopic = "transcoder"

// TranscoderConfig says where external transcode jobs go.
type TranscoderConfig struct {
	// URL is the service's job endpoint (POST); empty: profiles that ask
	// for the external transcoder fail with a clear reason.
	URL string
	// CallbackBase is this API's public base URL, e.g.
	// https://syndicate.example (the server passes its listen address
	// when --public-url is unset).
	CallbackBase string
	// HeartbeatInterval is asked of the service (default 30s).
	HeartbeatInterval time.Duration
}

// prepareVideo makes the package's video: a matching rendition, or a
// transcode by ffmpeg (one step) or by the external service (submit, wait
// for callbacks in the workflow, collect). It returns nil when the
// profile asks for no video.
func (e *Engine) prepareVideo(ctx dbos.Context, j job) (*packaging.File, error) {
	v := j.Partner.Package.Video
	if v == nil {
		return nil, nil
	}
	spec := v.Resolved()
	id := j.Delivery.ID
	work := filepath.Join(e.steps.workDir, id)
	if spec.Transcoder != "external" {
		f, err := runStep(ctx, e.steps, id, "package.video", func(c context.Context) (packaging.File, error) {
			f, err := packaging.PrepareVideo(c, work, j.Asset, spec, e.steps.videoProgress(c))
			if err == nil {
				err = e.steps.saveWork(c, id, f)
			}
			return f, err
		}, dbos.WithStepMaxRetries(2), dbos.WithStepRetryPredicate(notInvalid))
		return &f, err
	}
	ch, err := runStep(ctx, e.steps, id, "package.video", func(c context.Context) (packaging.VideoChoice, error) {
		return packaging.PickVideo(c, j.Asset, spec)
	}, dbos.WithStepMaxRetries(2), dbos.WithStepRetryPredicate(notInvalid))
	if err != nil || ch.Match != nil {
		return ch.Match, err
	}
	sub, err := runStep(ctx, e.steps, id, "transcoder.submit", func(c context.Context) (submitted, error) {
		return e.steps.submit(c, j, spec, ch)
	}, dbos.WithStepMaxRetries(5), dbos.WithStepBaseInterval(2*time.Second), dbos.WithStepBackoffFactor(2),
		dbos.WithStepRetryPredicate(func(err error) bool { return !errors.Is(err, transcoder.ErrRejected) && !transport.IsPermanent(err) }))
	if err != nil {
		return nil, err
	}
	out, err := e.awaitTranscode(ctx, j, spec, sub)
	if err != nil {
		_, _ = runStep(ctx, e.steps, id, "transcoder.close", func(c context.Context) (bool, error) {
			return true, e.steps.store.ExpireCallbacks(c, id)
		})
		return nil, err
	}
	f, err := runStep(ctx, e.steps, id, "transcoder.collect", func(c context.Context) (packaging.File, error) {
		return e.steps.collect(c, j, spec, sub, out)
	})
	return &f, err
}

// submitted is the submit step's checkpoint.
type submitted struct {
	At       time.Time `json:"at"`
	Deadline time.Time `json:"deadline"`
	Output   string    `json:"output"`
}

// awaitTranscode waits, in the workflow, for the service's callbacks: each
// heartbeat restarts the heartbeat timeout; the final answer ends the
// wait; silence past the heartbeat timeout or the deadline fails it. The
// waits are durable (dbos.Recv), so a restart resumes them, and every
// decision uses only checkpointed times, so a replay decides the same.
func (e *Engine) awaitTranscode(ctx dbos.Context, j job, spec domain.VideoSpec, sub submitted) (transcoder.Callback, error) {
	last := sub.At
	hb := time.Duration(spec.HeartbeatTimeout)
	for {
		wait := min(hb, sub.Deadline.Sub(last))
		if wait <= 0 {
			return transcoder.Callback{}, transport.Permanent(fmt.Errorf("transcoder: no result by the deadline %s (timeout %s)",
				sub.Deadline.Format(time.RFC3339), time.Duration(spec.Timeout)))
		}
		msg, err := dbos.Recv[transcoder.Callback](ctx, callbackTopic, wait)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			msg, err = transcoder.Callback{}, nil // nothing within wait (a recorded outcome: a replay sees it too)
		}
		if err != nil {
			return msg, err
		}
		switch {
		case msg.Status == "":
			if !last.Add(wait).Before(sub.Deadline) {
				return msg, transport.Permanent(fmt.Errorf("transcoder: no result by the deadline %s (timeout %s)",
					sub.Deadline.Format(time.RFC3339), time.Duration(spec.Timeout)))
			}
			return msg, transport.Permanent(fmt.Errorf("transcoder: no heartbeat for %s (last heard %s)", hb, last.Format(time.RFC3339)))
		case msg.Status == transcoder.StatusFailed:
			return msg, transport.Permanent(fmt.Errorf("transcoder: job failed: %s", msg.Error))
		case msg.Status == transcoder.StatusSucceeded:
			return msg, nil
		default: // heartbeat
			if msg.At.After(last) {
				last = msg.At
			}
		}
	}
}

// submit records a callback token and POSTs the job; the token is in the
// job's callback URL only, never stored or logged.
func (s *steps) submit(ctx context.Context, j job, spec domain.VideoSpec, ch packaging.VideoChoice) (submitted, error) {
	cfg := s.transcoder
	if cfg.URL == "" {
		return submitted{}, transport.Permanent(errors.New("package.video.transcoder is external but no transcoder URL is configured (syndicate serve --transcoder-url)"))
	}
	if cfg.CallbackBase == "" {
		return submitted{}, transport.Permanent(errors.New("transcoder: no callback base URL (syndicate serve --public-url)"))
	}
	now := s.store.Now()
	sub := submitted{At: now, Deadline: now.Add(time.Duration(spec.Timeout)), Output: packaging.VideoOutput(filepath.Join(s.workDir, j.Delivery.ID), spec)}
	token, hash := transcoder.NewToken()
	wfID := WorkflowID(j.Delivery.ID, j.Delivery.Run)
	if err := s.store.AddCallback(ctx, store.Callback{TokenHash: hash, DeliveryID: j.Delivery.ID, WorkflowID: wfID, Deadline: sub.Deadline}); err != nil {
		return submitted{}, err
	}
	hbi := cfg.HeartbeatInterval
	if hbi <= 0 {
		hbi = 30 * time.Second
	}
	hbi = min(hbi, time.Duration(spec.HeartbeatTimeout)/3)
	job := transcoder.Job{
		ID:                wfID,
		Source:            transcoder.Source{Role: ch.Source.Role, URI: "file://" + filepath.ToSlash(ch.Source.Source)},
		Profile:           spec,
		OutputURI:         "file://" + filepath.ToSlash(sub.Output),
		CallbackURL:       strings.TrimRight(cfg.CallbackBase, "/") + "/v1/callbacks/" + url.PathEscape(token),
		HeartbeatInterval: domain.Duration(hbi),
		Deadline:          sub.Deadline,
	}
	h := http.Header{}
	if tp := telemetry.TraceParent(ctx); tp != "" {
		h.Set("traceparent", tp) // the service's spans join the delivery's trace
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("transcoder.job", job.ID), attribute.String("transcoder.url", cfg.URL))
	c := transcoder.Client{URL: cfg.URL, Header: h}
	return sub, c.Submit(ctx, job)
}

// collect checks the service's output: it must be the file the job asked
// for, and match the profile.
func (s *steps) collect(ctx context.Context, j job, spec domain.VideoSpec, sub submitted, msg transcoder.Callback) (packaging.File, error) {
	p, err := packaging.LocalPath(msg.Outputs[0].URI)
	if err != nil {
		return packaging.File{}, transport.Permanent(fmt.Errorf("transcoder output: %w", err))
	}
	if p != sub.Output {
		return packaging.File{}, transport.Permanent(fmt.Errorf("transcoder output %s is not the requested %s", p, sub.Output))
	}
	f, err := packaging.CheckVideo(ctx, p, spec)
	if err != nil {
		return f, transport.Permanent(err)
	}
	if want := msg.Outputs[0].SHA256; want != "" {
		f.SHA256 = want // checked while the file streams to the partner
	}
	return f, s.saveWork(ctx, j.Delivery.ID, f)
}

// videoProgress puts a transcode's progress on the step's span and the log.
func (s *steps) videoProgress(ctx context.Context) func(done, total time.Duration) {
	span := trace.SpanFromContext(ctx)
	var lastPct int
	return func(done, total time.Duration) {
		if total <= 0 {
			return
		}
		pct := int(100 * done / total)
		if pct >= lastPct+10 || pct == 100 {
			lastPct = pct
			span.AddEvent("progress", trace.WithAttributes(attribute.Int("percent", pct)))
		}
	}
}

// notInvalid retries a packaging step unless the package itself is wrong.
func notInvalid(err error) bool { return !errors.Is(err, packaging.ErrInvalidPackage) }

// Callback hands a transcoder's callback to the workflow waiting for it,
// in one transaction with the token's state: a final answer closes the
// token, so a duplicate is refused; a late one (token expired, deadline
// passed) too. It returns the delivery the callback belongs to. The
// callback joins the delivery's trace as a "transcoder.callback" span,
// linked to the request that carried it.
func (e *Engine) Callback(ctx context.Context, token string, msg transcoder.Callback) (deliveryID string, err error) {
	if !transcoder.ValidToken(token) {
		return "", transcoder.ErrCallbackUnknown
	}
	began := time.Now()
	defer func() {
		if deliveryID != "" {
			e.traceCallback(ctx, began, deliveryID, msg, err)
		}
	}()
	st := e.steps.store
	err = st.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		c, err := st.GetCallbackTx(ctx, tx, secret.HashToken(token))
		if errors.Is(err, store.ErrNotFound) {
			return transcoder.ErrCallbackUnknown
		}
		if err != nil {
			return err
		}
		deliveryID = c.DeliveryID
		switch {
		case c.State == store.CallbackDone:
			return transcoder.ErrCallbackUsed
		case c.State != store.CallbackOpen || st.Now().After(c.Deadline):
			return transcoder.ErrCallbackExpired
		}
		state := store.CallbackOpen
		if msg.Final() {
			state = store.CallbackDone
		}
		if err := st.SetCallbackStateTx(ctx, tx, c.TokenHash, state); err != nil {
			return err
		}
		msg.At = st.Now()
		return dbos.Send(e.client, c.WorkflowID, msg, callbackTopic, dbos.WithSendTransaction(tx))
	})
	return deliveryID, err
}

// traceCallback records a callback as a span of its delivery's trace.
func (e *Engine) traceCallback(ctx context.Context, began time.Time, deliveryID string, msg transcoder.Callback, err error) {
	link := trace.LinkFromContext(ctx)
	if d, gerr := e.steps.store.GetDelivery(ctx, deliveryID); gerr == nil {
		ctx = telemetry.WithTraceParent(ctx, d.TraceParent)
		link.Attributes = append(link.Attributes, attribute.String(telemetry.AttrPartner, d.PartnerID))
	}
	_, span := e.steps.telemetry.Tracer().Start(ctx, "transcoder.callback", trace.WithTimestamp(began), trace.WithLinks(link),
		trace.WithAttributes(attribute.String(telemetry.AttrDeliveryID, deliveryID), attribute.String("transcoder.status", msg.Status),
			attribute.Float64("transcoder.progress", msg.Progress)))
	if b, jerr := json.Marshal(msg); jerr == nil {
		span.AddEvent("callback.body", trace.WithAttributes(attribute.String("body", telemetry.Payload(b))))
	}
	telemetry.End(span, err)
}
