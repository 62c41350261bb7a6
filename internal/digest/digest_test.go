package digest_test

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"io"
	"testing"

	"github.com/syndicate-media/syndicate/internal/digest"
)

func TestAsync(t *testing.T) {
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	a := digest.NewAsync(md5.New())
	if _, err := io.CopyBuffer(a, bytes.NewReader(data), make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	want := md5.Sum(data)
	if got := a.Sum(); got != hex.EncodeToString(want[:]) {
		t.Fatalf("md5 %s, want %x", got, want)
	}
	empty := digest.NewAsync(md5.New())
	if got := empty.Sum(); got != "d41d8cd98f00b204e9800998ecf8427e" {
		t.Fatalf("md5 of nothing %s", got)
	}
	aborted := digest.NewAsync(md5.New())
	aborted.Write([]byte("x"))
	aborted.Abort() // returns: the goroutine ended
}

func BenchmarkAsyncMD5(b *testing.B) {
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(buf)))
	a := digest.NewAsync(md5.New())
	for b.Loop() {
		a.Write(buf)
	}
	a.Sum()
}
