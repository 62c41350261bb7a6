package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"go.yaml.in/yaml/v3"

	"github.com/syndicate-media/syndicate/internal/strictjson"
)

// decode reads a JSON (or, where yamlOK, YAML) body into v, refusing
// unknown fields, trailing data and bodies over MaxBody. It writes the 4xx
// itself and returns false when the body is bad.
func decode(w http.ResponseWriter, r *http.Request, v any, yamlOK bool) bool {
	body, ok := readBody(w, r)
	return ok && decodeBody(w, r, body, v, yamlOK)
}

// readBody reads at most MaxBody bytes, answering 413 or 400 itself.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body is over %d bytes", MaxBody))
		return nil, false
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_body", "reading body: "+err.Error())
		return nil, false
	}
	return body, true
}

// decodeBody decodes a body already read, as decode does.
func decodeBody(w http.ResponseWriter, r *http.Request, body []byte, v any, yamlOK bool) bool {
	var err error
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/yaml", "application/x-yaml", "text/yaml":
		if !yamlOK {
			writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "this endpoint takes application/json")
			return false
		}
		if body, err = yamlToJSON(body); err != nil {
			writeError(w, http.StatusBadRequest, "malformed_yaml", err.Error())
			return false
		}
	case "", "application/json":
	default:
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json"+map[bool]string{true: " or application/yaml"}[yamlOK])
		return false
	}
	if err := strictjson.Decode(body, v); err != nil {
		writeError(w, http.StatusBadRequest, "malformed_json", err.Error())
		return false
	}
	return true
}

// yamlToJSON converts one YAML document to JSON so that both go through the
// same strict decoder.
func yamlToJSON(b []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("invalid YAML: %w", err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("YAML does not map to JSON: %w", err)
	}
	return out, nil
}

// isJSON reports whether a Content-Type header names JSON.
func isJSON(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "application/json"
}
