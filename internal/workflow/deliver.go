package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/dbos-inc/dbos-transact-golang/dbos"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/packaging"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/telemetry"
	"github.com/syndicate-media/syndicate/internal/transport"
	"github.com/syndicate-media/syndicate/internal/workfiles"
)

// Result is what a finished delivery reports.
type Result struct {
	Files    int    `json:"files"`
	Bytes    int64  `json:"bytes"`
	Location string `json:"location"`
	// Verified is how the partner was seen to hold each file.
	Verified []domain.VerifiedFile `json:"verified,omitempty"`
	// Finished is set when the transfer step also moved the delivery to
	// delivered and removed its working files.
	Finished bool `json:"finished,omitempty"`
}

// job is everything a delivery needs, loaded once by the first step so the
// rest of the workflow sees one consistent snapshot of asset and partner.
type job struct {
	Delivery domain.Delivery `json:"delivery"`
	Asset    domain.Asset    `json:"asset"`
	Partner  domain.Partner  `json:"partner"`
}

// deliver is the Deliver workflow: start → video (pick a rendition, or
// transcode: ffmpeg, or an external service that calls back) → package
// (name, render metadata) → pace → transfer → finish.
// It only orchestrates; every side effect is a step, checkpointed by DBOS.
func (e *Engine) deliver(ctx dbos.Context, deliveryID string) (Result, error) {
	wfID, _ := dbos.GetWorkflowID(ctx)
	gen := e.steps.runs.claim(wfID)
	defer e.steps.runs.release(wfID, gen)
	st, err := runStep(ctx, e.steps, deliveryID, "start", func(c context.Context) (started, error) {
		return e.steps.startPlain(c, deliveryID)
	}, append(dbStepRetries, dbos.WithStepRetryPredicate(func(err error) bool { return !errors.As(err, new(packError)) }))...)
	if err != nil {
		return Result{}, e.fail(ctx, deliveryID, wfID, gen, err)
	}
	j := st.job
	var prep packaging.Prepared
	var plan packaging.Plan
	if st.Plan != nil {
		plan = *st.Plan
	} else {
		if prep, err = e.prepare(ctx, j); err != nil {
			return Result{}, e.fail(ctx, deliveryID, wfID, gen, err)
		}
		plan, err = runStep(ctx, e.steps, deliveryID, "package", func(c context.Context) (packaging.Plan, error) {
			return e.steps.pack(c, j, prep)
		})
		if err != nil {
			return Result{}, e.fail(ctx, deliveryID, wfID, gen, err)
		}
	}
	if err := e.pace(ctx, deliveryID, j.Partner); err != nil {
		return Result{}, e.fail(ctx, deliveryID, wfID, gen, err)
	}
	retry := j.Partner.Retry
	attempts := max(retry.MaxAttempts, 1)
	if retry.Deadline > 0 {
		attempts = 1 << 20 // the deadline, not the count, ends the retries
	}
	res, err := runStep(ctx, e.steps, deliveryID, "transfer", func(c context.Context) (Result, error) {
		return e.steps.transferAndFinish(c, j, prep, plan, wfID, gen)
	}, dbos.WithStepMaxRetries(attempts-1),
		dbos.WithStepBaseInterval(time.Duration(retry.BaseInterval)),
		dbos.WithStepBackoffFactor(2),
		dbos.WithStepMaxInterval(10*time.Minute),
		dbos.WithStepRetryPredicate(retryable(j, e.steps.store.Now)))
	if err != nil {
		return Result{}, e.fail(ctx, deliveryID, wfID, gen, err)
	}
	if res.Finished {
		return res, nil
	}
	// A transfer step recorded by a build that finished in steps of their
	// own (an upgrade with deliveries under way) ends as it would have.
	_, err = runStep(ctx, e.steps, deliveryID, "finish", func(c context.Context) (domain.Delivery, error) {
		return e.steps.finish(c, deliveryID, res)
	}, dbStepRetries...)
	if err != nil {
		return res, err
	}
	_, err = runStep(ctx, e.steps, deliveryID, "cleanup", func(c context.Context) (int, error) {
		return e.steps.cleanWork(c, deliveryID)
	})
	return res, err
}

// started is the start step's output: the delivery's snapshot and, for a
// plain delivery, its package plan.
type started struct {
	job
	// Plan is set when the start step packed the delivery too: nothing had
	// to be prepared (no images, subtitles or video), so the package
	// needed no checkpoint of its own. Nil: the package step follows.
	Plan *packaging.Plan `json:"plan,omitempty"`
}

// packError marks a packing failure in the start step, which is not
// retried as the step's database errors are.
type packError struct{ error }

func (e packError) Unwrap() error { return e.error }

// startPlain is the start step: it loads the snapshot, and packs a plain
// delivery at once. Each step is a checkpoint, and a checkpoint is a
// write; a small delivery without anything to prepare needs two (start
// and transfer), where one per stage capped the engine's pace.
func (s *steps) startPlain(ctx context.Context, id string) (started, error) {
	j, err := s.start(ctx, id)
	if err != nil || !plain(j) {
		return started{job: j}, err
	}
	plan, err := within(s, ctx, "package", func(c context.Context) (packaging.Plan, error) {
		return s.pack(c, j, packaging.Prepared{})
	})
	if err != nil {
		return started{job: j}, packError{err}
	}
	return started{job: j, Plan: &plan}, nil
}

// plain reports whether a delivery has nothing to prepare before its
// package: no image derivatives, subtitles or video.
func plain(j job) bool {
	if j.Delivery.Action == domain.ActionTakedown {
		return true
	}
	return len(j.Partner.Package.Images) == 0 && !hasSubtitles(j.Asset) && j.Partner.Package.Video == nil
}

// transferAndFinish is the transfer step: one attempt to send the package
// and, once it is at the partner, the delivery's move to delivered and
// the removal of its working files, in the same step. A replay of the
// step after those (a crash before its checkpoint) finds the delivery
// delivered and sends nothing.
func (s *steps) transferAndFinish(ctx context.Context, j job, prep packaging.Prepared, plan packaging.Plan, wfID string, gen uint64) (Result, error) {
	id := j.Delivery.ID
	if d, err := s.store.GetDelivery(ctx, id); err != nil {
		return Result{}, err
	} else if d.Status == domain.StatusDelivered {
		return Result{Files: d.Files, Bytes: d.Bytes, Location: d.Location, Verified: d.VerifiedFiles, Finished: true}, nil
	}
	res, err := s.fencedTransfer(ctx, j, prep, plan, wfID, gen)
	if err != nil {
		return res, err
	}
	if _, err := within(s, ctx, "finish", func(c context.Context) (domain.Delivery, error) {
		return retryDB(c, func() (domain.Delivery, error) { return s.finish(c, id, res) })
	}); err != nil {
		return res, err
	}
	s.log.Info("delivered", "delivery_id", id, "partner", j.Partner.ID, "files", res.Files, "bytes", res.Bytes,
		"trace_id", telemetry.TraceID(j.Delivery.TraceParent))
	_, _ = within(s, ctx, "cleanup", func(c context.Context) (int, error) { return s.cleanWork(c, id) })
	res.Finished = true
	return res, nil
}

// finish moves the delivery to delivered with what the transfer reported.
func (s *steps) finish(ctx context.Context, id string, res Result) (domain.Delivery, error) {
	return s.store.UpdateDelivery(ctx, id, func(d *domain.Delivery) error {
		if d.Status == domain.StatusDelivered {
			return nil // a retry after a commit whose answer was lost
		}
		d.Files, d.Bytes, d.Location, d.LastError, d.Rate = res.Files, res.Bytes, res.Location, "", 0
		d.VerifiedFiles = res.Verified
		return d.Transition(domain.StatusDelivered, s.store.Now())
	})
}

// retryDB runs a database write through a short outage, as dbStepRetries
// does for a step of its own: 5 more tries, 0.5 s doubling.
func retryDB[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	wait := 500 * time.Millisecond
	v, err := fn()
	for i := 0; i < 5 && err != nil && ctx.Err() == nil; i++ {
		select {
		case <-ctx.Done():
		case <-time.After(wait):
			v, err = fn()
		}
		wait *= 2
	}
	return v, err
}

// prepare makes the partner's own files in parallel: image derivatives
// and subtitle conversions as steps in goroutines (dbos.Go), while the
// video (a step, or an external job and the wait for its callback) runs
// in the workflow itself. Each is checkpointed: a restart redoes none
// that finished.
func (e *Engine) prepare(ctx dbos.Context, j job) (packaging.Prepared, error) {
	var prep packaging.Prepared
	if j.Delivery.Action == domain.ActionTakedown {
		return prep, nil // a takedown sends its document alone
	}
	id := j.Delivery.ID
	work := filepath.Join(e.steps.workDir, id)
	retry := []dbos.StepOption{dbos.WithStepMaxRetries(2), dbos.WithStepRetryPredicate(notInvalid)}
	goStep := func(name string, fn func() ([]packaging.File, error)) (<-chan dbos.StepOutcome[[]packaging.File], error) {
		return dbos.Go(ctx, func(c context.Context) ([]packaging.File, error) {
			return traced(e.steps, c, id, name, func(context.Context) ([]packaging.File, error) { return fn() })
		}, append(retry, dbos.WithStepName(name))...)
	}
	var images, subs <-chan dbos.StepOutcome[[]packaging.File]
	var err error
	if len(j.Partner.Package.Images) > 0 {
		if images, err = goStep("package.images", func() ([]packaging.File, error) { return packaging.PrepareImages(work, j.Asset, j.Partner) }); err != nil {
			return prep, err
		}
	}
	if hasSubtitles(j.Asset) {
		if subs, err = goStep("package.subtitles", func() ([]packaging.File, error) { return packaging.PrepareSubtitles(work, j.Asset, j.Partner) }); err != nil {
			return prep, err
		}
	}
	prep.Video, err = e.prepareVideo(ctx, j)
	var errs []error
	errs = append(errs, err)
	if images != nil {
		o := <-images
		prep.Images = o.Result
		errs = append(errs, o.Err)
	}
	if subs != nil {
		o := <-subs
		prep.Subtitles = o.Result
		errs = append(errs, o.Err)
	}
	for _, err := range errs {
		if err != nil {
			return prep, err // the first in step order: video, images, subtitles
		}
	}
	return prep, nil
}

// hasSubtitles reports whether the asset has subtitle files to check or convert.
func hasSubtitles(a domain.Asset) bool {
	for _, m := range a.Media {
		if ext := strings.ToLower(path.Ext(m.URI)); ext == ".srt" || ext == ".vtt" {
			return true
		}
	}
	return false
}

// pace waits for the partner's next free transfer start when its profile
// limits starts per minute. The booking is a step and the wait a durable
// sleep, so a restart neither books twice nor forgets the wait.
func (e *Engine) pace(ctx dbos.Context, deliveryID string, p domain.Partner) error {
	if p.StartsPerMinute <= 0 {
		return nil
	}
	interval := time.Minute / time.Duration(p.StartsPerMinute)
	slot, err := runStep(ctx, e.steps, deliveryID, "pace", func(c context.Context) (time.Time, error) {
		return e.steps.store.ReserveStart(c, p.ID, interval)
	})
	if err != nil {
		return err
	}
	if wait := time.Until(slot); wait > 0 {
		_, err = dbos.Sleep(ctx, wait)
	}
	return err
}

// fail records a delivery's failure as a step and returns the cause. A
// context that ended (shutdown) is not a failure: the workflow stays
// pending and resumes at the next start.
func (e *Engine) fail(ctx dbos.Context, deliveryID, wfID string, gen uint64, cause error) error {
	if ctx.Err() != nil {
		return cause
	}
	if errors.Is(cause, errFenced) {
		e.log.Warn("stopped: another process runs this delivery now", "delivery_id", deliveryID, "workflow_id", wfID)
		return cause
	}
	reason := rootCause(cause).Error()
	d, err := runStep(ctx, e.steps, deliveryID, "fail", func(c context.Context) (domain.Delivery, error) {
		if err := e.steps.owns(c, wfID, gen); err != nil {
			return domain.Delivery{}, err // not ours to fail (or the database cannot say)
		}
		return e.steps.store.UpdateDelivery(c, deliveryID, func(d *domain.Delivery) error {
			if d.Status.Terminal() {
				return nil
			}
			d.LastError = reason
			return d.Transition(domain.StatusFailed, e.steps.store.Now())
		})
	}, append(dbStepRetries, dbos.WithStepRetryPredicate(func(err error) bool { return !errors.Is(err, errFenced) }))...)
	e.log.Warn("delivery failed", "delivery_id", deliveryID, "partner", d.PartnerID, "error", reason,
		"trace_id", telemetry.TraceID(d.TraceParent))
	return errors.Join(cause, err)
}

// rootCause strips the engine's own wrapping ("step exceeded its retries")
// so the recorded reason is the transport's words.
func rootCause(err error) error {
	var de *dbos.Error
	for errors.As(err, &de) {
		inner := errors.Unwrap(de)
		if inner == nil {
			break
		}
		err = inner
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		if errs := j.Unwrap(); len(errs) > 0 {
			err = errs[len(errs)-1] // DBOS joins every attempt's error; the last is the reason
		}
	}
	return err
}

// steps holds what the workflow's side effects need.
type steps struct {
	store      *store.Store
	workDir    string
	log        *slog.Logger
	policy     *transport.Policy
	telemetry  *telemetry.Telemetry
	transcoder TranscoderConfig
	// executorID, lease and runs fence off runs this process no longer owns.
	executorID string
	lease      Lease
	runs       runs
	// blob keeps copies of working files for other processes (nil: none).
	blob *workfiles.Store
}

// start loads the delivery, its asset snapshot and partner profile, and
// moves the delivery to packaging.
func (s *steps) start(ctx context.Context, id string) (job, error) {
	d, err := s.store.UpdateDelivery(ctx, id, func(d *domain.Delivery) error {
		return d.Transition(domain.StatusPackaging, s.store.Now())
	})
	if err != nil {
		return job{}, err
	}
	a, err := s.store.GetAssetVersion(ctx, d.AssetID, d.AssetVersion)
	if err != nil {
		return job{}, err
	}
	// The profile version chosen at intake, so a rollout or a later change
	// does not alter a delivery already under way.
	v, err := s.store.GetPartnerVersion(ctx, d.PartnerID, d.PartnerVersion)
	if err != nil {
		return job{}, fmt.Errorf("partner of delivery %s: %w", id, err)
	}
	return job{Delivery: d, Asset: a, Partner: v.Partner}, nil
}

// retryable says whether a failed transfer is tried again: never for a
// permanent error; with a deadline, until the deadline has passed.
func retryable(j job, now func() time.Time) func(error) bool {
	return func(err error) bool {
		if transport.IsPermanent(err) || errors.Is(err, errFenced) {
			return false
		}
		if dl := time.Duration(j.Partner.Retry.Deadline); dl > 0 && j.Delivery.StartedAt != nil {
			return now().Before(j.Delivery.StartedAt.Add(dl))
		}
		return true
	}
}
