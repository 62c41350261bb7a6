package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/syndicate-media/syndicate/internal/store"
)

func TestPayloadRedactsSecrets(t *testing.T) {
	cases := []struct{ name, in, secret string }{
		{"json password", `{"user":"a","password":"hunter2x"}`, "hunter2x"},
		{"json nested token", `{"auth":{"api_token":"tok-123456"}}`, "tok-123456"},
		{"json key", `{"key":"synp_0123456789abcdef0123","info":{}}`, "0123456789abcdef0123"},
		{"json secret number", `{"client_secret": 98765432}`, "98765432"},
		{"json escaped quote", `{"secret":"ab\"cd-secretpart"}`, "cd-secretpart"},
		{"json cut short", `{"credentials":"env-or-literal-value`, "env-or-literal-value"},
		{"yaml", "id: acme\ndestination:\n  credentials: hunter2-literal\n  url: sftp://h/x\n", "hunter2-literal"},
		{"yaml list", "keys:\n  - secret: s3cr3t-in-list\n", "s3cr3t-in-list"},
		{"url password", `{"url":"sftp://bob:pa55word@host/in"}`, "pa55word"},
		{"url password cut", `sftp://bob:pa55wo`, "pa55wo"},
		{"token anywhere", `note syn_abcdef0123456789abcdef here`, "abcdef0123456789abcdef"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := Payload([]byte(c.in))
			if strings.Contains(out, c.secret) {
				t.Errorf("Payload(%q) = %q: the secret is still there", c.in, out)
			}
			if !strings.Contains(out, Redacted) {
				t.Errorf("Payload(%q) = %q: nothing redacted", c.in, out)
			}
		})
	}
	// What is not a secret stays readable.
	in := `{"asset_id":"ep-1","idempotency_key":"k-1","host_key":"SHA256:abc","partners":["acme"]}`
	if out := Payload([]byte(in)); out != in {
		t.Errorf("Payload changed a body without secrets: %q", out)
	}
}

func TestPayloadTruncates(t *testing.T) {
	in := strings.Repeat("é", MaxPayload) // 2 bytes each
	out := Payload([]byte(in))
	body, ok := strings.CutSuffix(out, "…(truncated)")
	if !ok || len(body) > MaxPayload || !strings.HasPrefix(in, body) {
		t.Fatalf("truncated to %d bytes, suffix %v", len(body), ok)
	}
}

func TestTraceParentRoundTrip(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := WithTraceParent(context.Background(), tp)
	if got := TraceParent(ctx); got != tp {
		t.Errorf("TraceParent = %q, want %q", got, tp)
	}
	if got := TraceID(tp); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("TraceID = %q", got)
	}
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		if TraceID(bad) != "" || TraceParent(WithTraceParent(context.Background(), bad)) != "" {
			t.Errorf("%q accepted as a traceparent", bad)
		}
	}
}

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil)))
	ctx := WithTraceParent(context.Background(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	log.InfoContext(ctx, "with span")
	log.Info("without")
	log.With("trace_id", "own").InfoContext(ctx, "own trace id")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{`"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"`, `"msg":"without"}`, `"trace_id":"own"}`}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d = %s, want %s", i, lines[i], w)
		}
	}
	if strings.Count(lines[2], "trace_id") != 1 {
		t.Errorf("trace_id twice: %s", lines[2])
	}
}

// TestWaterfall: one request started two deliveries; each delivery's view
// holds the request, its own spans in depth-first order, and not the
// other delivery's; an unfinished span lasts to its last child's end.
func TestWaterfall(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	span := func(id, parent, name, delivery string, start, end time.Duration) store.Span {
		a, _ := json.Marshal(map[string]any{AttrDeliveryID: delivery})
		if delivery == "" {
			a = []byte("{}")
		}
		sp := store.Span{TraceID: "t", SpanID: id, ParentID: parent, Name: name, Start: t0.Add(start), Attributes: a}
		if end >= 0 {
			e := t0.Add(end)
			sp.End = &e
		}
		return sp
	}
	spans := []store.Span{
		span("req", "caller", "POST /v1/notifications", "", 0, 50*time.Millisecond),
		span("d1", "req", "decide", "A", 10*time.Millisecond, 12*time.Millisecond),
		span("d2", "req", "decide", "B", 20*time.Millisecond, 22*time.Millisecond),
		span("b-start", "d2", "start", "B", 100*time.Millisecond, 110*time.Millisecond),
		span("a-xfer2", "d1", "transfer", "A", 5*time.Second, 9*time.Second),
		span("a-start", "d1", "start", "A", 100*time.Millisecond, 110*time.Millisecond),
		span("a-xfer1", "d1", "transfer", "A", 200*time.Millisecond, -1),
		span("a-put1", "a-xfer1", "transport.put", "A", 300*time.Millisecond, 900*time.Millisecond),
	}
	tr := Waterfall("A", "t", spans)
	var got []string
	for _, sp := range tr.Spans {
		got = append(got, strings.Repeat(".", sp.Depth)+sp.SpanID)
	}
	want := "req .d1 ..a-start ..a-xfer1 ...a-put1 ..a-xfer2"
	if strings.Join(got, " ") != want {
		t.Fatalf("waterfall %v, want %s", got, want)
	}
	x1 := tr.Spans[3]
	if !x1.Unfinished || x1.DurationMS != 700 || x1.OffsetMS != 200 {
		t.Errorf("unfinished transfer: %+v", x1)
	}
	if tr.DurationMS != 9000 || !tr.Start.Equal(t0) {
		t.Errorf("trace start %v, duration %v", tr.Start, tr.DurationMS)
	}
	if empty := Waterfall("C", "t", spans); len(empty.Spans) != 0 {
		t.Errorf("a delivery with no spans got %d", len(empty.Spans))
	}
}

func TestNilTelemetry(t *testing.T) {
	var tel *Telemetry
	_, span := tel.Tracer().Start(context.Background(), "x")
	span.End()
	tel.Metrics().NotificationAccepted()
	tel.Metrics().TransferBytes("p", 1)
	tel.Metrics().ObserveStep("s", time.Second)
	if err := tel.Close(); err != nil {
		t.Fatal(err)
	}
	if trace.SpanFromContext(context.Background()).SpanContext().IsValid() {
		t.Fatal("unexpected span")
	}
}
