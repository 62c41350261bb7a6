// Package transporttest is the conformance suite every transport runs: one
// set of behaviours (write, replace, nested directories, rename, stat,
// remove, errors) checked the same way against each real server, so a new
// transport's test file is a few lines that say how to reach its server.
package transporttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"github.com/syndicate-media/syndicate/internal/transport"
)

// Open returns a transport rooted at a fresh, empty destination. The suite
// closes it.
type Open func(t *testing.T) transport.Transport

// Run checks the transport that open returns against the shared contract.
func Run(t *testing.T, open Open) {
	t.Helper()
	ctx := context.Background()
	cases := []struct {
		name string
		fn   func(t *testing.T, tr transport.Transport)
	}{
		{"PutStatOpen", func(t *testing.T, tr transport.Transport) {
			data := []byte("hello partner\n")
			mustPut(t, tr, "a.txt", data)
			fi, err := tr.Stat(ctx, "a.txt")
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			if fi.Size != int64(len(data)) {
				t.Fatalf("Stat size = %d, want %d", fi.Size, len(data))
			}
			checkContent(t, tr, "a.txt", data)
		}},
		{"EmptyFile", func(t *testing.T, tr transport.Transport) {
			// What the delivery step does with a completion marker: put,
			// stat (some servers send no Content-Length for 0 bytes),
			// rename into place.
			name := "empty.bin"
			if _, ok := tr.(transport.Renamer); ok {
				name += ".partial"
			}
			mustPut(t, tr, name, nil)
			checkSize(t, tr, name, 0)
			if rn, ok := tr.(transport.Renamer); ok {
				if err := rn.Rename(ctx, name, "empty.bin"); err != nil {
					t.Fatalf("Rename: %v", err)
				}
				checkSize(t, tr, "empty.bin", 0)
			}
			checkContent(t, tr, "empty.bin", nil)
		}},
		{"NestedDirectories", func(t *testing.T, tr transport.Transport) {
			data := []byte("deep")
			mustPut(t, tr, "x/y/z/deep.txt", data)
			mustPut(t, tr, "x/y/other.txt", data)
			checkContent(t, tr, "x/y/z/deep.txt", data)
		}},
		{"Replace", func(t *testing.T, tr transport.Transport) {
			mustPut(t, tr, "r.txt", bytes.Repeat([]byte("long old content "), 100))
			mustPut(t, tr, "r.txt", []byte("short"))
			checkContent(t, tr, "r.txt", []byte("short"))
		}},
		{"LargeUnknownSize", func(t *testing.T, tr transport.Transport) {
			data := randomBytes(t, 9<<20+12345)
			// Hide the size and the io.WriterTo of bytes.Reader: the transport
			// must cope with a plain stream, as from an archive being built.
			r := struct{ io.Reader }{bytes.NewReader(data)}
			if err := tr.Put(ctx, "big/media.mxf", r, -1); err != nil {
				t.Fatalf("Put: %v", err)
			}
			checkContent(t, tr, "big/media.mxf", data)
		}},
		{"StatMissing", func(t *testing.T, tr transport.Transport) {
			_, err := tr.Stat(ctx, "nope.txt")
			if !errors.Is(err, transport.ErrNotFound) {
				t.Fatalf("Stat missing: err = %v, want ErrNotFound", err)
			}
		}},
		{"Remove", func(t *testing.T, tr transport.Transport) {
			mustPut(t, tr, "gone.txt", []byte("x"))
			if err := tr.Remove(ctx, "gone.txt"); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			if _, err := tr.Stat(ctx, "gone.txt"); !errors.Is(err, transport.ErrNotFound) {
				t.Fatalf("Stat after Remove: err = %v, want ErrNotFound", err)
			}
			if err := tr.Remove(ctx, "gone.txt"); err != nil {
				t.Fatalf("Remove of a missing file: %v", err)
			}
		}},
		{"Rename", func(t *testing.T, tr transport.Transport) {
			rn, ok := tr.(transport.Renamer)
			if !ok {
				t.Skip("transport has no Rename")
			}
			mustPut(t, tr, "d/final.txt", []byte("old"))
			mustPut(t, tr, "d/final.txt.partial", []byte("new"))
			if err := rn.Rename(ctx, "d/final.txt.partial", "d/final.txt"); err != nil {
				t.Fatalf("Rename over an existing file: %v", err)
			}
			checkContent(t, tr, "d/final.txt", []byte("new"))
			if _, err := tr.Stat(ctx, "d/final.txt.partial"); !errors.Is(err, transport.ErrNotFound) {
				t.Fatalf("source still there after Rename: %v", err)
			}
		}},
		{"Resume", func(t *testing.T, tr transport.Transport) {
			rs, ok := tr.(transport.Resumer)
			if !ok {
				t.Skip("transport cannot resume")
			}
			if n, err := rs.Committed(ctx, "r/never.bin"); err != nil || n != 0 {
				t.Fatalf("Committed of a missing file = %d, %v", n, err)
			}
			data := randomBytes(t, 5<<20+333)
			half := int64(len(data) / 2)
			// An upload that stopped half way.
			if err := tr.Put(ctx, "r/big.bin", bytes.NewReader(data[:half]), -1); err != nil {
				t.Fatal(err)
			}
			off, err := rs.Committed(ctx, "r/big.bin")
			if err != nil || off < 0 || off > half {
				t.Fatalf("Committed = %d, %v; want 0..%d", off, err, half)
			}
			if err := rs.PutFrom(ctx, "r/big.bin", off, bytes.NewReader(data[off:]), int64(len(data))); err != nil {
				t.Fatalf("PutFrom %d: %v", off, err)
			}
			checkContent(t, tr, "r/big.bin", data)
			// Resuming a complete file from the middle leaves it whole.
			if err := rs.PutFrom(ctx, "r/big.bin", 100, bytes.NewReader(data[100:]), int64(len(data))); err != nil {
				t.Fatal(err)
			}
			checkContent(t, tr, "r/big.bin", data)
		}},
		{"OpenRange", func(t *testing.T, tr transport.Transport) {
			ro, ok := transport.As[transport.RangeOpener](tr)
			if !ok {
				t.Skip("transport cannot read ranges")
			}
			data := randomBytes(t, 300<<10+17)
			mustPut(t, tr, "rg/seam.bin", data)
			n := int64(len(data))
			for _, r := range []struct{ off, length, want int64 }{
				{0, 64 << 10, 64 << 10},           // the first block
				{200<<10 + 5, 64 << 10, 64 << 10}, // the middle, unaligned
				{n - 10, 64 << 10, 10},            // past the end: what there is
				{n, 10, 0},                        // at the end: nothing
			} {
				got := readRange(t, ro, "rg/seam.bin", r.off, r.length)
				if int64(len(got)) != r.want || !bytes.Equal(got, data[r.off:r.off+r.want]) {
					t.Fatalf("OpenRange(%d, %d): %d bytes, want %d of the file's", r.off, r.length, len(got), r.want)
				}
			}
			if _, err := ro.OpenRange(ctx, "rg/missing.bin", 0, 10); !errors.Is(err, transport.ErrNotFound) {
				t.Fatalf("OpenRange of a missing file: err = %v, want ErrNotFound", err)
			}
		}},
		{"ServerSHA256", func(t *testing.T, tr transport.Transport) {
			cs, ok := transport.As[transport.Checksummer](tr)
			if !ok {
				t.Skip("transport has no server-side hash")
			}
			offered := false
			for _, data := range [][]byte{randomBytes(t, 1<<20+3), randomBytes(t, 9<<20+12345)} {
				mustPut(t, tr, "h/sum.bin", data)
				sum, ok, err := cs.ServerSHA256(ctx, "h/sum.bin")
				if err != nil {
					t.Fatalf("ServerSHA256: %v", err)
				}
				offered = offered || ok
				if ok && !bytes.Equal(sum, sha256Sum(data)) {
					t.Fatalf("ServerSHA256 of %d bytes = %x, want %x", len(data), sum, sha256Sum(data))
				}
			}
			// A server that offers no hash may not be asked at all, so a
			// missing file must be found only where one is offered.
			_, ok, err := cs.ServerSHA256(ctx, "h/missing.bin")
			notFound := errors.Is(err, transport.ErrNotFound)
			if offered && !notFound || !offered && (ok || err != nil && !notFound) {
				t.Fatalf("ServerSHA256 of a missing file (server hash offered: %v): ok %v, err = %v, want ErrNotFound", offered, ok, err)
			}
		}},
		{"ReaderError", func(t *testing.T, tr transport.Transport) {
			boom := errors.New("source broke")
			r := io.MultiReader(bytes.NewReader(randomBytes(t, 300<<10)), errReader{boom})
			err := tr.Put(ctx, "broken.bin", r, -1)
			if !errors.Is(err, boom) {
				t.Fatalf("Put with failing reader: err = %v, want it to wrap %v", err, boom)
			}
		}},
		{"CancelledContext", func(t *testing.T, tr transport.Transport) {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			err := tr.Put(cctx, "c.txt", bytes.NewReader([]byte("x")), 1)
			if err == nil {
				t.Fatal("Put with a cancelled context succeeded")
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := open(t)
			t.Cleanup(func() { _ = tr.Close() })
			c.fn(t, tr)
		})
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func mustPut(t *testing.T, tr transport.Transport, name string, data []byte) {
	t.Helper()
	if err := tr.Put(context.Background(), name, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put %s: %v", name, err)
	}
}

func checkSize(t *testing.T, tr transport.Transport, name string, want int64) {
	t.Helper()
	fi, err := tr.Stat(context.Background(), name)
	if err != nil || fi.Size != want {
		t.Fatalf("Stat %s = %+v, %v; want size %d", name, fi, err, want)
	}
}

func checkContent(t *testing.T, tr transport.Transport, name string, want []byte) {
	t.Helper()
	op, ok := tr.(transport.Opener)
	if !ok {
		fi, err := tr.Stat(context.Background(), name)
		if err != nil || fi.Size != int64(len(want)) {
			t.Fatalf("Stat %s = %+v, %v; want size %d", name, fi, err, len(want))
		}
		return
	}
	rc, err := op.Open(context.Background(), name)
	if err != nil {
		t.Fatalf("Open %s: %v", name, err)
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if n != int64(len(want)) || !bytes.Equal(h.Sum(nil), sha256Sum(want)) {
		t.Fatalf("%s: read %d bytes with a different sha256; want %d bytes", name, n, len(want))
	}
}

func readRange(t *testing.T, ro transport.RangeOpener, name string, off, length int64) []byte {
	t.Helper()
	rc, err := ro.OpenRange(context.Background(), name, off, length)
	if err != nil {
		t.Fatalf("OpenRange(%s, %d, %d): %v", name, off, length, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read range of %s: %v", name, err)
	}
	return b
}

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}
