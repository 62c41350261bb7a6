package sftp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/internal/transport"
	"github.com/syndicate-media/syndicate/internal/transport/sftp"
	"github.com/syndicate-media/syndicate/internal/transport/sftp/sftpd"
)

// bigFile is larger than the 64 MiB from which a file of known size goes
// over several connections, and not a whole number of 1 MiB stripes.
func bigFile(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 70<<20+12345)
	_, _ = rand.Read(b)
	return b
}

// onlyReader hides bytes.Reader's other methods, so nothing can tell the
// size: an archive built while uploading looks like this.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func dialClient(t *testing.T, srv *sftpd.Server, key []byte, streams int) *sftp.Client {
	t.Helper()
	u, _ := url.Parse("sftp://" + user + "@" + srv.Addr() + "/")
	c, err := sftp.Dial(context.Background(), u, transport.Options{Secret: key, HostKey: srv.HostKeyFingerprint(), Streams: streams})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func sameFile(t *testing.T, name string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the %d sent", name, len(got), len(want))
	}
}

// TestStripedPut sends a large file over four connections, of known and
// unknown size, and a resumed upload's rest over them too.
func TestStripedPut(t *testing.T) {
	srv, key, root := server(t)
	c := dialClient(t, srv, key, 4)
	ctx := context.Background()
	data := bigFile(t)
	if err := c.Put(ctx, "a/known.bin", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(root, "a", "known.bin"), data)
	if n, err := c.Streams(); n != 4 || err != nil {
		t.Fatalf("streams = %d (%v), want 4", n, err)
	}
	if err := c.Put(ctx, "unknown.bin", onlyReader{bytes.NewReader(data)}, -1); err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(root, "unknown.bin"), data)

	// A resumed upload: the file holds the first 3 MiB and garbage past
	// them (a longer earlier attempt); the rest goes striped and the file
	// ends at the size.
	half := 3 << 20
	junk := append(append([]byte{}, data[:half]...), bytes.Repeat([]byte("x"), 80<<20)...)
	if err := os.WriteFile(filepath.Join(root, "resumed.bin"), junk, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.PutFrom(ctx, "resumed.bin", int64(half), bytes.NewReader(data[half:]), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(root, "resumed.bin"), data)

	// A source of unknown size that ends within the first stripe.
	small := []byte("tiny archive")
	if err := c.Put(ctx, "small.bin", onlyReader{bytes.NewReader(small)}, -1); err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(root, "small.bin"), small)
}

// TestStripedFallsBackToOneConnection: a server that takes one connection
// per user still gets the file, over the one it accepted.
func TestStripedFallsBackToOneConnection(t *testing.T) {
	signer, pemKey, err := sftpd.GenerateClientKey()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "root")
	srv, err := sftpd.Start(sftpd.Config{Root: root, User: user, AuthorizedKey: signer.PublicKey(), MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := dialClient(t, srv, pemKey, 4)
	data := bigFile(t)
	if err := c.Put(context.Background(), "one.bin", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(root, "one.bin"), data)
	n, err := c.Streams()
	if n != 1 || err == nil {
		t.Fatalf("streams = %d (%v), want 1 and the refused login's error", n, err)
	}
	// The next large file does not knock again.
	knocks := srv.Connections()
	if knocks != 4 {
		t.Errorf("%d connections for the first file, want 4 (one, then three refused)", knocks)
	}
	if err := c.Put(context.Background(), "two.bin", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if n := srv.Connections(); n != knocks {
		t.Errorf("%d more connections for the second file, want none", n-knocks)
	}
}

// TestStripedCancel: cancelling mid-upload stops every connection and
// says why.
func TestStripedCancel(t *testing.T) {
	srv, key, _ := server(t)
	c := dialClient(t, srv, key, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := c.Put(ctx, "endless.bin", endless{}, -1)
	if err == nil || !strings.Contains(err.Error(), context.DeadlineExceeded.Error()) {
		t.Fatalf("err = %v, want the deadline", err)
	}
}

// TestDefaultStreams: by default a server on this machine gets one
// connection (its window is no limit at loopback round trips); one 5 ms
// away gets four.
func TestDefaultStreams(t *testing.T) {
	srv, key, root := server(t)
	data := bigFile(t)
	for _, c := range []struct {
		addr string
		want int
	}{
		{srv.Addr(), 1},
		{startSlowProxy(t, srv.Addr(), 5*time.Millisecond), sftp.DefaultStreams},
	} {
		u, _ := url.Parse("sftp://" + user + "@" + c.addr + "/")
		cl, err := sftp.Dial(context.Background(), u, transport.Options{Secret: key, HostKey: srv.HostKeyFingerprint()})
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.Put(context.Background(), "d.bin", bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		sameFile(t, filepath.Join(root, "d.bin"), data)
		n, _ := cl.Streams()
		switch {
		case n == 1 && c.want == 1 && cl.RTT() <= 0:
			t.Errorf("%s: no round trip measured", c.addr)
		case n != c.want && c.want == 1 && cl.RTT() >= 2*time.Millisecond:
			t.Logf("%s: loopback answered in %s on this loaded machine: %d streams", c.addr, cl.RTT(), n)
		case n != c.want:
			t.Errorf("%s: %d streams (round trip %s), want %d", c.addr, n, cl.RTT(), c.want)
		}
		cl.Close()
	}
}

// startSlowProxy forwards to target, delaying what the server sends by
// d: a server d away (one way is enough for a round trip of d).
func startSlowProxy(t *testing.T, target string, d time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go func() { io.Copy(s, c); s.Close() }()
			go func() {
				buf := make([]byte, 64<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						time.Sleep(d)
						if _, werr := c.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

func TestStreamsOutOfRange(t *testing.T) {
	srv, key, _ := server(t)
	for _, n := range []int{-1, sftp.MaxStreams + 1} {
		u, _ := url.Parse("sftp://" + user + "@" + srv.Addr() + "/")
		_, err := sftp.Dial(context.Background(), u, transport.Options{Secret: key, HostKey: srv.HostKeyFingerprint(), Streams: n})
		if !transport.IsPermanent(err) || !strings.Contains(err.Error(), "streams") {
			t.Errorf("streams %d: %v, want a permanent error naming streams", n, err)
		}
	}
}

// TestStripedOpenSSH sends a large file over four connections to the real
// sshd, of unknown size as an archive is.
func TestStripedOpenSSH(t *testing.T) {
	env, key := sshdEnv(t)
	dir := filepath.Join(env["ROOT"], "striped-"+time.Now().Format("150405.000000"))
	u := url.URL{Scheme: "sftp", User: url.User(env["USER"]), Host: env["ADDR"], Path: dir}
	c, err := sftp.Dial(context.Background(), &u, transport.Options{Secret: key, HostKey: env["HOSTKEY"], Streams: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := bigFile(t)
	if err := c.Put(context.Background(), "big.bin", onlyReader{bytes.NewReader(data)}, -1); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Streams(); n != 4 {
		t.Fatalf("streams = %d (%v), want 4", n, err)
	}
	rc, err := c.Open(context.Background(), "big.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes (%v), not the %d sent", len(got), err, len(data))
	}
	_ = c.Remove(context.Background(), "big.bin")
}

// TestResumeOntoTruncatingServer resumes an upload on a server that
// truncates every file opened for writing (legal, and done by some): the
// client must see on the open handle that the partial file is gone and
// refuse the resume, rather than write the rest after a hole of zeros,
// over one connection and over several.
func TestResumeOntoTruncatingServer(t *testing.T) {
	for _, streams := range []int{1, 4} {
		t.Run(fmt.Sprintf("streams=%d", streams), func(t *testing.T) {
			signer, key, err := sftpd.GenerateClientKey()
			if err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			srv, err := sftpd.Start(sftpd.Config{Root: root, User: user, AuthorizedKey: signer.PublicKey(), TruncateOnOpen: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Close() })
			c := dialClient(t, srv, key, streams)
			data := bigFile(t)
			const off = 3 << 20
			ctx := context.Background()
			if err := c.Put(ctx, "f.partial", bytes.NewReader(data[:off]), off); err != nil {
				t.Fatal(err)
			}
			err = c.PutFrom(ctx, "f.partial", off, bytes.NewReader(data[off:]), int64(len(data)))
			if !errors.Is(err, transport.ErrResumeRefused) {
				got, _ := os.ReadFile(filepath.Join(root, "f.partial"))
				t.Fatalf("PutFrom onto a truncated file: err = %v, want ErrResumeRefused (the file holds %d bytes, equal to the source: %v)",
					err, len(got), bytes.Equal(got, data))
			}
		})
	}
}

// TestStripedPutOntoTruncatingServer: each stripe worker opens a handle
// of its own, which on a server that truncates every file it opens for
// writing zeroes what the others wrote. The client must notice before
// striping and send the file over one handle, intact; a resume there is
// refused.
func TestStripedPutOntoTruncatingServer(t *testing.T) {
	signer, key, err := sftpd.GenerateClientKey()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	srv, err := sftpd.Start(sftpd.Config{Root: root, User: user, AuthorizedKey: signer.PublicKey(), TruncateOnOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	c := dialClient(t, srv, key, 4)
	data := bigFile(t)
	ctx := context.Background()
	if err := c.Put(ctx, "big.bin", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(root, "big.bin"), data)
	if err := c.Put(ctx, "unknown.bin", onlyReader{bytes.NewReader(data)}, -1); err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(root, "unknown.bin"), data)
}
