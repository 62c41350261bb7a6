package partner

//go:generate go test . -run ^TestGoComments$ -update

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/invopop/jsonschema"
	validator "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// The patterns the schema uses. idPattern and secretRefPattern are the
// ones domain.Partner.Validate applies (TestPatternsMatchDomain keeps them
// in step); durationPattern is what time.ParseDuration reads, without a
// sign, since no profile duration may be negative.
const (
	idPattern        = `^[a-z0-9][a-z0-9_-]{0,62}$`
	secretRefPattern = `^(env:[A-Za-z_][A-Za-z0-9_]*|file:/.+|aws-ssm:/[A-Za-z0-9_.\-/]+)$`
	durationPattern  = `^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`
	urlPattern       = `^[A-Za-z][A-Za-z0-9+.-]*:`
	nonBlankPattern  = `\S`
	fileNamePattern  = `^[^/\\]+$`
	rolePattern      = `^[a-z0-9][a-z0-9_-]{0,63}$`
	colourPattern    = `^#[0-9a-fA-F]{6}$`

	secretMessage = "must be a secret reference env:NAME, file:/absolute/path or aws-ssm:/parameter/name, not the secret itself"
)

// patternMessages say what a value that does not match a pattern should
// look like. They never quote the value: one that breaks the secret
// reference pattern is likely the secret itself.
var patternMessages = map[string]string{
	idPattern:        "must be 1-63 lowercase letters, digits, _ or -, starting with a letter or digit",
	secretRefPattern: secretMessage,
	durationPattern:  "must be a Go duration such as 90s, 15m or 24h (units ns, us, ms, s, m, h; no spaces)",
	urlPattern:       "must be an absolute URL: file:///abs/dir, sftp://, ftp://, ftps://user@host:port/dir, s3://bucket/prefix or https://host/dir",
	nonBlankPattern:  "must not be blank",
	fileNamePattern:  "must be a plain file name (no / or \\), other than manifest.json",
	rolePattern:      "must be 1-64 lowercase letters, digits, _ or -, starting with a letter or digit",
	colourPattern:    "must be a colour written #rrggbb",
}

// schemaURL names the schema inside the validator; nothing is fetched.
const schemaURL = "https://github.com/syndicate-media/syndicate/partner.schema.json"

// rule is what the Go types cannot say about a field: the schema keywords
// added to it. A rule on a field of a shared type (destination.url) holds
// wherever the type is used (shadow.url).
type rule struct {
	doc      string // description, for a field without a Go doc comment
	pattern  string // one of the patterns above
	required string // the message when the field is missing, if not "required"
	enum     []any
	min, max string
	nonEmpty bool
}

// rules are keyed by the field's dotted path. Every key must name a field
// (TestRulesNameFields); one that does not is skipped, so renaming a field
// in internal/domain cannot stop the server.
var rules = map[string]rule{
	"id":                               {doc: "The partner's id, used in the API and in every delivery record.", pattern: idPattern},
	"name":                             {doc: "Display name.", pattern: nonBlankPattern},
	"format":                           {doc: "Metadata format: the name of a format compiled into this binary (a folder under internal/format), e.g. json.", nonEmpty: true},
	"destination":                      {doc: "Where the partner's packages land."},
	"destination.url":                  {pattern: urlPattern},
	"destination.credentials":          {pattern: secretRefPattern},
	"destination.max_bytes_per_second": {min: "0"},
	"retry":                            {doc: "How often a failing transfer is tried again."},
	"retry.max_attempts":               {min: "1", max: "100"},
	"feedback":                         {doc: "How the partner reports back on delivered packages."},
	"feedback.signing_secret":          {pattern: secretRefPattern, required: "required when require_signature is true"},
	"feedback.redeliver_on_reject":     {min: "0", max: "10"},
	"feedback.requests_per_second":     {min: "0"},
	"feedback.receipt.name":            {pattern: fileNamePattern},
	"feedback.receipt.format":          {enum: []any{"json", "csv"}},
	"priority":                         {min: "1", max: "1000"},
	"rollout.window":                   {min: "1", max: "1000"},
	"rollout.max_failure_rate":         {min: "0", max: "1"},
	"package.subtitles":                {enum: []any{"webvtt", "srt"}},
	"package.images.role":              {pattern: rolePattern},
	"package.images.source":            {pattern: rolePattern},
	"package.images.width":             {min: "1", max: strconv.Itoa(domain.MaxImageSide)},
	"package.images.height":            {min: "1", max: strconv.Itoa(domain.MaxImageSide)},
	"package.images.crop":              {enum: []any{"fill", "fit"}},
	"package.images.format":            {enum: []any{"jpeg", "png"}},
	"package.images.quality":           {min: "1", max: "100"},
	"package.images.max_bytes":         {min: "0"},
	"package.images.max_upscale":       {min: "1", max: "4"},
	"package.images.background":        {pattern: colourPattern},
}

var durationType = reflect.TypeFor[domain.Duration]()

// Schema returns the JSON Schema (draft 2020-12) of a partner profile,
// indented. It is derived from domain.Partner: property names, types and
// required fields from the Go types and their json tags, descriptions from
// their doc comments (comments_gen.go), defaults from Partner.Defaults, and
// the patterns, enums and bounds in rules. Profiles may carry a "$schema"
// property, which is ignored.
func Schema() []byte { return bytes.Clone(compiled().json) }

type builtSchema struct {
	root      *jsonschema.Schema
	json      []byte
	validator *validator.Schema
	durations [][]string // where the Duration fields are
	// unknownRules are keys of rules that name no field.
	unknownRules []string
}

var compiled = sync.OnceValue(func() *builtSchema {
	b, err := buildSchema(goComments)
	if err != nil {
		panic("partner: building the profile schema: " + err.Error())
	}
	return b
})

func buildSchema(comments map[string]string) (*builtSchema, error) {
	r := &jsonschema.Reflector{Anonymous: true, ExpandedStruct: true, CommentMap: comments,
		Mapper: func(t reflect.Type) *jsonschema.Schema {
			if t == durationType {
				return &jsonschema.Schema{Type: "string", Pattern: durationPattern, Examples: []any{"30s", "15m", "24h"}}
			}
			return nil
		}}
	s := r.Reflect(domain.Partner{})
	s.Title = "Syndicate partner profile"
	props := jsonschema.NewProperties()
	props.Set("$schema", &jsonschema.Schema{Type: "string",
		Description: "The schema this file follows, for editors (e.g. ./partner.schema.json); ignored by Syndicate."})
	for k, v := range s.Properties.FromOldest() {
		props.Set(k, v)
	}
	s.Properties = props
	b := &builtSchema{root: s}
	for path, ru := range rules {
		if f := field(s, strings.Split(path, ".")); f != nil {
			ru.apply(f)
		} else {
			b.unknownRules = append(b.unknownRules, path)
		}
	}
	if err := addDefaults(s); err != nil {
		return nil, err
	}
	// require_signature: true needs a signing_secret.
	if fb := def(s, "Feedback"); fb != nil {
		cond := jsonschema.NewProperties()
		cond.Set("require_signature", &jsonschema.Schema{Const: true})
		fb.If = &jsonschema.Schema{Properties: cond, Required: []string{"require_signature"}}
		fb.Then = &jsonschema.Schema{Required: []string{"signing_secret"}}
	}
	walkFields(s, nil, func(loc []string, f *jsonschema.Schema) {
		if f.Pattern == durationPattern {
			b.durations = append(b.durations, loc)
		}
	})
	var err error
	if b.json, err = json.MarshalIndent(s, "", "  "); err != nil {
		return nil, err
	}
	b.json = append(b.json, '\n')
	doc, err := validator.UnmarshalJSON(bytes.NewReader(b.json))
	if err != nil {
		return nil, err
	}
	c := validator.NewCompiler()
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	if b.validator, err = c.Compile(schemaURL); err != nil {
		return nil, err
	}
	return b, nil
}

func (ru rule) apply(f *jsonschema.Schema) {
	if f.Description == "" {
		f.Description = ru.doc
	}
	f.Pattern = orElse(ru.pattern, f.Pattern)
	f.Enum = orElse(ru.enum, f.Enum)
	f.Minimum = json.Number(orElse(ru.min, string(f.Minimum)))
	f.Maximum = json.Number(orElse(ru.max, string(f.Maximum)))
	if ru.nonEmpty {
		one := uint64(1)
		f.MinLength = &one
	}
}

func orElse[T any](a, b T) T {
	if reflect.ValueOf(a).IsZero() {
		return b
	}
	return a
}

// addDefaults documents, as "default", every field Partner.Defaults fills.
func addDefaults(s *jsonschema.Schema) error {
	var p domain.Partner
	p.Defaults()
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	var walk func(loc []string, v any) error
	walk = func(loc []string, v any) error {
		if m, ok := v.(map[string]any); ok {
			for k, c := range m {
				if err := walk(append(slices.Clip(loc), k), c); err != nil {
					return err
				}
			}
			return nil
		}
		if v == nil || reflect.ValueOf(v).IsZero() {
			return nil
		}
		f := field(s, loc)
		if f == nil {
			return fmt.Errorf("default for %s: no such field in the schema", dotted(loc))
		}
		f.Default = v
		return nil
	}
	return walk(nil, v)
}

// field is the schema of the field at loc, following $refs; nil if none.
// Inside a list, loc may name an item by its index (package.images.1.width,
// as a problem does) or skip it (package.images.width, as a rule does).
func field(s *jsonschema.Schema, loc []string) *jsonschema.Schema {
	cur := s
	for _, name := range loc {
		cur = deref(s, cur)
		if cur != nil && cur.Items != nil {
			if strings.Trim(name, "0123456789") == "" {
				cur = cur.Items
				continue
			}
			cur = deref(s, cur.Items)
		}
		if cur == nil || cur.Properties == nil {
			return nil
		}
		next, ok := cur.Properties.Get(name)
		if !ok {
			return nil
		}
		cur = next
	}
	return cur
}

// object is the schema of the object at loc, with its $ref resolved.
func object(s *jsonschema.Schema, loc []string) *jsonschema.Schema {
	return deref(s, field(s, loc))
}

func deref(root, s *jsonschema.Schema) *jsonschema.Schema {
	if s != nil && strings.HasPrefix(s.Ref, "#/$defs/") {
		return def(root, strings.TrimPrefix(s.Ref, "#/$defs/"))
	}
	return s
}

func def(root *jsonschema.Schema, name string) *jsonschema.Schema { return root.Definitions[name] }

// walkFields calls fn for every field below s, depth first.
func walkFields(root *jsonschema.Schema, loc []string, fn func([]string, *jsonschema.Schema)) {
	s := object(root, loc)
	if s == nil || s.Properties == nil {
		return
	}
	for name, f := range s.Properties.FromOldest() {
		child := append(slices.Clip(loc), name)
		fn(child, f)
		walkFields(root, child, fn)
	}
}
