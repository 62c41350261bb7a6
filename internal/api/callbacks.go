package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/syndicate-media/syndicate/internal/transcoder"
)

// CallbackReceiver hands an external job's callback to the delivery
// waiting for it (workflow.Engine).
type CallbackReceiver interface {
	Callback(ctx context.Context, token string, msg transcoder.Callback) (deliveryID string, err error)
}

// postCallback serves POST /v1/callbacks/{token}: an external transcoder's
// heartbeat or answer. The single-use token in the path is the
// credential (it was only ever given to that job), so the route takes no
// API token; it is never logged or traced.
func (s *Server) postCallback(w http.ResponseWriter, r *http.Request) {
	if s.Callbacks == nil {
		writeError(w, http.StatusNotFound, "not_found", "this process takes no callbacks")
		return
	}
	var msg transcoder.Callback
	if !decode(w, r, &msg, false) {
		return
	}
	if err := msg.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	id, err := s.Callbacks.Callback(r.Context(), r.PathValue("token"), msg)
	switch {
	case errors.Is(err, transcoder.ErrCallbackUnknown):
		writeError(w, http.StatusNotFound, "unknown_token", err.Error())
	case errors.Is(err, transcoder.ErrCallbackUsed):
		writeError(w, http.StatusConflict, "already_completed", err.Error())
	case errors.Is(err, transcoder.ErrCallbackExpired):
		writeError(w, http.StatusGone, "expired", err.Error())
	case err != nil:
		s.internal(w, r, err)
	default:
		writeJSON(w, http.StatusAccepted, map[string]string{"delivery_id": id, "status": msg.Status})
	}
}
