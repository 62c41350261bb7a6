package partner

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a partner profile.
type Problem struct {
	// File is the profile's file name as given to Parse; empty for a
	// profile that came without one.
	File string
	// Line and Column locate the field in the file, 1-based; 0 when not
	// known (a profile given as a Go value, or a field that is missing).
	Line   int
	Column int
	// Path is the field, dotted as in the profile: destination.credentials.
	// Empty for a problem with the document as a whole.
	Path string
	// Message says what was expected. It never quotes a secret.
	Message string
}

// String renders the problem as file:line:column: path: message, leaving
// out the parts that are not known.
func (p Problem) String() string {
	var b strings.Builder
	loc := p.File
	if p.Line > 0 {
		loc += fmt.Sprintf(":%d", p.Line)
		if p.Column > 0 {
			loc += fmt.Sprintf(":%d", p.Column)
		}
		loc = strings.TrimPrefix(loc, ":")
	}
	if loc != "" {
		b.WriteString(loc + ": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Errors is every problem found in one profile. Parse, Validate and
// ValidateResolvable return it, never a bare error, when the profile is
// refused.
type Errors struct {
	Problems []Problem
	syntax   bool
}

// ErrSyntax is matched by errors.Is when a profile is not YAML or JSON at
// all (as opposed to a document with wrong fields), so an API can answer
// "malformed" rather than "invalid".
var ErrSyntax = errors.New("partner profile: not a YAML or JSON document")

// Error lists the problems, one a line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Is reports whether target is ErrSyntax and the document did not parse.
func (e *Errors) Is(target error) bool { return target == ErrSyntax && e.syntax }

// problem is a Problem before it is placed in a file: the field's path as
// segments and, when the reader knew better than the path (a syntax error,
// a duplicate key), where it is.
type problem struct {
	loc  []string
	msg  string
	line int
	col  int
}

// newErrors places problems in doc (nil: no positions) and orders them as
// they appear in the file. It returns nil for no problems.
func newErrors(file string, doc *document, probs []problem, syntax bool) error {
	if len(probs) == 0 {
		return nil
	}
	out := make([]Problem, 0, len(probs))
	for _, p := range probs {
		pr := Problem{File: file, Path: dotted(p.loc), Message: p.msg}
		switch {
		case p.line > 0:
			pr.Line, pr.Column = p.line, p.col
		case doc != nil:
			pr.Line, pr.Column = doc.position(p.loc)
		}
		out = append(out, pr)
	}
	slices.SortStableFunc(out, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column),
			strings.Compare(a.Path, b.Path), strings.Compare(a.Message, b.Message))
	})
	out = slices.Compact(out)
	return &Errors{Problems: out, syntax: syntax}
}

// dotted writes a field path as the profile spells it:
// retry.max_attempts, rules.territories[2].
func dotted(loc []string) string {
	var b strings.Builder
	for _, s := range loc {
		if s != "" && strings.Trim(s, "0123456789") == "" {
			b.WriteString("[" + s + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}
