// Package archive builds a package's archive (tar, tgz or zip) as a
// stream while it is uploaded: no staging copy on disk, memory flat at any
// size. Checksums of each file are computed on the way and the manifest is
// the archive's last entry. The bytes are deterministic — fixed times,
// owners and order — so an interrupted upload resumes by building the
// stream again and skipping what the partner already holds.
package archive

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/syndicate-media/syndicate/internal/digest"
)

// Kinds are the archive formats, by the name a profile uses.
var Kinds = []string{"tar", "tgz", "zip"}

// Ext is the file extension of an archive kind.
func Ext(kind string) string {
	if kind == "tgz" {
		return ".tar.gz"
	}
	return "." + kind
}

// Valid reports whether kind is an archive format.
func Valid(kind string) bool { return slices.Contains(Kinds, kind) }

// Entry is a file to put in the archive.
type Entry struct {
	Name   string
	Source string
	Size   int64
	// MD5 asks for the entry's md5 in its Sum too (on a goroutine of its
	// own; it costs about as much CPU as the rest of the archiving).
	MD5 bool
}

// SizeBound is more than the archive of entries can be, whatever its kind
// and the manifest: the files, 64 KiB per entry (and two more) for the
// headers, padding and the manifest's lines, and gzip's worst case of a
// thousandth more. A transport that must size its pieces before the first
// byte (S3) takes it as a hint.
func SizeBound(entries []Entry) int64 {
	var n int64
	for _, e := range entries {
		n += e.Size
	}
	n += int64(len(entries)+2) << 16
	return n + n/1000
}

// Sum is an entry's size and sha256 (and md5 when asked), as read while
// archiving.
type Sum struct {
	Size   int64
	MD5    string
	SHA256 string
}

// copyBufSize is how much of a file is read, hashed and written at a time.
const copyBufSize = 1 << 20

// epoch is every entry's time, so the same files give the same bytes.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Stream returns the archive of entries followed by a last entry named
// lastName whose content last returns, given every entry's sum. A source
// that changed size fails the stream.
func Stream(ctx context.Context, kind string, entries []Entry, lastName string, last func([]Sum) ([]byte, error)) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(write(ctx, kind, pw, entries, lastName, last))
	}()
	return pr
}

// entryWriter adds one file to an archive and returns where to write it.
type entryWriter interface {
	add(name string, size int64) (io.Writer, error)
	Close() error
}

func write(ctx context.Context, kind string, w io.Writer, entries []Entry, lastName string, last func([]Sum) ([]byte, error)) error {
	aw, closeOuter, err := newWriter(kind, w)
	if err != nil {
		return err
	}
	sums := make([]Sum, 0, len(entries))
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		sum, err := addFile(aw, e)
		if err != nil {
			return err
		}
		sums = append(sums, sum)
	}
	data, err := last(sums)
	if err != nil {
		return err
	}
	dst, err := aw.add(lastName, int64(len(data)))
	if err != nil {
		return err
	}
	if _, err := dst.Write(data); err != nil {
		return err
	}
	if err := aw.Close(); err != nil {
		return err
	}
	return closeOuter()
}

func addFile(aw entryWriter, e Entry) (Sum, error) {
	f, err := os.Open(e.Source)
	if err != nil {
		return Sum{}, fmt.Errorf("archive: %s: %w", e.Name, err)
	}
	defer f.Close()
	dst, err := aw.add(e.Name, e.Size)
	if err != nil {
		return Sum{}, fmt.Errorf("archive: %s: %w", e.Name, err)
	}
	h := sha256.New()
	w := io.MultiWriter(dst, h)
	var m *digest.Async
	if e.MD5 {
		m = digest.NewAsync(md5.New())
		defer m.Abort() // after Sum, a no-op
		w = io.MultiWriter(dst, h, m)
	}
	// Large writes: each one is a hand-over through the pipe to the
	// uploader, and io.Copy's 32 KiB would make 32 of them per MiB.
	n, err := io.CopyBuffer(w, io.LimitReader(f, e.Size+1), make([]byte, copyBufSize))
	if err != nil {
		return Sum{}, fmt.Errorf("archive: %s: %w", e.Name, err)
	}
	if n != e.Size {
		return Sum{}, fmt.Errorf("archive: source %s changed: %d bytes, planned %d", e.Name, n, e.Size)
	}
	sum := Sum{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	if m != nil {
		sum.MD5 = m.Sum()
	}
	return sum, nil
}

func newWriter(kind string, w io.Writer) (entryWriter, func() error, error) {
	noop := func() error { return nil }
	switch kind {
	case "tar":
		return tarWriter{tar.NewWriter(w)}, noop, nil
	case "tgz":
		gz, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
		if err != nil {
			return nil, nil, err
		}
		return tarWriter{tar.NewWriter(gz)}, gz.Close, nil
	case "zip":
		return zipWriter{zip.NewWriter(w)}, noop, nil
	}
	return nil, nil, fmt.Errorf("archive: unknown kind %q (have %v)", kind, Kinds)
}

type tarWriter struct{ *tar.Writer }

func (t tarWriter) add(name string, size int64) (io.Writer, error) {
	err := t.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: epoch,
		Format: tar.FormatPAX})
	return t.Writer, err
}

type zipWriter struct{ *zip.Writer }

// add stores the file uncompressed (media does not compress), with sizes
// and CRC in a data descriptor written after the data.
func (z zipWriter) add(name string, _ int64) (io.Writer, error) {
	return z.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: epoch})
}
