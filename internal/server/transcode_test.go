package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/packaging"
	"github.com/syndicate-media/syndicate/internal/server"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
	"github.com/syndicate-media/syndicate/internal/telemetry"
	"github.com/syndicate-media/syndicate/internal/transcoder"
	"github.com/syndicate-media/syndicate/internal/video"
	"github.com/syndicate-media/syndicate/internal/video/videotest"
)

const transcodeToken = "transcode-test-token-0123456789"

// TestTranscoderCallbackTrace: a delivery whose video an external
// transcoder makes, with the Syndicate process restarted while the
// transcoder works. The transcoder, a real HTTP service, gets the job
// with the delivery's traceparent, calls back through the real API
// (heartbeat, then the result) to the restarted process, and the
// delivery completes; its trace is one trace from the caller's request
// through submit, both callbacks and the transfer, and no callback token
// appears in any span.
func TestTranscoderCallbackTrace(t *testing.T) {
	videotest.Require(t)
	cfg := storetest.SQLite(t)
	jobs := make(chan transcoder.Job, 4)
	jobHeaders := make(chan http.Header, 4)
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var j transcoder.Job
		if err := json.NewDecoder(r.Body).Decode(&j); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		jobs <- j
		jobHeaders <- r.Header.Clone()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer svc.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0") // one port for both processes: the job's callback URL names it
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	startServer := func() *server.Server {
		srv, err := server.Start(context.Background(), server.Config{DataDir: cfg.DataDir, Addr: addr, Token: transcodeToken,
			AllowPrivateDestinations: true, TranscoderURL: svc.URL, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := startServer()
	c := client.New(srv.URL, transcodeToken)
	ctx := context.Background()
	dest := t.TempDir()
	master := videotest.Clip(t, t.TempDir(), "master.mp4", 1, 1280, 720, "libx264", 2000)
	p := domain.Partner{ID: "ott", Name: "OTT", Format: "json", Destination: domain.Destination{URL: "file://" + dest},
		Package: domain.Package{Video: &domain.VideoSpec{Preset: "h264-480p", Transcoder: "external"}}}
	body, _ := json.Marshal(p)
	if _, err := c.PutPartner(ctx, p.ID, body, "application/json"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutAsset(ctx, domain.Asset{ID: "ep-1", Type: "episode", Title: "T", Media: []domain.MediaFile{{Role: "main", URI: master}}}); err != nil {
		t.Fatal(err)
	}
	const callerTrace = "0af7651916cd43dd8448eb211c80319c"
	var resp intake.Response
	if err := c.DoHeaders(ctx, "POST", "/v1/notifications?wait=true", map[string]string{"traceparent": "00-" + callerTrace + "-b7ad6b7169203331-01"},
		map[string]any{"asset_id": "ep-1", "partners": []string{"ott"}}, &resp); err != nil {
		t.Fatal(err)
	}
	id := resp.Decisions[0].DeliveryID
	job := <-jobs
	if tp := (<-jobHeaders).Get("traceparent"); telemetry.TraceID(tp) != callerTrace {
		t.Errorf("job request traceparent %q is not in the caller's trace", tp)
	}
	token := job.CallbackURL[strings.LastIndex(job.CallbackURL, "/")+1:]
	if !strings.HasPrefix(job.CallbackURL, srv.URL+"/v1/callbacks/") || !transcoder.ValidToken(token) {
		t.Fatalf("callback URL %q", job.CallbackURL)
	}

	// Syndicate restarts while the transcoder works.
	if err := srv.Close(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	srv = startServer()
	defer srv.Close(5 * time.Second)

	post := func(cb transcoder.Callback) int {
		b, _ := json.Marshal(cb)
		req, _ := http.NewRequest("POST", job.CallbackURL, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(transcoder.Callback{Status: transcoder.StatusHeartbeat, Progress: 0.3}); code != http.StatusAccepted {
		t.Fatalf("heartbeat: %d", code)
	}
	if code := post(transcoder.Callback{Status: "done"}); code != http.StatusBadRequest {
		t.Errorf("invalid callback body: %d, want 400", code)
	}
	out, _ := packaging.LocalPath(job.OutputURI)
	os.MkdirAll(filepath.Dir(out), 0o755)
	if _, err := video.Transcode(ctx, master, out, job.Profile, nil); err != nil {
		t.Fatal(err)
	}
	if code := post(transcoder.Callback{Status: transcoder.StatusSucceeded, Outputs: []transcoder.Output{{URI: job.OutputURI}}}); code != http.StatusAccepted {
		t.Fatalf("result: %d", code)
	}
	var d domain.Delivery
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if d, err = c.Delivery(ctx, id); err == nil && d.Status.Terminal() {
			break
		}
	}
	if d.Status != domain.StatusDelivered {
		t.Fatalf("delivery %s: %s", d.Status, d.LastError)
	}
	if code := post(transcoder.Callback{Status: transcoder.StatusSucceeded, Outputs: []transcoder.Output{{URI: job.OutputURI}}}); code != http.StatusConflict {
		t.Errorf("duplicate result: %d, want 409", code)
	}

	if err := srv.Telemetry.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	tr := getTrace(t, c, id)
	byName := spansByName(tr)
	for _, name := range []string{"POST /v1/notifications", "decide", "start", "package.video", "transcoder.submit", "package", "transfer", "finish"} {
		if len(byName[name]) == 0 {
			t.Errorf("no %q span in the trace:\n%s", name, dump(tr))
		}
	}
	// Heartbeat, result, and the refused duplicate (an error span: the
	// trace shows what the transcoder tried).
	if cbs := byName["transcoder.callback"]; len(cbs) != 3 || cbs[0].Status == "error" || cbs[1].Status == "error" || cbs[2].Status != "error" {
		t.Errorf("transcoder.callback spans: want heartbeat and result ok, duplicate error:\n%s", dump(tr))
	}
	for _, sp := range tr.Spans {
		if sp.TraceID != callerTrace {
			t.Errorf("span %s in trace %s, want the caller's %s", sp.Name, sp.TraceID, callerTrace)
		}
	}
	spans := allSpans(t, srv.Store)
	if !strings.Contains(spans, "transcoder.callback") {
		t.Fatal("the span dump does not hold the callback spans")
	}
	if strings.Contains(spans, token) || strings.Contains(spans, transcodeToken) {
		t.Error("a token appears in syn_spans")
	}
	if info, err := video.Probe(ctx, filepath.Join(dest, "ep-1", "main.mp4")); err != nil || info.Height != 480 {
		t.Errorf("delivered video %+v, %v", info, err)
	}
}
