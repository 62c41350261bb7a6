package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/store/storetest"
	"github.com/syndicate-media/syndicate/internal/telemetry"
)

const traceToken = "trace-test-token-0123456789"

// TestDeliveryTrace sends one notification for two SFTP partners (one
// with the right password, one with a wrong one) through the real server
// and checks each delivery's trace: one trace id from the caller's
// traceparent through the request span, the steps and the transport
// operations to the partner's feedback, with correct parents; outbox
// events carrying the traceparent; trace_id on the delivery's log lines;
// no secret in any stored span; and the metrics.
func TestDeliveryTrace(t *testing.T) {
	for name, cfg := range storetest.Dialects(t) {
		t.Run(name, func(t *testing.T) { deliveryTrace(t, cfg) })
	}
}

func deliveryTrace(t *testing.T, cfg store.Config) {
	canaries := map[string]string{
		"SYN_TRACE_SFTP_PASSWORD": "trace-canary-sftp-4c1e8a",
		"SYN_TRACE_WRONG":         "trace-canary-wrong-93b7",
		"SYN_TRACE_HMAC":          "trace-canary-hmac-0d52",
	}
	for k, v := range canaries {
		t.Setenv(k, v)
	}
	logs := &syncBuffer{}
	srv, sftp, media := startWithSFTP(t, cfg, traceToken, logs, "tracer", canaries["SYN_TRACE_SFTP_PASSWORD"], 256<<10)

	c := client.New(srv.URL, traceToken)
	ctx := context.Background()
	for id, ref := range map[string]string{"good": "env:SYN_TRACE_SFTP_PASSWORD", "wrong": "env:SYN_TRACE_WRONG"} {
		p := domain.Partner{ID: id, Name: id, Format: "json", Destination: domain.Destination{URL: "sftp://tracer@" + sftp.Addr() + "/in",
			Credentials: ref, HostKey: sftp.HostKeyFingerprint()}, Retry: domain.Retry{MaxAttempts: 1},
			Feedback: domain.Feedback{RequireSignature: true, SigningSecret: "env:SYN_TRACE_HMAC"}}
		body, _ := json.Marshal(p)
		if _, err := c.PutPartner(ctx, id, body, "application/json"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PutAsset(ctx, domain.Asset{ID: "ep-1", Type: "episode", Title: "T", Media: []domain.MediaFile{{Role: "main", URI: media}}}); err != nil {
		t.Fatal(err)
	}

	// The caller's own trace: Syndicate continues it.
	const callerTrace = "5b8efff798038103d269b633813fc60c"
	var resp intake.Response
	err := c.DoHeaders(ctx, "POST", "/v1/notifications", map[string]string{"traceparent": "00-" + callerTrace + "-eee19b7ec3c1b174-01"},
		map[string]any{"asset_id": "ep-1", "partners": "all"}, &resp)
	if err != nil {
		t.Fatal(err)
	}
	// Accepted (202); the decider decides it in the background.
	for deadline := time.Now().Add(60 * time.Second); resp.Status != "decided"; time.Sleep(20 * time.Millisecond) {
		if resp, err = c.Notification(ctx, resp.NotificationID); err != nil || time.Now().After(deadline) {
			t.Fatalf("notification: %+v %v", resp, err)
		}
	}
	ids := map[string]string{}
	for _, d := range resp.Decisions {
		ids[d.PartnerID] = d.DeliveryID
	}
	waitGoodAndWrong(t, c, ids)
	partnerKey := signedFeedback(t, c, ids["good"], []byte(canaries["SYN_TRACE_HMAC"]))
	if err := srv.Telemetry.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}

	// "delivered" is visible before the workflow's last step (cleanup)
	// has ended: wait for its span, flushing as the batcher would.
	good := getTrace(t, c, ids["good"])
	for deadline := time.Now().Add(30 * time.Second); unfinished(good) != "" && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		if err := srv.Telemetry.ForceFlush(ctx); err != nil {
			t.Fatal(err)
		}
		good = getTrace(t, c, ids["good"])
	}
	if good.TraceID != callerTrace {
		t.Fatalf("trace id %q, want the caller's %s", good.TraceID, callerTrace)
	}
	byName := spansByName(good)
	for _, name := range []string{"POST /v1/notifications", "decide", "start", "package", "transfer", "finish", "feedback",
		"transport.open", "transport.put", "transport.stat", "transport.rename"} {
		if len(byName[name]) == 0 {
			t.Errorf("no %q span in the trace:\n%s", name, dump(good))
		}
	}
	if t.Failed() {
		return
	}
	for _, sp := range good.Spans {
		if sp.TraceID != callerTrace {
			t.Errorf("span %s has trace id %s", sp.Name, sp.TraceID)
		}
		if sp.End == nil || sp.Unfinished {
			t.Errorf("span %s did not end", sp.Name)
		}
		if a := attrs(sp); a["delivery.id"] != nil && a["delivery.id"] != ids["good"] {
			t.Errorf("span %s of delivery %v in the trace of %s", sp.Name, a["delivery.id"], ids["good"])
		}
	}
	req, decide, transfer := byName["POST /v1/notifications"][0], byName["decide"][0], byName["transfer"][0]
	wantParent := func(child string, parent telemetry.TraceSpan) {
		for _, sp := range byName[child] {
			if sp.ParentID != parent.SpanID {
				t.Errorf("%s's parent is %s, want %s (%s)", child, sp.ParentID, parent.SpanID, parent.Name)
			}
		}
	}
	if req.ParentID != "eee19b7ec3c1b174" || req.Kind != "server" || req.Depth != 0 {
		t.Errorf("request span: parent %q kind %s depth %d", req.ParentID, req.Kind, req.Depth)
	}
	if a := attrs(req); a["http.response.status_code"] != float64(202) || a["http.route"] != "/v1/notifications" {
		t.Errorf("request span attributes: %v", a)
	}
	if !strings.Contains(string(req.Events), `\"asset_id\":\"ep-1\"`) {
		t.Errorf("request span has no request body event: %s", req.Events)
	}
	wantParent("decide", req)
	for _, step := range []string{"start", "package", "transfer", "finish", "feedback"} {
		wantParent(step, decide)
	}
	for _, op := range []string{"transport.open", "transport.put", "transport.stat", "transport.rename"} {
		wantParent(op, transfer)
	}
	if a := attrs(transfer); a["attempt"] != float64(1) || a["transport.scheme"] != "sftp" || a["bytes"].(float64) < 256<<10 || a["files"] != float64(3) {
		t.Errorf("transfer span attributes: %v", a)
	}

	// The failed delivery: its own spans, under the same request, ending in a failed step.
	wrong := getTrace(t, c, ids["wrong"])
	wb := spansByName(wrong)
	if wrong.TraceID != callerTrace || len(wb["fail"]) != 1 || len(wb["transfer"]) != 1 || wb["transfer"][0].Status != "error" {
		t.Errorf("failed delivery's trace:\n%s", dump(wrong))
	}
	if len(wb["POST /v1/notifications"]) != 1 || wb["decide"][0].SpanID == decide.SpanID {
		t.Errorf("failed delivery's trace should share the request, not the decision:\n%s", dump(wrong))
	}

	// Outbox events carry the delivery's traceparent.
	d, _ := c.Delivery(ctx, ids["good"])
	if telemetry.TraceID(d.TraceParent) != callerTrace {
		t.Fatalf("delivery traceparent %q", d.TraceParent)
	}
	srv.Store.StampEvents(ctx, 10000)
	evs, _ := srv.Store.EventsAfter(ctx, 0, 10000)
	n := 0
	for _, e := range evs {
		if e.Subject == ids["good"] {
			n++
			if e.TraceParent != d.TraceParent {
				t.Errorf("event %s carries traceparent %q, want %q", e.Type, e.TraceParent, d.TraceParent)
			}
		}
	}
	if n < 4 {
		t.Errorf("only %d events for the delivery", n)
	}

	// Every log line on a delivery carries delivery_id, partner and trace_id.
	lines := 0
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["delivery_id"] == nil {
			continue
		}
		lines++
		if rec["partner"] == nil || rec["trace_id"] != callerTrace {
			t.Errorf("log line without partner or trace_id: %s", line)
		}
	}
	if lines < 4 {
		t.Errorf("only %d delivery log lines:\n%s", lines, logs.String())
	}

	// No secret in any stored span — the partner key answered by POST
	// /v1/partners/good/keys included.
	spans := allSpans(t, srv.Store)
	if !strings.Contains(spans, "transport.put") || !strings.Contains(spans, "/v1/partners/good/keys") {
		t.Fatal("the span dump does not hold the spans: the search below would prove nothing")
	}
	for name, v := range canaries {
		if strings.Contains(spans, v) {
			t.Errorf("the value of %s appears in syn_spans", name)
		}
	}
	if strings.Contains(spans, partnerKey) || strings.Contains(spans, traceToken) {
		t.Error("a token appears in syn_spans")
	}

	checkMetrics(t, srv.URL)
}

func checkMetrics(t *testing.T, url string) {
	t.Helper()
	if code, _ := get(t, url+"/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %d, want 401", code)
	}
	code, body := get(t, url+"/metrics", traceToken)
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	for _, want := range []string{
		"syndicate_notifications_accepted_total 1",
		`syndicate_deliveries{partner="good",status="delivered"} 1`,
		`syndicate_deliveries{partner="wrong",status="failed"} 1`,
		`syndicate_queue_depth{partner="good"} 0`,
		`syndicate_transfer_rate_bytes_per_second{partner="good"} 0`,
		`syndicate_transfer_bytes_total{partner="good"}`,
		`syndicate_step_duration_seconds_count{step="transfer"} 2`,
		`syndicate_step_duration_seconds_count{step="finish"} 1`,
		`syndicate_step_duration_seconds_count{step="fail"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// unfinished names a span of tr that has not ended, or is "".
func unfinished(tr telemetry.Trace) string {
	for _, sp := range tr.Spans {
		if sp.End == nil || sp.Unfinished {
			return sp.Name
		}
	}
	return ""
}

func getTrace(t *testing.T, c *client.Client, id string) telemetry.Trace {
	t.Helper()
	var tr telemetry.Trace
	if err := c.Do(context.Background(), "GET", "/v1/deliveries/"+id+"/trace", "", nil, &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

func spansByName(tr telemetry.Trace) map[string][]telemetry.TraceSpan {
	m := map[string][]telemetry.TraceSpan{}
	for _, sp := range tr.Spans {
		m[sp.Name] = append(m[sp.Name], sp)
	}
	return m
}

func attrs(sp telemetry.TraceSpan) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(sp.Attributes, &m)
	return m
}

func dump(tr telemetry.Trace) string {
	var b strings.Builder
	for _, sp := range tr.Spans {
		fmt.Fprintf(&b, "%s%s [%s parent %s] %s %s\n", strings.Repeat("  ", sp.Depth), sp.Name, sp.SpanID, sp.ParentID, sp.Status, sp.Attributes)
	}
	return b.String()
}

// allSpans returns every column of every stored span as text.
func allSpans(t *testing.T, st *store.Store) string {
	t.Helper()
	rows, err := st.DB.Query(`SELECT trace_id, span_id, parent_id, name, kind, status, status_message, process, attributes, events FROM syn_spans`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		cols := make([]string, 10)
		ptrs := make([]any, len(cols))
		for i := range cols {
			ptrs[i] = &cols[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		b.WriteString(strings.Join(cols, " ") + "\n")
	}
	return b.String()
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
