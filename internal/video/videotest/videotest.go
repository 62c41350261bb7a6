// Package videotest makes small real video files with ffmpeg for tests,
// and skips (or, in the full suite, fails) a test where ffmpeg is missing.
package videotest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Require skips t when ffmpeg/ffprobe are missing, or fails it in the
// full suite (SYNDICATE_FULL=1), which installs them.
func Require(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("SYNDICATE_FULL") == "1" {
				t.Fatalf("%s not installed (scripts/test-all.sh installs Debian's ffmpeg)", bin)
			}
			t.Skipf("%s not installed; the full suite runs this test", bin)
		}
	}
}

// Clip writes a test-pattern clip with a tone: seconds long, w×h, codec
// (libx264 or libx265) at kbps, in dir/name; the container follows the
// name's extension.
func Clip(t testing.TB, dir, name string, seconds, w, h int, encoder string, kbps int) string {
	t.Helper()
	Require(t)
	p := filepath.Join(dir, name)
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=25:duration=%d", w, h, seconds),
		"-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:duration=%d", seconds),
		"-c:v", encoder, "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-b:v", fmt.Sprintf("%dk", kbps),
		"-c:a", "aac", "-shortest", p}
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg test clip: %v\n%s", err, out)
	}
	return p
}
