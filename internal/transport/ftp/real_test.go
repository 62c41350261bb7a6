package ftp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/transport"
	"github.com/syndicate-media/syndicate/internal/transport/ftp"
	"github.com/syndicate-media/syndicate/internal/transport/transporttest"
	"github.com/syndicate-media/syndicate/internal/workflow"
)

// realServer is one FTP daemon of the full suite, as its script's env file
// describes it.
type realServer struct {
	name     string
	addr     string // host:port
	user     string
	password string
	root     string // the destination root the tests write below
	pin      string // the FTPS certificate pin
	files    string // root, as a directory on this machine: the partner's own storage
	// resume says whether the server lets an upload resume (REST + STOR);
	// hash whether FEAT offers a sha256.
	resume, hash bool
}

// realServers are the daemons scripts/vsftpd.sh, proftpd.sh and
// pureftpd.sh start. Each is skipped when its env vars are missing (the
// full suite, SYNDICATE_FULL=1, fails instead).
var realServers = []struct {
	name, script, prefix, addrVar, filesVar string
	resume, hash                            bool
}{
	{"vsftpd", "vsftpd.sh", "SYNDICATE_TEST_VSFTPD_", "ADDR", "FILES", true, false},
	{"proftpd-defaults", "proftpd.sh", "SYNDICATE_TEST_PROFTPD_", "ADDR", "FILES", false, false},
	{"proftpd-restart", "proftpd.sh", "SYNDICATE_TEST_PROFTPD_", "RESTART_ADDR", "RESTART_FILES", true, true},
	{"pureftpd", "pureftpd.sh", "SYNDICATE_TEST_PUREFTPD_", "ADDR", "FILES", true, false},
}

// eachServer runs fn for every real server, as a subtest named after it.
func eachServer(t *testing.T, fn func(t *testing.T, s realServer)) {
	for _, rs := range realServers {
		t.Run(rs.name, func(t *testing.T) {
			get := func(key string) string {
				v := os.Getenv(rs.prefix + key)
				if v == "" {
					missing(t, rs.prefix+key, rs.script)
				}
				return v
			}
			s := realServer{
				name: rs.name, addr: get(rs.addrVar), user: get("USER"), root: get("ROOT"),
				pin: get("CERT_PIN"), files: get(rs.filesVar), resume: rs.resume, hash: rs.hash,
			}
			s.password = os.Getenv(rs.prefix + "PASSWORD")
			if f := os.Getenv(rs.prefix + "PASSWORD_FILE"); f != "" {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				s.password = strings.TrimSpace(string(b))
			}
			if s.password == "" {
				missing(t, rs.prefix+"PASSWORD_FILE (or _PASSWORD)", rs.script)
			}
			fn(t, s)
		})
	}
}

func missing(t *testing.T, name, script string) {
	t.Helper()
	msg := name + " not set; run scripts/" + script + " as root and source the env file it writes"
	if os.Getenv("SYNDICATE_FULL") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// runID keeps the directories of one test run apart from earlier runs'.
var runID = time.Now().Format("20060102-150405.000000")

// dir is a fresh destination root below the server's test root.
func (s realServer) dir(t *testing.T) string {
	return s.root + "/" + runID + "/" + strings.ReplaceAll(t.Name(), "/", "-")
}

func (s realServer) open(t *testing.T, scheme, dir string) transport.Transport {
	t.Helper()
	u := url.URL{Scheme: scheme, User: url.User(s.user), Host: s.addr, Path: dir}
	opts := transport.Options{Secret: []byte(s.password)}
	if scheme == "ftps" {
		opts.HostKey = s.pin
	}
	tr, err := dial(u.String(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// onDisk is where name below dir lands in the server's own storage.
func (s realServer) onDisk(dir, name string) string {
	return filepath.Join(s.files, strings.TrimPrefix(strings.TrimPrefix(dir, s.root), "/"), filepath.FromSlash(name))
}

func TestConformanceReal(t *testing.T) {
	eachServer(t, func(t *testing.T, s realServer) {
		for _, scheme := range []string{"ftp", "ftps"} {
			t.Run(scheme, func(t *testing.T) {
				transporttest.Run(t, func(t *testing.T) transport.Transport {
					return s.open(t, scheme, s.dir(t))
				})
			})
		}
	})
}

func TestFailuresReal(t *testing.T) {
	eachServer(t, func(t *testing.T, s realServer) {
		u := url.URL{Scheme: "ftps", User: url.User(s.user), Host: s.addr, Path: s.root}
		const wrong = "guess-Wr0ng"
		_, err := dial(u.String(), transport.Options{Secret: []byte(wrong), HostKey: s.pin})
		if !transport.IsPermanent(err) || !strings.Contains(err.Error(), "login refused") || strings.Contains(err.Error(), wrong) {
			t.Fatalf("wrong password: err = %v, want a permanent login refusal without the password", err)
		}
		wrongPin := ftp.Pin([]byte("some other certificate"))
		_, err = dial(u.String(), transport.Options{Secret: []byte(s.password), HostKey: wrongPin})
		if !transport.IsPermanent(err) || !strings.Contains(err.Error(), wrongPin) || !strings.Contains(err.Error(), s.pin) {
			t.Fatalf("wrong pin: err = %v, want permanent naming both pins", err)
		}
		// The chroot itself is not writable (each script makes it root's).
		tr := s.open(t, "ftps", "/")
		defer tr.Close()
		if err := tr.Put(context.Background(), "denied.txt", strings.NewReader("x"), 1); !transport.IsPermanent(err) {
			t.Fatalf("Put into a read-only directory: err = %v, want permanent", err)
		}
	})
}

// TestVerifyReal checks ServerSHA256 (a sum where FEAT offers one, ok
// false elsewhere) and OpenRange against the bytes on the server's disk.
func TestVerifyReal(t *testing.T) {
	eachServer(t, func(t *testing.T, s realServer) {
		ctx := context.Background()
		dir := s.dir(t)
		tr := s.open(t, "ftps", dir)
		defer tr.Close()
		data := make([]byte, 3<<20+17)
		_, _ = rand.NewChaCha8([32]byte{1}).Read(data)
		if err := tr.Put(ctx, "v/file.bin", bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		sum, ok, err := tr.(transport.Checksummer).ServerSHA256(ctx, "v/file.bin")
		want := sha256.Sum256(data)
		switch {
		case err != nil:
			t.Fatalf("ServerSHA256: %v", err)
		case ok != s.hash:
			t.Fatalf("ServerSHA256 ok = %v, want %v (does FEAT list HASH SHA-256 or XSHA256?)", ok, s.hash)
		case ok && !bytes.Equal(sum, want[:]):
			t.Fatalf("ServerSHA256 = %x, want %x", sum, want)
		}
		if _, _, err := tr.(transport.Checksummer).ServerSHA256(ctx, "v/none.bin"); s.hash && !errors.Is(err, transport.ErrNotFound) {
			t.Fatalf("ServerSHA256 of a missing file: err = %v, want ErrNotFound", err)
		}
		ro := tr.(transport.RangeOpener)
		for _, r := range []struct{ off, n int64 }{{0, 4096}, {2<<20 - 100, 200}, {int64(len(data)) - 5, 100}, {int64(len(data)) + 10, 10}} {
			rc, err := ro.OpenRange(ctx, "v/file.bin", r.off, r.n)
			if err != nil {
				t.Fatalf("OpenRange(%d, %d): %v", r.off, r.n, err)
			}
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatalf("OpenRange(%d, %d): read: %v", r.off, r.n, err)
			}
			if err := rc.Close(); err != nil {
				t.Fatalf("OpenRange(%d, %d): close: %v", r.off, r.n, err)
			}
			lo, hi := min(r.off, int64(len(data))), min(r.off+r.n, int64(len(data)))
			if !bytes.Equal(got, data[lo:hi]) {
				t.Fatalf("OpenRange(%d, %d): %d bytes, not the file's %d..%d", r.off, r.n, len(got), lo, hi)
			}
		}
		// The connection is still in step after the ranges ended early.
		if fi, err := tr.Stat(ctx, "v/file.bin"); err != nil || fi.Size != int64(len(data)) {
			t.Fatalf("Stat after OpenRange = %+v, %v", fi, err)
		}
		if b, err := os.ReadFile(s.onDisk(dir, "v/file.bin")); err != nil || !bytes.Equal(b, data) {
			t.Fatalf("file on the server's disk: %d bytes, %v; want the %d bytes sent", len(b), err, len(data))
		}
	})
}

// TestResumeReal is a delivery killed a third of the way: 32 MiB of a
// 96 MiB file reach the server, the connection is cut mid-STOR, and a new
// connection continues exactly as the delivery step does
// (workflow.Upload: Committed, PutFrom, Stat, Rename). A server that
// allows resuming continues at what it holds; ProFTPD with Debian's
// defaults refuses, and the transport sends the whole file in the same
// call. Either way the server's own file must have the source's sha256.
func TestResumeReal(t *testing.T) {
	const size, cut = 96 << 20, 32 << 20
	src := filepath.Join(t.TempDir(), "source.mxf")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(rand.NewChaCha8([32]byte{7}), size)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString(h.Sum(nil))

	eachServer(t, func(t *testing.T, s realServer) {
		ctx := context.Background()
		dir := s.dir(t)
		// workflow.Upload writes to NAME.bench.partial, then renames.
		const name, partial = "media/feature.mxf", "media/feature.mxf.bench.partial"

		tr := s.open(t, "ftp", dir)
		cctx, cancel := context.WithCancel(ctx)
		sf, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		// The reader cancels the upload once cut bytes went out, the
		// closest to a crash a test can come: the server keeps what
		// reached it.
		err = tr.Put(cctx, partial, &cutReader{r: sf, left: cut, cut: cancel}, size)
		cancel()
		sf.Close()
		tr.Close()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("first attempt: err = %v, want it cancelled", err)
		}
		held := waitSize(t, s.onDisk(dir, partial))
		if held == 0 || held > cut+(16<<20) {
			t.Fatalf("after the cut the server holds %d bytes of %s; want some, about %d", held, partial, cut)
		}

		t.Logf("the cut left %d bytes at the server", held)
		logs := captureLog(t)
		tr = s.open(t, "ftp", dir)
		defer tr.Close()
		sum, err := workflow.Upload(ctx, slog.New(slog.DiscardHandler), tr, name, src, 0)
		if err != nil {
			t.Fatalf("resumed upload: %v", err)
		}
		if sum != want {
			t.Fatalf("Upload sha256 = %s, want %s", sum, want)
		}
		onDisk := sha256File(t, s.onDisk(dir, name))
		if onDisk != want {
			t.Fatalf("sha256 of the file on the server's disk = %s, want %s", onDisk, want)
		}
		if _, err := os.Stat(s.onDisk(dir, partial)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s still at the server: %v", partial, err)
		}
		warned := strings.Contains(logs.String(), "AllowStoreRestart on")
		if warned == s.resume {
			t.Fatalf("resume allowed: %v, yet the log says: %q", s.resume, logs.String())
		}
		// The refusal is remembered: Committed of another partial file is
		// 0 on the refusing server, so the caller sends it whole.
		if err := tr.Put(ctx, "other.partial", strings.NewReader("12345"), 5); err != nil {
			t.Fatal(err)
		}
		n, err := tr.(transport.Resumer).Committed(ctx, "other.partial")
		if err != nil || (n == 5) != s.resume {
			t.Fatalf("Committed after the upload = %d, %v; resume allowed: %v", n, err, s.resume)
		}
	})
}

// cutReader yields left bytes of r, then calls cut and fails.
type cutReader struct {
	r    io.Reader
	left int64
	cut  func()
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		c.cut()
		return 0, context.Canceled
	}
	n, err := c.r.Read(p[:min(int64(len(p)), c.left)])
	c.left -= int64(n)
	return n, err
}

// waitSize waits (with a generous bound) until the server has finished
// writing an aborted upload, so its size stops changing, and returns it.
func waitSize(t *testing.T, p string) int64 {
	t.Helper()
	last, same := int64(-1), 0
	for range 300 {
		fi, err := os.Stat(p)
		if err == nil && fi.Size() == last {
			if same++; same == 5 {
				return last
			}
		} else if err == nil {
			last, same = fi.Size(), 0
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: size did not settle (last %d)", p, last)
	return 0
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// captureLog sends slog.Default to a buffer for the rest of the test: the
// transport warns there when it falls back from a refused resume.
func captureLog(t *testing.T) *syncBuffer {
	t.Helper()
	buf := &syncBuffer{}
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	return buf
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
