package workflow_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/webdav"

	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
	_ "github.com/syndicate-media/syndicate/internal/transport/http"
)

// TestCommittedFilesNotSentAgain: the partner refuses the first commit
// (MOVE) of metadata.json after main.mp4 was committed; the retry
// commits metadata.json and the manifest but does not send main.mp4
// again, and the manifest still carries its sha256.
func TestCommittedFilesNotSentAgain(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) {
			e := start(t, cfg)
			root := t.TempDir()
			os.Mkdir(filepath.Join(root, "in"), 0o755)
			dav := &webdav.Handler{FileSystem: webdav.Dir(root), LockSystem: webdav.NewMemLS()}
			var mu sync.Mutex
			moves, puts := map[string]int{}, map[string]int{}
			refused := false
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				switch r.Method {
				case "PUT":
					puts[path.Base(r.URL.Path)]++
				case "MOVE":
					u, _ := url.Parse(r.Header.Get("Destination"))
					if strings.HasSuffix(u.Path, "/metadata.json") && !refused {
						refused = true
						mu.Unlock()
						http.Error(w, "busy", http.StatusServiceUnavailable)
						return
					}
					moves[path.Base(u.Path)]++
				}
				mu.Unlock()
				dav.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			e.partner(t, "dav", srv.URL+"/in", nil)
			e.asset(t, "ep-1", "Pilot")
			resp, err := e.intake.Notify(context.Background(), intake.Request{AssetID: "ep-1", Partners: intake.Partners{All: true}})
			if err != nil {
				t.Fatal(err)
			}
			d := waitTerminal(t, e.store, resp.Decisions[0].DeliveryID)
			if d.Status != "delivered" || d.Attempts != 2 {
				t.Fatalf("delivery: %s after %d attempts: %s", d.Status, d.Attempts, d.LastError)
			}
			checkPackage(t, filepath.Join(root, "in", "ep-1"))
			mu.Lock()
			defer mu.Unlock()
			for _, f := range []string{"main.mp4", "metadata.json", "manifest.json"} {
				if moves[f] != 1 {
					t.Errorf("%s committed %d times, want once", f, moves[f])
				}
			}
			var mainPuts int
			for n, c := range puts {
				if strings.HasPrefix(n, "main.mp4") {
					mainPuts += c
				}
			}
			if mainPuts != 1 {
				t.Errorf("main.mp4 uploaded %d times, want once (the retry must not send it again)", mainPuts)
			}
			b, _ := os.ReadFile(filepath.Join(root, "in", "ep-1", "main.mp4"))
			if orig, _ := os.ReadFile(e.media); !bytes.Equal(b, orig) {
				t.Error("main.mp4 at the partner differs from the source")
			}
		})
	}
}
