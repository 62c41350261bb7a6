package packaging_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/domain"
	_ "github.com/syndicate-media/syndicate/internal/format/json" // registers "json"
	"github.com/syndicate-media/syndicate/internal/packaging"
)

// write creates a file of n bytes under dir and returns its path.
func write(t *testing.T, dir, name string, n int) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(strings.Repeat("x", n)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var partner = domain.Partner{ID: "acme", Name: "Acme", Format: "json"}

const sum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestBuild(t *testing.T) {
	src := t.TempDir()
	media := write(t, src, "Master Final.MP4", 1000)
	cover := write(t, src, "art/cover.png", 200)
	poster := write(t, src, "art/poster.PNG", 300)
	a := domain.Asset{
		ID: "ep-1", Type: "episode", Title: "Pilot", Metadata: map[string]any{"season": 1.0},
		Media: []domain.MediaFile{{Role: "main", URI: "file://" + filepath.ToSlash(media), Size: 1000, SHA256: sum}},
		Images: []domain.Image{
			{Role: "cover", URI: cover},
			{Role: "poster", URI: "file://localhost" + filepath.ToSlash(poster)},
		},
	}
	work := filepath.Join(t.TempDir(), "work", "d-1") // created by Build
	plan, err := packaging.Build(work, a, partner)
	if err != nil {
		t.Fatal(err)
	}
	metaPath := filepath.Join(work, "metadata.json")
	want := []packaging.File{
		{Name: "main.mp4", Role: "main", Kind: "media", Size: 1000, SHA256: sum, Source: media},
		{Name: "images/cover.png", Role: "cover", Kind: "image", Size: 200, Source: cover},
		{Name: "images/poster.png", Role: "poster", Kind: "image", Size: 300, Source: poster},
		{Name: "metadata.json", Role: "metadata", Kind: "metadata", Source: metaPath}, // Size checked below
	}
	if len(plan.Files) != len(want) {
		t.Fatalf("plan has %d files, want %d: %+v", len(plan.Files), len(want), plan.Files)
	}
	for i, w := range want {
		got := plan.Files[i]
		if i == len(want)-1 {
			w.Size = got.Size
		}
		if got != w {
			t.Errorf("file %d = %+v\nwant %+v", i, got, w)
		}
	}

	doc, err := os.ReadFile(metaPath)
	if err != nil {
		t.Fatalf("metadata not written to the work dir: %v", err)
	}
	if meta := plan.Files[3]; meta.Size != int64(len(doc)) || meta.Size == 0 {
		t.Errorf("metadata size %d, file has %d bytes", meta.Size, len(doc))
	}
	var got struct {
		ID       string         `json:"id"`
		Type     string         `json:"type"`
		Title    string         `json:"title"`
		Metadata map[string]any `json:"metadata"`
		Files    []struct {
			Name string `json:"name"`
			Role string `json:"role"`
			Size int64  `json:"size"`
		} `json:"files"`
	}
	if err := json.Unmarshal(doc, &got); err != nil {
		t.Fatalf("metadata.json: %v\n%s", err, doc)
	}
	if got.ID != "ep-1" || got.Type != "episode" || got.Title != "Pilot" || got.Metadata["season"] != 1.0 {
		t.Errorf("metadata.json describes %+v", got)
	}
	// It lists the other files (not itself, not the manifest).
	if len(got.Files) != 3 {
		t.Fatalf("metadata.json lists %d files, want 3:\n%s", len(got.Files), doc)
	}
	for i, f := range got.Files {
		if w := want[i]; f.Name != w.Name || f.Role != w.Role || f.Size != w.Size {
			t.Errorf("metadata.json file %d = %+v, want %s %s %d", i, f, w.Name, w.Role, w.Size)
		}
	}
}

func TestBuildRefuses(t *testing.T) {
	src := t.TempDir()
	media := write(t, src, "main.mp4", 10)
	sidecar := write(t, src, "extra.json", 5)
	other := write(t, src, "trailer.mp4", 7)
	asset := func(m ...domain.MediaFile) domain.Asset {
		return domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot", Media: m}
	}
	cases := []struct {
		name     string
		asset    domain.Asset
		format   string
		want     string // in the error text
		notExist bool   // also wraps fs.ErrNotExist
	}{
		{name: "missing media", asset: asset(domain.MediaFile{Role: "main", URI: filepath.Join(src, "gone.mp4")}),
			want: "gone.mp4", notExist: true},
		{name: "relative path", asset: asset(domain.MediaFile{Role: "main", URI: "media/x.mp4"}),
			want: "absolute path"},
		{name: "directory", asset: asset(domain.MediaFile{Role: "main", URI: src}),
			want: "not a regular file"},
		{name: "size mismatch", asset: asset(domain.MediaFile{Role: "main", URI: media, Size: 11}),
			want: "size 10, catalog says 11"},
		{name: "unknown format", asset: asset(domain.MediaFile{Role: "main", URI: media}), format: "adi99",
			want: `"adi99"`},
		{name: "remote file url", asset: asset(domain.MediaFile{Role: "main", URI: "file://otherhost/x"}),
			want: "not a local file URL"},
		{name: "missing image", asset: domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot",
			Media:  []domain.MediaFile{{Role: "main", URI: media}},
			Images: []domain.Image{{Role: "cover", URI: filepath.Join(src, "cover.png")}}},
			want: "cover.png", notExist: true},
		// Distinct roles, one name: a media role "metadata" with a .json
		// file is named like the rendered metadata...
		{name: "collides with metadata", asset: asset(
			domain.MediaFile{Role: "main", URI: media}, domain.MediaFile{Role: "metadata", URI: sidecar}),
			want: `two files named "metadata.json"`},
		// ...and role "manifest" like the manifest delivered last.
		{name: "collides with manifest", asset: asset(
			domain.MediaFile{Role: "main", URI: media}, domain.MediaFile{Role: "manifest", URI: sidecar}),
			want: `two files named "manifest.json"`},
		// Build does not validate the asset; a repeated role still must not
		// make one file overwrite the other.
		{name: "repeated role", asset: asset(
			domain.MediaFile{Role: "main", URI: media}, domain.MediaFile{Role: "main", URI: other}),
			want: `two files named "main.mp4"`},
		// A media file named "images" (no extension) would be the folder
		// of the artwork too.
		{name: "file and folder", asset: domain.Asset{ID: "ep-1", Type: "episode", Title: "Pilot",
			Media:  []domain.MediaFile{{Role: "main", URI: media}, {Role: "images", URI: write(t, src, "noext", 3)}},
			Images: []domain.Image{{Role: "cover", URI: media}}},
			want: `"images" is both a file and the folder of "images/cover.mp4"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := partner
			if c.format != "" {
				p.Format = c.format
			}
			plan, err := packaging.Build(t.TempDir(), c.asset, p)
			if err == nil {
				t.Fatalf("Build succeeded: %+v", plan)
			}
			if !errors.Is(err, packaging.ErrInvalidPackage) {
				t.Errorf("error %q does not wrap ErrInvalidPackage", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %s", err, c.want)
			}
			if c.notExist && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %q does not wrap fs.ErrNotExist", err)
			}
			if len(plan.Files) != 0 {
				t.Errorf("failed Build returned files: %+v", plan.Files)
			}
		})
	}
}

func TestLocalPath(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"file:///abs/media/x.mp4", "/abs/media/x.mp4"},
		{"/abs/media/x.mp4", "/abs/media/x.mp4"},
		{"file://localhost/abs/x.mp4", "/abs/x.mp4"},
		{"file:///abs/a%20b.mp4", "/abs/a b.mp4"}, // URLs are unescaped
		{"/abs/../media//x.mp4", "/media/x.mp4"},  // and cleaned
	} {
		got, err := packaging.LocalPath(c.in)
		if err != nil || got != c.want {
			t.Errorf("LocalPath(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"file://otherhost/x", "media/x.mp4", "", "file:relative/x", "http://host/x.mp4"} {
		if got, err := packaging.LocalPath(in); !errors.Is(err, packaging.ErrInvalidPackage) {
			t.Errorf("LocalPath(%q) = %q, %v; want ErrInvalidPackage", in, got, err)
		}
	}
}
