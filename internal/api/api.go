// Package api is Syndicate's HTTP API on the standard library's ServeMux.
// Every route but the health checks needs a bearer token; every error is
// JSON {code, message}; request bodies are size-limited and decoded
// strictly (unknown fields are refused), so bad input writes nothing.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/syndicate-media/syndicate/internal/feedback"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/secret"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/telemetry"
)

// MaxBody is the largest request body accepted, in bytes.
const MaxBody = 1 << 20

// Server serves the API.
type Server struct {
	Store  *store.Store
	Intake *intake.Service
	Log    *slog.Logger
	// Feedback records partner feedback and checks partner keys.
	Feedback *feedback.Service
	// Control cancels, retries and reprioritizes deliveries.
	Control Controller
	// Ready reports whether the engine runs; /readyz answers 503 until then.
	Ready func() bool
	// Telemetry traces requests and serves /metrics (nil: neither).
	Telemetry *telemetry.Telemetry
	// Callbacks takes external transcoders' callbacks (nil: none).
	Callbacks CallbackReceiver
	// CatalogKind is the configured catalog when it is not the built-in
	// one (http, graphql): PUT /v1/assets is then refused, since its
	// versions would mix with the external catalog's.
	CatalogKind string

	limiters partnerLimiters
	// tokens remembers token hashes found in the store, for tokenTTL: a
	// notification spike should not cost a token query per request.
	tokens sync.Map // hash → time.Time (when found)
}

// tokenTTL is how long a token found in the store is trusted without
// looking again.
const tokenTTL = time.Minute

// Handler returns the routed, authenticated handler.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("GET /readyz", s.readyz)
	auth := func(h http.HandlerFunc) http.Handler { return s.authenticate(h) }
	mux.Handle("POST /v1/notifications", auth(s.postNotification))
	mux.Handle("POST /v1/notifications:batch", auth(s.postBatch))
	mux.Handle("GET /v1/notifications/{id}", auth(s.getNotification))
	mux.Handle("GET /v1/deliveries", auth(s.listDeliveries))
	mux.Handle("GET /v1/deliveries/{id}", auth(s.getDelivery))
	mux.Handle("POST /v1/deliveries/{id}", auth(s.deliveryAction)) // {id}:cancel, :retry, :priority
	mux.Handle("POST /v1/deliveries/{id}/{action}", auth(s.deliveryAction))
	mux.Handle("PUT /v1/assets/{id}", auth(s.putAsset))
	mux.Handle("GET /v1/assets/{id}", auth(s.getAsset))
	mux.Handle("PUT /v1/partners/{id}", auth(s.putPartner))
	mux.Handle("GET /v1/partners/{id}", auth(s.getPartner))
	mux.Handle("GET /v1/partners", auth(s.listPartners))
	mux.Handle("GET /v1/events", auth(s.listEvents))
	mux.Handle("POST /v1/webhooks", auth(s.postWebhook))
	mux.Handle("GET /v1/webhooks", auth(s.listWebhooks))
	mux.Handle("DELETE /v1/webhooks/{id}", auth(s.deleteWebhook))
	mux.Handle("POST /v1/webhooks/{id}/test", auth(s.testWebhook))
	mux.Handle("POST /v1/webhooks/{id}/replay", auth(s.replayWebhook))
	mux.Handle("GET /v1/webhooks/{id}/dead-letters", auth(s.listDeadLetters))
	mux.Handle("GET /v1/partners/{id}/versions", auth(s.listPartnerVersions))
	mux.Handle("GET /v1/partners/{id}/versions/{version}", auth(s.getPartnerVersion))
	mux.Handle("GET /v1/partners/{id}/diff", auth(s.diffPartnerVersions))
	mux.Handle("POST /v1/partners/{id}/promote", auth(s.promotePartner))
	mux.Handle("POST /v1/partners/{id}/rollback", auth(s.rollbackPartner))
	mux.Handle("POST /v1/partners/{id}/keys", auth(s.createPartnerKey))
	mux.Handle("GET /v1/partners/{id}/keys", auth(s.listPartnerKeys))
	mux.Handle("DELETE /v1/partners/{id}/keys/{key}", auth(s.revokePartnerKey))
	mux.Handle("GET /v1/deliveries/{id}/feedback", auth(s.listDeliveryFeedback))
	mux.Handle("GET /v1/deliveries/{id}/trace", auth(s.getTrace))
	mux.Handle("GET /metrics", auth(s.metrics))
	// The partner API: partners authenticate with their own keys and see
	// only their own deliveries.
	mux.Handle("POST /v1/partner/deliveries/{id}/feedback", s.partnerAuth(s.postFeedback))
	mux.Handle("GET /v1/partner/deliveries/{id}", s.partnerAuth(s.partnerGetDelivery))
	mux.Handle("GET /v1/partner/deliveries", s.partnerAuth(s.partnerListDeliveries))
	// External transcoders call back with a single-use token of their own.
	mux.HandleFunc("POST /v1/callbacks/{token}", s.postCallback)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no route for "+r.Method+" "+r.URL.Path)
	})
	return s.tracing(mux)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.Store.DB.PingContext(r.Context()); err != nil {
		writeError(w, http.StatusServiceUnavailable, "database_unavailable", "database: "+err.Error())
		return
	}
	if s.Ready != nil && !s.Ready() {
		writeError(w, http.StatusServiceUnavailable, "engine_not_ready", "the workflow engine is not running")
		return
	}
	writeJSON(w, 200, map[string]string{"status": "ready"})
}

func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="syndicate"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing bearer token (Authorization: Bearer TOKEN)")
			return
		}
		found, err := s.tokenExists(r.Context(), secret.HashToken(token))
		if err != nil {
			s.internal(w, r, err)
			return
		}
		// Looked up by hash: timing reveals nothing about the token.
		if !found {
			w.Header().Set("WWW-Authenticate", `Bearer realm="syndicate", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "invalid token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// tokenExists looks a token hash up, remembering found ones for tokenTTL
// (unknown ones are not remembered: anyone can send those).
func (s *Server) tokenExists(ctx context.Context, hash string) (bool, error) {
	if at, ok := s.tokens.Load(hash); ok && time.Since(at.(time.Time)) < tokenTTL {
		return true, nil
	}
	found, err := s.Store.TokenExists(ctx, hash)
	if found {
		s.tokens.Store(hash, time.Now())
	}
	return found, err
}

// Error is the JSON body of every error response.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, Error{Code: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// internal logs the detail and tells the client only that it failed.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	s.Log.Error("request failed", "method", r.Method, "path", redactPath(r.URL.Path), "error", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error; see the server log")
}
