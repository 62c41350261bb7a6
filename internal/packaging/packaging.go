// Package packaging turns an asset snapshot and a partner profile into a
// package plan: which files go to the partner, under which names, read from
// where. Media and images are read from their source; metadata is rendered
// in the partner's format into the delivery's work folder. Checksums are
// computed later, while the files stream to the partner, so each byte is
// read once (twice for a format that prints md5s: see Build).
package packaging

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/format"
	"github.com/syndicate-media/syndicate/internal/transport"
)

// ManifestName is the file delivered last; its arrival marks the package
// complete.
const ManifestName = "manifest.json"

// Plan is a package ready to send. It is a workflow step's output, so it
// holds only plain data.
type Plan struct {
	Files []File `json:"files"`
}

// File is one file to send: its manifest entry (without checksum yet) and
// the local path it is read from.
type File struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"` // expected, when the catalog declared it
	// MD5 is set when packaging read the file already (a metadata format
	// that prints md5s), so the upload need not hash it again.
	MD5    string `json:"md5,omitempty"`
	Source string `json:"source"`
	// Kind is media, image, subtitle or metadata: it picks the naming
	// template.
	Kind string `json:"kind,omitempty"`
	// Width and Height are an image's pixel size, when known.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
}

// ErrInvalidPackage marks problems no retry can fix: a missing source
// file, a size that does not match the catalog, an unknown format.
var ErrInvalidPackage = errors.New("invalid package")

// Prepared holds the files earlier packaging steps made for this partner
// (see Build for the order).
type Prepared struct {
	// Video replaces the renditions of the profile's video role.
	Video *File `json:"video,omitempty"`
	// Images are the profile's image derivatives; with any, they replace
	// the asset's images.
	Images []File `json:"images,omitempty"`
	// Subtitles are converted subtitle files; each replaces the asset's
	// file of its role.
	Subtitles []File `json:"subtitles,omitempty"`
}

// Build prepares and assembles the package for asset a to partner p in
// one call, as `syndicate package` and the benchmarks do: the video is
// chosen or transcoded with the built-in ffmpeg (also for a partner
// whose profile names the external transcoder: a preview does not wait
// for a service), then Assemble. A delivery's workflow runs the same
// preparation as separate, parallel, checkpointed steps.
func Build(workDir string, a domain.Asset, p domain.Partner) (Plan, error) {
	var prep Prepared
	if v := p.Package.Video; v != nil {
		spec := v.Resolved()
		spec.Transcoder = "ffmpeg"
		f, err := PrepareVideo(context.Background(), workDir, a, spec, nil)
		if err != nil {
			return Plan{}, err
		}
		prep.Video = &f
	}
	var err error
	if prep.Images, err = PrepareImages(workDir, a, p); err != nil {
		return Plan{}, err
	}
	if prep.Subtitles, err = PrepareSubtitles(workDir, a, p); err != nil {
		return Plan{}, err
	}
	return Assemble(workDir, a, p, prep)
}

// Assemble plans the package for asset a to partner p from the asset's
// files and the prepared ones, names every file (the profile's naming
// templates), and renders the metadata into workDir (created if missing).
// When the partner's format prints md5s (format.ChecksumNeeder), it reads
// each file once to compute its md5 and sha256; the sha256 becomes the
// file's expected checksum, so the transfer fails rather than send bytes
// other than those the metadata describes.
func Assemble(workDir string, a domain.Asset, p domain.Partner, prep Prepared) (Plan, error) {
	var plan Plan
	video := p.Package.Video
	for _, m := range a.Media {
		if video != nil && IsVideoCandidate(m.Role, video.Resolved().Role) {
			continue
		}
		if i := slices.IndexFunc(prep.Subtitles, func(f File) bool { return f.Role == m.Role }); i >= 0 {
			plan.Files = append(plan.Files, prep.Subtitles[i])
			continue
		}
		f, err := sourceFile(m.URI, m.Role, kindOf(m.URI), m.Size)
		if err != nil {
			return Plan{}, err
		}
		f.SHA256 = m.SHA256
		plan.Files = append(plan.Files, f)
	}
	if prep.Video != nil {
		plan.Files = append([]File{*prep.Video}, plan.Files...)
	}
	nMedia := len(plan.Files)
	plan.Files = append(plan.Files, prep.Images...)
	for _, im := range a.Images {
		if len(p.Package.Images) > 0 {
			break // the partner's derivatives replace the asset's images
		}
		f, err := sourceFile(im.URI, im.Role, "image", 0)
		if err != nil {
			return Plan{}, err
		}
		f.Width, f.Height = im.Width, im.Height
		plan.Files = append(plan.Files, f)
	}
	for i := range plan.Files {
		if plan.Files[i].Name != "" {
			continue // named by its spec
		}
		name, err := fileName(p, a, plan.Files[i])
		if err != nil {
			return Plan{}, err
		}
		plan.Files[i].Name = name
	}
	fm, err := format.Get(p.Format)
	if err != nil {
		return Plan{}, fmt.Errorf("%w: %w", ErrInvalidPackage, err)
	}
	needSums := format.NeedsChecksums(fm, p)
	entries := make([]format.File, len(plan.Files))
	for i, f := range plan.Files {
		entries[i] = format.File{Name: f.Name, Role: f.Role, Size: f.Size}
		if i >= nMedia {
			entries[i].Width, entries[i].Height = f.Width, f.Height
		}
		if needSums {
			if entries[i].MD5, err = checksums(&plan.Files[i]); err != nil {
				return Plan{}, err
			}
			plan.Files[i].MD5 = entries[i].MD5
		}
	}
	doc, err := fm.Render(a, p, entries)
	if err != nil {
		return Plan{}, fmt.Errorf("%w: render %s metadata: %w", ErrInvalidPackage, p.Format, err)
	}
	name := fm.FileName(a, p)
	if tmpl, ok := p.Package.Naming["metadata"]; ok {
		name = expand(tmpl, a, File{Role: "metadata", Source: name})
	}
	if err := os.MkdirAll(workDir, 0o750); err != nil {
		return Plan{}, fmt.Errorf("packaging: %w", err)
	}
	src := filepath.Join(workDir, "metadata"+path.Ext(name))
	if err := os.WriteFile(src, doc, 0o640); err != nil {
		return Plan{}, fmt.Errorf("packaging: write metadata: %w", err)
	}
	plan.Files = append(plan.Files, File{Name: name, Role: "metadata", Kind: "metadata", Size: int64(len(doc)), Source: src})
	if err := checkNames(plan.Files, p.Package.MD5Sidecars); err != nil {
		return Plan{}, err
	}
	return plan, nil
}

// defaultNaming is the name of each kind of file without a template.
var defaultNaming = map[string]string{"media": "{role}{ext}", "subtitle": "{role}{ext}", "image": "images/{role}{ext}"}

// fileName names f in the package with the profile's template for its kind.
func fileName(p domain.Partner, a domain.Asset, f File) (string, error) {
	tmpl, ok := p.Package.Naming[f.Kind]
	if !ok {
		tmpl = defaultNaming[f.Kind]
	}
	name := expand(tmpl, a, f)
	if err := transport.ValidateName(name); err != nil {
		return "", fmt.Errorf("%w: package.naming.%s %q gives %w", ErrInvalidPackage, f.Kind, tmpl, err)
	}
	return name, nil
}

// expand fills a naming template's placeholders; the extension is the
// source's, lower-cased.
func expand(tmpl string, a domain.Asset, f File) string {
	r := strings.NewReplacer("{asset_id}", a.ID, "{role}", f.Role, "{ext}", strings.ToLower(path.Ext(f.Source)),
		"{type}", a.Type, "{version}", strconv.Itoa(a.Version),
		"{width}", strconv.Itoa(f.Width), "{height}", strconv.Itoa(f.Height))
	return r.Replace(tmpl)
}

// kindOf says whether a media file is a subtitle (SRT, WebVTT) or other media.
func kindOf(uri string) string {
	switch strings.ToLower(path.Ext(uri)) {
	case ".srt", ".vtt":
		return "subtitle"
	}
	return "media"
}

// IsVideoCandidate reports whether a media role is one of the renditions
// of the video role: the role itself or ROLE-anything.
func IsVideoCandidate(role, videoRole string) bool {
	return role == videoRole || strings.HasPrefix(role, videoRole+"-")
}

// checksums reads f's source once and returns its md5, setting f.SHA256
// (or checking it against the catalog's).
func checksums(f *File) (string, error) {
	r, err := os.Open(f.Source)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrInvalidPackage, f.Role, err)
	}
	defer r.Close()
	m, s := md5.New(), sha256.New()
	n, err := io.Copy(io.MultiWriter(m, s), r)
	if err != nil {
		return "", fmt.Errorf("packaging: read %s: %w", f.Source, err)
	}
	if n != f.Size {
		return "", fmt.Errorf("%w: %s %s changed while packaging: %d bytes, was %d", ErrInvalidPackage, f.Role, f.Source, n, f.Size)
	}
	sum := hex.EncodeToString(s.Sum(nil))
	if f.SHA256 != "" && f.SHA256 != sum {
		return "", fmt.Errorf("%w: %s %s: sha256 %s does not match the catalog's %s", ErrInvalidPackage, f.Role, f.Source, sum, f.SHA256)
	}
	f.SHA256 = sum
	return hex.EncodeToString(m.Sum(nil)), nil
}

// checkNames refuses invalid names, two files with one name, and a name
// that is also another file's folder.
func checkNames(files []File, sidecars bool) error {
	seen := map[string]bool{ManifestName: true}
	if sidecars {
		for _, f := range files {
			seen[f.Name+".md5"] = true // a file named like another's sidecar
		}
	}
	dirs := map[string]bool{}
	for _, f := range files {
		if err := transport.ValidateName(f.Name); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidPackage, err)
		}
		if seen[f.Name] || dirs[f.Name] {
			return fmt.Errorf("%w: two files named %q", ErrInvalidPackage, f.Name)
		}
		seen[f.Name] = true
		for d := path.Dir(f.Name); d != "."; d = path.Dir(d) {
			if seen[d] {
				return fmt.Errorf("%w: %q is both a file and the folder of %q", ErrInvalidPackage, d, f.Name)
			}
			dirs[d] = true
		}
	}
	return nil
}

// sourceFile resolves a catalog URI to a local file (named later).
func sourceFile(uri, role, kind string, declaredSize int64) (File, error) {
	p, err := LocalPath(uri)
	if err != nil {
		return File{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return File{}, fmt.Errorf("%w: %s %s: %w", ErrInvalidPackage, role, uri, err)
	}
	if !fi.Mode().IsRegular() {
		return File{}, fmt.Errorf("%w: %s %s: not a regular file", ErrInvalidPackage, role, uri)
	}
	if declaredSize > 0 && fi.Size() != declaredSize {
		return File{}, fmt.Errorf("%w: %s %s: size %d, catalog says %d", ErrInvalidPackage, role, uri, fi.Size(), declaredSize)
	}
	return File{Role: role, Kind: kind, Size: fi.Size(), Source: p}, nil
}

// LocalPath resolves an absolute path or a file:// URL to a local path.
func LocalPath(uri string) (string, error) {
	if strings.HasPrefix(uri, "file://") {
		u, err := url.Parse(uri)
		if err != nil || (u.Host != "" && u.Host != "localhost") {
			return "", fmt.Errorf("%w: %q is not a local file URL", ErrInvalidPackage, uri)
		}
		uri = u.Path
	}
	if !filepath.IsAbs(uri) {
		return "", fmt.Errorf("%w: %q: media must be an absolute path or a file:// URL", ErrInvalidPackage, uri)
	}
	return filepath.Clean(uri), nil
}
