package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/syndicate-media/syndicate/internal/event"
	"github.com/syndicate-media/syndicate/internal/store"
)

// EventsPage answers GET /v1/events: CloudEvents JSON documents in
// publication order, and the cursor to pass as ?after= for the next page.
type EventsPage struct {
	Events []json.RawMessage `json:"events"`
	Next   int64             `json:"next"`
}

// maxFilterValues bounds each list filter of GET /v1/events: every value
// is a bound SQL parameter, and SQLite takes at most 32,766.
const maxFilterValues = 100

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.EventFilter{Types: listParam(q["type"]), Partners: listParam(q["partner"]), Limit: 100}
	var err error
	if a := q.Get("after"); a != "" {
		if f.After, err = strconv.ParseInt(a, 10, 64); err != nil || f.After < 0 {
			writeError(w, 400, "invalid_request", "after: want a cursor (a whole number ≥ 0)")
			return
		}
	}
	if l := q.Get("limit"); l != "" {
		if f.Limit, err = strconv.Atoi(l); err != nil || f.Limit < 1 || f.Limit > 1000 {
			writeError(w, 400, "invalid_request", "limit: want 1-1000")
			return
		}
	}
	if len(f.Partners) > maxFilterValues || len(f.Types) > maxFilterValues {
		writeError(w, 400, "invalid_request", fmt.Sprintf("partner, type: at most %d values each", maxFilterValues))
		return
	}
	if err := checkTypes(f.Types); err != nil {
		writeError(w, 400, "invalid_request", err.Error())
		return
	}
	evs, next, err := s.Store.MatchingEvents(r.Context(), f)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	page := EventsPage{Events: make([]json.RawMessage, 0, len(evs)), Next: next}
	for _, e := range evs {
		b, err := event.CloudEvent(e)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		page.Events = append(page.Events, b)
	}
	writeJSON(w, 200, page)
}

// listParam accepts ?x=a&x=b and ?x=a,b alike.
func listParam(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// WebhookRequest is the body of POST /v1/webhooks. Kind is "webhook" (the
// default; URL is http(s), Secret signs each request) or "nats" (URL is
// nats://host:port/subject.prefix, Secret is an optional auth token).
type WebhookRequest struct {
	Kind        string   `json:"kind,omitempty"`
	URL         string   `json:"url"`
	Secret      string   `json:"secret"`
	Types       []string `json:"types,omitempty"`
	Partners    []string `json:"partners,omitempty"`
	MaxAttempts int      `json:"max_attempts,omitempty"`
}

// secretRefPattern is the rule partner profiles follow too (domain): a
// reference that internal/secret resolves, never the secret itself.
var secretRefPattern = regexp.MustCompile(`^(env:[A-Za-z_][A-Za-z0-9_]*|file:/.+|aws-ssm:/[A-Za-z0-9_.\-/]+)$`)

// Validate checks a webhook request and fills the default kind.
func (req *WebhookRequest) Validate() error {
	if req.Kind == "" {
		req.Kind = store.SinkWebhook
	}
	if err := event.ValidateTarget(req.Kind, req.URL); err != nil {
		return err
	}
	switch {
	case req.Secret == "" && req.Kind == store.SinkWebhook:
		return fmt.Errorf("secret: required to sign requests: env:NAME, file:/absolute/path or aws-ssm:/name")
	case req.Secret != "" && !secretRefPattern.MatchString(req.Secret):
		return fmt.Errorf("secret: must be a reference env:NAME, file:/absolute/path or aws-ssm:/name, not the secret itself")
	case req.MaxAttempts < 0 || req.MaxAttempts > 1000:
		return fmt.Errorf("max_attempts: want 1-1000 (0 for the default %d)", store.DefaultSinkMaxAttempts)
	}
	return checkTypes(req.Types)
}

func checkTypes(types []string) error {
	known := event.Types()
	for _, t := range types {
		if !slices.Contains(known, t) {
			return fmt.Errorf("types: %q is not an event type; known: %s", t, strings.Join(known, ", "))
		}
	}
	return nil
}

func (s *Server) postWebhook(w http.ResponseWriter, r *http.Request) {
	var req WebhookRequest
	if !decode(w, r, &req, false) {
		return
	}
	if err := req.Validate(); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "invalid_webhook", err.Error())
		return
	}
	k, err := s.Store.AddSink(r.Context(), store.Sink{Kind: req.Kind, Target: req.URL, SecretRef: req.Secret,
		Types: req.Types, Partners: req.Partners, MaxAttempts: req.MaxAttempts})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, k)
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.ListSinks(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"webhooks": list})
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	if s.notFound(w, r, s.Store.DeleteSink(r.Context(), r.PathValue("id")), "webhook") {
		return
	}
	writeJSON(w, 200, map[string]string{"deleted": r.PathValue("id")})
}

func (s *Server) testWebhook(w http.ResponseWriter, r *http.Request) {
	k, err := s.Store.GetSink(r.Context(), r.PathValue("id"))
	if s.notFound(w, r, err, "webhook") {
		return
	}
	writeJSON(w, 200, event.SendTest(r.Context(), k, s.Store.Now()))
}

func (s *Server) replayWebhook(w http.ResponseWriter, r *http.Request) {
	n, err := s.Store.ReplayDeadLetters(r.Context(), r.PathValue("id"))
	if s.notFound(w, r, err, "webhook") {
		return
	}
	writeJSON(w, 200, map[string]int{"replayed": n})
}

func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.Store.GetSink(r.Context(), id); s.notFound(w, r, err, "webhook") {
		return
	}
	list, err := s.Store.ListDeadLetters(r.Context(), id)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"dead_letters": list})
}
