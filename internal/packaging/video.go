package packaging

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/video"
)

// VideoChoice is what PickVideo found: a rendition that matches the
// profile (Match), or the source to transcode and why none matched.
type VideoChoice struct {
	Match  *File  `json:"match,omitempty"`
	Source File   `json:"source"`
	Why    string `json:"why,omitempty"`
}

// PickVideo reads the asset's renditions of the spec's role with ffprobe
// and returns the first that matches the (resolved) spec; otherwise the
// rendition named exactly by the role, to transcode from.
func PickVideo(ctx context.Context, a domain.Asset, spec domain.VideoSpec) (VideoChoice, error) {
	var ch VideoChoice
	var why []string
	found := false
	for _, m := range a.Media {
		if !IsVideoCandidate(m.Role, spec.Role) || kindOf(m.URI) != "media" {
			continue
		}
		f, err := sourceFile(m.URI, spec.Role, "media", m.Size)
		if err != nil {
			return ch, err
		}
		f.SHA256 = m.SHA256
		info, err := video.Probe(ctx, f.Source)
		if err != nil {
			return ch, fmt.Errorf("%w: media %s: %w", ErrInvalidPackage, m.Role, err)
		}
		if err := video.Match(info, spec); err == nil {
			ch.Match = &f
			return ch, nil
		} else {
			why = append(why, fmt.Sprintf("%s: %v", m.Role, err))
		}
		if m.Role == spec.Role {
			ch.Source, found = f, true
		}
	}
	if !found {
		return ch, fmt.Errorf("%w: package.video.role: the asset has no media with role %q to transcode from", ErrInvalidPackage, spec.Role)
	}
	ch.Why = strings.Join(why, "; ")
	return ch, nil
}

// VideoOutput is where a transcode of the spec writes in workDir.
func VideoOutput(workDir string, spec domain.VideoSpec) string {
	return filepath.Join(workDir, "video", spec.Role+video.Ext(spec.Container))
}

// PrepareVideo returns the package's video file: a matching rendition, or
// one transcoded with ffmpeg into workDir/video/. An existing transcode
// there (a step run again after a crash) is reused when it matches.
func PrepareVideo(ctx context.Context, workDir string, a domain.Asset, spec domain.VideoSpec, progress video.Progress) (File, error) {
	ch, err := PickVideo(ctx, a, spec)
	if err != nil {
		return File{}, err
	}
	if ch.Match != nil {
		return *ch.Match, nil
	}
	out := VideoOutput(workDir, spec)
	if f, err := CheckVideo(ctx, out, spec); err == nil {
		return f, nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o750); err != nil {
		return File{}, fmt.Errorf("packaging: %w", err)
	}
	if _, err := video.Transcode(ctx, ch.Source.Source, out, spec, progress); err != nil {
		if errors.Is(err, video.ErrInvalid) {
			err = fmt.Errorf("%w: %w", ErrInvalidPackage, err)
		}
		return File{}, err
	}
	return CheckVideo(ctx, out, spec)
}

// CheckVideo probes a transcoded file and returns it as the package's
// video when it matches spec.
func CheckVideo(ctx context.Context, path string, spec domain.VideoSpec) (File, error) {
	f, err := sourceFile(path, spec.Role, "media", 0)
	if err != nil {
		return File{}, err
	}
	info, err := video.Probe(ctx, f.Source)
	if err != nil {
		return File{}, fmt.Errorf("%w: %w", ErrInvalidPackage, err)
	}
	if err := video.Match(info, spec); err != nil {
		return File{}, fmt.Errorf("%w: transcoded video %s does not match the profile: %w", ErrInvalidPackage, path, err)
	}
	return f, nil
}
