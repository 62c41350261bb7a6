package ffmpegsvc_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/transcoder"
	"github.com/syndicate-media/syndicate/internal/transcoder/ffmpegsvc"
	"github.com/syndicate-media/syndicate/internal/video/videotest"
)

// receiver records callbacks; the first fail503 of them get a 503, as
// from a Syndicate that is restarting.
type receiver struct {
	mu      sync.Mutex
	got     []transcoder.Callback
	fail503 int
	final   chan transcoder.Callback
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var c transcoder.Callback
	json.NewDecoder(req.Body).Decode(&c)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail503 > 0 {
		r.fail503--
		http.Error(w, "restarting", http.StatusServiceUnavailable)
		return
	}
	r.got = append(r.got, c)
	if c.Final() {
		r.final <- c
	}
	w.WriteHeader(http.StatusAccepted)
}

func post(t *testing.T, url string, j transcoder.Job) int {
	t.Helper()
	b, _ := json.Marshal(j)
	resp, err := http.Post(url+"/jobs", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestService(t *testing.T) {
	dir := t.TempDir()
	master := videotest.Clip(t, dir, "master.mp4", 2, 1280, 720, "libx264", 2000)
	svc := &ffmpegsvc.Service{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := httptest.NewServer(svc.Handler())
	defer srv.Close()
	defer svc.Close()
	rec := &receiver{fail503: 2, final: make(chan transcoder.Callback, 2)}
	cb := httptest.NewServer(rec)
	defer cb.Close()

	out := filepath.Join(dir, "out", "main.mp4")
	job := transcoder.Job{ID: "job-1", Source: transcoder.Source{Role: "main", URI: "file://" + master},
		Profile: domain.VideoSpec{Preset: "h264-480p"}.Resolved(), OutputURI: "file://" + out,
		CallbackURL: cb.URL + "/v1/callbacks/tok", HeartbeatInterval: domain.Duration(50 * time.Millisecond)}
	if code := post(t, srv.URL, job); code != http.StatusAccepted {
		t.Fatalf("job: %d", code)
	}
	if code := post(t, srv.URL, job); code != http.StatusConflict {
		t.Errorf("same job again: %d, want 409", code)
	}
	bad := job
	bad.ID, bad.Source.URI = "job-2", "https://example.com/x.mp4"
	if code := post(t, srv.URL, bad); code != http.StatusBadRequest {
		t.Errorf("remote source: %d, want 400", code)
	}
	final := <-rec.final
	body, _ := os.ReadFile(out)
	sum := sha256.Sum256(body)
	if final.Status != transcoder.StatusSucceeded || len(final.Outputs) != 1 || final.Outputs[0].SHA256 != hex.EncodeToString(sum[:]) ||
		final.Outputs[0].Size != int64(len(body)) {
		t.Fatalf("final callback %+v", final)
	}

	// It sent heartbeats while it worked (the first callbacks met a
	// Syndicate answering 503 and were retried).
	rec.mu.Lock()
	beats := 0
	for _, c := range rec.got {
		if c.Status == transcoder.StatusHeartbeat && c.Progress >= 0 && c.Progress <= 1 {
			beats++
		}
	}
	rec.mu.Unlock()
	if beats == 0 {
		t.Errorf("no heartbeat reached Syndicate during a transcode with a 50 ms heartbeat interval")
	}

	broken := filepath.Join(dir, "broken.mp4")
	os.WriteFile(broken, []byte("not a video"), 0o644)
	job.ID, job.Source.URI = "job-3", "file://"+broken
	if code := post(t, srv.URL, job); code != http.StatusAccepted {
		t.Fatalf("job: %d", code)
	}
	if final := <-rec.final; final.Status != transcoder.StatusFailed || !strings.Contains(final.Error, "broken.mp4") {
		t.Errorf("failed job's callback %+v", final)
	}
}
