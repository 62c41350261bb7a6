package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/store"
)

// Controller acts on deliveries in flight; the workflow engine is one.
type Controller interface {
	Cancel(ctx context.Context, id string) (domain.Delivery, error)
	Retry(ctx context.Context, id string) (domain.Delivery, error)
	SetPriority(ctx context.Context, id string, priority int) (domain.Delivery, error)
}

// PriorityRequest is the body of a priority change.
type PriorityRequest struct {
	// Priority: 0 (most urgent) to 1000; lower goes first.
	Priority *int `json:"priority"`
}

// deliveryAction serves POST /v1/deliveries/{id}/{action} and the
// Google-style POST /v1/deliveries/{id}:{action}.
func (s *Server) deliveryAction(w http.ResponseWriter, r *http.Request) {
	id, action := r.PathValue("id"), r.PathValue("action")
	if action == "" {
		id, action, _ = strings.Cut(id, ":")
	}
	var d domain.Delivery
	var err error
	switch action {
	case "cancel":
		d, err = s.Control.Cancel(r.Context(), id)
	case "retry":
		d, err = s.Control.Retry(r.Context(), id)
	case "priority":
		var req PriorityRequest
		if !decode(w, r, &req, false) {
			return
		}
		if req.Priority == nil || *req.Priority < 0 || *req.Priority > 1000 {
			writeError(w, 400, "invalid_request", "priority: want 0 (most urgent) to 1000")
			return
		}
		d, err = s.Control.SetPriority(r.Context(), id, *req.Priority)
	default:
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no action %q (have cancel, retry, priority)", action))
		return
	}
	var te *domain.TransitionError
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("delivery %q not found", id))
	case errors.As(err, &te):
		writeError(w, http.StatusConflict, "conflict", fmt.Sprintf("cannot %s a delivery that is %s", action, te.From))
	case errors.Is(err, domain.ErrNotQueued):
		writeError(w, http.StatusConflict, "conflict", err.Error())
	case err != nil:
		s.internal(w, r, err)
	default:
		writeJSON(w, 200, d)
	}
}
