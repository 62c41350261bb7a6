package packaging_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/packaging"
)

func TestNamingTemplates(t *testing.T) {
	src := t.TempDir()
	a := domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot", Version: 3,
		Media: []domain.MediaFile{
			{Role: "main", URI: write(t, src, "m.MOV", 10)},
			{Role: "sub-fr", URI: writeSRT(t, src, "fr.srt")},
		},
		Images: []domain.Image{{Role: "cover", URI: write(t, src, "c.jpg", 4), Width: 640, Height: 360}},
	}
	p := partner
	p.Destination.URL = "file:///tmp/x"
	p.Package.Naming = map[string]string{
		"media":    "{asset_id}/{type}_{role}_v{version}{ext}",
		"subtitle": "subs/{asset_id}.{role}{ext}",
		"image":    "art/{asset_id}_{role}_{width}x{height}{ext}",
		"metadata": "{asset_id}{ext}",
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("profile: %v", err)
	}
	plan, err := packaging.Build(t.TempDir(), a, p)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range plan.Files {
		names = append(names, f.Name)
	}
	want := "ep-1/episode_main_v3.mov subs/ep-1.sub-fr.srt art/ep-1_cover_640x360.jpg ep-1.json"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("names %s\nwant  %s", got, want)
	}
}

func TestNamingRefused(t *testing.T) {
	// Validation refuses what a profile can say wrong...
	for tmpl, want := range map[string]string{
		"/abs/{role}{ext}":   "relative",
		"../{role}{ext}":     "relative",
		"{asset}{ext}":       "unknown placeholder {asset}",
		"{role}{ext}{extra}": "unknown placeholder {extra}",
		"  ":                 "empty",
	} {
		p := partner
		p.Destination.URL = "file:///tmp/x"
		p.Package.Naming = map[string]string{"media": tmpl}
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("naming %q: %v, want %q", tmpl, err, want)
		}
	}
	// ...and packaging refuses names that only go wrong with the data:
	// two roles named alike, a sidecar colliding with a file.
	src := t.TempDir()
	a := domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot",
		Media: []domain.MediaFile{{Role: "main", URI: write(t, src, "m.mp4", 10)}, {Role: "trailer", URI: write(t, src, "t.mp4", 5)}}}
	p := partner
	p.Package.Naming = map[string]string{"media": "{asset_id}{ext}"}
	if _, err := packaging.Build(t.TempDir(), a, p); !errors.Is(err, packaging.ErrInvalidPackage) || !strings.Contains(err.Error(), `two files named "ep-1.mp4"`) {
		t.Errorf("two roles, one name: %v", err)
	}
	a.Media = a.Media[:1]
	a.Images = []domain.Image{{Role: "cover", URI: write(t, src, "c.md5", 3)}}
	p.Package.Naming = map[string]string{"media": "{asset_id}{ext}", "image": "{asset_id}.mp4{ext}"}
	p.Package.MD5Sidecars = true // ep-1.mp4's sidecar would be the image's name
	if _, err := packaging.Build(t.TempDir(), a, p); !errors.Is(err, packaging.ErrInvalidPackage) || !strings.Contains(err.Error(), `two files named "ep-1.mp4.md5"`) {
		t.Errorf("sidecar collision: %v", err)
	}
}

func writeSRT(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(srt), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
