package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Span is one span of a trace as the built-in trace store keeps it
// (syn_spans), written by internal/telemetry. A long span (a workflow
// step) is written when it starts too, with End nil, so a step cut short
// by a crash still shows in its trace.
type Span struct {
	TraceID  string `json:"trace_id"`
	SpanID   string `json:"span_id"`
	ParentID string `json:"parent_id,omitempty"`
	Name     string `json:"name"`
	// Kind is internal, server, client, producer or consumer.
	Kind  string     `json:"kind"`
	Start time.Time  `json:"start"`
	End   *time.Time `json:"end"`
	// Status is unset, ok or error; StatusMessage says why for error.
	Status        string `json:"status"`
	StatusMessage string `json:"status_message,omitempty"`
	// Process names the process that recorded the span (executor/pid).
	Process string `json:"process,omitempty"`
	// Attributes is a JSON object; Events a JSON array of
	// {name, time, attributes}.
	Attributes json.RawMessage `json:"attributes"`
	Events     json.RawMessage `json:"events"`
}

// spanColumns is the column list of syn_spans; start_ns and end_ns are
// Unix nanoseconds (end_ns 0: not ended).
const spanColumns = `trace_id, span_id, parent_id, name, kind, start_ns, end_ns, status, status_message, process, attributes, events`

// UpsertSpans writes spans in one transaction. A span already stored is
// replaced unless it had ended: the row a span's start wrote is completed
// by its end, never the other way round.
func (s *Store) UpsertSpans(ctx context.Context, spans []Span) error {
	if len(spans) == 0 {
		return nil
	}
	return s.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, s.q(`INSERT INTO syn_spans (`+spanColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (trace_id, span_id) DO UPDATE SET parent_id = excluded.parent_id, name = excluded.name, kind = excluded.kind,
			start_ns = excluded.start_ns, end_ns = excluded.end_ns, status = excluded.status, status_message = excluded.status_message,
			process = excluded.process, attributes = excluded.attributes, events = excluded.events
			WHERE syn_spans.end_ns = 0`))
		if err != nil {
			return fmt.Errorf("store: spans: %w", err)
		}
		defer stmt.Close()
		for _, sp := range spans {
			var end int64
			if sp.End != nil {
				end = sp.End.UnixNano()
			}
			if _, err := stmt.ExecContext(ctx, sp.TraceID, sp.SpanID, sp.ParentID, sp.Name, sp.Kind, sp.Start.UnixNano(), end,
				sp.Status, sp.StatusMessage, sp.Process, jsonOr(sp.Attributes, "{}"), jsonOr(sp.Events, "[]")); err != nil {
				return fmt.Errorf("store: span %s: %w", sp.SpanID, err)
			}
		}
		return nil
	})
}

// TraceSpans returns up to limit spans of a trace, by start time.
func (s *Store) TraceSpans(ctx context.Context, traceID string, limit int) ([]Span, error) {
	rows, err := s.readRows(ctx, `SELECT `+spanColumns+` FROM syn_spans WHERE trace_id = ?
		ORDER BY start_ns, span_id LIMIT ?`, traceID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: trace %s: %w", traceID, err)
	}
	defer rows.Close()
	out := []Span{}
	for rows.Next() {
		var sp Span
		var start, end int64
		var attrs, events string
		if err := rows.Scan(&sp.TraceID, &sp.SpanID, &sp.ParentID, &sp.Name, &sp.Kind, &start, &end, &sp.Status,
			&sp.StatusMessage, &sp.Process, &attrs, &events); err != nil {
			return nil, fmt.Errorf("store: trace %s: %w", traceID, err)
		}
		sp.Start = time.Unix(0, start).UTC()
		if end != 0 {
			e := time.Unix(0, end).UTC()
			sp.End = &e
		}
		sp.Attributes, sp.Events = json.RawMessage(attrs), json.RawMessage(events)
		out = append(out, sp)
	}
	return out, rows.Err()
}

// DeleteSpansBefore deletes the spans that started before t (retention)
// and returns how many.
func (s *Store) DeleteSpansBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.exec(ctx, `DELETE FROM syn_spans WHERE start_ns < ?`, t.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("store: delete spans: %w", err)
	}
	return res.RowsAffected()
}

// PartnerStatus is how many of a partner's deliveries are in one status,
// and their summed current transfer rate (bytes/s; transferring only).
type PartnerStatus struct {
	PartnerID string
	Status    string
	Count     int
	Rate      int64
}

// DeliveryStats counts deliveries by partner and status (the metrics).
func (s *Store) DeliveryStats(ctx context.Context) ([]PartnerStatus, error) {
	rows, err := s.readRows(ctx, `SELECT partner_id, status, COUNT(*),
		COALESCE(SUM(CASE WHEN status = 'transferring' THEN rate ELSE 0 END), 0)
		FROM syn_deliveries GROUP BY partner_id, status`)
	if err != nil {
		return nil, fmt.Errorf("store: delivery stats: %w", err)
	}
	defer rows.Close()
	var out []PartnerStatus
	for rows.Next() {
		var p PartnerStatus
		if err := rows.Scan(&p.PartnerID, &p.Status, &p.Count, &p.Rate); err != nil {
			return nil, fmt.Errorf("store: delivery stats: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func jsonOr(b json.RawMessage, empty string) string {
	if len(b) == 0 {
		return empty
	}
	return string(b)
}
