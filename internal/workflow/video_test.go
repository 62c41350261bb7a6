package workflow_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/catalog"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/packaging"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
	"github.com/syndicate-media/syndicate/internal/transcoder"
	"github.com/syndicate-media/syndicate/internal/video"
	"github.com/syndicate-media/syndicate/internal/video/videotest"
	"github.com/syndicate-media/syndicate/internal/workflow"
)

// videoAsset stores an asset whose media are the given role → file pairs.
func videoAsset(t *testing.T, st *store.Store, id string, media map[string]string) {
	t.Helper()
	a := domain.Asset{ID: id, Type: "episode", Title: "Pilot"}
	for role, p := range media {
		a.Media = append(a.Media, domain.MediaFile{Role: role, URI: "file://" + p})
	}
	if _, _, err := st.PutAsset(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}

func notify(t *testing.T, in *intake.Service, asset, partner string) string {
	t.Helper()
	resp, err := in.Notify(context.Background(), intake.Request{AssetID: asset, Partners: intake.Partners{IDs: []string{partner}}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Decisions[0].DeliveryID == "" {
		t.Fatalf("no delivery: %+v", resp.Decisions)
	}
	return resp.Decisions[0].DeliveryID
}

// TestVideoTranscodeSidecarsMarker: a partner asking for 480p H.264 gets
// a transcode of the 720p master, every file with its .md5 sidecar, and
// the completion marker last.
func TestVideoTranscodeSidecarsMarker(t *testing.T) {
	videotest.Require(t)
	e := start(t, storetest.SQLite(t))
	clip := videotest.Clip(t, t.TempDir(), "master.mp4", 2, 1280, 720, "libx264", 2000)
	videoAsset(t, e.store, "ep-1", map[string]string{"main": clip})
	dest := t.TempDir()
	e.partner(t, "acme", "file://"+dest, func(p *domain.Partner) {
		p.Package.Video = &domain.VideoSpec{Preset: "h264-480p"}
		p.Package.MD5Sidecars = true
		p.Package.CompletionMarker = "{asset_id}.done"
	})
	d := waitTerminal(t, e.store, notify(t, e.intake, "ep-1", "acme"))
	if d.Status != domain.StatusDelivered {
		t.Fatalf("delivery %s: %s", d.Status, d.LastError)
	}
	dir := filepath.Join(dest, "ep-1")
	checkPackage(t, dir)
	info, err := video.Probe(context.Background(), filepath.Join(dir, "main.mp4"))
	if err != nil || info.Width != 854 || info.Height != 480 || info.Codec != "h264" {
		t.Fatalf("delivered video %+v, %v", info, err)
	}
	for _, name := range []string{"main.mp4", "metadata.json"} {
		body, _ := os.ReadFile(filepath.Join(dir, name))
		side, err := os.ReadFile(filepath.Join(dir, name+".md5"))
		sum := md5.Sum(body)
		if want := hex.EncodeToString(sum[:]) + "  " + name + "\n"; err != nil || string(side) != want {
			t.Errorf("%s.md5 = %q, %v; want %q", name, side, err, want)
		}
	}
	// The marker is the newest file: written after the manifest.
	marker, err := os.Stat(filepath.Join(dir, "ep-1.done"))
	if err != nil || marker.Size() != 0 {
		t.Fatalf("completion marker: %v", err)
	}
	manifest, _ := os.Stat(filepath.Join(dir, "manifest.json"))
	if marker.ModTime().Before(manifest.ModTime()) {
		t.Errorf("marker written before the manifest")
	}
}

// TestVideoMatchingRendition: when a rendition already matches the
// profile it goes as it is, untouched, and the others stay home.
func TestVideoMatchingRendition(t *testing.T) {
	videotest.Require(t)
	e := start(t, storetest.SQLite(t))
	src := t.TempDir()
	master := videotest.Clip(t, src, "master.mp4", 1, 1280, 720, "libx264", 2000)
	small := videotest.Clip(t, src, "small.mp4", 1, 854, 480, "libx264", 600)
	videoAsset(t, e.store, "ep-2", map[string]string{"main": master, "main-480": small})
	dest := t.TempDir()
	e.partner(t, "acme", "file://"+dest, func(p *domain.Partner) { p.Package.Video = &domain.VideoSpec{Preset: "h264-480p"} })
	d := waitTerminal(t, e.store, notify(t, e.intake, "ep-2", "acme"))
	if d.Status != domain.StatusDelivered || d.Files != 3 {
		t.Fatalf("delivery %s, %d files: %s", d.Status, d.Files, d.LastError)
	}
	got, _ := os.ReadFile(filepath.Join(dest, "ep-2", "main.mp4"))
	want, _ := os.ReadFile(small)
	if !bytes.Equal(got, want) {
		t.Errorf("delivered main.mp4 is not the matching 480p rendition")
	}
}

// TestVideoUnreadable: a video ffprobe cannot read fails the delivery
// with a reason naming it; nothing reaches the partner.
func TestVideoUnreadable(t *testing.T) {
	videotest.Require(t)
	e := start(t, storetest.SQLite(t))
	bad := filepath.Join(t.TempDir(), "broken.mp4")
	os.WriteFile(bad, []byte("not a video"), 0o644)
	videoAsset(t, e.store, "ep-3", map[string]string{"main": bad})
	dest := t.TempDir()
	e.partner(t, "acme", "file://"+dest, func(p *domain.Partner) { p.Package.Video = &domain.VideoSpec{Preset: "h264-480p"} })
	other := t.TempDir()
	e.partner(t, "plain", "file://"+other, nil) // takes the file as it is
	d := waitTerminal(t, e.store, notify(t, e.intake, "ep-3", "acme"))
	if d.Status != domain.StatusFailed || !strings.Contains(d.LastError, "broken.mp4") || d.Attempts != 0 {
		t.Fatalf("delivery %s after %d attempts: %q", d.Status, d.Attempts, d.LastError)
	}
	// Another partner of the same asset is not affected.
	if d := waitTerminal(t, e.store, notify(t, e.intake, "ep-3", "plain")); d.Status != domain.StatusDelivered {
		t.Fatalf("the other partner's delivery %s: %s", d.Status, d.LastError)
	}
	if entries, _ := os.ReadDir(dest); len(entries) != 0 {
		t.Errorf("something reached the partner: %v", entries)
	}
}

// fakeService is a real HTTP transcoding service for the tests: it takes
// jobs and lets the test decide when and what it calls back.
type fakeService struct {
	srv  *httptest.Server
	mu   sync.Mutex
	jobs []transcoder.Job
	got  chan transcoder.Job
}

func newService(t *testing.T) *fakeService {
	f := &fakeService{got: make(chan transcoder.Job, 10)}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var j transcoder.Job
		if err := json.NewDecoder(r.Body).Decode(&j); err != nil || j.CallbackURL == "" {
			http.Error(w, "bad job", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.jobs = append(f.jobs, j)
		f.mu.Unlock()
		f.got <- j
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// callback POSTs a callback as the service would; it returns the status.
func callback(t *testing.T, url string, c transcoder.Callback) int {
	t.Helper()
	b, _ := json.Marshal(c)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// callbackAPI is the callback endpoint as internal/api serves it, reduced
// to the engine call, so the workflow is tested here on its own.
func callbackAPI(t *testing.T, eng func() *workflow.Engine) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := strings.TrimPrefix(r.URL.Path, "/v1/callbacks/")
		var c transcoder.Callback
		if err := json.NewDecoder(r.Body).Decode(&c); err != nil || c.Validate() != nil {
			http.Error(w, "bad callback", http.StatusBadRequest)
			return
		}
		_, err := eng().Callback(r.Context(), token, c)
		switch {
		case errors.Is(err, transcoder.ErrCallbackUnknown):
			w.WriteHeader(http.StatusNotFound)
		case errors.Is(err, transcoder.ErrCallbackUsed):
			w.WriteHeader(http.StatusConflict)
		case errors.Is(err, transcoder.ErrCallbackExpired):
			w.WriteHeader(http.StatusGone)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestExternalTranscoderAcrossRestart: the job is submitted, the process
// stops while the service works, a new process recovers the waiting
// workflow, and the service's heartbeat and answer, sent to the new
// process, complete the delivery. Duplicate, forged and late callbacks
// are refused.
func TestExternalTranscoderAcrossRestart(t *testing.T) {
	videotest.Require(t)
	cfg := storetest.SQLite(t)
	st := storetest.Open(t, cfg)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := newService(t)
	var mu sync.Mutex // guards eng and st
	var eng *workflow.Engine
	current := func() *workflow.Engine { mu.Lock(); defer mu.Unlock(); return eng }
	api := callbackAPI(t, current)
	newEngine := func() *workflow.Engine {
		mu.Lock()
		if eng != nil { // the engine closed the last one
			st = storetest.Open(t, cfg)
		}
		mu.Unlock()
		e, err := workflow.New(context.Background(), st, workflow.Config{WorkDir: filepath.Join(cfg.DataDir, "work"), Logger: log,
			Transcoder: workflow.TranscoderConfig{URL: svc.srv.URL, CallbackBase: api.URL}})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		eng = e
		mu.Unlock()
		return e
	}
	first := newEngine()
	in := &intake.Service{Store: st, Catalog: catalog.Builtin{Store: st}, Engine: first}
	master := videotest.Clip(t, t.TempDir(), "master.mp4", 1, 1280, 720, "libx264", 2000)
	videoAsset(t, st, "ep-4", map[string]string{"main": master})
	dest := t.TempDir()
	p := domain.Partner{ID: "acme", Name: "Acme", Format: "json", Destination: domain.Destination{URL: "file://" + dest},
		Package: domain.Package{Video: &domain.VideoSpec{Preset: "h264-480p", Transcoder: "external",
			HeartbeatTimeout: domain.Duration(time.Minute)}}}
	if _, err := st.PutPartner(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	id := notify(t, in, "ep-4", "acme")
	job := <-svc.got
	if !strings.Contains(job.CallbackURL, "/v1/callbacks/") || job.Profile.Width != 854 || !strings.HasPrefix(job.Source.URI, "file://") {
		t.Fatalf("job = %+v", job)
	}
	// The process stops while the service works, once the submit step is
	// checkpointed (stopped before that, the job would be submitted again,
	// with the same id: the service dedupes it).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		steps, err := first.CompletedSteps(context.Background(), id, 0)
		if err == nil && slices.Contains(steps, "transcoder.submit") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("submit step not checkpointed: %v %v", steps, err)
		}
	}
	if err := first.Shutdown(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	second := newEngine()
	t.Cleanup(func() { _ = second.Shutdown(5 * time.Second) })
	if code := callback(t, job.CallbackURL, transcoder.Callback{Status: transcoder.StatusHeartbeat, Progress: 0.5}); code != http.StatusNoContent {
		t.Fatalf("heartbeat: %d", code)
	}
	out, _ := packaging.LocalPath(job.OutputURI)
	os.MkdirAll(filepath.Dir(out), 0o755)
	if _, err := video.Transcode(context.Background(), master, out, job.Profile, nil); err != nil {
		t.Fatal(err)
	}
	done := transcoder.Callback{Status: transcoder.StatusSucceeded, Outputs: []transcoder.Output{{URI: job.OutputURI}}}
	if code := callback(t, job.CallbackURL, done); code != http.StatusNoContent {
		t.Fatalf("final callback: %d", code)
	}
	mu.Lock()
	st2 := st
	mu.Unlock()
	d := waitTerminal(t, st2, id)
	if d.Status != domain.StatusDelivered {
		t.Fatalf("delivery %s: %s", d.Status, d.LastError)
	}
	info, err := video.Probe(context.Background(), filepath.Join(dest, "ep-4", "main.mp4"))
	if err != nil || info.Height != 480 {
		t.Fatalf("delivered %+v, %v", info, err)
	}
	if code := callback(t, job.CallbackURL, done); code != http.StatusConflict {
		t.Errorf("duplicate callback: %d, want 409", code)
	}
	svc.mu.Lock()
	if len(svc.jobs) != 1 {
		t.Errorf("the restarted workflow submitted the job again: %d jobs", len(svc.jobs))
	}
	svc.mu.Unlock()
	forged := api.URL + "/v1/callbacks/" + strings.Repeat("A", 43)
	if code := callback(t, forged, done); code != http.StatusNotFound {
		t.Errorf("forged callback: %d, want 404", code)
	}
	if code := callback(t, api.URL+"/v1/callbacks/not-a-token", done); code != http.StatusNotFound {
		t.Errorf("malformed token: %d, want 404", code)
	}
}

// TestExternalTranscoderFailures: a service that goes silent fails the
// delivery after the heartbeat timeout, and its late answer is refused;
// a service that reports failure fails it with its reason; an
// unconfigured service fails it at once.
func TestExternalTranscoderFailures(t *testing.T) {
	videotest.Require(t)
	cfg := storetest.SQLite(t)
	st := storetest.Open(t, cfg)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := newService(t)
	var eng *workflow.Engine
	api := callbackAPI(t, func() *workflow.Engine { return eng })
	eng, err := workflow.New(context.Background(), st, workflow.Config{WorkDir: filepath.Join(cfg.DataDir, "work"), Logger: log,
		Transcoder: workflow.TranscoderConfig{URL: svc.srv.URL, CallbackBase: api.URL}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Shutdown(5 * time.Second) })
	in := &intake.Service{Store: st, Catalog: catalog.Builtin{Store: st}, Engine: eng}
	master := videotest.Clip(t, t.TempDir(), "master.mp4", 1, 640, 360, "libx264", 500)
	videoAsset(t, st, "ep-5", map[string]string{"main": master})
	put := func(id string, hb time.Duration) {
		p := domain.Partner{ID: id, Name: id, Format: "json", Destination: domain.Destination{URL: "file://" + t.TempDir()},
			Package: domain.Package{Video: &domain.VideoSpec{Preset: "h264-480p", Transcoder: "external", HeartbeatTimeout: domain.Duration(hb)}}}
		if _, err := st.PutPartner(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	put("silent", 2*time.Second)
	put("broken", time.Minute)

	silent := notify(t, in, "ep-5", "silent")
	job := <-svc.got
	d := waitTerminal(t, st, silent)
	if d.Status != domain.StatusFailed || !strings.Contains(d.LastError, "no heartbeat for 2s") {
		t.Fatalf("silent service: %s %q", d.Status, d.LastError)
	}
	late := transcoder.Callback{Status: transcoder.StatusSucceeded, Outputs: []transcoder.Output{{URI: job.OutputURI}}}
	if code := callback(t, job.CallbackURL, late); code != http.StatusGone {
		t.Errorf("late callback: %d, want 410", code)
	}

	broken := notify(t, in, "ep-5", "broken")
	job = <-svc.got
	if code := callback(t, job.CallbackURL, transcoder.Callback{Status: transcoder.StatusFailed, Error: "unsupported interlacing"}); code != http.StatusNoContent {
		t.Fatalf("failure callback: %d", code)
	}
	d = waitTerminal(t, st, broken)
	if d.Status != domain.StatusFailed || !strings.Contains(d.LastError, "unsupported interlacing") {
		t.Fatalf("failed job: %s %q", d.Status, d.LastError)
	}
}

// TestImagesAndSubtitlesInParallel: derivatives and a converted subtitle
// are made by parallel steps and delivered in place of the originals.
func TestImagesAndSubtitlesInParallel(t *testing.T) {
	e := start(t, storetest.SQLite(t))
	src := t.TempDir()
	cover := filepath.Join(src, "cover.png")
	img := image.NewRGBA(image.Rect(0, 0, 640, 360))
	f, _ := os.Create(cover)
	png.Encode(f, img)
	f.Close()
	sub := filepath.Join(src, "en.srt")
	os.WriteFile(sub, []byte("1\n00:00:01,000 --> 00:00:02,000\nHello\n"), 0o644)
	a := domain.Asset{ID: "ep-6", Type: "episode", Title: "Pilot",
		Media:  []domain.MediaFile{{Role: "main", URI: e.media}, {Role: "sub-en", URI: sub}},
		Images: []domain.Image{{Role: "cover", URI: cover}}}
	if _, _, err := e.store.PutAsset(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	e.partner(t, "acme", "file://"+dest, func(p *domain.Partner) {
		p.Package.Subtitles = "webvtt"
		p.Package.Images = []domain.ImageSpec{{Role: "thumb", Source: "cover", Width: 160, Height: 90}}
	})
	d := waitTerminal(t, e.store, notify(t, e.intake, "ep-6", "acme"))
	if d.Status != domain.StatusDelivered {
		t.Fatalf("delivery %s: %s", d.Status, d.LastError)
	}
	dir := filepath.Join(dest, "ep-6")
	checkPackage(t, dir)
	for _, name := range []string{"images/thumb.jpg", "sub-en.vtt", "main.mp4"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s not delivered: %v", name, err)
		}
	}
	for _, name := range []string{"images/cover.png", "sub-en.srt"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("%s delivered, but the partner's own version replaces it", name)
		}
	}
}
