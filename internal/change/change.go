// Package change decides, field by field, what a new asset version means
// for one partner: create (never delivered), update (full, or metadata
// only when no file changed), noop (nothing the partner's package uses
// changed) or takedown (the rights window ended). It is pure: the caller
// passes the snapshot the partner last received, the fields its package
// uses and the time, so every rule is a table test.
package change

import (
	"encoding/json"
	"fmt"
	"path"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// Noop is the action when nothing the partner uses changed (or it never
// had an asset whose window has ended). No delivery has it.
const Noop domain.Action = "noop"

// Change is one changed field the partner uses.
type Change = domain.Change

// Result is the decision for one partner.
type Result struct {
	Action  domain.Action `json:"action"`
	Scope   domain.Scope  `json:"scope,omitempty"`
	Changes []Change      `json:"changes,omitempty"`
	// NotBefore, when set, is the start of the asset's rights window: the
	// action must wait until then.
	NotBefore time.Time `json:"not_before,omitzero"`
	// Reason explains a noop or a takedown in words.
	Reason string `json:"reason,omitempty"`
}

// Fields lists the changed fields' names.
func (r Result) Fields() []string {
	out := make([]string, len(r.Changes))
	for i, c := range r.Changes {
		out[i] = c.Field
	}
	return out
}

// FieldSet is what a partner's package uses: field names as in partner
// rules ("id", "type", "title", "metadata.<key>", "images.<role>",
// "media.<role>", "rights"), where "<kind>.*" (or the bare kind) stands
// for every field of that kind.
type FieldSet struct {
	All    bool
	Fields []string
}

// PackageFields is the field set of a package whose metadata document
// uses docFields (or everything when all): packaging sends every media
// file and image to every partner, so those always count.
func PackageFields(docFields []string, all bool) FieldSet {
	return FieldSet{All: all, Fields: append(slices.Clone(docFields), "media.*", "images.*")}
}

// Has reports whether the field is used.
func (f FieldSet) Has(field string) bool {
	if f.All || slices.Contains(f.Fields, field) {
		return true
	}
	kind, _, _ := strings.Cut(field, ".")
	return slices.Contains(f.Fields, kind+".*") || slices.Contains(f.Fields, kind)
}

// Detect decides what the new version next means for partner p, whose
// package uses the fields in uses, given prev, the snapshot it last
// received (nil: it has none, or it was taken down), at time now.
func Detect(prev *domain.Asset, next domain.Asset, p domain.Partner, uses FieldSet, now time.Time) Result {
	if next.Rights.Ended(now) {
		end := next.Rights.End.UTC().Format(time.RFC3339)
		if prev == nil {
			return Result{Action: Noop, Reason: fmt.Sprintf("rights window ended %s; partner %s does not have the asset", end, p.ID)}
		}
		var old any
		if prev.Rights != nil && prev.Rights.End != nil {
			old = prev.Rights.End.UTC().Format(time.RFC3339)
		}
		return Result{Action: domain.ActionTakedown, Reason: "rights window ended " + end,
			Changes: []Change{{Kind: domain.ChangeRights, Field: "rights.end", Old: old, New: end}}}
	}
	var r Result
	if prev == nil {
		r = Result{Action: domain.ActionCreate, Scope: domain.ScopeFull}
	} else {
		used, unused := diff(*prev, next, uses)
		switch {
		case len(used) == 0 && len(unused) == 0:
			return Result{Action: Noop, Reason: fmt.Sprintf("partner %s has this content already (version %d)", p.ID, prev.Version)}
		case len(used) == 0:
			return Result{Action: Noop, Reason: fmt.Sprintf("nothing partner %s's package uses changed (changed: %s)", p.ID, strings.Join(unused, ", "))}
		}
		r = Result{Action: domain.ActionUpdate, Scope: domain.ScopeMetadata, Changes: used}
		for _, c := range used {
			if c.Kind == domain.ChangeMedia || c.Kind == domain.ChangeImages {
				r.Scope = domain.ScopeFull
			}
		}
	}
	if next.Rights.NotYet(now) {
		r.NotBefore = next.Rights.Start.UTC()
	}
	return r
}

// diff returns the changed fields the partner uses, and the names of the
// changed fields it does not.
func diff(prev, next domain.Asset, uses FieldSet) (used []Change, unused []string) {
	add := func(kind domain.ChangeKind, field string, old, new any) {
		if uses.Has(field) {
			used = append(used, Change{Kind: kind, Field: field, Old: display(old), New: display(new)})
		} else {
			unused = append(unused, field)
		}
	}
	if prev.Type != next.Type {
		add(domain.ChangeMetadata, "type", prev.Type, next.Type)
	}
	if prev.Title != next.Title {
		add(domain.ChangeMetadata, "title", prev.Title, next.Title)
	}
	for _, k := range keys(prev.Metadata, next.Metadata) {
		o, n := prev.Metadata[k], next.Metadata[k]
		if !reflect.DeepEqual(o, n) {
			add(domain.ChangeMetadata, "metadata."+k, o, n)
		}
	}
	ps, ns := edges(prev.Rights), edges(next.Rights)
	for i, name := range []string{"rights.start", "rights.end"} {
		if ps[i] != ns[i] {
			add(domain.ChangeRights, name, ps[i], ns[i])
		}
	}
	pm, nm := files(prev), files(next)
	for _, k := range keys(pm, nm) {
		o, n := pm[k], nm[k]
		if o.id != n.id {
			kind := domain.ChangeMedia
			if strings.HasPrefix(k, "images.") {
				kind = domain.ChangeImages
			}
			add(kind, k, o.uri, n.uri)
		}
	}
	return used, unused
}

// file is a package file: id says whether it changed, uri is shown.
type file struct{ id, uri string }

// files maps "media.<role>" and "images.<role>" to their files. A media
// file with a sha256 is the same file wherever it moved, unless its
// extension (which names it in the package) changed; without one, its
// URI and size identify it. An image is its URI and pixel size.
func files(a domain.Asset) map[string]file {
	out := map[string]file{}
	for _, m := range a.Media {
		id := fmt.Sprintf("%s#%d", m.URI, m.Size)
		if m.SHA256 != "" {
			id = "sha256:" + m.SHA256 + strings.ToLower(path.Ext(m.URI))
		}
		out["media."+m.Role] = file{id: id, uri: m.URI}
	}
	for _, im := range a.Images {
		out["images."+im.Role] = file{id: fmt.Sprintf("%s#%dx%d", im.URI, im.Width, im.Height), uri: im.URI}
	}
	return out
}

func edges(r *domain.Rights) [2]string {
	var out [2]string
	if r == nil {
		return out
	}
	for i, t := range []*time.Time{r.Start, r.End} {
		if t != nil {
			out[i] = t.UTC().Format(time.RFC3339)
		}
	}
	return out
}

// keys is the sorted union of two maps' keys.
func keys[V any](a, b map[string]V) []string {
	var out []string
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// maxDisplay bounds the text of a shown value, in characters.
const maxDisplay = 120

// display shortens a value for the change record: long text is cut,
// lists and objects longer than maxDisplay become cut JSON text.
func display(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if x == "" {
			return nil
		}
		return cut(x)
	case bool, float64, int, int64:
		return x
	}
	b, err := json.Marshal(v)
	if err != nil || utf8.RuneCount(b) <= maxDisplay {
		return v
	}
	return cut(string(b))
}

func cut(s string) string {
	if utf8.RuneCountInString(s) <= maxDisplay {
		return s
	}
	return string([]rune(s)[:maxDisplay-1]) + "…"
}
