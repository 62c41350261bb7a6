package adi11_test

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/format"
	_ "github.com/syndicate-media/syndicate/internal/format/adi11"
	"github.com/syndicate-media/syndicate/internal/format/formattest"
)

var partner = domain.Partner{ID: "acme", Name: "Acme", Format: "adi11",
	FormatOptions: domain.FormatOptions{Provider: "Coastline Studios", ProviderID: "coastline.example"}}

func TestConformance(t *testing.T) {
	formattest.Run(t, "adi11", formattest.Features{Partner: partner, XML: true, BadOptions: []domain.FormatOptions{
		{Provider: "Coastline Studios"}, {ProviderID: "coastline.example"},
		{Provider: "A provider name over twenty", ProviderID: "coastline.example"},
		{Provider: "Coastline", ProviderID: "Not A Domain"}}})
}

// TestDTD validates the golden files and the suite's assets against the
// ADI 1.1 DTD with xmllint (libxml2-utils); the full suite requires it.
func TestDTD(t *testing.T) {
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("SYNDICATE_FULL") == "1" {
			t.Fatal("xmllint missing (apt-get install -y libxml2-utils): the ADI DTD check cannot run")
		}
		t.Skip("xmllint missing (apt-get install -y libxml2-utils)")
	}
	docs := map[string][]byte{"rich": render(t, formattest.Rich(), formattest.RichFiles()),
		"odd": render(t, formattest.Odd(), formattest.RichFiles()), "minimal": render(t, formattest.Minimal(), formattest.MinimalFiles())}
	goldens, _ := filepath.Glob("testdata/*.golden.XML")
	for _, g := range goldens {
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		docs[g] = b
	}
	for name, doc := range docs {
		cmd := exec.Command(xmllint, "--noout", "--nonet", "--dtdvalid", "testdata/ADI.DTD", "-")
		cmd.Stdin = bytes.NewReader(doc)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: not valid against ADI.DTD: %v\n%s\n%s", name, err, out, doc)
		}
	}
}

// TestStructure reads the rendered package back and checks what the DTD
// cannot: classes, content files, checksums, versions and id formats.
func TestStructure(t *testing.T) {
	a := formattest.Rich()
	a.Metadata["version"] = 3.0
	var doc node // ADI has the shape of an Asset: Metadata, then Assets
	if err := xml.Unmarshal(render(t, a, formattest.RichFiles()), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Metadata.AMS.Class != "package" || len(doc.Assets) != 1 || doc.Assets[0].Metadata.AMS.Class != "title" {
		t.Fatalf("want a package with one title, got %+v", doc)
	}
	got := map[string]string{} // class → content file
	sums := map[string]string{}
	idPattern := regexp.MustCompile(`^[A-Z]{4}[0-9]{16}$`)
	ids := map[string]bool{}
	for _, n := range append([]node{doc, doc.Assets[0]}, doc.Assets[0].Assets...) {
		m := n.Metadata.AMS
		if m.Major != "3" || m.Minor != "0" || m.Provider != "Coastline Studios" || m.ProviderID != "coastline.example" {
			t.Errorf("%s AMS = %+v", m.Class, m)
		}
		if !idPattern.MatchString(m.ID) || ids[m.ID] || len(m.Name) > 50 {
			t.Errorf("%s: Asset_ID %q (want 4 letters + 16 digits, unique), Asset_Name %q", m.Class, m.ID, m.Name)
		}
		ids[m.ID] = true
		if n.Content != nil {
			got[m.Class+":"+n.Content.Value] = m.Class
			for _, d := range n.Metadata.AppData {
				if d.Name == "Content_CheckSum" {
					sums[n.Content.Value] = d.Value
				}
			}
		}
	}
	for _, want := range []string{"movie:main.mp4", "preview:trailer.mov", "poster:images/cover.png", "poster:images/poster.jpg"} {
		if got[want] == "" {
			t.Errorf("no %s in %v", want, got)
		}
	}
	for _, f := range formattest.RichFiles() {
		if sums[f.Name] != f.MD5 {
			t.Errorf("%s: Content_CheckSum %q, want %q", f.Name, sums[f.Name], f.MD5)
		}
	}
}

type node struct {
	Metadata struct {
		AMS struct {
			Provider   string `xml:"Provider,attr"`
			ProviderID string `xml:"Provider_ID,attr"`
			Name       string `xml:"Asset_Name,attr"`
			ID         string `xml:"Asset_ID,attr"`
			Class      string `xml:"Asset_Class,attr"`
			Major      string `xml:"Version_Major,attr"`
			Minor      string `xml:"Version_Minor,attr"`
		} `xml:"AMS"`
		AppData []struct {
			Name  string `xml:"Name,attr"`
			Value string `xml:"Value,attr"`
		} `xml:"App_Data"`
	} `xml:"Metadata"`
	Assets  []node `xml:"Asset"`
	Content *struct {
		Value string `xml:"Value,attr"`
	} `xml:"Content"`
}

func render(t *testing.T, a domain.Asset, files []format.File) []byte {
	t.Helper()
	f, err := format.Get("adi11")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := f.Render(a, partner, files)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestVersionFollowsCatalog: the snapshot's catalog version wins over
// metadata.version, so every update of the asset bumps Version_Major.
func TestVersionFollowsCatalog(t *testing.T) {
	a := formattest.Rich()
	a.Metadata["version"] = 3.0
	a.Version = 7
	var doc node
	if err := xml.Unmarshal(render(t, a, formattest.RichFiles()), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Metadata.AMS.Major != "7" {
		t.Fatalf("Version_Major = %q, want 7", doc.Metadata.AMS.Major)
	}
}
