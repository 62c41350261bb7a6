package csv_test

import (
	"bytes"
	stdcsv "encoding/csv"
	"slices"
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/format"
	_ "github.com/syndicate-media/syndicate/internal/format/csv"
	"github.com/syndicate-media/syndicate/internal/format/formattest"
)

func TestConformance(t *testing.T) {
	formattest.Run(t, "csv", formattest.Features{BadOptions: []domain.FormatOptions{
		{Columns: []string{"id", "price"}}, {Columns: []string{"id", "id"}}, {Columns: []string{"metadata."}},
		{FileName: "../x.csv"}, {FileName: "manifest.json"}}})
}

// TestEveryColumn renders each column domain.CSVColumns names, so the
// profile cannot accept a column this format does not know.
func TestEveryColumn(t *testing.T) {
	p := domain.Partner{FormatOptions: domain.FormatOptions{Columns: domain.CSVColumns}}
	rows := render(t, formattest.Rich(), p)
	if !slices.Equal(rows[0], domain.CSVColumns) {
		t.Fatalf("header = %q", rows[0])
	}
	want := []string{"ep-101", "episode", `Pilot & "Premiere" <Part 1>`, "It begins.\nA second line, with a comma.",
		"drama|coast|=cmd", "GB|IE", "main.mp4", "images/cover.png"}
	if !slices.Equal(rows[1], want) {
		t.Fatalf("row = %q\nwant %q", rows[1], want)
	}
}

func TestInjectionDefused(t *testing.T) {
	a := formattest.Minimal()
	a.Title = "=HYPERLINK(\"http://evil\")"
	a.Metadata = map[string]any{"a": "+1", "b": "-2", "c": "@SUM(A1)", "d": "\tx", "e": "\rx", "f": "ok=1", "g": []any{"=x", "y"}}
	p := domain.Partner{FormatOptions: domain.FormatOptions{Columns: []string{"title",
		"metadata.a", "metadata.b", "metadata.c", "metadata.d", "metadata.e", "metadata.f", "metadata.g"}}}
	row := render(t, a, p)[1]
	// encoding/csv with CRLF line ends drops a lone \r inside a cell.
	want := []string{`'=HYPERLINK("http://evil")`, "'+1", "'-2", "'@SUM(A1)", "'\tx", "'x", "ok=1", "'=x|y"}
	if !slices.Equal(row, want) {
		t.Fatalf("row = %q\nwant %q", row, want)
	}
}

func TestUnknownColumnRefused(t *testing.T) {
	f, _ := format.Get("csv")
	p := domain.Partner{FormatOptions: domain.FormatOptions{Columns: []string{"id", "price"}}}
	if _, err := f.Render(formattest.Minimal(), p, nil); err == nil || !strings.Contains(err.Error(), `"price"`) {
		t.Fatalf("err = %v", err)
	}
}

// FuzzCSV: whatever the metadata, the file parses back as a header and one
// row of the same width.
func FuzzCSV(f *testing.F) {
	f.Add("plain", "=1+2", "line\nbreak \"quoted\", comma")
	f.Add("", "\r\n", "\x00\xff")
	f.Fuzz(func(t *testing.T, title, v1, v2 string) {
		a := formattest.Minimal()
		a.Title = title
		a.Metadata = map[string]any{"k1": v1, "k2": []any{v1, v2}, "description": v2}
		p := domain.Partner{FormatOptions: domain.FormatOptions{Columns: []string{"id", "title", "description", "metadata.k1", "metadata.k2"}}}
		rows := render(t, a, p)
		if len(rows) != 2 || len(rows[0]) != 5 || len(rows[1]) != 5 {
			t.Fatalf("rows = %q", rows)
		}
		for _, c := range rows[1] {
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				t.Fatalf("cell %q not defused", c)
			}
		}
	})
}

func render(t *testing.T, a domain.Asset, p domain.Partner) [][]string {
	t.Helper()
	f, err := format.Get("csv")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := f.Render(a, p, formattest.RichFiles())
	if err != nil {
		t.Fatal(err)
	}
	rows, err := stdcsv.NewReader(bytes.NewReader(doc)).ReadAll()
	if err != nil {
		t.Fatalf("output does not parse: %v\n%q", err, doc)
	}
	return rows
}
