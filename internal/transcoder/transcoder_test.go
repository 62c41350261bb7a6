package transcoder_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/syndicate-media/syndicate/internal/secret"
	"github.com/syndicate-media/syndicate/internal/transcoder"
)

func TestToken(t *testing.T) {
	a, ha := transcoder.NewToken()
	b, _ := transcoder.NewToken()
	if a == b || !transcoder.ValidToken(a) || secret.HashToken(a) != ha || strings.Contains(ha, a) {
		t.Fatalf("tokens %q %q hash %q", a, b, ha)
	}
	for _, bad := range []string{"", "short", strings.Repeat("A", 44), "../../etc/passwd", a + "x"} {
		if transcoder.ValidToken(bad) {
			t.Errorf("ValidToken(%q) = true", bad)
		}
	}
}

func TestCallbackValidate(t *testing.T) {
	ok := []transcoder.Callback{
		{Status: "heartbeat", Progress: 0.5},
		{Status: "succeeded", Outputs: []transcoder.Output{{URI: "file:///x.mp4"}}},
		{Status: "failed", Error: "boom"},
	}
	for _, c := range ok {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	for c, want := range map[*transcoder.Callback]string{
		{Status: "done"}:      "status",
		{Status: "succeeded"}: "exactly one output",
		{Status: "succeeded", Outputs: []transcoder.Output{{}}}: "uri",
		{Status: "failed"}:                   "error: required",
		{Status: "heartbeat", Progress: 1.5}: "progress",
	} {
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", *c, err, want)
		}
	}
}

func TestSubmit(t *testing.T) {
	for _, c := range []struct {
		status   int
		rejected bool
		ok       bool
	}{
		{202, false, true}, {200, false, true}, {409, false, true}, // 409: the service has this job already
		{400, true, false}, {422, true, false},
		{429, false, false}, {503, false, false}, // transient: retried by the workflow
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("traceparent") != "00-abc" || r.Header.Get("Content-Type") != "application/json" {
				w.WriteHeader(400)
				return
			}
			http.Error(w, "answer", c.status)
		}))
		cl := transcoder.Client{URL: srv.URL, Header: http.Header{"Traceparent": {"00-abc"}}}
		err := cl.Submit(context.Background(), transcoder.Job{ID: "j"})
		srv.Close()
		if (err == nil) != c.ok || errors.Is(err, transcoder.ErrRejected) != c.rejected {
			t.Errorf("status %d: %v", c.status, err)
		}
	}
	if err := (&transcoder.Client{URL: "ftp://x/jobs"}).Submit(context.Background(), transcoder.Job{ID: "j"}); !errors.Is(err, transcoder.ErrRejected) {
		t.Errorf("ftp URL: %v", err)
	}
}
