// Package template renders asset metadata with a partner-supplied Go
// text/template (format_options.template, inline in the profile) into
// format_options.file_name (default metadata.txt).
//
// The template sees .ID, .Type, .Title, .Metadata (the asset's metadata
// map), .Rights (licensing window or nil), .Action ("takedown" in a
// takedown document, else empty), .Files (format.File: .Name .Role .Size .MD5 .Width .Height and the
// methods .MIMEType .Medium .IsImage) and .Partner (.ID, .Name). Besides
// text/template's builtins it has only string helpers (funcs.go): no
// function reads files, the network or the clock. Output is bounded to
// MaxOutput bytes and execution to Timeout; errors name the template line.
package template

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/format"
)

func init() { format.Register("template", Format{}) }

// Format is the "template" metadata format.
type Format struct{}

// Limits on one render.
const (
	// MaxOutput bounds the document and every string a function builds.
	MaxOutput = 1 << 20
	// maxRunaways is how many timed-out executions may still be running
	// before renders are refused (see render).
	maxRunaways = 2
)

// Timeout bounds one execution; a variable so tests can shorten it.
var Timeout = 2 * time.Second

// runaways counts executions that timed out and have not ended yet.
var runaways atomic.Int32

// Data is what a template executes on.
type Data struct {
	ID, Type, Title string
	Metadata        map[string]any
	// Rights is the licensing window (.Rights.Start, .Rights.End), or nil.
	Rights *domain.Rights
	Files  []format.File
	// Action is "takedown" in a takedown document (no Files), else empty.
	Action  string
	Partner struct{ ID, Name string }
}

// FileName is format_options.file_name, default metadata.txt.
func (Format) FileName(_ domain.Asset, p domain.Partner) string {
	if n := p.FormatOptions.FileName; n != "" {
		return n
	}
	return "metadata.txt"
}

// NeedsChecksums is true when the template mentions MD5: computing md5s
// costs a read of every media file, so only templates that may print
// them pay for it.
func (Format) NeedsChecksums(p domain.Partner) bool {
	return strings.Contains(p.FormatOptions.Template, "MD5")
}

// Render parses and executes the partner's template on the asset.
func (Format) Render(a domain.Asset, p domain.Partner, files []format.File) ([]byte, error) {
	return execute(p, Data{ID: a.ID, Type: a.Type, Title: a.Title, Metadata: a.Metadata, Rights: a.Rights, Files: files})
}

// RenderTakedown executes the same template with .Action "takedown" and
// no .Files: the template decides how its partner hears of a takedown.
func (Format) RenderTakedown(a domain.Asset, p domain.Partner) ([]byte, error) {
	return execute(p, Data{ID: a.ID, Type: a.Type, Title: a.Title, Metadata: a.Metadata, Rights: a.Rights,
		Action: string(domain.ActionTakedown)})
}

func execute(p domain.Partner, d Data) ([]byte, error) {
	d.Partner.ID, d.Partner.Name = p.ID, p.Name
	out, err := render(p.FormatOptions.Template, d)
	if err != nil {
		return nil, fmt.Errorf("format_options.template: %w", err)
	}
	return out, nil
}

// render runs the template in a goroutine, writing into a buffer that
// refuses more than MaxOutput bytes, and gives up after Timeout.
//
// text/template cannot be interrupted: after a timeout the goroutine runs
// on until the template next writes, calls a function or enters a range
// (each then fails at once, since stop is set) or ends. Ranges over
// numbers are refused (statically where the number is plain, at run time
// by rangeGuard otherwise) and recursion is refused, so a loop is nested
// ranges over the data's own lists and the innermost one, which enters
// nothing, is bounded by a list's length. At most maxRunaways goroutines
// may still be winding down, after which renders fail fast.
func render(text string, d Data) ([]byte, error) {
	if runaways.Load() >= maxRunaways {
		return nil, fmt.Errorf("refused: %d earlier renders of templates still run past their %s limit", maxRunaways, Timeout)
	}
	var stop atomic.Bool
	t, err := template.New("template").Funcs(funcs(&stop)).Parse(text)
	if err != nil {
		return nil, lineError(err)
	}
	if err := check(t); err != nil {
		return nil, err
	}
	guardRanges(t)
	w := &limitWriter{stop: &stop}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("template panicked: %v", r)
			}
		}()
		done <- t.Execute(w, d)
	}()
	timer := time.NewTimer(Timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		if errors.Is(err, errTooLarge) {
			return nil, fmt.Errorf("output exceeds %d bytes", MaxOutput)
		}
		if err != nil {
			return nil, lineError(err)
		}
		return w.buf, nil
	case <-timer.C:
		stop.Store(true)
		runaways.Add(1)
		go func() { <-done; runaways.Add(-1) }()
		return nil, fmt.Errorf("did not finish within %s (a loop?)", Timeout)
	}
}

var (
	errTooLarge = errors.New("output too large")
	errStopped  = errors.New("stopped after the time limit")
)

// limitWriter collects output up to MaxOutput bytes and fails once the
// render has been given up.
type limitWriter struct {
	buf  []byte
	stop *atomic.Bool
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.stop.Load() {
		return 0, errStopped
	}
	if len(w.buf)+len(p) > MaxOutput {
		return 0, errTooLarge
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// templateError matches text/template's "template: NAME:LINE[:COL]: MSG".
var templateError = regexp.MustCompile(`^template: template:(\d+)(?::\d+)?: (?s)(.*)$`)

// lineError restates a parse or execution error as "line N: message".
func lineError(err error) error {
	if m := templateError.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("line %s: %s", m[1], m[2])
	}
	return err
}

var (
	_ format.Format         = Format{}
	_ format.ChecksumNeeder = Format{}
	_ format.FieldUser      = Format{}
	_ format.Takedowner     = Format{}
)
