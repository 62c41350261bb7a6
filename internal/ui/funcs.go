package ui

import (
	"encoding/json"
	"fmt"
	"html/template"
	"time"

	"github.com/syndicate-media/syndicate/internal/domain"
)

// funcs are the helpers the templates use to show numbers and times.
var funcs = template.FuncMap{
	"bytes":    humanBytes,
	"rate":     humanRate,
	"eta":      eta,
	"percent":  percent,
	"when":     when,
	"json":     toJSON,
	"terminal": func(s domain.Status) bool { return s.Terminal() },
	"short":    short,
	"value":    value,
}

// humanBytes shows a byte count in binary units: 1.5 MiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

func humanRate(n int64) string {
	if n <= 0 {
		return "–"
	}
	return humanBytes(n) + "/s"
}

// eta shows the time left of a transfer in progress, or a dash.
func eta(d domain.Delivery) string {
	left := d.ETA()
	if left <= 0 {
		return "–"
	}
	return left.Round(time.Second).String()
}

// percent is how much of the package was sent, 0-100.
func percent(d domain.Delivery) int {
	if d.TotalBytes <= 0 {
		if d.Status == domain.StatusDelivered {
			return 100
		}
		return 0
	}
	return int(min(100, d.Bytes*100/d.TotalBytes))
}

// when shows a time (a time.Time or a *time.Time) in UTC, or a dash.
func when(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x != nil {
			t = *x
		}
	}
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// toJSON shows a value as indented JSON.
func toJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}

// short cuts a long text (an error) for a table cell.
func short(s string) string {
	r := []rune(s)
	if len(r) <= 120 {
		return s
	}
	return string(r[:119]) + "…"
}

// value shows one field of a profile diff: a dash when it is absent.
func value(v any) string {
	if v == nil {
		return "–"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
