package template

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/syndicate-media/syndicate/internal/format"
)

// errLong is a function's refusal to build a string over MaxOutput bytes.
var errLong = fmt.Errorf("result longer than %d bytes", MaxOutput)

// maxWidth bounds printf widths and precisions: fmt pads before anything
// is written, so "%999999999d" would allocate a gigabyte.
const maxWidth = 100

// funcs is the template's function set: string helpers only, each failing
// once stop is set (so a timed-out loop that calls one ends) and none
// building a string longer than MaxOutput. printf, print and println
// replace the builtins to bound their output too.
//
//	upper, lower, trim          case and surrounding white space
//	join SEP LIST               items (see format.Strings) joined with SEP
//	replace OLD NEW S           every OLD in S replaced with NEW
//	truncate N S                at most N characters
//	default DEF V               DEF when V is missing or empty
//	xml V, json V               escaped for XML text or attributes; JSON value
//	date LAYOUT V               a 2006-01-02 or RFC 3339 value in Go's LAYOUT
//
// Text/template's html, js and urlquery escape for those contexts.
func funcs(stop *atomic.Bool) template.FuncMap {
	guard := func(s string, err error) (string, error) {
		switch {
		case err != nil:
			return "", err
		case stop.Load():
			return "", errStopped
		case len(s) > MaxOutput:
			return "", errLong
		}
		return s, nil
	}
	text := func(fn func(string) string) func(any) (string, error) {
		return func(v any) (string, error) { return guard(fn(format.String(v)), nil) }
	}
	return template.FuncMap{
		rangeGuard: func(v any) (any, error) {
			if stop.Load() {
				return nil, errStopped
			}
			switch reflect.ValueOf(v).Kind() {
			case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
				reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
				reflect.Func, reflect.Chan:
				return nil, fmt.Errorf("range over a number is not allowed (got %v)", v)
			}
			return v, nil
		},
		"upper": text(strings.ToUpper),
		"lower": text(strings.ToLower),
		"trim":  text(strings.TrimSpace),
		"xml":   text(escapeXML),
		"join": func(sep string, v any) (string, error) {
			items := format.Strings(v)
			if size(items...)+len(sep)*len(items) > MaxOutput {
				return "", errLong
			}
			return guard(strings.Join(items, sep), nil)
		},
		"replace": func(old, new string, v any) (string, error) {
			s := format.String(v)
			if len(s)+strings.Count(s, old)*(len(new)-len(old)) > MaxOutput {
				return "", errLong
			}
			return guard(strings.ReplaceAll(s, old, new), nil)
		},
		"truncate": func(n int, v any) (string, error) {
			s := format.String(v)
			if n >= 0 && utf8.RuneCountInString(s) > n {
				s = string([]rune(s)[:n])
			}
			return guard(s, nil)
		},
		"default": func(def, v any) any {
			if format.String(v) == "" {
				return def
			}
			return v
		},
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return guard(string(b), err)
		},
		"date": func(layout string, v any) (string, error) {
			s := format.String(v)
			for _, in := range []string{time.DateOnly, time.RFC3339} {
				if t, err := time.Parse(in, s); err == nil {
					return guard(t.Format(layout), nil)
				}
			}
			return "", fmt.Errorf("date: %q is not 2006-01-02 or an RFC 3339 time", s)
		},
		"printf": func(f string, args ...any) (string, error) {
			if err := checkVerbs(f); err != nil {
				return "", err
			}
			if size(f)+argSize(args) > MaxOutput {
				return "", errLong
			}
			return guard(fmt.Sprintf(f, args...), nil)
		},
		"print": func(args ...any) (string, error) {
			if argSize(args) > MaxOutput {
				return "", errLong
			}
			return guard(fmt.Sprint(args...), nil)
		},
		"println": func(args ...any) (string, error) {
			if argSize(args) > MaxOutput {
				return "", errLong
			}
			return guard(fmt.Sprintln(args...), nil)
		},
	}
}

func escapeXML(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}

func size(ss ...string) int {
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	return n
}

// argSize is the length of the string arguments: the part of fmt's output
// that the template, not the format string, controls.
func argSize(args []any) int {
	n := 0
	for _, a := range args {
		switch a := a.(type) {
		case string:
			n += len(a)
		case []byte:
			n += len(a)
		}
	}
	return n
}

// checkVerbs refuses printf widths and precisions over maxWidth and "*"
// (a width taken from an argument).
func checkVerbs(f string) error {
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		n := 0
		for i++; i < len(f) && strings.IndexByte("+-# 0123456789.[]*", f[i]) >= 0; i++ {
			switch c := f[i]; {
			case c == '*':
				return errors.New("printf: a * width or precision is not allowed")
			case c >= '0' && c <= '9':
				if n = n*10 + int(c-'0'); n > maxWidth {
					return fmt.Errorf("printf: width or precision over %d", maxWidth)
				}
			default:
				n = 0
			}
		}
	}
	return nil
}
