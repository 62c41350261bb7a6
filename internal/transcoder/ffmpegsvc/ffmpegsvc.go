// Package ffmpegsvc is a reference external transcoding service: it takes
// Syndicate's transcode jobs over HTTP (POST /jobs), runs ffmpeg, sends
// heartbeats with progress while it works, and calls back with the result
// — the protocol a real transcoding team's service speaks (see package
// transcoder). The demo runs it to show a delivery that waits hours for an
// outside service; `syndicate transcoder serve` runs it on its own. A
// callback that cannot be delivered (Syndicate restarting) is retried
// with backoff; a 4xx answer (duplicate, late, unknown) ends it.
package ffmpegsvc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/syndicate-media/syndicate/internal/packaging"
	"github.com/syndicate-media/syndicate/internal/transcoder"
	"github.com/syndicate-media/syndicate/internal/video"
)

// Service runs jobs. The zero value works; Close waits for running jobs.
type Service struct {
	Log *slog.Logger
	// HTTP sends callbacks (default: 30 s timeout).
	HTTP *http.Client
	// CallbackAttempts bounds the tries of one callback (default 20,
	// backing off from 250 ms to 10 s: a few minutes of outage).
	CallbackAttempts int

	mu   sync.Mutex
	jobs map[string]bool
	wg   sync.WaitGroup
	ctx  context.Context
	stop context.CancelFunc
}

// Handler serves POST /jobs.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /jobs", s.post)
	return mux
}

func (s *Service) init() {
	if s.jobs == nil {
		s.jobs = map[string]bool{}
		s.ctx, s.stop = context.WithCancel(context.Background())
		if s.Log == nil {
			s.Log = slog.Default()
		}
		if s.HTTP == nil {
			s.HTTP = &http.Client{Timeout: 30 * time.Second}
		}
		if s.CallbackAttempts <= 0 {
			s.CallbackAttempts = 20
		}
	}
}

func (s *Service) post(w http.ResponseWriter, r *http.Request) {
	var j transcoder.Job
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	if err := dec.Decode(&j); err != nil {
		http.Error(w, "job: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := check(j); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.init()
	if s.jobs[j.ID] {
		s.mu.Unlock()
		http.Error(w, "job "+j.ID+" already taken", http.StatusConflict) // Syndicate counts this as accepted
		return
	}
	s.jobs[j.ID] = true
	s.wg.Add(1)
	ctx := s.ctx
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.run(ctx, j, r.Header.Get("traceparent"))
	}()
	w.WriteHeader(http.StatusAccepted)
}

// check refuses a job it cannot run: only local files, http(s) callbacks.
func check(j transcoder.Job) error {
	if j.ID == "" {
		return errors.New("id: required")
	}
	for field, u := range map[string]string{"source.uri": j.Source.URI, "output_uri": j.OutputURI} {
		if _, err := packaging.LocalPath(u); err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
	}
	cb, err := url.Parse(j.CallbackURL)
	if err != nil || (cb.Scheme != "http" && cb.Scheme != "https") || cb.Host == "" {
		return errors.New("callback_url: want an http(s) URL")
	}
	return nil
}

// run transcodes, with heartbeats, and calls back with the outcome.
func (s *Service) run(ctx context.Context, j transcoder.Job, traceparent string) {
	log := s.Log.With("job", j.ID)
	src, _ := packaging.LocalPath(j.Source.URI)
	dst, _ := packaging.LocalPath(j.OutputURI)
	var mu sync.Mutex
	progress := 0.0
	hb := time.Duration(j.HeartbeatInterval)
	if hb <= 0 {
		hb = 30 * time.Second
	}
	// Heartbeats: one at once (the job has started), then one per
	// interval. The final callback waits for the one in flight, so
	// Syndicate never hears a heartbeat after the outcome.
	done := make(chan struct{})
	beating := make(chan struct{})
	go func() {
		defer close(beating)
		t := time.NewTicker(hb)
		defer t.Stop()
		for {
			mu.Lock()
			p := progress
			mu.Unlock()
			s.callback(ctx, j, traceparent, transcoder.Callback{Status: transcoder.StatusHeartbeat, Progress: p}, 3)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	tctx := ctx
	if !j.Deadline.IsZero() {
		var cancel context.CancelFunc
		tctx, cancel = context.WithDeadline(ctx, j.Deadline)
		defer cancel()
	}
	var result transcoder.Callback
	err := os.MkdirAll(filepath.Dir(dst), 0o750)
	if err == nil {
		_, err = video.Transcode(tctx, src, dst, j.Profile, func(d, total time.Duration) {
			if total > 0 {
				mu.Lock()
				progress = min(float64(d)/float64(total), 1)
				mu.Unlock()
			}
		})
	}
	close(done)
	<-beating
	if err == nil {
		var out transcoder.Output
		out, err = describe(dst, j.OutputURI)
		result = transcoder.Callback{Status: transcoder.StatusSucceeded, Progress: 1, Outputs: []transcoder.Output{out}}
	}
	if err != nil {
		if ctx.Err() != nil {
			return // the service is stopping: Syndicate's deadline or heartbeat timeout will tell
		}
		result = transcoder.Callback{Status: transcoder.StatusFailed, Error: err.Error()}
	}
	log.Info("job finished", "status", result.Status, "error", result.Error)
	s.callback(ctx, j, traceparent, result, s.CallbackAttempts)
}

// describe returns the output's size and sha256.
func describe(path, uri string) (transcoder.Output, error) {
	f, err := os.Open(path)
	if err != nil {
		return transcoder.Output{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return transcoder.Output{URI: uri, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, err
}

// callback POSTs c to the job's callback URL, retrying transport errors
// and 5xx up to attempts times; 4xx ends it (the job is over for Syndicate).
func (s *Service) callback(ctx context.Context, j transcoder.Job, traceparent string, c transcoder.Callback, attempts int) {
	body, _ := json.Marshal(c)
	wait := 250 * time.Millisecond
	for i := 1; i <= attempts; i++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.CallbackURL, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		if traceparent != "" {
			req.Header.Set("traceparent", traceparent)
		}
		resp, err := s.HTTP.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				if resp.StatusCode >= 300 {
					s.Log.Warn("callback refused", "job", j.ID, "status", c.Status, "http_status", resp.StatusCode)
				}
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(wait*2, 10*time.Second)
	}
	s.Log.Warn("callback not delivered", "job", j.ID, "status", c.Status, "attempts", attempts)
}

// Close stops running jobs and waits for them.
func (s *Service) Close() {
	s.mu.Lock()
	s.init()
	s.stop()
	s.mu.Unlock()
	s.wg.Wait()
}
