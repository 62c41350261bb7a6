package ftp_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"goftp.io/server/v2"

	"github.com/syndicate-media/syndicate/internal/transport"
)

// defaultCommands is goftp's command table, for hooks that run before
// NewServer fills it in.
func defaultCommands(t *testing.T) map[string]server.Command {
	t.Helper()
	s, err := server.NewServer(&server.Options{Perm: server.NewSimplePerm("root", "root"), Auth: &server.SimpleAuth{}})
	if err != nil {
		t.Fatal(err)
	}
	return s.Commands
}

// counted counts how often a command was sent.
type counted struct {
	server.Command
	n *atomic.Int32
}

func (c counted) Execute(sess *server.Session, param string) {
	c.n.Add(1)
	c.Command.Execute(sess, param)
}

// refusingRest is ProFTPD's answer to REST with AllowStoreRestart off.
var refusingRest = reply{451, "Append/Restart not permitted, try again"}

// TestRefusedResumeFallsBack checks that a server refusing REST gets the
// whole file within the same PutFrom call, though the reader holds only
// the bytes after the offset (as in the delivery step), and that the
// refusal is remembered: Committed then answers 0 and a later PutFrom at
// an offset does not send REST again.
func TestRefusedResumeFallsBack(t *testing.T) {
	var rests atomic.Int32
	srv := startServer(t, false, func(o *server.Options) {
		o.Commands = replace(defaultCommands(t), "REST", counted{refusingRest, &rests})
	})
	tr, err := dial(srv.url("ftp", "/"), transport.Options{Secret: []byte(password)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ctx := context.Background()
	logs := captureLog(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 300_000)
	half := int64(len(data)/2 + 3)
	rs := tr.(transport.Resumer)
	for i, name := range []string{"a/one.bin", "a/two.bin"} {
		if err := tr.Put(ctx, name, bytes.NewReader(data[:half]), -1); err != nil {
			t.Fatal(err)
		}
		if err := rs.PutFrom(ctx, name, half, bytes.NewReader(data[half:]), int64(len(data))); err != nil {
			t.Fatalf("PutFrom %s: %v", name, err)
		}
		if got, err := os.ReadFile(filepath.Join(srv.root, filepath.FromSlash(name))); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s on the server: %d bytes, %v; want the %d bytes of the source", name, len(got), err, len(data))
		}
		if n := rests.Load(); n != 1 {
			t.Fatalf("after %d resumes the server saw REST %d times, want once", i+1, n)
		}
	}
	if !strings.Contains(logs.String(), "AllowStoreRestart on") {
		t.Fatalf("log does not name the setting that allows resume: %q", logs.String())
	}
	if n, err := rs.Committed(ctx, "a/one.bin"); err != nil || n != 0 {
		t.Fatalf("Committed after a refused resume = %d, %v; want 0 (upload whole files)", n, err)
	}
}

// TestRefusedResumeFallbackFails checks that when the whole upload after
// a refused resume fails too, the partial file is removed (so no attempt
// tries the refused offset again), the error says why and what would allow
// resume, and it stays worth a retry.
func TestRefusedResumeFallbackFails(t *testing.T) {
	srv := startServer(t, false, func(o *server.Options) {
		cmds := replace(defaultCommands(t), "REST", refusingRest)
		o.Commands = replace(cmds, "STOR", reply{452, "Insufficient storage space."})
	})
	if err := os.WriteFile(filepath.Join(srv.root, "p.bin"), []byte("01234"), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := dial(srv.url("ftp", "/"), transport.Options{Secret: []byte(password)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	err = tr.(transport.Resumer).PutFrom(context.Background(), "p.bin", 5, strings.NewReader("56789"), 10)
	if err == nil || transport.IsPermanent(err) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
	for _, want := range []string{"451", "452", "AllowStoreRestart on", "removed it"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want it to mention %q", err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(srv.root, "p.bin")); !os.IsNotExist(err) {
		t.Fatalf("partial file still there: %v", err)
	}
}

// xsha256 answers XSHA256 from the file on disk, as ProFTPD's mod_digest.
type xsha256 struct{ root *string }

func (xsha256) IsExtend() bool     { return true }
func (xsha256) RequireParam() bool { return true }
func (xsha256) RequireAuth() bool  { return true }
func (x xsha256) Execute(sess *server.Session, param string) {
	b, err := os.ReadFile(filepath.Join(*x.root, filepath.FromSlash(sess.BuildPath(param))))
	if err != nil {
		sess.WriteMessage(550, "No such file")
		return
	}
	sum := sha256.Sum256(b)
	sess.WriteMessage(250, hex.EncodeToString(sum[:]))
}

func TestServerSHA256(t *testing.T) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("hash me "), 1000)
	want := sha256.Sum256(data)

	plain := startServer(t, false)
	tr, err := dial(plain.url("ftp", "/"), transport.Options{Secret: []byte(password)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Put(ctx, "h.bin", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := tr.(transport.Checksummer).ServerSHA256(ctx, "h.bin"); ok || err != nil {
		t.Fatalf("server without a hash in FEAT: ok = %v, err = %v; want false, nil", ok, err)
	}

	var root string
	hashing := startServer(t, false, func(o *server.Options) {
		o.Commands = replace(defaultCommands(t), "XSHA256", xsha256{&root})
	})
	root = hashing.root
	tr2, err := dial(hashing.url("ftp", "/in"), transport.Options{Secret: []byte(password)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr2.Close()
	if err := tr2.Put(ctx, "d/h.bin", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	sum, ok, err := tr2.(transport.Checksummer).ServerSHA256(ctx, "d/h.bin")
	if err != nil || !ok || !bytes.Equal(sum, want[:]) {
		t.Fatalf("XSHA256: %x, %v, %v; want %x", sum, ok, err, want)
	}
	if _, _, err := tr2.(transport.Checksummer).ServerSHA256(ctx, "d/none.bin"); err == nil {
		t.Fatal("XSHA256 of a missing file: no error")
	}
}

// TestOpenRange reads parts of a file, ending each transfer early, and
// checks the connection stays usable (goftp has no ABOR: it answers 500,
// and the NOOP after it brings the replies back in step).
func TestOpenRange(t *testing.T) {
	srv := startServer(t, false)
	tr, err := dial(srv.url("ftp", "/"), transport.Options{Secret: []byte(password)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ctx := context.Background()
	data := make([]byte, 4<<20+9)
	for i := range data {
		data[i] = byte(i * 7 >> 3)
	}
	if err := tr.Put(ctx, "r.bin", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	ro := tr.(transport.RangeOpener)
	for _, r := range []struct{ off, n int64 }{{0, 1 << 20}, {3 << 20, 100}, {int64(len(data)) - 4, 10}, {int64(len(data)), 10}} {
		rc, err := ro.OpenRange(ctx, "r.bin", r.off, r.n)
		if err != nil {
			t.Fatalf("OpenRange(%d, %d): %v", r.off, r.n, err)
		}
		got, err := io.ReadAll(rc)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
		lo, hi := min(r.off, int64(len(data))), min(r.off+r.n, int64(len(data)))
		if err != nil || !bytes.Equal(got, data[lo:hi]) {
			t.Fatalf("OpenRange(%d, %d) = %d bytes, %v; want bytes %d..%d", r.off, r.n, len(got), err, lo, hi)
		}
	}
	if _, err := ro.OpenRange(ctx, "none.bin", 10, 10); !errors.Is(err, transport.ErrNotFound) {
		t.Fatalf("OpenRange of a missing file: %v, want ErrNotFound", err)
	}
	if fi, err := tr.Stat(ctx, "r.bin"); err != nil || fi.Size != int64(len(data)) {
		t.Fatalf("Stat after the ranges = %+v, %v", fi, err)
	}
}

// TestSilentServer checks that a server that stops answering is named
// with the step it did not answer, and that retrying is allowed.
func TestSilentServer(t *testing.T) {
	for _, c := range []struct {
		name, script, want string
	}{
		{"greeting", "", "server sent no greeting within 300ms"},
		{"PASS", "220 hi\nUSER:331 password please\n", "server did not answer PASS within 300ms"},
		{"EPSV", "220 hi\nUSER:331 pw\nPASS:230 in\nFEAT:211 no features\nTYPE:200 ok\n", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := scripted(t, c.script)
			tr, err := dial("ftp://"+user+"@"+addr+"/", transport.Options{Secret: []byte(password), Timeout: 300 * time.Millisecond})
			if c.want == "" {
				// Logged in: the silence comes at the first data connection.
				if err != nil {
					t.Fatal(err)
				}
				defer tr.Close()
				c.want = "server did not answer EPSV within 300ms"
				err = tr.Put(context.Background(), "x.bin", strings.NewReader("x"), 1)
			}
			if err == nil || transport.IsPermanent(err) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), addr) && c.name != "EPSV" {
				t.Fatalf("err = %v, want a retryable error naming %s and saying %q", err, addr, c.want)
			}
			if strings.Contains(err.Error(), password) {
				t.Fatal("error contains the password")
			}
		})
	}
}

// scripted is a server that sends the script's first line, if any, as its
// greeting, then answers each command whose verb a "VERB:reply" line
// names, and nothing else: silence from there on.
func scripted(t *testing.T, script string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	lines := strings.Split(strings.TrimSuffix(script, "\n"), "\n")
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				if script == "" {
					_, _ = io.Copy(io.Discard, conn)
					return
				}
				_, _ = io.WriteString(conn, lines[0]+"\r\n")
				answers := map[string]string{}
				for _, l := range lines[1:] {
					verb, answer, _ := strings.Cut(l, ":")
					answers[verb] = answer
				}
				sc := bufio.NewScanner(conn)
				for sc.Scan() {
					verb, _, _ := strings.Cut(sc.Text(), " ")
					answer, ok := answers[verb]
					if !ok {
						_, _ = io.Copy(io.Discard, conn)
						return
					}
					_, _ = io.WriteString(conn, answer+"\r\n")
				}
			}()
		}
	}()
	return ln.Addr().String()
}
