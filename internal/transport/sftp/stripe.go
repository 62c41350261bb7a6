package sftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/syndicate-media/syndicate/internal/transport"
)

// A large file goes over several SSH connections at once ("streams"): an
// OpenSSH server gives each session channel a 2 MiB window, so one
// connection carries at most 2 MiB per round trip — 100 MiB/s at 20 ms,
// 20 MiB/s across an ocean — whatever the link. Each connection has its own
// window (and its own sshd and sftp-server processes on the server).
//
// The file is cut into stripes of stripeSize read in order from the
// source and written with WriteAt by workers spread over the connections.
// At most window stripes are in flight past the oldest unfinished one, so
// everything below the remote size less safetyWindow is written: Committed
// stays right, and a resumed upload never trusts a hole.
const (
	// DefaultStreams is the connections a large file uses unless the
	// destination says otherwise, when the server is far enough away
	// (nearRTT) for one connection's window to be the limit.
	DefaultStreams = 4
	// nearRTT: a server that answers within it is on the local network
	// (or this machine), where one connection's 2 MiB window allows over
	// 1 GB/s and more connections only cost logins.
	nearRTT = 2 * time.Millisecond
	// MaxStreams bounds destination.streams.
	MaxStreams = 8
	// stripeMin is the smallest declared size sent over several
	// connections; smaller files are not worth the extra logins.
	stripeMin  = 64 << 20
	stripeSize = 1 << 20
	// window is how many stripes may be in flight: 8 MiB, four times
	// what OpenSSH lets one connection have unacknowledged. window ×
	// stripeSize must not exceed safetyWindow.
	window = 8
	// gcEvery is how often (in bytes sent) keepHeapSmall runs.
	gcEvery = 128 << 20
)

// session is one SSH connection with its SFTP client.
type session struct {
	conn *ssh.Client
	sftp *sftp.Client
}

func (s session) close() {
	_ = s.sftp.Close()
	_ = s.conn.Close()
}

// addSessions calls ready with each connection beyond the first a large
// file may use: those already open at once, the missing ones as their
// logins complete, all dialed in parallel while the file starts over the
// first. A login that fails (a server limiting connections per user, say)
// is not an error: the file goes over the connections there are, and this
// Client asks for no more. The returned wait waits for the logins.
func (c *Client) addSessions(ctx context.Context, ready func(session)) (wait func()) {
	c.mu.Lock()
	have := slices.Clone(c.extra)
	want := c.streams - 1 - len(c.extra)
	if c.dialErr != nil || c.dial == nil {
		want = 0
	}
	c.mu.Unlock()
	for _, s := range have {
		ready(s)
	}
	var wg sync.WaitGroup
	for range max(want, 0) {
		wg.Go(func() {
			s, err := c.dial(ctx)
			c.mu.Lock()
			if err != nil {
				c.dialErr = err
				c.mu.Unlock()
				return
			}
			c.extra = append(c.extra, s)
			c.mu.Unlock()
			ready(s)
		})
	}
	return wg.Wait
}

// autoStreams decides streams left to the default, once, before the
// first large file (a delivery of small files pays nothing): the quickest
// of three requests (realpath ".") is the round trip; DefaultStreams from
// nearRTT on, else 1. It returns the streams to use.
func (c *Client) autoStreams() int {
	if c.streams != 0 {
		return c.streams
	}
	c.streams = DefaultStreams
	for i := range 3 {
		start := time.Now()
		if _, err := c.sftp.Getwd(); err != nil {
			c.rtt = 0
			return c.streams
		}
		if d := time.Since(start); i == 0 || d < c.rtt {
			c.rtt = d
		}
	}
	if c.rtt < nearRTT {
		c.streams = 1
	}
	return c.streams
}

// RTT is the round trip autoStreams measured (0 if streams was set or no
// large file was sent yet).
func (c *Client) RTT() time.Duration { return c.rtt }

// dropExtras closes the connections beyond the first; the next large file
// logs in again.
func (c *Client) dropExtras() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.extra {
		s.close()
	}
	c.extra = nil
}

// Streams reports how many connections the client has open (1 until a
// large file was sent) and, if a further login failed, why.
func (c *Client) Streams() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return 1 + len(c.extra), c.dialErr
}

// striped reports whether a file of size (-1: unknown) written from
// offset is large enough to go over several connections.
func (c *Client) striped(offset, size int64) bool {
	return c.streams != 1 && (size < 0 || size-offset >= stripeMin)
}

// stripe is a piece of the file on its way; done receives the outcome.
type stripe struct {
	buf  []byte
	off  int64
	done chan error
}

// putStriped writes r into p from offset over several connections; flags
// open the file on the first (create and truncate for a new upload). A
// source of unknown size that ends within the first stripe goes over one
// connection, as putOne sends it.
func (c *Client) putStriped(ctx context.Context, p, name string, flags int, offset int64, r io.Reader, size int64) error {
	first := make([]byte, stripeSize)
	n, eof, err := transport.Fill(r, first)
	if err != nil {
		return fail(ctx, "read source for", name, err)
	}
	if eof && size < 0 {
		return c.putOne(ctx, p, name, flags, offset, bytes.NewReader(first[:n]), size)
	}
	// The first handle creates (or opens) the file before any other does;
	// it truncates a resumed file at the end.
	h0, err := c.sftp.OpenFile(p, flags)
	if err != nil {
		return fail(ctx, "create", name, err)
	}
	closed0 := false
	defer func() {
		if !closed0 {
			_ = h0.Close()
		}
	}()
	if offset > 0 {
		if err := holds(ctx, h0, name, offset); err != nil {
			return err
		}
	}
	// Every worker opens a handle of its own, which on a server that
	// truncates each file it opens for writing would zero what the others
	// wrote, with the size still right. Find out first: the first stripe
	// goes through h0, then another handle is opened and must see it.
	if _, err := h0.WriteAt(first[:n], offset); err != nil {
		return fail(ctx, "write", name, offsetRefused(err, offset))
	}
	if truncated, err := c.truncatesOnOpen(p, offset+int64(n)); err != nil {
		return fail(ctx, "open", name, err)
	} else if truncated {
		c.mu.Lock()
		c.truncates = true
		c.mu.Unlock()
		if offset > 0 {
			return fmt.Errorf("sftp: resume %s at byte %d: the server truncates files it opens for writing: %w", name, offset, transport.ErrResumeRefused)
		}
		// Over h0 alone, from the start again: the probe emptied the file.
		closed0 = true
		return c.writeOver(ctx, h0, name, offset, io.MultiReader(bytes.NewReader(first[:n]), r), size)
	}

	// Workers, two per connection so that each connection keeps sending
	// while one waits for acknowledgements, each with a handle of its
	// own, opened and closed in parallel (one round trip each, not one per
	// handle in turn).
	work := make(chan *stripe, window)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		stopped bool  // work is closed: no more workers
		werrs   error // a handle that failed to open or close
	)
	startWorkers := func(s session, primary bool) {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		for range 2 {
			wg.Go(func() {
				h, err := s.sftp.OpenFile(p, flagsWrite)
				if err != nil && !primary {
					return // the other workers take its stripes
				}
				if err != nil { // no one may be left to write: fail the stripes
					mu.Lock()
					werrs = errors.Join(werrs, err)
					mu.Unlock()
					for st := range work {
						st.done <- err
					}
					return
				}
				for st := range work {
					_, err := h.WriteAt(st.buf, st.off)
					st.done <- err
				}
				if err := h.Close(); err != nil {
					mu.Lock()
					werrs = errors.Join(werrs, err)
					mu.Unlock()
				}
			})
		}
	}
	startWorkers(session{conn: c.conn, sftp: c.sftp}, true)
	waitLogins := c.addSessions(ctx, func(s session) { startWorkers(s, false) })

	var (
		inflight []*stripe // in offset order
		free     [][]byte
		werr     error
	)
	// retire waits for the oldest stripe in flight and keeps its buffer.
	retire := func() {
		st := inflight[0]
		inflight = inflight[1:]
		if err := <-st.done; err != nil && werr == nil {
			werr = err
		}
		free = append(free, st.buf[:cap(st.buf)])
	}
	off := offset + int64(n) // the first stripe is written
	buf, n := first, 0
	for werr == nil {
		if n > 0 {
			st := &stripe{buf: buf[:n], off: off, done: make(chan error, 1)}
			inflight = append(inflight, st)
			work <- st
			off += int64(n)
			if (off-offset)%gcEvery < int64(n) {
				keepHeapSmall()
			}
		}
		if eof {
			break
		}
		if len(inflight) == window {
			if retire(); werr != nil {
				break
			}
		}
		if len(free) > 0 {
			buf, free = free[len(free)-1], free[:len(free)-1]
		} else {
			buf = make([]byte, stripeSize)
		}
		if n, eof, err = transport.Fill(r, buf); err != nil {
			werr, n = err, 0
		}
	}
	for len(inflight) > 0 {
		retire()
	}
	mu.Lock()
	stopped = true
	close(work)
	mu.Unlock()
	wg.Wait()
	waitLogins()
	if werr == nil {
		werr = werrs
	}
	if werr != nil {
		c.dropExtras() // one of them may be the connection that broke
		return fail(ctx, "write", name, offsetRefused(werr, offset))
	}
	if size >= 0 && off != size {
		return fail(ctx, "write", name, fmt.Errorf("source gave %d bytes, expected %d", off, size))
	}
	if size >= 0 && offset > 0 {
		if err := h0.Truncate(size); err != nil {
			return fail(ctx, "truncate", name, err)
		}
	}
	closed0 = true
	if err := h0.Close(); err != nil {
		return fail(ctx, "close", name, err)
	}
	return nil
}

// truncatesOnOpen opens p for writing once more and reports whether the
// server emptied it: it held at least want bytes before.
func (c *Client) truncatesOnOpen(p string, want int64) (bool, error) {
	h, err := c.sftp.OpenFile(p, flagsWrite)
	if err != nil {
		return false, err
	}
	fi, err := h.Stat()
	if cerr := h.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, err
	}
	return fi.Size() < want, nil
}

// keepHeapSmall collects garbage when the live heap is small. The stripe
// window is most of such a heap, and Go collects only once the heap has
// doubled, so pkg/sftp's small per-write garbage would let the window
// count twice in the process's memory: a 10 GiB archive over four streams
// peaked at 68 MiB RSS, with this at 55 MiB, for about 4 collections a
// second at 500 MB/s. In a process with a larger heap (a busy server) it
// does nothing: there the window is a small share of the heap anyway.
func keepHeapSmall() {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 && s[0].Value.Uint64() < 64<<20 {
		runtime.GC()
	}
}

// The resume rule above holds only while the stripes in flight fit in the
// safety window.
var _ [safetyWindow - window*stripeSize]struct{}
