package workflow

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/syndicate-media/syndicate/internal/transport"
)

// commitGuard makes each file's commit at the partner (its rename into
// place, or the upload itself where a transport cannot rename) exactly
// once across attempts and processes:
//   - before committing, the run must still own the workflow (a DB round
//     trip: a worker cut off from the database, or taken over, commits
//     nothing);
//   - after committing, the file is recorded (syn_delivery_commits), and a
//     later attempt of the same run — by this process or the one that took
//     the run over — reads the file locally for the checksums but sends
//     nothing and commits nothing.
//
// What remains is one round trip wide: a commit whose record did not
// reach the database (cut just between the two) is sent again.
type commitGuard struct {
	before func(ctx context.Context) error
	record func(ctx context.Context, name string) error
	// verified records how a committed file was verified at the partner;
	// forget drops a commit whose file the partner was found not to hold
	// as sent, so a later attempt sends it again. Either may be nil.
	verified func(ctx context.Context, name, how string) error
	forget   func(ctx context.Context, name string) error
	done     map[string]bool   // final names already committed by this run
	how      map[string]string // how each of done was verified ("": not recorded)
	suffix   string            // the sender's temporary-name suffix
	log      *slog.Logger

	mu      sync.Mutex
	skipped map[string]int64 // temporary or final name → bytes read, not sent
}

type guardKey struct{}

// withGuard makes send wrap its transport in g.
func withGuard(ctx context.Context, g *commitGuard) context.Context {
	return context.WithValue(ctx, guardKey{}, g)
}

// guardTransport wraps tr in the context's commit guard, if any, keeping
// its optional Renamer and Resumer.
func guardTransport(ctx context.Context, tr transport.Transport) transport.Transport {
	g, _ := ctx.Value(guardKey{}).(*commitGuard)
	if g == nil {
		return tr
	}
	g.skipped = map[string]int64{}
	b := &guarded{Transport: tr, g: g}
	rn, canRename := tr.(transport.Renamer)
	rs, canResume := tr.(transport.Resumer)
	b.renames = canRename
	switch {
	case canRename && canResume:
		return struct {
			*guarded
			guardedRenamer
			guardedResumer
		}{b, guardedRenamer{b, rn}, guardedResumer{b, rs}}
	case canRename:
		return struct {
			*guarded
			guardedRenamer
		}{b, guardedRenamer{b, rn}}
	case canResume:
		return struct {
			*guarded
			guardedResumer
		}{b, guardedResumer{b, rs}}
	}
	return b
}

type guarded struct {
	transport.Transport
	g       *commitGuard
	renames bool
}

// Unwrap is the transport the guard wraps (see transport.As).
func (b *guarded) Unwrap() transport.Transport { return b.Transport }

func (b *guarded) final(name string) string { return strings.TrimSuffix(name, b.g.suffix) }

// skip reads r through (the sender hashes it) instead of sending a file
// this run already committed.
func (b *guarded) skip(name string, r io.Reader) error {
	n, err := io.Copy(io.Discard, r)
	b.g.mu.Lock()
	b.g.skipped[name] = n
	b.g.mu.Unlock()
	b.g.log.Info("already committed at the partner by an earlier attempt; not sent again", "file", b.final(name))
	return err
}

func (b *guarded) skippedSize(name string) (int64, bool) {
	b.g.mu.Lock()
	defer b.g.mu.Unlock()
	n, ok := b.g.skipped[name]
	return n, ok
}

func (b *guarded) committed(ctx context.Context, name string) {
	if err := b.g.record(context.WithoutCancel(ctx), name); err != nil {
		b.g.log.Warn("recording a commit (a later attempt may send this file again)", "file", name, "error", err)
	}
}

func (b *guarded) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if b.g.done[b.final(name)] {
		return b.skip(name, r)
	}
	if b.renames {
		return b.Transport.Put(ctx, name, r, size) // a temporary name; the rename commits
	}
	if err := b.g.before(ctx); err != nil {
		return err
	}
	if err := b.Transport.Put(ctx, name, r, size); err != nil {
		return err
	}
	b.committed(ctx, name)
	return nil
}

func (b *guarded) Stat(ctx context.Context, name string) (transport.FileInfo, error) {
	if n, ok := b.skippedSize(name); ok {
		return transport.FileInfo{Name: name, Size: n}, nil
	}
	return b.Transport.Stat(ctx, name)
}

type guardedRenamer struct {
	b  *guarded
	rn transport.Renamer
}

func (r guardedRenamer) Rename(ctx context.Context, from, to string) error {
	if _, ok := r.b.skippedSize(from); ok {
		return nil
	}
	if err := r.b.g.before(ctx); err != nil {
		return err
	}
	if err := r.rn.Rename(ctx, from, to); err != nil {
		return err
	}
	r.b.committed(ctx, to)
	return nil
}

type guardedResumer struct {
	b  *guarded
	rs transport.Resumer
}

func (r guardedResumer) Committed(ctx context.Context, name string) (int64, error) {
	if r.b.g.done[r.b.final(name)] {
		return 0, nil // read from the start: the sender hashes the whole file
	}
	return r.rs.Committed(ctx, name)
}

func (r guardedResumer) PutFrom(ctx context.Context, name string, offset int64, rd io.Reader, size int64) error {
	if r.b.renames {
		return r.rs.PutFrom(ctx, name, offset, rd, size)
	}
	if err := r.b.g.before(ctx); err != nil { // the upload's end is the commit
		return err
	}
	if err := r.rs.PutFrom(ctx, name, offset, rd, size); err != nil {
		return err
	}
	r.b.committed(ctx, name)
	return nil
}

// guardOf is the commit guard in ctx, or nil.
func guardOf(ctx context.Context) *commitGuard {
	g, _ := ctx.Value(guardKey{}).(*commitGuard)
	return g
}

// committedBefore reports whether an earlier attempt of this run
// committed the final name, and how it verified it then ("" if unknown).
func (g *commitGuard) committedBefore(name string) (how string, ok bool) {
	if g == nil || !g.done[name] {
		return "", false
	}
	return g.how[name], true
}

// recordVerified notes how name was verified; a failure to write only
// means a later attempt checks it again.
func (g *commitGuard) recordVerified(ctx context.Context, name, how string) {
	if g == nil || g.verified == nil {
		return
	}
	if err := g.verified(context.WithoutCancel(ctx), name, how); err != nil {
		g.log.Warn("recording how a file was verified", "file", name, "error", err)
	}
}

// uncommit forgets name's commit: the partner does not hold what was
// sent. It returns the store's error, if any: a commit that stays
// recorded would make the next attempt skip a wrong file.
func (g *commitGuard) uncommit(ctx context.Context, name string) error {
	if g == nil {
		return nil
	}
	delete(g.done, name)
	if g.forget == nil {
		return nil
	}
	return g.forget(context.WithoutCancel(ctx), name)
}
