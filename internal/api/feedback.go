package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/feedback"
	"github.com/syndicate-media/syndicate/internal/secret"
	"github.com/syndicate-media/syndicate/internal/store"
)

// partnerLimiters rate-limits each partner's calls to the partner API.
type partnerLimiters struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func (l *partnerLimiters) allow(p domain.Partner) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*rate.Limiter{}
	}
	rps := p.Feedback.RequestsPerSecond
	lim, ok := l.m[p.ID]
	if !ok || lim.Limit() != rate.Limit(rps) {
		lim = rate.NewLimiter(rate.Limit(rps), max(int(rps*5), 1))
		l.m[p.ID] = lim
	}
	return lim.Allow()
}

// partnerAuth admits requests carrying a valid partner API key, rate
// limited per partner, and hands the partner's profile to the handler.
func (s *Server) partnerAuth(next func(w http.ResponseWriter, r *http.Request, p domain.Partner)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			writeError(w, http.StatusUnauthorized, "unauthorized", "missing partner API key (Authorization: Bearer synp_...)")
			return
		}
		id, err := s.Feedback.Authenticate(r.Context(), token)
		if errors.Is(err, feedback.ErrUnauthorized) {
			writeError(w, http.StatusUnauthorized, "unauthorized", err.Error())
			return
		}
		if err != nil {
			s.internal(w, r, err)
			return
		}
		p, err := s.Store.GetPartner(r.Context(), id)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		if !s.limiters.allow(p) {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("more than %g requests/s", p.Feedback.RequestsPerSecond))
			return
		}
		next(w, r, p)
	})
}

func (s *Server) postFeedback(w http.ResponseWriter, r *http.Request, p domain.Partner) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if p.Feedback.RequireSignature && !s.checkSignature(w, r, p, body) {
		return
	}
	var rep feedback.Report
	if !decodeBody(w, r, body, &rep, false) {
		return
	}
	res, err := s.Feedback.Record(r.Context(), p, r.PathValue("id"), rep, "api")
	switch {
	case errors.Is(err, feedback.ErrInvalid):
		writeError(w, http.StatusBadRequest, "invalid_feedback", err.Error())
	case errors.Is(err, feedback.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("delivery %q not found for partner %s", r.PathValue("id"), p.ID))
	case errors.Is(err, feedback.ErrConflict):
		writeError(w, http.StatusConflict, "feedback_conflict", err.Error())
	case err != nil:
		s.internal(w, r, err)
	case res.Duplicate:
		writeJSON(w, http.StatusOK, res)
	default:
		writeJSON(w, http.StatusCreated, res)
	}
}

// checkSignature verifies Syndicate-Signature over timestamp and body and
// refuses a signature it has seen before (a replayed request).
func (s *Server) checkSignature(w http.ResponseWriter, r *http.Request, p domain.Partner, body []byte) bool {
	key, err := secret.Resolve(p.Feedback.SigningSecret)
	if err != nil {
		s.internal(w, r, fmt.Errorf("signing secret of partner %s: %w", p.ID, err))
		return false
	}
	sig := r.Header.Get("Syndicate-Signature")
	if err := feedback.Verify(key, r.Header.Get("Syndicate-Timestamp"), sig, body, s.Store.Now()); err != nil {
		writeError(w, http.StatusUnauthorized, "bad_signature", err.Error())
		return false
	}
	err = s.Store.UseSignature(r.Context(), sig, 2*feedback.SignatureWindow)
	if errors.Is(err, store.ErrDuplicate) {
		writeError(w, http.StatusUnauthorized, "replayed_signature", "this signed request was already received; sign each request anew")
		return false
	}
	if err != nil {
		s.internal(w, r, err)
		return false
	}
	return true
}

func (s *Server) partnerGetDelivery(w http.ResponseWriter, r *http.Request, p domain.Partner) {
	d, err := s.Store.GetDelivery(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && d.PartnerID != p.ID) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("delivery %q not found for partner %s", r.PathValue("id"), p.ID))
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, 200, partnerView(d))
}

// partnerView is what a partner may see of its delivery: no internal
// error text (paths, hosts, server messages) and no source location.
func partnerView(d domain.Delivery) domain.Delivery {
	if d.LastError != "" {
		if d.Status == domain.StatusFailed {
			d.LastError = "the delivery failed; the sender's operator has the details"
		} else {
			d.LastError = "an attempt failed and will be retried; the sender's operator has the details"
		}
	}
	d.Location = ""
	return d
}

func (s *Server) partnerListDeliveries(w http.ResponseWriter, r *http.Request, p domain.Partner) {
	list, err := s.Store.ListDeliveries(r.Context(), store.DeliveryFilter{PartnerID: p.ID, AssetID: r.URL.Query().Get("asset")})
	if err != nil {
		s.internal(w, r, err)
		return
	}
	for i := range list {
		list[i] = partnerView(list[i])
	}
	writeJSON(w, 200, map[string]any{"deliveries": list})
}

// KeyRequest is the body of POST /v1/partners/{id}/keys.
type KeyRequest struct {
	// ExpiresIn is a duration such as "720h"; empty means no expiry.
	ExpiresIn string `json:"expires_in,omitempty"`
}

// KeyResponse shows a new key once.
type KeyResponse struct {
	Key  string           `json:"key"`
	Info store.PartnerKey `json:"info"`
}

func (s *Server) createPartnerKey(w http.ResponseWriter, r *http.Request) {
	var req KeyRequest
	if r.ContentLength != 0 && !decode(w, r, &req, false) {
		return
	}
	var ttl time.Duration
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			writeError(w, 400, "invalid_request", `expires_in: want a positive duration such as "720h"`)
			return
		}
		ttl = d
	}
	if _, err := s.Store.GetPartner(r.Context(), r.PathValue("id")); s.notFound(w, r, err, "partner") {
		return
	}
	key, info, err := s.Feedback.CreateKey(r.Context(), r.PathValue("id"), ttl)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, KeyResponse{Key: key, Info: info})
}

func (s *Server) listPartnerKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := s.Store.ListPartnerKeys(r.Context(), r.PathValue("id"))
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"keys": keys})
}

func (s *Server) revokePartnerKey(w http.ResponseWriter, r *http.Request) {
	err := s.Store.RevokePartnerKey(r.Context(), r.PathValue("id"), r.PathValue("key"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, 404, "not_found", err.Error())
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]string{"revoked": r.PathValue("key")})
}

func (s *Server) listDeliveryFeedback(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Store.GetDelivery(r.Context(), r.PathValue("id")); s.notFound(w, r, err, "delivery") {
		return
	}
	list, err := s.Store.ListFeedback(r.Context(), r.PathValue("id"))
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"feedback": list})
}
