package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/partner"
	"github.com/syndicate-media/syndicate/internal/store"
)

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.DeliveryFilter{PartnerID: q.Get("partner"), AssetID: q.Get("asset"), Status: domain.Status(q.Get("status"))}
	if f.Status != "" && !f.Status.Valid() {
		writeError(w, 400, "invalid_request", fmt.Sprintf("status: %q is not one of %v", f.Status, domain.Statuses))
		return
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, 400, "invalid_request", "limit: want 1-1000")
			return
		}
		f.Limit = n
	}
	list, err := s.Store.ListDeliveries(r.Context(), f)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, 200, map[string]any{"deliveries": list})
}

func (s *Server) getDelivery(w http.ResponseWriter, r *http.Request) {
	d, err := s.Store.GetDelivery(r.Context(), r.PathValue("id"))
	if s.notFound(w, r, err, "delivery") {
		return
	}
	writeJSON(w, 200, d)
}

// AssetResponse answers PUT and GET /v1/assets/{id}.
type AssetResponse struct {
	Asset   domain.Asset `json:"asset"`
	Version int          `json:"version"`
	Changed bool         `json:"changed"`
}

func (s *Server) putAsset(w http.ResponseWriter, r *http.Request) {
	if s.CatalogKind != "" {
		writeError(w, http.StatusConflict, "external_catalog", fmt.Sprintf(
			"assets come from the %s catalog configured on the server; PUT /v1/assets writes only the built-in one", s.CatalogKind))
		return
	}
	var a domain.Asset
	if !decode(w, r, &a, true) || !matchID(w, r, &a.ID) {
		return
	}
	if err := a.Validate(); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "invalid_asset", err.Error())
		return
	}
	v, changed, err := s.Store.PutAsset(r.Context(), a)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, 200, AssetResponse{Asset: a, Version: v, Changed: changed})
}

func (s *Server) getAsset(w http.ResponseWriter, r *http.Request) {
	a, v, err := s.Store.GetAsset(r.Context(), r.PathValue("id"))
	if s.notFound(w, r, err, "asset") {
		return
	}
	writeJSON(w, 200, AssetResponse{Asset: a, Version: v})
}

// PartnerResponse answers PUT and GET /v1/partners/{id}.
type PartnerResponse struct {
	Partner domain.Partner  `json:"partner"`
	Version int             `json:"version,omitempty"`
	Changed bool            `json:"changed"`
	Rollout *domain.Rollout `json:"rollout,omitempty"`
	// Changes lists what differs from the active version (dry runs).
	Changes []Change `json:"changes,omitempty"`
	DryRun  bool     `json:"dry_run,omitempty"`
}

func (s *Server) putPartner(w http.ResponseWriter, r *http.Request) {
	p, ok := readPartner(w, r)
	if !ok {
		return
	}
	s.applyPartner(w, r, p)
}

// ValidatePartner checks a profile that is already a Go value by the rules
// of internal/partner: its schema, the domain rules, and what this binary
// has (a registered transport and metadata format). The error is a
// *partner.Errors naming each field.
func ValidatePartner(p domain.Partner) error { return partner.Validate(p) }

func (s *Server) getPartner(w http.ResponseWriter, r *http.Request) {
	p, err := s.Store.GetPartner(r.Context(), r.PathValue("id"))
	if s.notFound(w, r, err, "partner") {
		return
	}
	ro, err := s.Store.Rollout(r.Context(), p.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, 200, PartnerResponse{Partner: p, Version: ro.Active, Rollout: &ro})
}

func (s *Server) listPartners(w http.ResponseWriter, r *http.Request) {
	list, err := s.Store.ListPartners(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if list == nil {
		list = []domain.Partner{}
	}
	writeJSON(w, 200, map[string]any{"partners": list})
}

// matchID fills an empty body id from the path and refuses a mismatch.
func matchID(w http.ResponseWriter, r *http.Request, id *string) bool {
	path := r.PathValue("id")
	if *id == "" {
		*id = path
	}
	if *id != path {
		writeError(w, 400, "id_mismatch", fmt.Sprintf("body id %q differs from the path's %q", *id, path))
		return false
	}
	return true
}

// notFound answers 404 for a missing row and 500 for other errors; it
// returns true when it wrote a response.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request, err error, what string) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("%s %q not found", what, r.PathValue("id")))
	default:
		s.internal(w, r, err)
	}
	return true
}

// boolParam reads an optional true/false query parameter, answering 400
// for anything else.
func boolParam(w http.ResponseWriter, r *http.Request, name string) (value, ok bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, true
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		writeError(w, 400, "invalid_request", fmt.Sprintf("%s: want true or false, got %q", name, v))
		return false, false
	}
	return b, true
}
