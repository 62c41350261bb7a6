package video_test

import "os/exec"

func runFFmpeg(args ...string) ([]byte, error) {
	return exec.Command("ffmpeg", append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}, args...)...).CombinedOutput()
}
