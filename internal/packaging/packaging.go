// Package packaging turns an asset snapshot and a partner profile into a
// package plan: which files go to the partner, under which names, read from
// where. Media and images are read from their source; metadata is rendered
// in the partner's format into the delivery's work folder. Checksums are
// computed later, while the files stream to the partner, so each byte is
// read once (twice for a format that prints md5s: see Build).
package packaging

import (
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
	Source string `json:"source"`
}

// ErrInvalidPackage marks problems no retry can fix: a missing source
// file, a size that does not match the catalog, an unknown format.
var ErrInvalidPackage = errors.New("invalid package")

// Build plans the package for asset a to partner p, rendering metadata
// into workDir (created if missing). When the partner's format prints
// md5s (format.ChecksumNeeder), Build reads each source once to compute
// its md5 and sha256; the sha256 becomes the file's expected checksum, so
// the transfer fails rather than send bytes other than those the metadata
// describes.
func Build(workDir string, a domain.Asset, p domain.Partner) (Plan, error) {
	var plan Plan
	for _, m := range a.Media {
		f, err := sourceFile(m.URI, m.Role, "", m.Size)
		if err != nil {
			return Plan{}, err
		}
		f.SHA256 = m.SHA256
		plan.Files = append(plan.Files, f)
	}
	for _, im := range a.Images {
		f, err := sourceFile(im.URI, im.Role, "images/", 0)
		if err != nil {
			return Plan{}, err
		}
		plan.Files = append(plan.Files, f)
	}
	fm, err := format.Get(p.Format)
	if err != nil {
		return Plan{}, fmt.Errorf("%w: %w", ErrInvalidPackage, err)
	}
	needSums := format.NeedsChecksums(fm, p)
	entries := make([]format.File, len(plan.Files))
	for i, f := range plan.Files {
		entries[i] = format.File{Name: f.Name, Role: f.Role, Size: f.Size}
		if i >= len(a.Media) {
			im := a.Images[i-len(a.Media)]
			entries[i].Width, entries[i].Height = im.Width, im.Height
		}
		if needSums {
			if entries[i].MD5, err = checksums(&plan.Files[i]); err != nil {
				return Plan{}, err
			}
		}
	}
	doc, err := fm.Render(a, p, entries)
	if err != nil {
		return Plan{}, fmt.Errorf("%w: render %s metadata: %w", ErrInvalidPackage, p.Format, err)
	}
	name := fm.FileName(a, p)
	if err := os.MkdirAll(workDir, 0o750); err != nil {
		return Plan{}, fmt.Errorf("packaging: %w", err)
	}
	src := filepath.Join(workDir, filepath.Base(name))
	if err := os.WriteFile(src, doc, 0o640); err != nil {
		return Plan{}, fmt.Errorf("packaging: write metadata: %w", err)
	}
	plan.Files = append(plan.Files, File{Name: name, Role: "metadata", Size: int64(len(doc)), Source: src})
	if err := checkNames(plan.Files); err != nil {
		return Plan{}, err
	}
	return plan, nil
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
func checkNames(files []File) error {
	seen := map[string]bool{ManifestName: true}
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

// sourceFile resolves a catalog URI to a local file and names it
// <prefix><role><ext> in the package.
func sourceFile(uri, role, prefix string, declaredSize int64) (File, error) {
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
	ext := strings.ToLower(path.Ext(p))
	return File{Name: prefix + role + ext, Role: role, Size: fi.Size(), Source: p}, nil
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
