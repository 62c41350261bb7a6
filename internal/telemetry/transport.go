package telemetry

import (
	"context"
	"io"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/syndicate-media/syndicate/internal/transport"
)

// OpenTransport is transport.Open inside a "transport.open" span, and
// returns the transport wrapped so that each operation is a child span of
// the span in ctx (the transfer step): put, put_from, stat, rename,
// remove, committed, with the file and the bytes moved. The spans come
// from the tracer of ctx's span, so with no span in ctx nothing is
// recorded. The wrapper keeps the optional features a delivery uses
// (transport.Renamer, transport.Resumer), and only those.
func OpenTransport(ctx context.Context, rawURL string, opts transport.Options) (transport.Transport, error) {
	tr := tracerOf(ctx)
	ctx, span := tr.Start(ctx, "transport.open")
	t, err := transport.Open(ctx, rawURL, opts)
	End(span, err)
	if err != nil {
		return nil, err
	}
	return TraceTransport(ctx, t), nil
}

// TraceTransport wraps t as OpenTransport does.
func TraceTransport(ctx context.Context, t transport.Transport) transport.Transport {
	base := &traced{t: t, tracer: tracerOf(ctx)}
	rn, canRename := t.(transport.Renamer)
	rs, canResume := t.(transport.Resumer)
	switch {
	case canRename && canResume:
		return struct {
			*traced
			tracedRenamer
			tracedResumer
		}{base, tracedRenamer{base, rn}, tracedResumer{base, rs}}
	case canRename:
		return struct {
			*traced
			tracedRenamer
		}{base, tracedRenamer{base, rn}}
	case canResume:
		return struct {
			*traced
			tracedResumer
		}{base, tracedResumer{base, rs}}
	}
	return base
}

func tracerOf(ctx context.Context) trace.Tracer {
	return trace.SpanFromContext(ctx).TracerProvider().Tracer(ScopeName)
}

type traced struct {
	t      transport.Transport
	tracer trace.Tracer
}

// Unwrap is the transport traced wraps (see transport.As).
func (t *traced) Unwrap() transport.Transport { return t.t }

func (t *traced) span(ctx context.Context, op, name string) (context.Context, trace.Span) {
	return t.tracer.Start(ctx, "transport."+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("transport.file", name)))
}

func (t *traced) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	ctx, span := t.span(ctx, "put", name)
	cr := &byteCounter{r: r}
	err := t.t.Put(ctx, name, cr, size)
	span.SetAttributes(attribute.Int64("transport.size", size), attribute.Int64("transport.bytes", cr.n))
	End(span, err)
	return err
}

func (t *traced) Stat(ctx context.Context, name string) (transport.FileInfo, error) {
	ctx, span := t.span(ctx, "stat", name)
	fi, err := t.t.Stat(ctx, name)
	span.SetAttributes(attribute.Int64("transport.size", fi.Size))
	End(span, err)
	return fi, err
}

func (t *traced) Remove(ctx context.Context, name string) error {
	ctx, span := t.span(ctx, "remove", name)
	err := t.t.Remove(ctx, name)
	End(span, err)
	return err
}

func (t *traced) Close() error { return t.t.Close() }

type tracedRenamer struct {
	t  *traced
	rn transport.Renamer
}

func (r tracedRenamer) Rename(ctx context.Context, from, to string) error {
	ctx, span := r.t.span(ctx, "rename", from)
	span.SetAttributes(attribute.String("transport.to", to))
	err := r.rn.Rename(ctx, from, to)
	End(span, err)
	return err
}

type tracedResumer struct {
	t  *traced
	rs transport.Resumer
}

func (r tracedResumer) Committed(ctx context.Context, name string) (int64, error) {
	ctx, span := r.t.span(ctx, "committed", name)
	n, err := r.rs.Committed(ctx, name)
	span.SetAttributes(attribute.Int64("transport.offset", n))
	End(span, err)
	return n, err
}

func (r tracedResumer) PutFrom(ctx context.Context, name string, offset int64, rd io.Reader, size int64) error {
	ctx, span := r.t.span(ctx, "put_from", name)
	cr := &byteCounter{r: rd}
	err := r.rs.PutFrom(ctx, name, offset, cr, size)
	span.SetAttributes(attribute.Int64("transport.offset", offset), attribute.Int64("transport.size", size),
		attribute.Int64("transport.bytes", cr.n))
	End(span, err)
	return err
}

// byteCounter counts what a transport reads.
type byteCounter struct {
	r io.Reader
	n int64
}

func (c *byteCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

var (
	_ transport.Transport = (*traced)(nil)
	_ transport.Renamer   = tracedRenamer{}
	_ transport.Resumer   = tracedResumer{}
)
