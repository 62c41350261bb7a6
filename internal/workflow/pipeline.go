package workflow

import (
	"context"
	"errors"
	"hash"
	"io"
	"sync"
)

// The upload pipeline: a file is read, handed to the transport and hashed
// on three goroutines, so that on a machine with more than one core the
// source's reads and the sha256 (0.5-0.8 s of CPU per GiB with SHA-NI;
// an md5, for profiles that ask for one, 1.3 s) do not wait on the transport's encryption and sends,
// and the other way round. It hashes exactly the bytes the transport took,
// as a TeeReader would.
const (
	pipeBufSize = 1 << 20 // one read of the source, one hash.Write
	pipeBufs    = 4       // how far reading may run ahead of hashing: 4 MiB
)

// pipeline reads src ahead of the consumer into a few reusable buffers
// (reader goroutine); Read copies from them; each buffer the consumer has
// finished goes to the hash stages (one goroutine per hash, in a chain),
// the last of which returns it to the pool. Memory is pipeBufs ×
// pipeBufSize whatever the file size. Read, Discard, Sums and Close are
// for one goroutine; Close may be called more than once.
type pipeline struct {
	ctx    context.Context
	hashes []hash.Hash
	free   chan []byte // empty buffers, for the reader
	full   chan chunk  // filled by the reader, for Read
	stages []chan []byte
	stop   chan struct{}  // closed by Close: the reader gives up
	done   chan struct{}  // closed when the reader has returned
	wg     sync.WaitGroup // the hash stages
	once   sync.Once

	buf    []byte // the buffer Read is copying out of, or nil
	off    int    // how much of buf Read has handed out
	err    error  // the reader's final error, once Read reached it
	hashed bool   // the hash stages finished
}

// chunk is one filled buffer: buf[:n] is data, err the read's error.
type chunk struct {
	buf []byte
	n   int
	err error
}

// newPipeline starts reading src, whose size is size (-1: unknown). Every
// byte Read returns is written to each of hashes, in order, by the time
// Sums returns.
func newPipeline(ctx context.Context, src io.Reader, size int64, hashes ...hash.Hash) *pipeline {
	p := &pipeline{ctx: ctx, hashes: hashes, free: make(chan []byte, pipeBufs),
		full: make(chan chunk, pipeBufs), stop: make(chan struct{}), done: make(chan struct{})}
	bufSize := int64(pipeBufSize)
	if size >= 0 && size < bufSize {
		// A small file (a manifest, a sidecar) needs one buffer one byte
		// longer than itself, to see its end in one read.
		bufSize = size + 1
	}
	for range pipeBufs {
		p.free <- make([]byte, bufSize)
	}
	for range hashes {
		p.stages = append(p.stages, make(chan []byte, pipeBufs))
	}
	p.wg.Add(len(hashes))
	go p.read(src)
	for i, h := range hashes {
		go p.hash(i, h)
	}
	return p
}

// read fills buffers from src until it ends, fails, or Close is called.
func (p *pipeline) read(src io.Reader) {
	defer close(p.done)
	for {
		var b []byte
		select {
		case b = <-p.free:
		case <-p.stop:
			return
		}
		n, err := io.ReadFull(src, b)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		select {
		case p.full <- chunk{buf: b, n: n, err: err}:
		case <-p.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// hash is stage i: it hashes each buffer, then passes it on to the next
// stage, or back to the reader after the last.
func (p *pipeline) hash(i int, h hash.Hash) {
	defer p.wg.Done()
	for b := range p.stages[i] {
		h.Write(b)
		if i+1 < len(p.stages) {
			p.stages[i+1] <- b
		} else {
			p.free <- b[:cap(b)]
		}
	}
	if i+1 < len(p.stages) {
		close(p.stages[i+1])
	}
}

// release hands what Read took from the current buffer to the hashes.
func (p *pipeline) release() {
	if p.buf == nil {
		return
	}
	if len(p.stages) > 0 {
		p.stages[0] <- p.buf[:p.off]
	} else {
		p.free <- p.buf[:cap(p.buf)]
	}
	p.buf, p.off = nil, 0
}

// Read copies the next bytes of the source into b.
func (p *pipeline) Read(b []byte) (int, error) {
	for p.buf == nil || p.off == len(p.buf) {
		if p.err != nil {
			return 0, p.err
		}
		p.release()
		select {
		case c := <-p.full:
			p.buf, p.err = c.buf[:c.n], c.err
		case <-p.ctx.Done():
			return 0, p.ctx.Err()
		}
	}
	n := copy(b, p.buf[p.off:])
	p.off += n
	return n, nil
}

// Discard reads and hashes n bytes without handing them out: the part of
// a file a resumed upload does not send again.
func (p *pipeline) Discard(n int64) (int64, error) {
	var done int64
	for done < n {
		if p.buf == nil || p.off == len(p.buf) {
			if _, err := p.Read(nil); err != nil {
				return done, err
			}
		}
		k := int(min(int64(len(p.buf)-p.off), n-done))
		p.off += k
		done += int64(k)
	}
	return done, nil
}

// Sums waits for the hashes to see every byte Read returned and returns
// their sums; Read must not be called afterwards.
func (p *pipeline) Sums() [][]byte {
	p.finish()
	out := make([][]byte, len(p.hashes))
	for i, h := range p.hashes {
		out[i] = h.Sum(nil)
	}
	return out
}

func (p *pipeline) finish() {
	if p.hashed {
		return
	}
	p.hashed = true
	p.release()
	if len(p.stages) > 0 {
		close(p.stages[0])
	}
	p.Close()
}

// Close stops the reader and waits for the hash stages to end. It does not
// wait for a read of the source in progress: the reader returns when that
// read does (the caller closes the source after Close), and touches
// nothing of the caller's after that.
func (p *pipeline) Close() {
	p.once.Do(func() {
		close(p.stop)
		if !p.hashed {
			// Abandoned: nothing will read the sums, only let the stages end.
			p.hashed = true
			if len(p.stages) > 0 {
				close(p.stages[0])
			}
		}
		p.wg.Wait()
	})
}
