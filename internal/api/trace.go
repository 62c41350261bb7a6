package api

import (
	"net/http"

	"github.com/syndicate-media/syndicate/internal/telemetry"
)

// maxTraceSpans bounds one trace answer.
const maxTraceSpans = 10000

// getTrace answers GET /v1/deliveries/{id}/trace with the delivery's trace
// from the built-in trace store, laid out as a waterfall
// (telemetry.Trace):
//
//	{
//	  "delivery_id": "0193…", "trace_id": "4bf92f35…",   // "" and no spans for a delivery older than tracing
//	  "start": "2026-…Z",                                 // the earliest span's start
//	  "duration_ms": 6512.3,                              // to the latest span's end
//	  "spans": [                                          // depth-first: each span after its parent, siblings by start
//	    {"trace_id", "span_id", "parent_id",              // hex; parent_id "" for the root
//	     "name": "POST /v1/notifications" | "decide" | "start" | "package" | "pace" | "transfer" | "transport.put" | … | "finish" | "fail" | "feedback",
//	     "kind": "server" | "internal" | "client",
//	     "start": RFC 3339, "end": RFC 3339 or null (unfinished),
//	     "depth": 0…, "offset_ms": from the trace's start, "duration_ms",
//	     "unfinished": true when the span's process stopped before it ended (a step cut by a crash),
//	     "status": "unset" | "ok" | "error", "status_message": "…" (for error),
//	     "process": "executor/pid" that recorded it,
//	     "attributes": {"delivery.id", "partner.id", "step", "attempt", "bytes", "files", "rate_bytes_per_second",
//	                    "transport.scheme", "transport.file", "transport.bytes", "http.route", "http.response.status_code", …},
//	     "events": [{"name": "http.request.body" | "http.response.body" | …, "time", "attributes": {"body": "…"}}]}
//	  ]
//	}
//
// A delivery's view holds the spans carrying its delivery.id and their
// ancestors (the request that created it); other deliveries the same
// request started are left out. Spans are kept 7 days.
func (s *Server) getTrace(w http.ResponseWriter, r *http.Request) {
	d, err := s.Store.GetDelivery(r.Context(), r.PathValue("id"))
	if s.notFound(w, r, err, "delivery") {
		return
	}
	traceID := telemetry.TraceID(d.TraceParent)
	if traceID == "" {
		writeJSON(w, 200, telemetry.Waterfall(d.ID, "", nil))
		return
	}
	spans, err := s.Store.TraceSpans(r.Context(), traceID, maxTraceSpans)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, 200, telemetry.Waterfall(d.ID, traceID, spans))
}

// metrics serves Prometheus metrics. It needs the API token like every
// other route but the health checks: the series are only counts, but
// their labels name the partners, and who a company syndicates to is
// business information. Prometheus sends the token with
// `authorization: {credentials_file: …}` in its scrape config.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	s.Telemetry.Metrics().Handler().ServeHTTP(w, r)
}
