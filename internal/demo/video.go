package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/server"
	"github.com/syndicate-media/syndicate/internal/telemetry"
	"github.com/syndicate-media/syndicate/internal/transcoder/ffmpegsvc"
)

// transcoderService is the reference external transcoder, in-process.
type transcoderService struct {
	svc *ffmpegsvc.Service
	srv *http.Server
	url string
}

// startTranscoder starts the reference transcoding service when ffmpeg is
// installed; nil (and the demo skips its video part) when not.
func startTranscoder(log *slog.Logger) (*transcoderService, error) {
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, nil
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &transcoderService{svc: &ffmpegsvc.Service{Log: log}, url: "http://" + ln.Addr().String() + "/jobs"}
	t.srv = &http.Server{Handler: t.svc.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go t.srv.Serve(ln)
	return t, nil
}

func (t *transcoderService) close() {
	if t != nil {
		t.srv.Close()
		t.svc.Close()
	}
}

// videoDelivery delivers one real video to "ott", whose profile asks for
// 480p H.264 made by the external transcoder, and restarts the server
// while the transcoder works: the workflow's wait for the callback is
// durable, the transcoder retries its callbacks until the new process
// answers, and the delivery's trace stays one trace. restart replaces
// the running server with a new process on the same data and address.
func videoDelivery(ctx context.Context, o Options, c *client.Client, srv func() *server.Server, restart func() error) (domain.Delivery, domain.Partner, error) {
	dir := filepath.Join(o.Dir, "catalog")
	clip := filepath.Join(dir, "film-1.mp4")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return domain.Delivery{}, domain.Partner{}, err
	}
	gen := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=8", "-f", "lavfi", "-i", "sine=frequency=440:duration=8",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", clip)
	if out, err := gen.CombinedOutput(); err != nil {
		return domain.Delivery{}, domain.Partner{}, fmt.Errorf("making the demo video: %v: %s", err, out)
	}
	p := domain.Partner{ID: "ott", Name: "OTT (480p via the external transcoder)", Format: "json",
		Destination: domain.Destination{URL: "file://" + filepath.Join(o.Dir, "partners", "ott-local")},
		Package: domain.Package{Video: &domain.VideoSpec{Preset: "h264-480p", Transcoder: "external",
			HeartbeatTimeout: domain.Duration(2 * time.Minute)}, MD5Sidecars: true, CompletionMarker: "{asset_id}.done"}}
	body, _ := json.Marshal(p)
	if _, err := c.PutPartner(ctx, p.ID, body, "application/json"); err != nil {
		return domain.Delivery{}, p, fmt.Errorf("partner ott: %w", err)
	}
	a := domain.Asset{ID: "film-1", Type: "movie", Title: "Test Card: The Movie", Media: []domain.MediaFile{{Role: "main", URI: clip}}}
	if _, err := c.PutAsset(ctx, a); err != nil {
		return domain.Delivery{}, p, err
	}
	resp, err := c.Notify(ctx, intake.Request{AssetID: a.ID, Partners: intake.Partners{IDs: []string{p.ID}}, IdempotencyKey: "demo-film-1"})
	if err != nil || len(resp.Decisions) != 1 || resp.Decisions[0].DeliveryID == "" {
		return domain.Delivery{}, p, fmt.Errorf("notify film-1: %v %+v", err, resp.Decisions)
	}
	id := resp.Decisions[0].DeliveryID
	fmt.Fprintf(o.Out, "\nVideo     film-1 (720p master) → ott, which wants 480p H.264 from the external transcoder\n")
	// Restart once the job is with the transcoder (its submit recorded).
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		steps, err := srv().Engine.CompletedSteps(ctx, id, 0)
		if err == nil && slices.Contains(steps, "transcoder.submit") {
			break
		}
		if time.Now().After(deadline) {
			return domain.Delivery{}, p, fmt.Errorf("the transcode job was not submitted within a minute: %v", err)
		}
	}
	fmt.Fprintln(o.Out, "          job submitted; restarting the server while the transcoder works…")
	if err := restart(); err != nil {
		return domain.Delivery{}, p, err
	}
	fmt.Fprintln(o.Out, "          server restarted; the delivery waits durably for the transcoder's callback")
	ds, err := watch(ctx, c, []string{id}, io.Discard)
	if err != nil {
		return domain.Delivery{}, p, err
	}
	d := ds[0]
	if d.Status != domain.StatusDelivered {
		return d, p, nil
	}
	if err := srv().Telemetry.ForceFlush(ctx); err != nil {
		return d, p, err
	}
	var t telemetry.Trace
	if err := c.Do(ctx, "GET", "/v1/deliveries/"+d.ID+"/trace", "", nil, &t); err != nil {
		return d, p, err
	}
	var steps []string
	seen := map[string]int{}
	for _, sp := range t.Spans {
		if sp.Depth <= 2 && !strings.HasPrefix(sp.Name, "transport.") {
			if seen[sp.Name]++; seen[sp.Name] == 1 {
				steps = append(steps, sp.Name)
			}
		}
	}
	for i, n := range steps {
		if seen[n] > 1 {
			steps[i] = fmt.Sprintf("%s ×%d", n, seen[n])
		}
	}
	fmt.Fprintf(o.Out, "          delivered: trace %s, %d spans across the restart:\n            %s\n",
		t.TraceID, len(t.Spans), strings.Join(steps, " → "))
	fmt.Fprintf(o.Out, "          (the waterfall: rerun with --keep, then go run ./cmd/syndicate trace %s)\n", d.ID)
	return d, p, nil
}
