package workflow_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

// TestArchiveDelivery sends the package as tar, tgz and zip: the archive
// holds every file and the manifest last, and NAME.sha256 next to it
// matches the archive.
func TestArchiveDelivery(t *testing.T) {
	e := start(t, storetest.SQLite(t))
	media, _ := os.ReadFile(e.media)
	e.asset(t, "ep-1", "Pilot")
	for _, kind := range domain.ArchiveKinds {
		t.Run(kind, func(t *testing.T) {
			dest := t.TempDir()
			e.partner(t, "p-"+kind, "file://"+dest, func(p *domain.Partner) { p.Package.Archive = kind })
			resp, err := e.intake.Notify(context.Background(), intake.Request{AssetID: "ep-1", Partners: intake.Partners{IDs: []string{"p-" + kind}}})
			if err != nil {
				t.Fatal(err)
			}
			d := waitTerminal(t, e.store, resp.Decisions[0].DeliveryID)
			if d.Status != domain.StatusDelivered || d.Files != 2 {
				t.Fatalf("%+v", d)
			}
			ext := map[string]string{"tar": ".tar", "tgz": ".tar.gz", "zip": ".zip"}[kind]
			arc, err := os.ReadFile(filepath.Join(dest, "ep-1", "ep-1"+ext))
			if err != nil {
				t.Fatal(err)
			}
			side, _ := os.ReadFile(filepath.Join(dest, "ep-1", "ep-1"+ext+".sha256"))
			sum := sha256.Sum256(arc)
			if string(side) != hex.EncodeToString(sum[:])+"  ep-1"+ext+"\n" {
				t.Fatalf("sidecar %q does not match the archive", side)
			}
			files := unpackAll(t, kind, arc)
			if !bytes.Equal(files["main.mp4"], media) {
				t.Fatal("media differs inside the archive")
			}
			var m domain.Manifest
			if err := json.Unmarshal(files["manifest.json"], &m); err != nil || m.DeliveryID != d.ID || len(m.Files) != 2 {
				t.Fatalf("manifest in the archive: %s %v", files["manifest.json"], err)
			}
			for _, f := range m.Files {
				h := sha256.Sum256(files[f.Name])
				if hex.EncodeToString(h[:]) != f.SHA256 {
					t.Errorf("%s: sha256 differs from the manifest", f.Name)
				}
			}
			entries, _ := os.ReadDir(filepath.Join(dest, "ep-1"))
			for _, en := range entries {
				if strings.HasSuffix(en.Name(), ".partial") {
					t.Errorf("left behind: %s", en.Name())
				}
			}
		})
	}
}

func unpackAll(t *testing.T, kind string, b []byte) map[string][]byte {
	out := map[string][]byte{}
	if kind == "zip" {
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			rc, _ := f.Open()
			out[f.Name], _ = io.ReadAll(rc)
			rc.Close()
		}
		return out
	}
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
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name], _ = io.ReadAll(tr)
	}
}
