package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/syndicate-media/syndicate/internal/telemetry"
)

func runTrace(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "trace", "trace [flags] DELIVERY_ID")
	connect := clientFlags(env, fs)
	asJSON := fs.Bool("json", false, "print the trace as JSON (the API's answer)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	var t telemetry.Trace
	if err := connect().Do(ctx, "GET", "/v1/deliveries/"+url.PathEscape(fs.Arg(0))+"/trace", "", nil, &t); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, t)
	}
	printWaterfall(env.Stdout, t)
	return nil
}

// printWaterfall prints one line per span, indented by depth: offset from
// the trace's start, duration, name, key attributes, and the status when
// it is not plain success. The process is shown where it changes.
func printWaterfall(w io.Writer, t telemetry.Trace) {
	if t.TraceID == "" || len(t.Spans) == 0 {
		fmt.Fprintf(w, "delivery %s: no trace recorded (older than tracing, or past the 7-day retention)\n", t.DeliveryID)
		return
	}
	fmt.Fprintf(w, "trace %s  delivery %s  %s  %d spans\n", t.TraceID, t.DeliveryID, dur(t.DurationMS), len(t.Spans))
	fmt.Fprintf(w, "%9s %9s  %s\n", "OFFSET", "DURATION", "SPAN")
	process, partner := map[string]string{}, map[string]string{}
	for _, sp := range t.Spans {
		var attrs map[string]any
		_ = json.Unmarshal(sp.Attributes, &attrs)
		p, _ := attrs[telemetry.AttrPartner].(string)
		process[sp.SpanID], partner[sp.SpanID] = sp.Process, p
		var notes []string
		if p != "" && partner[sp.ParentID] != p {
			notes = append(notes, "partner="+p)
		}
		notes = append(notes, keyAttrs(attrs)...)
		if sp.Status == "error" {
			notes = append(notes, "ERROR: "+sp.StatusMessage)
		}
		if sp.Unfinished {
			notes = append(notes, "UNFINISHED (its process stopped)")
		}
		if sp.Process != "" && process[sp.ParentID] != sp.Process {
			notes = append(notes, "["+sp.Process+"]")
		}
		d := dur(sp.DurationMS)
		if sp.Unfinished {
			d = "≥" + d
		}
		fmt.Fprintf(w, "%9s %9s  %s%s  %s\n", dur(sp.OffsetMS), d, strings.Repeat("  ", sp.Depth), sp.Name, strings.Join(notes, " "))
	}
}

// shownAttrs are the attributes worth a place on a waterfall line, with
// their short names.
var shownAttrs = []struct{ key, label string }{
	{"http.response.status_code", "status"},
	{"attempt", "attempt"},
	{"transport.scheme", "scheme"},
	{"files", "files"},
	{"bytes", "bytes"},
	{"rate_bytes_per_second", "rate"},
	{"transport.file", "file"},
	{"transport.offset", "offset"},
	{"transport.bytes", "bytes"},
	{"feedback.status", "status"},
	{"feedback.redelivery", "redelivery"},
}

func keyAttrs(attrs map[string]any) []string {
	var out []string
	for _, a := range shownAttrs {
		v, ok := attrs[a.key]
		if !ok || v == "" {
			continue
		}
		s := fmt.Sprint(v)
		if f, isNum := v.(float64); isNum {
			s = fmt.Sprint(int64(f))
			if a.key == "rate_bytes_per_second" {
				s = humanBytes(int64(f)) + "/s"
			}
		}
		out = append(out, a.label+"="+s)
	}
	return out
}

// dur prints milliseconds compactly: 850ms, 2.10s, 3m05s.
func dur(ms float64) string {
	d := time.Duration(ms * float64(time.Millisecond))
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
