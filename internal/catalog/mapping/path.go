package mapping

import (
	"fmt"
	"strconv"
	"strings"
)

// path is one parsed source path: object keys and list indexes from the
// document's root (or, under media and images, from one list item).
type path struct {
	text     string // as configured, without the trailing '?'
	optional bool   // '?': missing or null leaves the field empty
	constant *string
	steps    []step
	star     int // index in steps of the one [*], or -1
}

// step is an object key, a list index, or [*] (every item of a list).
type step struct {
	key   string
	index int
	kind  stepKind
}

type stepKind int

const (
	keyStep stepKind = iota
	indexStep
	allStep
)

// parsePath reads `a.b[0].c`, `a.list[*].x`, either with a trailing `?`,
// or `=text` (a constant).
func parsePath(s string) (path, error) {
	p := path{text: s, star: -1}
	if c, ok := strings.CutPrefix(s, "="); ok {
		p.constant = &c
		return p, nil
	}
	if t, ok := strings.CutSuffix(s, "?"); ok {
		p.optional, s, p.text = true, t, t
	}
	if s == "" {
		return p, fmt.Errorf("empty path")
	}
	for seg := range strings.SplitSeq(s, ".") {
		name, rest, _ := strings.Cut(seg, "[")
		if name == "" {
			return p, fmt.Errorf("%q: empty key (keys are separated by single dots)", s)
		}
		if strings.ContainsAny(name, "]?*= ") {
			return p, fmt.Errorf("%q: key %q has a character paths cannot hold", s, name)
		}
		p.steps = append(p.steps, step{key: name})
		if rest == "" && !strings.Contains(seg, "[") {
			continue
		}
		rest = "[" + rest
		for rest != "" {
			inner, after, ok := strings.Cut(strings.TrimPrefix(rest, "["), "]")
			if !strings.HasPrefix(rest, "[") || !ok {
				return p, fmt.Errorf("%q: want [N] or [*] after %q", s, name)
			}
			switch n, err := strconv.Atoi(inner); {
			case inner == "*":
				if p.star >= 0 {
					return p, fmt.Errorf("%q: at most one [*] per path", s)
				}
				p.star = len(p.steps)
				p.steps = append(p.steps, step{kind: allStep})
			case err == nil && n >= 0:
				p.steps = append(p.steps, step{kind: indexStep, index: n})
			default:
				return p, fmt.Errorf("%q: [%s] is not a list index (want [N] or [*])", s, inner)
			}
			rest = after
		}
	}
	return p, nil
}

// located is a value found in the document with the concrete path that
// leads to it ([*] replaced by the item's index).
type located struct {
	value any
	at    string
}

// walkError is a path that could not be followed: at is the concrete
// path that was tried ([*] replaced by the failing item's index), missing
// tells a missing key, index or null from a value of the wrong shape.
type walkError struct {
	at      string
	problem string
	missing bool
}

func (e *walkError) Error() string { return e.problem }

// get follows the path from v (the document, or under media and images
// one list item whose concrete path is base). A path with [*] yields one
// located value per list item; without, exactly one.
func (p path) get(v any, base string) ([]located, error) {
	return walk(v, p.steps, base)
}

func walk(v any, steps []step, at string) ([]located, error) {
	fail := func(i int, missing bool, format string, args ...any) error {
		return &walkError{at: at + render(steps[i:], at == ""), problem: fmt.Sprintf(format, args...), missing: missing}
	}
	for i, s := range steps {
		if v == nil {
			if at == "" {
				return nil, fail(i, true, "missing (the answer is null)")
			}
			return nil, fail(i, true, "missing (%s is null)", at)
		}
		switch s.kind {
		case keyStep:
			obj, ok := v.(map[string]any)
			if !ok {
				return nil, fail(i, false, "%s is %s, not an object", orRoot(at), kindOf(v))
			}
			child, found := obj[s.key]
			if !found {
				return nil, fail(i, true, "missing")
			}
			v, at = child, join(at, s.key)
		case indexStep:
			list, ok := v.([]any)
			if !ok {
				return nil, fail(i, false, "%s is %s, not a list", orRoot(at), kindOf(v))
			}
			if s.index >= len(list) {
				return nil, fail(i, true, "missing (%s has %d items)", at, len(list))
			}
			v, at = list[s.index], fmt.Sprintf("%s[%d]", at, s.index)
		case allStep:
			list, ok := v.([]any)
			if !ok {
				return nil, fail(i, false, "%s is %s, not a list", orRoot(at), kindOf(v))
			}
			out := []located{}
			for n, item := range list {
				got, err := walk(item, steps[i+1:], fmt.Sprintf("%s[%d]", at, n))
				if err != nil {
					return nil, err
				}
				out = append(out, got...)
			}
			return out, nil
		}
	}
	return []located{{v, at}}, nil
}

// render writes steps back as path text, to append to a concrete prefix.
func render(steps []step, first bool) string {
	var b strings.Builder
	for _, s := range steps {
		switch s.kind {
		case keyStep:
			if !first {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
		case indexStep:
			fmt.Fprintf(&b, "[%d]", s.index)
		case allStep:
			b.WriteString("[*]")
		}
		first = false
	}
	return b.String()
}

func join(at, key string) string {
	if at == "" {
		return key
	}
	return at + "." + key
}

func orRoot(at string) string {
	if at == "" {
		return "the answer"
	}
	return at
}

// kindOf names a decoded JSON value's type for error messages, never its
// content.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}
