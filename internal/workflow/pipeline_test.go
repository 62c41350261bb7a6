package workflow

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{7})
	_, _ = r.Read(b)
	return b
}

func sums(data []byte) (sha, md []byte) {
	s, m := sha256.Sum256(data), md5.Sum(data)
	return s[:], m[:]
}

// TestPipelineHashesWhatWasRead: every size around the buffer size, read
// in odd pieces, gives the bytes in order and the hashes of exactly them.
func TestPipelineHashesWhatWasRead(t *testing.T) {
	for _, n := range []int{0, 1, pipeBufSize - 1, pipeBufSize, pipeBufSize + 1, 3*pipeBufSize + 12345} {
		for _, size := range []int64{int64(n), -1} {
			data := randomBytes(n)
			p := newPipeline(context.Background(), iotest.HalfReader(bytes.NewReader(data)), size, sha256.New(), md5.New())
			var got bytes.Buffer
			buf := make([]byte, 100_003)
			for {
				k, err := p.Read(buf)
				got.Write(buf[:k])
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("n=%d: %v", n, err)
				}
			}
			s := p.Sums()
			p.Close()
			wantSHA, wantMD5 := sums(data)
			if !bytes.Equal(got.Bytes(), data) || !bytes.Equal(s[0], wantSHA) || !bytes.Equal(s[1], wantMD5) {
				t.Errorf("n=%d size=%d: read %d bytes (equal %v), sha256 ok %v, md5 ok %v", n, size, got.Len(),
					bytes.Equal(got.Bytes(), data), bytes.Equal(s[0], wantSHA), bytes.Equal(s[1], wantMD5))
			}
		}
	}
}

// TestPipelineDiscardThenRead is a resumed upload: the skipped part is
// hashed, not handed out.
func TestPipelineDiscardThenRead(t *testing.T) {
	data := randomBytes(2*pipeBufSize + 777)
	for _, off := range []int64{1, pipeBufSize, pipeBufSize + 5, int64(len(data))} {
		p := newPipeline(context.Background(), bytes.NewReader(data), int64(len(data)), sha256.New())
		if n, err := p.Discard(off); n != off || err != nil {
			t.Fatalf("Discard(%d) = %d, %v", off, n, err)
		}
		rest, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		s := p.Sums()
		p.Close()
		want, _ := sums(data)
		if !bytes.Equal(rest, data[off:]) || !bytes.Equal(s[0], want) {
			t.Errorf("off=%d: rest equal %v, sha256 ok %v", off, bytes.Equal(rest, data[off:]), bytes.Equal(s[0], want))
		}
	}
}

// TestPipelineDiscardPastEnd: a source shorter than the part already sent
// says so.
func TestPipelineDiscardPastEnd(t *testing.T) {
	p := newPipeline(context.Background(), bytes.NewReader(make([]byte, 10)), -1, sha256.New())
	defer p.Close()
	if n, err := p.Discard(11); n != 10 || !errors.Is(err, io.EOF) {
		t.Fatalf("Discard(11) of 10 bytes = %d, %v; want 10, EOF", n, err)
	}
}

// TestPipelineHashesOnlyWhatWasTaken: a consumer that stops early gets the
// hash of what it took, not of what was read ahead.
func TestPipelineHashesOnlyWhatWasTaken(t *testing.T) {
	data := randomBytes(3 * pipeBufSize)
	p := newPipeline(context.Background(), bytes.NewReader(data), -1, sha256.New())
	buf := make([]byte, pipeBufSize+100)
	if _, err := io.ReadFull(p, buf); err != nil {
		t.Fatal(err)
	}
	s := p.Sums()
	p.Close()
	want, _ := sums(data[:len(buf)])
	if !bytes.Equal(s[0], want) {
		t.Error("sha256 is not that of the bytes read")
	}
}

// TestPipelineSourceError: a failing source's error reaches the consumer
// after the bytes before it.
func TestPipelineSourceError(t *testing.T) {
	boom := errors.New("disk on fire")
	src := io.MultiReader(bytes.NewReader(make([]byte, 5000)), iotest.ErrReader(boom))
	p := newPipeline(context.Background(), src, -1, sha256.New())
	defer p.Close()
	got, err := io.ReadAll(p)
	if len(got) != 5000 || !errors.Is(err, boom) {
		t.Fatalf("ReadAll = %d bytes, %v; want 5000, %v", len(got), err, boom)
	}
}

// TestPipelineCancelled: a Read waiting for a source that never answers
// returns when the context ends, and Close does not wait for the source.
func TestPipelineCancelled(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	p := newPipeline(ctx, pr, -1, sha256.New())
	cancel()
	if _, err := p.Read(make([]byte, 10)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read after cancel = %v, want context.Canceled", err)
	}
	p.Close()
	p.Close() // twice is fine
	pr.CloseWithError(errors.New("closed by the caller"))
	<-p.done // the reader returns once its read does
}

// TestPipelineAbandoned: Close without reading to the end ends every
// goroutine.
func TestPipelineAbandoned(t *testing.T) {
	for _, hs := range [][]hash.Hash{nil, {sha256.New()}, {sha256.New(), md5.New()}} {
		p := newPipeline(context.Background(), bytes.NewReader(randomBytes(5*pipeBufSize)), -1, hs...)
		if _, err := p.Read(make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		p.Close()
		<-p.done
	}
}
