package api

import (
	"bytes"
	"io"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/syndicate-media/syndicate/internal/telemetry"
)

// tracing gives each API request an HTTP server span: a child of the
// caller's traceparent header if it sent one, named by the route once the
// mux has matched it, with the method, route and status, and the request
// and response bodies as span events — secrets redacted, cut to 4 KiB.
// Headers are not recorded (they carry the tokens). Health, readiness and
// metrics requests get no span.
func (s *Server) tracing(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz", "/readyz", "/metrics":
			next.ServeHTTP(w, r)
			return
		}
		ctx := telemetry.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := s.Telemetry.Tracer().Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", redactPath(r.URL.Path))))
		defer span.End()
		r = r.WithContext(ctx)
		var reqBody *capture
		if r.Body != nil && r.Body != http.NoBody {
			reqBody = &capture{}
			r.Body = readCloser{io.TeeReader(r.Body, reqBody), r.Body}
		}
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)

		if r.Pattern != "" { // set by the mux on this request
			span.SetName(r.Pattern)
			_, route, _ := strings.Cut(r.Pattern, " ")
			span.SetAttributes(attribute.String("http.route", route))
		}
		span.SetAttributes(attribute.Int("http.response.status_code", rec.status))
		if rec.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(rec.status))
		}
		if reqBody != nil && reqBody.Len() > 0 {
			span.AddEvent("http.request.body", trace.WithAttributes(attribute.String("body", telemetry.Payload(reqBody.Bytes()))))
		}
		if rec.body.Len() > 0 {
			span.AddEvent("http.response.body", trace.WithAttributes(attribute.String("body", telemetry.Payload(rec.body.Bytes()))))
		}
	})
}

// captureLimit is how much of a body is kept for the span: twice what it
// shows, so redaction sees a secret whole before the cut.
const captureLimit = 2 * telemetry.MaxPayload

// capture keeps the first captureLimit bytes written to it.
type capture struct{ bytes.Buffer }

func (c *capture) Write(p []byte) (int, error) {
	if room := captureLimit - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// recorder notes the status and the start of the body a handler writes.
type recorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
	body        capture
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.wroteHeader = true
	_, _ = r.body.Write(p)
	return r.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (flushes,
// deadlines).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush passes through, for handlers that stream.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// redactPath hides the credential in a callback URL's path.
func redactPath(p string) string {
	if strings.HasPrefix(p, "/v1/callbacks/") {
		return "/v1/callbacks/REDACTED"
	}
	return p
}
