package intake

import (
	"encoding/json"

	"github.com/syndicate-media/syndicate/internal/strictjson"
)

// MaxBatch is the most notifications one batch request may carry.
const MaxBatch = 1000

// ParseNotification decodes one notification strictly (unknown fields,
// trailing data and wrong types are refused) and validates it. Every
// refusal is an *Error: malformed_json or invalid_request.
func ParseNotification(body []byte) (Request, error) {
	return ParseNotificationKeyed(body, "")
}

// ParseNotificationKeyed is ParseNotification for a body that arrived with
// an id of its own (a queue message id): a notification without an
// idempotency key gets key, so a redelivered message replays the first
// answer.
func ParseNotificationKeyed(body []byte, key string) (Request, error) {
	var req Request
	if err := strict(body, &req); err != nil {
		return Request{}, err
	}
	if req.IdempotencyKey == "" {
		req.IdempotencyKey = key
	}
	if err := validate(&req); err != nil {
		return Request{}, err
	}
	return req, nil
}

// BatchItem is one entry of a batch: a valid Request, or Err (an *Error)
// saying what is wrong with it.
type BatchItem struct {
	Request Request
	Err     error
}

// ParseBatch decodes {"notifications": [...]} with 1 to MaxBatch entries;
// each entry is parsed on its own, so one bad entry does not refuse the
// others. An error (an *Error) refuses the whole batch.
func ParseBatch(body []byte) ([]BatchItem, error) {
	var env struct {
		Notifications []json.RawMessage `json:"notifications"`
	}
	if err := strict(body, &env); err != nil {
		return nil, err
	}
	switch {
	case len(env.Notifications) == 0:
		return nil, refuse(CodeInvalid, "notifications: required, a list of 1 to %d notifications", MaxBatch)
	case len(env.Notifications) > MaxBatch:
		return nil, refuse(CodeInvalid, "notifications: %d, at most %d in one batch", len(env.Notifications), MaxBatch)
	}
	out := make([]BatchItem, len(env.Notifications))
	for i, raw := range env.Notifications {
		out[i].Request, out[i].Err = ParseNotification(raw)
	}
	return out, nil
}

// strict decodes one JSON document into v (strictjson), as an *Error.
func strict(body []byte, v any) error {
	if err := strictjson.Decode(body, v); err != nil {
		return &Error{Code: CodeMalformed, Message: err.Error()}
	}
	return nil
}
