package api

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/syndicate-media/syndicate/internal/catalog"
	"github.com/syndicate-media/syndicate/internal/intake"
	"github.com/syndicate-media/syndicate/internal/store"
	"github.com/syndicate-media/syndicate/internal/telemetry"
)

// MaxWait bounds how long ?wait=true holds a notification request open for
// its decision; after it the answer is 202 with status "accepted".
const MaxWait = 30 * time.Second

// postNotification accepts one notification: 202 once it is committed,
// 200 with the first answer for a replayed key. With ?wait=true it answers
// once the notification is decided (200 with the decisions, or the
// failure's error).
func (s *Server) postNotification(w http.ResponseWriter, r *http.Request) {
	body, ok := jsonBody(w, r)
	if !ok {
		return
	}
	req, err := intake.ParseNotification(body)
	if err != nil {
		s.notificationError(w, r, err)
		return
	}
	dryRun, ok := boolParam(w, r, "dry_run")
	if !ok {
		return
	}
	if dryRun { // decide now, record nothing
		resp, err := s.Intake.DryRun(r.Context(), req)
		if errors.Is(err, catalog.ErrSource) {
			// The external catalog failed; its error names the asset and the
			// field and holds no secret, so the caller can act on it.
			writeError(w, http.StatusBadGateway, "catalog", err.Error())
			return
		}
		if err != nil {
			s.notificationError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}
	resp, err := s.Intake.AcceptValid(r.Context(), req, telemetry.TraceParent(r.Context()))
	if err != nil {
		s.notificationError(w, r, err)
		return
	}
	if !resp.Replayed {
		s.Telemetry.Metrics().NotificationAccepted()
	}
	if wantWait(r) {
		s.waitAndAnswer(w, r, resp)
		return
	}
	if resp.Replayed {
		writeJSON(w, http.StatusOK, resp)
		return
	}
	writeAccepted(w, resp)
}

func (s *Server) waitAndAnswer(w http.ResponseWriter, r *http.Request, first intake.Response) {
	ctx, cancel := context.WithTimeout(r.Context(), MaxWait)
	defer cancel()
	resp, err := s.Intake.Wait(ctx, first.IdempotencyKey)
	if err != nil {
		s.notificationError(w, r, err)
		return
	}
	resp.Replayed = first.Replayed
	status := http.StatusOK
	if resp.Status == store.NotificationAccepted {
		status = http.StatusAccepted
	}
	writeJSON(w, status, resp)
}

// BatchResult is one entry's outcome in a batch answer, at its index in
// the request: accepted (or decided, with ?wait=true), replayed, or
// refused with error.
type BatchResult struct {
	Index int `json:"index"`
	intake.Response
}

// BatchResponse answers POST /v1/notifications:batch.
type BatchResponse struct {
	Results  []BatchResult `json:"results"`
	Accepted int           `json:"accepted"`
	Refused  int           `json:"refused"`
}

// postBatch accepts up to intake.MaxBatch notifications at once: the
// good ones in one group commit, the bad ones reported by index. It
// answers 202 (200 with ?wait=true) with one result per entry; a body
// that is not a batch at all is refused whole, and so is a batch that does
// not fit in the backlog (429).
func (s *Server) postBatch(w http.ResponseWriter, r *http.Request) {
	body, ok := jsonBody(w, r)
	if !ok {
		return
	}
	items, err := intake.ParseBatch(body)
	if err != nil {
		s.notificationError(w, r, err)
		return
	}
	out := BatchResponse{Results: make([]BatchResult, len(items))}
	valid := make([]intake.Request, 0, len(items))
	at := make([]int, 0, len(items))
	for i, it := range items {
		out.Results[i].Index = i
		if it.Err != nil {
			out.Results[i].Response = refused(it.Err)
			continue
		}
		valid = append(valid, it.Request)
		at = append(at, i)
	}
	if len(valid) > 0 {
		results, err := s.Intake.AcceptBatch(r.Context(), valid, telemetry.TraceParent(r.Context()))
		if err != nil {
			s.notificationError(w, r, err)
			return
		}
		for k, res := range results {
			out.Results[at[k]].Response = res.Response
			if res.Err != nil {
				var ie *intake.Error
				if !errors.As(res.Err, &ie) {
					s.internal(w, r, res.Err)
					return
				}
				out.Results[at[k]].Response = refused(res.Err)
			} else if !res.Response.Replayed {
				s.Telemetry.Metrics().NotificationAccepted()
			}
		}
	}
	status := http.StatusAccepted
	if wantWait(r) {
		status = http.StatusOK
		ctx, cancel := context.WithTimeout(r.Context(), MaxWait)
		defer cancel()
		for i, res := range out.Results {
			if res.Error != nil && res.NotificationID == "" {
				continue
			}
			resp, err := s.Intake.Wait(ctx, res.IdempotencyKey)
			var ie *intake.Error
			if err != nil && !errors.As(err, &ie) {
				s.internal(w, r, err)
				return
			}
			resp.Replayed = res.Replayed
			out.Results[i].Response = resp
		}
	}
	for _, res := range out.Results {
		if res.Status == "refused" {
			out.Refused++
		} else {
			out.Accepted++
		}
	}
	writeJSON(w, status, out)
}

func refused(err error) intake.Response {
	var ie *intake.Error
	errors.As(err, &ie)
	return intake.Response{Status: "refused", Error: &intake.ErrorBody{Code: ie.Code, Message: ie.Message}}
}

// getNotification answers where a notification stands: status, decisions
// (partner, action, delivery_id, reason) and error.
func (s *Server) getNotification(w http.ResponseWriter, r *http.Request) {
	resp, err := s.Intake.Get(r.Context(), r.PathValue("id"))
	if s.notFound(w, r, err, "notification") {
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// notificationError answers a refused or failed notification.
func (s *Server) notificationError(w http.ResponseWriter, r *http.Request, err error) {
	var ie *intake.Error
	if !errors.As(err, &ie) {
		s.internal(w, r, err)
		return
	}
	status := http.StatusUnprocessableEntity
	switch ie.Code {
	case intake.CodeMalformed, intake.CodeInvalid:
		status = http.StatusBadRequest
	case intake.CodeKeyReused:
		status = http.StatusConflict
	case intake.CodeBacklogFull:
		status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(ie.RetryAfter, time.Second).Seconds()))))
	case intake.CodeCatalog, intake.CodeDecide:
		status = http.StatusServiceUnavailable
	}
	writeError(w, status, ie.Code, ie.Message)
}

func wantWait(r *http.Request) bool {
	if r.URL.RawQuery == "" {
		return false
	}
	v, _ := strconv.ParseBool(r.URL.Query().Get("wait"))
	return v
}

// jsonBody reads a JSON request body (at most MaxBody), answering 413, 400
// or 415 itself.
func jsonBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" && !isJSON(ct) {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json")
		return nil, false
	}
	return readBody(w, r)
}

// writeAccepted writes the 202 of a new notification without reflection:
// it is the answer intake sends most.
func writeAccepted(w http.ResponseWriter, resp intake.Response) {
	b := make([]byte, 0, 160)
	b = append(b, `{"notification_id":`...)
	b = appendString(b, resp.NotificationID)
	b = append(b, `,"idempotency_key":`...)
	b = appendString(b, resp.IdempotencyKey)
	b = append(b, `,"status":"accepted"}`+"\n"...)
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(b)
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
