// Package format renders an asset's metadata in a partner's format. Each
// format lives in its own folder under internal/format and registers itself
// by name in init; a partner profile names the format it wants.
package format

import (
	"fmt"
	"sort"
	"sync"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// Format turns an asset and the files of its package into one metadata
// file for one partner. Implementations are stateless and safe for
// concurrent use; Render must be deterministic (same input, same bytes),
// since a rebuilt package must match the one partly sent.
type Format interface {
	// FileName is the metadata file's name inside the package.
	FileName(a domain.Asset, p domain.Partner) string
	// Render returns the metadata document for partner p, whose
	// FormatOptions tune it. files lists the package's other files, media
	// first, then images, so the document can reference them.
	Render(a domain.Asset, p domain.Partner, files []File) ([]byte, error)
}

// ChecksumNeeder is implemented by formats whose document carries each
// file's md5 (MRSS media:hash, ADI Content_CheckSum). Packaging reads the
// sources to compute them before rendering only when NeedsChecksums says
// so, since that is one more read of every media file.
type ChecksumNeeder interface {
	NeedsChecksums(p domain.Partner) bool
}

// NeedsChecksums reports whether f wants File.MD5 filled for partner p.
func NeedsChecksums(f Format, p domain.Partner) bool {
	c, ok := f.(ChecksumNeeder)
	return ok && c.NeedsChecksums(p)
}

var (
	mu      sync.RWMutex
	formats = map[string]Format{}
)

// Register makes a format available by name; a duplicate name panics.
func Register(name string, f Format) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := formats[name]; dup {
		panic("format: registered twice: " + name)
	}
	formats[name] = f
}

// Get returns the format registered under name.
func Get(name string) (Format, error) {
	mu.RLock()
	defer mu.RUnlock()
	f, ok := formats[name]
	if !ok {
		return nil, fmt.Errorf("unknown metadata format %q (have %v)", name, namesLocked())
	}
	return f, nil
}

// Names lists the registered formats, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	return namesLocked()
}

func namesLocked() []string {
	out := make([]string, 0, len(formats))
	for n := range formats {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
