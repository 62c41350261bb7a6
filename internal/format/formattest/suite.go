// Package formattest is the conformance suite every metadata format runs:
// a rich and a minimal asset render, deterministically, to a valid file
// name; odd metadata neither panics nor breaks the document; XML formats
// are well-formed; takedown documents (format.Takedowner) are
// deterministic and differ from a delivery; the fields a format says it
// uses (format.FieldUser) are known field names; md5s a format asks for
// appear in it, also when
// packaging.Build computes them from real files; and golden files
// in the format's testdata (an asset, a partner profile and the package's
// files in, exact bytes out) pin the output. `go test -update` rewrites
// the golden files.
package formattest

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/format"
	"github.com/syndicate-media/syndicate/internal/packaging"
	"github.com/syndicate-media/syndicate/internal/transport"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Features say what the suite may expect of a format.
type Features struct {
	// Partner is a profile carrying the options the format needs; Run
	// sets its Format (and an ID and Name when empty).
	Partner domain.Partner
	// XML means the document must be one well-formed XML document.
	XML bool
	// BadOptions are format options Partner.Validate must refuse for
	// this format, each with a format_options error.
	BadOptions []domain.FormatOptions
}

// Run checks the format registered as name against the shared contract,
// then its golden files (testdata/*.in.json).
func Run(t *testing.T, name string, ft Features) {
	t.Helper()
	f, err := format.Get(name)
	if err != nil {
		t.Fatal(err)
	}
	p := ft.Partner
	p.Format = name
	if p.ID == "" {
		p.ID, p.Name = "acme", "Acme"
	}
	c := checker{f: f, p: p, xml: ft.XML}
	t.Run("Profile", func(t *testing.T) { profile(t, p, ft.BadOptions) })
	t.Run("Rich", func(t *testing.T) { c.renders(t, Rich(), RichFiles()) })
	t.Run("Minimal", func(t *testing.T) { c.renders(t, Minimal(), MinimalFiles()) })
	t.Run("EmptyMetadata", func(t *testing.T) {
		a := Minimal()
		a.Metadata = map[string]any{}
		c.renders(t, a, MinimalFiles())
	})
	t.Run("OddMetadata", func(t *testing.T) { c.renders(t, Odd(), RichFiles()) })
	t.Run("Takedown", func(t *testing.T) {
		if _, ok := f.(format.Takedowner); !ok {
			t.Skip("format cannot express a takedown")
		}
		for _, a := range []domain.Asset{Rich(), Minimal(), Odd()} {
			doc, err := format.RenderTakedown(f, a, p)
			if err != nil || len(doc) == 0 {
				t.Fatalf("RenderTakedown(%s) = %d bytes, %v", a.ID, len(doc), err)
			}
			if again, _ := format.RenderTakedown(f, a, p); !bytes.Equal(doc, again) {
				t.Fatalf("RenderTakedown is not deterministic:\n%s\n---\n%s", doc, again)
			}
			if full, _ := f.Render(a, p, RichFiles()); bytes.Equal(doc, full) {
				t.Fatal("a takedown document reads like a delivery")
			}
			if c.xml {
				if err := WellFormed(doc); err != nil {
					t.Errorf("takedown not well-formed XML: %v\n%s", err, doc)
				}
			}
		}
	})
	t.Run("UsedFields", func(t *testing.T) {
		fields, all := format.UsedFields(f, p)
		if all {
			return
		}
		for _, fl := range fields {
			if fl != "id" && fl != "type" && fl != "metadata.*" && !domain.ValidField(fl) {
				t.Errorf("UsedFields names %q: not a field partner rules and change detection know", fl)
			}
		}
	})
	t.Run("NoFiles", func(t *testing.T) {
		// Not a package Build would make; it must not panic.
		_, _ = f.Render(Minimal(), p, nil)
	})
	t.Run("Checksums", func(t *testing.T) {
		if !format.NeedsChecksums(f, p) {
			t.Skip("format does not ask for md5s")
		}
		doc := c.renders(t, Rich(), RichFiles())
		for _, file := range RichFiles() {
			if !bytes.Contains(doc, []byte(file.MD5)) {
				t.Errorf("md5 of %s (%s) missing from the document", file.Name, file.MD5)
			}
		}
	})
	t.Run("Package", func(t *testing.T) { c.packages(t) })
	t.Run("Golden", func(t *testing.T) { Golden(t, f) })
}

// packages runs packaging.Build on real files: the metadata is written,
// and the md5s a format asks for are those of the files, whose sha256
// the plan then expects.
func (c checker) packages(t *testing.T) {
	a, src := Rich(), t.TempDir()
	write := func(role, uri string) string {
		p := filepath.Join(src, role+path.Ext(uri))
		if err := os.WriteFile(p, []byte("content of "+role), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for i, m := range a.Media {
		a.Media[i].URI = write(m.Role, m.URI)
	}
	for i, im := range a.Images {
		a.Images[i].URI = write(im.Role, im.URI)
	}
	plan, err := packaging.Build(t.TempDir(), a, c.p)
	if err != nil {
		t.Fatal(err)
	}
	meta := plan.Files[len(plan.Files)-1]
	doc, err := os.ReadFile(meta.Source)
	if err != nil || meta.Name != c.f.FileName(a, c.p) || int64(len(doc)) != meta.Size {
		t.Fatalf("metadata %+v: %v", meta, err)
	}
	sums := format.NeedsChecksums(c.f, c.p)
	for _, file := range plan.Files[:len(plan.Files)-1] {
		content := []byte("content of " + file.Role)
		md, sh := md5.Sum(content), sha256.Sum256(content)
		if got := bytes.Contains(doc, []byte(hex.EncodeToString(md[:]))); got != sums {
			t.Errorf("md5 of %s in the document: %v, format asks for md5s: %v", file.Name, got, sums)
		}
		if want := hex.EncodeToString(sh[:]); sums && file.SHA256 != want {
			t.Errorf("%s: plan expects sha256 %q, want %q", file.Name, file.SHA256, want)
		}
	}
}

// profile checks that Partner.Validate accepts the suite's options and
// refuses the bad ones.
func profile(t *testing.T, p domain.Partner, bad []domain.FormatOptions) {
	p.Destination.URL = "file:///srv/out"
	p.Defaults()
	if err := p.Validate(); err != nil {
		t.Fatalf("the suite's profile is invalid: %v", err)
	}
	for _, o := range bad {
		p.FormatOptions = o
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "format_options.") {
			t.Errorf("options %+v: Validate = %v, want a format_options error", o, err)
		}
	}
}

type checker struct {
	f   format.Format
	p   domain.Partner
	xml bool
}

// renders checks one render and returns the document.
func (c checker) renders(t *testing.T, a domain.Asset, files []format.File) []byte {
	t.Helper()
	doc, err := c.f.Render(a, c.p, files)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if len(doc) == 0 {
		t.Fatal("Render returned an empty document")
	}
	for range 3 { // map order differs between runs: catch output that follows it
		again, err := c.f.Render(a, c.p, files)
		if err != nil || !bytes.Equal(doc, again) {
			t.Fatalf("Render is not deterministic (err %v):\n%s\n---\n%s", err, doc, again)
		}
	}
	name := c.f.FileName(a, c.p)
	if err := transport.ValidateName(name); err != nil || name == "manifest.json" {
		t.Errorf("FileName = %q: %v", name, err)
	}
	if c.xml {
		if err := WellFormed(doc); err != nil {
			t.Errorf("not well-formed XML: %v\n%s", err, doc)
		}
	}
	return doc
}

// WellFormed reads doc to the end with encoding/xml and checks it has
// exactly one root element.
func WellFormed(doc []byte) error {
	d := xml.NewDecoder(bytes.NewReader(doc))
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if roots != 1 {
		return errors.New("want exactly one root element")
	}
	return nil
}

// goldenCase is a testdata/<case>.in.json file.
type goldenCase struct {
	Asset   domain.Asset   `json:"asset"`
	Partner domain.Partner `json:"partner"`
	Files   []format.File  `json:"files"`
}

// Golden renders every testdata/<case>.in.json and compares the result
// with testdata/<case>.golden<ext>, ext being that of the format's file
// name; -update rewrites the golden files.
func Golden(t *testing.T, f format.Format) {
	t.Helper()
	ins, err := filepath.Glob(filepath.Join("testdata", "*.in.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) == 0 {
		t.Fatal("no golden cases: add testdata/<case>.in.json ({asset, partner, files})")
	}
	for _, in := range ins {
		b, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		var c goldenCase
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		got, err := f.Render(c.Asset, c.Partner, c.Files)
		if err != nil {
			t.Fatalf("%s: Render: %v", in, err)
		}
		golden := strings.TrimSuffix(in, ".in.json") + ".golden" + path.Ext(f.FileName(c.Asset, c.Partner))
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("render of %s differs from %s (go test -update accepts it):\n%s", in, golden, got)
		}
	}
}
