package template_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/format"
	"github.com/syndicate-media/syndicate/internal/format/formattest"
	tmpl "github.com/syndicate-media/syndicate/internal/format/template"
)

func TestUsedFields(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       []string
		all        bool
	}{
		{"sample", sample, []string{"id", "metadata.description", "metadata.keywords", "title", "type"}, false},
		{"index", `{{index .Metadata "synopsis"}} {{index .Metadata "x" | upper}}`, []string{"metadata.synopsis", "metadata.x"}, false},
		{"with metadata", `{{with .Metadata}}{{.rating}}{{end}}`, []string{"metadata.rating"}, false},
		{"variables", `{{$m := .Metadata}}{{$m.year}}{{$.Title}}{{$t := .Type}}{{$t}}`, []string{"metadata.year", "title", "type"}, false},
		{"range files", `{{range $i, $f := .Files}}{{$f.Name}} {{.Size}}{{end}}`, []string{}, false},
		{"range a list", `{{range .Metadata.genres}}{{.}}{{end}}`, []string{"metadata.genres"}, false},
		{"range metadata", `{{range $k, $v := .Metadata}}{{$k}}={{$v}}{{end}}`, []string{"metadata.*"}, false},
		{"metadata to a function", `{{json .Metadata}}`, []string{"metadata.*"}, false},
		{"computed key", `{{index .Metadata .Title}}`, []string{"metadata.*", "title"}, false},
		{"rights", `{{if .Rights}}{{.Rights.End}}{{end}}`, []string{"rights"}, false},
		{"sub-template", `{{define "t"}}{{.Title}}{{end}}{{template "t" .}}{{template "t" .Metadata}}`, []string{"metadata.Title", "title"}, false},
		{"chain", `{{(.Metadata).season}}`, []string{"metadata.season"}, false},
		{"whole data printed", `{{.}}`, nil, true},
		{"whole data to a function", `{{json .}}`, nil, true},
		{"unknown variable source", `{{template "t" .}}{{define "t"}}{{$.Title}}{{end}}`, []string{"title"}, false},
		{"not parseable", `{{if}}`, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			fields, all := tmpl.Format{}.UsedFields(domain.Partner{FormatOptions: domain.FormatOptions{Template: c.text}})
			if all != c.all || !c.all && !reflect.DeepEqual(fields, c.want) {
				t.Errorf("UsedFields = %q %v, want %q %v", fields, all, c.want, c.all)
			}
		})
	}
}

func TestTakedown(t *testing.T) {
	p := domain.Partner{ID: "acme", FormatOptions: domain.FormatOptions{Template: `{{if eq .Action "takedown"}}REMOVE {{.ID}} files={{len .Files}}{{else}}ADD {{.ID}}{{end}}`}}
	b, err := format.RenderTakedown(tmpl.Format{}, formattest.Rich(), p)
	if err != nil || string(b) != "REMOVE ep-101 files=0" {
		t.Fatalf("takedown = %q, %v", b, err)
	}
	b, err = tmpl.Format{}.Render(formattest.Rich(), p, formattest.RichFiles())
	if err != nil || !strings.HasPrefix(string(b), "ADD") {
		t.Fatalf("render = %q, %v", b, err)
	}
}
