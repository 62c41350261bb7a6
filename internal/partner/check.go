package partner

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	validator "github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/format"
	"github.com/syndicate-media/syndicate/internal/transport"
)

// check validates a document's value against the schema, decodes what is
// valid into a Partner and runs the checks the schema cannot express. It
// reports every problem: a field the schema refused is left out of the
// decoded profile, so it is not reported a second time by a later check.
func check(doc *document) (domain.Partner, []problem) {
	var p domain.Partner
	b := compiled()
	var probs []problem
	if err := b.validator.Validate(doc.value); err != nil {
		ve, ok := errors.AsType[*validator.ValidationError](err)
		if !ok {
			return p, []problem{{msg: err.Error()}}
		}
		probs = schemaProblems(b, ve)
	}
	root, ok := doc.value.(map[string]any)
	if !ok {
		return p, probs
	}
	probs = append(probs, durationProblems(b, root, probs)...)
	for _, pr := range probs {
		prune(root, pr.loc)
	}
	delete(root, "$schema")
	if err := decode(root, &p); err != nil {
		return p, append(probs, *err)
	}
	for _, sp := range semantic(p) {
		if !overlaps(sp.loc, probs) {
			probs = append(probs, sp)
		}
	}
	return p, probs
}

// schemaProblems turns the validator's error tree into one problem per
// broken rule, each at the field it is about, worded from the rule's kind.
// The validator's own messages quote values; these never do, since a value
// that breaks the secret-reference pattern is likely the secret itself.
func schemaProblems(b *builtSchema, ve *validator.ValidationError) []problem {
	var out []problem
	var walk func(e *validator.ValidationError)
	walk = func(e *validator.ValidationError) {
		for _, c := range e.Causes {
			walk(c)
		}
		if len(e.Causes) == 0 {
			out = append(out, leafProblems(b, e.InstanceLocation, e.ErrorKind)...)
		}
	}
	walk(ve)
	return out
}

var printer = message.NewPrinter(language.English)

func leafProblems(b *builtSchema, loc []string, k validator.ErrorKind) []problem {
	at := func(msg string) []problem { return []problem{{loc: loc, msg: msg}} }
	switch k := k.(type) {
	case *kind.Required:
		var out []problem
		for _, name := range k.Missing {
			child := append(slices.Clip(loc), name)
			out = append(out, problem{loc: child, msg: orElse(rules[dotted(child)].required, "required")})
		}
		return out
	case *kind.AdditionalProperties:
		var out []problem
		for _, name := range k.Properties {
			out = append(out, problem{loc: append(slices.Clip(loc), name), msg: unknownField(b, loc)})
		}
		return out
	case *kind.Type:
		return at(fmt.Sprintf("expected %s, got %s", strings.Join(k.Want, " or "), k.Got))
	case *kind.Pattern:
		return at(orElse(patternMessages[k.Want], "must match "+k.Want))
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = fmt.Sprint(w)
		}
		return at("must be one of: " + strings.Join(want, ", "))
	case *kind.Minimum:
		return at(fmt.Sprintf("must be at least %s", k.Want.RatString()))
	case *kind.Maximum:
		return at(fmt.Sprintf("must be at most %s", k.Want.RatString()))
	case *kind.MinLength:
		return at("must not be empty")
	case *kind.FalseSchema:
		return at("not allowed here")
	}
	return at(k.LocalizedString(printer))
}

// unknownField says which fields the object at loc does take.
func unknownField(b *builtSchema, loc []string) string {
	s := object(b.root, loc)
	if s == nil || s.Properties == nil {
		return "unknown field"
	}
	var names []string
	for name := range s.Properties.KeysFromOldest() {
		if !strings.HasPrefix(name, "$") {
			names = append(names, name)
		}
	}
	return "unknown field (expected one of: " + strings.Join(names, ", ") + ")"
}

// durationProblems checks the durations the pattern let through, which
// time.ParseDuration may still refuse (too large).
func durationProblems(b *builtSchema, root map[string]any, found []problem) []problem {
	var out []problem
	for _, loc := range b.durations {
		s, ok := lookup(root, loc).(string)
		if !ok || overlaps(loc, found) {
			continue
		}
		if _, err := time.ParseDuration(s); err != nil {
			out = append(out, problem{loc: loc, msg: patternMessages[durationPattern] + ": " + err.Error()})
		}
	}
	return out
}

// decode reads the schema-checked value into p, strictly: after the schema
// and pruning it should not fail, so a failure is still reported.
func decode(root map[string]any, p *domain.Partner) *problem {
	b, err := json.Marshal(root)
	if err == nil {
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		err = dec.Decode(p)
	}
	if err == nil {
		return nil
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && te.Field != "" {
		return &problem{loc: strings.Split(te.Field, "."), msg: fmt.Sprintf("expected %s, got %s", te.Type, te.Value)}
	}
	return &problem{msg: err.Error()}
}

// semantic runs the checks that need more than the schema: the domain's
// own Validate, a transport registered for the URL's scheme, a registered
// metadata format.
func semantic(p domain.Partner) []problem {
	var out []problem
	add := func(path, msg string) {
		out = append(out, problem{loc: strings.Split(path, "."), msg: msg})
	}
	has := func(path string) bool {
		return slices.ContainsFunc(out, func(p problem) bool { return dotted(p.loc) == path })
	}
	for _, err := range unjoin(p.Validate()) {
		loc, msg := splitPath(err.Error())
		out = append(out, problem{loc: loc, msg: msg})
	}
	urls := map[string]string{"destination.url": p.Destination.URL}
	if p.Shadow != nil {
		urls["shadow.url"] = p.Shadow.URL
	}
	for path, u := range urls {
		if u != "" && !has(path) {
			if _, err := transport.ParseURL(u); err != nil {
				add(path, strings.TrimPrefix(err.Error(), "destination url: "))
			}
		}
	}
	if p.Format != "" && !has("format") {
		if _, err := format.Get(p.Format); err != nil {
			add("format", err.Error())
		}
	}
	return out
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

var fieldPath = regexp.MustCompile(`^[a-z_]+(\[[0-9]+\])?(\.[a-z_]+(\[[0-9]+\])?)*$`)

// splitPath splits domain.Partner.Validate's "destination.url: message"
// or "package.images[1].width: message" into the field's location
// (package, images, 1, width) and the message.
func splitPath(s string) (loc []string, msg string) {
	if path, msg, ok := strings.Cut(s, ": "); ok && fieldPath.MatchString(path) {
		path = strings.NewReplacer("[", ".", "]", "").Replace(path)
		return strings.Split(path, "."), msg
	}
	return nil, s
}

// overlaps reports whether a problem was already found at loc, inside it,
// or at a field that holds it.
func overlaps(loc []string, found []problem) bool {
	return slices.ContainsFunc(found, func(p problem) bool {
		n := min(len(loc), len(p.loc))
		return slices.Equal(loc[:n], p.loc[:n]) && (n > 0 || len(loc) == len(p.loc))
	})
}

func lookup(v any, loc []string) any {
	for _, k := range loc {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// prune deletes the field at loc, so a value the schema refused does not
// reach the decoder. A bad field of an object in a list (package.images[1].
// width) is deleted from that object, keeping the list's indices for the
// checks that follow; any other bad list item takes its whole list with it.
func prune(root map[string]any, loc []string) {
	var parent map[string]any = root
	for i := 0; i < len(loc); i++ {
		k := loc[i]
		if i == len(loc)-1 {
			delete(parent, k)
			return
		}
		switch next := parent[k].(type) {
		case map[string]any:
			parent = next
		case []any:
			n, err := strconv.Atoi(loc[i+1])
			if err != nil || n < 0 || n >= len(next) || i+2 >= len(loc) {
				delete(parent, k)
				return
			}
			item, ok := next[n].(map[string]any)
			if !ok {
				delete(parent, k)
				return
			}
			parent = item
			i++
		default:
			return
		}
	}
}
