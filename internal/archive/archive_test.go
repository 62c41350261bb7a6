package archive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func entries(t *testing.T) ([]Entry, map[string][]byte) {
	dir := t.TempDir()
	data := map[string][]byte{}
	var out []Entry
	for name, n := range map[string]int{"main.mxf": 3<<20 + 17, "images/cover.png": 4096, "metadata.json": 100} {
		b := make([]byte, n)
		rand.Read(b)
		p := filepath.Join(dir, filepath.Base(name))
		os.WriteFile(p, b, 0o644)
		data[name] = b
		out = append(out, Entry{Name: name, Source: p, Size: int64(n)})
	}
	return out, data
}

func manifest(sums []Sum) ([]byte, error) { return json.Marshal(sums) }

func read(t *testing.T, kind string, es []Entry) []byte {
	rc := Stream(context.Background(), kind, es, "manifest.json", manifest)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestArchives(t *testing.T) {
	es, data := entries(t)
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) {
			a, b := read(t, kind, es), read(t, kind, es)
			if !bytes.Equal(a, b) {
				t.Fatal("two streams of the same files differ: resume would corrupt")
			}
			if bound := SizeBound(es); int64(len(a)) > bound {
				t.Errorf("%d bytes, over SizeBound's %d", len(a), bound)
			}
			got := unpack(t, kind, a)
			for name, want := range data {
				if !bytes.Equal(got[name], want) {
					t.Errorf("%s differs after unpacking", name)
				}
			}
			var sums []Sum
			if err := json.Unmarshal(got["manifest.json"], &sums); err != nil || len(sums) != len(es) {
				t.Fatalf("manifest: %s %v", got["manifest.json"], err)
			}
			for i, e := range es {
				h := sha256.Sum256(data[e.Name])
				if sums[i].SHA256 != hex.EncodeToString(h[:]) || sums[i].Size != e.Size {
					t.Errorf("sum of %s wrong", e.Name)
				}
			}
		})
	}
}

func unpack(t *testing.T, kind string, b []byte) map[string][]byte {
	out := map[string][]byte{}
	var order []string
	switch kind {
	case "zip":
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			rc, _ := f.Open()
			out[f.Name], _ = io.ReadAll(rc)
			rc.Close()
			order = append(order, f.Name)
		}
	default:
		var r io.Reader = bytes.NewReader(b)
		if kind == "tgz" {
			gz, err := gzip.NewReader(r)
			if err != nil {
				t.Fatal(err)
			}
			r = gz
		}
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			out[h.Name], _ = io.ReadAll(tr)
			order = append(order, h.Name)
		}
	}
	if order[len(order)-1] != "manifest.json" {
		t.Fatalf("manifest is not last: %v", order)
	}
	return out
}

func TestChangedSource(t *testing.T) {
	es, _ := entries(t)
	es[0].Size++ // the plan says one byte more than the file has
	rc := Stream(context.Background(), "tar", es, "manifest.json", manifest)
	_, err := io.ReadAll(rc)
	if err == nil || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("err = %v", err)
	}
	if _, err := io.ReadAll(Stream(context.Background(), "rar", es, "m", manifest)); err == nil {
		t.Fatal("unknown kind accepted")
	}
}
