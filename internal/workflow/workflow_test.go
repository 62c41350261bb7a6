package workflow_test

import (
	"archive/tar"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/catalog"
	"github.com/syndicate-media/syndicate/internal/domain"
	_ "github.com/syndicate-media/syndicate/internal/format/json"
	_ "github.com/syndicate-media/syndicate/internal/format/mrss"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
	_ "github.com/syndicate-media/syndicate/internal/transport/local"
	"github.com/syndicate-media/syndicate/internal/workflow"
)

type env struct {
	store  *store.Store
	intake *intake.Service
	media  string
}

func start(t *testing.T, cfg store.Config) env {
	t.Helper()
	st := storetest.Open(t, cfg)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := workflow.New(context.Background(), st, workflow.Config{WorkDir: filepath.Join(cfg.DataDir, "work"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Shutdown(5 * time.Second) })
	media := filepath.Join(t.TempDir(), "main.mp4")
	b := make([]byte, 3<<20+7)
	_, _ = rand.Read(b)
	if err := os.WriteFile(media, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return env{store: st, intake: &intake.Service{Store: st, Catalog: catalog.Builtin{Store: st}, Engine: eng}, media: media}
}

func (e env) partner(t *testing.T, id, url string, mut func(*domain.Partner)) {
	t.Helper()
	p := domain.Partner{ID: id, Name: id, Format: "json", Destination: domain.Destination{URL: url},
		Retry: domain.Retry{MaxAttempts: 3, BaseInterval: domain.Duration(50 * time.Millisecond)}}
	if mut != nil {
		mut(&p)
	}
	if _, err := e.store.PutPartner(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func (e env) asset(t *testing.T, id, title string) {
	t.Helper()
	a := domain.Asset{ID: id, Type: "episode", Title: title, Media: []domain.MediaFile{{Role: "main", URI: "file://" + e.media}}}
	if _, _, err := e.store.PutAsset(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}

func waitTerminal(t *testing.T, st *store.Store, id string) domain.Delivery {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		d, err := st.GetDelivery(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status.Terminal() {
			return d
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("delivery %s did not finish", id)
	return domain.Delivery{}
}

func TestDeliverEndToEnd(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) {
			e := start(t, cfg)
			dest := t.TempDir()
			e.partner(t, "acme", "file://"+dest, nil)
			e.asset(t, "ep-1", "Pilot")
			ctx := context.Background()
			resp, err := e.intake.Notify(ctx, intake.Request{AssetID: "ep-1", Partners: intake.Partners{IDs: []string{"acme"}}, IdempotencyKey: "k1"})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Decisions) != 1 || resp.Decisions[0].Action != "create" {
				t.Fatalf("decisions = %+v", resp.Decisions)
			}
			d := waitTerminal(t, e.store, resp.Decisions[0].DeliveryID)
			if d.Status != domain.StatusDelivered || d.Attempts != 1 || d.Files != 3 {
				t.Fatalf("delivery = %+v", d)
			}
			checkPackage(t, filepath.Join(dest, "ep-1"))

			// Same key: same answer, no new delivery.
			again, err := e.intake.Notify(ctx, intake.Request{AssetID: "ep-1", Partners: intake.Partners{IDs: []string{"acme"}}, IdempotencyKey: "k1"})
			if err != nil || !again.Replayed || again.Decisions[0].DeliveryID != d.ID {
				t.Fatalf("replay = %+v, %v", again, err)
			}
			// Same version, new key: nothing to do.
			noop, err := e.intake.Notify(ctx, intake.Request{AssetID: "ep-1", Partners: intake.Partners{All: true}})
			if err != nil || noop.Decisions[0].Action != "noop" {
				t.Fatalf("noop = %+v, %v", noop, err)
			}
			// Changed asset: an update.
			e.asset(t, "ep-1", "Pilot (recut)")
			upd, err := e.intake.Notify(ctx, intake.Request{AssetID: "ep-1", Partners: intake.Partners{All: true}})
			if err != nil || upd.Decisions[0].Action != "update" || upd.AssetVersion != 2 {
				t.Fatalf("update = %+v, %v", upd, err)
			}
			if d := waitTerminal(t, e.store, upd.Decisions[0].DeliveryID); d.Status != domain.StatusDelivered {
				t.Fatalf("update delivery = %+v", d)
			}
			list, _ := e.store.ListDeliveries(ctx, store.DeliveryFilter{})
			if len(list) != 2 {
				t.Fatalf("%d deliveries, want 2", len(list))
			}
		})
	}
}

// checkPackage verifies every file in the manifest against its sha256
// (and md5, where listed) and that no temporary file is left behind. It
// returns the manifest.
func checkPackage(t *testing.T, dir string) domain.Manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m domain.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		data, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		sum, m5 := sha256.Sum256(data), md5.Sum(data)
		if hex.EncodeToString(sum[:]) != f.SHA256 || (f.MD5 != "" && hex.EncodeToString(m5[:]) != f.MD5) || int64(len(data)) != f.Size {
			t.Fatalf("%s does not match the manifest", f.Name)
		}
	}
	filepath.WalkDir(dir, func(p string, _ os.DirEntry, _ error) error {
		if strings.HasSuffix(p, ".partial") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
	return m
}

// TestManifestMD5: the manifest lists md5s only for a profile that asks
// (manifest_md5 or md5_sidecars) or whose format made packaging read
// them already; the default hashes sha256 alone. With an archive the md5s
// are those of the files inside it.
func TestManifestMD5(t *testing.T) {
	e := start(t, storetest.SQLite(t))
	e.asset(t, "ep-1", "Pilot")
	cases := []struct {
		id      string
		mut     func(*domain.Partner)
		wantMD5 bool
	}{
		{"plain", nil, false},
		{"md5", func(p *domain.Partner) { p.Package.ManifestMD5 = true }, true},
		{"sidecars", func(p *domain.Partner) { p.Package.MD5Sidecars = true }, true},
		{"tar-md5", func(p *domain.Partner) { p.Package.Archive, p.Package.ManifestMD5 = "tar", true }, true},
		{"tar", func(p *domain.Partner) { p.Package.Archive = "tar" }, false},
		// MRSS prints md5s, so packaging has them: listed at no cost.
		{"mrss", func(p *domain.Partner) { p.Format = "mrss" }, true},
		{"tar-mrss", func(p *domain.Partner) { p.Package.Archive, p.Format = "tar", "mrss" }, true},
	}
	for _, c := range cases {
		dest := t.TempDir()
		e.partner(t, c.id, "file://"+dest, c.mut)
		resp, err := e.intake.Notify(context.Background(), intake.Request{AssetID: "ep-1", Partners: intake.Partners{IDs: []string{c.id}}})
		if err != nil {
			t.Fatal(err)
		}
		if d := waitTerminal(t, e.store, resp.Decisions[0].DeliveryID); d.Status != domain.StatusDelivered {
			t.Fatalf("%s: %s %s", c.id, d.Status, d.LastError)
		}
		var m domain.Manifest
		if strings.HasPrefix(c.id, "tar") {
			m = manifestInTar(t, filepath.Join(dest, "ep-1", "ep-1.tar"))
		} else {
			m = checkPackage(t, filepath.Join(dest, "ep-1"))
		}
		want := md5.Sum(must(os.ReadFile(e.media)))
		for _, f := range m.Files {
			if f.Role != "main" {
				continue
			}
			if got := f.MD5 != ""; got != c.wantMD5 {
				t.Errorf("%s: md5 listed %v, want %v", c.id, got, c.wantMD5)
			}
			if c.wantMD5 && f.MD5 != hex.EncodeToString(want[:]) {
				t.Errorf("%s: md5 %s, want %x", c.id, f.MD5, want)
			}
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// manifestInTar reads manifest.json, the last entry of a delivered tar.
func manifestInTar(t *testing.T, name string) domain.Manifest {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var m domain.Manifest
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "manifest.json" {
			if err := json.NewDecoder(tr).Decode(&m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(m.Files) == 0 {
		t.Fatalf("no manifest in %s", name)
	}
	return m
}

func TestRefusals(t *testing.T) {
	e := start(t, storetest.SQLite(t))
	e.partner(t, "acme", "file://"+t.TempDir(), nil)
	e.asset(t, "ep-1", "Pilot")
	ctx := context.Background()
	cases := map[string]struct {
		req  intake.Request
		code string
	}{
		"unknown asset":   {intake.Request{AssetID: "nope", Partners: intake.Partners{All: true}}, intake.CodeUnknownAsset},
		"unknown partner": {intake.Request{AssetID: "ep-1", Partners: intake.Partners{IDs: []string{"acme", "ghost"}}}, intake.CodeUnknownPartner},
		"bad asset id":    {intake.Request{AssetID: "../etc", Partners: intake.Partners{All: true}}, intake.CodeInvalid},
		"no partners":     {intake.Request{AssetID: "ep-1"}, intake.CodeInvalid},
	}
	for name, c := range cases {
		_, err := e.intake.Notify(ctx, c.req)
		var ie *intake.Error
		if !errors.As(err, &ie) || ie.Code != c.code {
			t.Errorf("%s: err = %v, want code %s", name, err, c.code)
		}
	}
	if _, err := e.intake.Notify(ctx, intake.Request{AssetID: "ep-1", Partners: intake.Partners{All: true}, IdempotencyKey: "k"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.intake.Notify(ctx, intake.Request{AssetID: "ep-1", Partners: intake.Partners{IDs: []string{"acme", "acme"}}, IdempotencyKey: "k"})
	var ie *intake.Error
	if !errors.As(err, &ie) || ie.Code != intake.CodeKeyReused {
		t.Fatalf("reused key with other request: %v", err)
	}
	if list, _ := e.store.ListDeliveries(ctx, store.DeliveryFilter{}); len(list) != 1 {
		t.Fatalf("refused notifications wrote deliveries: %d", len(list))
	}
}

func TestFailureRecordsReason(t *testing.T) {
	e := start(t, storetest.SQLite(t))
	// A destination that cannot exist: a file where the root dir should be.
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, []byte("x"), 0o644)
	e.partner(t, "broken", "file://"+blocker+"/in", nil)
	e.partner(t, "nocreds", "file://"+t.TempDir(), func(p *domain.Partner) { p.Destination.Credentials = "env:SYNDICATE_TEST_UNSET_VAR" })
	e.asset(t, "ep-1", "Pilot")
	resp, err := e.intake.Notify(context.Background(), intake.Request{AssetID: "ep-1", Partners: intake.Partners{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, dec := range resp.Decisions {
		d := waitTerminal(t, e.store, dec.DeliveryID)
		if d.Status != domain.StatusFailed || d.LastError == "" {
			t.Fatalf("%s: %+v", dec.PartnerID, d)
		}
		switch dec.PartnerID {
		case "broken": // retryable: all 3 attempts used
			if d.Attempts != 3 || strings.Count(d.LastError, "not a directory") != 1 {
				t.Errorf("broken: attempts %d, error %q", d.Attempts, d.LastError)
			}
		case "nocreds": // permanent: one attempt
			if d.Attempts != 1 || !strings.Contains(d.LastError, "SYNDICATE_TEST_UNSET_VAR") {
				t.Errorf("nocreds: attempts %d, error %q", d.Attempts, d.LastError)
			}
		}
	}
}
