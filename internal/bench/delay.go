package bench

import (
	"net"
	"sync"
	"time"
)

// delayProxy forwards TCP connections on 127.0.0.1 to a target and holds
// every chunk of bytes for half the round-trip time in each direction: a
// long link (another region, another continent) with no bandwidth limit
// of its own, so both sides of the bench cross the same distance. Up to
// delayBuffer bytes per direction are in transit at once, as in a link's
// queue; a sender beyond that waits.
type delayProxy struct {
	ln     net.Listener
	target string
	half   time.Duration
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

const (
	delayChunk  = 64 << 10
	delayBuffer = 1024 * delayChunk // 64 MiB: a 4 Gbit/s link at 128 ms
)

func startDelayProxy(target string, rtt time.Duration) (*delayProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &delayProxy{ln: ln, target: target, half: rtt / 2, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	return p, nil
}

// Addr is where to connect instead of the target.
func (p *delayProxy) Addr() string { return p.ln.Addr().String() }

// Close stops accepting, cuts the connections and waits for them.
func (p *delayProxy) Close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *delayProxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *delayProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.DialTimeout("tcp", p.target, 10*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.track(c, true)
		p.track(s, true)
		p.wg.Go(func() {
			var both sync.WaitGroup
			both.Go(func() { p.pump(s, c) })
			both.Go(func() { p.pump(c, s) })
			both.Wait()
			_ = c.Close()
			_ = s.Close()
			p.track(c, false)
			p.track(s, false)
		})
	}
}

// pump copies src to dst, each chunk half a round trip after it arrived.
// When src ends, dst's write side is closed after the last chunk.
func (p *delayProxy) pump(dst, src net.Conn) {
	type chunk struct {
		b  []byte
		at time.Time
	}
	queue := make(chan chunk, delayBuffer/delayChunk)
	pool := sync.Pool{New: func() any { return make([]byte, delayChunk) }}
	go func() {
		defer close(queue)
		for {
			b := pool.Get().([]byte)
			n, err := src.Read(b)
			if n > 0 {
				queue <- chunk{b[:n], time.Now().Add(p.half)}
			}
			if err != nil {
				return
			}
		}
	}()
	failed := false
	for c := range queue {
		if !failed {
			time.Sleep(time.Until(c.at))
			if _, err := dst.Write(c.b); err != nil {
				failed = true
				_ = src.Close() // the reader stops; drain what it queued
			}
		}
		pool.Put(c.b[:cap(c.b)])
	}
	if tc, ok := dst.(*net.TCPConn); ok && !failed {
		_ = tc.CloseWrite()
	} else if !failed {
		_ = dst.Close()
	}
}
