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
	realConformance(t, realDAV(t, "WEBDAV", "webdav.sh"))
}

// TestConformanceApache runs the suite against Apache 2.4 mod_dav, started
// by scripts/apache-dav.sh: it sends no Content-Length on HEAD of an empty
// file. The full suite fails without it.
func TestConformanceApache(t *testing.T) {
	realConformance(t, realDAV(t, "APACHE_DAV", "apache-dav.sh"))
}

// davTarget is a real WebDAV server the full suite starts.
type davTarget struct {
	base, root string
	cred       []byte
	run        string // this run's prefix for the folders it makes
}

// realDAV reads SYNDICATE_TEST_<kind>_{URL,SECRET_FILE,ROOT}, which script
// writes; it skips without them, or fails in the full suite.
func realDAV(t *testing.T, kind, script string) davTarget {
	t.Helper()
	env := "SYNDICATE_TEST_" + kind + "_"
	d := davTarget{base: os.Getenv(env + "URL"), root: os.Getenv(env + "ROOT"), run: time.Now().Format("20060102-150405.000000")}
	secretFile := os.Getenv(env + "SECRET_FILE")
	if d.base == "" || secretFile == "" || d.root == "" {
		msg := env + "* not set; run scripts/" + script + " as root and source the env file it writes"
		if os.Getenv("SYNDICATE_FULL") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var err error
	if d.cred, err = os.ReadFile(secretFile); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		matches, _ := filepath.Glob(filepath.Join(d.root, d.run+"-*"))
		for _, m := range matches {
			os.RemoveAll(m)
		}
	})
	return d
}

// folder makes a fresh destination folder for t, as a partner would have
// it, with MKCOL through a first client on the root, and dials it.
func (d davTarget) folder(t *testing.T) transport.Transport {
	t.Helper()
	dir := d.run + "-" + strings.ReplaceAll(t.Name(), "/", "-")
	top := mustDial(t, d.base+"/", transport.Options{Secret: d.cred})
	if err := top.Put(context.Background(), dir+"/.keep", strings.NewReader(""), 0); err != nil {
		t.Fatal(err)
	}
	tr, err := dial(d.base+"/"+dir, transport.Options{Secret: d.cred})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tr.(*httpdest.DAVClient); !ok {
		t.Fatalf("Dial to %s returned %T, want *httpdest.DAVClient", d.base, tr)
	}
	return tr
}

func realConformance(t *testing.T, d davTarget) {
	transporttest.Run(t, d.folder)
	t.Run("WrongPassword", func(t *testing.T) {
		_, err := dial(d.base+"/", transport.Options{Secret: []byte("syndicate:wrong")})
		if !transport.IsPermanent(err) {
			t.Fatalf("wrong password: %v, want a permanent error", err)
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

// apacheLike serves a fresh directory over WebDAV as Apache mod_dav does
// where it matters here: HEAD of an empty file has no Content-Length.
// propfind, if not nil, answers PROPFIND instead of the WebDAV handler.
func apacheLike(t *testing.T, propfind http.HandlerFunc) (*httptest.Server, string) {
	t.Helper()
	dir := t.TempDir()
	dav := &webdav.Handler{FileSystem: webdav.Dir(dir), LockSystem: webdav.NewMemLS()}
	srv := httptest.NewServer(requireAuth(basic(user, password), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "PROPFIND" && propfind != nil {
			propfind(w, r)
			return
		}
		if r.Method == http.MethodHead {
			w = noZeroLength{w}
		}
		dav.ServeHTTP(w, r)
	})))
	t.Cleanup(srv.Close)
	return srv, dir
}

type noZeroLength struct{ http.ResponseWriter }

func (w noZeroLength) WriteHeader(code int) {
	if w.Header().Get("Content-Length") == "0" {
		w.Header().Del("Content-Length")
	}
	w.ResponseWriter.WriteHeader(code)
}

// TestStatEmptyFileWithoutLength: when HEAD of an empty file carries no
// Content-Length, Stat takes the size from PROPFIND; the put, stat and
// rename a completion marker goes through succeed.
func TestStatEmptyFileWithoutLength(t *testing.T) {
	ctx := context.Background()
	srv, dir := apacheLike(t, nil)
	tr := mustDial(t, srv.URL+"/", transport.Options{Secret: []byte(secret)})
	if err := tr.Put(ctx, "pkg/a.done.tag.partial", strings.NewReader(""), 0); err != nil {
		t.Fatal(err)
	}
	// The server really sends no length: the test checks what it tests.
	req, _ := http.NewRequest(http.MethodHead, srv.URL+"/pkg/a.done.tag.partial", nil)
	req.Header.Set("Authorization", basic(user, password))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != -1 {
		t.Fatalf("HEAD: %d, Content-Length %d; want 200 with no length", resp.StatusCode, resp.ContentLength)
	}
	fi, err := tr.Stat(ctx, "pkg/a.done.tag.partial")
	if err != nil || fi.Size != 0 {
		t.Fatalf("Stat = %+v, %v; want size 0", fi, err)
	}
	if err := tr.(transport.Renamer).Rename(ctx, "pkg/a.done.tag.partial", "pkg/a.done"); err != nil {
		t.Fatal(err)
	}
	if fi, err := tr.Stat(ctx, "pkg/a.done"); err != nil || fi.Size != 0 {
		t.Fatalf("Stat after rename = %+v, %v", fi, err)
	}
	if st, err := os.Stat(filepath.Join(dir, "pkg", "a.done")); err != nil || st.Size() != 0 {
		t.Fatalf("on disk: %v, %v", st, err)
	}
	if err := tr.Put(ctx, "pkg/b.bin", strings.NewReader("seven b"), 7); err != nil {
		t.Fatal(err)
	}
	if fi, err := tr.Stat(ctx, "pkg/b.bin"); err != nil || fi.Size != 7 {
		t.Fatalf("Stat of a non-empty file = %+v, %v", fi, err)
	}
}

// TestStatPropfindFailures: each bad PROPFIND answer is a clear error,
// never a size.
func TestStatPropfindFailures(t *testing.T) {
	ctx := context.Background()
	multistatus := func(props, status string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Depth") != "0" {
				http.Error(w, "want Depth 0", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusMultiStatus)
			io.WriteString(w, `<?xml version="1.0"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>/x</D:href><D:propstat><D:prop>`+
				props+`</D:prop><D:status>HTTP/1.1 `+status+`</D:status></D:propstat></D:response></D:multistatus>`)
		}
	}
	for _, c := range []struct {
		name      string
		propfind  http.HandlerFunc
		want      string
		permanent bool
		notFound  bool
	}{
		{"no length", multistatus(`<D:resourcetype/>`, "200 OK"), "no getcontentlength", true, false},
		{"length not found", multistatus(`<D:getcontentlength/>`, "404 Not Found"), "no getcontentlength", true, false},
		{"not a number", multistatus(`<D:getcontentlength>lots</D:getcontentlength>`, "200 OK"), `getcontentlength "lots" is not a size`, false, false},
		{"negative", multistatus(`<D:getcontentlength>-1</D:getcontentlength>`, "200 OK"), "is not a size", false, false},
		{"collection", multistatus(`<D:resourcetype><D:collection/></D:resourcetype>`, "200 OK"), "is a collection", true, false},
		{"garbage", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusMultiStatus)
			io.WriteString(w, "<<<")
		},
			"reading the PROPFIND answer", false, false},
		{"not allowed", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusMethodNotAllowed) },
			"PROPFIND", true, false},
		{"unavailable", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "later", http.StatusServiceUnavailable) },
			"503", false, false},
		{"gone meanwhile", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, "not found", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, _ := apacheLike(t, c.propfind)
			tr := mustDial(t, srv.URL+"/", transport.Options{Secret: []byte(secret)})
			if err := tr.Put(ctx, "e", strings.NewReader(""), 0); err != nil {
				t.Fatal(err)
			}
			fi, err := tr.Stat(ctx, "e")
			if err == nil || !strings.Contains(err.Error(), c.want) || transport.IsPermanent(err) != c.permanent ||
				errors.Is(err, transport.ErrNotFound) != c.notFound {
				t.Fatalf("Stat = %+v, %v (permanent %v); want %q, permanent %v, not found %v",
					fi, err, transport.IsPermanent(err), c.want, c.permanent, c.notFound)
			}
		})
	}
}

// TestStatPlainWithoutLength: a server that is not WebDAV has no PROPFIND
// to ask, so a HEAD without length stays a clear, permanent error.
func TestStatPlainWithoutLength(t *testing.T) {
	srv := httptest.NewServer(requireAuth(basic(user, password), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			http.Error(w, "no", http.StatusMethodNotAllowed)
			return
		}
		w.WriteHeader(http.StatusOK) // HEAD: no body, no length
	})))
	t.Cleanup(srv.Close)
	tr := mustDial(t, srv.URL+"/", transport.Options{Secret: []byte(secret)})
	if _, err := tr.Stat(context.Background(), "x"); err == nil || !transport.IsPermanent(err) || !strings.Contains(err.Error(), "no Content-Length") {
		t.Fatalf("Stat: %v", err)
	}
}
