package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/webdav"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/server"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
)

const davUser, davPassword = "partner", "dav-s3cret"

// davLikeApache serves a fresh folder "in" over WebDAV behind Basic auth,
// answering HEAD of an empty file without Content-Length as Apache
// mod_dav does. refuseMove, if not nil, makes MOVE fail with 507 for the
// sources it matches. It returns the server's URL of "in" and the folder.
func davLikeApache(t *testing.T, refuseMove func(src string) bool) (string, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	dav := &webdav.Handler{FileSystem: webdav.Dir(dir), LockSystem: webdav.NewMemLS()}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(davUser+":"+davPassword))
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Authorization") != auth:
			http.Error(w, "unauthorized", http.StatusUnauthorized)
		case r.Method == "MOVE" && refuseMove != nil && refuseMove(r.URL.Path):
			http.Error(w, "disk full", http.StatusInsufficientStorage)
		case r.Method == http.MethodHead:
			dav.ServeHTTP(noZeroLength{w}, r)
		default:
			dav.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(ts.Close)
	return ts.URL + "/in", filepath.Join(dir, "in")
}

type noZeroLength struct{ http.ResponseWriter }

func (w noZeroLength) WriteHeader(code int) {
	if w.Header().Get("Content-Length") == "0" {
		w.Header().Del("Content-Length")
	}
	w.ResponseWriter.WriteHeader(code)
}

// davDelivery starts a server, a partner "dav" delivering to url with
// secret and a completion marker, and an asset with a media file and an
// empty one; it returns the client, the delivery ID and the media bytes.
func davDelivery(t *testing.T, url, secret string) (*client.Client, string, []byte) {
	t.Helper()
	cfg := storetest.SQLite(t)
	const token = "dav-serve-test-token-0123456789"
	srv, err := server.Start(context.Background(), server.Config{DataDir: cfg.DataDir, Addr: "127.0.0.1:0", Token: token,
		AllowPrivateDestinations: true, Logger: slog.New(slog.NewJSONHandler(&syncBuffer{}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(5 * time.Second) })
	c := client.New(srv.URL, token)
	ctx := context.Background()
	t.Setenv("SYN_DAV_SECRET", secret)
	p := domain.Partner{ID: "dav", Name: "DAV", Format: "json",
		Destination: domain.Destination{URL: url, Credentials: "env:SYN_DAV_SECRET"},
		Package:     domain.Package{CompletionMarker: "{asset_id}.done"}, Retry: domain.Retry{MaxAttempts: 2, BaseInterval: domain.Duration(100 * time.Millisecond)}}
	body, _ := json.Marshal(p)
	if _, err := c.PutPartner(ctx, p.ID, body, "application/json"); err != nil {
		t.Fatal(err)
	}
	media := make([]byte, 100<<10+3)
	rand.Read(media)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "m.mp4"), media, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "notes.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutAsset(ctx, domain.Asset{ID: "ep-3", Type: "clip", Title: "T", Media: []domain.MediaFile{
		{Role: "main", URI: filepath.Join(src, "m.mp4")}, {Role: "notes", URI: filepath.Join(src, "notes.txt")}}}); err != nil {
		t.Fatal(err)
	}
	resp, err := c.Notify(ctx, intake.Request{AssetID: "ep-3", Partners: intake.Partners{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	return c, resp.Decisions[0].DeliveryID, media
}

// checkPackage checks what landed in dir/ep-3: the media, the empty file,
// the marker, and no temporary file.
func checkPackage(t *testing.T, dir string, media []byte) {
	t.Helper()
	for name, want := range map[string][]byte{"main.mp4": media, "notes.txt": {}, "ep-3.done": {}} {
		got, err := os.ReadFile(filepath.Join(dir, "ep-3", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes, %v; want %d", name, len(got), err, len(want))
		}
	}
	if left := partials(t, dir); len(left) > 0 {
		t.Fatalf("temporary files left: %q", left)
	}
}

func partials(t *testing.T, dir string) []string {
	t.Helper()
	var left []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".partial") {
			left = append(left, p)
		}
		return err
	})
	return left
}

// TestEmptyFilesAndMarkerOverWebDAV delivers a package with an empty file
// and a completion marker to a WebDAV server that, like Apache mod_dav,
// sends no Content-Length on HEAD of an empty file; and to Apache itself
// (scripts/apache-dav.sh) in the full suite.
func TestEmptyFilesAndMarkerOverWebDAV(t *testing.T) {
	t.Run("in-process", func(t *testing.T) {
		url, dir := davLikeApache(t, nil)
		c, id, media := davDelivery(t, url, davUser+":"+davPassword)
		waitDelivered(t, c, id)
		checkPackage(t, dir, media)
	})
	t.Run("apache", func(t *testing.T) {
		base, secretFile, root := os.Getenv("SYNDICATE_TEST_APACHE_DAV_URL"), os.Getenv("SYNDICATE_TEST_APACHE_DAV_SECRET_FILE"), os.Getenv("SYNDICATE_TEST_APACHE_DAV_ROOT")
		if base == "" || secretFile == "" || root == "" {
			msg := "SYNDICATE_TEST_APACHE_DAV_* not set; run scripts/apache-dav.sh as root and source the env file it writes"
			if os.Getenv("SYNDICATE_FULL") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		secret, err := os.ReadFile(secretFile)
		if err != nil {
			t.Fatal(err)
		}
		// The partner's folder exists; Apache's children (www-data) write in it.
		folder := "serve-" + time.Now().Format("20060102-150405.000000")
		req, _ := http.NewRequest("MKCOL", base+"/"+folder+"/", nil)
		user, pw, _ := strings.Cut(strings.TrimSpace(string(secret)), ":")
		req.SetBasicAuth(user, pw)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("MKCOL %s: %v %v", folder, resp, err)
		}
		resp.Body.Close()
		t.Cleanup(func() { os.RemoveAll(filepath.Join(root, folder)) })
		c, id, media := davDelivery(t, base+"/"+folder, strings.TrimSpace(string(secret)))
		waitDelivered(t, c, id)
		checkPackage(t, filepath.Join(root, folder), media)
	})
}

// TestFailedMarkerLeavesNoPartial: when the server refuses to move the
// completion marker into place, the delivery fails with the server's
// reason and the marker's temporary file is removed, not left for the
// partner to find.
func TestFailedMarkerLeavesNoPartial(t *testing.T) {
	url, dir := davLikeApache(t, func(src string) bool { return strings.Contains(src, ".done.") })
	c, id, _ := davDelivery(t, url, davUser+":"+davPassword)
	ctx := context.Background()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		d, err := c.Delivery(ctx, id)
		if err == nil && d.Status.Terminal() {
			if d.Status != domain.StatusFailed || !strings.Contains(d.LastError, "507") {
				t.Fatalf("delivery: %+v", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s not finished: %+v %v", id, d, err)
		}
	}
	if left := partials(t, dir); len(left) > 0 {
		t.Fatalf("temporary files left at the partner: %q", left)
	}
	if _, err := os.Stat(filepath.Join(dir, "ep-3", "main.mp4")); err != nil {
		t.Fatalf("the files before the marker: %v", err)
	}
}
