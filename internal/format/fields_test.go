package format_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/format"
	_ "github.com/syndicate-media/syndicate/internal/format/adi11"
	_ "github.com/syndicate-media/syndicate/internal/format/csv"
	"github.com/syndicate-media/syndicate/internal/format/formattest"
	_ "github.com/syndicate-media/syndicate/internal/format/json"
	_ "github.com/syndicate-media/syndicate/internal/format/mrss"
)

func partner(name string) domain.Partner {
	return domain.Partner{ID: "acme", Format: name, FormatOptions: domain.FormatOptions{
		Provider: "Coastline", ProviderID: "coastline.example", Link: "https://coastline.example/",
		Columns: []string{"id", "title", "media_file"}}}
}

func TestUsedFields(t *testing.T) {
	for _, c := range []struct {
		format   string
		has, not []string
		all      bool
	}{
		{format: "json", all: true},
		{format: "csv", has: []string{"id", "title"}, not: []string{"type", "metadata.synopsis", "metadata.description"}},
		{format: "mrss", has: []string{"title", "metadata.synopsis", "metadata.description", "metadata.keywords", "metadata.territories"}, not: []string{"metadata.rating", "type"}},
		{format: "adi11", has: []string{"title", "metadata.rating", "metadata.synopsis", "rights", "metadata.licensing_window_end"}, not: []string{"type", "metadata.keywords"}},
	} {
		f, err := format.Get(c.format)
		if err != nil {
			t.Fatal(err)
		}
		fields, all := format.UsedFields(f, partner(c.format))
		if all != c.all {
			t.Errorf("%s: all = %v", c.format, all)
		}
		for _, h := range c.has {
			if !slices.Contains(fields, h) {
				t.Errorf("%s: %q missing from %v", c.format, h, fields)
			}
		}
		for _, n := range c.not {
			if slices.Contains(fields, n) {
				t.Errorf("%s: %q should not be in %v", c.format, n, fields)
			}
		}
	}
	csvDefault, _ := format.Get("csv")
	if fields, _ := format.UsedFields(csvDefault, domain.Partner{}); !slices.Contains(fields, "metadata.synopsis") {
		t.Errorf("csv default columns include description: %v", fields)
	}
}

func TestTakedownDocuments(t *testing.T) {
	a := formattest.Rich()
	end := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	a.Rights = &domain.Rights{End: &end}
	for name, want := range map[string][]string{
		"json":  {`"action": "takedown"`, `"files": []`, `"id": "ep-101"`},
		"csv":   {"id,title,media_file,action\r\n", "ep-101,", ",takedown\r\n"},
		"mrss":  {`<media:status state="deleted" reason="takedown"></media:status>`, `<guid isPermaLink="false">ep-101</guid>`},
		"adi11": {`Verb="DELETE"`, `Asset_Class="package"`, `Asset_Class="movie"`, `Asset_Class="poster"`},
	} {
		f, _ := format.Get(name)
		doc, err := format.RenderTakedown(f, a, partner(name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, w := range want {
			if !strings.Contains(string(doc), w) {
				t.Errorf("%s takedown lacks %q:\n%s", name, w, doc)
			}
		}
		if name == "mrss" && strings.Contains(string(doc), "media:content") {
			t.Errorf("mrss takedown lists media:\n%s", doc)
		}
		if name == "adi11" {
			if strings.Contains(string(doc), "<Content") || strings.Count(string(doc), `Verb="DELETE"`) != 6 {
				t.Errorf("adi11 takedown: every AMS deletes, no content:\n%s", doc)
			}
			validADI(t, doc)
		}
		if name == "json" {
			var v map[string]any
			if err := json.Unmarshal(doc, &v); err != nil || v["action"] != "takedown" {
				t.Errorf("json takedown = %v %v", v, err)
			}
		}
	}
}

func TestADIPrintsTheRightsWindow(t *testing.T) {
	a := formattest.Minimal()
	start, end := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))
	a.Rights = &domain.Rights{Start: &start, End: &end}
	f, _ := format.Get("adi11")
	doc, err := f.Render(a, partner("adi11"), formattest.MinimalFiles())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`Name="Licensing_Window_Start" Value="2026-01-02T03:04:05"`, `Name="Licensing_Window_End" Value="2026-12-31T23:00:00"`} {
		if !strings.Contains(string(doc), w) {
			t.Errorf("lacks %s:\n%s", w, doc)
		}
	}
}

type plain struct{}

func (plain) FileName(domain.Asset, domain.Partner) string { return "x" }
func (plain) Render(domain.Asset, domain.Partner, []format.File) ([]byte, error) {
	return nil, nil
}

func TestFormatWithoutTakedown(t *testing.T) {
	if _, err := format.RenderTakedown(plain{}, formattest.Minimal(), domain.Partner{Format: "plain"}); !errors.Is(err, format.ErrNoTakedown) {
		t.Errorf("err = %v", err)
	}
	if _, all := format.UsedFields(plain{}, domain.Partner{}); !all {
		t.Error("a format that cannot tell must use everything")
	}
}

func validADI(t *testing.T, doc []byte) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Log("xmllint missing: DTD not checked")
		return
	}
	cmd := exec.Command(xmllint, "--noout", "--nonet", "--dtdvalid", "adi11/testdata/ADI.DTD", "-")
	cmd.Stdin = bytes.NewReader(doc)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("takedown not valid against ADI.DTD: %v\n%s", err, out)
	}
}
