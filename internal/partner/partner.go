// Package partner reads and checks partner profiles. The JSON Schema of a
// profile is derived from the Go types in internal/domain (Schema), so the
// schema, its documentation and the validator cannot drift from the code
// that uses a profile. Parse reads a YAML or JSON file and reports every
// problem at once, each with its file, line, field path and what was
// expected; Validate checks a profile that arrived as a Go value.
package partner

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/secret"
)

// Parse reads one partner profile from YAML or JSON (a JSON document is
// read as JSON; anything else as YAML) and checks it: against Schema,
// then the rules the schema cannot express (domain.Partner.Validate, a
// transport registered for the URL's scheme, a registered metadata
// format). filename is used in problems and, by its extension (.json),
// to pick the reader; it may be empty. The profile is returned as
// written, without defaults. On failure the error is an *Errors listing
// every problem; errors.Is(err, ErrSyntax) when the file did not parse.
func Parse(filename string, data []byte) (domain.Partner, error) {
	return parse(filename, data, "")
}

// ParseFor is Parse for a profile addressed to partner id, as in
// PUT /v1/partners/{id}: a profile without an id field takes id, and one
// with another id is a problem at "id".
func ParseFor(id, filename string, data []byte) (domain.Partner, error) {
	return parse(filename, data, id)
}

func parse(filename string, data []byte, id string) (domain.Partner, error) {
	doc, probs := readDocument(filename, data)
	if len(probs) > 0 {
		return domain.Partner{}, newErrors(filename, doc, probs, true)
	}
	if root, ok := doc.value.(map[string]any); ok && id != "" {
		switch got, set := root["id"]; {
		case !set:
			root["id"] = id
		case got != id:
			if s, ok := got.(string); ok {
				probs = append(probs, problem{loc: []string{"id"}, msg: fmt.Sprintf("%q differs from the partner %q this profile is sent for", s, id)})
				root["id"] = id // checked as the partner it is for, so id is not reported twice
			}
		}
	}
	p, more := check(doc)
	if probs = append(probs, more...); len(probs) > 0 {
		return domain.Partner{}, newErrors(filename, doc, probs, false)
	}
	return p, nil
}

// Validate checks a profile that came as a Go value (decoded from an API
// request, say) by the same rules as Parse. Problems name the field but
// carry no file or line.
func Validate(p domain.Partner) error {
	b, err := json.Marshal(p)
	if err != nil {
		return &Errors{Problems: []Problem{{Message: err.Error()}}}
	}
	doc, probs := readDocument(".json", b)
	if len(probs) == 0 {
		_, probs = check(doc)
	}
	return newErrors("", nil, probs, false)
}

var secretRef = regexp.MustCompile(secretRefPattern)

// ValidateResolvable checks that the profile's secret references resolve
// here: the environment variable is set, the file is readable and not
// empty. The secrets are read and dropped; no problem quotes one. Parse
// does not do this, since a profile is often checked on another machine
// than the one that delivers.
func ValidateResolvable(p domain.Partner) error {
	refs := []struct{ path, ref string }{
		{"destination.credentials", p.Destination.Credentials},
		{"feedback.signing_secret", p.Feedback.SigningSecret},
	}
	if p.Shadow != nil {
		refs = append(refs, struct{ path, ref string }{"shadow.credentials", p.Shadow.Credentials})
	}
	var probs []problem
	for _, ref := range refs {
		if ref.ref == "" {
			continue
		}
		loc := strings.Split(ref.path, ".")
		if !secretRef.MatchString(ref.ref) {
			probs = append(probs, problem{loc: loc, msg: secretMessage})
			continue
		}
		b, err := secret.Resolve(ref.ref)
		switch {
		case err != nil:
			probs = append(probs, problem{loc: loc, msg: err.Error()})
		case len(b) == 0:
			probs = append(probs, problem{loc: loc, msg: fmt.Sprintf("secret %s is empty", ref.ref)})
		}
		clear(b)
	}
	return newErrors("", nil, probs, false)
}
