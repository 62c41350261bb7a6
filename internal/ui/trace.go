package ui

import (
	"context"
	"sort"
	"time"

	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/telemetry"
)

// spanRow is one line of a delivery's trace waterfall.
type spanRow struct {
	Name            string
	Depth           int
	Offset, Dur     time.Duration
	Left, Width     float64 // percent of the trace's duration
	Status, Process string
	Open            bool // not ended (a step cut short, or still running)
}

// waterfall reads a delivery's trace from the built-in trace store and
// lays it out parent before children, each by start time.
func (u *UI) waterfall(ctx context.Context, traceParent string) ([]spanRow, error) {
	id := telemetry.TraceID(traceParent)
	if id == "" {
		return nil, nil
	}
	spans, err := u.store.TraceSpans(ctx, id, 1000)
	if err != nil || len(spans) == 0 {
		return nil, err
	}
	start, end := spans[0].Start, spans[0].Start
	children := map[string][]store.Span{}
	known := map[string]bool{}
	for _, s := range spans {
		known[s.SpanID] = true
	}
	for _, s := range spans {
		if s.Start.Before(start) {
			start = s.Start
		}
		e := time.Now()
		if s.End != nil {
			e = *s.End
		}
		if e.After(end) {
			end = e
		}
		parent := s.ParentID
		if !known[parent] {
			parent = "" // its parent is not stored (e.g. another system's): show it at the top
		}
		children[parent] = append(children[parent], s)
	}
	total := max(end.Sub(start), time.Millisecond)
	var rows []spanRow
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		kids := children[parent]
		sort.Slice(kids, func(i, j int) bool { return kids[i].Start.Before(kids[j].Start) })
		for _, s := range kids {
			e, open := time.Now(), s.End == nil
			if !open {
				e = *s.End
			}
			r := spanRow{Name: s.Name, Depth: depth, Offset: s.Start.Sub(start), Dur: e.Sub(s.Start), Status: s.Status,
				Process: s.Process, Open: open}
			r.Left = 100 * float64(r.Offset) / float64(total)
			r.Width = max(100*float64(r.Dur)/float64(total), 0.3)
			rows = append(rows, r)
			walk(s.SpanID, depth+1)
		}
	}
	walk("", 0)
	return rows, nil
}
