package demo_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/syndicate-media/syndicate/internal/all"
	"github.com/syndicate-media/syndicate/internal/demo"
)

// TestDemo runs the demo as a user would (smaller files) and checks that it
// reports success only with every package at both partners.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := demo.Run(context.Background(), demo.Options{Dir: dir, Assets: 2, MediaBytes: 1 << 20, Out: &out}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	want := 4
	if _, err := exec.LookPath("ffmpeg"); err == nil {
		want = 5 // and the video through the external transcoder, across a restart
		if !strings.Contains(out.String(), "transcoder.submit → transcoder.callback") {
			t.Errorf("the video's trace does not show the transcoder hop:\n%s", out.String())
		}
	}
	if n := strings.Count(out.String(), "sha256 ok"); n != want {
		t.Fatalf("want %d verified deliveries, got %d:\n%s", want, n, out.String())
	}
	if n := strings.Count(out.String(), "processed ("); n != 4 {
		t.Fatalf("want 4 deliveries acknowledged by their partner, got %d:\n%s", n, out.String())
	}
	for _, p := range []string{"streamco-sftp/incoming/ep-101/manifest.json", "archive-local/ep-102/main.mp4", "archive-local/ep-102/images/poster.png"} {
		if _, err := os.Stat(filepath.Join(dir, "partners", p)); err != nil {
			t.Errorf("missing at partner: %v", err)
		}
	}
}
