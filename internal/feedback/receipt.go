package feedback

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// ReceiptParser reads a partner's status file into a report.
type ReceiptParser func(data []byte) (Report, error)

// receiptParsers are the receipt formats, by the name a profile uses.
var receiptParsers = map[string]ReceiptParser{
	"json": parseJSONReceipt,
	"csv":  parseCSVReceipt,
}

// ParseReceipt parses data with the named format.
func ParseReceipt(format string, data []byte) (Report, error) {
	p, ok := receiptParsers[format]
	if !ok {
		return Report{}, fmt.Errorf("%w: unknown receipt format %q", ErrInvalid, format)
	}
	r, err := p(data)
	if err != nil {
		return Report{}, err
	}
	return r, r.Validate()
}

// parseJSONReceipt reads {"status": ..., "reason": ..., "reference": ...}.
func parseJSONReceipt(data []byte) (Report, error) {
	var raw struct {
		Status    string `json:"status"`
		Reason    string `json:"reason"`
		Message   string `json:"message"`
		Reference string `json:"reference"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return Report{}, fmt.Errorf("%w: json receipt: %w", ErrInvalid, err)
	}
	return Report{Status: normalize(raw.Status), Reason: first(raw.Reason, raw.Message), Reference: raw.Reference}, nil
}

// parseCSVReceipt reads a YouTube-style status CSV: a header row, then one
// row per file or item. Columns are found by name (case-insensitive):
// status; reason, error or message; reference, id or video id. The
// package's status is the worst row's: any rejection rejects it, and
// any row still in progress keeps it at received.
func parseCSVReceipt(data []byte) (Report, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return Report{}, fmt.Errorf("%w: csv receipt: %w", ErrInvalid, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	at := func(row []string, names ...string) string {
		for _, n := range names {
			if i, ok := col[n]; ok && i < len(row) {
				return strings.TrimSpace(row[i])
			}
		}
		return ""
	}
	if _, ok := col["status"]; !ok {
		return Report{}, fmt.Errorf("%w: csv receipt: no status column in %v", ErrInvalid, header)
	}
	var out Report
	rank := map[domain.Ack]int{domain.AckProcessed: 1, domain.AckReceived: 2, domain.AckRejected: 3}
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return Report{}, fmt.Errorf("%w: csv receipt: %w", ErrInvalid, err)
		}
		st := normalize(at(row, "status"))
		if rank[st] == 0 {
			return Report{}, fmt.Errorf("%w: csv receipt: unknown status %q", ErrInvalid, at(row, "status"))
		}
		if rank[st] > rank[out.Status] {
			out.Status = st
			out.Reason = at(row, "reason", "error", "errors", "error message", "message")
		}
		out.Reference = first(out.Reference, at(row, "reference", "video id", "video_id", "id"))
	}
	if out.Status == "" {
		return Report{}, fmt.Errorf("%w: csv receipt: no rows", ErrInvalid)
	}
	return out, nil
}

// normalize maps the many words partners use onto the three acks.
func normalize(s string) domain.Ack {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "received", "accepted", "in progress", "processing", "pending":
		return domain.AckReceived
	case "processed", "success", "succeeded", "complete", "completed", "published", "live", "ok":
		return domain.AckProcessed
	case "rejected", "failed", "failure", "error", "errored":
		return domain.AckRejected
	}
	return domain.Ack(strings.ToLower(strings.TrimSpace(s)))
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
