package domain

import (
	"fmt"
	"slices"
	"strings"
)

// Rules decide whether an asset goes to a partner at all.
type Rules struct {
	// ContentTypes lists the asset types the partner takes; empty = all.
	ContentTypes []string `json:"content_types,omitempty"`
	// Territories lists where the partner may show content; an asset goes
	// if its metadata.territories shares one of them. An asset without
	// territories is unrestricted. Empty = no territory rule.
	Territories []string `json:"territories,omitempty"`
	// RequiredFields must be present and non-empty: "title",
	// "metadata.<key>", "images.<role>", "media.<role>", or "rights"
	// ("rights.start", "rights.end") to take only assets with a licensing
	// window.
	RequiredFields []string `json:"required_fields,omitempty"`
}

// Check returns nil if the asset passes the partner's rules, or an error
// naming every rule it breaks (each missing field by name).
func (r Rules) Check(a Asset) error {
	var why []string
	if len(r.ContentTypes) > 0 && !slices.Contains(r.ContentTypes, a.Type) {
		why = append(why, fmt.Sprintf("type %q is not one of %v", a.Type, r.ContentTypes))
	}
	if len(r.Territories) > 0 {
		if ts := stringList(a.Metadata["territories"]); len(ts) > 0 && !slices.ContainsFunc(ts, func(t string) bool { return slices.Contains(r.Territories, t) }) {
			why = append(why, fmt.Sprintf("territories %v share none of %v", ts, r.Territories))
		}
	}
	var missing []string
	for _, f := range r.RequiredFields {
		if !hasField(a, f) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		why = append(why, "missing required fields: "+strings.Join(missing, ", "))
	}
	if len(why) == 0 {
		return nil
	}
	return fmt.Errorf("rules: %s", strings.Join(why, "; "))
}

// ValidField reports whether f is a field path Rules can check.
func ValidField(f string) bool {
	kind, name, _ := strings.Cut(f, ".")
	switch kind {
	case "title":
		return name == ""
	case "rights":
		return name == "" || name == "start" || name == "end"
	case "metadata", "images", "media":
		return name != ""
	}
	return false
}

func hasField(a Asset, f string) bool {
	kind, name, _ := strings.Cut(f, ".")
	switch kind {
	case "title":
		return strings.TrimSpace(a.Title) != ""
	case "rights":
		r := a.Rights
		return r != nil && (name == "" || name == "start" && r.Start != nil || name == "end" && r.End != nil)
	case "metadata":
		v, ok := a.Metadata[name]
		return ok && v != nil && v != "" && fmt.Sprint(v) != "[]"
	case "images":
		return slices.ContainsFunc(a.Images, func(im Image) bool { return im.Role == name })
	case "media":
		return slices.ContainsFunc(a.Media, func(m MediaFile) bool { return m.Role == name })
	}
	return false
}

func stringList(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	case string:
		return []string{x}
	}
	return nil
}
