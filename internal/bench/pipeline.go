package bench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
)

// ErrRequestsFailed is part of Pipeline's error when notification
// requests got no answer or an error status (other than across a
// --kill-after restart): nothing acknowledged was lost, but the server
// refused work it should have taken.
var ErrRequestsFailed = errors.New("notification requests failed")

// PipelineConfig is one `syndicate bench pipeline` run.
type PipelineConfig struct {
	// Assets × Partners deliveries are expected, one per pair.
	Assets, Partners int
	// Size of each asset's media file in bytes (each asset has its own
	// random file, so a misdelivered file shows in the sha256 check).
	Size int64
	// Batch is how many assets one POST /v1/notifications:batch names
	// (each entry names every partner; default 25).
	Batch int
	// Clients send single POST /v1/notifications for assets already
	// notified, for the whole run (default 32; 0 with NoSingles: none).
	Clients   int
	NoSingles bool
	// DatabaseURL is a PostgreSQL admin URL: the run gets a fresh database
	// there, dropped afterwards. Empty: SQLite in the temporary directory.
	DatabaseURL string
	// Workers is how many servers share the database (PostgreSQL only;
	// default 1). Notifications are spread over them.
	Workers int
	// Timeout bounds the whole run (default 10 min): on timeout the line
	// reports what was delivered and Pipeline returns an error.
	Timeout time.Duration
	// Self, if set, is the command line of this binary: the servers run as
	// child processes (`Self serve …`) instead of in this process.
	Self []string
	// KillAfter > 0 (with Self) SIGKILLs the first server once that many
	// deliveries are done and starts it again on the same data folder.
	KillAfter int
	// NoEngine skips the engine anchor (the second line).
	NoEngine bool
	// TempDir holds the data folders, media and partner folders.
	TempDir string
	Out     io.Writer
	// Log receives the in-process servers' warnings (default: discarded).
	Log *slog.Logger
}

// PipelineResult is what a run measured.
type PipelineResult struct {
	Expected, Delivered, Failed int
	// Lost counts acknowledged notifications without a row plus expected
	// deliveries missing (or wrong) at the partner.
	Lost int
	// Duplicates counts deliveries present at a partner more than once.
	Duplicates int
	Rate       float64 // delivered per second, first notification → last delivery finished
	Elapsed    time.Duration
	NotifyP99  time.Duration // over every notification request, batch and single
	MaxStall   time.Duration
	Acked      int // notifications acknowledged (batch entries and singles)
	Requests   int // notification requests sent
	Kills      int // servers SIGKILLed and restarted
	TimedOut   bool
	// EngineRate is the anchor's workflows/s (0 when skipped).
	EngineRate float64
	// Problems describes what the partner check found wrong, if anything.
	Problems []string
}

// Line is the run's report line.
func (r PipelineResult) Line() string {
	return fmt.Sprintf("pipeline: %.1f deliveries/s end to end (%d of %d delivered, failed %d), notify p99 %.0f ms, max stall %.0f ms, lost %d",
		r.Rate, r.Delivered, r.Expected, r.Failed, msf(r.NotifyP99), msf(r.MaxStall), r.Lost)
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (c *PipelineConfig) defaults() error {
	if c.Assets <= 0 {
		c.Assets = 1000
	}
	if c.Partners <= 0 {
		c.Partners = 4
	}
	if c.Partners > 32 {
		return fmt.Errorf("bench pipeline: --partners %d: want 1-32", c.Partners)
	}
	if c.Size < 0 || c.Size > 64<<20 {
		return fmt.Errorf("bench pipeline: --size %d: want at most 64MiB", c.Size)
	}
	if c.Batch <= 0 {
		c.Batch = 25
	}
	if c.Clients <= 0 && !c.NoSingles {
		c.Clients = 32
	}
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.Workers > 8 {
		return fmt.Errorf("bench pipeline: --workers %d: want 1-8", c.Workers)
	}
	if c.Workers > 1 && c.DatabaseURL == "" {
		return errors.New("bench pipeline: --workers above 1 needs --database postgres://… (one process per SQLite file)")
	}
	if c.KillAfter > 0 && len(c.Self) == 0 {
		return errors.New("bench pipeline: --kill-after needs the servers as child processes")
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Pipeline measures notification → delivered end to end: it starts real
// servers (the assembly `serve` uses), stores Assets assets and Partners
// local-folder partners, notifies every asset through the batch route
// while single notifications for assets already notified arrive from
// Clients connections, and waits for every delivery to finish. Then it
// checks that every acknowledged notification has its row and every
// delivery is at its partner exactly once (manifest and sha256 of each
// file), prints the pipeline line, and runs the engine anchor: DBOS alone
// with the same number of empty steps per workflow on a fresh database of
// the same kind, printed as the second line.
func Pipeline(ctx context.Context, cfg PipelineConfig) (PipelineResult, error) {
	res := PipelineResult{}
	if err := cfg.defaults(); err != nil {
		return res, err
	}
	res.Expected = cfg.Assets * cfg.Partners
	tmp, err := os.MkdirTemp(cfg.TempDir, "syndicate-bench-pipeline-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)
	runCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	res, runErr := pipelineRun(runCtx, ctx, cfg, tmp, res)
	fmt.Fprintln(cfg.Out, res.Line())
	// The anchor runs after a failed or timed-out pipeline too: the ratio
	// says how far the pipeline is from the engine's ceiling either way.
	if cfg.NoEngine || ctx.Err() != nil {
		return res, runErr
	}
	eng, err := Engine(ctx, EngineConfig{Workflows: res.Expected, Partners: cfg.Partners, DatabaseURL: cfg.DatabaseURL,
		TempDir: tmp, Timeout: cfg.Timeout})
	if err != nil {
		return res, errors.Join(runErr, fmt.Errorf("bench pipeline: engine anchor: %w", err))
	}
	res.EngineRate = eng
	fmt.Fprintf(cfg.Out, "engine: %.1f workflows/s (pipeline/engine %.2f)\n", eng, res.Rate/eng)
	return res, runErr
}

// pipelineRun is the measured part; ctx carries the run's timeout, parent
// is for the checks after it.
func pipelineRun(ctx, parent context.Context, cfg PipelineConfig, tmp string, res PipelineResult) (PipelineResult, error) {
	dbURL := cfg.DatabaseURL
	if dbURL != "" {
		fresh, drop, err := freshPostgres(ctx, dbURL)
		if err != nil {
			return res, err
		}
		defer drop()
		dbURL = fresh
	}
	token := "bench-" + randomHex(16)
	fleet, err := startFleet(ctx, cfg, tmp, dbURL, token)
	if err != nil {
		return res, err
	}
	defer fleet.close()
	db, err := openProbe(dbURL, filepath.Join(fleet.dataDir(0), "syndicate.db"))
	if err != nil {
		return res, err
	}
	defer db.Close()
	sums, err := seedPipeline(ctx, cfg, tmp, fleet.urls[0], token)
	if err != nil {
		return res, err
	}

	prefix := "pb-" + randomHex(6) + "-"
	ld := newPipeLoad(cfg, fleet.urls, token, prefix)
	progress := newSampler(db, res.Expected)
	start := time.Now()
	loadCtx, stopLoad := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(loadCtx)
	g.Go(func() error { return ld.batches(gctx) })
	for c := range cfg.Clients {
		if cfg.NoSingles {
			break
		}
		g.Go(func() error { ld.singles(gctx, c); return nil })
	}
	var kill func(ctx context.Context) error
	if cfg.KillAfter > 0 {
		kill = func(ctx context.Context) error {
			res.Kills++
			if err := fleet.killAndRestart(ctx, 0); err != nil {
				return err
			}
			cfg.Log.Warn("bench pipeline: SIGKILLed the server and started it again on the same data folder", "after_deliveries", cfg.KillAfter)
			return nil
		}
	}
	waitErr := progress.run(ctx, cfg.KillAfter, kill)
	stopLoad()
	loadErr := g.Wait()
	if errors.Is(waitErr, context.DeadlineExceeded) {
		res.TimedOut = true
	}

	// The checks run after the timeout too: the line reports what was done.
	cctx, ccancel := context.WithTimeout(parent, 2*time.Minute)
	defer ccancel()
	snap, err := progress.final(cctx)
	if err != nil {
		return res, err
	}
	res.Delivered, res.Failed = snap.delivered, snap.failed
	if !snap.lastFinished.IsZero() && snap.lastFinished.After(start) {
		res.Elapsed = snap.lastFinished.Sub(start)
		res.Rate = float64(res.Delivered) / res.Elapsed.Seconds()
	}
	st := ld.stats()
	res.Acked, res.Requests = len(st.acked), st.requests
	res.NotifyP99 = percentile(st.latencies, 0.99)
	res.MaxStall = max(st.maxWait, progress.maxStall)
	missingRows, err := missingNotifications(cctx, db, prefix, st.acked)
	if err != nil {
		return res, err
	}
	pc, err := checkPartners(cctx, db, filepath.Join(tmp, "partners"), cfg, sums, res.TimedOut)
	if err != nil {
		return res, err
	}
	res.Lost = missingRows + pc.missing
	res.Duplicates = pc.duplicates
	res.Problems = pc.problems
	if missingRows > 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("%d acknowledged notifications have no row", missingRows))
	}
	if res.TimedOut {
		return res, fmt.Errorf("bench pipeline: timed out after %s with %d of %d delivered", cfg.Timeout, res.Delivered, res.Expected)
	}
	var errs []error
	if waitErr != nil {
		errs = append(errs, waitErr)
	}
	if loadErr != nil && !errors.Is(loadErr, context.Canceled) {
		errs = append(errs, loadErr)
	}
	if st.errors > 0 && cfg.KillAfter == 0 {
		errs = append(errs, fmt.Errorf("%w: %d (first: %v)", ErrRequestsFailed, st.errors, st.firstErr))
	}
	if snap.total != res.Expected {
		errs = append(errs, fmt.Errorf("%d deliveries in the database, %d expected (one per asset and partner)", snap.total, res.Expected))
	}
	if res.Lost > 0 || res.Duplicates > 0 {
		errs = append(errs, fmt.Errorf("lost %d, duplicated %d at the partners: %v", res.Lost, res.Duplicates, res.Problems))
	}
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("bench pipeline: %w", err)
	}
	return res, nil
}

// seedPipeline writes each asset's random media file, and stores the
// partners and assets through the API. It returns each asset's sha256.
func seedPipeline(ctx context.Context, cfg PipelineConfig, tmp, base, token string) ([]string, error) {
	cl := client.New(base, token)
	for i := range cfg.Partners {
		id := partnerID(i)
		dir := filepath.Join(tmp, "partners", id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		doc := fmt.Sprintf("id: %s\nname: %s\nformat: json\nconcurrency: 8\ndestination:\n  url: file://%s\n  path: \"{delivery_id}\"\n", id, id, dir)
		if _, err := cl.PutPartner(ctx, id, []byte(doc), "application/yaml"); err != nil {
			return nil, fmt.Errorf("bench pipeline: partner %s: %w", id, err)
		}
	}
	media := filepath.Join(tmp, "media")
	if err := os.MkdirAll(media, 0o755); err != nil {
		return nil, err
	}
	sums := make([]string, cfg.Assets)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range cfg.Assets {
		g.Go(func() error {
			b := make([]byte, cfg.Size)
			_, _ = rand.Read(b)
			sum := sha256.Sum256(b)
			sums[i] = hex.EncodeToString(sum[:])
			p := filepath.Join(media, assetID(i)+".mp4")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				return err
			}
			a := domain.Asset{ID: assetID(i), Type: "clip", Title: "bench " + assetID(i), Media: []domain.MediaFile{{Role: "main", URI: p}}}
			if _, err := cl.PutAsset(gctx, a); err != nil {
				return fmt.Errorf("bench pipeline: asset %s: %w", a.ID, err)
			}
			return nil
		})
	}
	return sums, g.Wait()
}

func assetID(i int) string   { return fmt.Sprintf("pa%06d", i) }
func partnerID(i int) string { return fmt.Sprintf("bench-%d", i+1) }
