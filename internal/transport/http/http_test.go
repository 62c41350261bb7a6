package httpdest_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/webdav"

	"github.com/syndicate-media/syndicate/internal/transport"
	httpdest "github.com/syndicate-media/syndicate/internal/transport/http" // registers https:// and http://
	"github.com/syndicate-media/syndicate/internal/transport/transporttest"
)

const (
	user     = "partner"
	password = "s3cret"
	secret   = user + ":" + password
)

func basic(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

// requireAuth answers 401 unless the request's Authorization is want.
func requireAuth(want string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != want {
			w.Header().Set("WWW-Authenticate", `Basic realm="partner"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// davServer serves a fresh directory over WebDAV behind Basic auth, with
// TLS if asked, and returns the server and the directory.
func davServer(t *testing.T, withTLS bool) (*httptest.Server, string) {
	t.Helper()
	dir := t.TempDir()
	h := requireAuth(basic(user, password), &webdav.Handler{FileSystem: webdav.Dir(dir), LockSystem: webdav.NewMemLS()})
	srv := httptest.NewUnstartedServer(h)
	if withTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, dir
}

// plainServer stores PUT bodies in a fresh directory and serves them back
// with HEAD, GET and DELETE; it knows nothing of WebDAV (no OPTIONS, no
// MKCOL, no MOVE) and creates parent folders itself.
func plainServer(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	dir := t.TempDir()
	srv := httptest.NewServer(requireAuth(basic(user, password), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := filepath.Join(dir, filepath.FromSlash(path.Clean("/"+r.URL.Path)))
		switch r.Method {
		case http.MethodPut:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			f, err := os.Create(p)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			_, err = io.Copy(f, r.Body)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusCreated)
		case http.MethodGet, http.MethodHead:
			f, err := os.Open(p)
			if err != nil {
				http.NotFound(w, r)
				return
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil || fi.IsDir() {
				http.NotFound(w, r)
				return
			}
			http.ServeContent(w, r, "", fi.ModTime(), f)
		case http.MethodDelete:
			err := os.Remove(p)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				http.NotFound(w, r)
			case err != nil:
				http.Error(w, err.Error(), http.StatusInternalServerError)
			default:
				w.WriteHeader(http.StatusNoContent)
			}
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})))
	t.Cleanup(srv.Close)
	return srv, dir
}

// pin is the host_key for srv's certificate, computed here independently
// of the transport: SHA256: and the unpadded base64 of the DER's sha256.
func pin(srv *httptest.Server) string {
	sum := sha256.Sum256(srv.Certificate().Raw)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

func dial(rawURL string, opts transport.Options) (transport.Transport, error) {
	return transport.Open(context.Background(), rawURL, opts)
}

func mustDial(t *testing.T, rawURL string, opts transport.Options) transport.Transport {
	t.Helper()
	tr, err := dial(rawURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func TestConformanceWebDAV(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) transport.Transport {
		srv, dir := davServer(t, false)
		if err := os.Mkdir(filepath.Join(dir, "in box"), 0o755); err != nil {
			t.Fatal(err)
		}
		tr, err := dial(srv.URL+"/in%20box", transport.Options{Secret: []byte(secret + "\n")})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := tr.(*httpdest.DAVClient); !ok {
			t.Fatalf("Dial to a WebDAV server returned %T, want *httpdest.DAVClient", tr)
		}
		return tr
	})
}

// TestConformanceNginx runs the suite against a real WebDAV server: nginx
// with its dav and dav-ext modules, started by scripts/webdav.sh. The full
// suite (SYNDICATE_FULL=1) fails without it.
func TestConformanceNginx(t *testing.T) {
	base, secretFile, root := os.Getenv("SYNDICATE_TEST_WEBDAV_URL"), os.Getenv("SYNDICATE_TEST_WEBDAV_SECRET_FILE"), os.Getenv("SYNDICATE_TEST_WEBDAV_ROOT")
	if base == "" || secretFile == "" || root == "" {
		msg := "SYNDICATE_TEST_WEBDAV_* not set; run scripts/webdav.sh as root and source the env file it writes"
		if os.Getenv("SYNDICATE_FULL") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cred, err := os.ReadFile(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	run := time.Now().Format("20060102-150405.000000")
	transporttest.Run(t, func(t *testing.T) transport.Transport {
		// The destination folder must exist, as at a partner: made here
		// with MKCOL through a first client on the root.
		dir := run + "-" + strings.ReplaceAll(t.Name(), "/", "-")
		top := mustDial(t, base+"/", transport.Options{Secret: cred})
		if err := top.Put(context.Background(), dir+"/.keep", strings.NewReader(""), 0); err != nil {
			t.Fatal(err)
		}
		tr, err := dial(base+"/"+dir, transport.Options{Secret: cred})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := tr.(*httpdest.DAVClient); !ok {
			t.Fatalf("Dial to nginx's WebDAV returned %T, want *httpdest.DAVClient", tr)
		}
		return tr
	})
	t.Run("WrongPassword", func(t *testing.T) {
		_, err := dial(base+"/", transport.Options{Secret: []byte("syndicate:wrong")})
		if !transport.IsPermanent(err) {
			t.Fatalf("wrong password: %v, want a permanent error", err)
		}
	})
	t.Cleanup(func() {
		matches, _ := filepath.Glob(filepath.Join(root, run+"-*"))
		for _, m := range matches {
			os.RemoveAll(m)
		}
	})
}

func TestConformanceWebDAVTLS(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) transport.Transport {
		srv, _ := davServer(t, true)
		tr, err := dial(srv.URL+"/", transport.Options{Secret: []byte(secret), HostKey: pin(srv)})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	})
}

func TestConformancePlainPUT(t *testing.T) {
	transporttest.Run(t, func(t *testing.T) transport.Transport {
		srv, _ := plainServer(t)
		tr, err := dial(srv.URL+"/drop", transport.Options{Secret: []byte(secret)})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := tr.(transport.Renamer); ok {
			t.Fatalf("Dial to a plain server returned %T, a Renamer; the delivery step would MOVE", tr)
		}
		return tr
	})
}

func TestNoResume(t *testing.T) {
	dav, _ := davServer(t, false)
	plain, _ := plainServer(t)
	for _, u := range []string{dav.URL, plain.URL} {
		if tr := mustDial(t, u, transport.Options{Secret: []byte(secret)}); isResumer(tr) {
			t.Errorf("%T is a Resumer; plain HTTP PUT cannot continue an upload", tr)
		}
	}
}

func isResumer(tr transport.Transport) bool { _, ok := tr.(transport.Resumer); return ok }

// TestWhereFilesLand checks escaping on the server's disk: names may hold
// spaces and characters that mean something in a URL.
func TestWhereFilesLand(t *testing.T) {
	srv, dir := davServer(t, false)
	if err := os.MkdirAll(filepath.Join(dir, "base", "in#1"), 0o755); err != nil {
		t.Fatal(err)
	}
	tr := mustDial(t, srv.URL+"/base/in%231", transport.Options{Secret: []byte(secret)})
	ctx := context.Background()
	name := "show ü/ep?1%;#a.txt"
	if err := tr.Put(ctx, name+".partial", strings.NewReader("data"), 4); err != nil {
		t.Fatal(err)
	}
	if err := tr.(transport.Renamer).Rename(ctx, name+".partial", name); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "base", "in#1", "show ü", "ep?1%;#a.txt"))
	if err != nil || string(b) != "data" {
		t.Fatalf("file on server = %q, %v", b, err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "base", "in#1", "show ü")); len(entries) != 1 {
		t.Fatalf("folder holds %d entries, want only the renamed file", len(entries))
	}
}

func TestBearerToken(t *testing.T) {
	dir := t.TempDir()
	srv := httptest.NewServer(requireAuth("Bearer tok3n", &webdav.Handler{FileSystem: webdav.Dir(dir), LockSystem: webdav.NewMemLS()}))
	defer srv.Close()
	tr := mustDial(t, srv.URL, transport.Options{Secret: []byte("tok3n\n")})
	if err := tr.Put(context.Background(), "t.txt", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "t.txt")); err != nil {
		t.Fatal(err)
	}
}

func TestUserInURL(t *testing.T) {
	srv, dir := davServer(t, false)
	tr := mustDial(t, strings.Replace(srv.URL, "://", "://"+user+"@", 1), transport.Options{Secret: []byte(password)})
	if err := tr.Put(context.Background(), "u.txt", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "u.txt")); err != nil {
		t.Fatal(err)
	}
}

func TestWrongPassword(t *testing.T) {
	dav, _ := davServer(t, false)
	for name, sec := range map[string]string{"wrong password": user + ":guessed-pw", "no credentials": "", "bearer": "guessed-token"} {
		t.Run(name, func(t *testing.T) {
			_, err := dial(dav.URL, transport.Options{Secret: []byte(sec)})
			if !transport.IsPermanent(err) || !strings.Contains(err.Error(), "refused: HTTP 401") {
				t.Fatalf("err = %v, want a permanent refusal", err)
			}
			if strings.Contains(err.Error(), "guessed") {
				t.Fatal("error contains the secret")
			}
		})
	}
}

// TestRefusedPut: a server that takes the login but refuses the write
// answers before the body goes out (Expect: 100-continue), and the error
// is permanent.
func TestRefusedPut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			http.Error(w, "read only", http.StatusForbidden)
		}
	}))
	defer srv.Close()
	tr := mustDial(t, srv.URL, transport.Options{Secret: []byte(secret)})
	const size = 1 << 30
	r := &counter{r: io.LimitReader(endless{}, size)}
	err := tr.Put(context.Background(), "big.bin", r, size)
	if !transport.IsPermanent(err) || !strings.Contains(err.Error(), "refused: HTTP 403") {
		t.Fatalf("err = %v, want a permanent refusal", err)
	}
	if r.n == size {
		t.Fatal("the whole body was sent to a server that refused it")
	}
}

type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestCertificatePin(t *testing.T) {
	srv, _ := davServer(t, true)
	opts := transport.Options{Secret: []byte(secret)}

	_, err := dial(srv.URL, opts)
	if !transport.IsPermanent(err) || !strings.Contains(err.Error(), pin(srv)) {
		t.Fatalf("untrusted certificate: err = %v, want permanent naming %s", err, pin(srv))
	}

	opts.HostKey = "SHA256:AAAAwrongwrongwrong"
	_, err = dial(srv.URL, opts)
	if !transport.IsPermanent(err) || !strings.Contains(err.Error(), "SHA256:AAAAwrongwrongwrong") || !strings.Contains(err.Error(), pin(srv)) {
		t.Fatalf("wrong pin: err = %v, want permanent naming both fingerprints", err)
	}

	opts.HostKey = pin(srv) + "=" // padded base64 is the same pin
	mustDial(t, srv.URL, opts)

	opts.HostKey, opts.InsecureIgnoreHostKey = "", true
	mustDial(t, srv.URL, opts)
}

func TestOptionsRefused(t *testing.T) {
	cases := map[string]struct {
		url  string
		opts transport.Options
	}{
		"known_hosts":        {"https://127.0.0.1:1/", transport.Options{KnownHosts: "/etc/ssh/ssh_known_hosts"}},
		"host_key on http":   {"http://127.0.0.1:1/", transport.Options{HostKey: "SHA256:x"}},
		"host_key malformed": {"https://127.0.0.1:1/", transport.Options{HostKey: "ab:cd:ef"}},
	}
	for name, c := range cases {
		if _, err := dial(c.url, c.opts); !transport.IsPermanent(err) {
			t.Errorf("%s: err = %v, want permanent", name, err)
		}
	}
}

// statusServer answers OPTIONS plainly (no WebDAV) and every other
// request with code, after reading the body.
func statusServer(t *testing.T, code int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method != http.MethodOptions {
			w.WriteHeader(code)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestStatusCodes(t *testing.T) {
	cases := []struct {
		code      int
		permanent bool
		want      string
	}{
		{http.StatusInsufficientStorage, true, "quota"},
		{http.StatusRequestEntityTooLarge, true, "quota"},
		{http.StatusNotFound, true, "missing directory"},
		{http.StatusConflict, true, "missing directory"},
		{http.StatusBadRequest, true, "HTTP 400"},
		{http.StatusServiceUnavailable, false, "HTTP 503"},
		{http.StatusInternalServerError, false, "HTTP 500"},
		{http.StatusTooManyRequests, false, "HTTP 429"},
	}
	for _, c := range cases {
		t.Run(http.StatusText(c.code), func(t *testing.T) {
			tr := mustDial(t, statusServer(t, c.code).URL, transport.Options{Secret: []byte(secret)})
			err := tr.Put(context.Background(), "d/f.bin", strings.NewReader("payload"), 7)
			if err == nil || transport.IsPermanent(err) != c.permanent || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v (permanent %v), want permanent=%v containing %q", err, transport.IsPermanent(err), c.permanent, c.want)
			}
		})
	}
}

func TestUnavailableAtConnect(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	if _, err := dial(srv.URL, transport.Options{}); err == nil || transport.IsPermanent(err) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
}

func TestMissingDirectoryWebDAV(t *testing.T) {
	srv, _ := davServer(t, false)
	tr := mustDial(t, srv.URL+"/nowhere", transport.Options{Secret: []byte(secret)})
	for _, name := range []string{"top.txt", "a/b/c.txt"} {
		err := tr.Put(context.Background(), name, strings.NewReader("x"), 1)
		if !transport.IsPermanent(err) || !strings.Contains(err.Error(), "missing directory") || !strings.Contains(err.Error(), "/nowhere/") {
			t.Fatalf("Put %s: err = %v, want permanent missing directory naming /nowhere/", name, err)
		}
	}
}

func TestRedirectRefused(t *testing.T) {
	var reached atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	defer target.Close()
	redirect := func(all bool) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodOptions && !all {
				return
			}
			http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	if _, err := dial(redirect(true).URL, transport.Options{}); !transport.IsPermanent(err) || !strings.Contains(err.Error(), "redirect") {
		t.Fatalf("Dial: err = %v, want a permanent redirect error", err)
	}
	tr := mustDial(t, redirect(false).URL, transport.Options{})
	err := tr.Put(context.Background(), "f.txt", strings.NewReader("x"), 1)
	if !transport.IsPermanent(err) || !strings.Contains(err.Error(), target.URL) {
		t.Fatalf("Put: err = %v, want a permanent redirect error naming %s", err, target.URL)
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the redirect target got %d requests", n)
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = dial("https://"+addr+"/", transport.Options{Secret: []byte(secret), InsecureIgnoreHostKey: true, Timeout: 5 * time.Second})
	if err == nil || transport.IsPermanent(err) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
}

// TestStalledServer: a server that stops reading mid-upload fails the Put
// once a write has made no progress for Timeout, as a retryable error.
func TestStalledServer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			return
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		<-release // hold the connection without reading
		conn.Close()
	}))
	defer srv.Close()
	defer close(release)
	tr := mustDial(t, srv.URL, transport.Options{Timeout: time.Second})
	err := tr.Put(context.Background(), "endless.bin", endless{}, -1)
	if err == nil || transport.IsPermanent(err) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
}

func TestCancelMidTransfer(t *testing.T) {
	srv, _ := davServer(t, false)
	tr := mustDial(t, srv.URL, transport.Options{Secret: []byte(secret)})
	ctx, cancel := context.WithCancel(context.Background())
	r := &cancelAfter{n: 8 << 20, cancel: cancel}
	err := tr.Put(ctx, "endless.bin", r, -1)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }

// cancelAfter yields bytes forever and cancels once n bytes are out.
type cancelAfter struct {
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n -= len(p); c.n < 0 {
		c.cancel()
	}
	return len(p), nil
}
