// Package digest computes a checksum on another goroutine while the bytes
// stream elsewhere: on a multi-core machine the manifest's md5 then costs
// one copy per chunk on the streaming path instead of the hashing itself.
package digest

import (
	"encoding/hex"
	"hash"
	"io"
)

// Async hashes what is written to it on its own goroutine. Write returns
// once the hasher has taken the bytes (a copy), not once it has hashed
// them. Call Sum once, or Abort on an error path, to end the goroutine.
type Async struct {
	pw   *io.PipeWriter
	done chan struct{}
	h    hash.Hash
}

// NewAsync starts hashing with h.
func NewAsync(h hash.Hash) *Async {
	pr, pw := io.Pipe()
	a := &Async{pw: pw, done: make(chan struct{}), h: h}
	go func() {
		defer close(a.done)
		buf := make([]byte, 256<<10)
		for {
			n, err := pr.Read(buf)
			a.h.Write(buf[:n])
			if err != nil {
				pr.Close()
				return
			}
		}
	}()
	return a
}

// Write hands p to the hashing goroutine.
func (a *Async) Write(p []byte) (int, error) { return a.pw.Write(p) }

// Sum waits for the hashing to finish and returns the hex digest.
func (a *Async) Sum() string {
	a.pw.Close()
	<-a.done
	return hex.EncodeToString(a.h.Sum(nil))
}

// Abort ends the goroutine without a result.
func (a *Async) Abort() {
	a.pw.CloseWithError(io.ErrClosedPipe)
	<-a.done
}
