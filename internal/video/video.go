// Package video reads renditions with ffprobe, decides whether one matches
// a partner's video profile, and transcodes with ffmpeg when none does.
// ffmpeg and ffprobe are Debian's, run as subprocesses; a transcode is
// cancelled with its context, reports progress parsed from ffmpeg's
// -progress output, and is checked with ffprobe before it is accepted.
package video

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// ErrInvalid marks a video no retry can fix: unreadable, no video stream,
// or a transcode whose output does not match the profile.
var ErrInvalid = errors.New("invalid video")

// ErrNoFFmpeg is returned when ffmpeg or ffprobe is not installed.
var ErrNoFFmpeg = errors.New("ffmpeg/ffprobe not found on PATH (Debian: apt-get install ffmpeg)")

// Info is what ffprobe says about a file's first video stream.
type Info struct {
	Codec       string        `json:"codec"`
	Width       int           `json:"width"`
	Height      int           `json:"height"`
	BitRateKbps int           `json:"bitrate_kbps"`
	Container   string        `json:"container"` // ffprobe's format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
	Duration    time.Duration `json:"duration"`
}

// Probe runs ffprobe on path.
func Probe(ctx context.Context, path string) (Info, error) {
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		return Info{}, ErrNoFFmpeg
	}
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", "--", path)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return Info{}, ctx.Err()
		}
		return Info{}, fmt.Errorf("%w: %s: ffprobe: %s", ErrInvalid, path, lastLine(stderr.String(), err))
	}
	var doc struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			CodecName string `json:"codec_name"`
			Width     int    `json:"width"`
			Height    int    `json:"height"`
			BitRate   string `json:"bit_rate"`
		} `json:"streams"`
		Format struct {
			FormatName string `json:"format_name"`
			Duration   string `json:"duration"`
			BitRate    string `json:"bit_rate"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		return Info{}, fmt.Errorf("%w: %s: ffprobe output: %w", ErrInvalid, path, err)
	}
	info := Info{Container: doc.Format.FormatName}
	if d, err := strconv.ParseFloat(doc.Format.Duration, 64); err == nil {
		info.Duration = time.Duration(d * float64(time.Second))
	}
	for _, s := range doc.Streams {
		if s.CodecType != "video" || s.CodecName == "mjpeg" || s.CodecName == "png" { // cover art is a "video" stream too
			continue
		}
		info.Codec, info.Width, info.Height = s.CodecName, s.Width, s.Height
		br := s.BitRate
		if br == "" {
			br = doc.Format.BitRate // mkv keeps no per-stream rate
		}
		if b, err := strconv.ParseInt(br, 10, 64); err == nil {
			info.BitRateKbps = int((b + 999) / 1000)
		}
		return info, nil
	}
	return Info{}, fmt.Errorf("%w: %s has no video stream", ErrInvalid, path)
}

// Match returns nil when info satisfies spec (resolved), else why not.
func Match(info Info, spec domain.VideoSpec) error {
	var why []string
	if spec.Codec != "" && info.Codec != spec.Codec {
		why = append(why, fmt.Sprintf("codec %s, want %s", info.Codec, spec.Codec))
	}
	if spec.Width > 0 && (info.Width != spec.Width || info.Height != spec.Height) {
		why = append(why, fmt.Sprintf("size %dx%d, want %dx%d", info.Width, info.Height, spec.Width, spec.Height))
	}
	if spec.MaxBitrateKbps > 0 && info.BitRateKbps > spec.MaxBitrateKbps {
		why = append(why, fmt.Sprintf("bit rate %d kb/s, want at most %d", info.BitRateKbps, spec.MaxBitrateKbps))
	}
	if spec.Container != "" && !containerIs(info.Container, spec.Container) {
		why = append(why, fmt.Sprintf("container %s, want %s", info.Container, spec.Container))
	}
	if len(why) == 0 {
		return nil
	}
	return errors.New(strings.Join(why, "; "))
}

// containerIs reports whether an ffprobe format_name is the container c.
// ffprobe names mp4 and mov alike ("mov,mp4,..."), so the file extension
// decides between them where it matters (Transcode writes the right one).
func containerIs(formatName, c string) bool {
	switch c {
	case "mkv":
		return strings.Contains(formatName, "matroska")
	default:
		return strings.Contains(formatName, c)
	}
}

// Ext is the file extension of a container.
func Ext(container string) string {
	if container == "" {
		return ".mp4"
	}
	return "." + container
}

var encoders = map[string][]string{
	"h264": {"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"},
	"hevc": {"-c:v", "libx265", "-preset", "fast", "-pix_fmt", "yuv420p", "-tag:v", "hvc1", "-x265-params", "log-level=error"},
}

var muxers = map[string]string{"mp4": "mp4", "mov": "mov", "mkv": "matroska"}

// Progress receives how much of the source a transcode has encoded.
type Progress func(done, total time.Duration)

// Transcode encodes src into dst (resolved spec), writing dst.partial
// and renaming it when ffprobe agrees the output matches the spec. ctx
// cancels ffmpeg. It returns the output's Info.
func Transcode(ctx context.Context, src, dst string, spec domain.VideoSpec, progress Progress) (Info, error) {
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		return Info{}, ErrNoFFmpeg
	}
	in, err := Probe(ctx, src)
	if err != nil {
		return Info{}, err
	}
	enc, ok := encoders[spec.Codec]
	if !ok {
		return Info{}, fmt.Errorf("%w: no encoder for codec %q", ErrInvalid, spec.Codec)
	}
	args := []string{"-hide_banner", "-nostdin", "-y", "-i", src, "-map", "0:v:0", "-map", "0:a?"}
	args = append(args, enc...)
	if spec.Width > 0 {
		w, h := strconv.Itoa(spec.Width), strconv.Itoa(spec.Height)
		args = append(args, "-vf", "scale="+w+":"+h+":force_original_aspect_ratio=decrease,pad="+w+":"+h+":(ow-iw)/2:(oh-ih)/2,setsar=1")
	}
	if spec.MaxBitrateKbps > 0 {
		// Aim below the cap: the muxed stream's measured rate runs over the target.
		target := spec.MaxBitrateKbps * 85 / 100
		args = append(args, "-b:v", fmt.Sprintf("%dk", target), "-maxrate", fmt.Sprintf("%dk", target), "-bufsize", fmt.Sprintf("%dk", target))
	}
	args = append(args, "-c:a", "aac", "-b:a", "128k")
	if spec.Container == "mp4" || spec.Container == "mov" {
		args = append(args, "-movflags", "+faststart")
	}
	tmp := dst + ".partial"
	args = append(args, "-progress", "pipe:1", "-nostats", "-f", muxers[spec.Container], tmp)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr tailBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return Info{}, err
	}
	if err := cmd.Start(); err != nil {
		return Info{}, fmt.Errorf("video: start ffmpeg: %w", err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "out_time_us="); ok && progress != nil {
			if us, err := strconv.ParseInt(v, 10, 64); err == nil {
				progress(time.Duration(us)*time.Microsecond, in.Duration)
			}
		}
	}
	_, _ = io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		os.Remove(tmp)
		if ctx.Err() != nil {
			return Info{}, ctx.Err()
		}
		return Info{}, fmt.Errorf("%w: ffmpeg %s → %s %dx%d: %s", ErrInvalid, src, spec.Codec, spec.Width, spec.Height, lastLine(stderr.String(), err))
	}
	out, err := Probe(ctx, tmp)
	if err == nil {
		if why := Match(out, spec); why != nil {
			err = fmt.Errorf("%w: ffmpeg output does not match the profile: %w", ErrInvalid, why)
		}
	}
	if err != nil {
		os.Remove(tmp)
		return Info{}, err
	}
	if progress != nil {
		progress(in.Duration, in.Duration)
	}
	return out, os.Rename(tmp, dst)
}

// lastLine is the last non-empty line of a tool's stderr, or err.
func lastLine(s string, err error) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return l
	}
	return err.Error()
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }
