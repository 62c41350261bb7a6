package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/partner"
	"github.com/syndicate-media/syndicate/internal/strictjson"
)

// PartnerError is the 422 answer to a partner profile that is not valid:
// the usual code and message, and each problem on its own.
type PartnerError struct {
	Error
	Problems []PartnerProblem `json:"problems"`
}

// PartnerProblem is one problem with a profile: the field's dotted path
// (destination.credentials), where it is in the body (1-based; 0 when not
// known) and what was expected.
type PartnerProblem struct {
	Path    string `json:"path"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Message string `json:"message"`
}

// readPartner reads the profile in a PUT /v1/partners/{id} body (JSON or
// YAML; a profile without an id takes the path's) and checks it with
// internal/partner. It answers 400 for a body that is not JSON or YAML,
// and 422 with every problem for one that is not a valid profile.
func readPartner(w http.ResponseWriter, r *http.Request) (domain.Partner, bool) {
	body, ok := readBody(w, r)
	if !ok {
		return domain.Partner{}, false
	}
	syntaxCode := "malformed_yaml"
	switch mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt {
	case "application/yaml", "application/x-yaml", "text/yaml":
	case "", "application/json":
		if err := json.Unmarshal(body, new(any)); err != nil {
			writeError(w, http.StatusBadRequest, "malformed_json", strictjson.Describe(err))
			return domain.Partner{}, false
		}
		syntaxCode = "malformed_json"
	default:
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json or application/yaml")
		return domain.Partner{}, false
	}
	p, err := partner.ParseFor(r.PathValue("id"), "", body)
	var pe *partner.Errors
	switch {
	case err == nil:
		return p, true
	case errors.Is(err, partner.ErrSyntax):
		writeError(w, http.StatusBadRequest, syntaxCode, err.Error())
	case errors.As(err, &pe):
		writePartnerError(w, pe)
	default:
		writeError(w, http.StatusUnprocessableEntity, "invalid_partner", err.Error())
	}
	return domain.Partner{}, false
}

func writePartnerError(w http.ResponseWriter, pe *partner.Errors) {
	msg := "1 problem in the partner profile:\n" + pe.Error()
	if n := len(pe.Problems); n != 1 {
		msg = fmt.Sprintf("%d problems in the partner profile:\n%s", n, pe.Error())
	}
	body := PartnerError{Error: Error{Code: "invalid_partner", Message: msg}, Problems: []PartnerProblem{}}
	for _, p := range pe.Problems {
		body.Problems = append(body.Problems, PartnerProblem{Path: p.Path, Line: p.Line, Column: p.Column, Message: p.Message})
	}
	writeJSON(w, http.StatusUnprocessableEntity, body)
}
