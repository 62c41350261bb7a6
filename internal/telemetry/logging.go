package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// LogHandler wraps h so that a record logged with a context that holds a
// span (logger.InfoContext(ctx, ...)) carries trace_id and span_id. A
// logger that already has a trace_id (log.With("trace_id", ...), as the
// workflow's per-delivery logger does) keeps its own.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(logHandler); ok {
		return h
	}
	return logHandler{Handler: h}
}

type logHandler struct {
	slog.Handler
	hasTraceID bool
}

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if !h.hasTraceID {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r = r.Clone()
			r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	has := h.hasTraceID
	for _, a := range attrs {
		has = has || a.Key == "trace_id"
	}
	return logHandler{Handler: h.Handler.WithAttrs(attrs), hasTraceID: has}
}

func (h logHandler) WithGroup(name string) slog.Handler {
	return logHandler{Handler: h.Handler.WithGroup(name), hasTraceID: h.hasTraceID}
}
