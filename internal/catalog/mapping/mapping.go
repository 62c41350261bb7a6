// Package mapping turns an external catalog's JSON answer into a
// domain.Asset, following a small mapping: each asset field names the path
// in the answer it comes from.
//
// Keys (asset fields): id, type, title, version, metadata.<key>; media and
// images (the list) with media.role, media.uri, media.size, media.sha256
// and images.role, images.uri, images.width, images.height (paths relative
// to one item of the list).
//
// Values (paths into the answer):
//   - `data.attributes.title`: object keys separated by dots;
//   - `data.renditions[0].url`: a list index;
//   - `data.renditions[*]`: every item of a list (at most one [*] per path;
//     media and images need exactly one, metadata may use one to collect a
//     list, the other fields none);
//   - a trailing `?` (`data.attributes.rating?`): optional, a missing key or
//     null leaves the field empty instead of failing the lookup;
//   - `=episode`: a constant instead of a path.
//
// Keys containing dots or brackets cannot be addressed. Strings must be
// JSON strings; size, width, height and version are whole JSON numbers or
// strings of digits (GraphQL servers often send 64-bit integers as
// strings); metadata values are copied as they are. Required keys: type,
// title, media, media.role, media.uri (and images.role, images.uri when
// images is mapped). Without id the requested id is used; with it, the
// answer must be about the requested asset. Without version the caller
// derives the version from the content.
package mapping

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// Mapping is a parsed, checked mapping.
type Mapping struct {
	fields   map[string]path // id, type, title, version
	metadata map[string]path // by metadata key
	media    *list
	images   *list
}

// list is media or images: the list path and each item field's path.
type list struct {
	name  string
	path  path
	items map[string]path // role, uri, size/sha256 or width/height
}

var (
	topFields  = []string{"id", "type", "title", "version"}
	mediaItems = []string{"role", "uri", "size", "sha256"}
	imageItems = []string{"role", "uri", "width", "height"}
	required   = []string{"type", "title", "media", "media.role", "media.uri"}
	intFields  = []string{"version", "size", "width", "height"}
)

// Parse checks a mapping (asset field → path) and reports every problem at
// once, each naming the key: `mapping.title: empty path`.
func Parse(m map[string]string) (*Mapping, error) {
	out := &Mapping{fields: map[string]path{}, metadata: map[string]path{}}
	var errs []error
	bad := func(key string, format string, args ...any) {
		errs = append(errs, fmt.Errorf("mapping.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	for _, key := range required {
		if _, ok := m[key]; !ok {
			bad(key, "required")
		}
	}
	if _, ok := m["images"]; ok {
		for _, k := range []string{"images.role", "images.uri"} {
			if _, ok := m[k]; !ok {
				bad(k, "required when images is mapped")
			}
		}
	}
	for _, key := range sortedKeys(m) {
		p, err := parsePath(m[key])
		if err != nil {
			bad(key, "%v", err)
			continue
		}
		if last := key[strings.LastIndex(key, ".")+1:]; p.constant != nil && !strings.HasPrefix(key, "metadata.") && slices.Contains(intFields, last) {
			if _, err := strconv.Atoi(*p.constant); err != nil {
				bad(key, "constant %q is not a whole number", *p.constant)
				continue
			}
		}
		switch name, sub, _ := strings.Cut(key, "."); {
		case name == "metadata" && sub != "":
			out.metadata[sub] = p
		case sub == "" && slices.Contains(topFields, name):
			if p.star >= 0 {
				bad(key, "%q: [*] yields a list, %s is one value", p.text, name)
				continue
			}
			out.fields[name] = p
		case sub == "" && (name == "media" || name == "images"):
			if p.constant != nil || p.star < 0 {
				bad(key, "%q: want a list path with one [*], e.g. data.%s[*]", m[key], name)
				continue
			}
			out.list(name).path = p
		case name == "media" && slices.Contains(mediaItems, sub), name == "images" && slices.Contains(imageItems, sub):
			if p.star >= 0 {
				bad(key, "%q: [*] yields a list, %s is one value", p.text, sub)
				continue
			}
			if _, ok := m[name]; !ok {
				bad(key, "set %s (the list) too", name)
				continue
			}
			out.list(name).items[sub] = p
		default:
			bad(key, "unknown field (want %s, metadata.<key>, media[.%s], images[.%s])",
				strings.Join(topFields, ", "), strings.Join(mediaItems, "|"), strings.Join(imageItems, "|"))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func (m *Mapping) list(name string) *list {
	l := &m.media
	if name == "images" {
		l = &m.images
	}
	if *l == nil {
		*l = &list{name: name, items: map[string]path{}}
	}
	return *l
}

// HasVersion reports whether the answer carries the asset's version.
func (m *Mapping) HasVersion() bool {
	_, ok := m.fields["version"]
	return ok
}

// FieldError is one asset field the answer did not give usably.
type FieldError struct {
	Field   string // asset field, e.g. title, media[1].uri, metadata.synopsis
	Path    string // where it was looked for, e.g. data.renditions[1].url
	Problem string // e.g. missing, want a string, got a number
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("field %q (%s): %s", e.Field, e.Path, e.Problem)
}

// Apply maps doc (a decoded JSON answer) to the asset with the requested
// id, and returns the version the answer states (0 when the mapping has
// none). It reports every field problem at once (each a *FieldError); it
// does not run domain.Asset.Validate.
func (m *Mapping) Apply(doc any, id string) (domain.Asset, int, error) {
	r := run{doc: doc}
	a := domain.Asset{ID: id}
	version := 0
	for _, name := range topFields {
		p, ok := m.fields[name]
		if !ok {
			continue
		}
		v, ok := r.one(name, p, doc, "")
		if !ok {
			continue
		}
		switch name {
		case "id":
			if s, ok := r.str(name, v); ok && s != id {
				r.fail(name, v.at, fmt.Sprintf("the answer is about asset %q, not %q", s, id))
			}
		case "type":
			a.Type, _ = r.str(name, v)
		case "title":
			a.Title, _ = r.str(name, v)
		case "version":
			if n, ok := r.integer(name, v); ok && (n < 1 || n > 1<<31-1) {
				r.fail(name, v.at, "want a version from 1 to 2147483647")
			} else if ok {
				version = int(n)
			}
		}
	}
	for _, key := range sortedKeys(m.metadata) {
		if value, ok := r.metadata("metadata."+key, m.metadata[key]); ok {
			if a.Metadata == nil {
				a.Metadata = map[string]any{}
			}
			a.Metadata[key] = value
		}
	}
	if m.media != nil {
		r.items(m.media, func(i int, get func(string) (located, bool)) {
			f := domain.MediaFile{}
			field := func(sub string) string { return fmt.Sprintf("media[%d].%s", i, sub) }
			if v, ok := get("role"); ok {
				f.Role, _ = r.str(field("role"), v)
			}
			if v, ok := get("uri"); ok {
				f.URI, _ = r.str(field("uri"), v)
			}
			if v, ok := get("size"); ok {
				f.Size, _ = r.integer(field("size"), v)
			}
			if v, ok := get("sha256"); ok {
				f.SHA256, _ = r.str(field("sha256"), v)
			}
			a.Media = append(a.Media, f)
		})
	}
	if m.images != nil {
		r.items(m.images, func(i int, get func(string) (located, bool)) {
			im := domain.Image{}
			field := func(sub string) string { return fmt.Sprintf("images[%d].%s", i, sub) }
			if v, ok := get("role"); ok {
				im.Role, _ = r.str(field("role"), v)
			}
			if v, ok := get("uri"); ok {
				im.URI, _ = r.str(field("uri"), v)
			}
			if v, ok := get("width"); ok {
				n, _ := r.integer(field("width"), v)
				im.Width = int(n)
			}
			if v, ok := get("height"); ok {
				n, _ := r.integer(field("height"), v)
				im.Height = int(n)
			}
			a.Images = append(a.Images, im)
		})
	}
	return a, version, errors.Join(r.errs...)
}

// run is one Apply: the document and the problems found so far.
type run struct {
	doc  any
	errs []error
}

func (r *run) fail(field, at, problem string) {
	r.errs = append(r.errs, &FieldError{Field: field, Path: at, Problem: problem})
}

// lookup follows p; ok is false when the value is absent and p optional,
// or when a problem was recorded.
func (r *run) lookup(field string, p path, v any, base string) ([]located, bool) {
	got, err := p.get(v, base)
	if err != nil {
		we := err.(*walkError)
		if !(we.missing && p.optional) {
			r.fail(field, we.at, we.problem)
		}
		return nil, false
	}
	return got, true
}

// one finds a single non-null value (or p's constant).
func (r *run) one(field string, p path, v any, base string) (located, bool) {
	if p.constant != nil {
		return located{*p.constant, "=" + *p.constant}, true
	}
	got, ok := r.lookup(field, p, v, base)
	if !ok {
		return located{}, false
	}
	if got[0].value == nil {
		if !p.optional {
			r.fail(field, got[0].at, "missing (null)")
		}
		return located{}, false
	}
	return got[0], true
}

// metadata finds a metadata value: as it is, or a list of the non-null
// values a [*] path collects.
func (r *run) metadata(field string, p path) (any, bool) {
	if p.star < 0 {
		v, ok := r.one(field, p, r.doc, "")
		return v.value, ok
	}
	got, ok := r.lookup(field, p, r.doc, "")
	if !ok {
		return nil, false
	}
	vals := make([]any, 0, len(got))
	for _, g := range got {
		if g.value != nil {
			vals = append(vals, g.value)
		}
	}
	return vals, true
}

// items calls fn for each item of l's list, with a getter for the item's
// fields.
func (r *run) items(l *list, fn func(i int, get func(sub string) (located, bool))) {
	items, ok := r.lookup(l.name, l.path, r.doc, "")
	if !ok {
		return
	}
	for i, item := range items {
		fn(i, func(sub string) (located, bool) {
			p, ok := l.items[sub]
			if !ok {
				return located{}, false
			}
			return r.one(fmt.Sprintf("%s[%d].%s", l.name, i, sub), p, item.value, item.at)
		})
	}
}

func (r *run) str(field string, v located) (string, bool) {
	s, ok := v.value.(string)
	if !ok {
		r.fail(field, v.at, "want a string, got "+kindOf(v.value))
	}
	return s, ok
}

func (r *run) integer(field string, v located) (int64, bool) {
	n, err := toInt(v.value)
	if err != nil {
		r.fail(field, v.at, err.Error())
		return 0, false
	}
	return n, true
}

// toInt reads a whole JSON number, or a string of digits.
func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case float64:
		if x != float64(int64(x)) || x > 1<<53 || x < -(1<<53) {
			return 0, errors.New("want a whole number")
		}
		return int64(x), nil
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, errors.New("want a whole number, got a string that is not one")
		}
		return n, nil
	}
	return 0, errors.New("want a whole number, got " + kindOf(v))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Path is a parsed source path outside a mapping (a catalog's asset_path).
type Path struct{ p path }

// ParsePath parses a path in the mapping language (no constant).
func ParsePath(s string) (Path, error) {
	p, err := parsePath(s)
	if err == nil && p.constant != nil {
		err = fmt.Errorf("%q: want a path, not a constant", s)
	}
	return Path{p}, err
}

// Absent reports whether the path leads nowhere in doc: a missing key or
// index, or null.
func (p Path) Absent(doc any) bool {
	got, err := p.p.get(doc, "")
	if err != nil {
		return err.(*walkError).missing
	}
	return len(got) == 0 || got[0].value == nil
}
