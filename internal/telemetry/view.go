package telemetry

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/syndicate-media/syndicate/internal/store"
)

// Trace is one delivery's trace, laid out as a waterfall: the answer of
// GET /v1/deliveries/{id}/trace and what `syndicate trace` prints.
type Trace struct {
	DeliveryID string `json:"delivery_id"`
	// TraceID is empty for a delivery recorded before tracing existed.
	TraceID string `json:"trace_id"`
	// Start is the earliest span's start; DurationMS runs to the latest end.
	Start      time.Time   `json:"start"`
	DurationMS float64     `json:"duration_ms"`
	Spans      []TraceSpan `json:"spans"`
}

// TraceSpan is a stored span placed in the waterfall: spans come in
// depth-first order (each after its parent, siblings by start time).
type TraceSpan struct {
	store.Span
	// Depth is 0 for a root (or a span whose parent was not recorded).
	Depth int `json:"depth"`
	// OffsetMS is the span's start relative to the trace's Start.
	OffsetMS   float64 `json:"offset_ms"`
	DurationMS float64 `json:"duration_ms"`
	// Unfinished marks a span whose process stopped before it ended (a
	// step cut by a crash); its duration runs to its last child's end.
	Unfinished bool `json:"unfinished,omitempty"`
}

// Waterfall picks the spans of trace that belong to deliveryID — those
// carrying its delivery.id and their ancestors (the API request) — and
// lays them out. One request may start deliveries to several partners in
// one trace; each delivery's view leaves the others' spans out.
func Waterfall(deliveryID, traceID string, spans []store.Span) Trace {
	t := Trace{DeliveryID: deliveryID, TraceID: traceID, Spans: []TraceSpan{}}
	byID := map[string]store.Span{}
	for _, sp := range spans {
		byID[sp.SpanID] = sp
	}
	keep := map[string]bool{}
	for _, sp := range spans {
		if deliveryOf(sp) != deliveryID {
			continue
		}
		for id := sp.SpanID; id != "" && !keep[id]; id = byID[id].ParentID {
			if _, ok := byID[id]; !ok {
				break
			}
			keep[id] = true
		}
	}
	children := map[string][]store.Span{}
	var roots []store.Span
	for _, sp := range spans {
		switch {
		case !keep[sp.SpanID]:
		case keep[sp.ParentID]:
			children[sp.ParentID] = append(children[sp.ParentID], sp)
		default:
			roots = append(roots, sp)
		}
	}
	if len(roots) == 0 {
		return t
	}
	t.Start = roots[0].Start
	end := t.Start
	for _, sp := range roots {
		t.Start = minTime(t.Start, sp.Start)
	}
	var walk func(sp store.Span, depth int) time.Time
	walk = func(sp store.Span, depth int) time.Time {
		i := len(t.Spans)
		t.Spans = append(t.Spans, TraceSpan{Span: sp, Depth: depth, OffsetMS: ms(sp.Start.Sub(t.Start))})
		last := sp.Start
		for _, c := range sortByStart(children[sp.SpanID]) {
			last = maxTime(last, walk(c, depth+1))
		}
		if sp.End != nil {
			last = maxTime(last, *sp.End)
			t.Spans[i].DurationMS = ms(sp.End.Sub(sp.Start))
		} else {
			t.Spans[i].Unfinished = true
			t.Spans[i].DurationMS = ms(last.Sub(sp.Start))
		}
		return last
	}
	for _, r := range sortByStart(roots) {
		end = maxTime(end, walk(r, 0))
	}
	t.DurationMS = ms(end.Sub(t.Start))
	return t
}

// deliveryOf returns a stored span's delivery.id attribute.
func deliveryOf(sp store.Span) string {
	var attrs map[string]any
	_ = json.Unmarshal(sp.Attributes, &attrs)
	id, _ := attrs[AttrDeliveryID].(string)
	return id
}

func sortByStart(s []store.Span) []store.Span {
	slices.SortStableFunc(s, func(a, b store.Span) int { return a.Start.Compare(b.Start) })
	return s
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
