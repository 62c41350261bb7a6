package video_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/video"
	"github.com/syndicate-media/syndicate/internal/video/videotest"
)

func TestProbeAndMatch(t *testing.T) {
	dir := t.TempDir()
	clip := videotest.Clip(t, dir, "hd.mp4", 1, 1280, 720, "libx264", 1500)
	info, err := video.Probe(context.Background(), clip)
	if err != nil {
		t.Fatal(err)
	}
	if info.Codec != "h264" || info.Width != 1280 || info.Height != 720 || !strings.Contains(info.Container, "mp4") ||
		info.Duration < 900*time.Millisecond || info.BitRateKbps <= 0 {
		t.Fatalf("probe = %+v", info)
	}
	spec := domain.VideoSpec{Preset: "h264-720p"}.Resolved()
	if err := video.Match(info, spec); err != nil {
		t.Errorf("720p h264 clip does not match h264-720p: %v", err)
	}
	for _, c := range []struct {
		spec domain.VideoSpec
		want string
	}{
		{domain.VideoSpec{Preset: "h264-1080p"}, "size 1280x720, want 1920x1080"},
		{domain.VideoSpec{Preset: "hevc-1080p"}, "codec h264, want hevc"},
		{domain.VideoSpec{Preset: "h264-720p", MaxBitrateKbps: 100}, "want at most 100"},
		{domain.VideoSpec{Preset: "h264-720p", Container: "mkv"}, "want mkv"},
	} {
		err := video.Match(info, c.spec.Resolved())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Match(%+v) = %v, want %q", c.spec, err, c.want)
		}
	}
}

func TestTranscode(t *testing.T) {
	dir := t.TempDir()
	src := videotest.Clip(t, dir, "src.mkv", 2, 1280, 720, "libx264", 3000)
	spec := domain.VideoSpec{Preset: "h264-480p", MaxBitrateKbps: 800}.Resolved()
	dst := filepath.Join(dir, "out.mp4")
	var last, total time.Duration
	calls := 0
	info, err := video.Transcode(context.Background(), src, dst, spec, func(done, all time.Duration) { last, total = done, all; calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if info.Width != 854 || info.Height != 480 || info.Codec != "h264" || info.BitRateKbps > 800 {
		t.Errorf("output %+v", info)
	}
	if calls == 0 || last != total || total < time.Second {
		t.Errorf("progress: %d calls, last %v of %v", calls, last, total)
	}
	if _, err := os.Stat(dst + ".partial"); !os.IsNotExist(err) {
		t.Errorf("temporary output left behind: %v", err)
	}
}

func TestTranscodeCancel(t *testing.T) {
	dir := t.TempDir()
	src := videotest.Clip(t, dir, "src.mp4", 20, 640, 360, "libx264", 800)
	ctx, cancel := context.WithCancel(context.Background())
	dst := filepath.Join(dir, "out.mp4")
	_, err := video.Transcode(ctx, src, dst, domain.VideoSpec{Preset: "hevc-2160p"}.Resolved(), func(done, _ time.Duration) {
		if done > 0 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled transcode returned %v", err)
	}
	for _, p := range []string{dst, dst + ".partial"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind after cancel", p)
		}
	}
}

func TestUnreadable(t *testing.T) {
	videotest.Require(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.mp4")
	os.WriteFile(bad, []byte("this is not a video at all"), 0o644)
	good := videotest.Clip(t, dir, "good.mp4", 1, 320, 240, "libx264", 300)
	body, _ := os.ReadFile(good)
	truncated := filepath.Join(dir, "truncated.mp4")
	os.WriteFile(truncated, body[:len(body)/3], 0o644)
	audio := filepath.Join(dir, "audio.m4a")
	// An audio-only file has no video stream.
	if out, err := runFFmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", audio); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	for _, p := range []string{bad, truncated, audio, filepath.Join(dir, "missing.mp4")} {
		_, err := video.Transcode(context.Background(), p, filepath.Join(dir, "o.mp4"), domain.VideoSpec{Preset: "h264-480p"}.Resolved(), nil)
		if !errors.Is(err, video.ErrInvalid) || !strings.Contains(err.Error(), filepath.Base(p)) {
			t.Errorf("%s: error %v, want ErrInvalid naming the file", filepath.Base(p), err)
		}
	}
}
