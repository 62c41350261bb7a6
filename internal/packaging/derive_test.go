package packaging_test

import (
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/packaging"
)

// writePNG writes a w×h image to dir/name.
func writePNG(t *testing.T, dir, name string, w, h int) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	return p
}

const srt = "1\r\n00:00:01,000 --> 00:00:02,500\r\nHello <i>there</i>\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\nBye\r\n"

func TestDerivativesAndSubtitles(t *testing.T) {
	src := t.TempDir()
	a := domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot",
		Media: []domain.MediaFile{{Role: "main", URI: write(t, src, "m.mp4", 10)}, {Role: "sub-en", URI: writeSRT(t, src, "en.srt")}},
		Images: []domain.Image{{Role: "cover", URI: writePNG(t, src, "cover.png", 800, 600), Width: 800, Height: 600},
			{Role: "poster", URI: writePNG(t, src, "poster.png", 400, 600)}},
	}
	p := partner
	p.Package.Subtitles = "webvtt"
	p.Package.Images = []domain.ImageSpec{
		{Role: "cover_small", Source: "cover", Width: 320, Height: 180},
		{Role: "thumb", Source: "poster", Width: 100, Height: 100, Format: "png", Name: "art/thumb.png"},
	}
	work := t.TempDir()
	plan, err := packaging.Build(work, a, p)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]packaging.File{}
	for _, f := range plan.Files {
		byName[f.Name] = f
	}
	if _, ok := byName["images/cover.png"]; ok {
		t.Errorf("the asset's own image went too: %+v", plan.Files)
	}
	for name, size := range map[string][2]int{"images/cover_small.jpg": {320, 180}, "art/thumb.png": {100, 100}} {
		f, ok := byName[name]
		if !ok {
			t.Fatalf("no %s in %+v", name, plan.Files)
		}
		r, _ := os.Open(f.Source)
		cfg, format, err := image.DecodeConfig(r)
		r.Close()
		if err != nil || cfg.Width != size[0] || cfg.Height != size[1] || f.Width != size[0] {
			t.Errorf("%s: %s %dx%d, %v", name, format, cfg.Width, cfg.Height, err)
		}
	}
	vtt, ok := byName["sub-en.vtt"]
	if !ok {
		t.Fatalf("no converted subtitle in %+v", plan.Files)
	}
	body, _ := os.ReadFile(vtt.Source)
	if !strings.HasPrefix(string(body), "WEBVTT") || !strings.Contains(string(body), "00:00:01.000 --> 00:00:02.500") {
		t.Errorf("converted subtitle:\n%s", body)
	}
}

func TestDerivativesRefused(t *testing.T) {
	src := t.TempDir()
	good := writePNG(t, src, "cover.png", 200, 100)
	corrupt := write(t, src, "broken.png", 50)
	b, _ := os.ReadFile(good)
	truncated := filepath.Join(src, "truncated.png")
	os.WriteFile(truncated, b[:len(b)/2], 0o644)
	media := []domain.MediaFile{{Role: "main", URI: write(t, src, "m.mp4", 10)}}
	for _, c := range []struct {
		name  string
		image string
		spec  domain.ImageSpec
		subs  string
		want  string
	}{
		{"no such source", good, domain.ImageSpec{Role: "x", Source: "poster", Width: 10, Height: 10}, "", `no image with role "poster"`},
		{"corrupt", corrupt, domain.ImageSpec{Role: "cover", Width: 10, Height: 10}, "", "cover"},
		{"truncated", truncated, domain.ImageSpec{Role: "cover", Width: 10, Height: 10}, "", "cover"},
		{"upscale", good, domain.ImageSpec{Role: "cover", Width: 1000, Height: 500}, "", "max_upscale"},
		{"bad subtitle", good, domain.ImageSpec{Role: "cover", Width: 10, Height: 10}, "this is not a cue\n", "line"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot", Media: media,
				Images: []domain.Image{{Role: "cover", URI: c.image}}}
			if c.subs != "" {
				a.Media = append(a.Media, domain.MediaFile{Role: "sub", URI: filepath.Join(src, "bad.srt")})
				os.WriteFile(filepath.Join(src, "bad.srt"), []byte(c.subs), 0o644)
			}
			p := partner
			p.Package.Images = []domain.ImageSpec{c.spec}
			_, err := packaging.Build(t.TempDir(), a, p)
			if !errors.Is(err, packaging.ErrInvalidPackage) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want ErrInvalidPackage mentioning %q", err, c.want)
			}
		})
	}
}
