package packaging

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/imaging"
	"github.com/syndicate-media/syndicate/internal/subtitle"
)

// PrepareImages makes the derivatives the profile's package.images asks
// for, from the asset's images, into workDir/images/. They replace the
// asset's own images in the package: a partner with image specs gets
// exactly those.
func PrepareImages(workDir string, a domain.Asset, p domain.Partner) ([]File, error) {
	var out []File
	for i, spec := range p.Package.Images {
		spec = spec.WithDefaults()
		var src *domain.Image
		for j := range a.Images {
			if a.Images[j].Role == spec.Source {
				src = &a.Images[j]
				break
			}
		}
		if src == nil {
			return nil, fmt.Errorf("%w: package.images[%d] (%s): the asset has no image with role %q", ErrInvalidPackage, i, spec.Role, spec.Source)
		}
		path, err := LocalPath(src.URI)
		if err != nil {
			return nil, err
		}
		in, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("%w: image %s: %w", ErrInvalidPackage, src.Role, err)
		}
		var buf bytes.Buffer
		info, err := imaging.Derive(in, spec, src.Focal, &buf)
		in.Close()
		if err != nil {
			if errors.Is(err, imaging.ErrInvalid) {
				err = fmt.Errorf("%w: package.images[%d]: %w", ErrInvalidPackage, i, err)
			}
			return nil, err
		}
		name := spec.FileName()
		dst := filepath.Join(workDir, "images", spec.Role+filepath.Ext(name))
		if err := writeFile(dst, buf.Bytes()); err != nil {
			return nil, err
		}
		f := File{Role: spec.Role, Kind: "image", Size: info.Bytes, Source: dst, Width: info.Width, Height: info.Height}
		if spec.Name != "" {
			f.Name = spec.Name // named by the spec; else by the image naming template
		}
		out = append(out, f)
	}
	return out, nil
}

// PrepareSubtitles checks every subtitle file of the asset and, when the
// profile asks for a subtitle format, converts those in the other one into
// workDir/subtitles/. It returns the converted files only.
func PrepareSubtitles(workDir string, a domain.Asset, p domain.Partner) ([]File, error) {
	want := subtitle.Format(p.Package.Subtitles)
	var out []File
	for _, m := range a.Media {
		if kindOf(m.URI) != "subtitle" {
			continue
		}
		path, err := LocalPath(m.URI)
		if err != nil {
			return nil, err
		}
		in, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("%w: subtitle %s: %w", ErrInvalidPackage, m.Role, err)
		}
		var buf bytes.Buffer
		from, err := subtitle.Convert(&buf, in, want)
		in.Close()
		if err != nil {
			if errors.Is(err, subtitle.ErrInvalid) {
				err = fmt.Errorf("%w: subtitle %s (%s): %w", ErrInvalidPackage, m.Role, filepath.Base(path), err)
			}
			return nil, err
		}
		if want == "" || from == want {
			continue // goes as it is
		}
		dst := filepath.Join(workDir, "subtitles", m.Role+want.Ext())
		if err := writeFile(dst, buf.Bytes()); err != nil {
			return nil, err
		}
		out = append(out, File{Role: m.Role, Kind: "subtitle", Size: int64(buf.Len()), Source: dst})
	}
	return out, nil
}

// writeFile writes b to dst through a temporary name, so a crash never
// leaves a half-written derivative under the final name.
func writeFile(dst string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return fmt.Errorf("packaging: %w", err)
	}
	return os.Rename(tmp, dst)
}
