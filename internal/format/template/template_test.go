package template_test

import (
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/format"
	"github.com/syndicate-media/syndicate/internal/format/formattest"
	tmpl "github.com/syndicate-media/syndicate/internal/format/template"
)

const sample = `{{.ID}} {{.Title | upper}} ({{.Type}})
{{.Metadata.description | default "no description" | trim}}
keywords: {{join ", " .Metadata.keywords}}
{{range .Files}}{{.Name}} {{.Size}} {{.MD5}} {{.MIMEType}}
{{end}}`

func TestConformance(t *testing.T) {
	p := domain.Partner{FormatOptions: domain.FormatOptions{Template: sample}}
	formattest.Run(t, "template", formattest.Features{Partner: p, BadOptions: []domain.FormatOptions{
		{}, {Template: "ok\n{{if}}"}, {Template: "file:/etc/syndicate/acme.tmpl"}}})
}

func TestErrors(t *testing.T) {
	for _, c := range []struct{ name, text, want string }{
		{"syntax", "ok\n{{if}}", "format_options.template: line 2: missing value for if"},
		{"no file access", "a\nb\n{{readFile \"/etc/passwd\"}}", `line 3: function "readFile" not defined`},
		{"exec", "x\n{{index .Files 99}}", "line 2:"},
		{"output bound", `{{range .Files}}{{range $.Files}}{{printf "%100s" "x"}}{{printf "%s" $.Metadata.long}}{{end}}{{end}}`, "output exceeds 1048576 bytes"},
		{"replace bound", `{{replace "" (printf "%100s" "y") .Metadata.long}}`, "error calling replace: result longer than 1048576 bytes"},
		{"printf width", `{{printf "%999999999d" 1}}`, "width or precision over 100"},
		{"printf star", `{{printf "%*d" 1000000000 1}}`, "* width"},
		{"range number", "\n{{range 1000000000}}{{end}}", "line 2: range over a number"},
		{"range len", `{{range len .Title}}{{end}}`, "range over a number"},
		// Numbers the static check cannot see: the value is refused as the
		// range starts, not after the time limit.
		{"range variable", `{{$n := 100000000000}}{{range $n}}{{end}}`, "range over a number is not allowed"},
		{"range field", `{{range .Files}}{{range .Size}}{{end}}{{end}}`, "range over a number is not allowed"},
		{"range and", `{{range and 1 100000000000}}{{end}}`, "range over a number is not allowed"},
		{"range default", `{{range default 100000000000 .Metadata.nope}}{{end}}`, "range over a number is not allowed"},
		{"recursion", `{{define "a"}}{{template "b"}}{{end}}{{define "b"}}{{template "a"}}{{end}}{{template "a"}}`, "calls itself"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := render(c.text, formattest.Odd())
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	defer func(d time.Duration) { tmpl.Timeout = d }(tmpl.Timeout)
	tmpl.Timeout = 100 * time.Millisecond
	// Nested ranges over the files that write nothing and call no
	// function: len(Files)^40 iterations. Entering a range fails once the
	// render is given up, so the goroutine ends too.
	loop := strings.Repeat(`{{range $.Files}}`, 40) + strings.Repeat(`{{end}}`, 40)
	_, err := render(loop, formattest.Odd())
	if err == nil || !strings.Contains(err.Error(), "did not finish within 100ms") {
		t.Fatalf("err = %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for tmpl.Runaways() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := tmpl.Runaways(); n != 0 {
		t.Fatalf("%d timed-out renders still running", n)
	}
}

func TestFunctions(t *testing.T) {
	a := formattest.Rich()
	text := `{{lower "AbC"}}|{{trim "  x "}}|{{replace "a" "b" "banana"}}|{{truncate 3 "héllo"}}|` +
		`{{xml .Title}}|{{json .Metadata.keywords}}|{{date "02 Jan 2006" .Metadata.pub_date}}|{{.Metadata.nope | default "-"}}|{{printf "%05.1f" 3.14159}}`
	got, err := render(text, a)
	want := `abc|x|bbnbnb|hél|Pilot &amp; &#34;Premiere&#34; &lt;Part 1&gt;|["drama","coast","=cmd"]|01 Mar 2024|-|003.1`
	if err != nil || string(got) != want {
		t.Fatalf("got %q, %v\nwant %q", got, err, want)
	}
}

func TestFileNameAndChecksums(t *testing.T) {
	f, _ := format.Get("template")
	p := domain.Partner{FormatOptions: domain.FormatOptions{Template: "{{.ID}}", FileName: "feed.xml"}}
	if n := f.FileName(formattest.Minimal(), p); n != "feed.xml" {
		t.Errorf("FileName = %q", n)
	}
	if format.NeedsChecksums(f, p) {
		t.Error("a template without MD5 asks for checksums")
	}
	p.FormatOptions.Template = "{{range .Files}}{{.MD5}}{{end}}"
	if !format.NeedsChecksums(f, p) {
		t.Error("a template printing MD5 does not ask for checksums")
	}
}

// FuzzTemplate: no template text or title makes Render panic or return
// more than MaxOutput bytes.
func FuzzTemplate(f *testing.F) {
	old := tmpl.Timeout
	f.Cleanup(func() { tmpl.Timeout = old })
	tmpl.Timeout = 200 * time.Millisecond
	f.Add(sample, "Pilot")
	f.Add(`{{range .Files}}{{printf "%100s" $.Title}}{{end}}`, strings.Repeat("x", 1000))
	f.Add(`{{define "a"}}{{.}}{{end}}{{template "a" .Title}}{{len .Title | printf "%d"}}`, "<&>")
	f.Add(`{{with $x := .Title}}{{$x = replace "" $x $x}}{{$x}}{{end}}`, "abc")
	f.Fuzz(func(t *testing.T, text, title string) {
		a := formattest.Rich()
		a.Title = title
		out, err := render(text, a)
		if err == nil && len(out) > tmpl.MaxOutput {
			t.Fatalf("%d bytes out", len(out))
		}
	})
}

func render(text string, a domain.Asset) ([]byte, error) {
	f, err := format.Get("template")
	if err != nil {
		return nil, err
	}
	a.Metadata["long"] = strings.Repeat("x", 100000)
	p := domain.Partner{ID: "acme", Name: "Acme", FormatOptions: domain.FormatOptions{Template: text}}
	return f.Render(a, p, formattest.RichFiles())
}
